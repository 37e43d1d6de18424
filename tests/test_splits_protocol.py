"""The data protocol: a seeded stratified val split in every image file, identical across a clean file and its
corrupted twins; split seed independent of the noise seed; the 1/6 scaling rule; the metadata digest checked by
`verify`; format-version-1 files refused with the command that rebuilds them; common vs independent random
numbers across ψ levels."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from official_format_fixtures import write_cifar10_batches, write_mnist_idx, write_npz  # noqa: E402

from noisebench.errors import UserError  # noqa: E402
from noisebench.format import METADATA_ROW, SPLIT_ROW, open_file, verify  # noqa: E402
from noisebench.generators.builds.split_record import indices_sha256  # noqa: E402
from noisebench.generators.sources.custom import ImageData  # noqa: E402

SPLIT_KEYS = {"method", "seed", "val_size", "n_train", "n_val", "n_test", "val_indices_sha256"}


@pytest.fixture(scope="module")
def cifar(tmp_path_factory):
    from noisebench.generators.sources.cifar10 import load_cifar10

    src = write_cifar10_batches(tmp_path_factory.mktemp("src"), n_train=60, n_test=12)
    return src, load_cifar10(src, verify=False)


@pytest.fixture(scope="module")
def built(cifar, tmp_path_factory):
    """cifar10.h5 + ψ 8 and 16 (common random numbers) + ψ 8, 16 independent, all split seed 0."""
    from noisebench.generators.builds.images import build_psi

    _, data = cifar
    out = tmp_path_factory.mktemp("built")
    crn = build_psi(data, [8, 16], out, seed=0, workers=1)
    ind = build_psi(data, [8, 16], out, seed=0, workers=1, with_clean=False, independent_levels=True)
    return {p.name: p for p in crn + ind}


def _identity(path):
    with open_file(path) as f:
        return (f.meta["split"], f.meta["source_fingerprint"], f.meta["pair_key"], f.datasets["truth/val_index"][:],
                f.datasets["truth/train_index"][:])


def test_clean_and_psi_twins_share_split_and_val_indices(built, cifar):
    _, data = cifar
    assert set(built) == {"cifar10.h5", "cifar10-psi8.h5", "cifar10-psi16.h5", "cifar10-psi8-indep.h5",
                          "cifar10-psi16-indep.h5"}
    split, fp, key, va, tr = _identity(built["cifar10.h5"])
    assert set(split) == SPLIT_KEYS and split["method"] == "stratified" and split["seed"] == 0
    assert (split["n_train"], split["n_val"], split["n_test"], split["val_size"]) == (50, 10, 12, 10)  # 60 // 6
    assert fp == data.content_sha256() and len(fp) == 64 and fp in key
    assert split["val_indices_sha256"] == indices_sha256(va)
    assert np.array_equal(np.sort(np.concatenate([tr, va])), np.arange(60))  # a partition of the official train set
    for name in built:
        s2, fp2, key2, va2, tr2 = _identity(built[name])
        assert (s2, fp2, key2) == (split, fp, key) and np.array_equal(va2, va) and np.array_equal(tr2, tr), name
    with open_file(built["cifar10.h5"]) as c, open_file(built["cifar10-psi16.h5"]) as d:
        assert c.splits == d.splits == ["train", "val", "test"]
        assert np.array_equal(c.datasets["val/x"][:], data.x_train[va])  # val = those official training images
        assert np.array_equal(c.datasets["val/y"][:], data.y_train[va])
        assert np.array_equal(d.datasets["val/y"][:], data.y_train[va])
        assert not np.array_equal(d.datasets["val/x"][:], c.datasets["val/x"][:])  # ψ val is noisy like train/test
        assert np.array_equal(c.datasets["test/y"][:], data.y_test)


def test_custom_npz_source_pairs_with_the_same_val_indices(cli, tmp_path):
    npz = write_npz(tmp_path / "lab.npz", n_train=48, n_test=8, k=4)
    out = tmp_path / "out"
    assert cli("make", "psi", "--level", "32", "--source", npz, "--out", out).code == 0
    assert cli("make", "psi", "--level", "8", "--seed", "3", "--source", npz, "--out", out).code == 0
    names = sorted(p.name for p in out.glob("*.h5"))
    assert names == ["lab-psi32.h5", "lab-psi8-s3.h5", "lab.h5"]
    ids = [_identity(out / n) for n in names]
    for s, fp, key, va, _ in ids[1:]:
        assert (s, fp, key) == ids[0][:3] and np.array_equal(va, ids[0][3])
    assert ids[0][0]["n_val"] == 8  # 48 // 6
    with open_file(out / "lab.h5") as f:  # stratified: 4 balanced classes of 12 -> 2 val images each
        assert np.bincount(f.datasets["val/y"][:], minlength=4).tolist() == [2, 2, 2, 2]


def _tiny_data(n_train, k=10, n_test=5, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n_train) % k).astype(np.int64)
    return ImageData("tiny", np.zeros((n_train, 1, 1, 1), np.uint8), y, np.zeros((n_test, 1, 1, 1), np.uint8),
                     np.arange(n_test, dtype=np.int64) % k, [str(i) for i in range(k)], source={"kind": "npz"})


@pytest.mark.parametrize("n_train, val_size, n_val", [(30_000, 5000, 5000), (29_999, 5000, 4999),
                                                      (600, 5000, 100), (600, 40, 40), (6, 5000, 1)])
def test_val_size_scaling_rule_and_stratification(n_train, val_size, n_val):
    from noisebench.generators.builds.images import _split_params

    data = _tiny_data(n_train)
    sp = _split_params(data, val_size, 0)
    assert len(sp.val) == n_val == sp.record["n_val"] == sp.record["val_size"]
    assert sp.record["n_train"] == n_train - n_val and sp.record["n_test"] == 5
    assert not set(sp.val) & set(sp.train)
    per_class = np.bincount(data.y_train[sp.val], minlength=10)
    exact = np.bincount(data.y_train, minlength=10) * n_val / n_train
    assert (np.abs(per_class - exact) < 1).all()  # each class within one image of its share


def test_too_small_training_set_and_zero_val_size_are_refused():
    from noisebench.generators.builds.images import _split_params

    with pytest.raises(UserError, match="too few to carve a val split"):
        _split_params(_tiny_data(5), 5000, 0)
    with pytest.raises(UserError, match="--val-size must be >= 1"):
        _split_params(_tiny_data(60), 0, 0)


def test_split_seed_is_independent_of_the_noise_seed(cifar, built, tmp_path):
    from noisebench.generators.builds.images import build_psi

    _, data = cifar
    other_noise = build_psi(data, [16], tmp_path, seed=5, workers=1, with_clean=False)[0]
    other_split = build_psi(data, [16], tmp_path, seed=5, split_seed=1, workers=1)
    assert [p.name for p in other_split] == ["cifar10-split1.h5", "cifar10-psi16-s5-split1.h5"]
    base, noise, split1 = _identity(built["cifar10-psi16.h5"]), _identity(other_noise), _identity(other_split[1])
    assert noise[0] == base[0] and np.array_equal(noise[3], base[3])  # new noise seed: same split
    with open_file(other_noise) as f, open_file(built["cifar10-psi16.h5"]) as g:
        assert f.meta["checksums"]["train/x"] != g.meta["checksums"]["train/x"]
    assert split1[0]["seed"] == 1 and not np.array_equal(split1[3], base[3]) and split1[2] != base[2]
    assert _identity(other_split[0])[:3] == split1[:3]  # its clean twin carries the same split


def test_mnist_clean_and_flip_record_the_same_identity(tmp_path):
    from noisebench.generators.builds.images import build_flip
    from noisebench.generators.sources.mnist import load_mnist

    data = load_mnist(write_mnist_idx(tmp_path / "src", n_train=60, n_test=10), verify=False)
    flip, = build_flip(data, tmp_path / "a", rate=0.3, seed=4, with_clean=False)
    clean, flip2 = build_flip(data, tmp_path / "b", rate=0.3, seed=9)
    a, b, c = _identity(flip), _identity(clean), _identity(flip2)
    assert a[:3] == b[:3] == c[:3] and np.array_equal(a[3], b[3]) and np.array_equal(a[3], c[3])
    with open_file(flip) as f:
        assert f.datasets["truth/flip_mask"].dtype == np.uint8  # as docs/FORMAT.md says


def test_synth_files_record_split_and_source(tmp_path):
    from noisebench.generators.synth.files import build
    from noisebench.generators.synth.generator import SynthParams

    clean, dirty = build(SynthParams(rows=140, seed=2), tmp_path)
    with open_file(clean) as c, open_file(dirty) as d:
        assert c.meta["split"] == d.meta["split"] and c.meta["source_fingerprint"] == d.meta["source_fingerprint"]
        assert c.meta["pair_key"] == d.meta["pair_key"]
        s = c.meta["split"]
        assert set(s) == SPLIT_KEYS and (s["n_train"], s["n_val"], s["n_test"]) == (100, 40, 40)
        assert s["val_indices_sha256"] == indices_sha256(np.arange(100, 140))


# ------------------------------------------------------------------ metadata digest


def _edit(path, dest, fn):
    shutil.copy(path, dest)
    with h5py.File(dest, "r+") as f:
        fn(f)
    return dest


EDITS = {
    "params": (lambda f: f.attrs.__setitem__("params", json.dumps({"level": 8.0})), "edited: params"),
    "num_classes": (lambda f: f.attrs.__setitem__("num_classes", 9), "edited: num_classes"),
    "pair_key": (lambda f: f.attrs.__setitem__("pair_key", "cifar10:other"), "edited: pair_key"),
    "class_names": (lambda f: f.attrs.__setitem__("class_names", '["a"]'), "edited: class_names"),
    "split": (lambda f: f.attrs.__setitem__("split", json.dumps({"method": "stratified"})), "edited: split"),
    "group attribute": (lambda f: f["truth"].attrs.__setitem__("description", "x"), "edited: truth@description"),
    "added": (lambda f: f.attrs.__setitem__("note", "hi"), "added: note"),
    "removed": (lambda f: f.attrs.__delitem__("clean_reference"), "removed: clean_reference"),
}


def test_an_edited_task_is_refused_at_open(built, tmp_path):
    """Flipping `task` makes the stored label dtype inconsistent: the reader refuses the file outright."""
    from noisebench.errors import UserError

    bad = _edit(built["cifar10-psi16.h5"], tmp_path / "bad.h5", lambda f: f.attrs.__setitem__("task", "regression"))
    with pytest.raises(UserError, match="regression targets must be float32"):
        verify(bad)


@pytest.mark.parametrize("case", list(EDITS))
def test_an_edited_attribute_fails_verify(built, tmp_path, case):
    fn, said = EDITS[case]
    bad = _edit(built["cifar10-psi16.h5"], tmp_path / "bad.h5", fn)
    rows = {n: (s, d) for n, s, d in verify(bad)}
    assert rows[METADATA_ROW][0] == "CHANGED" and said in rows[METADATA_ROW][1], rows[METADATA_ROW]
    assert all(s == "ok" for n, (s, _) in rows.items() if n not in (METADATA_ROW, SPLIT_ROW))  # arrays untouched
    # the split record is also checked against the stored sizes and val indices
    assert rows[SPLIT_ROW][0] == ("MISMATCH" if case == "split" else "ok")


def test_split_record_is_checked_against_the_stored_indices(built, tmp_path):
    good = {n: s for n, s, _ in verify(built["cifar10.h5"])}
    assert good[SPLIT_ROW] == "ok"

    def other_indices(f):
        sp = json.loads(f.attrs["split"])
        f.attrs["split"] = json.dumps(sp | {"val_indices_sha256": indices_sha256(np.arange(sp["n_val"]))})

    rows = {n: (s, d) for n, s, d in verify(_edit(built["cifar10.h5"], tmp_path / "b.h5", other_indices))}
    assert rows[SPLIT_ROW] == ("MISMATCH", "truth/val_index does not match val_indices_sha256")


def test_verify_cli_exit_codes_for_attributes(cli, built, tmp_path):
    good = built["cifar10-psi16.h5"]
    r = cli("verify", good)
    assert r.code == 0 and "attributes unchanged" in r.out and "ok        attributes" in r.out
    bad = _edit(good, tmp_path / "bad.h5", EDITS["params"][0])
    r = cli("verify", bad)
    assert r.code == 1 and r.err.startswith("error:") and len(r.err.strip().splitlines()) == 1
    assert "the attributes failed verification" in r.err
    assert [ln.split()[:2] for ln in r.out.splitlines() if ln.startswith("CHANGED")] == [["CHANGED", "attributes"]]
    assert "edited: params" in r.out
    gone = _edit(good, tmp_path / "gone.h5", lambda f: f.attrs.__delitem__("metadata_sha256"))
    r = cli("verify", gone)
    assert r.code == 1 and "MISSING   attributes" in r.out


# ------------------------------------------------------------------ old format versions


def _as_version_1(f):
    f.attrs["format_version"] = 1
    for a in ("split", "source_fingerprint", "metadata_sha256"):
        if a in f.attrs:
            del f.attrs[a]


@pytest.mark.parametrize("name, command", [
    ("cifar10-psi16.h5", "noisebench make psi --level 16 --val-size 5000 --force"),  # its recorded --val-size
    ("cifar10.h5", "noisebench make cifar10 --val-size 5000 --force"),
])
def test_format_version_1_is_refused_with_the_rebuild_command(cli, built, tmp_path, name, command):
    old = _edit(built[name], tmp_path / name, _as_version_1)
    with pytest.raises(UserError) as e:
        open_file(old)
    msg = str(e.value)
    assert "format version 1 (no validation split" in msg and msg.endswith(f"rebuild it with: {command}")
    for args in (("info", old), ("verify", old), ("train", "--data", old, "--epochs", "1", "--db", tmp_path / "r.db")):
        r = cli(*args)
        assert r.code == 2 and r.err.startswith("error:") and len(r.err.strip().splitlines()) == 1, args
        assert command in r.err
    assert not (tmp_path / "r.db").exists()  # refused before anything is recorded


def test_rebuild_commands_for_other_kinds():
    from noisebench.rebuild_hint import rebuild_command

    flip = {"kind": "mnist-flip", "params": '{"mode": "pair", "rate": 0.2}', "seed": 3, "dataset": "mnist",
            "source": '{"kind": "mnist-idx"}'}
    assert rebuild_command(flip) == "noisebench make mnist-flip --rate 0.2 --mode pair --seed 3 --force"
    synth = {"kind": "synth", "params": json.dumps({"rows": 700, "cols": 10, "dirty_frac": 0.1, "sigma": 0.5}), "seed": 0}
    assert rebuild_command(synth) == "noisebench synth --rows 700 --cols 10 --dirty-frac 0.1 --sigma 0.5 --force"
    lab = {"kind": "psi", "params": '{"level": 12.5}', "seed": 0, "dataset": "lab",
           "source": '{"kind": "npz", "path": "/data/lab.npz"}'}
    assert rebuild_command(lab) == "noisebench make psi --level 12.5 --source /data/lab.npz --name lab --force"


# ------------------------------------------------------------------ common random numbers across ψ levels


def _residuals(path):
    with open_file(path) as f:
        return f.datasets["train/x"][:].astype(np.float64).ravel()


def test_levels_share_random_numbers_unless_independent(built, cifar, tmp_path):
    from noisebench.generators.builds.images import build_psi

    x = _residuals(built["cifar10.h5"])
    r8, r16 = _residuals(built["cifar10-psi8.h5"]) - x, _residuals(built["cifar10-psi16.h5"]) - x
    i8, i16 = _residuals(built["cifar10-psi8-indep.h5"]) - x, _residuals(built["cifar10-psi16-indep.h5"]) - x
    assert np.corrcoef(r8, r16)[0, 1] > 0.9  # common random numbers (default)
    assert abs(np.corrcoef(i8, i16)[0, 1]) < 0.05  # independent streams
    assert not np.array_equal(i16, r16)
    with open_file(built["cifar10-psi16-indep.h5"]) as f, open_file(built["cifar10-psi16.h5"]) as g:
        assert f.meta["params"]["independent_levels"] is True and g.meta["params"]["independent_levels"] is False
    # an independent level's noise does not depend on which other levels were built with it
    _, data = cifar
    alone = build_psi(data, [16], tmp_path, workers=1, with_clean=False, independent_levels=True)[0]
    with open_file(alone) as f, open_file(built["cifar10-psi16-indep.h5"]) as g:
        assert f.meta["checksums"] == g.meta["checksums"]


def test_independent_levels_cli_flag(cli, cifar, tmp_path):
    src, _ = cifar
    r = cli("make", "psi", "--level", "16", "--independent-levels", "--source", src, "--no-verify", "--out", tmp_path)
    assert r.code == 0, r.err
    assert sorted(p.name for p in tmp_path.glob("*.h5")) == ["cifar10-psi16-indep.h5", "cifar10.h5"]


def test_card_build_command_rebuilds_split_seed_and_independent_levels(cli, cifar, tmp_path):
    """The rebuild command a dataset card states carries --split-seed and --independent-levels: running it
    gives the same data."""
    import shlex

    from noisebench.share.facts import describe
    from noisebench.share.provenance import build_command

    src, _ = cifar
    a, b = tmp_path / "a", tmp_path / "b"
    r = cli("make", "psi", "--level", "16", "--split-seed", "3", "--independent-levels", "--source", src, "--no-verify",
            "--out", a)
    assert r.code == 0, r.err
    for name in ("cifar10-psi16-indep-split3.h5", "cifar10-split3.h5"):
        cmd = build_command(describe(a / name, with_file_hash=False))
        assert "--split-seed 3" in cmd and ("--independent-levels" in cmd) == ("indep" in name), cmd
        args = [src if w == "PATH/TO/CIFAR10_FILES" else w for w in shlex.split(cmd)[1:]] + ["--out", b, "--force"]
        assert cli(*args).code == 0, cmd
        with open_file(a / name) as f, open_file(b / name) as g:
            assert f.meta["checksums"] == g.meta["checksums"] and f.meta["split"] == g.meta["split"]
