"""The peers' own initializer tests, rewritten for initlab's flavors (not copied).

PyTorch's ``test/nn/test_init.py`` (class TestNNInit) and Keras 3's
``keras/src/initializers/constant_initializers_test.py`` and
``random_initializers_test.py``, and JAX's ``tests/nn_test.py`` initializer tests: each test
below states the assertion it ports. Shapes are
in initlab's layout (a dense kernel (in, out), a conv kernel (*k, in, out)): PyTorch's
(out, in, *k) tensor of the same layer is the transpose, and its fans are the same numbers.
Where PyTorch raises ValueError, initlab raises ShapeError or SpecError (both ValueError).

Read against PyTorch's test_init.py (TestNNInit and TestNNInitDeviceType, 2026), Keras 3's
random_initializers_test.py and constant_initializers_test.py, and JAX's
NNInitializersTest. Not ported, because initlab has no such feature: PyTorch's deprecation
warning for un-suffixed names; Keras's Constant with an array value, STFTInitializer, its
``input_axes`` / ``output_axes`` fans (compute_fans with axes, the MultiHeadAttention
kernel) and SeedGenerator serialization; JAX's ``in_axis`` / ``out_axis`` / ``batch_axis``,
complex dtypes and dtype-at-construction providers. JAX's own tests check shapes and
dtypes only; its flavors' values are tested here against jax.nn.initializers' documented
distributions (and against real JAX in test_init_vs_keras_jax.py).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from initlab.errors import ShapeError, SpecError
from initlab.init import gain, get

P = 1e-4  # the KS p-value floor (PyTorch's _is_*: p > 0.0001)


def _torch_layout_fans(shape_initlab):
    """PyTorch's _calculate_fan_in_and_fan_out on the same layer (transposed shape)."""
    *k, i, o = shape_initlab
    rf = math.prod(k)
    return i * rf, o * rf


SHAPES = [(30, 40), (40, 30), (3, 20, 30), (3, 3, 10, 20), (2, 3, 3, 6, 8)]


# ---------------------------------------------------------------- PyTorch: calculate_gain
def test_torch_calculate_gain_linear_and_nonlinear():
    for fn in ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
               "conv_transpose3d", "sigmoid"):
        assert gain(fn) == 1
    assert gain("tanh") == pytest.approx(5 / 3)
    assert gain("relu") == pytest.approx(math.sqrt(2))
    assert gain("selu") == pytest.approx(3 / 4)
    assert gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01**2)))
    for a in (0, 1, 2, 5, 0.3):
        assert gain("leaky_relu", a) == pytest.approx(math.sqrt(2 / (1 + a**2)))


def test_torch_calculate_gain_rejects_bad_params_and_names():
    with pytest.raises(SpecError):
        gain("leaky_relu", "0.2")
    with pytest.raises(SpecError):
        gain("leaky_relu", True)
    for bad in ("fc", "sqrt", "tanhshrink"):
        with pytest.raises(SpecError):
            gain(bad)


# ---------------------------------------------------------------- PyTorch: basic draws
@pytest.mark.parametrize("shape", [(1000,), (30, 40), (3, 10, 30), (2, 3, 10, 12)])
def test_torch_uniform_normal_trunc_normal(shape):
    a, b = -0.3, 0.7
    w = get(f"torch:uniform(a={a}, b={b})")(shape, rng=0, dtype=np.float64).ravel()
    assert w.min() >= a and w.max() <= b
    assert stats.kstest(w, stats.uniform(a, b - a).cdf).pvalue > P
    w = get("torch:normal(mean=0.2, std=0.5)")(shape, rng=0, dtype=np.float64).ravel()
    assert stats.kstest(w, stats.norm(0.2, 0.5).cdf).pvalue > P
    w = get("torch:trunc_normal(mean=0.1, std=0.5, a=-0.5, b=0.4)")(shape, rng=0,
                                                                     dtype=np.float64).ravel()
    assert w.min() >= -0.5 and w.max() <= 0.4
    law = stats.truncnorm((-0.5 - 0.1) / 0.5, (0.4 - 0.1) / 0.5, loc=0.1, scale=0.5)
    assert stats.kstest(w, law.cdf).pvalue > P


def test_torch_constant_ones_zeros():
    for shape in [(5,), (3, 4), (2, 3, 4)]:
        assert np.all(get("torch:constant(val=2.5)")(shape) == 2.5)
        assert np.all(get("torch:ones")(shape) == 1)
        assert np.all(get("torch:zeros")(shape) == 0)


# ---------------------------------------------------------------- PyTorch: eye, dirac
def test_torch_eye():
    for shape in [(10, 10), (5, 12), (12, 5)]:
        np.testing.assert_array_equal(get("torch:eye")(shape), np.eye(*shape))


@pytest.mark.parametrize("shape", [(5,), (3, 3, 3), (2, 2, 2, 2)])
def test_torch_eye_only_works_on_2d_inputs(shape):
    with pytest.raises(ShapeError, match="rank 2"):
        get("torch:eye")(shape)


@pytest.mark.parametrize("dims", [3, 4, 5])
@pytest.mark.parametrize("groups", [1, 2, 3])
def test_torch_dirac_properties(dims, groups):
    in_c, out_per = 4, 3
    shape = (*([3] * (dims - 2)), in_c, out_per * groups)
    w = get(f"torch:dirac(groups={groups})")(shape)
    n = groups * min(out_per, in_c)
    assert int(np.count_nonzero(w)) == n  # PyTorch: nonzero count = groups * min(out/g, in)
    assert float(w.sum()) == n


def test_torch_dirac_identity_under_a_real_convolution():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    for dims, conv in ((3, F.conv1d), (4, F.conv2d), (5, F.conv3d)):
        for groups in (1, 2):
            in_c = out_c = 8
            k = (3,) * (dims - 2)
            w = get(f"torch:dirac(groups={groups})")((*k, in_c // groups, out_c),
                                                     dtype=np.float64)
            w_t = torch.from_numpy(np.moveaxis(w, (-1, -2), (0, 1)).copy())
            x = torch.randn(2, in_c, *([5] * (dims - 2)), dtype=torch.float64)
            y = conv(x, w_t, padding=1, groups=groups)
            assert torch.equal(y, x)  # PyTorch: dirac keeps the input channels


@pytest.mark.parametrize("shape", [(3, 3), (2, 2, 2, 2, 2, 2)])
def test_torch_dirac_only_works_on_3_4_5d_inputs(shape):
    with pytest.raises(ShapeError, match="rank 3 to 5"):
        get("torch:dirac")(shape)


def test_torch_dirac_groups_must_divide_out_channels():
    with pytest.raises(ShapeError, match="divisible by groups=2"):
        get("torch:dirac(groups=2)")((3, 4, 5))


# ---------------------------------------------------------------- PyTorch: xavier, kaiming
@pytest.mark.parametrize("name", ["xavier_uniform", "xavier_normal", "kaiming_uniform",
                                  "kaiming_normal"])
def test_torch_fan_schemes_error_on_inputs_smaller_than_2d(name):
    for shape in [(), (5,)]:
        with pytest.raises(ShapeError):
            get(f"torch:{name}")(shape)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("g", [None, 2.5])
@pytest.mark.parametrize("dist", ["uniform", "normal"])
def test_torch_xavier(shape, g, dist):
    spec = f"torch:xavier_{dist}" + (f"(gain={g})" if g else "")
    w = get(spec)(shape, rng=0, dtype=np.float64).ravel()
    fi, fo = _torch_layout_fans(shape)
    std = (g or 1.0) * math.sqrt(2.0 / (fi + fo))
    law = stats.uniform(-math.sqrt(3) * std, 2 * math.sqrt(3) * std) if dist == "uniform" \
        else stats.norm(0, std)
    assert stats.kstest(w, law.cdf).pvalue > P


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("a", [None, 0.3])
@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
@pytest.mark.parametrize("dist", ["uniform", "normal"])
def test_torch_kaiming(shape, a, mode, dist):
    args = [f"mode={mode}"] + ([f"a={a}"] if a is not None else [])
    w = get(f"torch:kaiming_{dist}({', '.join(args)})")(shape, rng=0, dtype=np.float64).ravel()
    fi, fo = _torch_layout_fans(shape)
    n = fi if mode == "fan_in" else fo
    std = math.sqrt(2.0 / (1 + (a or 0.0) ** 2)) / math.sqrt(n)
    law = stats.uniform(-math.sqrt(3) * std, 2 * math.sqrt(3) * std) if dist == "uniform" \
        else stats.norm(0, std)
    assert stats.kstest(w, law.cdf).pvalue > P


def test_torch_kaiming_on_a_zero_element_tensor_returns_it():
    # PyTorch warns and returns the empty tensor; initlab returns the empty array
    w = get("torch:kaiming_uniform")((0, 4))
    assert w.shape == (0, 4)


# ---------------------------------------------------------------- PyTorch: sparse, orthogonal
@pytest.mark.parametrize("shape", [(5,), (3, 4, 5)])
def test_torch_sparse_only_works_on_2d_inputs(shape):
    with pytest.raises(ShapeError, match="rank 2"):
        get("torch:sparse(0.1)")(shape)


def test_torch_sparse_default_std():
    for sparsity in (0.1, 0.5, 0.9):
        rows, cols = 40, 30  # initlab (in, out) = torch (out=30, in=40)
        w = get(f"torch:sparse({sparsity})")((rows, cols), rng=0, dtype=np.float64)
        # PyTorch: each column of (out, in) has ceil(sparsity * out) zeros; here each row
        assert np.all((w == 0).sum(axis=1) == math.ceil(sparsity * cols))
        nz = w[w != 0]
        assert stats.kstest(nz, stats.norm(0, 0.01).cdf).pvalue > P


@pytest.mark.parametrize("shape", [(20, 20), (10, 20), (20, 10), (3, 3, 4, 5), (2, 5, 30)])
@pytest.mark.parametrize("g", [1.0, 3.0])
def test_torch_orthogonal(shape, g):
    w = get(f"torch:orthogonal(gain={g})")(shape, rng=0, dtype=np.float64)
    flat = w.reshape(-1, shape[-1])
    rows, cols = flat.shape
    gram = flat.T @ flat if rows >= cols else flat @ flat.T
    np.testing.assert_allclose(gram, g * g * np.eye(min(rows, cols)), atol=1e-10)


# ---------------------------------------------------------------- Keras 3: constants
def test_keras_zeros_ones_constant():
    assert np.all(get("keras:zeros")((3, 3)) == 0)
    assert np.all(get("keras:ones")((3, 3)) == 1)
    assert np.all(get("keras:constant(value=1.5)")((3, 3)) == 1.5)


def test_keras_identity():
    np.testing.assert_array_equal(get("keras:identity(gain=2)")((3, 3)), 2 * np.eye(3))
    np.testing.assert_array_equal(get("keras:identity")((3, 5)), np.eye(3, 5))
    with pytest.raises(ShapeError, match="rank 2"):  # Keras: "only for 2D matrices"
        get("keras:identity")((3, 3, 3))


# ---------------------------------------------------------------- Keras 3: random
def test_keras_random_normal_uniform_truncated():
    n = (200, 100)
    w = get("keras:random_normal(mean=0.5, stddev=2)")(n, rng=0, dtype=np.float64)
    assert w.mean() == pytest.approx(0.5, abs=6 * 2 / math.sqrt(w.size))
    assert w.std() == pytest.approx(2.0, rel=0.02)
    w = get("keras:random_uniform(minval=-1, maxval=3)")(n, rng=0, dtype=np.float64)
    assert w.min() >= -1 and w.max() <= 3
    assert w.mean() == pytest.approx(1.0, abs=6 * (4 / math.sqrt(12)) / math.sqrt(w.size))
    w = get("keras:truncated_normal(mean=1, stddev=0.5)")(n, rng=0, dtype=np.float64)
    assert np.all(np.abs(w - 1) <= 2 * 0.5)
    assert w.std() == pytest.approx(0.5 * 0.8796256610342398, rel=0.02)


@pytest.mark.parametrize("dist", ["truncated_normal", "untruncated_normal", "uniform", "normal"])
@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg"])
def test_keras_variance_scaling(dist, mode):
    shape = (120, 80)
    w = get(f"keras:variance_scaling(scale=2, mode={mode}, distribution={dist})")(
        shape, rng=0, dtype=np.float64)
    n = {"fan_in": 120, "fan_out": 80, "fan_avg": 100}[mode]
    assert w.std() == pytest.approx(math.sqrt(2 / n), rel=0.03)
    if dist in ("truncated_normal", "normal"):  # Keras 3: "normal" means truncated_normal
        s = math.sqrt(2 / n) / 0.8796256610342398
        assert np.abs(w).max() <= 2 * s + 1e-12


def test_keras_variance_scaling_rejects_bad_arguments():
    for spec in ("keras:variance_scaling(scale=0)", "keras:variance_scaling(scale=-1)",
                 "keras:variance_scaling(mode=fan_geo_avg)",
                 "keras:variance_scaling(distribution=gamma)"):
        with pytest.raises(SpecError):
            get(spec)((3, 3))


def test_keras_orthogonal():
    w = get("keras:orthogonal(gain=2)")((10, 5), rng=0, dtype=np.float64)
    np.testing.assert_allclose(w.T @ w, 4 * np.eye(5), atol=1e-10)
    w = get("keras:orthogonal")((5, 10), rng=0, dtype=np.float64)
    np.testing.assert_allclose(w @ w.T, np.eye(5), atol=1e-10)


@pytest.mark.parametrize("name,scale,mode", [
    ("glorot", 1.0, "avg"), ("he", 2.0, "in"), ("lecun", 1.0, "in")])
@pytest.mark.parametrize("dist", ["uniform", "normal"])
def test_keras_named_variance_schemes(name, scale, mode, dist):
    shape = (150, 50)
    n = 100 if mode == "avg" else 150
    w = get(f"keras:{name}_{dist}")(shape, rng=0, dtype=np.float64)
    assert w.std() == pytest.approx(math.sqrt(scale / n), rel=0.03)
    # Keras's fan rule on a scalar: fans (1, 1), n = max(1, n)
    assert get(f"keras:{name}_{dist}").std(()) == pytest.approx(math.sqrt(scale))


# ---------------------------------------------------------------- dtypes (Keras: bfloat16)
def test_bfloat16_output_rounds_the_float32_draw():
    pytest.importorskip("ml_dtypes", reason="NumPy has no bfloat16; ml_dtypes provides it")
    w16 = get("keras:he_normal")((64, 32), rng=0, dtype="bfloat16")
    assert w16.dtype.name == "bfloat16"
    w32 = get("keras:he_normal")((64, 32), rng=0)
    torch = pytest.importorskip("torch")
    expect = torch.from_numpy(w32).to(torch.bfloat16).float().numpy()
    np.testing.assert_array_equal(w16.astype(np.float32), expect)
    assert get("zeros").bias(3, 4, dtype="bfloat16").dtype.name == "bfloat16"


def test_float16_output():
    w = get("torch:kaiming_normal")((64, 32), rng=0, dtype=np.float16)
    assert w.dtype == np.float16 and w.std() == pytest.approx(math.sqrt(2 / 64), rel=0.05)


# ---------------------------------------------------------------- JAX (tests/nn_test.py)
def test_jax_uniform_normal_truncated():
    w = get("jax:uniform(scale=0.5)")((200, 100), rng=0, dtype=np.float64)
    assert w.min() >= 0 and w.max() < 0.5  # U[0, scale)
    w = get("jax:truncated_normal(stddev=0.2, lower=-1, upper=1.5)")((200, 100), rng=0,
                                                                     dtype=np.float64)
    assert w.min() >= -0.2 and w.max() <= 0.3


def test_jax_variance_scaling_rejects_bad_mode_and_distribution():
    for spec in ("jax:variance_scaling(1, fan_sum, normal)",
                 "jax:variance_scaling(1, fan_in, untruncated_normal)"):
        with pytest.raises(SpecError):
            get(spec)


@pytest.mark.parametrize("shape", [(4, 8), (8, 4), (3, 3, 4, 8)])
def test_jax_orthogonal(shape):
    w = get("jax:orthogonal(scale=2)")(shape, rng=0, dtype=np.float64).reshape(-1, shape[-1])
    gram = w.T @ w if w.shape[0] >= w.shape[1] else w @ w.T
    np.testing.assert_allclose(gram, 4 * np.eye(min(w.shape)), atol=1e-10)


def test_jax_delta_orthogonal():
    w = get("jax:delta_orthogonal")((3, 3, 4, 8), rng=0, dtype=np.float64)
    np.testing.assert_allclose(w[1, 1] @ w[1, 1].T, np.eye(4), atol=1e-10)
    assert np.count_nonzero(w) == np.count_nonzero(w[1, 1])
    with pytest.raises(ShapeError, match="rank 3 to 5"):  # JAX: "requires a 3D, 4D or 5D shape"
        get("jax:delta_orthogonal")((4, 8))
    with pytest.raises(ShapeError, match="in <= out"):  # JAX: fan_in <= fan_out
        get("jax:delta_orthogonal")((3, 8, 4))


# ================================================================ the rest of the peers' tests
# PyTorch: test_calculate_gain_leaky_relu / _only_accepts_numbers / _only_accepts_valid_...
def test_torch_calculate_gain_leaky_relu_slopes():
    assert gain("leaky_relu") == pytest.approx(1.4141428569978354, rel=1e-15)  # slope 0.01
    assert gain("leaky_relu", 0) == pytest.approx(math.sqrt(2), rel=1e-15)
    assert gain("leaky_relu", 0.01) == pytest.approx(1.4141428569978354, rel=1e-15)
    assert gain("leaky_relu", 10) == pytest.approx(0.14071950894605836, rel=1e-15)
    for bad in (True, [1], {"a": "b"}):
        with pytest.raises(SpecError, match="allowed: a finite number"):
            gain("leaky_relu", bad)


def test_torch_calculate_gain_rejects_random_names():
    rng = np.random.default_rng(123)
    for n in (2, 5, 25):  # lengths no nonlinearity has
        name = "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz"), n))
        with pytest.raises(SpecError):
            gain(name)


# PyTorch: test_trunc_normal_generator (a seeded generator replays torch's seeded RNG)
def test_torch_trunc_normal_same_seed_same_numbers():
    ini = get("torch:trunc_normal")
    np.testing.assert_array_equal(ini((5,), rng=42), ini((5,), rng=42))
    assert not np.array_equal(ini((5,), rng=42), ini((5,), rng=43))
    w = ini((2000,), rng=42, dtype=np.float64)  # mean 0, std 1, absolute bounds [-2, 2]
    assert stats.kstest(w, stats.truncnorm(-2, 2).cdf).pvalue > P


# PyTorch TestNNInitDeviceType.test_trunc_normal_all_dtypes
@pytest.mark.parametrize("dims", [1, 2, 4])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_torch_trunc_normal_random_bounds_in_every_dtype(dims, dtype):
    r = np.random.default_rng(10 * dims + np.dtype(dtype).itemsize)
    lo_size, hi_size = (30, 50) if dims < 4 else (10, 14)  # 4-D at 30-50 is millions
    size = tuple(int(s) for s in r.integers(lo_size, hi_size + 1, dims))
    mean, std = r.uniform(-3, 3), r.uniform(0.01, 1)
    a, b = r.uniform(mean - 2 * std, mean), r.uniform(mean, mean + 2 * std)
    w = get(f"torch:trunc_normal(mean={mean!r}, std={std!r}, a={a!r}, b={b!r})")(
        size, rng=0, dtype=dtype)
    assert w.shape == size and w.dtype == dtype
    assert w.min() >= dtype(a) and w.max() <= dtype(b)  # the bounds at the array's precision
    law = stats.truncnorm((a - mean) / std, (b - mean) / std, loc=mean, scale=std)
    assert stats.kstest(w.ravel().astype(np.float64), law.cdf).pvalue > P


def _low(dtype):
    """The dtype to ask initlab for; bfloat16 needs ml_dtypes (skip without it)."""
    if dtype == "bfloat16":
        pytest.importorskip("ml_dtypes", reason="NumPy has no bfloat16; ml_dtypes provides it")
    return dtype


# PyTorch: test_trunc_normal_low_precision, _narrow_interval
@pytest.mark.parametrize("dtype,a,b", [
    (np.float16, -2.0, 2.0), ("bfloat16", -2.0, 2.0),
    (np.float32, 2.0, 3.0), (np.float64, 2.0, 3.0), (np.float16, 2.0, 3.0)])
def test_torch_trunc_normal_low_precision_and_a_narrow_tail_interval(dtype, a, b):
    w = get(f"torch:trunc_normal(mean=0, std=1, a={a}, b={b})")((10000,), rng=0,
                                                                 dtype=_low(dtype))
    w = w.astype(np.float64)
    assert w.min() >= a and w.max() <= b
    assert stats.kstest(w, stats.truncnorm(a, b).cdf).pvalue > P


# PyTorch: test_trunc_normal_unique_values, _no_boundary_values_small_std
@pytest.mark.parametrize("dtype,min_unique", [
    (np.float32, 5000), (np.float64, 5000), (np.float16, 3000), ("bfloat16", 1000)])
def test_torch_trunc_normal_fills_the_value_space_and_never_the_bounds(dtype, min_unique):
    w = get("torch:trunc_normal(mean=0, std=1, a=-2, b=2)")((10000,), rng=0,
                                                             dtype=_low(dtype))
    w = w.astype(np.float64)
    assert w.min() >= -2 and w.max() <= 2 and np.all(np.isfinite(w))
    assert len(np.unique(w)) > min_unique
    v = get("torch:trunc_normal(mean=0, std=0.1, a=-2, b=2)")((10000,), rng=0,
                                                               dtype=_low(dtype))
    assert not np.any(np.abs(v.astype(np.float64)) == 2.0)  # nothing clamped to a bound


# PyTorch: test_sparse_default_std with a random std
def test_torch_sparse_with_its_own_std():
    r = np.random.default_rng(5)
    rows, cols = 33, 31  # initlab (in, out): torch's (out=31, in=33)
    sparsity, std = r.uniform(0.1, 0.2), r.uniform(0.01, 0.2)
    w = get(f"torch:sparse(sparsity={sparsity!r}, std={std!r})")((rows, cols), rng=0,
                                                                  dtype=np.float64)
    assert np.all((w == 0).sum(axis=1) >= math.ceil(sparsity * cols))
    assert stats.kstest(w[w != 0], stats.norm(0, std).cdf).pvalue > P


# Keras 3: test_random_normal (std, fixed seed repeats, a generator moves on, clone by config)
def test_keras_random_normal_seeds_and_round_trip():
    ini = get("keras:random_normal(mean=0, stddev=1)")
    w = ini((25, 20), rng=1234, dtype=np.float64)
    n = w.size  # the sample std's standard error is about std / sqrt(2 n): 5 of them
    assert w.std() == pytest.approx(1.0, abs=5 / math.sqrt(2 * n))
    np.testing.assert_array_equal(w, ini((25, 20), rng=1234, dtype=np.float64))
    gen = np.random.default_rng(1337)  # Keras's SeedGenerator: each call draws anew
    assert not np.array_equal(ini((25, 20), rng=gen), ini((25, 20), rng=gen))
    clone = get(str(ini))  # Keras: from_config(get_config()); initlab: its spec string
    assert clone == ini
    np.testing.assert_array_equal(clone((25, 20), rng=7), ini((25, 20), rng=7))


# Keras 3: test_random_uniform (min >= minval, max < maxval: the upper bound is open)
def test_keras_random_uniform_half_open_interval():
    w = get("keras:random_uniform(minval=-1, maxval=1)")((5, 5), rng=1234)
    assert w.shape == (5, 5) and w.min() >= -1 and w.max() < 1
    w = get("keras:random_uniform(minval=-1, maxval=1)")((200, 100), rng=0, dtype=np.float64)
    assert w.min() >= -1 and w.max() < 1
    assert stats.kstest(w.ravel(), stats.uniform(-1, 2).cdf).pvalue > P


# Keras 3: test_variance_scaling on (25, 20), fan_in and fan_out
@pytest.mark.parametrize("mode,n", [("fan_in", 25), ("fan_out", 20)])
def test_keras_variance_scaling_fan_in_and_out_on_a_small_kernel(mode, n):
    w = get(f"keras:variance_scaling(scale=2.0, mode={mode})")((25, 20), rng=1234,
                                                               dtype=np.float64)
    want = math.sqrt(2.0 / n)
    assert w.shape == (25, 20)
    assert w.std() == pytest.approx(want, rel=5 / math.sqrt(2 * w.size))


# Keras 3: test_orthogonal (5, 5), gain 2: each column has norm gain, columns orthogonal
def test_keras_orthogonal_square_columns():
    w = get("keras:orthogonal(gain=2.0)")((5, 5), rng=1234, dtype=np.float64)
    np.testing.assert_allclose(np.linalg.norm(w, axis=0), 2.0, rtol=1e-12)
    for i in range(5):
        for j in range(i + 1, 5):
            assert abs(float(w[:, i] @ w[:, j])) < 1e-12


# Keras 3: test_get_method ("typo" is a ValueError)
def test_keras_get_by_name_and_a_typo():
    assert get("keras:glorot_normal").name == "keras:glorot_normal"
    with pytest.raises(SpecError, match="unknown keras scheme 'keras:typo'"):
        get("keras:typo")


# JAX: NNInitializersTest.testInitializer: every initializer keeps the shape and the dtype
JAX_SHAPES = [(2,), (2, 2), (2, 3), (3, 2), (2, 3, 4), (4, 3, 2), (2, 3, 4, 5)]
JAX_RECS = [  # name, min rank, max rank (JAX's initializer_record)
    ("jax:uniform", 1, 4), ("jax:normal", 1, 4), ("jax:truncated_normal", 1, 4),
    ("jax:he_normal", 2, 4), ("jax:he_uniform", 2, 4), ("jax:glorot_normal", 2, 4),
    ("jax:glorot_uniform", 2, 4), ("jax:lecun_normal", 2, 4), ("jax:lecun_uniform", 2, 4),
    ("jax:orthogonal", 2, 2), ("jax:delta_orthogonal", 4, 4),
    ("jax:variance_scaling(1, fan_geo_avg, normal)", 2, 4),
]
JAX_DTYPES = [np.float16, "bfloat16", np.float32, np.float64]


@pytest.mark.parametrize("spec,lo,hi", JAX_RECS, ids=[r[0] for r in JAX_RECS])
def test_jax_every_initializer_keeps_shape_and_dtype(spec, lo, hi):
    for shape in (s for s in JAX_SHAPES if lo <= len(s) <= hi):
        for dtype in JAX_DTYPES:
            w = get(spec)(shape, rng=0, dtype=_low(dtype))
            assert w.shape == shape
            assert w.dtype.name == (dtype if isinstance(dtype, str) else np.dtype(dtype).name)


# JAX: testVarianceScalingError (a 1-D weight has no fans)
def test_jax_variance_scaling_needs_rank_2():
    ini = get("jax:variance_scaling(1.0, fan_avg, truncated_normal)")
    with pytest.raises(ShapeError, match="rank >= 2"):
        ini((5,))


# JAX: testAccidentalUpcasting (bfloat16 asked, bfloat16 given)
def test_jax_no_accidental_upcasting_to_float32():
    pytest.importorskip("ml_dtypes")
    for spec in ("jax:uniform(scale=1.0)", "jax:normal(stddev=1.0)",
                 "jax:truncated_normal(stddev=1.0)"):
        assert get(spec)((4, 4), rng=0, dtype="bfloat16").dtype.name == "bfloat16"


# JAX's tests check shapes and dtypes only; the values follow jax.nn.initializers' docs
JAX_LAWS = [
    ("jax:uniform(scale=0.5)", (300, 200), stats.uniform(0, 0.5)),
    ("jax:normal(stddev=0.3)", (300, 200), stats.norm(0, 0.3)),
    ("jax:truncated_normal(stddev=0.3, lower=-1.5, upper=2)", (300, 200),
     stats.truncnorm(-1.5, 2, scale=0.3)),  # bounds in units of stddev, uncorrected
    ("jax:variance_scaling(2, fan_in, normal)", (300, 200), stats.norm(0, math.sqrt(2 / 300))),
    ("jax:variance_scaling(1, fan_avg, uniform)", (3, 3, 40, 60),
     stats.uniform(-math.sqrt(3 / 450), 2 * math.sqrt(3 / 450))),
    ("jax:variance_scaling(1, fan_out, truncated_normal)", (300, 200),  # corrected sigma
     stats.truncnorm(-2, 2, scale=math.sqrt(1 / 200) / 0.87962566103423978)),
    ("jax:variance_scaling(1, fan_geo_avg, normal)", (300, 200),
     stats.norm(0, math.sqrt(1 / math.sqrt(300 * 200)))),
    ("jax:he_uniform", (300, 200), stats.uniform(-math.sqrt(6 / 300), 2 * math.sqrt(6 / 300))),
    ("jax:glorot_normal", (300, 200),
     stats.truncnorm(-2, 2, scale=math.sqrt(2 / 500) / 0.87962566103423978)),
    ("jax:lecun_normal", (300, 200),
     stats.truncnorm(-2, 2, scale=math.sqrt(1 / 300) / 0.87962566103423978)),
]


@pytest.mark.parametrize("spec,shape,law", JAX_LAWS, ids=[x[0] for x in JAX_LAWS])
def test_jax_values_follow_the_documented_distribution(spec, shape, law):
    w = get(spec)(shape, rng=0, dtype=np.float64).ravel()
    assert stats.kstest(w, law.cdf).pvalue > P
    lo, hi = law.support()
    assert w.min() >= lo and w.max() <= hi
