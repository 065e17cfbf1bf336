"""Shared pieces of the benchmarks: workloads, data, timing, the initlab runner, tables.

Benchmarks are scripts run by hand (``python benchmarks/engine.py``), not tests. They import
initlab from this checkout's ``src`` (put first on ``sys.path``), not from an installed copy.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SRC = Path(__file__).resolve().parents[1] / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))

MNIST_LAYERS = ((128, "relu"), (64, "relu"), (10, "softmax"))
MOONS_LAYERS = ((12, "relu"), (6, "relu"), (1, "sigmoid"))
SIX_SCHEMES = ("he_normal", "he_uniform", "glorot_normal", "glorot_uniform",
               "lecun_normal", "lecun_uniform")
LR = 0.01
DATA_SEED = 0
SHUFFLE_SEED = 0


@dataclass
class Workload:
    """One benchmark row: a network, its data, the batch size, the epochs and K."""

    key: str
    title: str
    kind: str                      # "mnist" or "moons"
    layers: tuple
    input_dim: int
    n: int
    epochs: int
    batch: int | None              # None: full batch
    K: int
    inits: list[str] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)

    @property
    def loss(self) -> str:
        """``"ce"`` (softmax cross-entropy) or ``"bce"`` (sigmoid binary cross-entropy)."""
        return "ce" if self.layers[-1][1] == "softmax" else "bce"

    def flops(self) -> float:
        """Forward + backward matmul FLOPs of the whole run: 6 * n * sum(fan_in*fan_out) * E * K.

        A dense layer costs 2*n*fan_in*fan_out multiply-adds forward, and twice that backward
        (the weight gradient and the back-propagated signal); the first layer's input signal
        is not needed but is counted, as usual, so this is the conventional 6 * params rule.
        """
        dims = [self.input_dim] + [u for u, _ in self.layers]
        macs = sum(a * b for a, b in zip(dims[:-1], dims[1:], strict=False))
        return 6.0 * self.n * macs * self.epochs * self.K

    def performed_flops(self) -> float:
        """The matmul FLOPs actually needed: :meth:`flops` less the first layer's unused
        back-propagated signal (2 * n * input_dim * units_1 per epoch per model)."""
        skip = 2.0 * self.n * self.input_dim * self.layers[0][0] * self.epochs * self.K
        return self.flops() - skip


def workloads(quick: bool) -> list[Workload]:
    """The issue's workloads (``quick``: 2,000 samples and 100 moons epochs)."""
    n = 2000 if quick else 60000
    moons_epochs = 100 if quick else 15000
    k30 = [s for s in SIX_SCHEMES for _ in range(5)]
    seeds30 = [i for _ in SIX_SCHEMES for i in range(5)]
    return [
        Workload("w1_b32", f"1. MLP 784-128-64-10, n={n:,}, batch 32, K=1", "mnist",
                 MNIST_LAYERS, 784, n, 1, 32, 1, ["he_normal"], [0]),
        Workload("w1_b128", f"1. MLP 784-128-64-10, n={n:,}, batch 128, K=1", "mnist",
                 MNIST_LAYERS, 784, n, 1, 128, 1, ["he_normal"], [0]),
        Workload("w2", f"2. MLP 784-128-64-10, n={n:,}, batch 128, K=30", "mnist",
                 MNIST_LAYERS, 784, n, 1, 128, 30, k30, seeds30),
        Workload("w3_k1", f"3. moons 2-12-6-1, {moons_epochs:,} full-batch epochs, K=1",
                 "moons", MOONS_LAYERS, 2, 400, moons_epochs, None, 1, ["he_normal"], [0]),
        Workload("w3_k100", f"3. moons 2-12-6-1, {moons_epochs:,} full-batch epochs, K=100",
                 "moons", MOONS_LAYERS, 2, 400, moons_epochs, None, 100,
                 ["he_normal"] * 100, list(range(100))),
    ]


def make_data(w: Workload) -> tuple[np.ndarray, np.ndarray]:
    """The workload's data, float32, from a fixed seed (the same arrays for every framework).

    MNIST-shaped: uniform [0, 1) pixels and uniform labels 0..9 (int64). Moons: scikit-learn's
    make_moons(400, noise=0.2, random_state=0), labels 0/1 as float32.
    """
    if w.kind == "mnist":
        rng = np.random.default_rng(DATA_SEED)
        x = rng.random((w.n, w.input_dim), dtype=np.float32)
        y = rng.integers(0, 10, w.n).astype(np.int64)
        return x, y
    from sklearn.datasets import make_moons

    x, y = make_moons(n_samples=w.n, noise=0.2, random_state=DATA_SEED)
    return x.astype(np.float32), y.astype(np.float32)


@dataclass
class Timing:
    """Wall times of the timed runs of one framework on one workload."""

    times: list[float]
    compile_s: float | None = None
    scale: float = 1.0             # times were measured on 1/scale of the epochs and scaled up

    @property
    def median(self) -> float:
        """The median wall time in seconds."""
        return statistics.median(self.times)


MIN_RUNS = 2
"""Timed runs a cell makes before ``--budget`` may stop it (``engine.py --rounds`` > 1 sets
1 in its cells: the rounds add the runs)."""


def time_runs(run: Callable[[], object], repeats: int, budget_s: float) -> list[float]:
    """Time ``run()`` ``repeats`` times (stop early, after at least ``MIN_RUNS`` runs, once the
    runs so far exceed ``budget_s``)."""
    times: list[float] = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
        if len(times) >= MIN_RUNS and sum(times) > budget_s:
            break
    return times


def initlab_model(w: Workload):
    """A fresh initlab Sequential for the workload (K models, the workload's inits and seeds)."""
    from initlab.nn import Dense, Sequential

    layers = [Dense(u, activation=a) for u, a in w.layers]
    return Sequential(layers, input_dim=w.input_dim, n_models=w.K, inits=list(w.inits),
                      seeds=list(w.seeds))


def initlab_fit(model, w: Workload, x: np.ndarray, y: np.ndarray, callbacks=None,
                epochs: int | None = None, engine: str = "numpy"):
    """One ``fit`` call as the workload prescribes (SGD 0.01, shuffled minibatches), on the
    NumPy engine or (``engine="jit"``) the compiled path.

    The history is logged every 1,000 epochs (and at the last), as seed 002 prints its cost:
    the peers record no history at all, so initlab still does more work than they do.
    """
    import initlab

    return model.fit(x, y, epochs=w.epochs if epochs is None else epochs, batch_size=w.batch,
                     optimizer=initlab.optim.sgd(LR), seed=SHUFFLE_SEED, verbose=0,
                     log_every=1000, callbacks=callbacks, engine=engine)


def warmup_slice(w: Workload, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A small slice that has a full batch and, where the workload has one, the ragged last one."""
    if w.batch is None:
        return x, y
    m = w.batch + (w.n % w.batch)
    return x[:m], y[:m]


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub markdown table."""
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def fmt_s(t: Timing | None) -> str:
    """``median s (runs)`` or a dash."""
    if t is None:
        return "-"
    star = "*" if t.scale != 1.0 else ""
    return f"{t.median:.2f} s ({len(t.times)}){star}"
