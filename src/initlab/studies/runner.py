"""Run a study: read which runs are missing, train them as K-model ensembles, store each one.

Every run of a study shares its architecture, so the missing runs are trained together as
one K-model ensemble of the engine (:class:`initlab.nn.Sequential` with ``n_models=K``):
every scheme sees the same minibatches (the shuffle seed belongs to the study), and the
first layer is one batched product for all K models. Each ensemble's runs are written to the
store in one transaction as soon as it finishes, so a crash loses at most the ensembles in
flight. ``workers=2`` splits the runs into two ensembles trained in two processes;
``workers="auto"`` (the default) uses one process per idle core unless the study is tiny
(see :func:`auto_workers`);
``max_models`` caps K (memory, or finer-grained resumption).

Example:
    >>> from initlab.studies import Study
    >>> s = Study(dataset="xor", dataset_options={"n_train": 40, "n_test": 20}, layers=(4,),
    ...           schemes=["zeros", "he_normal"], seeds=2, epochs=3)
    >>> r = run_study(s, progress=False)
    >>> len(r.runs), r.complete
    (4, True)
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from initlab.errors import ConfigError
from initlab.init.checks import integer
from initlab.studies.results import Results
from initlab.studies.spec import Study, field_name
from initlab.studies.store import RunRecord, Store, now

if TYPE_CHECKING:
    from initlab.studies.executors import Executor

__all__ = [
    "run_study",
    "plan_ensembles",
    "train_ensemble",
    "load_data",
    "build_model",
    "auto_workers",
    "step_macs",
    "PARALLEL_MIN_WORK",
    "idle_cores",
    "usable_cores",
    "blas_limits",
    "execute",
    "data_key",
]

Run = tuple[str, int]


# ---------------------------------------------------------------------- building blocks
def load_data(study: Study, data_dir: str | os.PathLike[str] | None = None) -> Any:
    """Load the study's dataset (its options, its dtype; ``data_dir`` for downloaded sets).

    Raises:
        ConfigError / DataError: from :func:`initlab.data.load` (unknown option, no files).
    """
    from initlab import data

    options = dict(study.dataset_options)
    if data_dir is not None and "data_dir" in data.allowed_options(study.dataset):
        options["data_dir"] = str(data_dir)
    return data.load(study.dataset, dtype=study.dtype, **options)


def _output_units(study: Study, n_classes: int) -> int:
    if study.output == "sigmoid":
        if n_classes != 2:
            raise ConfigError(
                f"{field_name('output')}: sigmoid needs two classes, dataset {study.dataset!r} "
                f"has {n_classes}; use output 'softmax'"
            )
        return 1
    return int(n_classes)


def build_model(study: Study, input_dim: int, n_classes: int, runs: Sequence[Run]) -> Any:
    """The K-model ensemble for ``runs``: model k uses scheme ``runs[k][0]``, seed ``runs[k][1]``.

    Example:
        >>> s = Study(layers=(3,), validate_names=False)
        >>> build_model(s, 2, 2, [("zeros", 0), ("he_normal", 1)]).n_models
        2
    """
    from initlab.nn import Dense, Sequential
    from initlab.nn.recipes import residual_block

    layers: list[Any] = []
    width = input_dim
    for w in study.layers:  # an int: a Dense; "res64": a residual block (issue 14)
        if isinstance(w, str):
            layers.append(residual_block(int(w[3:]), study.activation, study.init_recipe,
                                         in_width=width, use_bias=study.use_bias,
                                         bias_init=study.bias_init))
            width = int(w[3:])
        else:
            layers.append(Dense(w, activation=study.activation, use_bias=study.use_bias,
                                bias_init=study.bias_init))
            width = w
    layers.append(Dense(_output_units(study, n_classes), activation=study.output))
    return Sequential(
        layers,
        input_dim=input_dim,
        n_models=len(runs),
        inits=[scheme for scheme, _ in runs],
        seeds=[seed for _, seed in runs],
        dtype=study.dtype,
        recipe=study.init_recipe,
    )


class _Progress:
    """An engine callback that counts model-epochs as they are logged."""

    def __init__(self, k: int, tick: Callable[[int], None]) -> None:
        self.k, self.tick, self.last = k, tick, -1

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        self.tick(self.k * (epoch - self.last))
        self.last = epoch


def train_ensemble(
    study: Study,
    dataset: Any,
    runs: Sequence[Run],
    tick: Callable[[int], None] | None = None,
    keep_weights: bool = False,
) -> list[RunRecord]:
    """Train ``runs`` as one K-model ensemble on ``dataset``; return one record per run.

    Args:
        study: the recipe.
        dataset: an :class:`initlab.data.Dataset` (the study's).
        runs: the ``(scheme, seed)`` pairs, one per model.
        tick: called with the number of model-epochs done since the last call (progress).
        keep_weights: put each model's trained parameters into its record.

    Returns:
        The runs' records in the order of ``runs`` (final metrics measured after training:
        loss and accuracy on the training set, val_loss and val_accuracy on the test set).
    """
    import initlab

    x, y = dataset.x_train, dataset.y_train
    model = build_model(study, int(x.shape[1]), int(dataset.n_classes), runs)
    callbacks: list[Any] = [_Progress(len(runs), tick)] if tick is not None else []
    probe = None
    if study.probes is not None:
        from initlab.diagnose import Probe

        probe = Probe(every=study.probes, lr=study.lr)
        callbacks.append(probe)
    started, t0 = now(), time.perf_counter()
    hist = model.fit(
        x, y, epochs=study.epochs, batch_size=study.batch_size,
        optimizer=study.make_optimizer(), validation_data=(dataset.x_test, dataset.y_test),
        seed=study.shuffle_seed, log_every=study.effective_log_every, callbacks=callbacks,
        engine=study.engine,
    )
    seconds = time.perf_counter() - t0
    with np.errstate(all="ignore"):  # in chunks of model.eval_rows: bounded memory
        train = model.evaluate(x, y)
        test = model.evaluate(dataset.x_test, dataset.y_test)
    finished, ensemble = now(), uuid.uuid4().hex[:12]
    metrics = {m: hist[m] for m in ("loss", "accuracy", "val_loss", "val_accuracy", "time")}
    epochs = tuple(int(e) for e in hist.epochs)
    records = []
    for k, (scheme, seed) in enumerate(runs):
        diverged = bool(hist.diverged[k])
        final = {"loss": train["loss"][k], "accuracy": train["accuracy"][k],
                 "val_loss": test["loss"][k], "val_accuracy": test["accuracy"][k]}
        records.append(RunRecord(
            scheme=scheme, seed=int(seed), status="diverged" if diverged else "trained",
            epochs=epochs,
            history={m: v[:, k].tolist() for m, v in metrics.items()},
            final={m: math.nan if diverged else float(v) for m, v in final.items()},
            diverged_epoch=int(hist.diverged_epoch[k]) if diverged else None,
            seconds=seconds, ensemble=ensemble, ensemble_size=len(runs),
            started=started, finished=finished,
            initlab_version=initlab.__version__, numpy_version=np.__version__,
            weights=_weights(model, k) if keep_weights else None,
            probes=None if probe is None else _probe_record(probe, k),
        ))
    return records


def _probe_record(probe: Any, k: int) -> dict[str, Any]:
    """Model ``k``'s part of a Probe, JSON-ready: steps, per-layer series, latest findings."""
    hist = probe.history()
    series = {
        name: [[None if not np.isfinite(v) else float(v) for v in row] for row in arr[:, :, k]]
        for name, arr in hist.items() if name != "step"
    }
    return {
        "every": probe.every,
        "layers": list(probe.layer_names),
        "step": hist["step"].tolist(),
        "series": series,
        "findings": [f.to_dict() for f in probe.findings if f.model == k],
    }


def _weights(model: Any, k: int) -> dict[str, np.ndarray]:
    return {key: np.array(arr[k]) for key, arr in model._arrays().items()}


def plan_ensembles(
    study: Study, runs: Sequence[Run], workers: int = 1, max_models: int | None = None
) -> list[list[Run]]:
    """Split the runs into ensembles: as few as ``workers`` and ``max_models`` allow.

    The runs of a study share one architecture, so they form one ensemble, cut into
    ``max(workers, ceil(n / max_models))`` near-equal parts when asked.

    Example:
        >>> s = Study(schemes=["a", "b", "c"], seeds=2, validate_names=False)
        >>> [len(e) for e in plan_ensembles(s, s.runs, workers=2)]
        [3, 3]
        >>> [len(e) for e in plan_ensembles(s, s.runs, max_models=4)]
        [3, 3]
    """
    runs = list(runs)
    if not runs:
        return []
    parts = max(1, int(workers))
    if max_models is not None:
        parts = max(parts, math.ceil(len(runs) / int(max_models)))
    parts = min(parts, len(runs))
    return [list(chunk) for chunk in _split(runs, parts)]


def _split(items: list[Run], parts: int) -> list[list[Run]]:
    q, r = divmod(len(items), parts)
    out, start = [], 0
    for i in range(parts):
        stop = start + q + (i < r)
        out.append(items[start:stop])
        start = stop
    return out


# When more processes pay, measured on this project's 2-core machine that other sessions share
# (K = 30 runs, medians of 5; README): with a core idle, two processes of one BLAS thread each
# beat one process (seed 002's moons network, 3,000 full-batch epochs: 3.74 -> 2.79 s; MNIST
# 784-128-64-10, one epoch of 8,000 images, batch 128: 3.08 -> 1.87 s, batch 32 with Adam:
# 5.19 -> 3.07 s); with both cores busy with other work they lose (2.53 -> 3.29 s and
# 3.06 -> 3.49 s). So "auto" counts the idle cores (the load average) and starts a process
# per idle core, for a study of at least about a second of work.
PARALLEL_MIN_WORK = 1_000_000_000
"""Multiply-adds of a whole study (all runs, all steps) below which one process is used."""


def step_macs(study: Study, input_dim: int, n_out: int, n_train: int, k: int) -> int:
    """Multiply-adds of one forward pass of one optimizer step for K models (the work size).

    Example:
        >>> step_macs(Study(layers=(12, 6), validate_names=False), 2, 1, 400, 30)
        1224000
    """
    widths = [input_dim]
    per_sample = 0
    for w in (*study.layers, n_out):
        if isinstance(w, str):  # a residual block: two w x w products (and a projection)
            u = int(w[3:])
            per_sample += 2 * u * u + (widths[-1] * u if widths[-1] != u else 0)
        else:
            per_sample += widths[-1] * w
        widths.append(int(w[3:]) if isinstance(w, str) else w)
    batch = n_train if study.batch_size is None else min(study.batch_size, n_train)
    return int(per_sample * batch * k)


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def idle_cores(cores: int | None = None, load: float | None = None) -> int:
    """Cores this process may use besides its own: usable cores minus the others' load.

    Args:
        cores: usable cores (default: this process's CPU affinity).
        load: the 1-minute load average (default: :func:`os.getloadavg`); this process is
            assumed to count one in it.

    Example:
        >>> idle_cores(cores=2, load=1.0), idle_cores(cores=2, load=3.5)
        (2, 1)
    """
    cores = usable_cores() if cores is None else int(cores)
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (OSError, AttributeError):  # pragma: no cover - no load average here
            load = 0.0
    others = max(0.0, float(load) - 1.0)
    return max(1, min(cores, math.floor(cores - others + 0.5)))


def auto_workers(
    study: Study, dataset: Any, n_runs: int, cores: int | None = None, load: float | None = None
) -> int:
    """How many processes to train ``n_runs`` in: one per idle core (:func:`idle_cores`, at
    most 4, at most one per run), or one for a study under :data:`PARALLEL_MIN_WORK`
    multiply-adds in all.

    Example:
        >>> from initlab.data import load
        >>> auto_workers(Study(layers=(12, 6), epochs=10, validate_names=False), load("moons"), 30)
        1
    """
    n_out = _output_units(study, int(dataset.n_classes))
    n_train = int(dataset.x_train.shape[0])
    steps = study.epochs * (1 if study.batch_size is None
                            else math.ceil(n_train / study.batch_size))
    work = step_macs(study, int(dataset.x_train.shape[1]), n_out, n_train, n_runs) * steps
    if work < PARALLEL_MIN_WORK:
        return 1
    return max(1, min(idle_cores(cores, load), 4, n_runs))


def blas_limits(threads: int | None) -> Any:
    """A context that caps BLAS threads (threadpoolctl, which scikit-learn brings), restoring
    them on exit; None: a context that changes nothing."""
    import contextlib

    if threads is None:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=threads, user_api="blas")


# ---------------------------------------------------------------------- the runner
def _check_count(name: str, value: Any, optional: bool) -> None:
    integer(name, value, low=1, error=ConfigError, optional=optional)


def run_study(
    study: Study,
    store: str | os.PathLike[str] | Store | None = None,
    *,
    progress: bool = True,
    workers: int | str = "auto",
    max_models: int | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    threads: int | None = 1,
    dataset: Any = None,
    keep_weights: bool = False,
    executor: Executor | None = None,
) -> Results:
    """Train the study's missing runs and return its results.

    The store is opened (and checked against the study's recipe) before any data is loaded
    or any model trained. Runs already in the store are not trained again; runs stored as
    failed are retried. Runs that another live process has claimed in the same store are
    left to it: this call trains the others, then waits for those (see :func:`execute`).

    Args:
        study: the :class:`~initlab.studies.spec.Study`.
        store: a SQLite file (created if absent), an open :class:`Store`, or None for an
            in-memory store (results are then not kept).
        progress: show a progress bar over model-epochs (tqdm, on stderr).
        workers: processes training in parallel (each its own ensemble), or ``"auto"``
            (:func:`auto_workers`: one per idle core, at most 4; one for a tiny study).
        max_models: the most models in one ensemble (None: no limit).
        data_dir: where a downloaded dataset's files are (see :mod:`initlab.data`).
        threads: BLAS threads per training process (None: leave them to the engine). One
            is the default: on the shared 2-core machine two BLAS threads in one process were
            erratic, up to 10x slower when other work held the cores, and the engine's own
            choice (with NumPy's thread count) took 1.5-5.4 s where one thread took 2.8-3.2 s
            (MNIST 784-128-64-10, K = 30, one epoch; README).
        dataset: the study's data already loaded with :func:`load_data` (None: load it
            when a run is missing).
        keep_weights: store each run's trained parameters too (``Results.model`` rebuilds
            the model from them, e.g. to draw decision boundaries) and read them back.
        executor: where to train (:mod:`initlab.studies.executors`); None: local processes
            when ``workers`` > 1, else this process.

    Returns:
        :class:`~initlab.studies.results.Results` of the whole grid.

    Raises:
        StoreError: the store cannot be written or holds another recipe for this name.
        ConfigError, DataError: a bad option or missing data, before any training.
    """
    if workers != "auto":
        _check_count("workers", workers, optional=False)
    _check_count("max_models", max_models, optional=True)
    _check_count("threads", threads, optional=True)
    own = not isinstance(store, Store)
    st = Store(":memory:" if store is None else store) if own else store
    try:
        st.register(study)
        missing = st.missing(study)
        if missing:
            if dataset is None:
                dataset = load_data(study, data_dir)
            _output_units(study, int(dataset.n_classes))  # fail before training
            st.set_data_provenance(study, dict(getattr(dataset, "provenance", {}) or {}))
            if workers == "auto":
                workers = auto_workers(study, dataset, len(missing))
            execute([study], st, {data_key(study): dataset}, executor=executor,
                    parts=int(workers), max_models=max_models, threads=threads,
                    keep_weights=keep_weights, progress=progress, desc=study.name)
        return Results(study, st.records(study, weights=keep_weights),
                       provenance=st.data_provenance(study))
    finally:
        if own:
            st.close()


def data_key(study: Study) -> str:
    """The key of a study's data: dataset, options and dtype as canonical JSON (studies with
    the same key train on the same arrays, which an executor ships once)."""
    return json.dumps([study.dataset, dict(study.dataset_options), study.dtype], sort_keys=True)


POLL_SECONDS = 0.5
"""How often a driver waiting for another process's claimed runs looks at the store."""


def execute(
    studies: Sequence[Study],
    st: Store,
    datasets: Mapping[str, Any],
    *,
    executor: Executor | None = None,
    parts: int = 1,
    max_models: int | None = None,
    threads: int | None = 1,
    keep_weights: bool = False,
    progress: bool = True,
    desc: str = "runs",
    total_runs: int | None = None,
) -> int:
    """Train the missing runs of ``studies`` into ``st``: the driver loop of studies and sweeps.

    For each study, the missing runs (and those stored as failed) that no other live
    process has claimed are claimed (:meth:`Store.claim`), planned into ensembles
    (:func:`plan_ensembles`: ``parts`` per study, at most ``max_models`` models each),
    trained by the executor, and each finished ensemble's records written in one transaction
    by this process, the store's only writer. Runs claimed by another process are waited
    for; if it dies, its claims are taken over. A run that fails here is stored with its
    error and not retried until the next call.

    Args:
        studies: the recipes (each registered in ``st`` already).
        st: the open store.
        datasets: :func:`data_key` -> loaded dataset, for every study with missing runs.
        executor: where to train (None: local processes if ``parts`` > 1, else this one).
        parts: ensembles per study at least (one per worker process for a single study).
        max_models: the most models per ensemble.
        threads: BLAS threads per training process.
        keep_weights: keep each run's trained parameters.
        progress: a progress bar over model-epochs, with runs stored / total.
        desc: the bar's label.
        total_runs: the grid's size for the bar (default: every run of ``studies``).

    Returns:
        How many runs this call stored (failed ones included).
    """
    from initlab.studies.executors import InProcessExecutor, ProcessExecutor, Task

    owner = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    total = sum(len(s.runs) for s in studies) if total_runs is None else total_runs
    attempted: set[tuple[str, Run]] = set()
    missing = {s.name: st.missing(s) for s in studies}
    n_missing = sum(len(m) for m in missing.values())
    stored = total - n_missing
    bar = _bar(desc, sum(len(missing[s.name]) * s.epochs for s in studies), progress)
    bar.set_postfix_str(f"{stored}/{total} runs stored")
    own = executor is None
    written = 0
    waited_for: set[int] = set()
    try:
        while True:
            tasks, waiting = [], {}
            for s in studies:
                todo = [r for r in missing[s.name] if (s.name, r) not in attempted]
                if not todo:
                    continue
                claim = st.claim(s, todo, owner)
                waiting.update({(s.name, r): pid for r, pid in claim.others.items()})
                for runs in plan_ensembles(s, claim.mine, parts if len(studies) == 1 else 1,
                                           max_models):
                    tasks.append(Task(s, tuple(runs), data_key(s)))
            if tasks:
                if executor is None:
                    executor = (ProcessExecutor(parts) if parts > 1 and len(tasks) > 1
                                else InProcessExecutor())
                for task, records in executor.run(tasks, datasets, keep_weights=keep_weights,
                                                  threads=threads, tick=bar.update):
                    n = st.write(task.study, records)
                    written += n
                    stored += sum(r.status != "failed" for r in records)
                    attempted.update((task.study.name, r) for r in task.runs)
                    bar.set_postfix_str(f"{stored}/{total} runs stored")
                    st.heartbeat(owner)
            elif waiting:
                pids = set(waiting.values())
                if not pids <= waited_for:
                    bar.write(f"{len(waiting)} runs are being trained by another process "
                              f"(pid {', '.join(map(str, sorted(pids)))}) on this store: "
                              "waiting for them", file=sys.stderr)
                    waited_for |= pids
                time.sleep(POLL_SECONDS)
                st.heartbeat(owner)
            else:
                break
            missing = {s.name: st.missing(s) for s in studies}
    finally:
        bar.close()
        st.release(owner)
        if own and executor is not None:
            executor.close()
    return written


def _bar(desc: str, total: int, progress: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not progress, unit="model-epoch", unit_scale=True,
                desc=desc, dynamic_ncols=True, leave=True)


def default_store_path(out: str | os.PathLike[str]) -> Path:
    """Where the CLI keeps a study's store inside an output folder: ``OUT/study.sqlite``."""
    return Path(out) / "study.sqlite"
