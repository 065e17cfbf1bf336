"""fans, gain and the truncated-normal constant."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from initlab.errors import ShapeError, SpecError
from initlab.init import TRUNCATED_STD_2, fans, gain, truncated_std


@pytest.mark.parametrize(
    "shape,layout,expected",
    [
        ((784, 128), "keras", (784, 128)),
        ((3, 3, 16, 32), "keras", (144, 288)),
        ((3, 3, 16, 32), "jax", (144, 288)),
        ((5, 16, 32), "initlab", (80, 160)),
        ((32, 16, 3, 3), "torch", (144, 288)),
        ((128, 784), "torch", (784, 128)),
        ((2, 3, 4, 5, 6), "keras", (2 * 3 * 4 * 5, 2 * 3 * 4 * 6)),
    ],
)
def test_fans(shape, layout, expected):
    assert fans(shape, layout=layout) == expected


@pytest.mark.parametrize("shape", [(), (5,), 7])
def test_fans_rank_below_two_says_why(shape):
    with pytest.raises(ShapeError, match="rank"):
        fans(shape)


@pytest.mark.parametrize("shape", [(3, -1), (2.5, 3), "ab", None])
def test_bad_shapes_are_shape_errors(shape):
    with pytest.raises(ShapeError, match="shape"):
        fans(shape)


def test_unknown_layout():
    with pytest.raises(SpecError, match="did you mean 'torch'"):
        fans((3, 4), layout="trch")


@pytest.mark.parametrize(
    "act,param,expected",
    [
        ("linear", None, 1.0),
        ("conv2d", None, 1.0),
        ("sigmoid", None, 1.0),
        ("tanh", None, 5 / 3),
        ("relu", None, math.sqrt(2)),
        ("leaky_relu", None, math.sqrt(2 / (1 + 0.01**2))),
        ("leaky_relu", 0.2, math.sqrt(2 / 1.04)),
        ("leaky_relu", 0, math.sqrt(2)),
        ("selu", None, 0.75),
    ],
)
def test_gain_table(act, param, expected):
    assert gain(act, param) == pytest.approx(expected, rel=1e-12)


def test_gain_matches_torch():
    torch = pytest.importorskip("torch", reason="torch is not installed")
    for act, p in [
        ("tanh", None),
        ("relu", None),
        ("leaky_relu", 0.3),
        ("selu", None),
        ("sigmoid", None),
        ("conv3d", None),
    ]:
        assert gain(act, p) == pytest.approx(torch.nn.init.calculate_gain(act, p), rel=1e-7)


def test_gain_errors_name_the_value():
    with pytest.raises(SpecError, match="'rleu'.*did you mean 'relu'"):
        gain("rleu")
    with pytest.raises(SpecError, match="0.2"):
        gain("tanh", 0.2)
    with pytest.raises(SpecError, match="'x'"):
        gain("leaky_relu", "x")


def test_truncated_std_constant_against_scipy():
    assert TRUNCATED_STD_2 == pytest.approx(stats.truncnorm(-2, 2).std(), rel=1e-15, abs=1e-16)
    assert truncated_std(-2, 2) == pytest.approx(TRUNCATED_STD_2, rel=1e-14)
    for a, b in [(-1, 3), (0.5, 4), (-math.inf, 1), (2, math.inf), (-3, -1)]:
        assert truncated_std(a, b) == pytest.approx(stats.truncnorm(a, b).std(), rel=1e-9)
