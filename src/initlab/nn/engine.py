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
* layer 0 is one product for all K models, ``x_aug @ W_aug`` -> (n, K * (units + 1));
  every later layer is a batched product over the model axis;
* activations with f(1) = 1 (relu, leaky_relu, elu, linear) run over the whole buffer, the
  column of ones included (it stays 1, and its gradient stays 0).

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
    L = len(ws.z)
    n = ws.n
    np.matmul(ws.x_aug, params.first_layer_matrix(), out=ws.zbuf[0].reshape(n, -1))
    for li in range(L):
        if li > 0:
            np.matmul(ws.a_aug[li], params.aug[li], out=ws.z[li])
        if li < L - 1 or need_output:
            if ws.whole[li]:
                ws.activations[li].forward(ws.zbuf[li], out=ws.abuf[li])
            else:
                ws.activations[li].forward(ws.z[li], out=ws.post[li])
    return ws.post


def backward(params: Params, ws: Workspace) -> Params:
    """Back-propagate ``ws.gz[-1]`` (dL/dz of the output layer) to every layer's gradients.

    Args:
        params: the parameters of the forward pass.
        ws: the workspace of that forward pass, with ``gz[-1]`` filled by the loss.

    Returns:
        ``ws.grads`` (dL/dW and dL/db for every layer; ``ws.gz`` holds dL/dz per layer).
    """
    L = len(ws.z)
    grads = ws.grads
    for li in range(L - 1, 0, -1):
        gz = ws.gz[li]
        np.matmul(ws.a_aug[li].transpose(0, 2, 1), gz, out=grads.aug[li])
        ga = ws.ga[li - 1]
        Wt = params.W[li].transpose(0, 2, 1)
        if gz.shape[2] == 1 and ws.K >= 4 and ga.shape[2] <= 16:
            # one unit feeding a narrow layer: an outer product per model; column by column
            # over the sample-major buffers beats K tiny BLAS calls
            W = params.W[li]
            g = ws.gzbuf[li][:, :, 0]
            gab = ws.gabuf[li - 1]
            for j in range(ga.shape[2]):
                np.multiply(g, W[:, j, 0], out=gab[:, :, j])
        else:
            np.matmul(gz, Wt, out=ga)
        act = ws.activations[li - 1]
        if ws.whole[li - 1]:
            act.backward(ws.zbuf[li - 1], ws.abuf[li - 1], ws.gabuf[li - 1],
                         out=ws.gzbuf[li - 1])
        else:
            act.backward(ws.z[li - 1], ws.post[li - 1], ga, out=ws.gz[li - 1])
    np.matmul(ws.x_aug.T, ws.gzbuf[0].reshape(ws.n, -1), out=grads.first_layer_matrix())
    return grads


class StepPlan:
    """One training step on a workspace's fixed buffers, as lists of bound NumPy calls.

    Running the lists does what :func:`forward`, the loss and :func:`backward` do, minus the
    Python bookkeeping (for seed 002's 2-12-6-1 network that bookkeeping is a large part of a
    step). ``backward_apply``, when not None, also adds the gradients to the parameters: the
    first layer's product is one GEMM with beta = 1 straight into the weights
    (``W_aug += x_aug^T @ dL/dz``), so its gradient is never written out nor read back; the
    caller folds the step size into the loss gradient (plain SGD).

    Attributes:
        forward: the forward pass (the output activation only where the loss needs it).
        grad: the loss gradient into ``ws.gz[-1]`` (losses from logits; value not computed).
        backward: the backward pass into ``ws.grads``.
        backward_apply: the backward pass that also updates the parameters, or None.
    """

    def __init__(self, params: Params, ws: Workspace, loss: Any, t: Any, scale: float) -> None:
        L = len(ws.z)
        n = ws.n
        acts = ws.activations
        fwd: list[Callable[[], Any]] = [
            partial(np.matmul, ws.x_aug, params.first_layer_matrix(),
                    out=ws.zbuf[0].reshape(n, -1))
        ]
        for li in range(L):
            if li > 0:
                fwd.append(partial(np.matmul, ws.a_aug[li], params.aug[li], out=ws.z[li]))
            if li < L - 1:
                if ws.whole[li]:
                    fwd += acts[li].plan_forward(ws.zbuf[li], ws.abuf[li])
                else:
                    fwd += acts[li].plan_forward(ws.z[li], ws.post[li])
            elif not loss.from_logits:
                fwd += acts[li].plan_forward(ws.z[li], ws.post[li])
        self.forward = fwd
        self.grad = (loss.plan_grad(ws.z[-1], ws.post[-1], t, ws.gz[-1], scale)
                     if loss.from_logits else None)
        grads = ws.grads
        bwd: list[Callable[[], Any]] = []
        for li in range(L - 1, 0, -1):
            gz = ws.gz[li]
            bwd.append(partial(np.matmul, ws.a_aug[li].transpose(0, 2, 1), gz,
                               out=grads.aug[li]))
            ga = ws.ga[li - 1]
            if gz.shape[2] == 1 and ws.K >= 4 and ga.shape[2] <= 16:
                g = ws.gzbuf[li][:, :, 0]
                gab = ws.gabuf[li - 1]
                W = params.W[li]
                bwd += [partial(np.multiply, g, W[:, j, 0], out=gab[:, :, j])
                        for j in range(ga.shape[2])]
            else:
                bwd.append(partial(np.matmul, gz, params.W[li].transpose(0, 2, 1), out=ga))
            if ws.whole[li - 1]:
                bwd += acts[li - 1].plan_backward(ws.zbuf[li - 1], ws.abuf[li - 1],
                                                  ws.gabuf[li - 1], ws.gzbuf[li - 1])
            else:
                bwd += acts[li - 1].plan_backward(ws.z[li - 1], ws.post[li - 1], ga,
                                                  ws.gz[li - 1])
        self.backward = bwd + [partial(np.matmul, ws.x_aug.T, ws.gzbuf[0].reshape(n, -1),
                                       out=grads.first_layer_matrix())]
        self.backward_apply: list[Callable[[], Any]] | None = None
        gemm = _gemm_into(params.first_layer_matrix(), ws.x_aug, ws.gzbuf[0].reshape(n, -1))
        if gemm is not None:
            tail = params.layout.offsets[1] if L > 1 else params.flat.size
            apply = bwd + [gemm]
            if tail < params.flat.size:
                apply.append(partial(np.add, params.flat[tail:], grads.flat[tail:],
                                     out=params.flat[tail:]))
            self.backward_apply = apply


def _gemm_into(c: np.ndarray, x: np.ndarray, g: np.ndarray) -> Callable[[], Any] | None:
    """A call doing ``c += x^T @ g`` in one GEMM with beta = 1, or None where not possible.

    It calls the CBLAS of the very library NumPy's matmul uses (found with threadpoolctl),
    so no second BLAS thread pool competes with NumPy's.
    """
    cblas = _numpy_cblas()
    if cblas is None or not (c.flags.c_contiguous and x.flags.c_contiguous
                             and g.flags.c_contiguous and c.dtype == x.dtype == g.dtype):
        return None
    fn = cblas.get(c.dtype.char)
    if fn is None:
        return None
    import ctypes

    gemm, int_t = fn
    n, rows = x.shape  # c (rows, cols) += x^T (rows, n) @ g (n, cols)
    cols = g.shape[1]
    real = ctypes.c_float if c.dtype == np.float32 else ctypes.c_double
    args = (101, 112, 111, int_t(rows), int_t(cols), int_t(n), real(1.0),
            x.ctypes.data_as(ctypes.c_void_p), int_t(rows),
            g.ctypes.data_as(ctypes.c_void_p), int_t(cols), real(1.0),
            c.ctypes.data_as(ctypes.c_void_p), int_t(cols))
    return partial(gemm, *args)


_CBLAS: Any = False


def _numpy_cblas() -> dict[str, tuple[Any, Any]] | None:
    """``{"f": (sgemm, int type), "d": (dgemm, int type)}`` from NumPy's OpenBLAS, or None."""
    global _CBLAS
    if _CBLAS is not False:
        return _CBLAS
    _CBLAS = None
    lib = _numpy_blas_lib()
    if lib is None:
        return None
    import ctypes

    found: dict[str, tuple[Any, Any]] = {}
    for char, name in (("f", "sgemm"), ("d", "dgemm")):
        for sym, int_t in ((f"scipy_cblas_{name}64_", ctypes.c_int64),
                           (f"cblas_{name}64_", ctypes.c_int64),
                           (f"cblas_{name}", ctypes.c_int)):
            fn = getattr(lib, sym, None)
            if fn is not None:
                fn.restype = None
                found[char] = (fn, int_t)
                break
    _CBLAS = found or None
    return _CBLAS


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
