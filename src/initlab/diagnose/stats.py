"""Per-layer, per-model numbers read from a :class:`~initlab.trace.Trace` (never recomputed).

Engine-neutral: the trace may come from the NumPy engine or the PyTorch adapter. Every
statistic is an array with one value per model (K,), computed for all K models at once. A
dense layer's z is (K, n, units); a conv layer's is (K, n, *positions, channels), and its
statistics are per channel over the samples and the positions (a channel is one "unit").
Definitions (thresholds live in :mod:`initlab.diagnose.thresholds`):

* ``pre_*`` / ``post_*``: mean, std and root-mean-square of pre-activations z and activations
  a over the batch, the positions and the units. ``pre_rms**2`` is the measured mean-field
  length ``q_l``.
* ``dead_fraction``: units (conv: channels) whose pre-activation is never positive on the
  batch, at any position (ReLU family of :mod:`initlab.activations`: relu, leaky_relu, elu,
  gelu, softplus; NaN for other activations). For relu such a unit passes no gradient.
* ``zero_fraction``: outputs exactly 0.
* ``saturated_fraction``: tanh outputs with ``|a| > tanh_saturation``; sigmoid outputs below
  ``sigmoid_low`` or above ``sigmoid_high`` (NaN for other activations).
* ``sigma_w2`` = ``fan_in * mean(W**2)`` and ``sigma_b2`` = ``mean(b**2)``: the init as the
  mean-field theory sees it; ``w_std`` is the weights' std.
* ``distinct_units``: units with distinct incoming weights and bias (exact copies counted
  once); ``max_cosine``: the largest cosine similarity between the incoming weights of two
  units (two all-zero units count as 1; at most ``max_cosine_units`` units are compared).
* ``nonfinite``: NaN or inf values in z, a and (with gradients) the gradients.
* With gradients: ``grad_W_norm``, ``grad_b_norm`` (Frobenius), ``grad_pre_std`` and
  ``grad_pre_rms`` of the back-propagated signal dL/dz, and
  ``update_ratio = ||lr * grad W|| / ||W||`` (inf where W is 0).

Example:
    >>> from initlab.nn import Dense, Sequential
    >>> m = Sequential([Dense(8, activation="relu", init="zeros")], input_dim=3)
    >>> _, tr = m.forward(np.ones((5, 3)), trace=True)
    >>> st = trace_stats(tr)[0]
    >>> int(st.distinct_units[0]), float(st.dead_fraction[0])
    (1, 1.0)
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from initlab.activations import RELU_FAMILY
from initlab.diagnose.thresholds import Thresholds, as_thresholds
from initlab.errors import ConfigError, ShapeError
from initlab.trace import LayerTrace, Trace

__all__ = ["LayerStats", "layer_stats", "trace_stats", "input_rms", "RELU_FAMILY"]

MAX_COSINE_UNITS = 512
"""Units compared for ``max_cosine`` (the first ones); bounds the (units x units) product."""


@dataclass
class LayerStats:
    """The statistics of one layer; every array field has one value per model, shape (K,)."""

    name: str
    activation: str
    fan_in: int
    units: int
    pre_mean: np.ndarray
    pre_std: np.ndarray
    pre_rms: np.ndarray
    post_mean: np.ndarray
    post_std: np.ndarray
    post_rms: np.ndarray
    dead_fraction: np.ndarray
    zero_fraction: np.ndarray
    saturated_fraction: np.ndarray
    w_std: np.ndarray
    sigma_w2: np.ndarray
    sigma_b2: np.ndarray
    distinct_units: np.ndarray
    max_cosine: np.ndarray
    nonfinite: np.ndarray
    grad_W_norm: np.ndarray | None = None  # noqa: N815 - the conventional name
    grad_b_norm: np.ndarray | None = None
    grad_pre_std: np.ndarray | None = None
    grad_pre_rms: np.ndarray | None = None
    update_ratio: np.ndarray | None = None
    positions: int = 1
    """Positions per sample (1 for a dense layer; H * W for a Conv2d's output)."""
    zero_by: tuple[str, ...] | None = None
    """Per model, why W is exactly 0 by design ("" none; see :mod:`initlab.trace`)."""
    gated_by: tuple[str, ...] | None = None
    """Per model, why dL/dz is exactly 0 by design ("" none)."""

    def design(self, k: int) -> tuple[str, str]:
        """Model ``k``'s ``(zero_by, gated_by)`` reasons ("" where none)."""
        return ((self.zero_by[k] if self.zero_by else ""),
                (self.gated_by[k] if self.gated_by else ""))

    @property
    def size(self) -> int:
        """Values per sample: ``units * positions`` (a per-sample norm is ``sqrt(size) * rms``)."""
        return self.units * self.positions

    @property
    def has_gradients(self) -> bool:
        """True when the trace had gradients."""
        return self.grad_W_norm is not None

    def model(self, k: int) -> dict[str, Any]:
        """Return model ``k``'s numbers as a dict of Python scalars (None where absent)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, np.ndarray):
                v = v.item(k)
            elif f.name in ("zero_by", "gated_by"):
                v = (v[k] or None) if v else None
            out[f.name] = v
        return out


def _moments(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, std and rms over all but the model axis, accumulated in float64."""
    with np.errstate(over="ignore", invalid="ignore"):
        axes = tuple(range(1, a.ndim))
        mean = a.mean(axis=axes, dtype=np.float64)
        ms = np.square(a, dtype=np.float64).mean(axis=axes)
        var = np.maximum(ms - mean * mean, 0.0)
    return mean, np.sqrt(var), np.sqrt(ms)


def _norm(a: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        return np.sqrt(np.square(a, dtype=np.float64).sum(axis=tuple(range(1, a.ndim))))


def _nonfinite(*arrays: np.ndarray | None) -> np.ndarray:
    total = None
    for a in arrays:
        if a is None:
            continue
        n = (~np.isfinite(a)).sum(axis=tuple(range(1, a.ndim)))
        total = n if total is None else total + n
    return np.asarray(total, dtype=np.int64)


def _distinct_units(W: np.ndarray, b: np.ndarray) -> np.ndarray:  # noqa: N803
    """Number of distinct (incoming weights, bias) columns per model: exact byte comparison."""
    cols = np.concatenate([W, b[:, None, :]], axis=1).transpose(0, 2, 1)
    cols = np.ascontiguousarray(cols + 0.0)  # + 0.0 folds -0.0 into 0.0
    keys = cols.view(np.dtype((np.void, cols.shape[2] * cols.itemsize)))[..., 0]
    keys = np.sort(keys, axis=1)
    return 1 + (keys[:, 1:] != keys[:, :-1]).sum(axis=1)


def _max_cosine(W: np.ndarray, max_units: int = MAX_COSINE_UNITS) -> np.ndarray:  # noqa: N803
    """Largest cosine similarity between two units' incoming weights, per model."""
    w = W[:, :, :max_units].astype(np.float64)
    units = w.shape[2]
    if units < 2:
        return np.full(w.shape[0], np.nan)
    norm = np.sqrt(np.square(w).sum(axis=1))  # (K, units)
    zero = norm == 0
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        wn = w / np.where(zero, 1.0, norm)[:, None, :]
        gram = np.matmul(wn.transpose(0, 2, 1), wn)
    gram[zero[:, :, None] & zero[:, None, :]] = 1.0
    idx = np.arange(units)
    gram[:, idx, idx] = -np.inf
    gram = np.where(np.isfinite(gram) | (gram == -np.inf), gram, -np.inf)
    best = gram.max(axis=(1, 2))
    return np.where(best == -np.inf, np.nan, best)


def _saturated(name: str, post: np.ndarray, th: Thresholds) -> np.ndarray:
    axes = tuple(range(1, post.ndim))
    if name == "tanh":
        return (np.abs(post) > th.tanh_saturation).mean(axis=axes)
    if name == "sigmoid":
        return ((post < th.sigmoid_low) | (post > th.sigmoid_high)).mean(axis=axes)
    return np.full(post.shape[0], np.nan)


def layer_stats(
    lt: LayerTrace,
    lr: float = 0.01,
    thresholds: Thresholds | dict | None = None,
    max_cosine_units: int = MAX_COSINE_UNITS,
) -> LayerStats:
    """Compute the statistics of one traced layer for all K models at once.

    Args:
        lt: the layer's trace.
        lr: learning rate for ``update_ratio``.
        thresholds: saturation cut-offs (see :class:`Thresholds`).
        max_cosine_units: how many units ``max_cosine`` compares.

    Returns:
        A :class:`LayerStats`.

    Raises:
        ShapeError: arrays in the trace do not have the Trace contract's shapes.

    Example:
        >>> z = np.full((1, 2, 3), 5.0)
        >>> lt = LayerTrace("d", "tanh", pre=z, post=np.tanh(z),
        ...                 W=np.ones((1, 4, 3)), b=np.zeros((1, 3)))
        >>> float(layer_stats(lt).saturated_fraction[0])
        1.0
    """
    th = as_thresholds(thresholds)
    if (lt.pre.ndim < 3 or lt.post.shape != lt.pre.shape or lt.W.ndim != 3
            or lt.pre.shape[-1] != lt.W.shape[-1]):
        raise ShapeError(
            f"layer {lt.name}: expected pre/post (K, n, units) or (K, n, *positions, channels) "
            f"and W (K, fan_in, units); got pre {lt.pre.shape}, post {lt.post.shape}, "
            f"W {lt.W.shape}"
        )
    K, fan_in, units = lt.W.shape  # noqa: N806
    pre_mean, pre_std, pre_rms = _moments(lt.pre)
    post_mean, post_std, post_rms = _moments(lt.post)
    sample_axes = tuple(range(1, lt.pre.ndim - 1))  # samples and positions
    if lt.activation in RELU_FAMILY:
        dead = 1.0 - (lt.pre > 0).any(axis=sample_axes).mean(axis=1)
    else:
        dead = np.full(K, np.nan)
    w_mean, w_std, w_rms = _moments(lt.W)
    b = lt.b if lt.b is not None else np.zeros((K, units), dtype=lt.W.dtype)  # no bias: b = 0
    _, _, b_rms = _moments(b)
    st = LayerStats(
        name=lt.name,
        activation=lt.activation,
        fan_in=int(fan_in),
        units=int(units),
        pre_mean=pre_mean,
        pre_std=pre_std,
        pre_rms=pre_rms,
        post_mean=post_mean,
        post_std=post_std,
        post_rms=post_rms,
        dead_fraction=dead,
        zero_fraction=(lt.post == 0).mean(axis=tuple(range(1, lt.post.ndim))),
        saturated_fraction=_saturated(lt.activation, lt.post, th),
        w_std=w_std,
        sigma_w2=fan_in * w_rms**2,
        sigma_b2=b_rms**2,
        distinct_units=_distinct_units(lt.W, b),
        max_cosine=_max_cosine(lt.W, max_cosine_units),
        nonfinite=_nonfinite(lt.pre, lt.post, lt.grad_W, lt.grad_b, lt.grad_pre),
        positions=int(np.prod(lt.pre.shape[2:-1], dtype=np.int64)),
        zero_by=lt.zero_by,
        gated_by=lt.gated_by,
    )
    if lt.grad_W is not None:
        st.grad_W_norm = _norm(lt.grad_W)
        st.grad_b_norm = _norm(lt.grad_b) if lt.grad_b is not None else np.full(K, np.nan)
        if lt.grad_pre is not None:
            _, st.grad_pre_std, st.grad_pre_rms = _moments(lt.grad_pre)
        else:
            st.grad_pre_std = st.grad_pre_rms = np.full(K, np.nan)
        w_norm = _norm(lt.W)
        with np.errstate(divide="ignore", invalid="ignore"):
            st.update_ratio = np.where(w_norm > 0, abs(lr) * st.grad_W_norm / w_norm, np.inf)
    return st


def input_rms(trace: Trace) -> np.ndarray:
    """Root-mean-square of the traced input, per model (K,) (a shared input is broadcast).

    Example:
        >>> float(input_rms(Trace(x=np.full((2, 3), 2.0), layers=()))[0])
        2.0
    """
    x = np.asarray(trace.x)
    k = max(trace.n_models, 1)
    if x.ndim == 2:
        rms = np.sqrt(np.square(x, dtype=np.float64).mean())
        return np.full(k, rms)
    return _moments(x)[2]


def trace_stats(
    trace: Trace,
    lr: float = 0.01,
    thresholds: Thresholds | dict | None = None,
    max_cosine_units: int = MAX_COSINE_UNITS,
) -> list[LayerStats]:
    """Compute :func:`layer_stats` for every layer of a trace (input side first).

    Example:
        >>> from initlab.nn import Dense, Sequential
        >>> m = Sequential([Dense(4, activation="tanh"), Dense(2)], input_dim=3, n_models=2)
        >>> [s.pre_rms.shape for s in trace_stats(m.forward(np.ones((5, 3)), trace=True)[1])]
        [(2,), (2,)]
    """
    if not isinstance(trace, Trace):
        raise ConfigError(f"expected an initlab.trace.Trace; got {type(trace).__name__}")
    return [layer_stats(lt, lr, thresholds, max_cosine_units) for lt in trace.layers]
