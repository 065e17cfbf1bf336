"""Datasets: seeded toy problems, scikit-learn's digits, and the MNIST family.

``load(name, **options)`` returns a frozen :class:`Dataset` (x_train, y_train, x_test,
y_test, n_classes, name, provenance). Downloaded sets (mnist, fashion_mnist, kmnist) are
fetched once (with a deadline), verified by sha256, and read from IDX files (or Keras's
``mnist.npz``); see :mod:`initlab.data.remote` for where files live.

Example:
    >>> from initlab.data import load
    >>> ds = load("xor", n_train=8, n_test=4, seed=0)
    >>> ds.x_train.shape, ds.n_classes
    ((8, 2), 2)
"""

from initlab.data.dataset import Dataset
from initlab.data.idx import read_idx, write_idx
from initlab.data.registry import (
    DatasetInfo,
    allowed_options,
    cache_state,
    fetch,
    info,
    load,
    names,
    verify,
)
from initlab.data.remote import FileSet, FileStatus, RemoteFile, data_home, fetch_files
from initlab.data.split import parse_split

__all__ = [
    "Dataset",
    "DatasetInfo",
    "FileSet",
    "FileStatus",
    "RemoteFile",
    "allowed_options",
    "cache_state",
    "data_home",
    "fetch",
    "fetch_files",
    "info",
    "load",
    "names",
    "parse_split",
    "read_idx",
    "verify",
    "write_idx",
]
