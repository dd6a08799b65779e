"""DataLoader: iterate over a dataset in NumPy mini-batches, with reproducible shuffling."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from ndconv.data.datasets import Dataset
from ndconv.data.transforms import Transform

__all__ = ["DataLoader"]


def _stack_samples(dataset: object, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gather a batch from any object with `__getitem__` returning `(x, y)` pairs."""
    pairs = [dataset[int(i)] for i in indices]  # type: ignore[index]
    xb = np.stack([np.asarray(x, dtype=np.float32) for x, _ in pairs])
    yb = np.asarray([y for _, y in pairs], dtype=np.int64)
    return xb, yb


class DataLoader:
    """Iterate over `dataset` in batches `(xb, yb)`: `xb` float32, `yb` int64.

    Shuffling is reproducible: the order of epoch `e` comes from
    ``np.random.default_rng(np.random.SeedSequence([seed, e]))``, so the same `seed` gives the
    same sequence of epochs, and each epoch has a different order. Each ``iter(loader)``
    uses the current epoch and then advances it by one; `set_epoch` sets it explicitly
    (e.g. when resuming training). Random transforms draw from an independent stream of the
    same epoch seed, so adding a transform does not change the shuffle order.

    When the dataset provides `get_batch` (every `Dataset`; `ArrayDataset` gathers a whole
    batch with one fancy index) that is used; other objects with `__len__` and
    `__getitem__` are gathered sample by sample.

    Args:
        dataset: a `Dataset`, or any object with `__len__` and `__getitem__` -> `(x, y)`.
        batch_size: samples per batch, >= 1.
        shuffle: draw a new permutation every epoch; otherwise keep dataset order.
        drop_last: drop the final batch when it has fewer than `batch_size` samples.
        seed: non-negative int for reproducible shuffles and augmentation; None draws
            fresh entropy once, when the loader is made.
        transform: optional batch transform applied to every `xb`, as ``transform(xb, rng)``.

    Raises:
        TypeError: `dataset` lacks `__len__`/`__getitem__`, or an argument has the wrong type.
        ValueError: `batch_size` < 1 or `seed` < 0.

    Examples:
        >>> from ndconv.data import ArrayDataset
        >>> ds = ArrayDataset(np.zeros((10, 1, 8, 8)), np.arange(10) % 3)
        >>> loader = DataLoader(ds, batch_size=4, shuffle=True, seed=0)
        >>> len(loader), [xb.shape[0] for xb, yb in loader]
        (3, [4, 4, 2])
    """

    def __init__(
        self,
        dataset: Dataset | Sequence,
        batch_size: int = 32,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int | None = None,
        transform: Transform | None = None,
    ) -> None:
        if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
            raise TypeError(
                f"DataLoader: `dataset` must have __len__ and __getitem__; "
                f"got {type(dataset).__name__}."
            )
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
            raise TypeError(f"DataLoader: `batch_size` must be an int; got {batch_size!r}.")
        if batch_size < 1:
            raise ValueError(f"DataLoader: `batch_size` must be >= 1; got batch_size={batch_size}.")
        for name, flag in (("shuffle", shuffle), ("drop_last", drop_last)):
            if not isinstance(flag, (bool, np.bool_)):
                raise TypeError(f"DataLoader: `{name}` must be a bool; got {flag!r}.")
        if seed is not None:
            if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
                raise TypeError(f"DataLoader: `seed` must be an int or None; got {seed!r}.")
            if seed < 0:
                raise ValueError(f"DataLoader: `seed` must be >= 0; got seed={seed}.")
        if transform is not None and not callable(transform):
            raise TypeError(
                f"DataLoader: `transform` must be callable as t(x, rng) or None; "
                f"got {type(transform).__name__}."
            )
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.seed = int(np.random.SeedSequence().entropy if seed is None else seed)  # type: ignore[arg-type]
        self.transform = transform
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch whose order the next ``iter(loader)`` produces.

        Args:
            epoch: a non-negative int.

        Raises:
            ValueError: `epoch` is negative or not an int.
        """
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
            raise ValueError(f"DataLoader.set_epoch: `epoch` must be an int >= 0; got {epoch!r}.")
        self.epoch = int(epoch)

    def __len__(self) -> int:
        """Return the number of batches in one epoch."""
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        # Work out the epoch's order now, not lazily, so the epoch advances at iter() time.
        shuffle_seq, transform_seq = np.random.SeedSequence([self.seed, self.epoch]).spawn(2)
        self.epoch += 1
        n = len(self.dataset)
        order = np.random.default_rng(shuffle_seq).permutation(n) if self.shuffle else np.arange(n)
        return self._batches(order, np.random.default_rng(transform_seq))

    def _batches(
        self, order: np.ndarray, rng: np.random.Generator
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        get_batch = getattr(self.dataset, "get_batch", None)
        for b in range(len(self)):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]
            if get_batch is not None:
                xb, yb = get_batch(idx, rng)
            else:
                xb, yb = _stack_samples(self.dataset, idx)
            xb = np.asarray(xb, dtype=np.float32)
            if self.transform is not None:
                xb = np.asarray(self.transform(xb, rng), dtype=np.float32)
            yield xb, np.asarray(yb, dtype=np.int64)

    def __repr__(self) -> str:
        return (
            f"DataLoader({type(self.dataset).__name__}(len={len(self.dataset)}), "
            f"batch_size={self.batch_size}, shuffle={self.shuffle}, drop_last={self.drop_last}, "
            f"seed={self.seed})"
        )
