"""Fans of every layer kind, and the physical test: the right fans keep the second moment.

For each layer the forward test feeds z ~ N(0, 1) through the layer initialized by initlab's
lecun_normal and by torch.nn.init.kaiming_normal_(nonlinearity="linear") (the same rule,
Var[w] = 1 / fan_in, each with its own fans) and compares E[y^2] with E[z^2] (LeCun et al.
1998, He et al. 2015: equal when fan_in is right). A zero-mean input keeps the check tight:
E[y^2 | w] is the mean over output channels of sum(w^2), whose spread is sqrt(2 / (fan_in *
out)), about 3 % here, so a +-10 % band fails only on a wrong fan (a stride-2 ConvTranspose2d's
is 4x off). He on relu(z) is printed beside it. The backward test sends
g ~ N(0, 1) back through a linear layer initialized with Var[w] = 1 / fan_out and compares
E[(dL/dx)^2] with E[g^2]. Both print torch's ratio beside initlab's (run with -s to see).
"""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (pip install initlab[torch])")
from torch import nn  # noqa: E402

from initlab.torch import init_, walk  # noqa: E402

TOL = 0.10

# (id, layer factory, input shape, crop): crop trims the output border a ConvTranspose's
# partial overlaps make thin (k - 1 per side)
CASES = [
    ("linear", lambda: nn.Linear(256, 256), (512, 256), 0),
    ("conv1d", lambda: nn.Conv1d(16, 32, 5), (8, 16, 256), 0),
    ("conv2d", lambda: nn.Conv2d(16, 32, 3), (4, 16, 24, 24), 0),
    ("conv2d_grouped", lambda: nn.Conv2d(16, 32, 3, groups=4), (4, 16, 24, 24), 0),
    ("conv2d_depthwise", lambda: nn.Conv2d(32, 32, 3, groups=32), (4, 32, 24, 24), 0),
    ("conv2d_stride2", lambda: nn.Conv2d(16, 32, 3, stride=2), (4, 16, 25, 25), 0),
    ("conv3d", lambda: nn.Conv3d(8, 16, 3), (2, 8, 12, 12, 12), 0),
    ("conv_transpose2d_s1", lambda: nn.ConvTranspose2d(16, 32, 3), (4, 16, 24, 24), 2),
    ("conv_transpose2d_s2", lambda: nn.ConvTranspose2d(16, 32, 4, stride=2), (4, 16, 24, 24), 3),
    ("conv_transpose2d_s2_k3", lambda: nn.ConvTranspose2d(16, 32, 3, stride=2), (4, 16, 24, 24),
     2),
    ("conv_transpose1d_s2", lambda: nn.ConvTranspose1d(16, 32, 4, stride=2), (8, 16, 256), 3),
    ("conv_transpose3d_s2", lambda: nn.ConvTranspose3d(16, 16, 2, stride=2), (2, 16, 8, 8, 8),
     1),
]


def _crop(y, c):
    if not c:
        return y
    idx = (slice(None), slice(None)) + (slice(c, -c),) * (y.dim() - 2)
    return y[idx]


def _forward_ratio(layer, shape, crop, gen, relu=False):
    z = torch.randn(*shape, generator=gen, dtype=torch.float64)
    with torch.no_grad():
        y = layer.double()(torch.relu(z) if relu else z)
    return float(_crop(y, crop).pow(2).mean() / z.pow(2).mean())


def _backward_ratio(layer, shape, crop, gen):
    layer = layer.double()
    x = torch.randn(*shape, generator=gen, dtype=torch.float64, requires_grad=True)
    y = layer(x)
    g = torch.randn(y.shape, generator=gen, dtype=torch.float64)
    (y * g).sum().backward()
    gx = _crop(x.grad, crop + 2)  # inputs near the border feed fewer outputs
    return float(gx.pow(2).mean() / g.pow(2).mean())


def _torch_init(layer, **kw):
    torch.manual_seed(0)
    nn.init.kaiming_normal_(layer.weight, **kw)
    nn.init.zeros_(layer.bias)
    return layer


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_fan_in_keeps_the_second_moment_forward(case):
    name, make, shape, crop = case
    ratios = []
    for scheme, kw, relu in (("lecun_normal", "linear", False), ("he_normal", "relu", True)):
        ours = make()
        init_(ours, scheme, seed=0)
        r_ours = _forward_ratio(ours, shape, crop, torch.Generator().manual_seed(0), relu)
        r_torch = _forward_ratio(_torch_init(make(), nonlinearity=kw), shape, crop,
                                 torch.Generator().manual_seed(0), relu)
        ratios.append((r_ours, r_torch))
    (r_ours, r_torch), (he_ours, he_torch) = ratios
    print(f"\n[forward {name}] E[y^2]/E[x^2]: initlab {r_ours:.3f}  torch.nn.init "
          f"{r_torch:.3f}  (He on ReLU: initlab {he_ours:.3f}  torch {he_torch:.3f})")
    assert abs(r_ours - 1.0) <= TOL, (name, r_ours, r_torch)
    if name.startswith("conv_transpose"):  # torch reads dim 1 as fan_in: pytorch issue 7865
        assert abs(r_torch - 1.0) > TOL


BACKWARD = [c for c in CASES if not c[0].startswith("conv_transpose")] + [
    ("conv_transpose2d_s2", lambda: nn.ConvTranspose2d(16, 32, 4, stride=2), (4, 16, 24, 24),
     0),
]


@pytest.mark.parametrize("case", BACKWARD, ids=[c[0] for c in BACKWARD])
def test_fan_out_keeps_the_gradient_second_moment(case):
    name, make, shape, crop = case
    gen = torch.Generator().manual_seed(1)
    ours = make()
    init_(ours, "variance_scaling(scale=1, mode=fan_out)", seed=0)
    r_ours = _backward_ratio(ours, shape, crop, gen)
    gen = torch.Generator().manual_seed(1)
    theirs = _torch_init(make(), mode="fan_out", nonlinearity="linear")
    r_torch = _backward_ratio(theirs, shape, crop, gen)
    print(f"\n[backward {name}] E[gx^2]/E[gy^2]: initlab {r_ours:.3f}  torch.nn.init "
          f"{r_torch:.3f}")
    assert abs(r_ours - 1.0) <= TOL, (name, r_ours, r_torch)
    if name in ("conv2d_grouped", "conv2d_depthwise"):  # pytorch issue 23854
        assert abs(r_torch - 1.0) > TOL


def _fans(module):
    return {s.name: (s.role, s.fan_in, s.fan_out) for s in walk(module)}


def test_fans_of_every_layer_kind():
    assert _fans(nn.Linear(5, 7))["weight"] == ("weight", 5, 7)
    assert _fans(nn.Bilinear(3, 4, 6))["weight"] == ("weight", 12, 6)
    assert _fans(nn.Conv1d(4, 6, 5))["weight"] == ("weight", 20, 30)
    assert _fans(nn.Conv2d(4, 6, 3, groups=2))["weight"] == ("weight", 18, 27)
    assert _fans(nn.Conv2d(6, 6, 3, groups=6))["weight"] == ("weight", 9, 9)
    assert _fans(nn.Conv2d(4, 8, 3, stride=2))["weight"] == ("weight", 36, 18)
    assert _fans(nn.Conv3d(2, 3, (1, 2, 3)))["weight"] == ("weight", 12, 18)
    assert _fans(nn.ConvTranspose2d(4, 6, 4, stride=2))["weight"] == ("weight", 16, 96)
    assert _fans(nn.ConvTranspose2d(4, 6, 3, stride=2))["weight"] == ("weight", 9, 54)
    assert _fans(nn.ConvTranspose1d(4, 6, 3, groups=2))["weight"] == ("weight", 6, 9)
    assert _fans(nn.Embedding(10, 4))["weight"] == ("embedding", 1, 1)
    lstm = _fans(nn.LSTM(5, 7, num_layers=2, bidirectional=True))
    assert lstm["weight_ih_l0"] == ("weight", 5, 7)
    assert lstm["weight_ih_l1_reverse"] == ("weight", 14, 7)
    assert lstm["weight_hh_l1"] == ("recurrent", 7, 7)
    assert lstm["bias_hh_l0"][0] == "bias"
    gru = _fans(nn.GRU(3, 4))
    assert gru["weight_ih_l0"] == ("weight", 3, 4)
    mha = _fans(nn.MultiheadAttention(8, 2))
    assert mha["in_proj_weight"] == ("weight", 8, 8)
    assert mha["out_proj.weight"] == ("weight", 8, 8)
    mha_kv = _fans(nn.MultiheadAttention(8, 2, kdim=3, vdim=5, add_bias_kv=True))
    assert mha_kv["k_proj_weight"] == ("weight", 3, 8)
    assert mha_kv["v_proj_weight"] == ("weight", 5, 8)
    assert mha_kv["bias_k"][0] == "bias"
    for norm in (nn.BatchNorm2d(3), nn.LayerNorm(3), nn.GroupNorm(1, 3), nn.RMSNorm(3)):
        f = _fans(norm)
        assert f["weight"][0] == "norm_weight"
    assert _fans(nn.PReLU())["weight"] == ("unknown", None, None)


def test_torch_fans_kept_beside_ours():
    (w, _) = walk(nn.ConvTranspose2d(4, 6, 4, stride=2))
    assert w.torch_fans == (6 * 16, 4 * 16)  # torch reads dim 1 (out) as fan_in
    (w, _) = walk(nn.Conv2d(6, 6, 3, groups=6))
    assert w.torch_fans == (9, 54) and w.fans == (9, 9)


def test_gate_blocks_get_their_own_draws():
    lstm = nn.LSTM(64, 64)
    init_(lstm, "orthogonal", seed=0)
    w = lstm.weight_hh_l0.detach().double()
    for g in range(4):  # each (hidden, hidden) gate block is orthogonal on its own
        blk = w[g * 64:(g + 1) * 64]
        assert torch.allclose(blk @ blk.T, torch.eye(64, dtype=torch.float64), atol=1e-5)
    assert math.isclose(float(w.pow(2).sum()), 4 * 64, rel_tol=1e-5)
