"""fit: ensembles equal separate runs, optimizers follow their formulas, divergence, callbacks."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from initlab.errors import ConfigError
from initlab.nn import Dense, Sequential, optim
from initlab.nn.params import ParamLayout


def _moons_like(n=60, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    y = (x[:, 0] * x[:, 1] > 0).astype(int)
    return x, y


def _net(K, inits, seeds, out=1, dtype=np.float64):
    act = "sigmoid" if out == 1 else "softmax"
    return Sequential([Dense(7, activation="relu"), Dense(5, activation="tanh"),
                       Dense(out, activation=act)], input_dim=2, n_models=K, inits=inits,
                      seeds=seeds, dtype=dtype)


@pytest.mark.parametrize("out, optimizer", [
    (1, "sgd"), (1, "adam"), (3, "rmsprop"),
    (1, optim.chain(optim.clip_by_global_norm(0.05), optim.sgd(0.1, momentum=0.9))),
])
def test_an_ensemble_ends_where_separate_runs_end(out, optimizer):
    x, y = _moons_like()
    if out == 3:
        y = y + (x[:, 0] > 1)
    inits = ["he_normal", "glorot_uniform", "normal(std=0.5)", "lecun_uniform", "he_uniform"]
    seeds = [3, 1, 4, 1, 5]
    ens = _net(5, inits, seeds, out)
    h = ens.fit(x, y, epochs=3, batch_size=16, optimizer=optimizer, seed=9)
    for k in range(5):
        one = _net(1, [inits[k]], [seeds[k]], out)
        h1 = one.fit(x, y, epochs=3, batch_size=16, optimizer=optimizer, seed=9)
        for a, b in zip(ens.layers, one.layers, strict=True):
            np.testing.assert_allclose(a.W[k], b.W[0], rtol=1e-9, atol=1e-12)
            np.testing.assert_allclose(a.b[k], b.b[0], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(h.loss[:, k], h1.loss[:, 0], rtol=1e-9)
        np.testing.assert_allclose(h.accuracy[:, k], h1.accuracy[:, 0])


def _reference_run(model, x, y, steps, update):
    """Full-batch steps with gradients from model.trace and a reference update rule."""
    p = [t.copy() for t in model.params.tensors]
    state: dict = {}
    for t in range(1, steps + 1):
        for dst, src in zip(model.params.tensors, p, strict=True):
            dst[...] = src
        tr = model.trace(x, y)
        grads = [g for lt in tr.layers for g in (lt.grad_W, lt.grad_b)]
        p = update(p, grads, state, t)
    return p


def _keras_adam(lr=0.01, b1=0.9, b2=0.999, eps=1e-7):
    def update(p, g, s, t):
        s.setdefault("m", [np.zeros_like(a) for a in p])
        s.setdefault("v", [np.zeros_like(a) for a in p])
        alpha = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
        out = []
        for i, (pi, gi) in enumerate(zip(p, g, strict=True)):
            s["m"][i] = b1 * s["m"][i] + (1 - b1) * gi
            s["v"][i] = b2 * s["v"][i] + (1 - b2) * gi**2
            out.append(pi - alpha * s["m"][i] / (np.sqrt(s["v"][i]) + eps))
        return out
    return update


def _keras_sgd(lr, momentum=0.0, nesterov=False):
    def update(p, g, s, t):
        s.setdefault("v", [np.zeros_like(a) for a in p])
        out = []
        for i, (pi, gi) in enumerate(zip(p, g, strict=True)):
            s["v"][i] = momentum * s["v"][i] - lr * gi
            step = momentum * s["v"][i] - lr * gi if nesterov else s["v"][i]
            out.append(pi + step)
        return out
    return update


def _rmsprop(lr, rho=0.9, eps=1e-7):
    def update(p, g, s, t):
        s.setdefault("v", [np.zeros_like(a) for a in p])
        out = []
        for i, (pi, gi) in enumerate(zip(p, g, strict=True)):
            s["v"][i] = rho * s["v"][i] + (1 - rho) * gi**2
            out.append(pi - lr * gi / (np.sqrt(s["v"][i]) + eps))
        return out
    return update


def _clip_global_then(inner, max_norm):
    def update(p, g, s, t):
        norm = math.sqrt(sum(float((gi**2).sum()) for gi in g))
        c = min(1.0, max_norm / norm)
        return inner(p, [gi * c for gi in g], s, t)
    return update


def _clip_each_then(inner, max_norm):  # seed 004: g * t / ||g|| when ||g|| > t, per tensor
    def update(p, g, s, t):
        out = []
        for gi in g:
            n = float(np.sqrt((gi**2).sum()))
            out.append(gi * max_norm / n if n > max_norm else gi)
        return inner(p, out, s, t)
    return update


@pytest.mark.parametrize("opt, ref", [
    (optim.sgd(0.3), _keras_sgd(0.3)),
    (optim.sgd(0.1, momentum=0.9), _keras_sgd(0.1, 0.9)),
    (optim.sgd(0.1, momentum=0.8, nesterov=True), _keras_sgd(0.1, 0.8, True)),
    (optim.adam(0.01), _keras_adam(0.01)),
    (optim.rmsprop(0.01), _rmsprop(0.01)),
    (optim.chain(optim.clip_by_global_norm(0.02), optim.sgd(0.5)),
     _clip_global_then(_keras_sgd(0.5), 0.02)),
    (optim.chain(optim.clip_by_norm(0.01), optim.adam(0.01)),
     _clip_each_then(_keras_adam(0.01), 0.01)),
], ids=str)
def test_optimizers_follow_their_formulas(opt, ref):
    x, y = _moons_like(30, seed=2)
    model = _net(1, ["glorot_normal"], [0])
    want = _reference_run(_net(1, ["glorot_normal"], [0]), x, y, 4, ref)
    model.fit(x, y, epochs=4, batch_size=None, optimizer=opt)
    for got, w in zip(model.params.tensors, want, strict=True):
        np.testing.assert_allclose(got, w, rtol=1e-8, atol=1e-12)


def test_string_optimizers_are_keras_defaults():
    assert str(optim.get("sgd")) == "sgd(lr=0.01)"
    assert str(optim.get("adam")) == "adam(lr=0.001, beta1=0.9, beta2=0.999, epsilon=1e-07)"
    assert str(optim.get("rmsprop")) == "rmsprop(lr=0.001, rho=0.9, epsilon=1e-07)"
    assert str(optim.get("sgd(lr=0.1, momentum=0.9)")) == "sgd(lr=0.1, momentum=0.9)"
    with pytest.raises(ValueError, match="momentum"):
        optim.sgd(0.1, momentum=1.5)


def test_clipping_is_per_model():
    lay = ParamLayout(2, [(3, 2)], np.float64)
    g = lay.alloc()
    g.W[0][0] = 3.0  # model 0: ||W|| = sqrt(6 * 9)
    g.W[0][1] = 0.1
    g.b[0][:] = 4.0
    clip = optim.clip_by_norm(1.0)
    clip.update(g, clip.init(g), None)
    np.testing.assert_allclose(np.sqrt((g.W[0][0] ** 2).sum()), 1.0)
    np.testing.assert_allclose(g.W[0][1], 0.1)  # under the threshold: untouched
    np.testing.assert_allclose(np.sqrt((g.b[0] ** 2).sum(axis=1)), [1.0, 1.0])
    g2 = lay.alloc()
    g2.W[0][0] = 3.0
    g2.W[0][1] = 0.1
    gc = optim.clip_by_global_norm(2.0)
    gc.update(g2, None, None)
    norms = np.sqrt((g2.W[0] ** 2).sum(axis=(1, 2)) + (g2.b[0] ** 2).sum(axis=1))
    np.testing.assert_allclose(norms, [2.0, 0.1 * math.sqrt(6)])
    g3 = lay.alloc()
    g3.flat[:] = np.linspace(-5, 5, g3.flat.size)
    optim.clip_by_value(0.5).update(g3, None, None)
    assert g3.flat.max() == 0.5 and g3.flat.min() == -0.5


def test_history_shapes_log_every_and_full_batch():
    x, y = _moons_like()
    m = _net(3, ["he_normal"] * 3, [0, 1, 2], dtype=np.float32)
    h = m.fit(x, y, epochs=10, batch_size=None, optimizer="sgd", log_every=4,
              validation_data=(x[:20], y[:20]))
    assert h.epochs.tolist() == [0, 4, 8, 9]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "time"):
        assert h[key].shape == (4, 3)
        assert np.isfinite(h[key]).all()
    assert (np.diff(h.time[:, 0]) >= 0).all()
    assert h.diverged.tolist() == [False] * 3 and h.diverged_epoch.tolist() == [-1] * 3
    # batch_size >= n is the same full-batch run
    m2 = _net(3, ["he_normal"] * 3, [0, 1, 2], dtype=np.float32)
    h2 = m2.fit(x, y, epochs=10, batch_size=1000, optimizer="sgd", log_every=4)
    np.testing.assert_allclose(h2.loss, h.loss, rtol=1e-6)
    # validation metrics are evaluate() after the epoch: the last one matches evaluate now
    r = m.evaluate(x[:20], y[:20])
    np.testing.assert_allclose(h.val_loss[-1], r["loss"], rtol=1e-6)


def test_full_batch_loss_is_measured_before_the_update():
    x, y = _moons_like()
    m = _net(2, ["he_normal"] * 2, [0, 1])
    before = m.evaluate(x, y)["loss"]
    h = m.fit(x, y, epochs=2, batch_size=None, optimizer="sgd")
    np.testing.assert_allclose(h.loss[0], before, rtol=1e-12)


def test_plain_sgd_shortcut_equals_the_general_path():
    x, y = _moons_like()
    a = _net(2, ["he_normal"] * 2, [0, 1])
    b = _net(2, ["he_normal"] * 2, [0, 1])
    a.fit(x, y, epochs=3, batch_size=8, optimizer=optim.sgd(0.2))
    b.fit(x, y, epochs=3, batch_size=8, optimizer=optim.chain(optim.clip_by_value(1e9),
                                                              optim.sgd(0.2)))
    np.testing.assert_allclose(a.params.flat, b.params.flat, rtol=1e-10)


def test_a_diverging_model_is_frozen_and_the_others_go_on():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 3))
    y = np.zeros((32, 1))
    inits = ["zeros", "normal(std=1)", "normal(std=0.5)"]

    def make():
        return Sequential([Dense(1, activation="linear")], input_dim=3, n_models=3,
                          inits=inits, seeds=[0, 1, 2], dtype=np.float32)

    m = make()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning from overflowing models
        h = m.fit(x, y, epochs=200, batch_size=None, optimizer=optim.sgd(20.0), log_every=7)
    assert h.diverged.tolist() == [False, True, True]
    assert (h.diverged_epoch[1:] > 0).all() and h.diverged_epoch[0] == -1
    assert (h.loss[:, 0] == 0).all()
    assert not np.isfinite(h.loss[-1, 1:]).any()
    # frozen: its parameters are those after diverged_epoch full-batch steps
    for k in (1, 2):
        ref = make()
        e = int(h.diverged_epoch[k])
        ref.fit(x, y, epochs=e, batch_size=None, optimizer=optim.sgd(20.0))
        np.testing.assert_array_equal(m.layers[0].W[k], ref.layers[0].W[k])


class _Recorder:
    def __init__(self, every):
        self.every = every
        self.steps: list[int] = []
        self.traces: list = []
        self.epochs: list[int] = []

    def on_trace(self, step, trace):
        self.steps.append(step)
        self.traces.append(trace)

    def on_epoch_end(self, epoch, logs):
        self.epochs.append(epoch)
        assert logs["loss"].shape == (2,) and logs["diverged"].shape == (2,)


def test_callbacks_see_traces_of_every_nth_step_before_the_update():
    x, y = _moons_like(40)
    m = _net(2, ["he_normal"] * 2, [0, 1])
    want = m.trace(x[:10], y[:10])  # not what fit traces (shuffled), just the shapes
    ref = _net(2, ["he_normal"] * 2, [0, 1])
    cb = _Recorder(every=3)
    h = m.fit(x, y, epochs=2, batch_size=10, optimizer="adam", callbacks=[cb], seed=4)
    assert cb.steps == [0, 3, 6] and cb.epochs == [0, 1]
    tr = cb.traces[0]
    assert tr.has_gradients and tr.loss.shape == (2,)
    assert [lt.grad_W.shape for lt in tr.layers] == [lt.grad_W.shape for lt in want.layers]
    # the first traced step is the initial model on the first shuffled batch
    again = ref.trace(tr.x, _labels_of(tr.x, x, y))
    for a, b in zip(tr.layers, again.layers, strict=True):
        np.testing.assert_allclose(a.grad_W, b.grad_W, rtol=1e-10)
    # a traced step updates exactly like an untraced one
    plain = _net(2, ["he_normal"] * 2, [0, 1])
    h2 = plain.fit(x, y, epochs=2, batch_size=10, optimizer="adam", seed=4)
    np.testing.assert_allclose(m.params.flat, plain.params.flat, rtol=1e-12)
    np.testing.assert_allclose(h.loss, h2.loss, rtol=1e-12)


def _labels_of(xb, x, y):
    idx = [int(np.flatnonzero((x == row).all(axis=1))[0]) for row in xb]
    return y[idx]


def test_verbose_prints_keras_style_lines(capsys):
    x, y = _moons_like()
    _net(1, ["he_normal"], [0]).fit(x, y, epochs=2, batch_size=None, verbose=1)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("Epoch 1/2") and "loss: " in out[0] and "accuracy: " in out[0]


class _Saboteur:
    """At its second trace (step 3, before that step runs), puts NaN into model 1's first layer."""

    every = 3

    def on_trace(self, step, trace):
        if step == 3:
            trace.layers[0].W[1] = np.nan  # W is a live view of the parameters


@pytest.mark.parametrize("threads, optimizer", [(None, "sgd"), (2, "sgd"), (2, "adam")])
def test_divergence_between_logged_epochs_is_caught_at_its_step(threads, optimizer):
    # threads=2: the two models run on two threads (under SGD each thread adds its own step)
    x, y = _moons_like(40)
    m = _net(2, ["he_normal"] * 2, [0, 1], dtype=np.float32)
    h = m.fit(x, y, epochs=8, batch_size=None, optimizer=optimizer, log_every=10,
              callbacks=[_Saboteur()], threads=threads)
    one = _net(1, ["he_normal"], [0], dtype=np.float32)
    one.fit(x, y, epochs=8, batch_size=None, optimizer=optimizer, threads=1)
    for a, b in zip(one.params.tensors, m.params.tensors, strict=True):
        assert np.array_equal(a[0], b[0])  # the healthy model trained as it does alone
    assert h.epochs.tolist() == [0, 7]
    assert h.diverged.tolist() == [False, True]
    assert h.diverged_epoch.tolist() == [-1, 3]  # step 3's own forward pass sees the NaN
    assert np.isfinite(h.loss[:, 0]).all() and not np.isfinite(h.loss[-1, 1])
    assert np.isnan(m.layers[0].W[1]).all() and np.isfinite(m.layers[0].W[0]).all()


class _Threads:
    """Records NumPy's BLAS thread count and fit's worker threads at each epoch end."""

    def __init__(self, ctl):
        self.ctl, self.seen, self.workers = ctl, [], []

    def on_epoch_end(self, epoch, logs):
        import threading

        self.seen.append(self.ctl[0]())
        self.workers.append(sum(t.name.startswith("initlab-fit") for t in threading.enumerate()))


def test_fit_sets_blas_threads_by_rule_or_argument_and_restores_them():
    from initlab.nn.blas import openblas_threads as _openblas_threads
    from initlab.nn.training import SMALL_FLOP, blas_threads, step_threads

    ctl = _openblas_threads()
    if ctl is None:
        pytest.skip("no handle on NumPy's OpenBLAS here")
    before = ctl[0]()
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(600, 100)).astype(np.float32), rng.integers(0, 4, 600)

    def net(K=1):
        return Sequential([Dense(128, activation="relu"), Dense(4, activation="softmax")],
                          input_dim=100, n_models=K)

    big, small = [(100, 128), (128, 4)], [(2, 12), (12, 6), (6, 1)]
    assert 2.0 * 400 * 101 * 128 >= SMALL_FLOP and blas_threads(big, 400) is None
    assert blas_threads(small, 400) == 1 and blas_threads(big, 8) == 1
    from initlab.nn.blas import BlasThreads, product_plan

    r = np.random.default_rng(1)
    xa, ga = r.random((400, 101), np.float32), r.random((400, 128), np.float32)
    w0, w1 = r.random((101, 128), np.float32), r.random((129, 4), np.float32)
    g1, a0 = r.random((400, 4), np.float32), r.random((400, 129), np.float32)
    products = [lambda: xa @ w0, lambda: xa.T @ ga, lambda: a0 @ w1, lambda: a0.T @ g1,
                lambda: g1 @ w1[:128].T]  # this net's step on a batch of 400

    def step(plan):
        out = []
        for p, n in zip(products, plan, strict=True):
            with BlasThreads(n):
                out.append(p())
        return out

    # two threads where they give every product the bits of one, else fit's loop runs on one
    # (and raises the products that keep them for their own call)
    two = 2 if product_plan(step, len(products), 2) == (2,) * len(products) else 1
    for threads, want in ((1, 1), (2, two), (None, before if before == 1 else two)):
        rec = _Threads(ctl)
        net().fit(x, y, epochs=2, batch_size=400, optimizer="sgd", threads=threads,
                  callbacks=[rec])
        assert rec.seen == [want, want] and ctl[0]() == before
        assert rec.workers == [0, 0]
    # K models and two threads: two ranges of models on two threads, one BLAS thread each
    assert step_threads(big, 200, 2, 2) == (1, 2) and step_threads(big, 200, 3, 1) == (1, 1)
    assert step_threads(big, 200, 5, 8) == (1, 5) and step_threads(small, 400, 6, None)[1] == 1
    rec = _Threads(ctl)
    net(3).fit(x, y, epochs=2, batch_size=200, optimizer="sgd", threads=2, callbacks=[rec])
    assert rec.seen == [1, 1] and rec.workers == [1, 1] and ctl[0]() == before
    import threading

    assert not any(t.name.startswith("initlab-fit") for t in threading.enumerate())
    rec = _Threads(ctl)
    net().fit(x, y, epochs=1, batch_size=8, optimizer="sgd", callbacks=[rec])  # small products
    assert rec.seen == [1] and ctl[0]() == before
    with pytest.raises(ConfigError, match="threads"):
        net().fit(x, y, epochs=1, threads=0)
