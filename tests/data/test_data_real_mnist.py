"""The real MNIST test split in ../shared/data/mnist (skipped when absent)."""

from __future__ import annotations

import numpy as np

from initlab.cli import main
from initlab.data import load, verify
from initlab.data.catalog import MNIST
from initlab.data.images import read_parts

README_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_raw_test_split(shared_mnist_dir):
    parts, files = read_parts(MNIST, ["test"], shared_mnist_dir, download=False)
    x, y = parts["test"]
    assert x.shape == (10_000, 28, 28) and x.dtype == np.uint8
    assert np.bincount(y, minlength=10).tolist() == README_COUNTS
    assert int(x.min()) == 0 and int(x.max()) == 255
    assert all(f["verified"] for f in files)
    assert y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]  # the first t10k labels


def test_load_split_8000_2000(shared_mnist_dir):
    ds = load("mnist", data_dir=shared_mnist_dir, split="test:8000/2000", download=False)
    assert ds.x_train.shape == (8000, 784) and ds.x_test.shape == (2000, 784)
    assert ds.x_train.dtype == np.float32
    assert float(ds.x_train.min()) == 0.0 and float(ds.x_train.max()) == 1.0
    counts = np.bincount(np.concatenate([ds.y_train, ds.y_test]), minlength=10)
    assert counts.tolist() == README_COUNTS
    names = [f["name"] for f in ds.provenance["files"]]
    assert names == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    # the mean MNIST pixel is about 0.13 (the well-known normalization constant 0.1307)
    assert abs(float(ds.x_train.mean()) - 0.1307) < 0.01


def test_verify_finds_the_test_files_ok(shared_mnist_dir, capsys):
    states = {s.file.name: s.state for s in verify("mnist", shared_mnist_dir)}
    assert states["t10k-images-idx3-ubyte.gz"] == "ok"
    assert states["t10k-labels-idx1-ubyte.gz"] == "ok"
    assert states["train-images-idx3-ubyte.gz"] == "missing"
    assert main(["datasets", "verify", "mnist", "--data-dir", str(shared_mnist_dir)]) == 1
    out = capsys.readouterr()
    assert out.out.count("ok ") == 2 and "2 file(s) missing" in out.err
