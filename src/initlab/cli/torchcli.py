"""The PyTorch commands: ``initlab inspect --torch FILE.py:FACTORY`` and ``initlab coord-check``.

Both load the user's model code explicitly: ``FILE.py:FACTORY`` names a Python file and a
function in it. The file is run as Python runs a script's imports (its top-level code runs),
so only point it at code you trust. ``inspect`` calls ``FACTORY()`` for a model (once per
``--init``); ``coord-check`` calls ``FACTORY(width)``.

Example:
    $ initlab inspect --torch models.py:make_cnn --input-shape 3,32,32 --classes 10 \\
          --init auto --init "normal(std=0.01)"
    $ initlab coord-check models.py:make_mlp --widths 64,128,256,512 --input-shape 32
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import re
import sys
from pathlib import Path
from typing import Any

from initlab.cli.flags import int_flag, number_flag
from initlab.errors import ConfigError

__all__ = ["register", "add_inspect_arguments", "run_inspect", "load_factory", "parse_shape"]

AS_BUILT = "as-built"
"""The ``--init`` that keeps the factory's own initialization (the default)."""


def load_factory(spec: str) -> Any:
    """Import ``FILE.py`` and return its callable ``FACTORY`` (``spec = "FILE.py:FACTORY"``).

    Raises:
        ConfigError: not ``FILE.py:NAME``, no such file, or no such callable in it.

    Example:
        >>> load_factory("nowhere.py:f")
        Traceback (most recent call last):
        initlab.errors.ConfigError: --torch: no such file 'nowhere.py' (FILE.py:FACTORY)
    """
    path, sep, name = spec.rpartition(":")
    if not sep or not path or not name.isidentifier():
        raise ConfigError(f"--torch must be FILE.py:FACTORY, e.g. models.py:make_cnn; got {spec!r}")
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"--torch: no such file {path!r} (FILE.py:FACTORY)")
    mod_name = f"initlab_user_{abs(hash(str(file.resolve())))}"
    spec_ = importlib.util.spec_from_file_location(mod_name, file)
    if spec_ is None or spec_.loader is None:
        raise ConfigError(f"--torch: cannot import {path!r} as Python")
    module = importlib.util.module_from_spec(spec_)
    sys.modules[mod_name] = module
    spec_.loader.exec_module(module)
    factory = getattr(module, name, None)
    if not callable(factory):
        found = sorted(k for k, v in vars(module).items() if callable(v) and not k.startswith("_"))
        raise ConfigError(f"--torch: {path} has no callable {name!r}; it has: "
                          f"{', '.join(found) or 'none'}")
    return factory


def parse_shape(text: str, flag: str = "--input-shape") -> tuple[int, ...]:
    """``"3,32,32"`` -> ``(3, 32, 32)``; every entry a positive int.

    Example:
        >>> parse_shape("3,32,32")
        (3, 32, 32)
    """
    try:
        shape = tuple(int(s) for s in text.split(","))
    except ValueError:
        shape = ()
    if not shape or any(s < 1 for s in shape):
        raise ConfigError(f"{flag} must be positive ints separated by commas, e.g. 3,32,32; "
                          f"got {text!r}")
    return shape


def add_inspect_arguments(p: argparse.ArgumentParser) -> None:
    """The ``--torch`` options of ``initlab inspect``."""
    g = p.add_argument_group("PyTorch models (initlab[torch])")
    g.add_argument("--torch", metavar="FILE.py:FACTORY", default=None,
                   help="inspect the torch model FACTORY() from FILE.py (runs that file's code)")
    g.add_argument("--input-shape", default=None, metavar="SHAPE",
                   help="one sample's shape, e.g. 3,32,32 (random N(0, 1) inputs without "
                        "--dataset; with it, the samples are reshaped to it)")
    g.add_argument("--classes", type=int, default=10,
                   help="classes of the random labels without --dataset (default 10)")
    g.add_argument("--out", default=None, metavar="DIR",
                   help="also write DIR/report.html and DIR/results.json")


def _batch(args: argparse.Namespace, shape: tuple[int, ...] | None):
    import numpy as np
    import torch

    n = args.n_samples
    if args.dataset:
        from initlab.cli.diagnose import _load

        ds = _load(args.dataset, n, args.seed, args.data_dir)
        x = np.asarray(ds.x_train[:n], dtype=np.float32)
        if shape is not None:
            if math.prod(shape) != x[0].size:
                raise ConfigError(f"--input-shape {','.join(map(str, shape))} has "
                                  f"{math.prod(shape)} values; {args.dataset}'s samples have "
                                  f"{x[0].size}")
            x = x.reshape(len(x), *shape)
        return torch.from_numpy(x), torch.from_numpy(np.asarray(ds.y_train[:n]).astype(np.int64))
    if shape is None:
        raise ConfigError("--torch needs --input-shape (e.g. 3,32,32) or --dataset")
    int_flag("--classes", args.classes)
    g = torch.Generator().manual_seed(args.seed)
    return (torch.randn(n, *shape, generator=g),
            torch.randint(0, args.classes, (n,), generator=g))


def check_classes(model: Any, x: Any, y: Any, what: str) -> None:
    """Refuse labels the model's output cannot score (the loss would index past it).

    Raises:
        ConfigError: the largest label is not below the output's last dimension; the
            message names --classes (or the dataset) and the model's outputs.
    """
    import copy

    import torch

    with torch.random.fork_rng(devices=[]), torch.no_grad():  # no trace on model or RNG
        out = copy.deepcopy(model)(x[:2])
    if isinstance(out, torch.Tensor) and out.dim() >= 2 and y.dtype == torch.int64:
        n_out, top = int(out.shape[-1]), int(y.max())
        if top >= n_out:
            raise ConfigError(f"{what} gives {n_out} outputs but the labels go up to {top}; "
                              f"allowed: --classes <= {n_out} (or a dataset with at most "
                              f"{n_out} classes)")


def run_inspect(args: argparse.Namespace) -> int:
    """Run ``initlab inspect --torch``: one report per ``--init``."""
    import initlab.torch as it

    int_flag("--n-samples", args.n_samples)
    number_flag("--lr", args.lr)
    shape = parse_shape(args.input_shape) if args.input_shape else None
    factory = load_factory(args.torch)
    inits = args.inits or [AS_BUILT]
    models = []
    for spec in inits:  # every spec is checked (dry run) before any batch is measured
        model = factory()
        if spec != AS_BUILT:
            it.init_(model, spec, seed=args.seed, dry_run=True)
        models.append(model)
    x, y = _batch(args, shape)
    check_classes(models[0], x, y, args.torch)
    reports = []
    for spec, model in zip(inits, models, strict=True):
        if spec != AS_BUILT:
            it.init_(model, spec, seed=args.seed)
        reports.append(it.inspect(model, x, y, lr=args.lr, seed=args.seed,
                                  label=f"{args.torch} init {spec}"))
    if args.json:
        print(json.dumps([r.to_dict() for r in reports], indent=2))
    else:
        print(f"{args.torch}: {len(x)} samples of shape {tuple(x.shape[1:])}\n")
        for r in reports:
            print(r)
    if args.out:
        from initlab.viz.report import write_report

        path = write_report(args.out, report_data(args.torch, inits, reports))
        print(f"wrote {path}")
    return 0


def report_data(title: str, inits: list[str], reports: list) -> Any:
    """A :class:`initlab.viz.report.ReportData` of torch inspect reports (one table each)."""
    from initlab.viz.report import ReportData, Table

    tables, findings = [], []
    for spec, rep in zip(inits, reports, strict=True):
        lines = rep.table(0).splitlines()
        tables.append(Table(f"init {spec}", _cells(lines[0]), [_cells(r) for r in lines[2:]],
                            "z: what enters each layer's activation; q theory only along a "
                            "plain chain of layers."))
        for f in rep.findings:
            findings.append({"severity": f.severity, "model": spec, "layer": f.layer_name,
                             "code": f.code, "message": f"{f.message} {f.recommendation}"})
    return ReportData(name="inspect-torch", title=f"initlab inspect --torch {title}",
                      explanation="Per layer (module paths), measured on one batch: "
                                  "pre-activation and activation statistics, dead and "
                                  "saturated units, symmetry, gradients; then the findings, "
                                  "each with an initlab.torch.init_ call verified on the batch.",
                      config={"model": title, "inits": inits}, tables=tables,
                      findings=findings)


def _cells(line: str) -> list[str]:
    """A text table's line as cells (columns are two or more spaces apart)."""
    return re.split(r"\s{2,}", line.strip())


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``coord-check`` sub-command."""
    p = subparsers.add_parser(
        "coord-check",
        help="muP's coordinate check of a torch model factory across widths",
        description="Build FACTORY(width) from FILE.py (runs that file's code) for each width "
        "and seed, train it a few steps on one fixed random batch, and print the slope of "
        "log mean|output| against log width per module and step, with its 95 %% interval "
        "over seeds and findings for modules that are not width-stable (microsoft/mup's "
        "coordinate check; Yang et al. 2021).",
    )
    p.add_argument("factory", metavar="FILE.py:FACTORY")
    p.add_argument("--widths", default="64,128,256,512", help="widths (default 64,128,256,512)")
    p.add_argument("--input-shape", default="32", help="one sample's shape (default 32)")
    p.add_argument("--classes", type=int, default=10, help="classes of the labels (default 10)")
    p.add_argument("--n-samples", type=int, default=64, help="batch size (default 64)")
    p.add_argument("--optimizer", choices=("adam", "sgd"), default="adam")
    p.add_argument("--lr", type=float, default=0.01, help="learning rate (default 0.01)")
    p.add_argument("--steps", type=int, default=3, help="optimizer steps (default 3)")
    p.add_argument("--seeds", type=int, default=3, help="seeds (default 3)")
    p.add_argument("--seed", type=int, default=0, help="seed of the batch (default 0)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="also write DIR/report.html with the log-log figure")
    p.add_argument("--json", action="store_true", help="print rows, slopes and findings as JSON")
    p.set_defaults(func=run_coord_check)


def run_coord_check(args: argparse.Namespace) -> int:
    """Run ``initlab coord-check``."""
    import torch

    import initlab.torch as it

    widths = parse_shape(args.widths, "--widths")
    shape = parse_shape(args.input_shape)
    if len(set(widths)) < 2:
        raise ConfigError(f"--widths needs at least two distinct widths; got {args.widths!r}")
    for flag, v in (("--n-samples", args.n_samples), ("--classes", args.classes),
                    ("--seeds", args.seeds)):
        int_flag(flag, v)
    int_flag("--steps", args.steps, low=0)
    number_flag("--lr", args.lr)
    factory = load_factory(args.factory)
    g = torch.Generator().manual_seed(args.seed)
    x = torch.randn(args.n_samples, *shape, generator=g)
    y = torch.randint(0, args.classes, (args.n_samples,), generator=g)
    with torch.random.fork_rng(devices=[]):
        smallest = factory(min(widths))
    check_classes(smallest, x, y, f"{args.factory} at width {min(widths)}")
    cls = torch.optim.Adam if args.optimizer == "adam" else torch.optim.SGD

    def optimizer(model):
        return cls(model.parameters(), lr=args.lr)

    cc = it.coord_check(factory, widths, x, y, optimizer=optimizer, steps=args.steps,
                        seeds=args.seeds)
    print(json.dumps(cc.to_dict(), indent=2) if args.json else cc, end="")
    if args.out:
        print(f"wrote {write_coord_report(args.out, args.factory, cc)}")
    return 0


def write_coord_report(out: str, title: str, cc: Any) -> Path:
    """DIR/report.html (and results.json, figures/coordcheck.png) of a coordinate check."""
    from initlab.viz.report import FigureRef, ReportData, Table, write_report
    from initlab.viz.style import save

    out_dir = Path(out)
    save(cc.plot(title=f"coordinate check: {title}"), out_dir / "figures" / "coordcheck",
         formats=("png",))
    rows = [_cells(line) for line in cc.table().splitlines()[2:]]
    data = ReportData(
        name="coord-check", title=f"initlab coord-check {title}",
        explanation="Slope of log mean|output| against log width per module and step (95 % "
                    "interval over seeds); a width-stable module has slope ~0.",
        config={"widths": cc.widths, "steps": cc.steps, "seeds": cc.seeds},
        tables=[Table("slopes", ["module"] + [f"step {t}" for t in range(cc.steps + 1)], rows)],
        figures=[FigureRef("figures/coordcheck.png", "mean |output| against width, log-log")],
        findings=list(cc.findings))
    return write_report(out_dir, data)
