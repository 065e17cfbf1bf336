"""Orthogonal, delta_orthogonal, identity, ZerO and sparse: exact structure."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from scipy.linalg import hadamard

from initlab.errors import ShapeError
from initlab.init import get

ORTHO_SHAPES = [(64, 16), (16, 64), (32, 32), (3, 3, 16, 32), (5, 8, 4)]


@pytest.mark.parametrize(
    "spec", ["orthogonal", "keras:orthogonal", "torch:orthogonal", "jax:orthogonal"]
)
@pytest.mark.parametrize("shape", ORTHO_SHAPES)
def test_orthogonal_is_orthogonal(spec, shape):
    w = get(spec)(shape, rng=0)
    assert w.shape == shape and w.dtype == np.float32
    m = w.reshape(-1, shape[-1]).astype(np.float64)
    gram = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T
    np.testing.assert_allclose(gram, np.eye(gram.shape[0]), atol=1e-5)
    assert not np.array_equal(w, get(spec)(shape, rng=1))
    np.testing.assert_array_equal(w, get(spec)(shape, rng=0))


def test_orthogonal_gain_and_predicted_std():
    w = get("orthogonal(gain=2)")((50, 20), rng=0).astype(np.float64)
    np.testing.assert_allclose(w.T @ w, 4 * np.eye(20), atol=1e-4)
    # mean square is exactly gain^2 / max(rows, cols)
    assert np.mean(w**2) == pytest.approx(4 / 50, rel=1e-5)
    assert get("orthogonal(gain=2)").std((50, 20)) == pytest.approx(2 / math.sqrt(50))


def test_orthogonal_is_haar_distributed():
    # an entry of a Haar-random 2 x 2 rotation/reflection is cos(theta), theta ~ U(0, 2 pi)
    ini = get("orthogonal")
    rng = np.random.default_rng(0)
    x = np.array([ini((2, 2), rng=rng, dtype=np.float64)[0, 0] for _ in range(3000)])
    assert stats.kstest(x, stats.arcsine(loc=-1, scale=2).cdf).pvalue > 1e-3


@pytest.mark.parametrize("spec", ["delta_orthogonal", "jax:delta_orthogonal(scale=1.0)"])
@pytest.mark.parametrize("shape", [(3, 4, 8), (3, 3, 16, 32), (3, 3, 3, 8, 8), (4, 4, 2, 2)])
def test_delta_orthogonal(spec, shape):
    w = get(spec)(shape, rng=0).astype(np.float64)
    centre = tuple((k - 1) // 2 for k in shape[:-2])
    m = w[centre]
    np.testing.assert_allclose(m @ m.T, np.eye(shape[-2]), atol=1e-5)
    rest = w.copy()
    rest[centre] = 0
    assert not rest.any()


@pytest.mark.parametrize("shape", [(16, 32), (3, 3, 32, 16), (3, 3, 3, 3, 3, 4, 4)])
def test_delta_orthogonal_rejects_bad_shapes(shape):
    with pytest.raises(ShapeError, match=str(shape[-1])):
        get("delta_orthogonal")(shape, rng=0)


def test_identity_conv_is_centre_tap():
    w = get("identity(2)")((3, 3, 4, 6))
    expected = np.zeros((3, 3, 4, 6), dtype=np.float32)
    expected[1, 1] = 2 * np.eye(4, 6)
    np.testing.assert_array_equal(w, expected)
    with pytest.raises(ShapeError, match="rank"):
        get("identity")((5,))


def _zero_expected(fan_in: int, fan_out: int) -> np.ndarray:
    """ZerO (Zhao et al. 2021, Algorithm 1), written in the paper's (out, in) notation."""
    if fan_out <= fan_in:
        w = np.zeros((fan_out, fan_in))
        for i in range(fan_out):
            w[i, i] = 1.0
        return w.T
    m = math.ceil(math.log2(fan_out))
    c = 2.0 ** (-(m - 1) / 2)
    i_left = np.eye(fan_out, 2**m)
    i_right = np.eye(2**m, fan_in)
    return (c * i_left @ hadamard(2**m) @ i_right).T


@pytest.mark.parametrize("shape", [(8, 8), (10, 4), (4, 10), (3, 100), (1, 1), (7, 16)])
def test_zero_init_is_exact(shape):
    w = get("zero_init")(shape, rng=0, dtype=np.float64)
    np.testing.assert_array_equal(w, _zero_expected(*shape))
    np.testing.assert_array_equal(get("zero_init")(shape, rng=1, dtype=np.float64), w)


def test_zero_init_conv_and_values():
    w = get("zero_init")((3, 3, 4, 12), dtype=np.float64)
    np.testing.assert_array_equal(w[1, 1], _zero_expected(4, 12))
    w[1, 1] = 0
    assert not w.any()
    # only zeros, ones and +-c appear
    vals = set(np.unique(np.abs(get("zero_init")((5, 9), dtype=np.float64))).tolist())
    assert vals <= {0.0, 1.0, 2.0 ** (-(4 - 1) / 2)}


@pytest.mark.parametrize(
    "spec,axis", [("sparse(0.3, std=0.02)", 0), ("torch:sparse(0.3, std=0.02)", 1)]
)
def test_sparse_has_exact_zero_count_and_normal_rest(spec, axis):
    shape = (200, 150)
    w = get(spec)(shape, rng=0, dtype=np.float64)
    length = shape[axis]
    zeros = (w == 0).sum(axis=axis)
    assert (zeros == math.ceil(0.3 * length)).all()
    nz = w[w != 0]
    assert stats.kstest(nz, stats.norm(0, 0.02).cdf).pvalue > 1e-3
    assert get(spec).std(shape) == pytest.approx(
        0.02 * math.sqrt(1 - math.ceil(0.3 * length) / length)
    )
    assert not np.array_equal(w, get(spec)(shape, rng=1, dtype=np.float64))
