"""``init_``: initialize any ``torch.nn.Module`` with initlab's initializers, and say how.

Every parameter gets a decision, in this order of precedence:

1. ``rules``: the first rule that matches the parameter (fnmatch on its full name, or an
   ``nn.Module`` subclass matching its module; a type rule sets the module's kernels and
   embeddings, not its biases). The value is a spec string, an Initializer, or ``"keep"``.
2. the recipe, when ``scheme`` names one (``torch_default``, ``gpt2``, ``fixup``,
   ``zero_init_residual``; see :mod:`initlab.torch.recipes`).
3. the role's default: kernels get ``scheme`` (``"auto"``: chosen from the nonlinearity
   that consumes the layer's output, found in a torch.fx graph or by running the forward
   on ``example``); biases get ``bias``;
   norm layers weight 1 and bias 0; a parameter the walk does not know is left as is, and the
   plan says so.

Draws come from initlab's own initializers and one ``numpy.random.Generator`` made from
``seed`` (torch's global RNG is never used), parameter by parameter in the model's order,
each kernel drawn in initlab's layout ((fan_in, fan_out), (*k, in, out)) at the layer's true
fans and transposed into torch's: so a stack of ``nn.Linear`` gets exactly the numbers the
NumPy engine's ``Sequential`` gets from the same scheme and seed. Values go into the existing
tensors under ``torch.no_grad()``, keeping their dtype (float16 and bfloat16 are drawn in
float32 and rounded by torch), device, ``requires_grad`` and ``.grad``: a CPU float32/float64
parameter in initlab's layout (embedding, bias, norm) is drawn straight into its memory
(``Initializer.fill``); a kernel is drawn into a reused buffer and copied in transposed, the
copy of a large one overlapping the next draw on a helper thread (:class:`Scratch`).

Example:
    >>> import torch
    >>> m = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    >>> plan = init_(m, seed=0, rules={"2.*": "zeros"})
    >>> [r.scheme for r in plan.entries]
    ['glorot_uniform', 'zeros', 'zeros', 'zeros']
    >>> plan["2.weight"].reason
    "rule '2.*'"
"""

from __future__ import annotations

import dataclasses
import fnmatch
import math
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import torch
from torch import nn

from initlab.activations import lookup
from initlab.errors import ConfigError, SpecError
from initlab.init import Initializer, fans, gain, get
from initlab.init.spec import parse
from initlab.rng import RngLike, as_generator
from initlab.torch.plan import LEFT, InitPlan, PlanRow
from initlab.torch.tracing import ForwardTrace, trace_forward
from initlab.torch.walk import Site, to_torch_tensor, walk

__all__ = ["Choice", "Context", "init_", "auto_choice", "draw", "write", "Scratch", "KEEP"]

KEEP = ("keep", "left", "skip")
"""Rule values that leave a parameter as is."""

_KERNELS = ("weight", "recurrent", "embedding")


@dataclasses.dataclass(frozen=True)
class Choice:
    """What to do with one parameter.

    Attributes:
        ini: the initializer, or None to leave the parameter as is.
        reason: the plan's reason text.
        factor: a multiplier applied to the draw (Fixup's L^(-1/(2m-2))).
        torch_fans: draw at torch's own fans (``torch_default`` replays torch exactly).
        bias_of: for a bias, draw ``ini.bias(fan_in, n)`` (the scheme's own bias rule).
        zero_row: an embedding row to set to 0 afterwards (``padding_idx``).
    """

    ini: Initializer | None
    reason: str
    factor: float = 1.0
    torch_fans: bool = False
    bias_of: bool = False
    zero_row: int | None = None


@dataclasses.dataclass
class Context:
    """What a recipe sees: the model, its sites, the forward trace (or None), the options;
    and where it leaves notes for the plan."""

    model: nn.Module
    sites: list[Site]
    trace: ForwardTrace | None
    branches: list[list[str]] | None
    notes: list[str] = dataclasses.field(default_factory=list)
    """What the recipe wants the plan to say (``InitPlan.notes``)."""


_HE = ("relu", "gelu", "silu", "mish", "elu", "softplus")


def auto_choice(site: Site, trace: ForwardTrace | None) -> Choice:
    """The ``auto`` scheme for a kernel: from its role, or from the consuming nonlinearity.

    The recommended init of the engine-neutral activation table (``initlab.activations``,
    what the NumPy engine's ``auto`` uses): He (``he_normal``) for the ReLU family (ReLU,
    GELU, ELU, softplus; SiLU and mish, which the table lacks, too), LeCun for SELU, Glorot
    uniform for tanh, sigmoid, softmax and none; for LeakyReLU(a) its own gain
    sqrt(2 / (1 + a^2)). An embedding gets N(0, 1)
    (its rows are looked up, not summed), an RNN's input kernel Glorot uniform and its
    recurrent kernel orthogonal (Keras's defaults), an attention's projections Glorot
    uniform (torch's MultiheadAttention default).

    Example:
        >>> import torch
        >>> (s, _) = walk(torch.nn.Linear(3, 3))
        >>> auto_choice(s, None).reason
        'auto -> glorot_uniform: not run by the traced forward'
    """
    if site.role == "embedding":
        return Choice(get("normal"), "auto -> normal: an embedding's rows are looked up, not "
                      "summed (torch's own N(0, 1))")
    if site.kind == "recurrent":
        if site.role == "recurrent":
            return Choice(get("orthogonal"), "auto -> orthogonal: a recurrent kernel (Saxe et "
                          "al. 2013; Keras's default)")
        return Choice(get("glorot_uniform"), "auto -> glorot_uniform: an RNN's input kernel "
                      "(Keras's default)")
    if site.kind == "attention":
        return Choice(get("glorot_uniform"), "auto -> glorot_uniform: attention projections "
                      "(torch's MultiheadAttention default)")
    c = trace.consumers.get(site.module_name) if trace is not None else None
    if c is None:
        return Choice(get("glorot_uniform"), "auto -> glorot_uniform: not run by the traced "
                      "forward")
    act = c.activation
    if act == "leaky_relu":  # the slope's own gain, sqrt(2 / (1 + a^2)), not He's sqrt(2)
        g2 = gain("leaky_relu", c.param if c.param is not None else 0.01) ** 2
        spec = f"variance_scaling(scale={float(f'{g2:.12g}')!r})"
    else:
        entry = lookup(act)  # the engine-neutral table the NumPy engine's auto reads
        spec = entry.recommended_init if entry is not None else (
            "he_normal" if act in _HE else "glorot_uniform")
    ini = get(spec)
    return Choice(ini, f"auto -> {ini}: {c}")


def _rules(rules: Mapping[Any, Any] | None) -> list[tuple[Any, Initializer | None, str]]:
    out = []
    for key, value in (rules or {}).items():
        if isinstance(key, str):
            text = f"rule {key!r}"
        elif isinstance(key, type) and issubclass(key, nn.Module):
            text = f"rule {key.__name__}"
        else:
            raise ConfigError(
                f"a rule's key must be an fnmatch pattern of parameter names (str) or an "
                f"nn.Module subclass; got {key!r}"
            )
        if isinstance(value, str) and value.strip().lower() in KEEP:
            out.append((key, None, text))
            continue
        try:
            out.append((key, get(value), text))
        except SpecError as e:
            raise SpecError(f"{text}: {e}") from None
    return out


def _match(key: Any, site: Site) -> bool:
    if isinstance(key, str):
        return fnmatch.fnmatchcase(site.name, key)
    return isinstance(site.module, key) and site.role in _KERNELS + ("norm_weight", "unknown")


def _draw_fans(site: Site, choice: Choice) -> tuple[float, float] | None:
    if choice.torch_fans:
        return site.torch_fans
    return site.fans


def _block_ini(site: Site, choice: Choice) -> Initializer:
    """The initializer to draw one block with: at the site's fans where the shape misleads."""
    ini = choice.ini
    assert ini is not None
    want = _draw_fans(site, choice)
    if want is None or not hasattr(ini, "at_fans") or len(site.draw_shape) < 2:
        return ini
    if tuple(fans(site.draw_shape)) == tuple(want):
        return ini
    return ini.at_fans(*want)


class Scratch:
    """Reusable host buffers for kernels, which change layout on the way in, and their copies.

    A kernel is drawn in initlab's layout and transposed into torch's by ``copy_``. Drawing
    every kernel into one of two buffers that stay allocated (and warm in cache), instead of
    a fresh array per parameter, saves the page faults of new memory, which cost about as
    much as the draw itself on a GPT-2-sized model (``benchmarks/torch_init.py``). With
    ``overlap=True`` a large kernel's ``copy_`` runs on one helper thread while the next
    parameter is drawn into the other buffer (both release the GIL); the draws stay in one
    stream, in order, so the numbers do not change. Use as a context manager: leaving it
    waits for every copy (and raises a copy's error).
    """

    OVERLAP_MIN = 1 << 16
    """Kernels with at least this many elements are copied on the helper thread."""

    def __init__(self, overlap: bool = False) -> None:
        self._bufs: dict[tuple[np.dtype, int], np.ndarray] = {}
        self._slot = 0
        self._pending: list[Future[Any] | None] = [None, None]
        self._overlap = overlap
        self._pool: ThreadPoolExecutor | None = None

    def __enter__(self) -> Scratch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """A C-contiguous array of ``shape`` and ``dtype`` over a free buffer (stale contents)."""
        self._wait(self._slot)
        n = math.prod(shape)
        key = (np.dtype(dtype), self._slot)
        buf = self._bufs.get(key)
        if buf is None or buf.size < n:
            buf = np.empty(n, dtype)
            self._bufs[key] = buf
        return buf[:n].reshape(shape)

    def copy(self, dst: torch.Tensor, src: torch.Tensor) -> None:
        """``dst.copy_(src)`` from the buffer last given by :meth:`get` (maybe in the
        background), then move to the other buffer."""
        if self._overlap and src.numel() >= self.OVERLAP_MIN:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="initlab-copy")
            self._pending[self._slot] = self._pool.submit(_copy_no_grad, dst, src)
        else:
            with torch.no_grad():
                dst.copy_(src)
        self._slot ^= 1

    def _wait(self, slot: int) -> None:
        fut, self._pending[slot] = self._pending[slot], None
        if fut is not None:
            fut.result()

    def close(self) -> None:
        """Wait for the copies in flight and stop the helper thread."""
        try:
            for slot in (0, 1):
                self._wait(slot)
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None


def _copy_no_grad(dst: torch.Tensor, src: torch.Tensor) -> None:
    with torch.no_grad():  # grad mode is per thread
        dst.copy_(src)


def _host_view(p: torch.Tensor) -> np.ndarray | None:
    """The parameter's own memory as a writeable ndarray, where NumPy can write it directly."""
    if (type(p.data) is not torch.Tensor or p.device.type != "cpu" or p.layout != torch.strided
            or p.dtype not in (torch.float32, torch.float64) or not p.is_contiguous()
            or isinstance(p, nn.parameter.UninitializedParameter)):
        return None
    return p.detach().numpy()


def _fill_values(site: Site, choice: Choice, rng: np.random.Generator, out: np.ndarray) -> None:
    """Draw ``choice``'s values for ``site`` into ``out``: kernels as ``(blocks, *draw_shape)``
    in initlab's layout, block by block; anything else in the parameter's own shape."""
    ini = _block_ini(site, choice)
    if site.role in ("weight", "recurrent"):
        for b in range(site.blocks):
            ini.fill(out[b], rng)
    else:
        ini.fill(out, rng)
    if choice.factor != 1.0:
        out *= out.dtype.type(choice.factor)
    if choice.zero_row is not None:
        out[choice.zero_row] = 0


def write(site: Site, choice: Choice, rng: np.random.Generator, weight_ini: Initializer | None,
          scratch: Scratch | None = None) -> None:
    """Draw the values ``choice`` gives ``site`` and write them into the parameter in place.

    A parameter whose layout is initlab's (embeddings, biases, norms) on the CPU in
    float32/float64 is drawn straight into its own memory; a kernel is drawn into
    ``scratch`` in initlab's layout and copied in transposed; other dtypes (float16,
    bfloat16: drawn in float32, rounded by torch) and devices go through ``copy_``. The
    numbers are :func:`draw`'s, which are the NumPy engine's.

    Example:
        >>> import torch
        >>> m = torch.nn.Linear(2, 3)
        >>> (w, b) = walk(m)
        >>> write(b, Choice(get("ones"), ""), np.random.default_rng(0), None)
        >>> m.bias.tolist()
        [1.0, 1.0, 1.0]
    """
    scratch = scratch or Scratch()
    p = site.param
    with torch.no_grad():
        if choice.bias_of and weight_ini is not None and site.fan_in is not None:
            p.copy_(draw(site, choice, rng, weight_ini))
            return
        kernel = site.role in ("weight", "recurrent")
        direct = None if kernel else _host_view(p)
        if direct is not None:
            _fill_values(site, choice, rng, direct)
            torch.autograd.graph.increment_version(p)  # as an in-place torch op would
            return
        dt = np.dtype(np.float64 if p.dtype == torch.float64 else np.float32)
        shape = (site.blocks, *site.draw_shape) if kernel else site.shape
        buf = scratch.get(shape, dt)
        _fill_values(site, choice, rng, buf)
        scratch.copy(p, to_torch_tensor(site, buf) if kernel else torch.from_numpy(buf))


def draw(site: Site, choice: Choice, rng: np.random.Generator, weight_ini: Initializer | None
         ) -> torch.Tensor:
    """Draw the values ``choice`` gives ``site``, as a CPU tensor of the parameter's shape.

    Kernels are drawn block by block in initlab's layout and returned as a (strided) view in
    torch's; float64 parameters are drawn in float64, all others in float32.

    Example:
        >>> import torch
        >>> (w, b) = walk(torch.nn.Linear(2, 3))
        >>> draw(w, Choice(get("ones"), ""), np.random.default_rng(0), None).shape
        torch.Size([3, 2])
    """
    dt = np.dtype(np.float64 if site.param.dtype == torch.float64 else np.float32)
    if choice.bias_of and weight_ini is not None and site.fan_in is not None:
        (n,) = site.shape
        return torch.from_numpy(weight_ini.bias(int(round(site.fan_in)), n, rng, dt))
    kernel = site.role in ("weight", "recurrent")
    arr = np.empty((site.blocks, *site.draw_shape) if kernel else site.shape, dt)
    _fill_values(site, choice, rng, arr)
    return to_torch_tensor(site, arr) if kernel else torch.from_numpy(arr)


def _std(site: Site, choice: Choice) -> float | None:
    if choice.ini is None:
        p = site.param.detach()
        return float(p.double().std()) if p.numel() > 1 else None
    try:
        shape = site.draw_shape if site.role in ("weight", "recurrent") else site.shape
        s = _block_ini(site, choice).std(shape)
    except Exception:  # noqa: BLE001 - a scheme that cannot say (e.g. rank) says so at draw
        return None
    return None if s is None else s * abs(choice.factor)


def _recipe(scheme: Any) -> tuple[Callable[..., dict[str, Choice]] | None, dict[str, Any], str]:
    from initlab.torch.recipes import RECIPES

    if not isinstance(scheme, str):
        return None, {}, ""
    parsed = parse(scheme)
    if parsed.flavor is None and parsed.name in RECIPES:
        fn, params = RECIPES[parsed.name]
        if len(parsed.args) > len(params):
            raise SpecError(f"recipe {parsed.name} takes {', '.join(params) or 'no'} "
                            f"arguments; got {scheme!r}")
        kwargs = dict(zip(params, parsed.args, strict=False))
        for k, v in parsed.kwargs:
            if k not in params:
                raise SpecError(f"recipe {parsed.name} has no argument {k!r}; allowed: "
                                f"{', '.join(params) or '(none)'}")
            kwargs[k] = v
        return fn, kwargs, parsed.name
    return None, {}, ""


def init_(
    model: nn.Module,
    scheme: str | Initializer = "auto",
    *,
    rules: Mapping[Any, Any] | None = None,
    bias: str | Initializer = "zeros",
    seed: RngLike = None,
    dry_run: bool = False,
    example: Any = None,
    branches: list[list[str]] | None = None,
) -> InitPlan:
    """Initialize ``model``'s parameters in place and return the :class:`InitPlan`.

    Args:
        model: any ``torch.nn.Module``.
        scheme: ``"auto"`` (from each layer's consuming nonlinearity), a recipe name
            (``"torch_default"``, ``"gpt2"``, ``"fixup"``, ``"zero_init_residual"``, with
            arguments as ``"gpt2(n_layer=12)"``), or any initlab spec / Initializer for every
            kernel (``"he_normal"``, ``"torch:kaiming_uniform(a=0.2)"``, ``"orthogonal"``).
        rules: ``{pattern_or_module_type: spec_or_initializer_or_"keep"}``; the first match
            wins (see the module docstring).
        bias: the biases' spec (default zeros); ``"scheme"`` draws each layer's bias with its
            kernel's scheme's own rule (``torch:linear_default``'s U(+-1/sqrt(fan_in))).
        seed: an int seed or a ``numpy.random.Generator``; None draws fresh entropy.
        dry_run: only plan: nothing in the model changes and nothing is drawn.
        example: an input batch to run the forward on, to find each layer's consumer
            (``auto``) and the residual branches (``fixup``, ``zero_init_residual``). None:
            ``auto`` reads a torch.fx graph of the model (nothing runs), or, where fx cannot
            trace it, runs the forward on an input guessed from the first layer (the plan
            notes it); the residual recipes run on the guessed input.
        branches: Fixup's residual branches as lists of module names, in execution order
            (default: found by tracing).

    Returns:
        The InitPlan (``plan.table()``, ``plan.rows``, ``plan.to_json()``).

    Raises:
        SpecError: an unknown scheme, recipe argument or rule value.
        ConfigError: a bad rule key, or a forward that fails on the example input.

    Example:
        >>> import torch
        >>> m = torch.nn.Conv2d(4, 4, 3, groups=4)
        >>> plan = init_(m, "he_normal", seed=0, dry_run=True)
        >>> plan["weight"].fan_in, round(plan["weight"].std, 4), plan.applied
        (9, 0.4714, False)
    """
    sites = walk(model)
    rule_list = _rules(rules)
    recipe, rargs, rname = _recipe(scheme)
    base = None
    if recipe is None and not (isinstance(scheme, str) and scheme.strip().lower() == "auto"):
        base = get(scheme)
    if bias == "scheme":
        bias_ini = None
    else:
        try:
            bias_ini = get(bias)
        except SpecError as e:
            raise SpecError(f"bias: {e}") from None
    trace, fx_note = None, ()
    need_trace = base is None and (rname in ("", "fixup", "zero_init_residual"))
    if need_trace and any(s.role in _KERNELS for s in sites):
        trace, fx_note = _trace(model, example, residuals=rname != "")
    ctx = Context(model, sites, trace, branches)
    planned = recipe(ctx, **rargs) if recipe is not None else {}
    rng = None if dry_run else as_generator(seed)
    entries: list[PlanRow] = []
    used: set[int] = set()
    kernel_choice: dict[str, Choice] = {}
    with Scratch(overlap=not dry_run) as scratch:  # kernels' copies overlap the next draw
        for site in sites:
            choice = None
            for i, (key, ini, text) in enumerate(rule_list):
                if _match(key, site):
                    choice = Choice(ini, text) if ini is not None else Choice(None, f"{text}: keep")
                    used.add(i)
                    break
            if choice is None:
                choice = planned.get(site.name)
            if choice is None:
                choice = _default(site, trace, base, bias_ini, kernel_choice)
            if site.role in _KERNELS:
                kernel_choice[site.module_name] = choice
            if isinstance(site.param, nn.parameter.UninitializedParameter):
                choice = Choice(None, "an uninitialized lazy parameter: run a forward first")
            if choice.ini is None and not choice.bias_of:
                entries.append(_row(site, LEFT, choice))
                continue
            if rng is not None:
                w_ini = kernel_choice.get(site.module_name)
                write(site, choice, rng, w_ini.ini if w_ini is not None else None, scratch)
            label = str(choice.ini) if choice.ini is not None else "scheme"
            if choice.bias_of:
                w_ini = kernel_choice.get(site.module_name)
                label = f"{w_ini.ini}.bias" if w_ini is not None and w_ini.ini else "zeros"
            entries.append(_row(site, label, choice))
    notes = tuple(f"{text} matched no parameter" for i, (_, _, text) in enumerate(rule_list)
                  if i not in used) + _tied(model) + fx_note + tuple(ctx.notes)
    return InitPlan(entries, applied=not dry_run,
                    traced=trace.input_text if trace is not None else "", notes=notes)


def _trace(model: nn.Module, example: Any, residuals: bool
           ) -> tuple[ForwardTrace, tuple[str, ...]]:
    """How ``auto`` learns the consumers: from ``example`` by running the forward; without
    one from a torch.fx graph, else (fx cannot trace it) by running on a guessed input, with a
    note. Residual branches (fixup, zero_init_residual) always come from running it."""
    if example is not None or residuals:
        return trace_forward(model, example), ()
    from initlab.torch.fx_trace import FxError, fx_trace

    try:
        return fx_trace(model), ()
    except FxError as err:
        trace = trace_forward(model, None)
        return trace, (f"{err}: ran the forward on a guessed input {trace.input_text} "
                       f"instead (pass example= to choose it)",)


def _tied(model: nn.Module) -> tuple[str, ...]:
    """Notes for parameters shared under several names (set once, under the first)."""
    names: dict[int, list[str]] = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        names.setdefault(id(p), []).append(name)
    return tuple(f"{n[0]} is also {', '.join(n[1:])} (tied): set once" for n in names.values()
                 if len(n) > 1)


def _row(site: Site, label: str, choice: Choice) -> PlanRow:
    std = None if choice.bias_of else _std(site, choice)
    return PlanRow(site.name, site.module_type, site.shape, site.fan_in, site.fan_out, label,
                   std, choice.reason or "", site.torch_fans)


def _default(site: Site, trace: ForwardTrace | None, base: Initializer | None,
             bias_ini: Initializer | None, kernels: dict[str, Choice]) -> Choice:
    if site.role in _KERNELS:
        if base is not None:
            return Choice(base, f"scheme {base}")
        return auto_choice(site, trace)
    if site.role == "bias":
        if bias_ini is None:
            w = kernels.get(site.module_name)
            if w is None or w.ini is None:
                return Choice(get("zeros"), "bias: zeros (its kernel was left as is)")
            return Choice(None, f"bias: {w.ini}'s own bias rule", bias_of=True)
        return Choice(bias_ini, f"bias: {bias_ini}")
    if site.role == "norm_weight":
        return Choice(get("ones"), "norm: weight 1")
    if site.role == "norm_bias":
        return Choice(get("zeros"), "norm: bias 0")
    return Choice(None, f"not a known parameter of {site.module_type}: left as is")
