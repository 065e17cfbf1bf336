"""The crash-safe results store: one SQLite row per finished run.

SQLite from the standard library, in WAL mode with full syncs, as Optuna stores its trials.
A study's runs are written one ensemble at a time, in one transaction: a process killed at
any moment (``kill -9``) leaves every finished ensemble on disk and nothing half-written.
``UNIQUE (study, scheme, seed)`` makes a duplicate impossible; a finished run is written once
and never overwritten, so a rerun reads which runs are missing and trains those only. A run
whose training raised is stored as ``failed`` with its error; it counts as missing, so the next
run retries it (and a success then replaces the failure).

A sweep (:mod:`initlab.studies.sweep`) keeps all its grid points in one store: each point's
recipe is a study named after the sweep and the recipe's hash, so ``(study, scheme, seed)``
is the canonical grid point and seed.

Several processes may share one store: :meth:`Store.claim` marks the runs a process is about
to train, and another process skips runs claimed by a live owner (a process still running on
this host, or one whose heartbeat is recent), then waits for them. Claims of a process that
died are taken over.

Schema versions: 1 (initlab 0.1.0's studies) and 2 (failed runs and their error, sweeps,
claims). A version-1 store is migrated in place, in one transaction, when it is opened.

A store keeps one recipe per study name (see :attr:`Study.config_hash`): opening it for a
study of the same name trained differently is a :class:`~initlab.errors.StoreError` that says
which fields differ. Schemes and seeds may grow: new runs join the same study.

Example:
    >>> from initlab.studies.spec import Study
    >>> s = Study(schemes=["zeros"], seeds=1, epochs=1, validate_names=False)
    >>> with Store(":memory:") as st:
    ...     st.register(s)
    ...     st.missing(s)
    [('zeros', 0)]
"""

from __future__ import annotations

import io
import json
import math
import os
import socket
import sqlite3
import time
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from initlab.errors import InitLabError, StoreError
from initlab.studies.spec import Study

__all__ = ["Store", "RunRecord", "ClaimResult", "STATUSES", "now", "SCHEMA_VERSION",
           "CLAIM_TIMEOUT"]

STATUSES: tuple[str, ...] = ("trained", "diverged", "failed")
"""A stored run's status: trained, diverged (the loss turned non-finite) or failed (raised)."""
SCHEMA_VERSION = 2
"""The schema this initlab writes (``PRAGMA user_version``); version 1 is migrated on open."""
_RUNS_TABLE = """
CREATE TABLE IF NOT EXISTS {name} (
    id              INTEGER PRIMARY KEY,
    study           TEXT NOT NULL REFERENCES studies(name),
    config_hash     TEXT NOT NULL,
    scheme          TEXT NOT NULL,
    seed            INTEGER NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('trained', 'diverged', 'failed')),
    error           TEXT,
    diverged_epoch  INTEGER,
    epochs          TEXT NOT NULL,
    history         TEXT NOT NULL,
    final           TEXT NOT NULL,
    probes          TEXT,
    weights         BLOB,
    ensemble        TEXT NOT NULL,
    ensemble_size   INTEGER NOT NULL,
    seconds         REAL NOT NULL,
    initlab_version TEXT NOT NULL,
    numpy_version   TEXT NOT NULL,
    started         TEXT NOT NULL,
    finished        TEXT NOT NULL,
    UNIQUE (study, scheme, seed)
)"""
_SCHEMA = """
CREATE TABLE IF NOT EXISTS studies (
    name        TEXT PRIMARY KEY,
    config_hash TEXT NOT NULL,
    config      TEXT NOT NULL,
    created     TEXT NOT NULL,
    data        TEXT,
    sweep       TEXT,
    point       TEXT
);
""" + _RUNS_TABLE.format(name="runs") + """;
CREATE TABLE IF NOT EXISTS sweeps (
    name    TEXT PRIMARY KEY,
    config  TEXT NOT NULL,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS claims (
    study     TEXT NOT NULL,
    scheme    TEXT NOT NULL,
    seed      INTEGER NOT NULL,
    owner     TEXT NOT NULL,
    host      TEXT NOT NULL,
    pid       INTEGER NOT NULL,
    heartbeat REAL NOT NULL,
    PRIMARY KEY (study, scheme, seed)
);
CREATE INDEX IF NOT EXISTS studies_by_sweep ON studies (sweep);
"""
_V1_RUN_COLUMNS = (
    "study", "config_hash", "scheme", "seed", "status", "diverged_epoch", "epochs", "history",
    "final", "probes", "weights", "ensemble", "ensemble_size", "seconds", "initlab_version",
    "numpy_version", "started", "finished",
)
_RUN_COLUMNS = (*_V1_RUN_COLUMNS, "error")
# The tables (and their columns) that make a SQLite file an initlab store, per version.
_TABLES = {
    1: {"studies": {"name", "config_hash", "config", "created", "data"},
        "runs": {"id", *_V1_RUN_COLUMNS}},
    2: {"studies": {"name", "config_hash", "config", "created", "data", "sweep", "point"},
        "runs": {"id", *_RUN_COLUMNS}, "sweeps": {"name", "config", "created"},
        "claims": {"study", "scheme", "seed", "owner", "host", "pid", "heartbeat"}},
}
_BUSY_TIMEOUT = 30.0  # seconds a process waits for another's write lock
CLAIM_TIMEOUT = 600.0
"""Seconds after its last heartbeat that a claim by a process on another host expires (a
claim by a process on this host lasts exactly as long as that process)."""


def now() -> str:
    """The current UTC time as ISO 8601 text with microseconds (how the store keeps time)."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _finite_or_none(values: Iterable[float]) -> list[float | None]:
    return [float(v) if v is not None and math.isfinite(v) else None for v in values]


def _nan_if_none(values: Iterable[float | None]) -> list[float]:
    return [math.nan if v is None else float(v) for v in values]


def _pack(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _unpack(blob: bytes) -> dict[str, np.ndarray]:
    """The arrays of a stored npz blob.

    Raises:
        StoreError: the blob is not a whole npz archive (truncated or damaged).
    """
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError, TypeError) as e:
        raise StoreError(f"stored weights are damaged ({type(e).__name__}: {e})") from None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - alive, owned by another user
        return True
    return True


@dataclass(frozen=True)
class RunRecord:
    """One finished run: a scheme and a seed trained with the study's recipe.

    Attributes:
        scheme: the init spec as the study names it.
        seed: the seed that drew the weights.
        status: ``"trained"``, ``"diverged"`` (the loss turned non-finite) or ``"failed"``
            (training raised: ``error`` says what; the run counts as missing).
        epochs: the logged epoch numbers (0-based).
        history: per metric (loss, accuracy, val_loss, val_accuracy, time), one value per
            logged epoch; NaN where there is none (after divergence, without validation data).
        final: the metrics after training (loss, accuracy on the training set; val_loss,
            val_accuracy on the test set); NaN for a diverged run.
        diverged_epoch: the epoch the loss turned non-finite, or None.
        seconds: wall time of the ensemble that trained this run.
        ensemble: id of that ensemble; ensemble_size: its K.
        probes: diagnostics recorded during training (JSON-ready), or None.
        weights: the trained parameters (``W0``, ``b0``, ``W1``, ... of this model) when the
            study was run with ``keep_weights=True`` and they were read back; else None.
        started, finished: UTC timestamps of that ensemble's training.
        initlab_version, numpy_version: the versions that trained it.
        error: for a failed run, the exception as ``"Type: message"``; else None.
        id: the row id in the store (None before it is written).
    """

    scheme: str
    seed: int
    status: str
    epochs: tuple[int, ...]
    history: dict[str, list[float]]
    final: dict[str, float]
    diverged_epoch: int | None = None
    seconds: float = 0.0
    ensemble: str = ""
    ensemble_size: int = 1
    probes: Any = None
    weights: dict[str, np.ndarray] | None = field(default=None, compare=False, repr=False)
    started: str = ""
    finished: str = ""
    initlab_version: str = ""
    numpy_version: str = ""
    error: str | None = None
    id: int | None = field(default=None, compare=False)

    @property
    def key(self) -> tuple[str, int]:
        """``(scheme, seed)``, the run's place in the grid."""
        return (self.scheme, self.seed)


class Store:
    """A SQLite file holding the runs of one or more studies.

    Args:
        path: the database file (created with its parent folder), or ``":memory:"``.
        create: create the file if it does not exist (False: a missing file is an error,
            for reading results).

    Raises:
        StoreError: the path cannot be created or written, is not an initlab store, or
            does not exist and ``create`` is False.

    Example:
        >>> with Store(":memory:") as st:
        ...     st.study_names()
        []
    """

    def __init__(self, path: str | os.PathLike[str], create: bool = True) -> None:
        self.path = str(path)
        memory = self.path == ":memory:"
        try:
            if not memory:
                p = Path(self.path)
                if not create and not p.exists():
                    raise StoreError(f"no store at {self.path!r}: run the study first")
                if p.is_dir():
                    raise StoreError(f"store path {self.path!r} is a folder; give a file path")
                if p.is_file() and p.stat().st_size > 0:
                    with p.open("rb") as fh:
                        if fh.read(16) != b"SQLite format 3\x00":
                            raise StoreError(
                                f"{self.path!r} is not an initlab store (not a SQLite file); "
                                "give a new path or the store a study wrote"
                            )
                p.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT,
                                       isolation_level=None)
        except (OSError, sqlite3.Error) as e:
            raise StoreError(f"cannot open store {self.path!r}: {e}") from None
        try:
            # One IMMEDIATE transaction reads the version, checks the tables and creates or
            # migrates the schema: processes opening one new store at once queue on its
            # write lock (busy timeout above), and the second finds the first's schema.
            with self._transaction():
                version = self._db.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise StoreError(
                        f"store {self.path!r} has schema version {version}; this initlab "
                        f"reads up to {SCHEMA_VERSION}: upgrade initlab"
                    )
                self._check_tables(version)
                if version == 1:
                    self._migrate_v1()
                for stmt in _SCHEMA.split(";"):
                    if stmt.strip():
                        self._db.execute(stmt)
                if version != SCHEMA_VERSION:
                    self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            if not memory:
                self._wal()
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
        except sqlite3.DatabaseError as e:
            self._db.close()
            raise StoreError(
                f"cannot use {self.path!r} as an initlab store (not writable, or not an "
                f"initlab SQLite file): {e}"
            ) from None
        except StoreError:
            self._db.close()
            raise

    def _check_tables(self, version: int) -> None:
        """Refuse a SQLite file that is not an initlab store of ``version`` (0: new)."""
        tables = {
            name: {c[1] for c in self._db.execute(f"PRAGMA table_info('{name}')")}
            for (name,) in self._db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%'")
        }
        if version == 0:
            if tables:
                raise StoreError(
                    f"{self.path!r} is a SQLite file but not an initlab store (it holds "
                    f"tables {', '.join(sorted(tables))}); give a new path or a study's store"
                )
            return
        for table, columns in _TABLES[version].items():
            lacking = columns - tables.get(table, set())
            if lacking:
                raise StoreError(
                    f"{self.path!r} is not an initlab store of schema {version} (table "
                    f"{table!r} lacks {', '.join(sorted(lacking))}); give a new path or a "
                    "study's store"
                )

    def _migrate_v1(self) -> None:
        """Schema 1 -> 2 (in the caller's transaction): runs may be ``failed`` with an
        ``error``; studies may belong to a sweep; the sweeps and claims tables (created
        next)."""
        cols = ", ".join(_V1_RUN_COLUMNS)
        # Runs inside __init__'s transaction; foreign keys are still off on this connection
        # (they are turned on after), so the runs table can be rebuilt.
        self._db.execute("ALTER TABLE studies ADD COLUMN sweep TEXT")
        self._db.execute("ALTER TABLE studies ADD COLUMN point TEXT")
        self._db.execute(_RUNS_TABLE.format(name="runs_v2"))
        self._db.execute(
            f"INSERT INTO runs_v2 (id, {cols}) SELECT id, {cols} FROM runs ORDER BY id")
        self._db.execute("DROP TABLE runs")
        self._db.execute("ALTER TABLE runs_v2 RENAME TO runs")

    def _wal(self) -> None:
        """Switch to WAL mode (once per file; a no-op after). The switch needs the file to
        itself, and SQLite answers 'locked' at once rather than waiting while another
        process holds it: retry for as long as the busy timeout."""
        deadline = time.monotonic() + _BUSY_TIMEOUT
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        """Run a query and fetch every row; a damaged database is a StoreError."""
        try:
            return self._db.execute(sql, args).fetchall()
        except sqlite3.Error as e:
            raise StoreError(f"cannot read store {self.path!r}: {e}") from None

    def _json(self, text: str, what: str) -> Any:
        try:
            return json.loads(text)
        except (TypeError, ValueError) as e:
            raise StoreError(
                f"store {self.path!r} is damaged: {what} is not valid JSON ({e})"
            ) from None

    # ------------------------------------------------------------------ plumbing
    def _transaction(self) -> Any:
        db = self._db

        class _Tx:
            def __enter__(self) -> None:
                db.execute("BEGIN IMMEDIATE")

            def __exit__(self, exc_type: Any, *rest: Any) -> None:
                db.execute("COMMIT" if exc_type is None else "ROLLBACK")

        return _Tx()

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.path!r})"

    # ------------------------------------------------------------------ studies
    def register(
        self, study: Study, *, sweep: str | None = None, point: dict[str, Any] | None = None
    ) -> None:
        """Record ``study`` in the store, or check it matches the recipe stored under its name.

        Args:
            study: the study.
            sweep: the sweep it is a grid point of (None: a study of its own).
            point: the sweep's axis values at this point (JSON-ready), kept for the tables.

        Raises:
            StoreError: the store holds a study of this name with another recipe; the message
                lists the fields that differ.
        """
        config = json.dumps(study.to_dict(), sort_keys=True)
        point_json = None if point is None else json.dumps(point, sort_keys=True)
        try:
            with self._transaction():
                row = self._db.execute(
                    "SELECT config_hash, config FROM studies WHERE name = ?", (study.name,)
                ).fetchone()
                if row is None:
                    self._db.execute(
                        "INSERT INTO studies (name, config_hash, config, created, sweep, point) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        (study.name, study.config_hash, config, now(), sweep, point_json),
                    )
                elif row[0] != study.config_hash:
                    raise StoreError(self._mismatch(
                        study, row[0], self._json(row[1], f"study {study.name!r}")))
                else:  # same recipe: keep the latest grid (schemes and seeds may have grown)
                    self._db.execute(
                        "UPDATE studies SET config = ?, sweep = coalesce(?, sweep), "
                        "point = coalesce(?, point) WHERE name = ?",
                        (config, sweep, point_json, study.name),
                    )
        except sqlite3.Error as e:
            raise StoreError(f"cannot write to store {self.path!r}: {e}") from None

    def _mismatch(self, study: Study, stored_hash: str, stored: dict[str, Any]) -> str:
        mine = study.recipe()
        diffs = [
            f"{k} {stored.get(k)!r} -> {mine[k]!r}"
            for k in mine
            if stored.get(k) != mine[k]
        ]
        what = "; ".join(diffs) if diffs else "fields of another initlab version"
        return (
            f"store {self.path!r} already holds study {study.name!r} trained with another "
            f"config (hash {stored_hash}, this study {study.config_hash}): {what}. Use another "
            f"store path (--out) or another study name"
        )

    def set_data_provenance(self, study: Study, provenance: dict[str, Any]) -> None:
        """Record where the study's data came from (the Dataset's provenance: source, files
        and their sha256, split, options), as JSON, in the study's row."""
        try:
            with self._transaction():
                self._db.execute("UPDATE studies SET data = ? WHERE name = ?",
                                 (json.dumps(provenance, default=str), study.name))
        except sqlite3.Error as e:
            raise StoreError(f"cannot write to store {self.path!r}: {e}") from None

    def data_provenance(self, study: Study | str) -> dict[str, Any] | None:
        """The data provenance recorded for a study, or None."""
        name = study.name if isinstance(study, Study) else study
        rows = self._read("SELECT data FROM studies WHERE name = ?", (name,))
        if not rows or rows[0][0] is None:
            return None
        return self._json(rows[0][0], f"the data provenance of study {name!r}")

    def study_names(self, sweep: str | None = None) -> list[str]:
        """The names of the studies in this store (of one sweep, if given), sorted."""
        if sweep is None:
            return [r[0] for r in self._read("SELECT name FROM studies ORDER BY name")]
        return [r[0] for r in self._read(
            "SELECT name FROM studies WHERE sweep = ? ORDER BY name", (sweep,))]

    def load_study(self, name: str, validate_names: bool = False) -> Study:
        """Return the study stored under ``name`` (its latest grid).

        Raises:
            StoreError: no study of that name (the message lists those present), or its
                stored config is damaged.
        """
        rows = self._read("SELECT config FROM studies WHERE name = ?", (name,))
        if not rows:
            from initlab.errors import unknown

            raise unknown(f"study in store {self.path!r}", name, self.study_names(), StoreError)
        data = self._json(rows[0][0], f"the config of study {name!r}")
        try:
            return Study.from_dict(data, validate_names=validate_names)
        except InitLabError as e:
            raise StoreError(f"store {self.path!r}: study {name!r} is damaged: {e}") from None

    # ------------------------------------------------------------------ sweeps
    def register_sweep(self, name: str, config: dict[str, Any]) -> None:
        """Record (or update) a sweep's config, JSON-ready, under its name."""
        text = json.dumps(config, sort_keys=True)
        try:
            with self._transaction():
                self._db.execute(
                    "INSERT INTO sweeps (name, config, created) VALUES (?, ?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET config = excluded.config",
                    (name, text, now()),
                )
        except sqlite3.Error as e:
            raise StoreError(f"cannot write to store {self.path!r}: {e}") from None

    def sweep_names(self) -> list[str]:
        """The names of the sweeps in this store, sorted."""
        return [r[0] for r in self._read("SELECT name FROM sweeps ORDER BY name")]

    def sweep_config(self, name: str) -> dict[str, Any]:
        """The config a sweep was last run with.

        Raises:
            StoreError: no sweep of that name, or its config is damaged.
        """
        rows = self._read("SELECT config FROM sweeps WHERE name = ?", (name,))
        if not rows:
            from initlab.errors import unknown

            raise unknown(f"sweep in store {self.path!r}", name, self.sweep_names(), StoreError)
        return self._json(rows[0][0], f"the config of sweep {name!r}")

    def points(self, sweep: str) -> dict[str, dict[str, Any]]:
        """Study name -> its axis values, for every grid point of ``sweep`` in the store."""
        return {name: self._json(point or "{}", f"the grid point of study {name!r}")
                for name, point in self._read(
                    "SELECT name, point FROM studies WHERE sweep = ? ORDER BY name", (sweep,))}

    # ------------------------------------------------------------------ runs
    def done(self, study: Study) -> set[tuple[str, int]]:
        """The ``(scheme, seed)`` pairs of ``study`` in the store, trained or diverged (a
        failed run is not done: it is retried)."""
        rows = self._read(
            "SELECT scheme, seed FROM runs WHERE study = ? AND config_hash = ? "
            "AND status != 'failed'",
            (study.name, study.config_hash),
        )
        return {(s, int(seed)) for s, seed in rows}

    def missing(self, study: Study) -> list[tuple[str, int]]:
        """The runs of ``study``'s grid not yet in the store (or failed), in grid order."""
        have = self.done(study)
        return [r for r in study.runs if r not in have]

    def write(self, study: Study, records: Sequence[RunRecord]) -> int:
        """Write finished runs in one transaction; return how many were new.

        A run already trained (another process finished it first) is left as it is: a
        finished run is never overwritten or duplicated. A stored failure is replaced by the
        new record (a retry). The writer's claims on these runs are released.

        Raises:
            StoreError: the database cannot be written (nothing of ``records`` is then kept).
        """
        rows = []
        for r in records:
            if r.status not in STATUSES:
                raise StoreError(f"run status {r.status!r}; allowed: {', '.join(STATUSES)}")
            rows.append((
                study.name, study.config_hash, r.scheme, int(r.seed), r.status,
                r.diverged_epoch, json.dumps([int(e) for e in r.epochs]),
                json.dumps({k: _finite_or_none(v) for k, v in r.history.items()}),
                json.dumps(dict(zip(r.final, _finite_or_none(r.final.values()), strict=True))),
                None if r.probes is None else json.dumps(r.probes),
                None if r.weights is None else _pack(r.weights),
                r.ensemble, int(r.ensemble_size), float(r.seconds), r.initlab_version,
                r.numpy_version, r.started, r.finished, r.error,
            ))
        updates = ", ".join(f"{c} = excluded.{c}" for c in _RUN_COLUMNS[4:])
        sql = (
            f"INSERT INTO runs ({', '.join(_RUN_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(_RUN_COLUMNS))}) "
            f"ON CONFLICT (study, scheme, seed) DO UPDATE SET {updates} "
            "WHERE runs.status = 'failed'"
        )
        try:
            with self._transaction():
                before = self._db.total_changes
                self._db.executemany(sql, rows)
                changed = self._db.total_changes - before
                self._db.executemany(
                    "DELETE FROM claims WHERE study = ? AND scheme = ? AND seed = ?",
                    [(study.name, r.scheme, int(r.seed)) for r in records])
                return changed
        except sqlite3.Error as e:
            raise StoreError(f"cannot write runs to store {self.path!r}: {e}") from None

    def records(
        self, study: Study | str, weights: bool = False, failed: bool = False
    ) -> list[RunRecord]:
        """Every stored run of a study (by object or name), in the order they were written.

        Args:
            study: the study or its name.
            weights: also read the trained parameters, where they were kept.
            failed: also return runs stored as failed (by default only trained and diverged).

        Raises:
            StoreError: a row is damaged (its JSON or its weights do not read back).
        """
        if isinstance(study, Study):
            where, args = "study = ? AND config_hash = ?", (study.name, study.config_hash)
        else:
            where, args = "study = ?", (study,)
        if not failed:
            where += " AND status != 'failed'"
        rows = self._read(
            "SELECT id, scheme, seed, status, diverged_epoch, epochs, history, final, probes, "
            f"{'weights' if weights else 'NULL'}, ensemble, ensemble_size, seconds, "
            f"initlab_version, numpy_version, started, finished, error FROM runs WHERE {where} "
            "ORDER BY id",
            args,
        )
        return [self._record(row) for row in rows]

    def _record(self, row: Sequence[Any]) -> RunRecord:
        (rid, scheme, seed, status, dep, epochs, hist, final, probes, blob, ens, k, secs,
         iv, nv, started, finished, error) = row
        what = f"run {rid} ({scheme!r}, seed {seed})"
        try:
            weights = None if blob is None else _unpack(blob)
            return RunRecord(
                scheme=scheme, seed=int(seed), status=status,
                diverged_epoch=None if dep is None else int(dep),
                epochs=tuple(int(e) for e in self._json(epochs, f"{what}: epochs")),
                history={m: _nan_if_none(v)
                         for m, v in self._json(hist, f"{what}: history").items()},
                final={m: math.nan if v is None else float(v)
                       for m, v in self._json(final, f"{what}: final").items()},
                probes=None if probes is None else self._json(probes, f"{what}: probes"),
                weights=weights,
                ensemble=ens, ensemble_size=int(k), seconds=float(secs),
                initlab_version=iv, numpy_version=nv, started=started, finished=finished,
                error=error, id=int(rid),
            )
        except StoreError as e:
            if str(e).startswith("store "):
                raise
            raise StoreError(f"store {self.path!r} is damaged: {what}: {e}") from None
        except (AttributeError, TypeError, ValueError) as e:  # JSON of the wrong shape
            raise StoreError(f"store {self.path!r} is damaged: {what}: {e}") from None

    # ------------------------------------------------------------------ claims
    def claim(self, study: Study, runs: Sequence[tuple[str, int]], owner: str) -> ClaimResult:
        """Claim the runs nobody else is training, in one transaction.

        A claim held by a live process (on this host: its pid runs; elsewhere: a heartbeat
        within :data:`CLAIM_TIMEOUT` seconds) is respected; a dead owner's is taken over.
        Runs already done are neither claimed nor returned.

        Returns:
            A :class:`ClaimResult`: ``mine`` (now claimed by ``owner``) and ``others``
            (claimed by live processes, with their pids).

        Example:
            >>> s = Study(schemes=["zeros"], seeds=2, epochs=1, validate_names=False)
            >>> with Store(":memory:") as st:
            ...     st.register(s)
            ...     st.claim(s, s.runs, "a").mine, st.claim(s, s.runs, "b").mine
            ([('zeros', 0), ('zeros', 1)], [])
        """
        host, pid, t = socket.gethostname(), os.getpid(), time.time()
        mine: list[tuple[str, int]] = []
        others: dict[tuple[str, int], int] = {}
        try:
            with self._transaction():
                done = self.done(study)
                held = {
                    (sc, int(sd)): (o, h, int(p), float(hb))
                    for sc, sd, o, h, p, hb in self._db.execute(
                        "SELECT scheme, seed, owner, host, pid, heartbeat FROM claims "
                        "WHERE study = ?", (study.name,))
                }
                for run in runs:
                    if run in done:
                        continue
                    if run in held:
                        o, h, p, hb = held[run]
                        live = _pid_alive(p) if h == host else t - hb < CLAIM_TIMEOUT
                        if o != owner and live:
                            others[run] = p
                            continue
                    self._db.execute(
                        "INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (study.name, run[0], int(run[1]), owner, host, pid, t))
                    mine.append(run)
        except sqlite3.Error as e:
            raise StoreError(f"cannot write to store {self.path!r}: {e}") from None
        return ClaimResult(mine, others)

    def release(self, owner: str) -> None:
        """Drop every claim ``owner`` holds (its runs were written, or it stops)."""
        try:
            with self._transaction():
                self._db.execute("DELETE FROM claims WHERE owner = ?", (owner,))
        except sqlite3.Error as e:
            raise StoreError(f"cannot write to store {self.path!r}: {e}") from None

    def heartbeat(self, owner: str) -> None:
        """Mark ``owner``'s claims as still alive (for claims read from other hosts)."""
        try:
            with self._transaction():
                self._db.execute("UPDATE claims SET heartbeat = ? WHERE owner = ?",
                                 (time.time(), owner))
        except sqlite3.Error as e:
            raise StoreError(f"cannot write to store {self.path!r}: {e}") from None


@dataclass(frozen=True)
class ClaimResult:
    """What :meth:`Store.claim` got: ``mine`` (claimed now) and ``others`` (run -> the pid of
    the live process that holds it)."""

    mine: list[tuple[str, int]]
    others: dict[tuple[str, int], int]
