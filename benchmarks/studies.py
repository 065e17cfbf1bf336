"""Studies: one K = 30 ensemble in one process vs two ensembles in two processes.

Usage: PYTHONPATH=src python3 benchmarks/studies.py [REPS] [moons] [mnist] [mnist32]
(mnist needs the real t10k files in ../shared/data/mnist or $INITLAB_DATA)
"""

import os
import statistics
import sys
import time

from initlab.studies import Study, run_study
from initlab.studies.runner import load_data

SIX = ["zeros", "random_uniform", "glorot_uniform", "glorot_normal", "he_uniform", "he_normal"]
MNIST = {"split": "test:8000/2000"}
WORK = {
    "moons": Study(dataset="moons", layers=(12, 6), schemes=["zeros", "normal(std=10)",
                   "he_normal"], seeds=10, epochs=3000, lr=0.01),
    "mnist": Study(dataset="mnist", dataset_options=MNIST, layers=(128, 64), output="softmax",
                   schemes=SIX, seeds=5, epochs=1, batch_size=128, lr=0.01),
    "mnist32": Study(dataset="mnist", dataset_options=MNIST, layers=(128, 64),
                     output="softmax", schemes=SIX, seeds=5, epochs=1, batch_size=32,
                     optimizer="adam", lr=0.001),
}
CONFIGS = [(1, 1), (2, 1), (1, 2)]  # (processes, BLAS threads per process)

if __name__ == "__main__":
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    data_dir = os.environ.get("INITLAB_DATA", "../shared/data/mnist")
    for name in sys.argv[2:] or list(WORK):
        study = WORK[name]
        ds = load_data(study, data_dir)
        times: dict = {c: [] for c in CONFIGS}
        for _ in range(reps):  # interleaved, so load changes hit every config alike
            for workers, threads in CONFIGS:
                t = time.perf_counter()
                run_study(study, progress=False, workers=workers, threads=threads, dataset=ds)
                times[(workers, threads)].append(time.perf_counter() - t)
        for (workers, threads), v in times.items():
            print(f"{name:8s} K={len(study.runs)} processes={workers} blas_threads={threads}: "
                  f"median {statistics.median(v):.2f} s  ({', '.join(f'{x:.2f}' for x in v)})"
                  f"  load {os.getloadavg()[0]:.1f}", flush=True)
