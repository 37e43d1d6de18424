"""Label-flipped MNIST: flip invariants, modes, custom matrices, the shared val split, CLI and bad input."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

sys.path.insert(0, str(Path(__file__).parent))
from official_format_fixtures import write_mnist_idx  # noqa: E402

from noisebench.corruptors.label_flip import (  # noqa: E402
    effective_val_size,
    flip_labels,
    stratified_val_split,
    validate_matrix,
)
from noisebench.errors import UserError  # noqa: E402
from noisebench.format import open_file  # noqa: E402

K = 10


def _labels(n, seed=0):
    return np.random.default_rng(seed).integers(0, K, n)


def test_symmetric_never_flips_to_itself_and_is_uniform_over_others():
    y = _labels(40_000)
    r = flip_labels(y, K, seed=1, mode="symmetric", rate=0.1)
    assert np.array_equal(r.flip_mask, r.noisy != y)
    assert abs(r.realized_rate - 0.1) < 0.006 and r.nominal_rate == 0.1
    shift = (r.noisy - y)[r.flip_mask] % K
    assert shift.min() >= 1
    counts = np.bincount(shift, minlength=K)[1:]
    assert stats.chisquare(counts).pvalue > 1e-4
    assert r.confusion.sum() == len(y) and np.trace(r.confusion) == (~r.flip_mask).sum()
    assert np.array_equal(r.confusion.sum(1), np.bincount(y, minlength=K))


def test_pair_mode():
    y = _labels(5000)
    r = flip_labels(y, K, seed=2, mode="pair", rate=0.3)
    assert np.array_equal(r.noisy[r.flip_mask], (y[r.flip_mask] + 1) % K)
    assert abs(r.realized_rate - 0.3) < 0.03


def test_extreme_rates_and_determinism():
    y = _labels(1000)
    assert flip_labels(y, K, 0, rate=0.0).flip_mask.sum() == 0
    assert flip_labels(y, K, 0, rate=1.0).flip_mask.all()
    a, b = flip_labels(y, K, 7, rate=0.2), flip_labels(y, K, 7, rate=0.2)
    assert np.array_equal(a.noisy, b.noisy)
    assert not np.array_equal(a.noisy, flip_labels(y, K, 8, rate=0.2).noisy)


def test_matrix_mode_follows_rows():
    m = np.eye(K) * 0.6
    m[:, 0] += 0.4  # every class goes to 0 with probability 0.4 (class 0 stays)
    y = _labels(30_000, seed=3)
    r = flip_labels(y, K, 4, mode="matrix", matrix=m)
    for c in (1, 5):
        sel = y == c
        assert abs((r.noisy[sel] == 0).mean() - 0.4) < 0.04
        assert set(np.unique(r.noisy[sel])) <= {0, c}
    assert (r.noisy[y == 0] == 0).all()
    assert abs(r.nominal_rate - 0.4 * (y != 0).mean()) < 1e-9


@pytest.mark.parametrize(
    "m, msg",
    [
        (np.eye(9), "must be 10x10"),
        (np.where(np.eye(K) > 0, 0.9, 0.0), "row 0 sums to 0.9"),
        (np.eye(K) * 2 - np.roll(np.eye(K), 1, 1), "negative"),
        (np.full((K, K), np.nan), "not a finite"),
    ],
)
def test_matrix_validation(m, msg):
    with pytest.raises(UserError, match=msg):
        validate_matrix(m, K)


def test_row_three_message():
    m = np.eye(K)
    m[3, 3] = 0.9
    with pytest.raises(UserError, match="row 3 sums to 0.9"):
        validate_matrix(m, K)


def test_stratified_split():
    y = _labels(6000, seed=5)
    tr, va = stratified_val_split(y, 1000, seed=0, num_classes=K)
    assert len(va) == 1000 and len(tr) == 5000 and not set(tr) & set(va)
    frac = np.bincount(y[va], minlength=K) / np.bincount(y, minlength=K)
    assert np.abs(frac - 1 / 6).max() < 0.01
    tr2, va2 = stratified_val_split(y, 1000, seed=0, num_classes=K)
    assert np.array_equal(va, va2)
    assert effective_val_size(10000, 60000) == 10000 and effective_val_size(10000, 600) == 100
    with pytest.raises(UserError):
        effective_val_size(-1, 100)


# ------------------------------------------------------------------ files and CLI


@pytest.fixture(scope="module")
def mnist_src(tmp_path_factory):
    return write_mnist_idx(tmp_path_factory.mktemp("src"), n_train=300, n_test=40, gz=True)


def _flip_file_checks(path, clean_path, nominal):
    with open_file(path) as f, open_file(clean_path) as g:
        assert f.kind == "mnist-flip" and f.meta["variant"] == "dirty" and f.meta["clean_reference"] == clean_path.name
        assert g.kind == "clean" and f.meta["pair_key"] == g.meta["pair_key"]
        assert f.datasets["train/x"].shape[1:] == (28, 28, 1)  # kept at 28x28
        for s in ("train", "val", "test"):
            assert np.array_equal(f.datasets[f"{s}/x"][:], g.datasets[f"{s}/x"][:])
        for s in ("val", "test"):  # val and test stay clean
            assert np.array_equal(f.datasets[f"{s}/y"][:], g.datasets[f"{s}/y"][:])
        clean = f.datasets["truth/clean_labels"][:]
        mask = f.datasets["truth/flip_mask"][:].astype(bool)
        noisy = f.datasets["train/y"][:]
        assert np.array_equal(clean, g.datasets["train/y"][:])
        assert np.array_equal(mask, noisy != clean)
        assert f.meta["realized_rate"] == pytest.approx(mask.mean())
        assert f.meta["nominal_rate"] == pytest.approx(nominal)
        cm = np.array(json.loads(f.meta["confusion_matrix"]))
        assert cm.sum() == len(clean) and np.trace(cm) == (~mask).sum()
        return clean, noisy, mask


def test_make_mnist_flip_cli(cli, mnist_src, tmp_path):
    r = cli("make", "mnist-flip", "--rate", "0.1", "--source", mnist_src, "--no-verify", "--out", tmp_path)
    assert r.code == 0, r.err
    assert "realized" in r.out
    clean, noisy, mask = _flip_file_checks(tmp_path / "mnist-flip0.1.h5", tmp_path / "mnist.h5", 0.1)
    assert (noisy[mask] != clean[mask]).all()
    with open_file(tmp_path / "mnist.h5") as g:
        assert g.split_shapes()["val"]["x"][0] == 50  # min(10000, 300 // 6)
        assert g.split_shapes()["test"]["x"][0] == 40
    info = cli("info", tmp_path / "mnist-flip0.1.h5")
    assert "nominal 10%" in info.out and "realized" in info.out and "confusion" in info.out
    assert cli("verify", tmp_path / "mnist-flip0.1.h5").code == 0
    png = tmp_path / "m.png"
    assert cli("preview", tmp_path / "mnist-flip0.1.h5", "--out", png).code == 0 and png.exists()


def test_make_mnist_matches_flip_split(cli, mnist_src, tmp_path):
    a = tmp_path / "a"
    r = cli("make", "mnist", "--val-size", "30", "--split-seed", "2", "--source", mnist_src, "--no-verify", "--out", a)
    assert r.code == 0, r.err
    r = cli("make", "mnist-flip", "--rate", "0.25", "--mode", "pair", "--val-size", "30", "--seed", "5",
            "--split-seed", "2", "--source", mnist_src, "--no-verify", "--out", a)
    assert r.code == 0, r.err
    assert sorted(p.name for p in a.glob("*.h5")) == ["mnist-pair0.25-s5-split2.h5", "mnist-split2.h5"]
    _, noisy, mask = _flip_file_checks(a / "mnist-pair0.25-s5-split2.h5", a / "mnist-split2.h5", 0.25)
    assert "warning" not in r.err
    # another val size makes another split: the existing clean file is named as no twin
    r = cli("make", "mnist-flip", "--rate", "0.25", "--val-size", "20", "--split-seed", "2",
            "--source", mnist_src, "--no-verify", "--out", a)
    assert r.code == 0 and "warning" in r.err and "not the clean twin" in r.err


def test_matrix_file_cli(cli, mnist_src, tmp_path):
    m = np.full((K, K), 0.05)
    np.fill_diagonal(m, 0.55)
    np.savetxt(tmp_path / "T.csv", m, delimiter=",")
    np.save(tmp_path / "T.npy", m)
    out = tmp_path / "out"
    r = cli("make", "mnist-flip", "--matrix", tmp_path / "T.csv", "--source", mnist_src, "--no-verify", "--out", out)
    assert r.code == 0, r.err
    made = [p.name for p in out.glob("mnist-matrix-*.h5")]
    assert len(made) == 1 and len(made[0]) == len("mnist-matrix-12345678.h5")
    r = cli("make", "mnist-flip", "--matrix", tmp_path / "T.npy", "--source", mnist_src, "--no-verify", "--out", out)
    assert r.code == 2 and "--force" in r.err  # same matrix, same name
    bad = m.copy()
    bad[3, 3] = 0.45
    np.savetxt(tmp_path / "B.txt", bad)
    r = cli("make", "mnist-flip", "--matrix", tmp_path / "B.txt", "--source", mnist_src, "--no-verify", "--out", out)
    assert r.code == 2 and "row 3 sums to 0.9" in r.err
    (tmp_path / "C.csv").write_text("a,b\n1,2\n")
    r = cli("make", "mnist-flip", "--matrix", tmp_path / "C.csv", "--source", mnist_src, "--no-verify", "--out", out)
    assert r.code == 2 and "cannot read" in r.err
    r = cli("make", "mnist-flip", "--matrix", tmp_path / "nope.npy", "--source", mnist_src, "--no-verify", "--out", out)
    assert r.code == 2 and "no such file" in r.err


@pytest.mark.parametrize("args", [["--rate", "-0.1"], ["--rate", "1.5"], ["--rate", "nan"], ["--mode", "diagonal"],
                                  ["--val-size", "-3"], ["--val-size", "0"], ["--seed", "-1"], ["--split-seed", "-1"]])
def test_bad_flip_arguments(cli, mnist_src, tmp_path, args):
    r = cli("make", "mnist-flip", *args, "--source", mnist_src, "--no-verify", "--out", tmp_path)
    assert r.code != 0 and r.err.startswith("error:") and len(r.err.strip().splitlines()) == 1
    assert not list(tmp_path.glob("*.h5"))


def test_val_size_zero_and_checksum_error(cli, mnist_src, tmp_path):
    r = cli("make", "mnist", "--val-size", "0", "--source", mnist_src, "--no-verify", "--out", tmp_path)
    assert r.code == 2 and "--val-size must be within 1.." in r.err  # every classification file has a val split
    assert not list(tmp_path.glob("*.h5"))
    r = cli("make", "mnist-flip", "--source", mnist_src, "--out", tmp_path)
    assert r.code == 2 and "md5" in r.err


# ------------------------------------------------------------------ label_flip, the registered label corruption


def test_label_flip_is_listed_as_a_label_corruption(cli):
    from noisebench.corruptors.sets import corruption_spec

    assert corruption_spec("label_flip").target == "labels"
    assert set(corruption_spec("label_flip").params) == {"rate", "mode", "matrix"}
    r = cli("make", "corrupt", "list")
    assert r.code == 0 and "1 acting on labels, not images" in r.out.splitlines()[0]
    row = next(line for line in r.out.splitlines() if line.startswith("label_flip "))
    assert "acts on labels" in row
    assert "noisebench make mnist-flip" in r.out
    zoo = cli("zoo")
    assert any(line.split()[:2] == ["label_flip", "labels"] for line in zoo.out.splitlines())


def test_image_only_paths_refuse_label_flip_with_one_line(cli, mnist_src, tmp_path):
    import noisebench as nb
    from noisebench.generators.builds.corrupt import apply_corruption

    x = np.zeros((2, 8, 8, 3), np.uint8)
    for call in (lambda: nb.corrupt(x, "label_flip"), lambda: nb.corrupt(x, "label_flip", 3, seed=0),
                 lambda: nb.Corrupt("label_flip", 3), lambda: nb.Corrupt("label_flip", rate=0.2),
                 lambda: nb.resolve_corruptions("fog,label_flip"), lambda: apply_corruption("label_flip", x)):
        with pytest.raises(UserError) as e:
            call()
        assert "acts on labels, not on images" in str(e.value) and "\n" not in str(e.value)
    r = cli("make", "cifar10-c", "--corruptions", "label_flip", "--data", tmp_path / "none.h5")
    assert r.code == 2 and r.err.startswith("error:") and "acts on labels" in r.err and r.err.count("\n") == 1
    assert cli("make", "mnist", "--source", mnist_src, "--no-verify", "--out", tmp_path).code == 0
    r = cli("robustness", "--protocol", "test-time", "--corruptions", "label_flip", "--data", tmp_path / "mnist.h5",
            "--db", tmp_path / "r.db", "--device", "cpu")
    assert r.code == 2 and r.err.startswith("error:") and "acts on labels" in r.err and r.err.count("\n") == 1
    assert not (tmp_path / "r.db").exists()


def test_the_registered_function_flips_arrays_like_the_files():
    from noisebench.registry import CORRUPTIONS

    fn = CORRUPTIONS.get("label_flip").obj
    y = _labels(2000)
    a = fn(y, np.random.default_rng(0), K, rate=0.3, mode="pair")
    b = fn(y, np.random.default_rng(0), K, rate=0.3, mode="pair")
    assert a.dtype == np.int64 and np.array_equal(a, b)
    flipped = a != y
    assert np.array_equal(a[flipped], (y[flipped] + 1) % K) and abs(flipped.mean() - 0.3) < 0.05
