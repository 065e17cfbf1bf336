"""Argument checks, the one home for them: each error names the argument, value and allowed.

``number``, ``choice`` and ``boolean`` check a scheme's arguments; ``integer`` any count;
``check_memory`` refuses, before allocating, what this machine cannot hold. ``init`` imports
nothing of initlab but ``errors``, so every package may use these.

Example:
    >>> number("normal", "std", 0.1, low=0)
    0.1
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Callable, Iterable
from typing import Any

from initlab.errors import ShapeError, SpecError

__all__ = ["number", "choice", "boolean", "integer", "fmt", "nbytes_text", "available_memory",
           "check_memory"]


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
    bad: Callable[[Any, str], Exception] | None = None,
    *,
    strict_high: bool = False,
    optional: bool = False,
) -> Any:
    """Return ``value`` as a float, or raise SpecError naming it and the allowed range.

    Args:
        scheme: the scheme's name (for the message).
        arg: the argument's name.
        value: what the user gave.
        low: smallest allowed value (inclusive unless ``strict``).
        strict: make ``low`` exclusive.
        high: largest allowed value (inclusive unless ``strict_high``).
        infinite: allow +-inf.
        bad: builds the error from ``(value, allowed)`` instead (another package's words,
            e.g. a study field's ConfigError or a CLI flag's); the check itself stays this one.
        strict_high: make ``high`` exclusive.
        optional: None is allowed too (and returned).

    Returns:
        The value as a float (None for an allowed None; typed ``Any`` for that reason).

    Example:
        >>> number("uniform", "high", 1)
        1.0
        >>> number("normal", "std", 10**400)
        Traceback (most recent call last):
        ...
        initlab.errors.SpecError: normal: bad value 1000...
    """
    if value is None and optional:
        return None
    parts = ["a finite number" if not infinite else "a number (+-inf allowed)"]
    if low is not None:
        parts.append(f"{'>' if strict else '>='} {low:g}")
    if high is not None:
        parts.append(f"{'<' if strict_high else '<='} {high:g}")
    allowed = " ".join(parts) + (" or None" if optional else "")

    def fail() -> Exception:
        return bad(value, allowed) if bad else _bad(scheme, arg, value, allowed)

    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise fail()
    try:
        v = float(value)
    except OverflowError:  # an int beyond float's range
        raise fail() from None
    if math.isnan(v) or (math.isinf(v) and not infinite):
        raise fail()
    if low is not None and (v < low or (strict and v == low)):
        raise fail()
    if high is not None and (v > high or (strict_high and v == high)):
        raise fail()
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


def integer(
    what: str,
    value: Any,
    low: int | None = None,
    high: int | None = None,
    error: type[Exception] = SpecError,
    *,
    optional: bool = False,
    bad: Callable[[Any, str], Exception] | None = None,
) -> Any:
    """Return ``value`` as an int if it is an integer (not a bool) in [low, high]; else raise.

    Args:
        what: how the message names the argument, e.g. ``"n_models"`` (may be marked with
            :func:`initlab.errors.param`).
        value: what the user gave.
        low: smallest allowed value, or None.
        high: largest allowed value, or None.
        error: the error class to raise.
        optional: None is allowed too (and returned).
        bad: builds the error from ``(value, allowed)`` instead (another package's words);
            the check itself stays this one.

    Example:
        >>> integer("n_models", 3, low=1)
        3
        >>> integer("workers", 0, low=1, error=ValueError, optional=True)
        Traceback (most recent call last):
        ...
        ValueError: workers must be an int >= 1 or None; got 0
    """
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or (
        (low is not None and value < low) or (high is not None and value > high)
    ):
        span = " ".join(
            p for p in (f">= {low}" if low is not None else "",
                        f"<= {high}" if high is not None else "") if p
        )
        allowed = f"an int{' ' + span if span else ''}{' or None' if optional else ''}"
        if bad is not None:
            raise bad(value, allowed)
        raise error(f"{what} must be {allowed}; got {value!r}")
    return int(value)


def nbytes_text(n: float) -> str:
    """A byte count for people: ``1536`` -> ``'1.5 KiB'``.

    Example:
        >>> nbytes_text(40_000_000_000), nbytes_text(512), nbytes_text(10**400)
        ('37.3 GiB', '512 B', 'about 10^400 B')
    """
    if n >= 1024**7:  # beyond PiB (and beyond float for a huge int): its order of magnitude
        return f"about 10^{len(str(int(n))) - 1} B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"  # pragma: no cover - the loop always returns


def available_memory() -> int | None:
    """Bytes this process could still allocate: Linux's MemAvailable (bounded by a cgroup
    limit), else the free physical pages; None where neither is known.

    Example:
        >>> m = available_memory()
        >>> m is None or m > 0
        True
    """
    avail: int | None = None
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        avail = None
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, ValueError, OSError):
            return None
    try:  # a container's own limit (cgroup v2)
        with open("/sys/fs/cgroup/memory.max", encoding="ascii") as f:
            limit = f.read().strip()
        with open("/sys/fs/cgroup/memory.current", encoding="ascii") as f:
            used = int(f.read().strip())
        if limit.isdigit():
            avail = min(avail, int(limit) - used)
    except (OSError, ValueError):
        pass
    return max(int(avail), 0)


def check_memory(nbytes: float, what: str, hint: str = "",
                 available: int | None = None) -> None:
    """Refuse, before allocating, what needs more memory than is available.

    Args:
        nbytes: the estimated bytes the allocation needs.
        what: what would be allocated, for the message (``"he_normal of shape (1e5, 1e5)"``).
        hint: how to need less (appended to the message).
        available: bytes available (default: :func:`available_memory`; no check if unknown).

    Raises:
        ShapeError: naming what, the size it needs and the size available.

    Example:
        >>> check_memory(1e3, "a small array", available=10**6)
        >>> check_memory(4e10, "a (100000, 100000) array", available=2**33)
        Traceback (most recent call last):
        ...
        initlab.errors.ShapeError: a (100000, 100000) array needs about 37.3 GiB; this ...
    """
    avail = available_memory() if available is None else available
    if avail is None or nbytes <= avail:
        return
    more = f"; {hint}" if hint else ""
    raise ShapeError(f"{what} needs about {nbytes_text(nbytes)}; this machine has "
                     f"{nbytes_text(avail)} available{more}")
