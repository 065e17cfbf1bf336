"""Recommended gains per activation: PyTorch's ``calculate_gain`` table.

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

A scheme with gain g has std = g / sqrt(fan): ``variance_scaling(scale=g**2)``.

Example:
    >>> round(gain("leaky_relu", 0.2), 4)
    1.3868
"""

from __future__ import annotations

import math

from initlab.errors import SpecError, unknown
from initlab.init.checks import number

__all__ = ["GAINS", "gain"]

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
"""Fixed gains; ``leaky_relu`` depends on its slope and is computed by :func:`gain`."""


def gain(activation: str, param: float | None = None) -> float:
    """Return the recommended gain for an activation (PyTorch's table).

    Args:
        activation: one of ``linear``, ``identity``, ``sigmoid``, ``conv1d``.. ``conv3d``,
            ``conv_transpose1d``.. ``conv_transpose3d``, ``tanh``, ``relu``, ``leaky_relu``,
            ``selu``.
        param: the negative slope ``a`` of ``leaky_relu`` (default 0.01); only for leaky_relu.

    Returns:
        The gain as a float.

    Raises:
        SpecError: for an unknown activation, or a param that is not a finite number or is
            given for an activation without one.

    Example:
        >>> gain("relu") == 2 ** 0.5
        True
    """
    name = activation.lower() if isinstance(activation, str) else activation
    allowed = sorted([*GAINS, "leaky_relu"])
    if name not in allowed:
        raise unknown("activation for gain", activation, allowed, SpecError)
    if name != "leaky_relu":
        if param is not None:
            raise SpecError(
                f"gain({activation!r}) takes no param; got param={param!r} "
                f"(only leaky_relu takes its negative slope)"
            )
        return GAINS[name]
    slope = number("gain('leaky_relu')", "param", 0.01 if param is None else param)
    return math.sqrt(2.0) / math.hypot(1.0, slope)  # sqrt(2 / (1 + a^2)), no overflow
