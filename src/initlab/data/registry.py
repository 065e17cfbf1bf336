"""The dataset registry: names, what each one is, and :func:`load`.

Example:
    >>> from initlab.data import load, names
    >>> "moons" in names() and "mnist" in names()
    True
    >>> ds = load("moons")  # seed 002's setting: 400 train / 100 test, noise 0.2, seed 0
    >>> ds.x_train.shape, ds.x_train.dtype, ds.y_train.dtype
    ((400, 2), dtype('float32'), dtype('int64'))
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from initlab.data import synthetic
from initlab.data.catalog import FILESETS, MNIST_NPZ, PART_FILES
from initlab.data.dataset import Dataset
from initlab.data.images import read_parts
from initlab.data.prepare import NORMALIZE, as_float_dtype
from initlab.data.prepare import normalize as normalize_fn
from initlab.data.prepare import one_hot as one_hot_fn
from initlab.data.remote import (
    DEFAULT_DEADLINE_S,
    FileSet,
    FileStatus,
    check_seconds,
    data_home,
    fetch_files,
    locate,
    verify_files,
)
from initlab.data.split import SPLIT_SYNTAX, Split, apply_split, parse_split
from initlab.errors import ConfigError, DataError, param, unknown
from initlab.init.checks import check_memory, integer, number
from initlab.rng import RngLike

__all__ = ["DatasetInfo", "names", "info", "load", "fetch", "verify", "cache_state"]


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset is: for listings and for :func:`load` to know how to build it.

    Attributes:
        name: the registry name.
        kind: ``"synthetic"`` (generated), ``"bundled"`` (ships with scikit-learn) or
            ``"download"`` (files fetched once, then cached).
        description: one line.
        source: where the data comes from (a function or the first mirror).
        n_train: default number of training samples.
        n_test: default number of test samples.
        n_classes: number of classes with the default options.
        input_shape: shape of one sample before flattening.
        extra: dataset-specific options with their defaults (e.g. moons' ``noise``).
        default_normalize: what ``normalize`` is when not given.
        max_value: the largest raw value when the range is known (pixels), else None.
        sources: parts the ``split`` option may take from.
    """

    name: str
    kind: str
    description: str
    source: str
    n_train: int
    n_test: int
    n_classes: int
    input_shape: tuple[int, ...]
    extra: dict[str, Any] = field(default_factory=dict)
    default_normalize: str = "none"
    max_value: float | None = None
    sources: tuple[str, ...] = ("all",)


_GENERATORS: dict[str, Callable[..., tuple[np.ndarray, np.ndarray]]] = {
    "moons": synthetic.moons,
    "circles": synthetic.circles,
    "spirals": synthetic.spirals,
    "xor": synthetic.xor,
    "blobs": synthetic.blobs,
}


def _synthetic(name: str, description: str, source: str, **extra: Any) -> DatasetInfo:
    n_classes = int(extra.get("n_classes", 2))
    n_features = int(extra.get("n_features", 2))
    return DatasetInfo(name, "synthetic", description, source, 400, 100, n_classes,
                       (n_features,), extra)


def _images(name: str, description: str, n_train: int, n_test: int) -> DatasetInfo:
    return DatasetInfo(name, "download", description, FILESETS[name].mirrors[0], n_train,
                       n_test, 10, (28, 28), {}, "unit", 255.0, ("train", "test", "all"))


_REGISTRY: dict[str, DatasetInfo] = {
    d.name: d
    for d in (
        _synthetic("moons", "two interleaving half circles", "sklearn.datasets.make_moons",
                   noise=0.2),
        _synthetic("circles", "a circle inside a circle", "sklearn.datasets.make_circles",
                   noise=0.1, factor=0.5),
        _synthetic("spirals", "interleaved spirals, one arm per class",
                   "initlab.data.synthetic.spirals", noise=0.2, n_classes=2, turns=1.5),
        _synthetic("xor", "XOR of the signs of two uniform inputs",
                   "initlab.data.synthetic.xor", noise=0.1),
        _synthetic("blobs", "Gaussian blobs, one per class", "sklearn.datasets.make_blobs",
                   n_classes=3, n_features=2, cluster_std=1.0),
        DatasetInfo("digits", "bundled", "8x8 handwritten digits shipped with scikit-learn",
                    "sklearn.datasets.load_digits", 1437, 360, 10, (8, 8), {}, "unit", 16.0,
                    ("all",)),
        _images("mnist", "handwritten digits, 28x28 grey", 60_000, 10_000),
        _images("fashion_mnist", "Zalando clothing images, 28x28 grey", 60_000, 10_000),
        _images("kmnist", "Kuzushiji (cursive Japanese) characters, 28x28 grey", 60_000,
                10_000),
    )
}

_COMMON = (
    "n_train",
    "n_test",
    "split",
    "normalize",
    "flatten",
    "one_hot",
    "seed",
    "dtype",
)
_FILE_OPTIONS = ("data_dir", "mirror", "download", "verify", "progress", "deadline")
"""Options that say where and how to get a downloaded set's files, not what the data is:
they are recorded under the provenance's ``access``, never under its ``options``."""


def names() -> tuple[str, ...]:
    """Return the names :func:`load` accepts, synthetic first.

    Example:
        >>> names()[:2]
        ('moons', 'circles')
    """
    return tuple(_REGISTRY)


def info(name: str) -> DatasetInfo:
    """Return what dataset ``name`` is (sizes, source, options).

    Raises:
        DataError: unknown name; the message lists the known ones.

    Example:
        >>> info("mnist").n_train
        60000
    """
    if not isinstance(name, str):
        raise DataError(f"a dataset is named by text such as 'moons'; got {name!r}")
    if name not in _REGISTRY:
        raise unknown("dataset", name, _REGISTRY, DataError)
    return _REGISTRY[name]


def allowed_options(name: str) -> tuple[str, ...]:
    """Every keyword :func:`load` accepts for dataset ``name``.

    Example:
        >>> "noise" in allowed_options("moons"), "mirror" in allowed_options("moons")
        (True, False)
    """
    d = info(name)
    file_opts = _FILE_OPTIONS if d.kind == "download" else ()
    return _COMMON + file_opts + tuple(d.extra)


_EXTRA_RULES: dict[str, tuple[type, float, float | None, str]] = {
    # option: (type, lowest allowed, highest allowed (floats: excluded) or None, how to say it)
    "noise": (float, 0.0, None, "a finite number >= 0"),
    "factor": (float, 0.0, 1.0, "a number in (0, 1)"),
    "turns": (float, 0.0, None, "a finite number > 0"),
    "cluster_std": (float, 0.0, None, "a finite number > 0"),
    "n_classes": (int, 2, 100_000, "an int from 2 to 100000"),
    "n_features": (int, 1, 100_000, "an int from 1 to 100000"),
}


def _check_extra(name: str, extra: dict[str, Any]) -> dict[str, Any]:
    """Check the dataset-specific options' types and ranges; return them as plain numbers."""
    out: dict[str, Any] = {}
    for key, value in extra.items():
        kind, lo, hi, says = _EXTRA_RULES[key]

        def bad(v: Any, _allowed: str, key: str = key, says: str = says) -> ConfigError:
            return ConfigError(f"{name}: option {key}={v!r} must be {says}")

        if kind is int:
            out[key] = integer(key, value, low=int(lo), high=None if hi is None else int(hi),
                               bad=bad)
        else:
            out[key] = number(name, key, value, low=lo, high=hi, bad=bad,
                              strict=key in ("factor", "turns", "cluster_std"),
                              strict_high=True)
    return out


def _check_file_options(opts: dict[str, Any]) -> None:
    """Types of the file options: mirror a URL text, data_dir a path, the rest booleans."""
    for key, value in opts.items():
        if key == "deadline":  # seconds: check_seconds checks it
            continue
        if key == "mirror":
            ok, says = value is None or isinstance(value, str), "a base URL (text) or None"
        elif key == "data_dir":
            ok, says = value is None or isinstance(value, (str, os.PathLike)), "a folder path"
        else:
            ok, says = isinstance(value, bool) or (key == "progress" and value is None), \
                "True or False"
        if not ok:
            raise ConfigError(f"{param(key)}{value!r} must be {says}")


def _count(value: Any, what: str) -> int | None:
    return integer(what, value, low=0, optional=True, bad=lambda v, _: ConfigError(
        f"{what} must be a non-negative int or None; got {v!r}"))


def _stratified(x: np.ndarray, y: np.ndarray, n_first: int) -> tuple[np.ndarray, np.ndarray]:
    """Reorder a generated pool so its first ``n_first`` samples hold each class in proportion.

    scikit-learn's generators balance the classes of the whole pool; a plain slice of it does
    not (make_moons(500)[:400] has 192 and 208). Seed 002 trains on a balanced 200/200, where a
    network that learned nothing scores exactly 50 % and costs exactly ln 2. Within each class
    the generator's order is kept, so the result is deterministic.
    """
    n = len(y)
    if n_first >= n:
        return x, y
    classes, counts = np.unique(y, return_counts=True)
    quota = np.floor(counts * n_first / n).astype(np.int64)
    rest = np.argsort(-(counts * n_first / n - quota), kind="stable")
    quota[rest[: n_first - int(quota.sum())]] += 1  # largest remainders get the leftovers
    first, second = [], []
    for c, q in zip(classes, quota, strict=True):
        idx = np.flatnonzero(y == c)
        first.append(idx[:q])
        second.append(idx[q:])
    order = np.concatenate([np.sort(np.concatenate(first)), np.sort(np.concatenate(second))])
    return x[order], y[order]


def _raw_parts(
    d: DatasetInfo, pool: int, seed: RngLike, extra: dict[str, Any], file_opts: dict[str, Any],
    sources: tuple[str, ...],
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict[str, Any]]:
    """The raw parts named in ``sources`` and the provenance of where they came from."""
    if d.kind == "synthetic":
        x, y = _GENERATORS[d.name](pool, rng=seed, **extra)
        return {"all": (x, y)}, {"source": d.source, "generator_options": extra}
    if d.kind == "bundled":
        from sklearn.datasets import load_digits

        bunch = load_digits()
        return {"all": (bunch.images, bunch.target.astype(np.int64))}, {"source": d.source}
    fileset = FILESETS[d.name]
    need = ["train", "test"] if "all" in sources else list(sources)
    parts, files = read_parts(fileset, need, **file_opts)
    if "all" in sources:
        xs, ys = zip(*(parts[p] for p in ("train", "test")), strict=True)
        parts["all"] = (np.concatenate(xs), np.concatenate(ys))
    return parts, {"source": fileset.mirrors[0], "files": files}


def load(
    name: str,
    *,
    n_train: int | None = None,
    n_test: int | None = None,
    split: str | None = None,
    normalize: str | None = None,
    flatten: bool = True,
    one_hot: bool = False,
    seed: RngLike = 0,
    dtype: str | np.dtype = "float32",
    **options: Any,
) -> Dataset:
    """Load dataset ``name`` as float inputs and integer labels, split into train and test.

    Sizes: the synthetic sets draw ``n_train + n_test`` samples (default 400 + 100, as in
    seed 002) from ``seed`` and split them in order. For files, the default takes the
    published train and test parts; ``split="SOURCE:A/B"`` instead takes the first A
    samples of SOURCE (``train``, ``test`` or ``all``) for training and the next B for
    testing (see :mod:`initlab.data.split`); ``n_train``/``n_test`` then keep the first n
    of each side. ``load("mnist", split="test:8000/2000")`` needs only the t10k files.

    Args:
        name: one of :func:`names`.
        n_train: training samples (synthetic: how many to draw; files: keep the first n).
        n_test: test samples, likewise.
        split: ``"SOURCE:A/B"``, a deterministic slice of the data as published.
        normalize: ``"none"``, ``"unit"`` (to [0, 1]; pixels / 255) or ``"standardize"``
            (per feature, statistics of the training part only). Default: ``"unit"`` for
            images (MNIST family, digits), ``"none"`` for the synthetic sets.
        flatten: images as (n, h*w) (default) or (n, h, w).
        one_hot: labels as (n, n_classes) floats instead of int64 class indices.
        seed: Generator or int seed for the synthetic sets (files do not use it).
        dtype: ``"float32"`` (default) or ``"float64"``.
        **options: dataset-specific options (moons: ``noise``; circles: ``noise``,
            ``factor``; spirals: ``noise``, ``n_classes``, ``turns``; xor: ``noise``; blobs:
            ``n_classes``, ``n_features``, ``cluster_std``) and, for downloaded sets,
            ``data_dir`` (folder with the files), ``mirror`` (base URL), ``download``
            (default True: fetch missing files), ``verify`` (default True: check sha256),
            ``progress`` (progress bar), ``deadline`` (seconds a download may take in
            all; default 900). These say where the files are, not what the data is: the
            provenance records them under ``access``, apart from ``options``.

    Returns:
        A frozen :class:`~initlab.data.dataset.Dataset`.

    Raises:
        DataError: unknown dataset; missing, corrupt or wrong-hash files; labels that are not
            class indices 0 .. n_classes - 1 (checked even with ``verify=False``).
        ConfigError: unknown option or a bad value (the message lists the allowed ones).

    Example:
        >>> ds = load("circles", n_train=30, n_test=10, seed=3, normalize="standardize")
        >>> abs(float(ds.x_train.mean())) < 1e-6
        True
    """
    d = info(name)
    allowed = allowed_options(name)
    for key in options:
        if key not in allowed:
            raise unknown(f"option for dataset {name!r}", key, allowed, ConfigError)
    extra = _check_extra(name, {k: options.get(k, v) for k, v in d.extra.items()})
    file_opts = {k: options[k] for k in _FILE_OPTIONS if k in options}
    _check_file_options(file_opts)
    if "deadline" in file_opts:
        check_seconds("deadline", file_opts["deadline"], optional=True)
    dt = as_float_dtype(dtype)
    how = d.default_normalize if normalize is None else normalize
    if how not in NORMALIZE:
        raise unknown("normalize option", how, NORMALIZE, ConfigError)
    n_tr, n_te = _count(n_train, "n_train"), _count(n_test, "n_test")

    if split is not None:
        sp = parse_split(split)
        if sp.source not in d.sources:
            raise ConfigError(
                f"split {split!r}: {name} has no part {sp.source!r}; allowed: "
                f"{', '.join(d.sources)} (syntax {SPLIT_SYNTAX})"
            )
    elif d.kind == "synthetic":
        sp = Split("all", d.n_train if n_tr is None else n_tr, d.n_test if n_te is None else n_te)
    elif d.kind == "bundled":
        sp = Split("all", d.n_train, d.n_test)
    else:
        sp = None
    pool = d.n_train + d.n_test
    if sp is not None and sp.n_test is not None:
        pool = sp.n_train + sp.n_test
    sources = (sp.source,) if sp is not None else ("train", "test")
    if d.kind == "synthetic":  # a generator allocates what it is asked for: check it first
        width = int(extra.get("n_features", d.input_shape[0]))
        check_memory(pool * (width + 1) * 8 * 4, f"{name} with {pool} samples of {width} features",
                     "ask for fewer samples (n_train, n_test, split)")
    parts, prov = _raw_parts(d, pool, seed, extra, file_opts, sources)
    n_classes = int(d.n_classes if "n_classes" not in extra else extra["n_classes"])
    for part, (_, labels) in parts.items():
        _check_labels(labels, n_classes, f"{name} ({part})")
    if d.kind == "synthetic" and sp is not None:
        parts["all"] = _stratified(*parts["all"], sp.n_train)
    if sp is None:
        (x_tr, y_tr), (x_te, y_te) = parts["train"], parts["test"]
        split_text = "train/test as published"
    else:
        split_text = split if split is not None else f"{sp.source}:{sp.n_train}/{sp.n_test}"
        x_tr, y_tr, x_te, y_te = apply_split(sp, *parts[sp.source], split_text)
    if split is not None or d.kind != "synthetic":
        x_tr, y_tr = _first(x_tr, y_tr, n_tr, "n_train", name)
        x_te, y_te = _first(x_te, y_te, n_te, "n_test", name)

    x_tr = x_tr.astype(dt)
    x_te = x_te.astype(dt)
    if flatten:
        width = int(np.prod(x_tr.shape[1:]))
        x_tr = x_tr.reshape(x_tr.shape[0], width)
        x_te = x_te.reshape(x_te.shape[0], width)
    x_tr, x_te = normalize_fn(x_tr, x_te, how, d.max_value)
    if one_hot:
        y_train_out, y_test_out = one_hot_fn(y_tr, n_classes, dt), one_hot_fn(y_te, n_classes, dt)
    else:
        y_train_out, y_test_out = np.ascontiguousarray(y_tr), np.ascontiguousarray(y_te)
    provenance = {
        "dataset": name,
        **prov,
        "split": split_text,
        "n_train": int(x_tr.shape[0]),
        "n_test": int(x_te.shape[0]),
        "options": {
            "normalize": how,
            "flatten": bool(flatten),
            "one_hot": bool(one_hot),
            "seed": seed if isinstance(seed, int) or seed is None else repr(seed),
            "dtype": dt.name,
            **extra,
        },
    }
    access = {k: (str(v) if k == "data_dir" and v is not None else v)
              for k, v in file_opts.items() if k not in ("progress", "deadline")}
    if access:
        provenance["access"] = access
    return Dataset(name, x_tr, y_train_out, x_te, y_test_out, n_classes, provenance)



def _check_labels(labels: np.ndarray, n_classes: int, source: str) -> None:
    """Labels must be class indices 0 .. n_classes - 1, whatever ``verify`` says."""
    if labels.size == 0:
        return
    lo, hi = int(labels.min()), int(labels.max())
    if lo < 0 or hi >= n_classes:
        bad = lo if lo < 0 else hi
        raise DataError(f"{source}: label {bad} is out of range; labels must be class "
                        f"indices 0..{n_classes - 1}")


def _first(
    x: np.ndarray, y: np.ndarray, n: int | None, what: str, name: str
) -> tuple[np.ndarray, np.ndarray]:
    if n is None:
        return x, y
    if n > x.shape[0]:
        raise ConfigError(f"{what}={n} but {name} has only {x.shape[0]} samples on that side")
    return x[:n], y[:n]


def _fileset(name: str) -> FileSet | None:
    d = info(name)
    if d.kind != "download":
        return None
    return FILESETS[name]


def fetch(
    name: str,
    data_dir: str | os.PathLike[str] | None = None,
    mirror: str | None = None,
    retries: int = 2,
    progress: bool | None = None,
    parts: tuple[str, ...] = ("train", "test"),
    deadline: float | None = DEFAULT_DEADLINE_S,
) -> dict[str, Path]:
    """Download (once) the files of dataset ``name``, verified by sha256.

    A present file with the wrong hash is downloaded again.

    Args:
        name: a downloaded dataset (mnist, fashion_mnist, kmnist).
        data_dir: the folder for the files (default: $INITLAB_DATA/name or the cache).
        mirror: base URL instead of the built-in mirrors (``{name}`` is substituted).
        retries: further attempts per mirror.
        progress: progress bar (default: when stderr is a terminal).
        parts: which parts' files: ``"train"``, ``"test"``.
        deadline: seconds the whole fetch may take (None: no limit).

    Returns:
        File name -> path. Empty for datasets that need no files.

    Raises:
        DataError: a download failed (nothing partial is left behind).

    Example:
        >>> fetch("moons")
        {}
    """
    fs = _fileset(name)
    if fs is None:
        return {}
    _check_parts(parts)
    files = [n for p in parts for n in PART_FILES[p]]
    return fetch_files(fs, files, data_dir=data_dir, mirror=mirror, retries=retries,
                       progress=progress, replace_bad=True, deadline=deadline)


def verify(
    name: str,
    data_dir: str | os.PathLike[str] | None = None,
    parts: tuple[str, ...] = ("train", "test"),
) -> list[FileStatus]:
    """Check the files of dataset ``name`` (of the given ``parts``) against their sha256.

    Returns:
        One status per file (``ok``, ``missing``, ``bad-hash``, ``unverified``); empty for
        datasets that need no files.

    Example:
        >>> verify("digits")
        []
    """
    fs = _fileset(name)
    if fs is None:
        return []
    _check_parts(parts)
    wanted = {n for p in parts for n in PART_FILES[p]}
    return [st for st in verify_files(fs, data_dir) if st.file.name in wanted]


def _check_parts(parts: Any) -> None:
    if isinstance(parts, str) or not isinstance(parts, (tuple, list)):
        raise ConfigError(f"parts must be a tuple of 'train' and/or 'test'; got {parts!r}")
    for p in parts:
        if p not in PART_FILES:
            raise unknown("part", p, PART_FILES, ConfigError)


def cache_state(name: str, data_dir: str | os.PathLike[str] | None = None) -> dict[str, bool]:
    """Which parts of dataset ``name`` have their files in the folder (no hashing).

    Returns:
        Part -> present, e.g. ``{"train": False, "test": True}``; empty for datasets that
        need no files.

    Example:
        >>> cache_state("xor")
        {}
    """
    fs = _fileset(name)
    if fs is None:
        return {}
    folder = data_home(name, data_dir)
    npz = name == MNIST_NPZ.name and (folder / MNIST_NPZ.files[0].name).is_file()
    return {
        part: npz or all(locate(folder, fs.file(n)) is not None for n in files)
        for part, files in PART_FILES.items()
    }
