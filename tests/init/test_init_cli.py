"""``initlab schemes`` and ``initlab sample``, in-process and through ``python -m initlab``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from initlab.cli import main
from initlab.init import schemes

SRC = str(Path(__file__).resolve().parents[2] / "src")


def test_schemes_lists_every_scheme_with_formula(capsys):
    assert main(["schemes"]) == 0
    out = capsys.readouterr().out
    for sc in schemes():
        assert sc.signature() in out
        assert sc.formula in out
    assert "sqrt(2 / fan_in)" in out and "(also: kaiming_normal)" in out


def test_schemes_flavor_filter(capsys):
    assert main(["schemes", "--flavor", "torch"]) == 0
    out = capsys.readouterr().out
    assert "torch:linear_default" in out and "keras:" not in out and "\nhe_normal" not in out


def test_sample_prints_stats_prediction_and_histogram(capsys):
    assert main(["sample", "he_normal", "--shape", "784,128", "--seed", "0", "--bins", "9"]) == 0
    out = capsys.readouterr().out
    assert "sqrt(2 / 784) = 0.0505" in out
    stats = dict(re.findall(r"(mean|std|min|max) ([-+0-9.e]+)", out))
    assert abs(float(stats["std"]) - 0.0505) < 0.001
    assert abs(float(stats["mean"])) < 0.001
    assert float(stats["min"]) < 0 < float(stats["max"])
    assert "predicted std 0.0505076" in out
    bars = [line for line in out.splitlines() if line.startswith("[")]
    assert len(bars) == 9
    counts = [int(line.split()[2]) for line in bars]
    assert sum(counts) == 784 * 128
    assert max(counts) == counts[4] or max(counts) == counts[3] or max(counts) == counts[5]


def test_sample_same_seed_same_output(capsys):
    main(["sample", "glorot_uniform", "--shape", "20,30", "--seed", "3"])
    a = capsys.readouterr().out
    main(["sample", "glorot_uniform", "--shape", "20,30", "--seed", "3"])
    b = capsys.readouterr().out
    main(["sample", "glorot_uniform", "--shape", "20,30", "--seed", "4"])
    c = capsys.readouterr().out
    assert a == b and a != c


@pytest.mark.parametrize(
    "argv,fragment",
    [
        (["sample", "he_nrmal", "--shape", "4,4"], "did you mean 'he_normal'"),
        (["sample", "normal(std=-2)", "--shape", "4,4"], "-2"),
        (["sample", "he_normal", "--shape", "4,a"], "'4,a'"),
        (["sample", "he_normal", "--shape", "7"], "rank"),
        (["sample", "delta_orthogonal", "--shape", "3,3,8,4"], "in=8 > out=4"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, fragment, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("initlab: error: ")
    assert fragment in err


def test_module_entry_point_bad_spec_exits_2():
    env = {**os.environ, "PYTHONPATH": SRC}
    ok = subprocess.run(
        [sys.executable, "-m", "initlab", "sample", "zeros", "--shape", "2,2"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert ok.returncode == 0 and "predicted std 0" in ok.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "initlab", "sample", "he_normall(", "--shape", "2"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "he_normall(" in bad.stderr
    assert "Traceback" not in bad.stderr
