"""History: what ``fit`` recorded, per logged epoch and per model; and the Callback protocol.

Every metric is an array of shape ``(n_logged_epochs, K)``. Epochs are numbered from 0 (as
seed 002 prints them); an epoch is logged when ``epoch % log_every == 0`` and at the last
epoch. ``loss`` and ``accuracy`` are the training metrics of that epoch (the mean over its
minibatches, Keras's convention; for full-batch training, the value before that epoch's
update); ``val_*`` are measured on the validation data after the epoch (NaN without
validation data); ``time`` is the wall time in seconds since ``fit`` started.

Example:
    >>> import numpy as np
    >>> h = History(n_models=2)
    >>> h.record(0, {"loss": np.array([0.5, 0.7]), "time": 0.1})
    >>> h.loss.shape, float(h["loss"][0, 1]), h.epochs.tolist()
    ((1, 2), 0.7, [0])
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

__all__ = ["History", "Callback", "METRICS"]

METRICS = ("loss", "accuracy", "val_loss", "val_accuracy", "time")


class Callback(Protocol):
    """What fit calls; every member is optional.

    Attributes:
        every: when > 0, every ``every``-th optimizer step (steps 0, every, 2 every, ...) is
            run with tracing and its Trace (forward and backward of that training batch, before
            the update) goes to ``on_trace``. The Trace's arrays belong to it (a fresh
            workspace); its W and b are live views of the parameters.
    """

    every: int

    def on_trace(self, step: int, trace: Any) -> None:
        """Receive the Trace of optimizer step ``step`` (0-based)."""

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        """Receive a logged epoch's metrics: each a (K,) array, plus ``diverged`` (K,)."""


class History:
    """Per-model training history (see the module docstring).

    Attributes:
        epochs: (n_logged,) the logged epoch numbers (0-based).
        loss, accuracy, val_loss, val_accuracy, time: (n_logged, K) arrays.
        diverged: (K,) bool, True for a model whose loss turned non-finite (then frozen).
        diverged_epoch: (K,) int, the epoch it diverged at, -1 if it did not.
    """

    def __init__(self, n_models: int) -> None:
        self.n_models = int(n_models)
        self._rows: dict[str, list[np.ndarray]] = {m: [] for m in METRICS}
        self._epochs: list[int] = []
        self.diverged = np.zeros(self.n_models, dtype=bool)
        self.diverged_epoch = np.full(self.n_models, -1, dtype=np.int64)

    def record(self, epoch: int, logs: dict[str, Any]) -> None:
        """Append one logged epoch; missing metrics are NaN, scalars are broadcast over K."""
        self._epochs.append(int(epoch))  # kept raw (cheap per epoch), shaped when read
        for m in METRICS:
            v = logs.get(m, np.nan)
            self._rows[m].append(v.copy() if isinstance(v, np.ndarray) else float(v))

    @property
    def epochs(self) -> np.ndarray:
        """The logged epoch numbers."""
        return np.asarray(self._epochs, dtype=np.int64)

    def _metric(self, name: str) -> np.ndarray:
        out = np.empty((len(self._rows[name]), self.n_models))
        for i, v in enumerate(self._rows[name]):
            out[i] = v
        return out

    loss = property(lambda self: self._metric("loss"), doc="(n_logged, K) training loss")
    accuracy = property(lambda self: self._metric("accuracy"), doc="(n_logged, K) accuracy")
    val_loss = property(lambda self: self._metric("val_loss"), doc="(n_logged, K) val loss")
    val_accuracy = property(lambda self: self._metric("val_accuracy"), doc="(n_logged, K)")
    time = property(lambda self: self._metric("time"), doc="(n_logged, K) seconds since start")

    @property
    def history(self) -> dict[str, np.ndarray]:
        """All metrics as a dict (Keras's ``history.history``), plus ``epochs``."""
        out = {m: self._metric(m) for m in METRICS}
        out["epochs"] = self.epochs
        return out

    def __getitem__(self, key: str) -> np.ndarray:
        if key == "epochs":
            return self.epochs
        if key in ("diverged", "diverged_epoch"):
            return getattr(self, key)
        if key not in METRICS:
            from initlab.errors import ConfigError, unknown

            raise unknown("history key", key, [*METRICS, "epochs", "diverged",
                                                "diverged_epoch"], ConfigError)
        return self._metric(key)

    def keys(self) -> list[str]:
        """The metric names."""
        return list(METRICS)

    def __len__(self) -> int:
        return len(self._epochs)

    def __repr__(self) -> str:
        return (f"History(K={self.n_models}, logged_epochs={len(self)}, "
                f"diverged={int(self.diverged.sum())})")
