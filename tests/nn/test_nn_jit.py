"""The compiled training path (``fit(engine="jit")``): it agrees with the NumPy reference to
rounding, keeps the determinism contract exactly, freezes diverged models, refuses what it
does not support, and stays out of ``import initlab``.

Tolerances: each step of the two paths rounds differently (other summation orders, FMA in
BLAS), a few ulps per operation. On a non-chaotic net the differences add up at most about
linearly in the steps, so after N steps the weights agree to about N * 10 * eps relative to
their scale: float64 (eps 1.1e-16), 300 steps -> 3.3e-13, asserted as 1e-12; float32
(eps 6e-8), 100 steps -> 6e-5, asserted as 1e-4. Determinism clauses use exact equality, on
seed 002's chaotic normal(std=10) moons net where one ulp ends visibly elsewhere.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from initlab.data import load
from initlab.errors import ConfigError
from initlab.nn import Dense, Residual, Sequential, jit, optim

needs_kernels = pytest.mark.skipif(not jit.available(),
                                   reason="initlab.nn.jit_kernels (C extension) not built")
MOONS = load("moons")


def _digits(n=300, classes=4):
    d = load("digits")
    keep = d.y_train < classes
    return d.x_train[keep][:n], d.y_train[keep][:n]


def _pair(make, x, y, **fit):
    """The same model trained on both paths: (numpy model, history), (jit model, history)."""
    a, b = make(), make()
    ha = a.fit(x, y, **fit)
    hb = b.fit(x, y, engine="jit", **fit)
    return (a, ha), (b, hb)


def _close(a, b, rtol):
    for ta, tb in zip(a.params.tensors, b.params.tensors, strict=True):
        scale = max(np.abs(ta).max(), 1e-30)
        err = np.abs(ta - tb).max() / scale
        assert err <= rtol, (err, rtol)


# ------------------------------------------------------------------ without the kernels as well
def test_a_bad_engine_names_the_value_and_the_allowed_ones():
    m = Sequential([Dense(1, activation="sigmoid")], input_dim=2)
    with pytest.raises(ConfigError, match=r"unknown engine 'jitt'.*Allowed: jit, numpy"):
        m.fit(np.eye(2), [0, 1], engine="jitt")
    with pytest.raises(ConfigError, match="unknown engine 3"):
        m.fit(np.eye(2), [0, 1], engine=3)


def test_without_the_kernels_the_jit_engine_says_what_to_do(monkeypatch):
    # the extension's build is optional (no C compiler: the install still succeeds)
    monkeypatch.setattr(jit, "available", lambda: False)
    m = Sequential([Dense(1, activation="sigmoid")], input_dim=2)
    before = m.params.flat.copy()
    with pytest.raises(ConfigError, match=r"compiled kernels.*C compiler.*engine='numpy'"):
        m.fit(np.eye(2), [0, 1], engine="jit")
    assert np.array_equal(m.params.flat, before)


def test_import_initlab_and_a_numpy_fit_do_not_load_the_kernels():
    code = ("import sys, numpy as np, initlab\n"
            "m = initlab.Sequential([initlab.Dense(1, activation='sigmoid')], input_dim=2)\n"
            "m.fit(np.eye(2), [0, 1], epochs=2)\n"
            "print('initlab.nn.jit_kernels' in sys.modules, 'numba' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False False"


@needs_kernels
def test_the_kernels_are_machine_code_built_at_install_so_a_first_fit_compiles_nothing():
    # a fresh process's first fit(engine="jit") loads an extension module (no JIT: numba
    # took 7-18 s to compile these kernels on a first call) and imports no JIT compiler
    import importlib.machinery

    code = ("import sys, numpy as np\n"
            "from initlab.nn import Dense, Sequential, jit_kernels\n"
            "m = Sequential([Dense(3, activation='relu'), Dense(2, activation='softmax')],\n"
            "               input_dim=2)\n"
            "m.fit(np.eye(2), [0, 1], epochs=2, batch_size=1, engine='jit')\n"
            "print(jit_kernels.__file__)\n"
            "print(sorted(n for n in ('numba', 'llvmlite') if n in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split("\n")
    assert out[0].endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)), out[0]
    assert out[1] == "[]"


@needs_kernels
def test_the_kernels_refuse_arrays_that_do_not_fit_before_touching_memory():
    # the kernels run unchecked C loops: each entry point checks its shapes first and raises
    from initlab.nn import jit_kernels as jk

    x, t = np.zeros((5, 4)), np.zeros((5, 2))
    labels, rows = np.zeros(5, np.int64), np.arange(3, dtype=np.int64)
    xb, tb, lb = np.empty(12), np.empty(6), np.empty(3, np.int64)
    jk.gather(x, t, labels, rows, True, 4, xb, tb, lb)  # fits
    with pytest.raises(ValueError, match="k1=5"):
        jk.gather(x, t, labels, rows, True, 5, xb, tb, lb)
    with pytest.raises(ValueError, match=r"outside \[0, 5\)"):
        jk.gather(x, t, labels, np.array([0, 5, 1]), True, 4, xb, tb, lb)
    with pytest.raises(ValueError, match="does not fit 3 rows"):
        jk.gather(x, t, labels, rows, True, 4, np.empty(11), tb, lb)
    with pytest.raises(ValueError, match="shapes do not match"):
        jk.affine_split(np.zeros((4, 2)), np.zeros(2), np.zeros((3, 1)), np.zeros((3, 2)),
                        np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="dtype mismatch"):  # one dtype for every array
        jk.gather(x.astype(np.float32), t, labels, rows, True, 4, xb, tb, lb)


@needs_kernels
def test_train_model_refuses_rows_offsets_or_outputs_that_do_not_fit(monkeypatch):
    # the arguments of a real fit's call, each altered in turn: refused before any step (the
    # parameters stay as they were), where an unchecked C loop would read or write elsewhere
    from initlab.nn import jit_kernels as jk

    calls = []
    real = jk.train_model
    monkeypatch.setattr(jk, "train_model", lambda *a: calls.append(a) or real(*a))
    m = Sequential([Dense(5, activation="tanh"), Dense(3, activation="softmax")], input_dim=4,
                   seeds=[0])
    rng = np.random.default_rng(0)
    m.fit(rng.random((20, 4)), rng.integers(0, 3, 20), epochs=2, batch_size=8, threads=1,
          engine="jit")
    args = list(calls[-1])
    theta = args[9].copy()
    perms = args[5].copy()
    perms[1, 3] = 20  # one past the last row
    woff = args[15].copy()
    woff[1] += 1
    for i, bad, match in [(5, perms, r"outside \[0, 20\)"), (15, woff, "layer 1"),
                          (31, np.zeros((0, 1)), "differ in shape"),
                          (14, np.array([5, 4]), "do not fit")]:
        changed = list(args)
        changed[i] = bad
        with pytest.raises(ValueError, match=match):
            real(*changed)
        assert np.array_equal(args[9], theta)
    real(*args)  # the unaltered call still runs
    assert not np.array_equal(args[9], theta)


# ------------------------------------------------------------------ agreement with NumPy
def _moons_tanh(dtype=np.float64):
    return Sequential([Dense(12, activation="tanh"), Dense(6, activation="relu"),
                       Dense(1, activation="sigmoid")], input_dim=2, dtype=dtype, seeds=[4])


def _digits_net(acts=("relu", "elu"), out="softmax", dtype=np.float64, K=1):
    return Sequential([Dense(32, activation=acts[0]), Dense(16, activation=acts[1]),
                       Dense(4 if out == "softmax" else 1, activation=out)], input_dim=64,
                      dtype=dtype, n_models=K, seeds=list(range(K)))


CASES = {
    "full-batch sgd, bce": (lambda: _moons_tanh(), "moons",
                            dict(epochs=300, batch_size=None, optimizer="sgd(lr=0.1)")),
    "minibatch adam, softmax ce, ragged batch": (
        lambda: _digits_net(), "digits",
        dict(epochs=6, batch_size=37, optimizer="adam", seed=5)),  # 6 x 9 = 54 steps
    "nesterov + global-norm clip, mse, linear out": (
        lambda: _digits_net(("leaky_relu", "gelu"), "linear"), "digits",
        dict(epochs=5, batch_size=50, loss="mse",
             optimizer=optim.chain(optim.clip_by_global_norm(0.5),
                                   optim.sgd(0.02, momentum=0.9, nesterov=True)))),
    "rmsprop + value clip, selu/softplus": (
        lambda: _digits_net(("selu", "softplus"), "sigmoid"), "digits01",
        dict(epochs=5, batch_size=25,
             optimizer=optim.chain(optim.clip_by_value(0.01), optim.rmsprop(0.003)))),
    "momentum, sigmoid hidden, softmax + mse": (
        lambda: _digits_net(("sigmoid", "tanh"), "softmax"), "digits1hot",
        dict(epochs=4, batch_size=40, loss="mse", optimizer=optim.sgd(0.5, momentum=0.5))),
}


def _data(name):
    if name == "moons":
        return MOONS.x_train, MOONS.y_train
    x, y = _digits(classes=4)
    if name == "digits01":
        return x, (y % 2).astype(float)
    if name == "digits1hot":
        return x, np.eye(4)[y]
    return x, y


@needs_kernels
@pytest.mark.parametrize("case", list(CASES))
def test_the_compiled_path_agrees_with_numpy_in_float64(case):
    make, data, fit = CASES[case]
    x, y = _data(data)
    (a, ha), (b, hb) = _pair(make, x, y, **fit)
    _close(a, b, 1e-12)
    np.testing.assert_allclose(hb.loss, ha.loss, rtol=1e-12)
    np.testing.assert_array_equal(hb.accuracy, ha.accuracy)
    np.testing.assert_array_equal(hb.epochs, ha.epochs)
    assert not hb.diverged.any()
    assert np.isfinite(hb.loss).all() and hb.loss[-1, 0] < hb.loss[0, 0]  # it trained


@needs_kernels
@pytest.mark.parametrize("case", ["moons sgd", "digits adam"])
def test_the_compiled_path_agrees_with_numpy_in_float32(case):
    if case == "moons sgd":  # 100 steps
        x, y = MOONS.x_train, MOONS.y_train
        make = lambda: _moons_tanh(np.float32)  # noqa: E731
        fit = dict(epochs=100, batch_size=None, optimizer="sgd(lr=0.1)", log_every=10)
    else:  # 11 x 9 = 99 steps
        x, y = _digits(classes=4)
        make = lambda: _digits_net(dtype=np.float32)  # noqa: E731
        fit = dict(epochs=11, batch_size=37, optimizer="adam", seed=2)
    (a, ha), (b, hb) = _pair(make, x, y, **fit)
    assert b.params.flat.dtype == np.float32
    _close(a, b, 1e-4)
    np.testing.assert_allclose(hb.loss, ha.loss, rtol=1e-4)


# ------------------------------------------------------------------ determinism (exact)
BIG = "normal(std=10)"


def _chaotic(runs):
    return Sequential([Dense(12, activation="relu"), Dense(6, activation="relu"),
                       Dense(1, activation="sigmoid")], input_dim=2, n_models=len(runs),
                      inits=[s for s, _ in runs], seeds=[k for _, k in runs])


def _jit_moons(runs, epochs=1500, **kw):
    m = _chaotic(runs)
    h = m.fit(MOONS.x_train, MOONS.y_train, epochs=epochs, batch_size=None,
              optimizer="sgd(lr=0.01)", engine="jit", **kw)
    return m, h


def _same(m1, h1, k1, m2, h2, k2, epochs=None):
    for a, b in zip(m1.params.tensors, m2.params.tensors, strict=True):
        assert np.array_equal(a[k1], b[k2])
    r1 = slice(None) if epochs is None else np.isin(h1.epochs, epochs)
    r2 = slice(None) if epochs is None else np.isin(h2.epochs, epochs)
    for key in ("loss", "accuracy"):
        assert np.array_equal(h1[key][r1, k1], h2[key][r2, k2], equal_nan=True), key
    assert h1.diverged[k1] == h2.diverged[k2]


@pytest.fixture(scope="module")
def alone():
    """Seed 002's chaotic run trained alone on the compiled path, every epoch logged."""
    if not jit.available():
        pytest.skip("initlab.nn.jit_kernels (C extension) not built")
    return _jit_moons([(BIG, 3)])


@needs_kernels
def test_the_chaotic_run_is_sensitive_so_equality_means_something(alone):
    m = _chaotic([(BIG, 3)])
    w = m.params.W[0]
    w[0, 0, 0] = np.nextafter(w[0, 0, 0], np.float32(np.inf))
    m.fit(MOONS.x_train, MOONS.y_train, epochs=1500, batch_size=None,
          optimizer="sgd(lr=0.01)", engine="jit")
    assert not np.array_equal(m.params.W[0], alone[0].params.W[0])


@needs_kernels
@pytest.mark.parametrize("threads", [1, 2])
def test_a_model_in_an_ensemble_equals_it_alone(alone, threads):
    # threads=2 spreads the models over two Python threads (the compiled loop releases the
    # GIL); 1 runs them in turn
    runs = [("he_normal", 0), ("zeros", 1), (BIG, 3), ("glorot_uniform", 3), (BIG, 7),
            (BIG, 0)]
    m, h = _jit_moons(runs, threads=threads)
    _same(m, h, 2, *alone, 0)


@needs_kernels
def test_log_every_validation_and_epoch_callbacks_change_nothing(alone):
    seen = []

    class Ender:
        def on_epoch_end(self, epoch, logs):
            seen.append(epoch)

    m, h = _jit_moons([(BIG, 3)], log_every=50, callbacks=[Ender()],
                      validation_data=(MOONS.x_test, MOONS.y_test))
    _same(m, h, 0, *alone, 0, epochs=h.epochs)
    assert seen == h.epochs.tolist() and seen[-1] == 1499 and len(seen) == 31
    assert np.isfinite(h.val_loss).all()


@needs_kernels
def test_minibatch_blas_layers_are_exact_across_k_and_threads():
    # 64-32-16-4 on digits, Adam, batch 37: every layer has a BLAS product; the model alone,
    # in a K = 3 ensemble in turn, and on two Python threads, ends bit-identical
    x, y = _digits(classes=4)
    fit = dict(epochs=3, batch_size=37, optimizer="adam", seed=1, engine="jit")
    one = _digits_net(dtype=np.float32)
    one.fit(x, y, threads=1, **fit)
    for threads in (1, 2):
        ens = Sequential([Dense(32, activation="relu"), Dense(16, activation="elu"),
                          Dense(4, activation="softmax")], input_dim=64, n_models=3,
                         seeds=[5, 0, 9])
        ens.fit(x, y, threads=threads, **fit)
        for a, b in zip(ens.params.tensors, one.params.tensors, strict=True):
            assert np.array_equal(a[1], b[0])
    from threadpoolctl import threadpool_info

    blas_before = [i["num_threads"] for i in threadpool_info()]
    k1 = _digits_net(dtype=np.float32)
    k1.fit(x, y, threads=2, **fit)  # K = 1: BLAS on two threads
    assert np.array_equal(k1.params.flat, one.params.flat)
    assert [i["num_threads"] for i in threadpool_info()] == blas_before


@needs_kernels
def test_the_first_layers_split_product_is_the_whole_product():
    # affine_split and weight_grad_split (the sum cut at blas.k_split) against NumPy's
    # product in float64: the same sums, only their order differs, so a few ulps
    from initlab.nn import jit_kernels as jk
    from initlab.nn.blas import k_split

    rng = np.random.default_rng(3)
    nb, f, u = 37, 785, 16
    k1 = k_split(f)
    assert k1 == 400
    W, b, x = rng.standard_normal((f, u)), rng.standard_normal(u), rng.standard_normal((nb, f))
    gz = rng.standard_normal((u, nb))
    out, tmp = np.empty((u, nb)), np.empty((u, nb))
    jk.affine_split(W, b, np.ascontiguousarray(x[:, :k1]), np.ascontiguousarray(x[:, k1:]),
                    out, tmp)
    np.testing.assert_allclose(out, W.T @ x.T + b[:, None], rtol=0, atol=1e-12)
    gW, gb = np.empty((f, u)), np.empty(u)
    jk.weight_grad_split(np.ascontiguousarray(x[:, :k1]), np.ascontiguousarray(x[:, k1:]),
                         gz, gW, gb)
    np.testing.assert_allclose(gW, x.T @ gz.T, rtol=0, atol=1e-12)
    np.testing.assert_allclose(gb, gz.sum(axis=1), rtol=0, atol=1e-12)


@needs_kernels
@pytest.mark.parametrize("nb", [1, 3, 4, 5, 13, 128])
@pytest.mark.parametrize("k1", [784, 400, 1])
def test_gather_copies_the_rows_four_at_a_time_into_the_blocks_the_products_read(nb, k1):
    # gather's sample-major path copies four rows side by side (copy_rows), and the rest of
    # a batch whose size is not a multiple of four one by one: every layout and remainder
    # must give exactly x[rows], cut into the blocks [:k1] and [k1:]
    from initlab.nn import jit_kernels as jk

    rng = np.random.default_rng(nb)
    x = rng.standard_normal((300, 784)).astype(np.float32)
    t = rng.standard_normal((300, 3)).astype(np.float32)
    labels = rng.integers(0, 3, 300).astype(np.intp)
    rows = rng.permutation(300)[:nb].astype(np.int64)
    xb = np.full(nb * 784, np.nan, dtype=np.float32)
    tb, lb = np.empty(nb * 3, dtype=np.float32), np.empty(nb, dtype=np.intp)
    jk.gather(x, t, labels, rows, True, k1, xb, tb, lb)
    want = x[rows]
    assert np.array_equal(xb[: nb * k1].reshape(nb, k1), want[:, :k1])
    assert np.array_equal(xb[nb * k1:].reshape(nb, 784 - k1), want[:, k1:])
    assert np.array_equal(tb.reshape(3, nb), t[rows].T)
    assert np.array_equal(lb, labels[rows])
    jk.gather(x, t, labels, rows, False, 784, xb, tb, lb)  # feature-major
    assert np.array_equal(xb.reshape(784, nb), want.T)


@needs_kernels
def test_the_jit_probe_compares_each_products_own_output(monkeypatch):
    # the probe step's first output is train_model's trace: per step, the forward products'
    # outputs, the input gradients and the gradient, before the update; checked here against
    # the first layer's product recomputed in NumPy from the probe's weights and inputs,
    # with no bias: the probe's biases are zero, so the trace holds the product's own output
    # (a bias of the size of the weights would put it far outside these tolerances)
    from initlab.nn import blas

    seen = {}
    real = blas.product_plan

    def spy(run, products, threads, limit, others=None):
        seen["run"], seen["products"] = run, products
        return real(run, products, threads, limit, others=others)

    monkeypatch.setattr(blas, "product_plan", spy)
    blas.forget_plans()
    rng = np.random.default_rng(5)
    x, y = rng.random((70, 200)), rng.integers(0, 3, 70)
    m = Sequential([Dense(16, activation="sigmoid"), Dense(3, activation="softmax")],
                   input_dim=200, seeds=[0], dtype=np.float64)
    m.fit(x, y, epochs=1, batch_size=32, optimizer="sgd", seed=0, engine="jit", threads=2)
    trace = seen["run"]((1,) * seen["products"])[0]
    P = sum(f * u + u for f, u in m._layout.shapes)
    assert trace.shape == (2, 2 * 32 * 19 + P)  # batches of 32 and 6 rows
    (W, _), _ = blas.probe_weights(m._layout.shapes, np.float64)
    x0 = np.random.default_rng(1).standard_normal((38, 200))
    z = W.T @ x0[:32].T
    np.testing.assert_allclose(trace[0, : 16 * 32].reshape(16, 32), z, rtol=1e-12, atol=1e-12)
    g = trace[0, 2 * 32 * 19:]
    assert np.count_nonzero(g) > g.size // 2  # the gradient of the first step is there too


@needs_kernels
def test_a_784_wide_first_layer_on_two_blas_threads_keeps_the_bits_of_one():
    # the MNIST shape, batch 128: on OpenBLAS's SkylakeX kernels its first-layer product gives
    # other bits on two threads unless split along its sum; whatever fit's probe picks here,
    # threads=2 must end where threads=1 does
    rng = np.random.default_rng(0)
    x = rng.random((300, 784), dtype=np.float32)
    y = rng.integers(0, 10, 300)

    def net():
        return Sequential([Dense(128, activation="relu"), Dense(10, activation="softmax")],
                          input_dim=784, seeds=[4], dtype=np.float32)

    fits = []
    for threads in (1, 2):
        m = net()
        m.fit(x, y, epochs=2, batch_size=128, optimizer="adam", seed=2, engine="jit",
              threads=threads)
        fits.append(m.params.flat)
    assert np.array_equal(fits[0], fits[1])


@needs_kernels
@pytest.mark.parametrize("engine", ["jit", "numpy"])
def test_a_zero_init_does_not_fool_the_thread_probe(engine):
    # zero weights give every product the same bits on any thread count in the first steps
    # (x @ 0 = 0); sigmoid units make the weights nonzero a few steps later, where the
    # 784-wide first layer's product does depend on the thread count (SkylakeX kernels): a
    # probe on the model's own weights kept two threads and threads=2 ended elsewhere
    rng = np.random.default_rng(0)
    x = rng.random((1024, 784), dtype=np.float32)
    y = rng.integers(0, 10, 1024)
    fits = []
    for threads in (1, 2):
        m = Sequential([Dense(128, activation="sigmoid", init="zeros"),
                        Dense(64, activation="sigmoid", init="zeros"),
                        Dense(10, activation="softmax")], input_dim=784, seeds=[0])
        m.fit(x, y, epochs=3, batch_size=128, optimizer="sgd", seed=1, engine=engine,
              threads=threads)
        fits.append(m.params.flat)
    assert np.abs(fits[0][:784 * 128]).max() > 0  # the first layer did move off zero
    assert np.array_equal(fits[0], fits[1])


# ------------------------------------------------------------------ divergence
def _linear3(dtype=np.float32):
    return Sequential([Dense(1, activation="linear")], input_dim=3, n_models=3,
                      inits=["zeros", "normal(std=1)", "normal(std=0.5)"], seeds=[0, 1, 2],
                      dtype=dtype)


@needs_kernels
def test_a_diverging_model_is_frozen_at_the_numpy_paths_epoch_and_the_others_go_on():
    # the NumPy path's own divergence test: mse on zero targets, sgd(20) blows two models up
    x = np.random.default_rng(0).normal(size=(32, 3))
    y = np.zeros((32, 1))
    fit = dict(batch_size=None, optimizer=optim.sgd(20.0))
    ref, m = _linear3(), _linear3()
    hn = ref.fit(x, y, epochs=200, log_every=7, **fit)
    h = m.fit(x, y, epochs=200, log_every=7, engine="jit", **fit)
    assert h.diverged.tolist() == hn.diverged.tolist() == [False, True, True]
    assert np.array_equal(h.diverged_epoch, hn.diverged_epoch)
    assert (h.loss[:, 0] == 0).all() and not np.isfinite(h.loss[-1, 1:]).any()
    for k in (1, 2):  # frozen: the parameters after diverged_epoch steps, on this path
        e = int(h.diverged_epoch[k])
        short = _linear3()
        short.fit(x, y, epochs=e, engine="jit", **fit)
        assert np.array_equal(m.params.W[0][k], short.params.W[0][k])


@needs_kernels
def test_a_healthy_model_does_not_feel_a_diverged_neighbour():
    x, y = MOONS.x_train, MOONS.y_train
    fit = dict(epochs=30, batch_size=50, optimizer="adam", seed=3, engine="jit")
    pair = Sequential([Dense(8, activation="relu"), Dense(1, activation="sigmoid")],
                      input_dim=2, n_models=2, seeds=[0, 1])
    pair.params.W[0][0] = np.nan  # model 0 is broken before it starts
    h = pair.fit(x, y, **fit)
    one = Sequential([Dense(8, activation="relu"), Dense(1, activation="sigmoid")],
                     input_dim=2, seeds=[1])
    h1 = one.fit(x, y, **fit)
    assert h.diverged.tolist() == [True, False] and h.diverged_epoch[0] == 0
    assert np.isnan(h.loss[:, 0]).all() and np.isnan(pair.params.W[0][0]).all()
    for a, b in zip(pair.params.tensors, one.params.tensors, strict=True):
        assert np.array_equal(a[1], b[0])
    assert np.array_equal(h.loss[:, 1], h1.loss[:, 0])


# ------------------------------------------------------------------ refusals
@needs_kernels
@pytest.mark.parametrize("what", ["probe", "residual", "clip_by_norm", "hidden softmax"])
def test_what_the_compiled_path_cannot_run_is_refused_by_name(what):
    from initlab.diagnose import Probe

    layers = [Dense(4, activation="relu"), Dense(1, activation="sigmoid")]
    fit = dict(epochs=1, batch_size=None, optimizer="sgd", engine="jit")
    match = {"probe": "every > 0", "residual": "Residual", "clip_by_norm": "clip_by_norm",
             "hidden softmax": "softmax in a hidden layer"}[what]
    if what == "probe":
        fit["callbacks"] = [Probe(every=5)]
    elif what == "residual":
        layers = [Dense(4, activation="relu"), Residual([Dense(4, activation="relu")]),
                  Dense(1, activation="sigmoid")]
    elif what == "clip_by_norm":
        fit["optimizer"] = optim.chain(optim.clip_by_norm(1.0), optim.sgd())
    else:
        layers = [Dense(4, activation="softmax"), Dense(1, activation="sigmoid")]
    m = Sequential(layers, input_dim=2)
    before = m.params.flat.copy()
    with pytest.raises(ConfigError, match=match) as err:
        m.fit(MOONS.x_train, MOONS.y_train, **fit)
    assert "engine='numpy'" in str(err.value)
    assert np.array_equal(m.params.flat, before)


# ------------------------------------------------------------------ studies and the CLI
def test_the_study_field_engine_is_validated_and_part_of_the_recipe(monkeypatch):
    from initlab.studies import Study

    base = Study(dataset="moons", layers=(4,), epochs=2, validate_names=False)
    assert "engine" not in base.to_dict()  # the default leaves old hashes unchanged
    fast = base.replace(engine="JIT", validate_names=False)
    assert fast.engine == "jit" and fast.config_hash != base.config_hash
    assert Study.from_dict(fast.to_dict(), validate_names=False) == fast
    # the kernels' arithmetic version is hashed too: runs from other kernels (numba's,
    # before) are another config, not results this code would reproduce bit for bit
    h = fast.config_hash
    monkeypatch.setattr(jit, "KERNELS", "numba")
    assert fast.config_hash != h and base.config_hash == base.replace().config_hash
    with pytest.raises(ConfigError, match=r"study field 'engine'.*'jitt'.*jit, numpy"):
        base.replace(engine="jitt", validate_names=False)
    with pytest.raises(ConfigError, match="probes run on the NumPy engine only"):
        base.replace(engine="jit", probes=5, validate_names=False)
    with pytest.raises(ConfigError, match="residual layers"):
        Study(layers=("res4",), engine="jit", validate_names=False)


def test_a_jit_study_without_the_kernels_is_refused_in_one_line(monkeypatch, tmp_path, capsys):
    # the extension's build is optional: a study (and the CLI) that asks for it says so
    from initlab.cli import main
    from initlab.studies import Study

    monkeypatch.setattr(jit, "available", lambda: False)
    with pytest.raises(ConfigError, match=r"'engine'.*compiled kernels.*C compiler.*'numpy'"):
        Study(dataset="moons", layers=(4,), engine="jit")
    out = tmp_path / "out"
    assert main(["compare", "--layers", "4", "--epochs", "2", "--engine", "jit",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "compiled kernels" in err and not out.exists()


def test_compare_engine_flag_bad_value_is_one_line(tmp_path, capsys):
    from initlab.cli import main

    out = tmp_path / "out"
    assert main(["compare", "--layers", "4", "--epochs", "2", "--engine", "jitt",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--engine" in err and "'jitt'" in err and "numpy" in err
    assert not out.exists()


@needs_kernels
def test_a_jit_study_matches_the_numpy_study(tmp_path):
    from initlab.studies import Study

    s = Study(dataset="moons", dataset_options={"n_train": 60, "n_test": 30}, layers=(6, 4),
              activation="tanh", schemes=("he_normal", "glorot_uniform"), seeds=2, epochs=30,
              lr=0.1, batch_size=16, dtype="float64")
    ref = s.run(workers=1, progress=False)
    fast = s.replace(engine="jit").run(workers=1, progress=False)
    assert len(ref.runs) == len(fast.runs) == 4
    for a, b in zip(ref.runs, fast.runs, strict=True):
        assert (a.scheme, a.seed, a.status) == (b.scheme, b.seed, b.status)
        np.testing.assert_allclose(b.history["loss"], a.history["loss"], rtol=1e-12)
        np.testing.assert_allclose(b.final["val_loss"], a.final["val_loss"], rtol=1e-12)
