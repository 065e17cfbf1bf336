"""``initlab datasets``: list, fetch, verify (no network)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from initlab.cli import main
from initlab.data import names
from initlab.data.catalog import PART_FILES

SRC = Path(__file__).resolve().parents[2] / "src"


def test_list_shows_every_dataset_with_sizes(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("INITLAB_DATA", str(tmp_path))
    (tmp_path / "kmnist").mkdir()
    for name in PART_FILES["test"]:
        (tmp_path / "kmnist" / name).write_bytes(b"x")
    assert main(["datasets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line.split() for line in lines[1:] if line.strip()}
    assert set(names()) <= set(rows)
    assert rows["mnist"][2:4] == ["60,000", "10,000"] and rows["mnist"][6] == "no"
    assert rows["kmnist"][6:8] == ["only", "test"]
    assert rows["moons"][2:4] == ["400", "100"] and rows["moons"][6] == "n/a"


def test_fetch_and_verify_of_generated_sets_say_nothing_to_do(capsys):
    assert main(["datasets", "fetch", "moons"]) == 0
    assert "nothing to download" in capsys.readouterr().out
    assert main(["datasets", "verify", "digits"]) == 0
    assert "no files to verify" in capsys.readouterr().out


def test_unknown_name_is_one_line_with_suggestion(capsys):
    assert main(["datasets", "verify", "fashion-mnist"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "did you mean 'fashion_mnist'" in err


def test_verify_reports_a_bad_hash(tmp_path, capsys):
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(b"not the file")
    assert main(["datasets", "verify", "mnist", "--data-dir", str(tmp_path)]) == 1
    out = capsys.readouterr()
    assert "bad-hash" in out.out and "expected f7ae60f9" in out.out
    assert "wrong sha256" in out.err


def test_module_entry_point_lists():
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    out = subprocess.run([sys.executable, "-m", "initlab", "datasets", "--help"], env=env,
                         capture_output=True, text=True, check=True)
    assert "fetch" in out.stdout and "verify" in out.stdout


def test_default_folder_is_the_platform_cache(monkeypatch):
    import pooch

    from initlab.data import data_home

    monkeypatch.delenv("INITLAB_DATA", raising=False)
    assert data_home("kmnist") == Path(pooch.os_cache("initlab")) / "kmnist"
    monkeypatch.setenv("INITLAB_DATA", "/somewhere")
    assert data_home("kmnist") == Path("/somewhere/kmnist")
    assert data_home("kmnist", "/mine") == Path("/mine")
