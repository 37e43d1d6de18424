"""Plug-ins without PYTHONPATH: the four registries take entries from a file given to --plugin,
a grid TOML `plugins` key or the environment (worker processes); clashes are refused."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from noisebench.errors import UserError
from noisebench.harness.results.db import ResultsDB
from noisebench.registry import ACTIVATIONS, CORRUPTIONS, MODELS, SOURCES
from noisebench.registry.plugins import ENV_VAR, load_plugin

torch.set_num_threads(1)

MYPLUG = textwrap.dedent('''
    # myplug.py
    import numpy as np
    from torch import nn
    import noisebench as nb

    @nb.register_activation("halfrelu")
    class HalfReLU(nn.Module):
        def forward(self, x):
            return 0.5 * x.clamp(min=0)

    @nb.register_model("tinycnn", task="classification", default_input=(3, 32, 32))
    def tinycnn(act, in_shape, num_outputs):
        return nn.Sequential(nn.Conv2d(in_shape[0], 8, 3, padding=1), act(),
                             nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, num_outputs))

    @nb.register_corruption("invert", target="images")
    def invert(x, rng, *, strength: float = 1.0):
        """x: uint8 (N, H, W, C) -> uint8 of the same shape."""
        return np.clip(x + strength * (255.0 - 2.0 * x), 0, 255).round().astype(np.uint8)
''')


@pytest.fixture
def clean_registries(monkeypatch):
    """Each test sees only the built-ins plus what it loads; the env var does not leak between tests."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    import noisebench.registry.plugins as plugins

    before = {r.family: set(r.names()) for r in (ACTIVATIONS, MODELS, CORRUPTIONS, SOURCES)}
    loaded = dict(plugins._loaded)
    yield
    for r in (ACTIVATIONS, MODELS, CORRUPTIONS, SOURCES):
        for n in set(r.names()) - before[r.family]:
            r.unregister(n)
    plugins._loaded.clear()
    plugins._loaded.update(loaded)


@pytest.fixture
def myplug(tmp_path) -> Path:
    p = tmp_path / "plugdir" / "myplug.py"
    p.parent.mkdir()
    p.write_text(MYPLUG)
    return p


def test_zoo_lists_the_plugin_entries(cli, myplug, clean_registries):
    r = cli("--plugin", myplug, "zoo")
    assert r.code == 0, r.err
    for name in ("halfrelu", "tinycnn", "invert"):
        line = next(l for l in r.out.splitlines() if l.strip().startswith(name))
        assert str(myplug) in line  # marked as a plug-in with its file
    assert "strength=1.0" in r.out
    assert os.environ[ENV_VAR] == str(myplug.resolve())  # workers will load it too


def test_builtin_name_clash_is_refused_in_one_line(cli, tmp_path, clean_registries):
    p = tmp_path / "clash.py"
    p.write_text(MYPLUG.replace('register_activation("halfrelu")', 'register_activation("relu")'))
    r = cli("--plugin", p, "zoo")
    assert r.code != 0
    assert r.err.count("\n") == 1 and r.err.startswith("error:") and "'relu' is already registered (built-in)" in r.err
    assert "Traceback" not in r.err


def test_a_plugin_failing_half_way_leaves_nothing_registered(cli, tmp_path, clean_registries):
    p = tmp_path / "half.py"
    p.write_text(MYPLUG + "\nraise RuntimeError('late failure')\n")
    r = cli("--plugin", p, "zoo")
    assert r.code != 0 and "late failure" in r.err
    assert "halfrelu" not in ACTIVATIONS and "tinycnn" not in MODELS and "invert" not in CORRUPTIONS


@pytest.mark.parametrize("body, msg", [
    ("raise RuntimeError('boom')", "failed to load: RuntimeError: boom"),
    ("def broken(:\n    pass", "failed to load: SyntaxError"),
    ("import noisebench as nb\nnb.register_activation('Bad Name')(object)", "activation name 'Bad Name' is not valid"),
    ("import noisebench as nb\nnb.register_model('m1', task='ranking')(print)", "task must be classification or regression"),
])
def test_broken_plugins_fail_in_one_line(cli, tmp_path, clean_registries, body, msg):
    p = tmp_path / "bad.py"
    p.write_text(body)
    r = cli("--plugin", p, "zoo")
    assert r.code != 0 and msg in r.err and "Traceback" not in r.err


def test_missing_and_non_regular_plugin_files(cli, tmp_path, clean_registries):
    assert "No such file" in cli("--plugin", tmp_path / "nope.py", "zoo").err
    fifo = tmp_path / "fifo.py"
    os.mkfifo(fifo)
    r = cli("--plugin", fifo, "zoo")  # must not block on the FIFO
    assert r.code != 0 and "not a regular file" in r.err
    assert "cannot be imported" in cli("--plugin", "no_such_module_xyz", "zoo").err


# -- each registry takes an entry from a temporary file --------------------------------------------

def _write(tmp_path: Path, name: str, body: str) -> Path:
    p = tmp_path / f"{name}.py"
    p.write_text(textwrap.dedent(body))
    return p


def test_activation_registry_entry_from_file(tmp_path, clean_registries):
    from noisebench.harness.activations.resolve import resolve_activation

    load_plugin(_write(tmp_path, "acts", '''
        import torch
        from torch import nn
        import noisebench as nb

        @nb.register_activation("cubeish", description="x^3/(1+x^2)")
        class Cubeish(nn.Module):
            def forward(self, x):
                return x ** 3 / (1 + x ** 2)
    '''))
    act = resolve_activation("cubeish")()
    assert torch.allclose(act(torch.tensor([2.0])), torch.tensor([1.6]))
    assert ACTIVATIONS.get("cubeish").description == "x^3/(1+x^2)"
    assert not ACTIVATIONS.get("cubeish").builtin


def test_model_registry_entry_from_file(tmp_path, clean_registries):
    from noisebench.harness.models import build_model

    load_plugin(_write(tmp_path, "models", '''
        from torch import nn
        import noisebench as nb

        @nb.register_model("linreg", task="regression", default_input=(10,))
        def linreg(act, in_shape, num_outputs):
            return nn.Sequential(nn.Linear(in_shape[0], 4), act(), nn.Linear(4, num_outputs))
    '''))
    m = build_model("linreg", "tanh", (7,), 1)
    assert m(torch.zeros(2, 7)).shape == (2, 1)
    assert isinstance(m[1], torch.nn.Tanh)
    with pytest.raises(UserError, match="takes tabular data"):
        build_model("linreg", "relu", (3, 8, 8), 1)


def test_corruption_registry_entry_from_file(tmp_path, clean_registries):
    load_plugin(_write(tmp_path, "corr", '''
        import numpy as np
        import noisebench as nb

        @nb.register_corruption("darken", target="images", severities={1: {"f": 0.9}, 2: {"f": 0.5}},
                                ranges={"f": (0.0, 1.0)})
        def darken(x, rng, *, f: float = 0.5):
            return np.rint(x * f).astype(np.uint8)
    '''))
    e = CORRUPTIONS.get("darken")
    assert e.meta["params"] == {"f": 0.5} and e.meta["severities"][2] == {"f": 0.5} and e.meta["tag"] == "darken"
    x = np.full((2, 4, 4, 3), 200, np.uint8)
    assert (e.obj(x, np.random.default_rng(0), **e.meta["severities"][2]) == 100).all()


def test_source_registry_entry_from_file(tmp_path, clean_registries):
    load_plugin(_write(tmp_path, "src", '''
        import noisebench as nb

        @nb.register_source("mylab", description="our microscope images")
        def load(path):
            return path
    '''))
    assert SOURCES.get("mylab").description == "our microscope images"


def test_plugin_source_hash_follows_the_file(tmp_path, clean_registries):
    p = _write(tmp_path, "hashme", '''
        from torch import nn
        import noisebench as nb

        @nb.register_activation("hashme")
        class H(nn.Module):
            def forward(self, x):
                return x
    ''')
    load_plugin(p)
    h1 = ACTIVATIONS.get("hashme").source_hash()
    assert len(h1) == 64 and ACTIVATIONS.get("relu").source_hash() == "builtin"
    p.write_text(p.read_text() + "\n# changed\n")
    assert ACTIVATIONS.get("hashme").source_hash() != h1


def test_plugin_source_is_part_of_the_run_key(tmp_path, myplug, clean_registries):
    from noisebench.harness.run import identity
    from noisebench.harness.run.config import RunConfig

    load_plugin(myplug)
    cfg = RunConfig(model="tinycnn", activation="halfrelu", data="x.h5", data_sha256="0" * 64, role="single",
                    epochs=1, batch_size=8, lr=1e-3, optimizer="adam", lr_policy="fixed", weight_decay=0.0, seed=0)
    hashes = identity.run_identity(cfg)["plugin_hashes"]
    assert set(hashes) == {"activation:halfrelu", "model:tinycnn"}
    k1 = cfg.key()
    myplug.write_text(myplug.read_text().replace("0.5 * x", "0.25 * x"))
    assert cfg.key() != k1  # the plug-in's source changed: a new run


def test_grid_toml_plugins_key(tmp_path, myplug, clean_registries):
    pytest.importorskip("tomllib")
    from noisebench.harness.plan.spec import load_grid

    toml = myplug.parent / "g.toml"
    toml.write_text('[grid]\ndata = ["x.h5"]\nactivations = ["halfrelu"]\nplugins = ["myplug.py"]\n')
    spec = load_grid(toml)  # relative to the TOML file, no PYTHONPATH
    assert spec.activations == ["halfrelu"] and "halfrelu" in ACTIVATIONS


def test_plugin_model_and_activation_train_and_record(cli, myplug, tmp_path, clean_registries):
    from official_format_fixtures import build_tiny_image_files
    from trust_helpers import ensure_val_split

    paths = build_tiny_image_files(tmp_path, n_cifar_train=40, n_cifar_test=16, n_mnist_train=60, n_mnist_test=20)
    ensure_val_split(paths["cifar10-psi16"])
    db = tmp_path / "r.db"
    r = cli("--plugin", myplug, "train", "--model", "tinycnn", "--activation", "halfrelu",
            "--data", paths["cifar10-psi16"], "--epochs", "1", "--batch-size", "20", "--db", db)
    assert r.code == 0, r.err
    with ResultsDB(db) as d:
        (run,) = d.runs()
    assert run["model"] == "tinycnn" and run["activation"] == "halfrelu" and run["status"] == "ok"


def test_plugin_file_end_to_end_make_train_report(cli, myplug, tmp_path, clean_registries):
    """The plug-in file as written: make corrupt with its corruption, train its model with its
    activation on that file, then report."""
    from official_format_fixtures import write_cifar10_batches

    from noisebench.format import open_file

    src = write_cifar10_batches(tmp_path / "src", n_train=60, n_test=20).parent
    out = tmp_path / "dc"
    r = cli("--plugin", myplug, "make", "corrupt", "invert", "--param", "strength=1", "--source", src,
            "--no-verify", "--out", out)
    assert r.code == 0, r.err
    made = out / "cifar10-invert-strength1.h5"
    with open_file(made) as f:
        assert set(f.splits) == {"train", "val", "test"} and f.meta["clean_reference"]
        x = f.datasets["test/x"][...]
    with open_file(out / "cifar10.h5") as f:
        assert (x == 255 - f.datasets["test/x"][...]).all()  # the plug-in's corruption, applied exactly
    db = tmp_path / "r.db"
    r = cli("--plugin", myplug, "train", "--model", "tinycnn", "--activation", "halfrelu", "--data", made,
            "--epochs", "1", "--batch-size", "16", "--db", db)
    assert r.code == 0, r.err
    with ResultsDB(db) as d:
        (run,) = d.runs()
    assert set(run["identity"]["plugin_hashes"]) == {"activation:halfrelu", "model:tinycnn"}
    rep = cli("report", "--db", db, "--out", tmp_path / "rep", "--no-plots")
    assert rep.code == 0, rep.err and "halfrelu" in (tmp_path / "rep" / "report.md").read_text()


@pytest.mark.slow
def test_plugin_activation_in_parallel_workers(cli, myplug, tmp_path, clean_registries):
    """--jobs 2 starts fresh (spawned) worker processes: they load the plug-in from the environment."""
    from noisebench.generators.synth.files import build
    from noisebench.generators.synth.generator import SynthParams

    clean, dirty = build(SynthParams(rows=200), tmp_path)
    db = tmp_path / "r.db"
    r = cli("--plugin", myplug, "robustness", "--activation", "halfrelu", "--data", dirty, "--seeds", "1",
            "--epochs", "1", "--jobs", "2", "--db", db)
    assert r.code == 0, r.err
    with ResultsDB(db) as d:
        runs = d.runs()
    assert len(runs) == 2 and {x["activation"] for x in runs} == {"halfrelu"}
    assert all(x["status"] == "ok" for x in runs)
