"""The crash-safe results store: one SQLite row per finished run.

SQLite from the standard library, in WAL mode with full syncs, as Optuna stores its trials.
A study's runs are written one ensemble at a time, in one transaction: a process killed at
any moment (``kill -9``) leaves every finished ensemble on disk and nothing half-written.
``UNIQUE (study, scheme, seed)`` makes a duplicate impossible; a run is written once and never
overwritten, so a rerun reads which runs are missing and trains those only.

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
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from initlab.errors import StoreError
from initlab.studies.spec import Study

__all__ = ["Store", "RunRecord", "STATUSES", "now"]

STATUSES: tuple[str, ...] = ("trained", "diverged")
_SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS studies (
    name        TEXT PRIMARY KEY,
    config_hash TEXT NOT NULL,
    config      TEXT NOT NULL,
    created     TEXT NOT NULL,
    data        TEXT
);
CREATE TABLE IF NOT EXISTS runs (
    id              INTEGER PRIMARY KEY,
    study           TEXT NOT NULL REFERENCES studies(name),
    config_hash     TEXT NOT NULL,
    scheme          TEXT NOT NULL,
    seed            INTEGER NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('trained', 'diverged')),
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
);
"""
_RUN_COLUMNS = (
    "study", "config_hash", "scheme", "seed", "status", "diverged_epoch", "epochs", "history",
    "final", "probes", "weights", "ensemble", "ensemble_size", "seconds", "initlab_version",
    "numpy_version", "started", "finished",
)


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
    with np.load(io.BytesIO(blob), allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


@dataclass(frozen=True)
class RunRecord:
    """One finished run: a scheme and a seed trained with the study's recipe.

    Attributes:
        scheme: the init spec as the study names it.
        seed: the seed that drew the weights.
        status: ``"trained"`` or ``"diverged"`` (the loss turned non-finite).
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
            self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        except (OSError, sqlite3.Error) as e:
            raise StoreError(f"cannot open store {self.path!r}: {e}") from None
        try:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > _SCHEMA_VERSION:
                raise StoreError(
                    f"store {self.path!r} has schema version {version}; this initlab reads "
                    f"up to {_SCHEMA_VERSION}: upgrade initlab"
                )
            if not memory:
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            with self._transaction():
                for stmt in _SCHEMA.split(";"):
                    if stmt.strip():
                        self._db.execute(stmt)
                self._db.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
        except sqlite3.DatabaseError as e:
            self._db.close()
            raise StoreError(
                f"cannot use {self.path!r} as an initlab store (not writable, or not an "
                f"initlab SQLite file): {e}"
            ) from None
        except StoreError:
            self._db.close()
            raise

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
    def register(self, study: Study) -> None:
        """Record ``study`` in the store, or check it matches the recipe stored under its name.

        Raises:
            StoreError: the store holds a study of this name with another recipe; the message
                lists the fields that differ.
        """
        config = json.dumps(study.to_dict(), sort_keys=True)
        try:
            with self._transaction():
                row = self._db.execute(
                    "SELECT config_hash, config FROM studies WHERE name = ?", (study.name,)
                ).fetchone()
                if row is None:
                    self._db.execute(
                        "INSERT INTO studies (name, config_hash, config, created) "
                        "VALUES (?, ?, ?, ?)",
                        (study.name, study.config_hash, config, now()),
                    )
                elif row[0] != study.config_hash:
                    raise StoreError(self._mismatch(study, row[0], json.loads(row[1])))
                else:  # same recipe: keep the latest grid (schemes and seeds may have grown)
                    self._db.execute(
                        "UPDATE studies SET config = ? WHERE name = ?", (config, study.name)
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
        row = self._db.execute("SELECT data FROM studies WHERE name = ?", (name,)).fetchone()
        return None if row is None or row[0] is None else json.loads(row[0])

    def study_names(self) -> list[str]:
        """The names of the studies in this store, sorted."""
        return [r[0] for r in self._db.execute("SELECT name FROM studies ORDER BY name")]

    def load_study(self, name: str, validate_names: bool = False) -> Study:
        """Return the study stored under ``name`` (its latest grid).

        Raises:
            StoreError: no study of that name (the message lists those present).
        """
        row = self._db.execute("SELECT config FROM studies WHERE name = ?", (name,)).fetchone()
        if row is None:
            from initlab.errors import unknown

            raise unknown(f"study in store {self.path!r}", name, self.study_names(), StoreError)
        return Study.from_dict(json.loads(row[0]), validate_names=validate_names)

    # ------------------------------------------------------------------ runs
    def done(self, study: Study) -> set[tuple[str, int]]:
        """The ``(scheme, seed)`` pairs of ``study`` already in the store."""
        rows = self._db.execute(
            "SELECT scheme, seed FROM runs WHERE study = ? AND config_hash = ?",
            (study.name, study.config_hash),
        )
        return {(s, int(seed)) for s, seed in rows}

    def missing(self, study: Study) -> list[tuple[str, int]]:
        """The runs of ``study``'s grid not yet in the store, in grid order."""
        have = self.done(study)
        return [r for r in study.runs if r not in have]

    def write(self, study: Study, records: Sequence[RunRecord]) -> int:
        """Write finished runs in one transaction; return how many were new.

        A run already present (another process finished it first) is left as it is: a
        finished run is never overwritten or duplicated.

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
                r.numpy_version, r.started, r.finished,
            ))
        sql = (
            f"INSERT OR IGNORE INTO runs ({', '.join(_RUN_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(_RUN_COLUMNS))})"
        )
        try:
            with self._transaction():
                before = self._db.total_changes
                self._db.executemany(sql, rows)
                return self._db.total_changes - before
        except sqlite3.Error as e:
            raise StoreError(f"cannot write runs to store {self.path!r}: {e}") from None

    def records(self, study: Study | str, weights: bool = False) -> list[RunRecord]:
        """Every stored run of a study (by object or name), in the order they were written.

        Args:
            study: the study or its name.
            weights: also read the trained parameters, where they were kept.
        """
        if isinstance(study, Study):
            where, args = "study = ? AND config_hash = ?", (study.name, study.config_hash)
        else:
            where, args = "study = ?", (study,)
        cur = self._db.execute(
            "SELECT id, scheme, seed, status, diverged_epoch, epochs, history, final, probes, "
            f"{'weights' if weights else 'NULL'}, ensemble, ensemble_size, seconds, "
            f"initlab_version, numpy_version, started, finished FROM runs WHERE {where} "
            "ORDER BY id",
            args,
        )
        out = []
        for (rid, scheme, seed, status, dep, epochs, hist, final, probes, blob, ens, k, secs,
             iv, nv, started, finished) in cur:
            out.append(RunRecord(
                scheme=scheme, seed=int(seed), status=status,
                diverged_epoch=None if dep is None else int(dep),
                epochs=tuple(json.loads(epochs)),
                history={m: _nan_if_none(v) for m, v in json.loads(hist).items()},
                final={m: math.nan if v is None else float(v)
                       for m, v in json.loads(final).items()},
                probes=None if probes is None else json.loads(probes),
                weights=None if blob is None else _unpack(blob),
                ensemble=ens, ensemble_size=int(k), seconds=float(secs),
                initlab_version=iv, numpy_version=nv, started=started, finished=finished,
                id=int(rid),
            ))
        return out
