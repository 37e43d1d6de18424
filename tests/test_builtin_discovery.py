"""Registries find their own built-ins: in a copy of the package, one new file in harness/models/ adds a
built-in model and one new generators/sources/*.py adds a built-in source -- no list or table is edited --
and both show in `zoo`, `make ... --source` and `train --dry-run` (the source's recipe and augmentation).
The two files are the "built-in file" examples of docs/ARCHITECTURE.md. Registration metadata is typed: a
misspelt key is an error."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import noisebench as nb
from noisebench.errors import UserError

REPO = Path(__file__).resolve().parents[1]

DOC = REPO / "docs" / "ARCHITECTURE.md"
# the "built-in file" examples of docs/ARCHITECTURE.md: {path in the repository: text}
BUILTINS = {m.group(1): m.group(0) for m in re.finditer(r"# built-in file: (\S+\.py)\n.*?(?=```)", DOC.read_text(), re.S)}


@pytest.fixture(scope="module")
def package_copy(tmp_path_factory):
    """The package laid out as installed (noisebench/ with harness/, generators/, corruptors/ inside) plus the
    two new files; run with `python -S` and the environment's site-packages, so this copy is the one imported."""
    root = tmp_path_factory.mktemp("pkg")
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(REPO / "noisebench", root / "noisebench", ignore=ignore)
    for sub in ("harness", "generators", "corruptors"):
        shutil.copytree(REPO / sub, root / "noisebench" / sub, ignore=ignore)
    assert sorted(BUILTINS) == ["generators/sources/dots.py", "harness/models/tinynet.py"]
    for rel, text in BUILTINS.items():
        (root / "noisebench" / rel).write_text(text)
    return root


def _run(root: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    site = [p for p in sys.path if p and "site-packages" in p]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root)] + site), OMP_NUM_THREADS="1")
    env.pop("NOISEBENCH_PLUGINS", None)
    code = ("import noisebench, sys; assert noisebench.__file__.startswith(sys.argv[1]), noisebench.__file__; "
            "from noisebench.cli import main; main(sys.argv[2:])")
    return subprocess.run([sys.executable, "-S", "-c", code, str(root), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_one_new_file_adds_a_builtin_model_and_a_builtin_source(package_copy, tmp_path):
    r = _run(package_copy, tmp_path, "zoo")
    assert r.returncode == 0, r.stderr
    model = next(line for line in r.stdout.splitlines() if line.strip().startswith("tinynet "))
    assert "one conv, 4 channels" in model and "[" not in model  # built-in, not a plug-in
    source = next(line for line in r.stdout.splitlines() if line.strip().startswith("dots "))
    assert "tinynet" in source and "crop_flip" in source

    src = tmp_path / "dots-src"
    src.mkdir()
    (src / "dots.txt").write_text("dots\n")
    r = _run(package_copy, tmp_path, "make", "cifar10", "--source", str(src), "--val-size", "8", "--out", "data")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "data" / "dots.h5").is_file()

    r = _run(package_copy, tmp_path, "train", "--data", "data/dots.h5", "--dry-run")
    assert r.returncode == 0, r.stderr
    inputs = json.loads(r.stdout[r.stdout.index("{"):r.stdout.rindex("}") + 1])
    flat = json.dumps(inputs)
    assert '"tinynet"' in flat  # the source's recipe names the new built-in model
    assert "recipe = dots" in r.stdout


def test_registration_keys_are_typed():
    with pytest.raises(UserError, match=r"unknown registration key\(s\) min_wh \(did you mean min_hw\?\)"):
        nb.register_model("typo_model", default_input=(3, 8, 8), min_wh=4)(lambda act, s, n: None)
    with pytest.raises(UserError, match=r"unknown registration key\(s\) licence \(did you mean license\?\)"):
        nb.register_source("typo_source", licence="MIT")(object)
    from noisebench.registry import MODELS, SOURCES

    assert "typo_model" not in MODELS and "typo_source" not in SOURCES
    assert SOURCES.get("cifar10").meta["augment"] == "crop_flip" and SOURCES.get("mnist").meta["augment"] == "none"
