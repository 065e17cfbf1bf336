"""The activation table both engines and the diagnostics share (engine-neutral).

Each activation keeps its forward (phi), its derivative (phi'), its ``family`` and the init it
recommends beside it. The NumPy engine runs them (``initlab.nn.activations`` re-exports this
module); the PyTorch adapter looks its modules' activations up here by name; mean-field theory
(:mod:`initlab.diagnose.theory`) integrates phi and phi'. An activation that is not in the
table (e.g. ``"silu"``) gets no theory: :func:`lookup` returns None for it.

An activation maps pre-activations ``z`` to ``a = f(z)`` element-wise (softmax: along the
last axis). ``backward(z, a, g, out)`` returns ``g * f'(z)`` (for softmax the Jacobian-vector
product), using whichever of ``z`` and ``a`` is cheaper. Both write into ``out`` when given,
so the engine's hot path allocates nothing.

``init="auto"`` asks the activation for its scheme:

* He (``he_normal``) for the ReLU family: relu, leaky_relu, elu, gelu and softplus -- units
  that pass positive inputs (about) unchanged and squash negative ones (He et al. 2015).
* LeCun (``lecun_normal``) for SELU, as the self-normalizing paper prescribes (Klambauer 2017).
* Glorot (``glorot_uniform``, Keras's default) for linear, sigmoid, tanh and softmax.

Example:
    >>> import numpy as np
    >>> act = get("leaky_relu(alpha=0.2)")
    >>> act.forward(np.array([-1.0, 2.0])).tolist(), act.name, act.recommended_init
    ([-0.2, 2.0], 'leaky_relu', 'he_normal')
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from initlab.errors import SpecError, unknown

__all__ = ["Activation", "ACTIVATIONS", "RELU_FAMILY", "get", "lookup", "names", "sigmoid"]

_HE = "he_normal"
_LECUN = "lecun_normal"
_GLOROT = "glorot_uniform"

_SELU_ALPHA = 1.6732632423543772
_SELU_SCALE = 1.0507009873554805


def _special() -> Any:
    """scipy.special, imported on first use (keeps ``import initlab`` light)."""
    import scipy.special

    return scipy.special


class Activation:
    """Base class: an element-wise activation with its derivative and recommended init.

    Subclasses set ``name`` and ``recommended_init`` and implement ``forward`` and
    ``backward``. ``params`` holds the spec arguments (e.g. ``{"alpha": 0.2}``).
    """

    name: str = ""
    recommended_init: str = _GLOROT
    family: str = "other"
    """``"relu"`` for units that pass positive inputs and squash negative ones (they can be
    dead), ``"selu"``, or ``"other"``."""
    keeps_one: bool = False
    """True when f(1) == 1 (the engine then runs it over a layer's column of ones too)."""

    def __init__(self, **params: float) -> None:
        from initlab.init.checks import number  # the one home of argument checks

        self.params: dict[str, float] = {
            k: number(f"activation {self.name}", k, v) for k, v in params.items()
        }

    def forward(self, z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Return f(z) (into ``out`` when given)."""
        raise NotImplementedError

    def backward(
        self, z: np.ndarray, a: np.ndarray, g: np.ndarray, out: np.ndarray | None = None
    ) -> np.ndarray:
        """Return ``g * f'(z)`` given ``z``, ``a = f(z)`` and the upstream gradient ``g``."""
        raise NotImplementedError

    def plan_forward(self, z: np.ndarray, out: np.ndarray) -> list[Callable[[], Any]]:
        """Return calls that compute ``out = f(z)`` on these fixed buffers (for repeated steps)."""
        return [partial(self.forward, z, out)]

    def plan_backward(
        self, z: np.ndarray, a: np.ndarray, g: np.ndarray, out: np.ndarray
    ) -> list[Callable[[], Any]]:
        """Return calls that compute ``out = g * f'(z)`` on these fixed buffers."""
        return [partial(self.backward, z, a, g, out)]

    def __str__(self) -> str:
        if not self.params:
            return self.name
        args = ", ".join(f"{k}={v:g}" for k, v in self.params.items())
        return f"{self.name}({args})"

    def __repr__(self) -> str:
        return f"Activation({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Activation) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))


class Linear(Activation):
    """Identity: f(z) = z."""

    name = "linear"
    keeps_one = True

    def forward(self, z, out=None):
        if out is None:
            return z.copy()
        if out is not z:
            np.copyto(out, z)
        return out

    def backward(self, z, a, g, out=None):
        if out is None:
            return g.copy()
        if out is not g:
            np.copyto(out, g)
        return out


class ReLU(Activation):
    """f(z) = max(z, 0); f'(z) = 1 for z > 0 else 0."""

    name = "relu"
    keeps_one = True
    recommended_init = _HE
    family = "relu"

    def forward(self, z, out=None):
        return np.maximum(z, 0, out=out)

    def backward(self, z, a, g, out=None):
        return np.multiply(g, z > 0, out=out)

    def plan_forward(self, z, out):
        return [partial(np.maximum, z, 0, out=out)]

    def plan_backward(self, z, a, g, out):
        mask = np.empty(z.shape, dtype=bool)
        return [partial(np.greater, z, 0, out=mask), partial(np.multiply, g, mask, out=out)]


class LeakyReLU(Activation):
    """f(z) = z for z > 0 else alpha * z (default alpha 0.01, PyTorch's)."""

    name = "leaky_relu"
    keeps_one = True
    recommended_init = _HE
    family = "relu"

    def __init__(self, alpha: float = 0.01) -> None:
        super().__init__(alpha=alpha)
        self.alpha = float(alpha)

    def forward(self, z, out=None):
        return np.multiply(z, np.where(z > 0, 1.0, self.alpha).astype(z.dtype), out=out)

    def backward(self, z, a, g, out=None):
        return np.multiply(g, np.where(z > 0, 1.0, self.alpha).astype(g.dtype), out=out)


class ELU(Activation):
    """f(z) = z for z > 0 else alpha * (exp(z) - 1)."""

    name = "elu"
    keeps_one = True
    recommended_init = _HE
    family = "relu"

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__(alpha=alpha)
        self.alpha = float(alpha)

    def forward(self, z, out=None):
        neg = np.expm1(np.minimum(z, 0))
        neg *= self.alpha
        np.copyto(neg, z, where=z > 0)
        return _into(neg, out)

    def backward(self, z, a, g, out=None):
        d = np.where(z > 0, 1.0, a + self.alpha).astype(g.dtype)
        return np.multiply(g, d, out=out)


class SELU(Activation):
    """Scaled ELU with the self-normalizing constants (Klambauer et al. 2017)."""

    name = "selu"
    recommended_init = _LECUN
    family = "selu"

    def forward(self, z, out=None):
        neg = np.expm1(np.minimum(z, 0))
        neg *= _SELU_ALPHA
        np.copyto(neg, z, where=z > 0)
        neg *= _SELU_SCALE
        return _into(neg, out)

    def backward(self, z, a, g, out=None):
        d = np.where(z > 0, _SELU_SCALE, a + _SELU_SCALE * _SELU_ALPHA).astype(g.dtype)
        return np.multiply(g, d, out=out)


class GELU(Activation):
    """Exact GELU, z * Phi(z) (PyTorch's default, not the tanh approximation)."""

    name = "gelu"
    recommended_init = _HE
    family = "relu"

    def forward(self, z, out=None):
        cdf = _special().ndtr(z)
        return np.multiply(z, cdf, out=out)

    def backward(self, z, a, g, out=None):
        pdf = np.exp(-0.5 * z * z)
        pdf *= 1.0 / math.sqrt(2.0 * math.pi)
        d = _special().ndtr(z) + z * pdf
        return np.multiply(g, d.astype(g.dtype, copy=False), out=out)


class Softplus(Activation):
    """f(z) = ln(1 + exp(z)), computed stably; f'(z) = sigmoid(z)."""

    name = "softplus"
    recommended_init = _HE
    family = "relu"

    def forward(self, z, out=None):
        return np.logaddexp(z, 0, out=out)

    def backward(self, z, a, g, out=None):
        return np.multiply(g, sigmoid(z), out=out)


class Sigmoid(Activation):
    """f(z) = 1 / (1 + exp(-z)), computed stably; f'(z) = a (1 - a)."""

    name = "sigmoid"

    def forward(self, z, out=None):
        return sigmoid(z, out=out)

    def backward(self, z, a, g, out=None):
        return np.multiply(g, a * (1 - a), out=out)


class Tanh(Activation):
    """f(z) = tanh(z); f'(z) = 1 - a^2."""

    name = "tanh"

    def forward(self, z, out=None):
        return np.tanh(z, out=out)

    def backward(self, z, a, g, out=None):
        return np.multiply(g, 1 - a * a, out=out)


class Softmax(Activation):
    """Softmax along the last axis (output layers); backward is the Jacobian-vector product."""

    name = "softmax"

    def forward(self, z, out=None):
        m = z.max(axis=-1, keepdims=True)
        out = np.subtract(z, m, out=out)
        np.exp(out, out=out)
        out /= out.sum(axis=-1, keepdims=True)
        return out

    def backward(self, z, a, g, out=None):
        s = (g * a).sum(axis=-1, keepdims=True)
        out = np.subtract(g, s, out=out)
        out *= a
        return out


def sigmoid(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Logistic sigmoid as 0.5 + 0.5 tanh(z / 2): stable for every z, and NumPy's SIMD tanh
    makes it about 5x faster than scipy.special.expit (absolute error ~ the dtype's eps).

    Example:
        >>> float(sigmoid(np.array([0.0]))[0])
        0.5
    """
    out = np.multiply(z, 0.5, out=out)
    np.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


def _into(value: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    if out is None:
        return value
    np.copyto(out, value)
    return out


ACTIVATIONS: dict[str, type[Activation]] = {
    cls.name: cls
    for cls in (Linear, ReLU, LeakyReLU, ELU, SELU, GELU, Softplus, Sigmoid, Tanh, Softmax)
}
_ALIASES = {"identity": "linear", "none": "linear", "leakyrelu": "leaky_relu", "swish": ""}


RELU_FAMILY = frozenset(n for n, cls in ACTIVATIONS.items() if cls.family == "relu")
"""Activations whose units can be dead (pre-activation never positive)."""


def names() -> list[str]:
    """Return the names of every activation, sorted.

    Example:
        >>> "relu" in names()
        True
    """
    return sorted(ACTIVATIONS)


def get(spec: str | Activation | None) -> Activation:
    """Return the activation for a spec: a name, ``"name(arg=value)"``, an Activation, or None.

    Args:
        spec: e.g. ``"relu"``, ``"leaky_relu(alpha=0.2)"``, ``"elu(1.0)"``, an
            :class:`Activation` instance, or None (linear).

    Returns:
        An :class:`Activation`.

    Raises:
        SpecError: unknown name or argument, with the allowed names.

    Example:
        >>> get("tanh").name
        'tanh'
    """
    if spec is None:
        return Linear()
    if isinstance(spec, Activation):
        return spec
    if not isinstance(spec, str):
        raise SpecError(f"activation must be a name or an Activation; got {spec!r}")
    name, args, kwargs = _parse(spec)
    key = _ALIASES.get(name, name)
    if key not in ACTIVATIONS:
        raise unknown("activation", name, names(), SpecError)
    cls = ACTIVATIONS[key]
    try:
        return cls(*args, **kwargs)
    except TypeError as err:
        raise SpecError(f"bad arguments for activation {spec!r}: {err}") from None


def lookup(spec: str | Activation | None) -> Activation | None:
    """Return the activation for a spec, or None when the table does not have it.

    Unlike :func:`get` this never raises: a trace from another engine may name an activation
    the table lacks (``"silu"``), and the diagnostics then simply make no prediction for it.

    Example:
        >>> lookup("tanh").name, lookup("silu")
        ('tanh', None)
    """
    try:
        return get(spec)
    except SpecError:
        return None


def _parse(spec: str) -> tuple[str, list[Any], dict[str, Any]]:
    """Split a spec with the init package's spec parser (one parser for the whole project)."""
    from initlab.init.spec import parse

    parsed = parse(spec)
    if parsed.flavor is not None:
        raise SpecError(
            f"{spec!r}: a flavor prefix ({parsed.flavor}:) applies to initializers only")
    return parsed.name.lower(), list(parsed.args), dict(parsed.kwargs)
