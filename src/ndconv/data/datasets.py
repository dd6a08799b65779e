"""Datasets: indexable collections of `(x, y)` samples held as NumPy arrays."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ndconv.data.transforms import Transform

__all__ = ["Dataset", "ArrayDataset"]


class Dataset:
    """Base class: a sized collection whose item `i` is a sample pair `(x, y)`.

    Subclasses implement `__len__` and `__getitem__`. `get_batch` gathers many samples at once;
    the default stacks `__getitem__` results, and subclasses that can do better (like
    `ArrayDataset`) override it. `DataLoader` only ever calls `get_batch`.
    """

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must implement __len__.")

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__.")

    def get_batch(
        self, indices: Sequence[int] | np.ndarray, rng: np.random.Generator | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Gather the samples at `indices` into one batch.

        Args:
            indices: sample indices, in batch order.
            rng: random generator for random per-dataset transforms (unused here).

        Returns:
            `(xb, yb)`: `xb` float32 of shape `(B, *sample_shape)`, `yb` int64 of shape `(B,)`.
        """
        pairs = [self[int(i)] for i in indices]
        if not pairs:
            return np.zeros((0,), np.float32), np.zeros((0,), np.int64)
        xb = np.stack([np.asarray(x, dtype=np.float32) for x, _ in pairs])
        yb = np.asarray([y for _, y in pairs], dtype=np.int64)
        return xb, yb


class ArrayDataset(Dataset):
    """Wrap a sample array `x` and a label array `y` of the same length.

    `x` is kept as given (no copy) and cast to float32 one batch at a time. A `transform`
    is a batch transform (see `ndconv.data.transforms`) applied to each gathered batch.

    Args:
        x: samples, shape `(N, *sample_shape)`, e.g. `(N, C, *spatial)`.
        y: integer class labels, shape `(N,)`.
        transform: optional batch transform, called as ``transform(xb, rng)``.
        seed: seed of the generator `__getitem__` passes to `transform`. `DataLoader`
            passes its own per-epoch generator instead.

    Raises:
        TypeError: `y` does not hold integers, or `transform` is not callable.
        ValueError: `x` and `y` differ in length, or `y` is not 1-D.

    Examples:
        >>> ds = ArrayDataset(np.zeros((10, 1, 4, 4)), np.arange(10))
        >>> x, y = ds[3]
        >>> len(ds), x.shape, x.dtype, y
        (10, (1, 4, 4), dtype('float32'), 3)
    """

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        transform: Transform | None = None,
        seed: int | None = None,
    ) -> None:
        x = np.asarray(x)
        y = np.asarray(y)
        if x.ndim < 1:
            raise ValueError(
                f"ArrayDataset: `x` must have a leading sample axis; got x.shape={x.shape}."
            )
        if y.ndim != 1:
            raise ValueError(
                f"ArrayDataset: `y` must be 1-D, one label per sample; got y.shape={y.shape}."
            )
        if len(x) != len(y):
            raise ValueError(
                f"ArrayDataset: `x` and `y` must have the same length; "
                f"got x.shape={x.shape}, y.shape={y.shape}."
            )
        if not (np.issubdtype(y.dtype, np.integer) or y.dtype == np.bool_):
            raise TypeError(
                f"ArrayDataset: `y` must hold integer class labels; got dtype {y.dtype}."
            )
        if transform is not None and not callable(transform):
            raise TypeError(
                f"ArrayDataset: `transform` must be callable as t(x, rng) or None; "
                f"got {type(transform).__name__}."
            )
        self.x = x
        self.y = y
        self.transform = transform
        self._rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        n = len(self)
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"ArrayDataset: `index` must be an int; got {type(index).__name__}.")
        if not -n <= index < n:
            raise IndexError(f"ArrayDataset: `index` must be in [-{n}, {n}); got index={index}.")
        xb, yb = self.get_batch([int(index) % n], self._rng)
        return xb[0], int(yb[0])

    def get_batch(
        self, indices: Sequence[int] | np.ndarray, rng: np.random.Generator | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Gather a batch by fancy indexing the whole arrays (no per-sample loop).

        Args:
            indices: sample indices, in batch order.
            rng: generator passed to `transform`; defaults to the dataset's own.

        Returns:
            `(xb, yb)`: float32 `(B, *sample_shape)` and int64 `(B,)`.
        """
        idx = np.asarray(indices, dtype=np.intp)
        xb = np.asarray(self.x[idx], dtype=np.float32)
        if self.transform is not None:
            xb = self.transform(xb, self._rng if rng is None else rng)
        return xb, self.y[idx].astype(np.int64)

    def __repr__(self) -> str:
        extra = f", transform={self.transform!r}" if self.transform is not None else ""
        return f"ArrayDataset(x.shape={self.x.shape}, y.shape={self.y.shape}{extra})"
