"""The NumPy engine's activations: re-exported from the engine-neutral :mod:`initlab.activations`.

Both engines and :mod:`initlab.diagnose` share one activation table (name, phi, phi',
family, recommended init); this module keeps ``initlab.nn.activations`` importable.

Example:
    >>> get("relu").recommended_init
    'he_normal'
"""

from initlab.activations import (  # noqa: F401 - re-exports, private helpers included
    ACTIVATIONS,
    ELU,
    GELU,
    SELU,
    Activation,
    LeakyReLU,
    Linear,
    ReLU,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
    _into,
    _parse,
    _special,
    get,
    names,
    sigmoid,
)

__all__ = ["Activation", "ACTIVATIONS", "get", "names", "sigmoid"]
