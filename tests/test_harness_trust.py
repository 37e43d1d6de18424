"""Results you can trust: val-only selection, run identity, data verified before training, twin
pairs, recipes for custom image sources."""

from __future__ import annotations

import json
import shutil
import sqlite3
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from trust_helpers import replace_array, reseal, set_attr

from noisebench.errors import UserError
from noisebench.harness.results.db import ResultsDB
from noisebench.harness.run import identity
from noisebench.harness.run.data import config_for_file
from noisebench.harness.run.runner import execute_run

torch.set_num_threads(1)


def write_images(path: Path, kind: str = "clean", shape=(12, 12), n=(16, 8, 8), k: int = 4, seed: int = 0,
                 splits=("train", "val", "test"), source=None, attrs=None, y_seed=None) -> Path:
    """A tiny classification file written by the format's own writer."""
    from noisebench.format import DatasetWriter

    rng = np.random.default_rng(seed)
    yrng = np.random.default_rng(seed if y_seed is None else y_seed)
    a = {"dataset": "tinyimg", "num_classes": k, "class_names": [f"c{i}" for i in range(k)]} | (attrs or {})
    variant = "clean" if kind == "clean" else "dirty"
    with DatasetWriter(path, kind=kind, variant=variant, params={"fingerprint": "fp0"}, seed=0, pair_key="tiny:fp0",
                       source=source or {"kind": "test"}, attrs=a, force=True) as w:
        for s, m in zip(("train", "val", "test"), n):
            if s in splits:
                w.write(f"{s}/x", rng.integers(0, 256, (m, *shape), dtype=np.uint8))
                w.write(f"{s}/y", yrng.integers(0, k, m).astype(np.int64))
    return Path(path)


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    from noisebench.generators.synth.files import build
    from noisebench.generators.synth.generator import SynthParams

    out = tmp_path_factory.mktemp("synth")
    clean, dirty = build(SynthParams(rows=200), out)
    return Path(clean), Path(dirty)


def _cfg(path, **kw):
    base = dict(model="mlp", activation="relu", epochs=1, batch_size=64, lr=1e-3, optimizer="adam",
                lr_policy="fixed", weight_decay=1e-10, seed=0, device="cpu")
    base.update(kw)
    return config_for_file(path, **base)


# -- selection on val only ---------------------------------------------------------------------
def test_selection_uses_val_when_val_and_test_disagree(tmp_path, monkeypatch):
    """Scripted evaluation: val is best at epoch 2, test at epoch 1; the run reports epoch 2."""
    from noisebench.harness.run import loop as train_loop

    f = write_images(tmp_path / "img.h5")
    script = {"val": iter([0.50, 0.90, 0.70]), "test": iter([0.95, 0.40, 0.80])}
    real = train_loop.evaluate

    def scripted(model, data, split, s, model_fn=None):
        res = real(model, data, split, s, model_fn)
        res["acc"] = next(script["val" if split is data.val else "test"])
        return res

    monkeypatch.setattr(train_loop, "evaluate", scripted)
    r = execute_run(_cfg(f, model="mnist_cnn", epochs=3, batch_size=8))
    assert r.status == "ok", r.error
    fin = r.final
    assert fin["selection_rule"] == "max_val_acc" and fin["selection_metric"] == "val_acc"
    assert fin["selected_epoch"] == 2 and fin["last_epoch"] == 3
    assert fin["selected_val_acc"] == 0.90 and fin["selected_test_acc"] == 0.40
    assert fin["last_val_acc"] == 0.70 and fin["last_test_acc"] == 0.80
    assert fin["metric"] == "selected_test_acc" and fin["metric_value"] == 0.40


def test_selection_rule_regression_and_ties():
    from noisebench.harness.run.selection import selection_summary

    eps = [{"epoch": 1, "val_loss": 2.0, "test_loss": 1.0}, {"epoch": 2, "val_loss": 1.0, "test_loss": 3.0},
           {"epoch": 3, "val_loss": 1.0, "test_loss": 0.5}, {"epoch": 4, "val_loss": float("nan"), "test_loss": 0.1}]
    s = selection_summary(eps, "regression", has_test=True)
    assert s["selection_rule"] == "min_val_loss" and s["selected_epoch"] == 2  # earliest of the tie, NaN skipped
    assert (s["selected_test_loss"], s["last_test_loss"]) == (3.0, 0.1)


def test_classification_file_without_val_is_refused(cli, tmp_path):
    f = write_images(tmp_path / "noval.h5", splits=("train", "test"))
    with pytest.raises(UserError, match="no val split"):
        execute_run(_cfg(f, model="mnist_cnn"))
    db = tmp_path / "r.db"
    r = cli("train", "--data", f, "--model", "mnist_cnn", "--epochs", "1", "--db", db)
    assert r.code == 2 and r.err.count("\n") == 1 and "no val split" in r.err and not db.exists()


# -- run identity ------------------------------------------------------------------------------
def test_key_changes_with_code_device_precision_compile_torch(synth, monkeypatch):
    c = _cfg(synth[0])
    k = c.key()
    assert replace(c, data="/moved/elsewhere.h5").key() == k  # the content identifies the data
    assert replace(c, device="cuda").key() != k
    cuda = replace(c, device="cuda")
    assert replace(cuda, extra=(("fp32", True),)).key() != cuda.key()  # bf16 autocast vs fp32
    assert identity.run_identity(cuda)["precision"] == "bf16-autocast"
    assert identity.run_identity(replace(cuda, extra=(("fp32", True),)))["precision"] == "fp32"
    assert replace(c, compile=True).key() != k
    monkeypatch.setattr(identity, "torch_version", lambda: "0.0.0-other")
    assert c.key() != k
    monkeypatch.undo()
    monkeypatch.setattr(identity, "code_version", lambda: "src-0000000000000000")
    assert c.key() != k
    monkeypatch.undo()
    monkeypatch.setattr(identity, "git_commit", lambda: "0" * 40)  # information only
    assert c.key() == k


def test_code_version_hashes_source_not_docs_or_tests(tmp_path):
    root = tmp_path / "pkg"
    (root / "sub").mkdir(parents=True)
    (root / "a.py").write_text("x = 1\n")
    (root / "sub" / "b.py").write_text("y = 2\n")
    (root / "README.md").write_text("docs\n")
    h = identity.hash_tree({"pkg": root})
    (root / "README.md").write_text("other docs\n")
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "a.cpython.pyc").write_bytes(b"junk")
    assert identity.hash_tree({"pkg": root}) == h
    (root / "sub" / "b.py").write_text("y = 3\n")
    assert identity.hash_tree({"pkg": root}) != h
    # the real package: a stable code version, and the harness tests are not part of it
    assert identity.code_version().startswith("src-") and identity.code_version() == identity.code_version()
    dirs = [identity._package_dir(p) for p in identity.CODE_PACKAGES]
    assert not any(Path(__file__).resolve().is_relative_to(d) for d in dirs)


def test_plugin_source_change_is_a_new_run(synth, tmp_path, monkeypatch):
    pkg = tmp_path / "plugins" / "myacts"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "acts.py").write_text("import torch\nfrom .helpers import SCALE\n\nclass Scaled(torch.nn.Module):\n"
                                 "    def forward(self, x):\n        return torch.relu(x) * SCALE\n")
    (pkg / "helpers.py").write_text("SCALE = 1.0\n")
    monkeypatch.syspath_prepend(str(tmp_path / "plugins"))
    c = _cfg(synth[0], activation="myacts.acts:Scaled")
    ident = identity.run_identity(c)
    assert set(ident) == set(identity.IDENTITY_KEYS) and list(ident["plugin_hashes"]) == ["myacts"]
    k = c.key()
    assert _cfg(synth[0]).key() != k and identity.run_identity(_cfg(synth[0]))["plugin_hashes"] == {}
    (pkg / "helpers.py").write_text("SCALE = 2.0\n")  # another file of the plug-in's package
    assert c.key() != k
    sys.modules.pop("myacts", None), sys.modules.pop("myacts.acts", None), sys.modules.pop("myacts.helpers", None)


def test_identity_recorded_and_old_databases_migrated(synth, tmp_path):
    old = tmp_path / "old.db"
    con = sqlite3.connect(old)
    from noisebench.harness.results import db as results_db

    schema = results_db._SCHEMA.replace(",\n    identity TEXT NOT NULL DEFAULT '{}'", "")
    assert "identity" not in schema
    con.executescript(schema)
    con.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    r = execute_run(_cfg(synth[0]))
    row = {c: None for c in results_db.RUN_COLUMNS if c != "identity"}
    row.update(key="old" * 8, status="ok", model="mlp", activation="relu", data="x", data_sha256="d", role="clean",
               epochs=1, batch_size=1, lr=1.0, optimizer="adam", lr_policy="fixed", weight_decay=0.0, seed=0,
               extra="[]", config="{}", data_info="{}", final="{}", recorded_at=1.0)
    con.execute(f"INSERT INTO runs ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})", list(row.values()))
    con.commit()
    con.close()
    with ResultsDB(old) as db:
        assert db.runs(key="old" * 8)[0]["identity"] == {}
        db.record(r)
        got = db.runs(key=r.key)[0]["identity"]
    assert set(got) == set(identity.IDENTITY_KEYS)
    assert got["device_type"] == "cpu" and got["precision"] == "fp32" and got["compile"] is False
    assert got["data_digest"] == r.config["data_sha256"] and got["torch_version"] == torch.__version__
    assert r.key == identity.run_key(_cfg(synth[0]), got)


def test_train_dry_run_prints_key_inputs(cli, synth, tmp_path):
    db = tmp_path / "r.db"
    r = cli("train", "--data", synth[0], "--epochs", "1", "--device", "cpu", "--db", db, "--dry-run")
    assert r.code == 0, r.err
    key = _cfg(synth[0], epochs=1, batch_size=64, weight_decay=1e-10).key()
    for word in ("run key:", "code_version", "data_digest", "plugin_hashes", "device_type", "precision",
                 "compile", "torch_version", "git_commit", "nothing recorded"):
        assert word in r.out
    assert not db.exists()
    blob = r.out[r.out.index("{"): r.out.rindex("}") + 1]
    inputs = json.loads(blob)
    assert inputs["config"]["epochs"] == 1 and inputs["identity"]["device_type"] == "cpu"
    assert f"run key: {key}" in r.out


# -- verified data -----------------------------------------------------------------------------
def test_tampered_file_refused_records_nothing_and_cannot_shadow(cli, synth, tmp_path, monkeypatch):
    monkeypatch.setenv("NOISEBENCH_CACHE_DIR", str(tmp_path / "cache"))
    genuine = tmp_path / "g" / synth[0].name
    genuine.parent.mkdir()
    shutil.copy(synth[0], genuine)
    bad = tmp_path / "t" / synth[0].name
    bad.parent.mkdir()
    shutil.copy(synth[0], bad)
    with __import__("h5py").File(bad, "r") as f:
        y = f["train/y"][...]
    replace_array(bad, "train/y", (y + 1.0).astype(y.dtype))  # checksums left as they were
    db = tmp_path / "r.db"
    assert _cfg(bad).key() == _cfg(genuine).key()  # same recorded digest: it would shadow the genuine run
    r = cli("train", "--data", bad, "--epochs", "1", "--device", "cpu", "--db", db)
    assert r.code == 2 and r.err.count("\n") == 1 and "does not match its recorded checksums" in r.err
    assert "train/y" in r.err and not db.exists()
    r = cli("train", "--data", genuine, "--epochs", "1", "--device", "cpu", "--db", db)
    assert r.code == 0 and "recorded in" in r.out, r.err
    with ResultsDB(db) as d:
        assert d.count() == 1 and d.runs()[0]["data"] == str(genuine)


def test_verification_is_cached_per_unchanged_file(synth, tmp_path, monkeypatch):
    from noisebench.format import reader as h5reader
    from noisebench.harness.run import verify as data_verify

    monkeypatch.setenv("NOISEBENCH_CACHE_DIR", str(tmp_path / "cache"))
    f = tmp_path / "a.h5"
    shutil.copy(synth[1], f)
    calls = []
    real = h5reader.verify
    monkeypatch.setattr(data_verify, "verify", lambda p: calls.append(p) or real(p))
    data_verify.clear_memo()
    data_verify.verify_for_training(f)
    data_verify.clear_memo()  # a new process: only the cache file remembers
    data_verify.verify_for_training(f)
    assert len(calls) == 1 and (tmp_path / "cache" / data_verify.CACHE_FILE).exists()
    (tmp_path / "cache" / data_verify.CACHE_FILE).write_text("{not json")  # corrupt cache: ignored, rehashed
    data_verify.clear_memo()
    data_verify.verify_for_training(f)
    assert len(calls) == 2
    data_verify.clear_memo()
    data_verify.verify_for_training(f)  # the rewritten cache is valid again
    assert len(calls) == 2
    set_attr(f, "note", "x")  # any rewrite changes mtime/size: verified again
    data_verify.clear_memo()
    with pytest.raises(UserError, match="added: note"):  # an attribute added after writing is refused too
        data_verify.verify_for_training(f)
    assert len(calls) == 3
    reseal(f)  # a deliberate rewrite re-records the metadata digest
    data_verify.clear_memo()
    data_verify.verify_for_training(f)
    assert len(calls) == 4
    assert not list((tmp_path / "cache").glob("*.tmp"))


# -- twin pairs --------------------------------------------------------------------------------
def _pair(tmp_path, kind="psi", **dirty_kw):
    clean = write_images(tmp_path / "tiny.h5", "clean")
    dirty = write_images(tmp_path / "tiny-d.h5", kind, seed=1, y_seed=0,
                         attrs={"clean_reference": "tiny.h5"} | dirty_kw.pop("attrs", {}), **dirty_kw)
    return clean, dirty


def test_twins_accepted_and_differences_named(cli, tmp_path):
    from noisebench.harness.plan.pairs import pair_for, twin_differences

    clean, dirty = _pair(tmp_path)
    assert twin_differences(clean, dirty) == [] and pair_for(dirty).clean == clean
    split = {"method": "stratified", "seed": 0, "val_size": 8, "n_train": 16, "n_val": 8, "n_test": 8,
             "val_indices_sha256": "a" * 64}
    for p in (clean, dirty):
        set_attr(p, "split", split)
        set_attr(p, "source_fingerprint", "src-1")
    assert twin_differences(clean, dirty) == []
    set_attr(dirty, "split", split | {"val_indices_sha256": "b" * 64, "n_val": 7})
    set_attr(dirty, "source_fingerprint", "src-2")
    set_attr(dirty, "num_classes", 5)
    # (a task mismatch cannot be built from valid files: an image file claiming task=regression holds int64
    # labels, not float32 targets, and is refused when opened; tests/test_hostile_formats.py)
    d = " ; ".join(twin_differences(clean, dirty))
    for what in ("source fingerprint", "val indices", "split n_val", "num_classes"):
        assert what in d
    db = tmp_path / "r.db"
    r = cli("robustness", "--data", dirty, "--model", "mnist_cnn", "--epochs", "1", "--seeds", "1", "--db", db)
    assert r.code == 2 and r.err.count("\n") == 1 and "not clean/dirty twins" in r.err and "val indices" in r.err
    assert not db.exists()


def test_labels_compared_where_they_are_not_the_corruption(tmp_path):
    from noisebench.harness.plan.pairs import check_twins, twin_differences

    clean, dirty = _pair(tmp_path)  # psi: every split's labels must be identical
    with __import__("h5py").File(dirty, "r") as f:
        y = f["train/y"][...]
    replace_array(dirty, "train/y", (y + 1) % 4, keep_checksums=False)
    assert twin_differences(clean, dirty) == ["train/y labels differ"]
    with pytest.raises(UserError, match="train/y labels differ"):
        check_twins(clean, dirty)
    (tmp_path / "flip").mkdir()
    flip_c, flip_d = _pair(tmp_path / "flip", kind="mnist-flip")
    replace_array(flip_d, "train/y", (y + 1) % 4, keep_checksums=False)
    assert twin_differences(flip_c, flip_d) == []  # label flips: train labels are the corruption
    replace_array(flip_d, "val/y", np.zeros(8, np.int64), keep_checksums=False)
    assert twin_differences(flip_c, flip_d) == ["val/y labels differ"]
    set_attr(flip_d, "class_names", ["a", "b", "c", "d"])
    assert "class names differ" in "; ".join(twin_differences(flip_c, flip_d))


# -- recipes for custom sources ----------------------------------------------------------------
def test_custom_sources_get_a_recipe_for_their_images(cli, tmp_path):
    from noisebench.harness.run.recipes import RECIPES, SHAPE_KEY, recipe_for

    for shape, model in (((10, 28, 28), "mnist_cnn"), ((10, 4, 4, 3), "mnist_cnn"), ((10, 32, 32, 3), "resnet18"),
                         ((10, 96, 96, 3), "resnet18_tv"), ((10, 40, 40, 1), "resnet18")):
        for kind in ("clean", "psi"):
            r = recipe_for({"source": {"kind": "npz"}, "kind": kind, "dataset": "mine", SHAPE_KEY: shape})
            assert r.model == model and r.name.startswith("custom") and r != RECIPES["cifar10"]
    assert recipe_for({"dataset": "cifar10", "kind": "psi"}) == RECIPES["cifar10"]
    f = write_images(tmp_path / "mine.h5", source={"kind": "npz", "path": "x.npz"}, attrs={"dataset": "mine"})
    db = tmp_path / "r.db"
    r = cli("train", "--data", f, "--epochs", "1", "--batch-size", "8", "--device", "cpu", "--db", db)
    assert r.code == 0, r.err
    assert "recipe: custom-small (12x12x1 images)" in r.out and "selected epoch 1 by max_val_acc" in r.out
    with ResultsDB(db) as d:
        row = d.runs()[0]
    assert row["model"] == "mnist_cnn" and row["config"]["recipe"].startswith("custom-small")
    assert row["data_info"]["recipe"] == row["config"]["recipe"]
