"""The determinism contract of the engine, clause by clause, with exact equality.

A trained model's weights, per-epoch metrics and final metrics depend on its data, init, seed
and fit arguments alone: not on the BLAS thread count, the machine's load, ``log_every``,
validation data, callbacks or probes, nor on the ensemble it trained in (its size K and the
other models). Floating-point chaos makes any difference visible: seed 002's normal(std=10)
12-6-1 ReLU net on moons, full-batch SGD lr 0.01 (the fast tests run 1,500 epochs, the slow
ones the article's 15,000), compared with ``np.array_equal``.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import time

import numpy as np
import pytest

from initlab.data import load
from initlab.diagnose import Probe
from initlab.nn import Dense, Sequential, blas, optim

MOONS = load("moons")
BIG = "normal(std=10)"
FAST, SLOW = 1500, 15000
# (scheme, seed) of the lone reference run and of the ensembles it is compared with
RUN = (BIG, 3)
OTHERS = [("he_normal", 0), ("zeros", 1), (BIG, 0), ("glorot_uniform", 3), (BIG, 7)]


def _moons_net(runs):
    return Sequential([Dense(12, activation="relu"), Dense(6, activation="relu"),
                       Dense(1, activation="sigmoid")], input_dim=2, n_models=len(runs),
                      inits=[s for s, _ in runs], seeds=[k for _, k in runs])


def _train(runs, epochs, **kw):
    m = _moons_net(runs)
    kw.setdefault("log_every", 1)
    h = m.fit(MOONS.x_train, MOONS.y_train, epochs=epochs, batch_size=None,
              optimizer="sgd(lr=0.01)", **kw)
    final = m.evaluate(MOONS.x_test, MOONS.y_test)
    return m, h, final


def _model(m, h, final, k, epochs=None):
    """Model k's weights, history (optionally only at ``epochs``) and final test metrics."""
    rows = slice(None) if epochs is None else np.isin(h.epochs, epochs)
    return {"params": [t[k].copy() for t in m.params.tensors],
            "epochs": h.epochs[rows].copy(),
            "history": {key: h[key][rows, k].copy() for key in ("loss", "accuracy")},
            "final": {key: v[k] for key, v in final.items()},
            "diverged": (bool(h.diverged[k]), int(h.diverged_epoch[k]))}


def _assert_same(a, b):
    assert len(a["params"]) == len(b["params"])
    for x, y in zip(a["params"], b["params"], strict=True):
        assert np.array_equal(x, y)
    assert np.array_equal(a["epochs"], b["epochs"])
    for key in a["history"]:
        assert np.array_equal(a["history"][key], b["history"][key], equal_nan=True), key
    for key in a["final"]:
        assert np.array_equal(a["final"][key], b["final"][key], equal_nan=True), key
    assert a["diverged"] == b["diverged"]


@pytest.fixture(scope="module")
def alone():
    """The reference: the run trained alone (K = 1), every epoch logged, nothing attached."""
    return _model(*_train([RUN], FAST), 0)


def test_the_chaotic_run_is_sensitive_so_equality_means_something(alone):
    # the same run started from weights one ulp away ends visibly elsewhere: any change in
    # the arithmetic would show
    m = _moons_net([RUN])
    w = m.params.W[0]
    w[0, 0, 0] = np.nextafter(w[0, 0, 0], np.float32(np.inf))
    m.fit(MOONS.x_train, MOONS.y_train, epochs=FAST, batch_size=None, optimizer="sgd(lr=0.01)")
    assert not np.array_equal(m.params.W[2][0], alone["params"][4])
    assert not alone["diverged"][0]


def test_the_ensemble_size_and_the_other_models_change_nothing(alone):
    for pos, runs in ((0, [RUN] + OTHERS), (3, OTHERS[:3] + [RUN] + OTHERS[3:]),
                      (1, [OTHERS[1], RUN])):
        m, h, final = _train(runs, FAST)
        _assert_same(_model(m, h, final, pos), alone)


def test_log_every_validation_and_probes_change_nothing(alone):
    probe = Probe(every=7)
    m, h, final = _train([RUN], FAST, log_every=50, callbacks=[probe],
                         validation_data=(MOONS.x_test, MOONS.y_test))
    assert probe._last_step > FAST - 7  # the probe traced the whole run
    assert np.isfinite(h.val_loss).all()
    _assert_same(_model(m, h, final, 0), {**alone, **_at(alone, h.epochs)})


def _at(ref, epochs):
    rows = np.isin(ref["epochs"], epochs)
    return {"epochs": ref["epochs"][rows],
            "history": {k: v[rows] for k, v in ref["history"].items()}}


def test_the_blas_thread_count_changes_nothing():
    """On a net whose products are large enough for OpenBLAS to split them over threads: one
    model on 1 and 2 BLAS threads, and 3 models on one thread and split over 2 threads."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1024, 300)).astype(np.float32)
    y = rng.integers(0, 10, 1024)
    inits = ["he_normal", "normal(std=1)", "orthogonal"]
    for K in (1, 3):
        runs = []
        for threads in (1, 2):
            m = Sequential([Dense(256, activation="tanh"), Dense(128, activation="relu"),
                            Dense(10, activation="softmax")], input_dim=300, n_models=K,
                           seeds=[0, 1, 2][:K], inits=inits[:K])
            h = m.fit(x, y, epochs=3, batch_size=512, seed=5, threads=threads,
                      optimizer=optim.chain(optim.clip_by_global_norm(1.0), optim.adam(0.01)))
            runs.append((m.params.flat.copy(), h.loss.copy(), h.accuracy.copy()))
        for a, b in zip(runs[0], runs[1], strict=True):
            assert np.array_equal(a, b)
        assert (runs[0][1][-1] < runs[0][1][0]).all()  # it trained


def test_models_split_over_threads_are_the_lone_run():
    """fit(threads=N) runs N ranges of models on N threads: any split gives each model the
    run it has alone (the one-unit output layer included)."""
    runs = [RUN] + OTHERS
    for threads in (2, 4):
        m, h, final = _train(runs, 300, threads=threads)
        ref = _model(*_train([RUN], 300), 0)
        _assert_same(_model(m, h, final, 0), ref)
        last = _model(*_train([runs[-1]], 300), 0)
        _assert_same(_model(m, h, final, len(runs) - 1), last)


def test_wide_minibatch_nets_are_per_model_in_any_ensemble_and_split():
    """An MNIST-shaped net (gemm-sized products, a tanh layer on strided views, softmax over
    10 classes, a short last batch), SGD and momentum: K = 1 against K = 5 on one thread and
    K = 5 split over 2 and 3 threads."""
    rng = np.random.default_rng(3)
    x = rng.random((600, 60), dtype=np.float32)
    y = rng.integers(0, 10, 600)
    runs = [("he_normal", 0), ("glorot_uniform", 1), ("normal(std=1)", 2), ("lecun_normal", 3),
            ("he_uniform", 4)]

    def net(rs):
        return Sequential([Dense(48, activation="relu"), Dense(24, activation="tanh"),
                           Dense(10, activation="softmax")], input_dim=60, n_models=len(rs),
                          inits=[s for s, _ in rs], seeds=[k for _, k in rs])

    for opt in ("sgd(lr=0.05)", optim.sgd(0.05, momentum=0.9)):
        ens = []
        for threads in (1, 2, 3):
            m = net(runs)
            h = m.fit(x, y, epochs=3, batch_size=64, optimizer=opt, seed=4, threads=threads)
            ens.append((m, h))
        for k in (0, 2, 4):
            one = net([runs[k]])
            h1 = one.fit(x, y, epochs=3, batch_size=64, optimizer=opt, seed=4, threads=1)
            for m, h in ens:
                for a, b in zip(one.params.tensors, m.params.tensors, strict=True):
                    assert np.array_equal(a[0], b[k])
                assert np.array_equal(h1.loss[:, 0], h.loss[:, k])
                assert np.array_equal(h1.accuracy[:, 0], h.accuracy[:, k])
        assert (ens[0][1].loss[-1] < ens[0][1].loss[0]).all()  # it trained


def test_a_busy_machine_changes_nothing(alone):
    """A real busy process on the other core while the same run trains again."""
    spin = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.2)
        assert spin.poll() is None
        busy = _model(*_train([RUN], FAST), 0)
    finally:
        spin.kill()
        spin.wait(timeout=10)
    _assert_same(busy, alone)


def test_minibatches_adam_clipping_and_softmax_are_per_model_too():
    """Minibatch SGD paths: shuffled batches, a last short batch, Adam, global-norm clipping,
    softmax cross-entropy, tanh hidden layers (a strided activation), K = 1 against K = 4."""
    x, y = MOONS.x_train, MOONS.y_train
    opt = optim.chain(optim.clip_by_global_norm(0.5), optim.adam(0.05))
    runs = [("normal(std=3)", 1), ("he_normal", 0), ("zeros", 2), ("lecun_normal", 4)]

    def net(rs):
        return Sequential([Dense(9, activation="tanh"), Dense(5, activation="relu"),
                           Dense(2, activation="softmax")], input_dim=2, n_models=len(rs),
                          inits=[s for s, _ in rs], seeds=[k for _, k in rs])

    ens = net(runs)
    he = ens.fit(x, y, epochs=40, batch_size=48, optimizer=opt, seed=9)
    for k, run in enumerate(runs):
        one = net([run])
        h1 = one.fit(x, y, epochs=40, batch_size=48, optimizer=opt, seed=9)
        for a, b in zip(one.params.tensors, ens.params.tensors, strict=True):
            assert np.array_equal(a[0], b[k])
        assert np.array_equal(h1.loss[:, 0], he.loss[:, k])
        assert np.array_equal(h1.accuracy[:, 0], he.accuracy[:, k])


@pytest.mark.slow
def test_15000_epochs_in_any_ensemble_with_any_logging_are_the_lone_run():
    ref = _model(*_train([RUN], SLOW), 0)
    m, h, final = _train([RUN] + OTHERS, SLOW, log_every=50, callbacks=[Probe(every=250)],
                         validation_data=(MOONS.x_test, MOONS.y_test))
    _assert_same(_model(m, h, final, 0), {**ref, **_at(ref, h.epochs)})


def _recorded(monkeypatch, owner, name, note):
    """Wrap ``owner.name`` for the test: each call appends ``note(*args, **kwargs)`` to the
    list returned, then runs the real one."""
    seen = []
    real = getattr(owner, name)

    def wrapped(*args, **kwargs):
        seen.append(note(*args, **kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrapped)
    return seen


@pytest.mark.parametrize("engine", ["numpy", "jit"])
def test_validation_runs_on_one_blas_thread_whatever_the_steps_run_on(monkeypatch, engine):
    # the steps of this small net keep two threads (their products pass the probe), the
    # validation products (other shapes, never probed) must run on one
    if engine == "jit":
        pytest.importorskip("initlab.nn.jit_kernels")
    seen = _recorded(monkeypatch, Sequential, "_evaluate", lambda *a, **k: blas.caller_threads())

    class During:
        def __init__(self):
            self.threads = []

        def on_epoch_end(self, epoch, logs):
            self.threads.append(blas.caller_threads())

    d = load("moons")
    m = Sequential([Dense(12, activation="relu"), Dense(1, activation="sigmoid")],
                   input_dim=2, seeds=[0])
    cb = During()
    m.fit(d.x_train, d.y_train, epochs=2, batch_size=64, validation_data=(d.x_test, d.y_test),
          threads=2, engine=engine, callbacks=[cb])
    assert cb.threads == [2, 2]  # the loop ran on two threads
    assert seen == [1, 1]


def test_the_probe_compares_each_products_own_output():
    # a product whose bits depend on the thread count (the MNIST first layer on OpenBLAS's
    # SkylakeX kernels on a Zen 4 EPYC), then a call that hides them (times zero, as a
    # saturated activation would): what follows agrees on one and two threads, the product
    # does not, and the probe must keep it on one
    from functools import partial

    from initlab.nn.training import _probe_step

    rng = np.random.default_rng(0)
    a = rng.random((128, 785), dtype=np.float32)
    w = (rng.standard_normal((785, 128)) / 28).astype(np.float32)
    with blas.BlasThreads(1):
        one = a @ w
    with blas.BlasThreads(2):
        two = a @ w
    if np.array_equal(one, two):
        pytest.skip("this BLAS gives the same bits for this product on 1 and 2 threads")
    out, hidden = np.empty_like(one), np.empty_like(one)
    calls = [partial(np.matmul, a, w, out=out), partial(np.multiply, out, 0, out=hidden)]
    after_only = blas.product_plan(lambda plan: [*_probe_step(calls, [0], plan, [hidden])[1:]],
                                   1, 2)
    assert after_only == (2,)  # what follows alone cannot see it
    assert blas.product_plan(lambda plan: _probe_step(calls, [0], plan, [hidden]), 1, 2) == (1,)


@pytest.mark.parametrize("engine", ["numpy", "jit"])
def test_a_plan_is_probed_once_per_process_for_the_same_products(monkeypatch, engine):
    # remembered_plan: the second fit of the same shapes and batch sizes does not probe
    # again (whatever the init, data or optimizer), other batch sizes or shapes do, and
    # forget_plans makes the next fit probe again; every fit ends where threads=1 does
    if engine == "jit":
        pytest.importorskip("initlab.nn.jit_kernels")
    calls = _recorded(monkeypatch, blas, "product_plan", lambda *a, **k: a[1])
    # the probe weights are drawn, and swapped in, only by a probe that runs
    module = importlib.import_module(f"initlab.nn.{'jit' if engine == 'jit' else 'training'}")
    drawn = _recorded(monkeypatch, module, "probe_weights", lambda *a, **k: a[0])
    blas.forget_plans()
    rng = np.random.default_rng(0)
    x, y = rng.random((200, 300), dtype=np.float32), rng.integers(0, 10, 200)

    def fit(width, batch, init, optimizer, threads=2):
        m = Sequential([Dense(width, activation="tanh", init=init),
                        Dense(10, activation="softmax")], input_dim=300, seeds=[1])
        m.fit(x, y, epochs=1, batch_size=batch, optimizer=optimizer, seed=3, threads=threads,
              engine=engine)
        return m.params.flat.copy()

    first = fit(256, 64, "he_normal", "sgd")
    probes = len(calls)  # the NumPy engine probes each batch size (64 and the last 8)
    assert probes == (1 if engine == "jit" else 2)
    assert len(drawn) == 1  # once per fit that probes, however many probe steps it runs
    again = fit(256, 64, "glorot_uniform", "adam")
    assert len(calls) == probes and len(drawn) == 1  # remembered: no probe step at all
    assert np.array_equal(again, fit(256, 64, "glorot_uniform", "adam", threads=1))
    fit(256, 50, "he_normal", "sgd")  # other batch sizes: probed
    assert len(calls) > probes
    probes = len(calls)
    fit(128, 64, "he_normal", "sgd")  # other shapes: probed
    assert len(calls) > probes
    probes = len(calls)
    blas.forget_plans()
    assert np.array_equal(fit(256, 64, "he_normal", "sgd"), first)
    assert len(calls) > probes


def test_the_thread_probe_does_not_depend_on_the_init(monkeypatch):
    """fit's thread probe (blas.product_plan) decides per product shape: a zero init, whose
    products give the same bits on any thread count until the weights move, gets the plan a
    random init of the same shapes gets, and the model's own weights come back unchanged."""
    plans = []
    real = blas.product_plan

    def recorded(*args, **kwargs):
        plans.append(real(*args, **kwargs))
        return plans[-1]

    monkeypatch.setattr(blas, "product_plan", recorded)
    rng = np.random.default_rng(0)
    x = rng.random((256, 784), dtype=np.float32)
    y = rng.integers(0, 10, 256)
    for init in ("zeros", "he_normal"):
        blas.forget_plans()  # each fit probes (a remembered plan would answer for both)
        m = Sequential([Dense(128, activation="relu", init=init), Dense(10, activation="softmax")],
                       input_dim=784, seeds=[0])
        m.fit(x, y, epochs=1, batch_size=128, optimizer="sgd", seed=1, threads=2)
        if init == "zeros":  # relu'(0) = 0: the first layer stays zero, as the probe's
            assert not m.params.W[0].any()  # random weights did not stay behind
    assert len(plans) == 2 and plans[0] == plans[1]
