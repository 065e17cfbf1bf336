"""initlab's one plot style: colors, figure sizes, axes, the band over seeds, and saving.

Every plot in :mod:`initlab.viz.plots` draws through these helpers, so a change of look is a
change here only. Figures are built with :class:`matplotlib.figure.Figure` directly (no
``pyplot``, no global backend switch): rendering uses Agg and never opens a window.

Example:
    >>> from initlab.viz import style
    >>> fig, axes = style.new_figure(1, 2)
    >>> len(axes)
    2
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from initlab.errors import ConfigError, ShapeError
from initlab.viz.colors import PALETTE, SCHEME_COLORS, Palette, colors_for

__all__ = ["PALETTE", "SCHEME_COLORS", "Palette", "colors_for", "styled", "new_figure",
           "label_axes", "integer_ticks", "hide_unused", "as_runs", "band", "legend", "save",
           "text_color", "LOG_SPAN"]

FORMATS: tuple[str, ...] = ("png", "svg")
"""The formats :func:`save` writes, in this order."""

DPI = 110
"""Resolution of saved PNGs (dots per inch)."""

PANEL_SIZE: tuple[float, float] = (4.2, 3.2)
"""Width and height of one panel, in inches."""

LOG_SPAN = 30.0
"""A color scale is logarithmic when its positive values span more than this factor."""

FEW_TICKS = 12
"""Up to this many distinct whole-number x values, each gets its own tick."""

MARKER_POINTS = 20
"""Curves with at most this many points get a marker at each (a single point stays visible)."""

SEQUENTIAL_CMAP = "viridis"
"""Colormap for ordered things (training time, magnitudes)."""

DIVERGING_CMAP = "RdBu_r"
"""Colormap for values around a center (chi_1 around 1, log-ratios around 0)."""

CLASS_CMAP = "Spectral"
"""Colormap for the two classes of a decision boundary (as in seed 002)."""

RC: dict[str, object] = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "lines.linewidth": 1.6,
    "svg.fonttype": "none",
    "svg.hashsalt": "initlab",
}
"""matplotlib settings applied while a figure is built (never globally)."""


@contextlib.contextmanager
def styled() -> Iterator[None]:
    """Apply :data:`RC` inside a ``with`` block, or to a whole function as a decorator.

    Example:
        >>> with styled():
        ...     fig, axes = new_figure()
    """
    import matplotlib

    with matplotlib.rc_context(RC):
        yield


def text_color(rgba: Sequence[float]) -> str:
    """Black or white, whichever reads better on a background color (by its luminance).

    Example:
        >>> text_color((0.0, 0.0, 0.0, 1.0))
        'white'
    """
    r, g, b = rgba[:3]
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"


def new_figure(
    nrows: int = 1,
    ncols: int = 1,
    *,
    title: str | None = None,
    sharex: bool = False,
    sharey: bool = False,
    panel_size: tuple[float, float] = PANEL_SIZE,
) -> tuple[Figure, list[Axes]]:
    """Make a styled Figure with a grid of panels (call inside :func:`styled`).

    Args:
        nrows: panel rows.
        ncols: panel columns.
        title: the figure's title (suptitle), or None.
        sharex: share x axes between panels.
        sharey: share y axes between panels.
        panel_size: (width, height) of one panel in inches.

    Returns:
        (figure, flat list of axes in row-major order).

    Example:
        >>> fig, axes = new_figure(2, 3)
        >>> len(axes)
        6
    """
    if nrows < 1 or ncols < 1:
        raise ConfigError(f"a figure needs at least one panel; got {nrows} x {ncols}")
    fig = Figure(
        figsize=(panel_size[0] * ncols, panel_size[1] * nrows + (0.35 if title else 0.0)),
        layout="constrained",
    )
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, sharex=sharex, sharey=sharey, squeeze=False)
    if title:
        fig.suptitle(title, fontsize=11, fontweight="bold")
    return fig, list(np.ravel(axes))


def label_axes(
    ax: Axes,
    *,
    title: str | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
    logy: bool = False,
) -> None:
    """Set a panel's title, axis labels and (optionally) a log y axis.

    Example:
        >>> fig, (ax,) = new_figure()
        >>> label_axes(ax, title="loss", xlabel="epoch", ylabel="loss")
        >>> ax.get_title()
        'loss'
    """
    if title is not None:
        ax.set_title(title)
    if xlabel is not None:
        ax.set_xlabel(xlabel)
    if ylabel is not None:
        ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")


def integer_ticks(ax: Axes, x: object | None = None, axis: str = "x") -> None:
    """Put ticks on whole numbers only (layers, epochs) when every ``x`` is a whole number.

    With few distinct values (at most :data:`FEW_TICKS`), the ticks are exactly those
    values; a single value gets a view one unit wide around it.

    Example:
        >>> fig, (ax,) = new_figure()
        >>> integer_ticks(ax, [1, 2, 3])
        >>> [float(t) for t in ax.get_xticks()]
        [1.0, 2.0, 3.0]
    """
    from matplotlib.ticker import MaxNLocator

    target = ax.xaxis if axis == "x" else ax.yaxis
    if x is None:
        target.set_major_locator(MaxNLocator(integer=True))
        return
    arr = np.asarray(x, dtype=np.float64).ravel()
    if arr.size == 0 or not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
        return
    values = np.unique(arr)
    if values.size <= FEW_TICKS:
        (ax.set_xticks if axis == "x" else ax.set_yticks)(values)
        if values.size == 1:
            (ax.set_xlim if axis == "x" else ax.set_ylim)(values[0] - 0.5, values[0] + 0.5)
    else:
        target.set_major_locator(MaxNLocator(integer=True))


def hide_unused(axes: Sequence[Axes], used: int) -> None:
    """Hide the panels after the first ``used`` (a grid larger than the content)."""
    for ax in axes[used:]:
        ax.set_visible(False)


def as_runs(values: object, name: str = "series") -> np.ndarray:
    """Turn one series into a 2-D float array (runs, points): a 1-D series is one run.

    Args:
        values: array-like of shape (points,) or (runs, points).
        name: the series' label, for the error message.

    Returns:
        float64 array of shape (runs, points).

    Raises:
        ShapeError: for anything that is not 1-D or 2-D, or is empty.

    Example:
        >>> as_runs([1.0, 2.0]).shape
        (1, 2)
    """
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.size == 0:
        raise ShapeError(
            f"{name!r}: expected shape (points,) or (runs, points), got {np.shape(values)}"
        )
    return arr


def band(
    ax: Axes,
    x: np.ndarray | None,
    runs: object,
    *,
    label: str,
    color: str,
    linestyle: str = "-",
) -> None:
    """Draw the mean over runs as a line and the band from min to max (non-finite ignored).

    A run that diverged (NaN or inf from some point on) leaves the mean and band over the
    other runs; a point where no run is finite is left empty.

    Args:
        ax: the panel.
        x: the x coordinates (points,), or None for 0, 1, 2, ...
        runs: (runs, points) or (points,) values, e.g. a loss curve per seed.
        label: legend label (gets "(n=RUNS)" when there is more than one run).
        color: line and band color.
        linestyle: the mean line's style.

    Example:
        >>> fig, (ax,) = new_figure()
        >>> band(ax, None, [[1, 2, 3], [1, 3, 5]], label="he", color="#2ca02c")
    """
    arr = as_runs(runs, label)
    if x is None:
        x = np.arange(arr.shape[1])
    x = np.asarray(x, dtype=np.float64)
    if x.shape != (arr.shape[1],):
        raise ShapeError(f"{label!r}: x has shape {x.shape}, values have {arr.shape[1]} points")
    finite = np.where(np.isfinite(arr), arr, np.nan)
    ok = np.isfinite(finite).any(axis=0)
    mean = np.full(arr.shape[1], np.nan)
    lo = np.full(arr.shape[1], np.nan)
    hi = np.full(arr.shape[1], np.nan)
    mean[ok] = np.nanmean(finite[:, ok], axis=0)
    lo[ok] = np.nanmin(finite[:, ok], axis=0)
    hi[ok] = np.nanmax(finite[:, ok], axis=0)
    n = arr.shape[0]
    text = f"{label} (n={n})" if n > 1 else label
    marker = "o" if arr.shape[1] <= MARKER_POINTS else None
    ax.plot(x, mean, color=color, linestyle=linestyle, label=text, marker=marker, markersize=3.5)
    if n > 1:
        ax.fill_between(x, lo, hi, color=color, alpha=0.2, linewidth=0)


def legend(ax: Axes, **kwargs: object) -> None:
    """Add the legend if the panel has labelled artists."""
    handles, _ = ax.get_legend_handles_labels()
    if handles:
        ax.legend(**kwargs)


def save(fig: Figure, path: str | Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Write ``fig`` as PATH.png and PATH.svg (``path`` has no extension); create folders.

    Args:
        fig: the figure.
        path: the file path without extension, e.g. ``out/figures/curves``.
        formats: which formats to write (``png``, ``svg``).

    Returns:
        The written paths, in the order of ``formats``.

    Raises:
        ConfigError: for an unknown format.

    Example:
        >>> fig, _ = new_figure()
        >>> [p.suffix for p in save(fig, "/tmp/initlab-doc-fig")]
        ['.png', '.svg']
    """
    from initlab.errors import unknown

    path = Path(path)
    if path.suffix.lower() in {f".{f}" for f in FORMATS}:
        path = path.with_suffix("")
    path.parent.mkdir(parents=True, exist_ok=True)
    for fmt in formats:
        if fmt not in FORMATS:
            raise unknown("figure format", fmt, FORMATS, ConfigError)
    written = []
    with styled():  # svg.* settings are read when saving
        for fmt in formats:
            out = path.with_name(f"{path.name}.{fmt}")
            metadata: Mapping[str, object] = {"Date": None} if fmt == "svg" else {}
            fig.savefig(out, format=fmt, dpi=DPI, metadata=dict(metadata))
            written.append(out)
    return written
