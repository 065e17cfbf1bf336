"""``inspect``: one call that measures every layer, names what is wrong, and says what to change.

The Report holds the per-layer statistics of each of the K models, the findings (each
recommendation re-measured on the same batch, see :mod:`~initlab.diagnose.findings`), and what
mean-field theory predicts for the same weights (the length ``q_l`` of every layer, from the
weights' ``sigma_w2 = fan_in * mean(W**2)`` and the input's per-sample mean square), so
``print(report)`` shows prediction beside measurement.

Mean-field theory describes wide networks whose weights are i.i.d. random draws, i.e. at
initialization. :func:`inspect` checks whether each model's weights are still the ones its
init drew (by drawing them again from the same specs and seeds and comparing exactly); for a
trained model the theory columns and the mean-field line are left out and the report says why.
The phase (ordered / critical / chaotic) of measured weights is judged within their sampling
noise: ``sigma_w2`` measured from ``n`` i.i.d. weights has a relative standard deviation of
about ``sqrt(2 / n)``, so a He/ReLU net whose measured ``sigma_w2`` is 1.993 or 2.007 is
critical, not "ordered" or "chaotic".

Example:
    >>> import numpy as np
    >>> from initlab.nn import Dense, Sequential
    >>> m = Sequential([Dense(64, activation="relu", init="he_normal") for _ in range(3)],
    ...                input_dim=32)
    >>> rep = inspect(m, np.random.default_rng(0).standard_normal((256, 32)))
    >>> rep.findings
    []
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from initlab.activations import lookup
from initlab.diagnose import theory
from initlab.diagnose.findings import DesignNote, Finding, Remeasure, design_notes, find
from initlab.diagnose.stats import LayerStats, input_rms, trace_stats
from initlab.diagnose.thresholds import Thresholds, as_thresholds
from initlab.errors import ConfigError
from initlab.trace import Trace

__all__ = ["Report", "inspect", "report_from_trace", "predict_q", "predict_grad",
           "numpy_remeasure", "at_init"]

MAX_Q0_QUANTILES = 64
"""The input's per-sample mean squares are summarized by this many quantiles for theory."""
NOISE_SDS = 3.0
"""A measured sigma_w2 within this many sampling standard deviations of the critical one is
critical."""
IID_NOTE = "mean-field theory assumes i.i.d. random weights, as drawn at initialization"


@dataclass
class Report:
    """What :func:`inspect` measured and concluded.

    Attributes:
        stats: one :class:`LayerStats` per layer (arrays over the K models).
        findings: every :class:`Finding`, sorted by model, severity and layer.
        predicted_q: (n_layers, K) mean-field prediction of each layer's mean squared
            pre-activation (NaN where the theory does not apply, e.g. after softmax).
        predicted_grad: (n_layers, K) mean-field prediction of the per-sample norm of
            dL/dz at each layer, back-propagated from the measured one at the output (None
            without gradients).
        mean_field: per model, the :class:`~initlab.diagnose.theory.MeanField` of the hidden
            layers when they share one activation (None otherwise).
        labels: a label per model (its init spec when known).
        loss: (K,) loss on the batch, or None.
        n_samples: the batch size.
        thresholds: the cut-offs used.
        at_init: per model, True when its weights are the ones its init drew, False when
            they changed (trained: no theory is shown for it), None when unknown.
        mean_field_notes: per model, a sentence qualifying its mean-field line ("" if none).
        design: layers that are zero (or get exactly zero gradient) by an init recipe's
            design, e.g. Fixup's zero classifier: stated, not judged as findings.
    """

    stats: list[LayerStats]
    findings: list[Finding]
    predicted_q: np.ndarray
    mean_field: list[theory.MeanField | None]
    labels: list[str]
    predicted_grad: np.ndarray | None = None
    loss: np.ndarray | None = None
    n_samples: int = 0
    thresholds: Thresholds = field(default_factory=Thresholds)
    at_init: list[bool | None] | None = None
    mean_field_notes: list[str] | None = None
    design: list[DesignNote] = field(default_factory=list)

    def theory_applies(self, k: int) -> bool:
        """False when model ``k``'s weights are known to be trained (not i.i.d. at init)."""
        return self.at_init is None or self.at_init[k] is not False

    @property
    def n_models(self) -> int:
        """K, the number of models."""
        return len(self.labels)

    def measured_q(self) -> np.ndarray:
        """Return (n_layers, K): each layer's measured mean squared pre-activation."""
        return np.stack([st.pre_rms**2 for st in self.stats])

    def to_dict(self) -> dict[str, Any]:
        """Return the report as JSON-friendly nested dicts and lists (NaN/inf as None).

        Example:
            >>> isinstance(Report([], [], np.zeros((0, 1)), [None], ["m"]).to_dict(), dict)
            True
        """
        models = []
        for k in range(self.n_models):
            layers = []
            for i, st in enumerate(self.stats):
                row = st.model(k)
                row["predicted_q"] = (float(self.predicted_q[i, k]) if self.theory_applies(k)
                                      else None)
                row["measured_q"] = float(st.pre_rms[k]) ** 2
                if self.predicted_grad is not None:
                    row["predicted_grad_pre_norm"] = (float(self.predicted_grad[i, k])
                                                      if self.theory_applies(k) else None)
                    row["grad_pre_norm"] = float(st.grad_pre_rms[k]) * math.sqrt(st.size)
                layers.append(row)
            mf = self.mean_field[k] if self.theory_applies(k) else None
            models.append({
                "label": self.labels[k],
                "loss": None if self.loss is None else float(self.loss[k]),
                "layers": layers,
                "at_init": None if self.at_init is None else self.at_init[k],
                "mean_field": None if mf is None else mf.to_dict(),
                "mean_field_note": self._note(k),
                "findings": [f.to_dict() for f in self.findings if f.model == k],
                "by_design": [n.to_dict() for n in self.design if n.model == k],
            })
        return _clean({"n_samples": self.n_samples, "models": models,
                       "thresholds": self.thresholds.__dict__})

    def to_json(self, indent: int | None = 2) -> str:
        """Return :meth:`to_dict` as a JSON string."""
        return json.dumps(self.to_dict(), indent=indent)

    def _note(self, k: int) -> str:
        if not self.theory_applies(k):
            return ("mean field: not shown, these weights were trained (" + IID_NOTE
                    + "; it does not describe learned weights)")
        notes = self.mean_field_notes
        return notes[k] if notes else ""

    def table(self, k: int = 0) -> str:
        """Return model ``k``'s per-layer table (measurement beside the theory's q)."""
        theory_ok = self.theory_applies(k)
        grads = bool(self.stats) and self.stats[0].has_gradients
        head = ["layer", "name", "act", "units", "z mean", "z std", "q", "q theory", "a mean",
                "a std", "dead", "sat", "distinct", "max cos"]
        if grads:
            head += ["|dL/dW|", "|dL/dz|", "theory", "lr*g/W"]
        rows = [head]
        for i, st in enumerate(self.stats):
            row = [
                str(i + 1), st.name, st.activation, str(st.units), _f(st.pre_mean[k]),
                _f(st.pre_std[k]), _f(st.pre_rms[k] ** 2),
                _f(self.predicted_q[i, k] if theory_ok else np.nan), _f(st.post_mean[k]),
                _f(st.post_std[k]), _p(st.dead_fraction[k]), _p(st.saturated_fraction[k]),
                str(int(st.distinct_units[k])), _f(st.max_cosine[k]),
            ]
            if grads:
                gnorm = st.grad_pre_rms[k] * math.sqrt(st.size)
                pg = (np.nan if self.predicted_grad is None or not theory_ok
                      else self.predicted_grad[i, k])
                row += [_f(st.grad_W_norm[k]), _f(gnorm), _f(pg), _f(st.update_ratio[k])]
            rows.append(row)
        widths = [max(len(r[j]) for r in rows) for j in range(len(head))]
        lines = ["  ".join(c.ljust(w) if j == 1 else c.rjust(w)
                           for j, (c, w) in enumerate(zip(r, widths, strict=True))) for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def __str__(self) -> str:
        parts = []
        for k in range(self.n_models):
            title = f"model {k}: {self.labels[k]}"
            if self.loss is not None:
                title += f"  (loss {_f(self.loss[k])})"
            parts.append(title)
            parts.append(self.table(k))
            mf = self.mean_field[k]
            note = self._note(k)
            if mf is not None and self.theory_applies(k):
                parts.append(f"mean field (hidden layers; {IID_NOTE}): {mf}")
            if note:
                parts.append(f"  {note}" if self.theory_applies(k) else note)
            notes = [n for n in self.design if n.model == k]
            if notes:
                parts.append("by design (not problems):")
                parts += [f"  {n}" for n in notes]
            found = [f for f in self.findings if f.model == k]
            if not found:
                parts.append("findings: none (healthy)")
            else:
                parts.append("findings:")
                parts += [f"  [{f.severity}] {f.code}: {f.message} {f.recommendation}"
                          for f in found]
            parts.append("")
        return "\n".join(parts).rstrip() + "\n"


def _f(x: Any) -> str:
    x = float(x)
    if math.isnan(x):
        return "-"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return "0"
    return f"{x:.3g}" if 1e-3 <= abs(x) < 1e4 else f"{x:.2e}"


def _p(x: Any) -> str:
    x = float(x)
    return "-" if math.isnan(x) else f"{100 * x:.0f}%"


def _clean(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def predict_q(trace: Trace, stats: list[LayerStats]) -> np.ndarray:
    """Mean-field prediction of each layer's mean squared pre-activation, per model.

    Uses each model's measured ``sigma_w2``/``sigma_b2`` per layer and the input's per-sample
    mean squares (summarized by quantiles); NaN after a softmax layer and from the first
    activation the activation table does not have (e.g. ``"silu"``: no prediction).

    Returns:
        (n_layers, K) array.
    """
    n_layers = len(stats)
    k = trace.n_models
    out = np.full((n_layers, k), np.nan)
    if n_layers == 0:
        return out
    x = np.asarray(trace.x, dtype=np.float64)
    per_sample = np.square(x).mean(axis=-1)  # (n,) or (K, n)
    qs = np.linspace(0.0, 1.0, MAX_Q0_QUANTILES)
    q0 = np.quantile(per_sample, qs, axis=-1).T  # (Q,) or (K, Q)
    q0 = np.broadcast_to(q0, (k, MAX_Q0_QUANTILES))
    usable = n_layers
    for i, st in enumerate(stats[:-1]):
        if st.activation == "softmax":
            usable = i + 1
            break
    for i, st in enumerate(stats[:usable]):  # no prediction from an activation the table lacks
        if lookup(st.activation) is None:
            usable = i
            break
    acts = [st.activation for st in stats[:usable]]
    sw = [st.sigma_w2[:, None] for st in stats[:usable]]
    sb = [st.sigma_b2[:, None] for st in stats[:usable]]
    with np.errstate(all="ignore"):
        if usable and all(np.all(np.isfinite(s)) for s in sw + sb):
            out[:usable] = theory.propagate(q0, acts, sw, sb).mean(axis=-1)
    return out


def predict_grad(stats: list[LayerStats], predicted_q: np.ndarray) -> np.ndarray | None:
    """Mean-field prediction of the per-sample norm of dL/dz at each layer, per model.

    Back-propagation through layer ``l + 1`` multiplies the expected squared norm by
    ``sigma_w2[l+1] * E[phi_l'(sqrt(q_l) z)^2]`` (chi at the layer's predicted ``q``), the
    widths cancelling; the output layer's measured norm is the starting point.

    Returns:
        (n_layers, K) array, or None when the stats have no gradients.
    """
    if not stats or not stats[0].has_gradients:
        return None
    n = len(stats)
    out = np.full((n, stats[0].pre_rms.shape[0]), np.nan)
    out[-1] = stats[-1].grad_pre_rms * math.sqrt(stats[-1].size)
    with np.errstate(all="ignore"):
        for i in range(n - 2, -1, -1):
            st = stats[i]
            if st.activation == "softmax" or not np.all(np.isfinite(predicted_q[i])):
                break
            gain = theory.chi(np.maximum(predicted_q[i], 0.0), st.activation,
                              stats[i + 1].sigma_w2)
            out[i] = out[i + 1] * np.sqrt(gain)
    return out


def _mean_fields(stats: list[LayerStats]) -> tuple[list[theory.MeanField | None], list[str]]:
    """Per model: the mean field of the hidden layers (one shared activation) and a note.

    A measured ``sigma_w2`` within :data:`NOISE_SDS` sampling standard deviations
    (``sqrt(2 / n_weights)`` relative) of the critical value is evaluated at the critical
    value: the phase of a knife-edge point is not decided by sampling noise.
    """
    hidden = stats[:-1] if len(stats) > 1 else stats
    k = stats[0].pre_rms.shape[0] if stats else 0
    acts = {st.activation for st in hidden}
    if len(acts) != 1 or "softmax" in acts or not hidden:
        return [None] * k, [""] * k
    (act,) = acts
    rest = hidden[1:] or hidden  # layer 1 sees the raw input; the map is about the rest
    n_weights = sum(st.fan_in * st.units for st in rest)
    rel_noise = math.sqrt(2.0 / n_weights)
    out: list[theory.MeanField | None] = []
    notes: list[str] = []
    for m in range(k):
        sw2 = float(np.mean([st.sigma_w2[m] for st in rest]))
        sb2 = float(np.mean([st.sigma_b2[m] for st in rest]))
        note = ""
        try:
            if not math.isfinite(sw2 + sb2):
                raise ValueError("non-finite weights")
            try:
                crit = theory.critical_sigma_w2(act, sb2)
            except ConfigError:
                crit = math.nan
            if abs(sw2 - crit) <= NOISE_SDS * rel_noise * crit:
                note = (f"measured sigma_w^2 = {sw2:.4g} is the critical {crit:.4g} within its "
                        f"sampling noise (+-{NOISE_SDS:g} sd = {NOISE_SDS * rel_noise * crit:.2g} "
                        f"for {n_weights} weights): evaluated at the critical value")
                sw2 = crit
            out.append(theory.mean_field(act, sw2, sb2))
        except Exception:  # noqa: BLE001 - the theory is an aside; never break the report
            out.append(None)
        notes.append(note)
    return out, notes


def report_from_trace(
    trace: Trace,
    lr: float = 0.01,
    thresholds: Thresholds | dict | None = None,
    labels: list[str] | None = None,
    remeasure: Remeasure | None = None,
    at_init: list[bool | None] | None = None,
) -> Report:
    """Build a Report from a Trace (the engine's, or the PyTorch adapter's).

    Args:
        trace: the traced pass.
        lr: learning rate for ``||lr * grad W|| / ||W||``.
        thresholds: the cut-offs (defaults: :class:`Thresholds`).
        labels: one label per model (default ``model 0`` ...).
        remeasure: the engine's "re-initialize and measure the same batch again" function
            (:data:`~initlab.diagnose.findings.Remeasure`); without it no init is recommended.
        at_init: per model, whether its weights are still the drawn init (None: unknown).

    Returns:
        A :class:`Report`.
    """
    th = as_thresholds(thresholds)
    stats = trace_stats(trace, lr, th)
    k = trace.n_models
    labels = list(labels) if labels is not None else [f"model {i}" for i in range(k)]
    if len(labels) != k:
        raise ConfigError(f"need one label per model ({k}); got {len(labels)}")
    pq = predict_q(trace, stats)
    fields_, notes = _mean_fields(stats)
    return Report(
        stats=stats,
        findings=find(stats, input_rms(trace), th, remeasure),
        predicted_q=pq,
        predicted_grad=predict_grad(stats, pq),
        mean_field=fields_,
        labels=labels,
        at_init=at_init,
        mean_field_notes=notes,
        design=design_notes(stats),
        loss=None if trace.loss is None else np.asarray(trace.loss, dtype=np.float64),
        n_samples=int(np.asarray(trace.x).shape[-2]),
        thresholds=th,
    )


def inspect(
    model: Any,
    x: Any,
    y: Any = None,
    lr: float = 0.01,
    thresholds: Thresholds | dict | None = None,
) -> Report:
    """Measure every layer of every model on a batch and diagnose the init.

    Calls the engine's ``model.trace(x, y)`` (with labels: gradients too) or
    ``model.forward(x, trace=True)``; never recomputes forward or backward math.

    Args:
        model: an :class:`initlab.nn.Sequential` (K models at once).
        x: a batch of inputs (n, input_dim).
        y: labels for the gradient statistics (optional).
        lr: the learning rate for ``||lr * grad W|| / ||W||``.
        thresholds: the cut-offs, a :class:`Thresholds` or a dict of fields to change.

    Returns:
        A :class:`Report`: ``print(report)``, ``report.findings``, ``report.to_dict()``.

    Raises:
        ConfigError: ``model`` cannot be traced.

    Example:
        >>> from initlab.nn import Dense, Sequential
        >>> m = Sequential([Dense(8, activation="tanh", init="zeros")], input_dim=4)
        >>> [f.code for f in inspect(m, np.ones((4, 4))).findings][:1]
        ['symmetry']
    """
    if not (hasattr(model, "forward") and hasattr(model, "trace")):
        raise ConfigError(
            f"inspect needs an initlab.nn.Sequential (with forward and trace); got "
            f"{type(model).__name__}"
        )
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ConfigError(f"lr must be a positive number; got {lr!r}")
    trace = model.trace(x, y) if y is not None else model.forward(x, trace=True)[1]
    specs = getattr(model, "init_specs", None)
    labels = None
    if specs is not None and len(specs) == trace.n_models:
        labels = [_label(s) for s in specs]
    return report_from_trace(trace, lr, thresholds, labels,
                             remeasure=numpy_remeasure(model, x, y, lr, thresholds),
                             at_init=at_init(model))


def _one_model(model: Any, k: int, inits: Any) -> Any:
    """Model ``k`` of an engine Sequential as a one-model copy: layer ``i`` drawn by
    ``inits[i]`` from model ``k``'s seed, or (None) holding model ``k``'s current weights.
    Built from the model's own classes (diagnose imports no engine)."""
    Sequential = type(model)  # noqa: N806 - the engine's classes, taken from the model
    layers = [type(ly)(ly.units, activation=ly.activation, name=ly.name,
                    init="zeros" if spec is None else spec)
              for ly, spec in zip(model.layers, inits, strict=True)]
    one = Sequential(layers, input_dim=model.input_dim, seeds=[model.seeds[k]],
                     dtype=model.dtype)
    for i, spec in enumerate(inits):
        if spec is None:
            one.params.W[i][0] = model.params.W[i][k]
            one.params.b[i][0] = model.params.b[i][k]
    return one


def numpy_remeasure(model: Any, x: Any, y: Any = None, lr: float = 0.01,
                    thresholds: Thresholds | dict | None = None) -> Remeasure:
    """The NumPy engine's :data:`~initlab.diagnose.findings.Remeasure` for ``model`` on ``x``.

    ``remeasure(k, inits)`` builds a one-model copy of model ``k`` (layers with an init spec
    re-drawn from model ``k``'s seed, the others keeping their weights), traces the same batch
    (with ``y``: gradients too) and returns its statistics.

    Example:
        >>> from initlab.nn import Dense, Sequential
        >>> m = Sequential([Dense(8, activation="relu", init="normal(std=0.01)"),
        ...                 Dense(2, activation="softmax")], input_dim=4)
        >>> x = np.random.default_rng(0).standard_normal((32, 4))
        >>> st = numpy_remeasure(m, x)(0, ["he_normal", None])
        >>> float(st[0].w_std[0]) > 0.1
        True
    """
    def remeasure(k: int, inits: Any) -> list[LayerStats]:
        one = _one_model(model, k, list(inits))
        tr = one.trace(x, y) if y is not None else one.forward(x, trace=True)[1]
        return trace_stats(tr, lr, thresholds)

    return remeasure


def at_init(model: Any) -> list[bool | None]:
    """Per model: True when its weights are exactly what its init specs and seeds draw.

    The engine's draws are deterministic, so the weights are drawn again (same specs, seeds
    and dtype, with the model's own classes) and compared bit for bit; None where that cannot
    be done.

    Example:
        >>> from initlab.nn import Dense, Sequential
        >>> m = Sequential([Dense(3, activation="tanh")], input_dim=2, n_models=2)
        >>> at_init(m)
        [True, True]
        >>> m.params.W[0][1] += 1.0
        >>> at_init(m)
        [True, False]
    """
    try:
        fresh = type(model)([type(ly)(ly.units, activation=ly.activation, init=ly.init)
                             for ly in model.layers], input_dim=model.input_dim,
                           n_models=model.n_models, inits=model.inits, seeds=model.seeds,
                           dtype=model.dtype)
    except Exception:  # noqa: BLE001 - a model this check cannot rebuild: unknown
        return [None] * int(getattr(model, "n_models", 1))
    out: list[bool | None] = []
    for k in range(model.n_models):
        out.append(all(np.array_equal(fresh.params.W[i][k], model.params.W[i][k])
                       and np.array_equal(fresh.params.b[i][k], model.params.b[i][k])
                       for i in range(len(model.layers))))
    return out


def _label(spec: Any) -> str:
    if isinstance(spec, (list, tuple)):
        uniq = list(dict.fromkeys(str(s) for s in spec))
        return uniq[0] if len(uniq) == 1 else ", ".join(str(s) for s in spec)
    return str(spec)
