"""model.summary() names every layer's init and why, for any number of models, in 100 columns."""

from __future__ import annotations

from initlab.nn import Dense, Sequential

SIX = ["zeros", "random_uniform", "glorot_uniform", "glorot_normal", "he_uniform", "he_normal"]


def test_the_readme_model_shows_each_models_init():
    m = Sequential([Dense(128, activation="relu"), Dense(64, activation="relu"),
                    Dense(10, activation="softmax")], input_dim=64, n_models=6, inits=SIX)
    s = m.summary()
    for k, scheme in enumerate(SIX):
        assert f"  model {k}: {scheme}\n" in s + "\n"
    assert "different schemes" not in s
    assert max(len(line) for line in s.splitlines()) <= 100


def test_auto_reasons_are_shown_per_layer_and_equal_models_share_a_line():
    m = Sequential([Dense(8, activation="relu"), Dense(3, activation="softmax")], input_dim=4,
                   n_models=6, inits=["zeros", "ones", "he_uniform", None, None, None])
    s = m.summary()
    assert "models 3-5: dense_1: auto -> he_normal (relu); dense_2: auto -> glorot_uniform " \
           "(softmax)" in " ".join(s.split())
    assert s.count("model 3") == 0 and "model 0: zeros" in s


def test_one_or_two_schemes_stay_in_the_table():
    m = Sequential([Dense(8, activation="tanh")], input_dim=4, n_models=2,
                   inits=["zeros", None])
    s = m.summary()
    assert "zeros (model 0); auto -> glorot_uniform (tanh)" in s
    assert "Init per model" not in s
