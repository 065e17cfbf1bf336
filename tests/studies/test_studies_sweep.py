"""Sweeps: the grid, one store, reruns and widened axes, tidy results, failures, the CLI."""

from __future__ import annotations

import csv
import doctest
import importlib
import math
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from initlab.errors import ConfigError, StoreError
from initlab.studies import Store, Study, Sweep, SweepResults
from initlab.studies import runner as runner_mod
from initlab.studies.results import mean_ci
from initlab.studies.runner import build_model

BASE = Study(dataset="moons", dataset_options={"n_train": 64, "n_test": 32}, layers=(4,),
             epochs=20, batch_size=16, lr=0.05)
AXES = {"width": [3, 5], "depth": [1, 2],
        "scheme": {"template": "variance_scaling(scale={}, distribution=normal)",
                   "start": 1, "stop": 2, "num": 2},
        "seeds": 2}


def _ids(path: Path) -> dict[tuple, tuple]:
    db = sqlite3.connect(path)
    try:
        return {(st, sc, sd): (i, ens) for i, st, sc, sd, ens in
                db.execute("SELECT id, study, scheme, seed, ensemble FROM runs")}
    finally:
        db.close()


@pytest.mark.parametrize("name", ["sweep", "executors", "store"])
def test_docstring_examples(name):
    module = importlib.import_module(f"initlab.studies.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_the_grid_is_the_product_of_the_axes_and_points_share_ensembles():
    sw = Sweep("g", BASE, AXES)
    points = sw.points()
    assert [p for p, _ in points] == [{"width": w, "depth": d} for w in (3, 5) for d in (1, 2)]
    assert [s.layers for s in sw.studies()] == [(3,), (3, 3), (5,), (5, 5)]
    assert sw.axes["scheme"] == ("variance_scaling(scale=1, distribution=normal)",
                                 "variance_scaling(scale=2, distribution=normal)")
    assert sw.n_runs == 4 * 2 * 2
    assert len({s.name for s in sw.studies()}) == 4
    res = sw.run(progress=False)
    assert res.complete and len(res.rows) == 16
    by_point: dict[tuple, set] = {}
    for r in res.rows:
        by_point.setdefault((r["width"], r["depth"]), set()).add(r["ensemble_size"])
    assert all(sizes == {4} for sizes in by_point.values())  # 2 schemes x 2 seeds at once


def test_rerun_trains_nothing_and_widening_trains_only_the_new_points(tmp_path):
    path = tmp_path / "sweep.sqlite"
    small = Sweep("w", BASE, {**AXES, "width": [3]})
    small.run(path, progress=False)
    first = _ids(path)
    assert len(first) == 8
    small.run(path, progress=False)
    assert _ids(path) == first  # nothing retrained, nothing rewritten

    wide = Sweep("w", BASE, {**AXES, "width": [3, 5], "seeds": 3})
    res = wide.run(path, progress=False)
    after = _ids(path)
    assert all(after[k] == v for k, v in first.items())
    assert len(after) == wide.n_runs == 24 and res.complete
    new = {k: v for k, v in after.items() if k not in first}
    old_width_studies = {s.name for s in small.studies()}
    # width 3: only seed 2 is new; width 5: all 12 runs
    assert sum(k[0] in old_width_studies for k in new) == 4
    assert all(k[2] == 2 for k in new if k[0] in old_width_studies)

    fresh = Sweep("w", BASE, {**AXES, "width": [3, 5], "seeds": 3}).run(progress=False)
    key = ("width", "depth", "scheme", "seed")
    got = {tuple(r[k] for k in key): [r[m] for m in ("loss", "val_accuracy")] for r in res.rows}
    want = {tuple(r[k] for k in key): [r[m] for m in ("loss", "val_accuracy")]
            for r in fresh.rows}
    assert got.keys() == want.keys()
    for k in want:  # the same numbers as a fresh sweep, whatever ensemble trained them
        np.testing.assert_allclose(got[k], want[k], rtol=2e-5, atol=1e-6, err_msg=str(k))


def test_tidy_rows_csv_and_the_grouped_interval_is_mean_ci(tmp_path):
    sw = Sweep("t", BASE, {"lr": [0.01, 0.1], "dataset.noise": [0.1, 0.3],
                           "scheme": ["zeros", "he_normal"], "seeds": 3})
    res = sw.run(progress=False)
    assert res.columns[:4] == ["lr", "dataset.noise", "scheme", "seed"]
    assert len(res.rows) == 2 * 2 * 2 * 3
    assert {(r["lr"], r["dataset.noise"]) for r in res.rows} == {
        (a, b) for a in (0.01, 0.1) for b in (0.1, 0.3)}
    group = [g for g in res.summary(by=["lr", "scheme"])
             if g["lr"] == 0.1 and g["scheme"] == "he_normal"][0]
    vals = [r["val_accuracy"] for r in res.rows
            if r["lr"] == 0.1 and r["scheme"] == "he_normal"]
    stat = mean_ci(vals)
    assert group["runs"] == 6 and group["val_accuracy_mean"] == stat.mean
    assert (group["val_accuracy_ci_low"], group["val_accuracy_ci_high"]) == (stat.low,
                                                                             stat.high)
    path = res.to_csv(tmp_path / "runs.csv")
    with path.open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 24 and list(rows[0])[:5] == ["lr", "dataset.noise", "scheme", "seed",
                                                     "status"]
    assert float(rows[0]["val_accuracy"]) == res.rows[0]["val_accuracy"]
    rv, cv, grid = res.grid("val_accuracy", "lr", "dataset.noise")
    assert rv == [0.01, 0.1] and cv == [0.1, 0.3] and grid.shape == (2, 2)
    assert grid[1, 0] == pytest.approx(np.mean([r["val_accuracy"] for r in res.rows
                                                if r["lr"] == 0.1 and r["dataset.noise"] == 0.1]))


def test_to_pandas():
    pd = pytest.importorskip("pandas")
    res = Sweep("p", BASE, {"width": [3, 4], "seeds": 2}).run(progress=False)
    df = res.to_pandas()
    assert isinstance(df, pd.DataFrame) and len(df) == 4 and "width" in df.columns


def test_bias_init_is_an_axis_that_reaches_the_network():
    sw = Sweep("b", BASE.replace(epochs=2), {"bias_init": ["zeros", "normal(std=1)"]})
    zero, normal = sw.studies()
    assert zero.config_hash != normal.config_hash
    b0 = build_model(zero, 2, 2, [("he_normal", 0)]).params.b[0]
    b1 = build_model(normal, 2, 2, [("he_normal", 0)]).params.b[0]
    assert np.all(b0 == 0) and np.std(b1) > 0.3


def test_a_failed_point_is_stored_with_its_error_and_retried(tmp_path, monkeypatch):
    path = tmp_path / "s.sqlite"
    sw = Sweep("f", BASE, {"width": [3, 5], "seeds": 2})
    bad = sw.studies()[1].name
    real = runner_mod.train_ensemble

    def faulty(study, dataset, runs, **kw):  # fault injection: width 5 raises
        if study.name == bad:
            raise MemoryError("injected")
        return real(study, dataset, runs, **kw)

    monkeypatch.setattr(runner_mod, "train_ensemble", faulty)
    res = sw.run(path, progress=False)
    assert not res.complete and res.missing == 2
    assert [(r["width"], r["status"]) for r in res.failed] == [(5, "failed"), (5, "failed")]
    assert res.failed[0]["error"].startswith("MemoryError: injected")
    assert "2 runs failed" in res.table()
    monkeypatch.setattr(runner_mod, "train_ensemble", real)
    again = sw.run(path, progress=False)
    assert again.complete and not again.failed and len(_ids(path)) == 4


def test_bad_sweeps_name_the_bad_value():
    cases = [({"colour": [1]}, "colour"), ({"width": [3.5]}, "3.5"),
             ({"lr": {"start": 1, "stop": 2}}, "num or step"),
             ({"width": [3, 3]}, "listed twice"), ({"lr": "0.1"}, "'0.1'"),
             ({"activation": ["relu", "rleu"]}, "activation='rleu'"),
             ({"scheme": {"start": 1, "stop": 2, "num": 2}}, "template")]
    for axes, text in cases:
        with pytest.raises(ConfigError, match=text):
            Sweep("bad", BASE, axes)


def test_sweep_file_and_results_from_store(tmp_path):
    path = tmp_path / "sweep.toml"
    path.write_text(
        'name = "file"\n[study]\ndataset = "moons"\nlayers = [4]\nepochs = 5\n'
        '[study.dataset_options]\nn_train = 40\nn_test = 20\n'
        '[axes]\nactivation = ["relu", "tanh"]\nlr = {start = 0.01, stop = 0.03, step = 0.01}\n'
        'seeds = 2\n', encoding="utf-8")
    sw = Sweep.from_file(path)
    assert sw.axes["lr"] == (0.01, 0.02, 0.03) and sw.n_runs == 12
    res = sw.run(tmp_path / "s.sqlite", progress=False)
    back = SweepResults.from_store(tmp_path / "s.sqlite")
    assert back.rows == res.rows and back.sweep.to_dict() == sw.to_dict()
    with pytest.raises(StoreError, match="0 sweeps"):
        SweepResults.from_store(Path(shutil.copy(Path(__file__).parent / "data" /
                                                 "store_v1.sqlite", tmp_path / "v1.sqlite")))


def test_a_sweep_joins_a_schema_1_compare_store(tmp_path):
    path = Path(shutil.copy(Path(__file__).parent / "data" / "store_v1.sqlite",
                            tmp_path / "s.sqlite"))
    Sweep("next", BASE, {"width": [3]}).run(path, progress=False)
    with Store(path) as st:
        assert st.study_names()[-1] == "v1" and len(st.records("v1")) == 4
        assert st.sweep_names() == ["next"]


def test_cli_sweep_writes_tables_and_reruns_nothing(tmp_path, capsys):
    from initlab.cli import main

    cfg = tmp_path / "s.toml"
    cfg.write_text('name = "cli"\n[study]\ndataset = "xor"\nlayers = [3]\nepochs = 3\n'
                   '[axes]\nwidth = [2, 3]\nseeds = 2\n', encoding="utf-8")
    out = tmp_path / "out"
    assert main(["sweep", "--config", str(cfg), "--out", str(out), "--quiet"]) == 0
    table = capsys.readouterr().out
    assert "4/4 runs stored" in table
    with (out / "runs.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["width"] for r in rows] == ["2", "2", "3", "3"]
    assert main(["sweep", "--config", str(cfg), "--out", str(out)]) == 0
    assert "nothing to train: all 4 runs" in capsys.readouterr().err


@pytest.mark.parametrize("argv, text", [
    (["--dask", "remote"], "--dask 'remote'"),
    (["--dask", "local", "--scheduler", "tcp://h:1"], "give one"),
    (["--scheduler", "h:8786"], "tcp://HOST:8786"),
    (["--workers", "0"], "--workers"),
])
def test_cli_sweep_bad_flags_are_one_line_before_writing(tmp_path, capsys, argv, text):
    from initlab.cli import main

    cfg = tmp_path / "s.toml"
    cfg.write_text('[study]\ndataset = "xor"\n[axes]\nwidth = [2]\n', encoding="utf-8")
    code = main(["sweep", "--config", str(cfg), "--out", str(tmp_path / "o"), *argv])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and text in err
    assert not (tmp_path / "o").exists()


def test_missing_metric_values_are_nan_not_zero():
    res = Sweep("n", BASE, {"width": [3]}).run(progress=False)
    summ = res.summary(by=["seed"])
    assert all(math.isnan(s["val_accuracy_std"]) for s in summ)  # one run per seed
