"""Datasets, loaders and batch transforms on plain NumPy arrays.

This subpackage depends on NumPy and the standard library only, and imports nothing else
from ndconv, so it can be used on its own.

Examples:
    >>> from ndconv.data import ArrayDataset, DataLoader, RandomCrop, mnist_5k
    >>> x_train, y_train, x_test, y_test = mnist_5k()
    >>> loader = DataLoader(ArrayDataset(x_train, y_train), batch_size=64, shuffle=True,
    ...                     seed=0, transform=RandomCrop(28, padding=2))
    >>> xb, yb = next(iter(loader))
    >>> xb.shape, xb.dtype, yb.shape, yb.dtype, len(loader)
    ((64, 1, 28, 28), dtype('float32'), (64,), dtype('int64'), 63)
"""

from ndconv.data.cifar import CIFAR10_CLASSES, cifar10, read_cifar10_bin
from ndconv.data.datasets import ArrayDataset, Dataset
from ndconv.data.download import download, sha256_file
from ndconv.data.idx import load_idx_dataset, read_idx, write_idx
from ndconv.data.loader import DataLoader
from ndconv.data.mnist import fashion_mnist, mnist_5k
from ndconv.data.mnist1d_gen import mnist1d
from ndconv.data.registry import DATASET_NAMES, DatasetSplits, get_dataset
from ndconv.data.synthetic import SHAPE_CLASSES, VOLUME_CLASSES, shapes_segmentation, volumes
from ndconv.data.transforms import (
    Compose,
    Normalize,
    Pad,
    RandomCrop,
    RandomFlip,
    RandomShift,
    Transform,
)

__all__ = [
    "CIFAR10_CLASSES",
    "DATASET_NAMES",
    "ArrayDataset",
    "Compose",
    "DataLoader",
    "Dataset",
    "DatasetSplits",
    "Normalize",
    "Pad",
    "RandomCrop",
    "RandomFlip",
    "RandomShift",
    "SHAPE_CLASSES",
    "Transform",
    "VOLUME_CLASSES",
    "cifar10",
    "download",
    "fashion_mnist",
    "get_dataset",
    "load_idx_dataset",
    "mnist_5k",
    "mnist1d",
    "read_cifar10_bin",
    "read_idx",
    "sha256_file",
    "shapes_segmentation",
    "volumes",
    "write_idx",
]
