"""Where a training step's time goes: per-call profile of initlab's NumPy engine (issue 16).

Run by hand from the repository root (not a test)::

    python benchmarks/profile_step.py [--only w1_b128,w2,w3_k1,w3_k100] [--epochs-scale 0.1]
                                      [--threads 1]

For each workload of ``benchmarks/engine.py`` it times one plain ``fit`` (nothing attached),
then the same ``fit`` with every call of the step plan (``StepPlan``'s forward, loss gradient
and backward calls, and on logged epochs the loss value and accuracy calls) and the batch
gathering wrapped in a timer (where the models run in several ranges on threads, each range's
calls are labelled ``r0``, ``r1``, ... and overlap in time).
It prints each call's share of the instrumented run, grouped by phase; "loop and update" is the
rest (the Python step loop, the finiteness check, the optimizer update, the parameter add).
The timers add about 0.3 us per call, so shares of very short steps are indicative.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import initlab_fit, initlab_model, make_data, workloads  # noqa: E402


def _label(call) -> str:
    if isinstance(call, partial):
        f = call.func
        name = getattr(f, "__name__", None) or type(f).__name__
        shapes = [tuple(a.shape) for a in call.args if hasattr(a, "shape")]
        out = call.keywords.get("out")
        if out is not None and hasattr(out, "shape"):
            shapes.append(("out", tuple(out.shape)))
        return f"{name} {shapes}"
    return getattr(call, "__name__", repr(call))


class Timers:
    """Accumulated seconds and counts per (phase, label)."""

    def __init__(self) -> None:
        self.t: dict = defaultdict(float)
        self.n: dict = defaultdict(int)

    def wrap(self, phase: str, label: str, fn):
        t, n, clock = self.t, self.n, time.perf_counter
        key = (phase, label)

        def timed(*a, **k):
            t0 = clock()
            r = fn(*a, **k)
            t[key] += clock() - t0
            n[key] += 1
            return r

        return timed


def profile(w, threads: int | None, scale: float) -> None:
    import initlab.nn.training as training
    from initlab.nn.model import Sequential

    x, y = make_data(w)
    if w.batch is None and scale != 1:
        w.epochs = max(1, int(w.epochs * scale))
    elif scale != 1:
        m = max(w.batch, int(len(x) * scale))
        x, y, w.n = x[:m], y[:m], m
    kw = {} if threads is None else {"threads": threads}

    def fit(model):
        fit_kw = dict(epochs=w.epochs, batch_size=w.batch, optimizer=initlab_sgd(), seed=0,
                      log_every=1000, **kw)
        t0 = time.perf_counter()
        model.fit(x, y, **fit_kw)
        return time.perf_counter() - t0

    model = initlab_model(w)
    initlab_fit(model, w, x[: (w.batch or len(x)) * 2], y[: (w.batch or len(x)) * 2], epochs=1)
    plain = min(fit(initlab_model(w)) for _ in range(2))

    timers = Timers()
    orig_init = training._Steps.__init__
    orig_fill = training._Batch.fill
    orig_plan = Sequential._plan
    phases: list = []

    def plan(self, ws, lossf, t, sc, parts=1):
        p = orig_plan(self, ws, lossf, t, sc, parts)
        phases[:] = ([("forward", len(p.forward)), ("grad", len(p.grad)),
                      ("backward", len(p.backward))] if parts == 1 else [])
        return p

    def phase_of(i: int) -> str:
        for name, count in phases:
            if i < count:
                return name
            i -= count
        return "step" if not phases else "logged"

    def init(self, *a, **k):
        orig_init(self, *a, **k)
        n_plain = [len(c) for c in self.plain]
        self.logged = [[timers.wrap(phase_of(i) if i < n else "logged",
                                    f"r{r} {i:2d} {_label(c)}", c) for i, c in enumerate(calls)]
                       for r, (calls, n) in enumerate(zip(self.logged, n_plain, strict=True))]
        self.plain = [calls[:n] for calls, n in zip(self.logged, n_plain, strict=True)]

    training._Steps.__init__ = init
    Sequential._plan = plan
    training._Batch.fill = timers.wrap("data", "fill (take x, t, labels)", orig_fill)
    model = initlab_model(w)
    try:
        total = fit(model)
    finally:
        training._Steps.__init__ = orig_init
        training._Batch.fill = orig_fill
        Sequential._plan = orig_plan
    steps = max(timers.n.values())
    print(f"\n## {w.title}  (n={w.n}, epochs={w.epochs}, threads={threads})")
    print(f"plain fit {plain:.3f} s; instrumented {total:.3f} s, {steps} steps, "
          f"{1e6 * total / steps:.1f} us/step")
    by_phase: dict = defaultdict(float)
    for (phase, _), s in timers.t.items():
        by_phase[phase] += s
    rest = total - sum(by_phase.values())
    for phase, s in sorted(by_phase.items(), key=lambda kv: -kv[1]) + [("loop and update", rest)]:
        print(f"  {phase:16s} {100 * s / total:5.1f} %  {1e6 * s / steps:8.1f} us/step")
    print("  top calls:")
    for (phase, label), s in sorted(timers.t.items(), key=lambda kv: -kv[1])[:14]:
        print(f"    {100 * s / total:5.1f} %  {1e6 * s / steps:8.1f} us  {phase:8s} {label}")


def initlab_sgd():
    import initlab

    return initlab.optim.sgd(0.01)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--only", default="w1_b128,w2,w3_k1,w3_k100")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--epochs-scale", type=float, default=1.0,
                   help="fraction of the samples (minibatch workloads) or epochs (moons)")
    args = p.parse_args()
    wanted = args.only.split(",")
    for w in workloads(False):
        if w.key in wanted:
            profile(w, args.threads, args.epochs_scale)
    return 0


if __name__ == "__main__":
    sys.exit(main())
