"""IDX reader/writer: round trips, and clear DataErrors for corrupt or truncated files."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from initlab.data.idx import IDX_TYPES, read_idx, write_idx
from initlab.errors import DataError


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_round_trip_every_type(tmp_path, dtype, suffix):
    rng = np.random.default_rng(0)
    a = (rng.normal(size=(3, 4, 5)) * 50).astype(dtype)
    path = tmp_path / f"a-idx3{suffix}"
    write_idx(path, a)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == (suffix == ".gz")
    b = read_idx(path, ndim=3)
    assert b.dtype == np.dtype(dtype) and b.dtype.isnative
    np.testing.assert_array_equal(a, b)
    b[0, 0, 0] = 1  # writable


@settings(max_examples=25, deadline=None)
@given(shape=st.lists(st.integers(0, 4), min_size=1, max_size=4), compress=st.booleans())
def test_round_trip_any_shape(tmp_path_factory, shape, compress):
    a = np.arange(int(np.prod(shape)), dtype=np.int32).reshape(shape) - 7
    path = tmp_path_factory.mktemp("idx") / "x"
    write_idx(path, a, compress=compress)
    np.testing.assert_array_equal(read_idx(path), a)


def test_header_is_the_published_layout(tmp_path):
    path = tmp_path / "labels"
    write_idx(path, np.array([7, 2, 1], dtype=np.uint8))
    # magic 0x00000801 (ubyte, 1 dim), then count 3 big-endian, then the bytes
    assert path.read_bytes() == bytes.fromhex("00000801 00000003 070201")
    path = tmp_path / "images"
    write_idx(path, np.zeros((2, 1, 1), np.uint8))
    assert path.read_bytes()[:16] == bytes.fromhex("00000803 00000002 00000001 00000001")


def test_gz_detected_by_content_not_name(tmp_path):
    a = np.arange(6, dtype=np.uint8).reshape(2, 3)
    path = tmp_path / "no-suffix"
    path.write_bytes(gzip.compress(bytes([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3]) + a.tobytes()))
    np.testing.assert_array_equal(read_idx(path), a)


def _idx_bytes(a: np.ndarray, tmp_path) -> bytes:
    p = tmp_path / "tmp.idx"
    write_idx(p, a)
    return p.read_bytes()


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda b: b[:-1], "truncated"),
        (lambda b: b[:10], "truncated"),
        (lambda b: b + b"\x00", "trailing"),
        (lambda b: b"\x01" + b[1:], "magic"),
        (lambda b: b[:2] + b"\x07" + b[3:], "type code 0x07"),
        (lambda b: b[:3] + b"\x00" + b[4:], "0 dimensions"),
        (lambda b: b[:3], "only 3 bytes"),
    ],
)
def test_corrupt_files_are_data_errors_naming_the_file(tmp_path, mutate, message):
    good = _idx_bytes(np.arange(24, dtype=np.uint8).reshape(2, 3, 4), tmp_path)
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(mutate(good))
    with pytest.raises(DataError, match=message) as e:
        read_idx(path)
    assert str(path) in str(e.value)


def test_truncated_gzip_is_a_data_error(tmp_path):
    data = gzip.compress(_idx_bytes(np.arange(1000, dtype=np.int32), tmp_path))
    path = tmp_path / "cut.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="corrupt or truncated gzip") as e:
        read_idx(path)
    assert "cut.gz" in str(e.value)


def test_wrong_number_of_dimensions(tmp_path):
    path = tmp_path / "labels.gz"
    write_idx(path, np.zeros((2, 2), np.uint8))
    with pytest.raises(DataError, match=r"2 dimensions .* expected 1"):
        read_idx(path, ndim=1)


def test_missing_file_and_unwritable_dtype(tmp_path):
    with pytest.raises(DataError, match="cannot read"):
        read_idx(tmp_path / "nope")
    with pytest.raises(DataError, match="int64"):
        write_idx(tmp_path / "x", np.zeros(3, np.int64))
    with pytest.raises(DataError, match="0-dimensional"):
        write_idx(tmp_path / "x", np.uint8(3))


def test_type_table_covers_the_specification():
    assert sorted(IDX_TYPES) == [0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E]
    assert all(dt.byteorder in (">", "|") for dt in IDX_TYPES.values())
