"""Statistics over seeds: mean, spread and a bound-respecting interval; the unstable-run rule.

One implementation, used by :class:`~initlab.studies.results.Results` (per scheme) and by
grouped sweep summaries.

**The interval** is a seeded *bootstrap percentile interval of the mean* (Efron & Tibshirani,
*An Introduction to the Bootstrap*, 1993, ch. 13): draw :data:`BOOTSTRAP_RESAMPLES` resamples
of the n values with replacement from ``numpy.random.default_rng(BOOTSTRAP_SEED)``, take each
resample's mean, and report the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of those
means. A resample's mean lies between the smallest and the largest value, so the interval does
too: an accuracy's interval stays inside [0, 1] and a loss's inside [0, inf), which a
Student-t interval (mean -+ t * std / sqrt(n)) does not (seeds at 1.0, 1.0, 1.0, 1.0, 0.9 give
the t interval [0.92, 1.04]). The price: with few seeds a percentile interval is too narrow
(it cannot be wider than the values' range, and it is the single point when every seed gave
the same value), so read it as "where the mean of these seeds is", not as a guarantee. Same
values, same interval: the resampling is seeded and does not touch any global RNG.

**Unstable runs**: a run that did not turn non-finite but whose final training loss is more
than :data:`UNSTABLE_FACTOR` times its loss at the first logged epoch blew up (e.g. a loss that
went from 0.7 to 7.6e10); it is counted apart, like a diverged run, and not averaged in.

Example:
    >>> s = mean_ci([1.0, 1.0, 1.0, 1.0, 0.9])
    >>> s.low >= 0.9 and s.high <= 1.0, s.method
    (True, 'bootstrap percentile')
    >>> unstable(0.69, 7.6e10), unstable(0.69, 0.05)
    (True, False)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Stat", "mean_ci", "unstable", "interval_note", "json_float", "INTERVAL_METHOD",
           "BOOTSTRAP_RESAMPLES", "BOOTSTRAP_SEED", "UNSTABLE_FACTOR"]

INTERVAL_METHOD = "bootstrap percentile"
"""The name tables, CSV and JSON give the interval method."""
BOOTSTRAP_RESAMPLES = 10_000
"""Resamples per interval."""
BOOTSTRAP_SEED = 0
"""Seed of the resampling (fixed: the same values give the same interval)."""
UNSTABLE_FACTOR = 10.0
"""A run whose final loss exceeds this many times its first logged loss is ``unstable``."""


@dataclass(frozen=True)
class Stat:
    """Mean, sample std and an interval of one metric over seeds.

    Attributes:
        n: how many values (finite ones only).
        mean: their mean (NaN when n = 0).
        std: the sample standard deviation, ddof = 1 (NaN when n < 2).
        low, high: the ``level`` bootstrap percentile interval of the mean (NaN when n < 2);
            always within [min(values), max(values)].
        level: the interval's confidence level.
        method: how the interval was made (:data:`INTERVAL_METHOD`).
    """

    n: int
    mean: float
    std: float
    low: float
    high: float
    level: float = 0.95
    method: str = INTERVAL_METHOD

    @property
    def half_width(self) -> float:
        """Half the interval's width (NaN when n < 2)."""
        return (self.high - self.low) / 2

    def to_dict(self) -> dict[str, Any]:
        """The numbers as a dict (NaN as None, ready for JSON), with the interval's method."""
        out: dict[str, Any] = {k: json_float(getattr(self, k))
                               for k in ("n", "mean", "std", "low", "high", "level")}
        out["method"] = self.method
        return out


def json_float(v: Any) -> Any:
    """A float as itself, NaN and inf as None (JSON has neither); anything else unchanged."""
    if isinstance(v, (float, np.floating)):
        return float(v) if math.isfinite(v) else None
    return v


def mean_ci(values: Sequence[float] | np.ndarray, level: float = 0.95) -> Stat:
    """Mean, std and bootstrap percentile interval of the mean of the finite ``values``.

    Args:
        values: one number per seed; NaN and infinite values are ignored.
        level: the confidence level, in (0, 1).

    Returns:
        A :class:`Stat`; its interval lies within the values' range.

    Raises:
        ConfigError: ``level`` is not in (0, 1).

    Example:
        >>> s = mean_ci([0.90, 0.92, 0.94])
        >>> round(s.mean, 2), round(s.std, 2), s.n
        (0.92, 0.02, 3)
        >>> 0.90 <= s.low < s.mean < s.high <= 0.94
        True
        >>> mean_ci([1.0]).std
        nan
    """
    if not (isinstance(level, (int, float)) and 0 < level < 1):
        from initlab.errors import ConfigError

        raise ConfigError(f"level must be a number in (0, 1); got {level!r}")
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    n = int(v.size)
    if n == 0:
        return Stat(0, math.nan, math.nan, math.nan, math.nan, level)
    mean = float(v.mean())
    if n == 1:
        return Stat(1, mean, math.nan, math.nan, math.nan, level)
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    idx = rng.integers(0, n, size=(BOOTSTRAP_RESAMPLES, n))
    means = v[idx].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    # the quantiles of resample means cannot leave [min, max]; clip away rounding of the sum
    lo, hi = (float(np.clip(x, v.min(), v.max())) for x in (lo, hi))
    return Stat(n, mean, float(v.std(ddof=1)), lo, hi, level)


def unstable(initial_loss: float, final_loss: float, factor: float = UNSTABLE_FACTOR) -> bool:
    """True when a finite ``final_loss`` exceeds ``factor`` times a finite ``initial_loss``.

    Non-finite losses are the *diverged* rule's business, not this one's.

    Example:
        >>> unstable(2059.0, 0.03), unstable(0.69, 6.8), unstable(0.69, 7.0)
        (False, False, True)
    """
    a, b = float(initial_loss), float(final_loss)
    if not (math.isfinite(a) and math.isfinite(b)):
        return False
    return b > factor * max(a, 0.0)


def interval_note(level: float) -> str:
    """The sentence tables print under their intervals, naming the method.

    Example:
        >>> interval_note(0.95)
        '95 % bootstrap percentile interval of the mean (10,000 resamples, seed 0)'
    """
    return (f"{round(level * 100)} % {INTERVAL_METHOD} interval of the mean "
            f"({BOOTSTRAP_RESAMPLES:,} resamples, seed {BOOTSTRAP_SEED})")
