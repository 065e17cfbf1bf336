"""torch:* flavors against torch.nn.init itself: two-sample KS on the same layer shapes.

initlab's kernel is (fan_in, fan_out); torch's Linear weight is (out, in) and its conv
weight (out, in, *kernel). The same layer is compared, each library in its own layout.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from initlab.init import get

torch = pytest.importorskip("torch", reason="torch is not installed (pip install initlab[torch])")
init = torch.nn.init

IN, OUT = 300, 200
CONV_T = (128, 64, 3, 3)  # torch (out, in, kh, kw)
CONV_K = (3, 3, 64, 128)  # initlab (kh, kw, in, out): the same layer

CASES = [
    ("torch:uniform(a=-0.3, b=0.7)", lambda w: init.uniform_(w, -0.3, 0.7), False),
    ("torch:normal(mean=0.1, std=0.2)", lambda w: init.normal_(w, 0.1, 0.2), False),
    (
        "torch:trunc_normal(std=0.1, a=-0.15, b=0.3)",
        lambda w: init.trunc_normal_(w, 0.0, 0.1, -0.15, 0.3),
        False,
    ),
    ("torch:trunc_normal", lambda w: init.trunc_normal_(w), False),
    ("torch:xavier_uniform(gain=1.5)", lambda w: init.xavier_uniform_(w, gain=1.5), False),
    ("torch:xavier_normal", lambda w: init.xavier_normal_(w), False),
    ("torch:kaiming_uniform", lambda w: init.kaiming_uniform_(w), False),
    (
        "torch:kaiming_uniform(a=0.2, mode=fan_out)",
        lambda w: init.kaiming_uniform_(w, a=0.2, mode="fan_out"),
        False,
    ),
    (
        "torch:kaiming_normal(nonlinearity=relu)",
        lambda w: init.kaiming_normal_(w, nonlinearity="relu"),
        False,
    ),
    (
        "torch:kaiming_normal(mode=fan_out, nonlinearity=tanh)",
        lambda w: init.kaiming_normal_(w, mode="fan_out", nonlinearity="tanh"),
        False,
    ),
    (
        "torch:kaiming_uniform(a=2.23606797749979)",
        lambda w: init.kaiming_uniform_(w, a=math.sqrt(5)),
        False,
    ),
    ("torch:orthogonal(gain=2)", lambda w: init.orthogonal_(w, gain=2), False),
    ("torch:kaiming_normal", lambda w: init.kaiming_normal_(w), True),
    ("torch:xavier_uniform", lambda w: init.xavier_uniform_(w), True),
]


def _torch_draw(fill, shape, seed=0):
    torch.manual_seed(seed)
    w = torch.empty(shape, dtype=torch.float64)
    with torch.no_grad():
        fill(w)
    return w.numpy()


@pytest.mark.parametrize(
    "spec,fill,conv", CASES, ids=[c[0] + (" conv" if c[2] else "") for c in CASES]
)
def test_torch_flavor_matches_torch(spec, fill, conv):
    t_shape, k_shape = (CONV_T, CONV_K) if conv else ((OUT, IN), (IN, OUT))
    theirs = _torch_draw(fill, t_shape).ravel()
    ours = get(spec)(k_shape, rng=0, dtype=np.float64).ravel()
    assert stats.ks_2samp(ours, theirs).pvalue > 1e-3
    # and a KS test able to fail: a 10% wider scale is detected at this sample size
    assert stats.ks_2samp(ours * 1.1, theirs).pvalue < 1e-3
    if spec != "torch:orthogonal(gain=2)":
        assert get(spec).std(k_shape) == pytest.approx(theirs.std(), rel=0.03)


def test_linear_default_matches_nn_linear():
    torch.manual_seed(0)
    ws, bs = [], []
    for _ in range(30):
        layer = torch.nn.Linear(IN, 50)
        ws.append(layer.weight.detach().numpy().ravel())
        bs.append(layer.bias.detach().numpy().ravel())
    w_t, b_t = np.concatenate(ws), np.concatenate(bs)
    ini = get("torch:linear_default")
    w = ini((IN, 50 * 30), rng=0).ravel()
    b = ini.bias(IN, 50 * 30, rng=1)
    assert stats.ks_2samp(w, w_t).pvalue > 1e-3
    assert stats.ks_2samp(b, b_t).pvalue > 1e-3
    assert np.abs(w).max() <= 1 / math.sqrt(IN) + 1e-7
    assert np.abs(b).max() <= 1 / math.sqrt(IN) + 1e-7


def test_linear_default_matches_conv2d():
    torch.manual_seed(0)
    w_t = np.concatenate(
        [torch.nn.Conv2d(16, 32, 3).weight.detach().numpy().ravel() for _ in range(10)]
    )
    w = get("torch:linear_default")((3, 3, 16, 320), rng=0).ravel()
    assert stats.ks_2samp(w, w_t).pvalue > 1e-3


def test_sparse_matches_torch_zero_pattern():
    theirs = _torch_draw(lambda w: init.sparse_(w, 0.3, std=0.02), (OUT, IN))
    ours = get("torch:sparse(0.3, std=0.02)")((IN, OUT), rng=0, dtype=np.float64)
    # torch zeroes ceil(0.3 * rows) entries of each column of (out, in): per input unit
    np.testing.assert_array_equal((theirs == 0).sum(axis=0), (ours == 0).sum(axis=1))
    assert stats.ks_2samp(ours[ours != 0], theirs[theirs != 0]).pvalue > 1e-3
