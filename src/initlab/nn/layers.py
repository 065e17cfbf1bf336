"""Dense: a fully connected layer, ``a = f(a_prev @ W + b)``, for K models at once.

A Dense is a description (units, activation, init) until a :class:`~initlab.nn.Sequential`
builds it; then ``W`` (K, fan_in, units) and ``b`` (K, units) are views of the model's
parameter buffer (assigning to them writes into the model). ``use_bias=False`` gives
``a = f(a_prev @ W)``: no bias in the arithmetic, the trace or the optimizer (``b`` is None).
``bias_init`` is an initializer spec like the weights' (``"normal(std=0.2236)"`` draws
b ~ N(0, 0.05), as the mean-field experiments need), drawn after the weights from the same
stream.

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
        use_bias: False removes the bias (keyword only).
        bias_init: the bias initializer spec, drawn with shape ``(units,)``; ``"auto"``
            (the default) is the weight scheme's own bias rule: zeros for every scheme but
            ``torch:linear_default``, whose bias is U(-1/sqrt(fan_in), 1/sqrt(fan_in)) as in
            ``torch.nn.Linear``. ``"zeros"`` forces zeros (keyword only).

    Example:
        >>> Dense(10, activation="softmax").activation.name
        'softmax'
        >>> Dense(4, use_bias=False).use_bias, Dense(4, bias_init="normal(std=0.1)").bias_init
        (False, 'normal(std=0.1)')
    """

    def __init__(
        self,
        units: int,
        activation: str | Activation | None = "linear",
        init: Any = "auto",
        name: str | None = None,
        *,
        use_bias: bool = True,
        bias_init: Any = "auto",
    ) -> None:
        if not isinstance(units, numbers.Integral) or isinstance(units, bool) or units < 1:
            raise ConfigError(f"Dense units must be a positive int; got {units!r}")
        self.units = int(units)
        self.activation = get_activation(activation)
        if not isinstance(use_bias, (bool, np.bool_)):
            raise ConfigError(f"Dense use_bias must be True or False; got {use_bias!r}")
        self.use_bias = bool(use_bias)
        self.bias_init: Any = "auto" if bias_init is None else bias_init
        if not (isinstance(self.bias_init, str) and self.bias_init.strip().lower() == "auto"):
            from initlab import init as initpkg

            initpkg.get(self.bias_init)  # a SpecError now, not at build time
            if not self.use_bias:
                raise ConfigError(f"Dense bias_init={bias_init!r} needs use_bias=True")
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
    def b(self) -> np.ndarray | None:
        """The biases, (K, units): a view into the model's parameters (None without bias)."""
        return self._view("b") if self.use_bias else None

    @b.setter
    def b(self, value: np.ndarray) -> None:
        if not self.use_bias:
            raise ConfigError(f"layer {self.name} has no bias (use_bias=False)")
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
        """Parameters per model: fan_in * units (+ units with a bias); 0 before build."""
        return 0 if self.fan_in is None else (self.fan_in + self.use_bias) * self.units

    def __repr__(self) -> str:
        extra = "" if self.use_bias else ", use_bias=False"
        if self.use_bias and not (isinstance(self.bias_init, str) and self.bias_init == "auto"):
            extra = f", bias_init={self.bias_init!r}"
        return (f"Dense({self.units}, activation={str(self.activation)!r}, "
                f"init={self.init!r}{extra})")
