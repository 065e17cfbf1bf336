"""Files that are downloaded: where they live, their hashes, fetching them safely, verifying.

Where a dataset's files live (first that applies):

1. ``data_dir=`` (or ``--data-dir``): the folder that holds the files themselves;
2. ``$INITLAB_DATA/<name>``;
3. the platform cache folder, ``pooch.os_cache("initlab")/<name>``
   (``~/.cache/initlab/<name>`` on Linux).

Downloads stream over HTTP(S) (requests) with a sha256 for every file, a progress bar,
retries and an overall deadline, into a hidden staging folder next to the target; only a
file whose hash matched is moved into place, and the staging folder is removed whatever
happens, so a failed or interrupted download leaves nothing behind (a download killed with
``kill -9`` leaves its staging folder, which the next fetch removes).

``mirror=`` (or ``$INITLAB_DATA_MIRROR``) replaces the built-in mirrors with one base URL
template: ``{name}`` in it is replaced by the dataset's name, a ``/`` is added if missing,
then the published file name, e.g. ``http://host/data/{name}`` -> ``http://host/data/mnist/t10k-images-idx3-ubyte.gz``.

Example:
    >>> fs = FileSet("toy", (RemoteFile("a.gz", "0" * 64),), ("https://example.org/",))
    >>> data_home(fs.name, "/tmp/toy").as_posix()
    '/tmp/toy'
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from initlab.errors import ConfigError, DataError, param
from initlab.init.checks import number

__all__ = [
    "RemoteFile",
    "FileSet",
    "FileStatus",
    "data_home",
    "sha256_file",
    "locate",
    "check_hash",
    "fetch_files",
    "verify_files",
    "mirrors_for",
    "remove_stale_staging",
    "check_seconds",
    "DEFAULT_DEADLINE_S",
]

ENV_DATA = "INITLAB_DATA"
ENV_MIRROR = "INITLAB_DATA_MIRROR"


@dataclass(frozen=True)
class RemoteFile:
    """One published file: its name, the sha256 of its bytes, and of its decompressed bytes.

    Attributes:
        name: file name as published, e.g. ``t10k-images-idx3-ubyte.gz``.
        sha256: hex digest of the published bytes.
        raw_sha256: hex digest after gunzip (lets a user keep the raw file), if known.
        size: size in bytes of the published file, if known.
    """

    name: str
    sha256: str
    raw_sha256: str | None = None
    size: int | None = None

    @property
    def raw_name(self) -> str:
        """The name of the decompressed file (``.gz`` removed)."""
        return self.name[:-3] if self.name.endswith(".gz") else self.name


@dataclass(frozen=True)
class FileSet:
    """The files of one downloadable dataset and the mirrors that serve them.

    Attributes:
        name: the dataset's name (the sub-folder under ``$INITLAB_DATA`` or the cache).
        files: the files.
        mirrors: base URLs tried in order; a file's URL is base + file name.
    """

    name: str
    files: tuple[RemoteFile, ...]
    mirrors: tuple[str, ...]

    def file(self, name: str) -> RemoteFile:
        """The file called ``name`` (published or raw name)."""
        for f in self.files:
            if name in (f.name, f.raw_name):
                return f
        raise DataError(f"{self.name} has no file {name!r}")


@dataclass(frozen=True)
class FileStatus:
    """The state of one file in a data folder, as :func:`verify_files` finds it.

    Attributes:
        file: the expected file.
        path: where it was found (or where it was looked for).
        state: ``"ok"``, ``"missing"``, ``"bad-hash"`` or ``"unverified"`` (a raw file
            whose decompressed hash is not known).
        sha256: the digest found, or None when missing.
    """

    file: RemoteFile
    path: Path
    state: str
    sha256: str | None


def data_home(name: str, data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return the folder for dataset ``name``: data_dir, $INITLAB_DATA/name, or the cache.

    Args:
        name: the dataset's name.
        data_dir: a folder holding the files themselves; wins when given.

    Returns:
        The folder (it may not exist yet).

    Example:
        >>> data_home("mnist", "/data/mnist").name
        'mnist'
    """
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get(ENV_DATA)
    if env:
        return Path(env).expanduser() / name
    import pooch

    return Path(pooch.os_cache("initlab")) / name


def mirrors_for(fileset: FileSet, mirror: str | None = None) -> tuple[str, ...]:
    """The base URLs to try: ``mirror``, else $INITLAB_DATA_MIRROR, else the built-in ones.

    Example:
        >>> fs = FileSet("toy", (), ("https://a/",))
        >>> mirrors_for(fs, "http://127.0.0.1:8000/{name}")
        ('http://127.0.0.1:8000/toy/',)
    """
    chosen = mirror or os.environ.get(ENV_MIRROR)
    bases = (chosen,) if chosen else fileset.mirrors
    return tuple(b.replace("{name}", fileset.name).rstrip("/") + "/" for b in bases)


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Return the hex sha256 of a file's bytes.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "e"
        >>> _ = p.write_bytes(b"")
        >>> sha256_file(p)[:12]
        'e3b0c44298fc'
    """
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def locate(folder: Path, file: RemoteFile) -> Path | None:
    """Return the published file in ``folder``, else its raw (gunzipped) twin, else None."""
    for candidate in (folder / file.name, folder / file.raw_name):
        if candidate.is_file():
            return candidate
    return None


def _status(folder: Path, file: RemoteFile) -> FileStatus:
    path = locate(folder, file)
    if path is None:
        return FileStatus(file, folder / file.name, "missing", None)
    digest = sha256_file(path)
    expected = file.sha256 if path.name == file.name else file.raw_sha256
    if expected is None:
        return FileStatus(file, path, "unverified", digest)
    return FileStatus(file, path, "ok" if digest == expected else "bad-hash", digest)


def check_hash(folder: Path, file: RemoteFile) -> FileStatus:
    """Find ``file`` in ``folder`` and check its sha256; raise DataError when it differs.

    Returns:
        The file's status (``ok``, ``unverified`` or ``missing``).

    Raises:
        DataError: the file is there but its hash is not the published one; the message
            names the file, the expected and the found hash.
    """
    st = _status(folder, file)
    if st.state == "bad-hash":
        expected = file.sha256 if st.path.name == file.name else file.raw_sha256
        raise DataError(
            f"{st.path} has sha256 {st.sha256}, expected {expected}: the file is corrupt, "
            f"truncated or not the published one; delete it and fetch again"
        )
    return st


def verify_files(
    fileset: FileSet, data_dir: str | os.PathLike[str] | None = None
) -> list[FileStatus]:
    """Check every file of ``fileset`` in its data folder against its sha256.

    Args:
        fileset: the dataset's files.
        data_dir: the folder (default: see :func:`data_home`).

    Returns:
        One :class:`FileStatus` per file, in the file set's order.

    Example:
        >>> fs = FileSet("toy", (RemoteFile("a.gz", "0" * 64),), ())
        >>> verify_files(fs, "/nonexistent")[0].state
        'missing'
    """
    folder = data_home(fileset.name, data_dir)
    return [_status(folder, f) for f in fileset.files]


def _transient(e: BaseException) -> bool:
    """Whether another attempt at the same URL may succeed (not: unknown host, 404, refused)."""
    import requests

    if isinstance(e, _DeadlinePassed):
        return False
    if isinstance(e, requests.exceptions.HTTPError):
        status = e.response.status_code if e.response is not None else 0
        return status >= 500 or status == 429
    text = str(e)
    if any(s in text for s in ("Failed to resolve", "Name or service not known",
                               "Connection refused", "No route to host")):
        return False
    from urllib3.exceptions import HTTPError as Urllib3Error

    return isinstance(e, (requests.exceptions.RequestException, Urllib3Error, _WrongHash,
                          OSError))


class _DeadlinePassed(Exception):
    """The fetch's overall deadline passed during a transfer."""


class _WrongHash(Exception):
    """A complete transfer whose sha256 is not the published one."""


_STAGING_PREFIX = ".initlab-partial-"
_STAGING_MAX_AGE_S = 24 * 3600.0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists, owned by someone else (or we cannot tell: keep it)
    return True


def remove_stale_staging(folder: Path) -> list[Path]:
    """Remove staging folders that a killed download left in ``folder``; return them.

    A staging folder is named ``.initlab-partial-<pid>-<random>``. It is stale when that
    process no longer runs (or it is older than a day): a download that was killed (even by
    ``kill -9``) cannot clean up after itself, so the next fetch does. A folder of a download
    still running in another process is left alone.

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> (d / ".initlab-partial-999999999-x").mkdir()
        >>> [p.name for p in remove_stale_staging(d)]
        ['.initlab-partial-999999999-x']
    """
    removed = []
    if not folder.is_dir():
        return removed
    for p in folder.glob(_STAGING_PREFIX + "*"):
        pid_text = p.name[len(_STAGING_PREFIX):].split("-", 1)[0]
        try:
            old = time.time() - p.stat().st_mtime > _STAGING_MAX_AGE_S
        except OSError:
            continue
        alive = pid_text.isdigit() and int(pid_text) != os.getpid() and _pid_alive(
            int(pid_text))
        if pid_text.isdigit() and int(pid_text) == os.getpid():
            alive = True  # this process's own download (another thread): not stale
        if old or not alive:
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


def _stream(url: str, target: Path, file: RemoteFile, deadline: float, timeout: float,
            progress: bool) -> None:
    """GET ``url`` into ``target`` and check its sha256; raise on any failure.

    Every socket read waits at most ``min(timeout, time left)``; between reads the overall
    ``deadline`` (a :func:`time.monotonic` instant) is checked, so a server that trickles
    bytes cannot hold the transfer past it by more than one read.
    """
    import requests
    from urllib3.exceptions import TimeoutError as Urllib3Timeout

    left = deadline - time.monotonic()
    if left <= 0:
        raise _DeadlinePassed()
    try:
        _transfer(url, target, file, deadline, max(0.05, min(timeout, left)), progress)
    except (requests.exceptions.Timeout, Urllib3Timeout):
        if left <= timeout:  # the wait was cut to the time left: the deadline is what passed
            raise _DeadlinePassed() from None
        raise


def _transfer(url: str, target: Path, file: RemoteFile, deadline: float, wait: float,
              progress: bool) -> None:
    import requests

    h = hashlib.sha256()
    with requests.get(url, stream=True, timeout=(wait, wait)) as r:
        r.raise_for_status()
        promised = int(r.headers.get("Content-Length", 0) or 0)
        total = promised or file.size
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, unit="B", unit_scale=True, desc=file.name,
                       file=sys.stderr, leave=False)
        try:
            with open(target, "wb") as out:
                read = getattr(r.raw, "read1", None) or r.raw.read
                while True:
                    if time.monotonic() > deadline:
                        raise _DeadlinePassed()
                    chunk = read(1 << 16)
                    if not chunk:
                        break
                    out.write(chunk)
                    h.update(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
    got = target.stat().st_size
    if promised and got != promised:
        raise OSError(f"the transfer ended after {got} of {promised} bytes")
    if h.hexdigest() != file.sha256:
        raise _WrongHash(f"got sha256 {h.hexdigest()}")


def _download_one(
    file: RemoteFile,
    folder: Path,
    bases: Sequence[str],
    retries: int,
    progress: bool,
    timeout: float,
    deadline: float,
    budget: float | None,
) -> Path:
    """Download one file into ``folder`` via a staging folder; raise DataError on failure.

    Each mirror gets up to ``1 + retries`` attempts, waiting 1 s, 2 s, ... between them;
    errors that another attempt cannot fix (unknown host, refused connection, 404, the
    deadline) move on to the next mirror at once, and nothing is tried once the overall
    ``deadline`` has passed.
    """
    import requests
    from urllib3.exceptions import HTTPError as Urllib3Error

    staging = Path(tempfile.mkdtemp(prefix=f"{_STAGING_PREFIX}{os.getpid()}-", dir=folder))
    failures = []
    late = False
    try:
        for base in bases:
            for attempt in range(1 + max(retries, 0)):
                if time.monotonic() >= deadline:
                    late = True
                    break
                part = staging / file.name
                try:
                    _stream(base + file.name, part, file, deadline, timeout, progress)
                except (_DeadlinePassed, _WrongHash, requests.exceptions.RequestException,
                        Urllib3Error, OSError) as e:
                    part.unlink(missing_ok=True)
                    if isinstance(e, _DeadlinePassed) or time.monotonic() >= deadline:
                        late = True
                        failures.append(f"{base}{file.name}: still transferring when the "
                                        f"deadline passed")
                        break
                    what = "wrong sha256 " if isinstance(e, _WrongHash) else ""
                    failures.append(f"{base}{file.name}: {what}({_one_line(e)})")
                    if attempt == retries or not _transient(e):
                        break
                    time.sleep(min(attempt + 1, max(0.0, deadline - time.monotonic())))
                else:
                    target = folder / file.name
                    os.replace(part, target)
                    return target
            if late:
                break
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    why = "; ".join(failures) if failures else "no attempt was made"
    if late:
        why += f"; the download's deadline of {budget:g} s passed (deadline=, --deadline)"
    raise DataError(
        f"could not download {file.name} (expected sha256 {file.sha256}) into {folder}: "
        + why
        + f". Put the file there yourself, or set a mirror with {param('mirror')} or ${ENV_MIRROR}"
    )


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text if len(text) <= 300 else text[:297] + "..."


def check_seconds(what: str, value: object, optional: bool = False) -> float | None:
    """Check a duration in seconds: a finite number > 0 (or None where ``optional``).

    Raises:
        ConfigError: naming ``what``, the value and what is allowed.

    Example:
        >>> check_seconds("deadline", 30)
        30.0
    """
    allowed = "a positive number of seconds" + (" or None" if optional else "")
    return number(what, what, value, low=0, strict=True, optional=optional,
                  bad=lambda v, _: ConfigError(f"{what} must be {allowed}; got {v!r}"))


DEFAULT_DEADLINE_S = 900.0
"""How long one fetch may take in all (every file, mirror and attempt), by default."""


def fetch_files(
    fileset: FileSet,
    names: Sequence[str] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    mirror: str | None = None,
    retries: int = 2,
    progress: bool | None = None,
    timeout: float = 60.0,
    replace_bad: bool = False,
    deadline: float | None = DEFAULT_DEADLINE_S,
) -> dict[str, Path]:
    """Make sure the files of ``fileset`` are in its data folder; download those missing.

    A present file is checked against its sha256 first. Downloads try each mirror in turn,
    each with ``retries`` further attempts; a file lands in the folder only once its hash
    matched, and nothing else (no partial file, no empty folder this call created) is left
    behind on failure.

    Args:
        fileset: the dataset's files and mirrors.
        names: which files (published names); None for all.
        data_dir: the folder (default: see :func:`data_home`).
        mirror: one base URL to use instead of the built-in mirrors.
        retries: further attempts per mirror after a failed one.
        progress: show a progress bar (default: when stderr is a terminal).
        timeout: seconds to wait for the server on each connect or read.
        replace_bad: re-download a present file whose hash is wrong (else DataError).
        deadline: seconds the whole fetch may take (every file, mirror and attempt), so
            a server that trickles bytes cannot hold it forever; None for no limit.

    Returns:
        Published file name -> path of the file on disk.

    Raises:
        DataError: a download failed on every mirror or ran past the deadline, or a present
            file is corrupt; the message names the file, the expected hash and every URL
            tried.
        ConfigError: ``deadline`` or ``timeout`` is not a positive number.

    Example:
        >>> fs = FileSet("toy", (), ())
        >>> fetch_files(fs, data_dir="/tmp/initlab-doctest-empty")
        {}
    """
    check_seconds("deadline", deadline, optional=True)
    check_seconds("timeout", timeout)
    folder = data_home(fileset.name, data_dir)
    wanted = list(fileset.files) if names is None else [fileset.file(n) for n in names]
    if progress is None:
        progress = sys.stderr.isatty()
    result: dict[str, Path] = {}
    todo = []
    for f in wanted:
        st = _status(folder, f)
        if st.state == "bad-hash" and replace_bad:
            todo.append(f)
        elif st.state == "missing":
            todo.append(f)
        else:
            result[f.name] = check_hash(folder, f).path
    if not todo:
        return result
    created = [p for p in (folder, *folder.parents) if not p.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"cannot create the data folder {folder}: {e.strerror or e}") from e
    bases = mirrors_for(fileset, mirror)
    remove_stale_staging(folder)
    until = math.inf if deadline is None else time.monotonic() + float(deadline)
    try:
        for f in todo:
            result[f.name] = _download_one(f, folder, bases, retries, progress, timeout,
                                           until, deadline)
    finally:
        for p in created:  # innermost first: remove the folders this call made, if empty
            if p.is_dir() and not any(p.iterdir()):
                p.rmdir()
    return result
