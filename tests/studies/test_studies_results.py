"""Results: statistics over seeds, diverged runs kept apart, curves, exports."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
from scipy import stats

from initlab.errors import ConfigError
from initlab.studies import RunRecord, Study
from initlab.studies.results import Results, mean_ci

S = Study(name="r", dataset="moons", layers=(4,), schemes=("a_scheme", "b_scheme"), seeds=4,
          epochs=3, validate_names=False)


def rec(scheme, seed, acc, status="trained", curve=(0.9, 0.5, 0.3)):
    return RunRecord(scheme=scheme, seed=seed, status=status, epochs=(0, 1, 2),
                     history={"loss": list(curve)},
                     final={"loss": curve[-1], "accuracy": acc, "val_loss": 1.0,
                            "val_accuracy": acc - 0.1},
                     diverged_epoch=1 if status == "diverged" else None, seconds=2.0)


def test_mean_ci_matches_the_t_interval_formula():
    x = np.array([0.81, 0.85, 0.9, 0.86, 0.84])
    s = mean_ci(x)
    h = stats.t.ppf(0.975, 4) * x.std(ddof=1) / math.sqrt(5)
    assert s.n == 5 and s.mean == pytest.approx(x.mean()) and s.std == pytest.approx(x.std(ddof=1))
    assert (s.low, s.high) == pytest.approx((x.mean() - h, x.mean() + h))
    lo, hi = stats.t.interval(0.95, 4, loc=x.mean(), scale=stats.sem(x))
    assert (s.low, s.high) == pytest.approx((lo, hi))


def test_mean_ci_edge_cases():
    assert mean_ci([]).n == 0 and math.isnan(mean_ci([]).mean)
    one = mean_ci([0.5, math.nan])
    assert one.n == 1 and one.mean == 0.5 and math.isnan(one.std) and math.isnan(one.low)
    assert mean_ci([1, 2, 3], level=0.99).half_width > mean_ci([1, 2, 3]).half_width


def results():
    recs = [rec("a_scheme", k, 0.9 + k / 100) for k in range(4)]
    recs += [rec("b_scheme", 0, 0.6), rec("b_scheme", 1, 0.7),
             rec("b_scheme", 2, math.nan, "diverged", (0.9, math.nan, math.nan))]
    return Results(S, recs)


def test_diverged_runs_are_counted_not_averaged():
    a, b = results().summary()
    assert (a.n_runs, a.n_diverged) == (4, 0)
    assert (b.n_runs, b.n_diverged, b.n_trained) == (3, 1, 2)
    assert b.metrics["accuracy"].mean == pytest.approx(0.65)
    assert b.metrics["accuracy"].n == 2


def test_missing_runs_are_reported():
    r = results()
    assert r.missing == [("b_scheme", 3)] and not r.complete
    assert "1 of 8 runs are missing" in r.table()


def test_curves_mean_and_band_over_trained_runs():
    r = results()
    c = r.curves("loss")
    assert c["a_scheme"].mean.tolist() == pytest.approx([0.9, 0.5, 0.3])
    assert c["a_scheme"].std.tolist() == pytest.approx([0, 0, 0])
    assert c["b_scheme"].runs.shape == (2, 3)
    with_div = r.curves("loss", include_diverged=True)["b_scheme"]
    assert with_div.runs.shape == (3, 3) and with_div.mean[1] == pytest.approx(0.5)
    with pytest.raises(ConfigError, match="did you mean 'loss'"):
        r.curves("los")


def test_table_shows_counts_and_intervals():
    text = results().table()
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["scheme", "runs", "diverged"]
    b_line = next(ln for ln in lines if ln.startswith("b_scheme"))
    assert b_line.split()[1:3] == ["3", "1"] and "0.6500 +- 0.0707" in b_line


def test_csv_exports(tmp_path):
    r = results()
    runs = list(csv.DictReader(open(r.to_csv(tmp_path / "runs.csv"))))
    assert len(runs) == 7 and runs[-1]["status"] == "diverged" and runs[-1]["accuracy"] == ""
    summary = list(csv.DictReader(open(r.to_csv(tmp_path / "s.csv", per="scheme"))))
    assert [row["scheme"] for row in summary] == ["a_scheme", "b_scheme"]
    assert float(summary[1]["accuracy_mean"]) == pytest.approx(0.65)
    with pytest.raises(ConfigError):
        r.to_csv(tmp_path / "x.csv", per="seed")


def test_json_export_is_strict_json(tmp_path):
    r = results()
    data = json.loads(r.to_json(tmp_path / "r.json"))
    assert json.loads((tmp_path / "r.json").read_text()) == data
    assert data["summary"][1]["diverged"] == 1
    assert data["runs"][-1]["final"]["accuracy"] is None
    assert data["runs"][-1]["history"]["loss"] == [0.9, None, None]
    assert data["config_hash"] == S.config_hash


def test_runs_outside_the_grid_are_not_shown():
    r = Results(S.replace(seeds=2, validate_names=False), results().runs)
    assert {x.seed for x in r.runs} == {0, 1} and r.complete
