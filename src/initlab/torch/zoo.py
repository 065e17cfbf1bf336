"""Two small models to try ``init_`` and ``lsuv_`` on: a CIFAR-style ResNet and a GPT.

Written for initlab (torchvision is not a dependency): :class:`ResNet` is He et al. 2016's
basic-block ResNet for 32x32 images (a 3x3 stem, stages of two-conv blocks, a 1x1 projection
shortcut where the shape changes, global average pooling, a linear classifier);
:class:`GPT` is a GPT-2-style decoder with the module names nanoGPT uses (``wte``, ``wpe``,
``blocks.i.attn.c_attn``, ``c_proj``, ``mlp.c_fc``, ``ln_1``, ``ln_f``, ``lm_head`` tied to
``wte``), so the ``gpt2`` recipe finds its residual projections; :class:`FixupResNet` is the
official Fixup code's normalization-free ResNet with its scalar biases and multipliers.
``GPTConfig()`` at its
defaults is GPT-2 small (124M parameters); the tests use tiny ones.

Example:
    >>> import torch
    >>> ResNet(blocks=(1, 1), width=8)(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    >>> GPT(GPTConfig(vocab_size=50, block_size=16, n_layer=2, n_head=2, n_embd=16))(
    ...     torch.zeros(2, 8, dtype=torch.long)).shape
    torch.Size([2, 8, 50])
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["BasicBlock", "ResNet", "FixupBasicBlock", "FixupResNet", "GPTConfig", "GPT", "Block"]


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN plus the shortcut, then ReLU (He et al. 2016, Fig. 2)."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1, norm: bool = True) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=not norm)
        self.bn1 = nn.BatchNorm2d(c_out) if norm else nn.Identity()
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=not norm)
        self.bn2 = nn.BatchNorm2d(c_out) if norm else nn.Identity()
        self.shortcut: nn.Module | None = None
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Conv2d(c_in, c_out, 1, stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = out + (x if self.shortcut is None else self.shortcut(x))
        return out.relu()


class ResNet(nn.Module):
    """A small ResNet: ``blocks[i]`` basic blocks in stage i, width doubling per stage.

    Args:
        blocks: blocks per stage, e.g. (3, 3, 3) is ResNet-20.
        width: channels of the first stage.
        classes: outputs of the classifier.
        norm: with BatchNorm (False: Fixup's setting, no normalization).
    """

    def __init__(self, blocks: tuple[int, ...] = (2, 2, 2), width: int = 16,
                 classes: int = 10, norm: bool = True) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, 1, 1, bias=not norm)
        self.bn = nn.BatchNorm2d(width) if norm else nn.Identity()
        stages, c = [], width
        for i, n in enumerate(blocks):
            c_out = width * 2**i
            stage = [BasicBlock(c, c_out, 1 if i == 0 else 2, norm)]
            stage += [BasicBlock(c_out, c_out, 1, norm) for _ in range(n - 1)]
            stages.append(nn.Sequential(*stage))
            c = c_out
        self.stages = nn.ModuleList(stages)
        self.fc = nn.Linear(c, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn(self.stem(x)))
        for stage in self.stages:
            x = stage(x)
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


class FixupBasicBlock(nn.Module):
    """A basic block without normalization, with Fixup's scalars (Zhang, Dauphin & Ma 2019).

    As the official code (hongyi-zhang/Fixup, ``FixupBasicBlock``): a scalar bias before
    each convolution and each activation (``bias1a``, ``bias1b``, ``bias2a``, ``bias2b``,
    initialized 0) and a scalar multiplier of the branch (``scale``, initialized 1):
    ``relu(scale * conv2(relu(conv1(x + bias1a) + bias1b) + bias2a) + bias2b + shortcut)``,
    the shortcut a 1x1 conv of ``x + bias1a`` where the shape changes (the ImageNet code's
    projection). The ``fixup`` recipe zeroes ``conv2``, scales ``conv1`` and resets the
    scalars to 0 and 1.
    """

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.bias1a = nn.Parameter(torch.zeros(1))
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bias1b = nn.Parameter(torch.zeros(1))
        self.bias2a = nn.Parameter(torch.zeros(1))
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.scale = nn.Parameter(torch.ones(1))
        self.bias2b = nn.Parameter(torch.zeros(1))
        self.shortcut: nn.Module | None = None
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Conv2d(c_in, c_out, 1, stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.conv1(x + self.bias1a) + self.bias1b)
        out = self.conv2(out + self.bias2a) * self.scale + self.bias2b
        identity = x if self.shortcut is None else self.shortcut(x + self.bias1a)
        return F.relu(out + identity)


class FixupResNet(nn.Module):
    """A CIFAR-style ResNet of :class:`FixupBasicBlock` s, no normalization anywhere.

    As the official ``FixupResNet``: a 3x3 stem, a scalar bias ``bias1`` before its ReLU,
    stages of blocks (width doubling, stride 2 from the second stage), global average
    pooling, a scalar bias ``bias2`` before the linear classifier.

    Example:
        >>> import torch
        >>> FixupResNet(blocks=(1, 1), width=4)(torch.zeros(2, 3, 8, 8)).shape
        torch.Size([2, 10])
    """

    def __init__(self, blocks: tuple[int, ...] = (3, 3, 3), width: int = 16,
                 classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, 1, 1, bias=False)
        self.bias1 = nn.Parameter(torch.zeros(1))
        stages, c = [], width
        for i, n in enumerate(blocks):
            c_out = width * 2**i
            stage = [FixupBasicBlock(c, c_out, 1 if i == 0 else 2)]
            stage += [FixupBasicBlock(c_out, c_out) for _ in range(n - 1)]
            stages.append(nn.Sequential(*stage))
            c = c_out
        self.stages = nn.ModuleList(stages)
        self.bias2 = nn.Parameter(torch.zeros(1))
        self.fc = nn.Linear(c, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.stem(x) + self.bias1)
        for stage in self.stages:
            x = stage(x)
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1) + self.bias2)


@dataclasses.dataclass
class GPTConfig:
    """GPT sizes; the defaults are GPT-2 small (124M parameters with the tied head)."""

    vocab_size: int = 50257
    block_size: int = 1024
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768


class SelfAttention(nn.Module):
    """Causal multi-head self-attention with one fused q/k/v projection."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.n_head, self.n_embd = cfg.n_head, cfg.n_embd
        self.scale = 1.0 / math.sqrt(cfg.n_embd // cfg.n_head)
        self.c_attn = nn.Linear(cfg.n_embd, 3 * cfg.n_embd)
        self.c_proj = nn.Linear(cfg.n_embd, cfg.n_embd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c, h = self.n_embd, self.n_head  # written so that torch.fx can trace it (no shapes)
        q, k, v = self.c_attn(x).split(c, dim=2)
        q, k, v = (z.unflatten(-1, (h, c // h)).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * self.scale
        future = torch.ones_like(att, dtype=torch.bool).tril().logical_not()
        att = att.masked_fill(future, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).flatten(-2)
        return self.c_proj(y)


class MLP(nn.Module):
    """Linear-GELU-Linear, 4x wide."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(self.gelu(self.c_fc(x)))


class Block(nn.Module):
    """A pre-norm transformer block: x + attn(ln_1(x)), then x + mlp(ln_2(x))."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.n_embd)
        self.attn = SelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.n_embd)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """A GPT-2-style language model: token + position embeddings, blocks, ln_f, tied head."""

    def __init__(self, config: GPTConfig | None = None) -> None:
        super().__init__()
        self.config = config or GPTConfig()
        cfg = self.config
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.block_size, cfg.n_embd)
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.n_layer)])
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # weight tying, as GPT-2

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(idx.size(1), device=idx.device)
        x = self.wte(idx) + self.wpe(pos)
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.ln_f(x))
