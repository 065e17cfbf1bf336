"""Read the parts (train, test) of an MNIST-family dataset from its folder, fetching if asked.

Each part is an images file (IDX, 3 dimensions, uint8) and a labels file (IDX, 1 dimension).
For MNIST, Keras's ``mnist.npz`` (read with ``allow_pickle=False``) is used when the IDX
files of a needed part are absent but it is present.

Example:
    >>> import tempfile, numpy as np
    >>> from initlab.data.idx import write_idx
    >>> from initlab.data.remote import FileSet, RemoteFile
    >>> d = tempfile.mkdtemp()
    >>> write_idx(f"{d}/t10k-images-idx3-ubyte.gz", np.zeros((3, 2, 2), np.uint8))
    >>> write_idx(f"{d}/t10k-labels-idx1-ubyte.gz", np.array([0, 1, 2], np.uint8))
    >>> fs = FileSet("toy", tuple(RemoteFile(n, "0" * 64) for n in (
    ...     "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")), ())
    >>> parts, files = read_parts(fs, ["test"], d, verify=False, download=False)
    >>> parts["test"][0].shape
    (3, 2, 2)
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from initlab.data.catalog import MNIST_NPZ, PART_FILES
from initlab.data.idx import read_idx
from initlab.data.remote import (
    DEFAULT_DEADLINE_S,
    ENV_DATA,
    FileSet,
    check_hash,
    data_home,
    fetch_files,
    locate,
    sha256_file,
)
from initlab.errors import DataError, param

__all__ = ["read_parts", "read_npz"]

_NPZ_KEYS = {"train": ("x_train", "y_train"), "test": ("x_test", "y_test")}


def read_npz(path: str | os.PathLike[str], part: str) -> tuple[np.ndarray, np.ndarray]:
    """Read one part (``"train"`` or ``"test"``) of a Keras-style ``mnist.npz``.

    Args:
        path: the .npz file.
        part: ``"train"`` or ``"test"``.

    Returns:
        (images (n, h, w) uint8, labels (n,) int64).

    Raises:
        DataError: the file is not a readable npz, lacks the arrays, holds objects
            (pickles are refused), or has inconsistent shapes.

    Example:
        >>> import tempfile, numpy as np
        >>> p = tempfile.mkdtemp() + "/m.npz"
        >>> z = np.zeros((2, 4, 4), np.uint8)
        >>> np.savez(p, x_train=z, y_train=np.zeros(2, np.uint8), x_test=z, y_test=z[:, 0, 0])
        >>> read_npz(p, "test")[0].shape
        (2, 4, 4)
    """
    kx, ky = _NPZ_KEYS[part]
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in (kx, ky) if k not in z.files]
            if missing:
                raise DataError(f"{path} lacks {', '.join(missing)}; it has {', '.join(z.files)}")
            x, y = z[kx], z[ky]
    except DataError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise DataError(f"{path} is not a readable .npz file ({e})") from e
    return _check_pair(x, y, str(path))


def _check_pair(x: np.ndarray, y: np.ndarray, source: str) -> tuple[np.ndarray, np.ndarray]:
    if x.ndim != 3:
        raise DataError(f"{source}: images have shape {x.shape}; expected (n, height, width)")
    if y.ndim != 1 or y.shape[0] != x.shape[0]:
        raise DataError(f"{source}: {x.shape[0]} images but labels of shape {y.shape}")
    if y.size and (y.min() < 0):
        raise DataError(f"{source}: negative labels")
    return x, y.astype(np.int64)


def _part_from_idx(folder: Path, fileset: FileSet, part: str) -> tuple[np.ndarray, np.ndarray]:
    img_name, lab_name = PART_FILES[part]
    paths = [locate(folder, fileset.file(n)) for n in (img_name, lab_name)]
    assert paths[0] is not None and paths[1] is not None
    x = read_idx(paths[0], ndim=3)
    y = read_idx(paths[1], ndim=1)
    return _check_pair(x, y, f"{paths[0].name} + {paths[1].name} in {folder}")


def _missing_message(fileset: FileSet, folder: Path, missing: list[str], why: str) -> str:
    """At most three short lines: what is missing where, how to get it, and (only when the
    other part's files are there) the split that uses just those."""
    every = len(missing) == len(fileset.files)
    what = "all its files" if every else ", ".join(missing)
    lines = [f"{fileset.name}: missing {what} in {folder}{why}.",
             f"Run 'initlab datasets fetch {fileset.name}', copy the files there, or set "
             f"{param('data_dir')} / ${ENV_DATA}."]
    present = [p for p, names in PART_FILES.items()
               if all(locate(folder, fileset.file(n)) is not None for n in names)]
    if present:
        n = "8000/2000" if present[0] == "test" else "50000/10000"
        lines.append(f"The {present[0]} files are there: split='{present[0]}:{n}' uses "
                     f"only them.")
    return "\n".join(lines)


def read_parts(
    fileset: FileSet,
    parts: Sequence[str],
    data_dir: str | os.PathLike[str] | None = None,
    verify: bool = True,
    download: bool = True,
    mirror: str | None = None,
    progress: bool | None = None,
    deadline: float | None = DEFAULT_DEADLINE_S,
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], list[dict[str, Any]]]:
    """Read the requested parts of an MNIST-family dataset as raw uint8 images and labels.

    Args:
        fileset: the dataset's files (e.g. :data:`initlab.data.catalog.MNIST`).
        parts: which parts, any of ``"train"``, ``"test"``.
        data_dir: the folder (default: see :func:`initlab.data.remote.data_home`).
        verify: check each file's sha256 before reading.
        download: fetch missing files from the mirrors; without it a missing file is a
            DataError that names it.
        mirror: base URL to download from instead of the built-in mirrors.
        progress: progress bar for downloads (default: when stderr is a terminal).
        deadline: seconds a download may take in all (None: no limit).

    Returns:
        (part -> (images (n, h, w) uint8, labels (n,) int64), the files read with their
        sha256 as JSON-ready dicts).

    Raises:
        DataError: a file is missing (and could not be downloaded), corrupt, truncated or
            has the wrong hash.
    """
    folder = data_home(fileset.name, data_dir)
    needed = [n for p in parts for n in PART_FILES[p]]
    missing = [n for n in needed if locate(folder, fileset.file(n)) is None]
    npz = folder / MNIST_NPZ.files[0].name if fileset.name == MNIST_NPZ.name else None
    use_npz = bool(missing) and npz is not None and npz.is_file()
    if missing and not use_npz:
        if not download:
            raise DataError(_missing_message(fileset, folder, missing, " (download=False)"))
        try:
            fetch_files(fileset, missing, data_dir=data_dir, mirror=mirror, progress=progress,
                        deadline=deadline)
        except DataError as e:
            raise DataError(f"{e}\n" + _missing_message(fileset, folder, missing, "")
                            .split("\n", 1)[1]) from e
    files: list[dict[str, Any]] = []
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if use_npz:
        assert npz is not None
        status = check_hash(folder, MNIST_NPZ.files[0]) if verify else None
        files.append(_file_record(npz, status.sha256 if status else None, verify))
        for p in parts:
            out[p] = read_npz(npz, p)
        return out, files
    for p in parts:
        for n in PART_FILES[p]:
            f = fileset.file(n)
            if verify:
                st = check_hash(folder, f)
                files.append(_file_record(st.path, st.sha256, st.state == "ok"))
            else:
                path = locate(folder, f)
                assert path is not None
                files.append(_file_record(path, None, False))
        out[p] = _part_from_idx(folder, fileset, p)
    return out, files


def _file_record(path: Path, digest: str | None, verified: bool) -> dict[str, Any]:
    return {
        "name": path.name,
        "path": str(path),
        "sha256": digest if digest is not None else sha256_file(path),
        "verified": bool(verified),
    }
