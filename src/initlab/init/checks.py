"""Argument checks shared by the schemes: each error names the scheme, argument, value, allowed.

Example:
    >>> number("normal", "std", 0.1, low=0)
    0.1
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any

from initlab.errors import SpecError

__all__ = ["number", "choice", "boolean", "fmt"]


def fmt(x: float) -> str:
    """Format a computed number for a formula: 4 decimals, or 3 significant digits if tiny.

    Example:
        >>> fmt(0.050507627), fmt(0.00012345), fmt(2.0)
        ('0.0505', '0.000123', '2.0000')
    """
    if x != 0 and abs(x) < 0.01:
        return f"{x:.3g}"
    return f"{x:.4f}"


def _bad(scheme: str, arg: str, value: Any, allowed: str) -> SpecError:
    return SpecError(f"{scheme}: bad value {value!r} for argument '{arg}'; allowed: {allowed}")


def number(
    scheme: str,
    arg: str,
    value: Any,
    low: float | None = None,
    strict: bool = False,
    high: float | None = None,
    infinite: bool = False,
) -> float:
    """Return ``value`` as a float, or raise SpecError naming it and the allowed range.

    Args:
        scheme: the scheme's name (for the message).
        arg: the argument's name.
        value: what the user gave.
        low: smallest allowed value (inclusive unless ``strict``).
        strict: make ``low`` exclusive.
        high: largest allowed value (inclusive).
        infinite: allow +-inf.

    Returns:
        The value as a float.

    Example:
        >>> number("uniform", "high", 1)
        1.0
    """
    parts = ["a finite number" if not infinite else "a number (+-inf allowed)"]
    if low is not None:
        parts.append(f"{'>' if strict else '>='} {low:g}")
    if high is not None:
        parts.append(f"<= {high:g}")
    allowed = " ".join(parts)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise _bad(scheme, arg, value, allowed)
    v = float(value)
    if math.isnan(v) or (math.isinf(v) and not infinite):
        raise _bad(scheme, arg, value, allowed)
    if low is not None and (v < low or (strict and v == low)):
        raise _bad(scheme, arg, value, allowed)
    if high is not None and v > high:
        raise _bad(scheme, arg, value, allowed)
    return v


def choice(scheme: str, arg: str, value: Any, allowed: Iterable[str]) -> str:
    """Return ``value`` lower-cased if it is one of ``allowed``, else raise SpecError.

    Example:
        >>> choice("variance_scaling", "mode", "FAN_IN", ["fan_in", "fan_out"])
        'fan_in'
    """
    options = list(allowed)
    v = value.lower() if isinstance(value, str) else value
    if v not in options:
        raise _bad(scheme, arg, value, ", ".join(options))
    return v


def boolean(scheme: str, arg: str, value: Any) -> bool:
    """Return ``value`` if it is a bool, else raise SpecError.

    Example:
        >>> boolean("he_normal", "truncated", True)
        True
    """
    if not isinstance(value, bool):
        raise _bad(scheme, arg, value, "True or False")
    return value
