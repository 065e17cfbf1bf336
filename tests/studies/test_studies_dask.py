"""The Dask executor on a real LocalCluster (two worker processes on 127.0.0.1): a worker
killed with kill -9 mid-sweep, and the sweep still stores every run exactly once, with the
numbers an in-process sweep gets."""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time

import pytest

from initlab.studies import Study, Sweep
from initlab.studies.executors import DaskExecutor

pytest.importorskip("distributed")

BASE = Study(dataset="moons", dataset_options={"n_train": 64, "n_test": 32}, layers=(6,),
             epochs=150, batch_size=8, lr=0.05, log_every=50)
SWEEP = Sweep("dask", BASE, {"width": [4, 5, 6, 7, 8, 9], "scheme": ["he_normal", "zeros"],
                             "seeds": 2})


def _count(path) -> int:
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            return db.execute("SELECT count(*) FROM runs").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
def test_a_worker_killed_mid_sweep_loses_no_run_and_duplicates_none(tmp_path):
    store = tmp_path / "sweep.sqlite"
    with DaskExecutor(n_workers=2) as ex:
        pids = ex.worker_pids()
        assert len(pids) == 2 and os.getpid() not in pids.values()
        victim = sorted(pids.values())[0]
        killed: list[int] = []

        def kill_one() -> None:  # once one ensemble is stored, both workers are mid-task
            deadline = time.monotonic() + 120
            while _count(store) < 1 and time.monotonic() < deadline:
                time.sleep(0.005)
            os.kill(victim, signal.SIGKILL)
            killed.append(_count(store))

        t = threading.Thread(target=kill_one)
        t.start()
        res = SWEEP.run(store, executor=ex, progress=False)
        t.join()
        assert killed and killed[0] < SWEEP.n_runs, "the sweep ended before the kill"
        assert not _alive(victim)
    assert res.complete and not res.failed and len(res.rows) == SWEEP.n_runs
    db = sqlite3.connect(store)
    n, distinct = db.execute(
        "SELECT count(*), count(DISTINCT study || scheme || seed) FROM runs").fetchone()
    db.close()
    assert n == distinct == SWEEP.n_runs

    local = SWEEP.run(progress=False)
    key = ("width", "scheme", "seed")
    want = {tuple(r[k] for k in key): (r["loss"], r["val_accuracy"]) for r in local.rows}
    got = {tuple(r[k] for k in key): (r["loss"], r["val_accuracy"]) for r in res.rows}
    assert got == want  # bit for bit: same ensembles, same data, one BLAS thread
