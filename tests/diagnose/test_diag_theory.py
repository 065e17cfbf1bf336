"""Mean-field theory: known critical points, fixed points, slopes, and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from initlab.diagnose import theory
from initlab.errors import ConfigError, SpecError

ACTS = ["linear", "relu", "leaky_relu", "elu", "selu", "gelu", "softplus", "sigmoid", "tanh"]


def test_tanh_critical_sigma_w2_at_bias_variance_005() -> None:
    assert abs(theory.critical_sigma_w2("tanh", 0.05) - 1.761) <= 0.005


def test_relu_critical_sigma_w2_is_2_without_bias() -> None:
    assert theory.critical_sigma_w2("relu", 0.0) == pytest.approx(2.0, abs=1e-9)


def test_leaky_relu_critical_sigma_w2_is_2_over_1_plus_alpha2() -> None:
    assert theory.critical_sigma_w2("leaky_relu(alpha=0.2)") == pytest.approx(2 / 1.04, rel=1e-9)


@pytest.mark.parametrize("sb2", [0.0, 0.01, 0.05, 0.2])
@pytest.mark.parametrize("act", ["tanh", "selu", "elu", "sigmoid"])
def test_chi_1_is_1_on_the_critical_line(act: str, sb2: float) -> None:
    sw2 = theory.critical_sigma_w2(act, sb2)
    mf = theory.mean_field(act, sw2, sb2)
    assert mf.chi_1 == pytest.approx(1.0, abs=1e-6)
    assert mf.phase == "critical" and math.isinf(mf.trainable_depth)


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("sw2,sb2", [(0.8, 0.05), (1.5, 0.1), (1.0, 0.3)])
def test_q_star_is_a_fixed_point_of_the_length_map(act: str, sw2: float, sb2: float) -> None:
    if act == "linear" and sw2 >= 1:  # the linear length grows without bound there
        assert math.isinf(theory.q_star(act, sw2, sb2))
        return
    q = theory.q_star(act, sw2, sb2)
    assert 0 < q < math.inf
    assert float(theory.length_map(q, act, sw2, sb2)) == pytest.approx(q, rel=1e-8)
    # and it is stable: the slope of the length map there is below 1
    assert float(theory.length_map_slope(q, act, sw2)) < 1.0


def test_linear_and_relu_closed_forms() -> None:
    # linear: q* = sb2 / (1 - sw2); relu: q* = sb2 / (1 - sw2 / 2), chi_1 = sw2 / 2
    assert theory.q_star("linear", 0.6, 0.2) == pytest.approx(0.5, rel=1e-10)
    mf = theory.mean_field("relu", 1.2, 0.1)
    assert mf.q_star == pytest.approx(0.1 / 0.4, rel=1e-10)
    assert mf.chi_1 == pytest.approx(0.6, rel=1e-12)
    assert mf.xi_c == pytest.approx(-1 / math.log(0.6), rel=1e-9)
    assert mf.xi_q == pytest.approx(-1 / math.log(0.6), rel=1e-9)
    assert mf.trainable_depth == pytest.approx(6 * mf.xi_c)


def test_relu_length_explodes_above_critical() -> None:
    mf = theory.mean_field("relu", 3.0, 0.0)
    assert math.isinf(mf.q_star) and mf.phase == "chaotic" and mf.chi_1 == pytest.approx(1.5)


def test_tanh_without_bias_decorrelates_to_zero_in_the_chaotic_phase() -> None:
    mf = theory.mean_field("tanh", 4.0, 0.0)
    assert mf.phase == "chaotic"
    assert abs(mf.c_star) < 1e-6
    assert 0 < mf.chi_c < 1  # c* is stable
    assert mf.xi_c == pytest.approx(-1 / math.log(mf.chi_c))


def test_tanh_with_bias_has_interior_correlation_fixed_point() -> None:
    sw2, sb2 = 2.5, 0.05
    mf = theory.mean_field("tanh", sw2, sb2)
    assert 0 < mf.c_star < 1
    back = float(theory.correlation_map(mf.c_star, mf.q_star, "tanh", sw2, sb2))
    assert back == pytest.approx(mf.c_star, abs=1e-8)


def test_length_map_matches_monte_carlo() -> None:
    # quadrature vs a seeded Monte-Carlo estimate; tolerance: 5 standard errors
    rng = np.random.default_rng(0)
    z = rng.standard_normal(400_000)
    for act in ("gelu", "selu", "softplus", "sigmoid"):
        phi, _ = theory.activation_functions(act)
        samples = 1.3 * phi(np.sqrt(0.7) * z) ** 2 + 0.1
        se = samples.std() / math.sqrt(z.size)
        assert float(theory.length_map(0.7, act, 1.3, 0.1)) == pytest.approx(
            samples.mean(), abs=5 * se
        )


def test_predicted_q_iterates_the_map() -> None:
    q = theory.predicted_q("tanh", 1.5, 0.05, 0.8, 4)
    assert q[0] == pytest.approx(1.5 * 0.8 + 0.05)
    for a, b in zip(q[:-1], q[1:], strict=True):
        assert float(theory.length_map(a, "tanh", 1.5, 0.05)) == pytest.approx(b)


def test_trainable_range_relu_closed_form() -> None:
    # zero bias: 6 xi_c is infinite for ReLU; the gradient depth 2 ln(1e4) / |ln(sw2 / 2)|
    # reaches 12 at sw2 = 2 exp(-+ 2 ln(1e4) / 12)
    lo, hi = theory.trainable_range("relu", 0.0, 12)
    e = 2 * math.log(1e4) / 12
    assert lo == pytest.approx(2 * math.exp(-e), rel=1e-6)
    assert hi == pytest.approx(2 * math.exp(e), rel=1e-6)
    # with a bias the correlations do contract: 6 xi_c = 12 at chi_1 = exp(-1/2)
    mf = theory.mean_field("relu", 1.0, 0.1)
    assert mf.xi_c == pytest.approx(1 / math.log(2)) and mf.depth_limit == mf.trainable_depth


@pytest.mark.parametrize("act,sw2", [("relu", 1.0), ("relu", 3.0), ("tanh", 0.5)])
def test_without_a_finite_fixed_point_correlations_are_no_depth_limit(act, sw2) -> None:
    # q* = 0 or inf: the normalized correlation map's slope at c = 1 is chi_1 q_l / q_{l+1},
    # which is 1 for ReLU (scale-free) and tanh near q = 0 (linear): xi_c is infinite, and
    # the depth limit is the gradient's, 2 ln(1e4) / |ln chi_1|
    mf = theory.mean_field(act, sw2, 0.0)
    assert math.isinf(mf.xi_c) and mf.q_star in (0.0, math.inf)
    assert mf.depth_limit == pytest.approx(2 * math.log(1e4) / abs(math.log(mf.chi_1)))
    assert mf.depth_heuristic.startswith("gradient depth")
    # the claim for ReLU, measured: the same random layers scaled to sigma_w2 and to He's 2
    # give the same correlations layer after layer (ReLU is scale-free), so Glorot's
    # correlation depth is He's, which is infinite on the critical line
    if act == "relu":
        rng = np.random.default_rng(0)
        x = rng.standard_normal((2, 300))
        x[1] = 0.9 * x[0] + np.sqrt(1 - 0.81) * x[1]
        ws = [rng.standard_normal((300, 300)) / np.sqrt(300) for _ in range(8)]

        def corr(scale):
            h = x
            for w in ws:
                h = np.maximum(h @ (w * np.sqrt(scale)), 0)
            return np.corrcoef(h)[0, 1]

        assert corr(sw2) == pytest.approx(corr(2.0), abs=1e-9)


def test_errors() -> None:
    with pytest.raises(ConfigError, match="sigma_w2"):
        theory.mean_field("tanh", -1.0, 0.0)
    with pytest.raises(SpecError, match="did you mean 'tanh'"):
        theory.mean_field("tanhh", 1.0, 0.0)
    with pytest.raises(SpecError, match="softmax"):
        theory.q_star("softmax", 1.0)
    with pytest.raises(ConfigError, match="edge of chaos"):
        theory.critical_sigma_w2("tanh", 0.05, bounds=(0.01, 0.5))
    with pytest.raises(ConfigError, match="depth"):
        theory.predicted_q("tanh", 1.0, 0.0, 1.0, 0)
