"""Residual blocks, bias-free Dense layers and init recipes: gradients, semantics, errors."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from initlab.errors import ConfigError, SpecError
from initlab.nn import Dense, Residual, Sequential
from initlab.nn.losses import get as get_loss

HIDDEN = ["linear", "relu", "leaky_relu(alpha=0.2)", "elu", "selu", "gelu", "softplus",
          "sigmoid", "tanh"]


def _net(act: str) -> list:
    """Every feature at once: no-bias layers, a Fixup block with a trainable alpha, a nested
    block with a fixed alpha, a projection shortcut, a random bias_init."""
    return [
        Dense(5, activation=act, bias_init="normal(std=0.3)"),
        Residual([Dense(5, activation=act, use_bias=False), Dense(5, use_bias=False)],
                 alpha="trainable", scalar_biases=True),
        Residual([Dense(5, activation=act),
                  Residual([Dense(5, activation=act)], alpha=0.7)]),
        Residual([Dense(4, activation=act), Dense(4)], shortcut="projection",
                 scalar_biases=True),
        Dense(3, activation="softmax"),
    ]


def _flat(act: str) -> list:
    """Blocks of Dense layers only (what fixup accepts)."""
    return [
        Dense(5, activation=act),
        Residual([Dense(5, activation=act, use_bias=False), Dense(5, use_bias=False)],
                 alpha="trainable", scalar_biases=True),
        Residual([Dense(4, activation=act), Dense(4)], shortcut="projection",
                 alpha="trainable", scalar_biases=True),
        Dense(3, activation="softmax"),
    ]


def _grads(model, x, y):
    """The loss (K,) and the gradient of every tensor (the engine's own buffers)."""
    lossf = model._loss(None)
    t = model._targets(lossf, y, len(x))
    ws = model._workspace(len(x), with_grads=True)
    ws.x_aug[:, :-1] = x
    lv = model._step_grads(ws, lossf, t, need_output=True)
    return lv, [g.copy() for g in ws.grads.tensors], get_loss


@pytest.mark.parametrize("K", [1, 3])
@pytest.mark.parametrize("act", HIDDEN)
def test_residual_gradients_match_finite_differences(act, K):
    rng = np.random.default_rng(zlib.crc32(repr((act, K)).encode()))
    model = Sequential(_net(act), input_dim=3, n_models=K, seeds=list(range(K)),
                       dtype=np.float64)
    g = model._graph
    for i in g.scalars + [b for b in g.dense_b if b is not None]:
        # non-zero scalars and biases: every term is exercised, and no ReLU input sits at
        # exactly 0 (a zero input with a zero bias would put z on the kink)
        model.params.tensors[i][...] = rng.normal(scale=0.3, size=model.params.tensors[i].shape)
    x, y = rng.normal(size=(7, 3)), rng.integers(0, 3, 7)
    lv, grads, _ = _grads(model, x, y)
    np.testing.assert_allclose(lv, model.evaluate(x, y)["loss"], rtol=1e-12)
    tr = model.trace(x, y)
    for lt, i in zip(tr.layers, range(len(tr.layers)), strict=True):
        np.testing.assert_array_equal(lt.grad_W, grads[model._graph.dense_w[i]])
    eps = 1e-6
    base = model.params.flat.copy()
    for _ in range(2):
        dirs = [rng.normal(size=t.shape) for t in model.params.tensors]
        analytic = sum((g * d).reshape(K, -1).sum(axis=1)
                       for g, d in zip(grads, dirs, strict=True))
        vals = []
        for sign in (1, -1):
            for t, d in zip(model.params.tensors, dirs, strict=True):
                t += sign * eps * d
            vals.append(model.evaluate(x, y)["loss"])
            model.params.flat[:] = base
        fd = (vals[0] - vals[1]) / (2 * eps)
        rel = np.abs(fd - analytic) / np.maximum(np.maximum(np.abs(fd), np.abs(analytic)), 1e-8)
        assert (rel < 1e-6).all(), (rel, fd, analytic)
    # every scalar tensor, alone (a wrong scalar gradient could hide in a random direction)
    for i in model._graph.scalars:
        d = np.zeros(K)
        vals = []
        for sign in (1, -1):
            model.params.tensors[i][:, 0] += sign * eps
            vals.append(model.evaluate(x, y)["loss"])
            model.params.flat[:] = base
        fd = (vals[0] - vals[1]) / (2 * eps)
        d = grads[i][:, 0]
        assert np.allclose(fd, d, rtol=1e-6, atol=1e-9), (model._graph.tensor_names[i], fd, d)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_model_k_of_an_ensemble_equals_a_one_model_run_bit_for_bit(optimizer):
    # the determinism contract: each model's arithmetic is what it would be alone
    x = np.random.default_rng(1).normal(size=(9, 3))
    y = np.arange(9) % 3
    recipes = ["fixup", "rezero", "he"]
    ens = Sequential(_flat("relu"), input_dim=3, n_models=3, seeds=[4, 5, 6], recipe=recipes)
    h = ens.fit(x, y, epochs=3, batch_size=4, optimizer=optimizer)
    for k, (seed, rec) in enumerate(zip([4, 5, 6], recipes, strict=True)):
        one = Sequential(_flat("relu"), input_dim=3, seeds=[seed], recipe=rec)
        h1 = one.fit(x, y, epochs=3, batch_size=4, optimizer=optimizer)
        np.testing.assert_array_equal(h.loss[:, k], h1.loss[:, 0])
        for a, b in zip(ens.params.tensors, one.params.tensors, strict=True):
            np.testing.assert_array_equal(a[k], b[0])


def test_identity_block_is_x_plus_alpha_branch():
    x = np.random.default_rng(2).normal(size=(6, 4))
    m = Sequential([Residual([Dense(4, activation="tanh")], alpha=0.5), Dense(2)],
                   input_dim=4, dtype=np.float64)
    W, b = m.dense_layers[0].W[0], m.dense_layers[0].b[0]
    y = x + 0.5 * np.tanh(x @ W + b)
    out = y @ m.dense_layers[1].W[0] + m.dense_layers[1].b[0]
    np.testing.assert_allclose(m.predict(x)[0], out, rtol=1e-12)


def test_use_bias_false_removes_the_bias_from_params_trace_and_optimizer():
    plain = Sequential([Dense(3, activation="relu"), Dense(1, activation="sigmoid")],
                       input_dim=2)
    nob = Sequential([Dense(3, activation="relu", use_bias=False),
                      Dense(1, activation="sigmoid")], input_dim=2)
    assert nob.params.flat.size == 2 * 3 + 3 * 1 + 1  # W1, W2, b2: no b1
    assert plain.dense_layers[0].n_params == 9
    assert nob.dense_layers[0].b is None and nob.dense_layers[0].n_params == 6
    tr = nob.trace(np.ones((4, 2)), [0, 1, 0, 1])
    assert tr.layers[0].b is None and tr.layers[0].grad_b is None
    assert tr.layers[1].grad_b is not None
    with pytest.raises(ConfigError, match="no bias"):
        nob.dense_layers[0].b = 0.0
    # with no bias and a zero input, the first layer's output stays exactly 0 through training
    nob.fit(np.vstack([np.zeros((1, 2)), np.ones((3, 2))]), [0, 1, 1, 0], epochs=5,
            optimizer="adam")
    assert (nob.predict(np.zeros((1, 2)))[0] == nob.predict(np.zeros((1, 2)))[0]).all()
    z = nob.forward(np.zeros((1, 2)), trace=True)[1].layers[0].pre
    assert (z == 0).all()


def test_bias_init_draws_after_the_weights_from_the_same_stream():
    m = Sequential([Dense(2000, bias_init="normal(std=0.2236)")], input_dim=3, seeds=[7],
                   dtype=np.float64)
    b = m.dense_layers[0].b[0]
    # the std of 2000 draws: within 4 standard errors (sigma / sqrt(2 n)) of 0.2236
    assert abs(b.std() - 0.2236) < 4 * 0.2236 / np.sqrt(2 * 2000)
    same = Sequential([Dense(2000)], input_dim=3, seeds=[7], dtype=np.float64)
    np.testing.assert_array_equal(m.dense_layers[0].W, same.dense_layers[0].W)
    assert (same.dense_layers[0].b == 0).all()
    with pytest.raises(SpecError):
        Dense(3, bias_init="nosuch")
    with pytest.raises(ConfigError, match="use_bias"):
        Dense(3, use_bias=False, bias_init="zeros")


def _fixup_net(L: int) -> list:
    blocks = [Residual([Dense(8, activation="relu", use_bias=False),
                        Dense(8, activation="relu", use_bias=False),
                        Dense(8, use_bias=False)], alpha="trainable", scalar_biases=True)
              for _ in range(L)]
    return [Dense(8, activation="relu"), *blocks, Dense(3, activation="softmax")]


def test_fixup_rules():
    L = 4
    fix = Sequential(_fixup_net(L), input_dim=2, seeds=[3], recipe="fixup", dtype=np.float64)
    he = Sequential(_fixup_net(L), input_dim=2, seeds=[3], recipe="he", dtype=np.float64)
    c = L ** (-1 / (2 * 3 - 2))
    for blk_f, blk_h in zip(fix._graph.blocks, he._graph.blocks, strict=True):
        d_f, d_h = blk_f.layers, blk_h.layers
        np.testing.assert_allclose(d_f[0].W, c * d_h[0].W, rtol=1e-12)
        np.testing.assert_allclose(d_f[1].W, c * d_h[1].W, rtol=1e-12)
        assert (d_f[2].W == 0).all() and (d_h[2].W != 0).all()
        # he_normal on the branch: the sample std is near sqrt(2 / 8)
        assert 0.25 < d_h[0].W.std() < 0.75
    out = fix.dense_layers[-1]
    assert (out.W == 0).all() and (out.b == 0).all()
    g = fix._graph
    for name, info in g.block_scalars.items():
        assert fix.params.tensors[info["alpha"]][0, 0] == 1.0, name
        assert len(info["bias_in"]) == 3 and len(info["bias_out"]) == 2
    assert all(fix.params.tensors[i][0, 0] == 0 for i in g.scalars if i not in
               [v["alpha"] for v in g.block_scalars.values()])
    x = np.random.default_rng(0).normal(size=(5, 2))
    np.testing.assert_allclose(fix.predict(x), 1 / 3)  # zero classifier: uniform output


def test_fixup_scalars_move_at_a_tenth_of_the_rate():
    def build(recipe):
        return Sequential([Dense(4, activation="relu"),
                           Residual([Dense(4, activation="relu"), Dense(4)], alpha="trainable",
                                    scalar_biases=True),
                           Dense(2, activation="softmax")], input_dim=2, seeds=[1],
                          recipe=recipe, dtype=np.float64)

    x = np.random.default_rng(5).normal(size=(8, 2))
    y = np.arange(8) % 2
    m = build("fixup")
    tr = m.trace(x, y)
    lossf = m._loss(None)
    t = m._targets(lossf, y, 8)
    ws = m._workspace(8, with_grads=True)
    ws.x_aug[:, :-1] = x
    m._step_grads(ws, lossf, t, need_output=True)
    before = m.params.flat.copy()
    m.fit(x, y, epochs=1, batch_size=None, optimizer="sgd")  # one step, lr 0.01
    step = m.params.flat - before
    g = m._graph
    slow = set(g.scalars) | {i for i in g.dense_b if i is not None}
    for i, grad in enumerate(ws.grads.tensors):
        o, n = m._layout.offsets[i], grad.size
        want = -0.01 * (0.1 if i in slow else 1.0) * grad.ravel()
        np.testing.assert_allclose(step[o:o + n], want, rtol=1e-10, atol=1e-18)
    assert tr.loss.shape == (1,)


def test_rezero_and_skipinit_start_at_the_identity():
    for recipe in ("rezero", "skipinit"):
        m = Sequential([Residual([Dense(4, activation="relu"), Dense(4)], alpha="trainable"),
                        Dense(4)], input_dim=4, recipe=recipe, dtype=np.float64)
        x = np.random.default_rng(0).normal(size=(3, 4))
        tr = m.forward(x, trace=True)[1]
        head = m.dense_layers[-1]
        np.testing.assert_allclose(tr.layers[-1].pre[0], x @ head.W[0] + head.b[0], rtol=1e-12)
    with pytest.raises(ConfigError, match="alpha='trainable'"):
        Sequential([Residual([Dense(4)]), Dense(2)], input_dim=4, recipe="rezero")
    with pytest.raises(ConfigError, match="no Residual"):
        Sequential([Dense(4), Dense(2)], input_dim=4, recipe="fixup")


def test_bad_blocks_are_clear_errors():
    with pytest.raises(ConfigError, match="projection"):
        Sequential([Residual([Dense(5)]), Dense(2)], input_dim=4)
    with pytest.raises(ConfigError, match="shortcut"):
        Residual([Dense(4)], shortcut="skip")
    with pytest.raises(ConfigError, match="alpha"):
        Residual([Dense(4)], alpha="big")
    with pytest.raises(ConfigError, match="last layer"):
        Sequential([Dense(4), Residual([Dense(4)])], input_dim=4)
    with pytest.raises(ConfigError, match="recipe"):
        Sequential([Residual([Dense(4)]), Dense(2)], input_dim=4, recipe="fixit")
    d = Dense(4)
    with pytest.raises(ConfigError, match="one model only"):
        Sequential([Residual([d]), Residual([d]), Dense(2)], input_dim=4)


def test_save_load_round_trip_and_mismatch(tmp_path):
    m = Sequential(_flat("tanh"), input_dim=3, n_models=2, recipe="fixup")
    m.fit(np.ones((4, 3)), [0, 1, 2, 0], epochs=2, optimizer="sgd")
    p = tmp_path / "w.npz"
    m.save(p)
    m2 = Sequential(_flat("tanh"), input_dim=3, n_models=2)
    m2.load(p)
    np.testing.assert_array_equal(m2.params.flat, m.params.flat)
    other = Sequential([Residual([Dense(3)]), Dense(3, activation="softmax")], input_dim=3,
                       n_models=2)
    from initlab.errors import ShapeError

    with pytest.raises(ShapeError):
        other.load(p)


def test_trace_and_summary_name_the_block_layers():
    m = Sequential(_net("relu"), input_dim=3)
    names = [lt.name for lt in m.forward(np.ones((2, 3)), trace=True)[1].layers]
    assert names == ["dense_1", "residual_1/dense_1", "residual_1/dense_2",
                     "residual_2/dense_1", "residual_2/residual_1/dense_1",
                     "residual_3/dense_1", "residual_3/dense_2", "residual_3/projection",
                     "dense_2"]
    text = m.summary()
    assert "residual_2/residual_1" in text and "x + alpha F(x), alpha trained" in text


def test_lsuv_reaches_the_layers_inside_residual_blocks():
    from initlab.init import lsuv

    m = Sequential([Dense(16, activation="relu"),
                    Residual([Dense(16, activation="relu"), Dense(16, use_bias=False)],
                             alpha="trainable"),
                    Residual([Dense(8, activation="tanh")], shortcut="projection"),
                    Dense(2, activation="softmax")], input_dim=4, n_models=2)
    x = np.random.default_rng(0).normal(size=(256, 4))
    rep = lsuv(m, x, rng=0)
    assert rep.names == [ly.name for ly in m.dense_layers]
    assert "residual_2/projection" in rep.names and rep.converged
    stds = {lt.name: lt.pre.reshape(2, -1).std(axis=1)
            for lt in m.forward(x, trace=True)[1].layers}
    for name in rep.names:
        assert (np.abs(stds[name] - 1) <= 0.1 + 1e-6).all(), name


def test_diagnostics_read_bias_free_layers_in_blocks():
    import initlab

    m = Sequential(_flat("relu"), input_dim=3, n_models=2)
    x = np.random.default_rng(0).normal(size=(32, 3))
    rep = initlab.inspect(m, x, np.arange(32) % 3)
    names = [st.name for st in rep.stats]
    assert names == [ly.name for ly in m.dense_layers]
    no_bias = names.index("residual_1/dense_1")
    assert (rep.stats[no_bias].sigma_b2 == 0).all()  # no bias: sigma_b^2 = 0
    assert (rep.stats[0].sigma_b2 == 0).all()  # zero-initialized bias, the same


def _moons_batch(n=128):
    x = np.random.default_rng(3).normal(size=(n, 2))
    return x, (x[:, 0] * x[:, 1] > 0).astype(int)


def test_inspect_states_fixups_zero_layers_as_by_design_not_as_findings():
    import initlab
    from initlab.nn.recipes import residual_block

    x, y = _moons_batch()
    m = Sequential([Dense(16, activation="relu"),
                    *[residual_block(16, "relu", "fixup") for _ in range(3)],
                    Dense(1, activation="sigmoid")], input_dim=2, n_models=2, recipe="fixup")
    rep = initlab.inspect(m, x, y, lr=0.1)
    assert rep.findings == []
    zero = [n for n in rep.design if n.kind == "zero" and n.model == 0]
    assert [n.names for n in zero] == [("residual_1/dense_2",), ("residual_2/dense_2",),
                                       ("residual_3/dense_2",), ("dense_2",)]
    assert all(n.reason.startswith("zero by Fixup's rule (Zhang et al. 2019)") for n in zero)
    gated = [n for n in rep.design if n.kind == "gated" and n.model == 0]
    assert len(gated) == 1 and gated[0].layers == (1, 7)  # everything below the classifier
    assert "zero by Fixup's rule (Zhang et al. 2019)" in str(rep)
    assert rep.to_dict()["models"][1]["by_design"]
    # the same net with a real problem: a dead stem is still found, by-design layers are not
    m.params.b[0][:] = -10.0
    rep = initlab.inspect(m, x, y, lr=0.1)
    codes = {(f.code, f.layer_name) for f in rep.findings if f.model == 0}
    assert ("dead_units", "dense_1") in codes
    assert not any(f.layer_name.endswith("dense_2") and f.code == "symmetry"
                   for f in rep.findings)
    # trained away from its zeros, a Fixup net has no by-design layers left
    m.params.b[0][:] = 0.0
    m.fit(x, y, epochs=2, optimizer="sgd")
    assert initlab.inspect(m, x, y).design == []


def test_inspect_states_a_zero_multiplier_as_gating_and_still_finds_real_problems():
    import initlab
    from initlab.nn.recipes import residual_block

    x, y = _moons_batch()

    def build(stem_init="auto"):
        return Sequential([Dense(16, activation="relu", init=stem_init),
                           *[residual_block(16, "relu", "rezero") for _ in range(3)],
                           Dense(1, activation="sigmoid")], input_dim=2, recipe="rezero")

    plain = Sequential([Dense(16, activation="relu"),
                        *[Residual([Dense(16, activation="relu"), Dense(16)], alpha=0.0)
                          for _ in range(3)],
                        Dense(1, activation="sigmoid")], input_dim=2)
    # a fixed alpha of 0 never trains: its exactly-zero gradients are a finding
    assert "vanishing_gradients" in {f.code for f in initlab.inspect(plain, x, y).findings}
    rep = initlab.inspect(build(), x, y)
    assert rep.findings == []
    assert [n.layers for n in rep.design] == [(2, 3), (4, 5), (6, 7)]
    assert all("alpha starts at 0 (ReZero, Bachlechner et al. 2020)" in n.reason
               for n in rep.design)
    rep = initlab.inspect(build("normal(std=1e-4)"), x, y)
    assert "vanishing_activations" in {f.code for f in rep.findings}
