"""Every example code block of docs/API.md runs, in order, in one namespace, in a temporary
folder holding tiny official-format CIFAR-10 batches (tests/official_format_fixtures.py)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from official_format_fixtures import write_cifar10_batches

DOC = Path(__file__).resolve().parents[1] / "docs" / "API.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def test_the_doc_covers_the_public_api():
    import noisebench as nb

    text = "\n".join(BLOCKS)
    for name in ("corrupt", "flip_labels", "synth", "build", "open_dataset", "run_study", "Study", "export",
                 "evaluate", "register_corruption", "register_activation"):
        assert name in nb.__all__ and f"nb.{name}" in text, name
    assert "weights_only=True" in text and "v2.RandomCrop" in text and "SPEC" not in DOC.read_text()


@pytest.fixture
def doc_folder(tmp_path, monkeypatch):
    from noisebench.generators.sources import cifar10 as cifar10_source
    from noisebench.registry import ACTIVATIONS, CORRUPTIONS

    src = write_cifar10_batches(tmp_path, n_train=60, n_test=20)
    for p in src.iterdir():  # the fixture batches count as official copies (their md5s registered)
        monkeypatch.setitem(cifar10_source.OFFICIAL_MD5, p.name, hashlib.md5(p.read_bytes()).hexdigest())
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NOISEBENCH_PROGRESS", raising=False)
    before = {r: set(r.names()) for r in (ACTIVATIONS, CORRUPTIONS)}
    yield tmp_path
    for r, names in before.items():
        for n in set(r.names()) - names:
            r.unregister(n)


def test_every_example_runs(doc_folder, capsys):
    assert len(BLOCKS) >= 9
    ns: dict = {"__name__": "__api_doc__"}
    for i, block in enumerate(BLOCKS):
        try:
            exec(compile(block, f"docs/API.md block {i + 1}", "exec"), ns)
        except Exception as e:  # noqa: BLE001 - name the failing block
            raise AssertionError(f"docs/API.md block {i + 1} failed: {type(e).__name__}: {e}\n{block}") from e
    out = capsys.readouterr().out
    assert "error: " in out and "did you mean level?" in out  # the documented mistakes are refused
    assert (doc_folder / "exports" / "epochs.csv").is_file() and (doc_folder / "data" / "cifar10-psi8.h5").is_file()
    assert (doc_folder / "results" / "eval.db").is_file() and "mine" in out  # nb.evaluate stored its rows
