"""Fuzzing the boundaries (issue 11): whatever goes in, the answer is a result or one initlab
error that names the bad value, and nothing is written.

Bounded: a few hundred examples in all, derandomized (the same cases on every run), a few
seconds. Sizes stay small or absurd (10**12), so a case either runs fast or is refused by the
memory check before anything is allocated.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import initlab
from initlab.cli import EXIT_BUG, main
from initlab.errors import InitLabError
from initlab.init import get
from initlab.studies import Study

FUZZ = settings(max_examples=120, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
HUGE = 10**12

NUMBER_TEXTS = st.sampled_from(
    ["nan", "inf", "-inf", "1e300", "-1e300", "1e-320", "0", "-1", "1e400", "2", "0.5", "True",
     "'x'", "None", "[1]", "1e308", "-0.0", "10000000000000000000000"]
)
VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 10), st.booleans(),
    st.none(), st.text(max_size=5),
    st.sampled_from([10**30, -(10**30), 10**400, [1, 2], {"a": 1}]),
)
DIMS = st.one_of(st.integers(0, 40), st.just(HUGE), st.just(-1))
SHAPES = st.lists(DIMS, max_size=4).map(tuple)

# Schemes with their numeric arguments (the ones a user sets by number).
SCHEME_ARGS = {
    "constant": ["value"], "uniform": ["low", "high"], "normal": ["mean", "std"],
    "truncated_normal": ["mean", "std", "lower", "upper"], "orthogonal": ["gain"],
    "identity": ["gain"], "variance_scaling": ["scale"], "he_normal": [],
    "torch:kaiming_uniform": ["a"], "sparse": ["sparsity", "std"], "keras:glorot_normal": [],
}


def run_cli(argv: list[str]) -> int:
    """``main(argv)``, with argparse's own exit (a usage error) as its status."""
    try:
        return main(argv)
    except SystemExit as e:
        return int(e.code or 0)


def _mentions(message: str, *candidates: object) -> bool:
    """Whether the message names one of the inputs (as typed, or as Python prints it)."""
    texts = set()
    for c in candidates:
        texts.add(str(c))
        texts.add(repr(c))
        try:
            texts.add(repr(float(c)))  # "1e300" is printed 1e+300
        except (TypeError, ValueError, OverflowError):
            pass
    return any(t and t in message for t in texts)


@FUZZ
@given(name=st.sampled_from(sorted(SCHEME_ARGS)), data=st.data(), shape=SHAPES)
def test_initializers_draw_finite_weights_or_name_the_bad_value(name, data, shape):
    args = SCHEME_ARGS[name]
    given_args = {}
    if args:
        for arg in data.draw(st.lists(st.sampled_from(args), unique=True, max_size=2)):
            given_args[arg] = data.draw(NUMBER_TEXTS)
    spec = f"{name}({', '.join(f'{k}={v}' for k, v in given_args.items())})"
    try:
        w = get(spec)(shape, rng=0)
    except InitLabError as e:
        assert _mentions(str(e), spec, shape, *given_args.values()), (spec, shape, str(e))
        return
    assert w.shape == shape and np.isfinite(w).all()


@settings(FUZZ, max_examples=80)
@given(
    spec=st.one_of(st.sampled_from(["he_normal", "orthogonal", "identity", "zeros",
                                    "truncated_normal(lower=2, upper=3)"]),
                   NUMBER_TEXTS.map(lambda v: f"normal(std={v})")),
    parts=st.lists(st.one_of(st.integers(0, 12).map(str),
                             st.sampled_from(["", " ", "x", "-1", "1e3", "\u0661", str(HUGE)])),
                   min_size=1, max_size=4),
    sep=st.sampled_from([",", "x", ",,"]),
)
def test_cli_sample_answers_in_one_line(capsys, spec, parts, sep):
    shape = sep.join(parts)
    rc = run_cli(["sample", spec, f"--shape={shape}", "--bins", "3"])
    err = capsys.readouterr().err
    assert rc in (0, 2), err
    if rc == 2:
        assert err.count("\n") == 1 and err.startswith("initlab: error: "), err
        assert shape in err or _mentions(err, spec) or "GiB" in err or "TiB" in err, err


FIELDS = ["name", "dataset", "dataset_options", "layers", "activation", "output", "schemes",
          "seeds", "optimizer", "lr", "optimizer_options", "clip_norm", "clip_value", "epochs",
          "batch_size", "shuffle_seed", "log_every", "probes", "dtype", "layerz"]


@FUZZ
@given(st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=4))
def test_study_fields_build_or_name_the_field(data):
    try:
        Study.from_dict(data)
    except InitLabError as e:
        assert any(k in str(e) for k in data), (data, str(e))


@FUZZ
@given(content=st.binary(max_size=60) | st.text(max_size=60).map(str.encode),
       suffix=st.sampled_from([".toml", ".json"]))
def test_study_files_of_any_bytes_are_read_or_refused(content, suffix):
    folder = Path(tempfile.mkdtemp())
    try:
        path = folder / f"s{suffix}"
        path.write_bytes(content)
        try:
            Study.from_file(path)
        except InitLabError as e:
            assert str(path) in str(e) or "study field" in str(e), str(e)
    finally:
        shutil.rmtree(folder)


@FUZZ
@given(
    name=st.sampled_from(["moons", "circles", "spirals", "xor", "blobs", "digits"]),
    options=st.dictionaries(
        st.sampled_from(["n_train", "n_test", "noise", "factor", "turns", "n_classes",
                         "n_features", "cluster_std", "split", "normalize", "seed", "bogus"]),
        st.one_of(VALUES, st.integers(-3, 3000), st.just(HUGE), st.just(10**400),
                  st.sampled_from(["all:10/5", "test:1/1", "all:x"])),
        max_size=3),
)
def test_load_returns_data_or_names_the_bad_option(name, options):
    try:
        ds = initlab.data.load(name, **options)
    except InitLabError as e:
        msg = str(e)
        assert any(k in msg for k in options) or _mentions(msg, *options.values()), (
            options, msg)
        return
    assert np.isfinite(ds.x_train).all() and len(ds.x_train) == len(ds.y_train)


COMPARE_FLAGS = st.fixed_dictionaries(
    {},
    optional={
        "--layers": st.lists(st.sampled_from(["3", "0", "2x2", "", "12x", "1x40", "a",
                                              "1000000x3", "-4"]), min_size=1, max_size=3)
        .map(",".join),
        "--lr": NUMBER_TEXTS,
        "--epochs": st.sampled_from(["-1", "0", "1", "x"]),
        "--seeds": st.sampled_from(["0", "1", "2", "0,0", "1,-1", "a", "", "100000000"]),
        "--batch-size": st.sampled_from(["0", "full", "7", "-2", "1.5"]),
        "--data-option": st.sampled_from(["noise=inf", "noise=nan", "n_train=0", "n_test=0",
                                          "noise=0.1", "n_train=99999999999999", "bogus=1",
                                          "noise", "split=all:0/3"]),
        "--init": st.sampled_from(["he_normal", "normal(std=1e300)", "orthogonal(gain=nan)",
                                   "truncated_normal(lower=40, upper=50)", "zeros", "he_normall"]),
        "--activation": st.sampled_from(["relu", "softmax", "leaky_relu(alpha=nan)", "tanh"]),
        "--clip-norm": NUMBER_TEXTS,
    },
)


@settings(FUZZ, max_examples=60)
@given(flags=COMPARE_FLAGS)
def test_cli_compare_trains_or_refuses_before_writing(capsys, flags):
    folder = Path(tempfile.mkdtemp())
    out = folder / "out"
    argv = ["compare", "--dataset", "xor", "--layers", "3", "--epochs", "1", "--quiet"]
    for flag, value in flags.items():
        argv.append(f"{flag}={value}")  # "--lr=-inf": argparse reads "-inf" alone as a flag
    try:
        rc = run_cli([*argv, "--out", str(out)])
        err = capsys.readouterr().err
        assert rc in (0, 2) and rc != EXIT_BUG, err
        if rc == 2:
            assert err.count("\n") == 1 and err.startswith("initlab: error: "), err
            assert not out.exists(), err
            assert any(v and v in err for v in flags.values()) or _mentions(
                err, *flags.values()) or "GiB" in err or "TiB" in err, (flags, err)
        else:
            assert json.loads((out / "results.json").read_text())
    finally:
        shutil.rmtree(folder)


# ---------------------------------------------------------------- newer entry points
LATER = {
    "use_bias": st.one_of(st.booleans(), st.sampled_from([0, 1, "true", None, 2.5])),
    "bias_init": st.sampled_from(["auto", "zeros", "normal(std=0.2236)", "normal(std=nan)",
                                  "constant(value=1e400)", "he_normall", "", 3, None,
                                  "orthogonal", "uniform(-1, 1)"]),
    "init_recipe": st.sampled_from(["fixup", "he", "skipinit", "rezero", "fixupp", "", 1,
                                    None, "FIXUP"]),
    "layers": st.one_of(
        st.lists(st.sampled_from([4, "res4", "res4x2", "res64x50", "res0", "resx", "res-1",
                                  "res4x0", "res1000000x1000000", 0, "4", True]),
                 min_size=1, max_size=3),
        st.sampled_from(["res4x2", "4,res4", "res4x", "3,,4", "res 4"])),
}


@settings(FUZZ, max_examples=80)
@given(data=st.fixed_dictionaries({}, optional=LATER))
def test_later_study_fields_build_or_name_the_field(data):
    try:
        s = Study.from_dict({"dataset": "xor", "epochs": 1, **data})
    except InitLabError as e:
        assert any(k in str(e) for k in data), (data, str(e))
        return
    assert Study.from_dict(s.to_dict()).config_hash == s.config_hash


SWEEP_AXES = st.dictionaries(
    st.sampled_from(["depth", "width", "layers", "activation", "scheme", "bias_init", "lr",
                     "batch_size", "epochs", "seeds", "dataset.noise", "bogus"]),
    st.one_of(
        st.lists(st.one_of(st.integers(-2, 3), st.sampled_from(
            ["he_normal", "relu", "res2x1", "full", "normal(std=0.1)", 0.01, "nan", 1e400])),
            max_size=3),
        st.integers(-1, 3), st.sampled_from([10**12, "x", None, True]),
        st.fixed_dictionaries({}, optional={"start": VALUES, "stop": VALUES,
                                            "num": st.sampled_from([0, 2, 10**9, 2.5]),
                                            "step": VALUES, "log": st.booleans(),
                                            "template": st.sampled_from(
                                                ["normal(std={})", "he_normal", "{}{}"])})),
    max_size=3)


def _sweep_text(axes: dict) -> str:
    return json.dumps({"name": "fz", "study": {"dataset": "xor", "layers": [2], "epochs": 1,
                                               "dataset_options": {"n_train": 8, "n_test": 4}},
                       "axes": axes}, allow_nan=True)


@settings(FUZZ, max_examples=50)
@given(axes=SWEEP_AXES,
       flags=st.fixed_dictionaries({}, optional={
           "--workers": st.sampled_from(["0", "1", "-3", "x", "2.5"]),
           "--max-models": st.sampled_from(["0", "1", "-1", "y"]),
           "--metric": st.sampled_from(["loss", "val_accuracy", "bogus", ""])}))
def test_cli_sweep_trains_or_refuses_before_writing(capsys, axes, flags):
    folder = Path(tempfile.mkdtemp())
    out, cfg = folder / "out", folder / "sw.json"
    cfg.write_text(_sweep_text(axes))
    argv = ["sweep", "--config", str(cfg), "--quiet",
            *(f"{k}={v}" for k, v in flags.items()), "--out", str(out)]
    try:
        n_runs = None
        try:
            n_runs = initlab.studies.Sweep.from_file(cfg).n_runs
        except InitLabError:
            pass
        if n_runs is not None and n_runs > 12:
            return  # a valid but large grid: not what this test is for
        rc = run_cli(argv)
        err = capsys.readouterr().err
        assert rc in (0, 2) and rc != EXIT_BUG, err
        if rc == 2:
            assert err.count("\n") == 1 and err.startswith("initlab: error: "), err
            assert not out.exists(), err
    finally:
        shutil.rmtree(folder)


@settings(FUZZ, max_examples=40)
@given(name=st.sampled_from(["moons", "trainability", "theory", "depth", "bogus", ""]),
       bad=st.sampled_from([("--seeds", "0"), ("--seeds", "-2"), ("--seeds", "x"),
                            ("--seeds", "1e3"), ("--dask", "local:0"), ("--dask", "remote"),
                            ("--dask", "local:x"), ("--dask", "local:-1")]),
       quick=st.booleans())
def test_cli_reproduce_refuses_bad_flags_before_writing(capsys, name, bad, quick):
    folder = Path(tempfile.mkdtemp())
    out = folder / "out"
    argv = ["reproduce", name, f"{bad[0]}={bad[1]}", "--quiet", "--out", str(out)]
    if quick:
        argv.append("--quick")
    try:
        rc = run_cli(argv)
        err = capsys.readouterr().err
        assert rc == 2, (argv, err)
        assert err.count("\n") == 1 and err.startswith("initlab: error: "), err
        assert not out.exists(), err
    finally:
        shutil.rmtree(folder)


MODELS = '''
import torch
from torch import nn


def mlp(width=8):
    return nn.Sequential(nn.Linear(4, width), nn.ReLU(), nn.Linear(width, 3))


def cnn():
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))


def broken():
    raise RuntimeError("the factory itself fails")


not_callable = 3
'''


@settings(FUZZ, max_examples=30)
@given(factory=st.sampled_from(["mlp", "cnn", "broken", "not_callable", "missing", ""]),
       path=st.sampled_from(["models.py", "nope.py", "models.txt", ""]),
       command=st.sampled_from(["inspect", "coord-check"]),
       flags=st.fixed_dictionaries({}, optional={
           "--input-shape": st.sampled_from(["4", "1,6,6", "0", "-1", "x", "4,", "1000000000"]),
           "--classes": st.sampled_from(["3", "0", "-1", "x", "10"]),
           "--n-samples": st.sampled_from(["8", "0", "x"]),
           "--lr": NUMBER_TEXTS,
           "--widths": st.sampled_from(["8,16", "8", "0,8", "x", "8,8"]),
           "--steps": st.sampled_from(["1", "-1", "0"]),
           "--seeds": st.sampled_from(["1", "0", "2"]),
       }))
def test_torch_cli_answers_or_names_the_bad_value(capsys, factory, path, command, flags):
    import pytest

    pytest.importorskip("torch")
    folder = Path(tempfile.mkdtemp())
    (folder / "models.py").write_text(MODELS)
    (folder / "models.txt").write_text(MODELS)
    target = f"{folder / path}:{factory}" if path else factory
    if command == "inspect":
        flags = {k: v for k, v in flags.items() if k not in ("--widths", "--steps", "--seeds")}
        argv = ["inspect", "--torch", target]
    else:
        flags = {k: v for k, v in flags.items() if k != "--lr" or v not in ("nan",)}
        argv = ["coord-check", target]
        if "--widths" not in flags:
            flags["--widths"] = "8,16"
        if "--input-shape" not in flags:
            flags["--input-shape"] = "4"
    argv += [f"{k}={v}" for k, v in flags.items()]
    try:
        rc = run_cli(argv)
        err = capsys.readouterr().err
        assert rc in (0, 2) and rc != EXIT_BUG, (argv, err)
        if rc == 2:
            assert err.count("\n") == 1 and err.startswith("initlab: error: "), (argv, err)
    finally:
        shutil.rmtree(folder)
