"""``initlab compare``: a tiny study end to end; bad input is one line, exit 2, nothing done."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from initlab.cli import main
from initlab.studies import Store, Study

TINY = ["--dataset", "moons", "--data-option", "n_train=40", "--data-option", "n_test=20",
        "--layers", "4", "--activation", "relu", "--output", "sigmoid", "--init", "zeros",
        "--init", "normal(std=2)", "--epochs", "5", "--lr", "0.1", "--batch-size", "full",
        "--seeds", "2"]


def test_compare_prints_the_table_and_writes_the_store(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["compare", *TINY, "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "zeros" in text and "normal(std=2)" in text and "diverged" in text
    assert {p.name for p in out.iterdir()} >= {"study.sqlite", "runs.csv", "summary.csv",
                                               "results.json", "study.toml"}
    rows = list(csv.DictReader(open(out / "runs.csv")))
    assert [(r["scheme"], r["seed"]) for r in rows] == [
        ("zeros", "0"), ("zeros", "1"), ("normal(std=2)", "0"), ("normal(std=2)", "1")]
    data = json.loads((out / "results.json").read_text())
    assert data["study"]["dataset_options"] == {"n_test": 20, "n_train": 40}
    study = Study.from_file(out / "study.toml")
    assert study.batch_size is None and study.schemes == ("zeros", "normal(std=2)")
    with Store(out / "study.sqlite") as st:
        first = {r.key: r.finished for r in st.records(study)}
    # the same command again trains nothing: every run keeps its timestamp
    assert main(["compare", *TINY, "--out", str(out), "--quiet"]) == 0
    with Store(out / "study.sqlite") as st:
        assert {r.key: r.finished for r in st.records(study)} == first


def test_config_file_with_flags_on_top(tmp_path, capsys):
    cfg = Study(name="cfg", dataset="xor", dataset_options={"n_train": 16, "n_test": 8},
                layers=(3,), schemes=["he_normal"], seeds=1, epochs=2).save(tmp_path / "s.toml")
    out = tmp_path / "o"
    assert main(["compare", "--config", str(cfg), "--seeds", "0,5", "--out", str(out),
                 "--quiet"]) == 0
    assert Study.from_file(out / "study.toml").seeds == (0, 5)
    assert Study.from_file(out / "study.toml").name == "cfg"


@pytest.mark.parametrize(
    "flags, needle",
    [
        (["--init", "he_normall"], "did you mean 'he_normal'"),
        (["--activation", "rellu"], "did you mean 'relu'"),
        (["--dataset", "moonz"], "did you mean 'moons'"),
        (["--data-option", "nois=0.1"], "did you mean 'noise'"),
        (["--data-option", "noise"], "KEY=VALUE"),
        (["--optimizer", "adamm"], "did you mean 'adam'"),
        (["--opt-option", "momentun=0.9"], "did you mean 'momentum'"),
        (["--output", "tanh"], "Allowed: sigmoid, softmax"),
        (["--seeds", "a,b"], "--seeds"),
        (["--batch-size", "0"], "--batch-size: got 0"),
        (["--epochs", "0"], "--epochs: got 0"),
        (["--workers", "0"], "--workers"),
        (["--config", "nope.toml"], "cannot read study file"),
        (["--dataset", "mnist", "--output", "softmax", "--data-option", "download=false",
          "--data-dir", "EMPTY"], "missing"),
    ],
)
def test_bad_input_is_one_line_exit_2_nothing_written(tmp_path, capsys, flags, needle):
    (tmp_path / "empty").mkdir()
    flags = [str(tmp_path / "empty") if f == "EMPTY" else f for f in flags]
    out = tmp_path / "out"
    assert main(["compare", *TINY, *flags, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    lines = 3 if needle == "missing" else 1     # the no-data message: at most three lines
    assert 1 <= err.count("\n") <= lines and err.startswith("initlab: error:") and needle in err
    assert not out.exists()


def test_unwritable_out_fails_before_training(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["compare", *TINY, "--out", str(blocker / "sub")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot be written" in err


def test_other_recipe_in_the_same_out_is_refused(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["compare", *TINY, "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["compare", *TINY, "--lr", "0.2", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "lr 0.1 -> 0.2" in err


def test_subprocess_entry_point_with_progress(tmp_path):
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": src}
    p = subprocess.run([sys.executable, "-m", "initlab", "compare", *TINY],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "model-epoch" in p.stderr and "normal(std=2)" in p.stdout
