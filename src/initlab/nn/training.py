"""fit: train K models on the same minibatches with one optimizer, in place.

Minibatches: one seeded permutation per epoch; each batch is gathered with ``np.take`` into
preallocated rows and copied into the workspace's input buffer (the column of ones stays in
place). Full-batch training (``batch_size=None``) builds the augmented input once. On logged
epochs the loss and accuracy come out of the training forward pass itself (planned calls that
read its buffers); nothing is recomputed, and other epochs do not compute them at all.

A model whose output logits stop being finite is marked diverged at that epoch and frozen
(its updates are zeroed from that step on); the others go on and fit never raises for it.
One sum over the output logits per step finds that step (a cross-entropy from logits is finite
exactly when the logits are); only when it is not finite are the models checked one by one.

Determinism: a model's weights and metrics depend on its data, init, seed and these arguments,
never on the machine's load, the BLAS thread count, how the models are split over threads,
``log_every``, validation data, callbacks, or the other models of its ensemble: every step
runs the same calls, and the engine gives each model the arithmetic it would have alone (see
:mod:`initlab.nn.engine`).

Example:
    >>> import numpy as np
    >>> from initlab.nn import Dense, Sequential
    >>> m = Sequential([Dense(1, activation="sigmoid")], input_dim=2, n_models=3)
    >>> h = m.fit(np.eye(2), [0, 1], epochs=2, batch_size=1, optimizer="sgd")
    >>> h.loss.shape, h.diverged.tolist()
    ((2, 3), [False, False, False])
"""

from __future__ import annotations

import contextlib
import math
import numbers
import sys
import time
from collections.abc import Iterator, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from initlab.errors import ConfigError
from initlab.nn.blas import (
    BlasThreads,
    caller_threads,
    openblas_threads,
    probe_weights,
    remembered_plan,
)
from initlab.nn.engine import input_buffer
from initlab.nn.history import History
from initlab.nn.losses import Loss, Targets
from initlab.nn.optim import get as get_optimizer
from initlab.rng import as_generator

if TYPE_CHECKING:
    from initlab.nn.model import Sequential

__all__ = ["fit", "blas_threads", "step_threads", "SMALL_FLOP", "PARALLEL_FLOP"]

_add = np.add.reduce  # ndarray.sum without its Python wrapper (once per step)


def _positive_int(name: str, value: Any) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{name} must be a positive int; got {value!r}")
    return int(value)


class _Batch:
    """A workspace for one batch size plus its targets buffer."""

    def __init__(self, model: Sequential, n: int, t: Targets) -> None:
        self.ws = model._workspace(n, with_grads=True)
        self.steps: _Steps | None = None
        self.rows: np.ndarray | None = None  # minibatches only
        self.t = Targets(np.empty((n, t.t.shape[1]), dtype=t.t.dtype),
                         None if t.labels is None else np.empty(n, dtype=t.labels.dtype))

    def fill(self, xs: np.ndarray, t: Targets, idx: np.ndarray) -> None:
        ws = self.ws
        # gathered into contiguous rows, then copied beside the column of ones: about 1.5x
        # faster than a gather into the strided buffer
        x = input_buffer(ws)
        if self.rows is None:
            self.rows = np.empty(x.shape, dtype=x.dtype)
        np.take(xs, idx, axis=0, out=self.rows, mode="clip")
        np.copyto(x, self.rows)
        np.take(t.t, idx, axis=0, out=self.t.t, mode="clip")
        if t.labels is not None:
            np.take(t.labels, idx, out=self.t.labels, mode="clip")


def fit(model: Sequential, x: Any, y: Any, *, epochs: int = 1, batch_size: int | None = 32,
        optimizer: Any = "adam", loss: Any = None, validation_data: Any = None,
        seed: Any = 0, verbose: int = 0, log_every: int = 1,
        callbacks: Sequence[Any] | None = None, threads: int | None = None,
        engine: str = "numpy") -> History:
    """Train ``model`` in place; see :meth:`initlab.nn.Sequential.fit` for the arguments.

    ``engine="jit"`` trains on the compiled path (:mod:`initlab.nn.jit`, extra ``jit``);
    ``"numpy"`` (the default) is the reference below.

    ``threads`` sets the BLAS threads of the training steps for this call (restored after);
    None applies :func:`blas_threads`' rule, a function of the shapes alone.

    Returns:
        A :class:`~initlab.nn.History`.

    Example:
        >>> import numpy as np
        >>> from initlab.nn import Dense, Sequential
        >>> m = Sequential([Dense(2, activation="softmax")], input_dim=2)
        >>> fit(m, np.eye(2), [0, 1], epochs=1, batch_size=None).epochs.tolist()
        [0]
    """
    from initlab.nn.jit import check_engine

    engine = check_engine(engine)
    epochs = _positive_int("epochs", epochs)
    log_every = _positive_int("log_every", log_every)
    if threads is not None:
        threads = _positive_int("threads", threads)
    xs = model._check_x(x)
    n = len(xs)
    lossf: Loss = model._loss(loss)
    t = model._targets(lossf, y, n)
    val = None
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ConfigError("validation_data must be a pair (x_val, y_val)")
        xv = model._check_x(validation_data[0], "x_val")
        val = (xv, model._targets(lossf, validation_data[1], len(xv), "y_val"))
    opt = get_optimizer(optimizer)
    callbacks = list(callbacks or [])
    tracers = []
    for cb in callbacks:
        every = getattr(cb, "every", 0) or 0
        if not isinstance(every, numbers.Integral) or every < 0:
            raise ConfigError(f"callback.every must be an int >= 0; got {every!r}")
        if every > 0:
            if not hasattr(cb, "on_trace"):
                raise ConfigError(f"callback {cb!r} has every={every} but no on_trace method")
            tracers.append((int(every), cb))
    enders = [cb for cb in callbacks if hasattr(cb, "on_epoch_end")]
    if batch_size is not None:
        batch_size = _positive_int("batch_size", batch_size)
    full = batch_size is None or batch_size >= n
    rng = as_generator(seed)

    K = model.n_models
    params = model.params
    state = opt.init(params)
    history = History(K)
    active = np.ones(K, dtype=bool)

    if engine == "jit":
        from initlab.nn.jit import fit_compiled

        return fit_compiled(model, xs, t, lossf, opt, history, epochs=epochs,
                            batch_size=batch_size, full=full, log_every=log_every, rng=rng,
                            callbacks=callbacks, val=val, verbose=verbose, threads=threads)
    if full:
        fb = _Batch(model, n, t)
        input_buffer(fb.ws)[...] = xs
        fb.t = t
        batches: list[_Batch] = [fb]
    else:
        batches = [_Batch(model, batch_size, t)]
        if n % batch_size:
            batches.append(_Batch(model, n % batch_size, t))

    nb = n if full else batch_size
    if model._graph is None:
        blas, workers = step_threads(model._layout.shapes, nb, K, threads)
    else:  # the graph engine runs all models in one range
        blas, workers = (blas_threads(model._layout.shapes, nb) if threads is None
                         else threads), 1
    if workers == 1:
        blas = _checked_threads(model, xs, t, lossf, opt, batches, full, blas)
    with BlasThreads(blas):
        _loop(model, xs, t, lossf, opt, state, history, active, batches, full, batch_size,
              epochs, log_every, rng, tracers, enders, val, verbose, workers)
    return history


def _checked_threads(model: Sequential, xs: np.ndarray, t: Targets, lossf: Loss, opt: Any,
                     batches: list[_Batch], full: bool, blas: int | None) -> int | None:
    """The BLAS thread count of fit's loop: ``blas`` where every product of the step gives the
    bits of one thread on that many, else 1, with the products that do keep their bits raised
    to that many for their own call (:func:`initlab.nn.blas.product_plan`, probe steps per
    batch size on the first rows; they write only the workspaces, which every step refills).
    The step's call lists are rewritten in place for those raised products."""
    want = caller_threads() if blas is None else blas
    if want <= 1:
        return blas
    fold = opt.scale()
    scale = 1.0 if fold is None else fold
    plans = _probe_plans(model, xs, t, lossf, batches, full, fold, scale, want)
    if all(n == want for *_, plan in plans for n in plan):
        return blas
    for steps, calls, slots, plan in plans:
        steps.raise_products({id(calls[i]): n for i, n in zip(slots, plan, strict=True)})
    return 1


def _probe_plans(model: Sequential, xs: np.ndarray, t: Targets, lossf: Loss,
                 batches: list[_Batch], full: bool, fold: Any, scale: float,
                 want: int) -> list[tuple[Any, list, list[int], tuple[Any, ...]]]:
    """Per batch size, its steps, the call list probed, the product slots in it and
    their :func:`product_plan` on ``want`` threads (one probe step on the first rows)."""
    plans = []
    fixed: list = []  # the probe weights, drawn by the first probe step that runs
    for b in batches:
        if b.steps is None:
            b.steps = _Steps(model, b, lossf, scale, 1, fold is not None)
        calls = b.steps.plain[0]
        slots = [i for i, c in enumerate(calls) if _is_product(c)]

        def run(plan: Sequence[int], calls: list = calls, slots: list = slots,
                b: _Batch = b) -> list[np.ndarray]:
            ws = b.ws
            if not full:  # the first rows (the steps refill the workspace)
                b.fill(xs, t, np.arange(ws.n))
            with _probe_weights(model, fixed):
                return _probe_step(calls, slots, plan, [ws.grads.flat, ws.z[-1]])

        key = ("numpy", tuple(_layout(calls[i]) for i in slots))
        plans.append((b.steps, calls, slots, remembered_plan(key, run, len(slots), want)))
    return plans


@contextlib.contextmanager
def _probe_weights(model: Sequential, fixed: list) -> Iterator[None]:
    """The model's weights replaced by ``fixed`` (:func:`initlab.nn.blas.probe_weights`, drawn
    here on first use) for a probe step (a zero init would pass it trivially), its own put
    back after, whatever happens. Only a probe that runs pays: a remembered plan runs none."""
    if not fixed:
        fixed.extend(probe_weights(model._layout.shapes, model.dtype))
    params = model.params
    saved = params.flat.copy()
    for (wr, br), W, bias in zip(fixed, params.W, params.b, strict=True):
        W[...], bias[...] = wr, br
    try:
        yield
    finally:
        params.flat[...] = saved


def _layout(call: Any) -> tuple:
    """What a product's plan depends on: its operands' and output's shapes, strides and
    dtypes (:func:`initlab.nn.blas.remembered_plan`)."""
    out = call.keywords["out"]
    return (*((a.shape, a.strides, a.dtype.str) for a in call.args),
            (out.shape, out.strides, out.dtype.str))


def _probe_step(calls: list, slots: list[int], plan: Sequence[int],
                after: list[np.ndarray]) -> list[np.ndarray]:
    """Run one step's ``calls``, product ``slots[i]`` on ``plan[i]`` BLAS threads, and return
    what :func:`initlab.nn.blas.product_plan` compares: each product's own output, copied
    right after it runs, then copies of ``after`` (the step's gradients and logits).

    A product's output is compared itself, not only what follows from it: an activation that
    saturates after it (sigmoid at large inputs, ReLU below zero) can round a product's
    last-bit differences away, and the next steps would then see them anyway.
    """
    products = set(slots)
    seen = []
    with np.errstate(all="ignore"):
        lifted = _lift(calls, {id(calls[i]): n for i, n in zip(slots, plan, strict=True)})
        for i, call in enumerate(lifted):
            call()
            if i in products:
                seen.append(calls[i].keywords["out"].copy())
    return [*seen, *(a.copy() for a in after)]


def _is_product(call: Any) -> bool:
    """Whether a step call is one of its BLAS products (a ``partial`` of ``np.matmul``)."""
    return isinstance(call, partial) and call.func is np.matmul


class _Raised:
    """A product run on more BLAS threads than the rest of the step, which runs on one: set
    for the call, back to one after (OpenBLAS's own setter, about a microsecond, else
    :class:`initlab.nn.blas.BlasThreads`)."""

    __slots__ = ("call", "threads", "put")

    def __init__(self, call: Any, threads: int) -> None:
        ctl = openblas_threads()
        self.call, self.threads, self.put = call, threads, None if ctl is None else ctl[1]

    def __call__(self) -> None:
        if self.put is None:  # pragma: no cover - NumPy without a reachable OpenBLAS
            with BlasThreads(self.threads):
                self.call()
            return
        self.put(self.threads)
        try:
            self.call()
        finally:
            self.put(1)


def _lift(calls: list, raise_to: dict[int, int]) -> list:
    """``calls`` with each call whose ``id`` is in ``raise_to`` on that many BLAS threads
    where it is above one."""
    return [_Raised(c, raise_to[id(c)]) if raise_to.get(id(c), 1) > 1 else c for c in calls]


SMALL_FLOP = 1e7
"""Below this many FLOP per product, :func:`blas_threads` keeps one BLAS thread (issue 16: on
a 2-core Xeon the 784-128 layer's product at batch 32, 6.5 MFLOP, ran at the same rate on one
and two OpenBLAS threads, at batch 128, 26 MFLOP, 1.4x faster on two)."""


def blas_threads(shapes: Sequence[tuple[int, int]], n_batch: int) -> int | None:
    """The BLAS thread count fit uses when not told: a function of the shapes alone.

    One thread when every product of one model's step is under ``SMALL_FLOP`` (2 n (f + 1) u
    FLOP for a layer of fan-in f and u units on a batch of n): a second OpenBLAS thread saves
    little there, and on a loaded machine a product waits for a descheduled thread. Otherwise
    None: the caller's setting stands (``OPENBLAS_NUM_THREADS``, ``threadpoolctl``, or
    ``fit(threads=...)``). Nothing here is timed, so the machine's load changes nothing; and
    the thread count does not change a result either: OpenBLAS usually splits a product's
    output among threads, never the sum inside one element, and where it does not (its
    Haswell kernels on an AVX-512 CPU; its SkylakeX kernels on a Zen 4 EPYC for the 785-128
    product at batch 128) fit's probe step keeps that product on one thread and lets the
    others have several (:func:`initlab.nn.blas.product_plan`;
    ``tests/nn/test_nn_determinism.py`` checks 1 and 2 threads give bit-identical runs).

    Example:
        >>> blas_threads([(2, 12), (12, 6), (6, 1)], 1000)
        1
        >>> blas_threads([(784, 128), (128, 64), (64, 10)], 128) is None
        True
    """
    biggest = max(2.0 * n_batch * (f + 1) * u for f, u in shapes)
    return 1 if biggest < SMALL_FLOP else None


PARALLEL_FLOP = 8e6
"""From this many FLOP per step of the whole ensemble, :func:`step_threads` splits the models
over the caller's thread count."""


def step_threads(shapes: Sequence[tuple[int, int]], n_batch: int, K: int,
                 threads: int | None) -> tuple[int | None, int]:
    """(BLAS threads, model ranges run in parallel) of fit's training steps: a function of the
    shapes and of the thread count alone.

    With K >= 2 models and more than one thread (``threads``, else the caller's BLAS setting),
    the models are split into ``min(K, threads)`` contiguous ranges, each range's step runs on
    its own thread and every product on one BLAS thread: a model's products are then as large
    as they are alone, with no per-product thread start, and the split needs nothing of load.
    Without ``threads`` this happens only for steps of at least ``PARALLEL_FLOP``
    (6 K n sum((f + 1) u)); otherwise :func:`blas_threads`' rule stands. A model's arithmetic
    is the same for any split (each range runs the very calls that model has alone) and any
    BLAS thread count.

    Example:
        >>> step_threads([(784, 128), (128, 64), (64, 10)], 128, 30, 2)
        (1, 2)
        >>> step_threads([(2, 12), (12, 6), (6, 1)], 400, 1, None)
        (1, 1)
    """
    avail = threads if threads is not None else caller_threads()
    if K >= 2 and avail > 1:
        flop = 6.0 * K * n_batch * sum((f + 1) * u for f, u in shapes)
        if threads is not None or flop >= PARALLEL_FLOP:
            return 1, min(K, avail)
    return (blas_threads(shapes, n_batch) if threads is None else threads), 1


class _Steps:
    """A batch's step as call lists per range of models: ``plain`` and ``logged`` (the same
    calls, then the loss value and accuracy into ``loss_acc`` and ``correct_acc``).

    With plain SGD (``fold``) and several ranges, ``guarded`` and ``guarded_logged`` end each
    range with a :class:`_Guard` that adds the range's step to its parameters on its own
    thread when its logits are finite (the loop uses them while every model is active)."""

    def __init__(self, model: Sequential, b: _Batch, lossf: Loss, scale: float,
                 workers: int, fold: bool) -> None:
        ws = b.ws
        plan = model._plan(ws, lossf, b.t, scale, workers)
        parts = getattr(plan, "parts", None)
        if parts is None:  # a GraphPlan: one range, the loss's planned value and accuracy
            self.loss_acc, self.correct_acc = np.zeros(ws.K), np.zeros(ws.K)
            z, a = ws.z[-1], ws.post[-1]
            log = (lossf.plan_value(z, a, b.t, self.loss_acc)
                   + lossf.plan_correct(z, a, b.t, self.correct_acc))
            parts = [(plan.forward + plan.grad + plan.backward, log)]
            ranges = [slice(None)]
        else:
            self.loss_acc, self.correct_acc = plan.loss_acc, plan.correct_acc
            ranges = plan.ranges
        self.plain = [step for step, _ in parts]
        self.logged = [step + log for step, log in parts]
        self.guards: list[_Guard] = []
        if fold and len(parts) > 1:
            self.guards = [_Guard(ws, model.params, ks) for ks in ranges]
            self.guarded = [c + [g] for c, g in zip(self.plain, self.guards, strict=True)]
            self.guarded_logged = [c + [g] for c, g in zip(self.logged, self.guards,
                                                          strict=True)]


    def raise_products(self, raise_to: dict[int, int]) -> None:
        """Run the products keyed (by ``id``) in ``raise_to`` on that many BLAS threads, in
        every list of one range's calls (the loop itself runs on one)."""
        self.plain = [_lift(c, raise_to) for c in self.plain]
        self.logged = [_lift(c, raise_to) for c in self.logged]


class _Guard:
    """The end of one range's step under plain SGD: params += grads for models ``ks`` when
    their output logits are finite (``done``); else nothing, and the loop decides."""

    def __init__(self, ws: Any, params: Any, ks: slice) -> None:
        self.z = ws.zbuf[-1][ks]
        self.adds = [partial(np.add, p[ks], g[ks], out=p[ks])
                     for p, g in zip(params.aug, ws.grads.aug, strict=True)]
        self.done = False

    def __call__(self) -> None:
        self.done = math.isfinite(_add(self.z, None))
        if self.done:
            for add in self.adds:
                add()

    def finish(self) -> None:
        """Add the step where ``__call__`` did not (after the loop zeroed frozen models)."""
        if not self.done:
            for add in self.adds:
                add()


def _run(calls: list) -> None:
    """Run a range's calls on a pool thread (NumPy's error state is per thread: set it here)."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        for call in calls:
            call()


def _loop(model, xs, t, lossf, opt, state, history, active, batches, full, batch_size,
          epochs, log_every, rng, tracers, enders, val, verbose, workers=1) -> None:
    """The epoch and step loops of :func:`fit` (arguments as prepared there).

    Every step runs the same calls (``StepPlan``: forward, loss gradient, backward, then the
    update), logged or not, traced or not, whatever the other models did: the loss value,
    accuracy and traces are extra work beside the step that reads its buffers and never
    writes what the step uses. With ``workers`` > 1 the ranges of models of the plan run on
    that many threads (a pool that lives for this call); the update follows on this thread,
    or for plain SGD on each range's thread once its logits are checked (:class:`_Guard`).
    A model is marked diverged at the first step whose output logits are not all finite (the
    one criterion on every step), and frozen from that step.
    """
    if workers > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(workers - 1, thread_name_prefix="initlab-fit") as pool:
            _epochs(model, xs, t, lossf, opt, state, history, active, batches, full,
                    batch_size, epochs, log_every, rng, tracers, enders, val, verbose,
                    workers, pool)
    else:
        _epochs(model, xs, t, lossf, opt, state, history, active, batches, full, batch_size,
                epochs, log_every, rng, tracers, enders, val, verbose, 1, None)


def _epochs(model, xs, t, lossf, opt, state, history, active, batches, full, batch_size,
            epochs, log_every, rng, tracers, enders, val, verbose, workers, pool) -> None:
    K = model.n_models
    n = len(xs)
    params = model.params
    pflat = params.flat
    bar = None
    if verbose and epochs >= 1000:
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs, file=sys.stderr, leave=False, mininterval=0.5)
    t0 = time.perf_counter()
    step = 0
    fold = opt.scale()  # plain SGD: fold -lr into the loss gradient, skip the update pass
    scale = 1.0 if fold is None else fold
    all_active = True
    steps_per_epoch = 1 if full else -(-n // batch_size)
    submit = None if pool is None else pool.submit
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        for epoch in range(epochs):
            logged = epoch % log_every == 0 or epoch == epochs - 1
            perm = None if full else rng.permutation(n)
            for bi in range(steps_per_epoch):
                if full:
                    b = batches[0]
                else:
                    start = bi * batch_size
                    stop = min(start + batch_size, n)
                    b = batches[0] if stop - start == batch_size else batches[1]
                    b.fill(xs, t, perm[start:stop])
                ws = b.ws
                if tracers:
                    _trace(model, ws, lossf, b, step, tracers)
                steps = b.steps
                if steps is None:
                    steps = b.steps = _Steps(model, b, lossf, scale, workers, fold is not None)
                guarded = all_active and steps.guards
                if guarded:
                    parts = steps.guarded_logged if logged else steps.guarded
                else:
                    parts = steps.logged if logged else steps.plain
                if submit is None or len(parts) == 1:
                    for call in parts[0]:
                        call()
                else:
                    futures = [submit(_run, p) for p in parts[1:]]
                    for call in parts[0]:
                        call()
                    for fu in futures:
                        fu.result()
                if guarded and all(g.done for g in steps.guards):
                    step += 1  # every range checked its logits and stepped on its thread
                    continue
                if not math.isfinite(_add(ws.zbuf[-1], None)):  # a logit is not finite (or the
                    bad = ~np.isfinite(ws.z[-1]).all(axis=(1, 2))  # sum overflowed): per model
                    newly = bad & active
                    if newly.any():
                        history.diverged[newly] = True
                        history.diverged_epoch[newly] = epoch
                        active &= ~newly
                        all_active = False
                grads = ws.grads
                if fold is None:
                    opt.update(grads, state, params)
                if not all_active:
                    grads.zero_models(~active)
                if guarded:
                    for g in steps.guards:
                        g.finish()
                else:
                    pflat += grads.flat
                step += 1
            if logged:
                loss_sum, correct = np.zeros(K), np.zeros(K)
                for bb in batches:
                    if bb.steps is not None:
                        loss_sum += bb.steps.loss_acc
                        correct += bb.steps.correct_acc
                        bb.steps.loss_acc[:] = 0
                        bb.steps.correct_acc[:] = 0
                loss = (loss_sum / n).astype(params.flat.dtype).astype(np.float64)
                end_epoch(model, history, epoch, epochs, {"loss": loss, "accuracy": correct / n,
                          "time": time.perf_counter() - t0}, lossf, val, enders, verbose, bar)
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()


def end_epoch(model: Sequential, history: History, epoch: int, epochs: int, logs: dict,
              lossf: Any, val: Any, enders: Sequence[Any], verbose: int, bar: Any) -> None:
    """Finish a logged epoch (both engines): add the validation metrics to ``logs`` (in chunks
    of ``model.eval_rows``, on one BLAS thread), record them, then call the epoch callbacks
    and print the line.

    One thread: the validation products have other shapes than the step's, which the thread
    probe did not check, and on a CPU like the README's (OpenBLAS's SkylakeX kernels on a Zen
    4 EPYC) a 785-wide first layer's product gives other bits on two threads for almost every
    row count (80 % of a 1,000-row chunk's logits); one thread makes the validation metrics a
    function of the model alone."""
    if val is not None:
        with BlasThreads(1):
            r = model._evaluate(val[0], val[1], lossf, model.eval_rows)
        logs["val_loss"], logs["val_accuracy"] = r["loss"], r["accuracy"]
    history.record(epoch, logs)
    logs["diverged"] = history.diverged.copy()
    for cb in enders:
        cb.on_epoch_end(epoch, logs)
    if verbose:
        _print_line(epoch, epochs, logs, model.n_models, bar)


def _trace(model, ws, lossf, b, step, tracers) -> None:
    """Give the callbacks due at ``step`` the Trace of this batch, computed on a fresh
    workspace (the trace owns its arrays; the step's buffers are not touched)."""
    tracing = [cb for every, cb in tracers if step % every == 0]
    if not tracing:
        return
    tw = model._workspace(ws.n, with_grads=True)
    np.copyto(input_buffer(tw), input_buffer(ws))
    lv = model._step_grads(tw, lossf, b.t, need_output=True)
    trace = model._make_trace(input_buffer(tw), tw, lv)
    for cb in tracing:
        cb.on_trace(step, trace)


def _print_line(epoch: int, epochs: int, logs: dict, K: int, bar: Any) -> None:
    parts = [f"Epoch {epoch + 1}/{epochs}", f"{logs['time']:.1f}s"]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        if key not in logs:
            continue
        v = np.asarray(logs[key], dtype=float)
        if K == 1:
            parts.append(f"{key}: {v[0]:.4f}")
        else:
            parts.append(f"{key}: {np.nanmean(v):.4f} [{np.nanmin(v):.4f}, {np.nanmax(v):.4f}]")
    if logs["diverged"].any():
        parts.append(f"diverged: {int(logs['diverged'].sum())}/{K}")
    line = " - ".join(parts)
    if bar is not None:
        bar.write(line)
    else:
        print(line, flush=True)

