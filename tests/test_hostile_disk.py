"""Full disks and file-size limits (issue 13, class 6), with the real mechanisms: a small tmpfs
(where the tests run as root) and RLIMIT_FSIZE (everywhere). Whatever the point of failure: one
`error:` line, no crash (libhdf5 used to SIGSEGV when a full disk failed its final flush), no temp
file, and never a dirty file without its clean reference."""

from __future__ import annotations

import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from hostile_helpers import ENV, ROOT, _temps, hostile_db, hostile_inputs, needs_mount, one_error_line, run_cli, tmpfs  # noqa: E402,F401

from noisebench.format import verify  # noqa: E402


@pytest.fixture(scope="module")
def src(hostile_inputs):
    return hostile_inputs


def _limit(nbytes: int, ignore_xfsz: bool = True):
    def pre():
        if ignore_xfsz:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))
    return pre


def _no_half_pair(out: Path, pairs: dict[str, str]) -> None:
    """Every visible file verifies; a dirty file never exists without its clean reference."""
    names = {p.name for p in out.glob("*.h5")} if out.exists() else set()
    for dirty, clean in pairs.items():
        assert dirty not in names or clean in names, names
    for n in names:
        assert all(s == "ok" for _, s, _ in verify(out / n)), n
    assert _temps(out) == [] if out.exists() else True


# ---------------------------------------------------------------- RLIMIT_FSIZE (any user)
@pytest.mark.parametrize("limit", [32 << 10, 100 << 10])
def test_synth_under_a_file_size_limit(tmp_path, limit):
    out = tmp_path / "out"
    r = run_cli("synth", "--rows", "2000", "--out", out, preexec_fn=_limit(limit))
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "File too large" in one_error_line(r.stderr)
    _no_half_pair(out, {"synth-2000-dirty.h5": "synth-2000-clean.h5"})


@pytest.mark.parametrize("limit", [100 << 10, 150 << 10])
def test_psi_under_a_file_size_limit(src, tmp_path, limit):
    out = tmp_path / "out"
    r = run_cli("make", "psi", "--level", "16", "--source", src["cifar"], "--no-verify", "--out", out,
                preexec_fn=_limit(limit))
    assert r.returncode == 2, (r.returncode, r.stderr)
    one_error_line(r.stderr)
    _no_half_pair(out, {"cifar10-psi16.h5": "cifar10.h5"})


def test_file_size_limit_without_ignoring_sigxfsz(tmp_path):
    """The tool itself ignores SIGXFSZ: a `ulimit -f` user gets one line, not a killed process."""
    out = tmp_path / "out"
    r = run_cli("synth", "--rows", "2000", "--out", out, preexec_fn=_limit(48 << 10, ignore_xfsz=False))
    assert r.returncode == 2, (r.returncode, r.stderr)
    one_error_line(r.stderr)
    _no_half_pair(out, {"synth-2000-dirty.h5": "synth-2000-clean.h5"})


# ---------------------------------------------------------------- real full file systems (root)
_WRITE = """
import sys
import numpy as np
from noisebench.errors import UserError
from noisebench.format import DatasetWriter
kind, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
try:
    with DatasetWriter(out, kind="clean", params={}, seed=0) as w:
        if kind == "img":
            s = w.create("train/x", (n, 32, 32, 3), np.uint8)
            rng = np.random.default_rng(0)
            for i in range(0, n, 1024):
                s.append(rng.integers(0, 255, (min(1024, n - i), 32, 32, 3), dtype=np.uint8))
        else:
            s = w.create("train/x", (n, 10), np.float32)
            for i in range(0, n, 1000):
                s.append(np.random.rand(min(1000, n - i), 10))
        w.write("train/y", np.zeros(n, np.int64))
except UserError as e:
    print("error: " + str(e), file=sys.stderr)
    sys.exit(3)
"""


@needs_mount
@pytest.mark.parametrize("kind,n", [("tab", 15100), ("tab", 15160), ("tab", 15700), ("tab", 100000),
                                    ("img", 197), ("img", 199), ("img", 2000)])
def test_full_disk_never_crashes_the_writer(tmp_path, kind, n):
    """Sizes chosen so the 600 KiB file system fills while appending, while flushing and while closing."""
    with tmpfs(tmp_path / "m", 600 << 10) as m:
        p = subprocess.run([sys.executable, "-c", _WRITE, kind, str(n), str(m / "x.h5")], capture_output=True,
                           text=True, env=ENV, cwd=ROOT, timeout=60)
        assert p.returncode in (0, 3), (p.returncode, p.stderr[-2000:])
        if p.returncode == 3:
            assert "No space left on device" in one_error_line(p.stderr)
            assert sorted(x.name for x in m.iterdir()) == []
        else:
            assert all(s == "ok" for _, s, _ in verify(m / "x.h5"))


@needs_mount
def test_full_disk_psi_keeps_the_clean_reference(src, tmp_path):
    with tmpfs(tmp_path / "m", 300 << 10) as m:
        r = run_cli("make", "psi", "--level", "16", "--source", src["cifar"], "--no-verify", "--out", m)
        assert r.returncode == 2, (r.returncode, r.stderr)
        assert "No space left on device" in one_error_line(r.stderr)
        assert sorted(p.name for p in m.iterdir()) == ["cifar10.h5"]
        _no_half_pair(m, {"cifar10-psi16.h5": "cifar10.h5"})


@needs_mount
def test_full_disk_mnist_flip_keeps_the_clean_reference(src, tmp_path):
    with tmpfs(tmp_path / "m", 200 << 10) as m:
        r = run_cli("make", "mnist-flip", "--val-size", "12", "--source", src["mnist"], "--no-verify", "--out", m)
        assert r.returncode == 2, (r.returncode, r.stderr)
        one_error_line(r.stderr)
        _no_half_pair(m, {"mnist-flip0.1.h5": "mnist.h5"})
        assert "mnist-flip0.1.h5" not in {p.name for p in m.iterdir()}


@needs_mount
def test_full_disk_synth_refused_before_writing(tmp_path):
    with tmpfs(tmp_path / "m", 64 << 10) as m:
        r = run_cli("synth", "--rows", "2000", "--out", m)
        assert r.returncode == 2
        assert "free" in one_error_line(r.stderr)
        assert list(m.iterdir()) == []


@needs_mount
def test_full_disk_report_leaves_no_partial_report(hostile_db, tmp_path):
    from hostile_helpers import fill

    with tmpfs(tmp_path / "m", 64 << 10) as m:
        (m / "rep").mkdir()
        fill(m, leave=1024)
        r = run_cli("report", "--db", hostile_db, "--out", m / "rep")
        assert r.returncode != 0
        assert "No space left on device" in one_error_line(r.stderr)
        assert list((m / "rep").iterdir()) == [] and sorted(p.name for p in m.iterdir()) == ["filler.bin", "rep"]
