"""Every threshold the diagnostics use, in one place (documented, settable).

Pass your own to :func:`initlab.inspect` (``thresholds=Thresholds(dead_warn=0.3)`` or a dict
of the fields to change). Ratios compare root-mean-square values: an activation ratio is
``rms(pre-activation of layer l) / rms(input)``; a gradient ratio is
``rms(dL/dz of layer l) / rms(dL/dz of the output layer)``.

Example:
    >>> Thresholds().tanh_saturation
    0.99
    >>> as_thresholds({"dead_warn": 0.3}).dead_warn
    0.3
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from initlab.errors import ConfigError, unknown

__all__ = ["Thresholds", "as_thresholds"]


@dataclass(frozen=True)
class Thresholds:
    """The cut-offs of the statistics and of the findings.

    Attributes:
        tanh_saturation: a tanh output with ``|a| >`` this is saturated.
        sigmoid_low: a sigmoid output below this is saturated.
        sigmoid_high: a sigmoid output above this is saturated.
        dead_warn: fraction of dead units (never positive on the batch) that is a warning.
        dead_error: ... that is an error.
        saturation_warn: fraction of saturated outputs that is a warning.
        saturation_error: ... that is an error.
        vanishing_activations: activation ratio below which signals vanish.
        exploding_activations: activation ratio above which signals explode.
        vanishing_gradients: gradient ratio below which gradients vanish.
        exploding_gradients: gradient ratio above which gradients explode.
        symmetry_cosine: two units whose incoming weights have a cosine above this are
            (nearly) copies of each other.
        symmetry_min_fan_in: the cosine test applies only to layers with at least this many
            inputs; below it, random units are often near-parallel by chance (fan_in 2: a
            random pair has cosine > 0.99 with probability arccos(0.99) / pi = 4.5 %), so only
            exact copies count as symmetry there.
        update_ratio_high: ``||lr * grad W|| / ||W||`` above this means one step rewrites the
            layer (reported with the gradient findings).
    """

    tanh_saturation: float = 0.99
    sigmoid_low: float = 0.01
    sigmoid_high: float = 0.99
    dead_warn: float = 0.5
    dead_error: float = 0.9
    saturation_warn: float = 0.1
    saturation_error: float = 0.5
    vanishing_activations: float = 0.1
    exploding_activations: float = 10.0
    vanishing_gradients: float = 0.01
    exploding_gradients: float = 100.0
    symmetry_cosine: float = 0.99
    symmetry_min_fan_in: int = 8
    update_ratio_high: float = 1.0


def as_thresholds(value: Thresholds | dict[str, Any] | None) -> Thresholds:
    """Return Thresholds from None (the defaults), a Thresholds, or a dict of fields to change.

    Raises:
        ConfigError: an unknown field or a value that is not a positive number.

    Example:
        >>> as_thresholds(None) == Thresholds()
        True
    """
    if value is None:
        return Thresholds()
    if isinstance(value, Thresholds):
        return value
    if not isinstance(value, dict):
        raise ConfigError(f"thresholds must be a Thresholds, a dict or None; got {value!r}")
    names = [f.name for f in dataclasses.fields(Thresholds)]
    for key, v in value.items():
        if key not in names:
            raise unknown("threshold", key, names, ConfigError)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
            raise ConfigError(f"threshold {key} must be a positive number; got {v!r}")
    return dataclasses.replace(Thresholds(), **{k: float(v) for k, v in value.items()})
