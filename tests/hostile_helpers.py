"""Helpers shared by the hostile-output suites (tests/test_hostile_*.py): real processes started in
sync, real tmpfs mounts, and the snapshot / one-line-error checks of the bad-input matrix."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_reliability_bad_input import _snapshot, assert_one_line_error  # noqa: E402,F401
from test_reliability_interrupt import ENV, _assert_no_partial_files, _temps  # noqa: E402,F401

ROOT = Path(__file__).resolve().parent.parent

# Started by `racers`: imports everything first, then waits for the go file, so the commands run in step.
_RACER = """
import os, sys, time
from noisebench.cli import main, _load_commands
import noisebench.generators.synth.generator, noisebench.generators.builds.images, h5py
_load_commands()
go = sys.argv[1]
open(go + "." + str(os.getpid()), "w").close()
while not os.path.exists(go):
    time.sleep(0.002)
main(sys.argv[2:])
"""


def racers(tmp_path: Path, commands: list[list[str]], timeout: float = 120) -> list[subprocess.CompletedProcess]:
    """Run each noisebench command in its own process, released at the same instant."""
    go = tmp_path / f"go-{time.monotonic_ns()}"
    procs = [subprocess.Popen([sys.executable, "-c", _RACER, str(go), *map(str, c)], env=ENV, cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in commands]
    deadline = time.monotonic() + timeout
    while len(list(tmp_path.glob(go.name + ".*"))) < len(procs):
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            break
        time.sleep(0.01)
    go.touch()
    out = []
    for p in procs:
        so, se = p.communicate(timeout=timeout)
        out.append(subprocess.CompletedProcess(p.args, p.returncode, so, se))
    for f in tmp_path.glob(go.name + "*"):
        f.unlink()
    return out


def run_cli(*args, timeout: float = 120, preexec_fn=None, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "noisebench", *map(str, args)], capture_output=True, text=True,
                          env=env or ENV, timeout=timeout, preexec_fn=preexec_fn, cwd=ROOT)


def one_error_line(stderr: str) -> str:
    lines = [ln for ln in stderr.strip().splitlines() if not ln.startswith(("note:", "warning:"))]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


def can_mount() -> bool:
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    probe = Path(f"/tmp/nb-mount-probe-{os.getpid()}")
    probe.mkdir(exist_ok=True)
    try:
        ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe)],
                            capture_output=True).returncode == 0
        if ok:
            subprocess.run(["umount", str(probe)], capture_output=True)
        return ok
    finally:
        probe.rmdir()


needs_mount = pytest.mark.skipif(not can_mount(), reason="needs root and tmpfs mounts (RLIMIT_FSIZE cases cover the rest)")


@contextlib.contextmanager
def tmpfs(where: Path, size_bytes: int, readonly: bool = False):
    """A real small file system: writes past `size_bytes` fail with ENOSPC."""
    where.mkdir(parents=True, exist_ok=True)
    opts = f"size={max(4096, size_bytes)}" + (",ro" if readonly else "")
    subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def remount(where: Path, readonly: bool) -> None:
    subprocess.run(["mount", "-o", "remount," + ("ro" if readonly else "rw"), str(where)], check=True)


def fill(folder: Path, leave: int = 0) -> Path:
    """Fill the file system of `folder` to leave about `leave` bytes free."""
    filler = folder / "filler.bin"
    free = shutil.disk_usage(folder).free - leave
    with open(filler, "wb") as f:
        chunk = b"\0" * (1 << 16)
        while free > 0:
            try:
                f.write(chunk[: min(len(chunk), free)])
                f.flush()
            except OSError:
                break
            free -= len(chunk)
    return filler


@pytest.fixture(scope="session")
def hostile_inputs(tmp_path_factory):
    """Tiny inputs shared by the hostile suites (never written to): a synth pair and official-format sources."""
    from official_format_fixtures import write_cifar10_batches, write_mnist_idx

    from noisebench.generators.synth.files import build
    from noisebench.generators.synth.generator import SynthParams

    root = tmp_path_factory.mktemp("hostile-inputs")
    clean, dirty = build(SynthParams(rows=2000), root / "data", workers=1)
    return {"clean": clean, "dirty": dirty, "cifar": write_cifar10_batches(root / "c", 50, 20),
            "mnist": write_mnist_idx(root / "m", 120, 30), "root": root}


@pytest.fixture(scope="session")
def hostile_db(hostile_inputs, tmp_path_factory):
    """A real results database (one trained clean/dirty pair); copy it before writing to it."""
    from noisebench.cli import main

    db = tmp_path_factory.mktemp("hostile-db") / "r.db"
    try:
        main(["robustness", "--activation", "relu", "--data", str(hostile_inputs["dirty"]), "--seeds", "1",
              "--epochs", "1", "--device", "cpu", "--db", str(db)])
    except SystemExit as e:
        assert e.code in (0, None)
    return db


def copy_db(db: Path, dest: Path) -> Path:
    import sqlite3

    dest.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(db) as src, sqlite3.connect(dest) as dst:
        src.backup(dst)
    return dest
