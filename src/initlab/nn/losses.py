"""Losses computed from logits, stably, for K models at once; and the accuracy metric.

Every loss works on the output layer of K models, ``z`` and ``a`` of shape ``(K, n, d)``,
against targets shared by all models. It returns the mean loss per model ``(K,)`` and writes
the gradient into a buffer: with respect to the logits ``z`` for the cross-entropies
(``softmax(z) - t`` and ``sigmoid(z) - t``, divided by ``n``), with respect to the output
``a`` for the mean squared error (the engine then applies the output activation's
derivative).

* ``categorical_crossentropy``: softmax output (or a linear one, read as logits); integer
  labels in ``[0, d)`` or one-hot / probability rows. Loss ``logsumexp(z) - t . z``.
* ``binary_crossentropy``: sigmoid output (or linear logits); targets in ``[0, 1]``.
  Loss ``softplus(z) - t z``, averaged over the output units as Keras does.
* ``mse``: any output; ``mean((a - t)^2)`` over samples and output units.

Determinism: model k's loss and gradient do not depend on K or on the other models. Every
reduction runs per model over a contiguous float64 copy of that model's values (so NumPy's
pairwise summation sees the same row whatever K is), row sums over classes are taken per row,
and choices between formulas depend on one model's size (n * d), never on K * n * d.

Example:
    >>> import numpy as np
    >>> loss = get("categorical_crossentropy")
    >>> t = loss.targets(np.array([0, 1]), n_out=2, dtype=np.float64)
    >>> z = np.zeros((1, 2, 2))
    >>> g = np.empty_like(z)
    >>> round(float(loss.value_and_grad(z, z, t, g)[0]), 6)  # ln 2
    0.693147
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from initlab.errors import DataError, SpecError, unknown
from initlab.nn.activations import Activation, sigmoid

__all__ = ["Loss", "Targets", "get", "infer", "names"]


class Targets:
    """Validated targets for one dataset: dense ``t`` (n, d) plus integer labels when defined.

    Attributes:
        t: (n, d) float targets in the model's dtype (one-hot rows for integer labels).
        labels: (n,) int class labels, or None where classes are not defined.
    """

    def __init__(self, t: np.ndarray, labels: np.ndarray | None) -> None:
        self.t = t
        self.labels = labels

    def __len__(self) -> int:
        return int(self.t.shape[0])

    def take(self, idx: np.ndarray) -> Targets:
        """Return the targets of the samples ``idx`` (a copy)."""
        return Targets(self.t[idx], None if self.labels is None else self.labels[idx])

    def slice(self, start: int, stop: int) -> Targets:
        """Return the targets of samples ``start:stop`` (views)."""
        lab = None if self.labels is None else self.labels[start:stop]
        return Targets(self.t[start:stop], lab)


class Loss:
    """Base class. ``from_logits``: the gradient is taken with respect to z, not a."""

    name: str = ""
    from_logits: bool = True
    output_activations: tuple[str, ...] = ()

    def check_output(self, act: Activation) -> None:
        """Raise SpecError when this loss cannot follow the output activation ``act``."""
        if self.output_activations and act.name not in self.output_activations:
            allowed = ", ".join(self.output_activations)
            raise SpecError(
                f"loss {self.name!r} needs an output activation in ({allowed}); "
                f"the last layer has {act.name!r}"
            )

    def targets(self, y: Any, n_out: int, dtype: Any) -> Targets:
        """Validate ``y`` for a model with ``n_out`` outputs; return :class:`Targets`."""
        raise NotImplementedError

    def value_and_grad(
        self,
        z: np.ndarray,
        a: np.ndarray,
        t: Targets,
        grad: np.ndarray | None,
        need_value: bool = True,
        scale: float = 1.0,
    ) -> np.ndarray | None:
        """Return the mean loss per model (K,) (None unless ``need_value``); write
        ``scale`` * dL/dz (or dL/da for losses not from logits) into ``grad`` when given."""
        raise NotImplementedError

    def plan_grad(
        self, z: np.ndarray, a: np.ndarray, t: Targets, grad: np.ndarray, scale: float
    ) -> list[Callable[[], Any]]:
        """Return calls that write ``scale`` * the gradient into ``grad`` on fixed buffers."""
        return [partial(self.value_and_grad, z, a, t, grad, False, scale)]

    def correct(self, z: np.ndarray, a: np.ndarray, t: Targets) -> np.ndarray:
        """Return the number of correct predictions per model (K,) (NaN if undefined)."""
        if t.labels is None:
            return np.full(z.shape[0], np.nan)
        d = z.shape[-1]
        if d == 1:
            cut = 0.0 if self.from_logits else 0.5
            pred = (z if self.from_logits else a)[..., 0] > cut
        else:
            pred = (z if self.from_logits else a).argmax(axis=-1)
        return np.count_nonzero(pred == t.labels, axis=-1).astype(np.float64)

    def __str__(self) -> str:
        return self.name


def _as_array(y: Any, what: str = "y") -> np.ndarray:
    try:
        arr = np.asarray(y)
    except Exception as err:  # noqa: BLE001 - anything numpy cannot read is a data error
        raise DataError(f"{what} is not array-like: {err}") from None
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise DataError(f"{what} must be numeric; got dtype {arr.dtype}")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise DataError(f"{what} contains NaN or infinite values")
    return arr


def _class_labels(y: np.ndarray, n_classes: int, what: str = "y") -> np.ndarray:
    if y.dtype.kind == "f" and not np.array_equal(y, np.round(y)):
        raise DataError(f"{what}: class labels must be integers; got non-integer values")
    lo, hi = (int(y.min()), int(y.max())) if y.size else (0, 0)
    if lo < 0 or hi >= n_classes:
        bad = lo if lo < 0 else hi
        raise DataError(
            f"{what}: label {bad} is outside [0, {n_classes}) for a model with "
            f"{n_classes} output classes"
        )
    return y.astype(np.intp)


class CategoricalCrossentropy(Loss):
    """Softmax cross-entropy from logits; integer labels or one-hot / probability rows."""

    name = "categorical_crossentropy"
    output_activations = ("softmax", "linear")

    def targets(self, y, n_out, dtype):
        y = _as_array(y)
        if y.ndim == 2 and y.shape[1] == 1 and n_out > 1:
            y = y[:, 0]
        if y.ndim == 1:
            if n_out < 2:
                raise DataError(
                    "categorical cross-entropy needs at least 2 output units; "
                    "use a sigmoid output with binary_crossentropy for 2 classes"
                )
            labels = _class_labels(y, n_out)
            t = np.zeros((len(labels), n_out), dtype=dtype)
            t[np.arange(len(labels)), labels] = 1
            return Targets(t, labels)
        if y.ndim != 2 or y.shape[1] != n_out:
            raise DataError(
                f"y must be (n,) integer labels or (n, {n_out}) one-hot rows; got shape {y.shape}"
            )
        if (y < 0).any() or not np.allclose(y.sum(axis=1), 1.0, atol=1e-5):
            raise DataError("one-hot / probability targets must be >= 0 with rows summing to 1")
        return Targets(y.astype(dtype), y.argmax(axis=1))

    def value_and_grad(self, z, a, t, grad, need_value=True, scale=1.0):
        n = z.shape[1]
        # work sample-major, (n, K, d): the engine's buffers are contiguous that way
        zs, tt = z.transpose(1, 0, 2), t.t[:, None, :]
        m = _row_max(zs)
        e = grad.transpose(1, 0, 2) if grad is not None else np.empty_like(zs)
        np.subtract(zs, m, out=e)
        np.exp(e, out=e)
        s = _row_sum(e)
        loss = None
        if need_value:
            lse = np.log(s)
            lse += m
            loss = _in(z, (_per_model_sum(lse.transpose(1, 0, 2)) - _dot(z, t.t)) / n)
        if grad is not None:
            s *= n / scale  # grad = scale * (softmax - t) / n
            np.divide(e, s, out=e)
            e -= tt * (scale / n)
        return loss


class BinaryCrossentropy(Loss):
    """Sigmoid cross-entropy from logits, averaged over the output units (Keras's rule)."""

    name = "binary_crossentropy"
    output_activations = ("sigmoid", "linear")

    def targets(self, y, n_out, dtype):
        y = _as_array(y)
        if y.ndim == 1:
            y = y[:, None]
        if y.ndim != 2 or y.shape[1] != n_out:
            raise DataError(f"y must be (n,) or (n, {n_out}) for binary targets; got {y.shape}")
        if y.size and (y.min() < 0 or y.max() > 1):
            raise DataError(
                f"binary targets must lie in [0, 1]; got values in [{y.min()}, {y.max()}]"
            )
        labels = y[:, 0].astype(np.intp) if n_out == 1 and np.isin(y, (0, 1)).all() else None
        return Targets(y.astype(dtype), labels)

    def value_and_grad(self, z, a, t, grad, need_value=True, scale=1.0):
        _, n, d = z.shape
        zs = z.transpose(1, 0, 2)  # sample-major, as the buffers are
        loss = None
        if need_value:
            sp = _softplus(zs, small=n * d < 4096)
            loss = _in(z, (_per_model_sum(sp.transpose(1, 0, 2)) - _dot(z, t.t)) / (n * d))
        if grad is not None:
            g = grad.transpose(1, 0, 2)
            if n * d < 4096:
                from initlab.nn.activations import _special

                _special().expit(zs, out=g)
            else:
                sigmoid(zs, out=g)
            g -= t.t[:, None, :]
            g *= scale / (n * d)
        return loss

    def plan_grad(self, z, a, t, grad, scale):
        # scale * (sigmoid(z) - t) / (n d) = c tanh(z / 2) + 2 c (0.5 - t), c = scale / (2 n d)
        _, n, d = z.shape
        zs, g, tt = z.transpose(1, 0, 2), grad.transpose(1, 0, 2), t.t[:, None, :]
        if n * d < 4096:  # small: three calls (scipy's expit) beat six cheaper ones
            from initlab.nn.activations import _special

            return [partial(_special().expit, zs, out=g), partial(np.subtract, g, tt, out=g),
                    partial(np.multiply, g, scale / (n * d), out=g)]
        c = scale / (2 * n * d)
        shift = np.empty_like(tt)
        return [partial(np.multiply, zs, 0.5, out=g), partial(np.tanh, g, out=g),
                partial(np.multiply, g, c, out=g),
                partial(np.subtract, 0.5, tt, out=shift), partial(np.multiply, shift, 2 * c,
                                                                   out=shift),
                partial(np.add, g, shift, out=g)]


class MeanSquaredError(Loss):
    """Mean squared error on the output activations; the gradient is taken w.r.t. a."""

    name = "mse"
    from_logits = False

    def targets(self, y, n_out, dtype):
        y = _as_array(y)
        if y.ndim == 1:
            y = y[:, None]
        if y.ndim != 2 or y.shape[1] != n_out:
            raise DataError(f"y must be (n,) or (n, {n_out}) for mse; got shape {y.shape}")
        labels = None
        if n_out == 1 and np.isin(y, (0, 1)).all():
            labels = y[:, 0].astype(np.intp)
        elif n_out > 1 and np.isin(y, (0, 1)).all() and (y.sum(axis=1) == 1).all():
            labels = y.argmax(axis=1)
        return Targets(y.astype(dtype), labels)

    def value_and_grad(self, z, a, t, grad, need_value=True, scale=1.0):
        _, n, d = a.shape
        diff = np.subtract(a, t.t, out=grad)
        loss = None
        if need_value:
            loss = _in(a, _per_model_sum(np.square(diff)) / (n * d))
        if grad is not None:
            grad *= 2.0 * scale / (n * d)
        return loss


def _softplus(z: np.ndarray, small: bool) -> np.ndarray:
    """ln(1 + e^z), stably. For large arrays (``small`` False: decided per model, so a model
    gets the same formula whatever K is) as max(z, 0) + log1p(exp(-|z|)): six SIMD passes
    beat np.logaddexp's scalar loop about fourfold."""
    if small:
        return np.logaddexp(z, 0)
    e = np.abs(z)
    np.negative(e, out=e)
    np.exp(e, out=e)
    np.log1p(e, out=e)
    e += np.maximum(z, 0)
    return e


def _row_max(z: np.ndarray) -> np.ndarray:
    """Max over the last axis, keepdims. For a few classes, column by column: NumPy's
    reduction over a short last axis costs far more per row than d - 1 element-wise maxima."""
    d = z.shape[-1]
    if d > 16 or z.size < 4096:
        return z.max(axis=-1, keepdims=True)
    m = z[..., :1].copy()
    for j in range(1, d):
        np.maximum(m, z[..., j : j + 1], out=m)
    return m


def _row_sum(e: np.ndarray) -> np.ndarray:
    """Sum over the last axis, keepdims, row by row: the same additions for every row whatever
    the leading shape (a BLAS product with a vector of ones may block rows differently for a
    different number of rows). For a few classes, column by column (cheaper than NumPy's
    reduction over a short last axis)."""
    d = e.shape[-1]
    if d > 16:
        return e.sum(axis=-1, keepdims=True)
    s = e[..., :1].copy()
    for j in range(1, d):
        s += e[..., j : j + 1]
    return s


def _per_model_sum(x: np.ndarray) -> np.ndarray:
    """Per model, the float64 sum of all of a (K, ...) array: each model's values copied into
    one contiguous float64 row in (sample, unit) order and summed pairwise, so the additions do
    not depend on K or on the buffer's layout. (K,) float64."""
    rows = np.array(x, dtype=np.float64, order="C").reshape(x.shape[0], -1)
    return rows.sum(axis=1)


def _in(like: np.ndarray, loss: np.ndarray) -> np.ndarray:
    """The loss (summed in float64) in the model's precision: a float32 model whose loss
    overflows float32 has a non-finite loss, as its gradients do."""
    return loss.astype(like.dtype).astype(np.float64)


def _dot(z: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Per model, sum over samples and units of z * t: (K, n, d), (n, d) -> (K,) float64."""
    zt = np.array(z, dtype=np.float64, order="C")
    zt *= t
    return _per_model_sum(zt)


LOSSES: dict[str, type[Loss]] = {
    "categorical_crossentropy": CategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "mse": MeanSquaredError,
}
_ALIASES = {
    "sparse_categorical_crossentropy": "categorical_crossentropy",
    "cross_entropy": "categorical_crossentropy",
    "crossentropy": "categorical_crossentropy",
    "bce": "binary_crossentropy",
    "mean_squared_error": "mse",
}


def names() -> list[str]:
    """Return the accepted loss names (canonical names and aliases), sorted.

    Example:
        >>> "mse" in names()
        True
    """
    return sorted(set(LOSSES) | set(_ALIASES))


def infer(output: Activation) -> Loss:
    """Return the loss that fits an output activation: softmax -> categorical CE, sigmoid ->
    binary CE, anything else -> MSE.

    Example:
        >>> from initlab.nn.activations import get as act
        >>> infer(act("sigmoid")).name
        'binary_crossentropy'
    """
    if output.name == "softmax":
        return CategoricalCrossentropy()
    if output.name == "sigmoid":
        return BinaryCrossentropy()
    return MeanSquaredError()


def get(spec: str | Loss | None, output: Activation | None = None) -> Loss:
    """Return a loss by name (or as given); None infers it from ``output``.

    Args:
        spec: a loss name (``"categorical_crossentropy"``, ``"binary_crossentropy"``,
            ``"mse"`` or an alias), a :class:`Loss`, or None.
        output: the output activation, needed when ``spec`` is None and checked otherwise.

    Returns:
        A :class:`Loss`.

    Raises:
        SpecError: unknown name, or a loss that cannot follow ``output``.

    Example:
        >>> get("mean_squared_error").name
        'mse'
    """
    if spec is None:
        if output is None:
            raise SpecError("loss=None needs the output activation to infer the loss from")
        loss = infer(output)
    elif isinstance(spec, Loss):
        loss = spec
    elif isinstance(spec, str):
        key = _ALIASES.get(spec.strip().lower(), spec.strip().lower())
        if key not in LOSSES:
            raise unknown("loss", spec, names(), SpecError)
        loss = LOSSES[key]()
    else:
        raise SpecError(f"loss must be a name, a Loss or None; got {spec!r}")
    if output is not None:
        loss.check_output(output)
    return loss
