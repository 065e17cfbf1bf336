"""Sequential: building K models, inits and their reasons, passes, persistence, errors."""

from __future__ import annotations

import numpy as np
import pytest

from initlab.errors import ConfigError, DataError, InitLabError, ShapeError, SpecError
from initlab.init import get as get_init
from initlab.nn import Dense, Sequential


def _mlp(K=1, inits=None, seeds=None, out="softmax", dtype=np.float32, hidden="relu"):
    return Sequential([Dense(8, activation=hidden), Dense(5, activation="tanh"),
                       Dense(3, activation=out)], input_dim=4, n_models=K, inits=inits,
                      seeds=seeds, dtype=dtype)


def test_parameters_have_the_model_axis_first():
    m = _mlp(K=3)
    assert [ly.W.shape for ly in m.layers] == [(3, 4, 8), (3, 8, 5), (3, 5, 3)]
    assert [ly.b.shape for ly in m.layers] == [(3, 8), (3, 5), (3, 3)]
    assert all(ly.W.dtype == np.float32 for ly in m.layers)
    assert _mlp(dtype=np.float64).layers[0].W.dtype == np.float64


def test_model_k_starts_where_a_single_model_with_its_seed_starts():
    inits = ["he_normal", "glorot_uniform", "normal(std=0.3)"]
    ens = _mlp(K=3, inits=inits, seeds=[5, 6, 7])
    for k in range(3):
        one = _mlp(K=1, inits=[inits[k]], seeds=[5 + k])
        for a, b in zip(ens.layers, one.layers, strict=True):
            np.testing.assert_array_equal(a.W[k], b.W[0])
            np.testing.assert_array_equal(a.b[k], b.b[0])


def test_first_layer_draws_what_the_init_package_draws():
    m = Sequential([Dense(6, activation="relu", init="he_uniform")], input_dim=3, seeds=[11])
    rng = np.random.default_rng(11)
    expected = get_init("he_uniform")((3, 6), rng=rng, dtype=np.float32)
    np.testing.assert_array_equal(m.layers[0].W[0], expected)


def test_auto_init_follows_the_activation_and_the_summary_says_why():
    m = Sequential([Dense(8, activation="relu"), Dense(8, activation="selu"),
                    Dense(8, activation="tanh"), Dense(2, activation="softmax")], input_dim=3)
    assert m.init_specs[0] == ["he_normal", "lecun_normal", "glorot_uniform", "glorot_uniform"]
    s = m.summary()
    for reason in ("auto -> he_normal (relu)", "auto -> lecun_normal (selu)",
                   "auto -> glorot_uniform (tanh)", "auto -> glorot_uniform (softmax)"):
        assert reason in s
    assert f"{4 * 8 + 9 * 8 + 9 * 8 + 9 * 2:,}" in s  # parameters per model


def test_a_model_scheme_replaces_auto_but_not_a_named_init():
    m = Sequential([Dense(4, activation="relu"), Dense(1, activation="sigmoid",
                                                       init="glorot_normal")],
                   input_dim=2, n_models=2, inits=["zeros", None])
    assert m.init_specs == [["zeros", "glorot_normal"], ["he_normal", "glorot_normal"]]
    assert not m.layers[0].W[0].any() and m.layers[0].W[1].any()
    assert "zeros (model 0)" in m.summary()


def test_the_W_view_writes_into_the_model():
    m = _mlp()
    m.layers[1].W = np.ones((1, 8, 5))
    m.layers[1].b = 0.5
    assert (m.params.W[1] == 1).all() and (m.params.b[1] == 0.5).all()
    with pytest.raises(ShapeError):
        m.layers[1].W = np.ones((8, 4))


def test_predict_and_forward_trace():
    m = _mlp(K=2)
    x = np.random.default_rng(0).normal(size=(6, 4))
    p = m.predict(x)
    assert p.shape == (2, 6, 3)
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=1e-6)
    out, tr = m.forward(x, trace=True)
    np.testing.assert_allclose(out, p, rtol=1e-6)
    assert tr.n_models == 2 and not tr.has_gradients and tr.loss is None
    assert [lt.pre.shape for lt in tr.layers] == [(2, 6, 8), (2, 6, 5), (2, 6, 3)]
    # each layer's pre-activation is the previous activation times W plus b
    for i in (1, 2):
        prev = tr.layers[i - 1].post
        want = prev @ m.layers[i].W + m.layers[i].b[:, None, :]
        np.testing.assert_allclose(tr.layers[i].pre, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(tr.layers[0].post, np.maximum(tr.layers[0].pre, 0))
    # predict in small chunks gives the same answer
    np.testing.assert_allclose(m.predict(x, batch_size=4), p, rtol=1e-6)


def test_trace_has_gradients_loss_and_owns_its_arrays():
    m = _mlp(K=2, dtype=np.float64)
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(5, 4)), rng.integers(0, 3, 5)
    tr = m.trace(x, y)
    assert tr.has_gradients
    assert [lt.grad_W.shape for lt in tr.layers] == [(2, 4, 8), (2, 8, 5), (2, 5, 3)]
    np.testing.assert_allclose(tr.loss, m.evaluate(x, y)["loss"], rtol=1e-12)
    # softmax + cross-entropy: dL/dz = (p - onehot) / n
    p = m.predict(x)
    np.testing.assert_allclose(tr.layers[-1].grad_pre, (p - np.eye(3)[y]) / 5, atol=1e-12)
    before = tr.layers[0].pre.copy()
    m.trace(rng.normal(size=(5, 4)), y)
    np.testing.assert_array_equal(tr.layers[0].pre, before)


def test_evaluate_zeros_gives_ln_k_and_the_majority_rate():
    m = Sequential([Dense(3, activation="softmax", init="zeros")], input_dim=2, n_models=2)
    y = np.array([0, 0, 0, 1, 2])
    r = m.evaluate(np.ones((5, 2)), y)
    np.testing.assert_allclose(r["loss"], np.log(3), rtol=1e-6)
    np.testing.assert_allclose(r["accuracy"], 0.6)  # argmax of a tie is class 0


def test_save_and_load_round_trip(tmp_path):
    a = _mlp(K=2, seeds=[1, 2])
    b = _mlp(K=2, seeds=[3, 4])
    a.save(tmp_path / "w.npz")
    b.load(tmp_path / "w.npz")
    for la, lb in zip(a.layers, b.layers, strict=True):
        np.testing.assert_array_equal(la.W, lb.W)
        np.testing.assert_array_equal(la.b, lb.b)
    x = np.random.default_rng(0).normal(size=(3, 4))
    np.testing.assert_array_equal(a.predict(x), b.predict(x))
    with np.load(tmp_path / "w.npz", allow_pickle=False) as f:  # no pickle needed
        assert "architecture" in f.files


@pytest.mark.parametrize("other", [
    lambda: _mlp(K=3),
    lambda: Sequential([Dense(8), Dense(5), Dense(4)], input_dim=4, n_models=2),
    lambda: Sequential([Dense(8), Dense(3)], input_dim=4, n_models=2),
    lambda: Sequential([Dense(8), Dense(5), Dense(3), Dense(3)], input_dim=4, n_models=2),
])
def test_loading_into_another_architecture_is_a_shape_error(tmp_path, other):
    _mlp(K=2).save(tmp_path / "w.npz")
    with pytest.raises(ShapeError):
        other().load(tmp_path / "w.npz")


def test_loading_a_missing_file_is_a_store_error(tmp_path):
    with pytest.raises(InitLabError, match="cannot read"):
        _mlp().load(tmp_path / "nope.npz")


@pytest.mark.parametrize("make, error, match", [
    (lambda: Sequential([Dense(2)], input_dim=2, n_models=2, inits=["zeros"]), ConfigError,
     "inits has 1 entries for n_models=2"),
    (lambda: Sequential([Dense(2)], input_dim=2, n_models=3, seeds=[1, 2]), ConfigError,
     "seeds has 2 entries"),
    (lambda: Sequential([Dense(2, activation="relux")], input_dim=2), SpecError,
     "did you mean 'relu'"),
    (lambda: Sequential([Dense(2, init="he_normall")], input_dim=2), SpecError, "he_normal"),
    (lambda: Sequential([], input_dim=2), ConfigError, "non-empty"),
    (lambda: Sequential([Dense(0)], input_dim=2), ConfigError, "positive"),
    (lambda: Sequential([Dense(2)], input_dim=2, dtype=np.int32), ConfigError, "float32"),
    (lambda: Sequential([Dense(2, activation="leaky_relu(beta=1)")], input_dim=2), SpecError,
     "leaky_relu"),
])
def test_construction_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_data_errors_name_the_problem():
    m = _mlp()
    with pytest.raises(ShapeError, match=r"\(5, 3\).*input_dim=4"):
        m.predict(np.zeros((5, 3)))
    x = np.zeros((5, 4))
    x[2, 1] = np.nan
    with pytest.raises(DataError, match="NaN"):
        m.predict(x)
    with pytest.raises(DataError, match=r"label 3 is outside \[0, 3\)"):
        m.evaluate(np.zeros((3, 4)), [0, 1, 3])
    with pytest.raises(DataError, match="label -1"):
        m.fit(np.zeros((3, 4)), [0, -1, 2])
    with pytest.raises(ShapeError, match="y has 2 samples but x has 3"):
        m.fit(np.zeros((3, 4)), [0, 1])
    with pytest.raises(SpecError, match="did you mean 'adam'"):
        m.fit(np.zeros((3, 4)), [0, 1, 2], optimizer="adma")
    with pytest.raises(SpecError, match="did you mean 'mse'"):
        m.fit(np.zeros((3, 4)), [0, 1, 2], loss="mes")
    with pytest.raises(SpecError, match="needs an output activation"):
        m.fit(np.zeros((3, 4)), [0, 1, 2], loss="binary_crossentropy")
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        Sequential([Dense(1, activation="sigmoid")], input_dim=4).fit(np.zeros((2, 4)), [0, 2])
    with pytest.raises(ConfigError, match="batch_size"):
        m.fit(np.zeros((3, 4)), [0, 1, 2], batch_size=0)
    with pytest.raises(ConfigError, match="x_val"):
        m.fit(np.zeros((3, 4)), [0, 1, 2], validation_data=np.zeros((3, 4)))
    with pytest.raises(ShapeError, match="x_val"):
        m.fit(np.zeros((3, 4)), [0, 1, 2], validation_data=(np.zeros((2, 2)), [0, 1]))


def test_a_layer_belongs_to_one_model():
    d = Dense(3)
    Sequential([d], input_dim=2)
    with pytest.raises(ConfigError, match="one model"):
        Sequential([d], input_dim=2)
