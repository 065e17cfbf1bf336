"""The hot path: forward and backward passes of K models over preallocated buffers.

A :class:`Workspace` holds every buffer one batch size needs; :func:`forward` and
:func:`backward` fill them in place (``out=``), so a training step allocates (almost)
nothing. Layout (see :mod:`initlab.nn.params`):

* the input is augmented with a column of ones, ``x_aug`` (n, fan_in + 1);
* layer 0 is one product for all K models, ``x_aug @ W_aug`` -> (n, K * units), viewed as
  (K, n, units) for everything downstream;
* every later layer is a batched product over the model axis, its input being the previous
  activations augmented with ones, ``a_aug`` (K, n, units + 1);
* the gradients of weight and bias come out of one product, ``a_aug^T @ dL/dz``.

Example:
    >>> import numpy as np
    >>> from initlab.nn.activations import get
    >>> from initlab.nn.params import ParamLayout
    >>> lay = ParamLayout(2, [(3, 4), (4, 1)], np.float64)
    >>> p = lay.alloc()
    >>> ws = Workspace(lay, [get("relu"), get("sigmoid")], n=5)
    >>> ws.x_aug[:, :3] = 1.0
    >>> forward(p, ws, need_output=True)[0].shape
    (2, 5, 1)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from initlab.nn.activations import Activation
from initlab.nn.params import ParamLayout, Params

__all__ = ["Workspace", "forward", "backward"]


class Workspace:
    """Buffers for a batch of ``n`` samples through K models.

    Attributes:
        x_aug: (n, fan_in + 1) input with its column of ones (fill ``x_aug[:, :-1]``), unless
            ``own_input=False`` (then set ``x_aug`` to a caller's augmented slice).
        z: per layer, pre-activations (K, n, units) (layer 0: a view of an (n, K*units) buffer).
        post: per layer, activations (K, n, units) (hidden ones are views of ``a_aug``).
        gz: per layer, dL/dz (K, n, units), same layout as ``z``.
        grads: the gradient Params.
    """

    def __init__(
        self,
        layout: ParamLayout,
        activations: Sequence[Activation],
        n: int,
        own_input: bool = True,
        with_grads: bool = True,
    ) -> None:
        K, dt = layout.K, layout.dtype
        shapes = layout.shapes
        L = len(shapes)
        self.n, self.K, self.layout = n, K, layout
        self.activations = list(activations)
        fan0, u0 = shapes[0]
        self.x_aug: np.ndarray | None = None
        if own_input:
            self.x_aug = np.empty((n, fan0 + 1), dtype=dt)
            self.x_aug[:, fan0] = 1
        self.z0 = np.empty((n, K * u0), dtype=dt)
        self.z: list[np.ndarray] = [self.z0.reshape(n, K, u0).transpose(1, 0, 2)]
        self.a_aug: list[np.ndarray | None] = [None]
        for li in range(1, L):
            units_prev = shapes[li - 1][1]
            a = np.empty((K, n, units_prev + 1), dtype=dt)
            a[:, :, units_prev] = 1
            self.a_aug.append(a)
            self.z.append(np.empty((K, n, shapes[li][1]), dtype=dt))
        self.post: list[np.ndarray] = [
            self.a_aug[li + 1][:, :, : shapes[li][1]] for li in range(L - 1)  # type: ignore[index]
        ]
        self.post.append(np.empty((K, n, shapes[-1][1]), dtype=dt))
        self.with_grads = with_grads
        if with_grads:
            self.gz0 = np.empty((n, K * u0), dtype=dt)
            self.gz: list[np.ndarray] = [self.gz0.reshape(n, K, u0).transpose(1, 0, 2)]
            self.gz += [np.empty((K, n, u), dtype=dt) for _, u in shapes[1:]]
            # dL/da for each hidden layer (and the output, used by losses not from logits)
            self.ga: list[np.ndarray] = [np.empty((K, n, u), dtype=dt) for _, u in shapes]
            self.grads: Params = layout.alloc()


def forward(params: Params, ws: Workspace, need_output: bool = True) -> list[np.ndarray]:
    """Run the forward pass of all K models on ``ws.x_aug``; return ``ws.post``.

    Args:
        params: the K models' parameters.
        ws: the workspace, its ``x_aug`` filled.
        need_output: compute the output layer's activation (the cross-entropy losses work
            from the logits and skip it during training).

    Returns:
        The list of activations per layer (buffers of ``ws``).
    """
    L = len(ws.z)
    K = ws.K
    fan0, u0 = ws.layout.shapes[0]
    np.matmul(ws.x_aug, params.aug[0].reshape(fan0 + 1, K * u0), out=ws.z0)
    for li in range(L):
        if li > 0:
            np.matmul(ws.a_aug[li], params.aug[li], out=ws.z[li])
        if li < L - 1 or need_output:
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
        np.matmul(ws.a_aug[li].transpose(0, 2, 1), ws.gz[li], out=grads.aug[li])
        ga = ws.ga[li - 1]
        np.matmul(ws.gz[li], params.W[li].transpose(0, 2, 1), out=ga)
        ws.activations[li - 1].backward(ws.z[li - 1], ws.post[li - 1], ga, out=ws.gz[li - 1])
    fan0, u0 = ws.layout.shapes[0]
    np.matmul(ws.x_aug.T, ws.gz0, out=grads.aug[0].reshape(fan0 + 1, ws.K * u0))
    return grads
