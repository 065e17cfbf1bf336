"""Learning-rate schedules as gradient transformations: chain one after the optimizer.

A schedule multiplies the step the optimizer proposes by a factor of the step count t
(0 for the first step), so ``chain(sgd(0.1), cosine_decay(T))`` is SGD whose learning rate
follows the schedule from 0.1. The count lives in the transformation's state, so every
``fit`` call starts the schedule again. The factor is the same for the K models (one Python
float per step): a model's numbers do not depend on its ensemble.

* :func:`cosine_decay` (Loshchilov & Hutter 2017, SGDR without restarts): factor
  (1 + cos(pi t / T)) / 2, from 1 at the first step towards 0 at step T; the schedule of
  the official Fixup code's ``--sgdr`` option (hongyi-zhang/Fixup, ``cifar/cifar_train.py``:
  ``CosineAnnealingLR(optimizer, n_epoch)``, stepped per epoch; here per step).
* :func:`multistep` (the official Fixup default ``adjust_learning_rate`` and ReZero's ResNet
  example, tbachlechner/ReZero-examples ``MultiStepLR(milestones=[100, 150])``: lr / 10 at
  50 % and again at 75 % of 200 epochs): factor ``factor ** (boundaries passed)``.

Example:
    >>> from initlab.nn import optim
    >>> str(optim.chain(optim.sgd(0.1), cosine_decay(100)))
    'chain(sgd(lr=0.1), cosine_decay(100))'
    >>> [round(cosine_decay(4).factor(t), 3) for t in range(5)]
    [1.0, 0.854, 0.5, 0.146, 0.0]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from initlab.errors import SpecError
from initlab.nn.optim import Transform
from initlab.nn.params import Params

__all__ = ["Schedule", "cosine_decay", "multistep"]


class Schedule(Transform):
    """Multiplies the updates by ``factor(t)`` at step t (t counted in the state)."""

    def init(self, params: Params) -> Any:  # noqa: D102
        return {"t": 0}

    def factor(self, t: int) -> float:
        """The learning-rate factor of step ``t`` (0 for the first step)."""
        raise NotImplementedError

    def update(self, updates: Params, state: Any, params: Params) -> None:  # noqa: D102
        f = self.factor(state["t"])
        state["t"] += 1
        if f != 1.0:
            updates.flat *= f


def _steps(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SpecError(f"{name} must be a positive int (optimizer steps); got {value!r}")
    return value


class _Cosine(Schedule):
    def __init__(self, total_steps: int) -> None:
        self.total = _steps("total_steps", total_steps)

    def factor(self, t: int) -> float:
        return 0.5 * (1.0 + math.cos(math.pi * min(t, self.total) / self.total))

    def __str__(self) -> str:
        return f"cosine_decay({self.total})"


class _MultiStep(Schedule):
    def __init__(self, boundaries: Sequence[int], factor: float) -> None:
        if isinstance(boundaries, (str, bytes)) or not isinstance(boundaries, Sequence):
            raise SpecError(f"boundaries must be a list of step counts; got {boundaries!r}")
        self.boundaries = sorted(_steps("each boundary", b) for b in boundaries)
        try:
            f = float(factor)
        except (TypeError, ValueError):
            raise SpecError(f"factor must be a number in (0, 1]; got {factor!r}") from None
        if not 0 < f <= 1:
            raise SpecError(f"factor must be a number in (0, 1]; got {factor!r}")
        self.gamma = f

    def factor(self, t: int) -> float:
        return self.gamma ** sum(t >= b for b in self.boundaries)

    def __str__(self) -> str:
        return f"multistep({self.boundaries}, factor={self.gamma:g})"


def cosine_decay(total_steps: int) -> Schedule:
    """Cosine decay of the learning rate over ``total_steps`` optimizer steps, to 0.

    Step t (from 0) is scaled by (1 + cos(pi min(t, T) / T)) / 2 with T = ``total_steps``:
    the first step at the optimizer's full learning rate.

    Args:
        total_steps: T, e.g. ``epochs * ceil(n / batch_size)``.

    Returns:
        A Transform; chain it after the optimizer.

    Example:
        >>> cosine_decay(10).factor(0), cosine_decay(10).factor(10)
        (1.0, 0.0)
    """
    return _Cosine(total_steps)


def multistep(boundaries: Sequence[int], factor: float = 0.1) -> Schedule:
    """Multiply the learning rate by ``factor`` at each of ``boundaries`` (step counts).

    Args:
        boundaries: the steps from which each further factor applies.
        factor: in (0, 1] (default 0.1, as Fixup and ReZero's ResNet code).

    Returns:
        A Transform; chain it after the optimizer.

    Example:
        >>> s = multistep([2, 3])
        >>> [round(s.factor(t), 4) for t in range(4)]
        [1.0, 1.0, 0.1, 0.01]
    """
    return _MultiStep(boundaries, factor)
