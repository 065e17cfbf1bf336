"""Executors: where the runner's ensembles train (this process, local processes, Dask).

The runner plans the missing runs into :class:`Task` s (one K-model ensemble each) and hands
them to an executor; the executor trains them wherever it trains and yields each task's
records as it finishes; the driver (the runner, in the calling process) writes them to the
store, one transaction per ensemble. Workers never touch the store, so no SQLite file is ever
shared between machines (SQLite's documentation warns against network filesystems).

============================  =====================================================
executor                      where
============================  =====================================================
:class:`InProcessExecutor`    this process, one ensemble after another
:class:`ProcessExecutor`      N local worker processes (the default for workers > 1)
:class:`DaskExecutor`         a Dask ``distributed`` cluster: a ``LocalCluster`` of N
                              worker processes, or an existing scheduler's address
                              (extra ``initlab[dask]``)
============================  =====================================================

A task whose training raises does not stop the others: its runs come back as records with
status ``failed`` and the error (:func:`train_task` retries a failed ensemble one model at a
time first, so one bad run does not fail its neighbours). The store keeps the failure and the
next run retries it.

With Dask, each dataset is scattered to every worker once (``broadcast=True``), not sent with
each task; a worker killed mid-task (``kill -9``) loses its tasks, which the scheduler runs
again on another worker (``distributed``'s own recovery), and the driver stores each run once.

Example:
    >>> from initlab.studies import Study
    >>> s = Study(dataset="xor", dataset_options={"n_train": 20, "n_test": 10}, layers=(3,),
    ...           schemes=["zeros"], seeds=2, epochs=2)
    >>> from initlab.studies.runner import load_data
    >>> data = {"d": load_data(s)}
    >>> with InProcessExecutor() as ex:
    ...     done = list(ex.run([Task(s, (("zeros", 0), ("zeros", 1)), "d")], data))
    >>> [r.status for r in done[0][1]]
    ['trained', 'trained']
"""

from __future__ import annotations

import os
import traceback
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from initlab.errors import ConfigError
from initlab.studies.spec import Study
from initlab.studies.store import RunRecord, now

__all__ = ["Task", "Executor", "InProcessExecutor", "ProcessExecutor", "DaskExecutor",
           "train_task", "failed_records", "make_executor"]

Run = tuple[str, int]
Tick = Callable[[int], None]


@dataclass(frozen=True)
class Task:
    """One ensemble to train: a study's recipe, its runs (one model each), and the key of the
    dataset it trains on (the executor receives the datasets by key, once)."""

    study: Study
    runs: tuple[Run, ...]
    data: str

    @property
    def model_epochs(self) -> int:
        """The task's size for progress: models x epochs."""
        return len(self.runs) * self.study.epochs


# ---------------------------------------------------------------------- the work itself
def failed_records(runs: Sequence[Run], error: BaseException | str, size: int,
                   started: str) -> list[RunRecord]:
    """Records saying each of ``runs`` failed with ``error`` (type and message)."""
    import initlab

    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    ensemble, finished = uuid.uuid4().hex[:12], now()
    return [RunRecord(scheme=s, seed=int(seed), status="failed", epochs=(), history={},
                      final={}, ensemble=ensemble, ensemble_size=size, started=started,
                      finished=finished, initlab_version=initlab.__version__,
                      numpy_version=np.__version__, error=text[:2000])
            for s, seed in runs]


def train_task(study: Study, dataset: Any, runs: Sequence[Run], keep_weights: bool = False,
               threads: int | None = 1, tick: Tick | None = None) -> list[RunRecord]:
    """Train ``runs`` as one ensemble with BLAS capped at ``threads`` (scoped, restored);
    return a record per run, ``failed`` ones included, never raising for a training error.

    If the ensemble raises, each run is trained alone so that the failure is pinned on the
    runs that cause it (a run's numbers do not depend on its ensemble).
    """
    from initlab.studies.runner import blas_limits, train_ensemble

    runs = list(runs)
    with blas_limits(threads):
        started = now()
        try:
            return train_ensemble(study, dataset, runs, tick=tick, keep_weights=keep_weights)
        except Exception as e:  # a run that raises is stored as failed, not lost
            if len(runs) == 1:
                return failed_records(runs, _describe(e), 1, started)
        out: list[RunRecord] = []
        for run in runs:
            started = now()
            try:
                out += train_ensemble(study, dataset, [run], keep_weights=keep_weights)
            except Exception as e:
                out += failed_records([run], _describe(e), 1, started)
        return out


def _describe(e: BaseException) -> str:
    where = traceback.extract_tb(e.__traceback__)[-1:] if e.__traceback__ else []
    at = f" (at {os.path.basename(where[0].filename)}:{where[0].lineno})" if where else ""
    return f"{type(e).__name__}: {e}{at}"


# ---------------------------------------------------------------------- the interface
class Executor(ABC):
    """Trains tasks somewhere and yields ``(task, records)`` as each finishes.

    Subclasses implement :meth:`run`; :meth:`close` frees what the executor started. An
    executor is a context manager.
    """

    name: str = "executor"

    @abstractmethod
    def run(self, tasks: Sequence[Task], datasets: Mapping[str, Any], *,
            keep_weights: bool = False, threads: int | None = 1,
            tick: Tick | None = None) -> Iterator[tuple[Task, list[RunRecord]]]:
        """Train every task; yield each task with its records, in the order they finish.

        Args:
            tasks: the ensembles to train.
            datasets: data key -> :class:`initlab.data.Dataset` (every key the tasks name).
            keep_weights: put each model's trained parameters into its record.
            threads: BLAS threads per training process (None: leave them).
            tick: called in this process with model-epochs done (progress), as often as the
                executor can tell.
        """

    def close(self) -> None:
        """Free the executor's processes or cluster (nothing by default)."""
        return None

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class InProcessExecutor(Executor):
    """Train each task in this process, one after another."""

    name = "in-process"

    def run(self, tasks: Sequence[Task], datasets: Mapping[str, Any], *,
            keep_weights: bool = False, threads: int | None = 1,
            tick: Tick | None = None) -> Iterator[tuple[Task, list[RunRecord]]]:
        for task in tasks:
            yield task, train_task(task.study, datasets[task.data], task.runs, keep_weights,
                                   threads, tick)


# ---------------------------------------------------------------------- local processes
_COUNTER: Any = None


def _die_with_parent() -> None:
    """Linux: have the kernel end this worker when the parent dies (e.g. ``kill -9``)."""
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not Linux/glibc: nothing to do
        pass


def _worker_init(counter: Any) -> None:
    global _COUNTER
    _COUNTER = counter
    _die_with_parent()


def _worker_tick(n: int) -> None:
    with _COUNTER.get_lock():
        _COUNTER.value += n


def _worker_train(study: Study, dataset: Any, runs: list[Run], keep_weights: bool,
                  threads: int | None) -> list[RunRecord]:
    return train_task(study, dataset, runs, keep_weights, threads, tick=_worker_tick)


def _mp_context() -> Any:
    """How worker processes start: fork where it is safe, else forkserver (or spawn).

    fork works from any script, even one without an ``if __name__ == "__main__":`` guard,
    but forking a parent that runs threads (JAX's, PyTorch's, a thread pool) can deadlock;
    then the workers start from a forkserver's clean process (which needs that guard in a
    script that starts a study, as every non-fork start does).
    """
    import multiprocessing as mp
    import sys
    import threading

    methods = mp.get_all_start_methods()
    others = [t for t in threading.enumerate()
              if t is not threading.main_thread() and t.name != "tqdm_monitor"]
    threaded = bool(others) or any(m in sys.modules for m in ("jax", "torch", "tensorflow"))
    if "fork" in methods and not threaded:
        return mp.get_context("fork")
    return mp.get_context("forkserver" if "forkserver" in methods else "spawn")


class ProcessExecutor(Executor):
    """Train tasks in ``workers`` local processes (``concurrent.futures``), each task in one.

    Each task carries its dataset to its process (pickled with the task); progress counts
    model-epochs through a shared counter. The processes end when the executor closes, and
    with the driver if it is killed (Linux).

    Args:
        workers: how many processes (>= 1).
    """

    name = "processes"

    def __init__(self, workers: int = 2) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ConfigError(f"workers must be an int >= 1; got {workers!r}")
        self.workers = workers

    def run(self, tasks: Sequence[Task], datasets: Mapping[str, Any], *,
            keep_weights: bool = False, threads: int | None = 1,
            tick: Tick | None = None) -> Iterator[tuple[Task, list[RunRecord]]]:
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

        if not tasks:
            return
        ctx = _mp_context()
        counter = ctx.Value("q", 0)
        seen = 0
        with ProcessPoolExecutor(max_workers=min(self.workers, len(tasks)), mp_context=ctx,
                                 initializer=_worker_init, initargs=(counter,)) as pool:
            futures = {pool.submit(_worker_train, t.study, datasets[t.data], list(t.runs),
                                   keep_weights, threads): t for t in tasks}
            pending = set(futures)
            while pending:
                finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                if tick is not None and counter.value > seen:
                    tick(counter.value - seen)
                    seen = counter.value
                for fut in finished:
                    yield futures[fut], fut.result()

    def __repr__(self) -> str:
        return f"ProcessExecutor(workers={self.workers})"


# ---------------------------------------------------------------------- Dask
class DaskExecutor(Executor):
    """Train tasks on a Dask ``distributed`` cluster (extra ``initlab[dask]``).

    Args:
        address: a scheduler to join, e.g. ``"tcp://10.0.0.5:8786"`` (as ``dask-scheduler``,
            ``dask-worker`` or dask-jobqueue start it); or None for a ``LocalCluster``.
        n_workers: the LocalCluster's worker processes (one thread each; default: the
            usable cores). Ignored with ``address``.
        client: an existing ``distributed.Client`` to use instead (not closed here).

    Each dataset is scattered to every worker once per :meth:`run`; each task is one Dask
    task returning the ensemble's records. Workers of a LocalCluster listen on 127.0.0.1 only.

    Raises:
        ConfigError: ``distributed`` is not installed, or the scheduler cannot be reached.

    Example:
        >>> with DaskExecutor(n_workers=1) as ex:  # doctest: +SKIP
        ...     ex.n_workers
        1
    """

    name = "dask"

    def __init__(self, address: str | None = None, n_workers: int | None = None,
                 client: Any = None) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ConfigError(
                "the Dask executor needs dask.distributed: pip install 'initlab[dask]'"
            ) from None
        self._cluster: Any = None
        self._own_client = client is None
        if client is not None:
            self.client = client
        elif address is not None:
            try:
                self.client = Client(address, timeout=30)
            except (OSError, TimeoutError) as e:
                raise ConfigError(f"cannot reach the Dask scheduler {address!r}: {e}") from None
        else:
            if n_workers is not None and (isinstance(n_workers, bool)
                                          or not isinstance(n_workers, int) or n_workers < 1):
                raise ConfigError(f"Dask workers must be an int >= 1; got {n_workers!r}")
            from initlab.studies.runner import usable_cores

            self._cluster = LocalCluster(
                n_workers=n_workers or usable_cores(), threads_per_worker=1, processes=True,
                host="127.0.0.1", dashboard_address=":0", silence_logs=40,
            )
            self.client = Client(self._cluster)

    @property
    def n_workers(self) -> int:
        """Workers the scheduler knows now."""
        return len(self.client.scheduler_info().get("workers", {}))

    def run(self, tasks: Sequence[Task], datasets: Mapping[str, Any], *,
            keep_weights: bool = False, threads: int | None = 1,
            tick: Tick | None = None) -> Iterator[tuple[Task, list[RunRecord]]]:
        from distributed import as_completed

        if not tasks:
            return
        keys = sorted({t.data for t in tasks})
        scattered = {k: self.client.scatter(datasets[k], broadcast=True, hash=False)
                     for k in keys}
        futures = {}
        for t in tasks:
            fut = self.client.submit(train_task, t.study, scattered[t.data], list(t.runs),
                                     keep_weights, threads, pure=False)
            futures[fut] = t
        try:
            for fut in as_completed(futures):
                task = futures.pop(fut)
                try:
                    records = fut.result()
                except Exception as e:  # e.g. KilledWorker: the task killed its workers
                    records = failed_records(task.runs, e, len(task.runs), now())
                if tick is not None:
                    tick(task.model_epochs)
                yield task, records
        finally:
            for fut in futures:
                fut.cancel()
            for fut in scattered.values():
                fut.release()

    def worker_pids(self) -> dict[str, int]:
        """Worker address -> the pid of its process (to watch or, in tests, to kill)."""
        return dict(self.client.run(os.getpid))

    def close(self) -> None:
        """Close the client (if this executor made it) and the LocalCluster it started."""
        if self._own_client:
            self.client.close()
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def __repr__(self) -> str:
        where = "LocalCluster" if self._cluster is not None else "scheduler"
        return f"DaskExecutor({where}, {self.n_workers} workers)"


def make_executor(dask: str | None = None, scheduler: str | None = None,
                  workers: int = 1) -> Executor:
    """The executor a command line asks for: ``dask="local"`` or ``"local:N"`` (a
    LocalCluster of N workers), ``scheduler="tcp://HOST:8786"`` (join a cluster), else local
    processes (``workers`` > 1) or this process.

    Raises:
        ConfigError: a malformed ``dask`` value, or both given.

    Example:
        >>> make_executor(workers=1).name, make_executor(workers=3).workers
        ('in-process', 3)
    """
    if dask is not None and scheduler is not None:
        raise ConfigError("--dask and --scheduler: give one (local:N starts a cluster, "
                          "--scheduler joins one)")
    if scheduler is not None:
        if not isinstance(scheduler, str) or "://" not in scheduler:
            raise ConfigError(f"--scheduler {scheduler!r}: expected an address like "
                              "tcp://HOST:8786")
        return DaskExecutor(address=scheduler)
    if dask is not None:
        head, sep, count = str(dask).partition(":")
        if head != "local" or (sep and not count.isdigit()) or (sep and int(count) < 1):
            raise ConfigError(f"--dask {dask!r}: expected local or local:N with N >= 1 "
                              "worker processes")
        return DaskExecutor(n_workers=int(count) if sep else None)
    return ProcessExecutor(workers) if workers > 1 else InProcessExecutor()

