"""Explicit randomness: turn a seed or a Generator into a ``numpy.random.Generator``.

initlab never touches NumPy's global random state; every function that draws takes
``rng`` and passes it through :func:`as_generator`.

Example:
    >>> g = as_generator(0)
    >>> float(g.random()) == float(as_generator(0).random())
    True
"""

from __future__ import annotations

import numbers

import numpy as np

from initlab.errors import SpecError

RngLike = np.random.Generator | int | None
"""What every ``rng`` parameter accepts."""


def as_generator(rng: RngLike = None) -> np.random.Generator:
    """Return a Generator for ``rng``: a Generator as is, an int seed, or None (fresh entropy).

    Args:
        rng: a ``numpy.random.Generator``, a non-negative int seed, or None.

    Returns:
        A ``numpy.random.Generator``.

    Raises:
        SpecError: for anything else (a float, a negative int, the legacy RandomState).

    Example:
        >>> as_generator(3).integers(10) == as_generator(3).integers(10)
        True
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool) and int(rng) >= 0:
        return np.random.default_rng(int(rng))
    raise SpecError(
        f"rng must be a numpy.random.Generator, a non-negative int seed or None; got {rng!r}"
    )
