"""Registries find their own built-ins: in a copy of the package, one new file adds a built-in of each family --
a model (harness/models/), a source (generators/sources/), an activation (harness/activations/) and a corruption
(corruptors/) -- no list or table is edited, and each shows where it is used: `zoo`, `make corrupt list`,
`make corrupt ... --source`, `train --dry-run` (the source's recipe and augmentation, the activation), and the built
file's `info` and `card`. The four files are the "built-in file" examples of docs/ARCHITECTURE.md. Registration
metadata is typed: a misspelt key is an error."""

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
    four new files; run with `python -S` and the environment's site-packages, so this copy is the one imported."""
    root = tmp_path_factory.mktemp("pkg")
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(REPO / "noisebench", root / "noisebench", ignore=ignore)
    for sub in ("harness", "generators", "corruptors"):
        shutil.copytree(REPO / sub, root / "noisebench" / sub, ignore=ignore)
    assert sorted(BUILTINS) == ["corruptors/invert.py", "generators/sources/dots.py",
                                "harness/activations/bent_identity.py", "harness/models/tinynet.py"]
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


def test_one_new_file_adds_a_builtin_of_each_family(package_copy, tmp_path):
    from noisebench.format import open_file

    r = _run(package_copy, tmp_path, "zoo")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()

    def row(name: str) -> str:
        return next(line for line in lines if line.strip().startswith(name + " "))

    model = row("tinynet")
    assert "one conv, 4 channels" in model and "[" not in model  # built-in, not a plug-in
    source = row("dots")
    assert "tinynet" in source and "crop_flip" in source
    act = row("bent_identity")
    assert "(sqrt(x^2 + 1) - 1) / 2 + x" in act and "[" not in act
    acts = [line.split()[0] for line in lines[1:lines.index("")]]
    assert acts[:12] == ["relu", "leaky_relu", "prelu", "elu", "sigmoid", "tanh", "softsign", "swish", "mish", "gelu",
                         "tact", "mtact"] and acts[12] == "bent_identity"  # unordered: after the ordered built-ins
    assert "amount=0.6" in row("invert")

    r = _run(package_copy, tmp_path, "make", "corrupt", "list")
    assert r.returncode == 0, r.stderr
    listed = r.stdout.splitlines()
    i = next(k for k, line in enumerate(listed) if line.startswith("invert "))
    assert "[built-in]" in listed[i] and "1: amount=0.2; 2: amount=0.4" in listed[i + 1]  # with its severity table

    # one build: the new corruption on the new source (its clean twin dots.h5 comes with it)
    src = tmp_path / "dots-src"
    src.mkdir()
    (src / "dots.txt").write_text("dots\n")
    r = _run(package_copy, tmp_path, "make", "corrupt", "invert", "--severity", "1", "--source", str(src),
             "--val-size", "8", "--out", "data")
    assert r.returncode == 0, r.stderr
    clean, dirty = tmp_path / "data" / "dots.h5", tmp_path / "data" / "dots-invert-sev1.h5"
    with open_file(clean) as c, open_file(dirty) as d:
        cx, x = c.datasets["test/x"][()].astype(float), d.datasets["test/x"][()].astype(float)
        assert d.meta["corruption"] == "invert" and d.meta["severity"] == 1
    assert abs(x - (0.8 * cx + 0.2 * (255 - cx))).max() <= 1  # severity 1: amount 0.2

    r = _run(package_copy, tmp_path, "info", str(dirty))
    assert r.returncode == 0, r.stderr
    assert "invert" in r.stdout and "dots" in r.stdout
    r = _run(package_copy, tmp_path, "card", str(dirty))
    assert r.returncode == 0, r.stderr
    card = dirty.with_name(dirty.stem + ".card.md").read_text()
    assert "Registered corruption `invert`" in card and "photographic negative" in card  # the registration's words
    assert "dataset: **dots**" in card and "CC0-1.0" in card  # the new source's registered license

    r = _run(package_copy, tmp_path, "train", "--data", "data/dots.h5", "--activation", "bent_identity", "--dry-run")
    assert r.returncode == 0, r.stderr
    inputs = json.loads(r.stdout[r.stdout.index("{"):r.stdout.rindex("}") + 1])
    flat = json.dumps(inputs)
    assert '"tinynet"' in flat and '"bent_identity"' in flat  # the source's recipe names the new built-in model
    assert "recipe = dots" in r.stdout


def test_registration_keys_are_typed():
    with pytest.raises(UserError, match=r"unknown registration key\(s\) min_wh \(did you mean min_hw\?\)"):
        nb.register_model("typo_model", default_input=(3, 8, 8), min_wh=4)(lambda act, s, n: None)
    with pytest.raises(UserError, match=r"unknown registration key\(s\) licence \(did you mean license\?\)"):
        nb.register_source("typo_source", licence="MIT")(object)
    with pytest.raises(UserError, match=r"unknown registration key\(s\) referance \(did you mean reference\?\)"):
        nb.register_corruption("typo_corruption", referance="a paper")(lambda x, rng, *, amount=0.1: x)
    with pytest.raises(UserError, match=r"unknown registration key\(s\) order_by"):
        nb.register_activation("typo_activation", order_by=3)(object)
    from noisebench.registry import ACTIVATIONS, CORRUPTIONS, MODELS, SOURCES

    assert "typo_model" not in MODELS and "typo_source" not in SOURCES
    assert "typo_corruption" not in CORRUPTIONS and "typo_activation" not in ACTIVATIONS
    assert CORRUPTIONS.get("psi").meta["file_kind"] == "psi" and CORRUPTIONS.get("fog").meta["file_kind"] == ""
    assert SOURCES.get("cifar10").meta["augment"] == "crop_flip" and SOURCES.get("mnist").meta["augment"] == "none"
