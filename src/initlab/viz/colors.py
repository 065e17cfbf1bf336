"""Series colors: a scheme keeps one color in every figure of a report page.

A :class:`Palette` belongs to one page (one experiment's report). The common schemes have a
fixed color (:data:`SCHEME_COLORS`); any other name gets, the first time the palette sees
it, a palette color that no other name of the page has, preferring colors that are no
scheme's fixed color. After that the name keeps its color in every figure drawn with that
palette, whatever other names share the figure. Pure Python: no matplotlib import.

Example:
    >>> page = Palette()
    >>> page.colors(["N(0, 0.10)", "glorot_normal"])
    {'N(0, 0.10)': '#d62728', 'glorot_normal': '#1f77b4'}
    >>> page.colors(["N(0, 0.10)", "he_normal"])["N(0, 0.10)"]   # the same in the next figure
    '#d62728'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["PALETTE", "SCHEME_COLORS", "Palette", "colors_for"]

PALETTE: tuple[str, ...] = (
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
    "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22",
)
"""Categorical colors (colorblind-aware order: blue, red, green, orange, ...)."""

SCHEME_COLORS: dict[str, str] = {
    "zeros": "#7f7f7f",
    "he_normal": "#2ca02c",
    "he_uniform": "#98df8a",
    "glorot_normal": "#1f77b4",
    "glorot_uniform": "#aec7e8",
    "lecun_normal": "#9467bd",
    "random_uniform": "#ff7f0e",
    "random_normal": "#ffbb78",
}
"""Fixed colors for the common schemes, so a scheme looks the same in every figure."""


class Palette:
    """Colors by name for one page: a name keeps the color it got first.

    Attributes:
        fixed: name -> color for names that always have that color.
        assigned: every name seen so far -> its color.
    """

    def __init__(self, fixed: Mapping[str, str] = SCHEME_COLORS) -> None:
        self.fixed: dict[str, str] = dict(fixed)
        self.assigned: dict[str, str] = {}

    def colors(self, names: Iterable[str]) -> dict[str, str]:
        """name -> color for ``names`` (in order), giving each new name its color for good.

        Example:
            >>> Palette().colors(["he_normal", "mine"])
            {'he_normal': '#2ca02c', 'mine': '#d62728'}
        """
        names = list(dict.fromkeys(names))
        for n in names:
            if n in self.fixed:
                self.assigned.setdefault(n, self.fixed[n])
        for n in names:
            if n not in self.assigned:
                self.assigned[n] = self._free()
        return {n: self.assigned[n] for n in names}

    def _free(self) -> str:
        used = set(self.assigned.values())
        reserved = set(self.fixed.values())
        for choices in ([c for c in PALETTE if c not in reserved], list(PALETTE)):
            for c in choices:
                if c not in used:
                    return c
        return PALETTE[len(self.assigned) % len(PALETTE)]  # more names than colors


def colors_for(names: Iterable[str], palette: Palette | None = None) -> dict[str, str]:
    """Give each name a distinct color: from ``palette`` (a page's), else a fresh one.

    Args:
        names: the series labels of one figure, in order.
        palette: the page's palette, so the names keep their colors across figures.

    Returns:
        name -> hex color; no two names share a color while the palette lasts.

    Example:
        >>> colors_for(["he_normal", "mine"])
        {'he_normal': '#2ca02c', 'mine': '#d62728'}
    """
    return (palette if palette is not None else Palette()).colors(names)
