"""The numba kernels of the compiled training path (imported by :mod:`initlab.nn.jit` only).

One function trains one model for a run of epochs (:func:`train_model`): the same minibatches
(the permutations are drawn in Python, as the NumPy path draws them), forward, loss gradient,
backward and the optimizer update, all over that model's own contiguous parameters and
scratch buffers. It runs without the GIL (``nogil``): :mod:`initlab.nn.jit` calls it once per
model, in turn or from several Python threads; a model's arithmetic is the same either way,
so neither K nor the thread count changes a result.

Buffers are feature-major, (units, samples). Products: every weight gradient (a sum over
samples) and the forward and input-gradient products of a layer whose per-model matrix has at
least ``BLAS_MIN`` entries (:mod:`initlab.nn.jit`) go to BLAS through ``np.dot`` (SciPy's
BLAS, as numba calls it); the others run as explicit loops whose innermost loop runs along a
row of samples (independent sums, so LLVM vectorizes them without reassociating a sum). No
``fastmath``: every loop's sum runs in the written order.

Everything here is compiled with ``cache=True``: the first call in a fresh environment
compiles (seconds), later processes load the machine code from numba's cache.

Example:
    >>> import numpy as np
    >>> z = np.array([[-1.0, 2.0]]); a = np.empty_like(z)
    >>> act_forward(RELU, 0.0, z, a); a.tolist()  # doctest: +SKIP
    [[0.0, 2.0]]
"""

from __future__ import annotations

import ctypes
import math

import llvmlite.binding as llvm
import numpy as np
from numba import njit, types

from initlab.nn.blas import numba_blas_threads

# activation codes (initlab.nn.jit maps the names)
LINEAR, RELU, LEAKY_RELU, ELU, SELU, GELU, SOFTPLUS, SIGMOID, TANH, SOFTMAX = range(10)
# loss codes
CCE, BCE, MSE = 0, 1, 2
# optimizer codes
SGD, MOMENTUM, NESTEROV, ADAM, RMSPROP = 0, 1, 2, 3, 4
# clipping codes
NO_CLIP, CLIP_VALUE, CLIP_GLOBAL_NORM = 0, 1, 2

_BLAS_THREADS = numba_blas_threads()
CAN_RAISE = _BLAS_THREADS is not None
"""Whether :func:`train_model` can run single products on more BLAS threads than the rest
(``raise_to``): the BLAS numba calls is an OpenBLAS whose thread count is reachable."""
_NOOP = ctypes.CFUNCTYPE(None, ctypes.c_int)(lambda n: None)  # never called: CAN_RAISE is False
llvm.add_symbol("initlab_set_blas_threads",
                ctypes.cast(_NOOP if _BLAS_THREADS is None else _BLAS_THREADS[1],
                            ctypes.c_void_p).value)
set_blas_threads = types.ExternalFunction("initlab_set_blas_threads", types.void(types.intc))
"""OpenBLAS's ``set_num_threads`` of the BLAS numba calls, linked by name, so the cached
machine code holds no address; the symbol is registered on each import, before any kernel
loads."""

_SELU_ALPHA = 1.6732632423543772
_SELU_SCALE = 1.0507009873554805
_INV_SQRT2 = 0.7071067811865476
_INV_SQRT_2PI = 0.3989422804014327


@njit(cache=True, error_model="numpy")
def sigmoid(v):  # pragma: no cover - compiled
    """1 / (1 + e^-v), stably (one exp: libm's tanh costs several times more)."""
    if v >= 0:
        return 1.0 / (1.0 + math.exp(-v))
    e = math.exp(v)
    return e / (1.0 + e)


@njit(cache=True, error_model="numpy")
def exp_shifted(z, i, out):  # pragma: no cover - compiled
    """Softmax's shared first half for sample (column) ``i``: out[:, i] = exp(z[:, i] - m)
    with m = max_j z[j, i]; return (m, s = sum_j out[j, i]) (softmax = out / s,
    log-sum-exp = log s + m)."""
    m = z[0, i]
    for j in range(1, z.shape[0]):
        if z[j, i] > m:
            m = z[j, i]
    s = 0.0
    for j in range(z.shape[0]):
        out[j, i] = math.exp(z[j, i] - m)
        s += out[j, i]
    return m, s


@njit(cache=True, error_model="numpy")
def act_forward(code, alpha, z, a):  # pragma: no cover - compiled
    """a = f(z) over (u, nb) arrays, feature-major (softmax: over the units of each sample)."""
    if code == SOFTMAX:
        u, nb = z.shape
        for i in range(nb):
            s = exp_shifted(z, i, a)[1]
            for j in range(u):
                a[j, i] = a[j, i] / s
        return
    zf = z.ravel()
    af = a.ravel()
    if code == LINEAR:
        for i in range(zf.shape[0]):
            af[i] = zf[i]
    elif code == RELU:
        for i in range(zf.shape[0]):
            af[i] = max(zf[i], 0)
    elif code == LEAKY_RELU:
        for i in range(zf.shape[0]):
            v = zf[i]
            af[i] = v if v > 0 else alpha * v
    elif code == ELU:
        for i in range(zf.shape[0]):
            v = zf[i]
            af[i] = v if v > 0 else alpha * math.expm1(v)
    elif code == SELU:
        for i in range(zf.shape[0]):
            v = zf[i]
            af[i] = _SELU_SCALE * (v if v > 0 else _SELU_ALPHA * math.expm1(v))
    elif code == GELU:
        for i in range(zf.shape[0]):
            v = zf[i]
            af[i] = v * (0.5 * (1.0 + math.erf(v * _INV_SQRT2)))
    elif code == SOFTPLUS:
        for i in range(zf.shape[0]):
            v = zf[i]
            af[i] = max(v, 0.0) + math.log1p(math.exp(-abs(v)))
    elif code == SIGMOID:
        for i in range(zf.shape[0]):
            af[i] = sigmoid(zf[i])
    else:  # TANH
        for i in range(zf.shape[0]):
            af[i] = math.tanh(zf[i])


@njit(cache=True, error_model="numpy")
def act_backward(code, alpha, z, a, g, out):  # pragma: no cover - compiled
    """out = g * f'(z) over (u, nb) arrays (softmax: the Jacobian-vector product)."""
    if code == SOFTMAX:
        u, nb = z.shape
        for i in range(nb):
            s = 0.0
            for j in range(u):
                s += g[j, i] * a[j, i]
            for j in range(u):
                out[j, i] = (g[j, i] - s) * a[j, i]
        return
    zf = z.ravel()
    af = a.ravel()
    gf = g.ravel()
    of = out.ravel()
    if code == LINEAR:
        for i in range(zf.shape[0]):
            of[i] = gf[i]
    elif code == RELU:
        for i in range(zf.shape[0]):
            of[i] = gf[i] if zf[i] > 0 else 0
    elif code == LEAKY_RELU:
        for i in range(zf.shape[0]):
            of[i] = gf[i] if zf[i] > 0 else gf[i] * alpha
    elif code == ELU:
        for i in range(zf.shape[0]):
            of[i] = gf[i] if zf[i] > 0 else gf[i] * (af[i] + alpha)
    elif code == SELU:
        for i in range(zf.shape[0]):
            d = _SELU_SCALE if zf[i] > 0 else af[i] + _SELU_SCALE * _SELU_ALPHA
            of[i] = gf[i] * d
    elif code == GELU:
        for i in range(zf.shape[0]):
            v = zf[i]
            d = 0.5 * (1.0 + math.erf(v * _INV_SQRT2)) + v * _INV_SQRT_2PI * math.exp(-0.5 * v * v)
            of[i] = gf[i] * d
    elif code == SOFTPLUS:
        for i in range(zf.shape[0]):
            of[i] = gf[i] * sigmoid(zf[i])
    elif code == SIGMOID:
        for i in range(zf.shape[0]):
            of[i] = gf[i] * (af[i] * (1 - af[i]))
    else:  # TANH
        for i in range(zf.shape[0]):
            of[i] = gf[i] * (1 - af[i] * af[i])


@njit(cache=True, error_model="numpy")
def affine(W, b, inp, out, blas):  # pragma: no cover - compiled
    """out = W^T inp + b, feature-major: (f, u) weights, (f, nb) input, (u, nb) output; each
    output row is a sum over the fan-in in order, the bias added last."""
    f, u = W.shape
    nb = inp.shape[1]
    if blas:
        np.dot(W.T, inp, out)
    else:
        for j in range(u):
            w = W[0, j]
            for i in range(nb):
                out[j, i] = w * inp[0, i]
            for kk in range(1, f):
                w = W[kk, j]
                for i in range(nb):
                    out[j, i] += w * inp[kk, i]
    for j in range(u):
        bj = b[j]
        for i in range(nb):
            out[j, i] += bj


@njit(cache=True, error_model="numpy")
def total(a):  # pragma: no cover - compiled
    """sum_i a[i] in a fixed order: eight running sums over i mod 8, added pairwise, then the
    remainder (independent chains the compiler can keep in one vector)."""
    n = a.shape[0]
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = a[0] * 0
    m = n - n % 8
    for i in range(0, m, 8):
        s0 += a[i]
        s1 += a[i + 1]
        s2 += a[i + 2]
        s3 += a[i + 3]
        s4 += a[i + 4]
        s5 += a[i + 5]
        s6 += a[i + 6]
        s7 += a[i + 7]
    s = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
    for i in range(m, n):
        s += a[i]
    return s


@njit(cache=True, error_model="numpy")
def weight_grad(inp, gz, gW, gb):  # pragma: no cover - compiled
    """gW = inp gz^T ((f, nb) x (u, nb) -> (f, u)) by BLAS, whatever the size (a sum over
    samples: BLAS's vector kernels beat any loop that keeps the written order); gb = the row
    sums of gz."""
    np.dot(inp, gz.T, gW)
    for j in range(gz.shape[0]):
        gb[j] = total(gz[j])


@njit(cache=True, error_model="numpy")
def input_grad(W, gz, ga, blas):  # pragma: no cover - compiled
    """ga = W gz: (f, u) x (u, nb) -> (f, nb), each entry a sum over the units in order."""
    f, u = W.shape
    nb = gz.shape[1]
    if blas:
        np.dot(W, gz, ga)
        return
    for kk in range(f):
        w = W[kk, 0]
        for i in range(nb):
            ga[kk, i] = w * gz[0, i]
        for j in range(1, u):
            w = W[kk, j]
            for i in range(nb):
                ga[kk, i] += w * gz[j, i]


@njit(cache=True, error_model="numpy")
def loss_grad(kind, z, a, t, grad, scale, need_value):  # pragma: no cover - compiled
    """``scale`` * dL/dz (CCE, BCE) or dL/da (MSE) into ``grad`` ((d, nb) arrays, targets
    likewise); return the mean loss (float64 sums; 0.0 unless ``need_value``)."""
    d, nb = z.shape
    acc = 0.0
    if kind == CCE:
        c = scale / nb
        for i in range(nb):
            m, s = exp_shifted(z, i, grad)
            if need_value:
                zt = 0.0
                for j in range(d):
                    zt += z[j, i] * t[j, i]
                acc += math.log(s) + m - zt
            for j in range(d):
                grad[j, i] = grad[j, i] / s * c - t[j, i] * c
        return acc / nb
    c = scale / (nb * d)
    zf = z.ravel()
    tf = t.ravel()
    gf = grad.ravel()
    if kind == BCE:
        if need_value:
            for i in range(zf.shape[0]):
                v = zf[i]
                acc += max(v, 0.0) + math.log1p(math.exp(-abs(v))) - tf[i] * v
        for i in range(zf.shape[0]):
            gf[i] = (sigmoid(zf[i]) - tf[i]) * c
        return acc / (nb * d)
    af = a.ravel()  # MSE, on the output activation
    c2 = 2.0 * c
    for i in range(zf.shape[0]):
        diff = af[i] - tf[i]
        if need_value:
            acc += diff * diff
        gf[i] = diff * c2
    return acc / (nb * d)


@njit(cache=True, error_model="numpy")
def n_correct(p, labels, cut):  # pragma: no cover - compiled
    """Correct predictions of (d, nb) outputs: argmax (first maximum; a NaN wins, as NumPy's
    argmax) for d > 1, ``p > cut`` for one unit."""
    d, nb = p.shape
    c = 0
    for i in range(nb):
        if d == 1:
            pred = 1 if p[0, i] > cut else 0
        else:
            pred = 0
            best = p[0, i]
            if best == best:
                for j in range(1, d):
                    v = p[j, i]
                    if v != v:
                        pred = j
                        break
                    if v > best:
                        best = v
                        pred = j
        if pred == labels[i]:
            c += 1
    return c


@njit(cache=True, error_model="numpy")
def update(th, g, m1, m2, kind, hp, hp64, alpha_buf, step, clip_kind, clip_val, toff, fold):
    """One optimizer step on one model: clipping, then the optimizer, then ``th += step``.

    ``hp`` (the model's dtype; ``hp64`` the same in float64, for Adam's step size): lr,
    momentum, beta1, 1 - beta1, beta2, 1 - beta2, epsilon, rho, 1 - rho; ``alpha_buf`` a
    1-element buffer of the dtype (a float64 value rounded to the dtype, as NumPy does)."""  # noqa: D401
    P = th.shape[0]
    if clip_kind == CLIP_VALUE:
        c = clip_val[0]
        for i in range(P):
            if g[i] > c:
                g[i] = c
            elif g[i] < -c:
                g[i] = -c
    elif clip_kind == CLIP_GLOBAL_NORM:
        total = 0.0
        for ti in range(toff.shape[0] - 1):  # tensor by tensor (W0, b0, W1, ...)
            part = 0.0
            for i in range(toff[ti], toff[ti + 1]):
                gi = np.float64(g[i])
                part += gi * gi
            total += part
        norm = math.sqrt(total)
        mx = np.float64(clip_val[0])
        if norm > mx:
            alpha_buf[0] = min(1.0, mx / max(norm, 1e-38))
            s = alpha_buf[0]
            for i in range(P):
                g[i] *= s
    if fold:  # plain SGD: -lr is already in the gradient
        for i in range(P):
            th[i] += g[i]
        return
    lr = hp[0]
    if kind == SGD:
        for i in range(P):
            th[i] += g[i] * -lr
    elif kind == MOMENTUM or kind == NESTEROV:
        mom = hp[1]
        for i in range(P):
            gi = g[i] * -lr
            m1[i] = m1[i] * mom + gi
            if kind == NESTEROV:
                th[i] += gi + mom * m1[i]
            else:
                th[i] += m1[i]
    elif kind == ADAM:
        b1, c1, b2, c2, eps = hp[2], hp[3], hp[4], hp[5], hp[6]
        t = step + 1
        alpha_buf[0] = -(hp64[0] * math.sqrt(1.0 - hp64[4] ** t) / (1.0 - hp64[2] ** t))
        na = alpha_buf[0]
        for i in range(P):
            m1[i] = m1[i] * b1 + g[i] * c1
            m2[i] = m2[i] * b2 + (g[i] * g[i]) * c2
            th[i] += (m1[i] / (math.sqrt(m2[i]) + eps)) * na
    else:  # RMSPROP
        rho, c, eps = hp[7], hp[8], hp[6]
        for i in range(P):
            m2[i] = m2[i] * rho + (g[i] * g[i]) * c
            th[i] += (g[i] / (math.sqrt(m2[i]) + eps)) * -lr


@njit(cache=True, error_model="numpy")
def copy_rows(x, rows, i, m, c0, c1, xb, o, stride):  # pragma: no cover - compiled
    """Columns ``[c0, c1)`` of the ``m`` (1 to 4) rows ``rows[i : i + m]`` of x into
    ``xb[o + j * stride + c]`` (j = 0..m-1, c = c0..c1-1): four rows side by side in one loop,
    so that four streams of reads are in flight, not one (rows scattered over a large x wait
    on memory: measured 62 us instead of 125 us for 128 random rows of 784 float32 on a
    2-vCPU AMD EPYC)."""
    if m == 4:
        r0, r1, r2, r3 = rows[i], rows[i + 1], rows[i + 2], rows[i + 3]
        for c in range(c0, c1):
            xb[o + c] = x[r0, c]
            xb[o + stride + c] = x[r1, c]
            xb[o + 2 * stride + c] = x[r2, c]
            xb[o + 3 * stride + c] = x[r3, c]
        return
    for j in range(m):
        r = rows[i + j]
        oj = o + j * stride
        for c in range(c0, c1):
            xb[oj + c] = x[r, c]


@njit(cache=True, error_model="numpy")
def gather(x, t, labels, rows, rowmajor, k1, xb, tb, lb):  # pragma: no cover - compiled
    """The samples ``rows`` of sample-major x (n, f) and t (n, d) into the flat buffers
    ``xb`` (f * nb) and ``tb`` (d * nb, feature-major); their labels into ``lb``.

    ``xb`` is sample-major ((nb, f): whole rows copied, four at a time (:func:`copy_rows`),
    for a first layer whose products go to BLAS, which reads it transposed) when
    ``rowmajor``, else feature-major ((f, nb), for the loops that run along samples), filled a
    feature at a time: reads that walk the gathered rows and contiguous writes (a sample at a
    time would scatter each sample over f cache lines; measured 3.4x slower at 128 x 784).
    Sample-major with ``k1`` < f, it is two blocks: features ``[:k1]`` (nb, k1), then
    ``[k1:]`` (nb, f - k1), for a product split along its sum
    (:func:`initlab.nn.blas.k_split`)."""
    nb = rows.shape[0]
    f = x.shape[1]
    d = t.shape[1]
    if rowmajor:
        k2 = f - k1
        c0 = nb - nb  # 0 as a variable: numba compiles a literal 0 argument a second time
        for i in range(0, nb, 4):
            m = min(4, nb - i)
            copy_rows(x, rows, i, m, c0, k1, xb, i * k1, k1)
            if k2 > 0:
                copy_rows(x, rows, i, m, k1, f, xb, nb * k1 + i * k2 - k1, k2)
    else:
        for c in range(f):
            o = c * nb
            for i in range(nb):
                xb[o + i] = x[rows[i], c]
    for c in range(d):
        o = c * nb
        for i in range(nb):
            tb[o + i] = t[rows[i], c]
    for i in range(nb):
        lb[i] = labels[rows[i]]


@njit(cache=True, error_model="numpy")
def affine_rows(W, b, rows, out):  # pragma: no cover - compiled
    """out = W^T rows^T + b for sample-major ``rows`` (nb, f): BLAS reads them transposed."""
    np.dot(W.T, rows.T, out)
    u, nb = out.shape
    for j in range(u):
        bj = b[j]
        for i in range(nb):
            out[j, i] += bj


@njit(cache=True, error_model="numpy")
def affine_split(W, b, ra, rb, out, tmp):  # pragma: no cover - compiled
    """out = W^T [ra, rb]^T + b for the two sample-major blocks of :func:`gather` (features
    ``[:k1]`` and ``[k1:]``): two BLAS products, the second's sum added to the first's, then
    the bias (:func:`initlab.nn.blas.k_split`: where OpenBLAS's one-thread driver cuts the sum
    at ``k1`` itself, this is its arithmetic, on any thread count)."""
    k1 = ra.shape[1]
    np.dot(W[:k1].T, ra.T, out)
    np.dot(W[k1:].T, rb.T, tmp)
    u, nb = out.shape
    for j in range(u):
        bj = b[j]
        for i in range(nb):
            out[j, i] = (out[j, i] + tmp[j, i]) + bj


@njit(cache=True, error_model="numpy")
def weight_grad_split(ra, rb, gz, gW, gb):  # pragma: no cover - compiled
    """:func:`weight_grad` for the two sample-major blocks of :func:`gather`: the rows
    ``[:k1]`` and ``[k1:]`` of gW as two products (the same sums, over the samples)."""
    k1 = ra.shape[1]
    weight_grad(ra.T, gz, gW[:k1], gb)
    np.dot(rb.T, gz.T, gW[k1:])


@njit(cache=True, error_model="numpy")
def view(buf, start, rows, cols):  # pragma: no cover - compiled
    """The (rows, cols) C-ordered view of ``buf[start : start + rows * cols]``."""
    return buf[start : start + rows * cols].reshape(rows, cols)


@njit(cache=True, error_model="numpy", nogil=True)
def train_model(k, x, t, labels, has_labels, perms, full, bs, logged, theta, mom1, mom2,
                step0, fins, units, woff, boff, toff, acts, alphas, loss_kind, opt_kind, hp,
                hp64, clip_kind, clip_val, fold, blas, raise_to, k1, need_out, loss_out,
                correct_out, active, div_epoch, e0, trace):  # pragma: no cover - compiled
    """Train model ``k`` of ``theta`` (K, P) for ``len(logged)`` epochs, in place.

    ``logged[e]`` is the row of ``loss_out`` / ``correct_out`` epoch ``e`` adds to, or -1;
    ``perms`` (epochs, n) the minibatch orders; ``active`` and ``div_epoch`` the divergence
    state, updated in place, as are ``theta`` and the optimizer moments. ``raise_to[l, j]``,
    where above 0, is the BLAS thread count of layer ``l``'s forward (j = 0), weight-gradient
    (1) and input-gradient (2) product, set for that call and set back to one after (the
    caller runs the rest on one thread). ``k1`` < the input width splits a sample-major first
    layer's products along the sum there (:func:`affine_split`). Buffers are
    feature-major, (units, samples), so element-wise work and the small products run along
    contiguous rows of samples. ``trace`` (steps, 2 * Z + P) or (0, 0): where it has rows,
    step ``s`` of this call copies into row ``s`` its products' own outputs before the
    update, the forward ones (the Z buffer, Z entries), the input gradients (GA, Z entries)
    and the gradient (P entries): the thread probe of :mod:`initlab.nn.jit` compares them
    (Z and GA start at zero, so every entry is a function of the step's inputs)."""
    n, f0 = x.shape
    L = units.shape[0]
    d = units[L - 1]
    nbmax = n if full else bs
    off = np.zeros(L + 1, dtype=np.int64)
    for li in range(L):
        off[li + 1] = off[li] + nbmax * units[li]
    Z = np.zeros(off[L], dtype=theta.dtype)  # zeros: the trace copies Z and GA whole
    A = np.empty(off[L], dtype=theta.dtype)
    GZ = np.empty(off[L], dtype=theta.dtype)
    GA = np.zeros(off[L], dtype=theta.dtype)
    xb = np.empty(nbmax * f0, dtype=x.dtype)
    tb = np.empty(nbmax * d, dtype=t.dtype)
    lb = np.empty(nbmax, dtype=labels.dtype)
    cast = np.empty(1, dtype=theta.dtype)
    th = theta[k]
    g = np.empty_like(th)
    m1 = mom1[k]
    m2 = mom2[k]
    from_logits = loss_kind != MSE
    scale = np.float64(hp[0]) * -1.0 if fold else 1.0
    cut = 0.0 if from_logits else 0.5
    steps = 1 if full else (n + bs - 1) // bs
    rowmajor = blas[0]
    split = rowmajor and k1 < f0
    tmp = np.empty(units[0] * nbmax if split else 0, dtype=theta.dtype)
    if full:
        gather(x, t, labels, np.arange(n), rowmajor, k1, xb, tb, lb)
    step = step0
    traced = 0
    for e in range(logged.shape[0]):
        slot = logged[e]
        if not active[k] and slot < 0:
            step += steps
            continue
        for bi in range(steps):
            nb = n
            if not full:
                start = bi * bs
                nb = min(bs, n - start)
                gather(x, t, labels, perms[e, start : start + nb], rowmajor, k1, xb, tb, lb)
            xr = xb[: f0 * nb].reshape(nb, f0)  # the input, sample-major (rowmajor)
            ra = xb[: k1 * nb].reshape(nb, k1)  # or its two blocks (split)
            rb = xb[k1 * nb : f0 * nb].reshape(nb, f0 - k1)
            xf = xb[: f0 * nb].reshape(f0, nb)  # or feature-major
            tt = tb[: d * nb].reshape(d, nb)
            ll = lb[:nb]
            # forward
            for li in range(L):
                fi, u = fins[li], units[li]
                W = view(th, woff[li], fi, u)
                b = th[boff[li] : boff[li] + u]
                z = view(Z, off[li], u, nb)
                r = raise_to[li, 0]
                if r > 0:
                    set_blas_threads(r)
                if li > 0:
                    affine(W, b, view(A, off[li - 1], fi, nb), z, blas[li])
                elif split:
                    affine_split(W, b, ra, rb, z, tmp[: u * nb].reshape(u, nb))
                elif rowmajor:
                    affine_rows(W, b, xr, z)
                else:
                    affine(W, b, xf, z, rowmajor)  # False, as a variable (one signature)
                if r > 0:
                    set_blas_threads(1)
                if li < L - 1 or need_out:
                    act_forward(acts[li], alphas[li], z, view(A, off[li], u, nb))
            zL = view(Z, off[L - 1], d, nb)
            aL = view(A, off[L - 1], d, nb)
            gzL = view(GZ, off[L - 1], d, nb)
            gL = gzL if from_logits else view(GA, off[L - 1], d, nb)
            value = loss_grad(loss_kind, zL, aL, tt, gL, scale, slot >= 0)
            if not from_logits:  # dL/da, then through the output activation
                act_backward(acts[L - 1], alphas[L - 1], zL, aL, gL, gzL)
            finite = True
            zf = Z[off[L - 1] : off[L - 1] + d * nb]
            for i in range(d * nb):
                if not math.isfinite(zf[i]):
                    finite = False
                    break
            if not finite and active[k]:
                active[k] = False
                div_epoch[k] = e0 + e
            if slot >= 0:
                cast[0] = value  # the loss in the model's precision (as the NumPy path)
                loss_out[slot, k] += np.float64(cast[0]) * nb
                if has_labels:
                    correct_out[slot, k] += n_correct(zL if from_logits else aL, ll, cut)
            if not active[k]:
                step += 1
                continue
            # backward
            for li in range(L - 1, -1, -1):
                fi, u = fins[li], units[li]
                gz = view(GZ, off[li], u, nb)
                gW = view(g, woff[li], fi, u)
                gb = g[boff[li] : boff[li] + u]
                r = raise_to[li, 1]
                if r > 0:
                    set_blas_threads(r)
                if li > 0:
                    weight_grad(view(A, off[li - 1], fi, nb), gz, gW, gb)
                elif split:
                    weight_grad_split(ra, rb, gz, gW, gb)
                elif rowmajor:
                    weight_grad(xr.T, gz, gW, gb)
                else:
                    weight_grad(xf, gz, gW, gb)
                if r > 0:
                    set_blas_threads(1)
                if li > 0:
                    W = view(th, woff[li], fi, u)
                    ga = view(GA, off[li - 1], fi, nb)
                    r = raise_to[li, 2]
                    if r > 0:
                        set_blas_threads(r)
                    input_grad(W, gz, ga, blas[li])
                    if r > 0:
                        set_blas_threads(1)
                    zp = view(Z, off[li - 1], fi, nb)
                    ap = view(A, off[li - 1], fi, nb)
                    gzp = view(GZ, off[li - 1], fi, nb)
                    act_backward(acts[li - 1], alphas[li - 1], zp, ap, ga, gzp)
            if traced < trace.shape[0]:
                row = trace[traced]
                nz = off[L]
                for i in range(nz):
                    row[i] = Z[i]
                    row[nz + i] = GA[i]
                for i in range(g.shape[0]):
                    row[2 * nz + i] = g[i]
                traced += 1
            update(th, g, m1, m2, opt_kind, hp, hp64, cast, step, clip_kind, clip_val, toff,
                   fold)
            step += 1
