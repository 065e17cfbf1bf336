"""Benchmark a residual MLP of 50 blocks, K = 10 models, in initlab against PyTorch and JAX.

Run by hand from the repository root (not a test)::

    python benchmarks/residual.py [--quick] [--repeats N] [--peers torch,jax]

The workload (issue 14): moons-shaped data (make_moons(4000, noise=0.2), float32), a ReLU stem
``Dense(64)``, 50 blocks ``x + alpha * (W2 relu(W1 x + b1) + b2)`` of width 64 with a trainable
scalar alpha per block and model (ReZero: alpha starts at 0, the rest He), a sigmoid unit,
binary cross-entropy from logits, plain SGD lr 0.01, batch 128 (the ragged last batch kept),
one epoch (``--quick``: 1,000 samples), K = 10 models trained together. Every framework starts
from initlab's initial parameters and does the same arithmetic; only the shuffling differs.

Fairness rules as in ``_peers.py``: each cell (framework) runs in a fresh Python process; the
model is built, and JAX compiled, outside the timed region; a warm-up epoch precedes the timed
ones. PyTorch (2 threads, eager) stacks the K models' weights (K, fan_in, fan_out) and runs one
``baddbmm`` per layer for all K; JAX ``vmap``s the per-model gradient over K inside one jitted
``lax.scan`` over the minibatches. Each cell is the median of ``--repeats`` timed runs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from _common import LR, SHUFFLE_SEED, Timing, fmt_s, markdown_table, time_runs  # noqa: E402

BLOCKS, WIDTH, K, BATCH = 50, 64, 10, 128


def make_data(quick: bool) -> tuple[np.ndarray, np.ndarray]:
    """make_moons(4000 or 1000, noise=0.2, random_state=0), float32 features and labels."""
    from sklearn.datasets import make_moons

    x, y = make_moons(n_samples=1000 if quick else 4000, noise=0.2, random_state=0)
    return x.astype(np.float32), y.astype(np.float32)


def initlab_model():
    """The K-model ReZero residual MLP (initlab's own parameters are every peer's start)."""
    from initlab.nn import Dense, Residual, Sequential

    blocks = [Residual([Dense(WIDTH, activation="relu"), Dense(WIDTH)], alpha="trainable")
              for _ in range(BLOCKS)]
    layers = [Dense(WIDTH, activation="relu"), *blocks, Dense(1, activation="sigmoid")]
    return Sequential(layers, input_dim=2, n_models=K, seeds=list(range(K)), recipe="rezero")


def initial_params() -> tuple[list, list, list]:
    """(stem [W, b], blocks [(W1, b1, W2, b2, alpha)], head [W, b]); W (K, in, out),
    b (K, 1, out), alpha (K, 1, 1), float32."""
    m = initlab_model()
    d = m.dense_layers
    g = m._graph

    def wb(ly):
        return np.array(ly.W), np.array(ly.b)[:, None, :]

    blocks = []
    for i, blk in enumerate(g.blocks):
        a = np.array(m.params.tensors[g.block_scalars[blk.name]["alpha"]])[:, :, None]
        blocks.append((*wb(d[1 + 2 * i]), *wb(d[2 + 2 * i]), a))
    return list(wb(d[0])), blocks, list(wb(d[-1]))


# --------------------------------------------------------------------------- the cells
def bench_initlab(x, y, repeats: int, budget: float, threads: int | None = None) -> Timing:
    import initlab

    m = initlab_model()

    def fit(xa, ya):
        m.fit(xa, ya, epochs=1, batch_size=BATCH, optimizer=initlab.optim.sgd(LR),
              seed=SHUFFLE_SEED, log_every=1000, threads=threads)

    fit(x[:2 * BATCH + 7], y[:2 * BATCH + 7])
    return Timing(time_runs(lambda: fit(x, y), repeats, budget))


def bench_torch(x, y, repeats: int, budget: float, threads: int = 2) -> Timing:
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    stem, blocks, head = initial_params()

    def p(a):
        return torch.nn.Parameter(torch.from_numpy(a.copy()))

    stem_t = [p(a) for a in stem]
    blocks_t = [[p(a) for a in blk] for blk in blocks]
    head_t = [p(a) for a in head]
    params = stem_t + [q for blk in blocks_t for q in blk] + head_t
    opt = torch.optim.SGD(params, lr=LR)

    def forward(xb):
        h = torch.relu(torch.baddbmm(stem_t[1], xb.unsqueeze(0).expand(K, *xb.shape),
                                     stem_t[0]))
        for W1, b1, W2, b2, a in blocks_t:
            f = torch.baddbmm(b2, torch.relu(torch.baddbmm(b1, h, W1)), W2)
            h = h + a * f
        return torch.baddbmm(head_t[1], h, head_t[0])[..., 0]

    def step(xb, yb):
        opt.zero_grad(set_to_none=True)
        B = yb.shape[0]
        F.binary_cross_entropy_with_logits(forward(xb), yb.expand(K, B),
                                           reduction="sum").div(B).backward()
        opt.step()

    def train(xa, ya):
        xr, yr = torch.from_numpy(xa), torch.from_numpy(ya)
        g = torch.Generator().manual_seed(SHUFFLE_SEED)
        perm = torch.randperm(len(xr), generator=g)
        for i in range(0, len(xr), BATCH):
            idx = perm[i:i + BATCH]
            step(xr[idx], yr[idx])

    train(x[:2 * BATCH + 7], y[:2 * BATCH + 7])
    return Timing(time_runs(lambda: train(x, y), repeats, budget))


def bench_jax(x, y, repeats: int, budget: float) -> Timing:
    import jax
    import jax.numpy as jnp

    stem, blocks, head = initial_params()
    params = {"stem": [jnp.asarray(a) for a in stem],
              "blocks": [jnp.asarray(np.stack(col)) for col in zip(*blocks, strict=True)],
              "head": [jnp.asarray(a) for a in head]}  # blocks stacked: (BLOCKS, K, ...)
    params["blocks"] = [jnp.swapaxes(a, 0, 1) for a in params["blocks"]]  # (K, BLOCKS, ...)
    xj, yj = jnp.asarray(x), jnp.asarray(y)
    n = len(x)

    def loss1(p, xb, yb):
        h = jax.nn.relu(xb @ p["stem"][0] + p["stem"][1][0])

        def block(h, q):
            W1, b1, W2, b2, a = q
            return h + a[0, 0] * (jax.nn.relu(h @ W1 + b1[0]) @ W2 + b2[0]), None

        h, _ = jax.lax.scan(block, h, p["blocks"])
        z = (h @ p["head"][0] + p["head"][1][0])[:, 0]
        return jnp.mean(jax.nn.softplus(z) - yb * z)

    grad_k = jax.vmap(jax.grad(loss1), in_axes=(0, None, None))

    def step(p, xb, yb):
        return jax.tree_util.tree_map(lambda a, d: a - LR * d, p, grad_k(p, xb, yb))

    nfull, rem = divmod(n, BATCH)

    def train(p, xa, ya, key):
        perm = jax.random.permutation(key, n)
        idx = perm[:nfull * BATCH].reshape(nfull, BATCH)
        p, _ = jax.lax.scan(lambda q, i: (step(q, xa[i], ya[i]), None), p, idx)
        if rem:
            i = perm[nfull * BATCH:]
            p = step(p, xa[i], ya[i])
        return p

    key = jax.random.PRNGKey(SHUFFLE_SEED)
    t0 = time.perf_counter()
    compiled = jax.jit(train).lower(params, xj, yj, key).compile()
    compile_s = time.perf_counter() - t0
    state = {"p": params}

    def run():
        state["p"] = jax.block_until_ready(compiled(state["p"], xj, yj, key))

    run()
    return Timing(time_runs(run, repeats, budget), compile_s=compile_s)


CELLS = {"initlab": bench_initlab, "torch": bench_torch, "jax": bench_jax}
NAMES = {"initlab": "initlab", "torch": "PyTorch", "jax": "JAX"}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="1,000 samples, 2 repeats")
    p.add_argument("--repeats", type=int, default=None, help="timed runs per cell (default 5)")
    p.add_argument("--peers", default="torch,jax", help="comma-separated: torch,jax")
    p.add_argument("--torch-threads", type=int, default=2,
                   help="PyTorch's intra-op threads (default 2, as benchmarks/engine.py; on a "
                   "loaded machine OpenMP's spinning threads can make 2 far slower than 1)")
    p.add_argument("--initlab-threads", type=int, default=0,
                   help="BLAS threads for initlab's fit (default 0: fit's own rule, one thread "
                   "for these products)")
    p.add_argument("--cell", default="", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    repeats = args.repeats or (2 if args.quick else 5)
    budget = 10.0 if args.quick else 60.0
    if args.cell:
        x, y = make_data(args.quick)
        kw = ({"threads": args.torch_threads} if args.cell == "torch" else
              {"threads": args.initlab_threads or None} if args.cell == "initlab" else {})
        t = CELLS[args.cell](x, y, repeats, budget, **kw)
        print(json.dumps({"times": t.times, "compile_s": t.compile_s}))
        return 0
    names = ["initlab"] + [s for s in args.peers.split(",") if s]
    load_before = os.getloadavg()
    out: dict[str, Timing] = {}
    for name in names:
        cmd = [sys.executable, __file__, "--cell", name, "--repeats", str(repeats),
               "--torch-threads", str(args.torch_threads),
               "--initlab-threads", str(args.initlab_threads)]
        if args.quick:
            cmd.append("--quick")
        r = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if r.returncode != 0:
            print(f"{name}: failed\n{r.stderr[-2000:]}", file=sys.stderr)
            continue
        d = json.loads(r.stdout.strip().splitlines()[-1])
        out[name] = Timing(d["times"], compile_s=d["compile_s"])
    from initlab.nn import blas

    print(f"# {blas.describe()}; load average before "
          f"{load_before[0]:.1f}, after {os.getloadavg()[0]:.1f}")
    print(f"# residual MLP benchmark ({'quick' if args.quick else 'full'}): "
          f"{BLOCKS} blocks x width {WIDTH}, K={K}, batch {BATCH}, one epoch of "
          f"{len(make_data(args.quick)[0]):,} samples; PyTorch threads "
          f"{args.torch_threads}; initlab BLAS threads "
          f"{args.initlab_threads or 'fit rule (1)'}")
    base = out.get("initlab")
    rows = []
    for name, t in out.items():
        ratio = "" if base is None or name == "initlab" else f"{base.median / t.median:.2f}"
        comp = "" if t.compile_s is None else f"{t.compile_s:.1f} s"
        rows.append([NAMES[name], fmt_s(t), ratio, comp])
    print(markdown_table(["framework", "median (runs)", "initlab / this", "compile"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
