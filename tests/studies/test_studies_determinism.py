"""The determinism contract at the study level, with exact equality: a run's weights, history
and final metrics do not depend on how the study was split into ensembles (``max_models``,
``workers``) nor on whether it was grown (``seeds=3`` then ``seeds=5``). Seed 002's chaotic
normal(std=10) moons net makes any difference visible. (kill -9 and a resume:
``test_studies_kill.py``, also with exact equality.)"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from initlab.studies import Study
from initlab.studies.runner import run_study

STUDY = Study(name="det", dataset="moons", layers=(12, 6), activation="relu", output="sigmoid",
              schemes=("normal(std=10)", "he_normal", "glorot_uniform"), seeds=5,
              optimizer="sgd", lr=0.01, epochs=600, batch_size=None, log_every=1)


def _by_key(results):
    return {r.key: r for r in results.runs}


def _assert_same_runs(got, want):
    got, want = _by_key(got), _by_key(want)
    assert sorted(got) == sorted(want)
    for key, w in want.items():
        g = got[key]
        assert g.status == w.status, key
        assert g.epochs == w.epochs, key
        for m in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert np.array_equal(g.history[m], w.history[m], equal_nan=True), (key, m)
        assert np.array_equal(list(g.final.values()), list(w.final.values()),
                              equal_nan=True), key
        assert sorted(g.weights) == sorted(w.weights), key
        for name in w.weights:
            assert np.array_equal(g.weights[name], w.weights[name]), (key, name)


@pytest.fixture(scope="module")
def fresh():
    """All 15 runs in one ensemble (K = 15), in memory."""
    return run_study(STUDY, progress=False, workers=1, keep_weights=True)


def test_max_models_and_workers_change_nothing(fresh):
    assert len(fresh.runs) == 15 and all(r.ensemble_size == 15 for r in fresh.runs)
    split = run_study(STUDY, progress=False, workers=1, max_models=4, keep_weights=True)
    assert {r.ensemble_size for r in split.runs} == {3, 4}
    _assert_same_runs(split, fresh)
    two = run_study(STUDY, progress=False, workers=2, max_models=8, keep_weights=True)
    assert len({r.ensemble for r in two.runs}) == 2
    _assert_same_runs(two, fresh)


def test_growing_a_study_equals_a_fresh_one(fresh, tmp_path):
    store = tmp_path / "grown.sqlite"
    small = dataclasses.replace(STUDY, seeds=(0, 1, 2))
    run_study(small, store=store, progress=False, workers=1, keep_weights=True)
    grown = run_study(STUDY, store=store, progress=False, workers=1, keep_weights=True)
    assert {r.ensemble_size for r in grown.runs} == {9, 6}  # trained in two ensembles
    _assert_same_runs(grown, fresh)
