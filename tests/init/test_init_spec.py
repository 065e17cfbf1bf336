"""The spec parser and get(): round trips, errors that name the bad value, hypothesis."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from initlab.errors import SpecError
from initlab.init import Initializer, get, names, schemes
from initlab.init.spec import parse


def test_parse_forms():
    p = parse(" keras : variance_scaling( 2 , mode = 'fan_out', distribution=UNIFORM, ) ")
    assert p.flavor == "keras" and p.name == "variance_scaling"
    assert p.args == (2.0,)
    assert p.kwargs == (("mode", "fan_out"), ("distribution", "UNIFORM"))
    assert parse("x(true, FALSE, none, -inf, 1e-3)").args == (True, False, None, -np.inf, 1e-3)


@pytest.mark.parametrize("scheme", list(schemes()), ids=lambda s: s.name)
def test_every_scheme_round_trips(scheme):
    required = {
        "torch:constant": "(val=2)",
        "jax:constant": "(2)",
        "torch:sparse": "(0.2)",
        "jax:variance_scaling": "(2, fan_in, uniform)",
    }
    ini = get(scheme.name + required.get(scheme.name, ""))
    assert ini.name == scheme.name
    again = get(str(ini))
    assert again == ini and str(again) == str(ini)
    for alias in scheme.aliases:
        assert get(alias) == get(scheme.name + required.get(scheme.name, ""))


@pytest.mark.parametrize(
    "spec,canonical",
    [
        ("normal(std=0.1)", "normal(std=0.1)"),
        ("normal(0, 0.1)", "normal(std=0.1)"),
        ("uniform(-0.05, 0.05)", "uniform(low=-0.05, high=0.05)"),
        ("He_Normal", "he_normal"),
        ("kaiming_normal(truncated=true)", "he_normal(truncated=True)"),
        ("xavier_uniform", "glorot_uniform"),
        (
            "variance_scaling(scale=2, mode=fan_in, distribution=uniform)",
            "variance_scaling(scale=2.0, distribution=uniform)",
        ),
        ("torch:kaiming_uniform(a=0, mode=FAN_OUT)", "torch:kaiming_uniform(mode=fan_out)"),
        ("keras:normal", "keras:random_normal"),
    ],
)
def test_canonical_strings(spec, canonical):
    assert str(get(spec)) == canonical


def test_semantic_equality():
    assert get("he_normal") == get("variance_scaling(2, fan_in, normal)")
    assert get("he_normal") != get("he_normal(truncated=True)")
    assert get("he_normal(truncated=True)") == get("jax:he_normal")
    assert get("keras:he_normal") != get("jax:he_normal")  # keras's max(1, n) fan rule
    assert get("torch:kaiming_normal") == get("he_normal")
    assert hash(get("he_normal")) == hash(get("kaiming_normal"))


def test_get_passes_objects_through_and_direct_objects_print_back():
    from initlab.init import Normal, VarianceScaling

    ini = VarianceScaling(2.0, "fan_out", "uniform")
    assert get(ini) is ini
    assert get(str(ini)) == ini
    assert get(str(Normal(0.0, 0.3))) == Normal(0.0, 0.3)
    assert isinstance(get("zeros"), Initializer)


@pytest.mark.parametrize(
    "spec,fragments",
    [
        ("he_normall", ["'he_normall'", "did you mean 'he_normal'", "glorot_uniform"]),
        ("keras:he_normall", ["'keras:he_normall'", "did you mean 'keras:he_normal'"]),
        ("tf:he_normal", ["'tf'", "keras, torch"]),
        ("normal(stdev=0.1)", ["'stdev'", "did you mean 'std'", "mean, std"]),
        ("normal(std=-1)", ["-1", "'std'", ">= 0"]),
        ("normal(std=abc)", ["'abc'", "'std'"]),
        ("variance_scaling(mode=fan_middle)", ["'fan_middle'", "'mode'", "fan_in, fan_out"]),
        ("variance_scaling(distribution=cauchy)", ["'cauchy'", "truncated_normal"]),
        ("keras:variance_scaling(mode=fan_geo_avg)", ["'fan_geo_avg'", "fan_avg"]),
        ("he_normal(truncated=1)", ["1.0", "'truncated'", "True or False"]),
        ("uniform(1, 0)", ["0.0", "'high'"]),
        ("uniform(1, 2, 3)", ["at most 2", "'uniform(1, 2, 3)'"]),
        ("normal(std=1, std=2)", ["'std'", "twice"]),
        ("torch:sparse", ["'sparsity'"]),
        ("torch:kaiming_uniform(nonlinearity=swish)", ["'swish'", "relu"]),
        ("torch:trunc_normal(a=1, b=0)", ["0.0", "'b'"]),
        ("normal(std=1e999)", ["inf", "'std'"]),
        ("normal(std=", ["'normal(std='"]),
        ("he_normal)", ["'he_normal)'"]),
        ("", ["''"]),
    ],
)
def test_errors_name_the_bad_value_and_the_allowed(spec, fragments):
    with pytest.raises(SpecError) as err:
        get(spec)
    msg = str(err.value)
    assert "\n" not in msg
    for f in fragments:
        assert f in msg, (f, msg)


@pytest.mark.parametrize("bad", [None, 3, 2.5, ["he_normal"], object()])
def test_get_rejects_non_specs(bad):
    with pytest.raises(SpecError, match="spec string"):
        get(bad)


def test_names_lists_everything():
    all_names = names()
    for n in [
        "zeros",
        "he_normal",
        "kaiming_uniform",
        "xavier_normal",
        "keras:glorot_normal",
        "torch:linear_default",
        "jax:uniform",
        "zero_init",
        "delta_orthogonal",
    ]:
        assert n in all_names
    assert all(":" not in n for n in names(None))
    assert all(n.startswith("torch:") for n in names("torch"))


_ALPHABET = st.sampled_from(
    list("abcdefghijklmnopqrstuvwxyz_:()=,.-+'\" 0123456789eE")
    + ["he_normal", "normal", "(", ")", "std=", "keras:", "inf", "true", "\x00", "é"]
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=40), st.lists(_ALPHABET, max_size=12).map("".join)))
def test_any_text_parses_or_raises_spec_error(text):
    try:
        ini = get(text)
    except SpecError as e:
        msg = str(e)
        assert "\n" not in msg
        # the message names the bad value: the text itself, or a piece of it
        pieces = [text, text.strip(), *[p for p in _words(text) if len(p) > 0]]
        assert any(repr(p) in msg or p in msg for p in pieces), (text, msg)
    else:
        assert isinstance(ini, Initializer)
        assert get(str(ini)) == ini


def _words(text: str) -> list[str]:
    import re

    return re.findall(r"[A-Za-z0-9_.+-]+", text)


def test_directly_built_objects_print_back_to_themselves():
    from initlab.init import (
        Constant,
        DeltaOrthogonal,
        Identity,
        Normal,
        Orthogonal,
        Sparse,
        TruncatedNormal,
        Uniform,
        VarianceScaling,
        ZerO,
    )

    objects = [
        Constant(0.25),
        Uniform(-0.3, 0.2),
        Normal(1.0, 0.5),
        TruncatedNormal(0.0, 0.1, -1.0, 3.0, corrected=False),
        VarianceScaling(2.0, "fan_out", "truncated_normal", "keras"),
        Orthogonal(1.5),
        Identity(0.5),
        Sparse(0.2, 0.05, "fan_out"),
        DeltaOrthogonal(2.0),
        ZerO(),
    ]
    for obj in objects:
        assert get(str(obj)) == obj, str(obj)


def test_direct_construction_validates_like_specs():
    from initlab.init import Normal, VarianceScaling

    with pytest.raises(SpecError, match="'fan_none'"):
        VarianceScaling(1.0, "fan_none")
    with pytest.raises(SpecError, match="-0.5"):
        Normal(0.0, -0.5)


def test_initializers_pickle_with_their_spec():
    import pickle

    for spec in ["he_normal", "torch:kaiming_uniform(a=0.1)", "torch:linear_default", "zero_init"]:
        ini = get(spec)
        back = pickle.loads(pickle.dumps(ini))
        assert back == ini and str(back) == str(ini)
