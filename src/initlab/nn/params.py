"""Parameter storage: all weights of K models in one flat buffer, with per-layer views.

Each Dense layer keeps its weights and its bias in one *augmented* matrix (the bias is the
last row), so ``[a, 1] @ W_aug`` is ``a @ W + b`` and ``[a, 1]^T @ g`` yields both gradients
in one matrix product. Every layer is stored model-major, ``(K, fan_in + 1, units)``, so each
model's matrix is contiguous, exactly as it is when K = 1 (BLAS then runs the same arithmetic
for a model whatever K is). The first layer, when a hidden layer, carries one extra column,
the constant (0, ..., 0, 1), so its product also yields the column of ones that the next
layer's augmented input needs (its gradient is always 0, so no optimizer moves it). The
public views carry the model axis first: ``W`` (K, fan_in, units) and ``b`` (K, units).

Because every parameter lives in one flat array, element-wise optimizer steps (SGD, Adam,
clipping by value) are a few NumPy calls over the whole network, whatever its depth.

Example:
    >>> import numpy as np
    >>> p = ParamLayout(2, [(3, 4), (4, 1)], np.float32).alloc()
    >>> p.W[0].shape, p.b[0].shape, p.W[1].shape, p.flat.size
    ((2, 3, 4), (2, 4), (2, 4, 1), 50)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["ParamLayout", "Params"]


class ParamLayout:
    """The shapes of K models' Dense layers and where each lives in the flat buffer.

    Args:
        n_models: K.
        shapes: ``(fan_in, units)`` per layer, input side first.
        dtype: float32 or float64.
    """

    def __init__(self, n_models: int, shapes: Sequence[tuple[int, int]], dtype: np.dtype) -> None:
        self.K = int(n_models)
        self.shapes = [(int(i), int(u)) for i, u in shapes]
        self.dtype = np.dtype(dtype)
        # the first layer carries the constant column when another layer follows it
        self.extra0 = 1 if len(self.shapes) > 1 else 0
        self.offsets: list[int] = []
        off = 0
        for li, (fan_in, units) in enumerate(self.shapes):
            self.offsets.append(off)
            off += self.K * (fan_in + 1) * (units + (self.extra0 if li == 0 else 0))
        self.size = off

    def alloc(self, flat: np.ndarray | None = None, constants: bool = False) -> Params:
        """Return Params over ``flat`` (a new zeroed buffer when None).

        Args:
            flat: an existing buffer of ``size`` elements to view, or None.
            constants: write the first layer's constant column (for parameters; gradients and
                optimizer states keep it 0).
        """
        if flat is None:
            flat = np.zeros(self.size, dtype=self.dtype)
        p = Params(self, flat)
        if constants and self.extra0:
            fan_in = self.shapes[0][0]
            p.aug[0][:, :, -1] = 0
            p.aug[0][:, fan_in, -1] = 1
        return p


class Params:
    """K models' parameters (or gradients, or optimizer state) over one flat buffer.

    Attributes:
        flat: the (size,) buffer.
        aug: per layer, the augmented storage (K, fan_in + 1, units), the first layer's with
            the constant column (K, fan_in + 1, units + 1) when it is hidden.
        W: per layer, (K, fan_in, units) views.
        b: per layer, (K, units) views.
        tensors: ``[W0, b0, W1, b1, ...]``, each with the model axis first.
    """

    def __init__(self, layout: ParamLayout, flat: np.ndarray) -> None:
        self.layout = layout
        self.flat = flat
        K = layout.K
        self.aug: list[np.ndarray] = []
        self.W: list[np.ndarray] = []
        self.b: list[np.ndarray] = []
        pairs = zip(layout.shapes, layout.offsets, strict=True)
        for li, ((fan_in, units), off) in enumerate(pairs):
            cols = units + (layout.extra0 if li == 0 else 0)
            aug = flat[off : off + K * (fan_in + 1) * cols].reshape(K, fan_in + 1, cols)
            self.W.append(aug[:, :fan_in, :units])
            self.b.append(aug[:, fan_in, :units])
            self.aug.append(aug)
        self.tensors: list[np.ndarray] = [
            t for pair in zip(self.W, self.b, strict=True) for t in pair
        ]

    def like(self) -> Params:
        """Return zeroed Params with the same layout (for gradients or optimizer state)."""
        return self.layout.alloc()

    def copy(self) -> Params:
        """Return a deep copy."""
        return self.layout.alloc(self.flat.copy())

    def sq_norms(self) -> list[np.ndarray]:
        """Return, per tensor, the squared L2 norm of each model's part, (K,) float64.

        Each model's part is copied into one contiguous float64 row and summed there, so a
        model's norm takes the same additions whatever K is (an einsum over the strided
        buffer would pick its summation order from the whole array's layout).
        """
        out = []
        for t in self.tensors:
            rows = np.array(t, dtype=np.float64, order="C").reshape(t.shape[0], -1)
            np.square(rows, out=rows)
            out.append(rows.sum(axis=1))
        return out

    def scale_models(self, tensor_index: int | None, scale: np.ndarray) -> None:
        """Multiply each model's part by ``scale`` (K,): one tensor, or all when None."""
        idx = range(len(self.tensors)) if tensor_index is None else [tensor_index]
        for i in idx:
            t = self.tensors[i]
            t *= scale.astype(t.dtype).reshape((-1,) + (1,) * (t.ndim - 1))

    def zero_models(self, mask: np.ndarray) -> None:
        """Set the parts of the models where ``mask`` (K,) is True to zero."""
        for t in self.tensors:
            t[mask] = 0
