"""Processes that create one brand-new store at the same moment: every one opens it, and the
store is whole (one schema, version stamped, each study once, every run written once)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from initlab.studies import Store, Study
from initlab.studies.store import SCHEMA_VERSION

SRC = str(Path(__file__).resolve().parents[2] / "src")
# Each process, in round after round: say it is ready, spin until the round's go file
# appears (so all processes open the new store at the same moment), then open it, register
# the study and the sweep, claim and write its own run. It prints one line per round.
SCRIPT = """
import os, sys, traceback
from initlab.studies import RunRecord, Store, Study
folder, me, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = Study(name="race", schemes=["zeros", "ones", "he_normal"], seeds=1, epochs=1,
          validate_names=False)
scheme = s.schemes[int(me)]
rec = RunRecord(scheme=scheme, seed=0, status="trained", epochs=(0,),
                history={"loss": [0.5]}, final={"loss": 0.5})
for i in range(rounds):
    print("ready", i, flush=True)
    go = os.path.join(folder, f"go{i}")
    while not os.path.exists(go):
        pass
    try:
        with Store(os.path.join(folder, f"s{i}.sqlite")) as st:
            st.register(s)
            st.register_sweep("sweep", {"round": i})
            mine = st.claim(s, [(scheme, 0)], me).mine
            st.write(s, [rec])
        print("ok", i, len(mine), flush=True)
    except Exception as e:
        print("error", i, type(e).__name__, str(e).replace(chr(10), " "), flush=True)
"""
STUDY = Study(name="race", schemes=["zeros", "ones", "he_normal"], seeds=1, epochs=1,
              validate_names=False)


def _check_store(path: Path) -> None:
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("SELECT name FROM studies").fetchall() == [("race",)]
        assert db.execute("SELECT name FROM sweeps").fetchall() == [("sweep",)]
        assert db.execute("SELECT count(*) FROM claims").fetchone() == (0,)
    finally:
        db.close()
    with Store(path, create=False) as st:
        assert sorted(r.key for r in st.records(STUDY)) == sorted(STUDY.runs)


def test_processes_creating_one_new_store_at_once_all_succeed(tmp_path):
    rounds, n = 12, 3
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    procs = [subprocess.Popen([sys.executable, "-c", SCRIPT, str(tmp_path), str(k), str(rounds)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for k in range(n)]
    results: list[list[str]] = []
    try:
        for i in range(rounds):
            assert all(p.stdout.readline() == f"ready {i}\n" for p in procs)
            (tmp_path / f"go{i}").touch()
            results.append([p.stdout.readline().strip() for p in procs])
        for p in procs:
            p.communicate(timeout=60)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert [p.returncode for p in procs] == [0] * n
    bad = [r for r in results if any(not line.startswith("ok") for line in r)]
    assert results == [[f"ok {i} 1"] * n for i in range(rounds)], bad
    for i in range(rounds):
        _check_store(tmp_path / f"s{i}.sqlite")
