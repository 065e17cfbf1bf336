"""The peers of ``benchmarks/engine.py``: the same workloads in PyTorch, JAX and Keras 3.

Fairness rules (the same for every framework):
- the same float32 arrays; the model is built, and JAX/Keras compiled, outside the timed region
  (JAX's compile time is reported separately); a warm-up run precedes the timed ones;
- minibatch workloads shuffle once per epoch and keep the ragged last batch (60,000 / 128 leaves
  96), as initlab does; full-batch workloads do not shuffle;
- plain SGD 0.01, loss = mean over the batch of softmax (or sigmoid) cross-entropy from logits;
- K models: the K losses are summed, so each model gets exactly its own gradient.
  PyTorch stacks the K models' weights, (K, fan_in, fan_out), and uses batched matmuls
  (``torch.baddbmm``): one kernel per layer for all K, not a Python loop over models. JAX
  ``vmap``s the per-model gradient over K. Keras cannot hold K independent models in one
  ``Model`` natively, so it gets a K-wide functional model (one shared Input, K separate
  Dense stacks, K outputs, a loss per output): the same math, and what a Keras user would write.
"""

from __future__ import annotations

import time

import numpy as np
from _common import LR, SHUFFLE_SEED, Timing, Workload, time_runs, warmup_slice


def _he_params(w: Workload, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """He-normal weights (K, fan_in, fan_out) and zero biases (K, 1, fan_out), float32."""
    dims = [w.input_dim] + [u for u, _ in w.layers]
    out = []
    for a, b in zip(dims[:-1], dims[1:], strict=False):
        W = (rng.standard_normal((w.K, a, b)) * np.sqrt(2.0 / a)).astype(np.float32)
        out.append((W, np.zeros((w.K, 1, b), dtype=np.float32)))
    return out


# --------------------------------------------------------------------------- PyTorch
def torch_available() -> str | None:
    """None when PyTorch imports, else the reason it does not."""
    try:
        import torch  # noqa: F401
    except Exception as e:  # pragma: no cover - depends on the machine
        return f"PyTorch not importable ({e.__class__.__name__}: {e})"
    return None


def make_torch(w: Workload, init: list | None = None):
    """Eager PyTorch with 2 threads: ``nn.Sequential`` for K=1, stacked ``baddbmm`` for K>1.

    Returns:
        ``(train(x, y, epochs), params())``: ``train`` trains in place; ``params`` gives
        ``[(W (K, fan_in, units), b (K, units)), ...]`` as NumPy arrays.
    """
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(2)
    K = w.K
    if init is None:
        init = _he_params(w, np.random.default_rng(0))
    if K == 1:
        mods = []
        d = w.input_dim
        for u, a in w.layers:
            mods.append(torch.nn.Linear(d, u))
            if a == "relu":
                mods.append(torch.nn.ReLU())
            d = u
        net = torch.nn.Sequential(*mods)      # the output layer emits logits
        params = list(net.parameters())
        with torch.no_grad():
            for i, (W, b) in enumerate(init):
                params[2 * i].copy_(torch.from_numpy(W[0].T))
                params[2 * i + 1].copy_(torch.from_numpy(b[0, 0]))

        def forward(xb):
            return net(xb)
    else:
        params = []
        for W, b in init:
            params += [torch.nn.Parameter(torch.from_numpy(W.copy())),
                       torch.nn.Parameter(torch.from_numpy(b.copy()))]
        acts = [a for _, a in w.layers]

        def forward(xb):
            h = xb.unsqueeze(0).expand(K, *xb.shape)
            for i, a in enumerate(acts):
                h = torch.baddbmm(params[2 * i + 1], h, params[2 * i])
                if a == "relu":
                    h = torch.relu(h)
            return h                            # (K, B, out) logits

    def loss_fn(z, yb):
        B = yb.shape[0]
        if w.loss == "ce":
            if K == 1:
                return F.cross_entropy(z, yb)
            return F.cross_entropy(z.reshape(K * B, -1), yb.repeat(K), reduction="sum") / B
        if K == 1:
            return F.binary_cross_entropy_with_logits(z[:, 0], yb)
        return F.binary_cross_entropy_with_logits(
            z[..., 0], yb.expand(K, B), reduction="sum") / B

    opt = torch.optim.SGD(params, lr=LR)

    def step(xb, yb):
        opt.zero_grad(set_to_none=True)
        loss_fn(forward(xb), yb).backward()
        opt.step()

    def train(x: np.ndarray, y: np.ndarray, epochs: int) -> None:
        xr, yr = torch.from_numpy(x), torch.from_numpy(y)
        n = xr.shape[0]
        g = torch.Generator().manual_seed(SHUFFLE_SEED)
        for _ in range(epochs):
            if w.batch is None or w.batch >= n:
                step(xr, yr)
                continue
            perm = torch.randperm(n, generator=g)
            for i in range(0, n, w.batch):
                idx = perm[i:i + w.batch]
                step(xr[idx], yr[idx])

    def get_params() -> list:
        ps = [p.detach().numpy() for p in params]
        if K == 1:
            return [(ps[i].T[None], ps[i + 1][None]) for i in range(0, len(ps), 2)]
        return [(ps[i], ps[i + 1][:, 0]) for i in range(0, len(ps), 2)]

    return train, get_params


def bench_torch(w: Workload, x: np.ndarray, y: np.ndarray, repeats: int,
                budget_s: float) -> Timing:
    """Time :func:`make_torch`'s training after a warm-up epoch on a slice."""
    train, _ = make_torch(w)
    train(*warmup_slice(w, x, y), 1)
    return Timing(time_runs(lambda: train(x, y, w.epochs), repeats, budget_s))


# --------------------------------------------------------------------------- JAX
def jax_available() -> str | None:
    """None when JAX imports, else the reason it does not."""
    try:
        import jax  # noqa: F401
    except Exception as e:  # pragma: no cover
        return f"JAX not importable ({e.__class__.__name__}: {e})"
    return None


def make_jax(w: Workload, x: np.ndarray, y: np.ndarray, init: list | None = None):
    """JAX: one jitted call per run; ``lax.scan`` over steps, ``vmap`` of the gradient over K.

    Returns:
        ``(run(), params(), compile_seconds)``: ``run`` trains ``w.epochs`` epochs on (x, y)
        from the current parameters (held on device) and blocks until done.
    """
    import jax
    import jax.numpy as jnp

    acts = [a for _, a in w.layers]
    if init is None:
        init = _he_params(w, np.random.default_rng(0))
    params = [(jnp.asarray(W), jnp.asarray(b)) for W, b in init]
    xj, yj = jnp.asarray(x), jnp.asarray(y if w.loss == "bce" else y.astype(np.int32))
    n = x.shape[0]

    def loss1(p, xb, yb):
        h = xb
        for (W, b), a in zip(p, acts, strict=True):
            h = h @ W + b[0]
            if a == "relu":
                h = jax.nn.relu(h)
        if w.loss == "ce":
            logp = jax.nn.log_softmax(h)
            return -jnp.mean(jnp.take_along_axis(logp, yb[:, None], axis=1))
        z = h[:, 0]
        return jnp.mean(jax.nn.softplus(z) - yb * z)

    grad_k = jax.vmap(jax.grad(loss1), in_axes=(0, None, None))

    def step(p, xb, yb):
        g = grad_k(p, xb, yb)
        return jax.tree_util.tree_map(lambda a, d: a - LR * d, p, g)

    if w.batch is None or w.batch >= n:
        def train(p, xa, ya, key):
            del key
            return jax.lax.fori_loop(0, w.epochs, lambda _, q: step(q, xa, ya), p)
    else:
        B = w.batch
        nfull, rem = divmod(n, B)

        def train(p, xa, ya, key):
            for e in range(w.epochs):
                perm = jax.random.permutation(jax.random.fold_in(key, e), n)
                idx = perm[:nfull * B].reshape(nfull, B)
                p, _ = jax.lax.scan(lambda q, i: (step(q, xa[i], ya[i]), None), p, idx)
                if rem:
                    i = perm[nfull * B:]
                    p = step(p, xa[i], ya[i])
            return p

    key = jax.random.PRNGKey(SHUFFLE_SEED)
    t0 = time.perf_counter()
    compiled = jax.jit(train).lower(params, xj, yj, key).compile()
    compile_s = time.perf_counter() - t0
    state = {"p": params}

    def run() -> None:
        state["p"] = jax.block_until_ready(compiled(state["p"], xj, yj, key))

    def get_params() -> list:
        return [(np.asarray(W), np.asarray(b)[:, 0]) for W, b in state["p"]]

    return run, get_params, compile_s


def bench_jax(w: Workload, x: np.ndarray, y: np.ndarray, repeats: int,
              budget_s: float) -> Timing:
    """Time :func:`make_jax`'s jitted training (compiled, then one warm-up run)."""
    run, _, compile_s = make_jax(w, x, y)
    run()
    return Timing(time_runs(run, repeats, budget_s), compile_s=compile_s)


# --------------------------------------------------------------------------- Keras
def keras_available() -> str | None:
    """None when Keras 3 imports with the JAX backend, else the reason it does not."""
    import os

    os.environ.setdefault("KERAS_BACKEND", "jax")
    try:
        import keras
    except Exception as e:  # pragma: no cover
        return f"Keras not importable ({e.__class__.__name__}: {e})"
    if keras.backend.backend() != "jax":  # pragma: no cover
        return f"Keras backend is {keras.backend.backend()!r}, not jax (import order)"
    return None


def bench_keras(w: Workload, x: np.ndarray, y: np.ndarray, repeats: int,
                budget_s: float) -> Timing:
    """Keras 3 on JAX: ``model.fit`` with the same batch size (K>1: a K-wide functional model)."""
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((w.input_dim,))
    outs = []
    for _ in range(w.K):
        h = inp
        for i, (u, a) in enumerate(w.layers):
            last = i == len(w.layers) - 1
            h = keras.layers.Dense(u, activation=None if last else a,
                                   kernel_initializer="he_normal")(h)
        outs.append(h)
    model = keras.Model(inp, outs[0] if w.K == 1 else outs)
    if w.loss == "ce":
        lossf = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    else:
        lossf = keras.losses.BinaryCrossentropy(from_logits=True)
    model.compile(optimizer=keras.optimizers.SGD(LR),
                  loss=lossf if w.K == 1 else [lossf] * w.K)
    full = w.batch is None or w.batch >= x.shape[0]

    def fit(xa, ya, epochs):
        model.fit(xa, ya if w.K == 1 else [ya] * w.K, batch_size=len(xa) if full else w.batch,
                  epochs=epochs, shuffle=not full, verbose=0)

    xw, yw = warmup_slice(w, x, y)
    t0 = time.perf_counter()
    fit(xw, yw, 1)                      # traces and compiles the train step (both batch shapes)
    warm_s = time.perf_counter() - t0
    # Full-batch epochs all cost the same: where Keras would need ten minutes per run (K = 100
    # branches, ~40 ms per epoch), time 1/30 of the epochs and scale (marked * in the table).
    scale = 30.0 if full and w.K > 1 and w.epochs >= 3000 else 1.0
    epochs = int(round(w.epochs / scale))
    times = time_runs(lambda: fit(x, y, epochs), repeats, budget_s / scale)
    return Timing([t * scale for t in times], compile_s=warm_s, scale=scale)
