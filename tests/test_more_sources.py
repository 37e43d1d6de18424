"""CIFAR-100, Fashion-MNIST and SVHN in their official layouts: build, verify, card and export through the CLI,
checksums, label types and label mapping, and damaged inputs."""

from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from official_format_fixtures import (  # noqa: E402
    write_cifar100_python,
    write_fashion_mnist_idx,
    write_mnist_idx,
    write_svhn_mat,
)

from noisebench.errors import UserError  # noqa: E402
from noisebench.format import open_file  # noqa: E402
from noisebench.generators.sources import cifar100 as cifar100_source
from noisebench.generators.sources import fashion_mnist as fashion_mnist_source
from noisebench.generators.sources import svhn as svhn_source
from noisebench.generators.sources.custom import detect_kind, md5_file  # noqa: E402


@pytest.fixture(scope="module")
def src(tmp_path_factory):
    root = tmp_path_factory.mktemp("more_sources")
    return {"root": root, "cifar100": write_cifar100_python(root / "src", 120, 40),
            "fashion": write_fashion_mnist_idx(root / "src", 60, 20), "svhn": write_svhn_mat(root / "src", 60, 20, extra=30),
            "mnist": write_mnist_idx(root / "src", 60, 20)}


def _names(f) -> list:
    cn = f.meta["class_names"]
    return json.loads(cn) if isinstance(cn, str) else list(cn)


def _card_and_export(cli, h5: Path, tmp: Path) -> tuple[str, dict]:
    r = cli("verify", h5)
    assert r.code == 0 and "checksums match" in r.out, r.out + r.err
    r = cli("card", h5, "--out", tmp / "pub")
    assert r.code == 0, r.err
    card = (tmp / "pub" / f"{h5.stem}.card.md").read_text()
    croissant = json.loads((tmp / "pub" / f"{h5.stem}.croissant.json").read_text())
    r = cli("export-data", h5, "--format", "npz", "--out", tmp / "exp")
    assert r.code == 0, r.err
    with np.load(tmp / "exp" / f"{h5.stem}.npz") as z, open_file(h5) as f:
        assert np.array_equal(z["y_test"], f.datasets["test/y"][()])
        assert list(z["class_names"]) == _names(f)
    return card, croissant


def test_cifar100_fine_and_coarse(cli, src, tmp_path):
    out = tmp_path / "d"
    r = cli("make", "cifar100", "--source", src["cifar100"], "--no-verify", "--out", out)
    assert r.code == 0, r.err
    with open_file(out / "cifar100.h5") as f:
        assert f.meta["num_classes"] == 100 and _names(f)[3] == "fine3"
        assert f.meta["source"]["kind"] == "cifar100-python" and f.meta["source"]["label_type"] == "fine"
        y_fine = np.concatenate([f.datasets["train/y"][()], f.datasets["val/y"][()]])
        idx = np.concatenate([f.datasets["truth/train_index"][()], f.datasets["truth/val_index"][()]])
    raw = pickle.loads((src["cifar100"] / "train").read_bytes(), encoding="bytes")
    assert np.array_equal(y_fine, np.asarray(raw[b"fine_labels"])[idx])
    card, cr = _card_and_export(cli, out / "cifar100.h5", tmp_path)
    assert "CIFAR-100" in card and "Krizhevsky" in card and "noisebench make cifar100 --val-size 5000" in card
    assert "Krizhevsky" in json.dumps(cr)
    r = cli("make", "cifar100", "--label-type", "coarse", "--source", src["root"] / "src", "--no-verify", "--out", out)
    assert r.code == 0, r.err
    with open_file(out / "cifar100_coarse.h5") as f:
        assert f.meta["num_classes"] == 20 and _names(f)[0] == "coarse0"
        assert np.array_equal(f.datasets["test/y"][()], np.asarray(raw and pickle.loads(
            (src["cifar100"] / "test").read_bytes(), encoding="bytes")[b"coarse_labels"]))
    assert "--label-type coarse" in _card_and_export(cli, out / "cifar100_coarse.h5", tmp_path / "c")[0]
    bad = cli("make", "cifar100", "--label-type", "medium", "--source", src["cifar100"], "--no-verify", "--out", out)
    assert bad.code == 2 and "--label-type must be fine or coarse" in bad.err
    npz = cli("make", "cifar100", "--label-type", "coarse", "--source", src["fashion"], "--no-verify", "--out",
              tmp_path / "other")
    assert npz.code == 2 and "applies only to cifar100" in npz.err


def test_cifar100_corruptions_psi_flip_and_c_sets(cli, src, tmp_path):
    out = tmp_path / "d"
    s = ["--source", src["cifar100"], "--no-verify", "--out", out]
    assert cli("make", "psi", "--level", "16", *s).code == 0
    assert cli("make", "corrupt", "fog", "--severity", "2", *s).code == 0
    assert cli("make", "mnist-flip", "--rate", "0.3", *s).code == 0
    for name in ("cifar100.h5", "cifar100-psi16.h5", "cifar100-fog-sev2.h5", "cifar100-flip0.3.h5"):
        with open_file(out / name) as f:
            assert f.meta["num_classes"] == 100 and f.meta["dataset"] == "cifar100"
    with open_file(out / "cifar100-flip0.3.h5") as f:
        assert f.datasets["train/y"].shape == f.datasets["truth/clean_labels"].shape
        assert f.meta["realized_rate"] > 0
    r = cli("make", "cifar100-c", "--corruptions", "fog,contrast", "--severity", "1,5", "--out", out)
    assert r.code == 0, r.err
    with open_file(out / "cifar100-c-fog.h5") as f:
        assert f.meta["clean_reference"] == "cifar100.h5" and f.datasets["test/x"].shape[0] == 2 * 40
    card, _ = _card_and_export(cli, out / "cifar100-c-fog.h5", tmp_path)
    assert "noisebench make cifar100-c --corruptions fog" in card
    # the official release layout: <corruption>.npy (5·N images by severity) and labels.npy
    rel = tmp_path / "CIFAR-100-C"
    rel.mkdir()
    with open_file(out / "cifar100.h5") as f:
        x, y = f.datasets["test/x"][()], f.datasets["test/y"][()]
    np.save(rel / "fog.npy", np.concatenate([x] * 5))
    np.save(rel / "labels.npy", np.tile(y, 5))
    r = cli("make", "cifar100-c", "--release", rel, "--out", out)
    assert r.code == 0, r.err
    with open_file(out / "cifar100-c-release-fog.h5") as f:
        assert "CIFAR-100-C release" in f.meta["reference"] and f.meta["clean_reference"] == "cifar100.h5"
    assert cli("make", "cifar100-c", "--out", tmp_path / "none").code == 2


def test_cifar100_checksums(src, monkeypatch, tmp_path):
    with pytest.raises(UserError, match="differs from the official"):
        cifar100_source.load_cifar100(src["cifar100"])
    monkeypatch.setattr(cifar100_source, "OFFICIAL_MD5", {p.name: md5_file(p) for p in src["cifar100"].iterdir()})
    assert cifar100_source.load_cifar100(src["cifar100"]).source["verified"] is True


@pytest.mark.parametrize("damage", ["extra_key", "label_range", "code"])
def test_cifar100_damaged(src, tmp_path, damage):
    d = write_cifar100_python(tmp_path, 12, 6)
    obj = pickle.loads((d / "train").read_bytes(), encoding="bytes")
    if damage == "extra_key":
        obj[b"evil"] = 1
    elif damage == "label_range":
        obj[b"fine_labels"][0] = 100
    else:
        obj = {b"data": _Evil()}
    (d / "train").write_bytes(pickle.dumps(obj, protocol=2))
    with pytest.raises(UserError, match="unexpected entry|0..99|not a CIFAR-100 file"):
        cifar100_source.load_cifar100(d, verify=False)


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned",))


def test_fashion_mnist(cli, src, tmp_path, monkeypatch):
    out = tmp_path / "d"
    assert detect_kind(src["root"] / "src", prefer="fashion_mnist") == "fashion_mnist"
    assert detect_kind(src["mnist"], prefer="cifar10") == "mnist"  # same file names, told apart
    assert detect_kind(src["fashion"], prefer="cifar10") == "fashion_mnist"
    r = cli("make", "fashion-mnist", "--source", src["root"] / "src", "--no-verify", "--out", out)
    assert r.code == 0, r.err
    with open_file(out / "fashion_mnist.h5") as f:
        assert _names(f)[0] == "T-shirt/top" and f.datasets["train/x"].shape[1:] == (28, 28, 1)
    card, cr = _card_and_export(cli, out / "fashion_mnist.h5", tmp_path)
    assert "MIT" in card and "Xiao" in card and "noisebench make fashion-mnist" in card
    assert cr["license"].endswith("fashion-mnist/blob/master/LICENSE")
    with pytest.raises(UserError, match="differs from the official"):
        fashion_mnist_source.FashionMNIST.load(src["fashion"])
    monkeypatch.setattr(fashion_mnist_source, "OFFICIAL_MD5", {p.name: md5_file(p) for p in src["fashion"].iterdir()})
    assert fashion_mnist_source.FashionMNIST.load(src["fashion"]).source["verified"] is True
    flip = cli("make", "mnist-flip", "--rate", "0.2", "--source", src["fashion"], "--out", out)
    assert flip.code == 0 and (out / "fashion_mnist-flip0.2.h5").exists(), flip.err


def test_svhn_label_10_is_digit_0_and_extra(cli, src, tmp_path):
    import scipy.io

    out = tmp_path / "d"
    r = cli("make", "svhn", "--source", src["root"] / "src", "--no-verify", "--out", out)
    assert r.code == 0, r.err
    m = scipy.io.loadmat(src["svhn"] / "test_32x32.mat")
    want = m["y"].reshape(-1).astype(np.int64)
    assert (want == 10).any()
    want[want == 10] = 0
    with open_file(out / "svhn.h5") as f:
        assert np.array_equal(f.datasets["test/y"][()], want)
        assert np.array_equal(f.datasets["test/x"][()], np.transpose(m["X"], (3, 0, 1, 2)))
        assert _names(f) == [str(i) for i in range(10)]
    card, cr = _card_and_export(cli, out / "svhn.h5", tmp_path)
    assert "non-commercial" in card and "Netzer" in card
    r = cli("make", "svhn", "--extra", "--source", src["svhn"], "--no-verify", "--out", out)
    assert r.code == 0, r.err
    with open_file(out / "svhn_extra.h5") as f:
        assert f.meta["split"]["n_train"] + f.meta["split"]["n_val"] == 60 + 30
    assert "--extra" in _card_and_export(cli, out / "svhn_extra.h5", tmp_path / "e")[0]
    assert cli("make", "corrupt", "contrast", "--severity", "1", "--source", src["svhn"], "--no-verify",
               "--out", out).code == 0


@pytest.mark.parametrize("damage", ["labels_0", "extra_var", "shape", "not_mat", "md5"])
def test_svhn_damaged(tmp_path, damage):
    import scipy.io

    d = write_svhn_mat(tmp_path, 12, 6)
    p = d / "train_32x32.mat"
    m = scipy.io.loadmat(p)
    if damage == "labels_0":
        m["y"][0, 0] = 0
    elif damage == "extra_var":
        m["evil"] = np.zeros(3)
    elif damage == "shape":
        m["X"] = m["X"][:, :16]
    if damage == "not_mat":
        p.write_bytes(b"MATLAB 5.0 MAT-file" + b"\0" * 50)
    elif damage != "md5":
        scipy.io.savemat(p, {k: v for k, v in m.items() if not k.startswith("__")})
    with pytest.raises(UserError) as e:
        svhn_source.load_svhn(d, verify=damage == "md5")
    assert str(e.value).count("\n") == 0
    assert {"labels_0": "1..10", "extra_var": "exactly X and y", "shape": "32x32x3xN", "not_mat": "MATLAB",
            "md5": "differs from the official"}[damage] in str(e.value)
