"""One contract for every scheme: shape, dtype, determinism, variance, bounds, KS test.

Expected distributions are written here from the papers' formulas (seed 003, Glorot & Bengio
2010, He et al. 2015, LeCun et al. 1998) and the libraries' documented definitions, with
scipy.stats, independently of initlab's code.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from initlab.init import get, schemes

SHAPE = (300, 200)  # fan_in 300, fan_out 200, n = 60000 samples
FI, FO = 300, 200
CONV = (3, 3, 16, 32)  # fan_in 144, fan_out 288
T2 = stats.truncnorm(-2, 2).std()  # std of N(0, 1) truncated to [-2, 2]


def U(b: float, lo: float | None = None):
    """U(-b, b), or U(lo, b) when lo is given."""
    lo = -b if lo is None else lo
    return stats.uniform(lo, b - lo)


def N(std: float, mean: float = 0.0):
    return stats.norm(mean, std)


def TN(std_after: float):
    """Normal truncated at +-2 sigma whose std after truncation is std_after (corrected)."""
    return stats.truncnorm(-2, 2, scale=std_after / T2)


# spec -> (shape, the distribution each element should follow)
RANDOM = {
    "uniform": (SHAPE, U(1.0)),
    "uniform(-0.05, 0.05)": (SHAPE, U(0.05)),
    "normal": (SHAPE, N(1.0)),
    "normal(0.5, std=0.1)": (SHAPE, N(0.1, 0.5)),
    "truncated_normal(std=0.05)": (SHAPE, TN(0.05)),
    "truncated_normal(mean=1, std=2, lower=-1, upper=3, corrected=False)": (
        SHAPE,
        stats.truncnorm(-1, 3, loc=1, scale=2),
    ),
    "random_uniform": (SHAPE, U(0.05)),
    "random_normal": (SHAPE, N(0.05)),
    "glorot_uniform": (SHAPE, U(math.sqrt(6 / (FI + FO)))),
    "xavier_uniform": (SHAPE, U(math.sqrt(6 / (FI + FO)))),
    "glorot_normal": (SHAPE, N(math.sqrt(2 / (FI + FO)))),
    "xavier_normal": (SHAPE, N(math.sqrt(2 / (FI + FO)))),
    "he_uniform": (SHAPE, U(math.sqrt(6 / FI))),
    "kaiming_uniform": (SHAPE, U(math.sqrt(6 / FI))),
    "he_normal": (SHAPE, N(math.sqrt(2 / FI))),
    "kaiming_normal": (SHAPE, N(math.sqrt(2 / FI))),
    "he_normal(truncated=True)": (SHAPE, TN(math.sqrt(2 / FI))),
    "he_normal conv": (CONV, N(math.sqrt(2 / 144))),
    "glorot_uniform conv": (CONV, U(math.sqrt(6 / (144 + 288)))),
    "lecun_uniform": (SHAPE, U(math.sqrt(3 / FI))),
    "lecun_normal": (SHAPE, N(math.sqrt(1 / FI))),
    "lecun_normal(truncated=True)": (SHAPE, TN(math.sqrt(1 / FI))),
    "glorot_normal(truncated=True)": (SHAPE, TN(math.sqrt(2 / (FI + FO)))),
    "variance_scaling": (SHAPE, N(math.sqrt(1 / FI))),
    "variance_scaling(scale=2, mode=fan_out, distribution=uniform)": (SHAPE, U(math.sqrt(6 / FO))),
    "variance_scaling(3, fan_geo_avg, truncated_normal)": (
        SHAPE,
        TN(math.sqrt(3 / math.sqrt(FI * FO))),
    ),
    "variance_scaling(0.5, fan_avg, normal, fan_rule=keras)": (SHAPE, N(math.sqrt(0.5 / 250))),
    # Keras 3: *_normal truncated at 2 sigma and corrected; plain truncated_normal uncorrected
    "keras:random_uniform": (SHAPE, U(0.05)),
    "keras:uniform": (SHAPE, U(0.05)),
    "keras:random_normal(mean=0.1, stddev=0.2)": (SHAPE, N(0.2, 0.1)),
    "keras:normal": (SHAPE, N(0.05)),
    "keras:truncated_normal": (SHAPE, stats.truncnorm(-2, 2, scale=0.05)),
    "keras:glorot_uniform": (SHAPE, U(math.sqrt(6 / (FI + FO)))),
    "keras:glorot_normal": (SHAPE, TN(math.sqrt(2 / (FI + FO)))),
    "keras:he_uniform": (SHAPE, U(math.sqrt(6 / FI))),
    "keras:he_normal": (SHAPE, TN(math.sqrt(2 / FI))),
    "keras:lecun_uniform": (SHAPE, U(math.sqrt(3 / FI))),
    "keras:lecun_normal": (SHAPE, TN(math.sqrt(1 / FI))),
    "keras:variance_scaling": (SHAPE, TN(math.sqrt(1 / FI))),
    "keras:variance_scaling(2, fan_avg, untruncated_normal)": (SHAPE, N(math.sqrt(2 / 250))),
    "keras:he_normal vector": ((50000,), TN(math.sqrt(2 / 50000))),
    # torch.nn.init, in initlab's (fan_in, fan_out) layout
    "torch:uniform": (SHAPE, U(1.0, 0.0)),
    "torch:normal": (SHAPE, N(1.0)),
    "torch:trunc_normal(std=0.1, a=-0.1, b=0.3)": (SHAPE, stats.truncnorm(-1, 3, scale=0.1)),
    "torch:xavier_uniform": (SHAPE, U(math.sqrt(6 / (FI + FO)))),
    "torch:xavier_uniform(gain=2)": (SHAPE, U(2 * math.sqrt(6 / (FI + FO)))),
    "torch:xavier_normal(gain=0.5)": (SHAPE, N(0.5 * math.sqrt(2 / (FI + FO)))),
    "torch:kaiming_uniform": (SHAPE, U(math.sqrt(2) * math.sqrt(3 / FI))),
    "torch:kaiming_uniform(nonlinearity=tanh)": (SHAPE, U(5 / 3 * math.sqrt(3 / FI))),
    "torch:kaiming_normal(a=0.1, mode=fan_out)": (SHAPE, N(math.sqrt(2 / 1.01) / math.sqrt(FO))),
    "torch:kaiming_normal(nonlinearity=relu)": (SHAPE, N(math.sqrt(2 / FI))),
    "torch:linear_default": (SHAPE, U(1 / math.sqrt(FI))),
    "torch:linear_default conv": (CONV, U(1 / math.sqrt(144))),
    # jax.nn.initializers
    "jax:uniform": (SHAPE, U(0.01, 0.0)),
    "jax:uniform(scale=3)": (SHAPE, U(3.0, 0.0)),
    "jax:normal": (SHAPE, N(0.01)),
    "jax:truncated_normal(stddev=1, lower=-1, upper=2)": (SHAPE, stats.truncnorm(-1, 2)),
    "jax:truncated_normal": (SHAPE, stats.truncnorm(-2, 2, scale=0.01)),
    "jax:variance_scaling(1, fan_geo_avg, uniform)": (SHAPE, U(math.sqrt(3 / math.sqrt(FI * FO)))),
    "jax:glorot_uniform": (SHAPE, U(math.sqrt(6 / (FI + FO)))),
    "jax:xavier_normal": (SHAPE, TN(math.sqrt(2 / (FI + FO)))),
    "jax:he_normal": (SHAPE, TN(math.sqrt(2 / FI))),
    "jax:kaiming_uniform": (SHAPE, U(math.sqrt(6 / FI))),
    "jax:lecun_normal": (SHAPE, TN(math.sqrt(1 / FI))),
    "jax:lecun_uniform": (SHAPE, U(math.sqrt(3 / FI))),
}

# spec -> (shape, the exact array)
DETERMINISTIC = {
    "zeros": ((4, 3), np.zeros((4, 3))),
    "ones": ((4, 3), np.ones((4, 3))),
    "constant(0.3)": ((5,), np.full(5, 0.3)),
    "constant": ((2, 2), np.zeros((2, 2))),
    "keras:zeros": ((3,), np.zeros(3)),
    "keras:ones": ((3,), np.ones(3)),
    "keras:constant(value=-2)": ((2, 3), np.full((2, 3), -2.0)),
    "torch:zeros": ((3, 2), np.zeros((3, 2))),
    "torch:ones": ((3, 2), np.ones((3, 2))),
    "torch:constant(val=4)": ((3, 2), np.full((3, 2), 4.0)),
    "jax:zeros": ((3, 2), np.zeros((3, 2))),
    "jax:ones": ((3, 2), np.ones((3, 2))),
    "jax:constant(1.5)": ((3, 2), np.full((3, 2), 1.5)),
    "identity": ((3, 4), np.eye(3, 4)),
    "identity(gain=2)": ((4, 3), 2 * np.eye(4, 3)),
    "keras:identity(0.5)": ((3, 3), 0.5 * np.eye(3)),
    "torch:eye": ((2, 5), np.eye(2, 5)),
}

# schemes whose law is not a simple scipy distribution: tested in test_init_structured.py
STRUCTURED = {
    "orthogonal",
    "keras:orthogonal",
    "torch:orthogonal",
    "jax:orthogonal",
    "delta_orthogonal",
    "jax:delta_orthogonal",
    "zero_init",
    "sparse",
    "torch:sparse",
    "torch:dirac",  # tested in test_init_peer_ports.py, with PyTorch's own assertions
}


def _spec(key: str) -> str:
    """The spec of a table key ("he_normal conv" is he_normal on a conv shape)."""
    head, _, tail = key.rpartition(" ")
    return head if tail in ("conv", "vector") else key


def test_every_registered_scheme_is_under_contract():
    covered = {get(_spec(k)).name for k in [*RANDOM, *DETERMINISTIC]} | STRUCTURED
    missing = [s.name for s in schemes() if s.name not in covered]
    assert not missing, f"schemes without a contract test: {missing}"


@pytest.mark.parametrize("key", sorted(RANDOM))
def test_random_scheme_contract(key):
    shape, dist = RANDOM[key]
    ini = get(_spec(key))
    w = ini(shape, rng=0)
    assert w.shape == shape and w.dtype == np.float32
    w64 = ini(shape, rng=0, dtype=np.float64)
    assert w64.dtype == np.float64
    assert np.array_equal(w, ini(shape, rng=0))
    assert np.array_equal(w, ini(shape, rng=np.random.default_rng(0)))
    assert not np.array_equal(w, ini(shape, rng=1))

    # the predicted std is the distribution's
    assert ini.std(shape) == pytest.approx(dist.std(), rel=1e-9)
    # sample variance within 6 standard errors: SE(s^2)/sigma^2 = sqrt((kurtosis + 2) / n)
    x = w64.ravel()
    n = x.size
    kurt = float(dist.stats(moments="k"))
    tol = 6 * math.sqrt((kurt + 2) / n)
    assert x.var() / dist.var() == pytest.approx(1.0, abs=tol)
    # bounds of bounded laws (uniform and truncated draws)
    lo, hi = dist.support()
    if np.isfinite(lo):
        assert w.min() >= np.float32(lo) - 1e-6 * max(1.0, abs(lo))
    if np.isfinite(hi):
        assert w.max() <= np.float32(hi) + 1e-6 * max(1.0, abs(hi))
    # the whole law: one-sample KS at a fixed seed
    assert stats.kstest(x, dist.cdf).pvalue > 1e-3


@pytest.mark.parametrize("key", sorted(DETERMINISTIC))
def test_deterministic_scheme_is_exact(key):
    shape, expected = DETERMINISTIC[key]
    ini = get(key)
    w = ini(shape, rng=0)
    assert w.dtype == np.float32 and w.shape == shape
    np.testing.assert_array_equal(w, expected.astype(np.float32))
    np.testing.assert_array_equal(ini(shape, rng=5, dtype=np.float64), expected)
    assert ini.std(shape) == pytest.approx(float(np.std(expected)), abs=1e-12)


@pytest.mark.parametrize("key", sorted(RANDOM)[::7] + sorted(DETERMINISTIC)[::5])
def test_describe_names_the_scheme(key):
    shape = RANDOM.get(key, DETERMINISTIC.get(key))[0]
    ini = get(_spec(key))
    text = ini.describe(shape)
    assert text.startswith(ini.name + ": ")


def test_he_normal_describe_matches_the_contract():
    assert get("he_normal").describe((784, 128)) == (
        "he_normal: N(0, sigma) with sigma = sqrt(2 / fan_in) = sqrt(2 / 784) = 0.0505"
    )


def test_biases_are_zero_except_torch_linear_default():
    for spec in ["he_normal", "glorot_uniform", "orthogonal", "torch:kaiming_uniform", "zeros"]:
        b = get(spec).bias(784, 10, rng=0)
        assert b.shape == (10,) and b.dtype == np.float32 and not b.any()
    b = get("torch:linear_default").bias(100, 20000, rng=0, dtype=np.float64)
    assert b.dtype == np.float64 and np.abs(b).max() <= 0.1
    assert stats.kstest(b, stats.uniform(-0.1, 0.2).cdf).pvalue > 1e-3
    assert not get("torch:linear_default").bias(0, 3).any()


@pytest.mark.parametrize("spec", ["he_normal", "orthogonal", "sparse", "zero_init", "identity"])
def test_rank_one_shapes_are_shape_errors_naming_the_scheme(spec):
    from initlab.errors import ShapeError

    with pytest.raises(ShapeError, match=rf"{spec}.*\(5,\)"):
        get(spec)((5,))


@pytest.mark.parametrize("spec", ["he_normal", "glorot_uniform", "orthogonal", "normal", "sparse"])
def test_empty_shapes_give_empty_arrays(spec):
    assert get(spec)((0, 5), rng=0).shape == (0, 5)
    assert get(spec)((3, 0), rng=0).shape == (3, 0)


def test_dtype_and_rng_mistakes_are_initlab_errors():
    from initlab.errors import ShapeError, SpecError

    assert get("he_normal(truncated=True)")((4, 4), dtype="float16").dtype == np.float16
    with pytest.raises(SpecError, match="int32"):
        get("zeros")((2,), dtype="int32")
    with pytest.raises(SpecError, match="-1"):
        get("normal")((2,), rng=-1)
    with pytest.raises(ShapeError, match="-1"):
        get("normal")((3, -1))
