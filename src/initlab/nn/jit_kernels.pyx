# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False, embedsignature=True
"""The compiled kernels of the compiled training path (imported by :mod:`initlab.nn.jit` only).

A C extension, compiled from this Cython file when initlab is installed (``setup.py``): a
user's first ``fit(engine="jit")`` only imports it (milliseconds), with nothing to compile.

One function trains one model for a run of epochs (:func:`train_model`): the same minibatches
(the permutations are drawn in Python, as the NumPy path draws them), forward, loss gradient,
backward and the optimizer update, all over that model's own contiguous parameters and
scratch buffers. It runs without the GIL: :mod:`initlab.nn.jit` calls it once per model, in
turn or from several Python threads; a model's arithmetic is the same either way, so neither
K nor the thread count changes a result.

Buffers are feature-major, (units, samples), C-ordered. Products: every weight gradient (a sum
over samples) and the forward and input-gradient products of a layer whose per-model matrix
has at least ``BLAS_MIN`` entries (:mod:`initlab.nn.jit`) go to BLAS: SciPy's ``sgemm`` /
``dgemm`` (``scipy.linalg.cython_blas``, the OpenBLAS SciPy ships), looked up at import; the
others run as explicit loops whose innermost loop runs along a row of samples (independent
sums, so the C compiler vectorizes them without reassociating a sum). Compiled without
``-ffast-math`` and with ``-ffp-contract=off``: every sum runs in the written order and no
multiply-add is fused. Arithmetic follows C's promotion: an expression with a double constant
runs in double, a float32 model's own ``exp`` / ``tanh`` / ``sqrt`` in float (``expf``...).

Example:
    >>> import numpy as np
    >>> from initlab.nn import jit_kernels as jk
    >>> rows = np.arange(2, dtype=np.int64)
    >>> x = np.array([[1.0, 2.0], [3.0, 4.0]]); t = np.zeros((2, 1)); lab = np.zeros(2, np.int64)
    >>> xb, tb, lb = np.empty(4), np.empty(2), np.empty(2, np.int64)
    >>> jk.gather(x, t, lab, rows, False, 2, xb, tb, lb); xb.tolist()  # feature-major
    [1.0, 3.0, 2.0, 4.0]
"""

from cpython.pycapsule cimport PyCapsule_GetName, PyCapsule_GetPointer
from libc.math cimport erf, exp, expf, expm1, expm1f, fabs, isfinite, log, log1p, log1pf, pow
from libc.math cimport sqrt, sqrtf, tanh, tanhf
from libc.stdint cimport int64_t, uint8_t

import ctypes

import numpy as np
import scipy.linalg.cython_blas as _cython_blas

from initlab.nn.blas import scipy_blas_threads

# activation codes (initlab.nn.jit maps the names)
LINEAR, RELU, LEAKY_RELU, ELU, SELU, GELU, SOFTPLUS, SIGMOID, TANH, SOFTMAX = range(10)
# loss codes
CCE, BCE, MSE = 0, 1, 2
# optimizer codes
SGD, MOMENTUM, NESTEROV, ADAM, RMSPROP = 0, 1, 2, 3, 4
# clipping codes
NO_CLIP, CLIP_VALUE, CLIP_GLOBAL_NORM = 0, 1, 2

cdef enum:
    C_LINEAR, C_RELU, C_LEAKY_RELU, C_ELU, C_SELU, C_GELU, C_SOFTPLUS, C_SIGMOID, C_TANH
    C_SOFTMAX
cdef enum:
    C_CCE, C_BCE, C_MSE
cdef enum:
    C_SGD, C_MOMENTUM, C_NESTEROV, C_ADAM, C_RMSPROP
cdef enum:
    C_NO_CLIP, C_CLIP_VALUE, C_CLIP_GLOBAL_NORM

cdef double SELU_ALPHA = 1.6732632423543772
cdef double SELU_SCALE = 1.0507009873554805
cdef double INV_SQRT2 = 0.7071067811865476
cdef double INV_SQRT_2PI = 0.3989422804014327

ctypedef fused real:
    float
    double

# ------------------------------------------------------------------ BLAS, looked up at import
ctypedef void (*sgemm_t)(char*, char*, int*, int*, int*, float*, float*, int*, float*, int*,
                         float*, float*, int*) noexcept nogil
ctypedef void (*dgemm_t)(char*, char*, int*, int*, int*, double*, double*, int*, double*,
                         int*, double*, double*, int*) noexcept nogil
ctypedef void (*set_threads_t)(int) noexcept nogil

cdef sgemm_t _sgemm = <sgemm_t>PyCapsule_GetPointer(
    _cython_blas.__pyx_capi__["sgemm"], PyCapsule_GetName(_cython_blas.__pyx_capi__["sgemm"]))
cdef dgemm_t _dgemm = <dgemm_t>PyCapsule_GetPointer(
    _cython_blas.__pyx_capi__["dgemm"], PyCapsule_GetName(_cython_blas.__pyx_capi__["dgemm"]))

_BLAS_THREADS = scipy_blas_threads()
CAN_RAISE = _BLAS_THREADS is not None
"""Whether :func:`train_model` can run single products on more BLAS threads than the rest
(``raise_to``): the BLAS it calls is an OpenBLAS whose thread count is reachable."""
cdef set_threads_t _set_threads = NULL
if CAN_RAISE:
    _set_threads = <set_threads_t><size_t>ctypes.cast(_BLAS_THREADS[1], ctypes.c_void_p).value


cdef inline void mm(real* out, int m, int n, int k, real* A, bint ta, int lda, real* B,
                    bint tb, int ldb) noexcept nogil:
    """Row-major out (m, n) = op(A) (m, k) @ op(B) (k, n), op(X) = X or X^T as stored
    row-major with row stride ``ld``: column-major BLAS computes out^T = op(B)^T op(A)^T."""
    cdef char cb = b"T" if tb else b"N"
    cdef char ca = b"T" if ta else b"N"
    cdef real one = 1
    cdef real zero = 0
    if real is float:
        _sgemm(&cb, &ca, &n, &m, &k, &one, B, &ldb, A, &lda, &zero, out, &n)
    else:
        _dgemm(&cb, &ca, &n, &m, &k, &one, B, &ldb, A, &lda, &zero, out, &n)


# ------------------------------------------------------------------ element-wise
# libm for the fused type: a float32 model calls float's own function (expf, ...), as numba
# typed math.exp of a float32; a double argument calls the double one (five same-shape
# wrappers: Cython has no generic dispatch on a fused type's libm name)
cdef inline real r_exp(real v) noexcept nogil:
    if real is float:
        return expf(v)
    else:
        return exp(v)


cdef inline real r_expm1(real v) noexcept nogil:
    if real is float:
        return expm1f(v)
    else:
        return expm1(v)


cdef inline real r_log1p(real v) noexcept nogil:
    if real is float:
        return log1pf(v)
    else:
        return log1p(v)


cdef inline real r_tanh(real v) noexcept nogil:
    if real is float:
        return tanhf(v)
    else:
        return tanh(v)


cdef inline real r_sqrt(real v) noexcept nogil:
    if real is float:
        return sqrtf(v)
    else:
        return sqrt(v)


cdef inline double sigmoid(real v) noexcept nogil:
    """1 / (1 + e^-v), stably (one exp: libm's tanh costs several times more)."""
    cdef real e
    if v >= 0:
        return 1.0 / (1.0 + r_exp(-v))
    e = r_exp(v)
    return e / (1.0 + e)


cdef inline double exp_shifted(real* z, Py_ssize_t u, Py_ssize_t nb, Py_ssize_t i, real* out,
                               real* m_out) noexcept nogil:
    """Softmax's shared first half for sample (column) ``i``: out[:, i] = exp(z[:, i] - m)
    with m = max_j z[j, i] (into ``m_out``); return s = sum_j out[j, i] (softmax = out / s,
    log-sum-exp = log s + m)."""
    cdef real m = z[i]
    cdef Py_ssize_t j
    cdef double s = 0.0
    for j in range(1, u):
        if z[j * nb + i] > m:
            m = z[j * nb + i]
    for j in range(u):
        out[j * nb + i] = r_exp(z[j * nb + i] - m)
        s += out[j * nb + i]
    m_out[0] = m
    return s


cdef void act_forward(int64_t code, double alpha, real* z, real* a, Py_ssize_t u,
                      Py_ssize_t nb) noexcept nogil:
    """a = f(z) over (u, nb) arrays, feature-major (softmax: over the units of each sample)."""
    cdef Py_ssize_t i, j, n = u * nb
    cdef double s
    cdef real v, m
    if code == C_SOFTMAX:
        for i in range(nb):
            s = exp_shifted(z, u, nb, i, a, &m)
            for j in range(u):
                a[j * nb + i] = a[j * nb + i] / s
    elif code == C_LINEAR:
        for i in range(n):
            a[i] = z[i]
    elif code == C_RELU:
        for i in range(n):
            v = z[i]
            a[i] = v if (v > 0 or v != v) else 0  # NaN stays NaN, as np.maximum
    elif code == C_LEAKY_RELU:
        for i in range(n):
            v = z[i]
            a[i] = v if v > 0 else alpha * v
    elif code == C_ELU:
        for i in range(n):
            v = z[i]
            a[i] = v if v > 0 else alpha * r_expm1(v)
    elif code == C_SELU:
        for i in range(n):
            v = z[i]
            a[i] = SELU_SCALE * (v if v > 0 else SELU_ALPHA * r_expm1(v))
    elif code == C_GELU:
        for i in range(n):
            v = z[i]
            a[i] = v * (0.5 * (1.0 + erf(v * INV_SQRT2)))
    elif code == C_SOFTPLUS:
        for i in range(n):
            v = z[i]
            a[i] = (v if v > 0 else 0.0) + r_log1p(r_exp(<real>-fabs(v)))
    elif code == C_SIGMOID:
        for i in range(n):
            a[i] = sigmoid(z[i])
    else:  # TANH
        for i in range(n):
            a[i] = r_tanh(z[i])


cdef void act_backward(int64_t code, double alpha, real* z, real* a, real* g, real* out,
                       Py_ssize_t u, Py_ssize_t nb) noexcept nogil:
    """out = g * f'(z) over (u, nb) arrays (softmax: the Jacobian-vector product)."""
    cdef Py_ssize_t i, j, n = u * nb
    cdef double s, d
    cdef real v
    if code == C_SOFTMAX:
        for i in range(nb):
            s = 0.0
            for j in range(u):
                s += g[j * nb + i] * a[j * nb + i]
            for j in range(u):
                out[j * nb + i] = (g[j * nb + i] - s) * a[j * nb + i]
    elif code == C_LINEAR:
        for i in range(n):
            out[i] = g[i]
    elif code == C_RELU:
        for i in range(n):
            out[i] = g[i] if z[i] > 0 else 0
    elif code == C_LEAKY_RELU:
        for i in range(n):
            out[i] = g[i] if z[i] > 0 else g[i] * alpha
    elif code == C_ELU:
        for i in range(n):
            out[i] = g[i] if z[i] > 0 else g[i] * (a[i] + alpha)
    elif code == C_SELU:
        for i in range(n):
            d = SELU_SCALE if z[i] > 0 else a[i] + SELU_SCALE * SELU_ALPHA
            out[i] = g[i] * d
    elif code == C_GELU:
        for i in range(n):
            v = z[i]
            d = 0.5 * (1.0 + erf(v * INV_SQRT2)) + v * INV_SQRT_2PI * exp(-0.5 * v * v)
            out[i] = g[i] * d
    elif code == C_SOFTPLUS:
        for i in range(n):
            out[i] = g[i] * sigmoid(z[i])
    elif code == C_SIGMOID:
        for i in range(n):
            out[i] = g[i] * (a[i] * (1 - a[i]))
    else:  # TANH
        for i in range(n):
            out[i] = g[i] * (1 - a[i] * a[i])


# ------------------------------------------------------------------ products
cdef void affine(real* W, real* b, real* inp, real* out, Py_ssize_t f, Py_ssize_t u,
                 Py_ssize_t nb, bint blas) noexcept nogil:
    """out = W^T inp + b, feature-major: (f, u) weights, (f, nb) input, (u, nb) output; each
    output row is a sum over the fan-in in order, the bias added last."""
    cdef Py_ssize_t i, j, kk
    cdef real w, bj
    if blas:
        mm(out, <int>u, <int>nb, <int>f, W, True, <int>u, inp, False, <int>nb)
    else:
        for j in range(u):
            w = W[j]
            for i in range(nb):
                out[j * nb + i] = w * inp[i]
            for kk in range(1, f):
                w = W[kk * u + j]
                for i in range(nb):
                    out[j * nb + i] += w * inp[kk * nb + i]
    add_bias(b, out, u, nb)


cdef inline void add_bias(real* b, real* out, Py_ssize_t u, Py_ssize_t nb) noexcept nogil:
    cdef Py_ssize_t i, j
    cdef real bj
    for j in range(u):
        bj = b[j]
        for i in range(nb):
            out[j * nb + i] += bj


cdef double total(real* a, Py_ssize_t n) noexcept nogil:
    """sum_i a[i] in double, in a fixed order: eight running sums over i mod 8, added
    pairwise, then the remainder (independent chains the compiler can keep in one vector;
    a float32 model's bias gradient is rounded once, at the end, as in the numba kernels)."""
    cdef double s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0, s
    cdef Py_ssize_t i, m = n - n % 8
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


cdef inline void weight_grad(real* inp, bint ta, int lda, real* gz, real* gW, real* gb,
                             Py_ssize_t f, Py_ssize_t u, Py_ssize_t nb) noexcept nogil:
    """gW = op(inp) gz^T ((f, nb) x (nb, u) -> (f, u); op(inp) = inp (f, nb), or inp^T for
    sample-major rows (nb, f), row stride ``lda``) by BLAS, whatever the size; gb = the row
    sums of gz (:func:`total`; a NULL ``gb`` skips them)."""
    cdef Py_ssize_t j
    mm(gW, <int>f, <int>u, <int>nb, inp, ta, lda, gz, True, <int>nb)
    if gb != NULL:
        for j in range(u):
            gb[j] = total(gz + j * nb, nb)


cdef void input_grad(real* W, real* gz, real* ga, Py_ssize_t f, Py_ssize_t u, Py_ssize_t nb,
                     bint blas) noexcept nogil:
    """ga = W gz: (f, u) x (u, nb) -> (f, nb), each entry a sum over the units in order."""
    cdef Py_ssize_t i, j, kk
    cdef real w
    if blas:
        mm(ga, <int>f, <int>nb, <int>u, W, False, <int>u, gz, False, <int>nb)
        return
    for kk in range(f):
        w = W[kk * u]
        for i in range(nb):
            ga[kk * nb + i] = w * gz[i]
        for j in range(1, u):
            w = W[kk * u + j]
            for i in range(nb):
                ga[kk * nb + i] += w * gz[j * nb + i]


# ------------------------------------------------------------------ loss, accuracy, update
cdef double loss_grad(int64_t kind, real* z, real* a, real* t, real* grad, Py_ssize_t d,
                      Py_ssize_t nb, double scale, bint need_value) noexcept nogil:
    """``scale`` * dL/dz (CCE, BCE) or dL/da (MSE) into ``grad`` ((d, nb) arrays, targets
    likewise); return the mean loss (double sums; 0.0 unless ``need_value``)."""
    cdef Py_ssize_t i, j, n = d * nb
    cdef double acc = 0.0, c, c2, s, zt
    cdef real m, v, diff
    if kind == C_CCE:
        c = scale / nb
        for i in range(nb):
            s = exp_shifted(z, d, nb, i, grad, &m)
            if need_value:
                zt = 0.0
                for j in range(d):
                    zt += z[j * nb + i] * t[j * nb + i]
                acc += log(s) + m - zt
            for j in range(d):
                grad[j * nb + i] = grad[j * nb + i] / s * c - t[j * nb + i] * c
        return acc / nb
    c = scale / (nb * d)
    if kind == C_BCE:
        if need_value:
            for i in range(n):
                v = z[i]
                acc += (v if v > 0 else 0.0) + r_log1p(r_exp(<real>-fabs(v))) - t[i] * v
        for i in range(n):
            grad[i] = (sigmoid(z[i]) - t[i]) * c
        return acc / n
    c2 = 2.0 * c  # MSE, on the output activation
    for i in range(n):
        diff = a[i] - t[i]
        if need_value:
            acc += diff * diff
        grad[i] = diff * c2
    return acc / n


cdef int64_t n_correct(real* p, int64_t* labels, Py_ssize_t d, Py_ssize_t nb,
                       double cut) noexcept nogil:
    """Correct predictions of (d, nb) outputs: argmax (first maximum; a NaN wins, as NumPy's
    argmax) for d > 1, ``p > cut`` for one unit."""
    cdef Py_ssize_t i, j
    cdef int64_t c = 0, pred
    cdef real best, v
    for i in range(nb):
        if d == 1:
            pred = 1 if p[i] > cut else 0
        else:
            pred = 0
            best = p[i]
            if best == best:
                for j in range(1, d):
                    v = p[j * nb + i]
                    if v != v:
                        pred = j
                        break
                    if v > best:
                        best = v
                        pred = j
        if pred == labels[i]:
            c += 1
    return c


cdef void update(real* th, real* g, real* m1, real* m2, Py_ssize_t P, int64_t kind, real* hp,
                 double* hp64, int64_t step, int64_t clip_kind, real clip_val, int64_t* toff,
                 Py_ssize_t ntoff, bint fold) noexcept nogil:
    """One optimizer step on one model: clipping, then the optimizer, then ``th += step``.

    ``hp`` (the model's dtype; ``hp64`` the same in double, for Adam's step size): lr,
    momentum, beta1, 1 - beta1, beta2, 1 - beta2, epsilon, rho, 1 - rho. A double step size
    is rounded to the dtype before use, as NumPy does."""
    cdef Py_ssize_t i, ti
    cdef double tot, part, gi64, norm, mx
    cdef real c, s, lr, mom, gi, b1, c1, b2, c2, eps, na, rho
    cdef int64_t t
    if clip_kind == C_CLIP_VALUE:
        c = clip_val
        for i in range(P):
            if g[i] > c:
                g[i] = c
            elif g[i] < -c:
                g[i] = -c
    elif clip_kind == C_CLIP_GLOBAL_NORM:
        tot = 0.0
        for ti in range(ntoff - 1):  # tensor by tensor (W0, b0, W1, ...)
            part = 0.0
            for i in range(toff[ti], toff[ti + 1]):
                gi64 = g[i]
                part += gi64 * gi64
            tot += part
        norm = sqrt(tot)
        mx = clip_val
        if norm > mx:
            s = <real>min(1.0, mx / max(norm, 1e-38))
            for i in range(P):
                g[i] *= s
    if fold:  # plain SGD: -lr is already in the gradient
        for i in range(P):
            th[i] += g[i]
        return
    lr = hp[0]
    if kind == C_SGD:
        for i in range(P):
            th[i] += g[i] * -lr
    elif kind == C_MOMENTUM or kind == C_NESTEROV:
        mom = hp[1]
        for i in range(P):
            gi = g[i] * -lr
            m1[i] = m1[i] * mom + gi
            if kind == C_NESTEROV:
                th[i] += gi + mom * m1[i]
            else:
                th[i] += m1[i]
    elif kind == C_ADAM:
        b1, c1, b2, c2, eps = hp[2], hp[3], hp[4], hp[5], hp[6]
        t = step + 1
        na = <real>(-(hp64[0] * sqrt(1.0 - pow(hp64[4], <double>t))
                      / (1.0 - pow(hp64[2], <double>t))))
        for i in range(P):
            m1[i] = m1[i] * b1 + g[i] * c1
            m2[i] = m2[i] * b2 + (g[i] * g[i]) * c2
            th[i] += (m1[i] / (r_sqrt(m2[i]) + eps)) * na
    else:  # RMSPROP
        rho, c, eps = hp[7], hp[8], hp[6]
        for i in range(P):
            m2[i] = m2[i] * rho + (g[i] * g[i]) * c
            th[i] += (g[i] / (r_sqrt(m2[i]) + eps)) * -lr


# ------------------------------------------------------------------ the minibatch
cdef inline void copy_rows(const real* x, Py_ssize_t f, const int64_t* rows, Py_ssize_t m,
                           Py_ssize_t c0, Py_ssize_t c1, real* xb, Py_ssize_t stride) noexcept nogil:
    """Columns ``[c0, c1)`` of the ``m`` (1 to 4) rows ``rows[:m]`` of x (n, f) into
    ``xb[j * stride + c - c0]`` (j = 0..m-1): four rows side by side in one loop, so that four
    streams of reads are in flight, not one (rows scattered over a large x wait on memory:
    measured 62 us instead of 125 us for 128 random rows of 784 float32 on a 2-vCPU AMD
    EPYC, in the numba kernels this replaces)."""
    cdef Py_ssize_t c, j
    cdef const real* x0
    cdef const real* x1
    cdef const real* x2
    cdef const real* x3
    cdef real* o
    if m == 4:
        x0, x1 = x + rows[0] * f, x + rows[1] * f
        x2, x3 = x + rows[2] * f, x + rows[3] * f
        o = xb - c0
        for c in range(c0, c1):
            o[c] = x0[c]
            o[stride + c] = x1[c]
            o[2 * stride + c] = x2[c]
            o[3 * stride + c] = x3[c]
        return
    for j in range(m):
        x0 = x + rows[j] * f
        o = xb + j * stride - c0
        for c in range(c0, c1):
            o[c] = x0[c]


cdef void gather_rows(const real* x, const real* t, const int64_t* labels, Py_ssize_t f,
                      Py_ssize_t d, const int64_t* rows, Py_ssize_t nb, bint rowmajor,
                      Py_ssize_t k1, real* xb, real* tb, int64_t* lb) noexcept nogil:
    cdef Py_ssize_t i, c, m, k2 = f - k1
    if rowmajor:
        for i in range(0, nb, 4):
            m = min(4, nb - i)
            copy_rows(x, f, rows + i, m, 0, k1, xb + i * k1, k1)
            if k2 > 0:
                copy_rows(x, f, rows + i, m, k1, f, xb + nb * k1 + i * k2, k2)
    else:
        for c in range(f):
            for i in range(nb):
                xb[c * nb + i] = x[rows[i] * f + c]
    for c in range(d):
        for i in range(nb):
            tb[c * nb + i] = t[rows[i] * d + c]
    for i in range(nb):
        lb[i] = labels[rows[i]]


cdef bint in_range(const int64_t[:, :] rows, Py_ssize_t n) noexcept:
    """Whether every entry of ``rows`` is a row index of an (n, ...) array."""
    cdef Py_ssize_t i, j
    with nogil:
        for i in range(rows.shape[0]):
            for j in range(rows.shape[1]):
                if not 0 <= rows[i, j] < n:
                    return False
    return True


def gather(const real[:, ::1] x, const real[:, ::1] t, const int64_t[::1] labels,
           const int64_t[::1] rows, bint rowmajor, Py_ssize_t k1, real[::1] xb, real[::1] tb,
           int64_t[::1] lb):
    """The samples ``rows`` of sample-major x (n, f) and t (n, d) into the flat buffers
    ``xb`` (f * nb) and ``tb`` (d * nb, feature-major); their labels into ``lb``.

    ``xb`` is sample-major ((nb, f): whole rows copied, four at a time, for a first layer
    whose products go to BLAS, which reads it transposed) when ``rowmajor``, else
    feature-major ((f, nb), for the loops that run along samples), filled a feature at a
    time: reads that walk the gathered rows and contiguous writes (a sample at a time would
    scatter each sample over f cache lines; measured 3.4x slower at 128 x 784). Sample-major
    with ``k1`` < f, it is two blocks: features ``[:k1]`` (nb, k1), then ``[k1:]``
    (nb, f - k1), for a product split along its sum (:func:`initlab.nn.blas.k_split`)."""
    cdef Py_ssize_t nb = rows.shape[0], f = x.shape[1], d = t.shape[1]
    if not in_range(rows[None, :], x.shape[0]) or t.shape[0] != x.shape[0] \
            or labels.shape[0] != x.shape[0]:
        raise ValueError(f"gather: a row is outside [0, {x.shape[0]}) or x, t, labels differ "
                         "in length")
    if not 0 < k1 <= f or xb.shape[0] < nb * f or tb.shape[0] < nb * d or lb.shape[0] < nb:
        raise ValueError(f"gather: k1={k1} or a buffer does not fit {nb} rows of {f}")
    with nogil:
        gather_rows(&x[0, 0], &t[0, 0], &labels[0], f, d, &rows[0], nb, rowmajor, k1, &xb[0],
                    &tb[0], &lb[0])


cdef void affine_split_p(real* W, real* b, real* ra, real* rb, real* out, real* tmp,
                         Py_ssize_t f, Py_ssize_t k1, Py_ssize_t u,
                         Py_ssize_t nb) noexcept nogil:
    cdef Py_ssize_t i
    mm(out, <int>u, <int>nb, <int>k1, W, True, <int>u, ra, True, <int>k1)
    mm(tmp, <int>u, <int>nb, <int>(f - k1), W + k1 * u, True, <int>u, rb, True, <int>(f - k1))
    for i in range(u * nb):
        out[i] = out[i] + tmp[i]
    add_bias(b, out, u, nb)


cdef void weight_grad_split_p(real* ra, real* rb, real* gz, real* gW, real* gb, Py_ssize_t f,
                              Py_ssize_t k1, Py_ssize_t u, Py_ssize_t nb) noexcept nogil:
    weight_grad(ra, True, <int>k1, gz, gW, gb, k1, u, nb)
    weight_grad(rb, True, <int>(f - k1), gz, gW + k1 * u, NULL, f - k1, u, nb)


def affine_split(real[:, ::1] W, real[::1] b, real[:, ::1] ra, real[:, ::1] rb,
                 real[:, ::1] out, real[:, ::1] tmp):
    """out = W^T [ra, rb]^T + b for the two sample-major blocks of :func:`gather` (features
    ``[:k1]`` and ``[k1:]``): two BLAS products, the second's sum added to the first's, then
    the bias (:func:`initlab.nn.blas.k_split`: where OpenBLAS's one-thread driver cuts the sum
    at ``k1`` itself, this is its arithmetic, on any thread count)."""
    cdef Py_ssize_t f = W.shape[0], u = W.shape[1], nb = ra.shape[0], k1 = ra.shape[1]
    if (rb.shape[0] != nb or k1 + rb.shape[1] != f or b.shape[0] != u
            or out.shape[0] != u or out.shape[1] != nb or tmp.shape[0] != u
            or tmp.shape[1] != nb):
        raise ValueError("affine_split: shapes do not match")
    with nogil:
        affine_split_p(&W[0, 0], &b[0], &ra[0, 0], &rb[0, 0], &out[0, 0], &tmp[0, 0], f, k1,
                       u, nb)


def weight_grad_split(real[:, ::1] ra, real[:, ::1] rb, real[:, ::1] gz, real[:, ::1] gW,
                      real[::1] gb):
    """The weight gradient gW = [ra, rb]^T gz^T and gb = the row sums of gz for the two
    sample-major blocks of :func:`gather`: the rows ``[:k1]`` and ``[k1:]`` of gW as two
    products (the same sums, over the samples)."""
    cdef Py_ssize_t nb = ra.shape[0], k1 = ra.shape[1], u = gz.shape[0]
    cdef Py_ssize_t f = k1 + rb.shape[1]
    if (rb.shape[0] != nb or gz.shape[1] != nb or gW.shape[0] != f or gW.shape[1] != u
            or gb.shape[0] != u):
        raise ValueError("weight_grad_split: shapes do not match")
    with nogil:
        weight_grad_split_p(&ra[0, 0], &rb[0, 0], &gz[0, 0], &gW[0, 0], &gb[0], f, k1, u, nb)


# ------------------------------------------------------------------ one model, many epochs
def train_model(Py_ssize_t k, const real[:, ::1] x, const real[:, ::1] t,
                const int64_t[::1] labels, bint has_labels, const int64_t[:, ::1] perms,
                bint full, Py_ssize_t bs, const int64_t[::1] logged, real[:, ::1] theta,
                real[:, ::1] mom1, real[:, ::1] mom2, int64_t step0, const int64_t[::1] fins,
                const int64_t[::1] units, const int64_t[::1] woff, const int64_t[::1] boff,
                const int64_t[::1] toff, const int64_t[::1] acts, const double[::1] alphas,
                int64_t loss_kind, int64_t opt_kind, const real[::1] hp,
                const double[::1] hp64, int64_t clip_kind, const real[::1] clip_val,
                bint fold, const uint8_t[::1] blas, const int64_t[:, ::1] raise_to,
                Py_ssize_t k1, bint need_out, double[:, ::1] loss_out,
                double[:, ::1] correct_out, uint8_t[::1] active, int64_t[::1] div_epoch,
                int64_t e0, real[:, ::1] trace):
    """Train model ``k`` of ``theta`` (K, P) for ``len(logged)`` epochs, in place.

    ``logged[e]`` is the row of ``loss_out`` / ``correct_out`` epoch ``e`` adds to, or -1;
    ``perms`` (epochs, n) the minibatch orders; ``active`` and ``div_epoch`` the divergence
    state, updated in place, as are ``theta`` and the optimizer moments. ``raise_to[l, j]``,
    where above 0, is the BLAS thread count of layer ``l``'s forward (j = 0), weight-gradient
    (1) and input-gradient (2) product, set for that call and set back to one after (the
    caller runs the rest on one thread). ``k1`` < the input width splits a sample-major first
    layer's products along the sum there (:func:`affine_split`). Buffers are feature-major,
    (units, samples), so element-wise work and the small products run along contiguous rows of
    samples. ``trace`` (steps, 2 * Z + P) or (0, 0): where it has rows, step ``s`` of this
    call copies into row ``s`` its products' own outputs before the update, the forward ones
    (the Z buffer, Z entries), the input gradients (GA, Z entries) and the gradient (P
    entries): the thread probe of :mod:`initlab.nn.jit` compares them (Z and GA start at
    zero, so every entry is a function of the step's inputs).

    Raises:
        ValueError: an argument's shape does not fit the others (checked before training).
    """
    cdef Py_ssize_t n = x.shape[0], f0 = x.shape[1], L = units.shape[0], d, nbmax, li
    cdef Py_ssize_t P = theta.shape[1], steps, E = logged.shape[0], nz
    if not (L >= 1 and fins.shape[0] == L and woff.shape[0] == L and boff.shape[0] == L
            and toff.shape[0] == 2 * L + 1 and acts.shape[0] == L and alphas.shape[0] == L
            and blas.shape[0] == L and raise_to.shape[0] == L and raise_to.shape[1] == 3):
        raise ValueError("train_model: the layer arrays do not have one entry per layer")
    d = units[L - 1]
    if (fins[0] != f0 or t.shape[0] != n or t.shape[1] != d or labels.shape[0] != n
            or not 0 <= k < theta.shape[0] or toff[0] != 0 or toff[2 * L] != P
            or hp.shape[0] < 9
            or hp64.shape[0] < 9 or clip_val.shape[0] < 1 or not 0 < k1 <= f0
            or active.shape[0] <= k or div_epoch.shape[0] <= k or n < 1 or bs < 1):
        raise ValueError("train_model: data, parameters or hyperparameters do not fit")
    if not full and (perms.shape[0] < E or perms.shape[1] < n):
        raise ValueError("train_model: fewer permutations than epochs")
    if not full and E > 0 and not in_range(perms[:E, :n], n):
        raise ValueError(f"train_model: a minibatch row is outside [0, {n})")
    for li in range(L):
        if (woff[li] != toff[2 * li] or boff[li] != toff[2 * li + 1] or fins[li] < 1
                or units[li] < 1 or toff[2 * li + 1] - toff[2 * li] != fins[li] * units[li]
                or toff[2 * li + 2] - toff[2 * li + 1] != units[li]
                or (li > 0 and fins[li] != units[li - 1])):
            raise ValueError(f"train_model: layer {li}'s shape or offsets do not fit")
    if (opt_kind != C_SGD and (mom1.shape[1] != P or mom1.shape[0] <= k)
            or opt_kind in (C_ADAM, C_RMSPROP) and (mom2.shape[1] != P or mom2.shape[0] <= k)):
        raise ValueError("train_model: the optimizer moments do not fit the parameters")
    if loss_out.shape[0] != correct_out.shape[0] or loss_out.shape[1] != correct_out.shape[1]:
        raise ValueError("train_model: loss_out and correct_out differ in shape")
    if max(n, bs, f0, P) > 2**31 - 1:
        raise ValueError("train_model: a dimension exceeds BLAS's 32-bit int")
    for li in range(E):
        if logged[li] >= 0 and (logged[li] >= loss_out.shape[0]
                                or loss_out.shape[1] <= k or correct_out.shape[1] <= k):
            raise ValueError("train_model: a logged epoch has no row in loss_out")
    nbmax = n if full else bs
    off = np.zeros(L + 1, dtype=np.int64)
    cdef int64_t[::1] offv = off
    for li in range(L):
        offv[li + 1] = offv[li] + nbmax * units[li]
    nz = offv[L]
    if trace.shape[0] > 0 and trace.shape[1] != 2 * nz + P:
        raise ValueError("train_model: trace rows must hold 2 * Z + P entries")
    dt = np.asarray(theta).dtype
    cdef real[::1] Z = np.zeros(max(nz, 1), dtype=dt)  # zeros: the trace copies Z and GA whole
    cdef real[::1] A = np.empty(max(nz, 1), dtype=dt)
    cdef real[::1] GZ = np.empty(max(nz, 1), dtype=dt)
    cdef real[::1] GA = np.zeros(max(nz, 1), dtype=dt)
    cdef real[::1] xb = np.empty(nbmax * f0, dtype=dt)
    cdef real[::1] tb = np.empty(max(nbmax * d, 1), dtype=dt)
    cdef int64_t[::1] lb = np.empty(nbmax, dtype=np.int64)
    cdef real[::1] g = np.empty(max(P, 1), dtype=dt)
    cdef bint split = bool(blas[0]) and k1 < f0
    cdef real[::1] tmp = np.empty(max(units[0] * nbmax, 1) if split else 1, dtype=dt)
    cdef int64_t[::1] allrows = np.arange(n, dtype=np.int64)
    cdef real* m1 = &mom1[k, 0] if mom1.shape[1] > 0 else NULL
    cdef real* m2 = &mom2[k, 0] if mom2.shape[1] > 0 else NULL
    steps = 1 if full else (n + bs - 1) // bs
    with nogil:
        _train(k, &x[0, 0], &t[0, 0], &labels[0], has_labels,
               &perms[0, 0] if not full else NULL, perms.shape[1] if not full else 0, full,
               bs, &logged[0] if E > 0 else NULL, E, &theta[k, 0], m1, m2, P, step0,
               &fins[0], &units[0], &woff[0], &boff[0], &toff[0], &acts[0], &alphas[0], L,
               loss_kind, opt_kind, &hp[0], &hp64[0], clip_kind, clip_val[0], fold, &blas[0],
               &raise_to[0, 0], k1, need_out,
               &loss_out[0, 0] if loss_out.shape[0] > 0 else NULL, loss_out.shape[1],
               &correct_out[0, 0] if correct_out.shape[0] > 0 else NULL, &active[k],
               &div_epoch[k], e0, &trace[0, 0] if trace.shape[0] > 0 else NULL,
               trace.shape[0], trace.shape[1] if trace.shape[0] > 0 else 0, n, f0, d, steps,
               &offv[0], &Z[0], &A[0], &GZ[0], &GA[0], &xb[0], &tb[0], &lb[0], &g[0], &tmp[0],
               &allrows[0])


cdef inline void set_blas(int64_t r) noexcept nogil:
    if r > 0 and _set_threads != NULL:
        _set_threads(<int>r)


cdef void _train(Py_ssize_t k, const real* x, const real* t, const int64_t* labels,
                 bint has_labels, const int64_t* perms, Py_ssize_t perm_stride, bint full,
                 Py_ssize_t bs, const int64_t* logged, Py_ssize_t E, real* th, real* m1,
                 real* m2, Py_ssize_t P, int64_t step0, const int64_t* fins,
                 const int64_t* units, const int64_t* woff, const int64_t* boff,
                 const int64_t* toff, const int64_t* acts, const double* alphas, Py_ssize_t L,
                 int64_t loss_kind, int64_t opt_kind, const real* hp, const double* hp64,
                 int64_t clip_kind, real clip_val, bint fold, const uint8_t* blas,
                 const int64_t* raise_to, Py_ssize_t k1, bint need_out, double* loss_out,
                 Py_ssize_t K, double* correct_out, uint8_t* active, int64_t* div_epoch,
                 int64_t e0, real* trace, Py_ssize_t trace_rows, Py_ssize_t trace_width,
                 Py_ssize_t n, Py_ssize_t f0, Py_ssize_t d, Py_ssize_t steps,
                 const int64_t* off, real* Z, real* A, real* GZ, real* GA, real* xb, real* tb,
                 int64_t* lb, real* g, real* tmp, const int64_t* allrows) noexcept nogil:
    cdef bint from_logits = loss_kind != C_MSE
    cdef double scale = hp[0] * -1.0 if fold else 1.0
    cdef double cut = 0.0 if from_logits else 0.5
    cdef double value
    cdef bint rowmajor = blas[0] != 0
    cdef bint split = rowmajor and k1 < f0
    cdef bint finite
    cdef int64_t step = step0, slot
    cdef Py_ssize_t traced = 0, e, bi, nb, start, li, fi, u, i, nz = off[L]
    cdef real* W
    cdef real* b
    cdef real* z
    cdef real* zL
    cdef real* aL
    cdef real* gzL
    cdef real* gL
    cdef real* row
    cdef real cast
    if full:
        gather_rows(x, t, labels, f0, d, allrows, n, rowmajor, k1, xb, tb, lb)
    for e in range(E):
        slot = logged[e]
        if not active[0] and slot < 0:
            step += steps
            continue
        for bi in range(steps):
            nb = n
            if not full:
                start = bi * bs
                nb = min(bs, n - start)
                gather_rows(x, t, labels, f0, d, perms + e * perm_stride + start, nb,
                            rowmajor, k1, xb, tb, lb)
            # forward
            for li in range(L):
                fi, u = fins[li], units[li]
                W = th + woff[li]
                b = th + boff[li]
                z = Z + off[li]
                set_blas(raise_to[3 * li])
                if li > 0:
                    affine(W, b, A + off[li - 1], z, fi, u, nb, blas[li] != 0)
                elif split:
                    affine_split_p(W, b, xb, xb + k1 * nb, z, tmp, f0, k1, u, nb)
                elif rowmajor:  # sample-major rows (nb, f): BLAS reads them transposed
                    mm(z, <int>u, <int>nb, <int>f0, W, True, <int>u, xb, True, <int>f0)
                    add_bias(b, z, u, nb)
                else:
                    affine(W, b, xb, z, fi, u, nb, False)
                set_blas(1 if raise_to[3 * li] > 0 else 0)
                if li < L - 1 or need_out:
                    act_forward(acts[li], alphas[li], z, A + off[li], u, nb)
            zL = Z + off[L - 1]
            aL = A + off[L - 1]
            gzL = GZ + off[L - 1]
            gL = gzL if from_logits else GA + off[L - 1]
            value = loss_grad(loss_kind, zL, aL, tb, gL, d, nb, scale, slot >= 0)
            if not from_logits:  # dL/da, then through the output activation
                act_backward(acts[L - 1], alphas[L - 1], zL, aL, gL, gzL, d, nb)
            finite = True
            for i in range(d * nb):
                if not isfinite(zL[i]):
                    finite = False
                    break
            if not finite and active[0]:
                active[0] = 0
                div_epoch[0] = e0 + e
            if slot >= 0:
                cast = <real>value  # the loss in the model's precision (as the NumPy path)
                loss_out[slot * K + k] += <double>cast * nb
                if has_labels:
                    correct_out[slot * K + k] += n_correct(zL if from_logits else aL, lb, d,
                                                           nb, cut)
            if not active[0]:
                step += 1
                continue
            # backward
            for li in range(L - 1, -1, -1):
                fi, u = fins[li], units[li]
                set_blas(raise_to[3 * li + 1])
                if li > 0:  # gW = A_prev gz^T
                    weight_grad(A + off[li - 1], False, <int>nb, GZ + off[li], g + woff[li],
                                g + boff[li], fi, u, nb)
                elif split:
                    weight_grad_split_p(xb, xb + k1 * nb, GZ, g + woff[0], g + boff[0], f0,
                                        k1, u, nb)
                else:  # the input: sample-major rows (rowmajor) or feature-major
                    weight_grad(xb, rowmajor, <int>(f0 if rowmajor else nb), GZ, g + woff[0],
                                g + boff[0], f0, u, nb)
                set_blas(1 if raise_to[3 * li + 1] > 0 else 0)
                if li > 0:
                    set_blas(raise_to[3 * li + 2])
                    input_grad(th + woff[li], GZ + off[li], GA + off[li - 1], fi, u, nb,
                               blas[li] != 0)
                    set_blas(1 if raise_to[3 * li + 2] > 0 else 0)
                    act_backward(acts[li - 1], alphas[li - 1], Z + off[li - 1],
                                 A + off[li - 1], GA + off[li - 1], GZ + off[li - 1], fi, nb)
            if traced < trace_rows:
                row = trace + traced * trace_width
                for i in range(nz):
                    row[i] = Z[i]
                    row[nz + i] = GA[i]
                for i in range(P):
                    row[2 * nz + i] = g[i]
                traced += 1
            update(th, g, m1, m2, P, opt_kind, <real*>hp, <double*>hp64, step, clip_kind,
                   clip_val, <int64_t*>toff, 2 * L + 1, fold)
            step += 1
