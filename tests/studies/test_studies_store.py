"""Store: one row per run, never duplicated or overwritten; clear errors before training."""

from __future__ import annotations

import math
import os
import sqlite3

import pytest

from initlab.errors import StoreError
from initlab.studies import RunRecord, Store, Study

S = Study(name="demo", dataset="moons", layers=(4,), schemes=("zeros", "he_normal"), seeds=2,
          epochs=3)


def record(scheme: str, seed: int, loss: float = 0.5, status: str = "trained") -> RunRecord:
    return RunRecord(scheme=scheme, seed=seed, status=status, epochs=(0, 1, 2),
                     history={"loss": [0.7, loss, math.nan]},
                     final={"loss": loss, "accuracy": math.nan}, ensemble="e1",
                     ensemble_size=2, seconds=1.5, started="t0", finished="t1",
                     initlab_version="0.1.0", numpy_version="2.4")


def test_write_and_read_back_with_nan(tmp_path):
    with Store(tmp_path / "s.sqlite") as st:
        st.register(S)
        assert st.write(S, [record("zeros", 0), record("he_normal", 1, 0.25)]) == 2
        recs = {r.key: r for r in st.records(S)}
        assert st.missing(S) == [("zeros", 1), ("he_normal", 0)]
    r = recs[("he_normal", 1)]
    assert r.final["loss"] == 0.25 and math.isnan(r.final["accuracy"])
    assert r.history["loss"][:2] == [0.7, 0.25] and math.isnan(r.history["loss"][2])
    assert r.epochs == (0, 1, 2) and r.id is not None and r.seconds == 1.5


def test_a_finished_run_is_never_duplicated_or_overwritten(tmp_path):
    path = tmp_path / "s.sqlite"
    with Store(path) as st:
        st.register(S)
        st.write(S, [record("zeros", 0, 0.5)])
        assert st.write(S, [record("zeros", 0, 0.9), record("zeros", 1)]) == 1
        rows = st.records(S)
    assert [(r.key, r.final["loss"]) for r in rows] == [(("zeros", 0), 0.5), (("zeros", 1), 0.5)]
    db = sqlite3.connect(path)
    with pytest.raises(sqlite3.IntegrityError):  # the UNIQUE constraint itself
        db.execute("INSERT INTO runs SELECT * FROM runs WHERE seed = 0")
    db.close()


def test_write_is_one_transaction(tmp_path):
    with Store(tmp_path / "s.sqlite") as st:
        st.register(S)
        with pytest.raises(StoreError):
            st.write(S, [record("zeros", 0), record("zeros", 1, status="exploded")])
        assert st.records(S) == []


def test_another_recipe_under_the_same_name_is_refused(tmp_path):
    path = tmp_path / "s.sqlite"
    with Store(path) as st:
        st.register(S)
    with Store(path) as st, pytest.raises(StoreError) as e:
        st.register(S.replace(epochs=7, lr=0.5))
    msg = str(e.value)
    assert "'demo'" in msg and "epochs 3 -> 7" in msg and "lr 0.01 -> 0.5" in msg
    assert S.config_hash in msg


def test_more_seeds_and_schemes_extend_the_same_study(tmp_path):
    path = tmp_path / "s.sqlite"
    with Store(path) as st:
        st.register(S)
        st.write(S, [record("zeros", 0)])
        bigger = S.replace(seeds=3, schemes=["zeros", "he_normal", "glorot_uniform"])
        st.register(bigger)
        assert len(st.missing(bigger)) == 8
        assert st.load_study("demo") == bigger


def test_unwritable_or_foreign_paths(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot open store"):
        Store(blocker / "s.sqlite")  # a parent that is a file
    with pytest.raises(StoreError, match="is a folder"):
        Store(tmp_path)
    with pytest.raises(StoreError, match="not an initlab store"):
        Store(blocker)
    assert blocker.read_text() == "x"  # a foreign file is left as it was
    if os.geteuid() != 0:  # root writes anywhere
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        with pytest.raises(StoreError):
            Store(ro / "s.sqlite")


def test_load_unknown_study_lists_those_present(tmp_path):
    with Store(tmp_path / "s.sqlite") as st:
        st.register(S)
        with pytest.raises(StoreError, match="did you mean 'demo'"):
            st.load_study("dem")


def test_wal_mode(tmp_path):
    with Store(tmp_path / "s.sqlite") as st:
        assert st._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_reading_results_never_creates_a_store(tmp_path):
    from initlab.studies.results import Results

    with pytest.raises(StoreError, match="no store at"):
        Results.from_store(tmp_path / "absent.sqlite")
    assert not (tmp_path / "absent.sqlite").exists()
    with Store(tmp_path / "two.sqlite") as st:
        st.register(S)
        st.register(S.replace(name="other"))
    with pytest.raises(StoreError, match="holds 2 studies"):
        Results.from_store(tmp_path / "two.sqlite")
    assert Results.from_store(tmp_path / "two.sqlite", "other").study.name == "other"
