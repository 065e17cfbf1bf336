"""Benchmark initlab's NumPy engine against PyTorch, JAX and Keras 3 (issue 3, "Performance").

Run by hand from the repository root (not a test)::

    python benchmarks/engine.py [--quick] [--repeats N] [--only w2,w3_k100] [--peers torch,jax]

Workloads (the same float32 data for every framework, fixed seeds):
  1. 784-128-64-10 relu MLP, softmax cross-entropy, SGD 0.01, 60,000 MNIST-shaped samples
     (uniform random pixels and labels), one epoch, batch 32 and batch 128, K = 1.
  2. The same at batch 128 with K = 30 (six schemes x five seeds).
  3. Seed 002's moons network (2-12-6-1 relu/relu/sigmoid, binary CE), 400 samples, 15,000
     full-batch epochs of GD lr 0.01, K = 1 and K = 100.

``initlab-jit`` is the same ``fit`` with ``engine="jit"`` (the compiled path: a C extension
built when initlab is installed), its own column when that extension is there (``--no-jit``
leaves it out). Its first call in the cell's fresh process (importing the extension; nothing
compiles at run time) is reported beside JAX's compile time, outside the table, and so is a
fresh process's first ``fit(engine="jit")`` from the import of initlab on.

Each cell is the median wall time of ``--repeats`` timed runs (default 5; a framework whose
runs on a workload exceed ``--budget`` seconds stops early, the run count is printed beside
the median). Each cell (workload x framework) runs in a fresh Python process, so no thread
pool or memory of another framework is alive while one is timed. Models are built and
JAX/Keras compiled outside the timed region, and a warm-up run precedes the timed ones for
every framework. See ``_peers.py`` for the fairness rules. Keras on workload 3 with K = 100
(a 100-branch functional model, ~40 ms per epoch) times 500 of the 15,000 epochs and
scales by 30 (marked *): full-batch epochs all cost the same.

``--quick`` is a smoke run (< 1 min): 2,000 samples, 100 moons epochs, 2 repeats, all cells in
this process, Keras only for K = 1 (its K-wide models take seconds to build). Its ratios are
dominated by per-call fixed costs and say little about the full workloads.

Also printed: workload 2's achieved GFLOP/s (6 * n * sum(fan_in * fan_out) * K per epoch,
see ``Workload.flops``) against the float32 matmul rate of this machine measured in the same
run (the best of several 2048 x 2048 ``np.matmul``), and workload 2's peak memory, measured in
a fresh subprocess as the peak resident set size (Linux: ``VmHWM`` in ``/proc/self/status``, as
``ru_maxrss`` is inherited across exec there; elsewhere ``getrusage`` ``ru_maxrss``): it holds
the interpreter, NumPy, the 188 MB of data and everything fit allocates.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from _common import (  # noqa: E402
    Timing,
    Workload,
    fmt_s,
    initlab_fit,
    initlab_model,
    make_data,
    markdown_table,
    time_runs,
    warmup_slice,
    workloads,
)

PEERS = ("torch", "jax", "keras")
PEER_NAMES = {"torch": "PyTorch", "jax": "JAX", "keras": "Keras"}
# Targets (issue 16): initlab / peer wall time must be <= these.
TARGETS = {
    "w1_b32": {"jax": 1.0, "torch": 0.8},
    "w1_b128": {"jax": 1.0, "torch": 0.8},
    "w2": {"jax": 1.0},
    "w3_k1": {"jax": 1.0},
    "w3_k100": {"jax": 0.5},
}
GFLOPS_TARGET = 0.60  # of the machine's float32 matmul rate, counting the FLOPs performed
MEMORY_TARGET = 0.35 * 2**30


def bench_initlab(w: Workload, x: np.ndarray, y: np.ndarray, repeats: int,
                  budget_s: float) -> Timing:
    """initlab: one ``fit`` per run on a model built outside the timed region."""
    model = initlab_model(w)
    xw, yw = warmup_slice(w, x, y)
    initlab_fit(model, w, xw, yw, epochs=1)
    return Timing(time_runs(lambda: initlab_fit(model, w, x, y), repeats, budget_s))


def bench_initlab_jit(w: Workload, x: np.ndarray, y: np.ndarray, repeats: int,
                      budget_s: float) -> Timing:
    """initlab's compiled path: the first fit (on the warm-up slice: the kernels' import) is
    timed as compile_s, then the timed runs."""
    model = initlab_model(w)
    xw, yw = warmup_slice(w, x, y)
    t0 = time.perf_counter()
    initlab_fit(model, w, xw, yw, epochs=1, engine="jit")
    first = time.perf_counter() - t0
    return Timing(time_runs(lambda: initlab_fit(model, w, x, y, engine="jit"), repeats,
                            budget_s), compile_s=first)


def jit_first_call() -> float | None:
    """Seconds of a fresh process's first ``fit(engine="jit")``, from importing initlab on (a
    4-3-10 net: initlab's and the kernels' import, SciPy's BLAS, one epoch)."""
    code = ("import time, numpy as np; t0 = time.perf_counter()\n"
            "from initlab.nn import Dense, Sequential\n"
            "m = Sequential([Dense(3, activation='relu'), Dense(10, activation='softmax')], "
            "input_dim=4)\n"
            "m.fit(np.zeros((8, 4)), np.arange(8), epochs=1, batch_size=4, optimizer='sgd', "
            "engine='jit')\n"
            "print('FIRST', time.perf_counter() - t0)\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[1] / "src"),
                                         env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("FIRST ")]
    return float(lines[-1].split()[1]) if lines else None


def matmul_gflops(size: int = 2048, tries: int = 5) -> float:
    """The machine's float32 matmul rate (GFLOP/s): best of ``tries`` ``np.matmul`` of size^2."""
    rng = np.random.default_rng(0)
    a = rng.random((size, size), dtype=np.float32)
    b = rng.random((size, size), dtype=np.float32)
    out = np.empty_like(a)
    np.matmul(a, b, out=out)
    best = float("inf")
    for _ in range(tries):
        t0 = time.perf_counter()
        np.matmul(a, b, out=out)
        best = min(best, time.perf_counter() - t0)
    return 2.0 * size**3 / best / 1e9


def peak_rss() -> tuple[int, str]:
    """This process's peak resident set size in bytes, and how it was read.

    Linux: ``VmHWM`` of ``/proc/self/status`` (``ru_maxrss`` is inherited across fork+exec on
    Linux, so a child started by a big parent would report the parent's peak). Elsewhere:
    ``resource.getrusage(RUSAGE_SELF).ru_maxrss``.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024, "VmHWM"
    except OSError:
        pass
    scale = 1 if sys.platform == "darwin" else 1024      # Linux reports KiB, macOS bytes
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale, "ru_maxrss"


def memory_child(quick: bool) -> None:
    """In a fresh process: train workload 2 once with initlab; print its peak RSS as JSON."""
    w = next(v for v in workloads(quick) if v.key == "w2")
    x, y = make_data(w)
    model = initlab_model(w)
    before, _ = peak_rss()
    initlab_fit(model, w, x, y)
    peak, how = peak_rss()
    print(json.dumps({"peak_bytes": peak, "before_fit_bytes": before, "how": how}))


def measure_memory(quick: bool) -> dict | None:
    """Run :func:`memory_child` in a subprocess (so earlier workloads do not count)."""
    env = dict(os.environ)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--memory-child"]
    if quick:
        cmd.append("--quick")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        print(f"memory subprocess failed: {proc.stderr.strip()[-500:]}")
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def cell_child(args: argparse.Namespace) -> None:
    """In a fresh process: time one framework on one workload; print a JSON line."""
    import _common

    _common.MIN_RUNS = args.min_runs
    key, name = args.cell.split(":")
    w = next(v for v in workloads(args.quick) if v.key == key)
    x, y = make_data(w)
    if name == "initlab":
        fn = bench_initlab
    elif name == "initlab-jit":
        fn = bench_initlab_jit
    else:
        import _peers

        fn = getattr(_peers, f"bench_{name}")
    t = fn(w, x, y, args.repeats, args.budget)
    print("CELL " + json.dumps({"times": t.times, "compile_s": t.compile_s, "scale": t.scale}))


def run_cell(key: str, name: str, args: argparse.Namespace) -> Timing:
    """Run :func:`cell_child` in a subprocess and return its Timing."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--cell", f"{key}:{name}",
           "--repeats", str(args.repeats), "--budget", str(args.budget),
           "--min-runs", "1" if args.rounds > 1 else "2"]
    if args.quick:
        cmd.append("--quick")
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("CELL ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(proc.stderr.strip()[-800:] or f"exit status {proc.returncode}")
    d = json.loads(lines[-1][5:])
    return Timing(d["times"], compile_s=d["compile_s"], scale=d["scale"])


def parse(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 2,000 samples, 100 moons epochs, 2 repeats, < 1 min")
    p.add_argument("--repeats", type=int, default=None, help="timed runs per cell (default 5)")
    p.add_argument("--budget", type=float, default=None,
                   help="stop repeating a cell once its runs exceed this many seconds "
                        "(default 60; 10 with --quick)")
    p.add_argument("--only", default="", help="comma-separated workload keys: "
                   "w1_b32,w1_b128,w2,w3_k1,w3_k100")
    p.add_argument("--peers", default=",".join(PEERS), help="comma-separated: torch,jax,keras")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocess")
    p.add_argument("--no-jit", action="store_true", help="leave out initlab-jit")
    p.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--rounds", type=int, default=1,
                   help="run each workload's cells this many times, the frameworks in turn, "
                   "and pool their runs (slow drifts of a shared machine's load then fall on "
                   "every framework alike; a cell may stop after one run per round)")
    p.add_argument("--min-runs", type=int, default=2, help=argparse.SUPPRESS)
    p.add_argument("--cell", default="", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the tables."""
    args = parse(argv)
    args.repeats = args.repeats or (2 if args.quick else 5)
    args.budget = args.budget or (10.0 if args.quick else 60.0)
    if args.memory_child:
        memory_child(args.quick)
        return 0
    if args.cell:
        cell_child(args)
        return 0
    import _peers

    repeats, budget = args.repeats, args.budget
    wanted = [s for s in args.only.split(",") if s]
    wls = [w for w in workloads(args.quick) if not wanted or w.key in wanted]
    peers = []
    for name in [s for s in args.peers.split(",") if s]:
        if name not in PEERS:
            print(f"unknown peer {name!r}; allowed: {', '.join(PEERS)}")
            return 2
        why = getattr(_peers, f"{name}_available")()
        if why:
            print(f"skipping {PEER_NAMES[name]}: {why}")
        else:
            peers.append(name)

    import initlab
    from initlab.nn.jit import available as jit_available

    own = ["initlab"]
    if not args.no_jit:
        if jit_available():
            own.append("initlab-jit")
        else:
            print("skipping initlab-jit: initlab.nn.jit_kernels was not built (no C compiler "
                  "when initlab was installed)")
    versions = [f"initlab {initlab.__version__}", f"NumPy {np.__version__}"]
    for name in peers:
        mod = {"torch": "torch", "jax": "jax", "keras": "keras"}[name]
        versions.append(f"{PEER_NAMES[name]} {sys.modules[mod].__version__}")
    print(f"# initlab engine benchmark ({'quick' if args.quick else 'full'})")
    from initlab.nn import blas

    print(f"{blas.describe()}; Python {platform.python_version()}; {', '.join(versions)}")
    advice = blas.kernel_advice()
    if advice:
        print(f"note: {advice}")
    print(f"median of {repeats} timed runs per cell and round (fewer where a cell passed "
          f"{budget:.0f} s);"
          " warm-up and compilation outside the timed region\n", flush=True)

    results: dict[str, dict[str, Timing]] = {}
    rounds = max(1, args.rounds)
    if rounds > 1:
        print(f"{rounds} rounds: each workload's cells run {rounds} times, the frameworks in "
              "turn; a cell's runs are pooled over the rounds\n", flush=True)
    for w in wls:
        results[w.key] = {}
        for rnd in range(rounds):
            for name in [*own, *peers]:
                t0 = time.perf_counter()
                if args.quick and name == "keras" and w.K > 1:
                    if rnd == 0:
                        print(f"  {w.key:8s} keras    skipped in --quick (K-wide model build)")
                    continue
                try:
                    if args.quick:
                        fn = {"initlab": bench_initlab, "initlab-jit": bench_initlab_jit}.get(
                            name) or getattr(_peers, f"bench_{name}")
                        t = fn(w, *make_data(w), repeats, budget)
                    else:
                        t = run_cell(w.key, name, args)
                except Exception as e:  # a peer failing must not hide the others' numbers
                    print(f"  {w.key} {name}: FAILED {e.__class__.__name__}: {e}")
                    continue
                old = results[w.key].get(name)
                r = t if old is None else Timing(old.times + t.times, compile_s=old.compile_s,
                                                 scale=old.scale)
                results[w.key][name] = r
                extra = (f", compile/warm-up {t.compile_s:.1f} s" if t.compile_s is not None
                         else "")
                tag = f" round {rnd + 1}" if rounds > 1 else ""
                print(f"  {w.key:8s} {name:11s}{tag} median {r.median:7.3f} s  runs "
                      f"{[round(v, 3) for v in t.times]}{extra}  "
                      f"(cell took {time.perf_counter() - t0:.0f} s)", flush=True)

    # ---- main table
    header = ["Workload", *own] + [PEER_NAMES[p] for p in peers] \
        + [f"{o} / {PEER_NAMES[p]}" for o in own for p in peers]
    rows = []
    verdicts = []
    for w in wls:
        res = results[w.key]
        row = [w.title] + [fmt_s(res.get(o)) for o in own] + [fmt_s(res.get(p)) for p in peers]
        for o in own:
            il = res.get(o)
            for p in peers:
                if il is None or p not in res:
                    row.append("-")
                    continue
                ratio = il.median / res[p].median
                target = TARGETS[w.key].get(p)
                mark = ""
                if target is not None:
                    ok = ratio <= target
                    mark = f" {'met' if ok else 'MISSED'} (<= {target:g})"
                    verdicts.append((w.key, p, ratio, target, ok, o))
                row.append(f"{ratio:.2f}x{mark}")
        rows.append(row)
    print("\n## Wall time (median s, runs) and ratios\n")
    print(markdown_table(header, rows))
    if any(t.scale != 1.0 for r in results.values() for t in r.values()):
        print("\n\\* timed on 1/30 of the epochs and scaled by 30 (full-batch epochs all "
              "cost the same)")

    if "jax" in peers:
        comp = [f"{w.key}: {results[w.key]['jax'].compile_s:.2f} s" for w in wls
                if "jax" in results[w.key]]
        print("\nJAX compile time (not in the table): " + ", ".join(comp))
    if "initlab-jit" in own:
        comp = [f"{w.key}: {results[w.key]['initlab-jit'].compile_s:.2f} s" for w in wls
                if "initlab-jit" in results[w.key]]
        print("initlab-jit first call in each cell's fresh process (the kernels' import; "
              "not in the table): " + ", ".join(comp))
        first = [jit_first_call() for _ in range(3)]
        print("initlab-jit first fit of a fresh process, from `import initlab` on (3 "
              "processes): " + ", ".join("failed" if v is None else f"{v:.2f} s"
                                        for v in first))
    if "keras" in peers:
        comp = [f"{w.key}: {results[w.key]['keras'].compile_s:.1f} s" for w in wls
                if "keras" in results[w.key]]
        print("Keras build + warm-up fit (not in the table): " + ", ".join(comp))

    # ---- throughput and memory of workload 2
    w2 = next((w for w in wls if w.key == "w2"), None)
    if w2 is not None and "initlab" in results["w2"]:
        peak = matmul_gflops()
        got = w2.flops() / results["w2"]["initlab"].median / 1e9
        frac = got / peak
        print(f"\n## Workload 2 throughput\n\ninitlab: {got:.1f} GFLOP/s "
              f"({w2.flops() / 1e9:.0f} GFLOP = 6 x n x sum(fan_in x fan_out) x K per epoch) "
              f"vs float32 np.matmul 2048^3 on this machine: {peak:.1f} GFLOP/s -> "
              f"{100 * frac:.0f} %")
        for o in own:  # the target counts the FLOPs performed, on either engine
            if o not in results["w2"]:
                continue
            real = w2.performed_flops() / results["w2"][o].median / 1e9
            ok = real / peak >= GFLOPS_TARGET
            print(f"{o}, counting only the FLOPs performed ({w2.performed_flops() / 1e9:.0f} "
                  f"GFLOP: no input gradient for the first layer): {real:.1f} GFLOP/s = "
                  f"{100 * real / peak:.0f} % of the matmul rate ({'met' if ok else 'MISSED'}, "
                  f"target >= {100 * GFLOPS_TARGET:.0f} %).")
        for p in [o for o in own if o != "initlab"] + peers:
            if p in results["w2"]:
                print(f"  {PEER_NAMES.get(p, p)}: {w2.flops() / results['w2'][p].median / 1e9:.1f} "
                      "GFLOP/s (same conventional count)")
    if w2 is not None and not args.no_memory:
        mem = measure_memory(args.quick)
        if mem:
            gib = mem["peak_bytes"] / 2**30
            print(f"\n## Workload 2 peak memory\n\ninitlab fit in a fresh process: peak RSS "
                  f"({mem['how']}) {gib:.2f} GiB, of which "
                  f"{mem['before_fit_bytes'] / 2**30:.2f} GiB before fit (interpreter, NumPy, "
                  f"data, model) ({'met' if mem['peak_bytes'] <= MEMORY_TARGET else 'MISSED'}, "
                  f"target <= {MEMORY_TARGET / 2**30:.2f} GiB)")

    missed = [v for v in verdicts if not v[4]]
    print("\n## Targets\n")
    for key, p, ratio, target, ok, o in verdicts:
        print(f"- {key} {o} vs {PEER_NAMES[p]}: {ratio:.2f}x, target <= {target:g}x: "
              f"{'met' if ok else f'MISSED by {ratio / target:.2f}x'}")
    if not verdicts:
        print("- (no target pairs ran)")
    print(f"\n{len(verdicts) - len(missed)}/{len(verdicts)} time targets met. The machine may be "
          "shared with other jobs: the timings are noisy; medians are reported.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
