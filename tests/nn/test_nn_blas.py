"""initlab.nn.blas: NumPy's BLAS kernels against the CPU, and the thread-count plumbing."""

import os
import subprocess
import sys

import numpy as np
import pytest

from initlab.nn import blas

AVX512 = frozenset(blas.AVX512_FLAGS) | {"avx2", "fma"}
ZEN5 = blas.CPU("AMD EPYC", 26, 2, AVX512)
HASWELL = {"internal_api": "openblas", "architecture": "Haswell", "version": "0.3.31"}


def test_advice_when_kernels_lack_avx512_on_an_avx512_cpu():
    chose = blas.kernel_advice(HASWELL, ZEN5, env={})
    assert "chose its Haswell kernels" in chose and "OPENBLAS_CORETYPE=SkylakeX" in chose
    forced = blas.kernel_advice(HASWELL, ZEN5, env={"OPENBLAS_CORETYPE": "Haswell"})
    assert forced.startswith("OPENBLAS_CORETYPE=Haswell in the environment")
    assert "family 26, model 2" in forced


def test_no_advice_when_the_kernels_fit():
    for arch in blas.AVX512_KERNELS:  # AVX-512 kernels already
        assert blas.kernel_advice(dict(HASWELL, architecture=arch), ZEN5, env={}) is None
    avx2_only = blas.CPU("Intel Core", 6, 60, frozenset({"avx2", "fma", "avx512f"}))
    assert blas.kernel_advice(HASWELL, avx2_only, env={}) is None  # not every AVX-512 flag
    assert blas.kernel_advice(dict(HASWELL, internal_api="mkl"), ZEN5, env={}) is None
    assert blas.kernel_advice(dict(HASWELL, architecture=None), ZEN5, env={}) is None


def test_cpu_reads_the_first_processor(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 26\nmodel\t\t: 2\n"
                    "model name\t: AMD EPYC\nflags\t\t: fpu avx2 avx512f avx512bw\n\n"
                    "processor\t: 1\nmodel name\t: other\n")
    c = blas.cpu(str(info))
    assert (c.name, c.family, c.model) == ("AMD EPYC", 26, 2)
    assert c.flags == {"fpu", "avx2", "avx512f", "avx512bw"}
    assert str(c) == "AMD EPYC (family 26, model 2)"
    missing = blas.cpu(str(tmp_path / "absent"))
    assert missing.family == -1 and not missing.flags


def test_the_kernels_named_are_the_ones_the_environment_picks():
    # a fresh process with OPENBLAS_CORETYPE=Haswell runs, and describes, the Haswell kernels
    env = dict(os.environ, OPENBLAS_CORETYPE="Haswell")
    code = "from initlab.nn import blas; print(blas.describe())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout
    info = blas.numpy_blas()
    if info and info.get("internal_api") == "openblas":
        assert "Haswell kernels (OPENBLAS_CORETYPE=Haswell)" in out


def test_blas_threads_is_restored():
    before = blas.caller_threads()
    with blas.BlasThreads(1):
        assert blas.caller_threads() == 1
        np.ones((64, 64)) @ np.ones((64, 64))
    assert blas.caller_threads() == before


def _step(outputs):
    """A probe step of two products: product i runs on plan[i] BLAS threads (the rest on one)
    and ``outputs(i, threads_seen)`` is its output."""
    def run(plan):
        out = []
        for i, n in enumerate(plan):
            with blas.BlasThreads(n):
                out.append(np.array([outputs(i, blas.caller_threads())]))
        return out
    return run


def test_product_plan_raises_the_products_that_keep_the_bits_of_one_thread():
    assert blas.product_plan(_step(lambda i, n: n > 0), 2, 2) == (2, 2)  # never depends
    assert blas.product_plan(_step(lambda i, n: n), 2, 2) == (1, 1)  # both depend
    # only the first product's output depends on its thread count: the second gets 3
    assert blas.product_plan(_step(lambda i, n: n if i == 0 else 7), 2, 3) == (1, 3)
    assert blas.product_plan(_step(lambda i, n: n), 2, 1) == (1, 1)  # one thread: no probe
    assert blas.product_plan(_step(lambda i, n: n), 0, 2) == ()
    calls = []

    def together(plan):  # each passes alone, not together: the plan falls back to one
        calls.append(tuple(plan))
        return [np.array([plan.count(2) == 2])]

    assert blas.product_plan(together, 2, 2) == (1, 1)
    assert calls == [(1, 1), (2, 2), (2, 1), (1, 2), (2, 2)]


def test_product_plan_tries_the_callers_other_settings_where_threads_alone_differ():
    calls = []

    def step(plan):  # product 0 keeps the bits of one thread only as "split"; product 1 always
        calls.append(tuple(plan))
        return [np.array([plan[0] in (1, "split")])]

    assert blas.product_plan(step, 2, 2, others={0: ["wide", "split", "other"]}) == ("split", 2)
    assert calls == [(1, 1), (2, 2), ("wide", 2), (2, 1), ("wide", 1), ("split", 1), (1, 2),
                     ("split", 2)]
    # where the first other keeps the bits with the rest on threads: one probe after every
    calls.clear()
    assert blas.product_plan(step, 2, 2, others={0: ["split", "wide"]}) == ("split", 2)
    assert calls == [(1, 1), (2, 2), ("split", 2)]
    # no setting keeps the bits: one thread, and the others are never tried for product 1
    assert blas.product_plan(lambda plan: [np.array([plan[0] == 1])], 2, 2,
                             others={0: ["wide"]}) == (1, 2)


def test_scipy_blas_threads_sets_the_library_the_compiled_kernels_call():
    pytest.importorskip("scipy")
    ctl = blas.scipy_blas_threads()
    if ctl is None:
        pytest.skip("SciPy's BLAS is not an OpenBLAS here")
    import scipy.linalg.cython_blas  # noqa: F401
    from threadpoolctl import threadpool_info

    before = ctl[0]()
    try:
        ctl[1](1)
        seen = {i["filepath"]: i["num_threads"] for i in threadpool_info()
                if "scipy" in i["filepath"] and "numpy" not in i["filepath"]}
        assert seen and set(seen.values()) == {1} and ctl[0]() == 1
    finally:
        ctl[1](before)
    assert ctl[0]() == before


@pytest.mark.parametrize("n", [1, 3])
def test_blas_limit_sets_numpys_and_scipys_blas_and_restores_both(n):
    # read back through threadpoolctl, which finds the libraries on its own: every OpenBLAS
    # NumPy or SciPy loaded is at n inside the block and where it was after, also when the
    # block ends in an exception
    pytest.importorskip("scipy")
    import scipy.linalg.cython_blas  # noqa: F401
    from threadpoolctl import threadpool_info

    def counts():
        return {i["filepath"]: i["num_threads"] for i in threadpool_info()
                if i["internal_api"] == "openblas"
                and ("numpy" in i["filepath"] or "scipy" in i["filepath"])}

    before = counts()
    assert len(before) >= 1
    with pytest.raises(KeyError), blas.BlasLimit(n):
        assert set(counts().values()) == {n}
        with blas.BlasLimit(2):
            assert set(counts().values()) == {2}
        assert set(counts().values()) == {n}
        raise KeyError
    assert counts() == before
    with blas.BlasLimit(None):
        assert counts() == before


_HASWELL_FIT = """
import numpy as np
import pytest
from initlab.nn import Dense, Sequential
rng = np.random.default_rng(0)
x = rng.normal(size=(600, 300)).astype(np.float32)
y = rng.integers(0, 10, 600)
engines = ["numpy"]
try:
    import numba  # noqa: F401
    engines.append("jit")
except ImportError:
    pass
for engine in engines:
    runs = []
    for threads in (1, 2):
        m = Sequential([Dense(256, activation="tanh"), Dense(10, activation="softmax")],
                       input_dim=300, seeds=[3])
        h = m.fit(x, y, epochs=2, batch_size=256, seed=1, threads=threads, optimizer="adam",
                  engine=engine)
        runs.append((m.params.flat.copy(), h.loss.copy()))
    assert all(np.array_equal(a, b) for a, b in zip(*runs)), engine
print("OK", engines)
"""


def test_one_and_two_threads_agree_under_kernels_that_differ_by_thread_count():
    # OpenBLAS's Haswell kernels on an AVX-512 CPU give other bits on two threads than on one
    # (initlab.nn.blas); fit checks its step and keeps one thread there, on both engines
    env = dict(os.environ, OPENBLAS_CORETYPE="Haswell")
    out = subprocess.run([sys.executable, "-c", _HASWELL_FIT], env=env, capture_output=True,
                         text=True, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith("OK")


def test_probe_weights_are_fixed_random_weights_and_zero_biases():
    # random W (a constant one would give every thread count the same bits); zero b, so a
    # traced z = x W + b is the product's own output; the same numbers on every call
    shapes = [(784, 128), (128, 10)]
    first, again = blas.probe_weights(shapes, "float32"), blas.probe_weights(shapes, "float32")
    for (W, b), (W2, b2), (f, u) in zip(first, again, shapes, strict=True):
        assert W.shape == (f, u) and W.dtype == np.float32 and b.shape == (u,)
        assert np.array_equal(W, W2) and np.array_equal(b, b2)
        assert not np.any(b)
        assert np.unique(W).size > W.size // 2
        # standard normal over sqrt(f): the sample std within 5 standard errors of 1/sqrt(f)
        se = 1 / np.sqrt(f) / np.sqrt(2 * W.size)
        assert abs(W.std() - 1 / np.sqrt(f)) < 5 * se
