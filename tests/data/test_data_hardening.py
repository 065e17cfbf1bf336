"""Issue 11, data and files: a download's deadline, a killed download's staging folder, labels
out of range, the mirror kept out of the data's identity, `verify --part`, short messages.

Servers are real (http.server on 127.0.0.1); the killed download is a real process killed with
SIGKILL. Every wait is bounded.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from initlab.cli import main
from initlab.data import FileSet, RemoteFile, fetch_files, load
from initlab.data.catalog import PART_FILES
from initlab.data.idx import write_idx
from initlab.errors import ConfigError, DataError

REPO = Path(__file__).resolve().parents[2]
BODY = bytes(range(256)) * 4
TOY = FileSet("toy", (RemoteFile("slow.bin", hashlib.sha256(BODY).hexdigest()),), ())


class _Trickle(http.server.BaseHTTPRequestHandler):
    """Promise BODY, then send it one byte every ``server.every`` seconds (or all at once)."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        srv = self.server
        srv.hits += 1  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        every = srv.every  # type: ignore[attr-defined]
        try:
            if every == 0:
                self.wfile.write(BODY)
                return
            for b in BODY:
                self.wfile.write(bytes([b]))
                self.wfile.flush()
                if srv.stop.wait(every):  # type: ignore[attr-defined]
                    return
        except OSError:
            return

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def trickle() -> Iterator[http.server.ThreadingHTTPServer]:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Trickle)
    srv.every = 5.0  # type: ignore[attr-defined]   # the issue's server: a byte every 5 s
    srv.hits = 0  # type: ignore[attr-defined]
    srv.stop = threading.Event()  # type: ignore[attr-defined]
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}/"  # type: ignore[attr-defined]
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield srv
    srv.stop.set()  # type: ignore[attr-defined]
    srv.shutdown()
    srv.server_close()


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    monkeypatch.delenv("INITLAB_DATA", raising=False)
    monkeypatch.delenv("INITLAB_DATA_MIRROR", raising=False)


def test_a_trickling_server_cannot_hold_a_fetch_past_its_deadline(trickle, tmp_path):
    started = time.monotonic()
    with pytest.raises(DataError, match="deadline of 1.5 s passed") as e:
        fetch_files(TOY, data_dir=tmp_path, mirror=trickle.url, retries=3, timeout=60,
                    deadline=1.5, progress=False)
    took = time.monotonic() - started
    assert took < 6.0, took                  # the per-read timeout alone (60 s) never fires
    assert "slow.bin" in str(e.value) and trickle.url in str(e.value)
    assert trickle.hits == 1                 # a passed deadline is not retried
    assert list(tmp_path.iterdir()) == []    # no partial file, no staging folder


def test_the_deadline_is_settable_from_load_and_the_cli(trickle, tmp_path, capsys):
    started = time.monotonic()
    with pytest.raises(DataError, match="deadline of 1 s"):
        load("mnist", data_dir=tmp_path / "a", mirror=trickle.url, split="test:8/2",
             deadline=1, progress=False)
    rc = main(["datasets", "fetch", "mnist", "--part", "test", "--data-dir",
               str(tmp_path / "b"), "--mirror", trickle.url, "--deadline", "1",
               "--no-progress"])
    assert rc == 2 and "deadline of 1 s passed" in capsys.readouterr().err
    assert time.monotonic() - started < 12.0
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), "10", True])
def test_a_bad_deadline_is_a_config_error_naming_it(bad, tmp_path):
    with pytest.raises(ConfigError, match="deadline must be a positive number") as e:
        fetch_files(TOY, data_dir=tmp_path, mirror="http://127.0.0.1:9/", deadline=bad)
    assert repr(bad) in str(e.value)
    with pytest.raises(ConfigError, match="deadline must be") as e:   # checked where it enters
        load("mnist", data_dir=tmp_path, download=False, deadline=bad)


def test_a_killed_download_leaves_no_staging_folder_once_the_next_fetch_runs(trickle,
                                                                             tmp_path):
    folder = tmp_path / "toy"
    code = ("import sys; from initlab.data import FileSet, RemoteFile, fetch_files; "
            f"fs = FileSet('toy', (RemoteFile('slow.bin', {TOY.files[0].sha256!r}),), ()); "
            f"fetch_files(fs, data_dir={str(folder)!r}, mirror={trickle.url!r}, "
            "progress=False, deadline=60)")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    try:
        until = time.monotonic() + 30
        while not list(folder.glob(".initlab-partial-*")) and time.monotonic() < until:
            time.sleep(0.05)
        staged = list(folder.glob(".initlab-partial-*"))
        assert staged, "the child never started its download"
        time.sleep(0.3)  # a few bytes in
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert all(p.exists() for p in staged)   # kill -9: nobody could clean up
    trickle.every = 0                        # the next fetch gets the whole file at once
    paths = fetch_files(TOY, data_dir=folder, mirror=trickle.url, progress=False)
    assert paths["slow.bin"].read_bytes() == BODY
    assert sorted(p.name for p in folder.iterdir()) == ["slow.bin"]


def test_a_running_downloads_staging_folder_is_left_alone(tmp_path):
    from initlab.data.remote import remove_stale_staging

    mine = tmp_path / f".initlab-partial-{os.getpid()}-abc"
    dead = tmp_path / ".initlab-partial-2147483646-abc"
    for p in (mine, dead):
        p.mkdir()
    assert remove_stale_staging(tmp_path) == [dead]
    assert mine.is_dir() and not dead.exists()


@pytest.fixture()
def fake_mnist(tmp_path):
    rng = np.random.default_rng(1)
    for part, n in (("train", 30), ("test", 12)):
        write_idx(tmp_path / PART_FILES[part][0],
                  rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(tmp_path / PART_FILES[part][1], rng.integers(0, 10, n, dtype=np.uint8))
    return tmp_path


def test_labels_out_of_range_are_a_data_error_even_unverified(fake_mnist):
    labels = np.zeros(12, np.uint8)
    labels[5] = 10
    write_idx(fake_mnist / PART_FILES["test"][1], labels)
    with pytest.raises(DataError, match=r"label 10 is out of range.*0\.\.9"):
        load("mnist", data_dir=fake_mnist, verify=False, download=False, split="test:8/4")
    with pytest.raises(DataError, match="label 10"):
        load("mnist", data_dir=fake_mnist, verify=False, download=False)


def test_where_the_files_are_is_not_part_of_the_data(fake_mnist, tmp_path_factory):
    other = tmp_path_factory.mktemp("copy")
    for p in fake_mnist.iterdir():
        (other / p.name).write_bytes(p.read_bytes())
    a = load("mnist", data_dir=fake_mnist, verify=False, download=False, split="test:8/4")
    b = load("mnist", data_dir=other, verify=False, download=False, split="test:8/4",
             mirror="http://127.0.0.1:9/{name}", deadline=5)
    assert a.provenance["options"] == b.provenance["options"]
    assert "mirror" not in str(a.provenance["options"]) and "verify" not in a.provenance[
        "options"]
    assert b.provenance["access"]["mirror"] == "http://127.0.0.1:9/{name}"
    assert [f["sha256"] for f in a.provenance["files"]] == [f["sha256"] for f in
                                                             b.provenance["files"]]


def test_the_missing_data_message_is_short_and_suggests_a_split_only_when_it_helps(
        fake_mnist, tmp_path_factory):
    empty = tmp_path_factory.mktemp("empty")
    with pytest.raises(DataError) as e:
        load("mnist", data_dir=empty, download=False)
    lines = str(e.value).splitlines()
    assert len(lines) <= 3, lines
    assert all(len(line.replace(str(empty), "DIR")) <= 100 for line in lines), lines
    assert str(empty) in lines[0] and "split" not in str(e.value)
    for name in PART_FILES["train"]:
        (fake_mnist / name).unlink()
    with pytest.raises(DataError) as e:
        load("mnist", data_dir=fake_mnist, download=False, verify=False)
    lines = str(e.value).splitlines()
    assert len(lines) == 3 and "split='test:8000/2000'" in lines[2]


def test_no_downloading_line_precedes_a_failed_fetch(tmp_path, capfd):
    rc = main(["datasets", "fetch", "mnist", "--part", "test", "--data-dir", str(tmp_path),
               "--mirror", "http://127.0.0.1:9/", "--retries", "0"])
    err = capfd.readouterr().err
    assert rc == 2
    assert "Downloading" not in err and err.strip().startswith("initlab: error: could not")


def test_verify_one_part(fake_mnist, capsys):
    for name in PART_FILES["train"]:
        (fake_mnist / name).unlink()
    rc_all = main(["datasets", "verify", "mnist", "--data-dir", str(fake_mnist)])
    out_all = capsys.readouterr().out
    rc_test = main(["datasets", "verify", "mnist", "--data-dir", str(fake_mnist), "--part",
                    "test"])
    out_test = capsys.readouterr().out
    assert out_all.count("missing") == 2 and "missing" not in out_test
    assert out_test.count("t10k-") == 2 and "train-" not in out_test
    assert rc_all == 1 and rc_test == 1      # generated files fail the published hash
    assert out_test.count("bad-hash") == 2


def test_the_dataset_list_fits_100_columns(capsys):
    assert main(["datasets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= 100
    assert any(line.startswith("fashion_mnist  download") for line in lines)


@pytest.mark.parametrize("bad", ["0", "-5", "nan", "inf", "soon"])
def test_a_bad_deadline_flag_is_one_line_naming_the_flag(bad, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["datasets", "fetch", "mnist", "--data-dir", str(tmp_path / "m"), "--deadline",
              bad])
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and "\n" not in err
    assert "--deadline" in err and repr(bad) in err
    assert not (tmp_path / "m").exists()
