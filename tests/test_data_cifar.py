"""Tests for the CIFAR-10 binary reader on generated files."""

from __future__ import annotations

import re

import numpy as np
import pytest

from ndconv.data import cifar10, get_dataset, read_cifar10_bin

FILES = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]


def _write_cifar(directory, records_per_file=3, seed=0):
    """Write the six binary files; return {name: (labels, pixels (N, 3072))}."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    made = {}
    for name in FILES:
        labels = rng.integers(0, 10, records_per_file, dtype=np.uint8)
        pixels = rng.integers(0, 256, (records_per_file, 3072), dtype=np.uint8)
        (directory / name).write_bytes(np.column_stack([labels, pixels]).tobytes())
        made[name] = (labels, pixels)
    return made


def test_round_trip_layout(tmp_path):
    made = _write_cifar(tmp_path)
    x_train, y_train, x_test, y_test = cifar10(tmp_path)
    assert x_train.shape == (15, 3, 32, 32) and x_test.shape == (3, 3, 32, 32)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    assert 0.0 <= x_train.min() and x_train.max() <= 1.0
    np.testing.assert_array_equal(y_train, np.concatenate([made[f][0] for f in FILES[:5]]))
    np.testing.assert_array_equal(y_test, made["test_batch.bin"][0])
    # byte 1 + c*1024 + r*32 + k of a record is channel c, row r, column k
    labels, pixels = made["data_batch_2.bin"]
    n, c, r, k = 1, 2, 5, 30
    assert x_train[3 + n, c, r, k] == np.float32(pixels[n, c * 1024 + r * 32 + k] / np.float32(255))


def test_root_may_be_the_parent_folder(tmp_path):
    _write_cifar(tmp_path / "cifar-10-batches-bin")
    splits = get_dataset("cifar-10", root=tmp_path)
    assert splits.name == "cifar10" and splits.num_classes == 10
    assert splits.x_train.shape == (15, 3, 32, 32)


def test_corrupt_size_and_label(tmp_path):
    path = tmp_path / "test_batch.bin"
    path.write_bytes(bytes(3073 * 2 - 1))
    with pytest.raises(
        ValueError, match=re.escape(str(path)) + ".*whole number of 3073-byte.*6145"
    ):
        read_cifar10_bin(path)
    path.write_bytes(b"")
    with pytest.raises(ValueError, match="got 0 bytes"):
        read_cifar10_bin(path)
    path.write_bytes(bytes(3073) + bytes([12]) + bytes(3072))
    with pytest.raises(ValueError, match=re.escape(str(path)) + ".*record 1 has label 12"):
        read_cifar10_bin(path)


def test_missing_files_and_root(tmp_path):
    _write_cifar(tmp_path)
    (tmp_path / "data_batch_4.bin").unlink()
    with pytest.raises(FileNotFoundError, match="missing data_batch_4.bin"):
        cifar10(tmp_path)
    with pytest.raises(FileNotFoundError, match="not a directory"):
        cifar10(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="'cifar10' needs `root`"):
        get_dataset("cifar10")


def test_python_version_is_refused(tmp_path):
    py = tmp_path / "cifar-10-batches-py"
    py.mkdir()
    (py / "data_batch_1").write_bytes(b"\x80\x04not really a pickle")
    with pytest.raises(ValueError, match="pickled 'python version'.*cifar-10-binary.tar.gz"):
        cifar10(tmp_path)
