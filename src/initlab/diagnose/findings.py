"""Findings: what is wrong with which layer of which model, the number, and a verified fix.

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

**By design.** A layer the engine marks as zero by an init recipe's rule (``zero_by``:
Fixup's zero classifier and last branch layers) is not judged by the per-layer rules nor by
the activation trend, and a layer whose dL/dz is exactly zero because of such a rule
(``gated_by``: below Fixup's zero classifier, inside a branch whose trainable multiplier
starts at 0) is left out of the gradient trend; :func:`design_notes` says so instead. Every
other layer of the same model is judged as usual.

Gradient ratios compare per-sample norms (``sqrt(units * positions) * rms``), which an init that
preserves the signal keeps near 1 whatever the widths. A trend finding is an error when the
ratio is past the square of its threshold. **Where**: ``Finding.layer`` is the layer the
finding's number (``value``) was measured at (for a trend, the worst layer);
``Finding.layers`` is the range of layers past the bound, a separate field.

**Verified recommendations.** A recommendation to change the init is given only after it was
checked: ``find`` is handed a *re-measure* function (:data:`Remeasure`: "re-initialize these
layers of model k with this init, same seed, and measure the same batch again"), computes the
finding's own quantity on the new statistics and states the new number. The candidates are
the scheme the activation calls for (He for the ReLU family, LeCun for SELU, Glorot
otherwise) and the critical (edge of chaos) ``variance_scaling`` of mean-field theory; a
candidate that leaves every layer's std (within 5 %) and bias (zero) as it is is no change
and is not tried; one that does not move the quantity the right way (a ratio by a factor 2
towards its bound, a fraction halved, or the rule no longer firing), or that adds an error,
is not given. When no init fixes it, the finding says
what does (activation, depth, normalization, learning rate) with a number from theory. Each
engine supplies its own re-measure function (the NumPy one is
:func:`initlab.diagnose.report.numpy_remeasure`); without one the init is not recommended.

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
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from initlab.diagnose.stats import LayerStats
from initlab.diagnose.thresholds import Thresholds, as_thresholds

__all__ = ["Finding", "CODES", "find", "recommended_init", "Remeasure", "candidate_inits",
           "fix_inits", "DesignNote", "design_notes"]

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

Remeasure = Callable[[int, Sequence["str | None"]], Sequence[LayerStats]]
"""``remeasure(k, inits)``: model ``k`` with layer ``i`` re-initialized by ``inits[i]`` (an init
spec; None keeps that layer's weights), drawn from model ``k``'s own seed, measured again on
the same batch; returns one :class:`LayerStats` per layer for that one model (arrays of shape
(1,)). The NumPy engine's is :func:`initlab.diagnose.report.numpy_remeasure`; the PyTorch
adapter supplies its own."""

SAME_STD = 0.05
"""An init whose std is within this relative distance of the weights' std is no change."""


@dataclass(frozen=True)
class Finding:
    """One diagnosis.

    Attributes:
        severity: ``"error"`` or ``"warning"``.
        code: one of :data:`CODES`.
        layer: 1-based number of the layer ``value`` was measured at (input side first).
        layer_name: that layer's name.
        model: index of the model among the K traced together.
        value: the measured number the rule looked at, at ``layer``.
        message: one sentence with the measured number.
        recommendation: what to change, with the number it was re-measured to give.
        layers: ``(first, last)`` 1-based range of the layers past the bound (a trend can
            span several; ``(layer, layer)`` otherwise).
        fix: the init spec that was re-measured and moved ``value`` the right way (None:
            no init was verified; the recommendation then says what else to change).
        value_after: the finding's quantity re-measured with ``fix`` (None without one).
        fixed: True when ``value_after`` no longer trips the rule.
    """

    severity: str
    code: str
    layer: int
    layer_name: str
    model: int
    value: float
    message: str
    recommendation: str
    layers: tuple[int, int] = (0, 0)
    fix: str | None = None
    value_after: float | None = None
    fixed: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return the finding as a JSON-friendly dict."""
        d = asdict(self)
        d["layers"] = list(self.layers)
        return d

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


def candidate_inits(st: LayerStats) -> list[str]:
    """The inits a finding at this layer tries: the activation's scheme, then the critical one.

    The critical one is ``variance_scaling(scale=sigma_w2*, mode=fan_in, distribution=normal)``
    with ``sigma_w2*`` the edge of chaos of mean-field theory at zero bias
    (:func:`initlab.diagnose.theory.critical_sigma_w2`), when it exists and differs from the
    first by more than :data:`SAME_STD`.

    Example:
        >>> from initlab.nn import Dense, Sequential
        >>> from initlab.diagnose.stats import trace_stats
        >>> m = Sequential([Dense(4, activation="sigmoid")], input_dim=3)
        >>> candidate_inits(trace_stats(m.forward(np.ones((2, 3)), trace=True)[1])[0])
        ['glorot_uniform', 'variance_scaling(scale=103, mode=fan_in, distribution=normal)']
    """
    from initlab.init import get

    first = recommended_init(st.activation)
    out = [first]
    crit = _critical(st.activation)
    if crit is not None:
        std = math.sqrt(crit / st.fan_in)
        if not _same(std, get(first).std((st.fan_in, st.units))):
            out.append(f"variance_scaling(scale={crit:.4g}, mode=fan_in, distribution=normal)")
    return out


def fix_inits(stats: Sequence[LayerStats], i: int, spec: str) -> tuple[str, ...]:
    """The per-layer inits a finding at layer ``i`` (0-based) re-measures with candidate
    ``spec``: ``spec`` in every layer of layer ``i``'s activation, every other layer its own
    activation's scheme. An engine turns the tuple of a verified :attr:`Finding.fix` into
    the call a user runs (the PyTorch adapter: ``init_`` rules per module)."""
    act = stats[i].activation
    return tuple(spec if s.activation == act else recommended_init(s.activation) for s in stats)


def _unchanged(stats: Sequence[LayerStats], k: int, inits: Sequence[str]) -> bool:
    """True when re-initializing model ``k`` by ``inits`` (biases zero, as both engines'
    re-measures draw them) keeps every layer's weight std (within :data:`SAME_STD`) and
    bias: nothing to re-measure."""
    from initlab.init import get

    return all(_same(get(spec).std((s.fan_in, s.units)), float(s.w_std[k]))
               and float(s.sigma_b2[k]) == 0.0 for s, spec in zip(stats, inits, strict=True))


def _critical(activation: str) -> float | None:
    from initlab.diagnose import theory

    try:
        return float(theory.critical_sigma_w2(activation, 0.0))
    except Exception:  # noqa: BLE001 - softmax, or no edge of chaos in range: no candidate
        return None


def _same(a: float, b: float) -> bool:
    return math.isfinite(a) and math.isfinite(b) and abs(a - b) <= SAME_STD * max(abs(b), 1e-30)


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
    remeasure: Remeasure | None = None,
) -> list[Finding]:
    """Turn per-layer statistics into findings for each of the K models.

    Args:
        stats: one :class:`LayerStats` per layer, input side first.
        x_rms: the input's rms per model (K,), the reference for activation ratios.
        thresholds: the cut-offs (see :class:`Thresholds`).
        remeasure: the engine's :data:`Remeasure` function; None: no init is recommended
            (it could not be verified), only what the numbers say.

    Returns:
        Findings sorted by model, severity, layer; empty for a healthy network.
    """
    th = as_thresholds(thresholds)
    if not stats:
        return []
    n_models = stats[0].pre_rms.shape[0]
    out: list[Finding] = []
    for k in range(n_models):
        xr = float(np.asarray(x_rms)[k])
        checker = _Verifier(stats, k, xr, th, remeasure)
        out.extend(checker.finish(d) for d in _model_findings(stats, k, xr, th))
    out.sort(key=lambda f: (f.model, _SEVERITY_ORDER[f.severity], f.layer, CODES.index(f.code)))
    return out


@dataclass(frozen=True)
class DesignNote:
    """Layers that are exactly zero (or get exactly zero gradient) by an init recipe's design.

    Attributes:
        model: the model's index.
        layers: ``(first, last)`` 1-based range of the layers.
        names: their names.
        kind: ``"zero"`` (the weights are 0) or ``"gated"`` (dL/dz is exactly 0).
        reason: why, with the source (e.g. "zero by Fixup's rule (Zhang et al. 2019): ...").
    """

    model: int
    layers: tuple[int, int]
    names: tuple[str, ...]
    kind: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """Return the note as a JSON-friendly dict."""
        d = asdict(self)
        d["layers"], d["names"] = list(self.layers), list(self.names)
        return d

    def __str__(self) -> str:
        a, b = self.layers
        where = f"layer {a}" if a == b else f"layers {a}-{b}"
        what = "" if self.kind == "zero" else "gradient exactly 0, not judged: "
        return f"{where} ({', '.join(self.names[:3])}{', ...' if len(self.names) > 3 else ''})" \
               f": {what}{self.reason}"


def design_notes(stats: Sequence[LayerStats]) -> list[DesignNote]:
    """The by-design zero layers of each model, consecutive layers with one reason merged.

    Example:
        >>> design_notes([])
        []
    """
    if not stats:
        return []
    out: list[DesignNote] = []
    for k in range(stats[0].pre_rms.shape[0]):
        for kind, j in (("zero", 0), ("gated", 1)):
            run: list[int] = []
            for i, st in enumerate([*stats, None]):
                reason = st.design(k)[j] if st is not None else ""
                if run and (reason != stats[run[0]].design(k)[j] or i != run[-1] + 1):
                    out.append(DesignNote(k, (run[0] + 1, run[-1] + 1),
                                          tuple(stats[r].name for r in run), kind,
                                          stats[run[0]].design(k)[j]))
                    run = []
                if reason:
                    run.append(i)
    out.sort(key=lambda n: (n.model, n.layers[0], n.kind))
    return out


# ----------------------------------------------------------------------------- the rules
@dataclass
class _Draft:
    """A finding before its recommendation is verified."""

    sev: str
    code: str
    i: int  # 0-based layer the value was measured at
    value: float
    msg: str
    hint: str = ""
    span: tuple[int, int] = (-1, -1)  # 0-based range past the bound
    quantity: str = ""  # what _quantity measures; default: the code
    extra: dict[str, Any] = field(default_factory=dict)


def _model_findings(stats: Sequence[LayerStats], k: int, x_rms: float,
                    th: Thresholds) -> list[_Draft]:
    out: list[_Draft] = []
    for i, st in enumerate(stats):
        bad = int(st.nonfinite[k])
        if bad:
            out.append(_Draft("error", "non_finite", i, bad,
                              f"{bad} non-finite values (NaN or inf) in its activations or "
                              "gradients.", "Check the input for NaNs and lower the learning "
                              "rate."))
            break
    for i, st in enumerate(stats):
        if st.design(k)[0]:
            continue  # zero by an init recipe's rule: a note of the report, not a problem
        distinct, cos = int(st.distinct_units[k]), float(st.max_cosine[k])
        near = st.fan_in >= th.symmetry_min_fan_in and cos > th.symmetry_cosine
        if st.units > 1 and (distinct < st.units or near):
            sev = "error" if distinct == 1 else "warning"
            msg = (f"only {distinct} distinct unit(s) of {st.units}: units with identical incoming "
                   f"weights learn identically (largest cosine {_g(cos)}).")
            out.append(_Draft(sev, "symmetry", i, distinct, msg,
                              "Use a random init to break the symmetry.",
                              extra={"fan_in": st.fan_in}))
        dead = float(st.dead_fraction[k])
        if not math.isnan(dead) and dead >= th.dead_warn:
            sev = "error" if dead >= th.dead_error else "warning"
            msg = f"{_pct(dead)} of units are dead (never positive on this batch)."
            out.append(_Draft(sev, "dead_units", i, dead, msg))
        sat = float(st.saturated_fraction[k])
        if not math.isnan(sat) and sat >= th.saturation_warn:
            sev = "error" if sat >= th.saturation_error else "warning"
            msg = (f"{_pct(sat)} of {st.activation} outputs are saturated (pre-activation std "
                   f"{_g(st.pre_std[k])}).")
            out.append(_Draft(sev, "saturation", i, sat, msg))
    if x_rms > 0 and math.isfinite(x_rms):
        out += _trend(_activation_ratios(stats, k, x_rms), th.vanishing_activations,
                      th.exploding_activations, "activations",
                      "pre-activation rms is {v} x the input's", "")
    if stats[0].has_gradients:
        ratios = _gradient_ratios(stats, k)
        if ratios is not None:
            out += _trend(ratios, th.vanishing_gradients, th.exploding_gradients, "gradients",
                          "the back-propagated gradient norm is {v} x the output layer's",
                          "Or clip gradients (initlab.optim.clip_by_global_norm).")
        if not any(d.code == "exploding_gradients" for d in out):
            out += _big_updates(stats, k, th)
    return out


def _activation_ratios(stats: Sequence[LayerStats], k: int, x_rms: float) -> np.ndarray:
    """rms(z_l) / rms(x); NaN (not judged) where the layer is zero by design."""
    return np.array([math.nan if st.design(k)[0] else float(st.pre_rms[k]) / x_rms
                     for st in stats])


def _gradient_ratios(stats: Sequence[LayerStats], k: int) -> np.ndarray | None:
    norms = np.array([float(st.grad_pre_rms[k]) * math.sqrt(st.size) for st in stats])
    ref = norms[-1]
    if not (ref > 0 and math.isfinite(ref)):
        return None
    ratios = norms / ref
    ratios[-1] = 1.0
    ratios[[bool(st.design(k)[1]) for st in stats]] = math.nan  # exactly 0 by design
    return ratios


def _update_ratios(stats: Sequence[LayerStats], k: int) -> np.ndarray:
    ratios = np.array([float(st.update_ratio[k]) for st in stats])
    ratios[~np.isfinite(ratios)] = 0.0  # zero weights (inf) are the symmetry finding's business
    return ratios


def _big_updates(stats: Sequence[LayerStats], k: int, th: Thresholds) -> list[_Draft]:
    """An exploding_gradients warning where one step would rewrite a (non-zero) layer."""
    ratios = _update_ratios(stats, k)
    i = int(np.argmax(ratios))
    if ratios[i] <= th.update_ratio_high:
        return []
    msg = (f"one step changes the weights by {_g(ratios[i])} x their norm "
           f"(||lr * grad W|| / ||W|| above {_g(th.update_ratio_high)}).")
    hint = (f"The ratio is proportional to the learning rate: dividing it by "
            f"{_g(ratios[i] / th.update_ratio_high)} brings it to {_g(th.update_ratio_high)}; "
            "or clip gradients.")
    return [_Draft("warning", "exploding_gradients", i, float(ratios[i]), msg, hint,
                   quantity="update_ratio")]


def _trend(ratios: np.ndarray, low: float, high: float, what: str, template: str,
           clip_hint: str) -> list[_Draft]:
    """One finding per direction, at the layer with the most extreme ratio (its value), with
    the range of layers past the bound as a separate field."""
    out = []
    finite = np.where(np.isnan(ratios), 1.0, ratios)
    for kind, mask in (("vanishing", finite < low), ("exploding", finite > high)):
        if not mask.any():
            continue
        vanish = kind == "vanishing"
        at = int(np.argmin(finite) if vanish else np.argmax(finite))
        v = float(finite[at])
        bound = low if vanish else high
        sev = "error" if (v < bound * bound if vanish else v > bound * bound) else "warning"
        first = int(np.argmax(mask))
        last = len(mask) - 1 - int(np.argmax(mask[::-1]))
        span = f"layer {first + 1}" if first == last else f"layers {first + 1}-{last + 1}"
        side = "below" if vanish else "above"
        msg = f"{template.format(v=_g(v))} ({side} {_g(bound)} at {span})."
        out.append(_Draft(sev, f"{kind}_{what}", at, v, msg, "" if vanish else clip_hint,
                          (first, last)))
    return out


# ----------------------------------------------------------------------------- verification
def _quantity(d: _Draft, stats: Sequence[LayerStats], k: int, x_rms: float,
              th: Thresholds) -> float:
    """The draft's number, measured on ``stats`` (model ``k``) the way the rule measures it."""
    code = d.quantity or d.code
    st = stats[d.i]
    if code == "non_finite":
        return float(sum(int(s.nonfinite[k]) for s in stats))
    if code == "symmetry":  # copies where the cosine test does not apply, else the cosine
        if st.fan_in < th.symmetry_min_fan_in:
            return float(st.units - int(st.distinct_units[k]))
        return float(st.max_cosine[k]) if st.units > 1 else math.nan
    if code == "dead_units":
        return float(st.dead_fraction[k])
    if code == "saturation":
        return float(st.saturated_fraction[k])
    if code == "update_ratio":
        return float(_update_ratios(stats, k).max())
    if code.endswith("activations"):
        r = _activation_ratios(stats, k, x_rms)
    else:
        g = _gradient_ratios(stats, k)
        if g is None:
            return math.nan
        r = g
    r = np.where(np.isnan(r), 1.0, r)
    return float(r.min() if code.startswith("vanishing") else r.max())


_LABELS = {"non_finite": "non-finite values", "dead_units": "dead fraction",
           "saturation": "saturated fraction", "update_ratio": "||lr * grad W|| / ||W||",
           "vanishing_activations": "worst ratio", "exploding_activations": "worst ratio",
           "vanishing_gradients": "worst ratio", "exploding_gradients": "worst ratio"}


def _label(d: _Draft, th: Thresholds) -> str:
    code = d.quantity or d.code
    if code == "symmetry":
        small = d.extra.get("fan_in", th.symmetry_min_fan_in) < th.symmetry_min_fan_in
        return "duplicate units" if small else "largest cosine"
    return _LABELS[code]


def _verdict(d: _Draft, before: float, after: float, th: Thresholds,
             symmetric: bool) -> tuple[bool, bool]:
    """(moved the right way, fixed) for a re-measured quantity."""
    if not math.isfinite(after):
        return False, False
    code = d.quantity or d.code
    if code == "non_finite":
        return after < before, after == 0
    if code == "symmetry":
        small = d.extra.get("fan_in", th.symmetry_min_fan_in) < th.symmetry_min_fan_in
        fixed = not symmetric and (small or after <= th.symmetry_cosine)
        return fixed or after < (before - 1 if small else before - 0.1), fixed
    if code in ("dead_units", "saturation"):
        limit = th.dead_warn if code == "dead_units" else th.saturation_warn
        return after <= before / 2 or after < limit, after < limit
    if code == "update_ratio":
        return after <= before / 2, after <= th.update_ratio_high
    if code.startswith("vanishing"):
        bound = th.vanishing_activations if code.endswith("activations") else \
            th.vanishing_gradients
        return after >= 2 * before, after >= bound
    bound = th.exploding_activations if code.endswith("activations") else th.exploding_gradients
    return after <= before / 2, after <= bound


class _Verifier:
    """Re-measures candidate inits for one model and words each finding's recommendation."""

    def __init__(self, stats: Sequence[LayerStats], k: int, x_rms: float, th: Thresholds,
                 remeasure: Remeasure | None) -> None:
        self.stats, self.k, self.x_rms, self.th, self.remeasure = stats, k, x_rms, th, remeasure
        self.cache: dict[tuple[str | None, ...], Sequence[LayerStats] | None] = {}

    def _measured(self, inits: tuple[str | None, ...]) -> Sequence[LayerStats] | None:
        if inits not in self.cache:
            try:
                self.cache[inits] = self.remeasure(self.k, inits) if self.remeasure else None
            except Exception:  # noqa: BLE001 - a candidate the engine cannot build: not verified
                self.cache[inits] = None
        return self.cache[inits]

    def finish(self, d: _Draft) -> Finding:
        st = self.stats[d.i]
        span = d.span if d.span[0] >= 0 else (d.i, d.i)
        fix, after, fixed, text = self._try_inits(d)
        if fix is None or not fixed:
            text = " ".join(t for t in (text, _what_else(d, self.stats, self.k,
                                                          self.remeasure is not None)) if t)
        hint = "" if fixed and d.code == "symmetry" else d.hint
        rec = " ".join(t for t in (text, hint) if t)
        return Finding(d.sev, d.code, d.i + 1, st.name, self.k, float(d.value),
                       f"layer {d.i + 1}: {d.msg}", rec, (span[0] + 1, span[1] + 1), fix,
                       after, fixed)

    def _try_inits(self, d: _Draft) -> tuple[str | None, float | None, bool, str]:
        """The best verified init for the draft: (spec, new value, fixed, sentence)."""
        from initlab.init import get

        st, k = self.stats[d.i], self.k
        if self.remeasure is None:
            return None, None, False, ""
        before = _quantity(d, self.stats, k, self.x_rms, self.th)
        errors_before = {x.code for x in _model_findings(self.stats, k, self.x_rms, self.th)
                         if x.sev == "error"}
        best: tuple[tuple[str, ...], float, bool, float] | None = None
        tried: list[str] = []
        for spec in candidate_inits(st):
            std = get(spec).std((st.fan_in, st.units))
            inits = fix_inits(self.stats, d.i, spec)
            if _unchanged(self.stats, k, inits):
                tried.append(f"{spec} has your weights' std {_g(std)} (no change)")
                continue  # the weights already have this scale: no change to recommend
            new = self._measured(inits)
            if new is None:
                tried.append(f"{spec} could not be re-measured")
                continue
            after = _quantity(d, new, 0, self.x_rms, self.th)
            symmetric = int(new[d.i].distinct_units[0]) < new[d.i].units
            moved, fixed = _verdict(d, before, after, self.th, symmetric)
            # a fix that creates a new error (e.g. saturation) is no fix
            errors_after = {x.code for x in _model_findings(new, 0, self.x_rms, self.th)
                            if x.sev == "error"}
            added = sorted(errors_after - errors_before - {d.code})
            if added:
                tried.append(f"{spec} gives {_g(before)} -> {_g(after)} but adds "
                             f"{', '.join(added)} (error)")
                continue
            if not moved:
                tried.append(f"{spec} gives {_g(before)} -> {_g(after)} (not the right way)")
            if moved and (best is None or (fixed and not best[2])):
                best = (inits, after, fixed, std)
            if fixed:
                break
        if best is None:
            return None, None, False, ("Re-measured on this batch: " + "; ".join(tried) + "."
                                       if tried else "")
        inits, after, fixed, std = best
        spec = inits[d.i]
        verdict = "fixed" if fixed else "better, not fixed"
        biases = (f", zero biases (yours rms {_g(math.sqrt(float(st.sigma_b2[k])))})"
                  if float(st.sigma_b2[k]) > 0 else "")
        text = (f"Re-measured on this batch with {_where(inits)} (std {_g(std)} at layer "
                f"{d.i + 1}, fan_in {st.fan_in}; yours {_g(st.w_std[k])}{biases}): "
                f"{_label(d, self.th)} {_g(before)} -> {_g(after)} ({verdict}).")
        return spec, after, fixed, text


def _where(inits: Sequence[str]) -> str:
    """``he_normal in layers 1-5, glorot_uniform in layer 6``."""
    groups: list[tuple[str, int, int]] = []
    for i, spec in enumerate(inits):
        if groups and groups[-1][0] == spec and groups[-1][2] == i:
            groups[-1] = (spec, groups[-1][1], i + 1)
        else:
            groups.append((spec, i + 1, i + 1))
    return ", ".join(f"{spec} in layer {a}" if a == b else f"{spec} in layers {a}-{b}"
                     for spec, a, b in groups)


def _what_else(d: _Draft, stats: Sequence[LayerStats], k: int, remeasured: bool) -> str:
    """What fixes a finding when no init does, with a number from mean-field theory.

    Without a re-measure function (``remeasured`` False) the theory's critical init is named,
    marked as not re-measured.
    """
    st = stats[d.i]
    code = d.code
    if code in ("non_finite", "symmetry") or code == "exploding_gradients" and d.quantity:
        return "" if remeasured else "(No init re-measured: no re-measure function was given.)"
    if code == "dead_units":
        return ("No init tried fixes it: look at the biases (a large negative bias kills "
                "units) or the input's scale, or use leaky_relu/elu, whose units cannot die.")
    from initlab.diagnose import theory

    same = [s for s in stats if s.activation == st.activation]
    depth = len(same)
    inner = same[1:] if len(same) > 1 and same[0] is stats[0] else same  # layer 1 sees x
    sw2 = float(np.mean([s.sigma_w2[k] for s in inner]))
    sb2 = float(np.mean([s.sigma_b2[k] for s in inner]))
    lead = "No init tried fixes it." if remeasured else (
        "Not re-measured (no re-measure function was given), so no init is recommended.")
    try:
        mf = theory.mean_field(st.activation, sw2, sb2)
    except Exception:  # noqa: BLE001 - softmax or a custom activation: no theory sentence
        return (f"{lead} Change the activation, use fewer layers, or put a normalization "
                "layer between them.")
    gain = mf.chi_1 ** (depth / 2) if math.isfinite(mf.chi_1) else math.nan
    parts = [f"{lead} Mean-field theory at your layers' sigma_w^2 = {_g(mf.sigma_w2)}: each "
             f"{st.activation} layer multiplies the gradient norm by sqrt(chi_1) = "
             f"{_g(math.sqrt(mf.chi_1))}, {_g(gain)} over its {depth} layers."]
    crit = _critical(st.activation)
    if not remeasured and crit is not None and st.activation != "sigmoid":
        parts.append(f"In theory sigma_w^2 = {_g(crit)} (variance_scaling(scale={crit:.4g}, "
                     "mode=fan_in)) makes chi_1 = 1.")
    if st.activation == "sigmoid" and crit is not None:
        q = theory.mean_field("sigmoid", crit, 0.0).q_star
        parts.append(f"sigmoid's derivative is at most 1/4, and the sigma_w^2 = {_g(crit)} "
                     f"that makes chi_1 = 1 drives the pre-activations to q* = {_g(q)}, "
                     "deep in saturation.")
    options = []
    if st.activation != "tanh":
        options.append(f"tanh with glorot (chi_1 = {_g(theory.mean_field('tanh', 1.0).chi_1)})")
    if st.activation != "relu":
        options.append(f"relu with he_normal (chi_1 = {_g(theory.mean_field('relu', 2.0).chi_1)})")
    options += ["fewer layers", "a normalization layer (batch or layer norm) that rescales "
                "every layer's pre-activations to unit variance"]
    parts.append("What fixes it: " + ", ".join(options[:-1]) + ", or " + options[-1] + ".")
    return " ".join(parts)
