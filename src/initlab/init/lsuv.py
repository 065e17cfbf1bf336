"""LSUV, layer-sequential unit-variance initialization (Mishkin & Matas 2016), for any engine.

The algorithm (the paper's Algorithm 1; official code ducha-aiki/LSUV-pytorch, ``LSUV.py``):

1. pre-initialize every layer's weight with an orthonormal matrix (Saxe et al. 2013), biases 0;
2. for each layer L, in the order the forward pass runs them: run a minibatch, measure the
   std of L's output (before its nonlinearity), and divide W_L by std / target until
   |std - target| <= tol or ``max_iter`` rescalings were made.

The paper tests Var against Tol_var; the official code (and this one) tests the std against
``tol``, rescales by ``target / std`` and runs the whole forward each try. Visiting layers in
**execution** order matters: rescaling layer L changes every later layer's input, so a layer
done before an upstream one ends off target (the ``lsuv`` package visits modules in
registration order, which breaks when ``forward`` calls them in another order).

It needs only a small protocol, :class:`LSUVTarget`, which each engine implements ("run a
batch, give me each layer's output, rescale this layer's weight", plus a redraw for the
orthonormal step). The NumPy engine's adapter is ``initlab.nn.lsuv``; the PyTorch one
``initlab.torch.lsuv``. Outputs carry a leading model axis (K models at once; torch has K=1),
and every model is scaled by its own factor.

Example:
    >>> import numpy as np
    >>> from initlab.nn import Dense, Sequential
    >>> m = Sequential([Dense(16, "tanh"), Dense(4)], input_dim=8, seeds=[0])
    >>> rep = lsuv(m, np.random.default_rng(0).standard_normal((256, 8)), rng=0)
    >>> [abs(s[0] - 1.0) <= 0.1 for s in rep.std]
    [True, True]
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np

from initlab.errors import ConfigError, SpecError
from initlab.init.base import Initializer
from initlab.init.structured import Orthogonal
from initlab.rng import RngLike, as_generator

__all__ = ["LSUVTarget", "LSUVLayer", "LSUVReport", "lsuv", "register_adapter", "as_target"]


@runtime_checkable
class LSUVTarget(Protocol):
    """What LSUV needs from an engine (three methods).

    ``outputs(batch)`` runs the batch and returns each layer's output (before its
    nonlinearity) as an array with a leading model axis (K, ...), keyed by layer name, **in
    execution order**. ``scale(layer, factor)`` multiplies that layer's weight by ``factor``
    (shape (K,), one per model). ``redraw(layer, initializer, rng)`` draws the layer's
    weight anew from ``initializer`` and sets its bias to 0.
    """

    def outputs(self, batch: Any) -> Mapping[str, np.ndarray]: ...

    def scale(self, layer: str, factor: np.ndarray) -> None: ...

    def redraw(self, layer: str, initializer: Initializer, rng: np.random.Generator) -> None: ...


_ADAPTERS: list[Callable[[Any], LSUVTarget | None]] = []


def register_adapter(adapter: Callable[[Any], LSUVTarget | None]) -> None:
    """Let :func:`lsuv` accept an engine's model: ``adapter(model)`` returns a target or None.

    Example:
        >>> register_adapter(lambda model: None)  # an adapter that adapts nothing
    """
    if adapter not in _ADAPTERS:
        _ADAPTERS.append(adapter)


def as_target(model: Any) -> LSUVTarget:
    """Return ``model`` itself if it implements :class:`LSUVTarget`, else its adapter's target.

    Raises:
        ConfigError: when no registered adapter knows the model's type.
    """
    if isinstance(model, LSUVTarget):
        return model
    for adapt in _ADAPTERS:
        t = adapt(model)
        if t is not None:
            return t
    raise ConfigError(
        f"lsuv cannot run on a {type(model).__name__}: it needs an initlab Sequential, a "
        f"torch.nn.Module (initlab.torch.lsuv_), or an object with outputs/scale/redraw"
    )


@dataclasses.dataclass(frozen=True)
class LSUVLayer:
    """One layer's result: its name, rescalings per model, final output std, converged."""

    name: str
    tries: tuple[int, ...]
    std: tuple[float, ...]
    converged: tuple[bool, ...]


@dataclasses.dataclass(frozen=True)
class LSUVReport:
    """LSUV's per-layer results, in execution order.

    Attributes:
        layers: one :class:`LSUVLayer` per layer.
        target_std: the target.
        tol: the tolerance on the std.
    """

    layers: tuple[LSUVLayer, ...]
    target_std: float
    tol: float

    @property
    def names(self) -> list[str]:
        """The layers' names in execution order."""
        return [ly.name for ly in self.layers]

    @property
    def std(self) -> list[tuple[float, ...]]:
        """Each layer's final output std, per model."""
        return [ly.std for ly in self.layers]

    @property
    def tries(self) -> list[tuple[int, ...]]:
        """Each layer's number of rescalings, per model."""
        return [ly.tries for ly in self.layers]

    @property
    def converged(self) -> bool:
        """True when every layer of every model ended within tol of the target."""
        return all(all(ly.converged) for ly in self.layers)

    def table(self) -> str:
        """The report as a text table (one line per layer; per-model values joined by /)."""
        def cell(v: tuple) -> str:
            return "/".join(f"{x:.4g}" if isinstance(x, float) else str(x) for x in v)
        rows = [("layer", "tries", "final std", "within tol")]
        rows += [(ly.name, cell(ly.tries), cell(ly.std), cell(ly.converged))
                 for ly in self.layers]
        w = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = ["  ".join(c.ljust(x) for c, x in zip(r, w, strict=True)).rstrip() for r in rows]
        lines.insert(1, "-" * len(lines[0]))
        done = "all layers converged" if self.converged else "NOT all converged"
        lines.append(f"LSUV (Mishkin & Matas 2016): target std {self.target_std:g} +- "
                     f"{self.tol:g}; {done}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def _positive(name: str, value: Any, integer: bool = False) -> float:
    bad = isinstance(value, bool) or not isinstance(value, numbers.Real)
    if not bad:
        bad = not math.isfinite(float(value)) or float(value) < (0 if integer else 1e-300)
        bad = bad or (integer and float(value) != int(value))
    if bad:
        kind = "a non-negative int" if integer else "a positive finite number"
        raise SpecError(f"lsuv: {name} must be {kind}; got {value!r}")
    return float(value)


def _stds(out: Any) -> np.ndarray:
    a = np.asarray(out, dtype=np.float64)
    return a.reshape(a.shape[0], -1).std(axis=1)


def lsuv(model: Any, batch: Any, *, target_std: float = 1.0, tol: float = 0.1,
         max_iter: int = 10, orthogonal: bool = True, rng: RngLike = None) -> LSUVReport:
    """Run LSUV on ``model`` with the minibatch ``batch``; return the :class:`LSUVReport`.

    Args:
        model: an :class:`LSUVTarget`, or a model an adapter knows (an initlab
            ``Sequential``; for torch use ``initlab.torch.lsuv_``).
        batch: the inputs (what the model's forward takes).
        target_std: the std each layer's output should have (1).
        tol: stop when |std - target_std| <= tol (0.1).
        max_iter: at most this many rescalings per layer (10).
        orthogonal: pre-initialize every layer orthonormally (gain 1), biases 0.
        rng: generator or seed for the orthonormal draws.

    Returns:
        The report: per layer (execution order) the tries and final std per model.

    Example:
        >>> import numpy as np
        >>> from initlab.nn import Dense, Sequential
        >>> m = Sequential([Dense(32, "relu"), Dense(32, "relu")], input_dim=10)
        >>> rep = lsuv(m, np.ones((64, 10)) + np.arange(10), rng=1)
        >>> rep.names
        ['dense_1', 'dense_2']
    """
    target = as_target(model)
    goal = _positive("target_std", target_std)
    tolerance = _positive("tol", tol)
    n_max = int(_positive("max_iter", max_iter, integer=True))
    first = target.outputs(batch)
    order = list(first)
    if orthogonal:
        gen = as_generator(rng)
        for name in order:
            target.redraw(name, Orthogonal(), gen)
    layers = []
    for name in order:
        std = _stds(target.outputs(batch)[name])
        tries = np.zeros(len(std), dtype=int)
        while True:
            ok = np.abs(std - goal) <= tolerance
            stuck = ~np.isfinite(std) | (std == 0)  # dead or diverged: no factor helps
            todo = ~ok & ~stuck & (tries < n_max)
            if not todo.any():
                break
            factor = np.where(todo, goal / np.where(todo, std, 1.0), 1.0)
            target.scale(name, factor)
            tries += todo
            std = _stds(target.outputs(batch)[name])
        layers.append(LSUVLayer(name, tuple(int(t) for t in tries),
                                tuple(float(s) for s in std),
                                tuple(bool(x) for x in np.abs(std - goal) <= tolerance)))
    return LSUVReport(tuple(layers), goal, tolerance)
