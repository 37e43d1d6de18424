"""Every "add your own" example in docs/ARCHITECTURE.md is a working plug-in file."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from noisebench.registry import ACTIVATIONS, CORRUPTIONS, MODELS, SOURCES
from noisebench.registry.plugins import load_plugin

DOC = Path(__file__).resolve().parents[1] / "docs" / "ARCHITECTURE.md"
BLOCKS = {m.group(1): m.group(0) for m in re.finditer(r"# file: (\w+\.py)\n.*?(?=```)", DOC.read_text(), re.S)}


@pytest.fixture
def loaded(tmp_path, monkeypatch):
    monkeypatch.delenv("NOISEBENCH_PLUGINS", raising=False)
    added = []

    def load(name: str):
        p = tmp_path / name
        p.write_text(BLOCKS[name])
        before = {r.family: set(r.names()) for r in (ACTIVATIONS, MODELS, CORRUPTIONS, SOURCES)}
        load_plugin(p)
        for r in (ACTIVATIONS, MODELS, CORRUPTIONS, SOURCES):
            added.extend((r, n) for n in set(r.names()) - before[r.family])

    yield load
    for r, n in added:
        r.unregister(n)


def test_the_doc_has_one_example_per_registry():
    assert set(BLOCKS) == {"myact.py", "mymodel.py", "mycorruption.py", "mysource.py"}


def test_activation_example(loaded):
    from noisebench.harness.models import build_model

    loaded("myact.py")
    m = build_model("mlp", "softclip", (10,), 1)
    acts = [x for x in m.modules() if type(x).__name__ == "SoftClip"]
    assert len(acts) == 2 and acts[0].slope is not acts[1].slope


def test_model_example(loaded):
    from noisebench.harness.models import build_model

    loaded("mymodel.py")
    m = build_model("tinycnn", "mish", (3, 32, 32), 10)
    assert m(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_corruption_example(loaded):
    import noisebench as nb

    loaded("mycorruption.py")
    out = nb.corrupt(np.full((8, 8, 3), 200, np.uint8), "dead_pixels", severity=5, seed=0)
    dead = (out == 0).all(axis=-1).mean()
    assert 0.2 < dead < 0.8 and set(np.unique(out)) <= {0, 200}


def test_source_example(loaded, cli, tmp_path):
    import json

    from noisebench.format import open_file

    loaded("mysource.py")
    src = tmp_path / "boards"
    src.mkdir()
    (src / "checkerboards.json").write_text(json.dumps({"n": 96, "seed": 1}))
    r = cli("make", "psi", "--level", "16", "--source", src, "--out", tmp_path / "out")
    assert r.code == 0, r.err
    with open_file(tmp_path / "out" / "checkerboards-psi16.h5") as f:
        assert f.meta["dataset"] == "checkerboards" and set(f.splits) == {"train", "val", "test"}
        assert list(f.meta["class_names"]) == ["even", "odd"] or json.loads(f.meta["class_names"]) == ["even", "odd"]
    assert (tmp_path / "out" / "checkerboards.h5").exists()  # the clean twin
