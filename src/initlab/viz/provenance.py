"""Provenance of a run: what produced these numbers (versions, seeds, data, machine, time).

Example:
    >>> p = collect(seeds=[0, 1], started=0.0, finished=2.5)
    >>> p["duration_s"], p["seeds"]
    (2.5, [0, 1])
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import platform
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

__all__ = ["collect", "sha256"]


def sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """Return the hex SHA-256 of a file (read in chunks).

    Example:
        >>> import tempfile, pathlib
        >>> f = pathlib.Path(tempfile.mkdtemp()) / "x"; _ = f.write_bytes(b"abc")
        >>> sha256(f)[:12]
        'ba7816bf8f01'
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def collect(
    *,
    seeds: Iterable[int] = (),
    data: Mapping[str, object] | None = None,
    started: float | None = None,
    finished: float | None = None,
    extra: Mapping[str, object] | None = None,
) -> dict[str, object]:
    """Gather a run's provenance as a JSON-ready dict.

    Args:
        seeds: the seeds the run used.
        data: what identifies the data (source, split, file checksums), as the dataset gives it.
        started: ``time.perf_counter()`` (or ``time.time()``) at the start, for the duration.
        finished: the same clock at the end.
        extra: more entries to record (e.g. the command line).

    Returns:
        dict with initlab, numpy and Python versions, platform, machine architecture and CPU
        count, the UTC time, seeds, data and the duration in seconds.

    Example:
        >>> sorted(collect())[:3]
        ['cpu_count', 'created_utc', 'data']
    """
    from initlab import __version__

    out: dict[str, object] = {
        "initlab": __version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "created_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "seeds": [int(s) for s in seeds],
        "data": dict(data or {}),
    }
    if started is not None and finished is not None:
        out["duration_s"] = round(float(finished) - float(started), 3)
    out.update(dict(extra or {}))
    return out
