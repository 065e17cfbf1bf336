"""The whole download path against a local HTTP server on 127.0.0.1 (no network).

The server serves generated IDX files; each test sets how it answers (serve, fail with a
status, cut the transfer short, send other bytes) and checks what lands in the data folder.
"""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from initlab.cli import main
from initlab.data import FileSet, RemoteFile, fetch_files, load
from initlab.data.catalog import PART_FILES
from initlab.data.idx import read_idx, write_idx
from initlab.data.images import read_parts
from initlab.errors import DataError


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        server = self.server
        server.requests.append(self.path)  # type: ignore[attr-defined]
        name = self.path.rsplit("/", 1)[-1]
        route = server.routes.get(self.path) or server.routes.get(name)  # type: ignore[attr-defined]
        if route is None:
            self.send_error(404)
            return
        mode, body = route[0], route[1]
        if mode == "fail-once":
            route[0] = "ok"
            self.send_error(503)
            return
        if mode.startswith("status"):
            self.send_error(int(mode.split()[1]))
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if mode == "cut":  # promise the whole file, send half, hang up
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def server() -> Iterator[http.server.ThreadingHTTPServer]:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.routes = {}  # type: ignore[attr-defined]
    srv.requests = []  # type: ignore[attr-defined]
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}/"  # type: ignore[attr-defined]
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    monkeypatch.delenv("INITLAB_DATA", raising=False)
    monkeypatch.delenv("INITLAB_DATA_MIRROR", raising=False)


def _generated(tmp_path: Path) -> tuple[FileSet, dict[str, bytes], dict[str, np.ndarray]]:
    """A small MNIST-like file set (7 train, 5 test images of 4x3) with its true hashes."""
    rng = np.random.default_rng(0)
    arrays = {
        PART_FILES["train"][0]: rng.integers(0, 256, (7, 4, 3), dtype=np.uint8),
        PART_FILES["train"][1]: rng.integers(0, 10, 7, dtype=np.uint8),
        PART_FILES["test"][0]: rng.integers(0, 256, (5, 4, 3), dtype=np.uint8),
        PART_FILES["test"][1]: rng.integers(0, 10, 5, dtype=np.uint8),
    }
    src = tmp_path / "published"
    src.mkdir()
    blobs = {}
    for name, a in arrays.items():
        write_idx(src / name, a)
        blobs[name] = (src / name).read_bytes()
    files = tuple(RemoteFile(n, hashlib.sha256(b).hexdigest()) for n, b in blobs.items())
    return FileSet("toy", files, ("http://127.0.0.1:9/unused/",)), blobs, arrays


def _serve(server, blobs: dict[str, bytes], mode: str = "ok") -> None:
    for name, body in blobs.items():
        server.routes[name] = [mode, body]


def test_download_success_then_cached(server, tmp_path):
    fs, blobs, arrays = _generated(tmp_path)
    _serve(server, blobs)
    cache = tmp_path / "cache" / "toy"
    paths = fetch_files(fs, data_dir=cache, mirror=server.url, retries=0, progress=False)
    assert sorted(p.name for p in cache.iterdir()) == sorted(blobs)  # no staging left
    for name, path in paths.items():
        assert path.read_bytes() == blobs[name]
        np.testing.assert_array_equal(read_idx(path), arrays[name])
    n = len(server.requests)
    fetch_files(fs, data_dir=cache, mirror=server.url, retries=0)  # already there: no request
    assert len(server.requests) == n == 4


def test_read_parts_downloads_only_the_needed_part(server, tmp_path):
    fs, blobs, arrays = _generated(tmp_path)
    _serve(server, blobs)
    folder = tmp_path / "d"
    parts, files = read_parts(fs, ["test"], folder, mirror=server.url, progress=False)
    assert sorted(p.name for p in folder.iterdir()) == sorted(PART_FILES["test"])
    np.testing.assert_array_equal(parts["test"][0], arrays[PART_FILES["test"][0]])
    assert parts["test"][1].dtype == np.int64
    assert [f["verified"] for f in files] == [True, True]


def test_wrong_hash_leaves_nothing(server, tmp_path):
    fs, blobs, _ = _generated(tmp_path)
    _serve(server, {n: b + b"tampered" for n, b in blobs.items()})
    cache = tmp_path / "root" / "toy"
    name = PART_FILES["test"][0]
    with pytest.raises(DataError, match="wrong sha256") as e:
        fetch_files(fs, [name], data_dir=cache, mirror=server.url, retries=0)
    assert name in str(e.value) and fs.file(name).sha256 in str(e.value)
    assert not (tmp_path / "root").exists()  # the folders this call created are gone too


def test_server_error_leaves_nothing(server, tmp_path):
    fs, blobs, _ = _generated(tmp_path)
    _serve(server, blobs, "status 500")
    cache = tmp_path / "c"
    cache.mkdir()
    with pytest.raises(DataError, match="500") as e:
        fetch_files(fs, data_dir=cache, mirror=server.url, retries=0)
    assert server.url in str(e.value) and "mirror" in str(e.value)
    assert list(cache.iterdir()) == []


def test_interrupted_transfer_leaves_nothing(server, tmp_path):
    fs, blobs, _ = _generated(tmp_path)
    big = {n: b * 50 for n, b in blobs.items()}  # enough bytes that half is a real cut
    fs = FileSet("toy", tuple(RemoteFile(n, hashlib.sha256(b).hexdigest()) for n, b in
                              big.items()), ())
    _serve(server, big, "cut")
    cache = tmp_path / "c"
    cache.mkdir()
    with pytest.raises(DataError, match="could not download") as e:
        fetch_files(fs, data_dir=cache, mirror=server.url, retries=0)
    assert PART_FILES["train"][0] in str(e.value)
    assert "wrong sha256" not in str(e.value)  # seen as a broken transfer, not bad bytes
    assert list(cache.iterdir()) == []


def test_retry_recovers_from_a_transient_error(server, tmp_path):
    fs, blobs, _ = _generated(tmp_path)
    name = PART_FILES["test"][1]
    server.routes[name] = ["fail-once", blobs[name]]
    paths = fetch_files(fs, [name], data_dir=tmp_path / "c", mirror=server.url, retries=1)
    assert paths[name].read_bytes() == blobs[name]
    assert server.requests.count(f"/{name}") == 2


def test_falls_back_to_the_next_mirror(server, tmp_path):
    fs, blobs, _ = _generated(tmp_path)
    for name, body in blobs.items():
        server.routes[f"/good/{name}"] = ["ok", body]
    fs = FileSet("toy", fs.files, (server.url + "missing/", server.url + "good/"))
    paths = fetch_files(fs, data_dir=tmp_path / "c", retries=0)
    assert sorted(paths) == sorted(blobs)
    assert server.requests[0].startswith("/missing/") and server.requests[1].startswith("/good/")


def test_environment_decides_folder_and_mirror(server, tmp_path, monkeypatch):
    fs, blobs, _ = _generated(tmp_path)
    for name, body in blobs.items():
        server.routes[f"/toy/{name}"] = ["ok", body]
    monkeypatch.setenv("INITLAB_DATA", str(tmp_path / "home"))
    monkeypatch.setenv("INITLAB_DATA_MIRROR", server.url + "{name}")
    paths = fetch_files(fs, retries=0)
    assert {p.parent for p in paths.values()} == {tmp_path / "home" / "toy"}


def test_present_file_with_wrong_hash_is_named(tmp_path):
    fs, blobs, _ = _generated(tmp_path)
    name = PART_FILES["train"][1]
    (tmp_path / name).write_bytes(blobs[name][:-1])
    with pytest.raises(DataError, match="expected " + fs.file(name).sha256) as e:
        fetch_files(fs, [name], data_dir=tmp_path)
    assert name in str(e.value)


def test_real_test_split_through_load_and_download(server, shared_mnist_dir, tmp_path):
    _serve(server, {p.name: p.read_bytes() for p in shared_mnist_dir.glob("t10k-*.gz")})
    ds = load("mnist", data_dir=tmp_path / "m", mirror=server.url, split="test:8000/2000",
              progress=False)
    assert (ds.n_train, ds.n_test) == (8000, 2000)
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == sorted(PART_FILES["test"])


def test_cli_fetch_failure_is_one_line_and_clean(server, tmp_path, capsys):
    target = tmp_path / "m"
    rc = main(["datasets", "fetch", "mnist", "--data-dir", str(target), "--mirror",
               server.url, "--retries", "0", "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert err[-1].startswith("initlab: error: could not download train-images-idx3-ubyte.gz")
    assert "404" in err[-1]
    assert not target.exists()


def test_permanent_errors_are_not_retried(server, tmp_path):
    fs, _, _ = _generated(tmp_path)
    name = PART_FILES["test"][1]
    with pytest.raises(DataError, match="404"):
        fetch_files(fs, [name], data_dir=tmp_path / "c", mirror=server.url, retries=3)
    assert server.requests == [f"/{name}"]  # a 404 is asked once, not four times
    assert not (tmp_path / "c").exists()


def test_cli_fetch_test_part_of_real_files_then_verify(server, shared_mnist_dir, tmp_path,
                                                       capsys):
    _serve(server, {p.name: p.read_bytes() for p in shared_mnist_dir.glob("t10k-*.gz")})
    target = tmp_path / "m"
    rc = main(["datasets", "fetch", "mnist", "--part", "test", "--data-dir", str(target),
               "--mirror", server.url, "--no-progress"])
    assert rc == 0
    assert capsys.readouterr().out.count("ok  t10k-") == 2
    main(["datasets", "verify", "mnist", "--data-dir", str(target)])
    out = capsys.readouterr().out
    assert out.count("ok ") == 2 and out.count("missing") == 2
    n = len(server.requests)
    assert main(["datasets", "fetch", "mnist", "--part", "test", "--data-dir", str(target),
                 "--mirror", server.url]) == 0
    assert len(server.requests) == n  # cached: nothing asked again
