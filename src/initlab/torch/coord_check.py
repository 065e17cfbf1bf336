"""``initlab.torch.coord_check``: muP's coordinate check, with slopes, intervals and findings.

The coordinate check of microsoft/mup (``mup/coord_check.py``, ``get_coord_data``; Yang et al.
2021, "Tensor Programs V", arXiv:2203.03466): build the model at several widths, train each a
few steps on one fixed batch, and record the average size of every module's output
coordinates, ``mean |output|`` (mup's ``l1``). In a width-stable parametrization (muP) these
stay O(1) as the width grows; in the standard parametrization with Adam they grow with width
after the first update. mup leaves the judgement to a plot; here each module and step gets the
fitted slope of ``log value`` against ``log width``, one fit per seed, with the mean over seeds
and a Student-t 95 % interval, and a finding where the interval lies outside
``[-tolerance, tolerance]``: "blocks.3.mlp grows as width^0.98 after step 1: not
width-stable; expected ~0".

Steps: step 0 is the forward at initialization, step ``t`` the forward after ``t`` optimizer
updates (mup's ``t = 1`` is our step 0). Seed ``s`` builds the model under
``torch.manual_seed(s)`` inside :func:`torch.random.fork_rng`, so the caller's RNG state is
unchanged.

Example:
    >>> import torch
    >>> def factory(w):
    ...     nn = torch.nn
    ...     return nn.Sequential(nn.Linear(8, w), nn.ReLU(), nn.Linear(w, 2))
    >>> x, y = torch.randn(32, 8), torch.randint(0, 2, (32,))
    >>> cc = coord_check(factory, [16, 64], x, y, steps=1, seeds=2,
    ...                  optimizer=lambda m: torch.optim.SGD(m.parameters(), lr=0.1))
    >>> sorted({r.module for r in cc.rows}), len(cc.rows)
    (['0', '1', '2'], 24)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from initlab.errors import ConfigError
from initlab.torch.trace import _call, default_loss, first_tensor

__all__ = ["coord_check", "CoordCheck", "CoordRow", "Slope", "TOLERANCE"]

TOLERANCE = 0.25
"""|slope| a width-stable module may show (log-log, over the widths checked)."""


@dataclass(frozen=True)
class CoordRow:
    """One measurement: ``mean |output|`` of ``module`` at ``width`` after ``step`` updates."""

    width: int
    module: str
    step: int
    seed: int
    value: float


@dataclass(frozen=True)
class Slope:
    """The fitted exponent of ``value ~ width^slope`` for one module and step.

    Attributes:
        module, step: what was fitted.
        slope: mean over seeds of the per-seed least-squares slope of log value on log width.
        low, high: its Student-t 95 % interval over seeds (NaN with one seed).
        seeds: the per-seed slopes.
    """

    module: str
    step: int
    slope: float
    low: float
    high: float
    seeds: tuple[float, ...]

    def stable(self, tolerance: float = TOLERANCE) -> bool:
        """True unless the interval (one seed: the slope) lies outside ``[-tol, tol]``."""
        lo, hi = (self.low, self.high) if math.isfinite(self.low) else (self.slope, self.slope)
        return not (lo > tolerance or hi < -tolerance)


@dataclass
class CoordCheck:
    """What :func:`coord_check` measured: rows, slopes, findings; ``plot()`` draws it."""

    widths: list[int]
    steps: int
    seeds: int
    rows: list[CoordRow]
    slopes: list[Slope]
    tolerance: float = TOLERANCE
    findings: list[str] = field(default_factory=list)

    @property
    def modules(self) -> list[str]:
        """The modules, in the order the forward first ran them."""
        return list(dict.fromkeys(r.module for r in self.rows))

    def values(self, module: str, step: int) -> np.ndarray:
        """(seeds, widths) array of ``mean |output|`` (NaN where not recorded)."""
        out = np.full((self.seeds, len(self.widths)), np.nan)
        col = {w: j for j, w in enumerate(self.widths)}
        for r in self.rows:
            if r.module == module and r.step == step:
                out[r.seed, col[r.width]] = r.value
        return out

    def slope(self, module: str, step: int) -> Slope:
        """The :class:`Slope` of one module at one step."""
        for s in self.slopes:
            if s.module == module and s.step == step:
                return s
        raise ConfigError(f"no slope for module {module!r} at step {step}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly rows, slopes and findings (NaN as None)."""
        def clean(v):
            return None if isinstance(v, float) and not math.isfinite(v) else v
        return {
            "widths": self.widths, "steps": self.steps, "seeds": self.seeds,
            "tolerance": self.tolerance, "findings": list(self.findings),
            "rows": [asdict(r) for r in self.rows],
            "slopes": [{k: (list(map(clean, v)) if isinstance(v, tuple) else clean(v))
                        for k, v in asdict(s).items()} for s in self.slopes],
        }

    def table(self) -> str:
        """Slope per module (rows) and step (columns), with the interval."""
        head = ["module"] + [f"step {t}" for t in range(self.steps + 1)]
        rows = [head]
        for m in self.modules:
            row = [m]
            for t in range(self.steps + 1):
                s = self.slope(m, t)
                cell = f"{s.slope:+.2f}"
                if math.isfinite(s.low):
                    cell += f" [{s.low:+.2f}, {s.high:+.2f}]"
                row.append(cell + ("" if s.stable(self.tolerance) else " !"))
            rows.append(row)
        widths = [max(len(r[j]) for r in rows) for j in range(len(head))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def __str__(self) -> str:
        text = [f"coordinate check: widths {self.widths}, {self.seeds} seed(s); slope of "
                "log mean|output| vs log width (95 % interval over seeds; ! = not width-stable)",
                self.table()]
        text += ["findings:"] + [f"  {f}" for f in self.findings] if self.findings else [
            "findings: none (every module width-stable)"]
        return "\n".join(text) + "\n"

    def plot(self, modules: Sequence[str] | None = None, title: str | None = None) -> Any:
        """A log-log figure: one panel per step, one line per module with its seed band."""
        from initlab.viz.style import band, colors_for, label_axes, legend, new_figure, styled

        mods = list(modules) if modules is not None else self.modules
        colors = colors_for(mods)
        with styled():
            fig, axes = new_figure(1, self.steps + 1, title=title, sharey=True)
            for t, ax in enumerate(axes):
                for m in mods:
                    band(ax, np.asarray(self.widths, float), self.values(m, t), label=m,
                         color=colors[m])
                ax.set_xscale("log", base=2)
                ax.set_yscale("log")
                label_axes(ax, title="initialization" if t == 0 else f"after step {t}",
                           xlabel="width", ylabel="mean |output|" if t == 0 else None)
            legend(axes[-1], fontsize=7)
        return fig


def _fit(widths: np.ndarray, vals: np.ndarray) -> tuple[float, float, float, tuple]:
    from scipy import stats

    lw = np.log(widths)
    per_seed = []
    for v in vals:
        ok = np.isfinite(v) & (v > 0)
        if ok.sum() >= 2:
            per_seed.append(float(np.polyfit(lw[ok], np.log(v[ok]), 1)[0]))
    if not per_seed:
        return math.nan, math.nan, math.nan, ()
    s = np.asarray(per_seed)
    mean = float(s.mean())
    if len(s) < 2:
        return mean, math.nan, math.nan, tuple(per_seed)
    half = float(stats.t.ppf(0.975, len(s) - 1) * s.std(ddof=1) / math.sqrt(len(s)))
    return mean, mean - half, mean + half, tuple(per_seed)


def _modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Every named module but the root and pure containers (their output is a child's)."""
    skip = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
    return [(n, m) for n, m in model.named_modules() if n and not isinstance(m, skip)]


def _record(model: nn.Module, x: Any) -> tuple[dict[str, float], Any]:
    values: dict[str, float] = {}
    hooks = []
    for name, mod in _modules(model):
        def hook(mod, args, out, name=name):
            try:
                t = first_tensor(out)
            except ConfigError:
                return
            if torch.is_floating_point(t) and name not in values:
                values[name] = float(t.detach().abs().mean())
        hooks.append(mod.register_forward_hook(hook))
    try:
        out = _call(model, x)
    finally:
        for h in hooks:
            h.remove()
    return values, out


def coord_check(
    factory: Callable[[int], nn.Module],
    widths: Sequence[int],
    x: Any,
    y: Any = None,
    *,
    loss_fn: Callable[..., torch.Tensor] | None = None,
    optimizer: Callable[[nn.Module], torch.optim.Optimizer],
    steps: int = 3,
    seeds: int = 3,
    tolerance: float = TOLERANCE,
) -> CoordCheck:
    """Run the coordinate check of ``factory`` over ``widths``.

    Args:
        factory: ``factory(width) -> nn.Module``.
        widths: at least two distinct positive widths.
        x, y: one fixed batch (x as for :func:`initlab.torch.inspect`) and its targets.
        loss_fn: ``loss_fn(output, y)`` (``loss_fn(output)`` without y); default cross-entropy
            for integer targets, MSE otherwise.
        optimizer: ``optimizer(model) -> torch.optim.Optimizer`` (param groups give per-layer
            learning rates, as muP's).
        steps: optimizer updates (records at steps 0..steps).
        seeds: seeds 0..seeds-1 (the interval needs >= 2).
        tolerance: |slope| a width-stable module may show.

    Returns:
        A :class:`CoordCheck`.

    Raises:
        ConfigError: bad widths, steps or seeds.
    """
    ws = sorted({int(w) for w in widths}) if widths is not None else []
    if len(ws) < 2 or ws[0] < 1 or any(isinstance(w, bool) for w in widths):
        raise ConfigError(f"widths must be at least two distinct positive ints; got {widths!r}")
    for name, v, least in (("steps", steps, 0), ("seeds", seeds, 1)):
        if isinstance(v, bool) or not isinstance(v, int) or v < least:
            raise ConfigError(f"{name} must be an int >= {least}; got {v!r}")
    if loss_fn is None:
        if y is None:
            raise ConfigError("coord_check needs targets y or a loss_fn to train")
        loss_fn = default_loss
    rows: list[CoordRow] = []
    for seed in range(seeds):
        for w in ws:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                model = factory(w)
                model.train()
                opt = optimizer(model)
                for t in range(steps + 1):
                    values, out = _record(model, x)
                    rows += [CoordRow(w, m, t, seed, v) for m, v in values.items()]
                    if t == steps:
                        break
                    opt.zero_grad()
                    loss = loss_fn(out, y) if y is not None else loss_fn(out)
                    loss.backward()
                    opt.step()
    cc = CoordCheck(ws, steps, seeds, rows, [], tolerance)
    warr = np.asarray(ws, dtype=np.float64)
    for m in cc.modules:
        for t in range(steps + 1):
            s, lo, hi, per = _fit(warr, cc.values(m, t))
            cc.slopes.append(Slope(m, t, s, lo, hi, per))
    for sl in cc.slopes:
        if math.isfinite(sl.slope) and not sl.stable(tolerance):
            verb = "grows" if sl.slope > 0 else "shrinks"
            when = "at initialization" if sl.step == 0 else f"after step {sl.step}"
            cc.findings.append(f"{sl.module} {verb} as width^{sl.slope:.2f} {when}: not "
                               "width-stable; expected ~0")
    return cc
