"""inspect() on engine models: the issue's scenarios, theory beside measurement, the Report."""

from __future__ import annotations

import json

import numpy as np
import pytest

import initlab
from initlab.diagnose import CODES, Report, inspect
from initlab.errors import ConfigError
from initlab.init import get as get_init
from initlab.nn import Dense, Sequential


def _data(n: int, dim: int, seed: int = 0, classes: int = 10):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, dim)).astype(np.float32), rng.integers(0, classes, n)


def _net(act: str, init: str, depth: int, width: int, input_dim: int, out: int | None = 10,
         seeds=(0,)) -> Sequential:
    layers = [Dense(width, activation=act) for _ in range(depth)]
    if out:
        layers.append(Dense(out, activation="softmax"))
    return Sequential(layers, input_dim=input_dim, n_models=len(seeds),
                      inits=[init] * len(seeds), seeds=list(seeds))


def _codes(report: Report, k: int = 0) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for f in report.findings:
        if f.model == k:
            out.setdefault(f.code, []).append(f.layer)
    return out


def test_zeros_init_is_symmetric_one_distinct_unit_per_layer() -> None:
    x, y = _data(128, 20)
    rep = inspect(_net("tanh", "zeros", 3, 32, 20), x, y)
    assert [int(s.distinct_units[0]) for s in rep.stats] == [1, 1, 1, 1]
    sym = [f for f in rep.findings if f.code == "symmetry"]
    assert [f.layer for f in sym] == [1, 2, 3, 4]
    assert all(f.severity == "error" for f in sym)


def test_sigmoid_normal_std_1_over_5_layers_saturates() -> None:
    x, y = _data(256, 100)
    rep = inspect(_net("sigmoid", "normal(std=1)", 5, 100, 100), x, y)
    assert _codes(rep)["saturation"] == [1, 2, 3, 4, 5]
    f = next(f for f in rep.findings if f.code == "saturation")
    assert f.value >= 0.1
    # the recommendation quotes Glorot's std for the layer's shape
    std = get_init("glorot_uniform").std((100, 100))
    assert f"{std:.3g}" in f.recommendation


def test_relu_small_normal_over_10_layers_vanishes() -> None:
    x, y = _data(256, 64)
    rep = inspect(_net("relu", "normal(std=0.01)", 10, 256, 64), x, y)
    codes = _codes(rep)
    assert "vanishing_activations" in codes and "vanishing_gradients" in codes
    f = next(f for f in rep.findings if f.code == "vanishing_gradients")
    assert f.severity == "error" and f.value < 1e-4
    # the recommendation was re-measured: He in the ReLU layers brings the ratio back
    assert f.fix == "he_normal" and f.fixed and f.value_after > 0.01
    assert "he_normal in layers 1-10" in f.recommendation
    he = get_init("he_normal").std((64, 256))
    assert f"std {he:.3g} at layer {f.layer}" in f.recommendation
    assert f"worst ratio {f.value:.2g} -> {f.value_after:.3g} (fixed)" in f.recommendation


def _ratios(rep: Report, x: np.ndarray) -> np.ndarray:
    return np.array([float(s.pre_rms[0]) for s in rep.stats]) / np.sqrt(np.mean(x ** 2))


def test_a_finding_names_the_layer_its_number_was_measured_at() -> None:
    # relu, std 0.01: every layer shrinks the signal, so the deepest hidden layer is the worst
    x, y = _data(256, 64)
    rep = inspect(_net("relu", "normal(std=0.01)", 6, 128, 64), x, y)
    f = next(f for f in rep.findings if f.code == "vanishing_activations")
    r = _ratios(rep, x)
    assert f.layer == int(np.argmin(r)) + 1 and f.layer > 1
    assert f.value == pytest.approx(r[f.layer - 1])
    assert f.message.startswith(f"layer {f.layer}: ")
    below = np.nonzero(r < 0.1)[0] + 1
    assert f.layers == (int(below[0]), int(below[-1]))
    assert f"at layers {below[0]}-{below[-1]}" in f.message
    assert f.to_dict()["layers"] == list(f.layers)


def test_the_fix_is_what_a_fresh_network_with_it_measures() -> None:
    # re-measure is the same seed and batch: an independently built He net gives that number
    x, y = _data(256, 64)
    rep = inspect(_net("relu", "normal(std=0.01)", 6, 128, 64), x, y)
    f = next(f for f in rep.findings if f.code == "vanishing_activations")
    layers = [Dense(128, activation="relu", init="he_normal") for _ in range(6)]
    fresh = Sequential(layers + [Dense(10, activation="softmax", init="glorot_uniform")],
                       input_dim=64, seeds=[0])
    assert f.value_after == pytest.approx(float(_ratios(inspect(fresh, x, y), x).min()))


def test_sigmoid_glorot_is_not_told_to_use_glorot_and_hears_what_does_fix_it() -> None:
    x, y = _data(256, 100)
    rep = inspect(_net("sigmoid", "glorot_normal", 5, 100, 100), x, y)
    f = next(f for f in rep.findings if f.code == "vanishing_gradients")
    assert f.fix is None and f.value_after is None
    assert "glorot_uniform has your weights' std" in f.recommendation  # no change: not given
    assert "glorot_uniform gives" not in f.recommendation
    # the critical init fixes the gradient but saturates: rejected, and said so
    assert "adds saturation (error)" in f.recommendation
    assert "What fixes it: tanh with glorot (chi_1 = 1)" in f.recommendation
    assert "at most 1/4" in f.recommendation


def test_findings_take_the_engines_remeasure_function() -> None:
    from initlab.diagnose import report_from_trace
    from initlab.diagnose.report import numpy_remeasure

    x, y = _data(128, 32)
    m = _net("relu", "normal(std=0.01)", 4, 64, 32)
    calls = []
    engine = numpy_remeasure(m, x, y)

    def remeasure(k, inits):
        calls.append((k, tuple(inits)))
        return engine(k, inits)

    rep = report_from_trace(m.trace(x, y), remeasure=remeasure)
    assert calls and calls[0] == (0, ("he_normal",) * 4 + ("glorot_uniform",))
    assert len(set(calls)) == len(calls)  # one re-measurement per candidate, cached
    assert any(f.fixed for f in rep.findings)
    bare = report_from_trace(m.trace(x, y))  # no re-measure function: no init recommended
    assert bare.findings and all(f.fix is None for f in bare.findings)
    assert all("Not re-measured" in f.recommendation for f in bare.findings)
    assert not any("Re-measured" in f.recommendation for f in bare.findings)


def test_relu_he_normal_10_layers_width_256_has_no_findings() -> None:
    x, y = _data(256, 64)
    rep = inspect(_net("relu", "he_normal", 10, 256, 64, seeds=(0, 1)), x, y)
    assert rep.findings == []
    assert "findings: none" in str(rep)


def test_selu_lecun_normal_32_layers_width_512_self_normalizes() -> None:
    x, _ = _data(160, 512)
    rep = inspect(_net("selu", "lecun_normal", 32, 512, 512, out=None), x)
    means = np.array([s.post_mean[0] for s in rep.stats])
    var = np.array([s.post_std[0] ** 2 for s in rep.stats])
    assert np.all(np.abs(means) <= 0.05), means
    assert np.all((var >= 0.9) & (var <= 1.1)), var
    assert rep.findings == []


@pytest.mark.parametrize("act,init,depth", [("tanh", "normal(std=0.05)", 6),
                                            ("tanh", "glorot_normal", 6),
                                            ("relu", "he_normal", 3)])
def test_measured_q_within_10_percent_of_theory_at_width_1000(act, init, depth) -> None:
    x, _ = _data(256, 1000)
    rep = inspect(_net(act, init, depth, 1000, 1000, out=None), x)
    ratio = rep.measured_q()[:, 0] / rep.predicted_q[:, 0]
    assert np.all(np.abs(ratio - 1) <= 0.10), ratio


def test_dead_units_finding_from_negative_bias() -> None:
    x, y = _data(128, 16)
    m = _net("relu", "he_normal", 2, 64, 16)
    b = m.layers[1].b.copy()
    b[0, :48] = -100.0
    m.layers[1].b = b
    rep = inspect(m, x, y)
    f = next(f for f in rep.findings if f.code == "dead_units")
    assert f.layer == 2 and f.value == pytest.approx(0.75) and f.severity == "warning"
    assert "75 % of units are dead" in f.message


def test_exploding_and_non_finite() -> None:
    x, y = _data(64, 32)
    rep = inspect(_net("relu", "normal(std=1)", 6, 64, 32), x, y)
    assert "exploding_activations" in _codes(rep)
    m = _net("relu", "normal(std=1)", 2, 8, 32)
    W = m.layers[0].W.copy()  # noqa: N806
    W[0, 0, 0] = np.inf
    m.layers[0].W = W
    rep = inspect(m, x, y)
    assert rep.findings[0].code == "non_finite" and rep.findings[0].severity == "error"


def test_report_print_json_and_dict() -> None:
    x, y = _data(64, 12)
    m = _net("tanh", "glorot_normal", 2, 16, 12, seeds=(0, 1))
    rep = inspect(m, x, y, lr=0.1)
    text = str(rep)
    assert "model 0" in text and "model 1" in text and "q theory" in text
    assert "glorot_normal" in text and "mean field" in text
    d = json.loads(rep.to_json())
    assert len(d["models"]) == 2 and len(d["models"][0]["layers"]) == 3
    row = d["models"][1]["layers"][0]
    assert row["pre_std"] == pytest.approx(float(rep.stats[0].pre_std[1]))
    assert row["update_ratio"] == pytest.approx(float(rep.stats[0].update_ratio[1]))
    assert row["dead_fraction"] is None  # NaN becomes null
    without = inspect(m, x)
    assert not without.stats[0].has_gradients and "|dL/dW|" not in str(without)


def test_thresholds_change_the_verdict_and_errors() -> None:
    x, y = _data(128, 16)
    m = _net("tanh", "glorot_normal", 3, 64, 16)
    assert "saturation" not in _codes(inspect(m, x, y))
    loose = inspect(m, x, y, thresholds={"saturation_warn": 1e-3, "tanh_saturation": 0.9})
    assert "saturation" in _codes(loose)
    with pytest.raises(ConfigError, match="Sequential"):
        inspect(object(), x)
    with pytest.raises(ConfigError, match="lr"):
        inspect(m, x, y, lr=-1.0)
    assert set(CODES) >= {f.code for f in loose.findings}


def test_public_api_reexport() -> None:
    assert initlab.inspect is inspect


@pytest.mark.parametrize("act,init", [("tanh", "normal(std=0.05)"), ("relu", "normal(std=0.03)")])
def test_measured_gradient_norms_within_10_percent_of_theory_at_width_1000(act, init) -> None:
    x, y = _data(256, 1000)
    rep = inspect(_net(act, init, 6, 1000, 1000), x, y)
    measured = np.array([s.grad_pre_rms[0] * np.sqrt(s.units) for s in rep.stats])
    ratio = measured / rep.predicted_grad[:, 0]
    assert np.all(np.abs(ratio - 1) <= 0.10), ratio
    # relu at sigma_w^2 = 0.9 shrinks the gradient by sqrt(0.45) per layer: theory sees it too
    if act == "relu":
        assert rep.predicted_grad[0, 0] < 0.2 * rep.predicted_grad[-2, 0]


def test_a_learning_rate_that_rewrites_the_weights_is_flagged() -> None:
    x, y = _data(64, 16)
    m = _net("tanh", "glorot_normal", 2, 16, 16)
    assert inspect(m, x, y, lr=0.01).findings == []
    rep = inspect(m, x, y, lr=1e4)
    (f,) = rep.findings
    assert f.code == "exploding_gradients" and f.severity == "warning"
    assert f.value == pytest.approx(max(float(s.update_ratio[0]) for s in rep.stats))


def test_near_parallel_units_of_a_tiny_fan_in_are_not_symmetry() -> None:
    # seed 002's moons net: 12 random units in 2 inputs are often within cosine 0.99 by chance;
    # only exact copies count there. A zeros init of the same net is still symmetric.
    x, y = _data(200, 2, classes=2)
    he = inspect(_net("relu", "he_normal", 1, 12, 2, out=None, seeds=range(5)), x)
    assert max(float(he.stats[0].max_cosine.max()), 0) > 0.99  # the chance closeness is there
    assert not [f for f in he.findings if f.code == "symmetry"]
    zeros = inspect(_net("relu", "zeros", 1, 12, 2, out=None), x)
    assert [f.layer for f in zeros.findings if f.code == "symmetry"] == [1]
