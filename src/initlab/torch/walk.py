"""The module walk: every parameter of a ``torch.nn.Module`` with its role and its true fans.

This is the part of the PyTorch adapter that other parts (``init_``, ``lsuv_``, ``inspect``,
``Probe``, ``coord_check``) build on. Its API is three things:

- :func:`walk(model) <walk>` -> ``list[Site]``: one :class:`Site` per parameter (tied
  parameters once, under their first name), in ``named_modules`` order, with the module
  kind, the parameter's role, and the fans that the layer physically has.
- :func:`weight_modules(model) <weight_modules>` -> ``[(name, module)]``: the Linear, Conv*
  and ConvTranspose* modules (what LSUV and the probes look at), in registration order.
- :func:`to_torch(site, array) <to_torch>`: turn an array drawn in initlab's layout
  (``site.draw_shape``) into the parameter's own shape (transposes, per-gate blocks);
  :func:`to_torch_tensor` does the same as a tensor view where it can.

Fans. fan_in is the number of inputs summed into one output element, fan_out the number of
outputs one input element feeds, both averaged over positions (Glorot & Bengio 2010, He et
al. 2015). For the layers where ``torch.nn.init._calculate_fan_in_and_fan_out`` reads the
wrong dimension the walk is right, and ``Site.torch_fans`` keeps torch's numbers beside it:

=====================  ====================================  ==================================
layer                  fan_in                                fan_out
=====================  ====================================  ==================================
Linear(in, out)        in                                    out
ConvNd, groups g       in/g * prod(k)                        out/g * prod(k) / prod(stride)
ConvTransposeNd        in/g * prod(k) / prod(stride)         out/g * prod(k)
Bilinear(a, b, out)    a * b                                 out
Embedding              1 (a row is looked up, not summed)    1
RNN/LSTM/GRU ih, hh    input (or hidden) size, per gate      hidden size, per gate
MultiheadAttention     embed (kdim, vdim), per projection    embed, per projection
=====================  ====================================  ==================================

torch counts a ConvTranspose's fan_in from its weight's dim 1 (out/g; pytorch issue 7865)
and a grouped conv's fan_out as out * prod(k) (pytorch issue 23854); neither divides by the
stride, so a stride-2 ConvTranspose2d under torch's He init doubles the second moment of its
input and a depthwise conv's Glorot std is too small.

Example:
    >>> import torch
    >>> sites = walk(torch.nn.Conv2d(8, 8, 3, groups=8))
    >>> [(s.name, s.role, s.fan_in, s.fan_out) for s in sites]
    [('weight', 'weight', 9, 9), ('bias', 'bias', 9, None)]
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = [
    "Site", "walk", "weight_modules", "to_torch", "to_torch_tensor", "KINDS", "ROLES", "NORMS",
    "WEIGHTED",
]

KINDS = (
    "dense", "bilinear", "conv", "conv_transpose", "embedding", "attention", "recurrent",
    "norm", "other",
)
"""Module kinds a site can belong to."""

ROLES = ("weight", "recurrent", "bias", "embedding", "norm_weight", "norm_bias", "unknown")
"""Parameter roles: ``weight`` (a kernel with fans), ``recurrent`` (an RNN's hidden-to-hidden
kernel), ``bias``, ``embedding``, the affine ``norm_weight``/``norm_bias`` of a norm layer,
and ``unknown`` (a parameter the walk does not know; ``init_`` leaves it as is)."""

NORMS: tuple[type[nn.Module], ...] = tuple(
    c for c in (
        nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm,
        getattr(nn, "RMSNorm", None),
    ) if c is not None
)
"""Norm layers: their weight is set to 1 and their bias to 0."""

WEIGHTED: tuple[type[nn.Module], ...] = (
    nn.Linear, nn.modules.conv._ConvNd,
)
"""Modules whose output is a weighted sum of their input (Linear, Conv*, ConvTranspose*)."""

_RNN_GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


@dataclasses.dataclass(frozen=True, eq=False)
class Site:
    """One parameter of a model, what it is, and its fans.

    Attributes:
        name: the parameter's full name (``"blocks.0.conv.weight"``).
        module_name: the name of the module that owns it (``""`` for the model itself).
        module_type: the owning module's class name (``"Conv2d"``).
        kind: the owning module's kind, one of :data:`KINDS`.
        role: the parameter's role, one of :data:`ROLES`.
        shape: the parameter's shape (torch layout).
        fan_in: inputs per output element (None where the role has none); float when a
            stride makes it fractional.
        fan_out: outputs per input element (None for biases, norms, unknowns).
        torch_fans: what ``torch.nn.init._calculate_fan_in_and_fan_out`` says for the
            parameter (None below rank 2).
        draw_shape: the shape to draw in initlab's layout, for one block: a dense kernel
            ``(fan_in, fan_out)``, a conv kernel ``(*k, in, out)``.
        blocks: how many ``draw_shape`` draws are stacked along the parameter's dim 0
            (4 gates of an LSTM, q/k/v of an attention's ``in_proj_weight``); 1 otherwise.
        module: the owning module.
        param: the parameter itself.
    """

    name: str
    module_name: str
    module_type: str
    kind: str
    role: str
    shape: tuple[int, ...]
    fan_in: float | None
    fan_out: float | None
    torch_fans: tuple[int, int] | None
    draw_shape: tuple[int, ...]
    blocks: int
    module: nn.Module = dataclasses.field(repr=False)
    param: torch.Tensor = dataclasses.field(repr=False)

    @property
    def fans(self) -> tuple[float, float] | None:
        """``(fan_in, fan_out)`` when both are known, else None."""
        if self.fan_in is None or self.fan_out is None:
            return None
        return self.fan_in, self.fan_out


def _num(x: float) -> float | int:
    """An integral float as int (fans print as 144, a stride's 2.25 as 2.25)."""
    return int(x) if float(x).is_integer() else float(x)


def _torch_fans(p: torch.Tensor) -> tuple[int, int] | None:
    if p.dim() < 2:
        return None
    rf = math.prod(p.shape[2:])
    return int(p.shape[1]) * rf, int(p.shape[0]) * rf


def _sites_of(mname: str, module: nn.Module) -> list[dict[str, Any]]:
    """Describe the direct parameters of one module (name -> fields other than common)."""
    own = dict(module.named_parameters(recurse=False))
    out: list[dict[str, Any]] = []

    def add(pname: str, kind: str, role: str, fan_in=None, fan_out=None, draw=None, blocks=1):
        p = own.pop(pname, None)
        if p is None:
            return
        shape = tuple(p.shape)
        out.append(dict(
            pname=pname, kind=kind, role=role, shape=shape,
            fan_in=None if fan_in is None else _num(fan_in),
            fan_out=None if fan_out is None else _num(fan_out),
            draw_shape=tuple(draw) if draw is not None else shape, blocks=blocks, param=p,
        ))

    if isinstance(module, nn.Linear):
        i, o = module.in_features, module.out_features
        add("weight", "dense", "weight", i, o, (i, o))
        add("bias", "dense", "bias", i)
    elif isinstance(module, nn.Bilinear):
        a, b, o = module.in1_features, module.in2_features, module.out_features
        add("weight", "bilinear", "weight", a * b, o, (a * b, o))
        add("bias", "bilinear", "bias", a * b)
    elif isinstance(module, nn.modules.conv._ConvNd):
        k, g = tuple(module.kernel_size), module.groups
        rf, st = math.prod(k), math.prod(module.stride)
        ci, co = module.in_channels // g, module.out_channels // g
        if module.transposed:  # weight (in, out/g, *k)
            add("weight", "conv_transpose", "weight", ci * rf / st, co * rf,
                (*k, module.in_channels, co))
            add("bias", "conv_transpose", "bias", ci * rf / st)
        else:  # weight (out, in/g, *k)
            add("weight", "conv", "weight", ci * rf, co * rf / st, (*k, ci, module.out_channels))
            add("bias", "conv", "bias", ci * rf)
    elif isinstance(module, nn.Embedding | nn.EmbeddingBag):
        add("weight", "embedding", "embedding", 1, 1)
    elif isinstance(module, nn.MultiheadAttention):
        e = module.embed_dim
        add("in_proj_weight", "attention", "weight", e, e, (e, e), blocks=3)
        add("q_proj_weight", "attention", "weight", e, e, (e, e))
        add("k_proj_weight", "attention", "weight", module.kdim, e, (module.kdim, e))
        add("v_proj_weight", "attention", "weight", module.vdim, e, (module.vdim, e))
        add("in_proj_bias", "attention", "bias", e)
        add("bias_k", "attention", "bias", e)
        add("bias_v", "attention", "bias", e)
    elif isinstance(module, nn.RNNBase):
        gates = _RNN_GATES.get(module.mode.split("_")[0], 1)
        h = module.hidden_size
        hr = module.proj_size or h
        for pname in list(own):
            p = own[pname]
            if pname.startswith("weight_ih"):
                i = p.shape[1]
                add(pname, "recurrent", "weight", i, h, (i, h), blocks=gates)
            elif pname.startswith("weight_hh"):
                add(pname, "recurrent", "recurrent", hr, h, (hr, h), blocks=gates)
            elif pname.startswith("weight_hr"):
                add(pname, "recurrent", "weight", h, hr, (h, hr))
            elif pname.startswith("bias_"):
                add(pname, "recurrent", "bias", h)
    elif isinstance(module, NORMS):
        add("weight", "norm", "norm_weight")
        add("bias", "norm", "norm_bias")
    kind = out[0]["kind"] if out else "other"
    for pname, p in own.items():  # whatever is left: never skipped silently
        out.append(dict(pname=pname, kind=kind, role="unknown", shape=tuple(p.shape),
                        fan_in=None, fan_out=None, draw_shape=tuple(p.shape), blocks=1,
                        param=p))
    return out


def walk(model: nn.Module) -> list[Site]:
    """Return one :class:`Site` per parameter of ``model`` (tied parameters once).

    Args:
        model: any ``torch.nn.Module``.

    Returns:
        The sites in ``model.named_modules()`` order, each module's parameters in
        registration order (the order ``model.named_parameters()`` gives).

    Example:
        >>> import torch
        >>> [s.name for s in walk(torch.nn.Sequential(torch.nn.Linear(2, 3)))]
        ['0.weight', '0.bias']
    """
    if not isinstance(model, nn.Module):
        from initlab.errors import ConfigError

        raise ConfigError(f"expected a torch.nn.Module; got {type(model).__name__}")
    seen: set[int] = set()
    sites: list[Site] = []
    for mname, module in model.named_modules(remove_duplicate=True):
        for d in _sites_of(mname, module):
            p = d.pop("param")
            if id(p) in seen:
                continue
            seen.add(id(p))
            pname = d.pop("pname")
            sites.append(Site(
                name=f"{mname}.{pname}" if mname else pname, module_name=mname,
                module_type=type(module).__name__, torch_fans=_torch_fans(p),
                module=module, param=p, **d,
            ))
    return sites


def weight_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Return ``[(name, module)]`` of the Linear, Conv* and ConvTranspose* modules.

    Example:
        >>> import torch
        >>> m = torch.nn.Sequential(torch.nn.Conv1d(1, 2, 3), torch.nn.ReLU())
        >>> [n for n, _ in weight_modules(m)]
        ['0']
    """
    return [(n, m) for n, m in model.named_modules() if isinstance(m, WEIGHTED)]


def to_torch(site: Site, array: np.ndarray) -> np.ndarray:
    """Turn ``array`` drawn in initlab's layout into the parameter's torch layout.

    ``array`` holds ``site.blocks`` draws of ``site.draw_shape`` stacked on a new axis 0.
    A dense ``(in, out)`` block becomes ``(out, in)``; a conv kernel ``(*k, in, out)``
    becomes ``(out, in, *k)`` (ConvTranspose: ``(*k, in, out/g)`` becomes
    ``(in, out/g, *k)``); the blocks are concatenated along dim 0.

    Example:
        >>> import torch
        >>> (s, _) = walk(torch.nn.Linear(2, 3))
        >>> to_torch(s, np.arange(6.0).reshape(1, 2, 3)).shape
        (3, 2)
    """
    return _to_torch_layout(site, np.asarray(array), np).reshape(site.shape)


def to_torch_tensor(site: Site, array: np.ndarray) -> torch.Tensor:
    """:func:`to_torch` as a tensor that shares ``array``'s memory where it can (a strided
    view for one block, so ``param.copy_`` does the transpose in one pass).

    Example:
        >>> import torch
        >>> (s, _) = walk(torch.nn.Linear(2, 3))
        >>> to_torch_tensor(s, np.zeros((1, 2, 3), np.float32)).shape
        torch.Size([3, 2])
    """
    t = _to_torch_layout(site, torch.from_numpy(np.asarray(array)), torch)
    return t[0] if site.blocks == 1 and t.shape[1:] == site.shape else t.reshape(site.shape)


def _to_torch_layout(site: Site, blocks: Any, lib: Any) -> Any:
    """Permute stacked initlab-layout blocks to torch's per-block layout (numpy or torch)."""
    def perm(x: Any, order: tuple[int, ...]) -> Any:
        return x.transpose(*order) if lib is np else x.permute(*order)

    if site.role in ("weight", "recurrent") and site.kind != "embedding":
        if site.kind == "bilinear":
            a, b = site.shape[1], site.shape[2]
            blocks = perm(blocks.reshape(len(blocks), a, b, -1), (0, 3, 1, 2))
        elif len(site.draw_shape) == 2:
            blocks = perm(blocks, (0, 2, 1))
        else:
            r = len(site.draw_shape) - 2
            order = (r, r + 1) if site.kind == "conv_transpose" else (r + 1, r)
            blocks = perm(blocks, (0, *(o + 1 for o in order), *range(1, r + 1)))
    return blocks
