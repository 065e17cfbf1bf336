"""Named recipes for ``init_(model, scheme=<recipe>)``, each matching its official code.

====================  =======================================================================
recipe                what it does
====================  =======================================================================
torch_default         each module's own ``reset_parameters``, replayed with initlab's draws
gpt2(n_layer,         N(0, 0.02) for every kernel and embedding, biases 0, the residual
 residual, std)       projections N(0, 0.02 / sqrt(2 n_layer)) (nanoGPT's ``model.py``)
fixup                 zero the last layer of each residual branch and the classifier; He
                      (fan_out) times L^(-1/(2m-2)) for the other branch layers; scalar
                      biases 0 and multipliers 1 where the model has them (Zhang et al.
                      2019, official code hongyi-zhang/Fixup)
zero_init_residual    the last norm weight of each residual branch set to 0 (Goyal et al.
                      2017; torchvision's ResNet ``zero_init_residual=True``)
====================  =======================================================================

A recipe returns a decision for the parameters it is about; the others follow ``init_``'s
defaults (``auto`` for kernels, zeros for biases, 1 and 0 for norms). Rules still win.

Example:
    >>> sorted(RECIPES)
    ['fixup', 'gpt2', 'torch_default', 'zero_init_residual']
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Callable
from typing import Any

from torch import nn

from initlab.errors import ConfigError
from initlab.init import Normal, Uniform, get
from initlab.init.checks import number
from initlab.torch.init import Choice, Context
from initlab.torch.walk import Site

__all__ = ["RECIPES", "torch_default", "gpt2", "fixup", "zero_init_residual"]


def _by_module(ctx: Context) -> dict[str, list[Site]]:
    out: dict[str, list[Site]] = {}
    for s in ctx.sites:
        out.setdefault(s.module_name, []).append(s)
    return out


def _uniform(b: float) -> Uniform:
    return Uniform(-b, b)


def torch_default(ctx: Context) -> dict[str, Choice]:
    """Replay each module's ``reset_parameters`` (torch 2.x) with initlab's draws.

    Linear, ConvNd, ConvTransposeNd: kaiming_uniform(a=sqrt(5)) = U(+-1/sqrt(fan_in)) and the
    bias U(+-1/sqrt(fan_in)), with torch's own fan_in (``weight.size(1) * prod(k)``, also for a
    ConvTranspose); Bilinear: U(+-1/sqrt(in1)) for weight and bias; Embedding: N(0, 1) with the
    ``padding_idx`` row 0; MultiheadAttention: xavier_uniform on ``in_proj_weight`` at torch's
    fans (embed, 3 embed), biases 0, ``bias_k``/``bias_v`` xavier_normal; RNN/LSTM/GRU: every
    parameter U(+-1/sqrt(hidden)); norms 1 and 0. A custom module's own ``reset_parameters``
    is not replayed (it would draw from torch's global RNG); its parameters are left as is.

    Example:
        >>> import torch
        >>> from initlab.torch import init_
        >>> plan = init_(torch.nn.Linear(100, 10), "torch_default", seed=0)
        >>> plan["weight"].scheme, plan["bias"].scheme
        ('torch:linear_default', 'uniform(low=-0.1, high=0.1)')
    """
    out: dict[str, Choice] = {}
    why = "torch_default: {}.reset_parameters"
    for mname, sites in _by_module(ctx).items():
        module = sites[0].module
        tname = type(module).__name__
        text = why.format(tname)
        if isinstance(module, nn.Linear | nn.modules.conv._ConvNd):
            w = next((s for s in sites if s.role == "weight"), None)
            fi = w.torch_fans[0] if w is not None and w.torch_fans else 0
            b = 1.0 / math.sqrt(fi) if fi > 0 else 0.0
            for s in sites:
                if s.role == "weight":
                    out[s.name] = Choice(get("torch:linear_default"), f"{text}: kaiming_uniform("
                                         f"a=sqrt(5)) = U(+-1/sqrt({fi}))", torch_fans=True)
                elif s.role == "bias":  # an attention's out_proj.bias was set to 0 above
                    out.setdefault(s.name, Choice(_uniform(b), f"{text}: U(+-1/sqrt({fi}))"))
        elif isinstance(module, nn.Bilinear):
            b = 1.0 / math.sqrt(module.in1_features)
            for s in sites:
                out[s.name] = Choice(_uniform(b), f"{text}: U(+-1/sqrt(in1_features))")
        elif isinstance(module, nn.Embedding):
            for s in sites:
                out[s.name] = Choice(Normal(0.0, 1.0), f"{text}: N(0, 1)",
                                     zero_row=module.padding_idx)
        elif isinstance(module, nn.MultiheadAttention):
            e = module.embed_dim
            for s in sites:
                if s.name.endswith("in_proj_weight") or s.name.endswith("_proj_weight"):
                    out[s.name] = Choice(get("torch:xavier_uniform"),
                                         f"{text}: xavier_uniform at torch's fans "
                                         f"{s.torch_fans}", torch_fans=True)
                elif s.name.endswith("in_proj_bias"):
                    out[s.name] = Choice(get("zeros"), f"{text}: in_proj_bias 0")
                elif s.name.endswith(("bias_k", "bias_v")):
                    out[s.name] = Choice(Normal(0.0, math.sqrt(1.0 / e)),
                                         f"{text}: xavier_normal on (1, 1, {e})")
            for s in ctx.sites:
                if s.name == (f"{mname}.out_proj.bias" if mname else "out_proj.bias"):
                    out[s.name] = Choice(get("zeros"), f"{text}: out_proj.bias 0")
        elif isinstance(module, nn.RNNBase):
            b = 1.0 / math.sqrt(module.hidden_size)
            for s in sites:
                out[s.name] = Choice(_uniform(b), f"{text}: U(+-1/sqrt(hidden_size))")
        elif any(s.role == "unknown" for s in sites):
            for s in sites:
                if s.role == "unknown":
                    out[s.name] = Choice(None, f"torch_default: {tname}'s own reset_parameters "
                                         f"is not replayed (it draws from torch's global RNG)")
    return out


def gpt2(ctx: Context, n_layer: Any = None, residual: str = "*c_proj.weight",
         std: float = 0.02) -> dict[str, Choice]:
    """GPT-2's initialization as nanoGPT writes it (karpathy/nanoGPT, ``model.py``).

    ``GPT._init_weights`` draws every ``nn.Linear`` weight and every ``nn.Embedding`` from
    N(0, 0.02) and zeroes the Linear biases; then every parameter whose name ends with
    ``c_proj.weight`` (the attention's and the MLP's output projection, which add into the
    residual stream) is redrawn from N(0, 0.02 / sqrt(2 * n_layer)), "per GPT-2 paper".
    LayerNorms keep weight 1, bias 0. Here the N(0, std) goes to every kernel (conv and
    attention kernels too, which nanoGPT's model does not have).

    Args:
        n_layer: the number of blocks; default ``model.config.n_layer``, else the number of
            parameters matching ``residual`` divided by 2 (two projections per block).
        residual: fnmatch pattern of the residual projections' names.
        std: the base std (0.02).

    Example:
        >>> from initlab.torch.zoo import GPT, GPTConfig
        >>> from initlab.torch import init_
        >>> plan = init_(GPT(GPTConfig(n_layer=2)), "gpt2", seed=0, dry_run=True)
        >>> round(plan["blocks.0.attn.c_proj.weight"].std, 5)
        0.01
    """
    std = number("gpt2", "std", std, low=0, strict=True)
    matches = [s for s in ctx.sites if fnmatch.fnmatchcase(s.name, residual)]
    if n_layer is None:
        cfg_n = getattr(getattr(ctx.model, "config", None), "n_layer", None)
        if cfg_n is not None:
            n_layer, how = int(cfg_n), "config.n_layer"
        else:
            n_layer, how = max(1, len(matches) // 2), f"{len(matches)} residual projections / 2"
    else:
        n_layer = int(number("gpt2", "n_layer", n_layer, low=1))
        how = "given"
    out: dict[str, Choice] = {}
    for s in ctx.sites:
        if s.role in ("weight", "recurrent", "embedding"):
            out[s.name] = Choice(Normal(0.0, std), f"gpt2: N(0, {std:g}) for Linear and "
                                 f"Embedding (nanoGPT _init_weights)")
        elif s.role == "bias":
            out[s.name] = Choice(get("zeros"), "gpt2: biases 0 (nanoGPT _init_weights)")
    r = std / math.sqrt(2 * n_layer)
    for s in matches:
        out[s.name] = Choice(Normal(0.0, r), f"gpt2: residual projection N(0, {std:g} / "
                             f"sqrt(2 * {n_layer})), n_layer {how} (nanoGPT: c_proj.weight)")
    return out


def _branches(ctx: Context, what: str) -> list[list[str]]:
    if ctx.branches is not None:
        return [list(b) for b in ctx.branches]
    found = [list(r.layers) for r in (ctx.trace.residuals if ctx.trace else [])]
    if not found:
        raise ConfigError(
            f"{what}: no residual branch found in the forward (an addition stream + "
            f"branch(stream)); pass branches=[[layer names of a branch], ...]"
        )
    return found


_FIXUP_BIAS = re.compile(r"bias\d*[a-z]?")
_FIXUP_SCALE = re.compile(r"scale\d*")


def fixup(ctx: Context) -> dict[str, Choice]:
    """Fixup (Zhang, Dauphin & Ma 2019, "Fixup initialization", ICLR; official code
    hongyi-zhang/Fixup, ``cifar/models/fixup_resnet_cifar.py`` and
    ``imagenet/models/fixup_resnet_imagenet.py``).

    The paper's rules: (1) initialize the classification layer and the last layer of each
    residual branch to 0; (2) initialize every other layer with a standard method and scale
    the weight layers inside residual branches by L^(-1/(2m-2)), L the number of residual
    branches and m the number of layers in a branch; (3) add a scalar multiplier
    (initialized at 1) in every branch and a scalar bias (initialized at 0) before each
    convolution, linear and element-wise activation layer. The official code draws the
    scaled branch layers from N(0, sqrt(2 / (out * prod(k)))) (He with fan_out) times
    L^(-1/2) (m = 2; L^(-1/4) for its bottleneck, m = 3), a shortcut projection from He
    fan_out unscaled (the ImageNet code), and zeroes the ``nn.Linear`` classifier's weight
    and bias. The stem and other layers outside the branches follow ``auto``.

    Rule 3 adds parameters, which an init cannot do to a user's model. Scalar (one-element)
    parameters named like the official ones, ``bias1a``, ``bias2b``, ``bias1`` (``bias``
    + digits + an optional letter) and ``scale``, are set to 0 and 1; a model without any
    (its branches then have no learned offsets nor multiplier) gets a plan note saying so.
    :class:`initlab.torch.zoo.FixupBasicBlock` and ``FixupResNet`` have them.

    Example:
        >>> from initlab.torch.zoo import FixupResNet
        >>> from initlab.torch import init_
        >>> plan = init_(FixupResNet(blocks=(2, 2)), "fixup", seed=0, dry_run=True)
        >>> [plan[n].scheme for n in ("stages.0.0.conv2.weight", "fc.weight",
        ...  "stages.0.0.bias1a", "stages.0.0.scale")]
        ['zeros', 'zeros', 'zeros', 'ones']
    """
    branches = _branches(ctx, "fixup")
    n_branches = len(branches)
    he_out = get("variance_scaling(scale=2, mode=fan_out)")
    by_mod = _by_module(ctx)
    out: dict[str, Choice] = {}
    in_branch = {name for br in branches for name in br}
    for r in ctx.trace.residuals if ctx.trace is not None else []:
        for name in r.shortcut:
            for s in by_mod.get(name, []) if name not in in_branch else []:
                if s.role == "weight":
                    out[s.name] = Choice(he_out, "fixup: a shortcut projection, He fan_out "
                                         "(the official ImageNet code)", torch_fans=True)
    for br in branches:
        m = len(br)
        factor = n_branches ** (-1.0 / (2 * m - 2)) if m > 1 else 1.0
        for i, name in enumerate(br):
            if name not in by_mod:
                raise ConfigError(f"fixup: branch layer {name!r} is not a module with parameters")
            for s in by_mod[name]:
                if s.role != "weight":
                    continue
                if i == m - 1:
                    out[s.name] = Choice(get("zeros"), f"fixup: last layer of a residual branch"
                                         f" (L = {n_branches}) -> 0")
                else:
                    out[s.name] = Choice(he_out, f"fixup: He fan_out x L^(-1/(2m-2)) = "
                                         f"{n_branches}^(-1/{2 * m - 2}) = {factor:.4g}",
                                         factor=factor, torch_fans=True)
    order = ctx.trace.order if ctx.trace is not None else [
        n for n, mod in ctx.model.named_modules() if isinstance(mod, nn.Linear)]
    linears = [n for n in order if n in by_mod and isinstance(by_mod[n][0].module, nn.Linear)]
    if linears:
        for s in by_mod[linears[-1]]:
            if s.role in ("weight", "bias"):
                out[s.name] = Choice(get("zeros"), "fixup: the classifier -> 0")
    scalars = 0
    for s in ctx.sites:
        leaf = s.name.rsplit(".", 1)[-1]
        if s.role != "unknown" or s.param.numel() != 1:
            continue
        if _FIXUP_BIAS.fullmatch(leaf):
            out[s.name] = Choice(get("zeros"), "fixup: a scalar bias -> 0 (rule 3)")
            scalars += 1
        elif _FIXUP_SCALE.fullmatch(leaf):
            out[s.name] = Choice(get("ones"), "fixup: a branch's scalar multiplier -> 1 "
                                 "(rule 3)")
            scalars += 1
    if not scalars:
        ctx.notes.append(
            "fixup: the model has no scalar biases or multipliers (Fixup's rule 3: a scalar "
            "multiplier, 1 at init, in every branch and a scalar bias, 0 at init, before each "
            "conv, linear and activation; an init cannot add parameters), so only rules 1-2 "
            "are applied and nothing can learn the offsets and scale that normalization "
            "would; initlab.torch.zoo.FixupBasicBlock has them"
        )
    return out


def zero_init_residual(ctx: Context) -> dict[str, Choice]:
    """Set the last norm weight of each residual branch to 0 (Goyal et al. 2017, "Accurate,
    large minibatch SGD", section 5.1; torchvision's ``resnet(zero_init_residual=True)``
    zeroes ``bn2`` of a BasicBlock and ``bn3`` of a Bottleneck): each block starts as the
    identity. Everything else follows ``auto``.

    Example:
        >>> from initlab.torch.zoo import ResNet
        >>> from initlab.torch import init_
        >>> plan = init_(ResNet(blocks=(1,)), "zero_init_residual", seed=0, dry_run=True)
        >>> plan["stages.0.0.bn2.weight"].scheme
        'zeros'
    """
    _branches(ctx, "zero_init_residual")
    out: dict[str, Choice] = {}
    by_mod = _by_module(ctx)
    for r in ctx.trace.residuals if ctx.trace else []:
        if not r.norms:
            continue
        last = r.norms[-1]
        for s in by_mod.get(last, []):
            if s.role == "norm_weight":
                out[s.name] = Choice(get("zeros"), f"zero_init_residual: the last norm of "
                                     f"the branch in {r.block or 'the model'} -> 0")
    return out


RECIPES: dict[str, tuple[Callable[..., dict[str, Choice]], tuple[str, ...]]] = {
    "torch_default": (torch_default, ()),
    "gpt2": (gpt2, ("n_layer", "residual", "std")),
    "fixup": (fixup, ()),
    "zero_init_residual": (zero_init_residual, ()),
}
"""Recipe name -> (function, argument names in positional order)."""
