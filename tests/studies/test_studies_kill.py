"""kill -9 in the middle of a study (a real subprocess), then a rerun: every run exactly once,
finished runs kept as they were (not recomputed), numbers as an uninterrupted study's."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from initlab.studies import Store, Study
from initlab.studies.runner import run_study

STUDY = Study(name="killed", dataset="moons", dataset_options={"n_train": 64, "n_test": 16},
              layers=(8,), schemes=("zeros", "he_normal", "glorot_uniform", "normal(std=1)"),
              seeds=3, epochs=150, batch_size=8, lr=0.05, log_every=50)

SCRIPT = """
import sys
from initlab.studies import Study
Study.from_file(sys.argv[1]).run(sys.argv[2], progress=False, max_models=1)
"""


def _count(path: Path) -> int:
    if not path.exists():
        return 0
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return db.execute("SELECT count(*) FROM runs").fetchone()[0]
    except sqlite3.OperationalError:  # the tables are not there yet
        return 0
    finally:
        db.close()


def test_kill_9_then_rerun_finishes_only_the_missing_runs(tmp_path):
    store = tmp_path / "study.sqlite"
    config = STUDY.save(tmp_path / "study.toml")
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(config), str(store)], env=env)
    n_total = len(STUDY.runs)
    try:
        deadline = time.monotonic() + 60
        while _count(store) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the study finished before it could be killed"
    with Store(store) as st:
        before = {r.key: (r.id, r.ensemble, r.finished) for r in st.records(STUDY)}
    assert 2 <= len(before) < n_total

    resumed = STUDY.run(store, progress=False)

    with Store(store) as st:
        rows = st.records(STUDY)
    keys = [r.key for r in rows]
    assert sorted(keys) == sorted(STUDY.runs) and len(keys) == len(set(keys)) == n_total
    after = {r.key: (r.id, r.ensemble, r.finished) for r in rows}
    assert all(after[k] == v for k, v in before.items())  # not recomputed, not rewritten
    new_ensembles = {after[k][1] for k in after if k not in before}
    assert len(new_ensembles) == 1  # the rerun trained the rest as one ensemble
    assert new_ensembles.isdisjoint(v[1] for v in before.values())

    clean = run_study(STUDY, progress=False)
    got = {r.key: [*r.final.values(), *r.history["loss"], *r.history["val_loss"]]
           for r in resumed.runs}
    want = {r.key: [*r.final.values(), *r.history["loss"], *r.history["val_loss"]]
            for r in clean.runs}
    for key in want:  # bit-identical (README, "Determinism"), not merely close
        assert np.array_equal(got[key], want[key], equal_nan=True), key
