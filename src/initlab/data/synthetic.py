"""Seeded two-dimensional toy problems: moons, circles, spirals, xor, blobs.

moons, circles and blobs call scikit-learn's generators; spirals and xor are drawn here.
Each generator takes ``n`` and ``rng`` (a Generator or an int seed) and returns
``(x, y)``: float64 (n, d) inputs and int64 (n,) labels. Same seed, same data.

Example:
    >>> x, y = moons(6, rng=0)
    >>> x.shape, sorted(set(y.tolist()))
    ((6, 2), [0, 1])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from initlab.rng import RngLike, as_generator

__all__ = ["moons", "circles", "spirals", "xor", "blobs"]


def _sklearn() -> Any:
    """scikit-learn's datasets, imported on first use (keeps ``import initlab`` light)."""
    from sklearn import datasets

    return datasets


def _seed(rng: RngLike) -> int:
    """An int seed for scikit-learn drawn from ``rng`` (scikit-learn wants int/RandomState)."""
    return int(as_generator(rng).integers(2**31 - 1))


def moons(n: int, rng: RngLike = None, noise: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles (scikit-learn's ``make_moons``).

    Args:
        n: number of samples.
        rng: Generator or int seed.
        noise: standard deviation of Gaussian noise added to the points.

    Returns:
        (x (n, 2) float64, y (n,) int64).

    Example:
        >>> moons(4, rng=0)[0].shape
        (4, 2)
    """
    x, y = _sklearn().make_moons(n_samples=n, noise=noise, random_state=_seed(rng))
    return x, y.astype(np.int64)


def circles(
    n: int, rng: RngLike = None, noise: float = 0.1, factor: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """A small circle inside a large one (scikit-learn's ``make_circles``).

    Args:
        n: number of samples.
        rng: Generator or int seed.
        noise: standard deviation of Gaussian noise.
        factor: radius of the inner circle relative to the outer (0 < factor < 1).

    Returns:
        (x (n, 2) float64, y (n,) int64); class 1 is the inner circle.

    Example:
        >>> circles(4, rng=0)[1].dtype
        dtype('int64')
    """
    x, y = _sklearn().make_circles(n_samples=n, noise=noise, factor=factor, random_state=_seed(rng))
    return x, y.astype(np.int64)


def spirals(
    n: int, rng: RngLike = None, noise: float = 0.2, n_classes: int = 2, turns: float = 1.5
) -> tuple[np.ndarray, np.ndarray]:
    """Interleaved Archimedean spirals, one arm per class.

    Arm k is r(t) = t, angle(t) = 2 pi (turns t + k / n_classes) for t uniform in [0.05, 1],
    scaled so the outer radius is about 1, plus Gaussian noise of std ``noise`` / 10.

    Args:
        n: number of samples (split as evenly as possible over the classes).
        rng: Generator or int seed.
        noise: noise level (0 for clean arms).
        n_classes: number of arms.
        turns: how many turns each arm makes.

    Returns:
        (x (n, 2) float64, y (n,) int64).

    Example:
        >>> spirals(9, rng=0, n_classes=3)[1].tolist().count(2)
        3
    """
    g = as_generator(rng)
    y = np.arange(n, dtype=np.int64) % n_classes
    g.shuffle(y)
    t = g.uniform(0.05, 1.0, size=n)
    angle = 2 * np.pi * (turns * t + y / n_classes)
    x = np.stack([t * np.cos(angle), t * np.sin(angle)], axis=1)
    x += g.normal(0.0, noise / 10, size=x.shape)
    return x, y


def xor(n: int, rng: RngLike = None, noise: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """The XOR problem: points uniform in [-1, 1]^2, class 1 where the signs differ.

    Labels come from the clean points; then Gaussian noise of std ``noise`` is added, so
    some points near the axes land on the other side.

    Args:
        n: number of samples.
        rng: Generator or int seed.
        noise: standard deviation of the noise added to the inputs.

    Returns:
        (x (n, 2) float64, y (n,) int64).

    Example:
        >>> x, y = xor(5, rng=0, noise=0.0)
        >>> bool(((x[:, 0] * x[:, 1] < 0) == (y == 1)).all())
        True
    """
    g = as_generator(rng)
    x = g.uniform(-1.0, 1.0, size=(n, 2))
    y = ((x[:, 0] > 0) != (x[:, 1] > 0)).astype(np.int64)
    if noise:
        x += g.normal(0.0, noise, size=x.shape)
    return x, y


def blobs(
    n: int,
    rng: RngLike = None,
    n_classes: int = 3,
    n_features: int = 2,
    cluster_std: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Isotropic Gaussian blobs, one per class (scikit-learn's ``make_blobs``).

    The centers are drawn from ``rng`` too, so the same seed gives the same centers.

    Args:
        n: number of samples.
        rng: Generator or int seed.
        n_classes: number of blobs.
        n_features: input dimension.
        cluster_std: standard deviation of each blob.

    Returns:
        (x (n, n_features) float64, y (n,) int64).

    Example:
        >>> blobs(6, rng=0, n_features=5)[0].shape
        (6, 5)
    """
    x, y = _sklearn().make_blobs(
        n_samples=n,
        centers=n_classes,
        n_features=n_features,
        cluster_std=cluster_std,
        random_state=_seed(rng),
    )
    return x, y.astype(np.int64)
