"""Residual: a block ``y = S(x) + alpha * F(x)`` of K models at once, usable inside Sequential.

``F`` is the block's branch, a list of :class:`~initlab.nn.Dense` layers and nested Residual
blocks run in order; ``S`` is the shortcut: the identity (the branch must end at the input's
width) or a projection, a bias-free linear map ``x @ P`` to the branch's width (He et al.
2016's option B), built as a Dense named ``<block>/projection``. There is no activation after
the sum (the pre-activation form of He et al. 2016, "Identity mappings in deep residual
networks", and ReZero's ``x + alpha F(x)``); put one in the next layer.

Scalar parameters, one per model each:

* ``alpha``: None (no multiplier, ``x + F(x)``), a number (a fixed multiplier), or
  ``"trainable"``: a learned scalar; 1 unless an init recipe says otherwise (0 for
  ``rezero`` and ``skipinit``, 1 for ``fixup``).
* ``scalar_biases=True``: Fixup's scalar biases (Zhang et al. 2019, section 3; the official
  ``FixupBasicBlock`` of hongyi-zhang/Fixup, ``cifar/models/fixup_resnet_cifar.py``): a
  scalar added to the input of every Dense directly in the branch (``bias1a``, ``bias2a``;
  the first one also to the projection's input, as the official downsample does), one added
  after every such Dense but the last, before its activation (``bias1b``), and one added
  after the multiplier (``bias2b``): ``F(x) * alpha + c``. All start at 0.

Example:
    >>> from initlab.nn import Dense, Residual
    >>> blk = Residual([Dense(8, activation="relu"), Dense(8)], alpha="trainable")
    >>> blk.units, blk.alpha, blk.shortcut
    (8, 'trainable', 'identity')
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

from initlab.errors import ConfigError
from initlab.nn.layers import Dense

__all__ = ["Residual", "SHORTCUTS"]

SHORTCUTS = ("identity", "projection")


class Residual:
    """A residual block ``S(x) + alpha * F(x)``.

    Args:
        layers: the branch F: Dense layers and Residual blocks, input side first.
        shortcut: ``"identity"`` (default; the branch must keep the width) or
            ``"projection"`` (a bias-free linear map to the branch's output width).
        alpha: None (no multiplier), a finite number (fixed), or ``"trainable"``.
        scalar_biases: add Fixup's scalar biases (see the module docstring).
        name: the block's name (default ``residual_<i>``).

    Example:
        >>> from initlab.nn import Dense
        >>> Residual([Dense(4, activation="relu"), Dense(4)], scalar_biases=True).n_scalars
        4
    """

    def __init__(
        self,
        layers: Sequence[Dense | Residual],
        *,
        shortcut: str = "identity",
        alpha: Any = None,
        scalar_biases: bool = False,
        name: str | None = None,
    ) -> None:
        layers = list(layers) if isinstance(layers, (list, tuple)) else layers
        if not isinstance(layers, list) or not layers \
                or not all(isinstance(ly, (Dense, Residual)) for ly in layers):
            raise ConfigError(
                f"Residual needs a non-empty list of Dense layers or Residual blocks; "
                f"got {layers!r}")
        if shortcut not in SHORTCUTS:
            raise ConfigError(f"Residual shortcut must be one of {', '.join(SHORTCUTS)}; "
                              f"got {shortcut!r}")
        if alpha is not None and alpha != "trainable":
            ok = isinstance(alpha, numbers.Real) and not isinstance(alpha, bool) \
                and math.isfinite(float(alpha))
            if not ok:
                raise ConfigError(f"Residual alpha must be None, a finite number or "
                                  f"'trainable'; got {alpha!r}")
            alpha = float(alpha)
        if not isinstance(scalar_biases, bool):
            raise ConfigError(f"Residual scalar_biases must be True or False; "
                              f"got {scalar_biases!r}")
        self.layers: list[Dense | Residual] = layers
        self.shortcut = shortcut
        self.alpha: float | str | None = alpha
        self.scalar_biases = scalar_biases
        self.name = name
        self.projection: Dense | None = None
        self.fan_in: int | None = None
        self.index: int | None = None
        self.built = False

    @property
    def units(self) -> int:
        """The block's output width (its branch's last width)."""
        return self.layers[-1].units

    @property
    def n_scalars(self) -> int:
        """Scalar parameters per model: alpha when trainable, plus Fixup's biases."""
        dense = sum(isinstance(ly, Dense) for ly in self.layers)
        return (self.alpha == "trainable") + (2 * dense if self.scalar_biases else 0)

    @property
    def depth(self) -> int:
        """Residual blocks in this one, itself included."""
        return 1 + sum(ly.depth for ly in self.layers if isinstance(ly, Residual))

    def walk(self) -> list[Dense | Residual]:
        """This block, then every layer and block inside it, in forward order."""
        out: list[Dense | Residual] = [self]
        for ly in self.layers:
            out += ly.walk() if isinstance(ly, Residual) else [ly]
        if self.projection is not None:
            out.append(self.projection)
        return out

    def __repr__(self) -> str:
        inner = ", ".join(repr(ly) for ly in self.layers)
        extra = "" if self.shortcut == "identity" else f", shortcut={self.shortcut!r}"
        if self.alpha is not None:
            extra += f", alpha={self.alpha!r}"
        if self.scalar_biases:
            extra += ", scalar_biases=True"
        return f"Residual([{inner}]{extra})"
