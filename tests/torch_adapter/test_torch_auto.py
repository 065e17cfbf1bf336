"""scheme="auto": each layer's scheme from the nonlinearity that consumes its output."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (pip install initlab[torch])")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from initlab.torch import init_, trace_forward  # noqa: E402


class Functional(nn.Module):
    """fc1 -> (optional norm) -> act written as ``how`` -> fc2."""

    def __init__(self, how, norm=None):
        super().__init__()
        self.fc1 = nn.Linear(6, 6)
        self.norm = norm
        self.fc2 = nn.Linear(6, 2)
        self.how = how

    def forward(self, x):
        h = self.fc1(x)
        if self.norm is not None:
            h = self.norm(h)
        return self.fc2(self.how(h))


def _relu_method(h):
    return h.relu()


def _relu_inplace(h):
    return h.relu_()


WAYS = [
    ("F.relu", F.relu, "he_normal", "F.relu in Functional.forward"),
    ("x.relu()", _relu_method, "he_normal", "x.relu() in _relu_method"),
    ("x.relu_()", _relu_inplace, "he_normal", "x.relu_() in _relu_inplace"),
    ("torch.relu", torch.relu, "he_normal", "torch.relu in Functional.forward"),
    ("F.gelu", F.gelu, "he_normal", "F.gelu in Functional.forward"),
    ("F.silu", F.silu, "he_normal", "F.silu in Functional.forward"),
    ("torch.tanh", torch.tanh, "glorot_uniform", "torch.tanh in Functional.forward"),
    ("torch.sigmoid", torch.sigmoid, "glorot_uniform", "torch.sigmoid in Functional.forward"),
    ("F.selu", F.selu, "lecun_normal", "F.selu in Functional.forward"),
    ("nn.ReLU", nn.ReLU(), "he_normal", "nn.ReLU 'how'"),
    ("nn.ReLU(inplace)", nn.ReLU(inplace=True), "he_normal", "nn.ReLU 'how'"),
    ("nn.GELU", nn.GELU(), "he_normal", "nn.GELU 'how'"),
    ("nn.SiLU", nn.SiLU(), "he_normal", "nn.SiLU 'how'"),
    ("nn.Tanh", nn.Tanh(), "glorot_uniform", "nn.Tanh 'how'"),
    ("nn.Sigmoid", nn.Sigmoid(), "glorot_uniform", "nn.Sigmoid 'how'"),
    ("nn.SELU", nn.SELU(), "lecun_normal", "nn.SELU 'how'"),
    ("nn.LeakyReLU(0.2)", nn.LeakyReLU(0.2), "variance_scaling(scale=1.92307692308)",
     "nn.LeakyReLU 'how' (a=0.2)"),
    ("F.leaky_relu(0.3)", lambda h: F.leaky_relu(h, 0.3),
     "variance_scaling(scale=1.83486238532)", "F.leaky_relu (a=0.3) in <lambda>"),
]


@pytest.mark.parametrize("way", WAYS, ids=[w[0] for w in WAYS])
def test_auto_finds_the_activation_however_it_is_written(way):
    _, how, scheme, found = way
    model = Functional(how)
    plan = init_(model, seed=0, example=torch.zeros(3, 6))
    row = plan["fc1.weight"]
    assert row.scheme == scheme
    assert row.reason == f"auto -> {scheme}: {found}"
    assert plan["fc2.weight"].scheme == "glorot_uniform"  # reaches the output: linear


@pytest.mark.parametrize("norm", [nn.LayerNorm(6), nn.BatchNorm1d(6)], ids=["ln", "bn"])
def test_auto_looks_through_norm_layers(norm):
    plan = init_(Functional(F.relu, norm), seed=0, example=torch.zeros(3, 6))
    assert plan["fc1.weight"].scheme == "he_normal"
    assert plan["norm.weight"].scheme == "ones" and plan["norm.bias"].scheme == "zeros"


def test_auto_in_sequential_through_conv_bn_dropout_reshape():
    m = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Dropout(0.1), nn.Tanh(),
                      nn.Flatten(), nn.Linear(4 * 6 * 6, 5), nn.ReLU(), nn.Linear(5, 1))
    from initlab.errors import ConfigError

    with pytest.raises(ConfigError, match="a guessed input; pass example="):
        init_(m, seed=0)  # the guess from the first layer is 16x16; this net needs 8x8
    plan = init_(m, seed=0, example=torch.zeros(2, 3, 8, 8))
    assert plan.traced == "(2, 3, 8, 8) float32"
    assert [plan[n].scheme for n in ("0.weight", "5.weight", "7.weight")] == [
        "glorot_uniform", "he_normal", "glorot_uniform"]
    assert plan["0.weight"].reason == "auto -> glorot_uniform: nn.Tanh '3'"


def test_tracing_leaves_modes_and_buffers_alone():
    m = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.ReLU())
    m.train()
    m[1].eval()
    before = m[1].running_mean.clone(), int(m[1].num_batches_tracked)
    trace_forward(m, torch.randn(8, 4))
    assert m.training and m[0].training and not m[1].training
    assert torch.equal(m[1].running_mean, before[0])
    assert int(m[1].num_batches_tracked) == before[1]


def test_residual_branches_and_execution_order_are_found():
    from initlab.torch.zoo import ResNet

    t = trace_forward(ResNet(blocks=(1, 1), width=4), torch.zeros(1, 3, 8, 8))
    assert [r.layers for r in t.residuals] == [
        ("stages.0.0.conv1", "stages.0.0.conv2"), ("stages.1.0.conv1", "stages.1.0.conv2")]
    assert t.residuals[1].shortcut == ("stages.1.0.shortcut",)
    assert [r.norms[-1] for r in t.residuals] == ["stages.0.0.bn2", "stages.1.0.bn2"]
    assert t.consumers["stages.0.0.conv2"].activation == "relu"  # bn2 -> + x -> relu


def test_a_failing_forward_is_a_config_error():
    from initlab.errors import ConfigError

    with pytest.raises(ConfigError, match=r"running Sequential on an input \(2, 5\)"):
        init_(nn.Sequential(nn.Linear(4, 4)), example=torch.zeros(2, 5))
