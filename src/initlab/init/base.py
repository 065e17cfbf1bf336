"""The Initializer contract: a frozen, printable object that draws weights of a shape.

Every scheme subclasses :class:`Initializer` and implements ``_draw`` (and ``std`` and
``_formula``). Calling it validates the shape, the dtype and the rng, refuses up front an
array this machine cannot hold (with the size it would need), and refuses a draw whose values
do not fit the dtype (``normal(std=1e300)`` in float32), so a user's mistake is an initlab
error, never a NumPy traceback nor an array of inf.

Example:
    >>> from initlab.init import get
    >>> W = get("he_normal")((784, 128), rng=0)
    >>> W.shape, W.dtype
    ((784, 128), dtype('float32'))
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from numpy.typing import DTypeLike

from initlab.errors import ShapeError, SpecError
from initlab.init.checks import check_memory, nbytes_text
from initlab.init.fans import as_shape
from initlab.rng import RngLike, as_generator

__all__ = ["Initializer", "as_float_dtype", "format_value", "arg_name"]


def arg_name(f: dataclasses.Field) -> str:
    """The spec argument a dataclass field stands for (field ``stddev`` is the argument ``std``)."""
    return f.metadata.get("arg", f.name)


def _bfloat16() -> np.dtype:
    """NumPy's bfloat16, which NumPy has not: ml_dtypes' (installed with jax), or SpecError."""
    try:
        import ml_dtypes
    except ImportError:
        raise SpecError(
            "dtype bfloat16 needs the ml_dtypes package (pip install ml_dtypes; jax brings it); "
            "without it draw float32 and cast with torch: torch.from_numpy(w).to("
            "torch.bfloat16), which initlab.torch.init_ does for a bfloat16 parameter"
        ) from None
    return np.dtype(ml_dtypes.bfloat16)


def as_float_dtype(dtype: DTypeLike) -> np.dtype:
    """Return ``dtype`` as a floating NumPy dtype, or raise SpecError naming it.

    ``"bfloat16"`` is ml_dtypes' bfloat16 where that package is installed (weights are
    drawn in float32 and rounded to nearest even, as ``torch.Tensor.to(torch.bfloat16)``).

    Example:
        >>> as_float_dtype("float64")
        dtype('float64')
    """
    if isinstance(dtype, str) and dtype.lower() == "bfloat16":
        return _bfloat16()
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise SpecError(f"dtype must be a floating dtype such as float32; got {dtype!r}") from None
    if dt.name == "bfloat16":
        return dt
    if not np.issubdtype(dt, np.floating):
        raise SpecError(f"dtype must be a floating dtype such as float32 or float64; got {dt}")
    return dt


def format_value(value: Any) -> str:
    """Render an argument value as the spec parser reads it back (floats round-trip exactly).

    Example:
        >>> format_value(0.1), format_value(True), format_value("fan_in")
        ('0.1', 'True', 'fan_in')
    """
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, int):
        return repr(float(value))
    text = str(value)
    return text if text.isidentifier() else repr(text)


def _owner(cls: type, attr: str) -> type:
    return next(c for c in cls.__mro__ if attr in vars(c))


def _fills(cls: type) -> bool:
    """True when ``cls``'s ``_fill`` belongs with its ``_draw`` (a subclass that redefines
    ``_draw`` alone must not inherit a ``_fill`` drawing other numbers)."""
    return _owner(cls, "_fill") is _owner(cls, "_draw")


@dataclasses.dataclass(frozen=True)
class Initializer:
    """Base of every scheme: ``init(shape, rng=None, dtype=np.float32) -> np.ndarray``.

    Subclasses are frozen dataclasses whose fields are the scheme's parameters; two
    initializers are equal when they draw from the same distribution. ``label`` is the
    canonical spec string that :func:`initlab.init.get` built it from (not compared).
    """

    label: str | None = dataclasses.field(default=None, compare=False, repr=False, kw_only=True)

    kind: ClassVar[str] = "initializer"
    """The registry name a directly constructed instance prints as."""

    scratch_bytes: ClassVar[int] = 0
    """Bytes per element a draw needs besides its output (float64 temporaries); the memory
    check before drawing counts them (see :meth:`_scratch`)."""

    def __call__(
        self,
        shape: int | Sequence[int],
        rng: RngLike = None,
        dtype: DTypeLike = np.float32,
    ) -> np.ndarray:
        """Draw an array of ``shape`` and ``dtype``.

        Args:
            shape: the weight's shape; a dense kernel is ``(fan_in, fan_out)``, a conv
                kernel ``(*kernel, in, out)``.
            rng: a ``numpy.random.Generator``, an int seed, or None (fresh entropy).
            dtype: a floating dtype (default float32); ``"bfloat16"`` with ml_dtypes.

        Returns:
            A new ndarray of that shape and dtype.

        Example:
            >>> from initlab.init import get
            >>> get("zeros")((2, 3)).sum()
            np.float32(0.0)
        """
        shp = as_shape(shape)
        dt = as_float_dtype(dtype)
        gen = as_generator(rng)
        what = f"{self} of shape {shp} ({dt.name})"
        size = math.prod(shp) * dt.itemsize
        need = math.prod(shp) * (dt.itemsize + self._scratch(dt))
        check_memory(need, what, f"the array alone is {nbytes_text(size)}")
        try:
            with np.errstate(over="ignore", invalid="ignore"):  # scoped: checked just below
                if dt.name == "bfloat16":  # no arithmetic in bfloat16: draw float32, round once
                    out = self._draw(shp, gen, np.dtype(np.float32)).astype(dt)
                else:
                    out = self._draw(shp, gen, dt)
        except MemoryError:
            raise ShapeError(f"{what}: not enough memory for {nbytes_text(size)}") from None
        if out.shape != shp or out.dtype != dt:  # pragma: no cover - a scheme's own bug
            raise AssertionError(f"{self} drew {out.shape} {out.dtype}, not {shp} {dt}")
        self._check_finite(out)
        return out

    def fill(self, out: np.ndarray, rng: RngLike = None) -> np.ndarray:
        """Draw into ``out`` the very numbers ``self(out.shape, rng, out.dtype)`` returns.

        For the schemes that draw i.i.d. values (constant, uniform, normal and the variance
        scaling family at their untruncated distributions) no new array is made: the
        generator fills ``out`` and it is scaled in place, which saves the allocation and the
        copy on large weights (``initlab.torch.init_`` draws into the parameter's memory).
        Any other scheme draws as usual and is copied in. Same checks as a call.

        Args:
            out: a writeable, C-contiguous floating array; its shape and dtype are the draw's.
            rng: a ``numpy.random.Generator``, an int seed, or None (fresh entropy).

        Returns:
            ``out``.

        Example:
            >>> from initlab.init import get
            >>> w = np.empty((3, 2), np.float32)
            >>> bool((get("he_normal").fill(w, 0) == get("he_normal")((3, 2), 0)).all())
            True
        """
        if not (isinstance(out, np.ndarray) and out.flags.c_contiguous and out.flags.writeable):
            raise ShapeError(f"{self}.fill: out must be a writeable C-contiguous ndarray; got "
                             f"{type(out).__name__}")
        shp = as_shape(out.shape)
        dt = as_float_dtype(out.dtype)
        gen = as_generator(rng)
        if dt in (np.dtype(np.float32), np.dtype(np.float64)) and _fills(type(self)):
            with np.errstate(over="ignore", invalid="ignore"):  # scoped: checked just below
                done = self._fill(out, gen)
            if done:
                self._check_finite(out)
                return out
        out[...] = self(shp, gen, dt)
        return out

    def _fill(self, out: np.ndarray, rng: np.random.Generator) -> bool:
        """Draw into ``out`` (float32/float64, C-contiguous) if this scheme can; else False."""
        return False

    def _bound(self, shape: tuple[int, ...]) -> float | None:
        """An upper bound on |weight| for ``shape``, or None when the scheme cannot say."""
        return None

    def _check_finite(self, out: np.ndarray) -> None:
        bound = self._bound(tuple(out.shape)) if out.dtype.kind == "f" else None
        if bound is not None and 2 * bound < float(np.finfo(out.dtype).max):
            return  # every value is finite by construction: no pass over the array
        if out.size and not (math.isfinite(out.max()) and math.isfinite(out.min())):
            dt = out.dtype
            raise SpecError(
                f"{self}: its values do not fit {dt.name} (largest {np.finfo(dt).max:.3g}) "
                f"for shape {out.shape}; allowed: parameters whose weights are finite in "
                f"{dt.name}"
            )

    def _draw(
        self, shape: tuple[int, ...], rng: np.random.Generator, dtype: np.dtype
    ) -> np.ndarray:
        raise NotImplementedError

    def _scratch(self, dtype: np.dtype) -> int:
        """Bytes per element of temporaries while drawing in ``dtype`` (float16: one float64)."""
        native = dtype in (np.dtype(np.float32), np.dtype(np.float64))
        return self.scratch_bytes + (0 if native else 8)

    def std(self, shape: int | Sequence[int]) -> float | None:
        """Return the std of the elements the formula predicts for ``shape``, or None.

        Example:
            >>> from initlab.init import get
            >>> round(get("he_normal").std((784, 128)), 4)
            0.0505
        """
        return None

    def describe(self, shape: int | Sequence[int]) -> str:
        """Return the scheme's formula with its numbers for ``shape``.

        Example:
            >>> from initlab.init import get
            >>> get("he_normal").describe((784, 128))
            'he_normal: N(0, sigma) with sigma = sqrt(2 / fan_in) = sqrt(2 / 784) = 0.0505'
        """
        return f"{self.name}: {self._formula(as_shape(shape))}"

    def _formula(self, shape: tuple[int, ...]) -> str:
        raise NotImplementedError

    def bias(
        self,
        fan_in: int,
        units: int,
        rng: RngLike = None,
        dtype: DTypeLike = np.float32,
    ) -> np.ndarray:
        """Return the bias this scheme gives a dense layer: zeros, except torch:linear_default.

        Args:
            fan_in: the layer's number of inputs.
            units: the layer's number of outputs (the bias length).
            rng: generator or seed (used only by schemes with a random bias).
            dtype: floating dtype.

        Returns:
            An array of shape ``(units,)``.

        Example:
            >>> from initlab.init import get
            >>> get("he_normal").bias(784, 3).tolist()
            [0.0, 0.0, 0.0]
        """
        (n,) = as_shape((units,))
        as_shape((fan_in,))
        return np.zeros(n, dtype=as_float_dtype(dtype))

    @property
    def name(self) -> str:
        """The scheme's name, e.g. ``'he_normal'`` or ``'torch:kaiming_uniform'``."""
        return (self.label or self.kind).split("(", 1)[0]

    def params(self) -> dict[str, Any]:
        """Return the scheme's fields (its exact parameters) as a dict."""
        return {arg_name(f): getattr(self, f.name) for f in dataclasses.fields(self) if f.compare}

    def __str__(self) -> str:
        if self.label:
            return self.label
        changed = [
            f"{arg_name(f)}={format_value(getattr(self, f.name))}"
            for f in dataclasses.fields(self)
            if f.compare and getattr(self, f.name) != f.default
        ]
        return f"{self.kind}({', '.join(changed)})" if changed else self.kind


def need_rank(
    scheme: Initializer, shape: tuple[int, ...], low: int, high: int | None = None, why: str = ""
) -> None:
    """Raise ShapeError unless ``low <= len(shape) <= high``, naming the scheme and why."""
    r = len(shape)
    if r < low or (high is not None and r > high):
        span = (
            f"rank {low}"
            if high == low
            else (f"rank {low} to {high}" if high is not None else f"rank >= {low}")
        )
        raise ShapeError(f"{scheme.name} needs a weight of {span}{why}; got shape {shape}")
