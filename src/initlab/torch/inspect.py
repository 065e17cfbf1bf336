"""``initlab.torch.inspect``: diagnose the init of any ``torch.nn.Module`` on one batch.

The same :class:`initlab.diagnose.Report` as the NumPy engine's ``initlab.inspect``, with
module paths as layer names (``layer3.1.conv2``): per layer the pre-activation and
activation mean/std, dead % (ReLU family; per channel for convs), saturated %, distinct units
and max cosine, and with a loss ``|dL/dW|``, ``|dL/dz|`` and ``lr * |g| / |W|``; mean-field
theory's prediction for the leading layers that form a plain chain (an MLP or a plain CNN
without norm layers; not past a norm layer, a residual sum or a pooling); and the same
findings. Each init recommendation is checked the way the NumPy engine's are, by the one
check of :mod:`initlab.diagnose.findings`: this module's :func:`remeasure` is the
:data:`~initlab.diagnose.findings.Remeasure` hook (``init_`` on a copy of the model, the same
batch traced again), and a candidate that does not change the std, does not move the
finding's quantity the right way, or adds an error is dropped. A kept candidate is printed
as the :func:`initlab.torch.init_` call that was measured, rules per module; with
``verify=False`` the call is built from the sick modules and marked not verified.

Cost: one traced forward + backward, and with findings one more on a copy per candidate
tried (each with its ``init_`` call; re-measures are shared between findings).

Example:
    >>> import torch
    >>> torch.manual_seed(0) and None
    >>> m = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    >>> rep = inspect(m, torch.randn(256, 32), torch.randint(0, 10, (256,)))
    >>> [st.name for st in rep.stats], rep.findings
    (['0', '2'], [])
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
from torch import nn

from initlab.diagnose.findings import Finding, fix_inits, recommended_init
from initlab.diagnose.report import Report, predict_grad, report_from_trace
from initlab.diagnose.thresholds import Thresholds
from initlab.errors import ConfigError
from initlab.init.checks import number
from initlab.torch.trace import trace_model

__all__ = ["inspect", "Fix", "DEFAULT_LR", "propose_fix", "apply_fix", "module_rules",
           "remeasure", "verified_fix"]

_ACTIVATION_TRENDS = ("vanishing_activations", "exploding_activations")
_TRENDS = _ACTIVATION_TRENDS + ("vanishing_gradients", "exploding_gradients")
OFF_SCALE = 2.0
"""A trend finding's fix also names every layer whose weight std is this far (either way)
from the std its activation's scheme gives."""

MAX_RULES = 4
"""A fix naming more modules than this, and at least half of them, is ``"auto"`` alone."""

DEFAULT_LR = 0.01
"""The learning rate ``lr * |g| / |W|`` assumes when ``lr`` is not given (the engine's)."""


@dataclasses.dataclass(frozen=True)
class Fix:
    """A recommended ``init_`` call and what it did on the batch.

    Attributes:
        rules: ``{parameter pattern: scheme}`` naming the modules it re-initializes
            (``"*": "keep"`` last), or empty for ``init_(model, "auto")``.
        call: the Python line to paste.
        verified: True when the re-measured copy no longer trips the finding's rule, False
            when the quantity moved the right way but still trips it (both from
            :func:`verified_fix`); None when it was not re-measured (:func:`propose_fix`).
        before: the findings' ``(code, layer)`` it targets.
        after: kept for compatibility; empty.
        seed: the call's seed.
    """

    rules: dict[str, str]
    call: str
    verified: bool | None
    before: tuple[tuple[str, str], ...]
    after: tuple[tuple[str, str], ...]
    seed: int = 0

    def describe(self) -> str:
        """The recommendation text: the call and whether it was verified."""
        if self.verified is None:
            return f"Try: {self.call} (not verified)."
        lead = "Fix, verified on this batch" if self.verified else (
            "Better on this batch, not fixed")
        return f"{lead}: {self.call}."


def inspect(
    model: nn.Module,
    x: Any,
    y: Any = None,
    *,
    loss_fn: Callable[..., Any] | None = None,
    lr: float | None = None,
    thresholds: Thresholds | dict | None = None,
    verify: bool = True,
    seed: int = 0,
    label: str | None = None,
) -> Report:
    """Measure every Linear and Conv call of ``model`` on a batch and diagnose the init.

    Args:
        model: any ``torch.nn.Module`` (run in its current train/eval mode).
        x: the batch: a tensor (``model(x)``), a tuple (``model(*x)``) or a dict
            (``model(**x)``).
        y: targets; with them (or ``loss_fn``) the gradient statistics are measured.
        loss_fn: ``loss_fn(output, y)``, or ``loss_fn(output)`` when ``y`` is None; default
            cross-entropy for integer targets, MSE otherwise. Tuple and dict outputs are
            passed whole; the default loss takes a dict's ``logits`` or the first tensor.
        lr: learning rate for ``lr * |g| / |W|`` (default :data:`DEFAULT_LR`).
        thresholds: the cut-offs (:class:`initlab.diagnose.Thresholds` or a dict).
        verify: run each recommendation on a copy of the model and re-measure it.
        seed: the seed of the recommended ``init_`` call.
        label: the model's label in the report (default its class name).

    Returns:
        A :class:`initlab.diagnose.Report` (K = 1).

    Raises:
        ConfigError: not a Module, no Linear/Conv layer ran, a bad ``lr``, or a loss that is
            not a scalar.
    """
    lr = DEFAULT_LR if lr is None else lr
    number("inspect", "lr", lr, low=0, strict=True,
           bad=lambda v, _: ConfigError(f"lr must be a positive number; got {v!r}"))
    hook = None
    if verify:
        hook = _Hook(model, x, y, loss_fn, float(lr), thresholds, seed)
    rep, tp = _measure(model, x, y, loss_fn, float(lr), thresholds, label, hook)
    if rep.findings:
        modules = _modules(rep)
        unverified = None if verify else propose_fix(model, rep, seed)
        rep.findings = [dataclasses.replace(f, recommendation=_recommendation(
            f, rep, modules, seed, unverified)) for f in rep.findings]
    return rep


class _Hook:
    """The Remeasure hook for one inspect call: :func:`remeasure` over the traced layers'
    modules (known once the first trace has run)."""

    def __init__(self, model, x, y, loss_fn, lr, thresholds, seed) -> None:
        self.args = (model, x, y, loss_fn, lr, thresholds, seed)
        self.modules: list[str] = []

    def __call__(self, k: int, inits: Any) -> list:
        model, x, y, loss_fn, lr, thresholds, seed = self.args
        return remeasure(model, x, y, modules=self.modules, loss_fn=loss_fn, lr=lr,
                         thresholds=thresholds, seed=seed)(k, inits)


def _modules(rep: Report) -> list[str]:
    """The module path of each traced layer (a module called twice: its path for each call)."""
    return [st.name.split("#")[0] for st in rep.stats]


def _measure(model, x, y, loss_fn, lr, thresholds, label, hook: _Hook | None = None):
    tp = trace_model(model, x, y, loss_fn)
    if hook is not None:
        hook.modules = [ly.name.split("#")[0] for ly in tp.trace.layers]
    rep = report_from_trace(tp.trace, lr, thresholds, [label or type(model).__name__],
                            remeasure=hook)
    if tp.chain < len(rep.stats):  # theory applies to the plain chain only
        rep.predicted_q[tp.chain:] = np.nan
        rep.predicted_grad = predict_grad(rep.stats, rep.predicted_q)
        rep.mean_field = [None] * rep.n_models
    # rms(z_l) / rms(x) means signal decay only along the plain chain: norm layers reset the
    # scale and a residual branch is small by design (GPT-2's 0.02 / sqrt(2 n_layer))
    rep.findings = [_named(f) for f in rep.findings
                    if not (f.code in _ACTIVATION_TRENDS and f.layer > tp.chain)]
    return rep, tp


def verified_fix(rep: Report, finding: Finding, seed: int = 0) -> Fix | None:
    """The ``init_`` call a finding's verified init stands for (None: no init was kept).

    It is the call :func:`remeasure` ran: the finding's ``fix`` in every layer of its
    activation, every other layer its own activation's scheme
    (:func:`initlab.diagnose.findings.fix_inits`), zero biases, every other parameter kept.
    """
    if finding.fix is None:
        return None
    inits = fix_inits(rep.stats, finding.layer - 1, finding.fix)
    rules = module_rules(dict(zip(_modules(rep), inits, strict=True)))
    text = ", ".join(f"{k!r}: {v!r}" for k, v in rules.items())
    return Fix(rules, f"initlab.torch.init_(model, rules={{{text}}}, seed={seed})",
               finding.fixed, ((finding.code, finding.layer_name),), (), seed)


def _recommendation(f: Finding, rep: Report, modules: list[str], seed: int,
                    unverified: Fix | None) -> str:
    """The finding's re-measured sentence (or what else to change), with the call to paste."""
    if unverified is not None:
        return f"{f.recommendation} {unverified.describe()}".strip()
    fix = verified_fix(rep, f, seed)
    return f.recommendation if fix is None else f"{fix.describe()} {f.recommendation}"


def _named(f: Finding) -> Finding:
    """Say the module path where the engine's message says ``layer N``."""
    prefix = f"layer {f.layer}: "
    msg = f.message[len(prefix):] if f.message.startswith(prefix) else f.message
    return dataclasses.replace(f, message=f"{f.layer_name}: {msg}")


def propose_fix(model: nn.Module, rep: Report, seed: int = 0) -> Fix:
    """The ``init_`` call for a report's findings, with rules naming the sick modules.

    Each module a finding names (and, for a vanishing or exploding trend, every layer whose
    weight std is more than :data:`OFF_SCALE` x off its scheme's) gets the scheme its
    activation calls for (He for the ReLU family, LeCun for SELU, Glorot otherwise) and zero
    biases; a last rule ``"*": "keep"`` leaves every other parameter as it is. When that names
    more than :data:`MAX_RULES` modules and at least half of them, the call is
    ``init_(model, "auto")`` alone (re-initialize every layer).
    """
    from initlab.init import get

    by_module = {st.name.split("#")[0]: st for st in rep.stats}
    named = list(dict.fromkeys(f.layer_name.split("#")[0] for f in rep.findings))
    if any(f.code in _TRENDS for f in rep.findings):  # a trend has many causes: name them all
        for mod, st in by_module.items():
            want = get(recommended_init(st.activation)).std((st.fan_in, st.units))
            ratio = float(st.w_std[0]) / want if want > 0 else 1.0
            if not (1 / OFF_SCALE <= ratio <= OFF_SCALE) and mod not in named:
                named.append(mod)
    before = tuple((f.code, f.layer_name) for f in rep.findings)
    if len(named) > MAX_RULES and 2 * len(named) >= len(by_module):  # most layers: "auto"
        return Fix({}, f'initlab.torch.init_(model, "auto", seed={seed})', None, before, (),
                   seed)
    rules = module_rules({m: recommended_init(by_module[m].activation) for m in named})
    text = ", ".join(f"{k!r}: {v!r}" for k, v in rules.items())
    return Fix(rules, f"initlab.torch.init_(model, rules={{{text}}}, seed={seed})", None,
               before, (), seed)


def module_rules(schemes: dict[str, str]) -> dict[str, str]:
    """``init_`` rules that set each named module's weight (zero bias) and keep the rest.

    Example:
        >>> module_rules({"conv2": "he_normal"})
        {'conv2.weight': 'he_normal', 'conv2.bias': 'zeros', '*': 'keep'}
    """
    rules: dict[str, str] = {}
    for mod, scheme in schemes.items():
        rules[f"{mod}.weight"] = scheme
        rules[f"{mod}.bias"] = "zeros"
    rules["*"] = "keep"
    return rules


def apply_fix(model: nn.Module, fix: Fix) -> None:
    """Run the fix's ``init_`` call on ``model`` (in place)."""
    from initlab.torch import init_

    init_(model, "auto", rules=dict(fix.rules) or None, seed=fix.seed)


def remeasure(model: nn.Module, x: Any, y: Any = None, *, modules: list[str],
              loss_fn: Callable[..., Any] | None = None, lr: float = DEFAULT_LR,
              thresholds: Thresholds | dict | None = None, seed: int = 0):
    """The PyTorch adapter's re-measure function: ``remeasure(k, inits) -> [LayerStats]``.

    ``inits[i]`` is an init spec for layer ``i`` (whose module path is ``modules[i]``) or None
    to keep it; a copy of ``model`` gets ``init_(copy, rules=...)`` for those modules (every
    other parameter kept), and the same batch is traced again. ``k`` must be 0 (one model).

    Example:
        >>> import torch
        >>> m = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU())
        >>> st = remeasure(m, torch.randn(16, 4), modules=["0"])(0, ["zeros"])
        >>> float(st[0].w_std[0])
        0.0
    """
    from initlab.diagnose.stats import trace_stats
    from initlab.torch import init_

    def again(k: int, inits: Any) -> list:
        if k != 0:
            raise ConfigError(f"a torch model is one model (k = 0); got k = {k}")
        schemes = {modules[i]: s for i, s in enumerate(inits) if s is not None}
        twin = copy.deepcopy(model)
        init_(twin, "auto", rules=module_rules(schemes), seed=seed)
        return trace_stats(trace_model(twin, x, y, loss_fn).trace, lr, thresholds)

    return again
