"""Gains per activation: PyTorch's ``calculate_gain`` table, and the second-moment gain.

``method="torch"`` (the default) is PyTorch's table:

=================  =============================  ==========================
activation         gain                           why
=================  =============================  ==========================
linear, conv*d,    1                              identity-like: keeps variance
conv_transpose*d,
sigmoid
tanh               5/3                            keeps tanh's variance stable
relu               sqrt(2)                        ReLU halves the second moment
leaky_relu         sqrt(2 / (1 + a^2))            a = negative slope, default 0.01
selu               3/4                            PyTorch's choice (SELU wants 1 with LeCun)
=================  =============================  ==========================

It has no entry for GELU, SiLU, ELU, softplus or mish. ``method="second_moment"`` has one
for every activation: g = 1 / sqrt(E[phi(z)^2]) for z ~ N(0, 1), the gain that keeps the
second moment of a layer's pre-activations at its input's (He et al. 2015's argument, with
the integral done by quadrature, :func:`second_moment`). Its values:

=============  ====================  ===========  ========================================
activation     E[phi(z)^2]           gain         note
=============  ====================  ===========  ========================================
linear         1                     1
relu           1/2                   1.41421      sqrt(2), as He et al. 2015
leaky_relu(a)  (1 + a^2) / 2         sqrt(2/(1+a^2))  exact, as PyTorch's
tanh           0.394294              1.59254      PyTorch's 5/3 = 1.667 is a little larger
sigmoid        0.293379              1.84623      counts the mean 1/2 (E[phi] != 0)
selu           1                     1            the self-normalizing fixed point
elu(alpha=1)   0.644945              1.24520
gelu           0.425221              1.53353      exact x Phi(x)
silu (swish)   0.355776              1.67653      x sigmoid(x)
mish           0.452342              1.48685      x tanh(softplus(x))
softplus       0.921246              1.04187
=============  ====================  ===========  ========================================

A scheme with gain g has std = g / sqrt(fan): ``variance_scaling(scale=g**2)``.

Example:
    >>> round(gain("leaky_relu", 0.2), 4)
    1.3868
    >>> round(gain("gelu", method="second_moment"), 4)
    1.5335
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable

import numpy as np

from initlab.errors import SpecError, unknown
from initlab.init.checks import number

__all__ = ["GAINS", "METHODS", "SECOND_MOMENT", "gain", "second_moment"]

_ONE = (
    "linear",
    "identity",
    "sigmoid",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
)

GAINS: dict[str, float] = {
    **{name: 1.0 for name in _ONE},
    "tanh": 5.0 / 3.0,
    "relu": math.sqrt(2.0),
    "selu": 3.0 / 4.0,
}
"""PyTorch's fixed gains; ``leaky_relu`` depends on its slope and is computed by :func:`gain`."""

METHODS: tuple[str, ...] = ("torch", "second_moment")

_SELU_L = 1.0507009873554804934193349852946
_SELU_A = 1.6732632423543772848170429916717


def _leaky(a: float) -> Callable[[float], float]:
    return lambda x: x if x > 0 else a * x


def _elu(alpha: float) -> Callable[[float], float]:
    return lambda x: x if x > 0 else alpha * math.expm1(x)


def _sigmoid(x: float) -> float:
    """1 / (1 + e^-x), written so that neither side overflows (as scipy.special.expit)."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


SECOND_MOMENT: dict[str, Callable[..., Callable[[float], float]]] = {
    "linear": lambda: (lambda x: x),
    "identity": lambda: (lambda x: x),
    "relu": lambda: (lambda x: max(x, 0.0)),
    "leaky_relu": _leaky,
    "tanh": lambda: math.tanh,
    "sigmoid": lambda: _sigmoid,
    "selu": lambda: (lambda x: _SELU_L * (x if x > 0 else _SELU_A * math.expm1(x))),
    "elu": _elu,
    "gelu": lambda: (lambda x: x * 0.5 * math.erfc(-x / math.sqrt(2.0))),
    "silu": lambda: (lambda x: x * _sigmoid(x)),
    "swish": lambda: (lambda x: x * _sigmoid(x)),
    "mish": lambda: (lambda x: x * math.tanh(float(np.logaddexp(0.0, x)))),
    "softplus": lambda: (lambda x: float(np.logaddexp(0.0, x))),
}
"""Activations with a second-moment gain: name -> (param -> phi). ``leaky_relu`` takes its
negative slope (default 0.01), ``elu`` its alpha (default 1)."""

_DEFAULT_PARAM = {"leaky_relu": 0.01, "elu": 1.0}


@functools.lru_cache(maxsize=256)
def second_moment(activation: str, param: float | None = None) -> float:
    """Return E[phi(z)^2] for z ~ N(0, 1) by adaptive quadrature (scipy.integrate.quad).

    The integral is split at 0, where ReLU-like functions have their kink; the error is
    below 1e-10 for every activation in :data:`SECOND_MOMENT`.

    Example:
        >>> round(second_moment("relu"), 12)
        0.5
    """
    name = _name(activation, SECOND_MOMENT)
    p = _param(name, param)
    phi = SECOND_MOMENT[name](p) if name in _DEFAULT_PARAM else SECOND_MOMENT[name]()

    def f(x: float) -> float:
        return phi(x) ** 2 * math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)

    from scipy import integrate  # here, not at import: scipy.integrate takes ~0.3 s to load

    lo = integrate.quad(f, -np.inf, 0.0, epsabs=1e-13, epsrel=1e-12)[0]
    hi = integrate.quad(f, 0.0, np.inf, epsabs=1e-13, epsrel=1e-12)[0]
    return lo + hi


def _name(activation: str, table: dict) -> str:
    name = activation.lower() if isinstance(activation, str) else activation
    if name not in table:
        raise unknown("activation for gain", activation, sorted(table), SpecError)
    return name


def _param(name: str, param: float | None) -> float | None:
    if name not in _DEFAULT_PARAM:
        if param is not None:
            raise SpecError(
                f"gain({name!r}) takes no param; got param={param!r} "
                f"(only leaky_relu takes its negative slope, elu its alpha)"
            )
        return None
    value = _DEFAULT_PARAM[name] if param is None else param
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(float(value))
    ):
        what = "negative slope" if name == "leaky_relu" else "alpha"
        raise SpecError(f"{name}'s {what} must be a finite number; got param={param!r}")
    return float(value)


def gain(activation: str, param: float | None = None, method: str = "torch") -> float:
    """Return the recommended gain for an activation.

    Args:
        activation: for ``method="torch"`` one of ``linear``, ``identity``, ``sigmoid``,
            ``conv1d``.. ``conv3d``, ``conv_transpose1d``.. ``conv_transpose3d``, ``tanh``,
            ``relu``, ``leaky_relu``, ``selu``; for ``"second_moment"`` any name in
            :data:`SECOND_MOMENT` (adds gelu, silu/swish, elu, mish, softplus).
        param: the negative slope ``a`` of ``leaky_relu`` (default 0.01), or the alpha of
            ``elu`` (second_moment only, default 1).
        method: ``"torch"`` (PyTorch's ``calculate_gain`` table) or ``"second_moment"``
            (1 / sqrt(E[phi(z)^2]), z ~ N(0, 1); see the module docstring's table).

    Returns:
        The gain as a float.

    Raises:
        SpecError: for an unknown activation or method (PyTorch's table has no gelu: the
            message says to use second_moment), or a param that is not a finite number or is
            given for an activation without one.

    Example:
        >>> gain("relu") == 2 ** 0.5
        True
        >>> round(gain("silu", method="second_moment"), 4)
        1.6765
    """
    if method not in METHODS:
        raise unknown("gain method", method, METHODS, SpecError)
    if method == "second_moment":
        return 1.0 / math.sqrt(second_moment(activation, _param(
            _name(activation, SECOND_MOMENT), param)))
    name = activation.lower() if isinstance(activation, str) else activation
    allowed = sorted([*GAINS, "leaky_relu"])
    if name not in allowed:
        err = unknown("activation for gain", activation, allowed, SpecError)
        if name in SECOND_MOMENT:
            raise SpecError(
                f"{err} (PyTorch's table has no gain for {name}; "
                f"use method='second_moment')"
            ) from None
        raise err
    if name != "leaky_relu":
        if param is not None:
            raise SpecError(
                f"gain({activation!r}) takes no param; got param={param!r} "
                f"(only leaky_relu takes its negative slope)"
            )
        return GAINS[name]
    slope = number("gain('leaky_relu')", "param", 0.01 if param is None else param)
    return math.sqrt(2.0) / math.hypot(1.0, slope)  # sqrt(2 / (1 + a^2)), no overflow
