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


# "run": the forward runs on an example; "fx": no example, the torch.fx graph is read
HOW = {"run": {"example": torch.zeros(3, 6)}, "fx": {}}


@pytest.mark.parametrize("method", sorted(HOW))
@pytest.mark.parametrize("way", WAYS, ids=[w[0] for w in WAYS])
def test_auto_finds_the_activation_however_it_is_written(way, method):
    _, how, scheme, found = way
    model = Functional(how)
    plan = init_(model, seed=0, **HOW[method])
    row = plan["fc1.weight"]
    assert row.scheme == scheme
    assert row.reason == f"auto -> {scheme}: {found}"
    assert plan["fc2.weight"].scheme == "glorot_uniform"  # reaches the output: linear
    assert plan.traced.startswith("torch.fx") == (method == "fx")
    assert ("torch.fx symbolic trace" in plan.table()) == (method == "fx")


NORM_WAYS = [nn.LayerNorm(6), nn.BatchNorm1d(6), nn.GroupNorm(2, 6), nn.Dropout(0.5)]


@pytest.mark.parametrize("method", sorted(HOW))
@pytest.mark.parametrize("norm", NORM_WAYS, ids=["ln", "bn", "gn", "dropout"])
def test_auto_looks_through_norm_layers_and_dropout(norm, method):
    plan = init_(Functional(F.relu, norm), seed=0, **HOW[method])
    assert plan["fc1.weight"].scheme == "he_normal"
    assert plan["fc1.weight"].reason == "auto -> he_normal: F.relu in Functional.forward"
    if not isinstance(norm, nn.Dropout):
        assert plan["norm.weight"].scheme == "ones" and plan["norm.bias"].scheme == "zeros"


class Reshaped(nn.Module):
    """conv -> reshapes, a residual add and pooling -> activation; and an unused layer."""

    def __init__(self, act):
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, padding=1)
        self.skip = nn.Conv2d(2, 4, 1)
        self.unused = nn.Linear(3, 3)
        self.head = nn.Linear(4 * 2 * 2, 2)
        self.act = act

    def forward(self, x):
        h = self.conv(x) + self.skip(x)
        h = F.max_pool2d(h, 2).flatten(1).view(-1, 4, 2, 2).permute(0, 1, 3, 2)
        return self.head(self.act(h).reshape(h.shape[0], -1))


@pytest.mark.parametrize("method", ["run", "fx"])
def test_both_methods_agree_through_reshapes_adds_and_pooling(method):
    kw = {"example": torch.zeros(2, 2, 4, 4)} if method == "run" else {}
    plan = init_(Reshaped(nn.LeakyReLU(0.1)), seed=0, **kw)
    g2 = float(f"{2 / (1 + 0.1 ** 2):.12g}")  # LeakyReLU(a)'s gain^2 = 2 / (1 + a^2)
    want = f"variance_scaling(scale={g2!r})"
    assert plan["conv.weight"].scheme == want and plan["skip.weight"].scheme == want
    assert plan["conv.weight"].reason == f"auto -> {want}: nn.LeakyReLU 'act' (a=0.1)"
    assert plan["unused.weight"].reason.endswith("not run by the traced forward")
    assert plan["head.weight"].scheme == "glorot_uniform"


class DataDependent(nn.Module):
    """Python control flow on a tensor's value: torch.fx cannot trace it."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(6, 6)
        self.fc2 = nn.Linear(6, 2)

    def forward(self, x):
        h = self.fc1(x)
        if x.sum() > 0:
            return self.fc2(F.gelu(h))
        return self.fc2(torch.tanh(h))


def test_a_model_fx_cannot_trace_falls_back_to_running_the_forward_and_says_so():
    from initlab.torch.fx_trace import FxError, fx_trace

    with pytest.raises(FxError, match="torch.fx could not trace DataDependent"):
        fx_trace(DataDependent())
    m = DataDependent()
    plan = init_(m, seed=0)
    (note,) = [n for n in plan.notes if "torch.fx" in n]
    assert note.startswith("torch.fx could not trace DataDependent (TraceError: ")
    assert "ran the forward on a guessed input (2, 6) float32 (guessed) instead" in note
    assert plan.traced == "(2, 6) float32 (guessed)"
    guess = torch.randn(2, 6, generator=torch.Generator().manual_seed(0))  # example_input's
    branch = "gelu" if guess.sum() > 0 else "tanh"  # the guess decides; the plan follows it
    assert plan["fc1.weight"].reason.startswith("auto -> " + (
        "he_normal: F.gelu" if branch == "gelu" else "glorot_uniform: torch.tanh"))
    assert f"note: {note}" in plan.table()


def test_fx_passes_the_forwards_optional_arguments_at_their_defaults():
    class WithTargets(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)

        def forward(self, x, targets=None):
            y = torch.sigmoid(self.fc(x))
            if targets is not None:
                return ((y - targets) ** 2).mean()
            return y

    plan = init_(WithTargets(), seed=0)
    assert plan.traced.startswith("torch.fx")
    assert plan["fc.weight"].reason == "auto -> glorot_uniform: torch.sigmoid in " \
        "WithTargets.forward"


def test_fx_and_running_give_the_same_plan_and_numbers_on_the_zoo_models():
    from initlab.torch.zoo import GPT, GPTConfig, ResNet

    cases = [(ResNet(blocks=(1, 1), width=4), torch.zeros(1, 3, 8, 8)),
             (GPT(GPTConfig(vocab_size=40, block_size=8, n_layer=2, n_head=2, n_embd=8)),
              torch.zeros(1, 4, dtype=torch.long))]
    for model, x in cases:
        a = init_(model, seed=1)
        after_fx = {k: v.clone() for k, v in model.state_dict().items()}
        b = init_(model, seed=1, example=x)
        for k, v in model.state_dict().items():  # same choices, same seed: same numbers
            assert torch.equal(v, after_fx[k]), k
        assert a.traced.startswith("torch.fx") and not b.traced.startswith("torch.fx")
        assert [(r.parameter, r.scheme) for r in a.entries] == [
            (r.parameter, r.scheme) for r in b.entries]
        for ra, rb in zip(a.entries, b.entries, strict=True):  # same words where it matters
            if "relu" in rb.reason or "gelu" in rb.reason.lower():
                assert ra.reason == rb.reason
            elif "F.linear" in rb.reason or "F.conv" in rb.reason:  # fx names the module
                assert "nn.Linear '" in ra.reason or "nn.Conv2d '" in ra.reason


def test_auto_in_sequential_through_conv_bn_dropout_reshape():
    m = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Dropout(0.1), nn.Tanh(),
                      nn.Flatten(), nn.Linear(4 * 6 * 6, 5), nn.ReLU(), nn.Linear(5, 1))
    from initlab.errors import ConfigError

    with pytest.raises(ConfigError, match="a guessed input; pass example="):
        init_(m, "zero_init_residual", seed=0)  # runs on the guess (16x16); it needs 8x8
    plan = init_(m, seed=0, example=torch.zeros(2, 3, 8, 8))
    assert plan.traced == "(2, 3, 8, 8) float32"
    assert [plan[n].scheme for n in ("0.weight", "5.weight", "7.weight")] == [
        "glorot_uniform", "he_normal", "glorot_uniform"]
    assert plan["0.weight"].reason == "auto -> glorot_uniform: nn.Tanh '3'"
    fx = init_(m, seed=0)  # torch.fx needs no input, so no shape to guess
    assert fx.traced.startswith("torch.fx") and fx.notes == ()
    assert [(r.scheme, r.reason) for r in fx.entries] == [
        (r.scheme, r.reason) for r in plan.entries]


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
