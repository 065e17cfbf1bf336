"""Shapes and fans: validate a weight shape and compute its (fan_in, fan_out).

A dense kernel in initlab is ``(fan_in, fan_out)``; a conv kernel is ``(*kernel, in, out)``
(the Keras/JAX layout). PyTorch stores ``(out, in, *kernel)``; pass ``layout="torch"``.

Example:
    >>> fans((784, 128))
    (784, 128)
    >>> fans((3, 3, 16, 32))
    (144, 288)
    >>> fans((32, 16, 3, 3), layout="torch")
    (144, 288)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

from initlab.errors import ShapeError, SpecError, unknown

__all__ = ["LAYOUTS", "as_shape", "fans", "receptive_field"]

LAYOUTS: tuple[str, ...] = ("initlab", "keras", "jax", "torch")
"""Accepted layouts: the first three mean ``(*kernel, in, out)``; torch ``(out, in, *kernel)``."""


def as_shape(shape: int | Sequence[int]) -> tuple[int, ...]:
    """Return ``shape`` as a tuple of non-negative ints, or raise ShapeError naming it.

    Args:
        shape: an int (a vector's length) or a sequence of ints.

    Returns:
        The shape as a tuple of Python ints.

    Example:
        >>> as_shape([3, 4])
        (3, 4)
    """
    dims = (shape,) if isinstance(shape, numbers.Integral) else shape
    try:
        dims = tuple(dims)  # type: ignore[arg-type]
    except TypeError:
        raise ShapeError(f"a shape must be an int or a sequence of ints; got {shape!r}") from None
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, numbers.Integral) or int(d) < 0:
            raise ShapeError(
                f"a shape must hold non-negative ints; got {shape!r} (bad dimension {d!r})"
            )
    return tuple(int(d) for d in dims)


def receptive_field(shape: Sequence[int], layout: str = "keras") -> int:
    """Return the product of a conv kernel's spatial dimensions (1 for a dense kernel).

    Example:
        >>> receptive_field((3, 3, 16, 32))
        9
    """
    shp = as_shape(shape)
    spatial = shp[2:] if _layout(layout) == "torch" else shp[:-2]
    return math.prod(spatial)


def fans(shape: int | Sequence[int], layout: str = "keras") -> tuple[int, int]:
    """Return ``(fan_in, fan_out)`` of a dense or conv weight shape.

    fan_in = in * receptive field, fan_out = out * receptive field (Glorot & Bengio 2010,
    He et al. 2015): the number of inputs of one unit and of units one input feeds. The bias
    is not counted (seed 003's definition adds it; the papers and every library do not).

    Args:
        shape: the weight's shape, rank >= 2.
        layout: ``"keras"`` (also ``"jax"``, ``"initlab"``): ``(*kernel, in, out)``;
            ``"torch"``: ``(out, in, *kernel)``.

    Returns:
        ``(fan_in, fan_out)`` as ints.

    Raises:
        ShapeError: if the rank is below 2 (a bias or a scalar has no fans).
        SpecError: for an unknown layout.

    Example:
        >>> fans((3, 3, 16, 32))
        (144, 288)
    """
    lay = _layout(layout)
    shp = as_shape(shape)
    if len(shp) < 2:
        raise ShapeError(
            f"fans need a weight of rank >= 2 (a dense kernel (fan_in, fan_out) or a conv "
            f"kernel); got shape {shp} of rank {len(shp)}: a vector or scalar has no fan_in "
            f"and fan_out"
        )
    rf = receptive_field(shp, lay)
    if lay == "torch":
        return shp[1] * rf, shp[0] * rf
    return shp[-2] * rf, shp[-1] * rf


def _layout(layout: str) -> str:
    if not isinstance(layout, str) or layout.lower() not in LAYOUTS:
        raise unknown("layout", layout, LAYOUTS, SpecError)
    return layout.lower()
