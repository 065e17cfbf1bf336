"""Sweeps: a base study plus axes, each a list or a range; one store for the whole grid.

A :class:`Sweep` expands to grid points: every combination of its axes. The points that
differ only in ``scheme`` and ``seeds`` share an architecture and a recipe, so they are one
:class:`~initlab.studies.spec.Study` (named ``SWEEP/HASH`` after the recipe's hash) and train
together as K-model ensembles; every other axis value makes another study. All of them live
in one store, each run keyed by its study (the canonical grid point), scheme and seed: a rerun
trains only the missing (or failed) runs, and widening an axis trains only the new points.

Axes (a list of values, or a range table ``{start, stop, num}`` (linspace, both ends),
``{start, stop, step}``, with ``log = true`` for a geometric range):

=============  ===================================================================
axis           values
=============  ===================================================================
depth, width   hidden layers of equal width: ``layers = (width,) * depth`` (the
               base study's width or depth where only one of them is an axis)
layers         hidden widths, each a list or a string (``"12,6"``, ``"64x3"``)
activation     hidden activation specs
scheme         init specs; or a range with a ``template`` such as
               ``"variance_scaling(scale={}, distribution=normal)"``
bias_init      bias initializer specs (``"normal(std=0.2236)"``)
optimizer, lr  optimizer names, learning rates
batch_size     ints or ``"full"``
epochs         ints
dataset        dataset names; ``dataset.OPTION`` (e.g. ``dataset.noise``): that option
seeds          a count (N: 0..N-1) or a list
=============  ===================================================================

File format (``sweep.toml``)::

    name = "width-lr"
    [study]                    # the base study: the keys of a study file
    dataset = "moons"
    epochs = 300
    [axes]
    width = [8, 16, 32]
    depth = [1, 2]
    lr = {start = 0.01, stop = 0.1, num = 3, log = true}
    scheme = ["he_normal", "glorot_uniform"]
    seeds = 3
    "dataset.noise" = [0.1, 0.3]

Example:
    >>> sw = Sweep("demo", Study(dataset="xor", layers=(4,), epochs=2, validate_names=False),
    ...            {"width": [2, 4], "scheme": ["zeros", "he_normal"], "seeds": 2},
    ...            validate_names=False)
    >>> len(sw.studies()), sw.n_runs
    (2, 8)
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from initlab.errors import ConfigError, InitLabError, unknown
from initlab.init.checks import number
from initlab.studies.spec import Study, parse_layers
from initlab.studies.store import RunRecord, Store

__all__ = ["Sweep", "SweepResults", "AXES", "expand_range"]

AXES: tuple[str, ...] = ("depth", "width", "layers", "activation", "scheme", "bias_init",
                         "optimizer", "lr", "batch_size", "epochs", "dataset", "seeds")
"""The axes a sweep may vary (and ``dataset.OPTION`` for any dataset option)."""

_INT_AXES = ("depth", "width", "epochs")
_STUDY_FIELD = {"activation": "activation", "bias_init": "bias_init", "optimizer": "optimizer",
                "lr": "lr", "batch_size": "batch_size", "epochs": "epochs",
                "dataset": "dataset"}
_FILE_KEYS = ("name", "study", "axes")


def _round(v: float) -> float:
    """A range value rounded to 12 significant digits, so 0.1 * 3 is 0.3 in keys and tables."""
    return float(f"{v:.12g}")


def expand_range(axis: str, spec: Mapping[str, Any]) -> list[float]:
    """The values of a range table: ``{start, stop, num}`` (both ends, evenly spaced),
    ``{start, stop, step}`` (start, start + step, ... up to stop), ``log = true`` for
    geometric spacing (num only).

    Raises:
        ConfigError: a missing or extra key, or a value that does not make a range.

    Example:
        >>> expand_range("lr", {"start": 1, "stop": 4, "num": 4})
        [1.0, 2.0, 3.0, 4.0]
        >>> expand_range("lr", {"start": 0.001, "stop": 0.1, "num": 3, "log": True})
        [0.001, 0.01, 0.1]
        >>> expand_range("x", {"start": 0, "stop": 1, "step": 0.25})
        [0.0, 0.25, 0.5, 0.75, 1.0]
    """
    allowed = {"start", "stop", "num", "step", "log", "template"}
    for k in spec:
        if k not in allowed:
            raise unknown(f"key of range axis {axis!r}", k, sorted(allowed), ConfigError)

    def num(key: str) -> float:
        return number("sweep", key, spec.get(key), bad=lambda v, _: ConfigError(
            f"sweep axis {axis!r}: range {key} must be a finite number; got {v!r}"))

    start, stop = num("start"), num("stop")
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise ConfigError(f"sweep axis {axis!r}: range log must be true or false; got {log!r}")
    if ("num" in spec) == ("step" in spec):
        raise ConfigError(f"sweep axis {axis!r}: a range needs exactly one of num or step")
    if "num" in spec:
        n = spec["num"]
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 100_000:
            raise ConfigError(f"sweep axis {axis!r}: range num must be an int in "
                              f"[1, 100000]; got {n!r}")
        if log:
            if start <= 0 or stop <= 0:
                raise ConfigError(f"sweep axis {axis!r}: a log range needs start, stop > 0; "
                                  f"got {start:g}, {stop:g}")
            values = np.geomspace(start, stop, n)
        else:
            values = np.linspace(start, stop, n)
    else:
        if log:
            raise ConfigError(f"sweep axis {axis!r}: log ranges take num, not step")
        step = num("step")
        count = (stop - start) / step if step != 0 else -1
        if step == 0 or count < 0 or count > 100_000:
            raise ConfigError(f"sweep axis {axis!r}: step {step:g} does not go from "
                              f"{start:g} to {stop:g} in at most 100000 values")
        values = start + step * np.arange(math.floor(count + 1e-9) + 1)
    return [_round(v) for v in values]


def _values(axis: str, raw: Any) -> tuple[Any, ...]:
    """One axis's values, normalised (ranges expanded, ints checked, duplicates refused)."""
    if axis == "seeds":
        if isinstance(raw, int) and not isinstance(raw, bool):
            if raw < 1:
                raise ConfigError(f"sweep axis 'seeds': a count must be >= 1; got {raw}")
            return tuple(range(raw))
        if isinstance(raw, Mapping):
            raw = expand_range(axis, raw)
    elif isinstance(raw, Mapping):
        if axis == "scheme":
            template = raw.get("template")
            if not isinstance(template, str) or "{}" not in template:
                raise ConfigError("sweep axis 'scheme': a range needs a template with {}, "
                                  'e.g. "variance_scaling(scale={}, distribution=normal)"')
            raw = [template.format(f"{v:.10g}") for v in expand_range(axis, raw)]
        else:
            raw = expand_range(axis, raw)
    if isinstance(raw, (str, bytes)) or not isinstance(raw, Sequence) or not raw:
        raise ConfigError(f"sweep axis {axis!r}: expected a non-empty list or a range table "
                          f"{{start, stop, num}}; got {raw!r}")
    values = list(raw)
    if axis in _INT_AXES or axis == "seeds":
        for v in values:
            ok = isinstance(v, int) or (isinstance(v, float) and v.is_integer())
            if isinstance(v, bool) or not ok:
                raise ConfigError(f"sweep axis {axis!r}: values must be ints; got {v!r}")
        values = [int(v) for v in values]
    if axis == "layers":
        values = [list(parse_layers(v)) for v in values]
    if axis == "batch_size":
        values = [None if v in ("full", None) else v for v in values]
    keys = [json.dumps(v, sort_keys=True) for v in values]
    dup = next((v for v, k in zip(values, keys, strict=True) if keys.count(k) > 1), None)
    if dup is not None:
        raise ConfigError(f"sweep axis {axis!r}: value {dup!r} is listed twice")
    return tuple(tuple(v) if isinstance(v, list) else v for v in values)


@dataclass(frozen=True)
class Sweep:
    """A grid of studies: a base study and the axes it varies.

    Args:
        name: the sweep's name in the store (its studies are ``NAME/HASH``).
        base: the base :class:`Study` (or a mapping of study fields).
        axes: axis -> values (a list, or a range table; see the module doc). ``scheme`` and
            ``seeds`` default to the base study's schemes and seeds.
        validate_names: check every point's names (dataset, activation, schemes, ...).

    Raises:
        ConfigError: an unknown axis, a bad value, or a point the study checks refuse
            (naming the axis values of that point).

    Example:
        >>> sw = Sweep("lr", Study(dataset="xor", epochs=2, validate_names=False),
        ...            {"lr": {"start": 0.01, "stop": 0.1, "num": 2}}, validate_names=False)
        >>> [p["lr"] for p, _ in sw.points()]
        [0.01, 0.1]
    """

    name: str
    base: Study
    axes: Mapping[str, tuple[Any, ...]]

    def __init__(self, name: str, base: Study | Mapping[str, Any],
                 axes: Mapping[str, Any] | None = None, *, validate_names: bool = True) -> None:
        if not isinstance(name, str) or not name.strip() or "/" in name:
            raise ConfigError(f"sweep name must be a non-empty string without '/'; got {name!r}")
        if isinstance(base, Mapping):
            base = Study.from_dict({"name": name, **base}, validate_names=False)
        if not isinstance(base, Study):
            raise ConfigError(f"sweep base must be a Study or a table; got {type(base).__name__}")
        if axes is None:
            axes = {}
        if not isinstance(axes, Mapping):
            raise ConfigError(f"sweep axes must be a table; got {type(axes).__name__}")
        norm: dict[str, tuple[Any, ...]] = {}
        for axis, raw in axes.items():
            axis = "scheme" if axis == "schemes" else axis
            if not (axis in AXES or (isinstance(axis, str) and axis.startswith("dataset.")
                                     and len(axis) > 8)):
                raise unknown("sweep axis", axis, [*AXES, "dataset.OPTION"], ConfigError)
            norm[axis] = _values(axis, raw)
        if "layers" in norm and ("depth" in norm or "width" in norm):
            raise ConfigError("sweep axes: give layers, or depth and width, not both")
        norm.setdefault("scheme", tuple(base.schemes))
        norm.setdefault("seeds", tuple(base.seeds))
        object.__setattr__(self, "name", name.strip())
        object.__setattr__(self, "base", base)
        object.__setattr__(self, "axes", dict(norm))
        studies = self._build(validate_names)
        object.__setattr__(self, "_studies", studies)

    # ------------------------------------------------------------------ the grid
    @property
    def point_axes(self) -> tuple[str, ...]:
        """The axes that make separate studies (all but scheme and seeds), in order."""
        return tuple(a for a in self.axes if a not in ("scheme", "seeds"))

    def _build(self, validate: bool) -> list[tuple[dict[str, Any], Study]]:
        names = self.point_axes
        out: list[tuple[dict[str, Any], Study]] = []
        seen: dict[str, dict[str, Any]] = {}
        for combo in itertools.product(*(self.axes[a] for a in names)):
            point = dict(zip(names, combo, strict=True))
            fields = self._fields(point)
            try:
                study = self.base.replace(**fields, validate_names=False)
                study = study.replace(name=f"{self.name}/{study.config_hash}",
                                      validate_names=validate)
            except InitLabError as e:
                raise ConfigError(f"sweep {self.name!r} at {_show(point)}: {e}") from None
            if study.name in seen:
                raise ConfigError(f"sweep {self.name!r}: {_show(point)} and "
                                  f"{_show(seen[study.name])} are the same study")
            seen[study.name] = point
            out.append((_jsonable(point), study))
        return out

    def _fields(self, point: Mapping[str, Any]) -> dict[str, Any]:
        fields: dict[str, Any] = {"schemes": self.axes["scheme"], "seeds": self.axes["seeds"]}
        if "depth" in point or "width" in point:
            base = self.base.layers
            width = point.get("width", base[0] if base else None)
            depth = point.get("depth", len(base))
            if width is None:
                raise ConfigError(f"sweep {self.name!r}: a depth axis needs a width axis or "
                                  "a base study with hidden layers")
            fields["layers"] = (int(width),) * int(depth)
        if "layers" in point:
            fields["layers"] = tuple(point["layers"])
        options = dict(self.base.dataset_options)
        for axis, value in point.items():
            if axis in _STUDY_FIELD:
                fields[_STUDY_FIELD[axis]] = value
            elif axis.startswith("dataset."):
                options[axis[len("dataset."):]] = value
        if options != dict(self.base.dataset_options):
            fields["dataset_options"] = options
        return fields

    def points(self) -> list[tuple[dict[str, Any], Study]]:
        """Every grid point but scheme and seeds, with the study that trains it."""
        return list(self._studies)  # type: ignore[attr-defined]

    def studies(self) -> list[Study]:
        """The sweep's studies, one per grid point (schemes x seeds each)."""
        return [s for _, s in self.points()]

    @property
    def n_runs(self) -> int:
        """Runs in the whole grid."""
        return sum(len(s.runs) for s in self.studies())

    # ------------------------------------------------------------------ (de)serialise
    def to_dict(self) -> dict[str, Any]:
        """The sweep as JSON-ready data (axes expanded), which :meth:`from_dict` reads."""
        base = self.base.to_dict()
        base.pop("name")
        return {"name": self.name, "study": base,
                "axes": {a: [list(v) if isinstance(v, tuple) else v for v in vals]
                         for a, vals in self.axes.items()}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, validate_names: bool = True) -> Sweep:
        """Build a sweep from a mapping with the keys of a sweep file (name, study, axes).

        Raises:
            ConfigError: an unknown key or a bad value.
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"a sweep must be a table; got {type(data).__name__}")
        for k in data:
            if k not in _FILE_KEYS:
                raise unknown("sweep file key", k, _FILE_KEYS, ConfigError)
        base = data.get("study", {})
        if not isinstance(base, Mapping):
            raise ConfigError(f"sweep [study] must be a table of study fields; got {base!r}")
        name = data.get("name", "sweep")
        base = {k: v for k, v in base.items() if k != "name"}
        return cls(name, Study.from_dict({"name": str(name), **base}, validate_names=False),
                   data.get("axes", {}), validate_names=validate_names)

    @classmethod
    def from_file(cls, path: str | Path, *, validate_names: bool = True) -> Sweep:
        """Read a sweep from a ``.toml`` or ``.json`` file.

        Raises:
            ConfigError: the file is missing, unreadable or invalid, or has a bad value.
        """
        from initlab.studies.spec import read_config_file

        data = read_config_file(path, "sweep")
        return cls.from_dict(data, validate_names=validate_names)

    def __repr__(self) -> str:
        axes = ", ".join(f"{a}: {len(v)}" for a, v in self.axes.items())
        return (f"Sweep({self.name!r}: {len(self.studies())} points x schemes x seeds = "
                f"{self.n_runs} runs; {axes})")

    # ------------------------------------------------------------------ running
    def load_data(self, data_dir: str | Path | None = None) -> dict[str, Any]:
        """Every dataset the grid trains on, loaded once each: data key -> Dataset.

        Raises:
            ConfigError, DataError: a bad option or missing files (naming the point), or an
                output that does not fit a dataset's classes.
        """
        from initlab.studies.runner import _output_units, data_key, load_data

        out: dict[str, Any] = {}
        for point, s in self.points():
            key = data_key(s)
            try:
                if key not in out:
                    out[key] = load_data(s, data_dir)
                _output_units(s, int(out[key].n_classes))
            except InitLabError as e:
                raise type(e)(f"sweep {self.name!r} at {_show(point)}: {e}") from None
        return out

    def run(self, store: str | Path | Store | None = None, *, executor: Any = None,
            workers: int = 1, max_models: int | None = None, progress: bool = True,
            data_dir: str | Path | None = None, threads: int | None = 1,
            keep_weights: bool = False,
            datasets: Mapping[str, Any] | None = None) -> SweepResults:
        """Train the grid's missing runs into ``store`` and return its results.

        Every point is checked and every dataset loaded before the store is written.

        Args:
            store: a SQLite file (created if absent), an open store, or None (in memory).
            executor: an :class:`~initlab.studies.executors.Executor` (None: local
                processes when ``workers`` > 1, else this process).
            workers: local processes when no executor is given.
            max_models: the most models in one ensemble.
            progress: a progress bar (model-epochs; runs stored / total).
            data_dir: where downloaded datasets' files are.
            threads: BLAS threads per training process.
            keep_weights: store each run's trained parameters.
            datasets: the grid's data from :meth:`load_data` (None: loaded here, before
                anything is trained).

        Example:
            >>> sw = Sweep("doc", Study(dataset="xor", layers=(3,), epochs=2),
            ...            {"width": [2, 3], "seeds": 2})
            >>> sw.run(progress=False).complete
            True
        """
        from initlab.studies.runner import data_key, execute

        if datasets is None:
            datasets = self.load_data(data_dir)
        own = not isinstance(store, Store)
        st = Store(":memory:" if store is None else store) if own else store
        try:
            st.register_sweep(self.name, self.to_dict())
            for point, study in self.points():
                st.register(study, sweep=self.name, point=point)
            todo = [s for s in self.studies() if st.missing(s)]
            for s in todo:
                st.set_data_provenance(s, dict(datasets[data_key(s)].provenance or {}))
            if todo:
                execute(todo, st, datasets, executor=executor, parts=workers,
                        max_models=max_models, threads=threads, keep_weights=keep_weights,
                        progress=progress, desc=self.name,
                        total_runs=self.n_runs)
            return SweepResults.read(self, st)
        finally:
            if own:
                st.close()


def _jsonable(point: Mapping[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in point.items()}


def _show(point: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in point.items()) or "the base point"


# ---------------------------------------------------------------------- results
_METRICS = ("loss", "accuracy", "val_loss", "val_accuracy")


class SweepResults:
    """A sweep's runs as a tidy table: one row per run, every axis value and every metric.

    Args:
        sweep: the sweep (its grid selects the runs shown).
        rows: one dict per stored run (see :meth:`read`).
        level: the confidence level of the grouped intervals.

    Example:
        >>> sw = Sweep("t", Study(dataset="xor", layers=(3,), epochs=2), {"width": [2, 3]})
        >>> res = sw.run(progress=False)
        >>> sorted(res.rows[0])[:4]
        ['accuracy', 'diverged_epoch', 'ensemble_size', 'error']
        >>> [g["width"] for g in res.summary(by=["width"])]
        [2, 3]
    """

    def __init__(self, sweep: Sweep, rows: Sequence[dict[str, Any]],
                 level: float = 0.95) -> None:
        self.sweep = sweep
        self.level = level
        self.rows: list[dict[str, Any]] = list(rows)

    @classmethod
    def read(cls, sweep: Sweep, st: Store) -> SweepResults:
        """The rows of ``sweep``'s grid from an open store (failed runs included)."""
        rows = []
        for point, study in sweep.points():
            grid = set(study.runs)
            for r in st.records(study, failed=True):
                if r.key in grid:
                    rows.append(_row(point, r))
        return cls(sweep, rows)

    @classmethod
    def from_store(cls, store: str | Path | Store, sweep: str | None = None) -> SweepResults:
        """Read a sweep's results from a store (a path or an open store).

        Args:
            store: the SQLite file.
            sweep: the sweep's name; None when the store holds exactly one.

        Raises:
            StoreError: no such sweep (or several and none named), or a damaged row.
        """
        from initlab.errors import StoreError

        st = store if isinstance(store, Store) else Store(store, create=False)
        try:
            names = st.sweep_names()
            if sweep is None:
                if len(names) != 1:
                    raise StoreError(f"store {st.path!r} holds {len(names)} sweeps "
                                     f"({', '.join(names) or 'none'}); name the one to read")
                sweep = names[0]
            config = st.sweep_config(sweep)
            try:
                sw = Sweep.from_dict(config, validate_names=False)
            except InitLabError as e:
                raise StoreError(f"store {st.path!r}: sweep {sweep!r} is damaged: {e}") from None
            return cls.read(sw, st)
        finally:
            if not isinstance(store, Store):
                st.close()

    # ------------------------------------------------------------------ views
    @property
    def columns(self) -> list[str]:
        """The table's columns: the axes, scheme, seed, status, metrics, timing, error."""
        return [*self.sweep.point_axes, "scheme", "seed", "status", *_METRICS,
                "diverged_epoch", "seconds", "ensemble_size", "error"]

    @property
    def missing(self) -> int:
        """Runs of the grid not stored (or stored as failed)."""
        return self.sweep.n_runs - sum(r["status"] != "failed" for r in self.rows)

    @property
    def failed(self) -> list[dict[str, Any]]:
        """The rows of runs stored as failed (each with its error)."""
        return [r for r in self.rows if r["status"] == "failed"]

    @property
    def complete(self) -> bool:
        """True when every run of the grid trained (or diverged)."""
        return self.missing == 0

    def summary(self, by: Sequence[str] | None = None,
                metrics: Sequence[str] = _METRICS) -> list[dict[str, Any]]:
        """Grouped summaries: per value of the ``by`` columns (default: every axis and
        scheme, i.e. one group per grid point over seeds), the runs, how many diverged or
        failed, and per metric the mean, std and the interval of
        :func:`initlab.studies.results.mean_ci` (the one studies use), over the runs that
        trained.

        Raises:
            ConfigError: a ``by`` column that is not an axis, scheme or seed.
        """
        from initlab.studies.results import mean_ci

        keys = [*self.sweep.point_axes, "scheme"] if by is None else list(by)
        allowed = [*self.sweep.point_axes, "scheme", "seed"]
        for k in keys:
            if k not in allowed:
                raise unknown("column to group by", k, allowed, ConfigError)
        groups: dict[str, list[dict[str, Any]]] = {}
        firsts: dict[str, dict[str, Any]] = {}
        for r in self.rows:
            g = json.dumps([r[k] for k in keys])
            groups.setdefault(g, []).append(r)
            firsts.setdefault(g, {k: r[k] for k in keys})
        out = []
        for g, rows in groups.items():
            ok = [r for r in rows if r["status"] == "trained"]
            row: dict[str, Any] = {**firsts[g], "runs": len(rows),
                                   "diverged": sum(r["status"] == "diverged" for r in rows),
                                   "failed": sum(r["status"] == "failed" for r in rows)}
            for m in metrics:
                stat = mean_ci([r[m] for r in ok], self.level)
                row.update({f"{m}_mean": stat.mean, f"{m}_std": stat.std,
                            f"{m}_ci_low": stat.low, f"{m}_ci_high": stat.high})
            out.append(row)
        return out

    def grid(self, metric: str, rows: str, cols: str) -> tuple[list[Any], list[Any], np.ndarray]:
        """A metric's mean over seeds (runs that trained) on a 2-D grid of two columns.

        Returns:
            (row values, column values, array (len(rows), len(cols)), NaN where no run).
        """
        summ = self.summary(by=[rows, cols], metrics=[metric])
        rv = sorted({s[rows] for s in summ}, key=_sort_key)
        cv = sorted({s[cols] for s in summ}, key=_sort_key)
        arr = np.full((len(rv), len(cv)), np.nan)
        for s in summ:
            arr[rv.index(s[rows]), cv.index(s[cols])] = s[f"{metric}_mean"]
        return rv, cv, arr

    def to_csv(self, path: str | Path, per: str = "run") -> Path:
        """Write the tidy table (``per="run"``) or the grouped summary (``per="point"``)."""
        import csv

        rows = self._rows_for(per)
        p = Path(path)
        fields = list(rows[0]) if rows else self.columns
        with p.open("w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=fields)
            w.writeheader()
            for row in rows:
                w.writerow({k: _cell(v) for k, v in row.items()})
        return p

    def _rows_for(self, per: str) -> list[dict[str, Any]]:
        if per == "run":
            return [{c: r.get(c) for c in self.columns} for r in self.rows]
        if per == "point":
            return self.summary()
        raise unknown("CSV layout", per, ["run", "point"], ConfigError)

    def to_pandas(self, per: str = "run") -> Any:
        """The tidy table (or the summary) as a pandas DataFrame.

        Raises:
            ConfigError: pandas is not installed.
        """
        from initlab.studies.results import dataframe

        return dataframe(self._rows_for(per))

    def table(self, metric: str = "val_accuracy", digits: int = 4) -> str:
        """A printable summary: per grid point and scheme, runs and the metric's mean [CI]."""
        summ = self.summary(metrics=[metric])
        keys = [*self.sweep.point_axes, "scheme"]
        header = [*keys, "runs", "diverged", "failed", metric]
        body = []
        for s in summ:
            m, lo, hi = s[f"{metric}_mean"], s[f"{metric}_ci_low"], s[f"{metric}_ci_high"]
            cell = "-" if not math.isfinite(m) else (
                f"{m:.{digits}f}" if not math.isfinite(lo)
                else f"{m:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]")
            body.append([*(_fmt(s[k]) for k in keys), str(s["runs"]), str(s["diverged"]),
                         str(s["failed"]), cell])
        rows = [header, *body]
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                 for r in rows]
        lines.insert(1, "-" * len(lines[0]))
        done = self.sweep.n_runs - self.missing
        lines.append(f"{done}/{self.sweep.n_runs} runs stored; mean [{round(self.level * 100)} "
                     "% interval] over the seeds that trained")
        if self.failed:
            lines.append(f"{len(self.failed)} runs failed (rerun to retry); first: "
                         f"{self.failed[0]['error']}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"SweepResults({self.sweep.name!r}: {len(self.rows)} rows, "
                f"{self.missing} of {self.sweep.n_runs} runs missing)")


def _row(point: Mapping[str, Any], r: RunRecord) -> dict[str, Any]:
    row: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in point.items()}
    row.update({"scheme": r.scheme, "seed": r.seed, "status": r.status})
    row.update({m: r.final.get(m, math.nan) for m in _METRICS})
    row.update({"diverged_epoch": r.diverged_epoch, "seconds": r.seconds,
                "ensemble_size": r.ensemble_size, "error": r.error})
    return row


def _sort_key(v: Any) -> Any:
    return (0, v, "") if isinstance(v, (int, float)) and not isinstance(v, bool) else (1, 0,
                                                                                      str(v))


def _fmt(v: Any) -> str:
    if isinstance(v, tuple):
        return "-".join(map(str, v)) or "-"
    if isinstance(v, float):
        return f"{v:g}"
    return "full" if v is None else str(v)


def _cell(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return ""
    if isinstance(v, tuple):
        return "-".join(map(str, v))
    return "" if v is None else v
