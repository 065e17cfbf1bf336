"""The general engine: Sequential models with Residual blocks or bias-free Dense layers.

A plain stack of biased Dense layers runs on :mod:`initlab.nn.engine` (augmented matrices, the
first layer one product for all K models). Anything else compiles here, once per model, into
a :class:`Graph`: a flat schedule of two kinds of op, each with its forward and backward side
by side,

* ``_DenseOp``: ``z = (a + c_in) @ W + b + c_out``, ``post = f(z)`` (the scalars ``c`` only
  for Fixup's scalar biases; a linear layer's ``post`` is its ``z``, no copy);
* ``_SumOp``: ``y = s + alpha * f + c`` closing a Residual block (``s`` the shortcut's value,
  ``f`` the branch's output).

Every value is a (K, n, width) array (the shared input is (n, input_dim)); every parameter is
a (K, ...) tensor of one flat buffer (:class:`TensorParams`), so the optimizers, clipping and
freezing of diverged models work on it unchanged. In the backward pass the first op to reach
a value (in reverse order) writes its gradient, later ones add to it, so nothing is zeroed
per step but the scalar gradients.

Example:
    >>> import numpy as np
    >>> from initlab.nn import Dense, Residual, Sequential
    >>> m = Sequential([Dense(4, activation="relu"),
    ...                 Residual([Dense(4, activation="relu"), Dense(4)]),
    ...                 Dense(2, activation="softmax")], input_dim=3, n_models=2)
    >>> [op.name for op in m._graph.ops]
    ['dense_1', 'residual_1/dense_1', 'residual_1/dense_2', 'residual_1', 'dense_2']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np

from initlab.errors import ConfigError
from initlab.nn.activations import Activation
from initlab.nn.layers import Dense
from initlab.nn.params import Params
from initlab.nn.residual import Residual

__all__ = ["Graph", "GraphPlan", "GraphWorkspace", "TensorLayout", "TensorParams"]


class TensorLayout:
    """Per-model tensors of K models in one flat buffer.

    Args:
        n_models: K.
        shapes: each tensor's per-model shape (a scalar is ``(1,)``).
        dtype: float32 or float64.
        dense_w: per Dense (forward order), the index of its weight tensor.
        dense_b: per Dense, the index of its bias tensor, or None.

    Attributes:
        shapes: per Dense, ``(fan_in, units)`` (as :class:`~initlab.nn.params.ParamLayout`).
        tensor_shapes, offsets, size: where each tensor lives.
    """

    def __init__(self, n_models: int, shapes: Sequence[tuple[int, ...]], dtype: Any,
                 dense_w: Sequence[int], dense_b: Sequence[int | None]) -> None:
        self.K = int(n_models)
        self.dtype = np.dtype(dtype)
        self.tensor_shapes = [tuple(int(d) for d in s) for s in shapes]
        self.dense_w, self.dense_b = list(dense_w), list(dense_b)
        self.shapes = [self.tensor_shapes[i] for i in self.dense_w]
        self.offsets: list[int] = []
        off = 0
        for s in self.tensor_shapes:
            self.offsets.append(off)
            off += self.K * int(np.prod(s))
        self.size = off

    def alloc(self, flat: np.ndarray | None = None, constants: bool = False) -> TensorParams:
        """Return TensorParams over ``flat`` (a new zeroed buffer when None)."""
        if flat is None:
            flat = np.zeros(self.size, dtype=self.dtype)
        return TensorParams(self, flat)


class TensorParams(Params):
    """Parameters (or gradients, or optimizer state) of a :class:`TensorLayout`.

    Attributes:
        flat: the (size,) buffer.
        tensors: every tensor, (K, *shape) views of ``flat``.
        W: per Dense, (K, fan_in, units) views; ``b``: (K, units) views, None without bias.
    """

    def __init__(self, layout: TensorLayout, flat: np.ndarray) -> None:  # noqa: D107
        self.layout = layout  # type: ignore[assignment]
        self.flat = flat
        K = layout.K
        self.tensors = [flat[o : o + K * int(np.prod(s))].reshape((K, *s))
                        for o, s in zip(layout.offsets, layout.tensor_shapes, strict=True)]
        self.W = [self.tensors[i] for i in layout.dense_w]
        self.b = [None if i is None else self.tensors[i] for i in layout.dense_b]  # type: ignore[misc]
        self.aug = []


class _DenseOp:
    """``z = (a + c_in) @ W + b + c_out``; ``post = f(z)`` (``post is z`` when linear)."""

    def __init__(self, name: str, src: int, z: int, post: int, w: int, b: int | None,
                 act: Activation, c_in: int | None, c_out: int | None, output: bool) -> None:
        self.name, self.src, self.z, self.post = name, src, z, post
        self.w, self.b, self.act, self.c_in, self.c_out = w, b, act, c_in, c_out
        self.output = output
        self.add_src = False  # set by Graph: another op already wrote dL/d(src)

    def forward(self, ws: GraphWorkspace, p: TensorParams, need_output: bool) -> None:
        a = ws.V[self.src]
        if self.c_in is not None:
            a = np.add(a, p.tensors[self.c_in][:, :, None], out=ws.S[self, "in"])
        z = ws.V[self.z]
        np.matmul(a, p.tensors[self.w], out=z)
        if self.b is not None:
            z += p.tensors[self.b][:, None, :]
        if self.c_out is not None:
            z += p.tensors[self.c_out][:, :, None]
        if self.post != self.z and (need_output or not self.output):
            for call in ws.act_forward[self.z]:
                call()

    def backward(self, ws: GraphWorkspace, p: TensorParams, g: TensorParams) -> None:
        a = ws.S[self, "in"] if self.c_in is not None else ws.V[self.src]
        W = p.tensors[self.w]
        gz = ws.G[self.z]
        if not self.output and self.post != self.z:
            for call in ws.act_backward[self.z]:  # no allocation (a planned mask)
                call()
        np.matmul(np.swapaxes(a, -1, -2), gz, out=g.tensors[self.w])
        if self.b is not None:
            np.add.reduce(gz, axis=1, out=g.tensors[self.b])
        if self.c_out is not None:
            g.tensors[self.c_out][:, 0] += gz.sum(axis=(1, 2))
        if self.src == 0 and self.c_in is None:
            return  # nobody needs dL/dx of the input
        into = ws.S[self, "ga"] if (self.add_src or self.src == 0) else ws.G[self.src]
        np.matmul(gz, np.swapaxes(W, 1, 2), out=into)
        if self.c_in is not None:
            g.tensors[self.c_in][:, 0] += into.sum(axis=(1, 2))
        if self.add_src and self.src != 0:
            ws.G[self.src] += into

    def scratch(self, with_grads: bool) -> list[tuple[str, int]]:
        """(tag, value whose width it has) of the buffers this op needs."""
        out = [("in", self.src)] if self.c_in is not None else []
        if with_grads and (self.add_src or (self.src == 0 and self.c_in is not None)):
            out.append(("ga", self.src))
        return out


class _SumOp:
    """``y = s + alpha * f + c``: the end of a Residual block."""

    def __init__(self, name: str, s: int, f: int, y: int, alpha: float | None,
                 alpha_t: int | None, c: int | None) -> None:
        self.name, self.s, self.f, self.y = name, s, f, y
        self.alpha, self.alpha_t, self.c = alpha, alpha_t, c
        self.add_src = False  # for s

    def _alpha(self, p: TensorParams) -> Any:
        return p.tensors[self.alpha_t][:, :, None] if self.alpha_t is not None else self.alpha

    def forward(self, ws: GraphWorkspace, p: TensorParams, need_output: bool) -> None:
        y, f, s = ws.V[self.y], ws.V[self.f], ws.V[self.s]
        alpha = self._alpha(p)
        if alpha is None:
            np.add(s, f, out=y)
        else:
            np.multiply(f, alpha, out=y)
            y += s
        if self.c is not None:
            y += p.tensors[self.c][:, :, None]

    def backward(self, ws: GraphWorkspace, p: TensorParams, g: TensorParams) -> None:
        gy = ws.G[self.y]
        alpha = self._alpha(p)
        if alpha is None:
            np.copyto(ws.G[self.f], gy)
        else:
            np.multiply(gy, alpha, out=ws.G[self.f])
        if self.alpha_t is not None:
            g.tensors[self.alpha_t][:, 0] += np.einsum("knu,knu->k", gy, ws.V[self.f])
        if self.c is not None:
            g.tensors[self.c][:, 0] += gy.sum(axis=(1, 2))
        if self.s == 0:
            return
        if self.add_src:
            ws.G[self.s] += gy
        else:
            np.copyto(ws.G[self.s], gy)

    def scratch(self, with_grads: bool) -> list[tuple[str, int]]:
        return []


class Graph:
    """A Sequential's layers compiled into a schedule of ops over numbered values.

    Value 0 is the shared input. Building names the layers (``dense_<i>``, ``residual_<i>``,
    inside a block ``<block>/dense_<j>``, ``<block>/projection``) and sets each Dense's
    ``fan_in`` and ``index`` (its position in :attr:`dense`).

    Attributes:
        dense: every Dense, projections included, in forward order.
        blocks: every Residual, in the order their sums run.
        block_out: per block, the value id of its output.
        tensor_names, tensor_shapes: every parameter tensor.
        scalars: indices of the scalar tensors (alpha, Fixup's biases).
        block_scalars: per block name, ``{"alpha": i, "bias_in": [...], "bias_out": [...],
            "bias_post": i}`` (tensor indices; absent keys: no such parameter).
        ops: the schedule.
    """

    def __init__(self, items: Sequence[Dense | Residual], input_dim: int) -> None:
        self.dense: list[Dense] = []
        self.blocks: list[Residual] = []
        self.block_out: list[int] = []
        self.tensor_names: list[str] = []
        self.tensor_shapes: list[tuple[int, ...]] = []
        self.dense_w: list[int] = []
        self.dense_b: list[int | None] = []
        self.scalars: list[int] = []
        self.block_scalars: dict[str, dict[str, Any]] = {}
        self.widths: list[int] = [int(input_dim)]
        self.ops: list[_DenseOp | _SumOp] = []
        if not isinstance(items[-1], Dense):
            raise ConfigError("the last layer of a Sequential must be a Dense (the output "
                              f"layer); got {items[-1]!r}")
        out = self._seq(items, 0, "", top=True)
        self.output = out
        self._plan_writes()

    # ------------------------------------------------------------ building
    def _tensor(self, name: str, shape: tuple[int, ...]) -> int:
        self.tensor_names.append(name)
        self.tensor_shapes.append(shape)
        return len(self.tensor_shapes) - 1

    def _scalar(self, name: str) -> int:
        i = self._tensor(name, (1,))
        self.scalars.append(i)
        return i

    def _value(self, width: int) -> int:
        self.widths.append(int(width))
        return len(self.widths) - 1

    def _seq(self, items: Sequence[Dense | Residual], src: int, prefix: str, top: bool = False,
             shifts: dict[int, tuple[int | None, int | None]] | None = None) -> int:
        counts = {"dense": 0, "residual": 0}
        for j, ly in enumerate(items):
            if ly.built:
                raise ConfigError(f"layer {ly.name or ly!r} already belongs to a model; "
                                  "make new ones")
            kind = "dense" if isinstance(ly, Dense) else "residual"
            counts[kind] += 1
            ly.name = ly.name or f"{prefix}{kind}_{counts[kind]}"
            if isinstance(ly, Dense):
                c_in, c_out = (shifts or {}).get(j, (None, None))
                last = top and j == len(items) - 1
                src = self._dense(ly, src, c_in, c_out, output=last)
            else:
                src = self._block(ly, src)
        return src

    def _dense(self, ly: Dense, src: int, c_in: int | None, c_out: int | None,
               output: bool = False) -> int:
        ly.fan_in, ly.index = self.widths[src], len(self.dense)
        self.dense.append(ly)
        w = self._tensor(f"{ly.name}/W", (ly.fan_in, ly.units))
        b = self._tensor(f"{ly.name}/b", (ly.units,)) if ly.use_bias else None
        self.dense_w.append(w)
        self.dense_b.append(b)
        z = self._value(ly.units)
        post = z if (ly.activation.name == "linear" and not output) else self._value(ly.units)
        self.ops.append(_DenseOp(ly.name or "", src, z, post, w, b, ly.activation, c_in, c_out,
                                 output))
        return post

    def _block(self, blk: Residual, x: int) -> int:
        name = blk.name or ""
        blk.fan_in, blk.index = self.widths[x], len(self.blocks)
        info: dict[str, Any] = {}
        shifts: dict[int, tuple[int | None, int | None]] = {}
        if blk.scalar_biases:
            info["bias_in"], info["bias_out"] = [], []
            for j, ly in enumerate(blk.layers):
                if isinstance(ly, Dense):
                    c_in = self._scalar(f"{name}/bias_in_{j + 1}")
                    c_out = None
                    if j < len(blk.layers) - 1:
                        c_out = self._scalar(f"{name}/bias_out_{j + 1}")
                        info["bias_out"].append(c_out)
                    info["bias_in"].append(c_in)
                    shifts[j] = (c_in, c_out)
        f = self._seq(blk.layers, x, f"{name}/", shifts=shifts)
        if self.widths[f] != self.widths[x] and blk.shortcut == "identity":
            raise ConfigError(
                f"{name}: the branch maps width {self.widths[x]} to {self.widths[f]}, so the "
                "identity shortcut cannot add them; use shortcut='projection'")
        s = x
        if blk.shortcut == "projection":
            blk.projection = Dense(self.widths[f], activation="linear", use_bias=False,
                                   name=f"{name}/projection")
            first_in = info["bias_in"][0] if info.get("bias_in") else None
            s = self._dense(blk.projection, x, first_in, None)
        alpha_t = self._scalar(f"{name}/alpha") if blk.alpha == "trainable" else None
        if alpha_t is not None:
            info["alpha"] = alpha_t
        c = self._scalar(f"{name}/bias_post") if blk.scalar_biases else None
        if c is not None:
            info["bias_post"] = c
        fixed = blk.alpha if isinstance(blk.alpha, float) else None
        y = self._value(self.widths[f])
        self.ops.append(_SumOp(name, s, f, y, fixed, alpha_t, c))
        self.blocks.append(blk)
        self.block_out.append(y)
        self.block_scalars[name] = info
        blk.built = True
        return y

    def _plan_writes(self) -> None:
        written: set[int] = set()
        for op in reversed(self.ops):
            src = op.src if isinstance(op, _DenseOp) else op.s
            op.add_src = src in written
            written.add(src)

    def layout(self, n_models: int, dtype: Any) -> TensorLayout:
        """The parameter layout of K models of this graph."""
        return TensorLayout(n_models, self.tensor_shapes, dtype, self.dense_w, self.dense_b)

    # ------------------------------------------------------------ passes
    def forward(self, params: TensorParams, ws: GraphWorkspace, need_output: bool = True) -> None:
        """Run every op forward on ``ws.x_aug`` (output activation only if ``need_output``)."""
        for op in self.ops:
            op.forward(ws, params, need_output)

    def backward(self, params: TensorParams, ws: GraphWorkspace) -> TensorParams:
        """Back-propagate ``ws.gz[-1]`` (filled by the loss) into ``ws.grads``."""
        g = ws.grads
        for i in self.scalars:
            g.tensors[i][...] = 0
        for op in reversed(self.ops):
            op.backward(ws, params, g)
        return g


class GraphWorkspace:
    """Buffers for a batch of ``n`` samples through K models of a :class:`Graph`.

    The attributes the training loop and the trace read have the meaning they have in
    :class:`~initlab.nn.engine.Workspace`: ``x_aug`` (fill ``x_aug[:, :-1]``), and per Dense
    ``z``, ``post``, ``gz``, ``ga`` ((K, n, units) arrays), ``zbuf[-1]`` / ``gzbuf[-1]`` (the
    output layer's), ``grads``.
    """

    def __init__(self, graph: Graph, layout: TensorLayout, n: int,
                 with_grads: bool = True) -> None:
        K, dt = layout.K, layout.dtype
        self.n, self.K, self.layout, self.with_grads = n, K, layout, with_grads
        self.x_aug = np.empty((n, graph.widths[0] + 1), dtype=dt)
        self.x_aug[:, -1] = 1
        self.V: list[np.ndarray] = [self.x_aug[:, :-1]] + [
            np.empty((K, n, w), dtype=dt) for w in graph.widths[1:]]
        self.S: dict[tuple[Any, str], np.ndarray] = {}
        for op in graph.ops:
            for tag, vid in op.scratch(with_grads):
                self.S[op, tag] = np.empty((K, n, graph.widths[vid]), dtype=dt)
        dense_ops = [op for op in graph.ops if isinstance(op, _DenseOp)]
        self.act_forward: dict[int, list[Callable[[], Any]]] = {
            op.z: op.act.plan_forward(self.V[op.z], self.V[op.post])
            for op in dense_ops if op.post != op.z}
        self.z = [self.V[op.z] for op in dense_ops]
        self.post = [self.V[op.post] for op in dense_ops]
        self.zbuf = self.z
        self.activations = [op.act for op in dense_ops]
        if with_grads:
            self.G: list[np.ndarray] = [np.zeros(0, dtype=dt)] + [
                np.zeros((K, n, w), dtype=dt) for w in graph.widths[1:]]
            self.gz = [self.G[op.z] for op in dense_ops]
            self.ga = [self.G[op.post] for op in dense_ops]
            self.gzbuf = self.gz
            self.grads = layout.alloc()
            self.act_backward: dict[int, list[Callable[[], Any]]] = {
                op.z: op.act.plan_backward(self.V[op.z], self.V[op.post], self.G[op.post],
                                           self.G[op.z])
                for op in dense_ops if op.post != op.z and not op.output}


class GraphPlan:
    """One training step of a Graph model, with the attributes of
    :class:`~initlab.nn.engine.StepPlan` (forward, grad, backward)."""

    def __init__(self, graph: Graph, params: TensorParams, ws: GraphWorkspace, loss: Any,
                 t: Any, scale: float) -> None:
        self.forward: list[Callable[[], Any]] = [
            partial(graph.forward, params, ws, not loss.from_logits)]
        from initlab.nn.engine import grad_calls

        self.grad = grad_calls(ws, loss, t, scale)
        self.backward: list[Callable[[], Any]] = [partial(graph.backward, params, ws)]
