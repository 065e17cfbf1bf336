"""The compiled training path: ``fit(..., engine="jit")`` runs whole epochs in machine code.

The NumPy path (:mod:`initlab.nn.training`) makes tens of NumPy calls per step; on small
networks (seed 002's 2-12-6-1 moons net) or small batches that Python dispatch is most of the
time. Here each model's whole run of epochs is one compiled loop
(:mod:`initlab.nn.jit_kernels`): forward, loss gradient, backward, optimizer update. The NumPy
path stays the reference; this one is opt-in (its kernels are a C extension built from Cython
when initlab is installed; the name "jit" is the engine's original one, from when numba
compiled them on a first call), and agrees with
it to rounding (``tests/nn/test_nn_jit.py``: float64 weights within 1e-12 relative after a
few hundred steps of a non-chaotic net), not bit for bit.

What it trains: a plain stack of biased Dense layers (no Residual blocks, no bias-free
layers); activations linear, relu, leaky_relu, elu, selu, gelu, softplus, sigmoid, tanh, and
softmax as the output; the losses categorical and binary cross-entropy from logits and mse;
the optimizers sgd (with momentum, Nesterov), adam and rmsprop, alone or after one
``clip_by_value`` or ``clip_by_global_norm``. Validation data, ``log_every``, ``verbose`` and
callbacks with ``on_epoch_end`` work as in the NumPy path. Anything else (callbacks with
``every`` > 0, i.e. probes and traces; ``clip_by_norm``; longer chains; a custom Loss or
Transform) is refused with a ConfigError that names it: never silently other semantics.

Same as the NumPy path: minibatches (one ``rng.permutation(n)`` per epoch, drawn in Python
from the same generator), divergence (a model whose output logits are not all finite at a
step is marked diverged at that epoch and frozen from that step; its loss is still logged),
the History (training loss and accuracy of logged epochs, summed over the epoch's
minibatches; validation after the epoch). One difference: ``time`` is read when a compiled
run of epochs returns, so without validation data, callbacks or ``verbose`` (one run for the
whole fit) every logged epoch carries the time at the end of training.

Determinism: each model trains in its own loop over its own contiguous parameters and buffers,
with the same code whatever K is; with K > 1 and more than one thread (``threads``, else the
caller's BLAS setting) the models are spread over that many Python threads (one model per task;
the compiled loop releases the GIL; BLAS then runs one thread per call, see
:func:`model_workers`), else the models run one after another and BLAS gets ``threads``. So
neither K, the thread count, ``log_every`` nor validation changes a number. Weight gradients,
and the other products of layers with at least ``BLAS_MIN`` weights, go to BLAS (SciPy's
OpenBLAS, through ``scipy.linalg.cython_blas``; with one model and several BLAS threads, a
probe epoch (on fixed random weights and inputs of the model's shapes, not the model's own)
first checks, product by product, which of them give the bits of one thread on several:
those run on several, the rest on one, see :func:`initlab.nn.blas.product_plan`); the rest
are explicit loops. No ``-ffast-math``.

Compilation: none at run time. ``pip install`` compiles :mod:`initlab.nn.jit_kernels`
(``setup.py``: Cython to C, then the C compiler, about 25 s once); a first fit imports it
(``benchmarks/engine.py`` reports that first call). The build is optional: without a C
compiler the install succeeds and ``engine="jit"`` raises a ConfigError that says so.

Example:
    >>> import numpy as np
    >>> from initlab.nn import Dense, Sequential
    >>> m = Sequential([Dense(4, activation="tanh"), Dense(1, activation="sigmoid")],
    ...                input_dim=2, dtype=np.float64)
    >>> reason = unsupported(m, "sgd", None, [])
    >>> reason is None
    True
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from initlab.errors import ConfigError, unknown
from initlab.nn.blas import BlasLimit, caller_threads, k_split, probe_weights, remembered_plan

__all__ = ["ENGINES", "KERNELS", "BLAS_MIN", "available", "check_engine", "unsupported",
           "fit_compiled", "warm_up", "model_workers"]

ENGINES: tuple[str, ...] = ("numpy", "jit")
"""The values of ``fit(engine=...)``: the NumPy reference path, or this compiled one."""

KERNELS = "cython-1"
"""Which arithmetic :mod:`initlab.nn.jit_kernels` does: part of a jit study's config hash
(:attr:`initlab.studies.Study.config_hash`). Bump it when a change to the kernels moves a
result's last bits ("numba" kernels until 2026-12; these are the Cython ones)."""

BLAS_MIN = 128
"""A layer whose per-model weight matrix has at least this many entries (fan_in x units) runs
its forward and input-gradient products in BLAS, smaller ones as compiled loops (a rule on one
model's shapes; measured on seed 002's 2-12-6-1 net on a 2-vCPU AMD EPYC: with 12 x 6 as loops
too an epoch took 13.5-14.5 us instead of 15.7-17.0 us, median of 5 in each of 4 interleaved
rounds; on a Xeon BLAS had won for 12 x 6 at the earlier threshold of 64). Weight gradients
always go to BLAS (as loops with a fixed-order sum they were no faster there)."""

_ACTS = {"linear": 0, "relu": 1, "leaky_relu": 2, "elu": 3, "selu": 4, "gelu": 5,
         "softplus": 6, "sigmoid": 7, "tanh": 8, "softmax": 9}
_LOSSES = {"categorical_crossentropy": 0, "binary_crossentropy": 1, "mse": 2}


MISSING = ("'jit' needs initlab's compiled kernels (initlab.nn.jit_kernels), which were not "
           "built: reinstall initlab where a C compiler is found (pip install "
           "--force-reinstall --no-deps initlab)")
"""Why the engine cannot run where the extension is missing (its build is optional): the
ConfigError of ``fit`` and of a study's ``engine`` field, each in its own words around it."""


def available() -> bool:
    """True when the compiled kernels (:mod:`initlab.nn.jit_kernels`, a C extension built at
    install) are there; does not import them.

    Example:
        >>> isinstance(available(), bool)
        True
    """
    return importlib.util.find_spec("initlab.nn.jit_kernels") is not None


def check_engine(engine: Any) -> str:
    """Return ``engine`` when it is one of :data:`ENGINES`, else raise a ConfigError naming it.

    Example:
        >>> check_engine("jit")
        'jit'
    """
    if not isinstance(engine, str) or engine not in ENGINES:
        raise unknown("engine", engine, ENGINES, ConfigError)
    return engine


def _kernels() -> Any:
    if not available():
        raise ConfigError(f"engine={MISSING}, or use engine='numpy'")
    from initlab.nn import jit_kernels

    return jit_kernels


def _optimizer_plan(opt: Any) -> tuple[Any, Any] | str:
    """(clip transform or None, optimizer transform), or the reason it is not supported."""
    from initlab.nn import optim

    parts = list(opt.parts) if isinstance(opt, optim._Chain) else [opt]
    if not parts:
        return "an empty chain()"
    *clips, last = parts
    if not isinstance(last, (optim._SGD, optim._Adam, optim._RMSprop)):
        return f"optimizer {last} (supported: sgd, adam, rmsprop, after at most one clip)"
    if len(clips) > 1 or any(not isinstance(c, (optim._ClipValue, optim._ClipGlobalNorm))
                             for c in clips):
        return (f"optimizer {opt} (supported: sgd, adam or rmsprop after at most one "
                "clip_by_value or clip_by_global_norm)")
    return (clips[0] if clips else None), last


def unsupported(model: Any, optimizer: Any, loss: Any, callbacks: Sequence[Any]) -> str | None:
    """Why ``fit(engine="jit")`` cannot train this, or None when it can.

    Args:
        model: a Sequential.
        optimizer: an optimizer name or transform (as ``fit`` takes it).
        loss: a loss name, a Loss, or None (inferred from the output activation).
        callbacks: fit's callbacks.

    Returns:
        A sentence naming the unsupported feature, or None.

    Example:
        >>> from initlab.nn import Dense, Sequential, optim
        >>> m = Sequential([Dense(2, activation="softmax")], input_dim=3)
        >>> unsupported(m, optim.chain(optim.clip_by_norm(1.0), optim.sgd()), None, [])[:25]
        'optimizer chain(clip_by_n'
    """
    from initlab.nn import losses
    from initlab.nn.optim import get as get_optimizer

    if model._graph is not None:
        return "a model with Residual blocks or bias-free layers"
    acts = model.activations
    for i, act in enumerate(acts):
        if act.name not in _ACTS:
            return f"activation {act.name!r}"
        if act.name == "softmax" and i < len(acts) - 1:
            return "softmax in a hidden layer"
    lossf = model._loss(loss)
    if type(lossf) not in (losses.CategoricalCrossentropy, losses.BinaryCrossentropy,
                           losses.MeanSquaredError):
        return f"loss {lossf}"
    plan = _optimizer_plan(get_optimizer(optimizer))
    if isinstance(plan, str):
        return plan
    for cb in callbacks:
        if (getattr(cb, "every", 0) or 0) > 0:
            return f"callback {cb!r} with every > 0 (probes and traces run on engine='numpy')"
    return None


class _Packed:
    """The K models' parameters in the kernels' layout: per model one contiguous row of
    ``W0 (fan_in x units, row-major), b0, W1, b1, ...``."""

    def __init__(self, params: Any) -> None:
        shapes = params.layout.shapes
        self.shapes = shapes
        K = params.layout.K
        sizes = [s for f, u in shapes for s in (f * u, u)]
        self.toff = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.woff = self.toff[0:-1:2].copy()
        self.boff = self.toff[1::2].copy()
        self.theta = np.empty((K, int(self.toff[-1])), dtype=params.layout.dtype)
        for li, (f, u) in enumerate(shapes):
            self.theta[:, self.woff[li]:self.woff[li] + f * u] = params.W[li].reshape(K, f * u)
            self.theta[:, self.boff[li]:self.boff[li] + u] = params.b[li]

    def write(self, params: Any) -> None:
        """Copy the packed parameters back into ``params``."""
        K = self.theta.shape[0]
        for li, (f, u) in enumerate(self.shapes):
            params.W[li][...] = self.theta[:, self.woff[li]:self.woff[li] + f * u].reshape(K, f, u)
            params.b[li][...] = self.theta[:, self.boff[li]:self.boff[li] + u]


def _hyper(clip: Any, last: Any,
           dtype: np.dtype) -> tuple[int, np.ndarray, np.ndarray, int, np.ndarray]:
    """(optimizer code, hyperparameters in the dtype and in float64, clip code, clip value)
    for the kernels."""
    from initlab.nn import jit_kernels as jk
    from initlab.nn import optim

    hp = np.zeros(9)
    if isinstance(last, optim._SGD):
        kind = jk.SGD if not last.momentum else (jk.NESTEROV if last.nesterov else jk.MOMENTUM)
        hp[0], hp[1] = last.lr, last.momentum
    elif isinstance(last, optim._Adam):
        kind = jk.ADAM
        hp[0], hp[2], hp[3], hp[4], hp[5], hp[6] = (last.lr, last.beta1, 1 - last.beta1,
                                                    last.beta2, 1 - last.beta2, last.epsilon)
    else:
        kind = jk.RMSPROP
        hp[0], hp[6], hp[7], hp[8] = last.lr, last.epsilon, last.rho, 1 - last.rho
    ckind, cval = jk.NO_CLIP, 0.0
    if isinstance(clip, optim._ClipValue):
        ckind, cval = jk.CLIP_VALUE, clip.value
    elif isinstance(clip, optim._ClipGlobalNorm):
        ckind, cval = jk.CLIP_GLOBAL_NORM, clip.max_norm
    return kind, hp.astype(dtype), hp, ckind, np.array([cval], dtype=dtype)


def fit_compiled(model: Any, xs: np.ndarray, t: Any, lossf: Any, opt: Any, history: Any, *,
                 epochs: int, batch_size: int | None, full: bool, log_every: int, rng: Any,
                 callbacks: Sequence[Any], val: Any, verbose: int,
                 threads: int | None) -> Any:
    """Train ``model`` in place on the compiled path; arguments as :func:`initlab.nn.
    training.fit` prepared them. Returns ``history``, filled.

    Raises:
        ConfigError: the kernels were not built, or the model, loss, optimizer or a callback
            is not supported (see :func:`unsupported`).
    """
    jk = _kernels()
    reason = unsupported(model, opt, lossf, callbacks)
    if reason is not None:
        raise ConfigError(f"engine='jit' does not support {reason}; use engine='numpy'")
    clip, last = _optimizer_plan(opt)  # type: ignore[misc]
    from initlab.nn.training import blas_threads, end_epoch

    K, n = model.n_models, len(xs)
    dtype = model.dtype
    shapes = model._layout.shapes
    packed = _Packed(model.params)
    kind, hp, hp64, ckind, cval = _hyper(clip, last, dtype)
    fold = kind == jk.SGD and clip is None
    moments = kind in (jk.MOMENTUM, jk.NESTEROV, jk.ADAM, jk.RMSPROP)
    mom1 = np.zeros_like(packed.theta) if moments else np.zeros((K, 0), dtype=dtype)
    mom2 = np.zeros_like(packed.theta) if kind in (jk.ADAM, jk.RMSPROP) else mom1
    x = np.ascontiguousarray(xs, dtype=dtype)
    tt = np.ascontiguousarray(t.t, dtype=dtype)
    has_labels = t.labels is not None
    labels = (np.ascontiguousarray(t.labels, dtype=np.int64) if has_labels
              else np.zeros(n, dtype=np.int64))
    fins = np.array([f for f, _ in shapes], dtype=np.int64)
    units = np.array([u for _, u in shapes], dtype=np.int64)
    acts = np.array([_ACTS[a.name] for a in model.activations], dtype=np.int64)
    alphas = np.array([float(getattr(a, "alpha", 0.0)) for a in model.activations])
    blas = np.array([f * u >= BLAS_MIN for f, u in shapes], dtype=np.uint8)
    loss_kind = _LOSSES[lossf.name]
    need_out = not lossf.from_logits
    bs = n if full else int(batch_size)  # type: ignore[arg-type]
    steps = 1 if full else -(-n // bs)
    active = np.ones(K, dtype=np.uint8)
    div_epoch = np.full(K, -1, dtype=np.int64)
    enders = [cb for cb in callbacks if hasattr(cb, "on_epoch_end")]
    pause = val is not None or bool(enders) or bool(verbose)  # stop after each logged epoch
    chunk = epochs if full else max(1, (1 << 22) // n)  # at most ~4M permutation entries
    workers = model_workers(K, threads)
    if workers == 1 and threads is None:
        threads = blas_threads(shapes, bs)
    empty_perm = np.zeros((0, 0), dtype=np.int64)
    want = caller_threads() if threads is None else threads
    no_trace = np.zeros((0, 0), dtype=dtype)  # train_model's trace outside the probe

    def kernel_args(x: np.ndarray, tt: np.ndarray, labels: np.ndarray, perms: np.ndarray,
                    logged: np.ndarray, theta: np.ndarray, mom1: np.ndarray,
                    mom2: np.ndarray, step0: int, loss_out: np.ndarray,
                    correct_out: np.ndarray, active: np.ndarray, div_epoch: np.ndarray,
                    e0: int, raise_to: np.ndarray, k1: int,
                    trace: np.ndarray = no_trace) -> tuple[Any, ...]:
        """``train_model``'s arguments after ``k``: the data, state and outputs given,
        the model's shapes, loss and optimizer from this fit."""
        return (x, tt, labels, has_labels, perms, full, bs, logged, theta, mom1, mom2,
                step0, fins, units, packed.woff, packed.boff, packed.toff, acts, alphas,
                loss_kind, kind, hp, hp64, ckind, cval, fold, blas, raise_to, k1, need_out,
                loss_out, correct_out, active, div_epoch, e0, trace)

    raise_to = np.zeros((len(shapes), 3), dtype=np.int64)  # no product raised
    f0 = shapes[0][0]
    k1 = f0  # the first layer's products not split
    if workers == 1 and want > 1:
        # one epoch on copies, over the first rows (one full batch and the ragged one), with
        # the products on one BLAS thread and on ``want`` (blas.product_plan): all on ``want``
        # where that keeps the bits of one thread, else one thread with the products that do
        # keep them raised to ``want`` for their call (where the kernels' BLAS thread count is
        # reachable); a sample-major first layer may also keep them split along its sum
        # (blas.k_split), its forward product's other setting
        rows = n if full else min(n, bs + n % bs)
        sub = np.arange(rows, dtype=np.int64)[None, :]
        slots = [(li, j) for li in range(len(shapes)) for j in range(3)
                 if j == 1 or (blas[li] and (j == 0 or li > 0))]
        cut = k_split(f0) if blas[0] else None
        split = ("split", want)  # the first layer's products split at cut, on want threads

        def count(m: Any) -> int:  # a plan entry's BLAS thread count, 0 for one thread
            n_threads = want if m == split else m
            return n_threads if n_threads > 1 else 0

        # the probe runs on fixed random weights and inputs (blas.probe_weights), not the
        # model's own: a zero init or zero inputs would pass it trivially
        fixed: list[np.ndarray] = []  # [weights, inputs], drawn by the first probe that runs

        def probe_inputs() -> list[np.ndarray]:
            if not fixed:
                theta0 = np.empty_like(packed.theta[:1])
                for li, (wr, br) in enumerate(probe_weights(shapes, dtype)):
                    lo, bo = int(packed.woff[li]), int(packed.boff[li])
                    theta0[0, lo:bo] = wr.ravel()
                    theta0[0, bo:bo + len(br)] = br
                fixed.extend([theta0, np.random.default_rng(1).standard_normal(
                    (rows, f0)).astype(dtype)])
            return fixed

        # each product's own outputs, step by step (train_model's trace): an activation
        # that saturates after a product could round its differences away in what follows
        probe_steps = 1 if full else -(-rows // bs)
        trace_width = 2 * (rows if full else bs) * int(units.sum()) + packed.theta.shape[1]

        def probe(plan: Sequence[Any]) -> list[np.ndarray]:
            lift = np.zeros_like(raise_to)
            for (li, j), m in zip(slots, plan, strict=True):
                lift[li, j] = count(m)
            theta0, x0 = probe_inputs()
            th, a, b = theta0.copy(), mom1[:1].copy(), mom2[:1].copy()
            trace = np.empty((probe_steps, trace_width), dtype=dtype)
            jk.train_model(0, *kernel_args(
                x0, tt[:rows], labels[:rows], empty_perm if full else sub,
                np.full(1, -1, np.int64), th, a, b, 0, np.zeros((0, 1)), np.zeros((0, 1)),
                np.ones(1, np.uint8), np.full(1, -1, np.int64), 0, lift,
                cut if cut is not None and split in plan else f0, trace))
            return [trace, th, a, b]

        def whole(plan: Sequence[int]) -> list[np.ndarray]:  # every product on plan[0]
            with BlasLimit(plan[0]):
                return probe((1,) * len(slots))

        # what decides the products' shapes and layouts (blas.remembered_plan): the shapes,
        # the dtype, the batch sizes probed, which layers go to BLAS and the cut
        key = ("jit", tuple(shapes), np.dtype(dtype).str, rows, bs, full,
               tuple(bool(v) for v in blas), cut, jk.CAN_RAISE)
        plan = (remembered_plan(key, probe, len(slots), want, BlasLimit,
                                others={0: [split]} if cut is not None else None)
                if jk.CAN_RAISE else remembered_plan(key, whole, 1, want, BlasLimit)
                * len(slots))
        if cut is not None and split in plan:
            k1 = cut
        if all(m in (want, split) for m in plan):
            threads = want
        else:
            threads = 1
            for (li, j), m in zip(slots, plan, strict=True):
                raise_to[li, j] = count(m)

    t0 = time.perf_counter()
    e0, step0 = 0, 0
    with BlasLimit(1 if workers > 1 else threads), _Pool(workers) as pool:
        while e0 < epochs:
            e1 = min(epochs, e0 + chunk)
            if pause:
                nxt = next(e for e in range(e0, epochs)
                           if e % log_every == 0 or e == epochs - 1)
                e1 = min(e1, nxt + 1)
            logged_epochs = [e for e in range(e0, e1) if e % log_every == 0 or e == epochs - 1]
            logged = np.full(e1 - e0, -1, dtype=np.int64)
            for s, e in enumerate(logged_epochs):
                logged[e - e0] = s
            perms = (empty_perm if full else
                     np.stack([rng.permutation(n) for _ in range(e0, e1)]).astype(np.int64))
            loss_out = np.zeros((len(logged_epochs), K))
            correct_out = np.zeros((len(logged_epochs), K))
            args = kernel_args(x, tt, labels, perms, logged, packed.theta, mom1, mom2, step0,
                               loss_out, correct_out, active, div_epoch, e0, raise_to, k1)
            if pool is None:
                for k in range(K):
                    jk.train_model(k, *args)
            else:  # one task per model; list() re-raises a task's exception here
                list(pool.map(lambda k, a=args: jk.train_model(k, *a), range(K)))
            step0 += (e1 - e0) * steps
            packed.write(model.params)
            history.diverged[:] = div_epoch >= 0
            history.diverged_epoch[:] = div_epoch
            now = time.perf_counter() - t0
            for s, e in enumerate(logged_epochs):
                logs = {"loss": loss_out[s] / n,
                        "accuracy": correct_out[s] / n if has_labels else np.full(K, np.nan),
                        "time": now}
                end_epoch(model, history, e, epochs, logs, lossf, val, enders, verbose, None)
            e0 = e1
    return history


def model_workers(K: int, threads: int | None) -> int:
    """How many Python threads share the K models of a compiled fit: ``min(K, threads)``
    (``threads`` from ``fit``, else the caller's BLAS thread count) when K >= 2, else 1.

    A model's whole run of epochs is one compiled call that releases the GIL, so models run
    side by side with no per-step synchronisation, each product on one BLAS thread; a model's
    arithmetic does not depend on which thread runs it (nor on K). A function of K and the
    thread count alone, never of the machine's load.

    Example:
        >>> model_workers(100, 2), model_workers(1, 2), model_workers(5, 1)
        (2, 1, 1)
    """
    avail = threads if threads is not None else caller_threads()
    return min(K, avail) if K >= 2 and avail > 1 else 1


class _Pool:
    """A thread pool of ``workers`` for a ``with`` block (None for one worker: the caller's
    thread runs the models in turn)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.pool: Any = None

    def __enter__(self) -> Any:
        if self.workers > 1:
            from concurrent.futures import ThreadPoolExecutor

            self.pool = ThreadPoolExecutor(self.workers, thread_name_prefix="initlab-jit")
        return self.pool

    def __exit__(self, *exc: Any) -> None:
        if self.pool is not None:
            self.pool.shutdown()


def warm_up(dtype: Any = np.float32) -> float:
    """Load the kernels and run a tiny fit of ``dtype`` on a 2-3-2 net; return the seconds
    (the first call of a process: importing the extension and SciPy's BLAS).

    Example:
        >>> warm_up(np.float64) >= 0  # doctest: +SKIP
        True
    """
    from initlab.nn import Dense, Sequential

    t0 = time.perf_counter()
    m = Sequential([Dense(3, activation="relu"), Dense(2, activation="softmax")], input_dim=2,
                   dtype=dtype)
    m.fit(np.zeros((4, 2)), [0, 1, 0, 1], epochs=1, batch_size=2, optimizer="sgd",
          engine="jit")
    return time.perf_counter() - t0
