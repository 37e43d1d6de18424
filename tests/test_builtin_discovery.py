"""Registries find their own built-ins: in a copy of the package, one new file in harness/models/ adds a
built-in model and one new generators/*_source.py adds a built-in source -- no list or table is edited --
and both show in `zoo`, `make ... --source` and `train --dry-run` (the source's recipe and augmentation).
Registration metadata is typed: a misspelt key is an error."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import noisebench as nb
from noisebench.errors import UserError

REPO = Path(__file__).resolve().parents[1]

NEW_MODEL = '''
from torch import nn

from noisebench.registry import register_model


@register_model("tinynet", default_input=(3, 32, 32), min_hw=4, description="one conv, for the discovery test")
def tinynet(act, in_shape, num_outputs):
    return nn.Sequential(nn.Conv2d(in_shape[0], 4, 3, padding=1), act(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, num_outputs))
'''

NEW_SOURCE = '''
from pathlib import Path

import numpy as np

from noisebench.generators.custom_image_source import ImageData
from noisebench.registry import register_source


@register_source("dots", description="random dots, for the discovery test", augment="crop_flip",
                 recipe=dict(model="tinynet", optimizer="adam", lr=1e-3, weight_decay=0.0, batch_size=16, epochs=1,
                             lr_policy="fixed", metric="val_acc", source="tinynet, 1 epoch"))
class Dots:
    find = staticmethod(lambda path: Path(path) if (Path(path) / "dots.txt").is_file() else None)

    @staticmethod
    def load(path, verify=True, name=None):
        rng = np.random.default_rng(0)
        x = rng.integers(0, 256, (60, 16, 16, 3), dtype=np.uint8)
        y = np.arange(60) % 2
        return ImageData(name=name or "dots", x_train=x[:40], y_train=y[:40], x_test=x[40:], y_test=y[40:],
                         class_names=["even", "odd"], source={"kind": "dots"})
'''


@pytest.fixture(scope="module")
def package_copy(tmp_path_factory):
    """The package laid out as installed (noisebench/ with harness/, generators/, corruptors/ inside) plus the
    two new files; run with `python -S` and the environment's site-packages, so this copy is the one imported."""
    root = tmp_path_factory.mktemp("pkg")
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(REPO / "noisebench", root / "noisebench", ignore=ignore)
    for sub in ("harness", "generators", "corruptors"):
        shutil.copytree(REPO / sub, root / "noisebench" / sub, ignore=ignore)
    (root / "noisebench" / "harness" / "models" / "tinynet.py").write_text(NEW_MODEL)
    (root / "noisebench" / "generators" / "dots_source.py").write_text(NEW_SOURCE)
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
    assert "one conv, for the discovery test" in model and "[" not in model  # built-in, not a plug-in
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
