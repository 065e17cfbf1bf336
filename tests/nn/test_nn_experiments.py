"""The seed articles' experiments, end to end: seed 002 (moons) and seed 000 (MNIST)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from initlab.data import load
from initlab.data.synthetic import moons
from initlab.nn import Dense, Sequential

LN2 = math.log(2)


@pytest.mark.slow
def test_seed_002_moons_zeros_large_normal_and_he_as_one_ensemble():
    # seed 002: make_moons 400 train / 100 test (drawn separately), noise 0.2; 12-6-1
    # relu, relu, sigmoid; full-batch gradient descent, lr 0.01, 15,000 epochs. The output
    # layer keeps its own init, as in the article (the scheme goes to the hidden layers).
    x, y = moons(400, rng=0, noise=0.2)
    xt, yt = moons(100, rng=1, noise=0.2)
    schemes = ["zeros", "normal(std=10)", "he_normal"]
    inits = [s for s in schemes for _ in range(5)]
    model = Sequential([Dense(12, activation="relu"), Dense(6, activation="relu"),
                        Dense(1, activation="sigmoid", init="glorot_uniform")],
                       input_dim=2, n_models=15, inits=inits, seeds=list(range(5)) * 3)
    h = model.fit(x, y, epochs=15000, batch_size=None, optimizer="sgd", log_every=1000)
    assert h.epochs.tolist() == [*range(0, 15000, 1000), 14999]
    assert not h.diverged.any()
    zeros, large, he = slice(0, 5), slice(5, 10), slice(10, 15)
    # zeros: the cost is ln 2 at every logged epoch and the accuracy 50 %
    np.testing.assert_allclose(h.loss[:, zeros], LN2, atol=1e-6)
    np.testing.assert_allclose(h.accuracy[:, zeros], 0.5)
    test_acc = model.evaluate(xt, yt)["accuracy"]
    np.testing.assert_allclose(test_acc[zeros], 0.5)
    # normal(std=10): a large cost that falls slowly
    assert (h.loss[0, large] > 2.0).all()
    assert (h.loss[-1, large] < h.loss[0, large]).all()
    assert h.loss[:, large].mean() > 2 * h.loss[:, he].mean()
    # he_normal: mean test accuracy >= 0.93 over 5 seeds
    assert test_acc[he].mean() >= 0.93
    assert (h.loss[-1, he] < 0.2).all()


def test_seed_000_mnist_zeros_he_glorot(shared_mnist_dir):
    ds = load("mnist", data_dir=shared_mnist_dir, split="test:8000/2000", download=False)
    assert ds.x_train.shape == (8000, 784) and float(ds.x_train.max()) <= 1.0
    model = Sequential([Dense(128, activation="relu"), Dense(64, activation="relu"),
                        Dense(10, activation="softmax")], input_dim=784, n_models=3,
                       inits=["zeros", "he_normal", "glorot_uniform"], seeds=[0, 0, 0])
    h = model.fit(ds.x_train, ds.y_train, epochs=5, batch_size=32, optimizer="adam",
                  validation_data=(ds.x_test, ds.y_test), seed=0)
    majority = np.bincount(ds.y_test).max() / len(ds.y_test)
    assert majority == pytest.approx(0.115)
    acc = h.val_accuracy[-1]
    assert acc[0] == pytest.approx(majority)
    np.testing.assert_allclose(h.loss[:, 0], math.log(10), atol=0.01)
    np.testing.assert_allclose(h.val_loss[:, 0], math.log(10), atol=0.01)
    assert acc[1] >= 0.93 and acc[2] >= 0.93
    assert (h.loss[-1, 1:] < h.loss[0, 1:]).all()
