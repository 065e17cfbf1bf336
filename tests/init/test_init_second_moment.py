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


def test_the_scalar_sigmoid_and_gelu_match_scipys_and_do_not_overflow():
    # the gains' sigmoid, silu and gelu are written with math (scipy loads on demand only);
    # each must agree with scipy.special to a few ulps, also far out in both tails (gelu's
    # erfc(-x / sqrt 2): rounding x / sqrt 2 costs a relative (x^2 + 1) ulps in its tail)
    xs = np.concatenate([np.linspace(-40, 40, 801), [-745.0, -710.0, 710.0, 745.0]])
    sig, gelu = SECOND_MOMENT["sigmoid"](), SECOND_MOMENT["gelu"]()
    for x in xs:
        assert math.isclose(sig(float(x)), float(special.expit(x)), rel_tol=4e-16, abs_tol=1e-300)
        ref = x * float(special.ndtr(x))
        tol = 4e-16 * (1 + x * x)
        assert math.isclose(gelu(float(x)), ref, rel_tol=tol, abs_tol=1e-300)


def test_import_initlab_does_not_load_scipy():
    # scipy.special and scipy.integrate take ~0.6 s to import: every CLI command paid it
    import os
    import subprocess
    import sys
    from pathlib import Path

    src = Path(__file__).resolve().parents[2] / "src"
    code = "import sys, initlab; print(sorted(m for m in sys.modules if m.startswith('scipy')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONPATH": str(src)})
    assert out.stdout.strip() == "[]"
