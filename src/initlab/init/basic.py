"""Schemes that ignore fans: constant, uniform, normal, truncated normal.

Example:
    >>> Normal(stddev=0.1).std((3, 4))
    0.1
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import numpy as np

from initlab.errors import SpecError
from initlab.init.base import Initializer
from initlab.init.checks import boolean, fmt, number
from initlab.init.sampling import (
    normal,
    standard_truncated_normal,
    truncated_mass,
    truncated_std,
    uniform,
)

__all__ = ["Constant", "Uniform", "Normal", "TruncatedNormal"]


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)


@dataclasses.dataclass(frozen=True)
class Constant(Initializer):
    """Every weight equals ``value`` (``zeros`` and ``ones`` are constants 0 and 1).

    Example:
        >>> Constant(0.5)((2,)).tolist()
        [0.5, 0.5]
    """

    value: float = 0.0
    kind: ClassVar[str] = "constant"

    def __post_init__(self) -> None:
        _set(self, "value", number(self.kind, "value", self.value))

    def _draw(self, shape, rng, dtype):
        return np.full(shape, self.value, dtype=dtype)

    def _fill(self, out, rng):
        out.fill(self.value)
        return True

    def _bound(self, shape):
        return abs(self.value)

    def std(self, shape):
        return 0.0

    def _formula(self, shape):
        return f"every weight = {self.value:g}"


@dataclasses.dataclass(frozen=True)
class Uniform(Initializer):
    """U(low, high): std = (high - low) / sqrt(12).

    Example:
        >>> x = Uniform(-0.05, 0.05)((1000,), rng=0)
        >>> bool(x.min() >= -0.05 and x.max() <= 0.05)
        True
    """

    low: float = -1.0
    high: float = 1.0
    kind: ClassVar[str] = "uniform"

    def __post_init__(self) -> None:
        _set(self, "low", number(self.kind, "low", self.low))
        _set(self, "high", number(self.kind, "high", self.high, low=self.low))
        if not math.isfinite(self.high - self.low):
            raise SpecError(f"{self.kind}: bad values low={self.low!r}, high={self.high!r}; "
                            "allowed: finite bounds whose difference high - low is finite too")

    def _draw(self, shape, rng, dtype):
        return uniform(rng, shape, self.low, self.high, dtype)

    def _fill(self, out, rng):
        uniform(rng, out.shape, self.low, self.high, out.dtype, out)
        return True

    def _bound(self, shape):
        return max(abs(self.low), abs(self.high))

    def std(self, shape):
        return (self.high - self.low) / math.sqrt(12.0)

    def _formula(self, shape):
        return (
            f"U({self.low:g}, {self.high:g}), std = (high - low) / sqrt(12) = "
            f"{fmt(self.std(shape))}"
        )


@dataclasses.dataclass(frozen=True)
class Normal(Initializer):
    """N(mean, std), untruncated.

    Example:
        >>> Normal(0.0, 0.1)((2, 2), rng=0).shape
        (2, 2)
    """

    mean: float = 0.0
    stddev: float = dataclasses.field(default=1.0, metadata={"arg": "std"})
    kind: ClassVar[str] = "normal"

    def __post_init__(self) -> None:
        _set(self, "mean", number(self.kind, "mean", self.mean))
        _set(self, "stddev", number(self.kind, "std", self.stddev, low=0))

    def _draw(self, shape, rng, dtype):
        return normal(rng, shape, self.mean, self.stddev, dtype)

    def _fill(self, out, rng):
        normal(rng, out.shape, self.mean, self.stddev, out.dtype, out)
        return True

    def _bound(self, shape):
        # NumPy's ziggurat draws |z| < 14 (its tail is r - log(u) / r with u >= 2^-53)
        return abs(self.mean) + 64.0 * self.stddev

    def std(self, shape):
        return self.stddev

    def _formula(self, shape):
        return f"N({self.mean:g}, {self.stddev:g}) (mean, std)"


@dataclasses.dataclass(frozen=True)
class TruncatedNormal(Initializer):
    """A normal truncated to [mean + lower s, mean + upper s] (bounds in units of s).

    With ``corrected=True`` (initlab's default) s = std / truncated_std(lower, upper), so the
    weights' std is ``std`` itself; with ``corrected=False`` s = std, the std of the normal
    before truncation (what Keras, PyTorch and JAX's plain truncated normals do).

    Example:
        >>> TruncatedNormal(stddev=0.05).std((3, 3))
        0.05
    """

    mean: float = 0.0
    stddev: float = dataclasses.field(default=1.0, metadata={"arg": "std"})
    lower: float = -2.0
    upper: float = 2.0
    corrected: bool = True
    kind: ClassVar[str] = "truncated_normal"
    scratch_bytes: ClassVar[int] = 16  # the float64 uniform and its inverse CDF

    def __post_init__(self) -> None:
        k = self.kind
        _set(self, "mean", number(k, "mean", self.mean))
        _set(self, "stddev", number(k, "std", self.stddev, low=0, strict=True))
        _set(self, "lower", number(k, "lower", self.lower, infinite=True))
        _set(
            self,
            "upper",
            number(k, "upper", self.upper, low=self.lower, strict=True, infinite=True),
        )
        _set(self, "corrected", boolean(k, "corrected", self.corrected))
        mass = truncated_mass(self.lower, self.upper)
        t = truncated_std(self.lower, self.upper) if mass > 0 else 0.0
        if not (mass >= 1e-300 and t > 0):  # the interval is too far out in a tail
            raise SpecError(
                f"{k}: bad values lower={self.lower!r}, upper={self.upper!r}; a standard "
                f"normal has probability {mass:.3g} there, too little to draw from in float64; "
                "allowed: bounds (in units of std) whose interval holds probability >= 1e-300, "
                "e.g. within [-37, 37]"
            )
        if not math.isfinite(self.sigma):
            raise SpecError(f"{k}: std={self.stddev!r} with bounds [{self.lower!r}, "
                            f"{self.upper!r}] needs an infinite sigma; allowed: a smaller std")

    @property
    def sigma(self) -> float:
        """The std of the normal before truncation."""
        if self.corrected:
            return self.stddev / truncated_std(self.lower, self.upper)
        return self.stddev

    def _draw(self, shape, rng, dtype):
        x = standard_truncated_normal(rng, shape, self.lower, self.upper, np.dtype(np.float64))
        x *= self.sigma
        x += self.mean
        return x.astype(dtype, copy=False)

    def std(self, shape):
        return (
            self.stddev if self.corrected else self.stddev * truncated_std(self.lower, self.upper)
        )

    def _formula(self, shape):
        t = truncated_std(self.lower, self.upper)
        s = (
            f"s = std / {t:.4f} = {self.stddev:g} / {t:.4f} = {fmt(self.sigma)} (corrected: "
            f"the weights' std is {self.stddev:g})"
            if self.corrected
            else f"s = {self.stddev:g} (uncorrected: the weights' std is {fmt(self.std(shape))})"
        )
        return (
            f"N({self.mean:g}, s) truncated to [mean {self.lower:+g} s, mean "
            f"{self.upper:+g} s], {s}"
        )
