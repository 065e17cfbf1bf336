"""A small zoo of real torch models for the adapter's tests (torchvision is not installed)."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional


def mlp(depth: int, width: int, act: type, std: float | None, d_in: int = 32,
        classes: int = 10, seed: int = 0) -> nn.Sequential:
    """Linear+act blocks; weights N(0, std) (None: He normal), zero biases; a Linear head."""
    g = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = []
    d = d_in
    for _ in range(depth):
        lin = nn.Linear(d, width)
        s = math.sqrt(2.0 / d) if std is None else std
        with torch.no_grad():
            lin.weight.normal_(0.0, s, generator=g)
            lin.bias.zero_()
        layers += [lin, act()]
        d = width
    head = nn.Linear(d, classes)
    with torch.no_grad():
        head.weight.normal_(0.0, 1.0 / math.sqrt(d), generator=g)
        head.bias.zero_()
    layers.append(head)
    return nn.Sequential(*layers)


class SmallCNN(nn.Module):
    """conv-relu-conv-relu-pool-linear, He init, zero biases; optional BatchNorm."""

    def __init__(self, batchnorm: bool = False, channels: int = 16) -> None:
        super().__init__()
        c = channels
        self.conv1 = nn.Conv2d(3, c, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(c) if batchnorm else nn.Identity()
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(c) if batchnorm else nn.Identity()
        self.conv3 = nn.Conv2d(c, c, 3, padding=1)
        self.head = nn.Linear(c, 10)
        for m in (self.conv1, self.conv2, self.conv3):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.conv2(x)))
        x = self.conv3(x).relu()
        return self.head(x.mean(dim=(2, 3)))


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False),
                                            nn.BatchNorm2d(c_out))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return self.relu(out)


class ResNet(nn.Module):
    """A small torchvision-style ResNet (BasicBlock) with ``zero_init_residual``."""

    def __init__(self, widths=(16, 32), blocks=2, classes=10, zero_init_residual=True) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        stages, c = [], widths[0]
        for i, w in enumerate(widths):
            stage = [BasicBlock(c, w, 1 if i == 0 else 2)]
            stage += [BasicBlock(w, w) for _ in range(blocks - 1)]
            stages.append(nn.Sequential(*stage))
            c = w
        self.layer1, self.layer2 = stages
        self.fc = nn.Linear(c, classes)
        for m in self.modules():  # torchvision's resnet.py init
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, BasicBlock):
                    nn.init.constant_(m.bn2.weight, 0)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer2(self.layer1(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class CausalSelfAttention(nn.Module):
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.c_attn = nn.Linear(d, 3 * d)
        self.c_proj = nn.Linear(d, d)

    def forward(self, x):
        n, t, d = x.shape
        q, k, v = self.c_attn(x).split(d, dim=2)
        q, k, v = (z.view(n, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).contiguous().view(n, t, d))


class GPTBlock(nn.Module):
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(d)
        self.attn = CausalSelfAttention(d, heads)
        self.ln_2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """A nanoGPT-shaped model: token + position embeddings, pre-norm blocks, tied head;
    returns ``(logits, loss)`` with targets, ``{"logits": ...}`` without (nanoGPT returns a
    tuple; the dict form tests dict outputs)."""

    def __init__(self, vocab=64, block=16, d=32, heads=4, layers=2) -> None:
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(block, d)
        self.blocks = nn.ModuleList(GPTBlock(d, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, vocab, bias=False)
        self.wte.weight = self.lm_head.weight
        for name, p in self.named_parameters():  # nanoGPT's _init_weights
            if p.dim() >= 2:
                std = 0.02 / math.sqrt(2 * layers) if name.endswith("c_proj.weight") else 0.02
                nn.init.normal_(p, 0.0, std)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def forward(self, idx, targets=None):
        t = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(t, device=idx.device))
        for blk in self.blocks:
            x = blk(x)
        logits = self.lm_head(self.ln_f(x))
        if targets is None:
            return {"logits": logits}
        loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1))
        return logits, loss


@pytest.fixture
def zoo():
    """The model builders, by name."""
    return {"mlp": mlp, "cnn": SmallCNN, "resnet": ResNet, "gpt": GPT}
