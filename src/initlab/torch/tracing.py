"""Run a model's forward once and read off what consumes each layer's output.

:func:`trace_forward(model, example) <trace_forward>` returns a :class:`ForwardTrace`:

- ``order``: the Linear / Conv* / ConvTranspose* modules in **execution** order (first call),
- ``consumers``: for each of them, the nonlinearity that consumes its output (a
  :class:`Consumer`), found through norm layers, dropout, reshapes, pooling and additions;
  ``"linear"`` when the output reaches another weighted layer, a matmul or the model's
  output first,
- ``residuals``: the residual branches (a :class:`Residual` per ``stream + branch(stream)``
  addition), each with its weighted and norm modules in execution order.

How: forward hooks on every submodule keep a stack of the modules running and tag the
outputs of weighted modules; a ``torch.overrides.TorchFunctionMode`` sees every torch
function, method and ``torch.nn.functional`` call, so an ``nn.ReLU`` module, ``F.relu(x)``,
``x.relu()``, ``torch.relu(x)`` and their in-place forms are all found, in ``nn.Sequential`` or
in any custom ``forward``. The run is under ``torch.no_grad()`` with every module in eval mode
(restored after), so no buffer (BatchNorm statistics) and no gradient changes.

Example:
    >>> import torch
    >>> m = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    >>> t = trace_forward(m, torch.zeros(2, 4))
    >>> t.order, t.consumers["0"].activation, t.consumers["2"].activation
    (['0', '2'], 'relu', 'linear')
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from initlab.errors import ConfigError
from initlab.torch.walk import NORMS, WEIGHTED

__all__ = ["Consumer", "Residual", "ForwardTrace", "trace_forward", "example_input",
           "ACTIVATIONS"]

ACTIVATIONS: dict[str, str] = {
    "relu": "relu", "relu_": "relu", "relu6": "relu", "gelu": "gelu", "silu": "silu",
    "silu_": "silu", "mish": "mish", "tanh": "tanh", "tanh_": "tanh", "sigmoid": "sigmoid",
    "sigmoid_": "sigmoid", "leaky_relu": "leaky_relu", "leaky_relu_": "leaky_relu",
    "selu": "selu", "selu_": "selu", "elu": "elu", "elu_": "elu", "celu": "elu",
    "softplus": "softplus", "hardtanh": "tanh", "hardswish": "silu", "hardsigmoid": "sigmoid",
    "softmax": "softmax", "log_softmax": "softmax", "prelu": "leaky_relu",
}
"""torch function / method names that are nonlinearities -> the activation they count as."""

_PASS = {
    "view", "reshape", "flatten", "transpose", "permute", "contiguous", "split", "chunk",
    "unbind", "squeeze", "unsqueeze", "__getitem__", "dropout", "dropout1d", "dropout2d",
    "dropout3d", "alpha_dropout", "feature_alpha_dropout", "layer_norm", "batch_norm",
    "group_norm", "instance_norm", "rms_norm", "add", "add_", "__add__", "__radd__",
    "__iadd__", "sub", "sub_", "__sub__", "mul", "mul_", "__mul__", "__rmul__", "__imul__",
    "div", "__truediv__", "avg_pool1d", "avg_pool2d", "avg_pool3d", "max_pool1d",
    "max_pool2d", "max_pool3d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
    "adaptive_avg_pool3d", "adaptive_max_pool1d", "adaptive_max_pool2d",
    "adaptive_max_pool3d", "max_pool1d_with_indices", "max_pool2d_with_indices", "pad",
    "clone", "to", "float", "type_as", "cat", "mean", "expand", "expand_as", "narrow",
    "unflatten", "movedim", "swapaxes", "flip", "roll",
}
"""Operations a layer's output passes through on its way to its consumer."""

_ADDS = {"add", "add_", "__add__", "__radd__", "__iadd__"}
_IGNORE = {"__get__", "__set__", "dim", "size", "numel", "shape", "_set_grad_enabled", "empty"}


@dataclasses.dataclass(frozen=True)
class Consumer:
    """The nonlinearity that consumes a layer's output, and where it was written.

    Attributes:
        activation: ``relu``, ``gelu``, ``silu``, ``tanh``, ``sigmoid``, ``leaky_relu``,
            ``selu``, ``elu``, ``softplus``, ``mish``, ``softmax``, or ``linear`` (none).
        param: the negative slope of leaky_relu (the alpha of elu), else None.
        written: how it was written: ``"nn.ReLU 'act'"``, ``"F.relu"``, ``"torch.relu"``,
            ``"x.relu()"``, or what the output reached instead (``"F.linear"``, ``"output"``).
        where: the Python function it was called from, ``"Block.forward"``.
    """

    activation: str
    param: float | None
    written: str
    where: str

    def __str__(self) -> str:
        arg = "" if self.param is None else f" (a={self.param:g})"
        return f"{self.written}{arg} in {self.where}" if self.where else f"{self.written}{arg}"


@dataclasses.dataclass(frozen=True)
class Residual:
    """One residual addition ``stream + branch(stream)``: the branch's layers in order.

    Attributes:
        block: the module whose forward does the addition.
        layers: the weighted modules (Linear/Conv*) of the branch, in execution order.
        norms: the norm modules of the branch, in execution order.
        shortcut: the weighted modules on the other side (a downsampling projection).
    """

    block: str
    layers: tuple[str, ...]
    norms: tuple[str, ...]
    shortcut: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class ForwardTrace:
    """What one forward pass showed (see the module docstring)."""

    order: list[str]
    consumers: dict[str, Consumer]
    residuals: list[Residual]
    input_text: str


def _tensors(obj: Any) -> Iterator[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, list | tuple):
        for o in obj:
            yield from _tensors(o)
    elif isinstance(obj, dict):
        for o in obj.values():
            yield from _tensors(o)


_HERE = os.path.abspath(__file__)
_TORCH = os.path.dirname(os.path.abspath(torch.__file__))


def _caller() -> str:
    """``Class.method`` of the innermost frame that is user code (not torch, not initlab)."""
    f = sys._getframe(2)
    while f is not None:
        path = os.path.abspath(f.f_code.co_filename)
        if not (path.startswith(_TORCH) or path == _HERE):
            qual = getattr(f.f_code, "co_qualname", None)  # Python >= 3.11
            if qual:
                return qual.replace(".<locals>", "")
            owner = f.f_locals.get("self")
            name = f.f_code.co_name
            return f"{type(owner).__name__}.{name}" if owner is not None else name
        f = f.f_back
    return ""


def _written(func: Any, name: str) -> str:
    if func is getattr(torch.nn.functional, name, None):
        return f"F.{name}"
    if func is getattr(torch.Tensor, name, None):
        return f"x.{name}()"
    if func is getattr(torch, name, None):
        return f"torch.{name}"
    return name


def _act_param(name: str, args: tuple, kwargs: dict) -> float | None:
    if name.startswith("leaky_relu"):
        v = kwargs.get("negative_slope", args[1] if len(args) > 1 else 0.01)
        return float(v)
    if name.startswith("elu") or name == "celu":
        return float(kwargs.get("alpha", args[1] if len(args) > 1 else 1.0))
    if name == "prelu":  # the learned slope's mean at initialization
        return float(args[1].detach().float().mean()) if len(args) > 1 else 0.25
    return None


@dataclasses.dataclass
class _Frame:
    name: str
    module: nn.Module
    stream: set[int]
    since: list[str] = dataclasses.field(default_factory=list)
    calls: dict[int, tuple[bool, list[str]]] = dataclasses.field(default_factory=dict)


class _Recorder(TorchFunctionMode):
    """Tags weighted outputs, follows them to their consumer, and finds residual adds."""

    def __init__(self, names: dict[int, str]) -> None:
        super().__init__()
        self.names = names
        self.tags: dict[int, tuple[torch.Tensor, set[str]]] = {}
        self.consumers: dict[str, Consumer] = {}
        self.order: list[str] = []
        self.stack: list[_Frame] = []
        self.residuals: list[Residual] = []
        self.seen_blocks: set[tuple[str, tuple[str, ...]]] = set()

    # -- module hooks
    def pre(self, module: nn.Module, args: tuple) -> None:
        ids = {id(t) for t in _tensors(args)}
        name = self.names.get(id(module), "")
        for fr in self.stack:
            if isinstance(module, WEIGHTED + NORMS):
                fr.since.append(name)
        self.stack.append(_Frame(name, module, ids))
        if isinstance(module, WEIGHTED) and name not in self.order:
            self.order.append(name)

    def post(self, module: nn.Module, args: tuple, output: Any) -> None:
        fr = self.stack.pop()
        if self.stack:  # remember this call in its parent: did it start from the stream?
            parent = self.stack[-1]
            from_stream = bool(fr.stream & parent.stream)
            inner = [fr.name] if isinstance(module, WEIGHTED + NORMS) else list(fr.since)
            for t in _tensors(output):
                parent.calls[id(t)] = (from_stream, inner)
        if isinstance(module, WEIGHTED) and fr.name not in self.consumers:
            for t in _tensors(output):
                self.tags[id(t)] = (t, {fr.name})

    def _is_weighted(self, name: str) -> bool:
        return name in self.order

    # -- torch functions
    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: D105
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = getattr(func, "__name__", "")
        if name in _IGNORE:
            return out
        ins = list(_tensors(args)) + list(_tensors(kwargs))
        srcs: set[str] = set()
        for t in ins:
            tag = self.tags.get(id(t))
            if tag is not None and tag[0] is t:
                srcs |= {s for s in tag[1] if s not in self.consumers}
        if name in _ADDS and len(ins) == 2 and self.stack:
            self._residual(ins, out)
        if srcs:
            if name in ACTIVATIONS:
                top = self.stack[-1] if self.stack else None
                if top is not None and type(top.module).__module__.endswith(".activation"):
                    written, where = f"nn.{type(top.module).__name__} '{top.name}'", ""
                else:
                    written, where = _written(func, name), _caller()
                c = Consumer(ACTIVATIONS[name], _act_param(name, args, kwargs), written, where)
                for s in srcs:
                    self.consumers[s] = c
            elif name in _PASS:
                for t in _tensors(out):
                    prev = self.tags.get(id(t))
                    keep = prev[1] if prev is not None and prev[0] is t else set()
                    self.tags[id(t)] = (t, keep | srcs)
            else:
                c = Consumer("linear", None, _written(func, name), _caller())
                for s in srcs:
                    self.consumers[s] = c
        return out

    def _residual(self, ins: list[torch.Tensor], out: Any) -> None:
        """An add in the innermost frame where one operand comes from the stream.

        Adding a parameter (Fixup's scalar bias, ``x + bias1a``) is no residual: the sum
        stays the stream."""
        if any(isinstance(t, nn.Parameter) for t in ins):
            others = [t for t in ins if not isinstance(t, nn.Parameter)]
            for fr in reversed(self.stack):
                if any(id(t) in fr.stream for t in others):
                    fr.stream |= {id(t) for t in _tensors(out)}
                    return
            return
        for fr in reversed(self.stack):
            sides = []
            for t in ins:
                if id(t) in fr.stream:
                    sides.append(("stream", []))
                elif id(t) in fr.calls and fr.calls[id(t)][0]:
                    sides.append(("shortcut", fr.calls[id(t)][1]))
                else:
                    sides.append(("branch", []))
            kinds = [s[0] for s in sides]
            if "branch" in kinds and kinds != ["branch", "branch"]:
                short = [n for s in sides for n in s[1]]
                mine = [n for n in fr.since if n not in short]
                layers = tuple(n for n in mine if self._is_weighted(n))
                norms = tuple(n for n in mine if not self._is_weighted(n))
                if layers:
                    key = (fr.name, layers)
                    if key not in self.seen_blocks:
                        self.seen_blocks.add(key)
                        shortcut = tuple(n for n in short if self._is_weighted(n))
                        self.residuals.append(Residual(fr.name, layers, norms, shortcut))
                    fr.since = []
                    fr.stream |= {id(t) for t in _tensors(out)}
                return
            if any(id(t) in fr.stream for t in ins):
                return


def example_input(model: nn.Module) -> torch.Tensor:
    """A small input for the model, guessed from its first registered layer (2 samples).

    Linear(in): ``randn(2, in)``; ConvNd(c): ``randn(2, c, 16, ...)``; Embedding(n):
    token ids ``(2, 8)``; RNN: ``(2, 8, input)`` (or ``(8, 2, input)``); the dtype and device
    of that layer's weight. Values come from a fixed torch Generator (not the global RNG).

    Raises:
        ConfigError: when no first layer tells the input's shape; pass ``example=``.

    Example:
        >>> import torch
        >>> example_input(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3))).shape
        torch.Size([2, 3, 16, 16])
    """
    gen = torch.Generator().manual_seed(0)
    for m in model.modules():
        p = next(m.parameters(recurse=False), None)
        if p is None:
            continue
        dt, dev = (p.dtype, p.device) if p.is_floating_point() else (torch.float32, p.device)

        def randn(*shape: int, dt=dt, dev=dev) -> torch.Tensor:
            return torch.randn(*shape, generator=gen).to(dtype=dt, device=dev)

        if isinstance(m, nn.Linear):
            return randn(2, m.in_features)
        if isinstance(m, nn.modules.conv._ConvNd):
            return randn(2, m.in_channels, *([16] * len(m.kernel_size)))
        if isinstance(m, nn.Embedding):
            return torch.randint(0, m.num_embeddings, (2, 8), generator=gen).to(dev)
        if isinstance(m, nn.RNNBase):
            return randn(2, 8, m.input_size) if m.batch_first else randn(8, 2, m.input_size)
        if isinstance(m, nn.MultiheadAttention):
            return randn(8, 2, m.embed_dim)
        if not isinstance(m, nn.modules.container.Sequential | nn.ModuleList) and \
                any(True for _ in m.children()):
            continue  # a custom module's own parameter (a scale): look at its layers
        break
    raise ConfigError(
        f"cannot guess an input for {type(model).__name__} from its first layer; pass "
        f"example=<a batch the model accepts>"
    )


def trace_forward(model: nn.Module, example: Any = None) -> ForwardTrace:
    """Run ``model(example)`` once (no grad, eval mode, restored) and return what it showed.

    Args:
        model: any ``torch.nn.Module``.
        example: an input batch (a tensor, or a tuple of positional arguments); None guesses
            one with :func:`example_input`.

    Returns:
        A :class:`ForwardTrace`; weighted outputs that nothing consumed count as "linear".

    Raises:
        ConfigError: if the forward fails on the example (the message says why).

    Example:
        >>> import torch
        >>> m = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Tanh())
        >>> str(trace_forward(m).consumers["0"])
        "nn.Tanh '1'"
    """
    guessed = example is None
    if guessed:
        example = example_input(model)
    args = example if isinstance(example, tuple) else (example,)
    text = ", ".join(f"{tuple(t.shape)} {str(t.dtype).replace('torch.', '')}"
                     for t in _tensors(args))
    names = {id(m): n for n, m in model.named_modules()}
    rec = _Recorder(names)
    modes = {m: m.training for m in model.modules()}
    handles = []
    for m in model.modules():
        handles.append(m.register_forward_pre_hook(rec.pre))
        handles.append(m.register_forward_hook(rec.post))
    try:
        model.eval()
        with torch.no_grad(), rec:
            model(*args)
    except Exception as err:  # a user's model failing on our input: say so in one line
        hint = " (a guessed input; pass example=)" if guessed else ""
        raise ConfigError(
            f"running {type(model).__name__} on an input {text}{hint} failed: "
            f"{type(err).__name__}: {err}"
        ) from None
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes.items():
            m.training = mode
    consumers = dict(rec.consumers)
    for n in rec.order:
        consumers.setdefault(n, Consumer("linear", None, "output", ""))
    return ForwardTrace(rec.order, consumers, rec.residuals,
                        text + (" (guessed)" if guessed else ""))
