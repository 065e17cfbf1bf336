"""The ``initlab`` command line: a thin shell over the public API.

Each sub-command lives in its own module of this package and exposes
``register(subparsers)``, which adds its parser and sets ``func(args) -> int``.
An :class:`~initlab.errors.InitLabError` is printed on one line and exits with status 2.

Example:
    $ initlab schemes
    $ initlab sample he_normal --shape 784,128 --seed 0
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from initlab import __version__
from initlab.errors import InitLabError

# Modules of initlab.cli that each add one or more sub-commands, in the order --help lists them.
COMMAND_MODULES: tuple[str, ...] = ("schemes", "datasets", "diagnose", "compare", "sweep",
                                    "reproduce")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit status 2 (argparse's own code)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"initlab: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every sub-command registered."""
    parser = _Parser(
        prog="initlab",
        description="Weight initialization for neural networks: schemes, diagnostics, studies.",
    )
    parser.add_argument("--version", action="version", version=f"initlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(f"initlab.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except InitLabError as e:
        print(f"initlab: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `initlab schemes | head`: the reader left; not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("initlab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
