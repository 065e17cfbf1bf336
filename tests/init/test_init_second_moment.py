"""gain(..., method="second_moment") = 1 / sqrt(E[phi(z)^2]), z ~ N(0, 1), by quadrature."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special

from initlab.errors import SpecError
from initlab.init import gain
from initlab.init.gains import SECOND_MOMENT, second_moment

# an independent rule: Gauss-Hermite with 150 nodes (exact for polynomials of degree 299)
_X, _W = np.polynomial.hermite_e.hermegauss(150)
_W = _W / _W.sum()

PHI = {
    "tanh": np.tanh,
    "sigmoid": special.expit,
    "gelu": lambda x: x * special.ndtr(x),
    "silu": lambda x: x * special.expit(x),
    "mish": lambda x: x * np.tanh(np.logaddexp(0, x)),
    "softplus": lambda x: np.logaddexp(0, x),
}


def test_closed_forms():
    assert second_moment("relu") == pytest.approx(0.5, abs=1e-12)
    assert second_moment("linear") == pytest.approx(1.0, abs=1e-12)
    for a in (0.01, 0.2, 1.0):
        assert second_moment("leaky_relu", a) == pytest.approx((1 + a * a) / 2, abs=1e-12)
        assert gain("leaky_relu", a, method="second_moment") == pytest.approx(
            gain("leaky_relu", a))
    assert second_moment("selu") == pytest.approx(1.0, abs=1e-6)  # Klambauer et al.'s point
    assert gain("relu", method="second_moment") == pytest.approx(math.sqrt(2), abs=1e-12)


@pytest.mark.parametrize("name", sorted(PHI))
def test_smooth_activations_against_gauss_hermite(name):
    ref = float(np.sum(_W * PHI[name](_X) ** 2))
    assert second_moment(name) == pytest.approx(ref, rel=1e-8)


def test_documented_values():
    table = {"tanh": 1.59254, "sigmoid": 1.84623, "gelu": 1.53353, "silu": 1.67653,
             "mish": 1.48685, "softplus": 1.04187, "elu": 1.24520, "selu": 1.0}
    for name, g in table.items():
        assert gain(name, method="second_moment") == pytest.approx(g, abs=1e-5), name
    assert set(table) | {"relu", "leaky_relu", "linear", "identity", "swish"} == set(
        SECOND_MOMENT)


def test_torch_table_has_no_gelu_and_says_so():
    with pytest.raises(SpecError, match="use method='second_moment'"):
        gain("gelu")
    with pytest.raises(SpecError, match="gain method"):
        gain("relu", method="kaiming")
    with pytest.raises(SpecError, match="takes no param"):
        gain("gelu", 0.1, method="second_moment")
    assert gain("elu", 0.5, method="second_moment") > gain("elu", method="second_moment")
