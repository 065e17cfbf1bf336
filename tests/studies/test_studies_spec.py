"""Study: validation names the field, the value and the allowed; files; the config hash."""

from __future__ import annotations

import json
import pickle

import pytest

from initlab.errors import ConfigError, InitLabError
from initlab.studies import Study, parse_layers

BASE = dict(dataset="moons", layers=(12, 6), schemes=("zeros", "he_normal"), seeds=3, epochs=5)


def test_defaults_are_normalised():
    s = Study(**BASE, batch_size="full", dataset_options={"noise": 0.3})
    assert s.layers == (12, 6) and s.seeds == (0, 1, 2) and s.batch_size is None
    assert s.runs == tuple((sc, k) for sc in ("zeros", "he_normal") for k in range(3))
    assert dict(s.dataset_options) == {"noise": 0.3}


@pytest.mark.parametrize(
    "field, value, needle",
    [
        ("epochs", 0, "an int >= 1"),
        ("epochs", 2.5, "an int >= 1"),
        ("lr", -0.1, "> 0"),
        ("lr", float("nan"), "> 0"),
        ("seeds", [1, 1], "each seed once"),
        ("seeds", [], "non-empty"),
        ("schemes", [], "non-empty list"),
        ("schemes", ["zeros", "zeros"], "each entry once"),
        ("layers", "12,x", "hidden widths"),
        ("batch_size", 0, "an int >= 1"),
        ("output", "tanh", "sigmoid, softmax"),
        ("dtype", "float16", "float32, float64"),
        ("clip_norm", 0, "> 0"),
        ("dataset_options", {"noise": [1, 2]}, "string, number or boolean"),
    ],
)
def test_bad_field_names_field_value_and_allowed(field, value, needle):
    with pytest.raises(ConfigError) as e:
        Study(**{**BASE, field: value})
    msg = str(e.value)
    assert field in msg and needle in msg


@pytest.mark.parametrize(
    "field, value, allowed",
    [
        ("schemes", ["he_normall"], "he_normal"),
        ("activation", "rellu", "relu"),
        ("dataset", "moonz", "moons"),
        ("optimizer", "adamm", "adam"),
        ("dataset_options", {"nois": 0.1}, "noise"),
        ("optimizer_options", {"momentun": 0.9}, "momentum"),
    ],
)
def test_unknown_names_come_from_the_registries(field, value, allowed):
    with pytest.raises(ConfigError) as e:
        Study(**{**BASE, field: value})
    msg = str(e.value)
    assert field in msg and repr(next(iter(value)) if isinstance(value, dict) else
                                 value[0] if isinstance(value, list) else value) in msg
    assert f"did you mean '{allowed}'" in msg


def test_machine_options_are_not_study_options():
    with pytest.raises(ConfigError, match="data_dir"):
        Study(**{**BASE, "dataset": "mnist", "dataset_options": {"data_dir": "/x"}})
    with pytest.raises(ConfigError, match="dtype"):
        Study(**{**BASE, "dataset_options": {"dtype": "float64"}})


def test_names_can_be_left_unchecked_then_checked():
    s = Study(**{**BASE, "schemes": ["nope"]}, validate_names=False)
    with pytest.raises(ConfigError, match="unknown scheme 'nope'"):
        s.check_names()


def test_unknown_field_in_a_file_suggests_the_closest(tmp_path):
    p = tmp_path / "s.json"
    p.write_text(json.dumps({"epoch": 3}))
    with pytest.raises(ConfigError, match="did you mean 'epochs'"):
        Study.from_file(p)


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_file_round_trip_keeps_study_and_hash(tmp_path, suffix):
    s = Study(**BASE, name="demo", clip_norm=1.5, optimizer="sgd",
              optimizer_options={"momentum": 0.9}, dataset_options={"noise": 0.25}, log_every=2)
    back = Study.from_file(s.save(tmp_path / f"s{suffix}"))
    assert back == s and back.config_hash == s.config_hash


def test_toml_written_by_hand(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text('dataset = "moons"\nlayers = "100x2,5"\nschemes = ["he_normal"]\n'
                 'seeds = [3, 7]\nbatch_size = "full"\n[dataset_options]\nnoise = 0.1\n')
    s = Study.from_file(p)
    assert s.layers == (100, 100, 5) and s.seeds == (3, 7) and s.batch_size is None


@pytest.mark.parametrize("text, kind", [("layers = [", "toml"), ("{", "json")])
def test_broken_files_are_config_errors(tmp_path, text, kind):
    p = tmp_path / f"s.{kind}"
    p.write_text(text)
    with pytest.raises(ConfigError, match=f"not valid {kind}"):
        Study.from_file(p)


def test_missing_file_and_extension(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        Study.from_file(tmp_path / "absent.toml")
    with pytest.raises(ConfigError, match=".toml, .json"):
        Study.from_file(tmp_path / "s.yaml")


def test_config_hash_covers_the_recipe_not_the_grid():
    s = Study(**BASE)
    assert s.config_hash == Study(**BASE).config_hash
    assert s.config_hash == s.replace(seeds=10, schemes=["glorot_uniform"], name="x").config_hash
    for change in ({"lr": 0.02}, {"epochs": 6}, {"batch_size": 8}, {"layers": (12,)},
                   {"dataset_options": {"noise": 0.3}}, {"shuffle_seed": 1}):
        assert s.replace(**change).config_hash != s.config_hash, change
    assert s.replace(lr=0.01).config_hash == s.replace(lr=1e-2).config_hash


def test_replace_validates_again():
    with pytest.raises(ConfigError, match="epochs"):
        Study(**BASE).replace(epochs=-1)
    with pytest.raises(ConfigError, match="did you mean 'epochs'"):
        Study(**BASE).replace(epoch=1)


def test_pickles_as_data():
    s = Study(**BASE, dataset_options={"noise": 0.1})
    assert pickle.loads(pickle.dumps(s)) == s


def test_make_optimizer_chains_clipping_first():
    s = Study(**BASE, optimizer="adam", lr=0.01, clip_value=0.5)
    assert str(s.make_optimizer()).startswith("chain(clip_by_value(0.5), adam(lr=0.01")


def test_parse_layers():
    assert parse_layers("12,6") == (12, 6)
    assert parse_layers("100x3") == (100, 100, 100)
    assert parse_layers("none") == parse_layers(" None ") == ()
    for bad in ("0", "12,-1", "ax2", "3x0", "", " ", "12,,6", "12,", "12x", "x3", "1e2",
                "١٢", "1x100000"):
        with pytest.raises(InitLabError):
            parse_layers(bad)
