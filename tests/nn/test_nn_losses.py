"""Losses: values against their textbook formulas, small and large (vectorized) paths."""

from __future__ import annotations

import numpy as np
import pytest

from initlab.nn.losses import get


@pytest.mark.parametrize("K, n", [(1, 7), (50, 200)])  # below and above the SIMD-path size
def test_binary_cross_entropy_value_and_gradient(K, n):
    rng = np.random.default_rng(K)
    z = rng.normal(scale=20, size=(K, n, 1))
    y = rng.integers(0, 2, n)
    loss = get("binary_crossentropy")
    t = loss.targets(y, 1, np.float64)
    g = np.empty_like(z)
    got = loss.value_and_grad(z, z, t, g)
    p = 1 / (1 + np.exp(-z[..., 0]))
    want = np.mean(np.logaddexp(0, z[..., 0]) - y * z[..., 0], axis=1)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_allclose(g[..., 0], (p - y) / n, atol=1e-15)


@pytest.mark.parametrize("K, n, d", [(1, 5, 3), (30, 128, 10)])
def test_categorical_cross_entropy_value_and_gradient(K, n, d):
    rng = np.random.default_rng(d)
    z = rng.normal(scale=5, size=(K, n, d))
    y = rng.integers(0, d, n)
    loss = get("categorical_crossentropy")
    t = loss.targets(y, d, np.float64)
    g = np.empty_like(z)
    got = loss.value_and_grad(z, z, t, g, scale=-0.5)
    lse = np.log(np.exp(z).sum(axis=-1))
    want = np.mean(lse - z[:, np.arange(n), y], axis=1)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    soft = np.exp(z - lse[..., None])
    np.testing.assert_allclose(g, -0.5 * (soft - np.eye(d)[y]) / n, atol=1e-15)


def test_mse_value():
    a = np.arange(6.0).reshape(1, 3, 2)
    loss = get("mse")
    t = loss.targets(np.ones((3, 2)), 2, np.float64)
    np.testing.assert_allclose(loss.value_and_grad(a, a, t, None), [np.mean((a - 1) ** 2)])
