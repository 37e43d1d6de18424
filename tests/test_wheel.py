"""A real wheel: built from the source tree, installed (not editable) into a fresh virtualenv, and run from an
unrelated folder. The venv sees the test environment's dependencies through a .pth line (nothing is
downloaded); noisebench itself comes only from the wheel, so anything read from the source tree at run time
(presets, catalogs, tables) fails here."""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_SKIP_ANYWHERE = shutil.ignore_patterns(".venv", ".git", "*.egg-info", "__pycache__", ".pytest_cache", ".hypothesis",
                                       "*.h5")
_SKIP_AT_ROOT = {"build", "dist", "datasets_cache", "results"}  # outputs at the root (harness/results/ is code)


def _not_copied(folder: str, names: list[str]) -> set[str]:
    skipped = set(_SKIP_ANYWHERE(folder, names))
    return skipped | (_SKIP_AT_ROOT & set(names) if Path(folder) == ROOT else set())

pytestmark = pytest.mark.slow


def _dependency_paths() -> list[str]:
    """This interpreter's site-packages folders (the venv reads them, but not their .pth files: no editable
    install of noisebench leaks in)."""
    paths = list(site.getsitepackages()) + [p for p in sys.path if p.endswith("site-packages")]
    return list(dict.fromkeys(p for p in paths if os.path.isdir(p)))


@pytest.fixture(scope="module")
def wheel_env(tmp_path_factory):
    import setuptools

    if int(setuptools.__version__.split(".")[0]) < 77:
        pytest.skip(f"setuptools {setuptools.__version__} < 77 cannot build this pyproject without isolation "
                    "(make test installs the test extra, which brings setuptools>=77)")
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=_not_copied)  # a clean copy: the build writes build/ and *.egg-info beside it
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
                    "-w", str(tmp / "dist"), str(src)], check=True, capture_output=True, timeout=600)
    (whl,) = (tmp / "dist").glob("noisebench-*.whl")
    env_dir = tmp / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    site_dir = Path(subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                   check=True, capture_output=True, text=True).stdout.strip())
    (site_dir / "_deps.pth").write_text("\n".join(_dependency_paths()) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index", "-q",
                    str(whl)], check=True, capture_output=True, timeout=600)
    work = tmp / "elsewhere"
    work.mkdir()
    return env_dir, work, whl


def _run(env_dir: Path, work: Path, *args, exe: str = "noisebench") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NOISEBENCH_PLUGINS")}
    env.update(NOISEBENCH_CACHE_DIR=str(work / "cache"), OMP_NUM_THREADS="1")
    r = subprocess.run([str(env_dir / "bin" / exe), *map(str, args)], cwd=work, env=env, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, f"{args}: {r.stdout[-2000:]}\n{r.stderr[-2000:]}"
    return r


def test_the_wheel_holds_the_package_data(wheel_env):
    import zipfile

    names = set(zipfile.ZipFile(wheel_env[2]).namelist())
    for need in ("noisebench/harness/zoo_catalog.json", "noisebench/harness/studies/throughput.json",
                 "noisebench/harness/studies/presets/synth-robustness.toml", "noisebench/__main__.py"):
        assert need in names, need
    assert not any(n.startswith(("tests/", "bench/", "docs/")) for n in names)


def test_installed_wheel_runs_the_demo_from_an_unrelated_folder(wheel_env):
    env_dir, work, _ = wheel_env
    where = _run(env_dir, work, "-c", "import noisebench; print(noisebench.__file__)", exe="python").stdout
    assert where.strip().startswith(str(env_dir)) and str(ROOT) not in where
    assert _run(env_dir, work, "--version").stdout.startswith("noisebench ")
    assert _run(env_dir, work, "-m", "noisebench", "--version", exe="python").stdout.startswith("noisebench ")
    _run(env_dir, work, "synth", "--rows", "300", "--seed", "0")
    out = _run(env_dir, work, "verify", "datasets_cache/synth-300-dirty.h5").stdout
    assert "checksums match" in out
    _run(env_dir, work, "robustness", "--data", "datasets_cache/synth-300-dirty.h5", "--activation", "relu",
         "--seeds", "1", "--epochs", "1", "--quiet")
    out = _run(env_dir, work, "study", "synth-robustness", "--dry-run", "--no-measure").stdout
    assert "42 runs" in out and "projected time" in out
    out = _run(env_dir, work, "study", "list").stdout
    assert "psi-resnet18" in out and "throughput table" in out
    assert "mish" in _run(env_dir, work, "zoo").stdout
    assert any((work / "cache" / "numba").rglob("*.nbi")), "numba's cache belongs in the user cache folder"
