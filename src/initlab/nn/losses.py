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

Determinism: model k's loss and gradient do not depend on K or on the other models. The
engine's buffers are model-major, (K, n, d) with each model's block contiguous; sums over the
units of a sample are products with a vector of ones (one gemv per model, of the shapes and
strides the model has alone) or unit-by-unit additions, sums over samples run per model over a
contiguous float64 row, and choices between formulas depend on one model's size (n * d),
never on K.

The training loop runs the planned forms (:meth:`Loss.plan_step`): bound NumPy calls on fixed
buffers, the gradient every step, the value (per-sample losses summed per model in float64)
and the accuracy on logged epochs only. :meth:`Loss.value_and_grad` runs the same calls once.

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
from initlab.nn.activations import Activation
from initlab.nn.finite import all_finite

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
    """Base class. ``from_logits``: the gradient is taken with respect to z, not a.

    A subclass implements :meth:`targets` and :meth:`value_and_grad`; the planned forms
    (:meth:`plan_grad`, :meth:`plan_value`, :meth:`plan_correct`, used by the training loop on
    fixed buffers) default to calling them, and the built-in losses override them with fewer,
    allocation-free calls.
    """

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
        ``scale`` * dL/dz (or dL/da for losses not from logits) into ``grad`` when given.

        The built-in losses run their planned calls once (one implementation of each
        formula): the value is the float64 sum over samples of the per-sample losses
        (:meth:`plan_value`) divided by n, in the model's precision."""
        if not self._planned():
            raise NotImplementedError
        if grad is None and not need_value:
            return None
        g = np.empty_like(z if self.from_logits else a) if grad is None else grad
        acc = np.zeros(z.shape[0]) if need_value else None
        gcalls, vcalls = self.plan_step(z, a, t, g, scale, acc)
        _run(gcalls + vcalls)
        return None if acc is None else _in(z, acc / z.shape[1])

    def plan_step(
        self, z: np.ndarray, a: np.ndarray, t: Targets, grad: np.ndarray, scale: float,
        acc: np.ndarray | None,
    ) -> tuple[list[Callable[[], Any]], list[Callable[[], Any]]]:
        """:meth:`plan_grad`'s calls, and :meth:`plan_value`'s into ``acc`` (none when None);
        the value's calls run after the gradient's and may read its scratch buffers."""
        value = [] if acc is None else self.plan_value(z, a, t, acc)
        return self.plan_grad(z, a, t, grad, scale), value

    def plan_grad(
        self, z: np.ndarray, a: np.ndarray, t: Targets, grad: np.ndarray, scale: float
    ) -> list[Callable[[], Any]]:
        """Return calls that write ``scale`` * the gradient into ``grad`` on fixed buffers."""
        return [partial(self.value_and_grad, z, a, t, grad, False, scale)]

    def plan_value(
        self, z: np.ndarray, a: np.ndarray, t: Targets, acc: np.ndarray
    ) -> list[Callable[[], Any]]:
        """Return calls that add, per model, the sum over the batch's samples of the loss into
        ``acc`` (K,) float64 (the mean times n; run after :meth:`plan_grad`'s calls)."""
        return [partial(_add_mean_times_n, self, z, a, t, acc)]

    def plan_correct(
        self, z: np.ndarray, a: np.ndarray, t: Targets, acc: np.ndarray
    ) -> list[Callable[[], Any]]:
        """Return calls that add the number of correct predictions per model into ``acc``
        (K,) float64 (NaN where the targets are not classes)."""
        if t.labels is None:
            return [partial(np.add, acc, np.nan, out=acc)]
        K, n, d = z.shape
        x = z if self.from_logits else a
        pred = np.empty((K, n), dtype=np.intp if d > 1 else bool)
        hit = np.empty((K, n), dtype=bool)
        if d > 1:
            calls = [partial(np.argmax, x, axis=-1, out=pred)]
        else:
            calls = [partial(np.greater, x[..., 0], 0.0 if self.from_logits else 0.5, out=pred)]
        return calls + [partial(np.equal, pred, t.labels, out=hit),
                        partial(_add_count, hit, acc)]

    def correct(self, z: np.ndarray, a: np.ndarray, t: Targets) -> np.ndarray:
        """Return the number of correct predictions per model (K,) (NaN if undefined)."""
        acc = np.zeros(z.shape[0])
        _run(self.plan_correct(z, a, t, acc))
        return acc

    def _planned(self) -> bool:
        """True when this class's value_and_grad is the one its planned calls implement (a
        subclass that overrides value_and_grad, as seed 002's article cost does, gets the
        generic planned forms, which call it)."""
        return type(self).value_and_grad is Loss.value_and_grad

    def __str__(self) -> str:
        return self.name


def _run(calls: list[Callable[[], Any]]) -> None:
    for call in calls:
        call()


def _add_mean_times_n(loss: Loss, z: np.ndarray, a: np.ndarray, t: Targets,
                      acc: np.ndarray) -> None:
    acc += loss.value_and_grad(z, a, t, None) * z.shape[1]


def _add_count(hit: np.ndarray, acc: np.ndarray) -> None:
    acc += np.count_nonzero(hit, axis=1)


def _as_array(y: Any, what: str = "y") -> np.ndarray:
    try:
        arr = np.asarray(y)
    except Exception as err:  # noqa: BLE001 - anything numpy cannot read is a data error
        raise DataError(f"{what} is not array-like: {err}") from None
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise DataError(f"{what} must be numeric; got dtype {arr.dtype}")
    if not all_finite(arr):
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

    def plan_grad(self, z, a, t, grad, scale):
        return self._plan(z, t, grad, scale)[0]

    def plan_value(self, z, a, t, acc):
        if not self._planned():
            return Loss.plan_value(self, z, a, t, acc)
        calls, value = self._plan(z, t, None, 1.0, acc)
        return calls + value

    def plan_step(self, z, a, t, grad, scale, acc):
        if not self._planned():
            return Loss.plan_step(self, z, a, t, grad, scale, acc)
        return self._plan(z, t, grad, scale, acc)

    def _plan(self, z, t, grad, scale, acc=None):
        """grad = scale (softmax(z) - t) / n; per sample, loss = ln sum_j e^(z_j - m) + m - t.z
        with m the row's max. Sums over classes are products with a vector of ones (one
        model's gemv: the same for a model whatever K is)."""
        if not self._planned():
            return Loss.plan_grad(self, z, z, t, grad, scale), []
        K, n, d = z.shape
        dt = z.dtype
        g = np.empty_like(z) if grad is None else grad
        m, s, r = (np.empty((K, n, 1), dtype=dt) for _ in range(3))
        ones = np.ones((d, 1), dtype=dt)
        c = scale / n
        tc = np.empty_like(t.t)
        calls = _plan_row_max(z, m) + [
            partial(np.subtract, z, m, out=g), partial(np.exp, g, out=g),
            partial(np.matmul, g, ones, out=s), partial(np.divide, c, s, out=r),
            partial(np.multiply, g, r, out=g), partial(np.multiply, t.t, c, out=tc),
            partial(np.subtract, g, tc, out=g)]
        value: list[Callable[[], Any]] = []
        if acc is not None:  # after the gradient's calls: reads m and s
            zt = np.empty((K, n, 1), dtype=dt)
            prod = np.empty_like(z)
            rows = np.empty((K, n), dtype=np.float64)
            value = [partial(np.log, s, out=s), partial(np.add, s, m, out=s),
                     partial(np.multiply, z, t.t, out=prod), partial(np.matmul, prod, ones, out=zt),
                     partial(np.copyto, rows, s[..., 0]),
                     partial(np.subtract, rows, zt[..., 0], out=rows),
                     partial(_add_rows, rows, acc)]
        return calls, value


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

    def plan_grad(self, z, a, t, grad, scale):
        # scale * (sigmoid(z) - t) / (n d) = c tanh(z / 2) + 2 c (0.5 - t), c = scale / (2 n d)
        if not self._planned():
            return Loss.plan_grad(self, z, a, t, grad, scale)
        _, n, d = z.shape
        tt = t.t
        if n * d < 4096:  # small (one model's size): three calls (scipy's expit)
            from initlab.nn.activations import _special

            return [partial(_special().expit, z, out=grad),
                    partial(np.subtract, grad, tt, out=grad),
                    partial(np.multiply, grad, scale / (n * d), out=grad)]
        c = scale / (2 * n * d)
        shift = np.empty_like(tt)
        return [partial(np.multiply, z, 0.5, out=grad), partial(np.tanh, grad, out=grad),
                partial(np.multiply, grad, c, out=grad),
                partial(np.subtract, 0.5, tt, out=shift),
                partial(np.multiply, shift, 2 * c, out=shift),
                partial(np.add, grad, shift, out=grad)]

    def plan_value(self, z, a, t, acc):
        """Per sample, mean over units of softplus(z) - t z."""
        if not self._planned():
            return Loss.plan_value(self, z, a, t, acc)
        K, n, d = z.shape
        sp, tz = np.empty_like(z), np.empty_like(z)
        rows, part = (np.empty((K, n), dtype=np.float64) for _ in range(2))
        return (_plan_softplus(z, sp, small=n * d < 4096)
                + [partial(np.multiply, z, t.t, out=tz), partial(np.subtract, sp, tz, out=sp)]
                + _plan_unit_mean(sp, rows, part) + [partial(_add_rows, rows, acc)])


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

    def plan_grad(self, z, a, t, grad, scale):
        if not self._planned():
            return Loss.plan_grad(self, z, a, t, grad, scale)
        _, n, d = a.shape
        return [partial(np.subtract, a, t.t, out=grad),
                partial(np.multiply, grad, 2.0 * scale / (n * d), out=grad)]

    def plan_value(self, z, a, t, acc):
        """Per sample, mean over units of (a - t)^2."""
        if not self._planned():
            return Loss.plan_value(self, z, a, t, acc)
        K, n, d = a.shape
        sq = np.empty_like(a)
        rows, part = (np.empty((K, n), dtype=np.float64) for _ in range(2))
        return ([partial(np.subtract, a, t.t, out=sq), partial(np.square, sq, out=sq)]
                + _plan_unit_mean(sq, rows, part) + [partial(_add_rows, rows, acc)])



def _plan_softplus(z: np.ndarray, out: np.ndarray, small: bool) -> list[Callable[[], Any]]:
    """ln(1 + e^z) into ``out``, stably. For large arrays (``small`` False: decided per model,
    so a model gets the same formula whatever K is) as max(z, 0) + log1p(exp(-|z|)): five SIMD
    passes beat np.logaddexp's scalar loop about fourfold."""
    if small:
        return [partial(np.logaddexp, z, 0, out=out)]
    pos = np.empty_like(z)
    return [partial(np.abs, z, out=out), partial(np.negative, out, out=out),
            partial(np.exp, out, out=out), partial(np.log1p, out, out=out),
            partial(np.maximum, z, 0, out=pos), partial(np.add, out, pos, out=out)]


def _plan_row_max(z: np.ndarray, out: np.ndarray) -> list[Callable[[], Any]]:
    """Max over the last axis into ``out`` (K, n, 1). A max is exact in any order; for many
    rows column by column (NumPy's reduction over a short last axis costs far more per row
    than d - 1 element-wise maxima)."""
    d = z.shape[-1]
    if d > 16 or z.size < 2048:
        return [partial(np.maximum.reduce, z, axis=-1, keepdims=True, out=out)]
    return [partial(np.copyto, out, z[..., :1])] + [
        partial(np.maximum, out, z[..., j : j + 1], out=out) for j in range(1, d)]


def _plan_unit_mean(x: np.ndarray, rows: np.ndarray, part: np.ndarray) -> list[Callable[[], Any]]:
    """Per sample, the float64 mean over the last axis of x (K, n, d) into ``rows`` (K, n):
    unit by unit in order (the same additions for a sample whatever K is)."""
    d = x.shape[-1]
    calls = [partial(np.copyto, rows, x[..., 0])]
    for j in range(1, d):
        calls += [partial(np.copyto, part, x[..., j]), partial(np.add, rows, part, out=rows)]
    if d > 1:
        calls.append(partial(np.divide, rows, d, out=rows))
    return calls


def _add_rows(rows: np.ndarray, acc: np.ndarray) -> None:
    """acc (K,) += per model, the float64 sum of its row of ``rows`` (K, n), pairwise over one
    contiguous row: the same additions for a model whatever K is."""
    acc += np.add.reduce(rows, axis=1)


def _in(like: np.ndarray, loss: np.ndarray) -> np.ndarray:
    """The loss (summed in float64) in the model's precision: a float32 model whose loss
    overflows float32 has a non-finite loss, as its gradients do."""
    return loss.astype(like.dtype).astype(np.float64)



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
