"""The hot path: forward and backward passes of K models over preallocated buffers.

A :class:`Workspace` holds every buffer one batch size needs; :func:`forward` and
:func:`backward` fill them in place (``out=``), so a training step allocates (almost)
nothing. Layout (see :mod:`initlab.nn.params`):

* every per-layer buffer is sample-major, (n, K, units [+ 1]), and is handed out as a
  (K, n, units) view; BLAS reads and writes such views directly (leading dimension K * cols),
  and element-wise work runs over whole contiguous buffers;
* the input is augmented with a column of ones, ``x_aug`` (n, fan_in + 1); a hidden layer's
  buffers carry a column of ones too, so ``[a, 1] @ W_aug`` adds the bias inside the product
  and ``[a, 1]^T @ dL/dz`` yields the gradients of weight and bias together;
* every layer, the first included, is a batched product over the model axis: the K models
  share ``x_aug`` but each gets its own product of the very shapes it would have alone;
* activations with f(1) = 1 (relu, leaky_relu, elu, linear) run over the whole buffer, the
  column of ones included (it stays 1, and its gradient stays 0).

Determinism: model k's arithmetic does not depend on K or on the other models. A single
(n, fan_in + 1) @ (fan_in + 1, K (units + 1)) product for layer 0 would be faster for large K,
but BLAS picks its kernels and blocking from the whole product's shape, so a model's first
layer could round differently in a K = 30 ensemble than alone; the backward product
(fan_in + 1, n) @ (n, K (units + 1)) likewise. Element-wise work is exact per element, and
every reduction over samples happens inside one model's product or per model (see
:mod:`initlab.nn.losses`).

Example:
    >>> import numpy as np
    >>> from initlab.nn.activations import get
    >>> from initlab.nn.params import ParamLayout
    >>> lay = ParamLayout(2, [(3, 4), (4, 1)], np.float64)
    >>> p = lay.alloc()
    >>> ws = Workspace(lay, [get("relu"), get("sigmoid")], n=5)
    >>> ws.x_aug[:, :3] = 1.0
    >>> forward(p, ws, need_output=True)[-1].shape
    (2, 5, 1)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np

from initlab.nn.activations import Activation
from initlab.nn.params import ParamLayout, Params

__all__ = ["Workspace", "forward", "backward", "StepPlan"]


class Workspace:
    """Buffers for a batch of ``n`` samples through K models.

    Attributes:
        x_aug: (n, fan_in + 1) input with its column of ones (fill ``x_aug[:, :-1]``).
        z: per layer, pre-activations, (K, n, units) views of (n, K, units [+ 1]) buffers.
        post: per layer, activations, the same kind of views.
        a_aug: per layer ``l >= 1``, its augmented input (K, n, units_prev + 1).
        gz: per layer, dL/dz (K, n, units) views; ``ga``: dL/da likewise.
        grads: the gradient Params.
    """

    def __init__(
        self,
        layout: ParamLayout,
        activations: Sequence[Activation],
        n: int,
        with_grads: bool = True,
    ) -> None:
        K, dt = layout.K, layout.dtype
        shapes = layout.shapes
        L = len(shapes)
        self.n, self.K, self.layout = n, K, layout
        self.activations = list(activations)
        self.x_aug = np.empty((n, shapes[0][0] + 1), dtype=dt)
        self.x_aug[:, -1] = 1
        self.zbuf: list[np.ndarray] = []
        self.abuf: list[np.ndarray] = []
        for li, (_, units) in enumerate(shapes):
            cols = units + (1 if li < L - 1 else 0)
            z = np.empty((n, K, cols), dtype=dt)
            a = np.empty((n, K, cols), dtype=dt)
            if cols > units:
                z[:, :, units] = 1
                a[:, :, units] = 1
            self.zbuf.append(z)
            self.abuf.append(a)
        self.z = [_view(b, u) for b, (_, u) in zip(self.zbuf, shapes, strict=True)]
        self.post = [_view(b, u) for b, (_, u) in zip(self.abuf, shapes, strict=True)]
        self.a_aug: list[np.ndarray | None] = [None] + [
            b.transpose(1, 0, 2) for b in self.abuf[:-1]
        ]
        self.whole = [
            li < L - 1 and act.keeps_one for li, act in enumerate(self.activations)
        ]
        self.with_grads = with_grads
        if with_grads:
            # zero-filled, so the extra columns of dL/da and dL/dz stay 0
            self.gzbuf = [np.zeros_like(b) for b in self.zbuf]
            self.gabuf = [np.zeros_like(b) for b in self.zbuf]
            self.gz = [_view(b, u) for b, (_, u) in zip(self.gzbuf, shapes, strict=True)]
            self.ga = [_view(b, u) for b, (_, u) in zip(self.gabuf, shapes, strict=True)]
            self.grads: Params = layout.alloc()


def _view(buf: np.ndarray, units: int) -> np.ndarray:
    """The (K, n, units) view of an (n, K, cols) buffer."""
    return buf[:, :, :units].transpose(1, 0, 2)


def _inputs(ws: Workspace, li: int) -> np.ndarray:
    """Layer ``li``'s augmented input, sample-major: (n, 1, fan_in + 1) for layer 0 (shared by
    the K models), else (n, K, fan_in + 1)."""
    return ws.x_aug[:, None, :] if li == 0 else ws.abuf[li - 1]


def _column_calls(a: np.ndarray, w: np.ndarray, out: np.ndarray) -> list[Callable[[], Any]]:
    """``out = sum_j a[:, :, j] * w[:, j]``: a one-column product, (n, K | 1, f + 1) and
    (K, f + 1) into (n, K), in a fixed order for every model whatever K is.

    Up to 32 terms as sequential column multiply-adds (measured on seed 002's 2-12-6-1 net:
    a reduction over a 7-long last axis costs several times more per step); beyond, one
    broadcast multiply and a sum over the last axis (per row, so K-independent as well).
    """
    terms = a.shape[2]
    if terms > 32:
        tmp = np.empty(out.shape + (terms,), dtype=out.dtype)
        return [partial(np.multiply, a, w, out=tmp),
                partial(np.add.reduce, tmp, axis=2, out=out)]
    tmp = np.empty(out.shape, dtype=out.dtype)
    calls = [partial(np.multiply, a[:, :, 0], w[:, 0], out=out)]
    for j in range(1, terms):
        calls += [partial(np.multiply, a[:, :, j], w[:, j], out=tmp),
                  partial(np.add, out, tmp, out=out)]
    return calls


def _forward_calls(params: Params, ws: Workspace, need_output: bool) -> list[Callable[[], Any]]:
    """The forward pass as bound NumPy calls on fixed buffers (the one layer schedule)."""
    L = len(ws.z)
    acts = ws.activations
    calls: list[Callable[[], Any]] = []
    for li in range(L):
        w = params.aug[li]  # (K, fan_in + 1, cols)
        if w.shape[2] == 1:  # one output column: see _backward_calls
            calls += _column_calls(_inputs(ws, li), w[:, :, 0], ws.zbuf[li][:, :, 0])
        elif li == 0:  # (n, f + 1) @ (K, f + 1, units + 1) -> (K, n, units + 1)
            calls.append(partial(np.matmul, ws.x_aug, w, out=ws.zbuf[0].transpose(1, 0, 2)))
        else:
            calls.append(partial(np.matmul, ws.a_aug[li], w, out=ws.z[li]))
        if li < L - 1 or need_output:
            if ws.whole[li]:
                calls += acts[li].plan_forward(ws.zbuf[li], ws.abuf[li])
            else:
                calls += acts[li].plan_forward(ws.z[li], ws.post[li])
    return calls


def _backward_calls(params: Params, ws: Workspace) -> list[Callable[[], Any]]:
    """The backward pass from ``ws.gz[-1]`` into ``ws.grads``, as bound NumPy calls.

    A product with one output column (a one-unit layer) is not left to BLAS: NumPy hands it
    to gemv, whose rounding depends on the row stride of the model's slice, i.e. on K. There
    the forward product is one element-wise multiply and a sum over the short last axis,
    its weight gradient a multiply and a sum over samples (sequential, per element), and
    dL/da = g w^T one broadcast multiply: the same operations for a model whatever K is.
    """
    L = len(ws.z)
    acts = ws.activations
    grads = ws.grads
    calls: list[Callable[[], Any]] = []
    for li in range(L - 1, -1, -1):
        w = params.aug[li]
        if w.shape[2] == 1:
            tmp = np.empty((ws.n, ws.K, w.shape[1]), dtype=w.dtype)
            calls += [partial(np.multiply, _inputs(ws, li), ws.gzbuf[li][:, :, :1], out=tmp),
                      partial(np.add.reduce, tmp, axis=0, out=grads.aug[li][:, :, 0])]
        elif li == 0:  # (f + 1, n) @ (K, n, units + 1) -> (K, f + 1, units + 1)
            calls.append(partial(np.matmul, ws.x_aug.T, ws.gzbuf[0].transpose(1, 0, 2),
                                 out=grads.aug[0]))
        else:
            calls.append(partial(np.matmul, ws.a_aug[li].transpose(0, 2, 1), ws.gz[li],
                                 out=grads.aug[li]))
        if li == 0:
            break
        ga = ws.ga[li - 1]
        fan_in = ga.shape[2]
        if ws.gz[li].shape[2] == 1:  # dL/da = g w^T: one product per element
            calls.append(partial(np.multiply, ws.gzbuf[li][:, :, :1], params.W[li][:, :, 0],
                                 out=ws.gabuf[li - 1][:, :, :fan_in]))
        else:
            calls.append(partial(np.matmul, ws.gz[li], params.W[li].transpose(0, 2, 1), out=ga))
        if ws.whole[li - 1]:
            calls += acts[li - 1].plan_backward(ws.zbuf[li - 1], ws.abuf[li - 1],
                                                ws.gabuf[li - 1], ws.gzbuf[li - 1])
        else:
            calls += acts[li - 1].plan_backward(ws.z[li - 1], ws.post[li - 1], ga,
                                                ws.gz[li - 1])
    return calls


def forward(params: Params, ws: Workspace, need_output: bool = True) -> list[np.ndarray]:
    """Run the forward pass of all K models on ``ws.x_aug``; return ``ws.post``.

    Args:
        params: the K models' parameters.
        ws: the workspace, its ``x_aug`` filled.
        need_output: compute the output layer's activation (the cross-entropy losses work
            from the logits and skip it during training).

    Returns:
        The list of activations per layer ((K, n, units) views into ``ws``).
    """
    for call in _forward_calls(params, ws, need_output):
        call()
    return ws.post


def backward(params: Params, ws: Workspace) -> Params:
    """Back-propagate ``ws.gz[-1]`` (dL/dz of the output layer) to every layer's gradients.

    Args:
        params: the parameters of the forward pass.
        ws: the workspace of that forward pass, with ``gz[-1]`` filled by the loss.

    Returns:
        ``ws.grads`` (dL/dW and dL/db for every layer; ``ws.gz`` holds dL/dz per layer).
    """
    for call in _backward_calls(params, ws):
        call()
    return ws.grads


class StepPlan:
    """One training step on a workspace's fixed buffers, as lists of bound NumPy calls.

    Running the lists does what :func:`forward`, the loss gradient and :func:`backward` do
    (they are built from the same schedule), minus the Python bookkeeping (for seed 002's
    2-12-6-1 network that bookkeeping is a large part of a step). Every training step runs
    exactly these calls, logged or not: the loss value, accuracy, traces and validation are
    computed beside them, never instead of them.

    Attributes:
        forward: the forward pass (the output activation only where the loss needs it).
        grad: ``scale`` * dL/dz of the output layer into ``ws.gz[-1]`` (value not computed).
        backward: the backward pass into ``ws.grads``.
    """

    def __init__(self, params: Params, ws: Workspace, loss: Any, t: Any, scale: float) -> None:
        self.forward = _forward_calls(params, ws, need_output=not loss.from_logits)
        self.grad = grad_calls(ws, loss, t, scale)
        self.backward = _backward_calls(params, ws)


def grad_calls(ws: Any, loss: Any, t: Any, scale: float) -> list[Callable[[], Any]]:
    """``scale`` * dL/dz of the output layer into ``ws.gz[-1]``, as calls on fixed buffers
    (any workspace with ``z``, ``post``, ``gz``, ``ga`` and ``activations``; value not
    computed)."""
    if loss.from_logits:
        return loss.plan_grad(ws.z[-1], ws.post[-1], t, ws.gz[-1], scale)
    # dL/da, then through the output activation
    calls = loss.plan_grad(ws.z[-1], ws.post[-1], t, ws.ga[-1], scale)
    return calls + ws.activations[-1].plan_backward(ws.z[-1], ws.post[-1], ws.ga[-1],
                                                    ws.gz[-1])


_LIB: Any = False


def _numpy_blas_lib() -> Any:
    """The OpenBLAS library NumPy's matmul calls (a ctypes handle), or None."""
    global _LIB
    if _LIB is not False:
        return _LIB
    _LIB = None
    try:
        import ctypes

        from threadpoolctl import threadpool_info

        paths = [i["filepath"] for i in threadpool_info()
                 if i.get("internal_api") == "openblas" and "numpy" in i.get("filepath", "")]
        if paths:
            _LIB = ctypes.CDLL(paths[0])
    except Exception:  # noqa: BLE001 - no handle: callers fall back to plain NumPy
        _LIB = None
    return _LIB
