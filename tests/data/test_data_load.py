"""load(): defaults, options, determinism, splits, errors, and the MNIST family from files."""

from __future__ import annotations

import dataclasses
import gzip
import json

import numpy as np
import pytest

from initlab.data import Dataset, info, load, names, parse_split
from initlab.data.catalog import MNIST, PART_FILES
from initlab.data.idx import write_idx
from initlab.errors import ConfigError, DataError

SYNTHETIC = ["moons", "circles", "spirals", "xor", "blobs"]


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    monkeypatch.delenv("INITLAB_DATA", raising=False)
    monkeypatch.delenv("INITLAB_DATA_MIRROR", raising=False)


def test_names_cover_the_issue():
    assert set(names()) == {*SYNTHETIC, "digits", "mnist", "fashion_mnist", "kmnist"}


def test_moons_defaults_follow_seed_002():
    ds = load("moons")
    assert isinstance(ds, Dataset) and ds.name == "moons" and ds.n_classes == 2
    assert ds.x_train.shape == (400, 2) and ds.x_test.shape == (100, 2)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert ds.provenance["options"]["noise"] == 0.2
    # noise 0.2 around the unit half circles: points spread about [-1.5, 2.5] x [-1, 1.5]
    assert -2.0 < ds.x_train[:, 0].min() < -0.8 and 1.8 < ds.x_train[:, 0].max() < 3.0
    # both classes on both sides, close to balanced (500 points drawn, 250 per class)
    counts = np.bincount(ds.y_train, minlength=2)
    assert abs(int(counts[0]) - 200) < 3 * np.sqrt(400 * 0.25)


@pytest.mark.parametrize("name", ["moons", "circles"])
def test_deterministic_under_a_seed(name):
    a, b, c = load(name, seed=7), load(name, seed=7), load(name, seed=8)
    for field in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.x_train, c.x_train)
    g1, g2 = np.random.default_rng(3), np.random.default_rng(3)
    np.testing.assert_array_equal(load(name, seed=g1).x_test, load(name, seed=g2).x_test)


@pytest.mark.parametrize("name", SYNTHETIC)
def test_every_synthetic_set_has_its_options(name):
    ds = load(name, n_train=60, n_test=30, seed=1)
    assert ds.x_train.shape == (60, 2) and ds.y_test.shape == (30,)
    assert set(np.unique(ds.y_train)) <= set(range(ds.n_classes))
    assert len(np.unique(np.concatenate([ds.y_train, ds.y_test]))) == ds.n_classes


def test_blobs_train_and_test_share_centers():
    ds = load("blobs", n_classes=4, n_features=5, cluster_std=0.5, seed=2)
    assert ds.x_train.shape[1] == 5 and ds.n_classes == 4
    centers = np.stack([ds.x_train[ds.y_train == k].mean(0) for k in range(4)])
    pred = np.argmin(((ds.x_test[:, None, :] - centers) ** 2).sum(-1), axis=1)
    assert (pred == ds.y_test).mean() > 0.95


def test_xor_and_spirals_geometry():
    ds = load("xor", noise=0.0, seed=0)
    x = np.concatenate([ds.x_train, ds.x_test])
    y = np.concatenate([ds.y_train, ds.y_test])
    np.testing.assert_array_equal(y, (x[:, 0] * x[:, 1] < 0).astype(np.int64))
    sp = load("spirals", n_classes=3, noise=0.0, n_train=300, n_test=0, seed=0)
    assert sp.n_classes == 3 and np.bincount(sp.y_train).tolist() == [100, 100, 100]
    r = np.hypot(sp.x_train[:, 0], sp.x_train[:, 1])
    assert r.min() >= 0.05 - 1e-6 and r.max() <= 1 + 1e-6


def test_normalize_uses_training_statistics_only():
    ds = load("moons", normalize="standardize", seed=4)
    raw = load("moons", normalize="none", seed=4)
    np.testing.assert_allclose(ds.x_train.mean(0), 0, atol=1e-6)
    np.testing.assert_allclose(ds.x_train.std(0), 1, atol=1e-5)
    mu, sd = raw.x_train.mean(0), raw.x_train.std(0)
    np.testing.assert_allclose(ds.x_test, (raw.x_test - mu) / sd, rtol=1e-5, atol=1e-5)
    unit = load("moons", normalize="unit", seed=4)
    assert unit.x_train.min() == 0 and unit.x_train.max() == 1
    lo, hi = raw.x_train.min(0), raw.x_train.max(0)
    np.testing.assert_allclose(unit.x_test, (raw.x_test - lo) / (hi - lo), atol=1e-6)


def test_one_hot_and_float64():
    ds = load("circles", one_hot=True, dtype="float64", n_train=10, n_test=5)
    assert ds.x_train.dtype == np.float64 and ds.y_train.dtype == np.float64
    assert ds.y_train.shape == (10, 2)
    np.testing.assert_array_equal(ds.y_train.sum(1), 1)
    lab = load("circles", n_train=10, n_test=5)
    np.testing.assert_array_equal(ds.y_train.argmax(1), lab.y_train)


def test_digits_scaled_and_optionally_unflattened():
    ds = load("digits")
    assert (ds.n_train, ds.n_test, ds.n_classes) == (1437, 360, 10)
    assert ds.x_train.shape[1] == 64 and ds.x_train.min() == 0 and ds.x_train.max() == 1
    img = load("digits", flatten=False, normalize="none", split="all:100/50")
    assert img.x_train.shape == (100, 8, 8) and img.x_train.max() == 16
    np.testing.assert_array_equal(img.x_train.reshape(100, 64) / 16, ds.x_train[:100])


def test_dataset_is_frozen_and_provenance_is_json():
    ds = load("xor", n_train=5, n_test=5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ds.x_train = ds.x_test  # type: ignore[misc]
    text = json.dumps(ds.provenance)
    assert "initlab.data.synthetic.xor" in text and '"seed": 0' in text
    assert "n_train=5" in repr(ds)


@pytest.mark.parametrize(
    "kwargs, error, pattern",
    [
        ({"name": "mnsit"}, DataError, "did you mean 'mnist'.*Allowed: blobs"),
        ({"name": "moons", "nosie": 0.1}, ConfigError, "did you mean 'noise'.*Allowed"),
        ({"name": "moons", "data_dir": "/x"}, ConfigError, "unknown option.*'data_dir'"),
        ({"name": "moons", "normalize": "zscore"}, ConfigError, "Allowed: none, standardize"),
        ({"name": "moons", "dtype": "int32"}, ConfigError, "allowed: float32, float64"),
        ({"name": "moons", "n_train": -1}, ConfigError, "non-negative int"),
        ({"name": "moons", "split": "8000/2000"}, ConfigError, "SOURCE:A/B"),
        ({"name": "moons", "split": "test:10/5"}, ConfigError, "no part 'test'; allowed: all"),
        ({"name": "digits", "split": "all:1700/200"}, ConfigError, "has 1797"),
        ({"name": "digits", "n_train": 5000}, ConfigError, "only 1437"),
        ({"name": "moons", "noise": -0.1}, ConfigError, r"noise=-0.1 must be a finite number >= 0"),
        ({"name": "circles", "factor": 1.5}, ConfigError, r"factor=1.5 must be .* \(0, 1\)"),
        ({"name": "blobs", "n_classes": 2.5}, ConfigError, "n_classes=2.5 must be an int"),
        ({"name": "spirals", "n_classes": "3"}, ConfigError, "n_classes='3'"),
    ],
)
def test_user_mistakes_are_clear_errors(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        load(**kwargs)


def test_split_syntax():
    assert parse_split("test:8000/2000") == ("test", 8000, 2000)
    assert parse_split(" all : 10 / * ") == ("all", 10, None)
    assert parse_split("train:5") == ("train", 5, None)
    for bad in ("test", "test:", "test:-1/2", "test:1/2/3", "Test:1/2", ":1/2"):
        with pytest.raises(ConfigError):
            parse_split(bad)


# ---- the MNIST family from generated files (no hashes to match: verify=False) ----


@pytest.fixture()
def fake_mnist(tmp_path):
    rng = np.random.default_rng(1)
    arrays = {
        "train": (rng.integers(0, 256, (30, 28, 28), dtype=np.uint8),
                  rng.integers(0, 10, 30, dtype=np.uint8)),
        "test": (rng.integers(0, 256, (12, 28, 28), dtype=np.uint8),
                 rng.integers(0, 10, 12, dtype=np.uint8)),
    }
    for part, (x, y) in arrays.items():
        write_idx(tmp_path / PART_FILES[part][0], x)
        write_idx(tmp_path / PART_FILES[part][1], y)
    return tmp_path, arrays


def test_mnist_like_default_split_and_scaling(fake_mnist):
    folder, arrays = fake_mnist
    ds = load("fashion_mnist", data_dir=folder, verify=False, download=False)
    assert (ds.n_train, ds.n_test) == (30, 12) and ds.x_train.shape[1] == 784
    assert ds.x_train.dtype == np.float32 and ds.x_train.max() <= 1 and ds.x_train.min() >= 0
    expected = arrays["train"][0].reshape(30, 784) / 255.0
    np.testing.assert_allclose(ds.x_train, expected, rtol=1e-7, atol=0)
    np.testing.assert_array_equal(ds.y_test, arrays["test"][1])
    assert [f["verified"] for f in ds.provenance["files"]] == [False] * 4


def test_mnist_like_splits_and_counts(fake_mnist):
    folder, arrays = fake_mnist
    opts = dict(data_dir=folder, verify=False, download=False, normalize="none")
    ds = load("kmnist", split="all:35/5", flatten=False, **opts)
    assert ds.x_train.shape == (35, 28, 28) and ds.x_test.shape == (5, 28, 28)
    np.testing.assert_array_equal(ds.x_train[30:], arrays["test"][0][:5])
    np.testing.assert_array_equal(ds.y_test, arrays["test"][1][5:10])
    ds = load("kmnist", n_train=4, n_test=3, **opts)
    np.testing.assert_array_equal(ds.y_train, arrays["train"][1][:4])
    ds = load("kmnist", split="test:8", **opts)
    assert (ds.n_train, ds.n_test) == (8, 4)


def test_raw_gunzipped_files_are_read(fake_mnist):
    folder, arrays = fake_mnist
    for part in ("test",):
        for name in PART_FILES[part]:
            gz = folder / name
            gz.with_suffix("").write_bytes(gzip.decompress(gz.read_bytes()))
            gz.unlink()
    ds = load("mnist", data_dir=folder, verify=False, download=False, split="test:10/2")
    np.testing.assert_array_equal(ds.y_train, arrays["test"][1][:10])
    assert ds.provenance["files"][0]["name"] == "t10k-images-idx3-ubyte"


def test_keras_npz_is_read_when_idx_files_are_absent(fake_mnist, tmp_path_factory):
    _, arrays = fake_mnist
    folder = tmp_path_factory.mktemp("npz")
    np.savez(folder / "mnist.npz", x_train=arrays["train"][0], y_train=arrays["train"][1],
             x_test=arrays["test"][0], y_test=arrays["test"][1])
    ds = load("mnist", data_dir=folder, verify=False, download=False)
    assert (ds.n_train, ds.n_test) == (30, 12)
    np.testing.assert_array_equal(ds.y_train, arrays["train"][1])
    with pytest.raises(DataError, match="mnist.npz has sha256 .* expected 731c5ac6"):
        load("mnist", data_dir=folder, download=False)
    np.savez(folder / "mnist.npz", x_train=arrays["train"][0])
    with pytest.raises(DataError, match="lacks y_train"):
        load("mnist", data_dir=folder, verify=False, download=False)
    pickled = np.array([object()], dtype=object)
    np.savez(folder / "mnist.npz", x_train=pickled, y_train=pickled, x_test=pickled,
             y_test=pickled)
    with pytest.raises(DataError, match="not a readable .npz"):
        load("mnist", data_dir=folder, verify=False, download=False)


def test_missing_files_name_themselves_and_where(fake_mnist):
    folder, _ = fake_mnist
    for name in PART_FILES["train"]:
        (folder / name).unlink()
    with pytest.raises(DataError) as e:
        load("mnist", data_dir=folder, download=False, verify=False)
    msg = str(e.value)
    assert all(n in msg for n in PART_FILES["train"]) and str(folder) in msg
    assert "initlab datasets fetch mnist" in msg and "t10k" not in msg.split(".")[0]
    ds = load("mnist", data_dir=folder, download=False, verify=False, split="test:8/4")
    assert ds.n_train == 8


def test_generated_files_fail_the_published_hash(fake_mnist):
    folder, _ = fake_mnist
    with pytest.raises(DataError) as e:
        load("mnist", data_dir=folder, download=False, split="test:8/4")
    assert "t10k-images-idx3-ubyte.gz" in str(e.value)
    assert MNIST.file("t10k-images-idx3-ubyte.gz").sha256 in str(e.value)


def test_corrupt_file_is_named(fake_mnist):
    folder, _ = fake_mnist
    path = folder / PART_FILES["test"][0]
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz"):
        load("mnist", data_dir=folder, download=False, verify=False, split="test:8/4")


def test_info_describes_sizes():
    assert (info("mnist").n_train, info("mnist").n_test) == (60_000, 10_000)
    assert (info("moons").n_train, info("moons").n_test) == (400, 100)


def test_normalize_function_never_scales_shared_memory_twice():
    from initlab.data.prepare import normalize

    x = np.array([[0.0, 10.0], [2.0, 30.0]])
    tr, te = normalize(x, x, "standardize")
    np.testing.assert_allclose(tr, te)
    np.testing.assert_allclose(te.std(0), [1.0, 1.0])
    tr, te = normalize(np.array([[0], [255]], np.uint8), np.array([[51]], np.uint8), "unit", 255)
    assert tr.dtype == np.float32 and te.tolist() == [[np.float32(51) / np.float32(255)]]


def test_synthetic_split_and_empty_test():
    ds = load("moons", split="all:300/50", seed=5)
    assert (ds.n_train, ds.n_test) == (300, 50)
    ds = load("moons", n_test=0)
    assert ds.x_test.shape == (0, 2) and ds.y_test.shape == (0,)


@pytest.mark.parametrize(("name", "n_train", "n_test"), [("moons", 400, 100), ("circles", 300, 77),
                                                         ("blobs", 301, 50)])
def test_synthetic_splits_keep_the_classes_in_proportion(name, n_train, n_test):
    ds = load(name, n_train=n_train, n_test=n_test, seed=3)
    k = ds.n_classes
    for y, n in ((ds.y_train, n_train), (ds.y_test, n_test)):
        counts = np.bincount(y, minlength=k)
        assert counts.sum() == n
        assert counts.max() - counts.min() <= 1, counts  # generators balance the pool


def test_default_moons_is_seed_002s_balanced_200_200():
    ds = load("moons")
    assert np.bincount(ds.y_train).tolist() == [200, 200]
    assert np.bincount(ds.y_test).tolist() == [50, 50]
