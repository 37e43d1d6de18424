"""Hostile input, part 1 (issue 13, classes 1, 4, 9-input, 10): numbers, counts, seeds and names
outside their documented bounds (docs/BOUNDS.md), and inputs that are not regular files (real
FIFOs, sockets, /dev/zero, oversized sparse files). Every case: one `error:` line, exit != 0, no
traceback, nothing written, and nothing blocks (pytest-timeout cuts a hang).

Crafted files (pickles, idx, npz, images, HDF5) are in tests/test_hostile_files.py."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from official_format_fixtures import write_cifar10_batches, write_image_folder, write_mnist_idx, write_npz  # noqa: E402
from test_reliability_bad_input import _snapshot, assert_one_line_error  # noqa: E402

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def src(tmp_path_factory):
    """Valid inputs the cases point at (never modified)."""
    from noisebench.generators.synth.files import build
    from noisebench.generators.synth.generator import SynthParams

    root = tmp_path_factory.mktemp("hostile")
    clean, dirty = build(SynthParams(rows=70), root / "data", workers=1)
    write_cifar10_batches(root / "src", 10, 10)
    write_mnist_idx(root / "src", 30, 10)
    write_npz(root / "tiny.npz", 8, 4, shape=(4, 4, 3), k=2)
    return {"clean": clean, "dirty": dirty, "cifar": root / "src" / "cifar-10-batches-py", "mnist": root / "src",
            "npz": root / "tiny.npz", "root": root}


def _grid_toml(tmp: Path, clean: Path, body: str) -> Path:
    p = tmp / "g.toml"
    p.write_text(f'[grid]\ndata = ["{clean}"]\nactivations = ["relu"]\n{body}\n')
    return p


S, C = "{out}", "{clean}"
PSI = ["make", "psi", "--source", "{cifar}", "--no-verify", "--out", S]
FLIP = ["make", "mnist-flip", "--source", "{mnist}", "--no-verify", "--out", S]
TRAIN = ["train", "--data", C, "--epochs", "1", "--db", "{out}/r.db"]
ROB = ["robustness", "--data", "{dirty}", "--epochs", "1", "--db", "{out}/r.db"]
LRF = ["lr-find", "--data", C]
GRID = ["grid", "--data", C, "--dry-run", "--db", "{out}/r.db"]
TOML = ["grid", "{toml}", "--dry-run", "--db", "{out}/r.db"]

# case -> (argv, TOML body or None, a substring the error line must contain)
CASES = {
    # class 10 / 1: synth
    "synth sigma 1e300 (would write inf)": (["synth", "--rows", "70", "--sigma", "1e300", "--out", S], None, "--sigma"),
    "synth sigma above 1e6": (["synth", "--rows", "70", "--sigma", "2e6", "--out", S], None, "--sigma"),
    "synth seed 2**32": (["synth", "--rows", "70", "--seed", str(2**32), "--out", S], None, "--seed"),
    "synth seed 2**64": (["synth", "--rows", "70", "--seed", str(2**64), "--out", S], None, "seed"),
    "synth dirty-frac inf": (["synth", "--rows", "70", "--dirty-frac", "inf", "--out", S], None, "--dirty-frac"),
    # psi
    "psi level 5e-324 (denormal)": (PSI + ["--level", "5e-324"], None, "too small"),
    "psi level 1e-4": (PSI + ["--level", "1e-4"], None, "too small"),
    "psi level 2e6": (PSI + ["--level", "2e6"], None, "too large"),
    "psi one bad level among good": (PSI + ["--level", "16", "--level", "-0.0"], None, "--level"),
    "psi seed 2**32": (PSI + ["--level", "16", "--seed", str(2**32)], None, "--seed"),
    "psi workers 10**6": (PSI + ["--level", "16", "--workers", "1000000"], None, "--workers"),
    # mnist / flip
    "mnist seed 2**40": (["make", "mnist", "--source", "{mnist}", "--no-verify", "--seed", str(2**40), "--out", S], None, "--seed"),
    "mnist val-size 10**12": (["make", "mnist", "--source", "{mnist}", "--no-verify", "--val-size", str(10**12), "--out", S], None, "--val-size"),
    "flip seed 2**32": (FLIP + ["--seed", str(2**32)], None, "--seed"),
    "flip rate inf": (FLIP + ["--rate", "inf"], None, "--rate"),
    "flip val-size 10**9": (FLIP + ["--val-size", str(10**9)], None, "--val-size"),
    # train
    "train lr 1e300": (TRAIN + ["--lr", "1e300"], None, "--lr"),
    "train lr 5e-324": (TRAIN + ["--lr", "5e-324"], None, "--lr"),
    "train seed 2**32": (TRAIN + ["--seed", str(2**32)], None, "--seed"),
    "train seed -1": (TRAIN + ["--seed", "-1"], None, "--seed"),
    "train epochs 10**9": (["train", "--data", C, "--epochs", str(10**9), "--db", "{out}/r.db"], None, "--epochs"),
    "train batch-size 10**9": (TRAIN + ["--batch-size", str(10**9)], None, "--batch-size"),
    "train weight-decay inf": (TRAIN + ["--weight-decay", "inf"], None, "--weight-decay"),
    "train weight-decay 1e300": (TRAIN + ["--weight-decay", "1e300"], None, "--weight-decay"),
    "train gamma inf": (TRAIN + ["--lr-policy", "step", "--gamma", "inf"], None, "--gamma"),
    "train momentum inf": (TRAIN + ["--optimizer", "sgd", "--momentum", "inf"], None, "--momentum"),
    "train step-size 10**12": (TRAIN + ["--lr-policy", "step", "--step-size", str(10**12)], None, "--step-size"),
    "train activation with newline": (TRAIN + ["--activation", "relu\n"], None, "control characters"),
    "train activation with escape": (TRAIN + ["--activation", "relu\x1b[31m"], None, "control characters"),
    "train model with newline": (TRAIN + ["--model", "mlp\n"], None, "control characters"),
    "train device with NUL-like control": (TRAIN + ["--device", "cpu\x07"], None, "device"),
    # robustness
    "robustness seeds 10**6": (ROB + ["--seeds", str(10**6)], None, "--seeds"),
    "robustness seeds 1001": (ROB + ["--seeds", "1001"], None, "--seeds"),
    "robustness jobs 10**6": (ROB + ["--jobs", str(10**6)], None, "--jobs"),
    "robustness activation with CR": (ROB + ["--activation", "relu,elu\r"], None, "control characters"),
    "robustness lr inf": (ROB + ["--lr", "inf"], None, "--lr"),
    # lr-find
    "lr-find start-lr inf": (LRF + ["--start-lr", "inf", "--end-lr", "inf"], None, "--start-lr"),
    "lr-find end-lr 1e300": (LRF + ["--end-lr", "1e300"], None, "--end-lr"),
    "lr-find iters 10**9": (LRF + ["--iters", str(10**9)], None, "--iters"),
    "lr-find seed 2**32": (LRF + ["--seed", str(2**32)], None, "--seed"),
    # grid flags (--dry-run must check numbers too)
    "grid dry-run lr inf": (GRID + ["--lr", "inf"], None, "--lr"),
    "grid dry-run lr nan": (GRID + ["--lr", "nan"], None, "--lr"),
    "grid dry-run lr 1e300": (GRID + ["--lr", "1e-3,1e300"], None, "--lr"),
    "grid seeds 10**9": (GRID + ["--seeds", str(10**9)], None, "--seeds"),
    "grid seed 2**32 in a list": (GRID + ["--seeds", f"0,{2**32}"], None, "--seeds"),
    "grid activation with BEL": (GRID + ["--activation", "relu\x07"], None, "control characters"),
    "grid model with newline": (GRID + ["--model", "mlp\nx"], None, "control characters"),
    "grid epochs 10**9": (GRID + ["--epochs", str(10**9)], None, "--epochs"),
    "grid weight-decay nan": (GRID + ["--weight-decay", "nan"], None, "--weight-decay"),
    "grid jobs 10**6": (GRID + ["--jobs", str(10**6)], None, "--jobs"),
    "grid cpus-per-run nan": (GRID + ["--cpus-per-run", "nan"], None, "--cpus-per-run"),
    # grid TOML
    "toml lrs inf": (TOML, "lrs = [inf]", "lrs"),
    "toml lrs nan": (TOML, "lrs = [nan]", "lrs"),
    "toml lrs 5e-324": (TOML, "lrs = [5e-324]", "lrs"),
    "toml seeds 100000": (TOML, "seeds = 100000", "seeds"),
    "toml seed 2**32": (TOML, f"seeds = [0, {2**32}]", "seeds"),
    "toml epochs 10**9": (TOML, f"epochs = {10**9}", "epochs"),
    "toml momentum inf": (TOML, "momentum = inf", "momentum"),
    "toml gamma nan": (TOML, "gamma = nan", "gamma"),
    "toml weight_decay 1e300": (TOML, "weight_decay = 1e300", "weight_decay"),
    "toml device with newline": (TOML, 'device = "cpu\\n"', "control characters"),
    "toml models with escape": (TOML, 'models = ["mlp\\u001b[2J"]', "control characters"),
    "toml arrays nested 100000 deep": (TOML, "epochs = " + "[" * 100_000 + "]" * 100_000, "TOML"),
    "toml 20000 lrs": (TOML, "lrs = [" + ", ".join(["1e-3"] * 20_000) + "]", "lrs"),
    # class 9 (input side): dataset names
    "name with newline": (PSI + ["--level", "16", "--name", "cifar\nx"], None, "control characters"),
    "name with terminal escape": (PSI + ["--level", "16", "--name", "x\x1b]0;pwned\x07"], None, "control characters"),
    "name with DEL": (PSI + ["--level", "16", "--name", "ab\x7f"], None, "control characters"),
    "name with bidi override": (PSI + ["--level", "16", "--name", "ab\u202ecd"], None, "control characters"),
    "name too long": (PSI + ["--level", "16", "--name", "n" * 500], None, "characters long"),
    "name is a path": (PSI + ["--level", "16", "--name", "../escape"], None, "--name"),
    "name with surrounding space": (PSI + ["--level", "16", "--name", " cifar"], None, "whitespace"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_out_of_bounds_refused_before_work(cli, src, tmp_path, case):
    argv, toml, needle = CASES[case]
    out = tmp_path / "out"
    out.mkdir()
    (out / "previous.h5").write_bytes(b"previous")
    subs = {k: str(v) for k, v in src.items()} | {"out": str(out)}
    if toml is not None:
        subs["toml"] = str(_grid_toml(tmp_path, src["clean"], toml))
    before, inputs = _snapshot(out), _snapshot(src["root"])
    r = cli(*[a.format(**subs) for a in argv])
    assert_one_line_error(r)
    assert needle in r.err, r.err
    assert "\x1b" not in r.err and "\x07" not in r.err, "a control character reached the terminal"
    assert _snapshot(out) == before, "the command wrote or changed files"
    assert _snapshot(src["root"]) == inputs


def test_duplicate_activations_train_once(cli, src, tmp_path):
    """`relu,relu,ReLU` is one activation (a note says so), not three runs of the same thing."""
    r = cli("grid", "--data", src["dirty"], "--activation", "relu,relu,ReLU", "--seeds", "1", "--dry-run", "--db", tmp_path / "r.db")
    assert r.code == 0, r.err
    assert "note:" in r.err and "more than once" in r.err
    assert r.out.strip().splitlines()[-1].startswith("2 runs"), r.out  # clean + dirty, once


def test_duplicate_lrs_and_models_once(cli, src, tmp_path):
    r = cli("grid", "--data", src["dirty"], "--lr", "1e-3,0.001", "--model", "mlp,MLP", "--seeds", "1", "--dry-run", "--db", tmp_path / "r.db")
    assert r.code == 0, r.err
    assert r.out.strip().splitlines()[-1].startswith("2 runs"), r.out
    assert r.err.count("note:") == 2


def test_robustness_activation_list_deduplicated(capsys):
    """`robustness --activation relu,relu,ReLU` plans one activation, with one note on stderr."""
    from noisebench.cli.harness_options import _activations

    assert _activations("relu,relu,ReLU,elu") == ["relu", "elu"]
    err = capsys.readouterr().err
    assert err.count("note:") == 1 and "more than once" in err


def test_dedupe_helper_keeps_order():
    from noisebench.harness.activations.names import dedupe_activations

    assert dedupe_activations(["elu", "relu", "ELU", "silu", "swish"]) == ["elu", "relu", "silu"]


# ------------------------------------------------------------------ class 4: not regular files
def _fifo(p: Path) -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(p)
    return p


def _sock(p: Path) -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(p))
    s.close()
    return p


def _dev_zero(p: Path) -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.symlink_to("/dev/zero")
    return p


def _sparse(p: Path, size: int) -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    with open(p, "wb") as f:
        f.truncate(size)
    return p


def _cifar_copy(src, tmp: Path) -> Path:
    import shutil

    d = tmp / "c" / "cifar-10-batches-py"
    shutil.copytree(src["cifar"], d)
    return d


def _mnist_copy(src, tmp: Path, plain: bool = False) -> Path:
    d = write_mnist_idx(tmp / "m", 30, 10, gz=not plain)
    return d


def _replace(p: Path, how) -> Path:
    p.unlink()
    return how(p)


def _plugin(tmp, src, make=_fifo):
    make(tmp / "plug" / "evilact.py")
    sys.path.insert(0, str(tmp / "plug"))
    return ["train", "--data", src["clean"], "--epochs", "1", "--activation", "evilact:Act", "--db", tmp / "o" / "r.db"]


NOT_REGULAR = {
    "npz source is a FIFO": (lambda t, s: ["make", "psi", "--level", "16", "--source", _fifo(t / "x.npz"), "--out", t / "o"], "FIFO"),
    "npz source is a socket": (lambda t, s: ["make", "psi", "--level", "16", "--source", _sock(t / "x.npz"), "--out", t / "o"], "socket"),
    "npz source is /dev/zero": (lambda t, s: ["make", "psi", "--level", "16", "--source", _dev_zero(t / "z.npz"), "--out", t / "o"], "character device"),
    "npz source is a 20 GB sparse file": (lambda t, s: ["make", "psi", "--level", "16", "--source", _sparse(t / "big.npz", 20 << 30), "--out", t / "o"], "limit"),
    "cifar batch is a FIFO": (lambda t, s: ["make", "psi", "--level", "16", "--no-verify", "--source",
                                            _replace(_cifar_copy(s, t) / "data_batch_1", _fifo).parent, "--out", t / "o"], "FIFO"),
    "cifar batch is /dev/zero": (lambda t, s: ["make", "psi", "--level", "16", "--no-verify", "--source",
                                               _replace(_cifar_copy(s, t) / "data_batch_2", _dev_zero).parent, "--out", t / "o"], "character device"),
    "cifar meta is a FIFO (verified load)": (lambda t, s: ["make", "cifar10", "--source",
                                                           _replace(_cifar_copy(s, t) / "batches.meta", _fifo).parent, "--out", t / "o"], "FIFO"),
    "cifar batch is 1 GB": (lambda t, s: ["make", "cifar10", "--no-verify", "--source",
                                          _replace(_cifar_copy(s, t) / "test_batch", lambda p: _sparse(p, 1 << 30)).parent, "--out", t / "o"], "limit"),
    "idx images are a FIFO": (lambda t, s: ["make", "mnist", "--no-verify", "--source",
                                            _replace(_mnist_copy(s, t, plain=True) / "t10k-images-idx3-ubyte", _fifo).parent, "--out", t / "o"], "FIFO"),
    "idx labels .gz are /dev/zero": (lambda t, s: ["make", "mnist-flip", "--no-verify", "--source",
                                                   _replace(_mnist_copy(s, t) / "train-labels-idx1-ubyte.gz", _dev_zero).parent, "--out", t / "o"], "character device"),
    "idx file is 2 GB": (lambda t, s: ["make", "mnist", "--no-verify", "--source",
                                       _replace(_mnist_copy(s, t, plain=True) / "t10k-labels-idx1-ubyte", lambda p: _sparse(p, 2 << 30)).parent, "--out", t / "o"], "limit"),
    "image in a folder source is a FIFO": (lambda t, s: ["make", "psi", "--level", "16", "--source",
                                                         _fifo(write_image_folder(t / "f", 2) / "train" / "cat" / "z.png").parents[2], "--out", t / "o"], "FIFO"),
    "matrix is a FIFO": (lambda t, s: ["make", "mnist-flip", "--no-verify", "--source", s["mnist"], "--matrix", _fifo(t / "m.csv"), "--out", t / "o"], "FIFO"),
    "matrix is /dev/zero": (lambda t, s: ["make", "mnist-flip", "--no-verify", "--source", s["mnist"], "--matrix", _dev_zero(t / "m.npy"), "--out", t / "o"], "character device"),
    "matrix is 1 GB": (lambda t, s: ["make", "mnist-flip", "--no-verify", "--source", s["mnist"], "--matrix", _sparse(t / "m.txt", 1 << 30), "--out", t / "o"], "limit"),
    "grid config is a FIFO": (lambda t, s: ["grid", _fifo(t / "g.toml"), "--db", t / "o" / "r.db"], "FIFO"),
    "grid config is /dev/zero": (lambda t, s: ["grid", _dev_zero(t / "g.toml"), "--db", t / "o" / "r.db"], "character device"),
    "grid config is 100 MB": (lambda t, s: ["grid", _sparse(t / "g.toml", 100 << 20), "--db", t / "o" / "r.db"], "limit"),
    "data file is a FIFO": (lambda t, s: ["train", "--data", _fifo(t / "d.h5"), "--db", t / "o" / "r.db"], "regular file"),
    "plug-in activation module is a FIFO": (_plugin, "evilact"),  # never opened: not importable
    "plug-in activation module is 100 MB": (lambda t, s: _plugin(t, s, lambda p: _sparse(p, 100 << 20)), "limit"),
}


@pytest.mark.timeout(20)
@pytest.mark.parametrize("case", list(NOT_REGULAR))
def test_non_regular_or_huge_inputs_never_block(cli, src, tmp_path, case):
    """Real FIFOs (no writer: any blocking open would hang until the timeout), sockets, /dev/zero and
    sparse files far over the size limit are refused with one line, without reading them."""
    make, needle = NOT_REGULAR[case]
    path_before = list(sys.path)
    try:
        argv = make(tmp_path, src)
        r = cli(*argv)
    finally:
        sys.path[:] = path_before
    assert_one_line_error(r)
    assert needle in r.err, r.err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").rglob("*.h5")), "an output was written"


@pytest.mark.timeout(10)
def test_open_regular_refuses_a_fifo_without_blocking(tmp_path):
    """The descriptor is checked after a non-blocking open, so a FIFO swapped in after any check cannot block."""
    from noisebench.errors import UserError
    from noisebench.safety.inputs import open_regular, read_bytes

    fifo = _fifo(tmp_path / "p")
    with pytest.raises(UserError, match="FIFO"):
        open_regular(fifo, "input")
    with pytest.raises(UserError, match="limit"):
        read_bytes(_sparse(tmp_path / "s", 10_000), "input", 9_999)
    assert read_bytes(_sparse(tmp_path / "ok", 100), "input", 100) == bytes(100)
