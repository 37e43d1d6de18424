"""The activation registry: formulas at reference points, TAct/mTAct properties, seeding, user classes."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from noisebench.errors import UserError
from noisebench.harness.activations.mtact import MTAct
from noisebench.harness.activations.resolve import (
    ACTIVATIONS,
    activation_names,
    count_trainable,
    resolve_activation,
)
from noisebench.harness.activations.tact import TAct
from noisebench.registry import ACTIVATIONS as ACTIVATIONS_REGISTRY


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


POINTS = torch.tensor([-6.0, -2.0, -1.0, -0.5, -1e-3, 0.0, 1e-3, 0.5, 1.0, 2.0, 6.0], dtype=torch.float64)


def _sig(x):
    return 1.0 / (1.0 + math.exp(-x))


def _phi(x):
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


# Scalar reference formulas, written independently of torch.
REFERENCE = {
    "relu": lambda x: max(0.0, x),
    "leaky_relu": lambda x: x if x > 0 else 0.01 * x,
    "prelu": lambda x: x if x > 0 else 0.25 * x,  # PReLU's default init slope
    "elu": lambda x: x if x > 0 else math.exp(x) - 1.0,
    "sigmoid": _sig,
    "tanh": math.tanh,
    "softsign": lambda x: x / (1.0 + abs(x)),
    "swish": lambda x: x * _sig(x),
    "mish": lambda x: x * math.tanh(math.log1p(math.exp(x))),
    "gelu": lambda x: x * _phi(x),
}


def tact_reference(x: float, alpha: float, beta: float) -> float:
    """docs/STUDIES.md §4, the original (A, B, C) form."""
    a, b, c = alpha / 2, 0.5 - alpha / 2, (1 + beta) / 2
    return (a * x + b) * (math.tanh(c * x) + 1)


def _make(name: str, **params) -> nn.Module:
    m = ACTIVATIONS[name].factory().double()
    with torch.no_grad():
        for k, v in params.items():
            getattr(m, k).fill_(v)
    return m


def test_registry_names():
    assert activation_names() == [
        "relu", "leaky_relu", "prelu", "elu", "sigmoid", "tanh", "softsign", "swish", "mish", "gelu", "tact", "mtact",
    ]
    for name, spec in ACTIVATIONS.items():
        assert spec.name == name and spec.description
        a, b = spec.factory(), spec.factory()
        assert isinstance(a, nn.Module) and a is not b


def test_listing_order_is_the_declared_order_not_the_import_order():
    """Built-ins declare `order=`; the registry lists them by it once they are loaded (this module imported
    mtact.py and tact.py before the walk, yet they come last), then entries without one in registration order."""
    from noisebench.registry import Registry
    from noisebench.registry.specs import ActivationSpecMeta

    reg = Registry("activation", spec=ActivationSpecMeta)
    for name, order in (("late", None), ("second", 20), ("first", 10), ("later", None)):
        reg.register(name, nn.Identity, module="noisebench.test", order=order)
    assert reg.names() == ["first", "second", "late", "later"]
    assert [ACTIVATIONS_REGISTRY.get(n).meta["order"] for n in activation_names()] == list(range(10, 130, 10))


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_formula_at_reference_points(name):
    m = _make(name)
    got = m(POINTS)
    want = torch.tensor([REFERENCE[name](float(x)) for x in POINTS], dtype=torch.float64)
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("alpha,beta", [(0.0, 0.0), (0.3, 0.2), (1.0, 0.0), (1.0, 2.5), (-0.7, 1.3), (2.0, -0.5)])
def test_tact_matches_spec_formula(alpha, beta):
    got = _make("tact", alpha=alpha, beta=beta)(POINTS)
    want = torch.tensor([tact_reference(float(x), alpha, beta) for x in POINTS], dtype=torch.float64)
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("alpha,beta", [(0.0, 0.0), (0.3, 0.2), (-0.7, 1.3)])
def test_mtact_is_tact_with_squared_parameters(alpha, beta):
    got = _make("mtact", alpha=alpha, beta=beta)(POINTS)
    want = torch.tensor([tact_reference(float(x), alpha**2, beta**2) for x in POINTS], dtype=torch.float64)
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-12)


def test_tact_special_cases():
    x = POINTS
    # alpha = 1, beta = 0: exactly Swish / SiLU.
    torch.testing.assert_close(_make("tact", alpha=1.0, beta=0.0)(x), nn.SiLU()(x))
    # alpha = 1: Swish with slope 1 + beta.
    for beta in (0.5, 3.0):
        torch.testing.assert_close(_make("tact", alpha=1.0, beta=beta)(x), x * torch.sigmoid((1 + beta) * x))
    # alpha = 1, beta -> inf: ReLU (away from the kink).
    far = x[x.abs() >= 0.5]
    torch.testing.assert_close(_make("tact", alpha=1.0, beta=1e4)(far), torch.relu(far), rtol=0, atol=1e-12)
    # alpha = 0: a sigmoid (shifted tanh) with slope 1 + beta.
    for beta in (0.0, 1.0):
        torch.testing.assert_close(_make("tact", alpha=0.0, beta=beta)(x), torch.sigmoid((1 + beta) * x))
    # mTAct with alpha = +-1, beta = 0 is Swish too.
    torch.testing.assert_close(_make("mtact", alpha=-1.0, beta=0.0)(x), nn.SiLU()(x))


@pytest.mark.parametrize("cls", [TAct, MTAct])
def test_gradients_reach_alpha_and_beta(cls):
    m = cls(alpha=0.3, beta=0.2)
    x = torch.linspace(-3, 3, 13, requires_grad=True)
    m(x).pow(2).sum().backward()
    for p in (m.alpha, m.beta):
        assert p.grad is not None and torch.isfinite(p.grad) and p.grad.abs() > 0
    assert torch.isfinite(x.grad).all()
    assert count_trainable(m) == 2


@pytest.mark.parametrize("name", activation_names())
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_finite_for_large_inputs(name, dtype):
    m = ACTIVATIONS[name].factory()
    x = torch.tensor([-1e4, -1e3, -30.0, 0.0, 30.0, 1e3, 1e4], dtype=dtype, requires_grad=True)
    if dtype is torch.bfloat16:
        m = m.to(dtype) if name == "prelu" else m  # PReLU's weight must match; TAct's 0-dim params need not
    y = m(x)
    assert y.dtype == dtype
    assert torch.isfinite(y).all(), y
    y.float().sum().backward()
    assert torch.isfinite(x.grad).all(), x.grad


def test_tact_bf16_keeps_float32_params_and_close_values():
    m = TAct(alpha=0.4, beta=0.3)
    x = torch.linspace(-4, 4, 17)
    y16 = m(x.bfloat16())
    assert y16.dtype == torch.bfloat16 and m.alpha.dtype == torch.float32
    torch.testing.assert_close(y16.float(), m(x), rtol=2e-2, atol=2e-2)


def test_init_is_per_module_and_seeded():
    torch.manual_seed(0)
    mods = [TAct() for _ in range(4)] + [MTAct() for _ in range(4)]
    values = [(m.alpha.item(), m.beta.item()) for m in mods]
    for a, b in values:
        assert 0.0 <= a < 0.5 and 0.0 <= b < 0.5
    assert len(set(values)) == len(values), "every module must start from its own draw (original bug)"
    torch.manual_seed(0)
    again = [(m.alpha.item(), m.beta.item()) for m in [TAct() for _ in range(4)] + [MTAct() for _ in range(4)]]
    assert again == values
    torch.manual_seed(1)
    assert TAct().alpha.item() != values[0][0]


def test_tact_compiles_without_graph_breaks():
    dynamo = pytest.importorskip("torch._dynamo")
    m = TAct(alpha=0.2, beta=0.1)
    explanation = dynamo.explain(m)(torch.randn(8))
    assert explanation.graph_break_count == 0 and explanation.graph_count == 1
    dynamo.reset()


# ---- resolve_activation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "given,want",
    [("relu", nn.ReLU), ("ReLU", nn.ReLU), (" TAct ", TAct), ("MTACT", MTAct), ("silu", nn.SiLU), ("SiLU", nn.SiLU),
     ("swish", nn.SiLU), ("leakyrelu", nn.LeakyReLU), ("LeakyReLU", nn.LeakyReLU), ("leaky-relu", nn.LeakyReLU),
     ("GELU", nn.GELU)],
)
def test_resolve_names_and_aliases(given, want):
    assert isinstance(resolve_activation(given)(), want)


def test_resolve_unknown_lists_valid_names():
    with pytest.raises(UserError) as e:
        resolve_activation("swishy")
    msg = str(e.value)
    assert "swishy" in msg and "\n" not in msg
    for name in activation_names():
        assert name in msg
    assert "module:Class" in msg.replace("pkg.module:ClassName", "module:Class")


def test_resolve_user_class():
    factory = resolve_activation("torch.nn:Hardswish")
    assert factory is nn.Hardswish and isinstance(factory(), nn.Hardswish)
    assert resolve_activation("noisebench.harness.activations.tact:TAct") is TAct


def test_resolve_user_class_does_not_consume_rng():
    torch.manual_seed(3)
    want = torch.rand(())
    torch.manual_seed(3)
    resolve_activation("noisebench.harness.activations.mtact:MTAct")  # constructed once to validate, RNG forked
    assert torch.rand(()) == want


@pytest.mark.parametrize(
    "ref,fragment",
    [
        ("no_such_pkg_xyz.mod:Act", "cannot import module"),
        ("torch.nn:NoSuchAct", "has no attribute"),
        ("math:pi", "not a torch.nn.Module subclass"),
        ("torch.nn:functional", "not a torch.nn.Module subclass"),
        ("torch.nn:Linear", "cannot be constructed without arguments"),
        ("torch.nn:", "expected pkg.module:ClassName"),
        ("", "non-empty"),
    ],
)
def test_resolve_user_class_errors(ref, fragment):
    with pytest.raises(UserError) as e:
        resolve_activation(ref)
    assert fragment in str(e.value) and "\n" not in str(e.value)
