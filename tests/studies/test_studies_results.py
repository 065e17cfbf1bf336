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
from initlab.studies.results import Results, mean_ci, outcome
from initlab.studies.stats import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, UNSTABLE_FACTOR, unstable

S = Study(name="r", dataset="moons", layers=(4,), schemes=("a_scheme", "b_scheme"), seeds=4,
          epochs=3, validate_names=False)


def rec(scheme, seed, acc, status="trained", curve=(0.9, 0.5, 0.3)):
    return RunRecord(scheme=scheme, seed=seed, status=status, epochs=(0, 1, 2),
                     history={"loss": list(curve)},
                     final={"loss": curve[-1], "accuracy": acc, "val_loss": 1.0,
                            "val_accuracy": acc - 0.1},
                     diverged_epoch=1 if status == "diverged" else None, seconds=2.0)


def test_interval_is_the_seeded_bootstrap_percentile_of_the_mean():
    x = np.array([0.81, 0.85, 0.9, 0.86, 0.84])
    s = mean_ci(x)
    assert s.n == 5 and s.mean == pytest.approx(x.mean()) and s.std == pytest.approx(x.std(ddof=1))
    assert s.method == "bootstrap percentile" and s.level == 0.95
    # an independent computation of the same rule gives the same numbers
    idx = np.random.default_rng(BOOTSTRAP_SEED).integers(0, 5, (BOOTSTRAP_RESAMPLES, 5))
    assert (s.low, s.high) == pytest.approx(tuple(np.quantile(x[idx].mean(1), [0.025, 0.975])))
    # a bootstrap interval of the mean is close to the normal one for well-behaved data:
    # its half-width is within 35 % of 1.96 * sem (5 values; the t quantile would be 2.78)
    assert s.half_width == pytest.approx(1.96 * stats.sem(x), rel=0.35)
    assert mean_ci(x) == s  # seeded: same values, same interval


@pytest.mark.parametrize("values, lo_bound, hi_bound", [
    ([1.0, 1.0, 1.0, 1.0, 1.0], 0.0, 1.0),
    ([1.0, 1.0, 1.0, 1.0, 0.9], 0.0, 1.0),
    ([0.0, 0.0, 0.0, 0.5], 0.0, 1.0),
    ([0.02, 0.03, 0.01, 12.0, 0.02], 0.0, math.inf),  # a loss with one bad seed
])
def test_interval_stays_inside_what_the_metric_can_be(values, lo_bound, hi_bound):
    s = mean_ci(values)
    assert lo_bound <= min(values) <= s.low <= s.mean <= s.high <= max(values) <= hi_bound
    if np.ptp(values) > 0:  # the Student-t interval these replaced leaves the bounds here
        t_lo, t_hi = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values),
                                      scale=stats.sem(values))
        assert t_lo < lo_bound or t_hi > hi_bound


def test_interval_piled_at_one_is_the_point_and_four_ones_reach_one():
    assert (mean_ci([1.0] * 5).low, mean_ci([1.0] * 5).high) == (1.0, 1.0)
    s = mean_ci([1.0, 1.0, 1.0, 1.0, 0.9])
    # P(a resample has no 0.9) = 0.8^5 = 0.33 > 2.5 %: the upper end is 1.0 exactly;
    # the lower end is the mean of a resample with two or three 0.9s
    assert s.high == 1.0 and s.low in (pytest.approx(0.94), pytest.approx(0.96))


def test_mean_ci_edge_cases():
    assert mean_ci([]).n == 0 and math.isnan(mean_ci([]).mean)
    one = mean_ci([0.5, math.nan])
    assert one.n == 1 and one.mean == 0.5 and math.isnan(one.std) and math.isnan(one.low)
    x = [0.1, 0.4, 0.2, 0.3, 0.35, 0.15]
    assert mean_ci(x, level=0.99).half_width > mean_ci(x).half_width
    with pytest.raises(ConfigError, match="level"):
        mean_ci(x, level=95)


def test_unstable_rule():
    assert unstable(0.7, 7.6e10) and not unstable(2059.0, 0.03)
    assert not unstable(0.7, 0.7 * UNSTABLE_FACTOR) and unstable(0.7, 0.7 * UNSTABLE_FACTOR * 1.01)
    assert not unstable(0.7, math.nan) and not unstable(math.inf, 1.0)


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


def test_unstable_runs_are_counted_beside_diverged_and_not_averaged(tmp_path):
    recs = results().runs + [rec("b_scheme", 3, 0.55, curve=(0.7, 3.0, 7.6e10))]
    r = Results(S, recs)
    b = r.summary()[1]
    assert (b.n_runs, b.n_diverged, b.n_unstable, b.n_trained) == (4, 1, 1, 2)
    assert b.metrics["accuracy"].mean == pytest.approx(0.65) and b.metrics["loss"].n == 2
    assert [outcome(x) for x in r.for_scheme("b_scheme")] == ["trained", "trained", "diverged",
                                                             "unstable"]
    assert r.curves("loss")["b_scheme"].runs.shape == (2, 3)
    line = next(ln for ln in r.table().splitlines() if ln.startswith("b_scheme"))
    assert line.split()[1:4] == ["4", "1", "1"]
    assert "bootstrap percentile" in r.table() and "unstable" in r.table().splitlines()[0]
    rows = list(csv.DictReader(open(r.to_csv(tmp_path / "s.csv", per="scheme"))))
    assert rows[1]["unstable"] == "1" and rows[1]["ci_method"] == "bootstrap percentile"
    runs = list(csv.DictReader(open(r.to_csv(tmp_path / "r.csv"))))
    assert [row["unstable"] for row in runs].count("True") == 1
    data = json.loads(r.to_json())
    assert data["interval"]["method"] == "bootstrap percentile"
    assert data["summary"][1]["unstable"] == 1
    assert data["summary"][1]["metrics"]["accuracy"]["method"] == "bootstrap percentile"
    assert "unstable=1" in repr(r)


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
