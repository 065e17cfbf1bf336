"""Benchmark the training probe's overhead (issue 5): fit time with and without it.

Run by hand from the repository root (not a test)::

    python benchmarks/probe.py [--quick] [--repeats N] [--every N] [--moons-epochs E]

Two workloads of ``benchmarks/engine.py``: workload 1 at batch 128 (784-128-64-10, 60,000
MNIST-shaped samples, one epoch, K = 1; 469 steps) and seed 002's moons network with K = 100
(full batch; 3,000 epochs by default, a fifth of the 15,000: the overhead is a per-step ratio,
so the shorter run measures the same thing). Each is timed ``--repeats`` times (default 5)
without and with ``initlab.Probe(every=N)`` (N = the probe's default unless ``--every``),
alternating the two so that load on the shared machine hits both alike; the table gives the
medians and the overhead ``(with - without) / without`` (target <= 10 %).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    initlab_fit,
    initlab_model,
    make_data,
    markdown_table,
    warmup_slice,
    workloads,
)

TARGET = 0.10


def parse(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 6,000 samples, 300 moons epochs, 2 repeats")
    p.add_argument("--repeats", type=int, default=None, help="timed pairs (default 5)")
    p.add_argument("--every", type=int, default=None, help="probe period (default: Probe's)")
    p.add_argument("--moons-epochs", type=int, default=None,
                   help="full-batch epochs of the moons workload (default 3,000)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Time fit with and without the probe; print the medians and the overhead."""
    args = parse(argv)
    from initlab.diagnose import Probe
    from initlab.diagnose.probe import DEFAULT_EVERY

    every = args.every or DEFAULT_EVERY
    repeats = args.repeats or (2 if args.quick else 5)
    moons_epochs = args.moons_epochs or (300 if args.quick else 3000)
    base = {w.key: w for w in workloads(quick=False)}
    wls = [
        replace(base["w1_b128"], n=6000 if args.quick else base["w1_b128"].n),
        replace(base["w3_k100"], epochs=moons_epochs),
    ]
    print(f"# initlab probe overhead ({'quick' if args.quick else 'full'}): Probe(every={every}),"
          f" median of {repeats} alternating runs without / with; the machine may be shared")
    rows, missed = [], 0
    for w in wls:
        x, y = make_data(w)
        model = initlab_model(w)
        initlab_fit(model, w, *warmup_slice(w, x, y), epochs=1)
        plain, probed, records = [], [], 0
        for _ in range(repeats):
            t0 = time.perf_counter()
            initlab_fit(model, w, x, y)
            plain.append(time.perf_counter() - t0)
            probe = Probe(every=every, lr=0.01)
            t0 = time.perf_counter()
            initlab_fit(model, w, x, y, callbacks=[probe])
            probed.append(time.perf_counter() - t0)
            records = len(probe)
        a, b = statistics.median(plain), statistics.median(probed)
        over = (b - a) / a
        missed += over > TARGET
        steps = w.epochs * (1 if w.batch is None else -(-w.n // w.batch))
        title = (f"{w.kind} K={w.K}, {steps:,} steps "
                 f"({'batch ' + str(w.batch) if w.batch else 'full batch'})")
        print(f"  {title}: without {[round(t, 3) for t in plain]}, "
              f"with {[round(t, 3) for t in probed]}", flush=True)
        rows.append([title, f"{records}", f"{a:.3f} s", f"{b:.3f} s",
                     f"{100 * over:+.1f} % ({'met' if over <= TARGET else 'MISSED'})"])
    print()
    print(markdown_table(["Workload", "records", "fit without probe", "fit with probe",
                          "overhead (target <= 10 %)"], rows))
    if missed:
        print(f"\n{missed} workload(s) over the {100 * TARGET:.0f} % target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
