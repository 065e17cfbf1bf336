"""The Dataset record that :func:`initlab.data.load` returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Dataset"]


@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test pair of arrays with its provenance; frozen (fields cannot be reassigned).

    Attributes:
        name: the dataset's name, e.g. ``"moons"`` or ``"mnist"``.
        x_train: inputs, float32 (or float64 on request), shape (n_train, d) when flattened,
            (n_train, h, w) for images with ``flatten=False``.
        y_train: int64 class labels (n_train,), or float (n_train, n_classes) with ``one_hot``.
        x_test: inputs of the test part, like ``x_train``.
        y_test: labels of the test part, like ``y_train``.
        n_classes: the number of classes.
        provenance: JSON-serializable record of where the data came from: source, files with
            their sha256, the split and every option.

    Example:
        >>> from initlab.data import load
        >>> ds = load("moons", n_train=40, n_test=10, seed=1)
        >>> ds.x_train.shape, ds.y_test.shape, ds.n_classes
        ((40, 2), (10,), 2)
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def n_train(self) -> int:
        """Number of training samples."""
        return int(self.x_train.shape[0])

    @property
    def n_test(self) -> int:
        """Number of test samples."""
        return int(self.x_test.shape[0])

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one sample, e.g. ``(784,)`` or ``(28, 28)``."""
        return tuple(int(s) for s in self.x_train.shape[1:])

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, n_train={self.n_train}, n_test={self.n_test}, "
            f"input_shape={self.input_shape}, n_classes={self.n_classes}, "
            f"dtype={self.x_train.dtype})"
        )
