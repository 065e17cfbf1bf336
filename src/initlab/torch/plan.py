"""InitPlan: what ``init_`` did (or would do, with ``dry_run=True``) to each parameter.

A plan is a list of rows, one per parameter: its name, module type, shape, fans, the scheme,
the std that scheme gives, and the reason (the rule, the recipe, or what ``auto`` found in the
forward). It prints as a table and is available as rows (dicts) and JSON.

Example:
    >>> plan = InitPlan([PlanRow("0.weight", "Linear", (3, 2), 2, 3, "he_normal", 1.0,
    ...                          "auto -> he_normal: nn.ReLU '1'")])
    >>> plan.rows[0]["fan_in"], plan.to_json()[:14]
    (2, '[{"parameter":')
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

__all__ = ["PlanRow", "InitPlan", "LEFT"]

LEFT = "left as is"
"""The scheme shown for a parameter ``init_`` did not change."""


@dataclasses.dataclass(frozen=True)
class PlanRow:
    """One parameter's line of an :class:`InitPlan`.

    Attributes:
        parameter: the parameter's full name.
        module_type: its module's class name.
        shape: its shape (torch layout).
        fan_in: inputs per output element (None where it has none).
        fan_out: outputs per input element (None where it has none).
        scheme: the initializer's canonical spec, or ``"left as is"``.
        std: the std the scheme gives the elements (for a parameter left as is: its
            measured std), None where undefined.
        reason: why: ``"rule '*.c_proj.weight'"``, ``"gpt2: ..."``, ``"auto -> he_normal:
            F.relu in Block.forward"``.
        torch_fans: what ``torch.nn.init`` would count as (fan_in, fan_out), or None.
    """

    parameter: str
    module_type: str
    shape: tuple[int, ...]
    fan_in: float | None
    fan_out: float | None
    scheme: str
    std: float | None
    reason: str
    torch_fans: tuple[int, int] | None = None

    def as_dict(self) -> dict[str, Any]:
        """The row as a JSON-ready dict (shape and torch_fans as lists)."""
        d = dataclasses.asdict(self)
        d["shape"] = list(self.shape)
        d["torch_fans"] = list(self.torch_fans) if self.torch_fans else None
        if d["std"] is not None and not math.isfinite(d["std"]):
            d["std"] = None
        return d


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, tuple):
        return "(" + ", ".join(str(x) for x in v) + ")"
    return str(v)


@dataclasses.dataclass(frozen=True)
class InitPlan:
    """Per-parameter record of an initialization (see the module docstring).

    Attributes:
        entries: the :class:`PlanRow` s, in the model's parameter order.
        applied: False for a ``dry_run`` plan (nothing was changed).
        traced: the input the forward was traced with, ``"torch.fx symbolic trace (no input
            run)"`` when the graph was read instead, or "" when neither was needed.
        notes: remarks, e.g. a rule that matched no parameter.
    """

    entries: list[PlanRow]
    applied: bool = True
    traced: str = ""
    notes: tuple[str, ...] = ()

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The rows as dicts (keys: parameter, module_type, shape, fan_in, fan_out, scheme,
        std, reason, torch_fans)."""
        return [r.as_dict() for r in self.entries]

    def to_json(self, **kwargs: Any) -> str:
        """The rows as a JSON array (keyword arguments go to ``json.dumps``)."""
        return json.dumps(self.rows, allow_nan=False, **kwargs)

    def __getitem__(self, name: str) -> PlanRow:
        """The row of the parameter called ``name``."""
        for r in self.entries:
            if r.parameter == name:
                return r
        raise KeyError(name)

    def __len__(self) -> int:
        return len(self.entries)

    def table(self) -> str:
        """The plan as a text table, one line per parameter."""
        head = ("parameter", "module", "shape", "fan_in", "fan_out", "scheme", "std", "reason")
        body = [
            (r.parameter, r.module_type, _cell(r.shape), _cell(r.fan_in), _cell(r.fan_out),
             r.scheme, _cell(r.std), r.reason)
            for r in self.entries
        ]
        widths = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                 for row in [head, *body]]
        lines.insert(1, "-" * len(lines[0]))
        state = "applied" if self.applied else "dry run: nothing changed"
        traced = "" if not self.traced else (
            f"; {self.traced}" if self.traced.startswith("torch.fx") else
            f"; forward traced on {self.traced}")
        n = len(self.entries)
        left = sum(r.scheme == LEFT for r in self.entries)
        lines.append(f"{n} parameters, {n - left} set, {left} left as is ({state}{traced})")
        lines.extend(f"note: {x}" for x in self.notes)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()
