"""initlab.torch.inspect on real torch models: findings, names, theory, and no side effects."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import initlab.torch as it  # noqa: E402
from initlab.diagnose import Report  # noqa: E402


def _batch(n=256, d=32, classes=10, seed=100):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g), torch.randint(0, classes, (n,), generator=g)


def _images(n=64, seed=100):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 16, 16, generator=g), torch.randint(0, 10, (n,), generator=g)


def _codes(rep):
    return {f.code for f in rep.findings}


def test_dead_conv_is_named(zoo):
    m = zoo["cnn"]()
    with torch.no_grad():
        m.conv2.bias.fill_(-10.0)
    rep = it.inspect(m, *_images(), verify=False)
    dead = [f for f in rep.findings if f.code == "dead_units"]
    assert dead and dead[0].layer_name == "conv2" and dead[0].value == 1.0
    assert dead[0].message.startswith("conv2: ")
    assert "'conv2.weight': 'he_normal'" in dead[0].recommendation
    st = {s.name: s for s in rep.stats}
    assert st["conv1"].dead_fraction[0] == 0.0 and st["conv2"].positions == 256


def test_tanh_mlp_vanishes_and_the_fix_is_verified(zoo):
    pytest.importorskip("initlab.torch.init")
    x, y = _batch()
    rep = it.inspect(zoo["mlp"](20, 64, nn.Tanh, 0.01), x, y)
    assert {"vanishing_activations", "vanishing_gradients"} <= _codes(rep)
    rec = rep.findings[0].recommendation
    assert "initlab.torch.init_(model" in rec and "verified on this batch" in rec
    # the printed call, run for real, leaves a healthy network
    m = zoo["mlp"](20, 64, nn.Tanh, 0.01)
    it.init_(m, "auto", seed=0)
    assert it.inspect(m, x, y).findings == []


def test_tanh_mlp_theory_beside_measurement(zoo):
    x, y = _batch()
    rep = it.inspect(zoo["mlp"](6, 256, nn.Tanh, 1.5 / 16), x, y, verify=False)
    assert isinstance(rep, Report) and rep.mean_field[0] is not None
    measured, predicted = rep.measured_q()[:, 0], rep.predicted_q[:, 0]
    # width 256, 256 samples: the measured q is within a few % of the mean-field one
    np.testing.assert_allclose(measured, predicted, rtol=0.08)


@pytest.mark.parametrize("which", ["he_mlp", "resnet", "cnn_bn"])
def test_healthy_models_have_no_findings(zoo, which):
    if which == "he_mlp":
        m, (x, y) = zoo["mlp"](8, 128, nn.ReLU, None), _batch()
    elif which == "resnet":
        m, (x, y) = zoo["resnet"](), _images()
    else:
        m, (x, y) = zoo["cnn"](batchnorm=True), _images()
    rep = it.inspect(m, x, y)
    assert rep.findings == [], str(rep)
    if which == "resnet":
        names = [s.name for s in rep.stats]
        assert names[:3] == ["stem", "stages.0.0.conv1", "stages.0.0.conv2"]
        assert "stages.1.0.shortcut" in names and names[-1] == "fc"
        assert np.isnan(rep.predicted_q[1:]).all()  # BatchNorm: no mean-field chain


def test_transformer_encoder_end_to_end():
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(32, 4, 64, batch_first=True)
    enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
    x = torch.randn(8, 10, 32)
    rep = it.inspect(enc, x, loss_fn=lambda out: out.pow(2).mean())
    assert [s.name for s in rep.stats] == ["layers.0.linear1", "layers.0.linear2",
                                           "layers.1.linear1", "layers.1.linear2"]
    assert rep.stats[0].activation == "relu" and rep.stats[0].positions == 10
    assert rep.stats[0].has_gradients and np.all(rep.stats[0].grad_W_norm > 0)


def test_gpt_tuple_and_dict_outputs(zoo):
    torch.manual_seed(0)
    g = zoo["gpt"]()
    idx, targets = torch.randint(0, 64, (8, 16)), torch.randint(0, 64, (8, 16))
    by_tuple = it.inspect(g, (idx, targets), loss_fn=lambda out: out[1])  # (logits, loss)
    by_dict = it.inspect(g, idx, targets)  # {"logits": ...} with the default cross-entropy
    names = [s.name for s in by_dict.stats]
    assert names[:4] == ["lm.blocks.0.attn.c_attn", "lm.blocks.0.attn.c_proj",
                         "lm.blocks.0.mlp.c_fc", "lm.blocks.0.mlp.c_proj"]
    assert by_dict.stats[2].activation == "gelu" and names[-1] == "lm.lm_head"
    assert by_tuple.loss[0] == pytest.approx(by_dict.loss[0], rel=1e-6)
    assert by_tuple.loss[0] == pytest.approx(math.log(64), rel=0.02)  # near-uniform at init
    assert by_dict.findings == [], str(by_dict)


class Twice(nn.Module):
    def __init__(self):
        super().__init__()
        self.shared = nn.Linear(16, 16)
        self.head = nn.Linear(16, 2)

    def forward(self, x):
        return self.head(torch.tanh(self.shared(torch.relu(self.shared(x)))))


def test_a_module_called_twice_is_recorded_per_call():
    torch.manual_seed(0)
    rep = it.inspect(Twice(), *_batch(d=16, classes=2), verify=False)
    assert [(s.name, s.activation) for s in rep.stats] == [
        ("shared", "relu"), ("shared#2", "tanh"), ("head", "linear")]
    assert rep.stats[0].pre_std[0] != rep.stats[1].pre_std[0]


class InPlace(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(16, 32)
        self.b = nn.Linear(32, 32)
        self.c = nn.Linear(32, 2)

    def forward(self, x):
        h = self.a(x)
        h.relu_()                        # the result is read through h, not the return value
        h2 = self.b(h)
        nn.functional.relu(h2, inplace=True)
        return self.c(h2)


def test_in_place_activations_keep_their_semantics():
    torch.manual_seed(0)
    m = InPlace()
    x, y = _batch(d=16, classes=2)
    with torch.no_grad():
        expected = nn.functional.cross_entropy(m(x), y).item()
        z = m.a(x)
    rep = it.inspect(m, x, y, verify=False)
    assert [s.activation for s in rep.stats] == ["relu", "relu", "linear"]
    assert rep.loss[0] == pytest.approx(expected, rel=1e-6)
    assert rep.stats[0].pre_mean[0] == pytest.approx(z.mean().item(), rel=1e-5)  # z, not a(z)
    assert rep.stats[0].post_mean[0] == pytest.approx(z.relu().mean().item(), rel=1e-5)
    assert rep.stats[0].grad_pre_rms[0] > 0


def test_parameters_grads_buffers_mode_and_rng_are_unchanged(zoo):
    torch.manual_seed(0)
    m = zoo["resnet"]()
    x, y = _images(16)
    nn.functional.cross_entropy(m(x), y).backward()  # the user's own gradients
    m.stages[0].eval()  # a mixed mode
    params = {k: v.detach().clone() for k, v in m.named_parameters()}
    grads = {k: v.grad.clone() for k, v in m.named_parameters()}
    buffers = {k: v.clone() for k, v in m.named_buffers()}
    modes = {k: v.training for k, v in m.named_modules()}
    rng = torch.get_rng_state()
    with torch.no_grad():
        m.stages[1][0].bn1.bias.fill_(-10.0)  # something to find and fix
    params["stages.1.0.bn1.bias"] = m.stages[1][0].bn1.bias.detach().clone()
    rep = it.inspect(m, x, y)
    dead = [f.layer_name for f in rep.findings if f.code == "dead_units"]
    assert dead == ["stages.1.0.conv1"]
    for k, v in m.named_parameters():
        assert torch.equal(v, params[k]) and torch.equal(v.grad, grads[k]), k
    for k, v in m.named_buffers():
        assert torch.equal(v, buffers[k]), k
    assert {k: v.training for k, v in m.named_modules()} == modes
    assert torch.equal(torch.get_rng_state(), rng)


@pytest.mark.parametrize("name", ["inspect", "trace"])
def test_docstring_examples(name):
    import doctest
    import sys

    mod = sys.modules[f"initlab.torch.{name}"]
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_the_fix_keeps_every_other_parameter(zoo):
    m = zoo["cnn"]()
    with torch.no_grad():
        m.conv2.bias.fill_(-10.0)
    rep = it.inspect(m, *_images())
    rec = rep.findings[0].recommendation
    assert rec.startswith("Fix, verified on this batch") and "'*': 'keep'" in rec
    from initlab.torch.inspect import apply_fix, propose_fix

    fix = propose_fix(m, rep)
    before = {k: v.detach().clone() for k, v in m.named_parameters()}
    apply_fix(m, fix)
    changed = {k for k, v in m.named_parameters() if not torch.equal(v, before[k])}
    assert "conv2.bias" in changed and changed <= {f"{mod}.{p}" for mod in
                                                     {k.rsplit(".", 1)[0] for k in fix.rules
                                                      if k != "*"} for p in ("weight", "bias")}
    assert it.inspect(m, *_images()).findings == []


def test_bad_input_is_a_config_error(zoo):
    import initlab

    with pytest.raises(initlab.ConfigError, match="torch.nn.Module"):
        it.inspect(object(), torch.zeros(2, 2))
    with pytest.raises(initlab.ConfigError, match="lr must be a positive number; got -1"):
        it.inspect(zoo["mlp"](1, 4, nn.ReLU, None), *_batch(), lr=-1)
    with pytest.raises(initlab.ConfigError, match="no Linear or Conv"):
        it.inspect(nn.ReLU(), torch.zeros(2, 2))
