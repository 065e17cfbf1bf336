"""Mean-field theory of signal propagation in deep random networks (Poole 2016, Schoenholz 2017).

A dense layer ``z_l = a_{l-1} @ W_l + b_l`` with weights of variance ``sigma_w2 / fan_in``
and biases of variance ``sigma_b2`` maps the mean squared pre-activation ``q`` of one layer
to the next by the *length map*

    q_l = sigma_w2 * E_z[phi(sqrt(q_{l-1}) z)^2] + sigma_b2,     z ~ N(0, 1)

(the first layer: ``q_1 = sigma_w2 * q_0 + sigma_b2`` with ``q_0`` the input's mean square).
Its stable fixed point is ``q*``. The slope of the correlation map at ``c = 1``,

    chi_1 = sigma_w2 * E_z[phi'(sqrt(q*) z)^2],

separates the ordered phase (``chi_1 < 1``: inputs become alike, gradients vanish) from the
chaotic one (``chi_1 > 1``: inputs decorrelate, gradients explode); ``chi_1 = 1`` is the
*edge of chaos*, where the critical ``sigma_w2`` for a ``sigma_b2`` lies. Near a fixed point
the length and the correlation approach it as ``exp(-l / xi_q)`` and ``exp(-l / xi_c)``:

    1 / xi_q = -log(dq_l / dq_{l-1} at q*)
             = -log(chi_1 + sigma_w2 * E[phi''(sqrt(q*) z) phi(sqrt(q*) z)])
    1 / xi_c = -log(chi_c*),   chi_c* = sigma_w2 * E[phi'(u_1) phi'(u_2)] at the fixed point c*

(``chi_c* = chi_1`` in the ordered phase, where ``c* = 1``). Where the length has no finite,
non-zero fixed point (``q* = 0`` or ``inf``: zero bias in the ordered phase, ReLU off its
critical line) the correlation map of *normalized* pre-activations is
``c -> (sigma_w2 E[phi(u1) phi(u2)] + sigma_b2) / q_{l+1}`` with ``q_{l+1} != q_l``, and its slope
at ``c = 1`` is ``chi_1 * q_l / q_{l+1}`` in the limit: 1 for ReLU at any ``sigma_w2`` (the
arc-cosine kernel does not depend on the scale) and for tanh as ``q -> 0`` (it becomes
linear), so ``xi_c`` is infinite there and correlations are no depth limit.

Where it applies: wide networks whose weights and biases are i.i.d. random draws, i.e. at
initialization. It does not describe trained weights.

**Trainable depth: two named heuristics.**

* ``6 xi_c`` (Schoenholz et al. 2017, figure 5: random networks trained up to about six
  correlation depth scales). Infinite where ``xi_c`` is.
* *gradient depth*: the depth over which the back-propagated gradient norm changes by a factor
  :data:`GRADIENT_RANGE` = 1e4 (each layer multiplies its square by ``chi_1``), i.e.
  ``2 ln(1e4) / |ln chi_1|``. 1e4 is where ``initlab inspect`` calls vanishing or exploding
  gradients an error (the square of its 0.01 / 100 thresholds).

A network is predicted trainable to the smaller of the two (:attr:`MeanField.depth_limit`).
This agrees with the project's own depth experiment (``initlab reproduce depth``, digits,
SGD with momentum): Glorot on square ReLU layers (``chi_1 = 1/2``) has a gradient depth of
26.6 and trains at 22 layers but stalls at 30 (tested in tests/diagnose).

This module evaluates the expectations by composite Gauss-Legendre quadrature over the
standard normal ``z``, split at ``z = 0`` (the kink of ReLU, and where the derivative of ELU
and SELU jumps) and with panel ends on two scales: every unit of ``z`` out to
:data:`Z_MAX` (the Gaussian's own scale) and a geometric ladder of ``t / sqrt(q)`` (the
activation's scale, ``|u| = t`` from 1e-3 to 1e3, in ``z`` units). A fixed Gauss-Hermite rule
resolves only the first scale: at large ``q`` (large ``sigma_b``) the whole bend of tanh or
of SELU's negative side falls between two of its nodes near 0, and a jump of ``phi'`` at 0
converges slowly for every ``q`` (SELU's ``critical_sigma_w2`` at ``sigma_b = 2`` came out
1.81 with ``q* = inf``; it is 1.540 with ``q* = 39.6``). The two-dimensional expectations of
the correlation map integrate ``z_2`` the same way around the point where ``u_2`` crosses
0. ``dq_l / dq_{l-1}`` is computed as ``sigma_w2 * E[z phi phi'] / sqrt(q)`` (Stein's
lemma), which needs no second derivative.

Activations come from the engine-neutral table (:mod:`initlab.activations`): a name such as
``"tanh"`` or ``"leaky_relu(alpha=0.2)"``, an Activation, or a pair of callables ``(phi, dphi)``.

Conventions where the fixed point is degenerate: ``q*`` is the limit of iterating the length
map from ``q0`` (default 1): ``inf`` when the length explodes (ReLU with ``sigma_w2 > 2``), ``0``
when it dies (zero bias, ordered phase), and ``q0`` itself when every ``q`` is a fixed point
(ReLU at ``sigma_w2 = 2``, ``sigma_b2 = 0``). At ``q* = inf`` slopes are evaluated at a very
large ``q`` (exact for the positively homogeneous linear/ReLU family) and ``c*`` is taken as 1.

Example:
    >>> mf = mean_field("tanh", sigma_w2=critical_sigma_w2("tanh", 0.05), sigma_b2=0.05)
    >>> round(mf.chi_1, 6), mf.phase
    (1.0, 'critical')
    >>> round(critical_sigma_w2("relu", 0.0), 6)
    2.0
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from initlab.errors import ConfigError, InitLabError, SpecError

__all__ = [
    "ActivationLike",
    "MeanField",
    "activation_functions",
    "length_map",
    "length_map_slope",
    "chi",
    "q_star",
    "correlation_map",
    "c_star",
    "chi_c",
    "depth_scales",
    "critical_sigma_w2",
    "predicted_q",
    "propagate",
    "trainable_depth",
    "gradient_depth",
    "mean_field",
    "trainable_range",
]

ActivationLike = Any
"""A name (``"tanh"``), an engine Activation, or a pair of callables ``(phi, dphi)``."""

GL_NODES = 10
"""Gauss-Legendre nodes per panel for one-dimensional expectations."""
GL_NODES_2D = 6
"""Gauss-Legendre nodes per panel, per axis, for the expectations of the correlation map."""
Z_MAX = 10.0
"""Where the quadrature stops in ``z`` (the normal density there is 2e-22 of its peak)."""
_GAUSS_BREAKS = np.arange(0.0, Z_MAX + 0.5, 1.0)
_ACT_BREAKS = np.geomspace(1e-3, 1e3, 13)
_GAUSS_BREAKS_2D = np.arange(0.0, 8.0 + 1.0, 2.0)  # the 2-D rule stops at |z| = 8 (1e-14)
_ACT_BREAKS_2D = np.geomspace(1e-2, 1e2, 9)
Q_HUGE = 1e15
"""Where the length map counts as exploded; slopes at ``q* = inf`` are evaluated here."""
Q_TINY = 1e-30
"""Slopes at ``q* = 0`` are evaluated here (the limit ``q -> 0+``; ReLU's kink sits at 0)."""
CRITICAL_TOL = 1e-6
"""``|chi_1 - 1|`` below which a network counts as critical."""
GRADIENT_RANGE = 1e4
"""The factor by which the gradient norm may change over the network (the gradient-depth
heuristic); the square of ``initlab inspect``'s vanishing_gradients threshold 0.01."""

Funcs = tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]


@lru_cache(maxsize=4)
def _legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes mapped to [0, 1] and their weights times 1 / sqrt(2 pi)."""
    x, w = np.polynomial.legendre.leggauss(n)
    return (x + 1.0) / 2.0, w / (2.0 * math.sqrt(2.0 * math.pi))


def _panels(breaks: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights (times the normal density) on the panels between
    consecutive ``breaks`` (last axis, sorted; a panel of width 0 gets weight 0)."""
    t, w = _legendre(n)
    lo = breaks[..., :-1, None]
    width = breaks[..., 1:, None] - lo
    z = width * t
    z += lo
    wz = np.multiply(z, z)
    wz *= -0.5
    np.exp(wz, out=wz)
    wz *= width
    wz *= w
    shape = (*z.shape[:-2], -1)
    return z.reshape(shape), wz.reshape(shape)


def _rule(s: np.ndarray, two_d: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights with ``sum(w * f(s z)) ~= E[f(s z)]`` for ``z ~ N(0, 1)``, for each
    scale ``s = sqrt(q)`` (any shape; nodes on the last axis).

    Panels on each side of 0 end at every unit of ``z`` up to :data:`Z_MAX` and at
    ``t / s`` for ``t`` on a geometric ladder (where ``u = s z`` is 1e-3 .. 1e3).
    """
    gauss, act = (_GAUSS_BREAKS_2D, _ACT_BREAKS_2D) if two_d else (_GAUSS_BREAKS, _ACT_BREAKS)
    s = np.asarray(s, dtype=np.float64)[..., None]
    with np.errstate(divide="ignore"):
        scaled = np.minimum(act / s, gauss[-1])
    breaks = np.sort(np.concatenate(
        [np.broadcast_to(gauss, (*s.shape[:-1], gauss.size)), scaled], axis=-1), axis=-1)
    z, w = _panels(breaks, GL_NODES_2D if two_d else GL_NODES)
    return np.concatenate([-z, z], axis=-1), np.concatenate([w, w], axis=-1)


def _shifted_rule(center: np.ndarray, scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights for ``E[g(m + scale z)]`` with the kink of ``g`` at ``z = center``
    (``= -m / scale``): panels end every two units of ``z`` in [-8, 8], at
    ``center``, and at ``center +- t / scale`` on the geometric ladder of the 2-D rule."""
    zmax = float(_GAUSS_BREAKS_2D[-1])
    c = np.clip(np.asarray(center, dtype=np.float64), -zmax, zmax)[..., None]
    with np.errstate(divide="ignore"):
        step = _ACT_BREAKS_2D / np.asarray(scale, dtype=np.float64)[..., None]
    gauss = np.concatenate([-_GAUSS_BREAKS_2D[:0:-1], _GAUSS_BREAKS_2D])
    shape = np.broadcast_shapes(c.shape[:-1], step.shape[:-1])
    breaks = np.concatenate([
        np.broadcast_to(gauss, (*shape, gauss.size)),
        np.broadcast_to(c, (*shape, 1)),
        np.broadcast_to(np.clip(c - step, -zmax, zmax), (*shape, step.shape[-1])),
        np.broadcast_to(np.clip(c + step, -zmax, zmax), (*shape, step.shape[-1])),
    ], axis=-1)
    return _panels(np.sort(breaks, axis=-1), GL_NODES_2D)


def activation_functions(activation: ActivationLike) -> Funcs:
    """Return ``(phi, dphi)`` for an activation, using the engine's one implementation.

    Args:
        activation: a name or spec (``"tanh"``, ``"leaky_relu(alpha=0.2)"``), an engine
            Activation (with ``forward(z)`` and ``backward(z, a, g)``), or ``(phi, dphi)``.

    Returns:
        Two vectorized callables: the activation and its derivative.

    Raises:
        SpecError: unknown activation name, or softmax (not element-wise).

    Example:
        >>> phi, dphi = activation_functions("relu")
        >>> phi(np.array([-1.0, 2.0])).tolist(), dphi(np.array([-1.0, 2.0])).tolist()
        ([0.0, 2.0], [0.0, 1.0])
    """
    if isinstance(activation, tuple) and len(activation) == 2 and all(map(callable, activation)):
        return activation
    if isinstance(activation, str) or activation is None:
        from initlab.activations import get

        activation = get(activation)
    if getattr(activation, "name", "") == "softmax":
        raise SpecError("mean-field theory needs an element-wise activation; got 'softmax'")
    if not (hasattr(activation, "forward") and hasattr(activation, "backward")):
        raise SpecError(
            "activation must be a name, an initlab.nn Activation or (phi, dphi); "
            f"got {activation!r}"
        )
    act = activation

    def phi(z: np.ndarray) -> np.ndarray:
        return act.forward(z)

    def dphi(z: np.ndarray) -> np.ndarray:
        return act.backward(z, act.forward(z), np.ones_like(z))

    return phi, dphi


def _check_var(name: str, value: Any) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ConfigError(f"{name} must be finite and >= 0 (a variance); got {value!r}")
    return arr


def _expect(f: Callable[[np.ndarray], np.ndarray], q: np.ndarray) -> np.ndarray:
    """``E[f(sqrt(q) z)]`` for every element of ``q`` (any shape), by quadrature."""
    s = np.sqrt(np.asarray(q, dtype=np.float64))
    z, w = _rule(s)
    return (f(s[..., None] * z) * w).sum(axis=-1)


def length_map(
    q: float | np.ndarray,
    activation: ActivationLike,
    sigma_w2: float | np.ndarray,
    sigma_b2: float | np.ndarray = 0.0,
) -> np.ndarray:
    """Return ``sigma_w2 * E[phi(sqrt(q) z)^2] + sigma_b2``: the next layer's ``q``.

    Args:
        q: mean squared pre-activation of a layer (any shape; broadcasts with the sigmas).
        activation: the layer's activation (see :func:`activation_functions`).
        sigma_w2: ``fan_in * Var[W]`` of the next layer.
        sigma_b2: ``Var[b]`` of the next layer.

    Returns:
        The next layer's mean squared pre-activation, as a float64 array.

    Example:
        >>> round(float(length_map(1.0, "relu", 2.0)), 12)
        1.0
    """
    phi, _ = activation_functions(activation)
    q = _check_var("q", q)
    return _check_var("sigma_w2", sigma_w2) * _expect(lambda u: phi(u) ** 2, q) + _check_var(
        "sigma_b2", sigma_b2
    )


def length_map_slope(
    q: float | np.ndarray, activation: ActivationLike, sigma_w2: float | np.ndarray
) -> np.ndarray:
    """Return the slope ``d q_l / d q_{l-1}`` of the length map at ``q``.

    Computed as ``sigma_w2 * E[z phi(sqrt(q) z) phi'(sqrt(q) z)] / sqrt(q)`` (Stein's lemma).

    Args:
        q: the point (any shape); ``q = 0`` is evaluated as its limit.
        activation: the activation.
        sigma_w2: the weight variance times fan_in.

    Returns:
        The slope, float64.

    Example:
        >>> round(float(length_map_slope(0.7, "relu", 2.0)), 12)
        1.0
    """
    phi, dphi = activation_functions(activation)
    q = np.maximum(_check_var("q", q), 1e-12)
    z, w = _rule(np.sqrt(q))
    s = np.sqrt(q)[..., None]
    u = s * z
    return _check_var("sigma_w2", sigma_w2) * (z * phi(u) * dphi(u) / s * w).sum(axis=-1)


def chi(
    q: float | np.ndarray, activation: ActivationLike, sigma_w2: float | np.ndarray
) -> np.ndarray:
    """Return ``sigma_w2 * E[phi'(sqrt(q) z)^2]``: the gradient's squared gain per layer at ``q``.

    At ``q = q*`` this is chi_1.

    Example:
        >>> round(float(chi(3.0, "relu", 2.0)), 12)
        1.0
    """
    _, dphi = activation_functions(activation)
    q = _check_var("q", q)
    return _check_var("sigma_w2", sigma_w2) * _expect(lambda u: dphi(u) ** 2, q)


def q_star(
    activation: ActivationLike, sigma_w2: float, sigma_b2: float = 0.0, q0: float = 1.0
) -> float:
    """Return the fixed point ``q*`` that iterating the length map from ``q0`` reaches.

    Found by bracketing on a logarithmic grid and Brent's method, not by slow iteration.

    Args:
        activation: the activation.
        sigma_w2: ``fan_in * Var[W]``.
        sigma_b2: ``Var[b]``.
        q0: the starting length (default 1).

    Returns:
        ``q*`` (``inf`` if the length explodes, ``0.0`` if it dies).

    Example:
        >>> round(q_star("linear", 0.5, 0.5), 6)
        1.0
    """
    funcs = activation_functions(activation)
    sw2 = float(_check_var("sigma_w2", sigma_w2))
    sb2 = float(_check_var("sigma_b2", sigma_b2))
    q0 = float(_check_var("q0", q0))

    def g(q: np.ndarray) -> np.ndarray:
        return length_map(q, funcs, sw2, sb2) - q

    g0 = float(g(np.float64(q0)))
    if abs(g0) <= 1e-12 * max(q0, 1.0):
        return q0
    if g0 > 0:
        grid = np.concatenate([[q0], max(q0, 1e-12) * np.logspace(0.05, 18, 360)])
        grid = grid[grid > q0]
        grid = np.concatenate([[q0], grid[grid <= Q_HUGE * max(q0, 1.0)]])
    else:
        grid = np.concatenate([[0.0], q0 * np.logspace(-18, 0, 361)])[::-1]
    vals = g(grid)
    sign = np.sign(vals)
    if g0 < 0:
        # shrinking towards 0: a |g| within rounding of q counts as a root (the quadrature
        # sum carries ~1e-16 relative noise, which would fake sign changes near q = 0)
        sign[np.abs(vals) <= 1e-10 * np.maximum(grid, 1e-300)] = 0.0
    else:
        # growing: the quadrature's relative rounding of q must not fake a crossing at huge q
        sign[np.abs(vals) <= 1e-8 * grid] = 1.0
    other = np.nonzero(sign != np.sign(g0))[0]
    if other.size == 0:
        return math.inf if g0 > 0 else 0.0
    j = int(other[0])
    if sign[j] == 0:
        return float(grid[j])
    a, b = sorted((float(grid[j - 1]), float(grid[j])))
    return _root(lambda q: float(g(np.float64(q))), a, b,
                 f"q* at sigma_w^2 = {sw2:g}, sigma_b^2 = {sb2:g}", xtol=1e-14, rtol=1e-12)


def _effective_q(q: float) -> float:
    """Where to evaluate slopes for ``q``: its limit when the length explodes or dies."""
    if math.isinf(q):
        return Q_HUGE
    return max(q, Q_TINY)


def correlation_map(
    c: float | np.ndarray,
    q: float,
    activation: ActivationLike,
    sigma_w2: float,
    sigma_b2: float = 0.0,
) -> np.ndarray:
    """Return the next layer's correlation of two inputs with correlation ``c`` at length ``q``.

    ``(sigma_w2 * E[phi(u1) phi(u2)] + sigma_b2) / q`` with ``u1 = sqrt(q) z1`` and
    ``u2 = sqrt(q) (c z1 + sqrt(1 - c^2) z2)``; ``q`` should be the fixed point ``q*``.

    Example:
        >>> q = q_star("tanh", 1.5, 0.05)
        >>> round(float(correlation_map(1.0, q, "tanh", 1.5, 0.05)), 6)
        1.0
    """
    phi, _ = activation_functions(activation)
    return (sigma_w2 * _pair_expect(phi, phi, c, q) + sigma_b2) / q


def _pair_expect(
    f: Callable[[np.ndarray], np.ndarray],
    g: Callable[[np.ndarray], np.ndarray],
    c: float | np.ndarray,
    q: float,
) -> np.ndarray:
    """``E[f(u1) g(u2)]`` for correlation ``c`` (any shape) at length ``q``.

    ``u1 = s z1`` by the 2-D rule; for each ``z1``, ``u2 = m + sigma z2`` with
    ``m = s c z1`` and ``sigma = s sqrt(1 - c^2)`` by the rule centred where ``u2 = 0``.
    At ``c = +-1`` (``sigma = 0``) ``u2 = +-u1``.
    """
    s = math.sqrt(_effective_q(q))
    c = np.clip(np.asarray(c, dtype=np.float64), -1.0, 1.0)
    z1, w1 = _rule(np.float64(s), two_d=True)             # (N1,)
    cc = c[..., None, None]                                 # (..., 1, 1)
    m = s * cc * z1[:, None]                                # (..., N1, 1)
    sigma = s * np.sqrt(1.0 - cc * cc)                      # (..., 1, 1)
    flat = sigma == 0.0
    safe = np.where(flat, 1.0, sigma)
    z2, w2 = _shifted_rule(-m[..., 0] / safe[..., 0], safe[..., 0])  # (..., N1, N2)
    u2 = np.where(flat, cc * (s * z1[:, None]), m + safe * z2)
    w2 = np.where(flat, 1.0 / z2.shape[-1], w2)  # c = +-1: every node carries g(+-u1)
    inner = (g(u2) * w2).sum(axis=-1)                       # (..., N1)
    return (f(s * z1) * w1 * inner).sum(axis=-1)


def c_star(activation: ActivationLike, sigma_w2: float, sigma_b2: float = 0.0,
           q: float | None = None) -> float:
    """Return the stable fixed point ``c*`` of the correlation map (1 in the ordered phase).

    Args:
        activation: the activation.
        sigma_w2: ``fan_in * Var[W]``.
        sigma_b2: ``Var[b]``.
        q: the length (default ``q*``).

    Returns:
        ``c*`` in [-1, 1].

    Example:
        >>> abs(round(c_star("tanh", 4.0, 0.0), 6))
        0.0
    """
    funcs = activation_functions(activation)
    q = q_star(funcs, sigma_w2, sigma_b2) if q is None else q
    if math.isinf(q) or q == 0 or chi(_effective_q(q), funcs, sigma_w2) <= 1.0 + CRITICAL_TOL:
        return 1.0
    grid = np.linspace(-1.0, 1.0 - 1e-3, 41)
    vals = correlation_map(grid, q, funcs, sigma_w2, sigma_b2) - grid
    # just below 1 the map lies below the diagonal (chi_1 > 1); the stable fixed point is
    # the last place where it crosses the diagonal from above
    down = np.nonzero((vals[:-1] >= 0) & (vals[1:] < 0))[0]
    if down.size == 0:
        return -1.0
    i = int(down[-1])

    def h(c: float) -> float:
        return float(correlation_map(c, q, funcs, sigma_w2, sigma_b2)) - c

    if vals[i] == 0:
        return float(grid[i])
    return _root(h, grid[i], grid[i + 1], f"the correlation fixed point at q = {q:g}",
                 xtol=1e-12)


def chi_c(activation: ActivationLike, sigma_w2: float, c: float, q: float) -> float:
    """Return ``sigma_w2 * E[phi'(u1) phi'(u2)]``: the correlation map's slope at ``c``.

    Example:
        >>> round(chi_c("relu", 1.0, 1.0, 1.0), 6)
        0.5
    """
    _, dphi = activation_functions(activation)
    if c >= 1.0:
        return float(chi(_effective_q(q), (dphi, dphi), sigma_w2))
    return float(sigma_w2 * _pair_expect(dphi, dphi, c, q))


def _depth(rate: float) -> float:
    """``1 / |log(rate)|``: the number of layers over which ``rate**l`` changes by e."""
    if not math.isfinite(rate) or rate <= 0:
        return 0.0
    lg = abs(math.log(rate))
    return math.inf if lg < 1e-12 else 1.0 / lg


def depth_scales(
    activation: ActivationLike, sigma_w2: float, sigma_b2: float = 0.0
) -> tuple[float, float]:
    """Return ``(xi_q, xi_c)``: the depth scales of the length and of the correlation.

    Example:
        >>> xi_q, xi_c = depth_scales("relu", 1.0, 0.1)
        >>> round(xi_c, 4)  # -1 / log(1/2)
        1.4427
    """
    mf = mean_field(activation, sigma_w2, sigma_b2)
    return mf.xi_q, mf.xi_c


def trainable_depth(activation: ActivationLike, sigma_w2: float, sigma_b2: float = 0.0) -> float:
    """Return about how deep a network at this init still trains: ``6 xi_c`` (Schoenholz 2017).

    Example:
        >>> trainable_depth("tanh", critical_sigma_w2("tanh", 0.05), 0.05)
        inf
    """
    return mean_field(activation, sigma_w2, sigma_b2).trainable_depth


def _root(f: Any, a: float, b: float, what: str, **tol: float) -> float:
    """scipy's brentq on [a, b]; a bracket the quadrature's rounding faked is a ConfigError."""
    from scipy.optimize import brentq

    try:
        return float(brentq(f, a, b, **tol))
    except InitLabError:  # an inner root already named what failed
        raise
    except (ValueError, RuntimeError) as e:  # "f(a) and f(b) must have different signs"
        raise ConfigError(
            f"mean-field theory cannot resolve {what} for this activation: the quadrature is "
            f"too coarse there ({e}); allowed: a smaller bias variance"
        ) from None


def gradient_depth(chi_1: float, gradient_range: float = GRADIENT_RANGE) -> float:
    """Return ``2 ln(gradient_range) / |ln chi_1|``: the depth over which the gradient norm
    changes by ``gradient_range`` (each layer multiplies its square by ``chi_1``).

    Example:
        >>> round(gradient_depth(0.5), 2)   # Glorot on square ReLU layers
        26.58
        >>> gradient_depth(1.0)
        inf
    """
    c = float(chi_1)
    if not math.isfinite(c) or c <= 0:
        return 0.0
    lg = abs(math.log(c))
    return math.inf if lg <= CRITICAL_TOL else 2.0 * math.log(gradient_range) / lg


def critical_sigma_w2(
    activation: ActivationLike, sigma_b2: float = 0.0, bounds: tuple[float, float] = (1e-3, 1e3)
) -> float:
    """Return the ``sigma_w2`` on the edge of chaos for ``sigma_b2``: where ``chi_1 = 1``.

    Args:
        activation: the activation.
        sigma_b2: the bias variance.
        bounds: the interval of ``sigma_w2`` searched.

    Returns:
        The critical ``sigma_w2``.

    Raises:
        ConfigError: no ``sigma_w2`` in ``bounds`` has ``chi_1 = 1``.

    Example:
        >>> round(critical_sigma_w2("tanh", 0.05), 3)
        1.761
    """
    funcs = activation_functions(activation)
    sb2 = float(_check_var("sigma_b2", sigma_b2))

    def h(sw2: float) -> float:
        return _chi_1(funcs, sw2, sb2) - 1.0

    grid = np.logspace(math.log10(bounds[0]), math.log10(bounds[1]), 61)
    vals = np.array([h(s) for s in grid])
    flips = np.nonzero(np.sign(vals[1:]) != np.sign(vals[:-1]))[0]
    if flips.size == 0:
        raise ConfigError(
            f"no sigma_w^2 in [{bounds[0]:g}, {bounds[1]:g}] puts this activation on the edge "
            f"of chaos (chi_1 = 1) at sigma_b^2 = {sb2:g}"
        )
    i = int(flips[0])
    return _root(h, grid[i], grid[i + 1], f"the critical sigma_w^2 at sigma_b^2 = {sb2:g}",
                 xtol=1e-12, rtol=1e-12)


def _chi_1(funcs: Funcs, sw2: float, sb2: float) -> float:
    q = q_star(funcs, sw2, sb2)
    return float(chi(_effective_q(q), funcs, sw2))


def propagate(
    q0: float | np.ndarray,
    activations: Sequence[ActivationLike],
    sigma_w2: Sequence[float] | np.ndarray,
    sigma_b2: Sequence[float] | np.ndarray | float = 0.0,
) -> np.ndarray:
    """Predict the mean squared pre-activation of every layer of a network, layer by layer.

    Layer ``l`` (0-based) has weights with ``fan_in * Var = sigma_w2[l]`` and bias variance
    ``sigma_b2[l]``; ``activations[l]`` is applied to its pre-activation before layer
    ``l + 1`` (the last layer's activation is not used). ``q0`` may be an array (e.g. one
    value per model, or per input sample: the prediction is then made for each).

    Args:
        q0: the input's mean square ``mean(x**2)`` (any shape, broadcasting with sigmas[l]).
        activations: one per layer.
        sigma_w2: per layer, a float or an array broadcasting with ``q0`` (e.g. (K, 1)).
        sigma_b2: per layer, or one value for all.

    Returns:
        Array of shape ``(n_layers, *broadcast shape)``: predicted ``q_1 .. q_L``.

    Example:
        >>> propagate(1.0, ["relu"] * 3, [2.0] * 3).round(6).tolist()
        [2.0, 2.0, 2.0]
    """
    n = len(activations)
    sw = list(sigma_w2)
    if isinstance(sigma_b2, (list, tuple)) or (np.ndim(sigma_b2) == 1 and len(sigma_b2) == n):
        sb = list(sigma_b2)  # type: ignore[arg-type]
    else:
        sb = [sigma_b2] * n
    if len(sw) != n or len(sb) != n:
        raise ConfigError(
            f"propagate needs one sigma_w2 and sigma_b2 per layer ({n}); got {len(sw)}, {len(sb)}"
        )
    q = _check_var("sigma_w2", sw[0]) * _check_var("q0", q0) + _check_var("sigma_b2", sb[0])
    out = [q]
    for layer in range(1, n):
        q = length_map(q, activations[layer - 1], sw[layer], sb[layer])
        out.append(q)
    return np.stack(np.broadcast_arrays(*out))


def predicted_q(
    activation: ActivationLike, sigma_w2: float, sigma_b2: float, q0: float, depth: int
) -> np.ndarray:
    """Predict ``q_1 .. q_depth`` for a network of ``depth`` identical layers.

    Example:
        >>> predicted_q("linear", 0.5, 0.5, 1.0, 3).round(12).tolist()
        [1.0, 1.0, 1.0]
    """
    if int(depth) < 1:
        raise ConfigError(f"depth must be >= 1; got {depth!r}")
    funcs = activation_functions(activation)
    return propagate(q0, [funcs] * int(depth), [sigma_w2] * int(depth), sigma_b2)


@dataclass(frozen=True)
class MeanField:
    """What mean-field theory says about one (activation, sigma_w2, sigma_b2).

    Attributes:
        activation: the activation's name (or ``"custom"``).
        sigma_w2: ``fan_in * Var[W]``.
        sigma_b2: ``Var[b]``.
        q_star: the fixed point of the length map (``inf``: it explodes, ``0``: it dies).
        chi_1: the slope of the correlation map at c = 1 (squared gradient gain per layer).
        c_star: the stable fixed point of the correlation map.
        chi_c: the correlation map's slope at ``c_star``.
        xi_q: depth scale of the length's approach to ``q*``.
        xi_c: depth scale of the correlation's approach to ``c*``.
        trainable_depth: ``6 xi_c`` (the Schoenholz et al. 2017 heuristic).
        phase: ``"ordered"``, ``"critical"`` or ``"chaotic"``.
        gradient_depth: the depth over which the gradient norm changes by
            :data:`GRADIENT_RANGE` (see :func:`gradient_depth`).
    """

    activation: str
    sigma_w2: float
    sigma_b2: float
    q_star: float
    chi_1: float
    c_star: float
    chi_c: float
    xi_q: float
    xi_c: float
    trainable_depth: float
    phase: str
    gradient_depth: float = math.inf

    @property
    def depth_limit(self) -> float:
        """The predicted trainable depth: the smaller of ``6 xi_c`` and the gradient depth."""
        return min(self.trainable_depth, self.gradient_depth)

    @property
    def depth_heuristic(self) -> str:
        """Which heuristic sets :attr:`depth_limit`."""
        if math.isinf(self.depth_limit):
            return "neither 6 xi_c nor the gradient depth limits it"
        if self.gradient_depth <= self.trainable_depth:
            return f"gradient depth: the gradient norm changes {GRADIENT_RANGE:.0e} x"
        return "6 xi_c (Schoenholz et al. 2017)"

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-friendly dict (``inf`` stays a float)."""
        d = asdict(self)
        d["depth_limit"] = self.depth_limit
        d["depth_heuristic"] = self.depth_heuristic
        return d

    def __str__(self) -> str:
        def f(x: float) -> str:
            return f"{x:.4g}"

        return (
            f"{self.activation} sigma_w^2={f(self.sigma_w2)} sigma_b^2={f(self.sigma_b2)}: "
            f"q*={f(self.q_star)} chi_1={f(self.chi_1)} c*={f(self.c_star)} "
            f"xi_q={f(self.xi_q)} xi_c={f(self.xi_c)} ({self.phase}); trainable depth "
            f"~{f(self.depth_limit)} (6 xi_c = {f(self.trainable_depth)}, gradient depth "
            f"{f(self.gradient_depth)})"
        )


def mean_field(activation: ActivationLike, sigma_w2: float, sigma_b2: float = 0.0) -> MeanField:
    """Return every mean-field quantity for one (activation, sigma_w2, sigma_b2).

    Args:
        activation: the activation (name, engine Activation, or ``(phi, dphi)``).
        sigma_w2: ``fan_in * Var[W]`` (He for ReLU is 2, Glorot for a square layer is 1).
        sigma_b2: ``Var[b]``.

    Returns:
        A :class:`MeanField`.

    Example:
        >>> mf = mean_field("relu", 2.0, 0.0)
        >>> round(mf.chi_1, 12), mf.phase
        (1.0, 'critical')
    """
    funcs = activation_functions(activation)
    sw2 = float(_check_var("sigma_w2", sigma_w2))
    sb2 = float(_check_var("sigma_b2", sigma_b2))
    qs = q_star(funcs, sw2, sb2)
    qe = _effective_q(qs)
    chi1 = float(chi(qe, funcs, sw2))
    if abs(chi1 - 1.0) <= CRITICAL_TOL:
        phase = "critical"
    else:
        phase = "ordered" if chi1 < 1.0 else "chaotic"
    cs = c_star(funcs, sw2, sb2, q=qs)
    chic = chi_c(funcs, sw2, cs, qs)
    if cs == 1.0 and (qs == 0.0 or math.isinf(qs)) and phase != "critical":
        # no finite fixed point: the slope of the normalized correlation map is
        # chi_1 * q_l / q_{l+1} in the limit (1 for ReLU, and for tanh as q -> 0)
        nxt = float(length_map(qe, funcs, sw2, sb2))
        if nxt > 0 and math.isfinite(nxt):
            chic = chic * qe / nxt
            if abs(chic - 1.0) <= CRITICAL_TOL:
                # the limit is 1; what is left is the evaluation point's (SELU's negative
                # side adds ~1 / sqrt(q) at q = Q_HUGE), not the limit's
                chic = 1.0
    xi_q = math.nan if math.isinf(qs) else _depth(float(length_map_slope(qe, funcs, sw2)))
    xi_c = math.inf if phase == "critical" else _depth(chic)
    name = activation if isinstance(activation, str) else getattr(activation, "name", "custom")
    return MeanField(
        activation=str(name),
        sigma_w2=sw2,
        sigma_b2=sb2,
        q_star=float(qs),
        chi_1=chi1,
        c_star=float(cs),
        chi_c=float(chic),
        xi_q=float(xi_q),
        xi_c=float(xi_c),
        trainable_depth=6.0 * float(xi_c),
        phase=phase,
        gradient_depth=math.inf if phase == "critical" else gradient_depth(chi1),
    )


def trainable_range(
    activation: ActivationLike,
    sigma_b2: float,
    depth: int,
    bounds: tuple[float, float] = (1e-3, 1e3),
) -> tuple[float, float]:
    """Return the interval of ``sigma_w2`` around the critical one predicted to train ``depth``
    layers: where :attr:`MeanField.depth_limit` (the smaller of 6 xi_c and the gradient
    depth) is at least ``depth``.

    Args:
        activation: the activation.
        sigma_b2: the bias variance.
        depth: the number of layers to train.
        bounds: the search interval for ``sigma_w2``.

    Returns:
        ``(low, high)``; an end is the bound itself when the range reaches it.

    Example:
        >>> lo, hi = trainable_range("relu", 0.0, 12)
        >>> round(lo, 4)  # gradient depth 12: chi_1 = sigma_w2 / 2 = exp(-2 ln(1e4) / 12)
        0.4309
    """
    if int(depth) < 1:
        raise ConfigError(f"depth must be >= 1; got {depth!r}")
    funcs = activation_functions(activation)
    crit = critical_sigma_w2(funcs, sigma_b2, bounds)

    def h(sw2: float) -> float:
        td = mean_field(funcs, sw2, sigma_b2).depth_limit
        return (min(td, 1e12) if math.isfinite(td) else 1e12) - float(depth)

    def edge(far: float) -> float:
        grid = np.geomspace(crit, far, 40)[1:]
        prev = crit
        for s in grid:
            if h(s) < 0:
                return _root(h, min(prev, s), max(prev, s), "the phase boundary", xtol=1e-10)
            prev = s
        return far

    return edge(bounds[0]), edge(bounds[1])
