"""Turn raw parts into model-ready arrays: dtype, flattening, normalization, one-hot labels.

Normalization statistics always come from the training part only, then are applied to both.

Example:
    >>> import numpy as np
    >>> x = np.array([[0.0, 10.0], [2.0, 30.0]])
    >>> normalize(x, x, "standardize")[0].std(axis=0).tolist()
    [1.0, 1.0]
"""

from __future__ import annotations

import numpy as np

from initlab.errors import ConfigError, unknown

__all__ = ["NORMALIZE", "normalize", "one_hot", "as_float_dtype"]

NORMALIZE = ("none", "unit", "standardize")
"""Allowed values of the ``normalize`` option."""


def as_float_dtype(dtype: object) -> np.dtype:
    """Return float32 or float64 for ``dtype``; anything else is a ConfigError.

    Example:
        >>> as_float_dtype("float64")
        dtype('float64')
    """
    try:
        dt = np.dtype(dtype)  # type: ignore[call-overload]
    except TypeError as e:
        raise ConfigError(f"bad dtype {dtype!r}; allowed: float32, float64") from e
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ConfigError(f"bad dtype {dtype!r}; allowed: float32, float64")
    return dt


def normalize(
    x_train: np.ndarray,
    x_test: np.ndarray,
    how: str,
    max_value: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Normalize features with statistics from ``x_train`` only (in place for float arrays).

    Args:
        x_train: training inputs (float), samples first.
        x_test: test inputs, same feature layout.
        how: ``"none"`` (as is), ``"unit"`` (to [0, 1]: divide by ``max_value`` when the
            data has a known range such as 255 for pixels, otherwise per-feature min-max of
            the training part), or ``"standardize"`` (per feature: subtract the training
            mean, divide by the training standard deviation; constant features get 1).
        max_value: the known largest raw value (255 for 8-bit images), if any.

    Returns:
        The normalized (x_train, x_test).

    Raises:
        ConfigError: unknown ``how``.

    Example:
        >>> import numpy as np
        >>> normalize(np.array([[0.0], [255.0]]), np.array([[51.0]]), "unit", 255)[1].tolist()
        [[0.2]]
    """
    if how not in NORMALIZE:
        raise unknown("normalize option", how, NORMALIZE, ConfigError)
    if not np.issubdtype(x_train.dtype, np.floating):
        x_train = x_train.astype(np.float32)
    if not np.issubdtype(x_test.dtype, np.floating):
        x_test = x_test.astype(np.float32)
    if np.shares_memory(x_train, x_test):  # never scale the same memory twice
        x_test = x_test.copy()
    if how == "none" or x_train.shape[0] == 0:
        return x_train, x_test
    if how == "unit" and max_value is not None:
        x_train /= x_train.dtype.type(max_value)  # division: 255 -> exactly 1.0
        x_test /= x_test.dtype.type(max_value)
        return x_train, x_test
    if how == "unit":
        lo = x_train.min(axis=0)
        scale = x_train.max(axis=0) - lo
    else:
        lo = x_train.mean(axis=0, dtype=np.float64).astype(x_train.dtype)
        scale = x_train.std(axis=0, dtype=np.float64).astype(x_train.dtype)
    scale[scale == 0] = 1
    for x in (x_train, x_test):
        x -= lo
        x /= scale
    return x_train, x_test


def one_hot(y: np.ndarray, n_classes: int, dtype: np.dtype | str = "float32") -> np.ndarray:
    """Return one-hot rows (n, n_classes) for integer labels ``y``.

    Example:
        >>> import numpy as np
        >>> one_hot(np.array([2, 0]), 3).tolist()
        [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    """
    out = np.zeros((y.shape[0], n_classes), dtype=dtype)
    out[np.arange(y.shape[0]), y] = 1
    return out
