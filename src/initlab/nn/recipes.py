"""Init recipes for residual nets: he, fixup, skipinit, rezero.

A recipe runs after a model's layers are drawn (so models with the same seed share their
draws whatever the recipe), and every Dense inside a residual branch or projection that is
left at ``init="auto"`` (in a model without its own scheme) is drawn ``he_normal`` first:
He et al. (2015) for the weight layers, as He et al. (2016) initialize every layer of a
ResNet. Then:

* ``he``: nothing more; alpha 1, scalar biases 0. With a 2-layer ReLU branch
  ``W2 relu(W1 x)``, both He, each block triples the second moment:
  E[(W1 x)_i^2] = (2/n) n q = 2q, ReLU halves it to q, W2 doubles it to 2q, and
  E[x F(x)] = 0 (W2 is zero-mean), so E[y^2] = q + 2q = 3q and after L blocks 3^L q.
  (A linear second layer left at ``auto`` is Glorot, 1/n for a square layer: 2^L.)
* ``fixup`` (Zhang, Dauphin & Ma 2019, "Fixup initialization", section 3, rules 1-3; the
  official hongyi-zhang/Fixup ``FixupResNet.__init__`` and ``cifar_train.py``): the
  classifier (the last Dense) gets W = 0 and b = 0; the last Dense of each branch W = 0;
  every other Dense of a branch is scaled by L^(-1/(2m-2)) (L blocks, m Dense layers in the
  branch; m = 2 gives L^(-1/2), the official ``num_layers ** (-0.5)``); alpha (the official
  ``scale``) 1, scalar biases 0. In training, every bias and the multiplier move at a tenth
  of the learning rate: the official code puts every parameter whose name holds ``bias`` or
  ``scale`` (the classifier's bias too) in groups with ``lr = base_lr / 10``. Here that is
  a :func:`scale_updates` transformation after the optimizer, so it is exactly lr / 10 for
  every optimizer (Adam included). A branch holding a nested block is a ConfigError.
* ``skipinit`` (De & Smith 2020, "Batch normalization biases residual blocks towards the
  identity function in deep networks", section 4): alpha = 0, a learnable scalar at the end
  of each branch.
* ``rezero`` (Bachlechner et al. 2020, "ReZero is all you need", eq. 4:
  x_{i+1} = x_i + alpha_i F(x_i), alpha_i = 0 at init): alpha = 0. In these blocks (no
  normalization, no activation after the sum) skipinit and rezero are the same arithmetic;
  they are two names for two papers. Both need ``Residual(..., alpha="trainable")``.

Example:
    >>> import numpy as np
    >>> from initlab.nn import Dense, Residual, Sequential
    >>> m = Sequential([Dense(8, activation="relu"),
    ...                 Residual([Dense(8, activation="relu"), Dense(8)], alpha="trainable"),
    ...                 Dense(2, activation="softmax")], input_dim=2, recipe="rezero")
    >>> float(m.params.tensors[m._graph.block_scalars["residual_1"]["alpha"]][0, 0])
    0.0
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from initlab.errors import ConfigError, unknown
from initlab.nn.layers import Dense
from initlab.nn.optim import Transform
from initlab.nn.optim import get as get_optimizer
from initlab.nn.residual import Residual

if TYPE_CHECKING:
    from initlab.nn.model import Sequential

__all__ = ["Recipe", "RECIPES", "resolve", "apply", "scale_updates", "wrap_optimizer", "names",
           "residual_block", "design"]


@dataclass(frozen=True)
class Recipe:
    """One recipe: how branch layers are drawn, alpha's start, Fixup's rules.

    Attributes:
        name: the recipe's name.
        branch_init: the scheme of ``auto`` layers inside residual branches.
        alpha: the start of every trainable multiplier.
        fixup: apply Fixup's zero and rescaling rules.
        needs_alpha: every block must have ``alpha="trainable"``.
        slow_lr: learning-rate factor of biases and multipliers (Fixup's 1/10), 1 for none.
        cite: the source.
    """

    name: str
    branch_init: str = "he_normal"
    alpha: float = 1.0
    fixup: bool = False
    needs_alpha: bool = False
    slow_lr: float = 1.0
    cite: str = ""


RECIPES: dict[str, Recipe] = {
    r.name: r for r in (
        Recipe("he", cite="He et al. 2015; 2016"),
        Recipe("fixup", fixup=True, slow_lr=0.1, cite="Zhang, Dauphin & Ma 2019"),
        Recipe("skipinit", alpha=0.0, needs_alpha=True, cite="De & Smith 2020"),
        Recipe("rezero", alpha=0.0, needs_alpha=True, cite="Bachlechner et al. 2020"),
    )
}
"""The recipes by name."""


def names() -> list[str]:
    """The recipe names.

    Example:
        >>> names()
        ['fixup', 'he', 'rezero', 'skipinit']
    """
    return sorted(RECIPES)


def _one(r: Any) -> Recipe | None:
    if r is None or isinstance(r, Recipe):
        return r
    if not isinstance(r, str) or r.strip().lower() not in RECIPES:
        raise unknown("recipe", r, RECIPES, ConfigError)
    return RECIPES[r.strip().lower()]


def resolve(recipe: Any, n_models: int) -> list[Recipe | None]:
    """One recipe (or None) per model from a name, None, or K of them.

    Example:
        >>> [r and r.name for r in resolve(["fixup", None], 2)]
        ['fixup', None]
    """
    if recipe is None or isinstance(recipe, (str, Recipe)):
        return [_one(recipe)] * n_models
    if not isinstance(recipe, Sequence) or len(recipe) != n_models:
        raise ConfigError(f"recipe must be a name or one per model ({n_models}); "
                          f"got {recipe!r}")
    return [_one(r) for r in recipe]


def residual_block(width: int, activation: Any, recipe: str | None = None, *,
                   in_width: int | None = None, use_bias: bool = True,
                   bias_init: Any = "auto") -> Residual:
    """A block ``x + alpha * (W2 f(W1 x + b1) + b2)`` as ``recipe``'s paper builds it.

    ``fixup``: no branch biases, Fixup's scalar biases and a trainable multiplier; ``rezero``
    and ``skipinit``: a trainable alpha; ``he`` or None: ``x + F(x)``. A projection shortcut
    where ``in_width`` differs from ``width``.

    Example:
        >>> residual_block(8, "relu", "fixup").scalar_biases
        True
    """
    rec = _one(recipe)
    fix = rec is not None and rec.fixup
    bias = use_bias and not fix
    kw: dict[str, Any] = {"use_bias": bias, "bias_init": bias_init if bias else "auto"}
    alpha = "trainable" if rec is not None and (rec.needs_alpha or rec.fixup) else None
    shortcut = "identity" if in_width in (None, width) else "projection"
    return Residual([Dense(width, activation=activation, **kw), Dense(width, **kw)],
                    shortcut=shortcut, alpha=alpha, scalar_biases=fix)


def _blocks(model: Sequential) -> list[Residual]:
    g = model._graph
    return [] if g is None else list(g.blocks)


def branch_layers(model: Sequential) -> set[int]:
    """ids of the Dense layers inside residual branches and projections."""
    out: set[int] = set()
    for blk in _blocks(model):
        out.update(id(ly) for ly in blk.walk() if isinstance(ly, Dense))
    return out


def apply(model: Sequential, k: int, recipe: Recipe | None) -> dict[int, str]:
    """Apply ``recipe`` to model ``k`` after its draws; return notes per Dense index.

    Without a recipe every trainable multiplier starts at 1 and every scalar bias at 0.
    """
    g = model._graph
    blocks = _blocks(model)
    if recipe is not None and recipe.name != "he" and not blocks:
        raise ConfigError(f"recipe {recipe.name!r} is for residual nets; the model has no "
                          "Residual block")
    notes: dict[int, str] = {}
    if g is None:
        return notes
    T = model.params.tensors
    for i in g.scalars:
        T[i][k] = 0.0
    alpha0 = 1.0 if recipe is None else recipe.alpha
    for blk in blocks:
        info = g.block_scalars[blk.name or ""]
        if "alpha" in info:
            T[info["alpha"]][k] = alpha0
        elif recipe is not None and recipe.needs_alpha:
            raise ConfigError(f"recipe {recipe.name!r} sets each block's alpha to 0; block "
                              f"{blk.name} has alpha={blk.alpha!r}; build it with "
                              "Residual(..., alpha='trainable')")
    if recipe is None or not recipe.fixup:
        return notes
    L = len(blocks)
    for blk in blocks:
        if any(isinstance(ly, Residual) for ly in blk.layers):
            raise ConfigError(f"recipe 'fixup' needs branches of Dense layers; block "
                              f"{blk.name} holds a nested Residual")
        dense = [ly for ly in blk.layers if isinstance(ly, Dense)]
        m = len(dense)
        for j, ly in enumerate(dense):
            idx = ly.index or 0
            if j == m - 1:
                model.params.W[idx][k] = 0.0
                notes[idx] = " -> 0 (fixup: last layer of a branch)"
            else:
                c = float(L) ** (-1.0 / (2 * m - 2))
                model.params.W[idx][k] *= c
                notes[idx] = f" x L^(-1/(2m-2)) = {L}^(-1/{2 * m - 2}) = {c:.4g} (fixup)"
    out = model.dense_layers[-1]
    model.params.W[out.index or 0][k] = 0.0
    if out.use_bias:
        model.params.b[out.index or 0][k] = 0.0
    notes[out.index or 0] = " -> 0, bias 0 (fixup: classifier)"
    return notes


class _ScaleUpdates(Transform):
    def __init__(self, factors: dict[int, np.ndarray]) -> None:
        self.factors = factors

    def update(self, updates: Any, state: Any, params: Any) -> None:
        for i, f in self.factors.items():
            t = updates.tensors[i]
            t *= f.astype(t.dtype).reshape((-1,) + (1,) * (t.ndim - 1))

    def __str__(self) -> str:
        return f"scale_updates({len(self.factors)} tensors)"


def scale_updates(factors: dict[int, np.ndarray]) -> Transform:
    """A transformation multiplying the update of tensor ``i`` of model ``k`` by
    ``factors[i][k]``: per-parameter learning rates, placed after the optimizer.

    Example:
        >>> str(scale_updates({0: np.ones(2)}))
        'scale_updates(1 tensors)'
    """
    return _ScaleUpdates(factors)


def lr_factors(model: Sequential) -> dict[int, np.ndarray]:
    """Per tensor, the (K,) learning-rate factors the models' recipes ask for (only != 1)."""
    g = model._graph
    if g is None:
        return {}
    slow = np.array([1.0 if r is None else r.slow_lr for r in model.recipes])
    if (slow == 1).all():
        return {}
    idx = set(g.scalars) | {i for i in g.dense_b if i is not None}
    return {i: slow for i in sorted(idx)}


def wrap_optimizer(model: Sequential, optimizer: Any) -> Any:
    """``optimizer`` followed by the recipes' learning-rate factors (a plain model: itself).

    A graph model always gets the chain, even with no factor != 1, so that plain SGD takes
    the same (unfolded) arithmetic whatever recipes the other models of its ensemble have:
    model k's numbers do not depend on the ensemble it trains in.
    """
    if model._graph is None:
        return optimizer
    factors = lr_factors(model)
    from initlab.nn.optim import chain

    return chain(get_optimizer(optimizer), scale_updates(factors))


_FIXUP = "zero by Fixup's rule (Zhang et al. 2019): "


def design(model: Sequential, grad_pre: Sequence[np.ndarray] | None
           ) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]] | None:
    """Per Dense layer, per model: why its W is exactly 0, and why its dL/dz is exactly 0, by
    the model's init recipe ("" where not); None for a model without blocks.

    A reason is given only where the array is exactly zero now (a trained Fixup net has none):
    ``zero``: Fixup's classifier and the last layer of each branch (model k's recipe is
    ``fixup`` and the weights are all 0); ``gated`` (from ``grad_pre``, the traced dL/dz per
    layer): every layer below a Fixup classifier that is 0, a branch layer behind its
    branch's zero last layer, or inside a block whose trainable alpha is exactly 0 (ReZero,
    SkipInit). The diagnostics state these instead of judging them.

    Example:
        >>> from initlab.nn import Dense, Sequential
        >>> m = Sequential([Dense(4, activation="relu"), *[residual_block(4, "relu", "fixup")],
        ...                 Dense(1, activation="sigmoid")], input_dim=2, recipe="fixup")
        >>> [z[0][:20] for z in design(m, None)[0]]
        ['', '', "zero by Fixup's rule", "zero by Fixup's rule"]
    """
    g = model._graph
    if g is None:
        return None
    n, K = len(model.dense_layers), model.n_models
    T, W = model.params.tensors, model.params.W
    zero = [[""] * K for _ in range(n)]
    gated = [[""] * K for _ in range(n)]
    out_i = n - 1
    for k, rec in enumerate(model.recipes):
        head_zero = False
        last_of: dict[int, int] = {}  # branch Dense index -> the branch's last Dense index
        if rec is not None and rec.fixup:
            for blk in g.blocks:
                dense = [ly.index or 0 for ly in blk.layers if isinstance(ly, Dense)]
                for i in dense:
                    last_of[i] = dense[-1]
                if dense and not W[dense[-1]][k].any():
                    zero[dense[-1]][k] = _FIXUP + "the last layer of each residual branch " \
                                                  "starts at 0"
            if not W[out_i][k].any():
                zero[out_i][k] = _FIXUP + "the classifier starts at 0"
                head_zero = True
        if grad_pre is None:
            continue
        alpha0: dict[int, str] = {}  # Dense index -> reason its block's alpha gates it
        for blk in g.blocks:
            i_alpha = g.block_scalars[blk.name or ""].get("alpha")
            if i_alpha is None or T[i_alpha][k, 0] != 0:
                continue
            who = {"rezero": " (ReZero, Bachlechner et al. 2020)",
                   "skipinit": " (SkipInit, De & Smith 2020)"}.get(rec.name if rec else "", "")
            for ly in blk.walk():
                if isinstance(ly, Dense) and ly is not blk.projection:
                    alpha0.setdefault(ly.index or 0, f"its block {blk.name}'s trainable alpha "
                                                     f"starts at 0{who}")
        for i in range(n):
            if grad_pre[i][k].any():
                continue
            if head_zero and i < out_i:
                gated[i][k] = "below Fixup's zero classifier (Zhang et al. 2019)"
            elif i in alpha0:
                gated[i][k] = alpha0[i]
            elif i in last_of and last_of[i] != i and zero[last_of[i]][k]:
                gated[i][k] = "behind its branch's zero last layer (Fixup, Zhang et al. 2019)"
    return [tuple(z) for z in zero], [tuple(r) for r in gated]
