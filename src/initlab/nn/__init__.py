"""initlab.nn: the NumPy training engine (K models at once).

Sequential stacks of Dense layers and Residual blocks, trained K at a time with parameters stored
(K, fan_in, units); activations with their derivatives; losses from logits; optimizers as
composable gradient transforms (``initlab.nn.optim``, also ``initlab.optim``); a Trace of
every intermediate for the diagnostics.

Example:
    >>> import numpy as np
    >>> from initlab.nn import Dense, Sequential
    >>> m = Sequential([Dense(8, activation="relu"), Dense(1, activation="sigmoid")],
    ...                input_dim=2, n_models=3)
    >>> m.predict(np.zeros((4, 2))).shape
    (3, 4, 1)
"""

from initlab.nn import lsuv as _lsuv  # noqa: F401 - registers the LSUV adapter
from initlab.nn import optim
from initlab.nn.activations import Activation
from initlab.nn.history import Callback, History
from initlab.nn.layers import Dense
from initlab.nn.losses import Loss
from initlab.nn.model import Sequential
from initlab.nn.residual import Residual
from initlab.nn.trace import LayerTrace, Trace

__all__ = [
    "Activation",
    "Callback",
    "Dense",
    "History",
    "LayerTrace",
    "Loss",
    "Residual",
    "Sequential",
    "Trace",
    "optim",
]
