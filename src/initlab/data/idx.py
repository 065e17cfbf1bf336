"""The IDX file format of MNIST and its relatives: read and write, gzipped or raw.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of
dimensions), one big-endian uint32 per dimension, then the values in big-endian C order.
The reader checks the magic number, the type code, the dimensions and the length, and
reads gzip-compressed files (recognised by their content, not their name) as well as raw.

Example:
    >>> import tempfile, pathlib, numpy as np
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "x-idx3-ubyte.gz"
    >>> write_idx(path, np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
    >>> read_idx(path).shape
    (2, 3, 4)
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from initlab.errors import DataError

__all__ = ["IDX_TYPES", "read_idx", "write_idx", "read_bytes"]

IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
"""IDX type code -> big-endian NumPy dtype."""

_GZIP_MAGIC = b"\x1f\x8b"


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    """Return a file's bytes, decompressed when it is gzip (by content, not by name).

    Args:
        path: the file.

    Returns:
        The (decompressed) content.

    Raises:
        DataError: the file is missing, or its gzip stream is corrupt or truncated.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.bin"
        >>> _ = p.write_bytes(b"abc")
        >>> read_bytes(p)
        b'abc'
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}") from e
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path} is a corrupt or truncated gzip file ({e})") from e


def _parse(data: bytes, source: str) -> np.ndarray:
    """Parse IDX bytes (already decompressed) into an array in native byte order."""
    if len(data) < 4:
        raise DataError(f"{source} is not an IDX file: only {len(data)} bytes")
    if data[0] != 0 or data[1] != 0:
        raise DataError(
            f"{source} is not an IDX file: magic number starts with "
            f"{data[0]:#04x} {data[1]:#04x}, expected 0x00 0x00"
        )
    code, ndim = data[2], data[3]
    if code not in IDX_TYPES:
        allowed = ", ".join(f"{c:#04x}" for c in IDX_TYPES)
        raise DataError(f"{source}: unknown IDX type code {code:#04x}; allowed: {allowed}")
    if ndim == 0:
        raise DataError(f"{source}: IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{source} is truncated: header needs {header} bytes, file has {len(data)}")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_TYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    got = len(data) - header
    if got < expected:
        raise DataError(
            f"{source} is truncated: dimensions {dims} need {expected} bytes of data, found {got}"
        )
    if got > expected:
        raise DataError(
            f"{source} has {got - expected} unexpected trailing bytes after {dims} values"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return array.astype(dtype.newbyteorder("="), copy=True)


def read_idx(path: str | os.PathLike[str], ndim: int | None = None) -> np.ndarray:
    """Read an IDX file (gzipped or raw) into a NumPy array in native byte order.

    Args:
        path: the file, e.g. ``t10k-images-idx3-ubyte.gz``.
        ndim: the number of dimensions the caller expects (3 for images, 1 for labels);
            None accepts any.

    Returns:
        A writable array with the file's dtype and dimensions.

    Raises:
        DataError: the file is missing, corrupt, truncated, not IDX, or has the wrong
            number of dimensions.

    Example:
        >>> import tempfile, pathlib, numpy as np
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "y-idx1-ubyte"
        >>> write_idx(p, np.array([3, 1, 4], dtype=np.uint8))
        >>> read_idx(p, ndim=1).tolist()
        [3, 1, 4]
    """
    path = Path(path)
    array = _parse(read_bytes(path), str(path))
    if ndim is not None and array.ndim != ndim:
        raise DataError(f"{path} has {array.ndim} dimensions {array.shape}; expected {ndim}")
    return array


def write_idx(
    path: str | os.PathLike[str], array: np.ndarray, compress: bool | None = None
) -> None:
    """Write an array as an IDX file; gzip it when ``compress`` (default: name ends in .gz).

    Args:
        path: where to write.
        array: values of an IDX type (uint8, int8, int16, int32, float32, float64).
        compress: gzip the file; None means "if the name ends with .gz".

    Raises:
        DataError: the dtype has no IDX type code, or the array is 0-dimensional.

    Example:
        >>> import tempfile, pathlib, numpy as np
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "z.idx"
        >>> write_idx(p, np.zeros((2, 2), np.float32))
        >>> p.stat().st_size
        28
    """
    path = Path(path)
    array = np.asarray(array)
    codes = {dt.newbyteorder("="): code for code, dt in IDX_TYPES.items()}
    native = array.dtype.newbyteorder("=")
    if native not in codes:
        allowed = ", ".join(str(d) for d in codes)
        raise DataError(f"cannot write dtype {array.dtype} as IDX; allowed: {allowed}")
    if array.ndim == 0 or array.ndim > 255:
        raise DataError(f"cannot write a {array.ndim}-dimensional array as IDX")
    code = codes[native]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + np.ascontiguousarray(array, dtype=IDX_TYPES[code]).tobytes()
    if compress is None:
        compress = path.name.endswith(".gz")
    if compress:
        payload = gzip.compress(payload, mtime=0)
    path.write_bytes(payload)
