"""Dense: a fully connected layer, ``a = f(a_prev @ W + b)``, for K models at once.

A Dense is a description (units, activation, init) until a :class:`~initlab.nn.Sequential`
builds it; then ``W`` (K, fan_in, units) and ``b`` (K, units) are views of the model's
parameter buffer (assigning to them writes into the model).

Example:
    >>> d = Dense(64, activation="relu")
    >>> d.units, d.activation.name, d.init
    (64, 'relu', 'auto')
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from initlab.errors import ConfigError, ShapeError
from initlab.nn.activations import Activation
from initlab.nn.activations import get as get_activation

__all__ = ["Dense"]


class Dense:
    """A fully connected layer.

    Args:
        units: number of output units (> 0).
        activation: an activation spec (``"relu"``, ``"leaky_relu(alpha=0.2)"``, ...);
            default linear.
        init: the weight initializer spec, or ``"auto"`` (the default): the model's
            scheme if it gives one, else the one the activation recommends.
        name: the layer's name (default ``dense_<i>``, 1-based).

    Example:
        >>> Dense(10, activation="softmax").activation.name
        'softmax'
    """

    def __init__(
        self,
        units: int,
        activation: str | Activation | None = "linear",
        init: Any = "auto",
        name: str | None = None,
    ) -> None:
        if not isinstance(units, numbers.Integral) or isinstance(units, bool) or units < 1:
            raise ConfigError(f"Dense units must be a positive int; got {units!r}")
        self.units = int(units)
        self.activation = get_activation(activation)
        self.init = "auto" if init is None else init
        self.name = name
        self.fan_in: int | None = None
        self.index: int | None = None
        self.init_specs: list[str] = []
        self.init_reasons: list[str] = []
        self._params: Any = None

    @property
    def built(self) -> bool:
        """True once a Sequential has built the layer."""
        return self._params is not None

    def _view(self, which: str) -> np.ndarray:
        if self._params is None:
            raise ConfigError(f"layer {self.name or 'dense'} is not built; put it in a Sequential")
        return getattr(self._params, which)[self.index]

    @property
    def W(self) -> np.ndarray:  # noqa: N802 - the conventional name
        """The weights, (K, fan_in, units): a view into the model's parameters."""
        return self._view("W")

    @W.setter
    def W(self, value: np.ndarray) -> None:  # noqa: N802
        self._assign("W", value)

    @property
    def b(self) -> np.ndarray:
        """The biases, (K, units): a view into the model's parameters."""
        return self._view("b")

    @b.setter
    def b(self, value: np.ndarray) -> None:
        self._assign("b", value)

    def _assign(self, which: str, value: Any) -> None:
        view = self._view(which)
        arr = np.asarray(value)
        try:
            np.copyto(view, np.broadcast_to(arr, view.shape), casting="same_kind")
        except (ValueError, TypeError):
            raise ShapeError(
                f"cannot set {self.name}.{which} of shape {view.shape} from shape {arr.shape}"
            ) from None

    @property
    def n_params(self) -> int:
        """Parameters per model: fan_in * units + units (0 before build)."""
        return 0 if self.fan_in is None else (self.fan_in + 1) * self.units

    def __repr__(self) -> str:
        return f"Dense({self.units}, activation={str(self.activation)!r}, init={self.init!r})"
