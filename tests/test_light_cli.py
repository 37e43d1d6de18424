"""The CLI's import diet: light commands start without torch, scipy, numba or matplotlib.

Each command runs in a fresh interpreter (`python -m noisebench` through runpy), which then reports the
heavy modules present in sys.modules; a module-level import added to a light path fails here.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("torch", "torchvision", "scipy", "numba", "matplotlib")

WRAP = """
import json, runpy, sys
sys.argv = ["noisebench"] + json.loads(sys.argv[1])
code = 0
try:
    runpy.run_module("noisebench", run_name="__main__", alter_sys=True)
except SystemExit as e:
    code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
print("HEAVY=" + json.dumps(sorted(m for m in %r if m in sys.modules)), file=sys.stderr)
sys.exit(code)
""" % (HEAVY,)


def run_light(args: list[str], cwd: Path) -> tuple[int, str, list[str]]:
    env = dict(os.environ, NOISEBENCH_CACHE_DIR=str(cwd / "cache"))
    env.pop("NOISEBENCH_PLUGINS", None)
    r = subprocess.run([sys.executable, "-c", WRAP, json.dumps([str(a) for a in args])], cwd=cwd, env=env,
                       capture_output=True, text=True, timeout=300)
    tail = [ln for ln in r.stderr.splitlines() if ln.startswith("HEAVY=")]
    assert tail, r.stderr
    return r.returncode, r.stdout + r.stderr, json.loads(tail[-1][len("HEAVY="):])


@pytest.fixture(scope="module")
def synth_file(tmp_path_factory):
    import noisebench as nb

    d = tmp_path_factory.mktemp("light")
    clean, dirty = nb.build("synth", rows=300, seed=0, out=d / "data")
    return dirty


def _commands(f: Path, d: Path) -> dict:
    sha = hashlib.sha256(f.read_bytes()).hexdigest()
    return {
        "--version": ["--version"],
        "--help": ["--help"],
        "make --help": ["make", "--help"],
        "zoo": ["zoo"],
        "info": ["info", f],
        "verify": ["verify", f],
        "card": ["card", f, "--out", d / "card"],
        "get": ["get", f.resolve().as_uri(), "--sha256", sha, "--out", d / "got"],
        "make corrupt list": ["make", "corrupt", "list"],
        "study list": ["study", "list", "--data-dir", d / "nodata", "--db", d / "none.db"],
    }


@pytest.mark.parametrize("name", ["--version", "--help", "make --help", "zoo", "info", "verify", "card", "get",
                                  "make corrupt list", "study list"])
def test_light_commands_import_no_heavy_module(name, synth_file, tmp_path):
    code, out, heavy = run_light(_commands(synth_file, tmp_path)[name], tmp_path)
    assert code == 0, out
    assert heavy == [], f"`noisebench {name}` imported {heavy}"
    if name == "--version":
        assert out.startswith("noisebench ")
    if name == "study list":
        assert "psi-resnet18" in out and "360 runs" in out and "throughput table" in out


def test_activation_names_load_without_torch():
    """harness/activations/__init__.py and names.py import no torch: grids and presets parse names light."""
    code = ("import sys, noisebench.harness.activations.names as n; assert n.normalize_name('SiLU') == 'swish'; "
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stdout + r.stderr


def test_a_heavy_command_still_gets_what_it_needs(synth_file, tmp_path):
    """The check itself can fail: `train --dry-run` imports torch (the run key covers its version)."""
    code, out, heavy = run_light(["train", "--data", synth_file, "--activation", "relu", "--dry-run",
                                  "--db", tmp_path / "r.db"], tmp_path)
    assert code == 0, out
    assert "torch" in heavy


def test_zoo_catalog_matches_the_registries():
    """The shipped zoo rows (read by `noisebench zoo` without torch) equal the live registries' rows;
    after adding a built-in model or activation: python -m noisebench.harness.zoo_catalog."""
    from importlib.resources import files

    from noisebench.harness.zoo_catalog import CATALOG, live_rows

    shipped = json.loads(files("noisebench.harness").joinpath(CATALOG).read_text(encoding="utf-8"))
    assert shipped == json.loads(json.dumps(live_rows(builtin_only=True))), \
        "harness/zoo_catalog.json is stale: run python -m noisebench.harness.zoo_catalog"


def test_export_formats_declared_once_for_the_cli():
    from noisebench.cli.export import FORMATS as CLI_FORMATS
    from noisebench.harness.results.export import FORMATS

    assert CLI_FORMATS == FORMATS
