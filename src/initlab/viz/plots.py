"""The figures initlab draws: each takes plain arrays and dicts and returns a Figure.

Nothing here trains, measures or computes theory: studies, diagnostics and
:mod:`initlab.diagnose.theory` produce the numbers, these functions only draw them, all
through :mod:`initlab.viz.style`. Save any figure as PNG and SVG with :func:`save`.

==========================  ==========================================================
function                    draws
==========================  ==========================================================
:func:`curves`              one panel of curves, mean line and min-max band over seeds
:func:`curve_panels`        several such panels side by side (loss and accuracy, ...)
:func:`violins`             the distribution of each hidden layer's outputs, a panel per
                            setting (seed 001)
:func:`decision_boundaries` a 2-D classifier's decision regions, one panel per scheme
:func:`layer_profile`       a per-layer quantity (variance, ...) with theory dashed
:func:`gradient_norms`      the gradient norm per layer, log scale
:func:`activation_histograms`  each layer's activation histogram at several times
:func:`heatmap`             an annotated table of numbers (scheme x activation)
:func:`phase_diagram`       chi_1 over (sigma_w^2, sigma_b^2) with the critical line
==========================  ==========================================================

Example:
    >>> import numpy as np
    >>> fig = curves({"he_normal": np.ones((3, 10))}, ylabel="loss")
    >>> paths = save(fig, "/tmp/initlab-doc-curves")
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure

from initlab.errors import ShapeError
from initlab.viz import style
from initlab.viz.style import save

__all__ = [
    "activation_histograms",
    "curve_panels",
    "curves",
    "decision_boundaries",
    "gradient_norms",
    "heatmap",
    "layer_profile",
    "phase_diagram",
    "save",
    "violins",
]

ArrayLike = object
Series = Mapping[str, ArrayLike]

REGION_ALPHA = 0.55
"""Opacity of a decision region (the points over it stay fully opaque)."""

MAX_VIOLIN_POINTS = 4000
"""A violin's kernel density uses at most this many points (an even, deterministic stride)."""


def _grid(n: int, max_cols: int) -> tuple[int, int]:
    cols = min(n, max_cols)
    return (n + cols - 1) // cols, cols


def _need(mapping: Mapping[str, object], what: str) -> None:
    if not mapping:
        raise ShapeError(f"nothing to plot: {what} is empty")


@style.styled()
def curve_panels(
    panels: Mapping[str, Series],
    *,
    x: ArrayLike | Mapping[str, ArrayLike] | None = None,
    xlabel: str = "epoch",
    logy: bool | Sequence[str] = False,
    title: str | None = None,
    max_cols: int = 3,
    ylabel: str | None = None,
    colors: style.Palette | None = None,
    panel_titles: bool = True,
) -> Figure:
    """Draw curves over seeds in several panels: in each, mean line and min-max band per label.

    Each text is said once: the panel's title names the panel, the y axis is labelled only
    when ``ylabel`` says something else, and when every panel has the same labels one legend
    below the panels serves them all. Whole-number x (epochs) get whole-number ticks.

    Args:
        panels: panel title -> {label: values of shape (seeds, points) or (points,)}; e.g.
            ``{"loss": {"he_normal": h}, "accuracy": {...}}``. Non-finite values (a diverged
            seed) are left out of the mean and band.
        x: the x coordinates of every panel, or a mapping panel -> x, or None (0, 1, ...).
        xlabel: the x axis label.
        logy: True for log y axes everywhere, or the titles of the panels to draw in log.
        title: the figure title.
        max_cols: panels per row.
        ylabel: the y label of every panel (None: none; the panel title says it).
        colors: the page's palette, so each label keeps one color in every figure.
        panel_titles: False to leave the panels untitled (one panel under a figure title).

    Returns:
        The Figure.

    Example:
        >>> import numpy as np
        >>> fig = curve_panels({"loss": {"zeros": np.full((2, 5), 2.3)},
        ...                     "accuracy": {"zeros": np.full((2, 5), 0.1)}})
        >>> len(fig.axes)
        2
    """
    _need(panels, "panels")
    nrows, ncols = _grid(len(panels), max_cols)
    fig, axes = style.new_figure(nrows, ncols, title=title)
    shared = len(panels) > 1 and len({tuple(v) for v in panels.values()}) == 1
    for ax, (name, series) in zip(axes, panels.items(), strict=False):
        _need(series, f"panel {name!r}")
        px = x.get(name) if isinstance(x, Mapping) else x
        color = style.colors_for(list(series), colors)
        n_points = 0
        for label, values in series.items():
            style.band(ax, None if px is None else np.asarray(px), values,
                       label=label, color=color[label])
            n_points = max(n_points, style.as_runs(values, label).shape[1])
        log = logy if isinstance(logy, bool) else name in logy
        panel_title = name if panel_titles and name != title else None
        said = {title, panel_title}
        style.label_axes(ax, title=panel_title, xlabel=xlabel,
                         ylabel=None if ylabel in said else ylabel, logy=log)
        style.integer_ticks(ax, np.arange(n_points) if px is None else px)
        if not shared:
            style.legend(ax)
    style.hide_unused(axes, len(panels))
    if shared:  # every panel has the same labels: one legend for the figure, below it
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 4))
    return fig


def curves(
    series: Series,
    *,
    x: ArrayLike | None = None,
    xlabel: str = "epoch",
    ylabel: str = "loss",
    logy: bool = False,
    title: str | None = None,
    colors: style.Palette | None = None,
) -> Figure:
    """Draw one panel of curves: for each label, the mean over seeds and the min-max band.

    Args:
        series: label -> values of shape (seeds, points) or (points,).
        x: x coordinates (points,), or None for 0, 1, 2, ...
        xlabel: x axis label.
        ylabel: y axis label (the panel has no title of its own: ``title`` is the figure's).
        logy: log y axis.
        title: the figure title.
        colors: the page's palette.

    Returns:
        The Figure.

    Example:
        >>> fig = curves({"he_normal": [[1.0, 0.5, 0.2], [1.1, 0.6, 0.3]]})
    """
    return curve_panels({ylabel: series}, x=x, xlabel=xlabel, logy=logy, title=title,
                        ylabel=ylabel, colors=colors, panel_titles=False)


def _finite_1d(values: ArrayLike) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).ravel()
    return arr[np.isfinite(arr)]


@style.styled()
def violins(
    panels: Mapping[str, Sequence[ArrayLike]],
    *,
    ylabel: str = "output",
    xlabel: str = "hidden layer",
    title: str | None = None,
    colors: style.Palette | None = None,
) -> Figure:
    """Draw, for each setting, a violin per hidden layer of that layer's outputs (seed 001).

    A layer whose outputs are all equal (dead ReLUs: all zeros) gets a flat marker instead of
    a violin, and a layer with no finite output gets "non-finite" written at its place.

    Args:
        panels: setting (e.g. ``"N(0, 0.10)"`` or ``"glorot_normal"``) -> one array per hidden
            layer with that layer's outputs (any shape; flattened).
        ylabel: the y label of each panel.
        xlabel: the x label of the last panel.
        title: the figure title (e.g. the activation).
        colors: the page's palette.

    Returns:
        The Figure: one panel per setting, stacked, sharing the x and the y axis (so the
        panels compare at a glance).

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> fig = violins({"N(0, 1)": [rng.normal(size=100), rng.normal(size=100)]})
    """
    _need(panels, "panels")
    n_layers = max(len(v) for v in panels.values())
    fig, axes = style.new_figure(
        len(panels), 1, title=title, sharex=True, sharey=True,
        panel_size=(max(5.0, 1.1 * n_layers + 2.0), 1.9),
    )
    palette = style.colors_for(list(panels), colors)
    for ax, (name, layers) in zip(axes, panels.items(), strict=True):
        color = palette[name]
        data, pos = [], []
        for i, values in enumerate(layers, start=1):
            arr = _finite_1d(values)
            if arr.size == 0:
                ax.text(i, 0.0, "non-finite", ha="center", va="center", fontsize=7)
            elif arr.size < 2 or float(np.ptp(arr)) == 0.0:
                ax.hlines(arr[0], i - 0.3, i + 0.3, color=color, linewidth=2.5)
            else:
                stride = max(1, arr.size // MAX_VIOLIN_POINTS)
                data.append(arr[::stride])
                pos.append(i)
        if data:
            parts = ax.violinplot(data, positions=pos, widths=0.8, showextrema=False)
            for body in parts["bodies"]:
                body.set_facecolor(color)
                body.set_edgecolor(color)
                body.set_alpha(0.55)
        ax.set_xticks(range(1, n_layers + 1))
        ax.set_xlim(0.4, n_layers + 0.6)
        style.label_axes(ax, title=name, ylabel=ylabel)
    style.label_axes(axes[-1], xlabel=xlabel)
    return fig


@style.styled()
def decision_boundaries(
    xx: ArrayLike,
    yy: ArrayLike,
    probs: Mapping[str, ArrayLike],
    x: ArrayLike,
    y: ArrayLike,
    *,
    scores: Mapping[str, str] | None = None,
    title: str | None = None,
    max_cols: int = 3,
) -> Figure:
    """Draw a binary classifier's decision regions on a 2-D grid, one panel per scheme.

    Args:
        xx: grid x coordinates, shape (ny, nx) (``np.meshgrid``).
        yy: grid y coordinates, shape (ny, nx).
        probs: scheme -> predicted probability of class 1 on the grid, shape (ny, nx).
        x: the points to overlay, shape (n, 2).
        y: their labels (n,), 0 or 1.
        scores: scheme -> a short text shown under the panel title (e.g. "test acc 0.94").
        title: the figure title.
        max_cols: panels per row.

    Returns:
        The Figure.

    Example:
        >>> import numpy as np
        >>> xx, yy = np.meshgrid(np.linspace(-1, 1, 20), np.linspace(-1, 1, 20))
        >>> fig = decision_boundaries(xx, yy, {"he": (xx > 0) * 1.0},
        ...                           np.zeros((2, 2)), np.array([0, 1]))
    """
    _need(probs, "probs")
    xx = np.asarray(xx, dtype=np.float64)
    yy = np.asarray(yy, dtype=np.float64)
    pts = np.asarray(x, dtype=np.float64)
    labels = np.asarray(y).ravel()
    if xx.ndim != 2 or xx.shape != yy.shape:
        raise ShapeError(f"xx and yy must be the same 2-D grid; got {xx.shape} and {yy.shape}")
    if pts.ndim != 2 or pts.shape[1] != 2 or labels.shape != (pts.shape[0],):
        raise ShapeError(f"points must be (n, 2) with n labels; got {pts.shape} and "
                         f"{labels.shape}")
    import matplotlib
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    cmap = matplotlib.colormaps[style.CLASS_CMAP]
    region = (cmap(0.25), cmap(0.75))       # predicted class 0 / 1
    point = (cmap(0.0), cmap(1.0))          # true class 0 / 1
    nrows, ncols = _grid(len(probs), max_cols)
    fig, axes = style.new_figure(nrows, ncols, title=title, panel_size=(3.4, 3.0))
    for ax, (name, p) in zip(axes, probs.items(), strict=False):
        prob = np.asarray(p, dtype=np.float64)
        if prob.shape != xx.shape:
            raise ShapeError(f"probs[{name!r}] has shape {prob.shape}; the grid is {xx.shape}")
        prob = np.nan_to_num(prob, nan=0.5)
        ax.contourf(xx, yy, prob, levels=[-0.01, 0.5, 1.01], colors=list(region),
                    alpha=REGION_ALPHA)
        ax.scatter(pts[:, 0], pts[:, 1], c=[point[int(v)] for v in labels > 0.5], s=9,
                   edgecolors="k", linewidths=0.3)
        sub = f"\n{scores[name]}" if scores and name in scores else ""
        style.label_axes(ax, title=f"{name}{sub}", xlabel="x1", ylabel="x2")
        ax.grid(False)
    style.hide_unused(axes, len(probs))
    handles = [Patch(facecolor=region[0], alpha=REGION_ALPHA, label="predicted class 0"),
               Patch(facecolor=region[1], alpha=REGION_ALPHA, label="predicted class 1"),
               Line2D([], [], marker="o", linestyle="none", markerfacecolor=point[0],
                      markeredgecolor="k", markeredgewidth=0.3, label="class 0 point"),
               Line2D([], [], marker="o", linestyle="none", markerfacecolor=point[1],
                      markeredgecolor="k", markeredgewidth=0.3, label="class 1 point")]
    fig.legend(handles=handles, loc="outside lower center", ncols=4 if ncols > 1 else 2)
    return fig


@style.styled()
def layer_profile(
    measured: Series,
    *,
    predicted: Series | None = None,
    ylabel: str = "variance",
    xlabel: str = "layer",
    logy: bool = True,
    title: str | None = None,
    colors: style.Palette | None = None,
) -> Figure:
    """Draw a per-layer quantity per label (band over seeds) with the theory's prediction dashed.

    Args:
        measured: label -> values of shape (seeds, layers) or (layers,); layer 1 first.
        predicted: label -> predicted values (layers,), drawn dashed in the label's color.
        ylabel: what the quantity is.
        xlabel: the x axis label.
        logy: log y axis (vanishing and exploding signals span decades).
        title: the figure title.
        colors: the page's palette.

    Returns:
        The Figure.

    Example:
        >>> fig = layer_profile({"tanh": [[1.0, 0.9, 0.8]]}, predicted={"tanh": [1.0, 0.9, 0.85]})
    """
    _need(measured, "measured")
    fig, (ax,) = style.new_figure(1, 1, title=title, panel_size=(5.2, 3.4))
    for label, color in style.colors_for([*measured, *(predicted or {})], colors).items():
        if label in measured:
            runs = style.as_runs(measured[label], label)
            style.band(ax, np.arange(1, runs.shape[1] + 1), runs, label=label, color=color)
        if predicted and label in predicted:
            pred = np.asarray(predicted[label], dtype=np.float64).ravel()
            ax.plot(np.arange(1, pred.size + 1), pred, color=color, linestyle="--",
                    label=f"{label} (theory)")
    style.label_axes(ax, xlabel=xlabel, ylabel=ylabel, logy=logy)
    style.integer_ticks(ax)
    style.legend(ax)
    return fig


def gradient_norms(
    norms: Series,
    *,
    ylabel: str = "||dL/dW||",
    title: str | None = None,
    colors: style.Palette | None = None,
) -> Figure:
    """Draw the gradient norm of each layer's weights per scheme (band over seeds, log scale).

    Args:
        norms: scheme -> norms of shape (seeds, layers) or (layers,); layer 1 first.
        ylabel: the y label.
        title: the figure title.
        colors: the page's palette.

    Returns:
        The Figure.

    Example:
        >>> fig = gradient_norms({"glorot_normal": [1e-3, 1e-2, 1e-1]})
    """
    return layer_profile(norms, ylabel=ylabel, logy=True, title=title, colors=colors)


@style.styled()
def activation_histograms(
    snapshots: Mapping[str, Sequence[ArrayLike]],
    *,
    bins: int = 40,
    xlabel: str = "activation",
    title: str | None = None,
    max_cols: int = 4,
) -> Figure:
    """Draw each layer's activation histogram at several moments of training, one panel a layer.

    Args:
        snapshots: moment (e.g. ``"epoch 0"``), in time order -> one array per layer of that
            layer's activations; every moment has the same layers.
        bins: histogram bins (shared by every moment of a layer).
        xlabel: the x label.
        title: the figure title.
        max_cols: panels per row.

    Returns:
        The Figure; early moments dark, late ones light (viridis).

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> fig = activation_histograms({"epoch 0": [rng.normal(size=50)],
        ...                              "epoch 5": [rng.normal(size=50)]})
    """
    import matplotlib

    _need(snapshots, "snapshots")
    n_layers = {len(v) for v in snapshots.values()}
    if len(n_layers) != 1:
        raise ShapeError(f"every snapshot needs the same number of layers; got {n_layers}")
    (n,) = n_layers
    nrows, ncols = _grid(n, max_cols)
    fig, axes = style.new_figure(nrows, ncols, title=title, panel_size=(3.2, 2.5))
    cmap = matplotlib.colormaps[style.SEQUENTIAL_CMAP]
    moments = list(snapshots)
    shades = np.linspace(0.0, 0.85, len(moments))
    for layer, ax in enumerate(axes[:n]):
        data = [_finite_1d(snapshots[m][layer]) for m in moments]
        allv = np.concatenate(data)
        lo, hi = (float(allv.min()), float(allv.max())) if allv.size else (0.0, 1.0)
        if hi <= lo:
            lo, hi = lo - 0.5, hi + 0.5
        edges = np.linspace(lo, hi, bins + 1)
        for m, arr, shade in zip(moments, data, shades, strict=True):
            if arr.size:
                ax.hist(arr, bins=edges, histtype="step", density=True, color=cmap(shade),
                        label=m, linewidth=1.3)
        style.label_axes(ax, title=f"layer {layer + 1}", xlabel=xlabel,
                         ylabel="density" if layer % ncols == 0 else None)
    style.legend(axes[0])
    style.hide_unused(axes, n)
    return fig


@style.styled()
def heatmap(
    values: ArrayLike,
    rows: Sequence[str],
    cols: Sequence[str],
    *,
    label: str = "",
    fmt: str = "{:.2f}",
    cmap: str = style.SEQUENTIAL_CMAP,
    vmin: float | None = None,
    vmax: float | None = None,
    title: str | None = None,
    log: bool | None = None,
) -> Figure:
    """Draw a table of numbers as colored cells with each number written in (scheme x activation).

    Where the positive values span more than :data:`~initlab.viz.style.LOG_SPAN` (e.g. an
    output std from 0.1 to 19), the color scale is logarithmic, so the small values are not
    all one color.

    Args:
        values: (len(rows), len(cols)) numbers; NaN cells are grey and say "n/a".
        rows: the row labels (e.g. schemes).
        cols: the column labels (e.g. activations).
        label: the color bar's label (what the numbers are).
        fmt: format of each number.
        cmap: the colormap.
        vmin: color scale minimum (default: the data's).
        vmax: color scale maximum.
        title: the figure title.
        log: a logarithmic color scale; None (default) decides from the values.

    Returns:
        The Figure.

    Example:
        >>> fig = heatmap([[0.5, 0.9], [0.1, 0.95]], ["zeros", "he_normal"], ["tanh", "relu"])
    """
    import matplotlib

    arr = np.asarray(values, dtype=np.float64)
    if arr.shape != (len(rows), len(cols)):
        raise ShapeError(f"values have shape {arr.shape}; {len(rows)} rows x {len(cols)} "
                         f"columns expected")
    fig, (ax,) = style.new_figure(
        1, 1, title=title, panel_size=(1.3 * len(cols) + 2.8, 0.5 * len(rows) + 1.4))
    from matplotlib.colors import LogNorm, Normalize

    cm = matplotlib.colormaps[cmap].with_extremes(bad="#dddddd")
    finite = arr[np.isfinite(arr)]
    lo = float(finite.min()) if vmin is None and finite.size else vmin
    hi = float(finite.max()) if vmax is None and finite.size else vmax
    if log is None:
        log = bool(finite.size) and lo is not None and hi is not None and lo > 0 and (
            hi / lo > style.LOG_SPAN)
    if log and (lo is None or lo <= 0):
        raise ShapeError(f"a log color scale needs positive values; the smallest is {lo}")
    norm = LogNorm(vmin=lo, vmax=hi) if log else Normalize(vmin=lo, vmax=hi)
    img = ax.imshow(np.ma.masked_invalid(arr), cmap=cm, norm=norm, aspect="auto")
    ax.set_xticks(range(len(cols)), labels=list(cols))
    ax.set_yticks(range(len(rows)), labels=list(rows))
    ax.grid(False)
    for (r, c), v in np.ndenumerate(arr):
        if np.isfinite(v):
            ax.text(c, r, fmt.format(v), ha="center", va="center", fontsize=8,
                    color=style.text_color(img.to_rgba(v)))
        else:
            ax.text(c, r, "n/a", ha="center", va="center", fontsize=8, color="#555555")
    fig.colorbar(img, ax=ax, label=f"{label} (log scale)" if log and label else label)
    return fig


@style.styled()
def phase_diagram(
    sigma_w2: ArrayLike,
    sigma_b2: ArrayLike,
    chi1: ArrayLike,
    *,
    critical: tuple[ArrayLike, ArrayLike] | None = None,
    points: Mapping[str, tuple[float, float]] | None = None,
    activation: str = "tanh",
    title: str | None = None,
    colors: style.Palette | None = None,
) -> Figure:
    """Draw the mean-field phase diagram: log10 chi_1 over (sigma_w^2, sigma_b^2), critical line.

    chi_1 < 1 is the ordered phase (signals converge, gradients vanish), chi_1 > 1 the chaotic
    one (gradients explode); chi_1 = 1 is the edge of chaos (Poole et al. 2016, Schoenholz et
    al. 2017). The numbers come from :mod:`initlab.diagnose.theory`; this only draws them.

    Args:
        sigma_w2: weight variances (nw,), the x axis.
        sigma_b2: bias variances (nb,), the y axis.
        chi1: chi_1 at each point, shape (nb, nw).
        critical: the critical line as (sigma_w2 values, sigma_b2 values), drawn in black; the
            chi_1 = 1 contour of the grid is drawn dashed either way.
        points: label -> (sigma_w2, sigma_b2) to mark (e.g. the schemes' inits).
        activation: named in the default title.
        title: the figure title.
        colors: the page's palette (for the marked points).

    Returns:
        The Figure.

    Example:
        >>> import numpy as np
        >>> w, b = np.linspace(0.5, 4, 30), np.linspace(0, 0.5, 20)
        >>> fig = phase_diagram(w, b, w[None, :] / 1.8 + 0 * b[:, None])
    """
    w = np.asarray(sigma_w2, dtype=np.float64).ravel()
    b = np.asarray(sigma_b2, dtype=np.float64).ravel()
    c = np.asarray(chi1, dtype=np.float64)
    if c.shape != (b.size, w.size):
        raise ShapeError(f"chi1 has shape {c.shape}; expected (len(sigma_b2), len(sigma_w2)) = "
                         f"({b.size}, {w.size})")
    logc = np.log10(np.clip(np.where(np.isfinite(c), c, np.nan), 1e-12, None))
    span = float(np.nanmax(np.abs(logc))) if np.isfinite(logc).any() else 1.0
    span = max(span, 1e-3)
    fig, (ax,) = style.new_figure(
        1, 1, title=title or f"{activation}: mean-field phase diagram", panel_size=(5.6, 4.2))
    mesh = ax.pcolormesh(w, b, logc, cmap=style.DIVERGING_CMAP, shading="auto",
                         norm=TwoSlopeNorm(vcenter=0.0, vmin=-span, vmax=span), rasterized=True)
    fig.colorbar(mesh, ax=ax, label="log10 chi_1")
    if np.nanmin(logc) < 0 < np.nanmax(logc):
        ax.contour(w, b, logc, levels=[0.0], colors="#333333", linewidths=1.2,
                   linestyles="dashed")
    if critical is not None:
        cw = np.asarray(critical[0], dtype=np.float64).ravel()
        cb = np.asarray(critical[1], dtype=np.float64).ravel()
        if cw.shape != cb.shape:
            raise ShapeError(f"critical line: {cw.shape} sigma_w2 values, {cb.shape} sigma_b2")
        ax.plot(cw, cb, color="black", linewidth=1.4, label="critical line (chi_1 = 1)")
    color = style.colors_for(list(points or {}), colors)
    for label, (pw, pb) in (points or {}).items():
        ax.plot([pw], [pb], marker="o", linestyle="none", markersize=7, clip_on=False,
                markeredgecolor="black", color=color[label], label=label)
    ax.text(0.03, 0.95, "ordered\n(chi_1 < 1)", transform=ax.transAxes, va="top", fontsize=8)
    ax.text(0.97, 0.05, "chaotic\n(chi_1 > 1)", transform=ax.transAxes, ha="right", fontsize=8)
    ax.set_xlim(w.min(), w.max())
    ax.set_ylim(b.min(), b.max())
    ax.grid(False)
    style.label_axes(ax, xlabel="sigma_w^2", ylabel="sigma_b^2")
    style.legend(ax, loc="upper right")
    return fig
