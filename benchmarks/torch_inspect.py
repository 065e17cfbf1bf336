"""Benchmark ``initlab.torch.inspect`` against plain forward + backward passes (issue 13).

Run by hand from the repository root (not a test)::

    python benchmarks/torch_inspect.py [--repeats N] [--threads T]

For each model (a BatchNorm CNN on 128 CIFAR-sized images, initlab.torch.zoo's ResNet-14 on
64 images, a 4-layer GPT on 16 x 64 tokens, and a 20-layer tanh MLP with std 0.01, which has
findings, so its time includes building and verifying the fix on a copy of the model), the
median time of one forward + backward pass (``loss.backward()``, gradients zeroed) and of one
``inspect`` call, alternated ``--repeats`` times (default 7) so that load on a shared machine
hits both alike. Target: inspect <= 3 forward + backward passes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import markdown_table  # noqa: E402
from _torch_machine import machine  # noqa: E402

TARGET = 3.0


def models():
    import torch
    from torch import nn

    import initlab.torch as it
    from initlab.torch.zoo import GPT, GPTConfig, ResNet

    g = torch.Generator().manual_seed(0)
    cnn = nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.Conv2d(32, 64, 3, padding=1, stride=2), nn.BatchNorm2d(64), nn.ReLU(),
        nn.Conv2d(64, 64, 3, padding=1, stride=2), nn.BatchNorm2d(64), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))
    it.init_(cnn, seed=0)
    resnet = ResNet(blocks=(2, 2, 2), width=16)
    it.init_(resnet, "zero_init_residual", seed=0)
    gpt = GPT(GPTConfig(vocab_size=256, block_size=64, n_layer=4, n_head=4, n_embd=128))
    it.init_(gpt, "gpt2", seed=0)
    layers, d = [], 64
    for _ in range(20):
        lin = nn.Linear(d, 128)
        nn.init.normal_(lin.weight, std=0.01)
        nn.init.zeros_(lin.bias)
        layers += [lin, nn.Tanh()]
        d = 128
    mlp = nn.Sequential(*layers, nn.Linear(128, 10))
    img = torch.randn(128, 3, 32, 32, generator=g)
    return [
        ("CNN + BatchNorm, 128 x 3x32x32", cnn, img, torch.randint(0, 10, (128,), generator=g)),
        ("ResNet-14 (zoo), 64 x 3x32x32", resnet, img[:64],
         torch.randint(0, 10, (64,), generator=g)),
        ("GPT 4 x 128, 16 x 64 tokens", gpt, torch.randint(0, 256, (16, 64), generator=g),
         torch.randint(0, 256, (16, 64), generator=g)),
        ("tanh MLP 20 x 128, std 0.01 (findings + verified fix)", mlp,
         torch.randn(512, 64, generator=g), torch.randint(0, 10, (512,), generator=g)),
    ]


def main(argv: list[str] | None = None) -> int:
    import torch
    import torch.nn.functional as F  # noqa: N812

    import initlab.torch as it

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    def fwd_bwd(model, x, y):
        model.zero_grad(set_to_none=True)
        out = model(x)
        F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1)).backward()

    rows = []
    for name, model, x, y in models():
        fwd_bwd(model, x, y)
        it.inspect(model, x, y)  # warm-up
        t_pass, t_insp, n_find = [], [], 0
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            fwd_bwd(model, x, y)
            t_pass.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            rep = it.inspect(model, x, y)
            t_insp.append(time.perf_counter() - t0)
            n_find = len(rep.findings)
        a, b = statistics.median(t_pass), statistics.median(t_insp)
        ratio = b / a
        rows.append([name, f"{1000 * a:.1f} ms", f"{1000 * b:.1f} ms", f"{ratio:.2f}",
                     str(n_find), "yes" if ratio <= TARGET else "no"])
    print(f"{machine(args.threads)}; medians of {args.repeats}")
    print(markdown_table(["model", "forward + backward", "inspect", "passes", "findings",
                          f"<= {TARGET:g}"], rows))
    return 0 if all(r[-1] == "yes" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
