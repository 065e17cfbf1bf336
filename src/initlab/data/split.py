"""The ``split`` option: a deterministic slice of the parts a dataset has.

Syntax: ``"SOURCE:A/B"``. SOURCE is a part of the data as published (``train``, ``test``,
or ``all`` = train followed by test; scikit-learn's digits has only ``all``). The first A
samples of SOURCE, in file order, become the training set, and the B samples right after
them the test set. ``"SOURCE:A"`` (or ``"SOURCE:A/*"``) gives every remaining sample to test.

``"test:8000/2000"`` on MNIST trains on the first 8,000 images of the official 10,000-image
test file and tests on its last 2,000: only the two ``t10k`` files are needed.

Example:
    >>> parse_split("test:8000/2000")
    Split(source='test', n_train=8000, n_test=2000)
    >>> parse_split("all:100")
    Split(source='all', n_train=100, n_test=None)
"""

from __future__ import annotations

import re
from typing import NamedTuple

import numpy as np

from initlab.errors import ConfigError

__all__ = ["Split", "parse_split", "apply_split"]

SPLIT_SYNTAX = "SOURCE:A/B (e.g. 'test:8000/2000'; SOURCE is train, test or all; B may be *)"

_PATTERN = re.compile(r"^\s*([a-z]+)\s*:\s*(\d+)\s*(?:/\s*(\d+|\*)\s*)?$")


class Split(NamedTuple):
    """A parsed ``split``: the source part, the training count, the test count (None: rest)."""

    source: str
    n_train: int
    n_test: int | None


def parse_split(text: str) -> Split:
    """Parse a split string ``"SOURCE:A/B"``.

    Args:
        text: e.g. ``"test:8000/2000"``, ``"train:50000/10000"``, ``"all:1000"``.

    Returns:
        The parsed :class:`Split`.

    Raises:
        ConfigError: the text does not follow the syntax.

    Example:
        >>> parse_split("train:50000/*").n_test is None
        True
    """
    m = _PATTERN.match(str(text))
    if not m:
        raise ConfigError(f"bad split {text!r}; expected {SPLIT_SYNTAX}")
    source, a, b = m.group(1), int(m.group(2)), m.group(3)
    return Split(source, a, None if b in (None, "*") else int(b))


def apply_split(
    split: Split, x: np.ndarray, y: np.ndarray, text: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Slice one source part into (x_train, y_train, x_test, y_test) as ``split`` says.

    Args:
        split: the parsed split.
        x: the source part's inputs (samples first).
        y: its labels.
        text: the split as the user wrote it, for messages.

    Returns:
        ``x[:A], y[:A], x[A:A+B], y[A:A+B]``.

    Raises:
        ConfigError: the source has fewer than A + B samples.

    Example:
        >>> import numpy as np
        >>> parts = apply_split(parse_split("all:3/1"), np.arange(5), np.arange(5), "all:3/1")
        >>> [p.tolist() for p in parts]
        [[0, 1, 2], [0, 1, 2], [3], [3]]
    """
    n = int(x.shape[0])
    a = split.n_train
    b = n - a if split.n_test is None else split.n_test
    if a + max(b, 0) > n or b < 0:
        raise ConfigError(
            f"split {text!r} needs {a} + {split.n_test if split.n_test is not None else 'rest'}"
            f" samples but {split.source!r} has {n}"
        )
    return x[:a], y[:a], x[a : a + b], y[a : a + b]
