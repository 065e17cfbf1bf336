"""Fixtures shared by every test package."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_mnist_dir() -> Path:
    """The real MNIST test split (../shared/data/mnist or $INITLAB_MNIST_DIR); skip if absent."""
    path = Path(os.environ.get("INITLAB_MNIST_DIR", REPO.parent / "shared" / "data" / "mnist"))
    if not (path / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"the real MNIST test split is not at {path} (set INITLAB_MNIST_DIR)")
    return path
