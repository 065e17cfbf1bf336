"""``lsuv_``: LSUV (Mishkin & Matas 2016) on a torch model, in execution order.

The algorithm is :func:`initlab.init.lsuv` (written once for every engine); this module is
the torch side of its protocol: the Linear, Conv* and ConvTranspose* modules' outputs come
from forward hooks, in the order the forward calls them (first call of each), and scaling
multiplies the module's weight in place. The run is under ``torch.no_grad()`` with every
module in eval mode; the modes are restored after, and no ``.grad`` or ``requires_grad``
changes.

Example:
    >>> import torch
    >>> m = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))
    >>> x = torch.randn(256, 8, generator=torch.Generator().manual_seed(0))
    >>> rep = lsuv_(m, x, seed=0)
    >>> rep.names, all(abs(s[0] - 1) <= 0.1 for s in rep.std)
    (['0', '2'], True)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from initlab.init.base import Initializer
from initlab.init.lsuv import LSUVReport, lsuv
from initlab.rng import RngLike
from initlab.torch.init import Choice, draw
from initlab.torch.walk import walk, weight_modules

__all__ = ["TorchLSUV", "lsuv_"]


class TorchLSUV:
    """LSUV's protocol over a torch model's weighted modules (K = 1)."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.modules = dict(weight_modules(model))
        self.sites = {s.module_name: [] for s in walk(model)}
        for s in walk(model):
            self.sites[s.module_name].append(s)

    def outputs(self, batch: Any) -> dict[str, np.ndarray]:
        """Run ``model(batch)``; each weighted module's first output, in call order."""
        seen: dict[str, np.ndarray] = {}
        handles = []
        for name, mod in self.modules.items():
            def hook(_m, _args, out, name=name):
                if name not in seen and isinstance(out, torch.Tensor):
                    seen[name] = out.detach().to(torch.float64).cpu().numpy()[None]
            handles.append(mod.register_forward_hook(hook))
        try:
            with torch.no_grad():
                self.model(*(batch if isinstance(batch, tuple) else (batch,)))
        finally:
            for h in handles:
                h.remove()
        return seen

    def scale(self, layer: str, factor: np.ndarray) -> None:
        """Multiply the module's weight by ``factor[0]``."""
        with torch.no_grad():
            self.modules[layer].weight.mul_(float(factor[0]))

    def redraw(self, layer: str, initializer: Initializer, rng: np.random.Generator) -> None:
        """Draw the module's weight from ``initializer`` (initlab layout, true fans); bias 0."""
        with torch.no_grad():
            for s in self.sites.get(layer, []):
                if s.role == "weight":
                    s.param.copy_(draw(s, Choice(initializer, "lsuv"), rng, None))
                elif s.role == "bias":
                    s.param.zero_()


def lsuv_(model: nn.Module, batch: Any, *, target_std: float = 1.0, tol: float = 0.1,
          max_iter: int = 10, orthogonal: bool = True, seed: RngLike = None) -> LSUVReport:
    """LSUV-initialize ``model`` in place with the minibatch ``batch``; return the report.

    Args:
        model: a ``torch.nn.Module``; its Linear, Conv* and ConvTranspose* layers are set.
        batch: a tensor (or a tuple of the forward's positional arguments).
        target_std: each layer's output std to reach (1).
        tol: the tolerance on that std (0.1).
        max_iter: at most this many rescalings per layer (10).
        orthogonal: orthonormal pre-initialization (Saxe et al. 2013), biases 0.
        seed: int seed or numpy Generator for the orthonormal draws (never torch's RNG).

    Returns:
        An :class:`initlab.init.lsuv.LSUVReport`: per layer, in execution order, the number
        of rescalings and the final std.
    """
    modes = {m: m.training for m in model.modules()}
    try:
        model.eval()
        return lsuv(TorchLSUV(model), batch, target_std=target_std, tol=tol,
                    max_iter=max_iter, orthogonal=orthogonal, rng=seed)
    finally:
        for m, mode in modes.items():
            m.training = mode
