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
import re
from collections.abc import Callable, Iterable

__all__ = [
    "InitLabError",
    "SpecError",
    "ShapeError",
    "DataError",
    "ConfigError",
    "StoreError",
    "closest",
    "unknown",
    "param",
    "python_spelling",
]

# A parameter's name inside a message: \x1f NAME [\x1e PYTHON TEXT] \x1f. str() spells it the
# Python way ("data_dir="); the CLI spells it as its flag ("--data-dir"). See :func:`param`.
_PARAM = re.compile("\x1f([A-Za-z_][A-Za-z0-9_.]*)(?:\x1e([^\x1f]*))?\x1f")


def param(name: str, python: str | None = None) -> str:
    """Mark a user-facing parameter's name in an error message, so each interface spells it.

    ``str(error)`` (the Python API) renders the mark as ``python`` (default ``name=``); the
    CLI renders it as the flag that sets that parameter (``--data-dir``) through
    :meth:`InitLabError.render`. A name with a dot (``dataset_options.noise``) is an entry of
    a mapping parameter.

    Example:
        >>> e = DataError(f"no files; point {param('data_dir')} at a folder that has them")
        >>> str(e)
        'no files; point data_dir= at a folder that has them'
        >>> e.render({"data_dir": "--data-dir"}.get)
        'no files; point --data-dir at a folder that has them'
    """
    return f"\x1f{name}\x1f" if python is None else f"\x1f{name}\x1e{python}\x1f"


def python_spelling(name: str) -> str:
    """How the Python API spells parameter ``name`` in a message: ``name=`` (last part)."""
    return f"{name.rpartition('.')[2]}="


class InitLabError(ValueError):
    """Base class of every error initlab raises for a user's input.

    A message may mark parameter names with :func:`param`; ``str()`` spells them as Python
    keywords, :meth:`render` as any interface likes (the CLI: as flags).
    """

    def render(self, spell: Callable[[str], str | None] | None = None) -> str:
        """The message with each marked parameter spelled by ``spell(name)``.

        ``spell`` returns the interface's spelling, or None to keep the Python one.
        """
        text = super().__str__()

        def one(m: re.Match[str]) -> str:
            name, python = m.group(1), m.group(2)
            return (spell(name) if spell else None) or python or python_spelling(name)

        return _PARAM.sub(one, text)

    def __str__(self) -> str:
        return self.render()


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
