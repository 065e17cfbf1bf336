"""The Trace: what one forward (and optionally backward) pass kept, layer by layer.

Engine-neutral: the NumPy engine (``initlab.nn``) and the PyTorch adapter (``initlab.torch``)
both produce it, and :mod:`initlab.diagnose` reads it without importing either engine.
Every array carries the model axis first (K models at once; the PyTorch adapter traces one
model, K = 1). Diagnostics and studies read a Trace; they never recompute forward or backward
math.

Shapes, for a batch of n samples and layer ``l`` with ``fan_in`` inputs and ``units`` outputs
(a dense layer; a conv layer has its positions between the samples and the channels, the
channels last: pre and post are ``(K, n, *positions, channels)``, and its kernel is flattened
to ``(K, fan_in, channels)`` with ``fan_in = in_channels / groups * prod(kernel)``; its
statistics are then per channel over samples and positions):

==========  ===========================  ============================================
field       shape                        meaning
==========  ===========================  ============================================
pre         (K, n, [...,] units)         pre-activations z = a_prev @ W + b
post        (K, n, [...,] units)         activations a = f(z) (softmax/sigmoid for output)
W           (K, fan_in, units)           the weights used in this pass (a view, not a copy)
b           (K, units) | None            the biases used in this pass (None: no bias)
grad_W      (K, fan_in, units) | None    dL/dW, filled by the backward pass
grad_b      (K, units) | None            dL/db
grad_pre    (K, n, [...,] units) | None  dL/dz, the back-propagated signal at this layer
zero_by     K strings | None             per model, why W is exactly 0 by design ("")
gated_by    K strings | None             per model, why dL/dz is exactly 0 by design ("")
==========  ===========================  ============================================

``zero_by`` and ``gated_by`` are set by the engine only where the arrays are exactly zero in
this pass because an init recipe made them so (Fixup's zero layers, a trainable multiplier
that starts at 0); the diagnostics report such a layer as by design, not as a problem.

Example:
    >>> import numpy as np
    >>> lt = LayerTrace(name="dense_1", activation="relu",
    ...                 pre=np.zeros((1, 4, 3)), post=np.zeros((1, 4, 3)),
    ...                 W=np.zeros((1, 2, 3)), b=np.zeros((1, 3)))
    >>> Trace(x=np.zeros((4, 2)), layers=(lt,)).n_models
    1
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class LayerTrace:
    """What one layer (dense or conv) saw and produced in a traced pass (see the module table)."""

    name: str
    activation: str
    pre: np.ndarray
    post: np.ndarray
    W: np.ndarray
    b: np.ndarray | None
    grad_W: np.ndarray | None = None
    grad_b: np.ndarray | None = None
    grad_pre: np.ndarray | None = None
    zero_by: tuple[str, ...] | None = None
    gated_by: tuple[str, ...] | None = None


@dataclass
class Trace:
    """A traced pass: the input, each layer's LayerTrace, and (with labels) the loss per model.

    Attributes:
        x: the input batch, (n, features) shared by all models, or (K, n, features)
            (the PyTorch adapter passes the first layer's input, flattened per sample).
        layers: one LayerTrace per layer, in the order the forward ran them.
        loss: (K,) mean loss of each model on this batch, or None without labels.
    """

    x: np.ndarray
    layers: tuple[LayerTrace, ...]
    loss: np.ndarray | None = None

    @property
    def n_models(self) -> int:
        """K, the number of models traced together."""
        return int(self.layers[0].pre.shape[0]) if self.layers else 0

    @property
    def has_gradients(self) -> bool:
        """True when the backward pass filled the gradients."""
        return bool(self.layers) and self.layers[0].grad_W is not None
