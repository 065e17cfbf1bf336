"""``initlab compare``: run an ad-hoc study (schemes x seeds), print the table, keep the store.

Everything is checked before anything is written: an unknown scheme, activation, dataset,
option or optimizer, missing data files, an empty training set, a scheme that cannot draw a
layer, a network that does not fit in memory, or an ``--out`` that cannot be written is one
line naming the flag and exit status 2, and no ``--out`` folder is made. With ``--out DIR`` the
runs go to ``DIR/study.sqlite`` as each ensemble finishes; the same command run again trains
only the runs still missing (and says so when none is), then writes ``DIR/runs.csv``,
``DIR/summary.csv``, ``DIR/results.json`` and the study itself as ``DIR/study.toml``. Ctrl-C
says how many runs are stored; rerunning resumes.

Example:
    $ initlab compare --dataset moons --layers 12,6 --activation relu --output sigmoid \\
        --init zeros --init "normal(std=10)" --init he_normal --epochs 15000 --lr 0.01 \\
        --batch-size full --seeds 5 --out runs/moons
    $ initlab compare --config study.toml --seeds 10 --out runs/moons
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from initlab.errors import ConfigError, StoreError, param

# CLI flag (argparse dest) -> study field; flags left out keep the file's or Study's value.
_FIELDS = {
    "name": "name", "dataset": "dataset", "layers": "layers", "activation": "activation",
    "output": "output", "init": "schemes", "seeds": "seeds", "optimizer": "optimizer",
    "lr": "lr", "clip_norm": "clip_norm", "clip_value": "clip_value", "epochs": "epochs",
    "batch_size": "batch_size", "shuffle_seed": "shuffle_seed", "log_every": "log_every",
    "dtype": "dtype", "recipe": "init_recipe", "bias_init": "bias_init", "engine": "engine",
}
# Parameter names in errors (study fields, dataset options, run() keywords) -> this command's
# flags; the dests of its own flags are found from the parser (see initlab.cli.flag_speller).
FLAG_NAMES = {
    **{field: "--" + dest.replace("_", "-") for dest, field in _FIELDS.items()},
    "dataset_options": "--data-option",
    "optimizer_options": "--opt-option",
    "dataset_options.mirror": "--mirror",
    "dataset_options.data_dir": "--data-dir",
    "mirror": "--mirror",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``compare`` sub-command."""
    p = subparsers.add_parser(
        "compare",
        help="compare init schemes over seeds on one network (a study)",
        description="Train every scheme x seed on one network and dataset as K-model "
        "ensembles; print mean +- std and a 95 % interval per scheme. With --out, runs are "
        "stored crash-safe and a rerun trains only the missing ones.",
    )
    a = p.add_argument
    a("--config", metavar="FILE", help="a study file (.toml or .json); other flags override it")
    a("--name", help="the study's name in the store (default: compare)")
    a("--dataset", metavar="NAME", help="dataset name (see `initlab datasets`; default moons)")
    a("--data-option", action="append", default=[], metavar="KEY=VALUE", dest="data_options",
      help="a dataset option, e.g. noise=0.3 or split=test:8000/2000 (repeatable)")
    a("--layers", metavar="WIDTHS",
      help="hidden widths, e.g. 12,6 or 100x5; residual blocks: 64,res64x50")
    a("--activation", metavar="SPEC",
      help="hidden activation, e.g. relu, tanh, leaky_relu(alpha=0.2)")
    a("--output", metavar="NAME", help="output activation: sigmoid (two classes) or softmax")
    a("--init", action="append", metavar="SPEC",
      help='an init scheme, e.g. he_normal or "normal(std=10)" (repeat to compare)')
    a("--seeds", metavar="N|LIST", help="how many seeds (5 means 0..4), or a list: 0,3,7")
    a("--optimizer", metavar="NAME", help="sgd, adam or rmsprop (default sgd)")
    a("--lr", type=float, help="learning rate (default 0.01)")
    a("--opt-option", action="append", default=[], metavar="KEY=VALUE", dest="opt_options",
      help="an optimizer option, e.g. momentum=0.9 (repeatable)")
    a("--clip-norm", type=float, metavar="X", help="clip gradients by global norm")
    a("--clip-value", type=float, metavar="X", help="clip each gradient entry to +-VALUE")
    a("--epochs", type=int, metavar="N", help="passes over the training set (default 10)")
    a("--batch-size", metavar="N|full",
      help="an int, or 'full' for full-batch gradient descent (default full)")
    a("--shuffle-seed", type=int, metavar="N",
      help="seed of the minibatch order, shared by all runs")
    a("--log-every", type=int, metavar="N",
      help="record metrics every N epochs (default: <= 500 points)")
    a("--dtype", help="float32 (default) or float64")
    a("--recipe", metavar="NAME", help="init recipe for residual layers (res64 in --layers): "
      "he, fixup, skipinit or rezero")
    a("--no-bias", action="store_true", help="hidden layers without biases")
    a("--bias-init", metavar="SPEC", help='the hidden biases\' init, e.g. "normal(std=0.2236)"')
    a("--engine", metavar="NAME", help="numpy (the reference, default) or jit: the compiled "
      "training path (needs initlab[jit]; plain Dense stacks, no probes)")
    a("--out", metavar="DIR", help="folder for study.sqlite, runs.csv, summary.csv, "
      "results.json and study.toml (without it nothing is written)")
    a("--data-dir", metavar="D", help="folder with a downloaded dataset's files")
    a("--mirror", metavar="URL", help="base URL to download a missing dataset's files from "
      "({name} is replaced by the dataset name; or $INITLAB_DATA_MIRROR); where files come "
      "from is not part of the study, so a store made with another mirror still resumes")
    a("--workers", default="auto", metavar="N|auto",
      help="processes training in parallel, or 'auto' (default: one per idle core, at most "
      "4; one for a tiny study)")
    a("--max-models", type=int, metavar="K", help="the most models in one ensemble")
    a("--quiet", action="store_true", help="no progress bar; print the table only")
    p.set_defaults(func=run, flag_names=FLAG_NAMES)


def parse_value(text: str) -> Any:
    """A KEY=VALUE value: an int, a float, true/false, or else the text itself.

    Example:
        >>> parse_value("0.3"), parse_value("7"), parse_value("true"), parse_value("a:1")
        (0.3, 7, True, 'a:1')
    """
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _pairs(items: list[str], flag: str) -> dict[str, Any]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{flag} {item!r}: expected KEY=VALUE, e.g. {flag} noise=0.3")
        out[key.strip()] = parse_value(value)
    return out


def _seeds(text: str) -> int | list[int]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise ConfigError(
            f"--seeds {text!r}: expected a count (5) or a list of seeds (0,3,7)"
        ) from None
    return values[0] if len(values) == 1 and "," not in text else values


def build_study(args: argparse.Namespace) -> Any:
    """The Study the flags (over the ``--config`` file, if any) describe; validated.

    Raises:
        ConfigError: a bad flag, file or name (before anything is trained or written).
    """
    from initlab.studies import Study

    data: dict[str, Any] = {"name": "compare"}
    if args.config:
        data = Study.from_file(args.config).to_dict()
    for dest, field in _FIELDS.items():
        value = getattr(args, dest)
        if value is not None:
            data[field] = _seeds(value) if dest == "seeds" else value
    if args.no_bias:
        data["use_bias"] = False
    if args.data_options:
        data["dataset_options"] = {**data.get("dataset_options", {}),
                                   **_pairs(args.data_options, "--data-option")}
    if args.opt_options:
        data["optimizer_options"] = {**data.get("optimizer_options", {}),
                                     **_pairs(args.opt_options, "--opt-option")}
    if getattr(args, "mirror", None) is not None:
        from initlab.data import info

        d = info(str(data.get("dataset", Study.dataset)).lower())
        if d.kind != "download":
            raise ConfigError(f"--mirror {args.mirror!r}: dataset {d.name!r} is {d.kind} "
                              f"({d.source}); there is nothing to download")
        data["dataset_options"] = {**data.get("dataset_options", {}), "mirror": args.mirror}
    return Study.from_dict(data)


def open_store(out: str, file: str = "study.sqlite") -> Any:
    """Create ``--out`` (checking that it is writable) and open ``OUT/FILE`` as a store."""
    from initlab.studies.store import Store

    path = Path(out)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".initlab-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise StoreError(f"--out {out!r} cannot be written: {e.strerror or e}") from None
    return Store(path / file)


def _say_what_is_stored(study: Any, store: Any, quiet: bool) -> None:
    """Print (stderr) how many runs the store already holds, when it holds any."""
    missing = len(store.missing(study))
    total = len(study.runs)
    if missing == 0:
        print(f"all {total} runs are already in {store.path}: nothing to train (add --seeds "
              "or --init to extend the study; another --out starts afresh)", file=sys.stderr)
    elif missing < total and not quiet:
        print(f"{total - missing} of {total} runs are already in {store.path}; training the "
              f"{missing} missing", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    """Run ``initlab compare``; return the exit status."""
    from initlab.studies.runner import load_data, run_study

    workers: int | str = args.workers
    if workers != "auto":
        if not str(workers).isdigit() or int(workers) < 1:
            raise ConfigError(f"--workers must be 'auto' or an int >= 1; got {workers!r}")
        workers = int(workers)
    if args.max_models is not None and args.max_models < 1:
        raise ConfigError(f"{param('max_models')} must be >= 1; got {args.max_models}")
    study = build_study(args)
    dataset = load_data(study, args.data_dir)  # missing files or bad options: before --out
    study.check_fits(dataset, max_models=args.max_models,  # shapes, memory: before --out
                     workers=1 if workers == "auto" else workers)
    store = open_store(args.out) if args.out else None
    try:
        if store is not None:
            _say_what_is_stored(study, store, args.quiet)
        results = run_study(study, store, progress=not args.quiet, workers=workers,
                            max_models=args.max_models, dataset=dataset)
    except KeyboardInterrupt:
        if store is None:
            print("initlab: interrupted; nothing was kept (with --out DIR each finished "
                  "ensemble is stored and rerunning resumes)", file=sys.stderr)
        else:
            n = len(study.runs) - len(store.missing(study))
            print(f"initlab: interrupted; {n} of {len(study.runs)} runs are stored in "
                  f"{store.path}; run the same command again to resume (it trains only the "
                  "missing runs)", file=sys.stderr)
        return 130
    finally:
        if store is not None:
            store.close()
    print(results.table())
    if args.out:
        out = Path(args.out)
        study.save(out / "study.toml")
        results.to_csv(out / "runs.csv", per="run")
        results.to_csv(out / "summary.csv", per="scheme")
        results.to_json(out / "results.json")
        if not args.quiet:
            print(f"wrote {out / 'study.sqlite'}, runs.csv, summary.csv, results.json, "
                  "study.toml", file=sys.stderr)
    return 0
