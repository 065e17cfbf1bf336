"""``all_finite``: the one finiteness check of fit's inputs, in blocks of rows."""

from __future__ import annotations

import numpy as np
import pytest

from initlab.errors import DataError
from initlab.nn import Dense, Sequential, finite
from initlab.nn.finite import all_finite


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", [0, 1, 2, -1])
def test_one_bad_entry_in_any_block_is_found(monkeypatch, bad, where):
    # blocks of 3 rows of 4 entries (CHUNK 12): the bad entry in the first, a middle, the
    # last (ragged) block, or the very last entry
    monkeypatch.setattr(finite, "CHUNK", 12)
    a = np.arange(40, dtype=np.float32).reshape(10, 4)
    assert all_finite(a)
    row = {0: 0, 1: 4, 2: 9, -1: 9}[where]
    a[row, 3 if where == -1 else 1] = bad
    assert not all_finite(a)
    assert not all_finite(np.asfortranarray(a))
    assert not all_finite(a[::2] if row % 2 == 0 else a[1::2])  # a strided view, no copy


def test_it_agrees_with_numpy_on_random_arrays_of_every_layout(monkeypatch):
    monkeypatch.setattr(finite, "CHUNK", 7)
    rng = np.random.default_rng(0)
    for _ in range(200):
        shape = tuple(rng.integers(1, 6, size=rng.integers(1, 4)))
        a = rng.standard_normal(shape)
        if rng.random() < 0.5:
            a.flat[rng.integers(a.size)] = rng.choice([np.nan, np.inf, -np.inf])
        for view in (a, a.T, a[::-1]):
            assert all_finite(view) == bool(np.isfinite(view).all())


def test_integers_and_scalars():
    assert all_finite(np.arange(5))
    assert all_finite(np.float64(1.0)) and not all_finite(np.float64(np.nan))
    assert not all_finite(np.array([1 + 0j, complex(0, np.inf)]))


def test_fit_names_the_input_that_holds_a_nan():
    m = Sequential([Dense(2, activation="softmax")], input_dim=3, seeds=[0])
    x = np.zeros((5, 3))
    x[4, 2] = np.nan
    with pytest.raises(DataError, match="x contains NaN or infinite values"):
        m.fit(x, [0, 1, 0, 1, 0], epochs=1)
