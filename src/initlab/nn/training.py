"""fit: train K models on the same minibatches with one optimizer, in place.

Minibatches: one seeded permutation per epoch; each batch is gathered with ``np.take`` into
the workspace's preallocated input buffer (the column of ones stays in place). Full-batch
training (``batch_size=None``) builds the augmented input once. Loss (and, on logged epochs,
accuracy) comes out of the training forward pass itself; nothing is recomputed.

A model whose batch loss is not finite is marked diverged at that epoch and frozen (its
updates are zeroed from then on); the others go on and fit never raises for it. On epochs
that are not logged the cross-entropies are not evaluated; a cross-entropy from logits is
finite exactly when the logits are, so one sum over the output logits per step finds the
step at which a model diverges.

Example:
    >>> import numpy as np
    >>> from initlab.nn import Dense, Sequential
    >>> m = Sequential([Dense(1, activation="sigmoid")], input_dim=2, n_models=3)
    >>> h = m.fit(np.eye(2), [0, 1], epochs=2, batch_size=1, optimizer="sgd")
    >>> h.loss.shape, h.diverged.tolist()
    ((2, 3), [False, False, False])
"""

from __future__ import annotations

import math
import numbers
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from initlab.errors import ConfigError
from initlab.nn.history import History
from initlab.nn.losses import Loss, Targets
from initlab.nn.optim import get as get_optimizer
from initlab.rng import as_generator

if TYPE_CHECKING:
    from initlab.nn.model import Sequential

__all__ = ["fit"]


def _positive_int(name: str, value: Any) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{name} must be a positive int; got {value!r}")
    return int(value)


class _Batch:
    """A workspace for one batch size plus its targets buffer."""

    def __init__(self, model: Sequential, n: int, t: Targets) -> None:
        self.ws = model._workspace(n, with_grads=True)
        self.plan: list | None = None
        self.t = Targets(np.empty((n, t.t.shape[1]), dtype=t.t.dtype),
                         None if t.labels is None else np.empty(n, dtype=t.labels.dtype))

    def fill(self, xs: np.ndarray, t: Targets, idx: np.ndarray) -> None:
        ws = self.ws
        np.take(xs, idx, axis=0, out=ws.x_aug[:, :-1], mode="clip")
        np.take(t.t, idx, axis=0, out=self.t.t, mode="clip")
        if t.labels is not None:
            np.take(t.labels, idx, out=self.t.labels, mode="clip")


def fit(model: Sequential, x: Any, y: Any, *, epochs: int = 1, batch_size: int | None = 32,
        optimizer: Any = "adam", loss: Any = None, validation_data: Any = None,
        seed: Any = 0, verbose: int = 0, log_every: int = 1,
        callbacks: Sequence[Any] | None = None) -> History:
    """Train ``model`` in place; see :meth:`initlab.nn.Sequential.fit` for the arguments.

    Returns:
        A :class:`~initlab.nn.History`.

    Example:
        >>> import numpy as np
        >>> from initlab.nn import Dense, Sequential
        >>> m = Sequential([Dense(2, activation="softmax")], input_dim=2)
        >>> fit(m, np.eye(2), [0, 1], epochs=1, batch_size=None).epochs.tolist()
        [0]
    """
    epochs = _positive_int("epochs", epochs)
    log_every = _positive_int("log_every", log_every)
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

    if full:
        fb = _Batch(model, n, t)
        fb.ws.x_aug[:, :-1] = xs
        fb.t = t
        batches: list[_Batch] = [fb]
    else:
        batches = [_Batch(model, batch_size, t)]
        if n % batch_size:
            batches.append(_Batch(model, n % batch_size, t))

    tuner = _ThreadTuner(model, n if full else batch_size)
    with tuner:
        _loop(model, xs, t, lossf, opt, state, history, active, batches, full, batch_size,
              epochs, log_every, rng, tracers, enders, val, verbose, tuner)
    return history


class _ThreadTuner:
    """Chooses how many BLAS threads the training steps use, by measuring them.

    Products under 4e6 FLOP always run on one thread: a second OpenBLAS thread saves little
    there. For larger ones the answer depends on the machine's load: on an idle machine two
    threads are faster, but when another process holds a core every product waits for the
    descheduled thread (we measured an MNIST batch-128 epoch take 10-30 s instead of 0.45 s).
    So fit times a few steps with one thread and a few with NumPy's thread count, keeps the
    faster, and measures again later (the load of a shared machine changes); see ``tick``.
    """

    SMALL = 4e6
    WINDOW = 4
    REPROBE = 250

    def __init__(self, model: Sequential, n_batch: int) -> None:
        K = model.n_models
        self.biggest = max(2.0 * n_batch * (f + 1) * u * (K if i == 0 else 1)
                           for i, (f, u) in enumerate(model._layout.shapes))
        self.ctl = _openblas_threads()
        self.original = self.ctl[0]() if self.ctl else 1
        self.next = 1 << 62  # the step at which tick() has something to do
        self.fallback: Any = None

    def __enter__(self) -> _ThreadTuner:
        if self.original <= 1:
            return self
        if self.ctl is None:  # no handle on NumPy's OpenBLAS: one thread for small products
            if self.biggest < self.SMALL:
                try:
                    from threadpoolctl import threadpool_limits

                    self.fallback = threadpool_limits(1, user_api="blas")
                except ImportError:  # pragma: no cover
                    pass
            return self
        if self.biggest < self.SMALL:
            self.ctl[1](1)
        else:
            self.phase, self.next, self.backoff = 0, 2, self.REPROBE // 2  # warm up 2 steps
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.ctl is not None:
            self.ctl[1](self.original)
        if self.fallback is not None:
            self.fallback.restore_original_limits()

    def tick(self, step: int) -> None:
        """Called before step ``step`` when ``step >= self.next``.

        A probe times WINDOW steps on one thread, then up to WINDOW steps on NumPy's count,
        stopping early at a step twice as slow as the one-thread average (under contention a
        many-thread step can take 50x longer). Many threads are kept only when at least 20 %
        faster: one thread costs at most ~2x on an idle machine, many can cost 50x on a busy
        one. While one thread keeps winning, the next probe comes twice as late.
        """
        now = time.perf_counter()
        if self.phase == 0:  # time one thread
            self.ctl[1](1)
            self.t, self.phase, self.next = now, 1, step + self.WINDOW
        elif self.phase == 1:  # then the default count, step by step
            self.one = (now - self.t) / self.WINDOW
            self.ctl[1](self.original)
            self.t = self.last = now
            self.phase, self.next, self.stop = 2, step + 1, step + self.WINDOW
        else:
            slow = now - self.last > 2 * self.one
            self.last = now
            if not slow and step < self.stop:
                self.next = step + 1
                return
            many = (now - self.t) / (self.WINDOW - (self.stop - step))
            if slow or many >= 0.8 * self.one:  # the risks are lopsided: prefer one thread
                self.ctl[1](1)
                self.backoff = min(2 * self.backoff, 16 * self.REPROBE)
            else:
                self.backoff = self.REPROBE
            self.phase, self.next = 0, step + self.backoff


def _openblas_threads() -> tuple[Any, Any] | None:
    """(get, set) for the thread count of NumPy's OpenBLAS, or None."""
    from initlab.nn.engine import _numpy_blas_lib

    lib = _numpy_blas_lib()
    if lib is None:
        return None
    for get, put in (("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
                     ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
                     ("openblas_get_num_threads", "openblas_set_num_threads")):
        g, p = getattr(lib, get, None), getattr(lib, put, None)
        if g is not None and p is not None:
            import ctypes

            g.restype = ctypes.c_int
            p.restype = None
            p.argtypes = [ctypes.c_int]
            return g, p
    return None


def _loop(model, xs, t, lossf, opt, state, history, active, batches, full, batch_size,
          epochs, log_every, rng, tracers, enders, val, verbose, tuner) -> None:
    """The epoch and step loops of :func:`fit` (arguments as prepared there)."""
    K = model.n_models
    n = len(xs)
    params = model.params
    bar = None
    if verbose and epochs >= 1000:
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs, file=sys.stderr, leave=False, mininterval=0.5)
    t0 = time.perf_counter()
    step = 0
    fold = opt.scale()  # plain SGD: fold -lr into the loss gradient, skip the update pass
    all_active = True
    steps_per_epoch = 1 if full else -(-n // batch_size)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        for epoch in range(epochs):
            logged = epoch % log_every == 0 or epoch == epochs - 1
            loss_sum = np.zeros(K)
            correct = np.zeros(K) if logged else None
            perm = None if full else rng.permutation(n)
            for bi in range(steps_per_epoch):
                if full:
                    b = batches[0]
                else:
                    start = bi * batch_size
                    stop = min(start + batch_size, n)
                    b = batches[0] if stop - start == batch_size else batches[1]
                    b.fill(xs, t, perm[start:stop])
                if step >= tuner.next:
                    tuner.tick(step)
                ws = b.ws
                tracing = [cb for every, cb in tracers if step % every == 0] if tracers else ()
                if tracing:  # a fresh workspace: the trace owns its arrays
                    tw = model._workspace(ws.n, with_grads=True)
                    np.copyto(tw.x_aug, ws.x_aug)
                    lv = model._step_grads(tw, lossf, b.t, need_output=True)
                    trace = model._make_trace(tw.x_aug[:, :-1], tw, lv)
                    for cb in tracing:
                        cb.on_trace(step, trace)
                    np.copyto(ws.grads.flat, tw.grads.flat)
                    np.copyto(ws.gzbuf[-1], tw.gzbuf[-1])
                    if logged:
                        correct += lossf.correct(tw.z[-1], tw.post[-1], b.t)
                    folded = False
                else:
                    plan = b.plan
                    if plan is None:
                        plan = b.plan = model._plan(ws, lossf, b.t,
                                                    1.0 if fold is None else fold)
                    for call in plan.forward:
                        call()
                    if plan.grad is not None and not logged:
                        for call in plan.grad:
                            call()
                        lv = None
                    else:
                        lv = model._loss_grad(ws, lossf, b.t, 1.0 if fold is None else fold)
                        if logged:
                            correct += lossf.correct(ws.z[-1], ws.post[-1], b.t)
                    folded = fold is not None
                grads = ws.grads
                if lv is not None:
                    if logged:
                        loss_sum += lv * ws.n
                    bad = ~np.isfinite(lv)
                elif math.isfinite(ws.zbuf[-1].sum()):
                    bad = None  # finite logits: every cross-entropy is finite
                else:  # a logit is not finite (or the sum overflowed): measure the losses
                    bad = ~np.isfinite(lossf.value_and_grad(ws.z[-1], ws.post[-1], b.t, None))
                if bad is not None and bad.any():
                    newly = bad & active
                    if newly.any():
                        history.diverged[newly] = True
                        history.diverged_epoch[newly] = epoch
                        active &= ~newly
                        all_active = False
                if tracing or not (folded and all_active and plan.backward_apply is not None):
                    if not tracing:
                        for call in plan.backward:
                            call()
                    if not folded:
                        opt.update(grads, state, params)
                    if not all_active:
                        grads.zero_models(~active)
                    params.flat += grads.flat
                else:  # plain SGD, nobody frozen: the backward pass updates in place
                    for call in plan.backward_apply:
                        call()
                step += 1
            if logged:
                logs = {"loss": loss_sum / n, "accuracy": correct / n,
                        "time": time.perf_counter() - t0}
                if val is not None:
                    r = model._evaluate(val[0], val[1], lossf, 4096)
                    logs["val_loss"], logs["val_accuracy"] = r["loss"], r["accuracy"]
                history.record(epoch, logs)
                logs["diverged"] = history.diverged.copy()
                for cb in enders:
                    cb.on_epoch_end(epoch, logs)
                if verbose:
                    _print_line(epoch, epochs, logs, K, bar)
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()


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

