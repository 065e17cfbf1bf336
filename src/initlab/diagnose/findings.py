"""Findings: what is wrong with which layer of which model, the number, and what to change.

Rules (every cut-off is a field of :class:`~initlab.diagnose.thresholds.Thresholds`):

============================  =====================================================  =========
code                          condition                                              where
============================  =====================================================  =========
``non_finite``                NaN/inf in z, a or the gradients                       first layer
``symmetry``                  fewer distinct units than units, or max cosine         each layer
                              above ``symmetry_cosine``
``dead_units``                dead fraction >= ``dead_warn`` (error: ``dead_error``)  each layer
``saturation``                saturated fraction >= ``saturation_warn`` (error:       each layer
                              ``saturation_error``)
``vanishing_activations``     rms(z_l) / rms(x) < ``vanishing_activations``          worst layer
``exploding_activations``     rms(z_l) / rms(x) > ``exploding_activations``          worst layer
``vanishing_gradients``       ||dL/dz_l|| / ||dL/dz_out|| < ``vanishing_gradients``  worst layer
``exploding_gradients``       ||dL/dz_l|| / ||dL/dz_out|| > ``exploding_gradients``  worst layer
                              or ||lr * grad W|| / ||W|| > ``update_ratio_high``
============================  =====================================================  =========

Gradient ratios compare per-sample norms (``sqrt(units) * rms``), which an init that
preserves the signal keeps near 1 whatever the widths. A trend finding is an error when the
ratio is past the square of its threshold. Recommendations name the scheme the layer's
activation calls for (He for the ReLU family, LeCun for SELU, Glorot otherwise) with the std
:mod:`initlab.init` gives for the layer's shape, next to the std the weights have.

Example:
    >>> from initlab.nn import Dense, Sequential
    >>> from initlab.diagnose.stats import trace_stats, input_rms
    >>> m = Sequential([Dense(16, activation="relu", init="zeros")], input_dim=4)
    >>> _, tr = m.forward(np.ones((8, 4)), trace=True)
    >>> sorted({f.code for f in find(trace_stats(tr), input_rms(tr))})
    ['dead_units', 'symmetry', 'vanishing_activations']
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from initlab.diagnose.stats import LayerStats
from initlab.diagnose.thresholds import Thresholds, as_thresholds

__all__ = ["Finding", "CODES", "find", "recommended_init"]

CODES = (
    "non_finite",
    "symmetry",
    "dead_units",
    "saturation",
    "vanishing_activations",
    "exploding_activations",
    "vanishing_gradients",
    "exploding_gradients",
)
"""Every finding code, in the order reports list them."""

_SEVERITY_ORDER = {"error": 0, "warning": 1}


@dataclass(frozen=True)
class Finding:
    """One diagnosis.

    Attributes:
        severity: ``"error"`` or ``"warning"``.
        code: one of :data:`CODES`.
        layer: 1-based layer number (input side first).
        layer_name: the layer's name.
        model: index of the model among the K traced together.
        value: the measured number the rule looked at.
        message: one sentence with the measured number.
        recommendation: what to change, with numbers.
    """

    severity: str
    code: str
    layer: int
    layer_name: str
    model: int
    value: float
    message: str
    recommendation: str

    def to_dict(self) -> dict[str, Any]:
        """Return the finding as a JSON-friendly dict."""
        return asdict(self)

    def __str__(self) -> str:
        return f"[{self.severity}] model {self.model} {self.message} {self.recommendation}"


def recommended_init(activation: str) -> str:
    """Return the init scheme the activation calls for (the engine's own recommendation).

    Example:
        >>> recommended_init("relu"), recommended_init("selu")
        ('he_normal', 'lecun_normal')
    """
    from initlab.activations import get

    try:
        return get(activation).recommended_init
    except Exception:  # noqa: BLE001 - an activation the engine does not know: Glorot
        return "glorot_uniform"


def _advice(st: LayerStats, k: int, extra: str = "") -> str:
    from initlab.init import get

    scheme = recommended_init(st.activation)
    std = get(scheme).std((st.fan_in, st.units))
    fans = (
        f"fan_in {st.fan_in}"
        if scheme.startswith(("he_", "lecun_"))
        else f"fan_in {st.fan_in}, fan_out {st.units}"
    )
    text = f"Your weights have std {_g(st.w_std[k])}; {scheme} gives std {_g(std)} for {fans}."
    return f"{text} {extra}".strip()


def _g(x: float) -> str:
    x = float(x)
    if not math.isfinite(x):
        return str(x)
    return f"{x:.2g}" if abs(x) < 1e-3 or abs(x) >= 1e4 else f"{x:.3g}"


def _pct(x: float) -> str:
    return f"{100 * float(x):.0f} %"


def find(
    stats: Sequence[LayerStats],
    x_rms: np.ndarray,
    thresholds: Thresholds | dict | None = None,
) -> list[Finding]:
    """Turn per-layer statistics into findings for each of the K models.

    Args:
        stats: one :class:`LayerStats` per layer, input side first.
        x_rms: the input's rms per model (K,), the reference for activation ratios.
        thresholds: the cut-offs (see :class:`Thresholds`).

    Returns:
        Findings sorted by model, severity, layer; empty for a healthy network.
    """
    th = as_thresholds(thresholds)
    if not stats:
        return []
    n_models = stats[0].pre_rms.shape[0]
    out: list[Finding] = []
    for k in range(n_models):
        out.extend(_model_findings(stats, k, float(np.asarray(x_rms)[k]), th))
    out.sort(key=lambda f: (f.model, _SEVERITY_ORDER[f.severity], f.layer, CODES.index(f.code)))
    return out


def _mk(sev: str, code: str, i: int, st: LayerStats, k: int, value: float, msg: str,
        rec: str) -> Finding:
    return Finding(sev, code, i + 1, st.name, k, float(value), f"layer {i + 1}: {msg}", rec)


def _model_findings(stats: Sequence[LayerStats], k: int, x_rms: float,
                    th: Thresholds) -> list[Finding]:
    out: list[Finding] = []
    for i, st in enumerate(stats):
        bad = int(st.nonfinite[k])
        if bad:
            out.append(_mk("error", "non_finite", i, st, k, bad,
                           f"{bad} non-finite values (NaN or inf) in its activations or gradients.",
                           _advice(st, k, "Check the input for NaNs and lower the learning rate.")))
            break
    for i, st in enumerate(stats):
        distinct, cos = int(st.distinct_units[k]), float(st.max_cosine[k])
        near = st.fan_in >= th.symmetry_min_fan_in and cos > th.symmetry_cosine
        if st.units > 1 and (distinct < st.units or near):
            sev = "error" if distinct == 1 else "warning"
            msg = (f"only {distinct} distinct unit(s) of {st.units}: units with identical incoming "
                   f"weights learn identically (largest cosine {_g(cos)}).")
            out.append(_mk(sev, "symmetry", i, st, k, distinct, msg,
                           _advice(st, k, "Use a random init to break the symmetry.")))
        dead = float(st.dead_fraction[k])
        if not math.isnan(dead) and dead >= th.dead_warn:
            sev = "error" if dead >= th.dead_error else "warning"
            msg = f"{_pct(dead)} of units are dead (never positive on this batch)."
            out.append(_mk(sev, "dead_units", i, st, k, dead, msg, _advice(st, k)))
        sat = float(st.saturated_fraction[k])
        if not math.isnan(sat) and sat >= th.saturation_warn:
            sev = "error" if sat >= th.saturation_error else "warning"
            msg = (f"{_pct(sat)} of {st.activation} outputs are saturated (pre-activation std "
                   f"{_g(st.pre_std[k])}).")
            out.append(_mk(sev, "saturation", i, st, k, sat, msg, _advice(st, k)))
    if x_rms > 0 and math.isfinite(x_rms):
        ratios = np.array([float(st.pre_rms[k]) / x_rms for st in stats])
        out += _trend(stats, k, ratios, th.vanishing_activations, th.exploding_activations,
                      "activations", "pre-activation rms is {v} x the input's", "")
    if stats[0].has_gradients:
        norms = np.array([float(st.grad_pre_rms[k]) * math.sqrt(st.units) for st in stats])
        ref = norms[-1]
        if ref > 0 and math.isfinite(ref):
            ratios = norms / ref
            ratios[-1] = 1.0
            out += _trend(stats, k, ratios, th.vanishing_gradients, th.exploding_gradients,
                          "gradients", "the back-propagated gradient norm is {v} x the output "
                          "layer's", "Or clip gradients (initlab.optim.clip_by_global_norm).")
        if not any(f.code == "exploding_gradients" for f in out):
            out += _big_updates(stats, k, th)
    return out


def _big_updates(stats: Sequence[LayerStats], k: int, th: Thresholds) -> list[Finding]:
    """An exploding_gradients warning where one step would rewrite a (non-zero) layer."""
    ratios = np.array([float(st.update_ratio[k]) for st in stats])
    ratios[~np.isfinite(ratios)] = 0.0  # zero weights (inf) are the symmetry finding's business
    i = int(np.argmax(ratios))
    if ratios[i] <= th.update_ratio_high:
        return []
    st = stats[i]
    msg = (f"one step changes the weights by {_g(ratios[i])} x their norm "
           f"(||lr * grad W|| / ||W|| above {_g(th.update_ratio_high)}).")
    return [_mk("warning", "exploding_gradients", i, st, k, ratios[i], msg,
                _advice(st, k, "Lower the learning rate or clip gradients."))]


def _trend(stats: Sequence[LayerStats], k: int, ratios: np.ndarray, low: float, high: float,
           what: str, template: str, clip_hint: str) -> list[Finding]:
    """One finding per direction: at the layer where the signal first crosses the bound (in
    the direction it travels: forward for activations, backward for gradients), with the
    most extreme ratio as its value."""
    out = []
    finite = np.where(np.isnan(ratios), 1.0, ratios)
    for kind, mask in (("vanishing", finite < low), ("exploding", finite > high)):
        if not mask.any():
            continue
        vanish = kind == "vanishing"
        v = float(finite.min() if vanish else finite.max())
        bound = low if vanish else high
        sev = "error" if (v < bound * bound if vanish else v > bound * bound) else "warning"
        first = int(np.argmax(mask))
        last = len(mask) - 1 - int(np.argmax(mask[::-1]))
        at = first if what == "activations" else last
        span = f"layer {first + 1}" if first == last else f"layers {first + 1}-{last + 1}"
        side = "below" if vanish else "above"
        msg = f"{template.format(v=_g(v))} at worst ({side} {_g(bound)} at {span})."
        st = stats[at]
        out.append(_mk(sev, f"{kind}_{what}", at, st, k, v, msg,
                       _advice(st, k, "" if vanish else clip_hint)))
    return out
