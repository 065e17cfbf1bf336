"""Issue 11's boundary cases: each bad input is one initlab error naming the bad value, in the
interface's own words, and nothing is written. One test per case the issue names."""

from __future__ import annotations

import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import initlab
from initlab.cli import EXIT_BUG, main
from initlab.errors import ConfigError, DataError, InitLabError, ShapeError, SpecError, param
from initlab.init import gain, get, names
from initlab.init.checks import check_memory
from initlab.nn import Dense, Sequential, activations
from initlab.studies import Study

SRC = str(Path(__file__).resolve().parents[1] / "src")
TINY = ["--dataset", "xor", "--layers", "3", "--epochs", "2", "--seeds", "1", "--quiet"]


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("initlab: error: "), err
    assert "Traceback" not in err
    return err


# ---------------------------------------------------------------- errors escaping the CLI
def test_a_shape_that_cannot_fit_is_refused_with_the_size(capsys):
    assert main(["sample", "he_normal", "--shape", "10000000,10000000"]) == 2
    err = one_error_line(capsys)
    assert "(10000000, 10000000)" in err and "TiB" in err and "available" in err


def test_check_memory_names_the_size_it_needs():
    with pytest.raises(ShapeError, match=r"needs about 37\.3 GiB; this machine has 8\.0 GiB"):
        check_memory(100_000 * 100_000 * 4, "x", available=8 * 2**30)
    check_memory(2**30, "x", available=2**31)  # fits: no error


def test_theory_failure_is_a_config_error_naming_the_flag(capsys):
    assert main(["recommend", "--activation", "sigmoid", "--bias-std", "100"]) == 2
    err = one_error_line(capsys)
    assert "--bias-std 100" in err and "sigma_b^2 = 10000" in err and "edge of chaos" in err


def test_recommend_selu_at_a_large_bias_std_is_resolved(capsys):
    """It was a root-bracket error (the fixed quadrature could not resolve q* ~ 300);
    tests/diagnose/test_diag_theory_quad.py checks the numbers against scipy's quad."""
    from initlab.diagnose import theory

    assert main(["recommend", "--activation", "selu", "--bias-std", "4"]) == 0
    out = capsys.readouterr().out
    assert f"critical sigma_w^2   {theory.critical_sigma_w2('selu', 16.0):.4f}" in out
    assert "q*                   inf" not in out


def test_sklearn_rejection_is_caught_where_options_enter(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["compare", *TINY, "--dataset", "moons", "--data-option", "noise=inf",
                 "--out", str(out)]) == 2
    err = one_error_line(capsys)
    assert "--data-option noise=" in err and "inf" in err
    assert not out.exists()
    with pytest.raises(ConfigError, match="noise=inf"):
        initlab.data.load("moons", noise=math.inf)


def test_non_utf8_config_is_a_config_error(tmp_path, capsys):
    cfg = tmp_path / "s.toml"
    cfg.write_bytes(b'name = "\xff\xfe"\n')
    assert main(["compare", "--config", str(cfg), "--out", str(tmp_path / "out")]) == 2
    err = one_error_line(capsys)
    assert str(cfg) in err and "UTF-8" in err and "0xff" in err
    assert not (tmp_path / "out").exists()


def test_deeply_nested_toml_is_a_config_error(tmp_path, capsys):
    cfg = tmp_path / "s.toml"
    cfg.write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")
    assert main(["compare", "--config", str(cfg)]) == 2
    assert str(cfg) in one_error_line(capsys)


def test_broken_json_config_is_a_config_error(tmp_path):
    cfg = tmp_path / "s.json"
    cfg.write_text('{"layers": [4,')
    with pytest.raises(ConfigError, match="not valid json"):
        Study.from_file(cfg)


def test_an_unexpected_exception_is_one_line_saying_bug_and_debug_shows_it(monkeypatch, capsys):
    import initlab.cli.schemes as schemes

    def broken(args):  # stands for a bug in a command
        raise TypeError("a bug")

    monkeypatch.setattr(schemes, "run_schemes", broken)
    assert main(["schemes"]) == EXIT_BUG
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "a bug in initlab" in err and "--debug" in err
    with pytest.raises(TypeError, match="a bug"):
        main(["schemes", "--debug"])


# ---------------------------------------------------------------- numbers where they enter
def test_normal_with_huge_std_is_refused_not_drawn_as_inf():
    with pytest.raises(SpecError, match=r"std=1e\+300.*float32"):
        get("normal(std=1e300)")((3, 3), rng=0)
    w = get("normal(std=1e300)")((3,), rng=0, dtype="float64")  # fits float64
    assert np.isfinite(w).all()


def test_truncated_normal_far_in_a_tail_is_refused_not_divided_by_zero():
    with pytest.raises(SpecError, match=r"lower=40\.0, upper=50\.0"):
        get("truncated_normal(lower=40, upper=50)")
    x = get("truncated_normal(lower=3, upper=4, corrected=False)")((2000,), rng=0)
    assert x.min() >= 3 and x.max() <= 4


def test_uniform_whose_range_overflows_is_refused():
    with pytest.raises(SpecError, match="1e\\+308"):
        get("uniform(-1e308, 1e308)")


def test_leaky_relu_gain_does_not_overflow_and_nan_is_refused():
    assert gain("leaky_relu", 1e200) == pytest.approx(math.sqrt(2) / 1e200, rel=1e-12)
    assert gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04), rel=1e-12)
    with pytest.raises(SpecError, match="nan"):
        gain("leaky_relu", math.nan)


@pytest.mark.parametrize("spec, bad", [("leaky_relu(alpha=nan)", "nan"),
                                       ("elu(alpha=inf)", "inf"), ("elu(alpha=x)", "'x'")])
def test_activation_arguments_are_finite_numbers(spec, bad):
    with pytest.raises(SpecError, match=bad):
        activations.get(spec)


def test_every_scheme_describes_scalar_and_rank1_shapes_with_a_shape_error():
    for name in names():
        ini = next((get(s) for s in (name, f"{name}(0.5)", f"{name}(1.0, fan_in, normal)")
                    if _builds(s)), None)
        assert ini is not None, name
        for shape in [(), (5,)]:
            try:
                ini.describe(shape)
                ini(shape, rng=0)
            except InitLabError as e:
                assert isinstance(e, ShapeError) and str(shape) in str(e), (name, e)


def _builds(spec: str) -> bool:
    try:
        get(spec)
    except InitLabError:
        return False
    return True


def test_wrong_typed_arguments_are_initlab_errors():
    with pytest.raises(ConfigError, match="inits .*got 5"):
        Sequential([Dense(3)], input_dim=2, inits=5)
    m = Sequential([Dense(1, activation="sigmoid")], input_dim=2)
    with pytest.raises(ConfigError, match="callbacks .*got 5"):
        m.fit(np.eye(2), [0, 1], epochs=1, callbacks=5)
    with pytest.raises(DataError, match=r"\['moons'\]"):
        initlab.data.load(["moons"])
    with pytest.raises(ConfigError, match="mirror=5"):
        initlab.data.load("mnist", mirror=5)


# ---------------------------------------------------------------- nothing written
@pytest.mark.parametrize(
    "flags, needle",
    [
        (["--data-option", "n_train=0"], "--data-option n_train=0"),
        (["--init", "truncated_normal(lower=40, upper=50)"], "lower=40"),
        (["--init", "normal(std=1e300)"], "std=1e+300"),
        (["--layers", "1000000x4"], "GiB"),
        (["--layers", "12,,6"], "'12,,6'"),
        (["--layers", ""], "--layers ''"),
        (["--layers", "12x"], "'12x'"),
        (["--activation", "softmax"], "'softmax'"),
        (["--lr", "nan"], "--lr: got nan"),
        (["--mirror", "http://127.0.0.1:9/{name}"], "nothing to download"),
    ],
)
def test_every_check_fails_before_out_exists(tmp_path, capsys, flags, needle):
    out = tmp_path / "out"
    assert main(["compare", *TINY, *flags, "--out", str(out)]) == 2
    assert needle in one_error_line(capsys)
    assert not out.exists()


def test_softmax_is_a_hidden_activation_only_when_built_by_hand():
    with pytest.raises(ConfigError, match="output activation"):
        Study(activation="softmax")
    m = Sequential([Dense(3, activation="softmax"), Dense(1, activation="sigmoid")], input_dim=2)
    assert m.forward(np.ones((1, 2), np.float32)).shape == (1, 1, 1)


# ---------------------------------------------------------------- the interface's words
def test_errors_name_flags_in_the_cli_and_keywords_in_python(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["compare", *TINY, "--dataset", "mnist", "--output", "softmax",
                 "--data-option", "download=false", "--data-dir", str(empty)]) == 2
    err = capsys.readouterr().err  # the no-data message is the one allowed three lines
    assert err.startswith("initlab: error: ") and 1 <= err.count("\n") <= 3, err
    assert "--data-dir" in err and "data_dir=" not in err
    with pytest.raises(DataError) as e:
        initlab.data.load("mnist", data_dir=empty, download=False)
    assert "data_dir=" in str(e.value) and "--data-dir" not in str(e.value)
    with pytest.raises(ConfigError, match="study field 'lr'"):
        Study(lr=-1)


def test_param_marks_render_per_interface():
    e = ConfigError(f"set {param('max_models')} lower")
    assert str(e) == "set max_models= lower"
    assert e.render({"max_models": "--max-models"}.get) == "set --max-models lower"


def test_mirror_and_verify_are_not_part_of_the_recipe():
    a = Study(dataset="mnist", output="softmax")
    b = a.replace(dataset_options={"mirror": "http://127.0.0.1:9/{name}", "verify": False})
    assert a.config_hash == b.config_hash
    assert a.config_hash != a.replace(dataset_options={"n_train": 10}).config_hash


def test_inspect_without_arguments_uses_a_dataset_that_is_always_there(capsys):
    assert main(["inspect", "--layers", "8x2"]) == 0
    assert capsys.readouterr().out.startswith("digits: 1000 samples")


def test_verify_one_part(shared_mnist_dir, capsys):
    assert main(["datasets", "verify", "mnist", "--data-dir", str(shared_mnist_dir),
                 "--part", "test"]) == 0
    out = capsys.readouterr().out
    assert out.count("ok ") == 2 and "train-" not in out


def test_a_rerun_that_trains_nothing_says_so(tmp_path, capsys):
    out = str(tmp_path / "out")
    assert main(["compare", *TINY, "--out", out]) == 0
    capsys.readouterr()
    assert main(["compare", *TINY, "--out", out]) == 0
    assert "all 1 runs are already in" in capsys.readouterr().err
    assert main(["compare", *TINY[:-3], "--seeds", "2", "--quiet", "--out", out]) == 0
    assert main(["compare", *TINY[:-3], "--seeds", "3", "--out", out]) == 0
    assert "2 of 3 runs are already in" in capsys.readouterr().err


@pytest.mark.slow
def test_ctrl_c_says_how_many_runs_are_stored_and_a_rerun_resumes(tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "initlab", "compare", "--dataset", "digits", "--output",
           "softmax", "--layers", "64x3", "--epochs", "400", "--seeds", "6", "--max-models",
           "1", "--workers", "1", "--quiet", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": SRC}
    # the child gets SIGINT as a terminal's Ctrl-C would reach it: a blocked mask or an
    # ignored disposition left in this pytest process by earlier tests is inherited through
    # exec (in the full suite the study once ran to its end, exit 0, after the signal)
    p = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=env,
                         preexec_fn=_sigint_as_from_a_terminal)
    db = out / "study.sqlite"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not _stored(db):
        time.sleep(0.2)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, (err, signal.getsignal(signal.SIGINT),
                                 signal.pthread_sigmask(signal.SIG_BLOCK, []))
    n = _stored(db)
    assert f"interrupted; {n} of 6 runs are stored in {db}" in err and "resume" in err
    assert 1 <= n < 6


def _sigint_as_from_a_terminal() -> None:
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _stored(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
            return int(con.execute("SELECT COUNT(*) FROM runs").fetchone()[0])
    except sqlite3.Error:
        return 0


def test_real_processes_answer_in_one_line(tmp_path):
    cfg = tmp_path / "s.toml"
    cfg.write_bytes(b"\xff\xfe\x00")
    env = {**os.environ, "PYTHONPATH": SRC}
    for argv in (["sample", "he_normal", "--shape", "10000000,10000000"],
                 ["compare", "--config", str(cfg)],
                 ["recommend", "--activation", "sigmoid", "--bias-std", "100"]):
        p = subprocess.run([sys.executable, "-m", "initlab", *argv], capture_output=True,
                           text=True, env=env, timeout=120)
        assert p.returncode == 2 and p.stderr.count("\n") == 1, (argv, p.stderr)
        assert p.stderr.startswith("initlab: error: ") and "Traceback" not in p.stderr


# ---------------------------------------------------------------- found by tests/test_fuzz.py
def test_a_sweep_range_end_beyond_float_is_named(tmp_path, capsys):
    """It was an OverflowError traceback from math.isfinite(10**400)."""
    import json

    cfg = tmp_path / "sw.json"
    cfg.write_text(json.dumps({"name": "s", "study": {"dataset": "xor", "layers": [2]},
                               "axes": {"lr": {"start": 10**400, "stop": 1, "num": 2}}}))
    out = tmp_path / "out"
    assert main(["sweep", "--config", str(cfg), "--out", str(out), "--quiet"]) == 2
    err = one_error_line(capsys)
    assert "range start" in err and "1000000000" in err and "finite number" in err
    assert not out.exists()


@pytest.mark.parametrize("n", [10**12, 10**400], ids=["1e12", "1e400"])
def test_a_class_count_past_what_can_be_drawn_is_named(n):
    """It was a 14.6 TiB allocation (10**12) or an OverflowError (10**400) in the generator."""
    for name in ("blobs", "spirals"):
        with pytest.raises(ConfigError, match=r"n_classes=1000.* must be an int from 2 to"):
            initlab.data.load(name, n_classes=n)


def test_torch_cli_labels_past_the_models_outputs_are_named(tmp_path, capsys):
    """It was an IndexError from the loss ('Target 7 is out of bounds'): an internal error."""
    pytest.importorskip("torch")
    models = tmp_path / "models.py"
    models.write_text("from torch import nn\n\ndef mlp(width=8):\n"
                      "    return nn.Sequential(nn.Linear(4, width), nn.ReLU(), "
                      "nn.Linear(width, 3))\n")
    for argv in (["inspect", "--torch", f"{models}:mlp", "--input-shape", "4"],
                 ["coord-check", f"{models}:mlp", "--input-shape", "4", "--widths", "8,16"]):
        assert main(argv) == 2
        err = one_error_line(capsys)
        assert "gives 3 outputs" in err and "--classes <= 3" in err
    assert main(["inspect", "--torch", f"{models}:mlp", "--input-shape", "4",
                 "--classes", "3"]) == 0
