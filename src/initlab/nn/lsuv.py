"""The NumPy engine's side of LSUV: a :class:`~initlab.init.lsuv.LSUVTarget` for Sequential.

Registered when ``initlab.nn`` is imported, so ``initlab.init.lsuv(model, x)`` accepts a
``Sequential``. A layer's output is its pre-activation ``z`` (K, n, units); scaling and
redrawing write through the public ``Dense.W`` / ``Dense.b`` views, model by model.

Example:
    >>> import numpy as np
    >>> from initlab.nn import Dense, Sequential
    >>> t = SequentialLSUV(Sequential([Dense(3)], input_dim=2))
    >>> list(t.outputs(np.ones((4, 2))))
    ['dense_1']
"""

from __future__ import annotations

from typing import Any

import numpy as np

from initlab.init.base import Initializer
from initlab.init.lsuv import register_adapter
from initlab.nn.model import Sequential

__all__ = ["SequentialLSUV"]


class SequentialLSUV:
    """LSUV's protocol over a Sequential (K models: one factor per model)."""

    def __init__(self, model: Sequential) -> None:
        self.model = model
        self._layers = {ly.name: ly for ly in model.dense_layers}  # residual blocks' too

    def outputs(self, batch: Any) -> dict[str, np.ndarray]:
        """Each layer's pre-activations (K, n, units), input side first."""
        _, trace = self.model.forward(batch, trace=True)
        return {t.name: t.pre for t in trace.layers}

    def scale(self, layer: str, factor: np.ndarray) -> None:
        """Multiply model k's weights of ``layer`` by ``factor[k]``."""
        ly = self._layers[layer]
        ly.W = ly.W * np.asarray(factor, dtype=ly.W.dtype)[:, None, None]

    def redraw(self, layer: str, initializer: Initializer, rng: np.random.Generator) -> None:
        """Draw each model's weights of ``layer`` from ``initializer``; biases 0."""
        ly = self._layers[layer]
        W = ly.W
        ly.W = np.stack([initializer(W.shape[1:], rng, W.dtype) for _ in range(len(W))])
        if ly.use_bias:
            ly.b = np.zeros_like(ly.b)


def _adapt(model: Any) -> SequentialLSUV | None:
    return SequentialLSUV(model) if isinstance(model, Sequential) else None


register_adapter(_adapt)
