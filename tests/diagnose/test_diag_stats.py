"""Per-layer statistics on hand-made Traces (the Trace contract) and on the engine's."""

from __future__ import annotations

import numpy as np
import pytest

from initlab.diagnose import Thresholds, layer_stats, trace_stats
from initlab.diagnose.stats import input_rms
from initlab.errors import ConfigError, ShapeError
from initlab.nn import Dense, Sequential
from initlab.nn.trace import LayerTrace, Trace


def _lt(act: str, pre: np.ndarray, post: np.ndarray | None = None, W=None, b=None, **kw):  # noqa: N803
    k, _, units = pre.shape
    W = np.random.default_rng(1).standard_normal((k, 5, units)) if W is None else W  # noqa: N806
    b = np.zeros((k, units)) if b is None else b
    return LayerTrace("d", act, pre=pre, post=pre if post is None else post, W=W, b=b, **kw)


def test_dead_units_and_zero_outputs_relu() -> None:
    pre = np.ones((2, 4, 5))
    pre[0, :, :2] = -1.0  # model 0: units 0, 1 never positive
    pre[1, :3, 4] = -1.0  # model 1: unit 4 positive on one sample only -> alive
    st = layer_stats(_lt("relu", pre, np.maximum(pre, 0)))
    assert st.dead_fraction.tolist() == [0.4, 0.0]
    assert st.zero_fraction.tolist() == pytest.approx([8 / 20, 3 / 20])


def test_dead_is_nan_outside_the_relu_family() -> None:
    pre = -np.ones((1, 3, 2))
    assert np.isnan(layer_stats(_lt("tanh", pre, np.tanh(pre))).dead_fraction).all()


def test_saturation_thresholds_are_settable() -> None:
    post = np.array([[[0.995, -0.999, 0.5, 0.95]]])
    st = layer_stats(_lt("tanh", np.arctanh(post), post))
    assert st.saturated_fraction.tolist() == [0.5]
    st = layer_stats(_lt("tanh", np.arctanh(post), post), thresholds={"tanh_saturation": 0.9})
    assert st.saturated_fraction.tolist() == [0.75]
    sig = np.array([[[0.005, 0.5, 0.995, 0.02]]])
    assert layer_stats(_lt("sigmoid", sig, sig)).saturated_fraction.tolist() == [0.5]
    th = Thresholds(sigmoid_low=0.03)
    assert layer_stats(_lt("sigmoid", sig, sig), thresholds=th).saturated_fraction.tolist() == [
        0.75
    ]


def test_moments_and_sigma_w2() -> None:
    rng = np.random.default_rng(0)
    pre = rng.normal(0.5, 2.0, (1, 2000, 50))
    W = rng.normal(0, 0.1, (1, 400, 50))  # noqa: N806
    st = layer_stats(_lt("linear", pre, W=W))
    assert st.pre_mean[0] == pytest.approx(pre.mean())
    assert st.pre_std[0] == pytest.approx(pre.std())
    assert st.pre_rms[0] ** 2 == pytest.approx((pre**2).mean())
    assert st.sigma_w2[0] == pytest.approx(400 * (W**2).mean())
    assert st.fan_in == 400 and st.units == 50


def test_symmetry_distinct_units_and_cosine() -> None:
    W = np.random.default_rng(0).standard_normal((3, 6, 4))  # noqa: N806
    W[1, :, 2] = W[1, :, 0]  # model 1: units 0 and 2 identical
    W[2] = 0.0  # model 2: all zero
    b = np.zeros((3, 4))
    st = layer_stats(_lt("tanh", np.zeros((3, 2, 4)), W=W, b=b))
    assert st.distinct_units.tolist() == [4, 3, 1]
    assert st.max_cosine[1] == pytest.approx(1.0)
    assert st.max_cosine[2] == 1.0
    assert st.max_cosine[0] < 0.99
    # same weights but a different bias: not a copy
    b[1, 2] = 0.5
    assert layer_stats(_lt("tanh", np.zeros((3, 2, 4)), W=W, b=b)).distinct_units[1] == 4


def test_nonfinite_and_gradients() -> None:
    pre = np.ones((2, 3, 4))
    pre[1, 0, 0] = np.nan
    W = np.full((2, 5, 4), 2.0)  # noqa: N806
    gW = np.full((2, 5, 4), 0.5)  # noqa: N806
    gz = np.zeros((2, 3, 4))
    gz[:, :, 0] = 3.0
    st = layer_stats(_lt("relu", pre, W=W, grad_W=gW, grad_b=np.ones((2, 4)), grad_pre=gz),
                     lr=0.1)
    assert st.nonfinite.tolist() == [0, 2]  # the NaN in pre and in post (same array)
    assert st.grad_W_norm == pytest.approx([0.5 * np.sqrt(20)] * 2)
    assert st.grad_b_norm == pytest.approx([2.0, 2.0])
    assert st.grad_pre_rms == pytest.approx([np.sqrt(9 / 4)] * 2)
    assert st.update_ratio == pytest.approx([0.1 * 0.5 / 2.0] * 2)


def test_k_models_equal_separate_models() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((64, 8)), rng.integers(0, 3, 64)
    layers = [Dense(16, activation="relu"), Dense(3, activation="softmax")]
    inits = ["he_normal", "normal(std=0.5)", "zeros"]
    both = Sequential(layers, input_dim=8, n_models=3, inits=inits, seeds=[0, 1, 2],
                      dtype=np.float64)
    together = trace_stats(both.trace(x, y))
    for k, spec in enumerate(inits):
        one = Sequential([Dense(16, activation="relu"), Dense(3, activation="softmax")],
                         input_dim=8, inits=[spec], seeds=[k], dtype=np.float64)
        alone = trace_stats(one.trace(x, y))
        for a, s in zip(alone, together, strict=True):
            for name in ("pre_std", "post_mean", "dead_fraction", "distinct_units",
                         "max_cosine", "grad_W_norm", "update_ratio"):
                np.testing.assert_allclose(getattr(s, name)[k], getattr(a, name)[0],
                                           rtol=1e-9, equal_nan=True)


def test_input_rms_and_errors() -> None:
    tr = Trace(x=np.full((4, 3), 3.0), layers=(_lt("relu", np.ones((2, 4, 5))),))
    assert input_rms(tr).tolist() == [3.0, 3.0]
    with pytest.raises(ConfigError, match="Trace"):
        trace_stats("not a trace")  # type: ignore[arg-type]
    with pytest.raises(ShapeError, match="pre"):
        layer_stats(_lt("relu", np.ones((2, 4))[None][0][None], np.ones((1, 2, 4, 1))))
    with pytest.raises(ConfigError, match="did you mean 'dead_warn'"):
        layer_stats(_lt("relu", np.ones((1, 2, 3))), thresholds={"dead_wran": 0.2})
