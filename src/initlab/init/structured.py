"""Structured schemes: orthogonal (Saxe et al. 2013), identity, sparse (Martens 2010),
delta_orthogonal (Xiao et al. 2018) and ZerO (Zhao et al. 2021).

A kernel of rank > 2 is viewed as a matrix (prod(shape[:-1]), shape[-1]) by orthogonal and
sparse, and as a centre tap (in, out) at index (k - 1) // 2 of every spatial axis by
identity, delta_orthogonal and zero_init.

Example:
    >>> W = Orthogonal()((6, 4), rng=0)
    >>> bool(abs(W.T @ W - np.eye(4)).max() < 1e-5)
    True
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import numpy as np

from initlab.errors import ShapeError, SpecError
from initlab.init.base import Initializer, need_rank
from initlab.init.basic import _set
from initlab.init.checks import boolean, choice, fmt, number
from initlab.init.fans import as_shape
from initlab.init.sampling import normal

__all__ = [
    "Orthogonal",
    "Identity",
    "Dirac",
    "Sparse",
    "DeltaOrthogonal",
    "ZerO",
    "orthogonal_matrix",
    "zero_matrix",
]


def orthogonal_matrix(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    """Draw a Haar-distributed (rows, cols) float64 matrix with orthonormal columns or rows.

    QR of a Gaussian matrix with the signs of R's diagonal moved into Q (Mezzadri 2007), so
    the result is uniform over the orthogonal group, as Keras, PyTorch and JAX do.

    Args:
        rng: the generator.
        rows: number of rows.
        cols: number of columns.

    Returns:
        W with W.T @ W = I if rows >= cols, else W @ W.T = I.

    Example:
        >>> W = orthogonal_matrix(np.random.default_rng(0), 3, 5)
        >>> bool(np.allclose(W @ W.T, np.eye(3)))
        True
    """
    a = rng.standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    d = np.sign(np.diag(r))
    d[d == 0] = 1.0
    q *= d
    return q if rows >= cols else q.T


def _centre(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple((k - 1) // 2 for k in shape[:-2])


def _tap(matrix: np.ndarray, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Put an (in, out) matrix at the centre tap of a kernel of ``shape`` (zeros elsewhere)."""
    if len(shape) == 2:
        return matrix.astype(dtype, copy=False)
    out = np.zeros(shape, dtype=dtype)
    if out.size:
        out[_centre(shape)] = matrix
    return out


def _rms_std(x: np.ndarray) -> float:
    return float(np.std(x)) if x.size else 0.0


@dataclasses.dataclass(frozen=True)
class Orthogonal(Initializer):
    """A random orthogonal matrix times ``gain`` (Saxe et al. 2013).

    The kernel is flattened to (prod(shape[:-1]), shape[-1]): tall -> orthonormal columns,
    wide -> orthonormal rows. Each element has mean square gain^2 / max(rows, cols).

    Example:
        >>> Orthogonal(gain=2.0).std((16, 4))
        0.5
    """

    gain: float = 1.0
    kind: ClassVar[str] = "orthogonal"
    scratch_bytes: ClassVar[int] = 16  # the float64 normal matrix and its Q

    def __post_init__(self) -> None:
        _set(self, "gain", number(self.kind, "gain", self.gain))

    def _rows_cols(self, shape: tuple[int, ...]) -> tuple[int, int]:
        need_rank(self, shape, 2, why=" (a matrix or a conv kernel)")
        return math.prod(shape[:-1]), shape[-1]

    def _draw(self, shape, rng, dtype):
        rows, cols = self._rows_cols(shape)
        if rows == 0 or cols == 0:
            return np.zeros(shape, dtype=dtype)
        w = orthogonal_matrix(rng, rows, cols)
        w *= self.gain
        return w.reshape(shape).astype(dtype, copy=False)

    def std(self, shape):
        rows, cols = self._rows_cols(as_shape(shape))
        return abs(self.gain) / math.sqrt(max(rows, cols)) if rows and cols else None

    def _formula(self, shape):
        rows, cols = self._rows_cols(shape)
        side = "W^T W" if rows >= cols else "W W^T"
        s = self.std(shape)
        return (
            f"gain * Q, Q a random orthogonal ({rows}, {cols}) matrix ({side} = gain^2 I), "
            f"gain = {self.gain:g}; element rms = gain / sqrt(max(rows, cols)) = "
            f"{fmt(s) if s is not None else 'undefined'}"
        )


@dataclasses.dataclass(frozen=True)
class Identity(Initializer):
    """``gain`` times the (partial) identity; for a conv kernel, at the centre tap (Dirac).

    Example:
        >>> Identity()((2, 3)).tolist()
        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    """

    gain: float = 1.0
    matrix_only: bool = dataclasses.field(default=False, kw_only=True)
    """Accept only rank 2, as ``torch.nn.init.eye_`` and Keras 3's ``Identity`` do."""
    kind: ClassVar[str] = "identity"

    def __post_init__(self) -> None:
        _set(self, "gain", number(self.kind, "gain", self.gain))
        _set(self, "matrix_only", boolean(self.kind, "matrix_only", self.matrix_only))

    def _draw(self, shape, rng, dtype):
        if self.matrix_only:
            need_rank(self, shape, 2, 2, why=" (a matrix only, as the library it matches)")
        need_rank(self, shape, 2, why=" (a matrix, or a conv kernel for its centre tap)")
        return _tap(self.gain * np.eye(shape[-2], shape[-1]), shape, dtype)

    def std(self, shape):
        return _rms_std(self._draw(as_shape(shape), None, np.dtype(np.float64)))

    def _formula(self, shape):
        need_rank(self, shape, 2, why=" (a matrix, or a conv kernel for its centre tap)")
        where = "" if len(shape) == 2 else " at the centre tap, zeros elsewhere"
        return f"{self.gain:g} * I ({shape[-2]} x {shape[-1]}, ones on the diagonal){where}"


@dataclasses.dataclass(frozen=True)
class Sparse(Initializer):
    """N(0, std) with a fixed fraction of zeros per unit (Martens 2010; torch.nn.init.sparse_).

    The kernel is viewed as (rows, cols) = (prod(shape[:-1]), shape[-1]). ``along="fan_in"``
    (initlab's default, Martens): every output unit has exactly ceil(sparsity * rows) zero
    incoming weights. ``along="fan_out"`` (PyTorch's rule in initlab's layout): every input
    has exactly ceil(sparsity * cols) zero outgoing weights.

    Example:
        >>> W = Sparse(0.5, 0.01)((10, 3), rng=0)
        >>> (W == 0).sum(axis=0).tolist()
        [5, 5, 5]
    """

    sparsity: float = 0.1
    stddev: float = dataclasses.field(default=0.01, metadata={"arg": "std"})
    along: str = "fan_in"
    matrix_only: bool = dataclasses.field(default=False, kw_only=True)
    """Accept only rank 2, as ``torch.nn.init.sparse_`` does."""
    kind: ClassVar[str] = "sparse"

    def __post_init__(self) -> None:
        k = self.kind
        _set(self, "sparsity", number(k, "sparsity", self.sparsity, low=0, high=1))
        _set(self, "stddev", number(k, "std", self.stddev, low=0))
        _set(self, "along", choice(k, "along", self.along, ("fan_in", "fan_out")))
        _set(self, "matrix_only", boolean(k, "matrix_only", self.matrix_only))

    def _layout(self, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
        if self.matrix_only:
            need_rank(self, shape, 2, 2, why=" (a matrix only, as torch.nn.init.sparse_)")
        need_rank(self, shape, 2, why=" (a matrix or a conv kernel)")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        axis = 0 if self.along == "fan_in" else 1
        length = rows if axis == 0 else cols
        return rows, cols, axis, min(length, math.ceil(self.sparsity * length))

    def _draw(self, shape, rng, dtype):
        rows, cols, axis, nz = self._layout(shape)
        w = normal(rng, (rows, cols), 0.0, self.stddev, dtype)
        if nz and w.size:
            zero_at = np.argsort(rng.random((rows, cols)), axis=axis)
            zero_at = zero_at[:nz] if axis == 0 else zero_at[:, :nz]
            np.put_along_axis(w, zero_at, 0.0, axis=axis)
        return w.reshape(shape)

    def std(self, shape):
        rows, cols, axis, nz = self._layout(as_shape(shape))
        length = rows if axis == 0 else cols
        return self.stddev * math.sqrt(1.0 - nz / length) if length else None

    def _formula(self, shape):
        rows, cols, axis, nz = self._layout(shape)
        unit = "output unit (column)" if axis == 0 else "input (row)"
        s = self.std(shape)
        return (
            f"N(0, {self.stddev:g}) with {nz} zeros per {unit} (ceil({self.sparsity:g} * "
            f"{rows if axis == 0 else cols})); element std = std * sqrt(1 - zeros / n) = "
            f"{fmt(s) if s is not None else 'undefined'}"
        )


@dataclasses.dataclass(frozen=True)
class Dirac(Initializer):
    """A conv kernel that passes its input channels through: ``torch.nn.init.dirac_``.

    Rank 3 to 5 only. With ``groups`` g, out channels are split in g groups of out/g; in each
    group the first min(out/g, in) outputs copy inputs 0, 1, ... at the centre tap, index
    ``k // 2`` of every spatial axis (PyTorch's index; initlab's identity uses
    ``(k - 1) // 2``). In initlab's layout (*k, in, out):
    W[k1 // 2, ..., d, g * out/g + d] = 1.

    Example:
        >>> W = Dirac()((3, 2, 2))
        >>> W[1].tolist(), float(W.sum())
        ([[1.0, 0.0], [0.0, 1.0]], 2.0)
    """

    groups: int = 1
    kind: ClassVar[str] = "dirac"

    def __post_init__(self) -> None:
        g = number(self.kind, "groups", self.groups, low=1)
        if float(g) != int(g):
            raise SpecError(f"{self.kind}: groups must be a positive int; got {self.groups!r}")
        _set(self, "groups", int(g))

    def _check(self, shape: tuple[int, ...]) -> None:
        need_rank(self, shape, 3, 5, why=" (a 1D, 2D or 3D conv kernel, as torch.nn.init.dirac_)")
        if shape[-1] % self.groups:
            raise ShapeError(
                f"{self.name} needs out channels divisible by groups={self.groups}; got "
                f"shape {shape} with out={shape[-1]}"
            )

    def _draw(self, shape, rng, dtype):
        self._check(shape)
        out = np.zeros(shape, dtype=dtype)
        per = shape[-1] // self.groups
        n = min(per, shape[-2])
        centre = tuple(k // 2 for k in shape[:-2])
        d = np.arange(n)
        for g in range(self.groups):
            out[(*centre, d, g * per + d)] = 1
        return out

    def std(self, shape):
        return _rms_std(self._draw(as_shape(shape), None, np.dtype(np.float64)))

    def _formula(self, shape):
        self._check(shape)
        c = ", ".join(str(k // 2) for k in shape[:-2])
        return (f"zeros except W[{c}, d, g * out/g + d] = 1 for d < min(out/g, in), "
                f"groups = {self.groups}")


@dataclasses.dataclass(frozen=True)
class DeltaOrthogonal(Initializer):
    """Conv kernel that is zero except an orthogonal (in, out) matrix at the centre tap.

    Xiao et al. 2018 (as jax.nn.initializers.delta_orthogonal): rank 3 to 5, in <= out, so
    the centre matrix has orthonormal rows and the convolution preserves norms.

    Example:
        >>> W = DeltaOrthogonal()((3, 3, 4, 8), rng=0)
        >>> M = W[1, 1]
        >>> bool(abs(M @ M.T - np.eye(4)).max() < 1e-5 and abs(W).sum() == abs(M).sum())
        True
    """

    gain: float = 1.0
    kind: ClassVar[str] = "delta_orthogonal"

    def __post_init__(self) -> None:
        _set(self, "gain", number(self.kind, "gain", self.gain))

    def _check(self, shape: tuple[int, ...]) -> None:
        need_rank(
            self,
            shape,
            3,
            5,
            why=" (a 1D, 2D or 3D conv kernel (*kernel, in, out); "
            "use orthogonal for a dense kernel)",
        )
        if shape[-2] > shape[-1]:
            raise ShapeError(
                f"{self.name} needs in <= out channels (an orthogonal centre tap with "
                f"orthonormal rows); got shape {shape} with in={shape[-2]} > out={shape[-1]}"
            )

    def _draw(self, shape, rng, dtype):
        self._check(shape)
        m = orthogonal_matrix(rng, shape[-2], shape[-1]) if shape[-2] else np.zeros(shape[-2:])
        return _tap(self.gain * m, shape, dtype)

    def std(self, shape):
        shp = as_shape(shape)
        self._check(shp)
        size = math.prod(shp)
        return abs(self.gain) * math.sqrt(shp[-2] / size) if size else None

    def _formula(self, shape):
        self._check(shape)
        c = ", ".join(str(i) for i in _centre(shape))
        return (
            f"zeros except W[{c}] = {self.gain:g} * Q, Q a random orthogonal "
            f"({shape[-2]}, {shape[-1]}) matrix (Q Q^T = I)"
        )


def zero_matrix(fan_in: int, fan_out: int) -> np.ndarray:
    """Return ZerO's deterministic (fan_in, fan_out) float64 matrix (Zhao et al. 2021, Alg. 1).

    In the paper's (out, in) notation: out <= in gives the (partial) identity I*; out > in
    gives c * I* H_m I* with m = ceil(log2(out)), H_m the 2^m x 2^m Sylvester Hadamard
    matrix and c = 2^(-(m - 1) / 2). initlab's (in, out) matrix is its transpose.

    Example:
        >>> zero_matrix(2, 2).tolist()
        [[1.0, 0.0], [0.0, 1.0]]
    """
    if fan_out <= fan_in:
        return np.eye(fan_in, fan_out)
    from scipy.linalg import hadamard  # scipy.linalg is slow to import; only ZerO needs it

    m = math.ceil(math.log2(fan_out))
    c = 2.0 ** (-(m - 1) / 2.0)
    return c * hadamard(2**m, dtype=np.float64)[:fan_out, :fan_in].T


@dataclasses.dataclass(frozen=True)
class ZerO(Initializer):
    """ZerO (Zhao et al. 2021): only zeros, ones and a scaled Hadamard; deterministic.

    Dense (in, out): identity when equal, partial identity when out < in, a scaled Hadamard
    block when out > in (see :func:`zero_matrix`). Conv kernels get it at the centre tap.

    Example:
        >>> ZerO()((3, 2)).tolist()
        [[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]
    """

    kind: ClassVar[str] = "zero_init"

    def _draw(self, shape, rng, dtype):
        need_rank(self, shape, 2, why=" (a matrix, or a conv kernel for its centre tap)")
        return _tap(zero_matrix(shape[-2], shape[-1]), shape, dtype)

    def std(self, shape):
        return _rms_std(self._draw(as_shape(shape), None, np.dtype(np.float64)))

    def _formula(self, shape):
        need_rank(self, shape, 2, why=" (a matrix, or a conv kernel for its centre tap)")
        fi, fo = shape[-2], shape[-1]
        where = "" if len(shape) == 2 else " at the centre tap, zeros elsewhere"
        if fo <= fi:
            return f"I ({fi} x {fo}, ones on the diagonal: out <= in){where}"
        m = math.ceil(math.log2(fo))
        return (
            f"c * H[:in, :out] with H the {2**m} x {2**m} Hadamard matrix (m = ceil(log2("
            f"{fo})) = {m}), c = 2^(-(m - 1) / 2) = {fmt(2.0 ** (-(m - 1) / 2.0))}{where}"
        )
