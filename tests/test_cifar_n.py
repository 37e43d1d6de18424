"""CIFAR-10N / CIFAR-100N: the restricted label-file loader, its pairing with the CIFAR training labels, and the
label-noise files (`make cifar10n`, `make cifar100n`) with their realized statistics, card and export."""

from __future__ import annotations

import json
import pickle
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from official_format_fixtures import (  # noqa: E402
    cifar10n_arrays,
    write_cifar10_batches,
    write_cifar100_python,
    write_cifar_n,
)

from noisebench.errors import UserError  # noqa: E402
from noisebench.format import open_file  # noqa: E402
from noisebench.generators import cifar_n  # noqa: E402
from noisebench.generators.sources import cifar10 as cifar10_source
from noisebench.generators.sources.cifar10 import load_cifar10  # noqa: E402
from noisebench.generators.sources.custom import md5_file  # noqa: E402

N_TRAIN = 60


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar_n")
    src = write_cifar10_batches(root / "src", N_TRAIN, 20)
    y = load_cifar10(src, verify=False).y_train
    arrays = cifar10n_arrays(y)
    return {"root": root, "src": src, "y": y, "arrays": arrays, "pt": write_cifar_n(root / "CIFAR-10_human.pt", arrays)}


def _make(cli, env, out, *extra, noise="aggre", labels=None):
    return cli("make", "cifar10n", "--noise", noise, "--labels", labels or env["pt"], "--source", env["src"],
               "--no-verify", "--out", out, *extra)


def test_cifar10n_file_statistics_card_export(cli, env, tmp_path):
    out = tmp_path / "d"
    r = _make(cli, env, out, noise="worst")
    assert r.code == 0, r.err
    assert "cifar10n-worst.h5: realized noise rate" in r.out and "published: 0.4021" in r.out
    noisy, clean = env["arrays"]["worse_label"], env["y"]
    with open_file(out / "cifar10n-worst.h5") as f, open_file(out / "cifar10.h5") as c:
        m = f.meta
        assert f.kind == "label-noise" and m["clean_reference"] == "cifar10.h5" and m["pair_key"] == c.meta["pair_key"]
        tr, va = f.datasets["truth/train_index"][()], f.datasets["truth/val_index"][()]
        assert np.array_equal(tr, c.datasets["truth/train_index"][()])
        assert np.array_equal(f.datasets["train/y"][()], noisy[tr])  # human labels on train
        assert np.array_equal(f.datasets["truth/clean_labels"][()], clean[tr])
        assert np.array_equal(f.datasets["truth/flip_mask"][()], (noisy[tr] != clean[tr]).astype(np.uint8))
        assert np.array_equal(f.datasets["val/y"][()], clean[va])  # val carved from train keeps clean labels
        assert np.array_equal(f.datasets["test/y"][()], c.datasets["test/y"][()])
        assert np.array_equal(f.datasets["train/x"][()], c.datasets["train/x"][()])
        assert m["published_rate"] == 0.4021
        assert m["realized_rate"] == pytest.approx(float((noisy[tr] != clean[tr]).mean()))
        assert m["realized_rate_all"] == pytest.approx(float((noisy != clean).mean()))
        assert m["n_flipped"] == int((noisy[tr] != clean[tr]).sum())
        t = np.asarray(json.loads(m["transition_matrix"]) if isinstance(m["transition_matrix"], str)
                       else m["transition_matrix"])
        assert t.shape == (10, 10) and np.allclose(t.sum(1), 1)
        conf = np.zeros((10, 10), int)
        np.add.at(conf, (clean[tr], noisy[tr]), 1)
        assert np.allclose(t, conf / conf.sum(1, keepdims=True))
        assert m["params"]["label_key"] == "worse_label" and m["params"]["label_file_verified"] is False
    assert cli("verify", out / "cifar10n-worst.h5").code == 0
    info = cli("info", out / "cifar10n-worst.h5").out
    assert "noise:     human labels (worst)" in info and "published 40.21%" in info
    assert cli("card", out / "cifar10n-worst.h5", "--out", tmp_path / "pub").code == 0
    card = (tmp_path / "pub" / "cifar10n-worst.card.md").read_text()
    assert "| published (Wei et al., 2022) | 40.21 % |" in card
    assert f"| ours, all training images of the label file | {100 * m['realized_rate_all']:.2f} % |" in card
    assert "CC BY-NC 4.0" in card and "Learning with Noisy Labels Revisited" in card
    assert "noisebench make cifar10n --noise worst --labels PATH/TO/CIFAR-10_human.pt --no-verify" in card
    assert "Transition matrix T" in card
    cr = json.loads((tmp_path / "pub" / "cifar10n-worst.croissant.json").read_text())
    assert "CC BY-NC 4.0" in json.dumps(cr)
    assert cli("export-data", out / "cifar10n-worst.h5", "--format", "npz", "--out", tmp_path / "exp").code == 0
    with np.load(tmp_path / "exp" / "cifar10n-worst.npz") as z:
        assert np.array_equal(z["y_train"], noisy[tr])


def test_verified_path_and_checksum_refusal(cli, env, tmp_path, monkeypatch):
    out = tmp_path / "d"
    monkeypatch.setattr(cifar10_source, "OFFICIAL_MD5", {p.name: md5_file(p) for p in env["src"].iterdir()})
    r = cli("make", "cifar10n", "--labels", env["pt"], "--source", env["src"], "--out", out)
    assert r.code == 2 and "differs from the official CIFAR-10_human.pt" in r.err and not (out / "cifar10n-aggre.h5").exists()
    monkeypatch.setattr(cifar_n, "OFFICIAL_MD5", {"CIFAR-10_human.pt": md5_file(env["pt"])})
    (out / "raw" / "cifar-n").mkdir(parents=True)  # the default place of the label file
    (out / "raw" / "cifar-n" / "CIFAR-10_human.pt").write_bytes(env["pt"].read_bytes())
    r = cli("make", "cifar10n", "--noise", "random2", "--source", env["src"], "--out", out)
    assert r.code == 0, r.err
    with open_file(out / "cifar10n-random2.h5") as f:
        assert f.meta["source"]["labels"]["verified"] is True and f.meta["published_rate"] == 0.1812


def _bad(env, tmp_path, arrays=None, pickled=None, name="bad.pt") -> Path:
    a = dict(env["arrays"]) if arrays is None else arrays
    return write_cifar_n(tmp_path / name, a, pickled)


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("case", ["clean_mismatch", "length", "float", "2d", "evil_pickle", "not_zip", "extra_key",
                                  "missing_key", "not_dict", "label_range"])
def test_loader_refusals(cli, env, tmp_path, case):
    a = dict(env["arrays"])
    marker = tmp_path / "pwned"
    pickled = None
    if case == "clean_mismatch":
        a["clean_label"] = a["clean_label"].copy()
        a["clean_label"][7] = (a["clean_label"][7] + 1) % 10
    elif case == "length":  # the real file's length does not pair with a small training set
        a = {k: np.resize(v, 50000) for k, v in a.items()}
    elif case == "float":
        a["aggre_label"] = a["aggre_label"].astype(np.float64)
    elif case == "2d":
        a["aggre_label"] = np.stack([a["aggre_label"]] * 2)
    elif case == "evil_pickle":
        pickled = pickle.dumps({"clean_label": a["clean_label"], "aggre_label": _Evil(marker)}, protocol=2)
    elif case == "extra_key":
        a["model"] = a["clean_label"]
    elif case == "missing_key":
        del a["worse_label"]
    elif case == "not_dict":
        pickled = pickle.dumps([a["clean_label"]], protocol=2)
    elif case == "label_range":
        a["aggre_label"] = a["aggre_label"] + 10
    path = _bad(env, tmp_path, a, pickled)
    if case == "not_zip":
        path.write_bytes(pickle.dumps(a, protocol=2))
    r = _make(cli, env, tmp_path / "d", labels=path)
    assert r.code == 2 and r.err.startswith("error: ") and r.err.count("\n") == 1, r.err
    assert not (tmp_path / "d" / "cifar10n-aggre.h5").exists()
    want = {"clean_mismatch": "clean labels differ from the training labels", "length": "holds 50000 labels but the "
            "training set", "float": "1-D integer array", "2d": "1-D integer array",
            "evil_pickle": "refused: the pickle holds more than label arrays", "not_zip": "not a torch zip archive",
            "extra_key": "unexpected entry 'model'", "missing_key": "no 'worse_label' entry",
            "not_dict": "expected a dict", "label_range": "labels outside 0..9"}[case]
    assert want in r.err
    assert not marker.exists()


def test_torch_saved_files(env, tmp_path):
    """torch.save of numpy arrays (how the release was written) and of tensors are both read; a tensor file
    carrying any other object is refused by the weights-only loader."""
    import torch

    p = tmp_path / "np.pt"
    torch.save({k: np.asarray(v) for k, v in env["arrays"].items()}, p)
    labels, _ = cifar_n.load_label_file(p, "cifar10", verify=False)
    assert np.array_equal(labels["aggre_label"], env["arrays"]["aggre_label"])
    t = tmp_path / "t.pt"
    torch.save({k: torch.as_tensor(v) for k, v in env["arrays"].items()}, t)
    assert any("/data/" in n for n in zipfile.ZipFile(t).namelist())
    labels, _ = cifar_n.load_label_file(t, "cifar10", verify=False)
    assert np.array_equal(labels["worse_label"], env["arrays"]["worse_label"])
    e = tmp_path / "evil_tensors.pt"
    torch.save({"clean_label": torch.as_tensor(env["y"]), "aggre_label": _Evil(tmp_path / "pwned")}, e)
    with pytest.raises(UserError, match="refused by the weights-only loader"):
        cifar_n.load_label_file(e, "cifar10", verify=False)
    assert not (tmp_path / "pwned").exists()


def test_bad_options_fail_before_loading(cli, env, tmp_path):
    r = _make(cli, env, tmp_path / "d", noise="noisy")
    assert r.code == 2 and "--noise must be one of aggre, random1, random2, random3, worst" in r.err
    r = cli("make", "cifar10n", "--source", env["src"], "--no-verify", "--out", tmp_path / "d")
    assert r.code == 2 and "pass --labels FILE" in r.err and "--download" in r.err


def test_cifar100n(cli, tmp_path):
    from noisebench.generators.sources.cifar100 import load_cifar100

    src = write_cifar100_python(tmp_path / "src", 120, 20)
    y = load_cifar100(src, verify=False).y_train
    rng = np.random.default_rng(0)
    noisy = np.where(rng.random(y.size) < 0.4, rng.integers(0, 100, y.size), y)
    pt = write_cifar_n(tmp_path / "CIFAR-100_human.pt", {"clean_label": y, "noisy_label": noisy})
    r = cli("make", "cifar100n", "--labels", pt, "--source", src, "--no-verify", "--out", tmp_path / "d")
    assert r.code == 0, r.err
    with open_file(tmp_path / "d" / "cifar100n-noisy.h5") as f, open_file(tmp_path / "d" / "cifar100.h5") as c:
        tr = f.datasets["truth/train_index"][()]
        assert np.array_equal(f.datasets["train/y"][()], noisy[tr]) and f.meta["num_classes"] == 100
        assert f.meta["published_rate"] == 0.4020 and f.meta["pair_key"] == c.meta["pair_key"]
    assert cli("card", tmp_path / "d" / "cifar100n-noisy.h5", "--out", tmp_path / "pub").code == 0
    assert "noisebench make cifar100n --noise noisy" in (tmp_path / "pub" / "cifar100n-noisy.card.md").read_text()
    # the official CIFAR-100 file also holds clean/noisy coarse labels as lists of ints: accepted and not used
    data = pickle.dumps({"clean_label": y, "noisy_label": noisy, "clean_coarse_label": [int(v) // 5 for v in y],
                         "noisy_coarse_label": [int(v) // 5 for v in noisy]}, protocol=2)
    pt2 = write_cifar_n(tmp_path / "with_coarse.pt", {}, data)
    labels, _ = cifar_n.load_label_file(pt2, "cifar100", verify=False)
    assert set(labels) == {"clean_label", "noisy_label", "clean_coarse_label", "noisy_coarse_label"}
