"""Real torch models for the adapter's tests: MLPs and a small CNN here, the ResNet and GPT of
:mod:`initlab.torch.zoo` (torchvision is not installed)."""

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


class Outputs(nn.Module):
    """Wrap a language model: ``{"logits": ...}`` without targets, ``(logits, loss)`` with them
    (nanoGPT's convention), to test dict and tuple outputs."""

    def __init__(self, lm: nn.Module) -> None:
        super().__init__()
        self.lm = lm

    def forward(self, idx, targets=None):
        logits = self.lm(idx)
        if targets is None:
            return {"logits": logits}
        return logits, F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def resnet(seed: int = 0):
    """initlab.torch.zoo's ResNet with the ``zero_init_residual`` recipe (torchvision's)."""
    from initlab.torch import init_
    from initlab.torch.zoo import ResNet

    m = ResNet(blocks=(2, 2), width=16)
    init_(m, "zero_init_residual", seed=seed)
    return m


def gpt(seed: int = 0):
    """initlab.torch.zoo's GPT (tiny) with the ``gpt2`` recipe (nanoGPT's init), wrapped."""
    from initlab.torch import init_
    from initlab.torch.zoo import GPT, GPTConfig

    m = GPT(GPTConfig(vocab_size=64, block_size=16, n_layer=2, n_head=4, n_embd=32))
    init_(m, "gpt2", seed=seed)
    return Outputs(m)


@pytest.fixture
def zoo():
    """The model builders, by name."""
    return {"mlp": mlp, "cnn": SmallCNN, "resnet": resnet, "gpt": gpt}
