"""The HTML report: self-contained, every user string escaped, rebuilt from a run directory."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest

from initlab.cli import main
from initlab.errors import StoreError
from initlab.viz import plots, provenance
from initlab.viz.report import (
    FigureRef,
    ReportData,
    Table,
    load_results,
    render_report,
    write_report,
)

EVIL = "<script>alert(1)</script>"


def _data(**changes) -> ReportData:
    d = ReportData(
        name=EVIL,
        title=f"Title {EVIL}",
        explanation=f"First paragraph.\n\nSecond {EVIL} paragraph.",
        config={"schemes": ["zeros", EVIL], "lr": 0.01, EVIL: {"nested": EVIL}},
        tables=[Table(f"table {EVIL}", ["scheme", EVIL], [[EVIL, 0.25], ["he_normal", 0.95]],
                      note=EVIL)],
        figures=[FigureRef("figures/curves", f"caption {EVIL}")],
        findings=[EVIL, {"severity": "warning", "model": EVIL, "layer": 3, "code": EVIL,
                         "message": EVIL, "recommendation": EVIL}],
        logs={EVIL: EVIL},
        provenance=provenance.collect(seeds=[0, 1], data={"file": EVIL}, started=1.0,
                                      finished=3.5),
    )
    for k, v in changes.items():
        setattr(d, k, v)
    return d


@pytest.fixture
def run_dir(tmp_path):
    plots.save(plots.curves({"he_normal": np.linspace(1, 0, 8)}), tmp_path / "figures" /
               "curves")
    return tmp_path


def test_every_user_string_is_escaped(run_dir):
    html = write_report(run_dir, _data()).read_text(encoding="utf-8")
    assert EVIL not in html
    assert "<script" not in html.lower()
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    # title, name, explanation, config key and value, table title/header/cell/note,
    # caption, findings (plain and structured), log title and text, provenance
    assert html.count(escaped) >= 15


def test_report_is_self_contained(run_dir):
    html = write_report(run_dir, _data()).read_text(encoding="utf-8")
    # nothing fetched: no src/href to a URL, no @import or url() in CSS, a CSP that forbids it
    assert not re.search(r'(src|href)\s*=\s*"(?!data:|#)', html)
    assert "@import" not in html and "url(" not in html
    assert "default-src 'none'" in html
    # the figure is inlined, byte for byte
    (src,) = re.findall(r'<img src="data:image/png;base64,([^"]+)"', html)
    assert base64.b64decode(src) == (run_dir / "figures" / "curves.png").read_bytes()


def test_report_shows_tables_findings_logs_provenance(run_dir):
    data = _data(name="demo", title="Demo", tables=[Table("acc", ["scheme", "test"],
                                                          [["he_normal", 0.953333]])])
    html = write_report(run_dir, data).read_text(encoding="utf-8")
    assert "<td>he_normal</td>" in html and '<td class="num">0.9533</td>' in html
    assert 'class="warning"' in html
    for key in ("initlab", "numpy", "seeds", "duration_s", "machine", "cpu_count"):
        assert f"<td>{key}</td>" in html
    assert "<td>duration_s</td><td><code>2.5</code>" in html


def test_rebuild_from_results_json_gives_the_same_page(run_dir):
    first = write_report(run_dir, _data()).read_text(encoding="utf-8")
    saved = json.loads((run_dir / "results.json").read_text())
    assert saved["format"] == "initlab-results/1" and saved["name"] == EVIL
    (run_dir / "report.html").unlink()
    assert main(["report", str(run_dir)]) == 0
    assert (run_dir / "report.html").read_text(encoding="utf-8") == first
    assert load_results(run_dir).tables[0].rows[1] == ["he_normal", 0.95]


def test_unlisted_figures_are_included_and_missing_ones_are_named(run_dir):
    plots.save(plots.curves({"a": [1.0, 2.0]}), run_dir / "figures" / "extra", ["svg"])
    data = _data(figures=[FigureRef("figures/curves", "c"), FigureRef("figures/gone.png", "g")])
    html = render_report(data, run_dir)
    assert html.count("<img ") == 2
    assert "data:image/svg+xml;base64," in html      # the SVG-only figure, inlined
    assert "Figure file missing: <code>figures/gone.png</code>" in html


def test_figure_paths_must_stay_inside_the_run_directory(run_dir):
    with pytest.raises(StoreError, match="inside it"):
        render_report(_data(figures=[FigureRef("../secret.png")]), run_dir)


def test_nan_survives_the_json_round_trip(tmp_path):
    data = _data(tables=[Table("t", ["a"], [[float("nan")]])], figures=[])
    write_report(tmp_path, data)
    json.loads((tmp_path / "results.json").read_text())   # valid JSON, no bare NaN
    assert load_results(tmp_path).tables[0].rows == [["nan"]]


def test_report_command_errors_are_one_line(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "results.json" in err and "initlab reproduce" in err
    (tmp_path / "results.json").write_text("{not json")
    assert main(["report", str(tmp_path)]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    (tmp_path / "results.json").write_text(json.dumps({"name": 3, "title": "x"}))
    assert main(["report", str(tmp_path)]) == 2
    assert "'name' must be a string" in capsys.readouterr().err


@pytest.mark.parametrize("record, field", [
    ([1, 2], "JSON object"),
    ({"name": "x", "title": "t", "tables": 5}, "'tables' must be a list"),
    ({"name": "x", "title": "t", "tables": ["abc"]}, "'tables'[0] must be an object"),
    ({"name": "x", "title": "t", "tables": [{"title": "a", "rows": 3}]}, "rows must be"),
    ({"name": "x", "title": "t", "tables": [{"title": "a", "rows": [[{"x": 1}]]}]},
     "rows must be"),
    ({"name": "x", "title": "t", "tables": [{"title": "a", "colour": []}]}, "unknown keys"),
    ({"name": "x", "title": "t", "figures": [{"file": 3}]}, "'figures'[0]"),
    ({"name": "x", "title": "t", "config": [1]}, "'config' must be an object"),
    ({"name": "x", "title": "t", "findings": "abc"}, "'findings' must be a list"),
    ({"name": "x", "title": "t", "findings": [3]}, "'findings'[0]"),
    ({"name": "x", "title": "t", "logs": {"a": 1}}, "'logs'['a']"),
    ({"name": "x", "title": "t", "explanation": ["a"]}, "'explanation' must be a string"),
    ({"name": "x", "title": "t", "provenance": "p"}, "'provenance' must be an object"),
])
def test_a_malformed_results_json_is_one_clear_error(tmp_path, capsys, record, field):
    (tmp_path / "results.json").write_text(json.dumps(record))
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("initlab: error: ") and "\n" not in err
    assert field in err and "results.json" in err
    assert not (tmp_path / "report.html").exists()


def test_deeply_nested_results_json_is_one_clear_error(tmp_path, capsys):
    (tmp_path / "results.json").write_text('{"name": "x", "title": "t", "config": '
                                           + "[" * 100_000 + "]" * 100_000 + "}")
    assert main(["report", str(tmp_path)]) == 2
    assert "nested too deeply" in capsys.readouterr().err


def test_a_figure_that_is_a_symlink_or_leaves_the_run_directory_is_never_inlined(
        run_dir, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    secret = outside / "secret.png"
    secret.write_bytes((run_dir / "figures" / "curves.png").read_bytes() + b"SECRET")
    marker = base64.b64encode(secret.read_bytes()).decode()[-40:]
    figs = run_dir / "figures"
    (figs / "linked.png").symlink_to(secret)                     # a file symlink
    (figs / "inner.png").symlink_to(figs / "curves.png")         # even one pointing inside
    (run_dir / "elsewhere").symlink_to(outside, target_is_directory=True)  # a folder link
    data = _data(figures=[FigureRef("figures/curves", "c"), FigureRef("figures/linked", "l"),
                          FigureRef("elsewhere/secret.png", "s")])
    html = write_report(run_dir, data).read_text(encoding="utf-8")
    assert marker not in html
    assert html.count("<img ") == 1                              # only the real curves.png
    assert html.count("is a symlink or lies outside the run directory") == 3  # 2 listed, inner
    # the whole figures folder as a link to elsewhere: nothing from it is inlined
    other = tmp_path_factory.mktemp("run2")
    (other / "figures").symlink_to(outside, target_is_directory=True)
    html = write_report(other, _data(figures=[FigureRef("figures/secret", "s")])).read_text(
        encoding="utf-8")
    assert marker not in html and "<img " not in html


def test_an_unwritable_run_directory_is_one_clear_error(run_dir, capsys):
    import os

    write_report(run_dir, _data(figures=[]))
    (run_dir / "report.html").unlink()
    (run_dir / "report.html").mkdir()           # a folder where the page must go
    assert main(["report", str(run_dir)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("initlab: error: cannot write") and "\n" not in err
    assert not any(p.name.startswith(".report") for p in run_dir.iterdir())
    assert os.path.isdir(run_dir / "report.html")
