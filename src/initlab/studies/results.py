"""A study's results: per scheme, mean +- std and a 95 % interval over seeds, and curves.

Built from the store's rows (:class:`~initlab.studies.store.RunRecord`), without pandas.
The interval is the bootstrap percentile interval of :mod:`initlab.studies.stats` (it stays
inside what the metric can be). Diverged runs (a non-finite loss) and unstable runs (final
loss above :data:`~initlab.studies.stats.UNSTABLE_FACTOR` times the first logged loss) are
counted per scheme and left out of every mean, std, interval and curve band, never averaged
in silently; the table shows how many there were.

Example:
    >>> s = mean_ci([0.90, 0.92, 0.94])
    >>> round(s.mean, 2), round(s.std, 2), s.n, s.method
    (0.92, 0.02, 3, 'bootstrap percentile')
"""

from __future__ import annotations

import csv
import json
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from initlab.studies.spec import Study
from initlab.studies.stats import (
    BOOTSTRAP_RESAMPLES,
    BOOTSTRAP_SEED,
    INTERVAL_METHOD,
    UNSTABLE_FACTOR,
    Stat,
    interval_note,
    json_float,
    mean_ci,
    unstable,
)
from initlab.studies.store import RunRecord, Store

__all__ = ["Results", "Stat", "Curve", "SchemeSummary", "mean_ci", "FINAL_METRICS",
           "outcome", "is_unstable", "dataframe"]


def dataframe(rows: list[dict[str, Any]]) -> Any:
    """``rows`` (one dict per row) as a pandas DataFrame; pandas is imported only here.

    Raises:
        ConfigError: pandas is not installed.

    Example:
        >>> dataframe([{"scheme": "he_normal", "seed": 0}]).shape
        (1, 2)
    """
    try:
        import pandas as pd
    except ImportError:
        from initlab.errors import ConfigError

        raise ConfigError("to_pandas needs pandas; pip install pandas") from None
    return pd.DataFrame(rows)

FINAL_METRICS: tuple[str, ...] = ("loss", "accuracy", "val_loss", "val_accuracy")
"""The final metrics of a run: train loss and accuracy, test (validation) loss and accuracy."""


@dataclass(frozen=True)
class Curve:
    """One metric of one scheme over the logged epochs: mean and std over its trained runs.

    Attributes:
        epochs: (n_logged,) epoch numbers.
        mean, std: (n_logged,) over the runs that did not diverge (std with ddof = 1).
        low, high: mean -+ std, the band plots draw.
        runs: (n_runs, n_logged) the individual curves the band is made of.
    """

    epochs: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    runs: np.ndarray

    @property
    def low(self) -> np.ndarray:
        """mean - std."""
        return self.mean - self.std

    @property
    def high(self) -> np.ndarray:
        """mean + std."""
        return self.mean + self.std


@dataclass(frozen=True)
class SchemeSummary:
    """One scheme's row: how many runs, how many diverged or were unstable, each metric's Stat.

    Attributes:
        scheme: the init spec.
        n_runs: runs in the store for this scheme (within the study's seeds).
        n_diverged: how many of them diverged (left out of ``metrics``).
        metrics: final metric name -> :class:`Stat` over the runs that trained (neither
            diverged nor unstable).
        seconds: mean wall time of the ensembles that trained them.
        n_unstable: how many blew up but stayed finite (left out of ``metrics`` too).
    """

    scheme: str
    n_runs: int
    n_diverged: int
    metrics: dict[str, Stat]
    seconds: float
    n_unstable: int = 0

    @property
    def n_trained(self) -> int:
        """Runs that neither diverged nor were unstable (the ones ``metrics`` summarize)."""
        return self.n_runs - self.n_diverged - self.n_unstable


def is_unstable(run: RunRecord, factor: float = UNSTABLE_FACTOR) -> bool:
    """True for a run that did not diverge but whose final training loss is more than
    ``factor`` times its loss at the first logged epoch (read from the stored history).

    Example:
        >>> r = RunRecord("a", 0, "trained", (0, 1), {"loss": [0.7, 9.0]}, {"loss": 7.6e10})
        >>> is_unstable(r), outcome(r)
        (True, 'unstable')
    """
    if run.status == "diverged":
        return False
    first = run.history.get("loss") or [math.nan]
    return unstable(first[0], run.final.get("loss", math.nan), factor)


def outcome(run: RunRecord) -> str:
    """``"diverged"``, ``"unstable"`` (see :func:`is_unstable`) or ``"trained"``."""
    if run.status == "diverged":
        return "diverged"
    return "unstable" if is_unstable(run) else "trained"


# How the table names the final metrics (the test set is the data's held-out part).
_LABELS = {"loss": "train_loss", "accuracy": "train_acc", "val_loss": "test_loss",
           "val_accuracy": "test_acc"}


class Results:
    """What a study produced: its runs, per-scheme summaries, curves, table and exports.

    Args:
        study: the study (its schemes and seeds select the runs shown).
        records: the runs, as the store returns them.
        level: the confidence level of the intervals.
        provenance: where the data came from (the Dataset's provenance), if recorded.

    Example:
        >>> from initlab.studies.store import RunRecord
        >>> s = Study(schemes=["a"], seeds=2, epochs=1, validate_names=False)
        >>> recs = [RunRecord("a", k, "trained", (0,), {"loss": [0.5]},
        ...                   {"accuracy": 0.8 + k / 10}) for k in range(2)]
        >>> round(Results(s, recs).summary()[0].metrics["accuracy"].mean, 2)
        0.85
    """

    def __init__(
        self,
        study: Study,
        records: Sequence[RunRecord],
        level: float = 0.95,
        provenance: dict[str, Any] | None = None,
    ) -> None:
        self.study = study
        self.level = level
        self.provenance = provenance
        grid = set(study.runs)
        order = {key: i for i, key in enumerate(study.runs)}
        self.runs: list[RunRecord] = sorted(
            (r for r in records if r.key in grid), key=lambda r: order[r.key]
        )

    @classmethod
    def from_store(
        cls, store: str | Path | Store, study: Study | str | None = None, weights: bool = False
    ) -> Results:
        """Read a study's results from a store (a path or an open :class:`Store`).

        Args:
            store: the SQLite file or an open store.
            study: the study or its name; None when the store holds exactly one study.
            weights: also read the trained parameters (where the runs kept them).

        Raises:
            StoreError: no such study (the message lists those present).

        Example:
            >>> import tempfile, os
            >>> p = os.path.join(tempfile.mkdtemp(), "s.sqlite")
            >>> s = Study(name="demo", epochs=1, validate_names=False)
            >>> with Store(p) as st:
            ...     st.register(s)
            >>> Results.from_store(p).missing
            [('he_normal', 0)]
        """
        st = store if isinstance(store, Store) else Store(store, create=False)
        try:
            if study is None:
                names = st.study_names()
                if len(names) != 1:
                    from initlab.errors import StoreError

                    raise StoreError(
                        f"store {st.path!r} holds {len(names)} studies "
                        f"({', '.join(names) or 'none'}); name the one to read"
                    )
                study = names[0]
            if isinstance(study, str):
                study = st.load_study(study)
            return cls(study, st.records(study, weights=weights),
                       provenance=st.data_provenance(study))
        finally:
            if not isinstance(store, Store):
                st.close()

    # ------------------------------------------------------------------ views
    @property
    def missing(self) -> list[tuple[str, int]]:
        """Runs of the study's grid that are not (yet) in these results."""
        have = {r.key for r in self.runs}
        return [key for key in self.study.runs if key not in have]

    @property
    def complete(self) -> bool:
        """True when every run of the grid is present."""
        return not self.missing

    def for_scheme(self, scheme: str) -> list[RunRecord]:
        """The runs of one scheme, in seed order."""
        return [r for r in self.runs if r.scheme == scheme]

    def model(self, scheme: str, seed: int) -> Any:
        """Rebuild one run's trained network (a one-model :class:`initlab.nn.Sequential`).

        Needs the weights: run the study with ``keep_weights=True`` (and read the store with
        ``weights=True``).

        Raises:
            StoreError: no such run, or its weights were not kept.

        Example:
            >>> s = Study(dataset="xor", layers=(3,), schemes=["he_normal"], seeds=1, epochs=2)
            >>> r = s.run(progress=False, keep_weights=True)
            >>> r.model("he_normal", 0).predict([[0.0, 1.0]]).shape
            (1, 1, 1)
        """
        from initlab.errors import StoreError
        from initlab.studies.runner import build_model

        run = next((r for r in self.runs if r.key == (scheme, seed)), None)
        if run is None:
            raise StoreError(
                f"no run ({scheme!r}, {seed}) in study {self.study.name!r}; runs: "
                + ", ".join(f"({s!r}, {k})" for s, k in (r.key for r in self.runs))
            )
        if run.weights is None:
            raise StoreError(
                f"run ({scheme!r}, {seed}) has no stored weights: run the study with "
                "keep_weights=True and read it with weights=True"
            )
        w = run.weights
        if "T0" in w:  # residual blocks or bias-free layers: every tensor by its index
            mats = [w[k] for k in sorted(w, key=lambda k: int(k[1:])) if w[k].ndim == 2]
            n_out = int(mats[-1].shape[1])
            model = build_model(self.study, int(mats[0].shape[0]),
                                2 if self.study.output == "sigmoid" else n_out, [(scheme, seed)])
            for key, view in model._arrays().items():
                view[0] = w[key]
            return model
        n_layers = len(w) // 2
        input_dim = int(w["W0"].shape[0])
        n_out = int(w[f"W{n_layers - 1}"].shape[1])
        n_classes = 2 if self.study.output == "sigmoid" else n_out
        model = build_model(self.study, input_dim, n_classes, [(scheme, seed)])
        for i in range(n_layers):
            model.params.W[i][0] = w[f"W{i}"]
            model.params.b[i][0] = w[f"b{i}"]
        return model

    def summary(self, metrics: Sequence[str] = FINAL_METRICS) -> list[SchemeSummary]:
        """One :class:`SchemeSummary` per scheme, in the study's order.

        Example:
            >>> Results(Study(epochs=1, validate_names=False), []).summary()[0].n_runs
            0
        """
        out = []
        for scheme in self.study.schemes:
            runs = self.for_scheme(scheme)
            kinds = [outcome(r) for r in runs]
            ok = [r for r, o in zip(runs, kinds, strict=True) if o == "trained"]
            stats = {m: mean_ci([r.final.get(m, math.nan) for r in ok], self.level)
                     for m in metrics}
            secs = float(np.mean([r.seconds for r in runs])) if runs else math.nan
            out.append(SchemeSummary(scheme, len(runs), kinds.count("diverged"), stats, secs,
                                     kinds.count("unstable")))
        return out

    def curves(self, metric: str = "loss", include_diverged: bool = False) -> dict[str, Curve]:
        """Per scheme, the metric over the logged epochs: mean and std over the trained runs.

        Args:
            metric: a history metric (loss, accuracy, val_loss, val_accuracy, time).
            include_diverged: also put diverged and unstable runs into the band (values after
                a divergence are NaN and skipped).

        Returns:
            scheme -> :class:`Curve` (schemes without runs are left out).

        Raises:
            ConfigError: an unknown metric.
        """
        known = sorted({m for r in self.runs for m in r.history})
        out: dict[str, Curve] = {}
        for scheme in self.study.schemes:
            runs = [r for r in self.for_scheme(scheme)
                    if include_diverged or outcome(r) == "trained"]
            if not runs:
                continue
            if metric not in runs[0].history:
                from initlab.errors import ConfigError, unknown

                raise unknown("history metric", metric, known, ConfigError)
            arr = np.array([r.history[metric] for r in runs], dtype=np.float64)
            with warnings.catch_warnings():  # an epoch where every run is NaN stays NaN
                warnings.simplefilter("ignore", RuntimeWarning)
                mean = np.nanmean(arr, axis=0)
                std = (np.nanstd(arr, axis=0, ddof=1) if len(runs) > 1
                       else np.full(arr.shape[1], np.nan))
            out[scheme] = Curve(np.asarray(runs[0].epochs), mean, std, arr)
        return out

    # ------------------------------------------------------------------ output
    def table(self, metrics: Sequence[str] = FINAL_METRICS, digits: int = 4) -> str:
        """A printable table: per scheme, runs, diverged, unstable and each metric as
        mean +- std [interval]; the footer names the interval's method.

        Example:
            >>> print(Results(Study(epochs=1, validate_names=False), []).table().splitlines()[2])
            he_normal  0     0         0         -           -          -          -
        """
        header = ["scheme", "runs", "diverged", "unstable",
                  *(_LABELS.get(m, m) for m in metrics)]
        rows = [header]
        for s in self.summary(metrics):
            row = [s.scheme, str(s.n_runs), str(s.n_diverged), str(s.n_unstable)]
            for m in metrics:
                st = s.metrics[m]
                if st.n == 0:
                    row.append("-")
                elif st.n == 1:
                    row.append(f"{st.mean:.{digits}f}")
                else:
                    row.append(f"{st.mean:.{digits}f} +- {st.std:.{digits}f} "
                               f"[{st.low:.{digits}f}, {st.high:.{digits}f}]")
            rows.append(row)
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                 for r in rows]
        lines.insert(1, "-" * len(lines[0]))
        lines.append(f"mean +- std over seeds [{interval_note(self.level)}]; diverged runs and "
                     f"unstable ones (final loss > {UNSTABLE_FACTOR:g} x the first logged loss) "
                     "are counted, not averaged")
        if self.missing:
            lines.append(f"{len(self.missing)} of {len(self.study.runs)} runs are missing")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def __repr__(self) -> str:
        kinds = [outcome(r) for r in self.runs]
        return (f"Results(study={self.study.name!r}, runs={len(self.runs)}/"
                f"{len(self.study.runs)}, diverged={kinds.count('diverged')}, "
                f"unstable={kinds.count('unstable')})")

    def to_rows(self) -> list[dict[str, Any]]:
        """One flat dict per run: scheme, seed, status, unstable, diverged_epoch, final metrics,
        timing."""
        present = {m for r in self.runs for m in r.final}
        metrics = [m for m in FINAL_METRICS if m in present] + sorted(present - {*FINAL_METRICS})
        rows = []
        for r in self.runs:
            row: dict[str, Any] = {"scheme": r.scheme, "seed": r.seed, "status": r.status,
                                   "unstable": is_unstable(r),
                                   "diverged_epoch": r.diverged_epoch}
            row.update({m: r.final.get(m, math.nan) for m in metrics})
            row.update({"seconds": r.seconds, "ensemble_size": r.ensemble_size,
                        "finished": r.finished})
            rows.append(row)
        return rows

    def summary_rows(self, metrics: Sequence[str] = FINAL_METRICS) -> list[dict[str, Any]]:
        """One flat dict per scheme: counts, the interval's method and level, and mean, std,
        ci_low, ci_high of each metric."""
        rows = []
        for s in self.summary(metrics):
            row: dict[str, Any] = {"scheme": s.scheme, "runs": s.n_runs,
                                   "diverged": s.n_diverged, "unstable": s.n_unstable,
                                   "ci_method": INTERVAL_METHOD, "ci_level": self.level}
            for m in metrics:
                st = s.metrics[m]
                row.update({f"{m}_mean": st.mean, f"{m}_std": st.std,
                            f"{m}_ci_low": st.low, f"{m}_ci_high": st.high})
            rows.append(row)
        return rows

    def to_csv(self, path: str | Path, per: str = "run") -> Path:
        """Write a CSV: one row per run (``per="run"``) or per scheme (``per="scheme"``).

        Empty cells stand for NaN (no value: a diverged run, a std of one seed).

        Raises:
            ConfigError: ``per`` is neither.
        """
        rows = self._rows_for(per)
        p = Path(path)
        fields = list(rows[0]) if rows else ["scheme"]
        with p.open("w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=fields)
            w.writeheader()
            for row in rows:
                w.writerow({k: "" if json_float(v) is None and isinstance(v, float) else v
                            for k, v in row.items()})
        return p

    def _rows_for(self, per: str) -> list[dict[str, Any]]:
        if per == "run":
            return self.to_rows()
        if per == "scheme":
            return self.summary_rows()
        from initlab.errors import ConfigError, unknown

        raise unknown("CSV layout", per, ["run", "scheme"], ConfigError)

    def to_dict(self) -> dict[str, Any]:
        """Everything as JSON-ready data: the study, the summary, and each run with its curves.

        NaN becomes None (JSON has no NaN).
        """
        return {
            "study": self.study.to_dict(),
            "config_hash": self.study.config_hash,
            "level": self.level,
            "interval": {"method": INTERVAL_METHOD, "level": self.level,
                         "resamples": BOOTSTRAP_RESAMPLES, "seed": BOOTSTRAP_SEED,
                         "note": interval_note(self.level)},
            "unstable_factor": UNSTABLE_FACTOR,
            "data_provenance": self.provenance,
            "missing": [list(k) for k in self.missing],
            "summary": [
                {"scheme": s.scheme, "runs": s.n_runs, "diverged": s.n_diverged,
                 "unstable": s.n_unstable, "seconds": json_float(s.seconds),
                 "metrics": {m: st.to_dict() for m, st in s.metrics.items()}}
                for s in self.summary()
            ],
            "runs": [
                {"scheme": r.scheme, "seed": r.seed, "status": r.status,
                 "unstable": is_unstable(r), "diverged_epoch": r.diverged_epoch,
                 "final": {m: json_float(v) for m, v in r.final.items()},
                 "epochs": list(r.epochs),
                 "history": {m: [json_float(x) for x in v] for m, v in r.history.items()},
                 "seconds": r.seconds, "ensemble": r.ensemble,
                 "ensemble_size": r.ensemble_size, "started": r.started,
                 "finished": r.finished, "initlab_version": r.initlab_version,
                 "numpy_version": r.numpy_version}
                for r in self.runs
            ],
        }

    def to_json(self, path: str | Path | None = None) -> str:
        """The :meth:`to_dict` data as JSON text; also written to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=1, allow_nan=False)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def to_pandas(self, per: str = "run") -> Any:
        """The per-run (or per-scheme) rows as a pandas DataFrame (imports pandas lazily).

        Raises:
            ConfigError: pandas is not installed.
        """
        return dataframe(self._rows_for(per))
