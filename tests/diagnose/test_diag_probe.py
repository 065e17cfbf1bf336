"""The training probe: records every N steps of fit, bounded memory, findings over time."""

from __future__ import annotations

import numpy as np
import pytest

from initlab.diagnose import Probe
from initlab.diagnose.probe import FIELDS
from initlab.errors import ConfigError
from initlab.nn import Dense, Sequential


def _fit(probe: Probe, init: str = "he_normal", epochs: int = 2, k: int = 2):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((96, 6)), rng.integers(0, 3, 96)
    m = Sequential([Dense(12, activation="relu"), Dense(3, activation="softmax")], input_dim=6,
                   n_models=k, inits=[init] * k, seeds=list(range(k)))
    m.fit(x, y, epochs=epochs, batch_size=16, callbacks=[probe], optimizer="sgd")
    return m


def test_records_every_n_steps_with_per_layer_per_model_arrays() -> None:
    probe = Probe(every=3)
    _fit(probe)  # 2 epochs x 6 steps = 12 steps: 0, 3, 6, 9
    h = probe.history()
    assert h["step"].tolist() == [0, 3, 6, 9]
    for name in FIELDS:
        assert h[name].shape == (4, 2, 2)
    assert np.all(np.isfinite(h["grad_W_norm"]))
    assert len(probe.epochs) == 2


def test_ring_buffer_keeps_the_latest_and_memory_is_bounded() -> None:
    small, big = Probe(every=1, capacity=5), Probe(every=1, capacity=5)
    _fit(small, epochs=1)
    _fit(big, epochs=3)
    assert len(small) == len(big) == 5
    assert big.history()["step"].tolist() == [13, 14, 15, 16, 17]
    assert small.nbytes == big.nbytes


def test_probe_sees_symmetry_from_the_first_step() -> None:
    probe = Probe(every=2)
    _fit(probe, init="zeros", epochs=1)
    assert probe.first_seen.get("symmetry") == 0
    distinct = probe.history()["distinct_units"]  # (records, layers, models)
    assert np.all(distinct[:, 0] == 1)  # the hidden units never separate
    assert np.all(distinct[0] == 1)  # before the first update every layer is one unit


def test_probe_arguments_are_checked() -> None:
    with pytest.raises(ConfigError, match="every"):
        Probe(every=0)
    with pytest.raises(ConfigError, match="capacity"):
        Probe(capacity=-1)
