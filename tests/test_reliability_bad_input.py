"""Bad-input matrix (issue 7): every command with invalid values ends with a non-zero exit and one
readable `error:` line (no traceback unless --debug), writes nothing (no partial file, no temp
file) and leaves previous outputs intact. Disk-full is simulated by a failing writer (ENOSPC) and
by an RLIMIT_FSIZE-limited subprocess."""

from __future__ import annotations

import errno
import hashlib
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from official_format_fixtures import write_cifar10_batches, write_mnist_idx  # noqa: E402


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    """Inputs shared by the matrix (never written to by the cases)."""
    from noisebench.generators.synth.files import build
    from noisebench.generators.synth.generator import SynthParams

    root = tmp_path_factory.mktemp("inputs")
    clean, dirty = build(SynthParams(rows=70), root / "data", workers=1)
    src = root / "src"
    write_cifar10_batches(src, 20, 10)
    write_mnist_idx(src, 60, 20)
    (root / "notes.txt").write_text("hello\n")
    (root / "empty.h5").write_bytes(b"")
    (root / "neg.csv").write_text("\n".join(",".join(["-0.1"] + ["0.1222"] * 9) for _ in range(10)))
    (root / "nan.csv").write_text("\n".join(",".join(["nan"] * 10) for _ in range(10)))
    (root / "adir").mkdir()
    return {
        "clean": clean, "dirty": dirty, "cifar": src / "cifar-10-batches-py", "mnist": src, "txt": root / "notes.txt",
        "empty": root / "empty.h5", "negcsv": root / "neg.csv", "nancsv": root / "nan.csv", "adir": root / "adir",
        "missing": root / "missing.h5",
    }


S, C = "{out}", "{clean}"
MATRIX = {
    # synth
    "synth rows 0": ["synth", "--rows", "0", "--out", S],
    "synth rows negative": ["synth", "--rows", "-5", "--out", S],
    "synth rows not a number": ["synth", "--rows", "abc", "--out", S],
    "synth rows astronomically large": ["synth", "--rows", "99999999999999999999", "--out", S],
    "synth rows beyond the disk": ["synth", "--rows", "99999999999999", "--out", S],
    "synth cols 0": ["synth", "--rows", "70", "--cols", "0", "--out", S],
    "synth cols huge": ["synth", "--rows", "70", "--cols", "100000", "--out", S],
    "synth dirty-frac NaN": ["synth", "--rows", "70", "--dirty-frac", "nan", "--out", S],
    "synth dirty-frac > 1": ["synth", "--rows", "70", "--dirty-frac", "2", "--out", S],
    "synth sigma NaN": ["synth", "--rows", "70", "--sigma", "nan", "--out", S],
    "synth sigma inf": ["synth", "--rows", "70", "--sigma", "inf", "--out", S],
    "synth sigma negative": ["synth", "--rows", "70", "--sigma", "-1", "--out", S],
    "synth seed negative": ["synth", "--rows", "70", "--seed", "-1", "--out", S],
    "synth out is a file": ["synth", "--rows", "70", "--out", "{txt}"],
    # make psi / cifar10 / mnist / mnist-flip
    "psi level 0": ["make", "psi", "--level", "0", "--source", "{cifar}", "--no-verify", "--out", S],
    "psi level negative": ["make", "psi", "--level", "-3", "--source", "{cifar}", "--no-verify", "--out", S],
    "psi level NaN": ["make", "psi", "--level", "nan", "--source", "{cifar}", "--no-verify", "--out", S],
    "psi level inf": ["make", "psi", "--level", "inf", "--source", "{cifar}", "--no-verify", "--out", S],
    "psi level huge": ["make", "psi", "--level", "1e300", "--source", "{cifar}", "--no-verify", "--out", S],
    "psi level not a number": ["make", "psi", "--level", "x", "--source", "{cifar}", "--no-verify", "--out", S],
    "psi no level": ["make", "psi", "--source", "{cifar}", "--no-verify", "--out", S],
    "psi workers 0": ["make", "psi", "--level", "16", "--workers", "0", "--source", "{cifar}", "--no-verify", "--out", S],
    "psi seed negative": ["make", "psi", "--level", "16", "--seed", "-1", "--source", "{cifar}", "--no-verify", "--out", S],
    "psi val-size 0": ["make", "psi", "--level", "16", "--val-size", "0", "--source", "{cifar}", "--no-verify", "--out", S],
    "psi split-seed negative": ["make", "psi", "--level", "16", "--split-seed", "-1", "--source", "{cifar}", "--no-verify", "--out", S],
    "cifar10 val-size negative": ["make", "cifar10", "--val-size", "-5", "--source", "{cifar}", "--no-verify", "--out", S],
    "psi source missing": ["make", "psi", "--level", "16", "--source", "{missing}", "--no-verify", "--out", S],
    "psi source is an h5": ["make", "psi", "--level", "16", "--source", C, "--no-verify", "--out", S],
    "psi source and download": ["make", "psi", "--level", "16", "--source", "{cifar}", "--download", "--out", S],
    "psi out is a file": ["make", "psi", "--level", "16", "--source", "{cifar}", "--no-verify", "--out", "{txt}"],
    "psi unverified official source": ["make", "psi", "--level", "16", "--source", "{cifar}", "--out", S],
    "cifar10 source unrecognised": ["make", "cifar10", "--source", "{adir}", "--no-verify", "--out", S],
    "mnist val-size negative": ["make", "mnist", "--val-size", "-1", "--source", "{mnist}", "--no-verify", "--out", S],
    "mnist split seed negative": ["make", "mnist", "--split-seed", "-4", "--source", "{mnist}", "--no-verify", "--out", S],
    "flip rate NaN": ["make", "mnist-flip", "--rate", "nan", "--source", "{mnist}", "--no-verify", "--out", S],
    "flip rate > 1": ["make", "mnist-flip", "--rate", "1.5", "--source", "{mnist}", "--no-verify", "--out", S],
    "flip rate negative": ["make", "mnist-flip", "--rate", "-0.1", "--source", "{mnist}", "--no-verify", "--out", S],
    "flip mode unknown": ["make", "mnist-flip", "--mode", "xx", "--source", "{mnist}", "--no-verify", "--out", S],
    "flip matrix missing": ["make", "mnist-flip", "--matrix", "{missing}", "--source", "{mnist}", "--no-verify", "--out", S],
    "flip matrix is a folder": ["make", "mnist-flip", "--matrix", "{adir}", "--source", "{mnist}", "--no-verify", "--out", S],
    "flip matrix wrong type": ["make", "mnist-flip", "--matrix", C, "--source", "{mnist}", "--no-verify", "--out", S],
    "flip matrix negative": ["make", "mnist-flip", "--matrix", "{negcsv}", "--source", "{mnist}", "--no-verify", "--out", S],
    "flip matrix NaN": ["make", "mnist-flip", "--matrix", "{nancsv}", "--source", "{mnist}", "--no-verify", "--out", S],
    # preview / info / verify
    "preview per-class 0": ["preview", C, "--out", "{out}/p.png", "--per-class", "0"],
    "preview per-class huge": ["preview", C, "--out", "{out}/p.png", "--per-class", "1000000"],
    "preview tabular file": ["preview", C, "--out", "{out}/p.png"],
    "preview file missing": ["preview", "{missing}", "--out", "{out}/p.png"],
    "preview out is a folder": ["preview", C, "--out", "{adir}", "--force"],
    "info missing": ["info", "{missing}"],
    "info folder": ["info", "{adir}"],
    "info text file": ["info", "{txt}"],
    "info empty file": ["info", "{empty}"],
    "verify missing": ["verify", "{missing}"],
    "verify text file": ["verify", "{txt}"],
    "verify empty file": ["verify", "{empty}"],
    # train
    "train epochs 0": ["train", "--data", C, "--epochs", "0", "--db", "{out}/r.db"],
    "train epochs negative": ["train", "--data", C, "--epochs", "-1", "--db", "{out}/r.db"],
    "train batch 0": ["train", "--data", C, "--batch-size", "0", "--db", "{out}/r.db"],
    "train lr 0": ["train", "--data", C, "--lr", "0", "--db", "{out}/r.db"],
    "train lr NaN": ["train", "--data", C, "--lr", "nan", "--db", "{out}/r.db"],
    "train lr inf": ["train", "--data", C, "--lr", "inf", "--db", "{out}/r.db"],
    "train lr not a number": ["train", "--data", C, "--lr", "fast", "--db", "{out}/r.db"],
    "train weight-decay NaN": ["train", "--data", C, "--weight-decay", "nan", "--db", "{out}/r.db"],
    "train weight-decay negative": ["train", "--data", C, "--weight-decay", "-1", "--db", "{out}/r.db"],
    "train gamma NaN": ["train", "--data", C, "--lr-policy", "step", "--gamma", "nan", "--db", "{out}/r.db"],
    "train step-size 0": ["train", "--data", C, "--lr-policy", "step", "--step-size", "0", "--db", "{out}/r.db"],
    "train momentum 2": ["train", "--data", C, "--optimizer", "sgd", "--momentum", "2", "--db", "{out}/r.db"],
    "train momentum NaN": ["train", "--data", C, "--optimizer", "sgd", "--momentum", "nan", "--db", "{out}/r.db"],
    "train optimizer unknown": ["train", "--data", C, "--optimizer", "lion", "--db", "{out}/r.db"],
    "train policy unknown": ["train", "--data", C, "--lr-policy", "cosine9", "--db", "{out}/r.db"],
    "train activation unknown": ["train", "--data", C, "--activation", "nope", "--db", "{out}/r.db"],
    "train activation not a module": ["train", "--data", C, "--activation", "os:system", "--db", "{out}/r.db"],
    "train model unknown": ["train", "--data", C, "--model", "gpt9", "--db", "{out}/r.db"],
    "train model wrong for data": ["train", "--data", C, "--model", "resnet18", "--db", "{out}/r.db"],
    "train device unknown": ["train", "--data", C, "--device", "tpu", "--epochs", "1", "--db", "{out}/r.db"],
    "train augment unknown": ["train", "--data", C, "--augment", "mixup", "--db", "{out}/r.db"],
    "train data missing": ["train", "--data", "{missing}", "--db", "{out}/r.db"],
    "train data folder": ["train", "--data", "{adir}", "--db", "{out}/r.db"],
    "train data text": ["train", "--data", "{txt}", "--db", "{out}/r.db"],
    "train db is a folder": ["train", "--data", C, "--epochs", "1", "--db", "{adir}"],
    "train db is not a db": ["train", "--data", C, "--epochs", "1", "--db", "{txt}"],
    # robustness / report / lr-find / zoo / grid
    "robustness seeds 0": ["robustness", "--data", "{dirty}", "--seeds", "0", "--db", "{out}/r.db"],
    "robustness jobs 0": ["robustness", "--data", "{dirty}", "--jobs", "0", "--db", "{out}/r.db"],
    "robustness suite unknown": ["robustness", "--suite", "bogus", "--db", "{out}/r.db"],
    "robustness suite files missing": ["robustness", "--suite", "synth", "--datasets-dir", "{adir}", "--db", "{out}/r.db"],
    "robustness clean file given": ["robustness", "--data", C, "--db", "{out}/r.db"],
    "robustness no data, datasets-dir a file": ["robustness", "--datasets-dir", "{txt}", "--db", "{out}/r.db"],
    "robustness epochs 0": ["robustness", "--data", "{dirty}", "--epochs", "0", "--db", "{out}/r.db"],
    "robustness lr NaN": ["robustness", "--data", "{dirty}", "--lr", "nan", "--db", "{out}/r.db"],
    "robustness activation empty": ["robustness", "--data", "{dirty}", "--activation", ",", "--db", "{out}/r.db"],
    "report db missing": ["report", "--db", "{out}/none.db", "--out", "{out}/rep"],
    "report db folder": ["report", "--db", "{adir}", "--out", "{out}/rep"],
    "report db not a db": ["report", "--db", "{txt}", "--out", "{out}/rep"],
    "lr-find iters 0": ["lr-find", "--data", C, "--iters", "0"],
    "lr-find start-lr 0": ["lr-find", "--data", C, "--start-lr", "0"],
    "lr-find start-lr NaN": ["lr-find", "--data", C, "--start-lr", "nan"],
    "lr-find start > end": ["lr-find", "--data", C, "--start-lr", "1", "--end-lr", "0.1"],
    "lr-find data missing": ["lr-find", "--data", "{missing}"],
    "zoo unknown option": ["zoo", "--bogus"],
    "unknown command": ["frobnicate"],
    "grid config missing": ["grid", "{missing}.toml", "--db", "{out}/r.db"],
    "grid config not toml": ["grid", "{txt}", "--db", "{out}/r.db"],
}


def _snapshot(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_one_line_error(r) -> None:
    assert r.code not in (0, None), (r.code, r.out, r.err)
    lines = [ln for ln in r.err.strip().splitlines() if not ln.startswith("note:")]
    assert len(lines) == 1, r.err
    assert lines[0].startswith("error: ") and len(lines[0]) > 12, r.err
    assert "Traceback" not in r.err + r.out


@pytest.mark.parametrize("case", list(MATRIX))
def test_bad_input_matrix(cli, ws, tmp_path, case):
    """Exit != 0, one `error:` line, and nothing written: the output folder and the inputs are unchanged."""
    if case.startswith("grid") and "grid" not in _commands():
        pytest.skip("grid command not present")
    out = tmp_path / "out"
    out.mkdir()
    (out / "previous.h5").write_bytes(b"previous output")
    subs = {k: str(v) for k, v in ws.items()} | {"out": str(out)}
    args = [a.format(**subs) for a in MATRIX[case]]
    inputs_before = _snapshot(ws["clean"].parent.parent)
    before = _snapshot(out)
    r = cli(*args)
    assert_one_line_error(r)
    after = _snapshot(out)
    assert after == before, "the command wrote or changed files"
    assert _snapshot(ws["clean"].parent.parent) == inputs_before, "an input was modified"


def _commands() -> set:
    from noisebench.cli import _load_commands, app

    _load_commands()
    return {c.name or c.callback.__name__ for c in app.registered_commands}


def test_debug_flag_shows_traceback(cli, ws, tmp_path):
    """Only --debug turns a failure into a traceback (the UserError propagates)."""
    from noisebench.errors import UserError

    with pytest.raises(UserError):
        cli("--debug", "synth", "--rows", "0", "--out", tmp_path)
    from noisebench.cli import _state

    _state["debug"] = False


@pytest.mark.skipif(os.geteuid() == 0, reason="root bypasses file permissions")
def test_unwritable_output_folder(cli, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        r = cli("synth", "--rows", "70", "--out", ro)
        assert_one_line_error(r)
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o700)


# ------------------------------------------------------------------ disk full
def _enospc_after(monkeypatch, n_ok: int):
    """Make every StreamingArray.append after the first n_ok raise ENOSPC (a full disk mid-build)."""
    from noisebench.format import writer as h5writer

    real = h5writer.StreamingArray.append
    calls = {"n": 0}

    def append(self, block):
        calls["n"] += 1
        if calls["n"] > n_ok:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(self, block)

    monkeypatch.setattr(h5writer.StreamingArray, "append", append)
    return calls


@pytest.mark.parametrize("command", ["synth", "psi", "mnist-flip"])
def test_disk_full_mid_build_keeps_previous_outputs(cli, ws, tmp_path, monkeypatch, command):
    """ENOSPC in the middle of a --force rebuild: one error line, no temp files, previous files intact."""
    out = tmp_path / "out"
    args = {
        "synth": ["synth", "--rows", "70", "--out", out],
        "psi": ["make", "psi", "--level", "16", "--source", ws["cifar"], "--no-verify", "--out", out],
        "mnist-flip": ["make", "mnist-flip", "--rate", "0.2", "--source", ws["mnist"], "--no-verify", "--out", out],
    }[command]
    assert cli(*args).code == 0
    before = _snapshot(out)
    calls = _enospc_after(monkeypatch, 3)
    r = cli(*args, "--force")
    assert calls["n"] > 3, "the failing writer was never reached"
    assert_one_line_error(r)
    assert "No space left on device" in r.err
    assert _snapshot(out) == before, "a previous output was damaged or a temp file was left"


def test_file_size_limit_subprocess(tmp_path):
    """A real write failure (RLIMIT_FSIZE, EFBIG) in a separate process: one error line, non-zero exit,
    no temp file and the previous file intact."""
    out = tmp_path / "out"
    exe = [sys.executable, "-m", "noisebench"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    ok = subprocess.run(exe + ["synth", "--rows", "70", "--out", str(out)], capture_output=True, text=True, env=env, timeout=120)
    assert ok.returncode == 0, ok.stderr
    before = _snapshot(out)

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG from write() instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))

    r = subprocess.run(exe + ["synth", "--rows", "70000", "--force", "--out", str(out)], capture_output=True, text=True,
                       env=env, timeout=120, preexec_fn=limit)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in r.stderr, r.stderr
    assert _snapshot(out) == before
