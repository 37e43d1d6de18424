"""What a run is and which options make it: a default passed explicitly is the same run (one key,
trained once); repeated list options add up."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from hostile_helpers import hostile_inputs  # noqa: E402,F401


@pytest.fixture(scope="module")
def data(hostile_inputs):
    return hostile_inputs


def _key(cli, *args) -> str:
    r = cli("train", *args, "--dry-run")
    assert r.code == 0, r.err
    return re.search(r"run key: (\w+)", r.out).group(1)


def test_explicit_sgd_momentum_default_is_the_same_run(cli, data, tmp_path):
    d, db = data["dirty"], tmp_path / "r.db"
    base = ["--data", d, "--epochs", "1", "--device", "cpu", "--db", db, "--quiet"]
    r = cli("train", *base, "--optimizer", "sgd")
    assert r.code == 0, r.err
    r = cli("train", *base, "--optimizer", "sgd", "--momentum", "0.9")
    assert r.code == 0 and "already in" in r.out, r.out + r.err  # trained once, not twice
    common = ["--data", d, "--epochs", "1", "--device", "cpu"]
    assert _key(cli, *common, "--optimizer", "sgd", "--momentum", "0.5") != _key(cli, *common, "--optimizer", "sgd")
    # momentum is not read by Adam: it does not make another Adam run either
    assert _key(cli, *common, "--optimizer", "adam", "--momentum", "0.5") == _key(cli, *common, "--optimizer", "adam")
    # the StepLR defaults (step 2 epochs, factor 0.7)
    assert (_key(cli, *common, "--lr-policy", "step", "--step-size", "2", "--gamma", "0.7")
            == _key(cli, *common, "--lr-policy", "step"))


def test_explicit_cifar_augment_default_is_the_same_run(cli, data, tmp_path):
    r = cli("make", "cifar10", "--source", data["cifar"], "--val-size", "10", "--no-verify", "--out", tmp_path)
    assert r.code == 0, r.err
    common = ["--data", tmp_path / "cifar10.h5", "--epochs", "1", "--device", "cpu"]
    implicit = _key(cli, *common)
    assert _key(cli, *common, "--augment", "crop_flip") == implicit
    assert _key(cli, *common, "--augment", "none") != implicit
    # MNIST-like data default to no augmentation: there --augment none is the default
    r = cli("make", "mnist", "--source", data["mnist"], "--val-size", "10", "--no-verify", "--out", tmp_path)
    assert r.code == 0, r.err
    common = ["--data", tmp_path / "mnist.h5", "--epochs", "1", "--device", "cpu"]
    assert _key(cli, *common, "--augment", "none") == _key(cli, *common)


def test_study_repeated_activation_flags_add_up(cli, tmp_path):
    r = cli("study", "synth-robustness", "--dry-run", "--no-measure", "--activation", "relu", "--activation", "tanh",
            "--data-dir", tmp_path / "d", "--db", tmp_path / "r.db")
    assert r.code == 0, r.err
    assert "mlp/relu/clean" in r.out and "mlp/tanh/clean" in r.out and "12 runs" in r.out
