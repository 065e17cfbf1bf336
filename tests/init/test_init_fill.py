"""Initializer.fill: drawing into a given array gives the very numbers a call returns."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from initlab.errors import ShapeError, SpecError
from initlab.init import Normal, get

SPECS = [
    "zeros", "ones", "constant(0.5)", "uniform(-0.05, 0.05)", "normal(0.5, std=0.1)",
    "truncated_normal(std=0.05)", "glorot_uniform", "glorot_normal", "he_uniform",
    "he_normal", "lecun_normal", "he_normal(truncated=True)", "torch:linear_default",
    "torch:kaiming_uniform(a=0.2)", "torch:xavier_normal", "keras:glorot_normal",
    "variance_scaling(scale=2, mode=fan_out, distribution=uniform)", "orthogonal",
    "identity", "torch:sparse(0.5)",
]


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fill_draws_what_a_call_draws_and_leaves_the_stream_where_a_call_does(spec, dtype):
    ini = get(spec)
    for shape in ((37, 23), (3, 3, 4, 6)):
        if spec.startswith("torch:sparse") and len(shape) > 2:
            continue
        a, b = np.random.default_rng(5), np.random.default_rng(5)
        out = np.full(shape, np.nan, dtype)
        got = ini.fill(out, a)
        assert got is out
        np.testing.assert_array_equal(out, ini(shape, b, dtype))
        assert a.random() == b.random()  # the next draw is the same: same stream position


def test_fill_falls_back_for_other_dtypes_and_refuses_bad_arrays():
    out = np.empty((8, 4), np.float16)
    get("he_normal").fill(out, 0)
    np.testing.assert_array_equal(out, get("he_normal")((8, 4), 0, np.float16))
    with pytest.raises(ShapeError, match="C-contiguous"):
        get("he_normal").fill(np.empty((4, 8), np.float32).T, 0)
    with pytest.raises(ShapeError, match="C-contiguous"):
        get("he_normal").fill([[0.0]], 0)
    with pytest.raises(SpecError, match="do not fit float32"):
        get("normal(std=1e300)").fill(np.empty(4, np.float32), 0)


def test_a_subclass_redefining_its_draw_alone_is_not_filled_by_its_parent():
    @dataclasses.dataclass(frozen=True)
    class Doubled(Normal):
        def _draw(self, shape, rng, dtype):
            return 2 * super()._draw(shape, rng, dtype)

    ini = Doubled(0.0, 1.0)
    out = np.empty((5, 5), np.float32)
    ini.fill(out, 1)
    np.testing.assert_array_equal(out, ini((5, 5), 1))
    np.testing.assert_array_equal(out, 2 * Normal(0.0, 1.0)((5, 5), 1))
