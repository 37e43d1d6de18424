"""Read-only installs: noisebench runs when its package folder is not writable by the user running it
(a lab's shared environment, a root-owned site-packages, a container run as another user), and writes
nothing into its package folder at run time (numba's compiled kernels go to the per-user cache folder).

The package is laid out as an install would be (noisebench/, noisebench/corruptors, generators, harness)
in a temporary folder; the interpreter runs with -S and the dependencies on PYTHONPATH, so the editable
install of the test environment cannot be picked up. When the tests run as root, the commands run as
`nobody` (setpriv) with a HOME of its own; otherwise the copy is made read-only for the current user.
"""

from __future__ import annotations

import os
import shutil
import site
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from official_format_fixtures import write_cifar10_batches  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
LAYOUT = {"noisebench": "noisebench", "corruptors": "noisebench/corruptors", "generators": "noisebench/generators",
          "harness": "noisebench/harness"}
AS_ROOT = os.geteuid() == 0
pytestmark = pytest.mark.slow


def _install_copy(dest: Path) -> Path:
    site_dir = dest / "site"
    for src, rel in LAYOUT.items():
        shutil.copytree(ROOT / src, site_dir / rel, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
    return site_dir


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def _deps() -> list[str]:
    paths = list(site.getsitepackages()) + [p for p in sys.path if p.endswith("site-packages")]
    return list(dict.fromkeys(p for p in paths if os.path.isdir(p)))


def _chmod_tree(folder: Path, writable: bool) -> None:
    for p in [folder, *folder.rglob("*")]:
        mode = p.stat().st_mode
        p.chmod(mode | stat.S_IWUSR if writable else mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


@pytest.fixture(scope="module")
def ro():
    # not under pytest's tmp folder: that one is private to the user running the tests (mode 700)
    base = Path(tempfile.mkdtemp(prefix="noisebench-ro-"))
    base.chmod(0o755)
    site_dir = _install_copy(base)
    home, work = base / "home", base / "work"
    home.mkdir()
    work.mkdir()
    src = write_cifar10_batches(base / "raw", n_train=30, n_test=10)
    if AS_ROOT:
        nobody = 65534
        for p in (home, work):
            os.chown(p, nobody, nobody)
    else:
        _chmod_tree(site_dir, writable=False)
    before = _files(site_dir)
    yield site_dir, home, work, src, before
    if not AS_ROOT:
        _chmod_tree(site_dir, writable=True)
    shutil.rmtree(base, ignore_errors=True)


def run_as_user(ro, *args, home: Path | None = None) -> subprocess.CompletedProcess:
    site_dir, home0, work, _, _ = ro
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home or home0), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(site_dir), *_deps()]), "PYTHONDONTWRITEBYTECODE": "1"}
    cmd = [sys.executable, "-S", "-m", "noisebench", *map(str, args)]
    if AS_ROOT:
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv: cannot switch to an unprivileged user")
        cmd = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", *cmd]
    return subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=900)


def ok(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 0, f"{r.args}\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    assert "Traceback" not in r.stderr, r.stderr
    return r.stdout


def test_the_user_cannot_write_the_install(ro):
    site_dir = ro[0]
    r = run_as_user(ro, "--version")
    assert ok(r).startswith("noisebench ")
    probe = subprocess.run(
        (["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"] if AS_ROOT else [])
        + [sys.executable, "-S", "-c", f"import os; print(os.access({str(site_dir / 'noisebench')!r}, os.W_OK))"],
        capture_output=True, text=True)
    assert probe.stdout.strip() == "False"


def test_build_and_train_from_a_read_only_install(ro):
    site_dir, home, work, src, before = ro
    ok(run_as_user(ro, "synth", "--rows", "300", "--seed", "0", "--out", "data"))
    assert list((home / ".cache" / "noisebench" / "numba").rglob("*.nbi")), "numba cache in the user's cache folder"
    ok(run_as_user(ro, "make", "psi", "--level", "16", "--source", src, "--no-verify", "--workers", "1", "--out", "data"))
    assert "checksums match" in ok(run_as_user(ro, "verify", "data/cifar10-psi16.h5"))
    ok(run_as_user(ro, "train", "--data", "data/synth-300-dirty.h5", "--epochs", "1", "--db", "r.db", "--quiet"))
    assert _files(site_dir) == before, "nothing may be written into the package folder"


def test_no_writable_cache_folder_is_a_note_not_a_failure(ro):
    r = run_as_user(ro, "synth", "--rows", "200", "--seed", "3", "--out", "data", home=Path("/nonexistent/home"))
    ok(r)
    assert "note: no writable cache folder" in r.stderr


def test_a_writable_install_stays_untouched(tmp_path):
    """Run by a user who could write the package folder (root in a container): still nothing written there."""
    site_dir = _install_copy(tmp_path)
    before = _files(site_dir)
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path / "home"), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(site_dir), *_deps()]), "PYTHONDONTWRITEBYTECODE": "1"}
    r = subprocess.run([sys.executable, "-S", "-m", "noisebench", "synth", "--rows", "200", "--out", str(tmp_path / "d")],
                       env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    ok(r)
    assert _files(site_dir) == before
