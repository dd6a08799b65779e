"""CIFAR-10, binary version, parsed with NumPy (the pickled "python version" is never loaded).

The binary version (``cifar-10-binary.tar.gz``, folder ``cifar-10-batches-bin``) holds
``data_batch_1.bin`` .. ``data_batch_5.bin`` (10,000 images each) and ``test_batch.bin``.
Each record is 3,073 bytes: one label byte (0..9), then 3,072 pixel bytes, the 32x32 red
plane, then green, then blue, each row-major — so a record reshapes directly to
`(3, 32, 32)`, channels first.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["cifar10", "read_cifar10_bin", "CIFAR10_CLASSES"]

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
_RECORD = 1 + 3 * 32 * 32
_TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
_TEST_FILE = "test_batch.bin"
_BINARY_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"


def read_cifar10_bin(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 binary batch file.

    Args:
        path: a ``*.bin`` file of 3,073-byte records.

    Returns:
        `(x, y)`: images float32 `(N, 3, 32, 32)` in [0, 1], labels int64 `(N,)`.

    Raises:
        FileNotFoundError: `path` does not exist.
        ValueError: the size is not a positive multiple of 3,073 bytes, or a label is >= 10.

    Examples:
        >>> import pathlib, tempfile
        >>> record = bytes([7]) + bytes(3072)
        >>> with tempfile.TemporaryDirectory() as d:
        ...     p = pathlib.Path(d) / "test_batch.bin"
        ...     _ = p.write_bytes(record * 2)
        ...     x, y = read_cifar10_bin(p)
        >>> x.shape, y
        ((2, 3, 32, 32), array([7, 7]))
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"read_cifar10_bin: no such file: {path}")
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0 or raw.size % _RECORD:
        raise ValueError(
            f"read_cifar10_bin: {path} must be a whole number of {_RECORD}-byte records "
            f"(1 label byte + 3072 pixel bytes); got {raw.size} bytes (truncated or not a "
            f"CIFAR-10 binary file)."
        )
    records = raw.reshape(-1, _RECORD)
    labels = records[:, 0]
    if labels.max() >= 10:
        bad = int(np.flatnonzero(labels >= 10)[0])
        raise ValueError(
            f"read_cifar10_bin: {path} record {bad} has label {labels[bad]}; CIFAR-10 labels "
            f"must be < 10 (is this CIFAR-100 or a corrupt file?)."
        )
    x = (records[:, 1:].reshape(-1, 3, 32, 32) / np.float32(255)).astype(np.float32)
    return x, labels.astype(np.int64)


def _batches_dir(root: Path) -> Path:
    """Return the folder holding the ``.bin`` files: `root` itself or its batches folder."""
    for directory in (root, root / "cifar-10-batches-bin"):
        if (directory / _TEST_FILE).is_file():
            return directory
    for directory in (root, root / "cifar-10-batches-py"):
        if (directory / "data_batch_1").is_file() or (directory / "test_batch").is_file():
            raise ValueError(
                f"cifar10: {directory} holds the pickled 'python version' of CIFAR-10, which "
                f"ndconv never loads (unpickling can run arbitrary code). Download the binary "
                f"version instead: {_BINARY_URL} (folder cifar-10-batches-bin)."
            )
    return root


def cifar10(
    root: str | os.PathLike[str],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Load CIFAR-10 (50,000 train / 10,000 test 32x32 colour images) from its binary files.

    Args:
        root: the ``cifar-10-batches-bin`` folder of ``cifar-10-binary.tar.gz``, or a folder
            containing it.

    Returns:
        `(x_train, y_train, x_test, y_test)`: images float32 `(N, 3, 32, 32)` in [0, 1],
        labels int64 `(N,)`. Class names are in `CIFAR10_CLASSES`.

    Raises:
        FileNotFoundError: `root` or one of the six ``.bin`` files is missing.
        ValueError: `root` holds the pickled python version, or a file is corrupt.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"cifar10: `root` must be a directory holding the CIFAR-10 binary files; "
            f"got {root}, which is not a directory. Download {_BINARY_URL} and extract it."
        )
    directory = _batches_dir(root)
    missing = [f for f in (*_TRAIN_FILES, _TEST_FILE) if not (directory / f).is_file()]
    if missing:
        raise FileNotFoundError(
            f"cifar10: {directory} is missing {', '.join(missing)}; the binary version "
            f"({_BINARY_URL}) has data_batch_1.bin .. data_batch_5.bin and test_batch.bin."
        )
    train = [read_cifar10_bin(directory / f) for f in _TRAIN_FILES]
    x_test, y_test = read_cifar10_bin(directory / _TEST_FILE)
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    return x_train, y_train, x_test, y_test
