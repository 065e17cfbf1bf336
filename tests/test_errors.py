import numpy as np
import pytest

from initlab.errors import DataError, InitLabError, ShapeError, SpecError, closest, unknown
from initlab.rng import as_generator


@pytest.mark.parametrize("cls", [SpecError, ShapeError, DataError])
def test_errors_are_value_errors(cls):
    assert issubclass(cls, InitLabError)
    assert issubclass(cls, ValueError)


def test_unknown_names_value_closest_and_allowed():
    e = unknown("scheme", "he_normall", ["zeros", "he_normal", "he_uniform"])
    assert isinstance(e, SpecError)
    msg = str(e)
    assert "'he_normall'" in msg
    assert "did you mean 'he_normal'" in msg
    assert "he_uniform" in msg and "zeros" in msg


def test_unknown_without_close_match_has_no_hint():
    assert "did you mean" not in str(unknown("scheme", "qqqq", ["zeros", "ones"]))
    assert closest("qqqq", ["zeros"]) is None


def test_as_generator_is_deterministic_and_strict():
    assert as_generator(5).integers(1 << 30) == as_generator(5).integers(1 << 30)
    g = np.random.default_rng(1)
    assert as_generator(g) is g
    for bad in (-1, 1.5, "3", True, np.random.RandomState(0)):
        with pytest.raises(SpecError, match="rng must be"):
            as_generator(bad)
