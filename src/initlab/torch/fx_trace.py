"""Find each layer's consuming nonlinearity without running the model: a ``torch.fx`` trace.

:func:`fx_trace(model) <fx_trace>` symbolically traces ``model`` (``torch.fx.Tracer``, no
input, nothing computed) and reads the graph the way :func:`initlab.torch.tracing.trace_forward`
reads a real forward: the outputs of the Linear / Conv* / ConvTranspose* modules are followed
through norm layers, dropout, pooling, reshapes and additions to the first operation that
consumes them. An ``nn.ReLU`` (any ``torch.nn`` activation module), ``F.relu(x)``,
``torch.relu(x)`` and ``x.relu()`` (in-place forms too) are each one node of the graph, in
``nn.Sequential`` or in any custom ``forward``; the plan says where it was written (the
function, from the graph's recorded stack, as ``Block.forward``).

A model that fx cannot trace (control flow that depends on the data, ``float(x)``, shapes
turned into Python numbers) raises :class:`FxError` with fx's reason; ``init_`` then runs
the forward instead and says so in the plan. Residual branches (Fixup,
``zero_init_residual``) need the running path, which follows module calls.

Example:
    >>> import torch
    >>> m = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    >>> t = fx_trace(m)
    >>> t.order, str(t.consumers["0"]), t.consumers["2"].activation, t.input_text
    (['0', '2'], "nn.ReLU '1'", 'linear', 'torch.fx symbolic trace (no input run)')
"""

from __future__ import annotations

import inspect as pyinspect
import os
import re
from typing import Any

import torch
from torch import fx, nn

from initlab.torch.tracing import _ADDS, _IGNORE, _PASS, ACTIVATIONS, Consumer, ForwardTrace
from initlab.torch.tracing import _written as written_name
from initlab.torch.walk import NORMS, WEIGHTED

__all__ = ["FxError", "fx_trace", "ACTIVATION_MODULES"]

ACTIVATION_MODULES: dict[str, str] = {
    "ReLU": "relu", "ReLU6": "relu6", "GELU": "gelu", "SiLU": "silu", "Mish": "mish",
    "Tanh": "tanh", "Sigmoid": "sigmoid", "LeakyReLU": "leaky_relu", "SELU": "selu",
    "ELU": "elu", "CELU": "celu", "Softplus": "softplus", "Hardtanh": "hardtanh",
    "Hardswish": "hardswish", "Hardsigmoid": "hardsigmoid", "Softmax": "softmax",
    "LogSoftmax": "log_softmax", "PReLU": "prelu",
}
"""``torch.nn`` activation module class -> its function name in :data:`ACTIVATIONS`."""

_PASS_MODULES: tuple[type[nn.Module], ...] = NORMS + (
    nn.modules.dropout._DropoutNd, nn.Identity, nn.Flatten, nn.Unflatten,
    nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd,
    nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd,
)
"""Leaf modules a layer's output passes through on its way to its consumer."""

_PASS_FX = _PASS | _ADDS | {"getitem", "iadd", "imul", "truediv", "neg", "pos"}
_IGNORE_FX = _IGNORE | {"getattr"}
_HERE = os.path.dirname(os.path.abspath(__file__))
_TORCH = os.path.dirname(os.path.abspath(torch.__file__))
_FRAME = re.compile(r'File "([^"]+)", line \d+, in (\S+)')


class FxError(Exception):
    """torch.fx could not trace the model; the message says why (fx's own words)."""


def _where(node: fx.Node, model: nn.Module) -> str:
    """``Class.forward`` (or the helper function) the node was written in."""
    func = ""
    for path, name in _FRAME.findall(node.stack_trace or ""):
        p = os.path.abspath(path)
        if not (p.startswith(_TORCH) or p.startswith(_HERE)):
            func = name
    if func and func != "forward":
        return func
    stack = [t for path, t in (node.meta.get("nn_module_stack") or {}).values()
             if not (node.op == "call_module" and path == node.target)]  # not the module itself
    owner = stack[-1] if stack else type(model)
    return f"{getattr(owner, '__name__', str(owner))}.forward"


def _module_param(module: nn.Module) -> float | None:
    if isinstance(module, nn.LeakyReLU):
        return float(module.negative_slope)
    if isinstance(module, nn.ELU | nn.CELU):
        return float(module.alpha)
    if isinstance(module, nn.PReLU):
        return float(module.weight.detach().float().mean())
    return None


def _concrete_args(model: nn.Module) -> dict[str, Any]:
    """The forward's optional arguments at their defaults (``targets=None`` stays None)."""
    try:
        sig = pyinspect.signature(model.forward)
    except (TypeError, ValueError):
        return {}
    params = list(sig.parameters.values())[1:]
    return {p.name: p.default for p in params
            if p.default is not pyinspect.Parameter.empty
            and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def _graph(model: nn.Module) -> fx.Graph:
    tracer = fx.Tracer()
    tracer.record_stack_traces = True
    try:
        return tracer.trace(model, concrete_args=_concrete_args(model) or None)
    except Exception as err:  # noqa: BLE001 - fx raises many kinds; each means "cannot trace"
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise FxError(f"torch.fx could not trace {type(model).__name__} "
                      f"({type(err).__name__}: {first[:160]})") from None


def fx_trace(model: nn.Module) -> ForwardTrace:
    """Symbolically trace ``model`` and return what consumes each weighted layer's output.

    Args:
        model: any ``torch.nn.Module``; nothing in it runs or changes.

    Returns:
        A :class:`~initlab.torch.tracing.ForwardTrace` with ``order`` (weighted modules in
        graph order) and ``consumers``; ``residuals`` is empty (they need the running path).

    Raises:
        FxError: fx cannot trace the model (the message gives fx's reason).
    """
    graph = _graph(model)
    modules = dict(model.named_modules())
    tags: dict[fx.Node, set[str]] = {}
    consumers: dict[str, Consumer] = {}
    order: list[str] = []

    def consume(srcs: set[str], c: Consumer) -> None:
        for s in srcs:
            consumers.setdefault(s, c)

    for node in graph.nodes:
        srcs = {s for n in node.all_input_nodes for s in tags.get(n, ()) if s not in consumers}
        if node.op == "call_module":
            mod = modules.get(str(node.target))
            if isinstance(mod, WEIGHTED):
                name = str(node.target)
                consume(srcs, Consumer("linear", None, f"nn.{type(mod).__name__} '{name}'",
                                       _where(node, model)))
                if name not in order:
                    order.append(name)
                if name not in consumers:
                    tags[node] = {name}
                continue
            if not srcs:
                continue
            tname = type(mod).__name__
            if tname in ACTIVATION_MODULES and type(mod).__module__.startswith("torch.nn"):
                act = ACTIVATIONS[ACTIVATION_MODULES[tname]]
                consume(srcs, Consumer(act, _module_param(mod), f"nn.{tname} '{node.target}'",
                                       ""))
            elif isinstance(mod, _PASS_MODULES):
                tags[node] = srcs
            else:
                consume(srcs, Consumer("linear", None, f"nn.{tname} '{node.target}'",
                                       _where(node, model)))
        elif node.op in ("call_function", "call_method") and srcs:
            target = node.target
            name = target if isinstance(target, str) else getattr(target, "__name__", "")
            if name in _IGNORE_FX:
                continue
            if name in ACTIVATIONS:
                how = f"x.{name}()" if node.op == "call_method" else written_name(target, name)
                consume(srcs, Consumer(ACTIVATIONS[name], _fn_param(name, node, model), how,
                                       _where(node, model)))
            elif name in _PASS_FX:
                tags[node] = srcs
            else:  # ``a @ b`` is operator.matmul here, Tensor.matmul to the running path
                op = node.op == "call_method" or getattr(target, "__module__", "") == "_operator"
                how = f"x.{name}()" if op else written_name(target, name)
                consume(srcs, Consumer("linear", None, how, _where(node, model)))
        elif node.op == "output":
            consume(srcs, Consumer("linear", None, "output", ""))
    for n in order:
        consumers.setdefault(n, Consumer("linear", None, "output", ""))
    return ForwardTrace(order, consumers, [], "torch.fx symbolic trace (no input run)")


def _fn_param(name: str, node: fx.Node, model: nn.Module) -> float | None:
    """leaky_relu's negative_slope (elu's alpha) when the graph holds it as a constant;
    prelu's learned slope's mean (as the running path reads it)."""
    args, kwargs = node.args, node.kwargs
    if name == "prelu":
        w = args[1] if len(args) > 1 else None
        if isinstance(w, fx.Node) and w.op == "get_attr":
            return float(model.get_parameter(str(w.target)).detach().float().mean())
        return 0.25
    if name.startswith("leaky_relu"):
        v = kwargs.get("negative_slope", args[1] if len(args) > 1 else 0.01)
    elif name.startswith("elu") or name == "celu":
        v = kwargs.get("alpha", args[1] if len(args) > 1 else 1.0)
    else:
        return None
    return float(v) if isinstance(v, int | float) else None
