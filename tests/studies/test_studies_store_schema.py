"""Store schema 2: migration from schema 1, damaged and foreign files, failed runs, claims."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from initlab.errors import StoreError
from initlab.studies import Results, Store, Study
from initlab.studies import runner as runner_mod
from initlab.studies.store import SCHEMA_VERSION

DATA = Path(__file__).parent / "data"
V1 = Study(name="v1", dataset="xor", dataset_options={"n_train": 40, "n_test": 20},
           layers=(4,), schemes=["zeros", "he_normal"], seeds=2, epochs=3)
SRC = str(Path(__file__).resolve().parents[2] / "src")


def _v1_copy(tmp_path: Path) -> Path:
    path = tmp_path / "study.sqlite"
    shutil.copy(DATA / "store_v1.sqlite", path)
    return path


def _rows(path: Path) -> list[tuple]:
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT id, study, scheme, seed, status, final, history, weights "
                          "FROM runs ORDER BY id").fetchall()
    finally:
        db.close()


def test_a_schema_1_store_is_migrated_in_place_and_keeps_every_run(tmp_path):
    path = _v1_copy(tmp_path)
    before = _rows(path)
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 1
    res = Results.from_store(path, weights=True)
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
    cols = {c[1] for c in db.execute("PRAGMA table_info(runs)")}
    db.close()
    assert "error" in cols
    assert _rows(path) == before  # ids, keys, JSON and weight blobs byte for byte
    assert len(before) == 4 and res.complete and res.study.config_hash == V1.config_hash
    w = res.runs[0].weights
    assert w is not None and w["W0"].shape == (2, 4)
    # today's compare rerun on the migrated store trains nothing and finds the same numbers
    again = V1.run(path, progress=False)
    assert len(_rows(path)) == 4
    assert [r.final for r in again.runs] == [r.final for r in res.runs]


def test_a_migrated_store_takes_new_runs_and_failures(tmp_path):
    path = _v1_copy(tmp_path)
    more = V1.replace(seeds=3)
    res = more.run(path, progress=False)
    assert res.complete and len(_rows(path)) == 6


def test_a_foreign_sqlite_file_is_a_store_error(tmp_path):
    path = tmp_path / "other.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE users (id INTEGER, name TEXT)")
    db.commit()
    db.close()
    for call in (lambda: Store(path), lambda: Results.from_store(path)):
        with pytest.raises(StoreError, match="not an initlab store.*users"):
            call()
    # a file claiming schema 1 without its columns
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 1")
    db.close()
    with pytest.raises(StoreError, match="schema 1.*lacks"):
        Results.from_store(path)
    assert sqlite3.connect(path).execute("SELECT count(*) FROM users").fetchone() == (0,)


def test_compare_on_a_foreign_store_is_one_line_before_training(tmp_path, capsys):
    from initlab.cli import main

    out = tmp_path / "out"
    out.mkdir()
    db = sqlite3.connect(out / "study.sqlite")
    db.execute("CREATE TABLE t (x)")
    db.close()
    code = main(["compare", "--dataset", "xor", "--layers", "3", "--epochs", "1", "--out",
                 str(out), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "not an initlab store" in err
    assert not (out / "runs.csv").exists()


def _trained_store(tmp_path: Path, weights: bool = False) -> Path:
    path = tmp_path / "s.sqlite"
    V1.run(path, progress=False, keep_weights=weights, workers=1)
    return path


@pytest.mark.parametrize("column", ["final", "history", "epochs"])
def test_a_row_with_broken_json_is_a_store_error_naming_the_row(tmp_path, column):
    path = _trained_store(tmp_path)
    db = sqlite3.connect(path)
    db.execute(f"UPDATE runs SET {column} = '{{\"loss\": 0.5' WHERE id = 2")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match=rf"run 2 .*{column}.*not valid JSON"):
        Results.from_store(path)


def test_a_study_config_with_broken_json_is_a_store_error(tmp_path):
    path = _trained_store(tmp_path)
    db = sqlite3.connect(path)
    db.execute("UPDATE studies SET config = '[1, 2'")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="config of study 'v1' is not valid JSON"):
        Results.from_store(path)


def test_truncated_weights_are_a_store_error(tmp_path):
    path = _trained_store(tmp_path, weights=True)
    db = sqlite3.connect(path)
    blob = db.execute("SELECT weights FROM runs WHERE id = 3").fetchone()[0]
    db.execute("UPDATE runs SET weights = ? WHERE id = 3", (blob[: len(blob) // 2],))
    db.commit()
    db.close()
    assert Results.from_store(path).complete  # without weights the table still reads
    with pytest.raises(StoreError, match="run 3 .*weights are damaged"):
        Results.from_store(path, weights=True)


# --------------------------------------------------------------------------- failed runs
def test_a_run_that_raised_is_stored_failed_with_its_error_and_retried(tmp_path, monkeypatch):
    path = tmp_path / "s.sqlite"
    real = runner_mod.train_ensemble

    def faulty(study, dataset, runs, **kw):  # fault injection: seed 1 of he_normal raises
        if ("he_normal", 1) in runs:
            raise RuntimeError("injected fault")
        return real(study, dataset, runs, **kw)

    monkeypatch.setattr(runner_mod, "train_ensemble", faulty)
    first = V1.run(path, progress=False, workers=1)
    assert sorted(r.key for r in first.runs) == [("he_normal", 0), ("zeros", 0), ("zeros", 1)]
    with Store(path) as st:
        failed = [r for r in st.records(V1, failed=True) if r.status == "failed"]
        assert st.missing(V1) == [("he_normal", 1)]
    assert [r.key for r in failed] == [("he_normal", 1)]
    assert failed[0].error.startswith("RuntimeError: injected fault")
    assert np.isnan(list(first.summary()[1].metrics.values())[0].std)  # one he_normal run

    monkeypatch.setattr(runner_mod, "train_ensemble", real)
    second = V1.run(path, progress=False, workers=1)
    clean = V1.run(None, progress=False, workers=1)
    assert second.complete and len(_rows(path)) == 4
    with Store(path) as st:
        assert all(r.status != "failed" for r in st.records(V1, failed=True))
    got = {r.key: r.final for r in second.runs}
    assert got == {r.key: r.final for r in clean.runs}  # the retry replaced the failure


# --------------------------------------------------------------------------- claims
def test_a_claim_of_a_live_process_is_respected_and_a_dead_ones_taken_over(tmp_path):
    s = V1
    with Store(tmp_path / "s.sqlite") as st:
        st.register(s)
        a = st.claim(s, s.runs[:3], "A")
        assert a.mine == list(s.runs[:3]) and not a.others
        b = st.claim(s, s.runs, "B")  # A's pid (this process) is alive
        assert b.mine == [s.runs[3]] and b.others == {r: os.getpid() for r in s.runs[:3]}
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        st._db.execute("UPDATE claims SET pid = ? WHERE owner = 'A'", (dead.pid,))
        c = st.claim(s, s.runs, "C")
        assert c.mine == list(s.runs[:3]) and c.others == {s.runs[3]: os.getpid()}
        st.release("B")
        assert st.claim(s, s.runs, "D").mine == [s.runs[3]]


SCRIPT = """
import os, sys, time
from initlab.studies import Store, Study
from initlab.studies.runner import data_key, execute, load_data
s = Study.from_file(sys.argv[1])
st = Store(sys.argv[2])
st.register(s)
data = load_data(s)
if len(sys.argv) > 3:  # ready: wait for the go
    print("ready", flush=True)
    while not os.path.exists(sys.argv[3]):
        time.sleep(0.01)
print("trained", execute([s], st, {data_key(s): data}, max_models=1, progress=False),
      flush=True)
"""
SLOW = Study(name="shared", dataset="moons", dataset_options={"n_train": 64, "n_test": 16},
             layers=(8,), schemes=("zeros", "he_normal", "glorot_uniform"), seeds=2,
             epochs=2000, batch_size=8, lr=0.05, log_every=100)


def _count(path: Path) -> int:
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        return db.execute("SELECT count(*) FROM runs").fetchone()[0]
    except sqlite3.Error:
        return 0


def _start(*args: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen([sys.executable, "-c", SCRIPT, *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_two_processes_on_one_store_never_both_train_a_run(tmp_path):
    """The second process waits for the first's claimed runs; when the first is killed, the
    second takes its runs over; every run is stored once, and trained once but for the one
    the kill interrupted."""
    config, store = SLOW.save(tmp_path / "s.toml"), tmp_path / "s.sqlite"
    go = tmp_path / "go"  # no store yet: both processes create it (test_studies_store_race)
    a = _start(config, store)
    b = _start(config, store, go)
    assert b.stdout.readline() == "ready\n"
    deadline = time.monotonic() + 60
    while _count(store) < 1 and a.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    line = b.stderr.readline()  # b finds every missing run claimed by a, and waits
    assert "being trained by another process" in line and f"pid {a.pid}" in line
    a.kill()
    a.wait()
    by_a = _count(store)
    out, err = b.communicate(timeout=120)
    assert a.returncode == -9 and b.returncode == 0, err
    n = len(SLOW.runs)
    assert 1 <= by_a < n, "a finished before it could be killed"
    assert out.split() == ["trained", str(n - by_a)]  # b trained only what a had not stored
    with Store(store) as st:
        keys = [r.key for r in st.records(SLOW)]
        assert sorted(keys) == sorted(SLOW.runs) and len(set(keys)) == n
        assert st._db.execute("SELECT count(*) FROM claims").fetchone() == (0,)
