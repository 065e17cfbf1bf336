"""``initlab sweep``: train a grid of studies (a sweep file), locally or on a Dask cluster.

Every grid point is checked and every dataset loaded before anything is written. With
``--out DIR`` the runs go to ``DIR/sweep.sqlite`` as each ensemble finishes (a rerun trains
only the missing or failed runs, and a widened axis only its new points), then
``DIR/runs.csv`` (one row per run), ``DIR/summary.csv`` (per grid point and scheme, over
seeds) and ``DIR/sweep.json`` are written.

Example:
    $ initlab sweep --config sweep.toml --out runs/widths
    $ initlab sweep --config sweep.toml --out runs/widths --dask local:2
    $ initlab sweep --config sweep.toml --out runs/widths --scheduler tcp://10.0.0.5:8786
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from initlab.cli.compare import open_store
from initlab.cli.flags import int_flag
from initlab.errors import ConfigError

STORE_FILE = "sweep.sqlite"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``sweep`` sub-command."""
    p = subparsers.add_parser(
        "sweep",
        help="train a grid of studies from a sweep file (locally or on Dask)",
        description="Train every point of a sweep (a base study and axes such as depth, "
        "width, activation, scheme, lr, seeds) as K-model ensembles, into one crash-safe "
        "store; print a summary per grid point.",
    )
    a = p.add_argument
    a("--config", metavar="FILE", required=True, help="the sweep file (.toml or .json)")
    a("--out", metavar="DIR", help=f"folder for {STORE_FILE}, runs.csv, summary.csv and "
      "sweep.json (without it nothing is written)")
    a("--dask", metavar="local[:N]", help="train on a Dask LocalCluster of N worker "
      "processes (default: one per core); needs initlab[dask]")
    a("--scheduler", metavar="ADDRESS", help="train on an existing Dask cluster, e.g. "
      "tcp://HOST:8786")
    a("--workers", type=int, default=1, metavar="N",
      help="local worker processes without Dask (default 1: this process)")
    a("--max-models", type=int, metavar="K", help="the most models in one ensemble")
    a("--data-dir", metavar="D", help="folder with a downloaded dataset's files")
    a("--metric", default="val_accuracy", help="the metric the printed table shows "
      "(loss, accuracy, val_loss, val_accuracy; default val_accuracy)")
    a("--quiet", action="store_true", help="no progress bar; print the table only")
    p.set_defaults(func=run)


def _check(args: argparse.Namespace) -> None:
    int_flag("--workers", args.workers)
    int_flag("--max-models", args.max_models, optional=True)
    if args.metric not in ("loss", "accuracy", "val_loss", "val_accuracy"):
        raise ConfigError(f"--metric {args.metric!r}: allowed: loss, accuracy, val_loss, "
                          "val_accuracy")


def run(args: argparse.Namespace) -> int:
    """Run ``initlab sweep``; return the exit status."""
    from initlab.studies.executors import make_executor
    from initlab.studies.sweep import Sweep, SweepResults

    _check(args)
    sweep = Sweep.from_file(args.config)
    datasets = sweep.load_data(args.data_dir)  # bad options or missing files: before --out
    executor = make_executor(args.dask, args.scheduler, args.workers)
    store = None
    try:
        store = open_store(args.out, STORE_FILE) if args.out else None
        if not args.quiet:
            todo = sweep.n_runs if store is None else sum(
                len(store.missing(s)) for s in sweep.studies())
            print(f"{sweep!r} on {executor!r}" if todo else
                  f"nothing to train: all {sweep.n_runs} runs are in {store.path}",
                  file=sys.stderr)
        try:
            results = sweep.run(store, executor=executor, max_models=args.max_models,
                                progress=not args.quiet, datasets=datasets)
        except KeyboardInterrupt:
            if store is not None:
                done = SweepResults.read(sweep, store)
                print(f"initlab: interrupted: {sweep.n_runs - done.missing}/{sweep.n_runs} "
                      f"runs stored in {store.path}; run the same command again to resume",
                      file=sys.stderr)
                return 130
            raise
    finally:
        executor.close()
        if store is not None:
            store.close()
    print(results.table(args.metric))
    if args.out:
        out = Path(args.out)
        results.to_csv(out / "runs.csv", per="run")
        results.to_csv(out / "summary.csv", per="point")
        (out / "sweep.json").write_text(json.dumps(sweep.to_dict(), indent=1), encoding="utf-8")
        if not args.quiet:
            print(f"wrote {out / STORE_FILE}, runs.csv, summary.csv, sweep.json",
                  file=sys.stderr)
    return 0
