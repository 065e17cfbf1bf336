"""The plot functions: they draw what they are given, save PNG and SVG, and reject bad shapes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from initlab.errors import ConfigError, ShapeError
from initlab.viz import plots, style

SRC = Path(__file__).resolve().parents[2] / "src"


def _lines(ax):
    return {line.get_label(): line for line in ax.get_lines()}


def test_import_initlab_does_not_import_matplotlib():
    code = "import sys, initlab; print('matplotlib' in sys.modules, 'jinja2' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["False", "False"]


def test_band_draws_the_mean_over_finite_runs_and_the_min_max_band():
    runs = np.array([[1.0, 2.0, 4.0], [3.0, np.nan, 8.0], [2.0, 5.0, np.inf]])
    fig = plots.curves({"he_normal": runs}, ylabel="loss")
    (ax,) = fig.axes
    line = _lines(ax)["he_normal (n=3)"]
    np.testing.assert_allclose(line.get_ydata(), [2.0, 3.5, 6.0])
    (poly,) = ax.collections
    ys = poly.get_paths()[0].vertices[:, 1]
    assert ys.min() == pytest.approx(1.0) and ys.max() == pytest.approx(8.0)


def test_curve_panels_one_panel_each_log_where_asked_and_distinct_colors():
    a = np.linspace(1, 0.1, 5)
    fig = plots.curve_panels(
        {"loss": {"zeros": a, "he_normal": a, "mine": a, "yours": a},
         "accuracy": {"zeros": a}},
        x=np.arange(1, 6), logy=["loss"], title="t",
    )
    loss, acc = fig.axes
    assert loss.get_yscale() == "log" and acc.get_yscale() == "linear"
    colors = [line.get_color() for line in loss.get_lines()]
    assert len(set(colors)) == 4
    np.testing.assert_array_equal(_lines(loss)["zeros"].get_xdata(), np.arange(1, 6))


def test_curves_rejects_a_3d_series_and_mismatched_x():
    with pytest.raises(ShapeError, match="'bad'"):
        plots.curves({"bad": np.zeros((2, 2, 2))})
    with pytest.raises(ShapeError, match="x has shape"):
        plots.curves({"a": np.zeros(4)}, x=np.arange(3))
    with pytest.raises(ShapeError, match="empty"):
        plots.curves({})


def test_violins_one_panel_per_setting_and_flat_layers_get_a_marker():
    rng = np.random.default_rng(0)
    fig = plots.violins({
        "N(0, 0.10)": [rng.normal(size=300) for _ in range(5)],
        "dead": [np.zeros(50)] * 5,
        "broken": [np.full(4, np.nan), *[rng.normal(size=30)] * 4],
    }, title="relu")
    top, dead, broken = fig.axes
    assert top.get_title() == "N(0, 0.10)"
    from matplotlib.collections import LineCollection, PolyCollection

    assert len(top.collections) == 5           # five violin bodies (kernel densities)
    assert all(isinstance(c, PolyCollection) for c in top.collections)
    assert len(dead.collections) == 5          # flat markers: all-zero layers have no density
    assert all(isinstance(c, LineCollection) for c in dead.collections)
    assert "non-finite" in [t.get_text() for t in broken.texts]


def test_decision_boundaries_one_panel_per_scheme_and_shape_checks():
    xx, yy = np.meshgrid(np.linspace(-1, 1, 30), np.linspace(-1, 1, 20))
    pts = np.array([[0.5, 0.5], [-0.5, -0.5]])
    fig = plots.decision_boundaries(
        xx, yy, {"zeros": np.full(xx.shape, 0.5), "he_normal": (xx > 0) * 1.0},
        pts, np.array([1, 0]), scores={"he_normal": "test 0.94"},
    )
    assert [ax.get_title() for ax in fig.axes if ax.get_visible()] == [
        "zeros", "he_normal\ntest 0.94"]
    with pytest.raises(ShapeError, match="probs\\['x'\\]"):
        plots.decision_boundaries(xx, yy, {"x": np.zeros((3, 3))}, pts, np.array([1, 0]))
    with pytest.raises(ShapeError, match="points"):
        plots.decision_boundaries(xx, yy, {"x": xx}, np.zeros((2, 3)), np.array([1, 0]))


def test_layer_profile_draws_theory_dashed_and_gradient_norms_is_log():
    fig = plots.layer_profile({"tanh": [[1.0, 0.8, 0.6]]}, predicted={"tanh": [1.0, 0.7, 0.5]})
    (ax,) = fig.axes
    lines = _lines(ax)
    assert lines["tanh (theory)"].get_linestyle() == "--"
    np.testing.assert_array_equal(lines["tanh"].get_xdata(), [1, 2, 3])
    assert lines["tanh"].get_color() == lines["tanh (theory)"].get_color()
    fig = plots.gradient_norms({"glorot_normal": [[1e-4, 1e-2], [2e-4, 3e-2]]})
    assert fig.axes[0].get_yscale() == "log"


def test_activation_histograms_one_panel_per_layer_and_same_layer_count_required():
    rng = np.random.default_rng(1)
    snaps = {f"epoch {e}": [rng.normal(size=200), rng.random(200)] for e in (0, 1, 5)}
    fig = plots.activation_histograms(snaps)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["layer 1", "layer 2"]
    assert len(visible[0].patches) == 3        # one step histogram per moment
    with pytest.raises(ShapeError, match="same number of layers"):
        plots.activation_histograms({"a": [np.zeros(3)], "b": [np.zeros(3)] * 2})


def test_heatmap_writes_each_number_and_marks_missing_cells():
    fig = plots.heatmap([[0.5, np.nan], [0.25, 0.95]], ["zeros", "he_normal"],
                        ["tanh", "relu"], label="test accuracy")
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["0.50", "n/a", "0.25", "0.95"]
    with pytest.raises(ShapeError, match="2 rows x 3 columns"):
        plots.heatmap(np.zeros((2, 2)), ["a", "b"], ["x", "y", "z"])


def test_phase_diagram_draws_the_critical_line_and_checks_the_grid():
    w = np.linspace(0.5, 4.0, 12)
    b = np.linspace(0.0, 0.3, 7)
    chi = w[None, :] / (1.0 + 2.0 * b[:, None])
    fig = plots.phase_diagram(w, b, chi, critical=(1.0 + 2.0 * b, b),
                              points={"glorot_normal": (1.0, 0.0)})
    ax = fig.axes[0]
    crit = _lines(ax)["critical line (chi_1 = 1)"]
    np.testing.assert_allclose(crit.get_xdata(), 1.0 + 2.0 * b)
    with pytest.raises(ShapeError, match=r"\(7, 12\)"):
        plots.phase_diagram(w, b, chi.T)


def test_save_writes_a_real_png_and_svg(tmp_path):
    fig = plots.curves({"a": [1.0, 2.0]})
    paths = plots.save(fig, tmp_path / "sub" / "fig")
    assert [p.name for p in paths] == ["fig.png", "fig.svg"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in paths[1].read_bytes()[:500]
    # an extension given by mistake is replaced, not doubled
    assert plots.save(fig, tmp_path / "g.png", formats=["png"])[0].name == "g.png"
    with pytest.raises(ConfigError, match="did you mean 'svg'"):
        plots.save(fig, tmp_path / "h", formats=["svgg"])


def test_colors_for_keeps_fixed_scheme_colors_and_never_repeats():
    colors = style.colors_for(["mine", "he_normal", "other", "zeros"])
    assert colors["he_normal"] == style.SCHEME_COLORS["he_normal"]
    assert len(set(colors.values())) == 4


def test_a_page_palette_keeps_each_scheme_one_color_across_figures():
    page = style.Palette()
    a = plots.gradient_norms({"N(0, 0.10)": [1.0, 2.0], "glorot_normal": [1.0, 1.0]},
                             colors=page)
    b = plots.gradient_norms({"he_normal": [1.0, 1.0], "N(0, 0.10)": [1.0, 2.0]}, colors=page)
    ca = {line.get_label(): line.get_color() for line in a.axes[0].get_lines()}
    cb = {line.get_label(): line.get_color() for line in b.axes[0].get_lines()}
    assert ca["N(0, 0.10)"] == cb["N(0, 0.10)"]
    assert ca["N(0, 0.10)"] not in style.SCHEME_COLORS.values()   # never a scheme's own color
    assert cb["he_normal"] == style.SCHEME_COLORS["he_normal"]
    # without a page palette, each figure chooses on its own (what the page must not do)
    assert style.colors_for(["x"]) == style.colors_for(["x"])


def test_violin_panels_share_their_y_axis():
    rng = np.random.default_rng(0)
    fig = plots.violins({"small": [rng.normal(size=200) * 0.1 for _ in range(3)],
                         "large": [rng.normal(size=200) * 10 for _ in range(3)]})
    small, large = fig.axes
    assert small.get_ylim() == large.get_ylim()
    assert small.get_ylim()[1] > 10


def test_layer_and_epoch_axes_have_whole_number_ticks():
    fig = plots.layer_profile({"tanh": [1.0, 0.5, 0.25]})
    assert all(float(t).is_integer() for t in fig.axes[0].get_xticks())
    fig = plots.curve_panels({"loss": {"a": [1.0, 0.5]}, "acc": {"a": [0.1, 0.2]}},
                             x=np.array([1, 2]))
    for ax in fig.axes:
        assert [float(t) for t in ax.get_xticks()] == [1.0, 2.0]
    fig = plots.curves({"a": [1.0]}, x=np.array([1]))           # one epoch: the tick "1"
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["1"]


def test_heatmap_color_scale_is_logarithmic_where_values_span_decades():
    from matplotlib.colors import LogNorm

    spread = plots.heatmap([[0.1, 0.3], [1.0, 18.0]], ["a", "b"], ["x", "y"], label="std")
    narrow = plots.heatmap([[0.5, 0.6], [0.7, 0.9]], ["a", "b"], ["x", "y"], label="std")
    assert isinstance(spread.axes[0].images[0].norm, LogNorm)
    assert not isinstance(narrow.axes[0].images[0].norm, LogNorm)
    assert spread.axes[1].get_ylabel() == "std (log scale)"
    with pytest.raises(ShapeError, match="positive"):
        plots.heatmap([[0.0, 1.0]], ["a"], ["x", "y"], log=True)


def test_decision_boundaries_have_a_legend_for_their_colors():
    xx, yy = np.meshgrid(np.linspace(-1, 1, 10), np.linspace(-1, 1, 10))
    fig = plots.decision_boundaries(xx, yy, {"a": xx > 0, "b": yy > 0}, np.zeros((2, 2)),
                                    np.array([0, 1]))
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == [
        "predicted class 0", "predicted class 1", "class 0 point", "class 1 point"]


def _texts(fig):
    """Every title and axis label a reader sees on the figure, with where it is."""
    out = [("figure", fig.get_suptitle())] if fig.get_suptitle() else []
    for i, ax in enumerate(fig.axes):
        out += [(f"panel {i}", t) for t in (ax.get_title(), ax.get_ylabel()) if t]
    return out


@pytest.mark.parametrize("make", [
    lambda: plots.curves({"a": [1.0, 2.0]}, ylabel="cost", title="Cost over epochs"),
    lambda: plots.curves({"a": [1.0, 2.0]}, ylabel="cost", title="cost"),
    lambda: plots.curve_panels({"train loss": {"a": [1.0, 2.0]}, "test loss": {"a": [1.0]}},
                               title="MNIST"),
])
def test_no_title_is_said_twice_on_a_figure(make):
    texts = [t for _, t in _texts(make())]
    assert len(texts) == len(set(texts)), texts


def test_a_panel_named_like_the_figure_is_not_titled_again():
    fig = plots.curve_panels({"MNIST": {"a": [1.0]}, "other": {"a": [2.0]}}, title="MNIST",
                             ylabel="other")
    assert [ax.get_title() for ax in fig.axes] == ["", "other"]
    assert [ax.get_ylabel() for ax in fig.axes] == ["other", ""]
