"""Checks of the CLI's flag values: the one implementation (:mod:`initlab.init.checks`),
worded with the flag the user typed.

Example:
    >>> int_flag("--depth", 3, low=1)
    3
    >>> number_flag("--lr", -1.0)
    Traceback (most recent call last):
    ...
    initlab.errors.ConfigError: --lr must be a finite number > 0; got -1.0
"""

from __future__ import annotations

from typing import Any

from initlab.errors import ConfigError
from initlab.init.checks import integer, number

__all__ = ["int_flag", "number_flag"]


def int_flag(flag: str, value: Any, low: int = 1, optional: bool = False,
             error: type[Exception] = ConfigError) -> Any:
    """``value`` of ``flag`` as an int >= ``low`` (None where ``optional``), else ``error``
    saying ``"--flag must be an int >= low; got value"``."""
    return integer(flag, value, low=low, error=error, optional=optional)


def number_flag(flag: str, value: Any, low: float = 0.0, strict: bool = True) -> float:
    """``value`` of ``flag`` as a finite float > ``low`` (>= with ``strict=False``), else a
    ConfigError naming the flag, the value and what is allowed."""
    return number(flag, flag, value, low=low, strict=strict,
                  bad=lambda v, allowed: ConfigError(f"{flag} must be {allowed}; got {v!r}"))
