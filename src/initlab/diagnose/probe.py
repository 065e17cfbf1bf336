"""Probe: record the diagnostics every N steps of ``fit``, in bounded memory.

Like fastai's ActivationStats, but it keeps fixed-size per-layer summaries (no raw
activations) in a ring buffer of ``capacity`` records: memory is
``capacity * n_fields * n_layers * K * 8`` bytes whatever the length of training. Plug it into
the engine's ``fit(callbacks=[probe])``: every ``every``-th optimizer step the engine traces
that training batch (forward + backward, before the update) and calls :meth:`Probe.on_trace`.

The default ``every`` (:data:`DEFAULT_EVERY`) keeps the probe's cost under 10 % of training
time for the engine's usual workloads (see ``benchmarks/probe.py``).

Example:
    >>> import numpy as np
    >>> from initlab.nn import Dense, Sequential
    >>> rng = np.random.default_rng(0)
    >>> x, y = rng.standard_normal((64, 4)), rng.integers(0, 2, 64)
    >>> m = Sequential([Dense(8, activation="relu"), Dense(2, activation="softmax")], input_dim=4)
    >>> probe = Probe(every=2)
    >>> _ = m.fit(x, y, epochs=1, batch_size=16, callbacks=[probe])
    >>> probe.history()["step"].tolist(), probe.history()["pre_std"].shape
    ([0, 2], (2, 2, 1))
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from initlab.diagnose.findings import Finding, find
from initlab.diagnose.stats import input_rms, trace_stats
from initlab.diagnose.thresholds import Thresholds, as_thresholds
from initlab.errors import ConfigError
from initlab.trace import Trace

__all__ = ["Probe", "DEFAULT_EVERY", "FIELDS"]

DEFAULT_EVERY = 250
"""Steps between two records by default. A record costs a few training steps for K = 1 and
about 15 steps for K = 100 moons nets (statistics and findings of every model); at every = 250,
``python benchmarks/probe.py --repeats 3`` measured +0.0 % on one MNIST epoch (K = 1, batch 128)
and +7.0 % on 3,000 full-batch moons steps with K = 100 (at every = 100: +12.8 % and +21.9 %).
Pass a smaller ``every`` for finer curves at a higher cost."""

FIELDS = (
    "pre_mean", "pre_std", "post_mean", "post_std", "dead_fraction", "zero_fraction",
    "saturated_fraction", "w_std", "distinct_units", "max_cosine", "nonfinite",
    "grad_W_norm", "grad_pre_rms", "update_ratio",
)
"""The per-layer statistics a record keeps (see :mod:`initlab.diagnose.stats`)."""


class Probe:
    """A training callback that records per-layer statistics every ``every`` steps.

    Args:
        every: record every this many optimizer steps (> 0).
        capacity: records kept; older ones are overwritten (ring buffer).
        lr: learning rate for ``update_ratio`` (``||lr * grad W|| / ||W||``).
        thresholds: cut-offs for the statistics and findings.
        max_cosine_units: units compared for ``max_cosine`` (kept small: it costs units^2).

    Attributes:
        findings: findings of the latest record.
        first_seen: ``{code: step}`` when each finding code first appeared.
        epochs: ``(epoch, step)`` pairs, the step count at each epoch end.
    """

    def __init__(
        self,
        every: int = DEFAULT_EVERY,
        capacity: int = 1000,
        lr: float = 0.01,
        thresholds: Thresholds | dict | None = None,
        max_cosine_units: int = 64,
    ) -> None:
        for name, v in (("every", every), ("capacity", capacity),
                        ("max_cosine_units", max_cosine_units)):
            if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"Probe {name} must be a positive int; got {v!r}")
        self.every = int(every)
        self.capacity = int(capacity)
        self.lr = float(lr)
        self.thresholds = as_thresholds(thresholds)
        self.max_cosine_units = int(max_cosine_units)
        self.findings: list[Finding] = []
        self.first_seen: dict[str, int] = {}
        self.epochs: list[tuple[int, int]] = []
        self.layer_names: list[str] = []
        self._steps = np.zeros(self.capacity, dtype=np.int64)
        self._buf: np.ndarray | None = None  # (capacity, n_fields, n_layers, K)
        self._count = 0
        self._last_step = 0

    def on_trace(self, step: int, trace: Trace) -> None:
        """Summarize one traced step into the ring buffer (called by ``fit``)."""
        stats = trace_stats(trace, self.lr, self.thresholds, self.max_cosine_units)
        n_layers, k = len(stats), trace.n_models
        if self._buf is None:
            self._buf = np.full((self.capacity, len(FIELDS), n_layers, k), np.nan)
            self.layer_names = [st.name for st in stats]
        slot = self._count % self.capacity
        row = self._buf[slot]
        row.fill(np.nan)
        for i, st in enumerate(stats):
            for j, name in enumerate(FIELDS):
                v = getattr(st, name)
                if v is not None:
                    row[j, i] = v
        self._steps[slot] = step
        self._count += 1
        self._last_step = int(step)
        self.findings = find(stats, input_rms(trace), self.thresholds)
        for f in self.findings:
            self.first_seen.setdefault(f.code, int(step))

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Remember where each epoch ended (called by ``fit``)."""
        self.epochs.append((int(epoch), self._last_step))

    def __len__(self) -> int:
        return min(self._count, self.capacity)

    @property
    def nbytes(self) -> int:
        """Bytes held by the records (bounded by ``capacity``)."""
        return int(self._steps.nbytes + (0 if self._buf is None else self._buf.nbytes))

    def history(self) -> dict[str, np.ndarray]:
        """Return the kept records, oldest first.

        Returns:
            ``{"step": (n,), field: (n, n_layers, K) for each of FIELDS}``.
        """
        n = len(self)
        start = self._count - n
        order = (start + np.arange(n)) % self.capacity
        out: dict[str, np.ndarray] = {"step": self._steps[order].copy()}
        if self._buf is None:
            return out
        for j, name in enumerate(FIELDS):
            out[name] = self._buf[order, j].copy()
        return out

    def __repr__(self) -> str:
        return f"Probe(every={self.every}, records={len(self)}/{self.capacity})"
