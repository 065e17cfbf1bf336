"""Trace any ``torch.nn.Module``: one forward (+ backward) pass as an :class:`initlab.trace.Trace`.

The diagnostics read the same Trace from both engines; this module is the PyTorch side. One
traced pass records, for every call of a Linear or Conv module (the modules of
:data:`initlab.torch.walk.WEIGHTED`, ConvTranspose excepted), in the order the forward runs
them:

* ``pre``: what enters the layer's activation, found by following the tensor: the module's
  output, through norm layers, Dropout and in-place adds (``out += identity``), to the first
  element-wise activation that consumes it: an ``nn.ReLU`` module, ``F.relu(x)``,
  ``x.relu()``, ``torch.tanh``, GELU, SiLU, LeakyReLU, ELU, SELU, Softplus, Sigmoid, Mish. A
  layer no activation consumes is ``linear`` and its ``pre`` is its output. Activations are
  seen through a :class:`torch.overrides.TorchFunctionMode`, so functional calls count as
  modules do; an in-place activation on a recorded tensor runs out of place (its result is
  returned, as the caller uses it).
* ``post``: the activation's output; ``W``, ``b``: the module's kernel as an
  ``(fan_in, units)`` matrix (a conv's ``(out, in/g, *k)`` flattened to
  ``(in/g * prod(k), out)``) and its bias (zeros without one).
* With a loss: ``grad_W``, ``grad_b`` (``dL/dW``, ``dL/db``) and ``grad_pre`` (``dL/dz`` at
  ``pre``), from one ``torch.autograd.grad`` call, which leaves every ``.grad`` untouched. A
  module called twice shares its parameters, so both of its records carry the total
  ``dL/dW``; ``pre``, ``post`` and ``dL/dz`` are per call. Where a norm layer's scale is all
  zero (``zero_init_residual``), a layer whose gradients are exactly zero is gated by design:
  its ``grad_pre`` is left out (None), so it is not judged as vanishing.

Layouts follow :mod:`initlab.trace`: a batch ``(n, ..., units)`` (a transformer's tokens are
positions) and a conv output ``(n, C, *spatial)`` are stored ``(1, n, *positions, units)``.
Layer names are module paths (``layer3.1.conv2``); the second call of a module is
``name#2``. ``chain`` counts the leading layers that form a plain chain (each one's input is
the previous layer's output, with no norm layer in between): mean-field theory applies to them.

The model's parameters, gradients, buffers (BatchNorm's running statistics), train/eval modes
and the RNG state (CPU and CUDA, via :func:`torch.random.fork_rng`) are the same afterwards.

Example:
    >>> import torch
    >>> m = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    >>> tr = trace_model(m, torch.randn(16, 4), torch.randint(0, 2, (16,))).trace
    >>> [(lt.name, lt.activation, lt.pre.shape) for lt in tr.layers]
    [('0', 'relu', (1, 16, 8)), ('2', 'linear', (1, 16, 2))]
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - the conventional name
from torch import nn
from torch.overrides import TorchFunctionMode

from initlab.errors import ConfigError
from initlab.torch.walk import NORMS, WEIGHTED
from initlab.trace import LayerTrace, Trace

__all__ = ["TracedPass", "trace_model", "build_trace", "grads_of", "preserved", "default_loss",
           "first_tensor"]

_NORMS = (*NORMS, nn.LocalResponseNorm)
_PASS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.Identity,
         nn.Flatten, nn.Unflatten)


def _spec(name: str, **params: float) -> str:
    args = ", ".join(f"{k}={float(v):g}" for k, v in params.items())
    return f"{name}({args})" if args else name


def _arg(args: tuple, kwargs: dict, i: int, key: str, default: Any) -> Any:
    return args[i] if len(args) > i else kwargs.get(key, default)


def _leaky(args, kwargs):
    return _spec("leaky_relu", alpha=_arg(args, kwargs, 1, "negative_slope", 0.01))


def _elu(args, kwargs):
    alpha = _arg(args, kwargs, 1, "alpha", 1.0)
    return "elu" if alpha == 1.0 else _spec("elu", alpha=alpha)


def _gelu(args, kwargs):
    return "gelu" if kwargs.get("approximate", "none") == "none" else "gelu_tanh"


def _softplus(args, kwargs):
    plain = _arg(args, kwargs, 1, "beta", 1.0) == 1.0
    return "softplus" if plain else "softplus_beta"


# activation function -> (name in initlab's table, out-of-place call(x, args, kwargs))
_ACTS: dict[Any, tuple[Callable[[tuple, dict], str], Callable[..., torch.Tensor]]] = {}


def _register() -> None:
    def same(name):
        return lambda a, k: name

    def keep(f, *names):  # the out-of-place call with the same non-inplace arguments
        def call(x, args, kwargs):
            kw = {k: v for k, v in kwargs.items() if k != "inplace"}
            pos = [a for a in args[1:] if not isinstance(a, bool)]
            return f(x, *pos, **kw)
        return call

    table = [
        ((F.relu, torch.relu, torch.Tensor.relu, F.relu_, torch.relu_, torch.Tensor.relu_),
         same("relu"), keep(torch.relu)),
        ((F.leaky_relu, F.leaky_relu_), _leaky, keep(F.leaky_relu)),
        ((F.elu, F.elu_), _elu, keep(F.elu)),
        ((F.selu, torch.selu, torch.selu_), same("selu"), keep(torch.selu)),
        ((F.gelu,), _gelu, keep(F.gelu)),
        ((F.silu,), same("silu"), keep(F.silu)),
        ((F.mish,), same("mish"), keep(F.mish)),
        ((F.softplus,), _softplus, keep(F.softplus)),
        ((torch.tanh, torch.Tensor.tanh, F.tanh, torch.tanh_, torch.Tensor.tanh_),
         same("tanh"), keep(torch.tanh)),
        ((torch.sigmoid, torch.Tensor.sigmoid, F.sigmoid, torch.sigmoid_,
          torch.Tensor.sigmoid_), same("sigmoid"), keep(torch.sigmoid)),
    ]
    for funcs, name, call in table:
        for f in funcs:
            _ACTS[f] = (name, call)


_register()

def _inplace(func: Any, args: tuple, kwargs: dict) -> bool:
    """True for ``relu_``-style functions and ``inplace=True`` (keyword or positional)."""
    if getattr(func, "__name__", "").endswith("_") or kwargs.get("inplace") is True:
        return True
    return any(a is True for a in args[1:])


_VIEWS = {torch.Tensor.view, torch.Tensor.reshape, torch.reshape, torch.flatten,
          torch.Tensor.flatten, torch.Tensor.contiguous}
_INPLACE_ADD = {torch.Tensor.__iadd__, torch.Tensor.add_}


@dataclass(eq=False)
class _Call:
    """One call of a weighted module, filled as the forward runs."""

    name: str
    module: nn.Module
    conv: bool
    inp: torch.Tensor
    out: torch.Tensor
    activation: str = "linear"
    pre: torch.Tensor | None = None
    post: torch.Tensor | None = None
    normed: bool = False
    pre_np: np.ndarray | None = None
    post_np: np.ndarray | None = None
    W_np: np.ndarray | None = None  # noqa: N815
    b_np: np.ndarray | None = None

    def snapshot(self) -> None:
        """Copy z and a to NumPy now (a later in-place op must not change what was seen)."""
        z = self.pre if self.pre is not None else self.out
        a = self.post if self.post is not None else z
        self.pre_np = _layout(z, self.conv)
        self.post_np = self.pre_np if a is z else _layout(a, self.conv)


def _layout(t: torch.Tensor, conv: bool) -> np.ndarray:
    """(n, C, *spatial) -> (1, n, *spatial, C) for convs; (n, ..., units) -> (1, n, ..., units)."""
    t = t.detach()
    if conv:
        t = t.movedim(1, -1)
    return t.to(torch.float32).cpu().numpy().copy()[None]


def _matrix(w: torch.Tensor) -> np.ndarray:
    """A kernel (out, in/g, *k) or (out, in) as the (1, fan_in, out) matrix of the Trace."""
    w = w.detach().to(torch.float32).reshape(w.shape[0], -1)
    return w.t().cpu().numpy().copy()[None]


class _Recorder(TorchFunctionMode):
    """Hooks and a function mode that follow each weighted module's output to its activation."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.calls: list[_Call] = []
        self._origin: dict[int, tuple[_Call, bool]] = {}  # id(tensor) -> (call, normed)
        self._post: dict[int, _Call] = {}  # id(tensor) -> the call whose output it is
        self._keep: list[torch.Tensor] = []  # keeps ids unique while the pass runs
        self._inputs: dict[int, _Call | None] = {}
        self._counts: dict[str, int] = {}
        self._handles: list[Any] = []
        for name, mod in model.named_modules():
            if isinstance(mod, WEIGHTED):
                if getattr(mod, "transposed", False):
                    continue
                self._handles.append(mod.register_forward_hook(self._weighted(name)))
            elif isinstance(mod, _NORMS + _PASS):
                self._handles.append(mod.register_forward_hook(
                    self._passthrough(isinstance(mod, _NORMS))))

    def close(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()
        self._origin.clear()
        self._post.clear()
        self._keep.clear()

    def _link(self, t: Any, call: _Call, normed: bool) -> None:
        if isinstance(t, torch.Tensor):
            self._keep.append(t)
            self._origin[id(t)] = (call, normed)

    def _weighted(self, name: str):
        def hook(mod: nn.Module, args: tuple, out: Any) -> None:
            if not (args and isinstance(args[0], torch.Tensor) and isinstance(out, torch.Tensor)):
                return
            n = self._counts.get(name, 0) + 1
            self._counts[name] = n
            label = name if n == 1 else f"{name}#{n}"
            call = _Call(label or type(mod).__name__, mod,
                         isinstance(mod, nn.modules.conv._ConvNd), args[0], out)
            call.W_np = _matrix(mod.weight)
            bias = getattr(mod, "bias", None)
            call.b_np = (np.zeros((1, mod.weight.shape[0]), np.float32) if bias is None
                         else bias.detach().to(torch.float32).cpu().numpy().copy()[None])
            self._inputs[len(self.calls)] = self._post.get(id(args[0]))
            self.calls.append(call)
            self._link(out, call, False)
            self._keep.append(args[0])
            self._post[id(out)] = call
        return hook

    def _passthrough(self, normed: bool):
        def hook(mod: nn.Module, args: tuple, out: Any) -> None:
            if args and isinstance(args[0], torch.Tensor):
                src = self._origin.get(id(args[0]))
                if src is not None and src[0].pre is None:
                    self._link(out, src[0], src[1] or normed)
                post = self._post.get(id(args[0]))
                if post is not None and isinstance(out, torch.Tensor) and not normed:
                    self._keep.append(out)
                    self._post[id(out)] = post
        return hook

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        x = args[0] if args else None
        if func in _ACTS and isinstance(x, torch.Tensor):
            src = self._origin.get(id(x))
            if src is not None and src[0].pre is None:
                call, normed = src
                name_of, run = _ACTS[func]
                inplace = _inplace(func, args, kwargs)
                z = x.clone() if inplace else x  # the anchor of dL/dz must keep z's value
                out = run(z, args, kwargs)
                call.activation, call.pre, call.post = name_of(args, kwargs), z, out
                call.normed = normed
                if inplace:  # the caller may read x itself: give it a(z), as in-place would
                    x.copy_(out)
                    out = x
                self._keep += [z, out]
                self._post[id(out)] = call
                return out
        out = func(*args, **kwargs)
        if isinstance(x, torch.Tensor) and isinstance(out, torch.Tensor):
            if func in _VIEWS and id(x) in self._post:
                self._keep.append(out)
                self._post[id(out)] = self._post[id(x)]
            elif func in _INPLACE_ADD and out is x and id(x) in self._origin:
                call, normed = self._origin[id(x)]
                self._origin[id(x)] = (call, True)  # a residual sum: no longer a plain chain
        return out

    def chain(self) -> int:
        """Leading calls whose input is the previous call's output (no norm in between)."""
        n = 0
        for i, call in enumerate(self.calls):
            if call.normed or (i > 0 and self._inputs.get(i) is not self.calls[i - 1]):
                break
            n += 1
        return n


@dataclass
class TracedPass:
    """What :func:`trace_model` returns.

    Attributes:
        trace: the :class:`initlab.trace.Trace` (K = 1), layers in call order.
        chain: leading layers forming a plain chain (mean-field theory applies to them).
        modules: the module path of each layer (without the ``#2`` of a repeated call).
        output: the model's output (detached).
    """

    trace: Trace
    chain: int
    modules: list[str] = field(default_factory=list)
    output: Any = None


def first_tensor(out: Any) -> torch.Tensor:
    """The first tensor of a model's output: itself, a tuple's first, a dict's ``logits`` or first.

    Example:
        >>> import torch
        >>> first_tensor({"aux": 1, "logits": torch.ones(2)}).shape
        torch.Size([2])
    """
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, dict):
        if isinstance(out.get("logits"), torch.Tensor):
            return out["logits"]
        out = list(out.values())
    if isinstance(out, (list, tuple)):
        for v in out:
            if isinstance(v, torch.Tensor):
                return v
    raise ConfigError(f"the model's output has no tensor: got {type(out).__name__}")


def default_loss(out: Any, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy for integer labels (logits ``(n, C)`` or ``(n, ..., C)``), else MSE.

    Example:
        >>> import torch
        >>> round(float(default_loss(torch.zeros(4, 2), torch.zeros(4, dtype=torch.long))), 4)
        0.6931
    """
    logits = first_tensor(out)
    if not torch.is_floating_point(y):
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
    return F.mse_loss(logits, y.reshape(logits.shape).to(logits.dtype))


@contextlib.contextmanager
def preserved(model: nn.Module) -> Iterator[None]:
    """Restore the modules' train/eval modes, the buffers and the RNG state on exit.

    Example:
        >>> import torch
        >>> m = torch.nn.BatchNorm1d(3)
        >>> with preserved(m):
        ...     _ = m(torch.randn(8, 3))
        >>> float(m.running_mean.abs().sum())
        0.0
    """
    modes = [(m, m.training) for m in model.modules()]
    buffers = [(b, b.detach().clone()) for b in model.buffers()]
    devices = sorted({b.device.index for b in [*model.parameters(), *model.buffers()]
                      if b.device.type == "cuda" and b.device.index is not None})
    try:
        with torch.random.fork_rng(devices=devices):
            yield
    finally:
        for m, mode in modes:
            m.training = mode
        with torch.no_grad():
            for b, saved in buffers:
                b.copy_(saved)


def trace_model(
    model: nn.Module,
    x: Any,
    y: Any = None,
    loss_fn: Callable[..., torch.Tensor] | None = None,
) -> TracedPass:
    """Run one traced forward (and, with ``y`` or ``loss_fn``, backward) pass of ``model``.

    Args:
        model: any ``torch.nn.Module``; it runs in its current train/eval mode.
        x: the batch: a tensor (passed as ``model(x)``), a tuple (``model(*x)``) or a dict
            (``model(**x)``).
        y: targets for the loss, or None.
        loss_fn: ``loss_fn(output, y)`` (or ``loss_fn(output)`` without ``y``) returning a
            scalar; default :func:`default_loss` when ``y`` is given.

    Returns:
        A :class:`TracedPass`.

    Raises:
        ConfigError: ``model`` is not a Module, has no Linear or Conv layer, or the loss
            is not a scalar tensor.
    """
    if not isinstance(model, nn.Module):
        raise ConfigError(f"expected a torch.nn.Module; got {type(model).__name__}")
    if loss_fn is None and y is not None:
        loss_fn = default_loss
    rec = _Recorder(model)
    try:
        with preserved(model), torch.enable_grad():
            with rec:
                out = _call(model, x)
            loss = None
            if loss_fn is not None:
                loss = loss_fn(out, y) if y is not None else loss_fn(out)
                if not (isinstance(loss, torch.Tensor) and loss.numel() == 1):
                    raise ConfigError(f"loss_fn must return a scalar tensor; got {loss!r}")
            calls = rec.calls
            if not calls:
                raise ConfigError(
                    f"{type(model).__name__} ran no Linear or Conv layer on this batch; "
                    "inspect measures those")
            for c in calls:
                c.snapshot()
            grads = _gradients(calls, loss) if loss is not None else None
            chain = rec.chain()
    finally:
        rec.close()
    trace = build_trace(model, calls, grads, None if loss is None else float(loss.detach()))
    modules = [c.name.split("#")[0] for c in calls]
    out = out.detach() if isinstance(out, torch.Tensor) else out
    return TracedPass(trace, chain, modules, out)


def build_trace(model: nn.Module, calls: list[_Call], grads: list | None,
                loss: float | None) -> Trace:
    """The Trace of recorded calls (snapshots taken) and their gradients (or None)."""
    gate = grads is not None and _has_zero_gate(model)
    layers = []
    for i, c in enumerate(calls):
        lt = LayerTrace(c.name, c.activation, pre=c.pre_np, post=c.post_np, W=c.W_np, b=c.b_np)
        if grads is not None:
            lt.grad_W, lt.grad_b, lt.grad_pre = grads[i]
            if gate and not lt.grad_pre.any() and not lt.grad_W.any():
                lt.grad_pre = None  # gated by a zero-initialized layer: no trend to judge
        layers.append(lt)
    x0 = calls[0].inp.detach().to(torch.float32)
    x0 = (x0.movedim(1, -1) if calls[0].conv else x0).reshape(x0.shape[0], -1)
    return Trace(x=x0.cpu().numpy(), layers=tuple(layers),
                 loss=None if loss is None else np.array([loss]))

def _has_zero_gate(model: nn.Module) -> bool:
    """True when a norm layer's scale is all zero (``zero_init_residual``, SkipInit): the
    layers feeding it get exactly zero gradient at init by design, not by vanishing."""
    return any(isinstance(m, _NORMS) and isinstance(getattr(m, "weight", None), torch.Tensor)
               and not m.weight.detach().any() for m in model.modules())


def _call(model: nn.Module, x: Any) -> Any:
    if isinstance(x, dict):
        return model(**x)
    if isinstance(x, (tuple, list)):
        return model(*x)
    return model(x)


def grads_of(calls: list[_Call], dz: dict[int, torch.Tensor]) -> list:
    """Per call ``(dL/dW, dL/db, dL/dz)`` as Trace arrays, from the parameters' ``.grad`` and
    ``dz`` (call index -> the gradient at its ``pre``); zeros where one is missing."""
    out = []
    for i, c in enumerate(calls):
        w, b = c.module.weight, getattr(c.module, "bias", None)
        out.append(_grad_arrays(c, w.grad, None if b is None else b.grad, dz.get(i)))
    return out


def _grad_arrays(c: _Call, gw, gb, gz):
    units = c.module.weight.shape[0]
    gw_np = _matrix(gw) if gw is not None else np.zeros_like(c.W_np)
    gb_np = (gb.detach().to(torch.float32).cpu().numpy()[None] if gb is not None
             else np.zeros((1, units), np.float32))
    gz_np = _layout(gz, c.conv) if gz is not None else np.zeros_like(c.pre_np)
    return gw_np, gb_np, gz_np


def _gradients(calls: list[_Call], loss: torch.Tensor):
    """dL/dW, dL/db and dL/dz of every call, in one autograd.grad (no .grad is touched)."""
    params: list[torch.Tensor] = []
    index: dict[int, int] = {}
    for c in calls:
        for p in (c.module.weight, getattr(c.module, "bias", None)):
            if isinstance(p, torch.Tensor) and p.requires_grad and id(p) not in index:
                index[id(p)] = len(params)
                params.append(p)
    anchors = [c.pre if c.pre is not None else c.out for c in calls]
    inputs = params + [a for a in anchors if a.requires_grad]
    if loss.grad_fn is None or not inputs:
        return None
    got = torch.autograd.grad(loss, inputs, allow_unused=True)
    by_id = {id(t): g for t, g in zip(inputs, got, strict=True)}
    out = []
    for c, a in zip(calls, anchors, strict=True):
        b = getattr(c.module, "bias", None)
        out.append(_grad_arrays(c, by_id.get(id(c.module.weight)),
                                by_id.get(id(b)) if b is not None else None, by_id.get(id(a))))
    return out

