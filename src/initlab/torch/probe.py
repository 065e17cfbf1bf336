"""``initlab.torch.Probe``: the diagnostics of any PyTorch training loop, every N steps.

Call :meth:`Probe.step` after each optimizer step. Before a recording step (every ``every``
steps, the first included) the probe attaches its hooks to the model; they watch the loop's own
next forward and backward (no extra pass): each Linear/Conv call's z and a, its weights
before the update, ``dL/dz`` through tensor hooks, and ``dL/dW`` from ``.grad`` when
``step()`` comes. Then the hooks are removed, so the steps in between run untouched. The
record goes into :class:`initlab.diagnose.Probe`'s bounded ring buffer (``capacity`` records)
with the same statistics and findings as :func:`initlab.torch.inspect`; ``first_seen`` says
when each finding code first appeared and :meth:`history` gives the table.

Overhead at the default period (:data:`DEFAULT_EVERY`): ``benchmarks/torch_probe.py``.

Example:
    >>> import torch
    >>> m = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    >>> opt = torch.optim.SGD(m.parameters(), lr=0.1)
    >>> probe = Probe(m, every=2)
    >>> for _ in range(5):
    ...     opt.zero_grad()
    ...     loss = torch.nn.functional.cross_entropy(m(torch.randn(16, 4)), torch.zeros(16).long())
    ...     loss.backward()
    ...     opt.step()
    ...     probe.step()
    >>> probe.history()["step"].tolist(), probe.layer_names
    ([0, 2, 4], ['0', '2'])
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from initlab.diagnose.findings import Finding
from initlab.diagnose.probe import Probe as _Buffer
from initlab.diagnose.thresholds import Thresholds
from initlab.errors import ConfigError
from initlab.torch.trace import _Recorder, build_trace, grads_of

__all__ = ["Probe", "DEFAULT_EVERY"]

DEFAULT_EVERY = 100
"""Steps between two records by default."""


class Probe:
    """Record per-layer statistics of ``model`` every ``every`` optimizer steps.

    Args:
        model: the ``torch.nn.Module`` being trained.
        every: record every this many steps (> 0).
        capacity: records kept (a ring buffer: older ones are overwritten).
        lr: learning rate for ``lr * |g| / |W|``.
        thresholds: cut-offs of the statistics and findings.
        max_cosine_units: units compared for ``max_cosine``.

    Use ``probe.step()`` after each ``optimizer.step()``, or ``with Probe(model) as probe:``
    (the hooks are removed on exit), or ``probe.close()``.
    """

    def __init__(self, model: nn.Module, every: int = DEFAULT_EVERY, capacity: int = 1000,
                 lr: float = 0.01, thresholds: Thresholds | dict | None = None,
                 max_cosine_units: int = 64) -> None:
        if not isinstance(model, nn.Module):
            raise ConfigError(f"Probe needs a torch.nn.Module; got {type(model).__name__}")
        self._buffer = _Buffer(every=every, capacity=capacity, lr=lr, thresholds=thresholds,
                               max_cosine_units=max_cosine_units)
        self.model = model
        self.every = self._buffer.every
        self.steps = 0
        self._rec: _Recorder | None = None
        self._root: list[Any] = []
        self._dz: dict[int, torch.Tensor] = {}
        self._arm()

    # the hooks, attached for one forward + backward
    def _arm(self) -> None:
        self._rec = _Recorder(self.model)
        self._dz = {}
        self._root = [self.model.register_forward_pre_hook(self._enter),
                      self.model.register_forward_hook(self._exit)]

    def _enter(self, module, args) -> None:
        if self._rec is not None and not self._rec.calls:
            self._rec.__enter__()

    def _exit(self, module, args, out) -> None:
        rec = self._rec
        if rec is None:
            return
        rec.__exit__(None, None, None)
        for h in self._root:
            h.remove()
        self._root = []
        for i, c in enumerate(rec.calls):
            c.snapshot()
            anchor = c.pre if c.pre is not None else c.out
            if anchor.requires_grad:
                anchor.register_hook(self._keeper(i))

    def _keeper(self, i: int):
        def keep(g: torch.Tensor) -> None:
            self._dz[i] = g.detach()
        return keep

    def _disarm(self) -> None:
        for h in self._root:
            h.remove()
        self._root = []
        if self._rec is not None:
            self._rec.close()
        self._rec = None
        self._dz = {}

    def step(self) -> None:
        """Count one optimizer step; on a recording step, summarize what the hooks saw."""
        rec = self._rec
        if rec is not None and rec.calls and not self._root:
            grads = grads_of(rec.calls, self._dz) if self._dz else None
            trace = build_trace(self.model, rec.calls, grads, None)
            self._buffer.on_trace(self.steps, trace)
            self._disarm()
        self.steps += 1
        if self._rec is None and self.steps % self.every == 0:
            self._arm()

    def close(self) -> None:
        """Remove every hook (the probe records nothing more)."""
        self._disarm()

    def __enter__(self) -> Probe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def findings(self) -> list[Finding]:
        """Findings of the latest record."""
        return self._buffer.findings

    @property
    def first_seen(self) -> dict[str, int]:
        """``{code: step}`` when each finding code first appeared."""
        return self._buffer.first_seen

    @property
    def layer_names(self) -> list[str]:
        """Module paths of the recorded layers (``name#2`` for a second call)."""
        return self._buffer.layer_names

    @property
    def nbytes(self) -> int:
        """Bytes held by the records (bounded by ``capacity``)."""
        return self._buffer.nbytes

    @property
    def hooked(self) -> bool:
        """True while hooks are attached (only around a recording step)."""
        return bool(self._root) or bool(self._rec is not None and self._rec._handles)

    def history(self) -> dict[str, np.ndarray]:
        """The kept records, oldest first: ``{"step": (n,), field: (n, n_layers, 1)}``."""
        return self._buffer.history()

    def __len__(self) -> int:
        return len(self._buffer)

    def __repr__(self) -> str:
        return f"Probe(every={self.every}, records={len(self)}/{self._buffer.capacity})"
