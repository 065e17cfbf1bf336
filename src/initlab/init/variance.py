"""Variance scaling, the one family behind Glorot, He and LeCun.

Var[w] = scale / n, with n = fan_in, fan_out, their mean (fan_avg) or geometric mean
(fan_geo_avg). ``normal`` draws N(0, sqrt(scale / n)); ``uniform`` draws U(-b, b) with
b = sqrt(3 scale / n); ``truncated_normal`` draws a normal truncated at +-2 sigma with
sigma = sqrt(scale / n) / 0.8796..., so the std is still sqrt(scale / n).

=================  =====  =======  ==================================
scheme             scale  mode     textbook formula
=================  =====  =======  ==================================
glorot_uniform     1      fan_avg  U(+-sqrt(6 / (fan_in + fan_out)))
glorot_normal      1      fan_avg  N(0, sqrt(2 / (fan_in + fan_out)))
he_uniform         2      fan_in   U(+-sqrt(6 / fan_in))
he_normal          2      fan_in   N(0, sqrt(2 / fan_in))
lecun_uniform      1      fan_in   U(+-sqrt(3 / fan_in))
lecun_normal       1      fan_in   N(0, sqrt(1 / fan_in))
=================  =====  =======  ==================================

Example:
    >>> round(VarianceScaling(2.0, "fan_in", "normal").std((784, 128)), 4)
    0.0505
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import numpy as np

from initlab.errors import ShapeError
from initlab.init.base import Initializer, as_float_dtype
from initlab.init.basic import Constant, Normal, TruncatedNormal, Uniform, _set
from initlab.init.checks import choice, fmt, number
from initlab.init.fans import as_shape, fans
from initlab.init.sampling import TRUNCATED_STD_2, uniform
from initlab.rng import as_generator

__all__ = ["MODES", "DISTRIBUTIONS", "FAN_RULES", "VarianceScaling", "TorchLinearDefault"]

MODES: tuple[str, ...] = ("fan_in", "fan_out", "fan_avg", "fan_geo_avg")
DISTRIBUTIONS: tuple[str, ...] = ("normal", "uniform", "truncated_normal")
FAN_RULES: tuple[str, ...] = ("initlab", "keras")
"""``initlab``: rank >= 2 and n as is; ``keras``: Keras 3's rules (rank 0 -> fans (1, 1),
rank 1 -> (n, n)) and n replaced by max(1, n)."""

_MODE_TEXT = {
    "fan_in": "fan_in",
    "fan_out": "fan_out",
    "fan_avg": "((fan_in + fan_out) / 2)",
    "fan_geo_avg": "sqrt(fan_in * fan_out)",
}


@dataclasses.dataclass(frozen=True)
class VarianceScaling(Initializer):
    """Weights with Var = scale / n (see the module table for the named members).

    Args:
        scale: the variance numerator (gain squared), > 0.
        mode: fan_in, fan_out, fan_avg or fan_geo_avg.
        distribution: normal (untruncated), uniform, or truncated_normal (corrected).
        fan_rule: ``initlab`` (textbook) or ``keras`` (max(1, n), rank 0 and 1 allowed).

    Example:
        >>> ini = VarianceScaling(1.0, "fan_avg", "uniform")
        >>> round(ini.std((784, 128)) * 3 ** 0.5, 4)  # the bound sqrt(6 / (784 + 128))
        0.0811
    """

    scale: float = 1.0
    mode: str = "fan_in"
    distribution: str = "normal"
    fan_rule: str = "initlab"
    kind: ClassVar[str] = "variance_scaling"

    def __post_init__(self) -> None:
        k = self.kind
        _set(self, "scale", number(k, "scale", self.scale, low=0, strict=True))
        _set(self, "mode", choice(k, "mode", self.mode, MODES))
        dist = "normal" if self.distribution == "untruncated_normal" else self.distribution
        _set(self, "distribution", choice(k, "distribution", dist, DISTRIBUTIONS))
        _set(self, "fan_rule", choice(k, "fan_rule", self.fan_rule, FAN_RULES))

    def fans(self, shape: tuple[int, ...]) -> tuple[int, int]:
        """Return (fan_in, fan_out) under this scheme's fan rule."""
        if self.fan_rule == "keras" and len(shape) < 2:
            return (1, 1) if not shape else (shape[0], shape[0])
        try:
            return fans(shape)
        except ShapeError as e:
            raise ShapeError(f"{self.name}: {e}") from None

    def n(self, shape: tuple[int, ...]) -> float:
        """Return the denominator n of Var = scale / n for ``shape``."""
        return self._n(*self.fans(shape))

    def _n(self, fi: float, fo: float) -> float:
        n = {
            "fan_in": fi,
            "fan_out": fo,
            "fan_avg": (fi + fo) / 2.0,
            "fan_geo_avg": math.sqrt(fi * fo),
        }[self.mode]
        return max(1.0, n) if self.fan_rule == "keras" else float(n)

    def std(self, shape):
        n = self.n(as_shape(shape))
        return math.sqrt(self.scale / n) if n > 0 else None

    def _scratch(self, dtype):
        return super()._scratch(dtype) + (16 if self.distribution == "truncated_normal" else 0)

    def at_fans(self, fan_in: float, fan_out: float) -> Initializer:
        """Return this distribution for a layer whose fans its shape does not tell.

        A grouped, strided or transposed conv has fans other than :func:`fans` of its
        kernel's shape (see ``initlab.torch.walk``); the result is the fixed-std scheme this
        one is at those fans, and draws the very numbers this one draws when they agree.

        Example:
            >>> VarianceScaling(2.0).at_fans(8, 4)
            Normal(mean=0.0, stddev=0.5)
        """
        n = self._n(fan_in, fan_out)
        if n <= 0:
            return Constant(0.0)
        s = math.sqrt(self.scale / n)
        if self.distribution == "normal":
            return Normal(0.0, s)
        if self.distribution == "uniform":
            b = math.sqrt(3.0) * s
            return Uniform(-b, b)
        return TruncatedNormal(0.0, s, -2.0, 2.0, corrected=True)

    def _draw(self, shape, rng, dtype):
        if self.std(shape) is None:  # n = 0: some dimension is 0, so the array is empty
            return np.zeros(shape, dtype=dtype)
        return self.at_fans(*self.fans(shape))._draw(shape, rng, dtype)

    def _fill(self, out, rng):
        if self.std(out.shape) is None:
            out.fill(0)
            return True
        return self.at_fans(*self.fans(out.shape))._fill(out, rng)

    def _bound(self, shape):
        if self.std(shape) is None:
            return 0.0
        return self.at_fans(*self.fans(shape))._bound(shape)

    def _formula(self, shape):
        n = self.n(shape)
        mode = _MODE_TEXT[self.mode]
        if self.fan_rule == "keras":
            mode = f"max(1, {mode})"
        sc = f"{self.scale:g}"
        s = self.std(shape)
        val = "undefined (n = 0)" if s is None else None
        if self.distribution == "uniform":
            b = val or fmt(math.sqrt(3.0) * s)
            return f"U(-b, b) with b = sqrt(3 * {sc} / {mode}) = sqrt(3 * {sc} / {n:g}) = {b}"
        sigma = f"sigma = sqrt({sc} / {mode}) = sqrt({sc} / {n:g}) = {val or fmt(s)}"
        if self.distribution == "normal":
            return f"N(0, sigma) with {sigma}"
        return (
            f"N(0, s) truncated to [-2 s, 2 s], s = sigma / {TRUNCATED_STD_2:.4f} (corrected: "
            f"the std is sigma) with {sigma}"
        )


@dataclasses.dataclass(frozen=True)
class TorchLinearDefault(Initializer):
    """What ``torch.nn.Linear`` and ``nn.ConvNd`` do by themselves (``reset_parameters``).

    Weight: kaiming_uniform(a=sqrt(5)): gain sqrt(2 / (1 + 5)), bound = gain * sqrt(3 / fan_in)
    = 1 / sqrt(fan_in). Bias: U(-1 / sqrt(fan_in), 1 / sqrt(fan_in)).

    Example:
        >>> ini = TorchLinearDefault()
        >>> round(ini.std((100, 10)) * 3 ** 0.5, 4)  # the bound 1 / sqrt(100)
        0.1
    """

    kind: ClassVar[str] = "torch:linear_default"

    @property
    def _weights(self) -> VarianceScaling:
        return VarianceScaling(1.0 / 3.0, "fan_in", "uniform")

    def std(self, shape):
        return self._weights.std(shape)

    def at_fans(self, fan_in: float, fan_out: float) -> Initializer:
        """The weights' distribution at these fans (see :meth:`VarianceScaling.at_fans`)."""
        return self._weights.at_fans(fan_in, fan_out)

    def _draw(self, shape, rng, dtype):
        return self._weights._draw(shape, rng, dtype)

    def _fill(self, out, rng):
        return self._weights._fill(out, rng)

    def _bound(self, shape):
        return self._weights._bound(shape)

    def _formula(self, shape):
        fi, _ = fans(shape)
        b = fmt(1.0 / math.sqrt(fi)) if fi > 0 else "undefined (fan_in = 0)"
        return (
            f"kaiming_uniform(a=sqrt(5)): U(-b, b) with b = sqrt(3 * (1/3) / fan_in) = "
            f"1 / sqrt({fi}) = {b}; bias U(-b, b) too"
        )

    def bias(self, fan_in, units, rng=None, dtype=np.float32):
        """Return nn.Linear's default bias: U(+-1 / sqrt(fan_in)); zeros if fan_in is 0."""
        (fi, n) = as_shape((fan_in, units))
        dt = as_float_dtype(dtype)
        if fi == 0:
            return np.zeros(n, dtype=dt)
        b = 1.0 / math.sqrt(fi)
        return uniform(as_generator(rng), (n,), -b, b, dt)
