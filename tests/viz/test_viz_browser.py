"""A real browser opens a report from disk: no console errors, images decode, not blank.

Headless Chromium from Debian (/usr/bin/chromium, /usr/bin/chromedriver) through selenium;
selenium never downloads a driver here. Skips when they are missing, except under CI (the
``CI`` environment variable), where it fails: CI installs them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from initlab.viz import plots, provenance, style
from initlab.viz.report import FigureRef, ReportData, Table, write_report

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1200,900")


def _need_browser() -> None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).is_file()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package")
    if missing:
        reason = f"headless browser check needs {', '.join(missing)}"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI installs Debian's chromium and chromium-driver)")
        pytest.skip(reason)


@pytest.fixture
def browser(tmp_path):
    _need_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in FLAGS:
        opts.add_argument(flag)
    profile = tmp_path / "chromium-profile"
    opts.add_argument(f"--user-data-dir={profile}")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _report(run_dir: Path) -> Path:
    rng = np.random.default_rng(0)
    plots.save(plots.curves({"zeros": np.full((3, 20), 2.3),
                             "he_normal": np.exp(-np.linspace(0, 3, 20)) + 0.1 * rng.random(
                                 (3, 20))}, logy=True), run_dir / "figures" / "curves")
    plots.save(plots.violins({"N(0, 0.28)": [rng.normal(size=300) for _ in range(5)]}),
               run_dir / "figures" / "violins", ["svg"])      # an SVG-only figure too
    data = ReportData(
        name="browser-check",
        title="Browser check <script>alert(1)</script>",
        explanation="A report with a PNG and an SVG figure.",
        config={"schemes": ["zeros", "he_normal"]},
        tables=[Table("accuracy", ["scheme", "test"], [["zeros", 0.5], ["he_normal", 0.95]])],
        figures=[FigureRef("figures/curves", "curves"), FigureRef("figures/violins", "violins")],
        findings=["layer 1: only 1 distinct unit"],
        provenance=provenance.collect(seeds=[0, 1, 2], started=0.0, finished=1.0),
    )
    return write_report(run_dir, data)


def test_report_opens_offline_in_chromium(browser, tmp_path):
    import matplotlib.image

    path = _report(tmp_path / "run")
    browser.get(path.resolve().as_uri())
    assert browser.title.startswith("Browser check <script>")    # shown as text, not run
    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.complete, i.naturalWidth]);")
    assert len(images) == 2
    assert all(done and width > 0 for done, width in images), images
    severe = [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"]
    assert severe == []
    shot = tmp_path / "shot.png"
    assert browser.save_screenshot(str(shot))
    pixels = matplotlib.image.imread(str(shot))
    colors = np.unique((pixels[..., :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colors) > 20, f"the screenshot looks blank ({len(colors)} colors)"


def _crops(browser, shot: Path) -> list[np.ndarray]:
    """Each <img> of the page as the browser drew it, cut out of a screenshot (RGB, 0-255)."""
    import matplotlib.image

    rects = browser.execute_script(
        "const r = window.devicePixelRatio;"
        "return Array.from(document.images).map(i => { const b = i.getBoundingClientRect();"
        " return [b.left * r, b.top * r, b.width * r, b.height * r]; });")
    assert browser.save_screenshot(str(shot))
    pixels = (matplotlib.image.imread(str(shot))[..., :3] * 255).round().astype(np.int16)
    out = []
    for left, top, width, height in rects:
        x0, y0 = int(np.ceil(left)) + 2, int(np.ceil(top)) + 2    # inside the 1 px border
        out.append(pixels[y0:int(top + height) - 2, x0:int(left + width) - 2])
    return out


def _count(crop: np.ndarray, hex_color: str, tol: int = 8) -> int:
    rgb = np.array([int(hex_color[i:i + 2], 16) for i in (1, 3, 5)])
    return int(np.all(np.abs(crop - rgb) <= tol, axis=-1).sum())


def test_one_color_per_scheme_across_the_figures_of_a_page(browser, tmp_path):
    """Rendered in Chromium: a scheme drawn in two figures with different company keeps its
    color in both (before, each figure picked colors on its own: N(0, 0.10) was red beside
    glorot_normal and blue beside he_normal)."""
    from initlab.experiments.base import Context

    run = tmp_path / "run"
    ctx = Context(out=run, seeds=1, quick=True)
    layers = np.arange(1, 6, dtype=float)
    ctx.figure(plots.gradient_norms({"N(0, 0.10)": 10.0 ** -layers,
                                     "glorot_normal": np.ones(5)}, colors=ctx.colors,
                                    title="tanh"), "a", "beside glorot_normal")
    ctx.figure(plots.gradient_norms({"N(0, 0.10)": 10.0 ** -layers,
                                     "he_normal": np.ones(5)}, colors=ctx.colors,
                                    title="relu"), "b", "beside he_normal")
    path = write_report(run, ReportData("colors", "Colors", figures=ctx.figures))
    browser.set_window_size(1200, 2400)
    browser.get(path.resolve().as_uri())
    a, b = _crops(browser, tmp_path / "shot.png")
    mine = ctx.colors.assigned["N(0, 0.10)"]
    assert mine not in (style.SCHEME_COLORS["glorot_normal"], style.SCHEME_COLORS["he_normal"])
    # the scheme's line is on screen in its one color in both figures ...
    assert _count(a, mine) > 200 and _count(b, mine) > 200
    # ... and the other figure's fixed colors are where they belong, not borrowed
    assert _count(a, style.SCHEME_COLORS["he_normal"]) == 0
    assert _count(b, style.SCHEME_COLORS["glorot_normal"]) == 0
    assert _count(a, style.SCHEME_COLORS["glorot_normal"]) > 200
    assert _count(b, style.SCHEME_COLORS["he_normal"]) > 200


def test_decision_boundaries_page_shows_a_legend_and_whole_epoch_ticks(browser, tmp_path):
    """Rendered in Chromium: the decision-boundary figure carries a legend strip under its
    panels in the region colors, and an epoch axis is labelled with whole numbers only."""
    from matplotlib.colors import to_hex

    run = tmp_path / "run"
    xx, yy = np.meshgrid(np.linspace(-1, 1, 40), np.linspace(-1, 1, 40))
    pts = np.array([[-0.5, -0.5], [0.5, 0.5]])
    fig = plots.decision_boundaries(xx, yy, {"he_normal": (xx > 0) * 1.0}, pts, np.array([0, 1]))
    legend_texts = [t.get_text() for lg in fig.legends for t in lg.get_texts()]
    assert legend_texts == ["predicted class 0", "predicted class 1", "class 0 point",
                            "class 1 point"]
    plots.save(fig, run / "figures" / "boundaries", ["png"])
    fig = plots.curves({"he_normal": np.linspace(1, 0.1, 3)}, x=np.arange(1, 4))
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ticks == ["1", "2", "3"]                     # epochs 1..3, no 1.25 or 2.5
    plots.save(fig, run / "figures" / "curves", ["png"])
    path = write_report(run, ReportData("legend", "Legend", figures=[
        FigureRef("figures/boundaries", "b"), FigureRef("figures/curves", "c")]))
    browser.set_window_size(1200, 2400)
    browser.get(path.resolve().as_uri())
    crop = _crops(browser, tmp_path / "shot.png")[0]
    axes_bottom = int(crop.shape[0] * 0.8)
    # the legend strip (below the panel) holds both region colors, blended as drawn
    import matplotlib

    cmap = matplotlib.colormaps[style.CLASS_CMAP]
    for v in (0.25, 0.75):
        rgba = np.array(cmap(v)[:3])
        blended = to_hex(plots.REGION_ALPHA * rgba + (1 - plots.REGION_ALPHA) * 1.0)
        assert _count(crop[axes_bottom:], blended, tol=10) > 20, blended
