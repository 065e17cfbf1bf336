"""A study's config: one architecture and dataset, several init schemes, several seeds.

A :class:`Study` is data: a frozen, validated record that can be written in Python, read from
TOML or JSON, and hashed. The runs of a study are the grid ``schemes x seeds``; everything
else (dataset, network, optimizer, epochs, ...) is the *recipe* that every run follows. The
:attr:`Study.config_hash` covers the recipe only, so a store made for a study can be extended
with more seeds or schemes, but never mixes runs trained differently.

File format (TOML; JSON has the same keys)::

    name = "moons"
    dataset = "moons"
    layers = [12, 6]
    activation = "relu"
    output = "sigmoid"
    schemes = ["zeros", "normal(std=10)", "he_normal"]
    seeds = 5                 # or a list: [0, 1, 2, 3, 4]
    optimizer = "sgd"
    lr = 0.01
    epochs = 15000
    batch_size = "full"       # or an int
    # residual nets (issue 14): "res64" is a block x + F(x), F = W2 act(W1 x + b1) + b2;
    # layers = [64, "res64x50"]; init_recipe = "fixup" (or he, skipinit, rezero)
    # use_bias = true; bias_init = "normal(std=0.2236)" (the hidden layers' biases)

    [dataset_options]
    noise = 0.2

Example:
    >>> s = Study(dataset="moons", layers=(12, 6), schemes=("zeros", "he_normal"), seeds=3,
    ...           epochs=10, validate_names=False)
    >>> s.runs[:2]
    (('zeros', 0), ('zeros', 1))
    >>> len(s.config_hash)
    16
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import numbers
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

from initlab.errors import ConfigError, InitLabError, ShapeError, SpecError, param, unknown
from initlab.init.checks import integer, number

__all__ = ["Study", "parse_layers", "field_name", "OUTPUTS", "DTYPES", "LOCATION_OPTIONS",
           "MAX_LAYERS", "MAX_SEEDS"]

OUTPUTS: tuple[str, ...] = ("sigmoid", "softmax")
"""Output activations a study accepts: sigmoid (one unit, binary cross-entropy, two classes)
or softmax (one unit per class, categorical cross-entropy)."""

DTYPES: tuple[str, ...] = ("float32", "float64")

# The keys of a study file, in the order a written file lists them.
_FIELDS: tuple[str, ...] = (
    "name",
    "dataset",
    "dataset_options",
    "layers",
    "activation",
    "output",
    "schemes",
    "seeds",
    "optimizer",
    "lr",
    "optimizer_options",
    "clip_norm",
    "clip_value",
    "epochs",
    "batch_size",
    "shuffle_seed",
    "log_every",
    "probes",
    "dtype",
    "init_recipe",
    "use_bias",
    "bias_init",
    "engine",
)
# Fields added after stores existed: left out of files and hashes at their defaults, so the
# config_hash of every study written before them is unchanged.
_LATER_DEFAULTS: dict[str, Any] = {"init_recipe": None, "use_bias": True, "bias_init": "auto",
                                   "engine": "numpy"}
# Fields that define which runs exist rather than how each run is trained.
_GRID_FIELDS: tuple[str, ...] = ("name", "schemes", "seeds")

MAX_LAYERS = 10_000
"""The most hidden layers a study (or ``--layers``) may ask for; ``1x10**12`` is a typo."""
MAX_SEEDS = 100_000
"""The most seeds a count may ask for (a list of seeds is limited by its own length)."""

LOCATION_OPTIONS: tuple[str, ...] = ("mirror", "verify", "download", "deadline", "progress")
"""Dataset options that say where files come from and how they are checked, not what the
data is: a study may carry them, but they are no part of its :meth:`Study.recipe`, so changing
a mirror or ``verify`` never invalidates a store."""

_Scalar = (str, int, float, bool)
# Options of initlab.data.load that a study does not take, and why.
_NOT_OPTIONS = {
    "dtype": "is set by the study's own field 'dtype'",
    "data_dir": "is where files are on this machine, not part of a study: pass data_dir to "
    "run() or --data-dir",
    "progress": "is not part of a study (use run(progress=...) or --quiet)",
}


def field_name(field: str) -> str:
    """A study field's name marked for error messages (:func:`initlab.errors.param`).

    Python shows ``study field 'lr'``; the CLI shows the flag that sets it (``--lr``).

    Example:
        >>> str(ConfigError(f"{field_name('lr')}: got -1"))
        "study field 'lr': got -1"
    """
    return param(field, f"study field {field!r}")


def _bad(field: str, value: object, allowed: str) -> ConfigError:
    return ConfigError(f"{field_name(field)}: got {value!r}; allowed: {allowed}")


def _int(field: str, value: object, minimum: int) -> int:
    return integer(field, value, low=minimum, bad=lambda v, allowed: _bad(field, v, allowed))


def _positive_float(field: str, value: object, optional: bool = False) -> float | None:
    if value is None and optional:
        return None
    more = " or None" if optional else ""
    return number("study", field, value, low=0, strict=True,
                  bad=lambda v, allowed: _bad(field, v, allowed + more))


def _name(field: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _bad(field, value, "a non-empty string")
    return value.strip()


def _options(field: str, value: object) -> Mapping[str, Any]:
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        raise _bad(field, value, "a table of name = value")
    out: dict[str, Any] = {}
    for k in sorted(value):
        v = value[k]
        if (
            not isinstance(k, str)
            or not isinstance(v, _Scalar)
            or (isinstance(v, float) and not math.isfinite(v))
        ):
            entry = param(f"{field}.{k}", f"study field {field!r}: {k}=")
            raise ConfigError(f"{entry}{v!r}; allowed: a string, number or boolean (numbers "
                              "finite)")
        out[k] = v
    return MappingProxyType(out)


def _strings(field: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = (value,)
    if not isinstance(value, Sequence) or not value:
        raise _bad(field, value, "a non-empty list of strings")
    out = tuple(_name(field, v) for v in value)
    dup = sorted({v for v in out if out.count(v) > 1})
    if dup:
        raise _bad(field, dup, "each entry once")
    return out


def _seeds(value: object) -> tuple[int, ...]:
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        n = _int("seeds", value, 1)
        if n > MAX_SEEDS:
            raise _bad("seeds", value, f"a count from 1 to {MAX_SEEDS} or a list of seeds")
        return tuple(range(n))
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        raise _bad("seeds", value, "a count >= 1 or a non-empty list of integers >= 0")
    out = tuple(_int("seeds", v, 0) for v in value)
    if len(set(out)) != len(out):
        raise _bad("seeds", list(value), "each seed once")
    return out


def _layers(value: object) -> tuple[int | str, ...]:
    if isinstance(value, str):
        return parse_layers(value)
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value,)
    if not isinstance(value, Sequence) or len(value) > MAX_LAYERS:
        raise _bad("layers", value, f"a list of at most {MAX_LAYERS} hidden widths, e.g. "
                   "[12, 6], '100x5' or 'res64x50'")
    out: list[int | str] = []
    for v in value:
        if isinstance(v, str):  # a residual token ("res64x50") or a text of widths
            out.extend(parse_layers(v))
        else:
            out.append(_int("layers", v, 1))
    if len(out) > MAX_LAYERS:
        raise ConfigError(f"{field_name('layers')}: more than {MAX_LAYERS} hidden layers")
    return tuple(out)


def parse_layers(text: str) -> tuple[int | str, ...]:
    """Parse hidden layers strictly: ``"12,6"`` -> (12, 6); ``"100x5"`` -> five layers of 100;
    ``"res64x3"`` -> three residual blocks of width 64 (``"res64"`` each; see
    :func:`initlab.nn.recipes.residual_block`).

    Nothing is guessed: an empty part (``"12,,6"``), an empty text, a missing count
    (``"12x"``) or anything but digits is an error. ``"none"`` means no hidden layer.

    Args:
        text: comma-separated widths, each optionally ``WIDTHxCOUNT``, or ``resWIDTH[xCOUNT]``;
            or ``"none"``.

    Returns:
        The widths (ints) and blocks (``"resW"``) as a tuple (empty for ``"none"``).

    Raises:
        ConfigError: naming the text, the bad part and what is allowed.

    Example:
        >>> parse_layers("64,32x2,res32x2"), parse_layers("none")
        ((64, 32, 32, 'res32', 'res32'), ())
    """
    allowed = ("hidden widths >= 1, comma-separated, each optionally WIDTHxCOUNT, like '12,6' "
               "or '100x5'; residual blocks like 'res64' or 'res64x50' (or 'none' for no "
               "hidden layer)")
    if not isinstance(text, str):
        raise _bad("layers", text, allowed)
    if text.strip().lower() == "none":
        return ()
    out: list[int | str] = []
    for part in (p.strip() for p in text.split(",")):
        low = part.lower()
        res = low.startswith("res")
        width, sep, count = low[3 if res else 0:].partition("x")
        width, count = width.strip(), count.strip()
        if (
            not (width.isascii() and width.isdigit())
            or (sep and not (count.isascii() and count.isdigit()))
            or int(width) < 1
            or (sep and int(count) < 1)
        ):
            what = "an empty part" if not part else f"part {part!r}"
            raise ConfigError(f"{field_name('layers')} {text!r}: {what}; allowed: {allowed}")
        n = int(count) if sep else 1
        if len(out) + n > MAX_LAYERS:
            raise ConfigError(f"{field_name('layers')} {text!r}: more than {MAX_LAYERS} "
                              "hidden layers")
        out.extend([f"res{int(width)}" if res else int(width)] * n)
    return tuple(out)


def _batch_size(value: object) -> int | None:
    if value is None or (isinstance(value, str) and value.strip().lower() == "full"):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    return _int("batch_size", value, 1)


@dataclasses.dataclass(frozen=True, eq=True)
class Study:
    """A frozen, validated study config: a recipe and a grid of schemes x seeds.

    Args:
        name: the study's name; a store keeps one recipe per name.
        dataset: a dataset name of :func:`initlab.data.load`.
        dataset_options: options passed to :func:`initlab.data.load` (e.g. ``noise``).
        layers: hidden widths, e.g. ``(12, 6)``; the output layer is added from the data.
        activation: the hidden layers' activation (an engine activation spec).
        output: ``sigmoid`` (two classes, one unit) or ``softmax`` (one unit per class).
        bias_init: every layer's bias initializer spec, e.g. ``"normal(std=0.2236)"``
            (None: the engine's default, zeros).
        schemes: init specs, one per compared scheme (``"he_normal"``, ``"normal(std=10)"``).
        seeds: a count n (seeds 0..n-1) or the seeds; each seed draws each scheme's weights.
        optimizer: an optimizer name of :mod:`initlab.nn.optim` (``sgd``, ``rmsprop``, ``adam``).
        lr: the learning rate.
        optimizer_options: more arguments of the optimizer (``momentum``, ``nesterov``, ...).
        clip_norm: clip the gradients by global norm before the optimizer (None: no clipping).
        clip_value: clip each gradient entry to +-clip_value (None: no clipping).
        epochs: passes over the training set.
        batch_size: an int, or None / ``"full"`` for full-batch gradient descent.
        shuffle_seed: the seed of the minibatch order, shared by every run (a fair comparison).
        log_every: record metrics every this many epochs (None: at most about 500 points).
        probes: record diagnostics every this many steps (None: no probes).
        dtype: ``float32`` or ``float64``.
        init_recipe: an init recipe for residual nets (``he``, ``fixup``, ``skipinit``,
            ``rezero``; :mod:`initlab.nn.recipes`) applied to every run, which also picks
            the blocks' architecture (fixup: scalar biases, no branch biases); None: none.
        use_bias: False: hidden layers without biases.
        bias_init: the hidden layers' bias initializer spec (``"auto"``: the scheme's rule).
        engine: ``"numpy"`` (the reference) or ``"jit"``, the compiled path of
            :mod:`initlab.nn.jit` (extra ``initlab[jit]``; plain Dense stacks, no probes, at
            most one of clip_norm and clip_value). Part of the recipe: its numbers agree with
            the NumPy path's to rounding, not bit for bit.
        validate_names: check scheme, activation and dataset names against their registries
            (set False only to build a study before those packages are importable).

    Raises:
        ConfigError: naming the field, the value and what is allowed.

    Example:
        >>> s = Study(dataset="moons", layers="12,6", schemes=["he_normal"], seeds=[1, 2],
        ...           epochs=5, batch_size="full", validate_names=False)
        >>> s.layers, s.seeds, s.batch_size
        ((12, 6), (1, 2), None)
    """

    name: str = "study"
    dataset: str = "moons"
    dataset_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    layers: tuple[int, ...] = (12, 6)
    activation: str = "relu"
    output: str = "sigmoid"
    schemes: tuple[str, ...] = ("he_normal",)
    seeds: tuple[int, ...] = (0,)
    optimizer: str = "sgd"
    lr: float = 0.01
    optimizer_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    clip_norm: float | None = None
    clip_value: float | None = None
    epochs: int = 10
    batch_size: int | None = None
    shuffle_seed: int = 0
    log_every: int | None = None
    probes: int | None = None
    dtype: str = "float32"
    init_recipe: str | None = None
    use_bias: bool = True
    bias_init: str = "auto"
    engine: str = "numpy"
    validate_names: dataclasses.InitVar[bool] = True

    def __post_init__(self, validate_names: bool = True) -> None:
        def put(field: str, value: object) -> None:  # frozen: normalise each field once, here
            object.__setattr__(self, field, value)

        put("name", _name("name", self.name))
        put("dataset", _name("dataset", self.dataset).lower())
        put("dataset_options", _options("dataset_options", self.dataset_options))
        put("layers", _layers(self.layers))
        put("activation", _name("activation", self.activation))
        out = _name("output", self.output).lower()
        if out not in OUTPUTS:
            raise ConfigError(f"{field_name('output')}: {unknown('output', out, OUTPUTS)}")
        put("output", out)
        put("schemes", _strings("schemes", self.schemes))
        put("seeds", _seeds(self.seeds))
        put("optimizer", _name("optimizer", self.optimizer).lower())
        put("lr", _positive_float("lr", self.lr))
        put("optimizer_options", _options("optimizer_options", self.optimizer_options))
        put("clip_norm", _positive_float("clip_norm", self.clip_norm, optional=True))
        put("clip_value", _positive_float("clip_value", self.clip_value, optional=True))
        put("epochs", _int("epochs", self.epochs, 1))
        put("batch_size", _batch_size(self.batch_size))
        put("shuffle_seed", _int("shuffle_seed", self.shuffle_seed, 0))
        if self.log_every is not None:
            put("log_every", _int("log_every", self.log_every, 1))
        if self.probes is not None:
            put("probes", _int("probes", self.probes, 1))
        dtype = _name("dtype", self.dtype).lower()
        if dtype not in DTYPES:
            raise ConfigError(f"{field_name('dtype')}: {unknown('dtype', dtype, DTYPES)}")
        put("dtype", dtype)
        if self.init_recipe is not None:
            from initlab.nn.recipes import names as recipe_names

            rec = _name("init_recipe", self.init_recipe).lower()
            if rec not in recipe_names():
                raise ConfigError(
                    f"study field 'init_recipe': {unknown('recipe', rec, recipe_names())}")
            if rec != "he" and not any(isinstance(w, str) for w in self.layers):
                raise _bad("init_recipe", rec, "he, or a residual layer in 'layers' (e.g. "
                           "'res64x10') for fixup, skipinit and rezero")
            put("init_recipe", rec)
        if not isinstance(self.use_bias, bool):
            raise _bad("use_bias", self.use_bias, "true or false")
        put("bias_init", _name("bias_init", self.bias_init))
        if not self.use_bias and self.bias_init.lower() != "auto":
            raise _bad("bias_init", self.bias_init, "'auto' when use_bias is false")
        self._check_engine()
        if validate_names:
            self.check_names()

    def _check_engine(self) -> None:
        """Normalise ``engine`` and refuse what the compiled path does not train."""
        from initlab.nn.jit import ENGINES

        engine = _name("engine", self.engine).lower()
        if engine not in ENGINES:
            raise ConfigError(f"{field_name('engine')}: {unknown('engine', engine, ENGINES)}")
        object.__setattr__(self, "engine", engine)
        if engine != "jit":
            return
        why = None
        if any(isinstance(w, str) for w in self.layers) or not self.use_bias:
            why = "residual layers and bias-free layers run on"
        elif self.probes is not None:
            why = "probes run on"
        elif self.clip_norm is not None and self.clip_value is not None:
            why = "clip_norm and clip_value together run on"
        if why:
            raise _bad("engine", engine, f"'numpy' ({why} the NumPy engine only)")

    # ------------------------------------------------------------------ names
    def check_names(self) -> None:
        """Check every name against its registry, the single source of truth.

        The dataset and its options against :func:`initlab.data.info` and
        :func:`initlab.data.allowed_options`, the activation against the engine's
        :func:`initlab.nn.activations.get`, each scheme against :func:`initlab.init.get`, the
        optimizer and its options by building it (:meth:`make_optimizer`).

        Raises:
            ConfigError: naming the field and carrying the registry's message (closest match,
                allowed names).

        Example:
            >>> Study(schemes=["he_normall"], validate_names=False).check_names()
            Traceback (most recent call last):
            ...
            initlab.errors.ConfigError: study field 'schemes': unknown ...
        """
        from initlab import data, init
        from initlab.nn import activations

        def check(field: str, fn: Any, *args: Any) -> None:
            try:
                fn(*args)
            except InitLabError as e:
                raise ConfigError(f"{field_name(field)}: {e}") from None

        check("dataset", data.info, self.dataset)
        allowed = [o for o in data.allowed_options(self.dataset) if o not in _NOT_OPTIONS]
        for key in self.dataset_options:
            if key in _NOT_OPTIONS:
                raise ConfigError(
                    f"{field_name('dataset_options')}: {key!r} {_NOT_OPTIONS[key]}")
            if key not in allowed:
                err = unknown(f"option for dataset {self.dataset!r}", key, allowed, ConfigError)
                raise ConfigError(f"{field_name('dataset_options')}: {err}")
        check("activation", activations.get, self.activation)
        if activations.get(self.activation).name == "softmax":
            raise ConfigError(
                f"{field_name('activation')}: got {self.activation!r}; softmax makes a layer's "
                f"units sum to 1, an output activation ({field_name('output')} softmax); allowed "
                "for hidden layers: " + ", ".join(n for n in activations.names() if n != "softmax")
                + " (build a Sequential by hand to put softmax in a hidden layer)"
            )
        for spec in self.schemes:
            check("schemes", init.get, spec)
        if self.bias_init.lower() != "auto":
            check("bias_init", init.get, self.bias_init)
        self.make_optimizer()
        if self.engine == "jit":
            from initlab.nn.jit import MISSING, available

            if not available():
                raise ConfigError(f"{field_name('engine')}: {MISSING} (or engine 'numpy')")

    def make_optimizer(self) -> Any:
        """Build the optimizer: clipping (if any) chained before ``optimizer(lr, **options)``.

        Returns:
            An :mod:`initlab.nn.optim` transform.

        Raises:
            ConfigError: unknown optimizer, option or value (naming them and the allowed).

        Example:
            >>> str(Study(optimizer="adam", lr=0.01, clip_norm=1, validate_names=False)
            ...     .make_optimizer())
            'chain(clip_by_global_norm(1), adam(lr=0.01, beta1=0.9, beta2=0.999, epsilon=1e-07))'
        """
        import inspect

        from initlab.nn import optim

        if self.optimizer not in optim.names():
            err = unknown("optimizer", self.optimizer, optim.names(), ConfigError)
            raise ConfigError(f"{field_name('optimizer')}: {err}")
        factory = getattr(optim, self.optimizer)
        params = [p for p in inspect.signature(factory).parameters if p != "lr"]
        for key in self.optimizer_options:
            if key not in params:
                err = unknown(f"option for optimizer {self.optimizer!r}", key, params, ConfigError)
                raise ConfigError(f"{field_name('optimizer_options')}: {err}")
        try:
            opt = factory(lr=self.lr, **self.optimizer_options)
        except InitLabError as e:
            raise ConfigError(f"{field_name('optimizer_options')}: {e}") from None
        clips = []
        if self.clip_norm is not None:
            clips.append(optim.clip_by_global_norm(self.clip_norm))
        if self.clip_value is not None:
            clips.append(optim.clip_by_value(self.clip_value))
        return optim.chain(*clips, opt) if clips else opt

    def hidden_units(self) -> list[int]:
        """The width of every hidden layer, in order (a residual block ``"resW"`` counts as
        its two W-unit layers).

        Example:
            >>> Study(layers=(8, "res4"), validate_names=False).hidden_units()
            [8, 4, 4]
        """
        hidden: list[int] = []
        for w in self.layers:
            hidden.extend([int(w[3:])] * 2 if isinstance(w, str) else [int(w)])
        return hidden

    def memory_estimate(self, input_dim: int, n_outputs: int, n_samples: int,
                        n_models: int) -> int:
        """Bytes that ``n_models`` models of this study need while training, about.

        Each model keeps its parameters P, their gradients and up to two optimizer states
        (Adam): 4 P numbers; and, for a batch of B samples through U units, the
        pre-activations, activations and their gradients: 3 B U numbers. B is the largest
        of the batch and the evaluated sets (the metrics run over all of ``n_samples``).

        Example:
            >>> s = Study(layers=(100000,) * 3, validate_names=False)
            >>> s.memory_estimate(784, 1, 500, 1) > 100 * 2**30   # 2e10 weights: 120 GiB
            True
        """
        widths = [int(input_dim), *self.hidden_units(), int(n_outputs)]
        n_params = sum((a + 1) * b for a, b in zip(widths[:-1], widths[1:], strict=False))
        batch = max(self.batch_size or 0, int(n_samples))
        itemsize = 4 if self.dtype == "float32" else 8
        return itemsize * int(n_models) * (4 * n_params + 3 * batch * sum(widths[1:]))

    def check_fits(self, dataset: Any, *, max_models: int | None = None, workers: int = 1,
                   available: int | None = None) -> None:
        """Check, before anything is trained or written, that every run can be built.

        The training set is not empty, the output suits the classes, the models that train
        at once fit in memory (:meth:`memory_estimate`), and every scheme draws every layer
        (one model per scheme is built and dropped: a scheme that cannot draw a shape, or
        whose weights are not finite in the dtype, fails here).

        Args:
            dataset: the study's data (:func:`initlab.studies.runner.load_data`).
            max_models: the most models in one ensemble (None: all runs at once).
            workers: ensembles trained at the same time.
            available: bytes available (default: :func:`initlab.init.checks.available_memory`).

        Raises:
            ConfigError: an empty training set, or a scheme or output that cannot be built.
            ShapeError: the study needs more memory than is available (with the size).

        Example:
            >>> from initlab.data import load
            >>> Study(dataset="moons", layers=(4,), epochs=1).check_fits(load("moons"))
        """
        from initlab.init.checks import check_memory
        from initlab.studies.runner import build_model

        n_train = int(dataset.x_train.shape[0])
        if n_train == 0 or int(dataset.x_test.shape[0]) == 0:
            side = "training" if n_train == 0 else "test"
            opts = dict(self.dataset_options)
            key = "n_train" if side == "training" else "n_test"
            given = (f"{param('dataset_options.' + key)}{opts[key]!r}" if key in opts
                     else f"{param('dataset_options.split')}{opts.get('split')!r}")
            raise ConfigError(f"the {side} set of {self.dataset!r} is empty ({given}); "
                              f"allowed: at least 1 {side} sample")
        input_dim = int(math.prod(dataset.x_train.shape[1:]))
        n_classes = int(dataset.n_classes)
        at_once = len(self.runs) if max_models is None else min(
            len(self.runs), int(max_models) * max(1, int(workers)))
        n_out = 1 if self.output == "sigmoid" else n_classes
        samples = max(n_train, int(dataset.x_test.shape[0]))
        arch = "-".join(str(w) for w in (input_dim, *self.layers, n_out))
        check_memory(
            self.memory_estimate(input_dim, n_out, samples, at_once),
            f"study {self.name!r}: {at_once} models of {arch} ({self.dtype}, {samples} samples)",
            f"use fewer or narrower layers, fewer runs at once ({param('max_models')}), or "
            "fewer samples", available=available)
        for scheme in self.schemes:  # one at a time, so the error names the scheme
            try:
                build_model(self, input_dim, n_classes, [(scheme, self.seeds[0])])
            except (SpecError, ShapeError) as e:  # the scheme's (the output's is a ConfigError)
                raise type(e)(f"{field_name('schemes')} {scheme!r}: {e.args[0]}") from None

    def run(
        self,
        store: Any = None,
        *,
        progress: bool = True,
        workers: int | str = "auto",
        max_models: int | None = None,
        data_dir: str | Path | None = None,
        threads: int | None = 1,
        keep_weights: bool = False,
    ) -> Any:
        """Train the runs missing from ``store`` and return the :class:`Results`.

        See :func:`initlab.studies.runner.run_study` for the arguments.

        Example:
            >>> s = Study(dataset="xor", layers=(4,), schemes=["he_normal"], seeds=2, epochs=2)
            >>> s.run(progress=False).complete
            True
        """
        from initlab.studies.runner import run_study

        return run_study(self, store, progress=progress, workers=workers,
                         max_models=max_models, data_dir=data_dir, threads=threads,
                         keep_weights=keep_weights)

    # ------------------------------------------------------------------ derived
    @property
    def runs(self) -> tuple[tuple[str, int], ...]:
        """Every run of the grid as ``(scheme, seed)``, scheme-major."""
        return tuple((s, seed) for s in self.schemes for seed in self.seeds)

    @property
    def effective_log_every(self) -> int:
        """``log_every``, or the default that keeps at most about 500 logged epochs."""
        return self.log_every or max(1, math.ceil(self.epochs / 500))

    def recipe(self) -> dict[str, Any]:
        """The fields that decide how each run is trained (all but name, schemes, seeds).

        Dataset options in :data:`LOCATION_OPTIONS` (a mirror, ``verify``, ``download``) say
        where the files come from, not what they are, and are left out.

        Example:
            >>> a = Study(dataset="mnist", validate_names=False)
            >>> b = a.replace(dataset_options={"mirror": "http://x/{name}", "verify": False},
            ...               validate_names=False)
            >>> a.config_hash == b.config_hash
            True
        """
        d = self.to_dict()
        d["dataset_options"] = {k: v for k, v in d["dataset_options"].items()
                                if k not in LOCATION_OPTIONS}
        return {k: d[k] for k in _FIELDS if k not in _GRID_FIELDS and k in d}

    @property
    def config_hash(self) -> str:
        """A stable 16-hex-digit hash of :meth:`recipe` (canonical JSON, sha256); with
        ``engine = "jit"`` also of :data:`initlab.nn.jit.KERNELS`, the compiled kernels'
        arithmetic (a store of runs from other kernels is then another config)."""
        recipe = self.recipe()
        if self.engine == "jit":
            from initlab.nn.jit import KERNELS

            recipe["jit_kernels"] = KERNELS
        text = json.dumps(recipe, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def __hash__(self) -> int:
        return hash((self.config_hash, self.name, self.schemes, self.seeds))

    def __repr__(self) -> str:
        arch = "-".join(str(w) for w in self.layers) or "no hidden layer"
        batch = "full batch" if self.batch_size is None else f"batch {self.batch_size}"
        return (
            f"Study({self.name!r}: {self.dataset} {arch} {self.activation}->{self.output}, "
            f"{len(self.schemes)} schemes x {len(self.seeds)} seeds, {self.optimizer} "
            f"lr={self.lr:g}, {self.epochs} epochs, {batch}, hash {self.config_hash})"
        )

    def __reduce__(self) -> tuple[Any, ...]:  # picklable (for worker processes) as plain data
        return (_unpickle, (self.to_dict(),))

    def replace(self, **changes: Any) -> Study:
        """Return a copy with ``changes`` applied and validated again.

        Example:
            >>> Study(epochs=3, validate_names=False).replace(epochs=7, validate_names=False).epochs
            7
        """
        unknown_keys = set(changes) - set(_FIELDS) - {"validate_names"}
        if unknown_keys:
            raise unknown("study field", sorted(unknown_keys)[0], _FIELDS, ConfigError)
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------------ (de)serialise
    def to_dict(self) -> dict[str, Any]:
        """The study as plain JSON/TOML-ready data (keys in file order).

        Example:
            >>> Study(seeds=2, validate_names=False).to_dict()["seeds"]
            [0, 1]
        """
        d: dict[str, Any] = {}
        for k in _FIELDS:
            v = getattr(self, k)
            if k in _LATER_DEFAULTS and v == _LATER_DEFAULTS[k]:
                continue
            if isinstance(v, Mapping):
                v = dict(v)
            elif isinstance(v, tuple):
                v = list(v)
            d[k] = v
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, validate_names: bool = True) -> Study:
        """Build a study from a mapping with the keys of a study file.

        Raises:
            ConfigError: for an unknown key (with the closest one) or a bad value.

        Example:
            >>> Study.from_dict({"layers": [4], "epochs": 2}, validate_names=False).layers
            (4,)
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"a study must be a table of fields; got {type(data).__name__}")
        for k in data:
            if k not in _FIELDS:
                raise unknown("study field", k, _FIELDS, ConfigError)
        d = dict(data)
        if d.get("batch_size") == "full":
            d["batch_size"] = None
        return cls(**d, validate_names=validate_names)

    def to_json(self) -> str:
        """The study as indented JSON text."""
        return json.dumps(self.to_dict(), indent=2)

    def to_toml(self) -> str:
        """The study as TOML text that :meth:`from_file` reads back.

        Example:
            >>> print(Study(layers=(3,), validate_names=False).to_toml().splitlines()[0])
            name = "study"
        """
        lines: list[str] = []
        tables: list[str] = []
        for k, v in self.to_dict().items():
            if v is None:
                if k == "batch_size":
                    lines.append('batch_size = "full"')
                continue  # TOML has no null: a missing key means the default None
            if isinstance(v, dict):
                if v:
                    tables.append(f"\n[{k}]")
                    tables.extend(f"{kk} = {_toml_value(vv)}" for kk, vv in v.items())
                continue
            lines.append(f"{k} = {_toml_value(v)}")
        return "\n".join(lines + tables) + "\n"

    @classmethod
    def from_file(cls, path: str | Path, *, validate_names: bool = True) -> Study:
        """Read a study from a ``.toml`` or ``.json`` file.

        Raises:
            ConfigError: the file is missing, unreadable, not valid TOML/JSON, or has a bad
                field.

        Example:
            >>> import tempfile, os
            >>> p = os.path.join(tempfile.mkdtemp(), "s.toml")
            >>> _ = open(p, "w").write('layers = [5]\\nepochs = 2\\n')
            >>> Study.from_file(p, validate_names=False).epochs
            2
        """
        data = read_config_file(path, "study")
        return cls.from_dict(data, validate_names=validate_names)

    def save(self, path: str | Path) -> Path:
        """Write the study to ``path`` as TOML or JSON (by its extension); return the path."""
        p = Path(path)
        text = self.to_json() if p.suffix.lower() == ".json" else self.to_toml()
        p.write_text(text, encoding="utf-8")
        return p


def read_config_file(path: str | Path, kind: str) -> Any:
    """Read a ``.toml`` or ``.json`` config file (a study's or a sweep's) into plain data.

    Every way the file can be wrong is a :class:`ConfigError` naming it: an unknown
    extension, an unreadable file, text that is not UTF-8 (with the byte and its offset),
    invalid TOML/JSON, or nesting too deep to read.

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "s.toml")
        >>> _ = open(p, "w").write('epochs = 2\\n')
        >>> read_config_file(p, "study")
        {'epochs': 2}
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise ConfigError(f"{kind} file {str(p)!r}: unknown extension; allowed: .toml, .json")
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read {kind} file {str(p)!r}: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(
            f"{kind} file {str(p)!r} is not UTF-8 text (byte {e.object[e.start]:#04x} at "
            f"offset {e.start}); save it as UTF-8"
        ) from None
    try:
        if suffix == ".json":
            return json.loads(text)
        return _tomllib().loads(text)
    except ValueError as e:  # JSONDecodeError and TOMLDecodeError are ValueErrors
        raise ConfigError(f"{kind} file {str(p)!r} is not valid {suffix[1:]}: {e}") from None
    except RecursionError:
        raise ConfigError(
            f"{kind} file {str(p)!r}: nested too deeply to read (a {kind} file is a table of "
            "fields with a few levels of sub-tables)"
        ) from None


def _unpickle(data: dict[str, Any]) -> Study:
    return Study.from_dict(data, validate_names=False)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a valid TOML basic string
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {v!r} as TOML")  # pragma: no cover - fields are validated


def _tomllib() -> Any:
    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib
    import tomli  # pragma: no cover - Python 3.10

    return tomli  # pragma: no cover
