"""``initlab schemes`` (every scheme with its formula) and ``initlab sample`` (draw and summarize).

Example:
    $ initlab schemes --flavor torch
    $ initlab sample he_normal --shape 784,128 --seed 0
"""

from __future__ import annotations

import argparse

import numpy as np

from initlab.errors import ShapeError
from initlab.init import FLAVORS, get, schemes

__all__ = ["register", "parse_shape", "histogram"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``schemes`` and ``sample`` sub-commands."""
    p = subparsers.add_parser(
        "schemes",
        help="list every initialization scheme with its formula",
        description="List every initialization scheme: its arguments, aliases and formula.",
    )
    p.add_argument(
        "--flavor",
        choices=["all", "initlab", *FLAVORS],
        default="all",
        help="only initlab's own schemes or one library's flavor (default: all)",
    )
    p.set_defaults(func=run_schemes)

    s = subparsers.add_parser(
        "sample",
        help="draw a weight array from a scheme and summarize it",
        description="Draw weights from SPEC and print mean, std, min, max, the std the "
        "formula predicts, and a text histogram.",
    )
    s.add_argument(
        "spec", help="initializer spec, e.g. he_normal, 'normal(std=0.1)', keras:glorot_normal"
    )
    s.add_argument("--shape", required=True, help="weight shape, e.g. 784,128 or 3,3,16,32")
    s.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    s.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    s.add_argument("--bins", type=int, default=15, help="histogram bins (default 15)")
    s.set_defaults(func=run_sample)


def parse_shape(text: str) -> tuple[int, ...]:
    """Parse ``"784,128"`` (or ``"784x128"``) into a shape tuple; raise ShapeError naming it.

    Example:
        >>> parse_shape("3,3,16,32")
        (3, 3, 16, 32)
    """
    parts = [p.strip() for p in text.replace("x", ",").split(",")]
    if text.strip() and all(p.isascii() and p.isdigit() for p in parts):
        return tuple(int(p) for p in parts)
    bad = next((p for p in parts if not (p.isascii() and p.isdigit())), "")
    what = f"part {bad!r}" if bad else "an empty part"
    raise ShapeError(f"--shape {text!r}: {what}; allowed: comma-separated ints >= 0 such as "
                     "784,128 or 3,3,16,32")


def histogram(x: np.ndarray, bins: int = 15, width: int = 40) -> list[str]:
    """Return text lines of a histogram of ``x``: one line per bin with a bar of ``#``.

    Example:
        >>> len(histogram(np.arange(10.0), bins=5))
        5
    """
    counts, edges = np.histogram(x, bins=bins)
    top = max(int(counts.max()), 1)
    labels = [f"[{lo:+.4g}, {hi:+.4g})" for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    pad = max(len(label) for label in labels)
    return [
        f"{label:<{pad}} {int(c):>9d} {'#' * int(round(width * c / top))}".rstrip()
        for label, c in zip(labels, counts, strict=True)
    ]


def run_schemes(args: argparse.Namespace) -> int:
    """Print every scheme (of the chosen flavor) with its arguments, aliases and formula."""
    heading = {
        "initlab": "initlab's own schemes (textbook; a dense kernel is (fan_in, fan_out))",
        "keras": "keras: flavor (Keras 3: *_normal truncated at 2 sigma and corrected, max(1, n))",
        "torch": "torch: flavor (torch.nn.init, applied to the same layer in initlab's layout)",
        "jax": "jax: flavor (jax.nn.initializers)",
    }
    shown = None
    for sc in schemes():
        flavor = sc.name.split(":", 1)[0] if ":" in sc.name else "initlab"
        if args.flavor not in ("all", flavor):
            continue
        if flavor != shown:
            print(f"{'' if shown is None else chr(10)}== {heading[flavor]}")
            shown = flavor
        aliases = f"  (also: {', '.join(sc.aliases)})" if sc.aliases else ""
        print(f"{sc.signature()}{aliases}")
        print(f"    {sc.formula}")
    return 0


def run_sample(args: argparse.Namespace) -> int:
    """Draw weights from a spec and print their statistics and a histogram."""
    ini = get(args.spec)
    shape = parse_shape(args.shape)
    if args.bins < 1:
        raise ShapeError(f"--bins must be >= 1; got {args.bins}")
    w = ini(shape, rng=args.seed, dtype=np.dtype(args.dtype))
    print(f"spec:   {ini}")
    print(f"shape:  {shape}  dtype: {w.dtype}  seed: {args.seed}")
    print(f"formula: {ini.describe(shape)}")
    if w.size == 0:
        print("empty array: no statistics")
        return 0
    x = w.astype(np.float64)
    predicted = ini.std(shape)
    pred = "undefined" if predicted is None else f"{predicted:.6g}"
    print(f"mean {x.mean():+.6g}  std {x.std():.6g}  min {x.min():+.6g}  max {x.max():+.6g}")
    print(f"predicted std {pred}")
    for line in histogram(x, args.bins):
        print(line)
    return 0
