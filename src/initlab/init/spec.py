"""Parse a spec string like ``"keras:variance_scaling(2, mode=fan_out)"``; never eval.

Grammar (whitespace allowed between tokens)::

    spec   := [flavor ":"] name ["(" [arg ("," arg)* [","]] ")"]
    arg    := [key "="] value
    value  := number | true | false | none | word | 'quoted' | "quoted"

Numbers become floats (``inf`` and ``-inf`` too), ``true``/``false`` bools (any case),
``none`` None, anything else a string (``fan_in``).

Example:
    >>> parse("normal(0, std=0.1)")
    ParsedSpec(flavor=None, name='normal', args=(0.0,), kwargs=(('std', 0.1),))
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from initlab.errors import SpecError

__all__ = ["ParsedSpec", "parse"]

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<num>[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|(?i:inf(?:inity)?|nan))(?![A-Za-z0-9_.]))
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<str>'[^'\\]*'|"[^"\\]*")
    | (?P<punct>[(),=:])
    )""",
    re.VERBOSE | re.ASCII,
)
_WORDS = {"true": True, "false": False, "none": None}


class ParsedSpec(NamedTuple):
    """A parsed spec: flavor (or None), lower-cased name, positional and keyword values."""

    flavor: str | None
    name: str
    args: tuple[Any, ...]
    kwargs: tuple[tuple[str, Any], ...]


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out: list[tuple[str, str, int]] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return out
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise SpecError(
                f"cannot parse initializer spec {text!r}: unexpected {text[pos : pos + 10]!r} "
                f"at position {pos}"
            )
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind), m.start(kind)))
        pos = m.end()


def _value(kind: str, tok: str) -> Any:
    if kind == "num":
        return float(tok)
    if kind == "str":
        return tok[1:-1]
    return _WORDS.get(tok.lower(), tok)


def parse(text: str) -> ParsedSpec:
    """Parse an initializer spec string into its parts (no lookup, no validation of names).

    Args:
        text: e.g. ``"he_normal"``, ``"uniform(-0.05, 0.05)"``, ``"torch:kaiming_uniform(a=0)"``.

    Returns:
        A :class:`ParsedSpec`.

    Raises:
        SpecError: when the text does not follow the grammar; the message quotes the text.

    Example:
        >>> parse("torch:kaiming_normal(mode=fan_out)").kwargs
        (('mode', 'fan_out'),)
    """
    if not isinstance(text, str):
        raise SpecError(f"an initializer spec must be a string; got {text!r}")
    toks = _tokens(text)
    i = 0

    def fail(what: str) -> SpecError:
        where = f"at position {toks[i][2]} ({toks[i][1]!r})" if i < len(toks) else "at the end"
        return SpecError(f"cannot parse initializer spec {text!r}: expected {what} {where}")

    def peek(kind: str, value: str | None = None) -> bool:
        return i < len(toks) and toks[i][0] == kind and (value is None or toks[i][1] == value)

    if not toks:
        raise SpecError(f"empty initializer spec {text!r}; give a scheme name such as he_normal")
    if not peek("name"):
        raise fail("a scheme name")
    name, flavor = toks[i][1].lower(), None
    i += 1
    if peek("punct", ":"):
        i += 1
        if not peek("name"):
            raise fail("a scheme name after the flavor")
        flavor, name = name, toks[i][1].lower()
        i += 1
    args: list[Any] = []
    kwargs: list[tuple[str, Any]] = []
    if peek("punct", "("):
        i += 1
        while not peek("punct", ")"):
            if i + 1 < len(toks) and toks[i][0] == "name" and toks[i + 1][1] == "=":
                key = toks[i][1].lower()
                i += 2
                if not (peek("num") or peek("name") or peek("str")):
                    raise fail(f"a value for {key!r}")
                kwargs.append((key, _value(*toks[i][:2])))
            elif peek("num") or peek("name") or peek("str"):
                if kwargs:
                    raise fail("key=value (a positional argument cannot follow a keyword)")
                args.append(_value(*toks[i][:2]))
            else:
                raise fail("an argument or ')'")
            i += 1
            if peek("punct", ","):
                i += 1
            elif not peek("punct", ")"):
                raise fail("',' or ')'")
        i += 1
    if i < len(toks):
        raise fail("the end of the spec")
    return ParsedSpec(flavor, name, tuple(args), tuple(kwargs))
