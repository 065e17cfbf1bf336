"""``initlab reproduce NAME`` and ``initlab report DIR``: the built-in experiments and reports.

Example:
    $ initlab reproduce moons --out runs/moons --seeds 5
    $ initlab reproduce mnist --data-dir ../shared/data/mnist --quick
    $ initlab report runs/moons
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def _reproduce(args: argparse.Namespace) -> int:
    from initlab.experiments import EXPERIMENTS, reproduce

    exp = EXPERIMENTS.get(args.name)
    out = args.out or f"initlab-{args.name}"
    if exp is not None and not args.quiet:
        print(f"initlab reproduce {exp.name} ({exp.source}): {exp.title}", file=sys.stderr)
    from initlab.studies.executors import make_executor

    executor = make_executor(args.dask, args.scheduler)  # a sweep's executor (trainability)
    try:
        path, _ = reproduce(args.name, out, seeds=args.seeds, data_dir=args.data_dir,
                            quick=args.quick, progress=not args.quiet, executor=executor)
    finally:
        executor.close()
    print(summary(path.parent))
    print(path)
    return 0


def summary(run_dir: Path, width: int = 100) -> str:
    """The run's tables as terminal text no wider than ``width``, each under its title.

    Example:
        >>> import tempfile
        >>> from initlab.viz.report import ReportData, Table, write_report
        >>> d = Path(tempfile.mkdtemp())
        >>> _ = write_report(d, ReportData("x", "X", tables=[Table("t", ["a"], [[1]])]))
        >>> print(summary(d))
        X
        <BLANKLINE>
        t
        a
        -
        1
        <BLANKLINE>
    """
    from initlab.viz.report import load_results

    data = load_results(run_dir)
    parts = [data.title]
    for t in data.tables:
        parts.append("")
        parts.append(t.to_text(width))
    return "\n".join(parts) + "\n"


def _report(args: argparse.Namespace) -> int:
    from initlab.viz.report import write_report

    print(write_report(args.dir))
    return 0


def _positive_int(text: str) -> int:
    from initlab.init.checks import integer

    try:
        value: object = int(text)
    except ValueError:
        value = text
    return integer("", value, low=1, bad=lambda _, allowed: argparse.ArgumentTypeError(
        f"must be {allowed}; got {text!r}"))


def register(subparsers: Any) -> None:
    """Add the ``reproduce`` and ``report`` sub-commands."""
    from initlab.experiments import EXPERIMENTS

    names = ", ".join(EXPERIMENTS)
    p = subparsers.add_parser(
        "reproduce",
        help="reproduce a seed article's experiment: figures, tables, report.html",
        description=(
            "Run a built-in experiment over several seeds and write DIR/report.html (one "
            "self-contained file), DIR/results.json, DIR/figures/*.png|svg and the study "
            f"store. Experiments: {names}."
        ),
    )
    p.add_argument("name", metavar="NAME", help=f"the experiment: {names}")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="run directory (default: ./initlab-NAME)")
    p.add_argument("--seeds", type=_positive_int, metavar="N", default=None,
                   help="number of seeds (default: the experiment's own)")
    p.add_argument("--data-dir", metavar="D", default=None,
                   help="folder with downloaded data (MNIST IDX files); else $INITLAB_DATA")
    p.add_argument("--quick", action="store_true",
                   help="a short version that still shows the outcome (used by the tests)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--dask", metavar="local[:N]", default=None,
                   help="train a sweep experiment (trainability) on a Dask LocalCluster")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="train a sweep experiment on an existing Dask cluster")
    p.set_defaults(func=_reproduce)

    r = subparsers.add_parser(
        "report",
        help="rebuild DIR/report.html from DIR/results.json and DIR/figures",
        description="Rebuild the self-contained HTML report of a run directory.",
    )
    r.add_argument("dir", metavar="DIR", help="a run directory made by 'initlab reproduce'")
    r.set_defaults(func=_report)
