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

from initlab.viz import plots, provenance
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
