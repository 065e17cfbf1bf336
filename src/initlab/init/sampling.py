"""Vectorized draws shared by every random scheme, and the truncated-normal correction.

The constant :data:`TRUNCATED_STD_2` = 0.87962566103423978 is the standard deviation of a
standard normal truncated to [-2, 2]:

    Var = 1 + (a phi(a) - b phi(b)) / Z - ((phi(a) - phi(b)) / Z)^2,  Z = Phi(b) - Phi(a),

with a = -2, b = 2, phi the normal density and Phi its CDF (1 - 4 phi(2) / (2 Phi(2) - 1) =
0.77374...). A truncated normal drawn with sigma = s / 0.8796... has std s again; Keras and
JAX use the same constant in their ``variance_scaling``.

Example:
    >>> round(truncated_std(-2.0, 2.0), 12) == round(TRUNCATED_STD_2, 12)
    True
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "TRUNCATED_STD_2",
    "truncated_mass",
    "truncated_std",
    "standard_normal",
    "standard_uniform",
    "standard_truncated_normal",
    "uniform",
    "normal",
]

TRUNCATED_STD_2: float = 0.87962566103423978
"""Std of a standard normal truncated to [-2, 2] (see the module docstring)."""

_NATIVE = (np.dtype(np.float32), np.dtype(np.float64))


def _phi(x: float) -> float:
    """Standard normal density, 0 at +-inf (and x * phi(x) is 0 there too)."""
    return 0.0 if math.isinf(x) else math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def _xphi(x: float) -> float:
    return 0.0 if math.isinf(x) else x * _phi(x)


def truncated_mass(a: float, b: float) -> float:
    """Return Z = Phi(b) - Phi(a), the probability of [a, b] under a standard normal.

    Computed in the lower tail (mirrored when a > 0), where the CDF keeps full precision.

    Example:
        >>> round(truncated_mass(-2, 2), 6), truncated_mass(40, 50)
        (0.9545, 0.0)
    """
    from scipy.special import ndtr  # here, not at import: scipy.special loads in ~0.25 s

    if a > 0:
        a, b = -b, -a
    return float(ndtr(b) - ndtr(a))


def truncated_std(a: float, b: float) -> float:
    """Return the std of a standard normal truncated to [a, b] (a < b, either may be infinite).

    Args:
        a: lower bound in std units.
        b: upper bound in std units.

    Returns:
        The standard deviation of the truncated distribution.

    Example:
        >>> round(truncated_std(-2, 2), 6)
        0.879626
    """
    z = truncated_mass(a, b)
    if a > 0:  # mirror into the lower tail, where the CDF is accurate
        a, b = -b, -a
    mean = (_phi(a) - _phi(b)) / z
    var = 1.0 + (_xphi(a) - _xphi(b)) / z - mean * mean
    return math.sqrt(max(var, 0.0))


def standard_uniform(
    rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Draw U[0, 1) of ``shape`` in ``dtype`` (natively for float32/float64).

    ``out``: a C-contiguous float32/float64 array of that shape and dtype to draw into (the
    same numbers, no new array; see :meth:`Initializer.fill`).
    """
    if out is not None:
        return rng.random(out=out, dtype=out.dtype)
    if dtype in _NATIVE:
        return rng.random(shape, dtype=dtype)
    return rng.random(shape).astype(dtype)


def standard_normal(
    rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Draw N(0, 1) of ``shape`` in ``dtype`` (natively for float32/float64; ``out`` as in
    :func:`standard_uniform`).

    Example:
        >>> a = np.empty(3, np.float32)
        >>> b = standard_normal(np.random.default_rng(0), (3,), np.dtype(np.float32))
        >>> bool((standard_normal(np.random.default_rng(0), (3,), a.dtype, a) == b).all())
        True
    """
    if out is not None:
        return rng.standard_normal(out=out, dtype=out.dtype)
    if dtype in _NATIVE:
        return rng.standard_normal(shape, dtype=dtype)
    return rng.standard_normal(shape).astype(dtype)


def standard_truncated_normal(
    rng: np.random.Generator, shape: tuple[int, ...], a: float, b: float, dtype: np.dtype
) -> np.ndarray:
    """Draw a standard normal truncated to [a, b] by inverting the CDF (exact, vectorized).

    Args:
        rng: the generator.
        shape: output shape.
        a: lower bound in std units (may be -inf).
        b: upper bound in std units (may be +inf), b > a.
        dtype: output dtype.

    Returns:
        An array of ``shape`` whose values lie in [a, b].

    Example:
        >>> x = standard_truncated_normal(np.random.default_rng(0), (1000,), -2, 2, np.float64)
        >>> bool(x.min() >= -2 and x.max() <= 2)
        True
    """
    from scipy.special import ndtr, ndtri

    flip = a > 0  # sample -x from [-b, -a]: the lower tail of ndtr keeps full precision
    lo, hi = (-b, -a) if flip else (a, b)
    p_lo, p_hi = float(ndtr(lo)), float(ndtr(hi))
    u = rng.random(shape)
    x = np.asarray(ndtri(p_lo + u * (p_hi - p_lo)))  # 0-d for shape (): clip needs an array
    np.clip(x, lo, hi, out=x)
    if flip:
        np.negative(x, out=x)
    return x.astype(dtype, copy=False)


def uniform(
    rng: np.random.Generator, shape: tuple[int, ...], low: float, high: float, dtype: np.dtype,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Draw U(low, high) of ``shape`` in ``dtype``.

    Example:
        >>> x = uniform(np.random.default_rng(0), (100,), -1.0, 1.0, np.dtype(np.float32))
        >>> bool(x.min() >= -1 and x.max() <= 1)
        True
    """
    x = standard_uniform(rng, shape, dtype, out)
    x *= dtype.type(high - low)
    x += dtype.type(low)
    return x


def normal(
    rng: np.random.Generator, shape: tuple[int, ...], mean: float, std: float, dtype: np.dtype,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Draw N(mean, std) of ``shape`` in ``dtype``.

    Example:
        >>> normal(np.random.default_rng(0), (2, 3), 0.0, 0.1, np.dtype(np.float64)).shape
        (2, 3)
    """
    x = standard_normal(rng, shape, dtype, out)
    x *= dtype.type(std)
    if mean:
        x += dtype.type(mean)
    return x
