"""Sweeps: the Dask executor's overhead against local processes, and a 1,000-run moons sweep
that is killed, resumed and reported with the driver's memory measured.

Usage:
    PYTHONPATH=src python3 benchmarks/sweeps.py overhead [ENSEMBLES] [SECONDS] [REPS]
    PYTHONPATH=src python3 benchmarks/sweeps.py memory [RUNS]

overhead: one sweep of ENSEMBLES grid points (default 100), each one ensemble of about
SECONDS (default 1.0) of training, run by two local processes and by a Dask LocalCluster of
two worker processes, REPS times interleaved (default 3); prints the medians and their ratio
(cluster start-up timed apart).
memory: a RUNS-run moons sweep (default 1,000: 100 points x 10 seeds) driven by a process
killed (kill -9) at about a third, then resumed and reported in this process while the
driver's resident memory is sampled; prints RSS against runs stored.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from initlab.studies import Study, Sweep, SweepResults
from initlab.studies.executors import DaskExecutor, ProcessExecutor
from initlab.studies.runner import load_data

MOONS = Study(dataset="moons", dataset_options={"n_train": 400, "n_test": 100}, layers=(16, 16),
              schemes=["he_normal", "glorot_uniform"], seeds=2, epochs=100, lr=0.05,
              log_every=100)


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _stored(path: Path) -> int:
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            return db.execute("SELECT count(*) FROM runs WHERE status != 'failed'").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return 0


def _calibrate(seconds: float) -> Study:
    """MOONS with the epochs that make one K = 4 ensemble take about ``seconds``."""
    sw = Sweep("cal", MOONS, {"width": [16]})
    data = sw.load_data()
    t = time.perf_counter()
    sw.run(progress=False, datasets=data)
    per_epoch = (time.perf_counter() - t) / MOONS.epochs
    return MOONS.replace(epochs=max(10, round(seconds / per_epoch)))


def overhead(ensembles: int, seconds: float, reps: int) -> None:
    base = _calibrate(seconds)
    sw = Sweep("overhead", base, {"width": list(range(16, 16 + ensembles))})
    data = sw.load_data()
    t = time.perf_counter()
    dask = DaskExecutor(n_workers=2)
    startup = time.perf_counter() - t
    local = ProcessExecutor(2)
    times: dict[str, list[float]] = {"processes": [], "dask": []}
    try:
        for _ in range(reps):  # interleaved, so load changes hit both alike
            for name, ex in (("processes", local), ("dask", dask)):
                t = time.perf_counter()
                res = sw.run(executor=ex, progress=False, datasets=data)
                times[name].append(time.perf_counter() - t)
                assert res.complete
                print(f"  {name}: {times[name][-1]:.2f} s (load {os.getloadavg()[0]:.1f})",
                      flush=True)
    finally:
        dask.close()
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{ensembles} ensembles of ~{seconds:g} s (K = 4, {base.epochs} epochs), 2 workers, "
          f"{reps} reps: processes median {med['processes']:.2f} s, dask median "
          f"{med['dask']:.2f} s; dask / processes = {med['dask'] / med['processes']:.3f} "
          f"(overhead {100 * (med['dask'] / med['processes'] - 1):+.1f} %); LocalCluster "
          f"start-up {startup:.1f} s, not included")


DRIVER = """
import sys
from initlab.studies import Sweep
Sweep.from_file(sys.argv[1]).run(sys.argv[2], progress=False)
"""


def memory(runs: int) -> None:
    seeds = 10
    points = max(1, runs // (seeds * 2))
    base = MOONS.replace(epochs=20, seeds=seeds, batch_size=None)
    # one architecture for every point (lr varies), so later ensembles are no bigger
    sw = Sweep("memory", base, {"lr": {"start": 0.01, "stop": 0.5, "num": points}})
    tmp = Path(tempfile.mkdtemp())
    cfg, store = tmp / "sweep.json", tmp / "sweep.sqlite"
    import json

    cfg.write_text(json.dumps(sw.to_dict()), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, str(cfg), str(store)], env=env)
    while _stored(store) < sw.n_runs // 3 and proc.poll() is None:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = _stored(store)
    print(f"driver killed (kill -9) with {killed_at}/{sw.n_runs} runs stored", flush=True)

    load_data(base)  # imports and the dataset, before the baseline
    samples: list[tuple[int, float]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            samples.append((_stored(store), _rss_mb()))
            time.sleep(0.05)

    t = time.perf_counter()
    thread = threading.Thread(target=sample)
    thread.start()
    res = sw.run(store, progress=False)
    stop.set()
    thread.join()
    resumed = time.perf_counter() - t
    t = time.perf_counter()
    rep = SweepResults.from_store(store)
    rep.to_csv(tmp / "runs.csv")
    table = rep.table()
    reported = time.perf_counter() - t
    assert res.complete and rep.complete and len(rep.rows) == sw.n_runs
    after_report = _rss_mb()
    print(f"resumed: {sw.n_runs - killed_at} runs in {resumed:.1f} s; report "
          f"({len(table.splitlines())} table lines, runs.csv) in {reported:.1f} s")
    first = [m for n, m in samples if n <= killed_at + (sw.n_runs - killed_at) // 10]
    last = [m for n, m in samples if n >= sw.n_runs - (sw.n_runs - killed_at) // 10]
    print("driver RSS (MB) against runs stored:")
    step = max(1, len(samples) // 8)
    for n, m in samples[::step]:
        print(f"  {n:5d} runs  {m:7.1f} MB")
    print(f"median RSS over the first tenth of the resumed runs {statistics.median(first):.1f} MB,"
          f" over the last tenth {statistics.median(last):.1f} MB; peak "
          f"{max(m for _, m in samples):.1f} MB; after reading all {sw.n_runs} rows "
          f"{after_report:.1f} MB; store {store.stat().st_size / 2**20:.1f} MB")


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "overhead"
    args = [float(a) for a in sys.argv[2:]]
    if what == "overhead":
        overhead(int(args[0]) if args else 100, args[1] if len(args) > 1 else 1.0,
                 int(args[2]) if len(args) > 2 else 3)
    elif what == "memory":
        memory(int(args[0]) if args else 1000)
    else:
        sys.exit("usage: sweeps.py overhead [ENSEMBLES] [SECONDS] [REPS] | memory [RUNS]")
