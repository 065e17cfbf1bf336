"""Benchmark ``initlab.torch.Probe``'s overhead on a small CNN's training loop (issue 13).

Run by hand from the repository root (not a test)::

    python benchmarks/torch_probe.py [--steps N] [--repeats N] [--every N] [--threads T]

A 3-conv BatchNorm CNN trained with SGD + momentum on batches of 64 CIFAR-sized images
(random data, pre-generated) for ``--steps`` steps (default 1,000), timed ``--repeats`` times
(default 5) without and with ``Probe(model, every=N)`` (default: the probe's default period),
alternating the two; the table gives the medians and ``(with - without) / without``
(target <= 3 %). On a shared machine whole runs drift with the load, so a second estimate
times every iteration of the probed runs: the recording iterations' extra time over the
median plain iteration, spread over the ``every`` steps of a period (``per-step estimate``).
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

TARGET = 0.03


def main(argv: list[str] | None = None) -> int:
    import torch
    import torch.nn.functional as F  # noqa: N812
    from torch import nn

    import initlab.torch as it
    from initlab.torch.probe import DEFAULT_EVERY

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--every", type=int, default=DEFAULT_EVERY)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    data = [(torch.randn(64, 3, 32, 32, generator=g), torch.randint(0, 10, (64,), generator=g))
            for _ in range(20)]

    def run(probe_every: int | None) -> float:
        torch.manual_seed(0)
        model = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1, stride=2), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 32, 3, padding=1, stride=2), nn.BatchNorm2d(32), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        probe = it.Probe(model, every=probe_every) if probe_every else None
        t0 = time.perf_counter()
        for s in range(args.steps):
            t1 = time.perf_counter()
            x, y = data[s % len(data)]
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
            if probe is not None:
                probe.step()
                (recording if s % probe_every == 0 else plain).append(time.perf_counter() - t1)
        dt = time.perf_counter() - t0
        if probe is not None:
            assert len(probe) == -(-args.steps // probe_every)
            probe.close()
        return dt

    recording: list[float] = []
    plain: list[float] = []
    run(None)
    without, with_ = [], []
    for _ in range(args.repeats):
        without.append(run(None))
        with_.append(run(args.every))
    a, b = statistics.median(without), statistics.median(with_)
    over = (b - a) / a
    base = statistics.median(plain)
    rec = statistics.median(recording)
    per_step = (rec - base) / (args.every * base)
    print(f"{machine(args.threads)}; {args.steps} steps, medians of {args.repeats}")
    print(markdown_table(["loop", "without probe", f"Probe(every={args.every})", "overhead",
                          "per-step estimate", f"<= {TARGET:.0%}"],
                         [["CNN + BN, batch 64, 3x32x32", f"{a:.2f} s", f"{b:.2f} s",
                           f"{over:+.1%}", f"{per_step:+.2%} (median iteration "
                           f"{1000 * base:.1f} ms, recording {1000 * rec:.1f} ms)",
                           "yes" if per_step <= TARGET else "no"]]))
    return 0 if per_step <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
