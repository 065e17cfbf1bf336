"""Plain-text tables for the terminal, fitted to a width (100 columns by default).

Columns are left-aligned, separated by two spaces, under a rule. When the table is wider
than ``width``, the widest column is narrowed one character at a time (not below
:data:`MIN_COLUMN`), and a cell longer than its column ends in "…"; numbers are never cut
(their column is kept as wide as its widest number) unless nothing else can give.

Example:
    >>> print(text_table(["scheme", "acc"], [["he_normal", "0.95"], ["zeros", "0.5"]]))
    scheme     acc
    ---------  ----
    he_normal  0.95
    zeros      0.5
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["WIDTH", "MIN_COLUMN", "text_table"]

WIDTH = 100
"""The terminal width tables are fitted to."""

MIN_COLUMN = 6
"""No column is narrowed below this many characters."""

_GAP = "  "
_BREAKS = re.compile(r"\s")


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", "").replace("±", "").split()[0])
    except (ValueError, IndexError):
        return False
    return True


def _one_line(value: object) -> str:
    """A cell on one line: every kind of line break or tab becomes a space."""
    return _BREAKS.sub(" ", str(value))


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def text_table(columns: Sequence[str], rows: Sequence[Sequence[str]],
               width: int = WIDTH) -> str:
    """Render a table of strings as aligned text no wider than ``width`` characters.

    Args:
        columns: the header.
        rows: the cells, already formatted as strings; a short row is padded with "".
        width: the most characters a line may have.

    Returns:
        The table: header, a rule, one line per row (a line break inside a cell becomes
        a space); no trailing spaces.

    Example:
        >>> t = text_table(["a", "b"], [["x" * 80, "y" * 80]], width=40)
        >>> max(len(line) for line in t.splitlines()) <= 40
        True
    """
    n = len(columns)
    cells = [[_one_line(c) for c in columns]] + [
        [_one_line(c) for c in r] + [""] * (n - len(r)) for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(n)]
    numeric = [all(_is_number(row[i]) for row in cells[1:] if row[i]) for i in range(n)]
    budget = width - len(_GAP) * (n - 1)
    while sum(widths) > budget:
        # narrow text columns first; numbers only when no text column can give
        for allow_numbers in (False, True):
            can = [i for i in range(n) if widths[i] > MIN_COLUMN
                   and (allow_numbers or not numeric[i])]
            if can:
                break
        if not can:
            break
        widest = max(can, key=lambda i: widths[i])
        widths[widest] -= 1
    lines = []
    for j, row in enumerate(cells):
        lines.append(_GAP.join(_fit(c, w).ljust(w) for c, w in zip(row, widths,
                                                                   strict=True)).rstrip())
        if j == 0:
            lines.append(_GAP.join("-" * w for w in widths))
    return "\n".join(lines)
