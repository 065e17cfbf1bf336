"""``initlab datasets``: list the datasets, fetch one, verify one's files.

Example:
    $ initlab datasets
    $ initlab datasets fetch mnist --data-dir ~/data/mnist
    $ initlab datasets fetch fashion_mnist --part test --mirror http://127.0.0.1:8000/{name}
    $ initlab datasets verify mnist --data-dir ../shared/data/mnist --part test
"""

from __future__ import annotations

import argparse
import sys

from initlab.data import cache_state, data_home, fetch, info, names, verify
from initlab.data.remote import DEFAULT_DEADLINE_S


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``datasets`` (list) with its ``fetch`` and ``verify`` sub-commands."""
    p = subparsers.add_parser(
        "datasets",
        help="list datasets; fetch or verify their files",
        description="List the datasets (sizes, source, cached or not); fetch or verify files.",
    )
    p.set_defaults(func=_list)
    sub = p.add_subparsers(dest="datasets_command", metavar="ACTION", parser_class=type(p))
    f = sub.add_parser("fetch", help="download a dataset's files once, checked by sha256")
    f.add_argument("name", help="dataset name (mnist, fashion_mnist, kmnist)")
    f.add_argument("--data-dir", help="folder for the files (default: $INITLAB_DATA/NAME "
                   "or the platform cache)")
    f.add_argument("--mirror", help="base URL to download from instead of the built-in "
                   "mirrors ({name} is replaced by the dataset name); or $INITLAB_DATA_MIRROR")
    f.add_argument("--part", choices=("train", "test", "all"), default="all",
                   help="fetch only the train or the test files (default: all)")
    f.add_argument("--retries", type=int, default=2, help="further attempts per mirror")
    f.add_argument("--no-progress", action="store_true", help="no progress bar")
    f.add_argument("--deadline", type=_seconds, metavar="SECONDS", default=DEFAULT_DEADLINE_S,
                   help="give up when the whole fetch takes longer (default: %(default)g)")
    f.set_defaults(func=_fetch)
    v = sub.add_parser("verify", help="check a dataset's files against their sha256")
    v.add_argument("name", help="dataset name")
    v.add_argument("--data-dir", help="folder holding the files")
    v.add_argument("--part", choices=("train", "test", "all"), default="all",
                   help="verify only the train or the test files (default: all)")
    v.set_defaults(func=_verify)


def _seconds(text: str) -> float:
    """argparse type of --deadline: a finite number of seconds > 0."""
    from initlab.data.remote import check_seconds
    from initlab.errors import ConfigError

    try:
        return check_seconds("--deadline", float(text))  # type: ignore[return-value]
    except (ValueError, ConfigError):
        raise argparse.ArgumentTypeError(
            f"must be a positive number of seconds; got {text!r}") from None


def _list(args: argparse.Namespace) -> int:
    rows = [("name", "kind", "train", "test", "classes", "input", "cached", "source")]
    for n in names():
        d = info(n)
        state = cache_state(n)
        if not state:
            cached = "n/a"
        elif all(state.values()):
            cached = "yes"
        elif any(state.values()):
            cached = "only " + ", ".join(k for k, v in state.items() if v)
        else:
            cached = "no"
        shape = "x".join(str(s) for s in d.input_shape)
        rows.append((n, d.kind, f"{d.n_train:,}", f"{d.n_test:,}", str(d.n_classes), shape,
                     cached, d.source))
    import textwrap

    from initlab.viz.text import WIDTH, text_table

    print(text_table(rows[0], rows[1:]))
    print("\n" + textwrap.fill("cached: files in $INITLAB_DATA/NAME or the platform cache "
                               f"(e.g. {data_home('mnist')}); n/a: generated or shipped with "
                               "scikit-learn", WIDTH))
    return 0


def _fetch(args: argparse.Namespace) -> int:
    d = info(args.name)
    if d.kind != "download":
        print(f"{args.name} is {d.kind} ({d.source}); there is nothing to download")
        return 0
    progress = False if args.no_progress else None
    parts = ("train", "test") if args.part == "all" else (args.part,)
    paths = fetch(args.name, data_dir=args.data_dir, mirror=args.mirror,
                  retries=args.retries, progress=progress, parts=parts,
                  deadline=args.deadline)
    for name, path in paths.items():
        print(f"ok  {name}  {path}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    d = info(args.name)
    if d.kind != "download":
        print(f"{args.name} is {d.kind} ({d.source}); there are no files to verify")
        return 0
    parts = ("train", "test") if args.part == "all" else (args.part,)
    statuses = verify(args.name, args.data_dir, parts=parts)
    for st in statuses:
        expected = st.file.sha256 if st.path.name == st.file.name else st.file.raw_sha256
        line = f"{st.state:<10}  {st.path}"
        if st.state == "bad-hash":
            line += f"  sha256 {st.sha256}, expected {expected}"
        elif st.state == "unverified":
            line += f"  sha256 {st.sha256} (no published digest for the gunzipped file)"
        print(line)
    bad = [s for s in statuses if s.state == "bad-hash"]
    missing = [s for s in statuses if s.state == "missing"]
    if bad:
        print(f"{len(bad)} file(s) with the wrong sha256: delete them and run "
              f"'initlab datasets fetch {args.name}'", file=sys.stderr)
        return 1
    if missing:
        print(f"{len(missing)} file(s) missing; the parts whose files are all ok are usable",
              file=sys.stderr)
        return 1
    return 0
