"""The engine's GPU code paths, exercised on the CPU (marker `gpu_path`; `bench/gpu_check.sh` runs
them again on a GPU machine).

On CUDA the engine uses bf16 autocast, channels_last for image models and (optionally)
torch.compile, with the data resident on the device and augmentation done there. Each path is
forced on the CPU here through the run's explicit options (`extra={"precision": "bf16",
"channels_last": True}`, `compile=True`); device-parametrised tests run on `cuda` too when
one is present. A tiny convnet stands in for the zoo models so the suite stays fast.
"""

from __future__ import annotations

import shutil

import pytest
import torch
from torch import nn

from noisebench.harness.run.data import config_for_file
from noisebench.harness.run.runner import engine_paths, execute_run

pytestmark = pytest.mark.gpu_path

DEVICES = [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")),
]
_C_COMPILER = next((c for c in ("cc", "gcc", "clang", "c++", "g++") if shutil.which(c)), None)


class TinyNet(nn.Module):
    """conv-BN-act-pool-linear; records what its first layer saw (memory format, autocast dtype)."""

    def __init__(self, in_ch: int, num_outputs: int):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.head = nn.Linear(8, num_outputs)
        self.seen: list[tuple[bool, torch.dtype, str]] = []

    def forward(self, x):
        y = self.conv(x)
        if not torch.compiler.is_compiling():
            self.seen.append((x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous(),
                              y.dtype, x.device.type))
        y = torch.relu(self.bn(y))
        return self.head(y.mean((2, 3)))


@pytest.fixture(scope="module")
def cifar_file(tmp_path_factory):
    """A tiny CIFAR-10 noisebench file (official batch format -> the real builder)."""
    from official_format_fixtures import write_cifar10_batches

    from noisebench.generators.builds.images import build_clean_images
    from noisebench.generators.sources.cifar10 import load_cifar10

    d = tmp_path_factory.mktemp("gpu_path")
    src = write_cifar10_batches(d / "src", n_train=40, n_test=20)
    return build_clean_images(load_cifar10(src, verify=False), d / "out")


@pytest.fixture
def tiny_models(monkeypatch):
    """Route execute_run's model construction to TinyNet; yields the list of models built."""
    import noisebench.harness.models as models
    import noisebench.harness.run.runner as runner

    built: list[TinyNet] = []

    def build(name, activation, in_shape, num_outputs):
        m = TinyNet(in_shape[0], num_outputs)
        built.append(m)
        return m

    monkeypatch.setattr(models, "build_model", build)
    monkeypatch.setattr(runner, "build_model", build)  # the name the engine looks up
    return built


def _cfg(path, device="cpu", **kw):
    base = dict(model="resnet18", activation="relu", epochs=1, batch_size=16, lr=1e-2, optimizer="adam",
                lr_policy="fixed", weight_decay=0.0, seed=3, device=device)
    base.update(kw)
    return config_for_file(path, **base)


def _metrics(res):
    """Per-epoch metrics without the timings."""
    return [{k: v for k, v in e.items() if k not in ("epoch_s", "samples_per_s")} for e in res.epochs]


def test_engine_paths_defaults_and_forced_options():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert engine_paths({}, cpu, True) == (False, False)  # CPU default: fp32, NCHW
    assert engine_paths({}, cuda, True) == (True, True)  # CUDA default: bf16 + channels_last
    assert engine_paths({}, cuda, False) == (True, False)  # tabular: never channels_last
    assert engine_paths({"fp32": True}, cuda, True) == (False, True)
    assert engine_paths({"precision": "bf16", "channels_last": True}, cpu, True) == (True, True)
    assert engine_paths({"precision": "fp32", "channels_last": False}, cuda, True) == (False, False)


@pytest.mark.parametrize("device", DEVICES)
def test_bf16_autocast_and_channels_last_run_through_the_engine(cifar_file, tiny_models, device):
    res = execute_run(_cfg(cifar_file, device, extra={"precision": "bf16", "channels_last": True, "augment": "crop_flip"}))
    assert res.status == "ok", res.error
    seen = tiny_models[-1].seen
    assert seen and all(cl for cl, _, _ in seen), "input not in channels_last"
    assert all(dt == torch.bfloat16 for _, dt, _ in seen), "conv did not run under bf16 autocast"
    assert {d for _, _, d in seen} == {torch.device(device).type}
    assert res.final["val_loss"] == res.final["val_loss"]  # finite, not NaN


@pytest.mark.parametrize("device", DEVICES)
def test_default_paths_on_cpu_are_fp32_nchw(cifar_file, tiny_models, device):
    res = execute_run(_cfg(cifar_file, device, epochs=1))
    assert res.status == "ok", res.error
    seen = tiny_models[-1].seen
    on_cuda = torch.device(device).type == "cuda"
    assert all(cl == on_cuda for cl, _, _ in seen)
    assert all(dt == (torch.bfloat16 if on_cuda else torch.float32) for _, dt, _ in seen)


@pytest.mark.parametrize("device", DEVICES)
def test_resident_data_and_augmentation_stay_on_the_device(cifar_file, device):
    from noisebench.harness.run.loop import crop_flip
    from noisebench.harness.run.runner import prepare

    dev = torch.device(device)
    data, _ = prepare(_cfg(cifar_file, device, extra={"augment": "crop_flip"}), dev)
    for split in (data.train, data.val):
        assert split.x.device.type == dev.type and split.y.device.type == dev.type
        assert split.x.dtype == torch.uint8  # resident as uint8 NHWC, converted per batch
    assert data.augment == "crop_flip"
    xb = data.train.x[:8]
    a = crop_flip(xb, torch.Generator(device=dev).manual_seed(1))
    b = crop_flip(xb, torch.Generator(device=dev).manual_seed(1))
    c = crop_flip(xb, torch.Generator(device=dev).manual_seed(2))
    assert a.device.type == dev.type and a.dtype == torch.uint8 and a.shape == xb.shape
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_same_seed_same_device_same_metrics(cifar_file, tiny_models, device, precision):
    cfg = _cfg(cifar_file, device, extra={"precision": precision, "channels_last": precision == "bf16",
                                          "augment": "crop_flip"})
    a, b = execute_run(cfg), execute_run(cfg)
    assert a.status == b.status == "ok"
    assert _metrics(a) == _metrics(b)
    other = execute_run(_cfg(cifar_file, device, seed=4, extra=dict(cfg.extra)))
    assert _metrics(other) != _metrics(a)  # the seed matters, so the equality above is not vacuous


def test_bf16_and_fp32_are_distinct_runs(cifar_file, tiny_models):
    bf16 = _cfg(cifar_file, extra={"precision": "bf16"})
    fp32 = _cfg(cifar_file, extra={"precision": "fp32"})
    assert bf16.key() != fp32.key()
    ra, rb = execute_run(bf16), execute_run(fp32)
    assert ra.key != rb.key
    assert _metrics(ra) != _metrics(rb)  # and they really are different results


def test_bad_precision_is_a_user_error(cifar_file):
    from noisebench.errors import UserError
    from noisebench.harness.run.checks import validate_config

    with pytest.raises(UserError, match="precision"):
        validate_config(_cfg(cifar_file, extra={"precision": "fp8"}))
    with pytest.raises(UserError, match="channels_last"):
        validate_config(_cfg(cifar_file, extra={"channels_last": "yes"}))


@pytest.mark.slow
@pytest.mark.skipif(_C_COMPILER is None, reason="torch.compile (inductor) needs a C/C++ compiler; none found on PATH")
def test_compiled_run_matches_eager(cifar_file, tiny_models):
    eager = execute_run(_cfg(cifar_file, epochs=1))
    compiled = execute_run(_cfg(cifar_file, epochs=1, compile=True))
    assert eager.status == compiled.status == "ok", compiled.error
    assert compiled.final["val_loss"] == pytest.approx(eager.final["val_loss"], rel=1e-3, abs=1e-4)
