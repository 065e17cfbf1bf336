"""The hot path: forward and backward passes of K models over preallocated buffers.

A :class:`Workspace` holds every buffer one batch size needs; :func:`forward` and
:func:`backward` fill them in place (``out=``), so a training step allocates nothing. Layout
(see :mod:`initlab.nn.params`):

* every per-layer buffer is model-major, (K, n, units [+ 1]): model k's block is one
  contiguous (n, cols) matrix, exactly as it is when K = 1, and so is every block of a
  contiguous range of models (:class:`StepPlan` may run ranges of models on several threads);
* the input, shared by the K models, is augmented with a column of ones, ``x_aug``
  (n, fan_in + 1); a hidden layer's buffers carry a column of ones too (the first layer's
  weights carry the constant column (0, ..., 0, 1), so its product writes it), so
  ``[a, 1] @ W_aug`` adds the bias inside the product and ``[a, 1]^T @ dL/dz`` yields the
  gradients of weight and bias together (adding a broadcast bias row after the product would
  cost more than the product itself for narrow layers and many models);
* activations with f(1) = 1 (relu, leaky_relu, elu, linear) run over the whole buffer, the
  column of ones included (it stays 1, and its gradient stays 0).

Determinism: model k's arithmetic does not depend on K, on the other models or on how the
models are split over threads. Every product is NumPy's batched ``matmul``, which hands each
model's matrices to BLAS one model at a time (gemm, or gemv for a one-column product) with the
shapes, strides and leading dimensions that model has alone; one product over all K models at
once would let BLAS pick kernels and blocking from the whole shape. Element-wise work is exact
per element, and every reduction over samples happens inside one model's product or per model
(see :mod:`initlab.nn.losses`).

Example:
    >>> import numpy as np
    >>> from initlab.nn.activations import get
    >>> from initlab.nn.params import ParamLayout
    >>> lay = ParamLayout(2, [(3, 4), (4, 1)], np.float64)
    >>> p = lay.alloc()
    >>> ws = Workspace(lay, [get("relu"), get("sigmoid")], n=5)
    >>> ws.x_aug[:, :-1] = 1.0
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

__all__ = ["Workspace", "forward", "backward", "StepPlan", "input_buffer"]

Calls = list[Callable[[], Any]]


class Workspace:
    """Buffers for a batch of ``n`` samples through K models.

    Attributes:
        x_aug: (n, fan_in + 1) input with its column of ones (fill ``x_aug[:, :-1]``).
        zbuf, abuf: per layer, pre-activations and activations, (K, n, cols) C-contiguous
            (cols = units + 1 for a hidden layer: its column of ones; units for the output).
        z, post: per layer, the (K, n, units) views of those buffers.
        gzbuf, gabuf, gz, ga: dL/dz and dL/da likewise.
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
            z = np.empty((K, n, cols), dtype=dt)
            a = np.empty((K, n, cols), dtype=dt)
            if cols > units:
                z[:, :, units] = 1
                a[:, :, units] = 1
            self.zbuf.append(z)
            self.abuf.append(a)
        self.z = [b[:, :, :u] for b, (_, u) in zip(self.zbuf, shapes, strict=True)]
        self.post = [b[:, :, :u] for b, (_, u) in zip(self.abuf, shapes, strict=True)]
        self.whole = [
            li < L - 1 and act.keeps_one for li, act in enumerate(self.activations)
        ]
        self.with_grads = with_grads
        if with_grads:
            # zero-filled, so the extra columns of dL/da and dL/dz stay 0
            self.gzbuf = [np.zeros_like(b) for b in self.zbuf]
            self.gabuf = [np.zeros_like(b) for b in self.zbuf]
            self.gz = [b[:, :, :u] for b, (_, u) in zip(self.gzbuf, shapes, strict=True)]
            self.ga = [b[:, :, :u] for b, (_, u) in zip(self.gabuf, shapes, strict=True)]
            self.grads: Params = layout.alloc()


def input_buffer(ws: Any) -> np.ndarray:
    """The (n, input_dim) input buffer of a workspace (this engine's or the graph's)."""
    return ws.x_aug[:, :-1]


def _forward_calls(params: Params, ws: Workspace, need_output: bool,
                   ks: slice = slice(None)) -> Calls:
    """The forward pass of models ``ks`` as bound NumPy calls on fixed buffers (the one layer
    schedule)."""
    L = len(ws.z)
    acts = ws.activations
    calls: Calls = []
    for li in range(L):
        units = ws.z[li].shape[2]
        w = params.aug[li][ks][:, :, :units]  # (k, fan_in + 1, units)
        if li == 0:  # (n, f + 1) @ (k, f + 1, units) -> (k, n, units)
            calls.append(partial(np.matmul, ws.x_aug, w, out=ws.z[0][ks]))
        else:  # [a, 1] @ W_aug
            calls.append(partial(np.matmul, ws.abuf[li - 1][ks], w, out=ws.z[li][ks]))
        if li < L - 1 or need_output:
            if ws.whole[li]:
                calls += acts[li].plan_forward(ws.zbuf[li][ks], ws.abuf[li][ks])
            else:
                calls += acts[li].plan_forward(ws.z[li][ks], ws.post[li][ks])
    return calls


def _backward_calls(params: Params, ws: Workspace, ks: slice = slice(None)) -> Calls:
    """The backward pass of models ``ks`` from ``ws.gz[-1]`` into ``ws.grads``, as bound
    NumPy calls."""
    L = len(ws.z)
    acts = ws.activations
    grads = ws.grads
    calls: Calls = []
    for li in range(L - 1, -1, -1):
        gw = grads.aug[li][ks][:, :, :ws.z[li].shape[2]]
        if li == 0:  # (f + 1, n) @ (k, n, units) -> (k, f + 1, units)
            calls.append(partial(np.matmul, ws.x_aug.T, ws.gz[0][ks], out=gw))
            break
        calls.append(partial(np.matmul, ws.abuf[li - 1][ks].transpose(0, 2, 1), ws.gz[li][ks],
                             out=gw))
        ga = ws.ga[li - 1][ks]
        wt = params.W[li][ks].transpose(0, 2, 1)
        if wt.shape[1] == 1:  # a one-unit layer: g w^T, one exact product per element
            calls.append(partial(np.einsum, "kni,kij->knj", ws.gz[li][ks], wt, out=ga))
        else:
            calls.append(partial(np.matmul, ws.gz[li][ks], wt, out=ga))
        if ws.whole[li - 1]:
            calls += acts[li - 1].plan_backward(ws.zbuf[li - 1][ks], ws.abuf[li - 1][ks],
                                                ws.gabuf[li - 1][ks], ws.gzbuf[li - 1][ks])
        else:
            calls += acts[li - 1].plan_backward(ws.z[li - 1][ks], ws.post[li - 1][ks], ga,
                                                ws.gz[li - 1][ks])
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


def split_models(K: int, parts: int) -> list[slice]:
    """``parts`` contiguous ranges of the K models, as even as possible (first ones larger).

    Example:
        >>> split_models(5, 2)
        [slice(0, 3, None), slice(3, 5, None)]
    """
    parts = max(1, min(int(parts), K))
    q, r = divmod(K, parts)
    bounds = [0]
    for i in range(parts):
        bounds.append(bounds[-1] + q + (1 if i < r else 0))
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


class StepPlan:
    """One training step on a workspace's fixed buffers, as lists of bound NumPy calls.

    Running the lists does what :func:`forward`, the loss gradient and :func:`backward` do
    (they are built from the same schedule), minus the Python bookkeeping. Every training step
    runs exactly these calls, logged or not: the loss value and accuracy of logged epochs are
    computed beside them (``log``: they read the step's buffers and write only ``loss_acc``
    and ``correct_acc``), never instead of them.

    The models may be split into ``parts`` contiguous ranges (:func:`split_models`), each with
    its own call lists, so that the ranges can run on different threads: a model's calls are
    the same, on the same per-model blocks, however the models are split.

    Attributes:
        forward, grad, backward: the whole step for all models (one range), as for GraphPlan.
        ranges: the ranges of models (slices).
        parts: per range of models, ``(step calls, log calls)``.
        loss_acc: (K,) float64, the logged loss summed over samples (the loop resets it).
        correct_acc: (K,) float64, the number of correct predictions likewise.
    """

    def __init__(self, params: Params, ws: Workspace, loss: Any, t: Any, scale: float,
                 parts: int = 1) -> None:
        K = ws.K
        self.loss_acc = np.zeros(K)
        self.correct_acc = np.zeros(K)
        self.parts: list[tuple[Calls, Calls]] = []
        self.ranges = split_models(K, parts)
        for ks in self.ranges:
            fwd = _forward_calls(params, ws, not loss.from_logits, ks)
            grad, value = _loss_calls(ws, loss, t, scale, ks, self.loss_acc[ks])
            bwd = _backward_calls(params, ws, ks)
            log = value + loss.plan_correct(ws.z[-1][ks], ws.post[-1][ks], t,
                                            self.correct_acc[ks])
            self.parts.append((fwd + grad + bwd, log))
            if len(self.parts) == 1:
                self.forward, self.grad, self.backward = fwd, grad, bwd
        if len(self.parts) > 1:
            self.forward = [c for step, _ in self.parts for c in step]
            self.grad, self.backward = [], []


def _loss_calls(ws: Any, loss: Any, t: Any, scale: float, ks: slice,
                acc: np.ndarray | None) -> tuple[Calls, Calls]:
    """(gradient calls, value calls) of the loss for models ``ks``: ``scale`` * dL/dz of the
    output layer into ``ws.gz[-1]``, and the summed loss into ``acc``."""
    z, a = ws.z[-1][ks], ws.post[-1][ks]
    if loss.from_logits:
        return loss.plan_step(z, a, t, ws.gz[-1][ks], scale, acc)
    # dL/da, then through the output activation
    calls, value = loss.plan_step(z, a, t, ws.ga[-1][ks], scale, acc)
    return calls + ws.activations[-1].plan_backward(z, a, ws.ga[-1][ks], ws.gz[-1][ks]), value


def grad_calls(ws: Any, loss: Any, t: Any, scale: float) -> Calls:
    """``scale`` * dL/dz of the output layer into ``ws.gz[-1]``, as calls on fixed buffers
    (any workspace with ``z``, ``post``, ``gz``, ``ga`` and ``activations``; value not
    computed)."""
    return _loss_calls(ws, loss, t, scale, slice(None), None)[0]
