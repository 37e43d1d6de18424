"""The model zoo: shapes, forward+backward, pinned parameter counts, the activation in every nonlinearity."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from noisebench.errors import UserError
from noisebench.harness.activations.resolve import activation_names
from noisebench.harness.activations.tact import TAct
from noisebench.harness.models import MODELS, build_model, model_names


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # Many tiny kernels: one thread is several times faster than two on a busy 2-core machine.
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _outputs(name: str) -> int:
    return 1 if MODELS[name].task == "regression" else 10


def _tiny_shape(name: str) -> tuple:
    """The smallest input each model accepts: keeps CPU tests fast (output shape does not depend on it)."""
    spec = MODELS[name]
    if spec.tabular:
        return spec.default_input
    side = max(spec.min_hw, 8)
    return (spec.default_input[0], side, side)


def _n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _meta_build(name, activation="relu", in_shape=None, num_outputs=None):
    with torch.device("meta"):
        return build_model(name, activation, in_shape or MODELS[name].default_input, num_outputs or _outputs(name))


# Parameter counts with relu at the default input shape and 10 classes (1 output for mlp).
PARAM_COUNTS = {
    # 10*128+128 + 2*128 (BN) + 128*64+64 + 2*64 + 64+1 (docs/STUDIES.md §2).
    "mlp": 10_113,
    # docs/STUDIES.md §3: convs 260 + 4,016 + 3,480, BN 2*(10+16+24), FC 1176*512+512 + 1,024 + 512*128+128 + 256
    # + 128*10+10.
    "mnist_cnn": 678_714,
    # kuangliu/pytorch-cifar ResNet18() (num_classes=10): 11,173,962 -- the widely quoted figure.
    "resnet18": 11_173_962,
    # torchvision.models.resnet18(num_classes=10): 11,689,512 (ImageNet) - 513*990 = 11,181,642.
    "resnet18_tv": 11_181_642,
    # kuangliu DenseNet121() (growth 32, reduction 0.5, 10 classes): 6,956,298.
    "densenet121": 6_956_298,
    # kuangliu SENet18() (PreActBlock + SE with biased 1x1 convs): 11,260,354.
    "senet18": 11_260_354,
    # kuangliu MobileNetV2() (CIFAR cfg, 10 classes): 2,296,922.
    "mobilenetv2": 2_296_922,
    # fastai wrn_22() = WideResNet(3, 3, 10, k=6): bias-free convs, widths 16/96/192/384
    # (WRN-22-6, ~9.7M: WRN-22-8's 17.2M scaled by (6/8)^2).
    "wrn22": 9_658_458,
    # fastai XResNet(1, [2,2,2,2], c_out=10): torchvision resnet18's 11,181,642 - 9,408 (7x7 stem conv)
    # + 28,512 (3x3 convs 3->32->32->64) + 128 (two extra BNs of 32) = 11,200,874.
    "xresnet18": 11_200_874,
    # fastai XResNet(1, [3,4,6,3], c_out=10): torchvision resnet34 (10 classes, 21,289,802) + the same +19,232.
    "xresnet34": 21_309_034,
    # fastai XResNet(4, [3,4,6,3], c_out=10): torchvision resnet50 (10 classes, 23,528,522) + 19,232.
    "xresnet50": 23_547_754,
}

# Activation calls in one forward pass: pins "the activation is used in every block".
ACT_CALLS = {
    "mlp": 2,
    "mnist_cnn": 5,  # 3 conv + 2 FC
    "resnet18": 1 + 8 * 2,  # stem + 2 per BasicBlock
    "resnet18_tv": 1 + 8 * 2,
    "densenet121": (6 + 12 + 24 + 16) * 2 + 3 + 1,  # 2 per bottleneck, 1 per transition, 1 before pooling
    "senet18": 1 + 8 * 3,  # stem + 2 per PreActBlock + 1 inside the SE
    "mobilenetv2": 1 + 17 * 2 + 1,  # stem + 2 per inverted residual + head
    "wrn22": 9 * 2 + 1,  # 2 per block + head
    "xresnet18": 3 + 8 * 2,  # 3-conv stem + 2 per ResBlock (1 inside + 1 after the add)
    "xresnet34": 3 + 16 * 2,
    "xresnet50": 3 + 16 * 3,  # bottleneck: 2 inside + 1 after the add
}


def test_registry_is_complete():
    assert sorted(model_names()) == sorted(PARAM_COUNTS) == sorted(ACT_CALLS)  # found by walking the package
    for name, spec in MODELS.items():
        assert spec.name == name and spec.description
        assert spec.task in ("classification", "regression")
    assert MODELS["mlp"].default_input == (10,)
    assert MODELS["mnist_cnn"].default_input == (1, 28, 28)
    assert all(MODELS[n].default_input == (3, 32, 32) for n in model_names() if n not in ("mlp", "mnist_cnn"))


@pytest.mark.parametrize("name", list(PARAM_COUNTS))
def test_parameter_counts_match_published(name):
    assert _n_params(_meta_build(name)) == PARAM_COUNTS[name]


def test_torchvision_reference_counts():
    """The two counts we can recompute from an independent implementation on this machine."""
    import torchvision

    with torch.device("meta"):
        assert _n_params(torchvision.models.resnet18(num_classes=10)) == PARAM_COUNTS["resnet18_tv"]
        assert _n_params(torchvision.models.resnet34(num_classes=10)) + 19_232 == PARAM_COUNTS["xresnet34"]
        assert _n_params(torchvision.models.resnet50(num_classes=10)) + 19_232 == PARAM_COUNTS["xresnet50"]


@pytest.mark.parametrize("activation", activation_names())
def test_every_pair_builds(activation):
    """Every (model, activation) pair constructs (on the meta device: no memory, ~0.1 s per model)."""
    for name in model_names():
        model = _meta_build(name, activation)
        extra = {"prelu": 1, "tact": 2, "mtact": 2}.get(activation, 0) * ACT_CALLS[name]
        assert _n_params(model) == PARAM_COUNTS[name] + extra, name


def _forward_backward(name: str, activation: str, batch: int = 2) -> nn.Module:
    torch.manual_seed(0)
    shape = _tiny_shape(name)
    model = build_model(name, activation, shape, _outputs(name))
    model.train()
    y = model(torch.randn(batch, *shape))
    assert y.shape == (batch, _outputs(name))
    assert torch.isfinite(y).all()
    y.float().pow(2).mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    return model


@pytest.mark.parametrize("activation", ["relu", "tact"])
@pytest.mark.parametrize("name", model_names())
def test_forward_backward(name, activation):
    model = _forward_backward(name, activation)
    if activation == "tact":
        tacts = [m for m in model.modules() if isinstance(m, TAct)]
        assert len(tacts) == ACT_CALLS[name]
        assert any(m.alpha.grad.abs() > 0 for m in tacts) and any(m.beta.grad.abs() > 0 for m in tacts)


@pytest.mark.parametrize("activation", activation_names())
@pytest.mark.parametrize("name", ["mlp", "mnist_cnn"])
def test_every_activation_on_cheap_models(name, activation):
    _forward_backward(name, activation)


class Counting(nn.Module):
    """Identity that counts its calls."""

    instances: list["Counting"] = []

    def __init__(self):
        super().__init__()
        self.calls = 0
        Counting.instances.append(self)

    def forward(self, x):
        self.calls += 1
        return x


def _no_relu(*args, **kwargs):
    raise AssertionError("a hard-coded ReLU was called")


@pytest.mark.parametrize("name", model_names())
def test_activation_is_used_everywhere_and_no_relu_remains(name, monkeypatch):
    Counting.instances = []
    shape = _tiny_shape(name)
    model = build_model(name, Counting, shape, _outputs(name))
    assert not [m for m in model.modules() if isinstance(m, (nn.ReLU, nn.ReLU6))]
    assert len(Counting.instances) == ACT_CALLS[name]
    for mod, attr in [(F, "relu"), (F, "relu_"), (F, "relu6"), (torch, "relu"), (torch, "relu_")]:
        monkeypatch.setattr(mod, attr, _no_relu)
    monkeypatch.setattr(torch.Tensor, "relu", _no_relu)
    monkeypatch.setattr(torch.Tensor, "relu_", _no_relu)
    model.eval()
    with torch.no_grad():
        model(torch.randn(2, *shape))
    # One module per nonlinearity, each called exactly once: no site skipped, none shared.
    assert [m.calls for m in Counting.instances] == [1] * ACT_CALLS[name]


def test_mnist_cnn_resizes_to_64_inside():
    torch.manual_seed(0)
    model = build_model("mnist_cnn", "relu", (1, 28, 28), 10).eval()
    x28 = torch.rand(2, 1, 28, 28)
    x64 = F.interpolate(x28, size=(64, 64), mode="bilinear", align_corners=False)
    with torch.no_grad():
        torch.testing.assert_close(model(x28), model(x64))


def test_same_seed_same_weights():
    def build():
        torch.manual_seed(7)
        return build_model("mnist_cnn", "tact", (1, 28, 28), 10)

    a, b = build().state_dict(), build().state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    alphas = [v.item() for k, v in a.items() if k.endswith("alpha")]
    assert len(alphas) == 5 and len(set(alphas)) == 5


def test_activation_as_callable_and_user_class():
    m = build_model("mlp", lambda: nn.Hardswish(), (7,), 3)
    assert m(torch.randn(4, 7)).shape == (4, 3)
    m = build_model("mlp", "torch.nn:Hardtanh", (10,), 1)
    assert sum(isinstance(x, nn.Hardtanh) for x in m.modules()) == 2


@pytest.mark.parametrize(
    "name,activation,shape,fragment",
    [
        ("nope", "relu", (10,), "unknown model"),
        ("mlp", "relu", (1, 28, 28), "takes tabular data"),
        ("resnet18", "relu", (10,), "takes images"),
        ("xresnet18", "relu", (3, 4, 4), "at least 16x16"),
        ("mlp", "nope", (10,), "unknown activation"),
        ("mlp", "relu", (0,), "non-positive"),
    ],
)
def test_bad_inputs_are_user_errors(name, activation, shape, fragment):
    with pytest.raises(UserError) as e:
        build_model(name, activation, shape, 10)
    assert fragment in str(e.value) and "\n" not in str(e.value)
    if fragment == "unknown model":
        assert all(n in str(e.value) for n in model_names())


def test_other_input_shapes():
    """Grayscale into a CIFAR model, and each image model at its minimum size, give the right shape."""
    with torch.no_grad():
        model = build_model("resnet18_tv", "relu", (1, 28, 28), 10).eval()
        assert model(torch.randn(1, 1, 28, 28)).shape == (1, 10)
        model = build_model("wrn22", "relu", (1, 28, 28), 3).eval()
        assert model(torch.randn(1, 1, 28, 28)).shape == (1, 3)


def test_zoo_command(cli):
    r = cli("zoo")
    assert r.code == 0, r.err
    for name in activation_names() + model_names():
        assert name in r.out
    assert "11,173,962" in r.out and "6,956,298" in r.out
    assert "tact          2" in r.out
