"""The ``initlab`` command line: a thin shell over the public API.

Each sub-command lives in its own module of this package and exposes
``register(subparsers)``, which adds its parser and sets ``func(args) -> int``.
What the user typed is answered by a result or one line:

* an :class:`~initlab.errors.InitLabError` (every mistake a user can make; each module
  translates the NumPy, SciPy, scikit-learn, JSON, SQLite or decoding error it can raise into
  one where it is raised) prints ``initlab: error: ...`` in the CLI's words -- a parameter
  marked with :func:`~initlab.errors.param` is spelled as the flag that sets it -- and exits 2;
* an OSError or MemoryError from the machine (a full disk, no permission, memory that the
  estimates before allocating did not foresee) prints its reason and exits 1;
* Ctrl-C exits 130; anything else is a bug in initlab: one line saying so, exit 70, and
  ``--debug`` (anywhere on the line) shows the traceback.

Example:
    $ initlab schemes
    $ initlab sample he_normal --shape 784,128 --seed 0
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Mapping, Sequence

from initlab import __version__
from initlab.errors import InitLabError

EXIT_USAGE = 2
"""Exit status of a user's mistake (argparse's own code)."""
EXIT_BUG = 70
"""Exit status of an unexpected exception: a bug in initlab (EX_SOFTWARE of sysexits.h)."""

# Modules of initlab.cli that each add one or more sub-commands, in the order --help lists them.
COMMAND_MODULES: tuple[str, ...] = ("schemes", "datasets", "diagnose", "compare", "sweep",
                                     "reproduce", "torchcli")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit status 2 (argparse's own code)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"initlab: error: {message}\n")


class _Version(argparse.Action):
    """``--version``: initlab's and NumPy's versions, the CPU and NumPy's BLAS kernels and
    threads, and :func:`initlab.nn.blas.kernel_advice` when it has any (read only when asked)."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS,
                 default: str = argparse.SUPPRESS, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=default,
                         help="print the version, the CPU and NumPy's BLAS kernels, and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> None:
        import numpy as np

        from initlab.nn import blas

        lines = [f"initlab {__version__}", f"NumPy {np.__version__}; {blas.describe()}"]
        advice = blas.kernel_advice()
        if advice:
            lines.append(f"note: {advice}")
        print("\n".join(lines))
        parser.exit(0)


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every sub-command registered."""
    parser = _Parser(
        prog="initlab",
        description="Weight initialization for neural networks: schemes, diagnostics, studies.",
    )
    parser.add_argument("--version", action=_Version)
    parser.add_argument("--debug", action="store_true",
                        help="on an unexpected error, print the traceback (also after the "
                        "command: initlab compare ... --debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(f"initlab.cli.{name}").register(sub)
    return parser


def flag_speller(
    parser: argparse.ArgumentParser, args: argparse.Namespace
) -> Callable[[str], str | None]:
    """How this command spells a parameter named in an error: the flag that sets it, or None.

    The flags are read from the command's own parser (``dest`` -> its long option); a
    command adds spellings argparse cannot know with ``set_defaults(flag_names={...})``. A
    mapping entry ``dataset_options.noise`` is spelled ``--data-option noise=``.

    Example:
        >>> p = build_parser()
        >>> spell = flag_speller(p, p.parse_args(["compare"]))
        >>> spell("data_dir"), spell("schemes"), spell("dataset_options.noise"), spell("zzz")
        ('--data-dir', '--init', '--data-option noise=', None)
    """
    flags: dict[str, str] = {}
    stack = [parser]
    while stack:
        p = stack.pop()
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                name = getattr(args, action.dest, None)
                if name in action.choices:
                    stack.append(action.choices[name])
            elif action.option_strings and action.dest not in flags:
                flags[action.dest] = max(action.option_strings, key=len)
    extra: Mapping[str, str] = getattr(args, "flag_names", {}) or {}

    def spell(name: str) -> str | None:
        if name in extra:
            return extra[name]
        if "." in name:
            base, _, key = name.partition(".")
            flag = spell(base)
            return f"{flag} {key}=" if flag else None
        return flags.get(name)

    return spell


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    cut = argv.index("--") if "--" in argv else len(argv)
    debug = "--debug" in argv[:cut]
    argv = [a for i, a in enumerate(argv) if not (i < cut and a == "--debug")]
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args) or 0)
    except InitLabError as e:
        print(f"initlab: error: {e.render(flag_speller(parser, args))}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # e.g. `initlab schemes | head`: the reader left; not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("initlab: interrupted", file=sys.stderr)
        return 130
    except MemoryError:  # the estimates before allocating missed it: the machine's limit
        print("initlab: error: out of memory; use smaller shapes, fewer models at once "
              "(--max-models) or fewer samples", file=sys.stderr)
        if debug:
            raise
        return 1
    except OSError as e:  # the machine, not the input: a full disk, no permission
        where = f": {e.filename}" if e.filename else ""
        print(f"initlab: error: {e.strerror or e}{where}", file=sys.stderr)
        if debug:
            raise
        return 1
    except Exception as e:
        if debug:
            raise
        print(f"initlab: internal error (a bug in initlab, please report it): "
              f"{type(e).__name__}: {_one_line(e)}; rerun with --debug for the traceback",
              file=sys.stderr)
        return EXIT_BUG


def _one_line(e: BaseException, width: int = 200) -> str:
    text = " ".join(str(e).split())
    return text if len(text) <= width else text[: width - 3] + "..."


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
