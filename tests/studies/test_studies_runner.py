"""The runner: ensembles equal separate runs, reruns are identical, resumption trains only
what is missing, and the store is checked before any training."""

from __future__ import annotations

import os

import numpy as np
import pytest

from initlab.errors import ConfigError, StoreError
from initlab.studies import Store, Study
from initlab.studies.results import Results
from initlab.studies.runner import plan_ensembles, run_study

TINY = Study(name="tiny", dataset="moons", dataset_options={"n_train": 48, "n_test": 24},
             layers=(5,), schemes=("zeros", "he_normal", "normal(std=2)"), seeds=2, epochs=6,
             batch_size=16, lr=0.1, log_every=2)


def numbers(results: Results) -> dict:
    return {r.key: (r.final, r.history["loss"], r.history["val_accuracy"], r.status)
            for r in results.runs}


def assert_same_numbers(a: Results, b: Results, exact: bool) -> None:
    na, nb = numbers(a), numbers(b)
    assert na.keys() == nb.keys() == set(TINY.runs)
    for key in na:
        fa, la, va, sa = na[key]
        fb, lb, vb, sb = nb[key]
        assert sa == sb
        if exact:
            assert (fa, la, va) == (fb, lb, vb), key
        else:  # float32 sums may be ordered differently for another K
            np.testing.assert_allclose([*fa.values(), *la, *va], [*fb.values(), *lb, *vb],
                                       rtol=2e-5, atol=1e-6, err_msg=str(key))


def test_rerun_with_the_same_seeds_gives_identical_numbers(tmp_path):
    a = TINY.run(tmp_path / "a.sqlite", progress=False)
    b = TINY.run(tmp_path / "b.sqlite", progress=False)
    assert a.complete and len(a.runs) == 6
    assert_same_numbers(a, b, exact=True)
    assert len({r.ensemble for r in a.runs}) == 1 and a.runs[0].ensemble_size == 6


def test_one_ensemble_equals_separate_runs_and_worker_processes():
    together = run_study(TINY, progress=False)
    separate = run_study(TINY, progress=False, max_models=1)
    assert len({r.ensemble for r in separate.runs}) == 6
    assert_same_numbers(together, separate, exact=False)
    parallel = run_study(TINY, progress=False, workers=2)
    assert len({r.ensemble for r in parallel.runs}) == 2
    assert_same_numbers(together, parallel, exact=False)


def test_schemes_differ_and_zeros_stays_symmetric():
    r = run_study(TINY, progress=False)
    zeros = [x for x in r.runs if x.scheme == "zeros"]
    he = [x for x in r.runs if x.scheme == "he_normal"]
    assert zeros[0].final == zeros[1].final  # no randomness reaches an all-zero network
    assert he[0].final != he[1].final


def test_rerun_trains_only_the_missing_runs(tmp_path):
    path = tmp_path / "s.sqlite"
    first = TINY.replace(seeds=1).run(path, progress=False)
    before = {r.key: (r.id, r.ensemble, r.finished) for r in first.runs}
    full = TINY.run(path, progress=False)
    after = {r.key: (r.id, r.ensemble, r.finished) for r in full.runs}
    assert len(after) == 6 and all(after[k] == v for k, v in before.items())
    new = {after[k][1] for k in after if k not in before}
    assert len(new) == 1 and new.isdisjoint({v[1] for v in before.values()})
    again = TINY.run(path, progress=False)  # nothing missing: nothing trained
    assert {r.key: (r.id, r.ensemble, r.finished) for r in again.runs} == after
    assert_same_numbers(full, run_study(TINY, progress=False), exact=False)


def test_results_from_the_store_match(tmp_path):
    path = tmp_path / "s.sqlite"
    r = TINY.run(path, progress=False)
    back = Results.from_store(path)
    assert back.study == TINY and numbers(back) == numbers(r)
    assert Results.from_store(path, "tiny").table() == r.table()


def test_diverged_runs_are_marked_and_kept_apart():
    s = TINY.replace(layers=(6, 6), activation="linear", schemes=["glorot_uniform",
                     "normal(std=100)"], batch_size=None, lr=0.5, epochs=30)
    r = run_study(s, progress=False)
    by = {x.scheme: x for x in r.runs}
    assert by["normal(std=100)"].status == "diverged"
    assert by["normal(std=100)"].diverged_epoch is not None
    assert by["glorot_uniform"].status == "trained"
    summary = {x.scheme: x for x in r.summary()}
    assert summary["normal(std=100)"].n_diverged == 2
    assert summary["glorot_uniform"].metrics["accuracy"].n == 2


def test_store_is_checked_before_data_or_training(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    s = Study(dataset="mnist", dataset_options={"download": False}, layers=(4,),
              output="softmax", epochs=1)
    # the data is absent too; the store's error comes first
    with pytest.raises(StoreError):
        run_study(s, blocker / "s.sqlite", progress=False, data_dir=tmp_path)


def test_another_recipe_in_the_same_store_is_refused_before_training(tmp_path):
    path = tmp_path / "s.sqlite"
    TINY.replace(seeds=1).run(path, progress=False)
    with pytest.raises(StoreError, match="epochs 6 -> 7"):
        TINY.replace(epochs=7).run(path, progress=False)
    with Store(path) as st:
        assert len(st.records(TINY)) == 3


def test_sigmoid_needs_two_classes():
    s = Study(dataset="blobs", dataset_options={"n_classes": 3, "n_train": 30, "n_test": 9},
              layers=(4,), output="sigmoid", epochs=1)
    with pytest.raises(ConfigError, match="softmax"):
        run_study(s, progress=False)


def test_plan_and_argument_checks():
    assert [len(e) for e in plan_ensembles(TINY, TINY.runs, max_models=4)] == [3, 3]
    assert [len(e) for e in plan_ensembles(TINY, TINY.runs, workers=4)] == [2, 2, 1, 1]
    assert plan_ensembles(TINY, []) == []
    with pytest.raises(ConfigError, match="workers"):
        run_study(TINY, workers=0)
    with pytest.raises(ConfigError, match="max_models"):
        run_study(TINY, max_models=0)


def test_step_macs_and_auto_workers():
    from initlab.data import Dataset
    from initlab.studies.runner import auto_workers, idle_cores, step_macs

    assert [idle_cores(cores=2, load=x) for x in (0.0, 1.0, 1.6, 2.4, 6.0)] == [2, 2, 1, 1, 1]

    def data(n: int, d: int, classes: int) -> Dataset:
        z = np.zeros((n, d), np.float32)
        return Dataset("shape-only", z, np.zeros(n, np.int64), z, np.zeros(n, np.int64), classes)

    s = Study(layers=(128, 64), output="softmax", batch_size=128, epochs=1)
    assert step_macs(s, 784, 10, 8000, 30) == (784 * 128 + 128 * 64 + 64 * 10) * 128 * 30
    mnist = data(8000, 784, 10)
    assert auto_workers(s, mnist, 30, cores=2, load=1.0) == 2  # one core idle besides ours
    assert auto_workers(s, mnist, 30, cores=2, load=3.2) == 1  # others keep both busy
    assert auto_workers(s, mnist, 30, cores=16, load=0.0) == 4  # at most 4
    assert auto_workers(s, mnist, 1, cores=2, load=0.0) == 1  # one run, one process
    moons = data(400, 2, 2)
    assert auto_workers(Study(layers=(12, 6), epochs=15000), moons, 30, cores=2, load=1) == 2
    assert auto_workers(TINY, moons, 6, cores=2, load=0.0) == 1  # under a second of work


def test_kept_weights_rebuild_the_trained_models(tmp_path):
    from initlab.studies.runner import load_data

    path = tmp_path / "s.sqlite"
    TINY.run(path, progress=False, keep_weights=True)
    r = Results.from_store(path, weights=True)
    ds = load_data(TINY)
    for run in r.runs:
        m = r.model(run.scheme, run.seed)
        got = m.evaluate(ds.x_test, ds.y_test)
        assert float(got["accuracy"][0]) == pytest.approx(run.final["val_accuracy"], abs=1e-12)
        assert float(got["loss"][0]) == pytest.approx(run.final["val_loss"], rel=1e-6)
    with pytest.raises(StoreError, match="keep_weights"):
        Results.from_store(path).model("zeros", 0)
    with pytest.raises(StoreError, match="no run"):
        r.model("zeros", 9)


def test_worker_processes_from_a_script_without_a_main_guard(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "plain.py"
    script.write_text(
        "from initlab.studies import Study\n"
        f"s = Study.from_file({str(TINY.save(tmp_path / 's.toml'))!r})\n"
        f"r = s.run({str(tmp_path / 'st.sqlite')!r}, workers=2, progress=True)\n"
        "print(len({x.ensemble for x in r.runs}), len(r.runs))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    p = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env,
                       timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.split() == ["2", "6"]


def test_data_provenance_is_recorded(tmp_path):
    path = tmp_path / "s.sqlite"
    r = TINY.run(path, progress=False)
    assert r.provenance["dataset"] == "moons" and r.provenance["n_train"] == 48
    back = Results.from_store(path)
    assert back.provenance == r.provenance
    assert back.to_dict()["data_provenance"]["options"]["seed"] == 0


def test_probes_record_per_model_diagnostics_into_the_store(tmp_path):
    # zeros keeps every unit of a layer identical (symmetry); he_normal does not.
    study = Study(dataset="moons", layers=(12, 6), schemes=("zeros", "he_normal"), seeds=1,
                  epochs=4, batch_size=100, lr=0.01, probes=3)
    results = study.run(tmp_path / "s.sqlite", progress=False)
    runs = {r.scheme: r for r in results.runs}
    steps = 4 * 4  # 400 samples / batch 100, 4 epochs
    for r in runs.values():
        p = r.probes
        assert p["step"] == list(range(0, steps, 3))
        assert p["layers"] and len(p["series"]["distinct_units"][0]) == len(p["layers"])
    zeros = runs["zeros"].probes["series"]["distinct_units"]
    he = runs["he_normal"].probes["series"]["distinct_units"]
    assert all(row[:2] == [1.0, 1.0] for row in zeros)
    assert all(row[:2] == [12.0, 6.0] for row in he)
    assert any(f["code"] == "symmetry" for f in runs["zeros"].probes["findings"])
    # the probe survives the round trip through the store
    again = Results.from_store(tmp_path / "s.sqlite")
    assert {r.scheme: r.probes for r in again.runs} == {s: r.probes for s, r in runs.items()}


DEEP = Study(name="deep", dataset="moons", dataset_options={"n_train": 3000, "n_test": 50},
             layers=(16,) * 256, activation="tanh", schemes=["glorot_normal", "lecun_normal",
             "orthogonal"], seeds=1, epochs=1, batch_size=100)


def test_final_metrics_are_measured_in_chunks_that_bound_memory():
    """The final metrics of 3 deep models on 3,000 samples: at once, their layer buffers
    would take 3 x 3000 x 4098 x 2 x 4 bytes = 295 MB; in chunks of the model's eval_rows,
    3 x 16 MiB."""
    import tracemalloc

    from initlab.nn.model import EVAL_BYTES
    from initlab.studies.runner import build_model, load_data, train_ensemble

    data = load_data(DEEP)
    rows = build_model(DEEP, 2, 2, DEEP.runs[:1]).eval_rows
    assert rows < 3000 / 4 and rows * 2 * 4 * (256 * 16 + 2) <= EVAL_BYTES
    tracemalloc.start()
    try:
        recs = train_ensemble(DEEP, data, DEEP.runs)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    whole = 3 * 3000 * (256 * 16 + 2) * 2 * 4
    assert peak < whole / 2, (peak, whole)
    # the chunk depends on the architecture only: a run alone gets the same numbers
    alone = train_ensemble(DEEP, data, DEEP.runs[1:2])[0]
    assert alone.final == recs[1].final and alone.history["loss"] == recs[1].history["loss"]
