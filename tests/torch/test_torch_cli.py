"""``initlab inspect --torch FILE.py:FACTORY`` and ``initlab coord-check`` on real files."""

from __future__ import annotations

import json
import textwrap

import pytest

pytest.importorskip("torch")

from initlab.cli import main  # noqa: E402

MODELS = textwrap.dedent('''
    import torch
    from torch import nn

    def cnn():
        torch.manual_seed(0)
        m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
                          nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))
        with torch.no_grad():
            m[2].bias.fill_(-10.0)
        return m

    def mlp(width):
        return nn.Sequential(nn.Linear(32, width), nn.ReLU(), nn.Linear(width, 10))
''')


@pytest.fixture
def models(tmp_path):
    path = tmp_path / "models.py"
    path.write_text(MODELS)
    return path


def test_inspect_torch_names_the_dead_conv_and_writes_html(models, tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["inspect", "--torch", f"{models}:cnn", "--input-shape", "3,8,8",
               "--n-samples", "32", "--init", "as-built", "--init", "auto", "--out", str(out)])
    text = capsys.readouterr().out
    assert rc == 0
    first, second = text.split("init auto")[0], text.split("init auto")[1]
    assert "dead_units: 2: 100 % of units are dead" in first
    assert "initlab.torch.init_(model" in first and "verified on this batch" in first
    assert "findings: none (healthy)" in second
    html = (out / "report.html").read_text()
    assert "dead_units" in html and "init auto" in html


def test_inspect_torch_json(models, capsys):
    rc = main(["inspect", "--torch", f"{models}:cnn", "--input-shape", "3,8,8",
               "--n-samples", "16", "--json"])
    reports = json.loads(capsys.readouterr().out)
    assert rc == 0 and len(reports) == 1
    assert [la["name"] for la in reports[0]["models"][0]["layers"]] == ["0", "2", "6"]


@pytest.mark.parametrize("argv, message", [
    (["--torch", "nowhere.py:cnn", "--input-shape", "3"], "no such file 'nowhere.py'"),
    (["--torch", "{m}:nope", "--input-shape", "3"], "has no callable 'nope'; it has: cnn, mlp"),
    (["--torch", "{m}", "--input-shape", "3"], "--torch must be FILE.py:FACTORY"),
    (["--torch", "{m}:cnn"], "--torch needs --input-shape"),
    (["--torch", "{m}:cnn", "--input-shape", "3,x"], "--input-shape must be positive ints"),
    (["--torch", "{m}:cnn", "--input-shape", "3,8,8", "--init", "he_nromal"], "he_normal"),
])
def test_inspect_torch_bad_input_is_one_line(models, capsys, argv, message):
    rc = main(["inspect"] + [a.replace("{m}", str(models)) for a in argv])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_coord_check_cli(models, tmp_path, capsys):
    out = tmp_path / "cc"
    rc = main(["coord-check", f"{models}:mlp", "--widths", "16,32,64", "--steps", "1",
               "--seeds", "2", "--out", str(out)])
    text = capsys.readouterr().out
    assert rc == 0 and "coordinate check: widths [16, 32, 64], 2 seed(s)" in text
    assert (out / "report.html").exists() and (out / "figures" / "coordcheck.png").exists()
    rc = main(["coord-check", f"{models}:mlp", "--widths", "16"])
    assert rc == 2 and "at least two distinct widths" in capsys.readouterr().err
