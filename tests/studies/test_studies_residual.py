"""Studies with residual layers, an init recipe and bias control (issue 14)."""

from __future__ import annotations

import numpy as np
import pytest

from initlab.cli import main
from initlab.errors import ConfigError
from initlab.studies import Study
from initlab.studies.runner import build_model


def test_residual_fields_round_trip_and_old_hashes_stay():
    s = Study(dataset="moons", layers="16,res16x3", init_recipe="fixup", use_bias=False,
              schemes=["he_normal"], seeds=2, epochs=3)
    assert s.layers == (16, "res16", "res16", "res16")
    back = Study.from_dict(s.to_dict())
    assert back == s and back.config_hash == s.config_hash
    assert s.config_hash != s.replace(init_recipe="rezero").config_hash
    # a study without the new fields writes (and hashes) exactly what it did before them
    plain = Study(layers=(12, 6), seeds=2, validate_names=False).to_dict()
    assert not {"init_recipe", "use_bias", "bias_init"} & set(plain)


def test_toml_round_trip(tmp_path):
    s = Study(layers=[8, "res8x2"], init_recipe="rezero", bias_init="normal(std=0.2236)",
              epochs=2)
    p = s.save(tmp_path / "s.toml")
    assert Study.from_file(p) == s


def test_build_model_follows_the_recipe_architecture():
    s = Study(layers="8,res16x2", init_recipe="fixup", epochs=1)
    m = build_model(s, 2, 2, [("he_normal", 0), ("he_normal", 1)])
    blocks = m._graph.blocks
    assert [b.shortcut for b in blocks] == ["projection", "identity"]
    assert all(b.scalar_biases and b.alpha == "trainable" for b in blocks)
    assert all(not ly.use_bias for b in blocks for ly in b.layers)
    assert (m.dense_layers[-1].W == 0).all()  # fixup's zero classifier


def test_a_residual_study_trains_and_stores(tmp_path):
    s = Study(dataset="moons", layers="16,res16x4", init_recipe="skipinit",
              schemes=["he_normal"], seeds=2, epochs=5, lr=0.1, batch_size=32)
    r = s.run(store=tmp_path / "st.sqlite", progress=False, workers=1, keep_weights=True)
    assert r.complete and len(r.runs) == 2
    acc = np.array([run.final["val_accuracy"] for run in r.runs])
    assert (acc > 0.75).all()  # five epochs of SGD at lr 0.1 learn the moons well above chance
    m = r.model("he_normal", 1)
    x = np.random.default_rng(0).normal(size=(5, 2))
    again = build_model(s, 2, 2, [("he_normal", 1)])
    assert not np.array_equal(m.predict(x), again.predict(x))  # trained, not fresh
    assert m._graph is not None and len(m._graph.blocks) == 4


@pytest.mark.parametrize("changes, match", [
    ({"init_recipe": "fixup", "layers": (8,)}, "residual layer"),
    ({"init_recipe": "fixit", "layers": "res8"}, "did you mean 'fixup'"),
    ({"layers": "8,rez8"}, "residual blocks like"),
    ({"use_bias": "no"}, "true or false"),
    ({"use_bias": False, "bias_init": "zeros"}, "use_bias is false"),
    ({"bias_init": "normall(std=1)"}, "bias_init"),
])
def test_bad_fields_name_the_field(changes, match):
    with pytest.raises(ConfigError, match=match):
        Study(**{"layers": (8,), **changes})


def test_cli_flags(tmp_path, capsys):
    code = main(["compare", "--layers", "8,res8x2", "--recipe", "rezero", "--no-bias",
                 "--epochs", "2", "--seeds", "1", "--quiet", "--out", str(tmp_path / "o")])
    assert code == 0
    text = (tmp_path / "o" / "study.toml").read_text()
    assert 'init_recipe = "rezero"' in text and "use_bias = false" in text
    code = main(["compare", "--layers", "8", "--recipe", "fixup", "--epochs", "2", "--quiet",
                 "--out", str(tmp_path / "bad")])
    err = capsys.readouterr().err
    assert code != 0 and err.count("\n") == 1 and "init_recipe" in err
    assert not (tmp_path / "bad").exists()
