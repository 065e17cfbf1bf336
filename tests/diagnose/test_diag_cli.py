"""The inspect and recommend sub-commands: output and one-line errors with exit status 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from initlab.cli import main
from initlab.diagnose import theory

SRC = Path(__file__).resolve().parents[2] / "src"


def test_recommend_tanh_prints_the_critical_init(capsys) -> None:
    assert main(["recommend", "--activation", "tanh", "--bias-var", "0.05", "--depth", "50",
                 "--fan-in", "100"]) == 0
    out = capsys.readouterr().out
    crit = theory.critical_sigma_w2("tanh", 0.05)
    assert f"critical sigma_w^2   {crit:.4f}" in out
    mf = theory.mean_field("tanh", crit, 0.05)
    assert f"q*                   {mf.q_star:.4g}" in out
    assert "chi_1                1.000000" in out
    assert "xi_c" in out and "trainable depth" in out
    lo, hi = theory.trainable_range("tanh", 0.05, 50)
    assert f"[{lo:.4g}, {hi:.4g}]" in out
    assert f"{(crit / 100) ** 0.5:.4g} for fan_in 100" in out


def test_recommend_bias_std_is_a_standard_deviation(capsys) -> None:
    assert main(["recommend", "--activation", "relu", "--bias-std", "0"]) == 0
    assert "critical sigma_w^2   2.0000" in capsys.readouterr().out
    assert main(["recommend", "--activation", "tanh", "--bias-std", "0.05"]) == 0
    crit = theory.critical_sigma_w2("tanh", 0.05**2)
    assert f"critical sigma_w^2   {crit:.4f}" in capsys.readouterr().out


@pytest.mark.parametrize("argv,needle", [
    (["recommend", "--activation", "tanhh"], "did you mean 'tanh'"),
    (["recommend", "--bias-std", "-1"], "--bias-std"),
    (["recommend", "--depth", "0"], "--depth"),
    (["inspect", "--dataset", "digits", "--layers", "10y2"], "--layers"),
    (["inspect", "--dataset", "digitz"], "did you mean 'digits'"),
    (["inspect", "--dataset", "digits", "--init", "he_normall"], "he_normal"),
    (["inspect", "--dataset", "digits", "--activation", "rleu"], "relu"),
    (["inspect", "--dataset", "digits", "--n-samples", "0"], "--n-samples"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, argv, needle) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err


def test_inspect_digits_prints_a_table_per_scheme(capsys) -> None:
    assert main(["inspect", "--dataset", "digits", "--layers", "32x3", "--activation", "tanh",
                 "--init", "normal(std=1)", "--init", "glorot_normal", "--n-samples", "200"]) == 0
    out = capsys.readouterr().out
    assert "model 0: normal(std=1.0)" in out or "model 0: normal" in out
    assert "model 1: glorot_normal" in out
    assert out.count("q theory") == 2
    assert "saturation" in out  # std 1 on 64 pixels saturates tanh


def test_inspect_json(capsys) -> None:
    assert main(["inspect", "--dataset", "moons", "--layers", "8,4", "--activation", "relu",
                 "--n-samples", "50", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert [len(m["layers"]) for m in d["models"]] == [3]
    assert d["n_samples"] == 50


def test_inspect_real_mnist_in_a_subprocess(shared_mnist_dir) -> None:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    res = subprocess.run(
        [sys.executable, "-m", "initlab", "inspect", "--dataset", "mnist", "--layers", "100x5",
         "--activation", "tanh", "--init", "normal(std=0.1)", "--init", "glorot_normal",
         "--data-dir", str(shared_mnist_dir), "--n-samples", "300"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert "mnist: 300 samples" in res.stdout and res.stdout.count("q theory") == 2
