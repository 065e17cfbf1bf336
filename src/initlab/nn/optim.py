"""Optimizers as composable gradient transformations (in the manner of optax).

A transformation has ``init(params) -> state`` and ``update(updates, state, params)``, which
turns ``updates`` (the gradients, on entry) into the next transformation's input, *in place*.
The last one (sgd, rmsprop, adam) leaves the step to add to the parameters. ``chain(...)``
runs several in order, so clipping is a transformation placed before the optimizer, not a flag
inside it. All norms are per model: each of the K models clips its own gradient.

Defaults follow Keras: ``sgd`` lr 0.01; ``adam`` lr 0.001, betas 0.9 / 0.999, epsilon 1e-7;
``rmsprop`` lr 0.001, rho 0.9, epsilon 1e-7. The strings ``"sgd"``, ``"adam"``,
``"rmsprop"`` give those defaults.

Example:
    >>> opt = chain(clip_by_global_norm(1.0), sgd(0.1, momentum=0.9))
    >>> str(opt)
    'chain(clip_by_global_norm(1), sgd(lr=0.1, momentum=0.9))'
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from initlab.errors import SpecError, unknown
from initlab.nn.params import Params

__all__ = [
    "Transform",
    "sgd",
    "rmsprop",
    "adam",
    "clip_by_global_norm",
    "clip_by_norm",
    "clip_by_value",
    "chain",
    "get",
    "names",
]


class Transform:
    """A gradient transformation: ``init(params) -> state``; ``update`` edits in place."""

    def init(self, params: Params) -> Any:
        """Return this transformation's state for ``params`` (None when stateless)."""
        return None

    def update(self, updates: Params, state: Any, params: Params) -> None:
        """Transform ``updates`` in place (on entry the gradients or the previous output)."""
        raise NotImplementedError

    def scale(self) -> float | None:
        """The constant c when this transformation is ``updates = c * grads`` (stateless and
        linear, as plain SGD is), else None. The engine then folds c into the loss gradient
        and skips the update pass."""
        return None

    def __repr__(self) -> str:
        return str(self)


def _positive(name: str, value: float, allow_zero: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise SpecError(f"{name} must be a number; got {value!r}") from None
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        want = ">= 0" if allow_zero else "> 0"
        raise SpecError(f"{name} must be finite and {want}; got {value!r}")
    return v


def _fraction(name: str, value: float) -> float:
    v = _positive(name, value, allow_zero=True)
    if v >= 1:
        raise SpecError(f"{name} must lie in [0, 1); got {value!r}")
    return v


class _SGD(Transform):
    def __init__(self, lr: float, momentum: float, nesterov: bool) -> None:
        self.lr = _positive("learning rate", lr)
        self.momentum = _fraction("momentum", momentum)
        self.nesterov = bool(nesterov)
        if self.nesterov and self.momentum == 0:
            raise SpecError("nesterov=True needs momentum > 0")

    def init(self, params):
        return params.layout.alloc() if self.momentum else None

    def scale(self):
        return None if self.momentum else -self.lr

    def update(self, updates, state, params):
        g = updates.flat
        g *= -self.lr
        if state is None:
            return
        v = state.flat  # Keras: v = momentum * v - lr * g; step = v (or momentum * v - lr * g)
        v *= self.momentum
        v += g
        if self.nesterov:
            g += self.momentum * v
        else:
            np.copyto(g, v)

    def __str__(self) -> str:
        extra = f", momentum={self.momentum:g}" if self.momentum else ""
        extra += ", nesterov=True" if self.nesterov else ""
        return f"sgd(lr={self.lr:g}{extra})"


class _RMSprop(Transform):
    def __init__(self, lr: float, rho: float, epsilon: float) -> None:
        self.lr = _positive("learning rate", lr)
        self.rho = _fraction("rho", rho)
        self.epsilon = _positive("epsilon", epsilon)

    def init(self, params):
        return {"v": params.layout.alloc(), "tmp": params.layout.alloc()}

    def update(self, updates, state, params):
        g, v, tmp = updates.flat, state["v"].flat, state["tmp"].flat
        v *= self.rho
        np.multiply(g, g, out=tmp)
        tmp *= 1 - self.rho
        v += tmp
        np.sqrt(v, out=tmp)
        tmp += self.epsilon
        g /= tmp
        g *= -self.lr

    def __str__(self) -> str:
        return f"rmsprop(lr={self.lr:g}, rho={self.rho:g}, epsilon={self.epsilon:g})"


class _Adam(Transform):
    def __init__(self, lr: float, beta1: float, beta2: float, epsilon: float) -> None:
        self.lr = _positive("learning rate", lr)
        self.beta1 = _fraction("beta1", beta1)
        self.beta2 = _fraction("beta2", beta2)
        self.epsilon = _positive("epsilon", epsilon)

    def init(self, params):
        return {"m": params.layout.alloc(), "v": params.layout.alloc(),
                "tmp": params.layout.alloc(), "t": 0}

    def update(self, updates, state, params):
        # Keras 3: m, v moments; step = -lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)
        g, m, v, tmp = updates.flat, state["m"].flat, state["v"].flat, state["tmp"].flat
        state["t"] += 1
        t = state["t"]
        alpha = self.lr * math.sqrt(1 - self.beta2**t) / (1 - self.beta1**t)
        m *= self.beta1
        np.multiply(g, 1 - self.beta1, out=tmp)
        m += tmp
        v *= self.beta2
        np.multiply(g, g, out=tmp)
        tmp *= 1 - self.beta2
        v += tmp
        np.sqrt(v, out=tmp)
        tmp += self.epsilon
        np.divide(m, tmp, out=g)
        g *= -alpha

    def __str__(self) -> str:
        return (f"adam(lr={self.lr:g}, beta1={self.beta1:g}, beta2={self.beta2:g}, "
                f"epsilon={self.epsilon:g})")


class _ClipGlobalNorm(Transform):
    def __init__(self, max_norm: float) -> None:
        self.max_norm = _positive("max_norm", max_norm)

    def update(self, updates, state, params):
        sq = updates.sq_norms()
        total = sq[0]
        for part in sq[1:]:  # tensor by tensor, in order: the same additions for any K
            total += part
        norm = np.sqrt(total)  # (K,) one norm per model
        if (norm > self.max_norm).any():
            updates.scale_models(None, np.minimum(1.0, self.max_norm / np.maximum(norm, 1e-38)))

    def __str__(self) -> str:
        return f"clip_by_global_norm({self.max_norm:g})"


class _ClipNorm(Transform):
    def __init__(self, max_norm: float) -> None:
        self.max_norm = _positive("max_norm", max_norm)

    def update(self, updates, state, params):
        for i, sq in enumerate(updates.sq_norms()):  # per tensor, per model (seed 004)
            norm = np.sqrt(sq)
            if (norm > self.max_norm).any():
                updates.scale_models(i, np.minimum(1.0, self.max_norm / np.maximum(norm, 1e-38)))

    def __str__(self) -> str:
        return f"clip_by_norm({self.max_norm:g})"


class _ClipValue(Transform):
    def __init__(self, value: float) -> None:
        self.value = _positive("clip value", value)

    def update(self, updates, state, params):
        np.clip(updates.flat, -self.value, self.value, out=updates.flat)

    def __str__(self) -> str:
        return f"clip_by_value({self.value:g})"


class _Chain(Transform):
    def __init__(self, parts: tuple[Transform, ...]) -> None:
        for p in parts:
            if not isinstance(p, Transform):
                raise SpecError(f"chain() takes transformations; got {p!r}")
        self.parts = parts

    def init(self, params):
        return [p.init(params) for p in self.parts]

    def update(self, updates, state, params):
        for p, s in zip(self.parts, state, strict=True):
            p.update(updates, s, params)

    def scale(self):
        c = 1.0
        for p in self.parts:
            s = p.scale()
            if s is None:
                return None
            c *= s
        return c

    def __str__(self) -> str:
        return f"chain({', '.join(str(p) for p in self.parts)})"


def sgd(lr: float = 0.01, momentum: float = 0.0, nesterov: bool = False) -> Transform:
    """Stochastic gradient descent, with optional (Nesterov) momentum, as Keras defines it.

    Args:
        lr: learning rate (> 0).
        momentum: in [0, 1); v = momentum * v - lr * g, step v.
        nesterov: step momentum * v - lr * g instead.

    Returns:
        A Transform.

    Example:
        >>> str(sgd(0.1, momentum=0.9, nesterov=True))
        'sgd(lr=0.1, momentum=0.9, nesterov=True)'
    """
    return _SGD(lr, momentum, nesterov)


def rmsprop(lr: float = 0.001, rho: float = 0.9, epsilon: float = 1e-7) -> Transform:
    """RMSprop: v = rho v + (1 - rho) g^2; step -lr g / (sqrt(v) + epsilon).

    Args:
        lr: learning rate.
        rho: decay of the squared-gradient average, in [0, 1).
        epsilon: added to the root for stability.

    Returns:
        A Transform.

    Example:
        >>> str(rmsprop())
        'rmsprop(lr=0.001, rho=0.9, epsilon=1e-07)'
    """
    return _RMSprop(lr, rho, epsilon)


def adam(
    lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999, epsilon: float = 1e-7
) -> Transform:
    """Adam with bias correction folded into the step size (Keras's form).

    Args:
        lr: learning rate.
        beta1: decay of the first moment, in [0, 1).
        beta2: decay of the second moment, in [0, 1).
        epsilon: added to sqrt(v).

    Returns:
        A Transform.

    Example:
        >>> str(adam(0.01))
        'adam(lr=0.01, beta1=0.9, beta2=0.999, epsilon=1e-07)'
    """
    return _Adam(lr, beta1, beta2, epsilon)


def clip_by_global_norm(max_norm: float) -> Transform:
    """Scale each model's whole gradient by max_norm / ||g|| when its norm exceeds max_norm.

    Example:
        >>> str(clip_by_global_norm(5))
        'clip_by_global_norm(5)'
    """
    return _ClipGlobalNorm(max_norm)


def clip_by_norm(max_norm: float) -> Transform:
    """Per tensor and model: g * max_norm / ||g|| when ||g|| > max_norm (seed 004's rule).

    Example:
        >>> str(clip_by_norm(1.0))
        'clip_by_norm(1)'
    """
    return _ClipNorm(max_norm)


def clip_by_value(value: float) -> Transform:
    """Clip every gradient entry to [-value, value].

    Example:
        >>> str(clip_by_value(0.5))
        'clip_by_value(0.5)'
    """
    return _ClipValue(value)


def chain(*transforms: Transform) -> Transform:
    """Run transformations in order (clipping first, the optimizer last).

    Example:
        >>> str(chain(clip_by_value(1), adam()))
        'chain(clip_by_value(1), adam(lr=0.001, beta1=0.9, beta2=0.999, epsilon=1e-07))'
    """
    return _Chain(tuple(transforms))


_FACTORIES = {"sgd": sgd, "adam": adam, "rmsprop": rmsprop}


def names() -> list[str]:
    """Return the optimizer names a string may give.

    Example:
        >>> names()
        ['adam', 'rmsprop', 'sgd']
    """
    return sorted(_FACTORIES)


def get(spec: str | Transform) -> Transform:
    """Return an optimizer: a Transform as is, or a name with Keras's defaults.

    Args:
        spec: ``"sgd"``, ``"adam"``, ``"rmsprop"`` (also ``"adam(lr=0.01)"``), or a Transform.

    Returns:
        A Transform.

    Raises:
        SpecError: unknown name or bad argument.

    Example:
        >>> str(get("sgd"))
        'sgd(lr=0.01)'
    """
    if isinstance(spec, Transform):
        return spec
    if not isinstance(spec, str):
        raise SpecError(f"optimizer must be a name or an initlab.optim transform; got {spec!r}")
    from initlab.nn.activations import _parse

    name, args, kwargs = _parse(spec)
    if name not in _FACTORIES:
        raise unknown("optimizer", name, names(), SpecError)
    kwargs = {("lr" if k == "learning_rate" else k): v for k, v in kwargs.items()}
    try:
        return _FACTORIES[name](*args, **kwargs)
    except TypeError as err:
        raise SpecError(f"bad arguments for optimizer {spec!r}: {err}") from None
