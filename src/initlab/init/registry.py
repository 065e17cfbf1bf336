"""Every scheme by name: initlab's own, and the ``keras:``, ``torch:`` and ``jax:`` flavors.

:func:`get` turns a spec string (or an initializer) into an :class:`Initializer`;
:func:`names` lists every accepted name; :func:`schemes` lists each scheme once with its
arguments and formula (for ``initlab schemes`` and help texts).

Flavors interpret shapes in initlab's layout (a dense kernel is (fan_in, fan_out), a conv
kernel (*kernel, in, out)), so ``torch:kaiming_uniform`` on (784, 128) matches what
torch.nn.init.kaiming_uniform_ does to ``nn.Linear(784, 128).weight`` of shape (128, 784).

Example:
    >>> str(get("normal(std=0.1)"))
    'normal(std=0.1)'
    >>> get("xavier_uniform").name
    'glorot_uniform'
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

from initlab.errors import SpecError, unknown
from initlab.init.base import Initializer, format_value
from initlab.init.basic import Constant, Normal, TruncatedNormal, Uniform
from initlab.init.checks import boolean, choice, number
from initlab.init.gains import gain
from initlab.init.spec import parse
from initlab.init.structured import DeltaOrthogonal, Dirac, Identity, Orthogonal, Sparse, ZerO
from initlab.init.variance import MODES, TorchLinearDefault, VarianceScaling

__all__ = ["Scheme", "FLAVORS", "get", "names", "schemes"]

FLAVORS: tuple[str, ...] = ("keras", "torch", "jax")

REQUIRED = object()
"""Marks an argument without a default."""


@dataclasses.dataclass(frozen=True)
class Scheme:
    """A named scheme: its arguments (name, default) in positional order, builder, formula."""

    name: str
    params: tuple[tuple[str, Any], ...]
    build: Callable[..., Initializer]
    formula: str
    aliases: tuple[str, ...] = ()

    def signature(self) -> str:
        """Return e.g. ``normal(mean=0.0, std=1.0)``."""
        args = [p if d is REQUIRED else f"{p}={format_value(d)}" for p, d in self.params]
        return f"{self.name}({', '.join(args)})" if args else self.name


_REGISTRY: dict[str, Scheme] = {}
_ALIASES: dict[str, str] = {}


def _add(
    name: str,
    params: tuple[tuple[str, Any], ...],
    build: Callable[..., Initializer],
    formula: str,
    aliases: tuple[str, ...] = (),
) -> None:
    _REGISTRY[name] = Scheme(name, params, build, formula, aliases)
    for a in (name, *aliases):
        _ALIASES[a] = name


def _prefixed(flavor: str | None, name: str) -> str:
    return f"{flavor}:{name}" if flavor else name


# --- initlab's own (textbook semantics) -------------------------------------------------------
_add("zeros", (), lambda: Constant(0.0), "every weight = 0", ("zero",))
_add("ones", (), lambda: Constant(1.0), "every weight = 1", ("one",))
_add("constant", (("value", 0.0),), lambda value: Constant(value), "every weight = value")
_add(
    "uniform", (("low", -1.0), ("high", 1.0)), lambda low, high: Uniform(low, high), "U(low, high)"
)
_add(
    "normal",
    (("mean", 0.0), ("std", 1.0)),
    lambda mean, std: Normal(mean, std),
    "N(mean, std), untruncated",
)
_add(
    "truncated_normal",
    (("mean", 0.0), ("std", 1.0), ("lower", -2.0), ("upper", 2.0), ("corrected", True)),
    lambda mean, std, lower, upper, corrected: TruncatedNormal(mean, std, lower, upper, corrected),
    "N(mean, s) truncated to [mean + lower s, mean + upper s]; corrected: s = std / "
    "truncated_std(lower, upper) so the weights' std is std",
)
_add(
    "random_uniform",
    (("low", -0.05), ("high", 0.05)),
    lambda low, high: Uniform(low, high),
    "U(low, high), Keras's defaults +-0.05",
)
_add(
    "random_normal",
    (("mean", 0.0), ("std", 0.05)),
    lambda mean, std: Normal(mean, std),
    "N(mean, std), Keras's default std 0.05",
)
_add(
    "variance_scaling",
    (("scale", 1.0), ("mode", "fan_in"), ("distribution", "normal"), ("fan_rule", "initlab")),
    lambda scale, mode, distribution, fan_rule: VarianceScaling(
        scale, mode, distribution, fan_rule
    ),
    "Var = scale / n, n = fan_in | fan_out | fan_avg | fan_geo_avg; normal N(0, sqrt(scale/n)), "
    "uniform U(+-sqrt(3 scale/n)), truncated_normal (+-2 sigma, corrected)",
)
_add(
    "orthogonal",
    (("gain", 1.0),),
    lambda gain: Orthogonal(gain),
    "gain * Q, Q random orthogonal (Saxe et al. 2013); kernel as (prod(shape[:-1]), out)",
)
_add(
    "identity",
    (("gain", 1.0),),
    lambda gain: Identity(gain),
    "gain * I (partial identity if not square; centre tap of a conv kernel)",
    ("eye",),
)
_add(
    "sparse",
    (("sparsity", 0.1), ("std", 0.01), ("along", "fan_in")),
    lambda sparsity, std, along: Sparse(sparsity, std, along),
    "N(0, std) with ceil(sparsity * fan_in) zero inputs per unit (Martens 2010); "
    "along=fan_out: ceil(sparsity * fan_out) zero outputs per input (PyTorch's rule)",
)
_add(
    "delta_orthogonal",
    (("gain", 1.0),),
    lambda gain: DeltaOrthogonal(gain),
    "conv kernel: zeros except gain * Q (orthogonal, in <= out) at the centre tap "
    "(Xiao et al. 2018)",
)
_add(
    "zero_init",
    (),
    ZerO,
    "ZerO (Zhao et al. 2021): identity, partial identity, or c * Hadamard block; deterministic",
    ("zer_o",),
)

_FAMILIES = {
    "glorot": (
        1.0,
        "fan_avg",
        "sqrt(6 / (fan_in + fan_out))",
        "sqrt(2 / (fan_in + fan_out))",
        ("xavier",),
    ),
    "he": (2.0, "fan_in", "sqrt(6 / fan_in)", "sqrt(2 / fan_in)", ("kaiming",)),
    "lecun": (1.0, "fan_in", "sqrt(3 / fan_in)", "sqrt(1 / fan_in)", ()),
}


def _add_family(flavor: str | None) -> None:
    """Glorot, He and LeCun as variance_scaling presets for one flavor (written once)."""
    for fam, (scale, mode, bound, sigma, other) in _FAMILIES.items():
        uni = _prefixed(flavor, f"{fam}_uniform")
        nor = _prefixed(flavor, f"{fam}_normal")
        alias_u = tuple(_prefixed(flavor, f"{o}_uniform") for o in other)
        alias_n = tuple(_prefixed(flavor, f"{o}_normal") for o in other)
        rule = "keras" if flavor == "keras" else "initlab"
        _add(
            uni,
            (),
            lambda s=scale, m=mode, r=rule: VarianceScaling(s, m, "uniform", r),
            f"U(-b, b), b = {bound}",
            alias_u,
        )
        if flavor is None:

            def build(
                truncated: bool, s: float = scale, m: str = mode, n: str = nor
            ) -> Initializer:
                trunc = boolean(n, "truncated", truncated)
                return VarianceScaling(s, m, "truncated_normal" if trunc else "normal")

            _add(
                nor,
                (("truncated", False),),
                build,
                f"N(0, sigma), sigma = {sigma}; truncated=True: +-2 sigma, corrected",
                alias_n,
            )
        else:
            n_rule = "max(1, n), " if flavor == "keras" else ""
            _add(
                nor,
                (),
                lambda s=scale, m=mode, r=rule: VarianceScaling(s, m, "truncated_normal", r),
                f"normal truncated at +-2 s, s = {sigma} / 0.8796 ({n_rule}std = {sigma})",
                alias_n,
            )


_add_family(None)

# --- keras: (Keras 3) -------------------------------------------------------------------------
_add("keras:zeros", (), lambda: Constant(0.0), "every weight = 0", ("keras:zero",))
_add("keras:ones", (), lambda: Constant(1.0), "every weight = 1", ("keras:one",))
_add("keras:constant", (("value", 0.0),), lambda value: Constant(value), "every weight = value")
_add(
    "keras:random_uniform",
    (("minval", -0.05), ("maxval", 0.05)),
    lambda minval, maxval: Uniform(minval, maxval),
    "U(minval, maxval)",
    ("keras:uniform",),
)
_add(
    "keras:random_normal",
    (("mean", 0.0), ("stddev", 0.05)),
    lambda mean, stddev: Normal(mean, stddev),
    "N(mean, stddev)",
    ("keras:normal",),
)
_add(
    "keras:truncated_normal",
    (("mean", 0.0), ("stddev", 0.05)),
    lambda mean, stddev: TruncatedNormal(mean, stddev, -2.0, 2.0, corrected=False),
    "N(mean, stddev) truncated to mean +- 2 stddev, uncorrected (std = 0.8796 stddev)",
)


def _keras_vs(scale: float, mode: str, distribution: str) -> Initializer:
    name = "keras:variance_scaling"
    mode = choice(name, "mode", mode, ("fan_in", "fan_out", "fan_avg"))
    dist = choice(
        name,
        "distribution",
        distribution,
        ("truncated_normal", "untruncated_normal", "uniform", "normal"),
    )
    if dist == "normal":  # Keras 3's name for its truncated normal (VarianceScaling.__init__)
        dist = "truncated_normal"
    return VarianceScaling(scale, mode, dist, "keras")


_add(
    "keras:variance_scaling",
    (("scale", 1.0), ("mode", "fan_in"), ("distribution", "truncated_normal")),
    _keras_vs,
    "Var = scale / max(1, n); truncated_normal (or normal, Keras's alias; +-2 sigma, "
    "corrected), untruncated_normal, uniform",
)
_add_family("keras")
_add("keras:orthogonal", (("gain", 1.0),), lambda gain: Orthogonal(gain), "gain * Q, Q orthogonal")
_add(
    "keras:identity",
    (("gain", 1.0),),
    lambda gain: Identity(gain, matrix_only=True),
    "gain * I (2D only)",
)

# --- torch: (torch.nn.init) -------------------------------------------------------------------
_add("torch:zeros", (), lambda: Constant(0.0), "zeros_: every weight = 0")
_add("torch:ones", (), lambda: Constant(1.0), "ones_: every weight = 1")
_add("torch:constant", (("val", REQUIRED),), lambda val: Constant(val), "constant_: = val")
_add("torch:uniform", (("a", 0.0), ("b", 1.0)), lambda a, b: Uniform(a, b), "uniform_: U(a, b)")
_add(
    "torch:normal",
    (("mean", 0.0), ("std", 1.0)),
    lambda mean, std: Normal(mean, std),
    "normal_: N(mean, std)",
)


def _torch_trunc(mean: float, std: float, a: float, b: float) -> Initializer:
    name = "torch:trunc_normal"
    mean = number(name, "mean", mean)
    std = number(name, "std", std, low=0, strict=True)
    a = number(name, "a", a, infinite=True)
    b = number(name, "b", b, low=a, strict=True, infinite=True)
    return TruncatedNormal(mean, std, (a - mean) / std, (b - mean) / std, corrected=False)


_add(
    "torch:trunc_normal",
    (("mean", 0.0), ("std", 1.0), ("a", -2.0), ("b", 2.0)),
    _torch_trunc,
    "trunc_normal_: N(mean, std) truncated to the absolute bounds [a, b], uncorrected",
)


def _square(g: float) -> float:
    """gain^2 as variance_scaling's scale, rounded to 15 digits (sqrt(2)^2 is 2, not 2 + 4e-16)."""
    return float(f"{g * g:.15g}")


def _torch_xavier(distribution: str) -> Callable[..., Initializer]:
    def build(gain: float = 1.0) -> Initializer:
        g = number(f"torch:xavier_{distribution}", "gain", gain, low=0, strict=True)
        return VarianceScaling(_square(g), "fan_avg", distribution)

    return build


def _torch_kaiming(distribution: str) -> Callable[..., Initializer]:
    def build(
        a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"
    ) -> Initializer:
        name = f"torch:kaiming_{distribution}"
        slope = number(name, "a", a)
        m = choice(name, "mode", mode, ("fan_in", "fan_out"))
        nl = nonlinearity.lower() if isinstance(nonlinearity, str) else nonlinearity
        try:
            g = gain(nl, slope if nl == "leaky_relu" else None)
        except SpecError as e:
            raise SpecError(
                f"{name}: bad value {nonlinearity!r} for argument 'nonlinearity'; {e}"
            ) from None
        return VarianceScaling(_square(g), m, distribution)

    return build


for _d in ("uniform", "normal"):
    _b = "bound = gain * sqrt(3 / n)" if _d == "uniform" else "std = gain / sqrt(n)"
    _add(
        f"torch:xavier_{_d}",
        (("gain", 1.0),),
        _torch_xavier(_d),
        f"xavier_{_d}_: {_b}, n = (fan_in + fan_out) / 2",
    )
    _add(
        f"torch:kaiming_{_d}",
        (("a", 0.0), ("mode", "fan_in"), ("nonlinearity", "leaky_relu")),
        _torch_kaiming(_d),
        f"kaiming_{_d}_: {_b}, gain = calculate_gain(nonlinearity, a), n = fan_in | fan_out",
    )
_add("torch:orthogonal", (("gain", 1.0),), lambda gain: Orthogonal(gain), "orthogonal_: gain * Q")
_add("torch:eye", (), lambda: Identity(1.0, matrix_only=True), "eye_: I (2D only)")
_add(
    "torch:dirac",
    (("groups", 1.0),),
    lambda groups: Dirac(groups),
    "dirac_: conv kernel (rank 3-5) passing channel d to output g * out/g + d at tap k // 2",
)
_add(
    "torch:sparse",
    (("sparsity", REQUIRED), ("std", 0.01)),
    lambda sparsity, std: Sparse(sparsity, std, along="fan_out", matrix_only=True),
    "sparse_: N(0, std), ceil(sparsity * out) zeros per input (2D only)",
)
_add(
    "torch:linear_default",
    (),
    TorchLinearDefault,
    "nn.Linear's own init: kaiming_uniform(a=sqrt(5)) = U(+-1/sqrt(fan_in)); bias "
    "U(+-1/sqrt(fan_in))",
)

# --- jax: (jax.nn.initializers) ---------------------------------------------------------------
_add("jax:zeros", (), lambda: Constant(0.0), "every weight = 0")
_add("jax:ones", (), lambda: Constant(1.0), "every weight = 1")
_add("jax:constant", (("value", REQUIRED),), lambda value: Constant(value), "= value")
_add(
    "jax:uniform",
    (("scale", 0.01),),
    lambda scale: Uniform(0.0, number("jax:uniform", "scale", scale, low=0)),
    "U[0, scale)",
)
_add("jax:normal", (("stddev", 0.01),), lambda stddev: Normal(0.0, stddev), "N(0, stddev)")
_add(
    "jax:truncated_normal",
    (("stddev", 0.01), ("lower", -2.0), ("upper", 2.0)),
    lambda stddev, lower, upper: TruncatedNormal(0.0, stddev, lower, upper, corrected=False),
    "N(0, stddev) truncated to [lower stddev, upper stddev], uncorrected",
)


def _jax_vs(scale: float, mode: str, distribution: str) -> Initializer:
    m = choice("jax:variance_scaling", "mode", mode, MODES)
    d = choice(
        "jax:variance_scaling",
        "distribution",
        distribution,
        ("truncated_normal", "normal", "uniform"),
    )
    return VarianceScaling(scale, m, d)


_add(
    "jax:variance_scaling",
    (("scale", REQUIRED), ("mode", REQUIRED), ("distribution", REQUIRED)),
    _jax_vs,
    "Var = scale / n; truncated_normal (+-2 sigma, corrected), normal, uniform",
)
_add_family("jax")
_add("jax:orthogonal", (("scale", 1.0),), lambda scale: Orthogonal(scale), "scale * Q")
_add(
    "jax:delta_orthogonal",
    (("scale", 1.0),),
    lambda scale: DeltaOrthogonal(scale),
    "zeros except scale * Q at the centre tap",
)


def names(flavor: str | None | bool = True) -> list[str]:
    """Return every accepted scheme name, aliases included, sorted.

    Args:
        flavor: True (default) for all; None for initlab's own names only; or one of
            ``keras``, ``torch``, ``jax`` for that flavor's names.

    Returns:
        A sorted list of names.

    Example:
        >>> "kaiming_normal" in names()
        True
    """
    if flavor is True:
        return sorted(_ALIASES)
    pre = f"{flavor}:" if flavor else None
    return sorted(a for a in _ALIASES if (a.startswith(pre) if pre else ":" not in a))


def schemes() -> Iterator[Scheme]:
    """Yield each scheme once (aliases listed on it), initlab's own first, then the flavors.

    Example:
        >>> next(schemes()).name
        'zeros'
    """
    yield from _REGISTRY.values()


def _bind(
    scheme: Scheme, args: tuple[Any, ...], kwargs: tuple[tuple[str, Any], ...], text: str
) -> dict[str, Any]:
    keys = [p for p, _ in scheme.params]
    if len(args) > len(keys):
        raise SpecError(
            f"{scheme.name} takes at most {len(keys)} argument(s) ({', '.join(keys) or 'none'}); "
            f"got {len(args)} in {text!r}"
        )
    bound = dict(zip(keys, args, strict=False))
    for k, v in kwargs:
        if k not in keys:
            raise unknown(f"argument of {scheme.name}", k, keys or ["(none)"], SpecError)
        if k in bound:
            raise SpecError(f"{scheme.name}: argument {k!r} given twice in {text!r}")
        bound[k] = v
    for k, d in scheme.params:
        if k not in bound:
            if d is REQUIRED:
                raise SpecError(
                    f"{scheme.name} needs argument {k!r}: {scheme.signature()}; got {text!r}"
                )
            bound[k] = d
    return bound


def _canonical(scheme: Scheme, bound: dict[str, Any]) -> str:
    def norm(v: Any) -> Any:
        if isinstance(v, bool) or v is None:
            return v
        if isinstance(v, (int, float)):
            return float(v)
        return v.lower() if isinstance(v, str) else v

    changed = [
        f"{k}={format_value(norm(bound[k]))}"
        for k, d in scheme.params
        if d is REQUIRED or norm(bound[k]) != norm(d)
    ]
    return f"{scheme.name}({', '.join(changed)})" if changed else scheme.name


def lookup(flavor: str | None, name: str) -> Scheme:
    """Return the scheme registered as ``name`` (with ``flavor``), or raise SpecError."""
    if flavor is not None and flavor not in FLAVORS:
        raise unknown("flavor", flavor, FLAVORS, SpecError)
    full = _prefixed(flavor, name)
    if full not in _ALIASES:
        raise unknown(f"{flavor} scheme" if flavor else "scheme", full, names(flavor), SpecError)
    return _REGISTRY[_ALIASES[full]]


def get(spec: str | Initializer) -> Initializer:
    """Return the initializer for a spec string or an initializer object.

    Args:
        spec: a name (``"he_normal"``), a name with arguments (``"normal(std=0.1)"``,
            ``"uniform(-0.05, 0.05)"``), a flavored name (``"keras:glorot_normal"``,
            ``"torch:kaiming_uniform(a=0.2)"``, ``"jax:uniform"``), or an Initializer.

    Returns:
        A frozen Initializer; ``str()`` of it is its canonical spec and ``get(str(i)) == i``.

    Raises:
        SpecError: for text that does not parse, an unknown name (with the closest one), an
            unknown or bad argument (naming it, the value and what is allowed).

    Example:
        >>> ini = get("he_normal")
        >>> ini((784, 128), rng=0).shape
        (784, 128)
        >>> get(ini) is ini
        True
    """
    if isinstance(spec, Initializer):
        return spec
    if not isinstance(spec, str):
        raise SpecError(
            f"an initializer must be a spec string such as 'he_normal' or an Initializer; "
            f"got {spec!r} of type {type(spec).__name__}"
        )
    parsed = parse(spec)
    try:
        scheme = lookup(parsed.flavor, parsed.name)
        bound = _bind(scheme, parsed.args, parsed.kwargs, spec)
        ini = scheme.build(**bound)
    except SpecError as e:
        if repr(spec) in str(e):
            raise
        raise SpecError(f"{e} (in spec {spec!r})") from None
    return dataclasses.replace(ini, label=_canonical(scheme, bound))
