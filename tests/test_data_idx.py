"""Tests for the IDX reader: round trips, hand-made bytes, and corrupt files."""

from __future__ import annotations

import gzip
import re

import numpy as np
import pytest

from ndconv.data import load_idx_dataset, read_idx, write_idx


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize(
    "dtype, shape",
    [
        (np.uint8, (7,)),
        (np.int8, (3, 4)),
        (np.int16, (2, 3, 4)),
        (np.int32, (2, 2, 2, 2)),
        (np.float32, (5, 3)),
        (np.float64, (4,)),
    ],
)
def test_round_trip(tmp_path, dtype, shape, compress):
    rng = np.random.default_rng(0)
    a = (rng.standard_normal(shape) * 100).astype(dtype)
    path = tmp_path / "a.idx"
    write_idx(path, a, compress=compress)
    assert path.read_bytes().startswith(b"\x1f\x8b") == compress
    b = read_idx(path)
    assert b.dtype == np.dtype(dtype) and b.dtype.isnative
    assert b.shape == shape
    np.testing.assert_array_equal(a, b)


def test_reads_hand_made_big_endian_file(tmp_path):
    raw = bytes([0, 0, 0x0B, 1]) + (2).to_bytes(4, "big")
    raw += (258).to_bytes(2, "big") + (-2).to_bytes(2, "big", signed=True)
    (tmp_path / "h").write_bytes(raw)
    (tmp_path / "h.gz").write_bytes(gzip.compress(raw))
    for name in ("h", "h.gz"):
        np.testing.assert_array_equal(read_idx(tmp_path / name), np.array([258, -2], np.int16))


def _header(code: int, dims: tuple[int, ...]) -> bytes:
    return bytes([0, 0, code, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims)


@pytest.mark.parametrize(
    "payload, match",
    [
        (
            _header(0x08, (10, 28, 28)) + bytes(100),
            "does not match its header.*7840 data bytes.*100",
        ),
        (_header(0x08, (2, 2)) + bytes(5), "does not match its header.*4 data bytes.*5"),
        (b"\x01\x02" + _header(0x08, (2,))[2:] + bytes(2), "bad magic number 0x0102"),
        (_header(0x07, (2,)) + bytes(2), "bad magic number 0x00000701"),
        (bytes([0, 0, 8, 3]) + bytes(4), "truncated: header needs 16 bytes"),
        (bytes([0, 0]), "too short to be an IDX file: 2 bytes"),
        (bytes([0, 0, 8, 0]), "declares 0 dimensions"),
    ],
)
@pytest.mark.parametrize("compress", [False, True])
def test_corrupt_files_raise_naming_the_path(tmp_path, payload, match, compress):
    path = tmp_path / "bad-idx-ubyte"
    path.write_bytes(gzip.compress(payload) if compress else payload)
    with pytest.raises(ValueError, match=re.escape(str(path)) + ".*" + match):
        read_idx(path)


def test_truncated_gzip_raises_naming_the_path(tmp_path):
    path = tmp_path / "t.gz"
    blob = gzip.compress(_header(0x08, (100,)) + bytes(range(100)))
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match=re.escape(str(path)) + ".*corrupt or truncated gzip"):
        read_idx(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_idx(tmp_path / "nope")


def test_write_idx_rejects_unsupported_dtype(tmp_path):
    with pytest.raises(TypeError, match="got int64"):
        write_idx(tmp_path / "x", np.zeros(3, np.int64))


def _write_split(directory, prefix, split, images, labels, compress):
    suffix = ".gz" if compress else ""
    write_idx(directory / f"{prefix}{split}-images-idx3-ubyte{suffix}", images, compress)
    write_idx(directory / f"{prefix}{split}-labels-idx1-ubyte{suffix}", labels, compress)


@pytest.mark.parametrize("prefix", ["", "kmnist-"])
def test_load_idx_dataset(tmp_path, prefix):
    rng = np.random.default_rng(1)
    tr_x = rng.integers(0, 256, (6, 28, 28), dtype=np.uint8)
    te_x = rng.integers(0, 256, (3, 28, 28), dtype=np.uint8)
    tr_y, te_y = np.arange(6, dtype=np.uint8), np.array([9, 8, 7], np.uint8)
    _write_split(tmp_path, prefix, "train", tr_x, tr_y, compress=True)
    _write_split(tmp_path, prefix, "t10k", te_x, te_y, compress=False)
    x_train, y_train, x_test, y_test = load_idx_dataset(tmp_path, prefix=prefix)
    assert x_train.shape == (6, 1, 28, 28) and x_test.shape == (3, 1, 28, 28)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    np.testing.assert_allclose(x_train[:, 0] * 255, tr_x, atol=1e-4)
    np.testing.assert_allclose(x_test[:, 0] * 255, te_x, atol=1e-4)
    np.testing.assert_array_equal(y_train, tr_y)
    np.testing.assert_array_equal(y_test, te_y)


def test_load_idx_dataset_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no train-images-idx3-ubyte or .*\\.gz in"):
        load_idx_dataset(tmp_path)
    with pytest.raises(FileNotFoundError, match="not a directory"):
        load_idx_dataset(tmp_path / "missing")
    _write_split(tmp_path, "", "train", np.zeros((4, 2, 2), np.uint8), np.zeros(3, np.uint8), False)
    with pytest.raises(ValueError, match=r"one label per image \(4 in .*got shape \(3,\)"):
        load_idx_dataset(tmp_path)
