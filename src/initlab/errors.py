"""initlab's errors: every mistake a user can make raises one of these.

Each error is also a :class:`ValueError`, so code that already catches ``ValueError``
keeps working. Messages name the bad value and what is allowed; the CLI prints them
on one line and exits with status 2.

Example:
    >>> from initlab.errors import SpecError, unknown
    >>> try:
    ...     raise unknown("scheme", "he_normall", ["he_normal", "he_uniform"], SpecError)
    ... except SpecError as e:
    ...     print(e)
    unknown scheme 'he_normall'; did you mean 'he_normal'? Allowed: he_normal, he_uniform
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "InitLabError",
    "SpecError",
    "ShapeError",
    "DataError",
    "ConfigError",
    "StoreError",
    "closest",
    "unknown",
]


class InitLabError(ValueError):
    """Base class of every error initlab raises for a user's input."""


class SpecError(InitLabError):
    """A spec string or object (initializer, activation, optimizer, ...) is not valid."""


class ShapeError(InitLabError):
    """An array or weight shape does not fit what is expected."""


class DataError(InitLabError):
    """A dataset is missing, corrupt, has the wrong hash, or cannot be downloaded."""


class ConfigError(InitLabError):
    """A study or command configuration is not valid."""


class StoreError(InitLabError):
    """A results store cannot be opened, written, or does not match the study."""


def closest(value: str, allowed: Iterable[str]) -> str | None:
    """Return the allowed name closest to ``value``, or None if nothing is close.

    Example:
        >>> closest("glorot_unifrom", ["glorot_uniform", "zeros"])
        'glorot_uniform'
    """
    matches = difflib.get_close_matches(str(value).lower(), list(allowed), n=1, cutoff=0.6)
    return matches[0] if matches else None


def unknown(
    kind: str,
    value: object,
    allowed: Iterable[str],
    error: type[InitLabError] = SpecError,
) -> InitLabError:
    """Build the error for an unknown name: names the value, the closest match, the allowed.

    Args:
        kind: what was looked up, e.g. ``"scheme"`` or ``"dataset"``.
        value: what the user gave.
        allowed: the names that would have been accepted.
        error: the error class to build.

    Returns:
        An error instance (raise it).

    Example:
        >>> str(unknown("dataset", "mnsit", ["mnist", "moons"], DataError))
        "unknown dataset 'mnsit'; did you mean 'mnist'? Allowed: mnist, moons"
    """
    allowed = sorted(set(allowed))
    hint = closest(str(value), allowed)
    did = f"; did you mean '{hint}'?" if hint else "."
    return error(f"unknown {kind} {value!r}{did} Allowed: {', '.join(allowed)}")
