"""Benchmark ``initlab.torch.init_`` against torch's own ``reset_parameters`` (issue 12).

Run by hand from the repository root (not a test)::

    python benchmarks/torch_init.py [--repeats 5] [--small]

The model is ``initlab.torch.zoo.GPT`` at GPT-2 small's sizes (12 layers, 12 heads, 768
wide, vocabulary 50257, context 1024, the head tied to the token embedding: 124.4M
parameters), float32 on the CPU. Timed, each the median of ``--repeats`` runs after one
warm-up:

- torch: every module's ``reset_parameters()`` (what ``nn.Module`` construction runs),
- torch: nanoGPT's ``_init_weights`` (``normal_`` everywhere), the reference for ``gpt2``,
- initlab ``torch_default``: the same distributions, drawn by initlab with a seed,
- initlab ``gpt2``: nanoGPT's recipe,
- initlab ``auto``: with the forward run on a (2, 8) batch of token ids, and without an
  example (the consumers read from a torch.fx graph),
- initlab ``dry_run``: the plan alone.

The cases run interleaved (one of each per round, one warm-up round), so a change in the
machine's load hits all alike. Target (issue 12): ``init_`` within 2x torch's time. Prints
the CPU model, the BLAS and torch's thread counts and the load average; the numbers depend
on the machine's load. Where the time goes (cProfile): NumPy's single-threaded float32
normal draw is most of ``gpt2`` (124M normals; torch's reset draws 85M of its values
uniform, which is about 4x cheaper); ``init_`` draws in place or into reused buffers, and
the transposed copy of each kernel overlaps the next draw on a helper thread.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import torch  # noqa: E402

from initlab.torch import init_  # noqa: E402
from initlab.torch.zoo import GPT, GPTConfig  # noqa: E402


def interleaved(cases, repeats: int) -> dict[str, list[float]]:
    """Time every case once per round, ``repeats`` rounds after a warm-up round, so a change
    in the machine's load hits every case alike."""
    times: dict[str, list[float]] = {name: [] for name, _ in cases}
    for r in range(repeats + 1):
        for name, fn in cases:
            t0 = time.perf_counter()
            fn()
            if r:
                times[name].append(time.perf_counter() - t0)
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--small", action="store_true", help="a 4-layer, 256-wide GPT (smoke run)")
    a = ap.parse_args()
    cfg = GPTConfig(n_layer=4, n_head=4, n_embd=256) if a.small else GPTConfig()
    model = GPT(cfg)
    n = sum(p.numel() for p in model.parameters())
    print(f"model: GPT {cfg}, {n / 1e6:.1f}M parameters, float32")
    from initlab.nn import blas

    print(f"{blas.describe()}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"load average before: {os.getloadavg()[0]:.2f}")

    def torch_reset():
        for m in model.modules():
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()

    def nanogpt_init():  # nanoGPT's _init_weights and c_proj loop, with torch's own RNG
        for m in model.modules():
            if isinstance(m, torch.nn.Linear):
                torch.nn.init.normal_(m.weight, 0.0, 0.02)
                if m.bias is not None:
                    torch.nn.init.zeros_(m.bias)
            elif isinstance(m, torch.nn.Embedding):
                torch.nn.init.normal_(m.weight, 0.0, 0.02)
        for pn, p in model.named_parameters():
            if pn.endswith("c_proj.weight"):
                torch.nn.init.normal_(p, 0.0, 0.02 / (2 * cfg.n_layer) ** 0.5)

    example = torch.zeros(2, 8, dtype=torch.long)
    cases = [
        ("torch reset_parameters", torch_reset),
        ("torch nanoGPT _init_weights (normal_)", nanogpt_init),
        ("initlab init_ torch_default", lambda: init_(model, "torch_default", seed=0)),
        ("initlab init_ gpt2", lambda: init_(model, "gpt2", seed=0)),
        ("initlab init_ auto (forward run on example)", lambda: init_(model, seed=0,
                                                                      example=example)),
        ("initlab init_ auto (torch.fx graph)", lambda: init_(model, seed=0)),
        ("initlab init_ dry_run (plan only)", lambda: init_(model, "gpt2", dry_run=True)),
    ]
    times = interleaved(cases, a.repeats)
    base = statistics.median(times[cases[0][0]])
    nano = statistics.median(times[cases[1][0]])
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    print(f"\n| what | median s ({a.repeats} interleaved runs) | min s | vs torch "
          f"reset_parameters | vs nanoGPT init |\n|---|---|---|---|---|")
    for name, _ in cases:
        med = statistics.median(times[name])
        print(f"| {name} | {med:.3f} | {min(times[name]):.3f} | {med / base:.2f}x | "
              f"{med / nano:.2f}x |")


if __name__ == "__main__":
    main()
