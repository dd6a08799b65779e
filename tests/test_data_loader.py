"""Tests for ndconv.data Dataset, ArrayDataset and DataLoader."""

from __future__ import annotations

import numpy as np
import pytest

from ndconv.data import ArrayDataset, DataLoader, Dataset, RandomCrop, RandomFlip


def _arrays(n: int = 10) -> tuple[np.ndarray, np.ndarray]:
    x = np.arange(n * 2 * 3 * 3, dtype=np.uint8).reshape(n, 2, 3, 3)
    return x, np.arange(n) % 4


class LoopDataset(Dataset):
    """A plain per-sample dataset: the slow path the ArrayDataset fast path must match."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


class NoGetitemArrayDataset(ArrayDataset):
    def __getitem__(self, i):
        raise AssertionError("the fast path must not index samples one by one")


def _epoch(loader):
    return [(xb.copy(), yb.copy()) for xb, yb in loader]


def test_batches_shapes_dtypes_order_and_len():
    x, y = _arrays(10)
    loader = DataLoader(ArrayDataset(x, y), batch_size=4)
    batches = _epoch(loader)
    assert len(loader) == 3 == len(batches)
    assert [xb.shape for xb, _ in batches] == [(4, 2, 3, 3), (4, 2, 3, 3), (2, 2, 3, 3)]
    assert all(xb.dtype == np.float32 and yb.dtype == np.int64 for xb, yb in batches)
    np.testing.assert_array_equal(np.concatenate([xb for xb, _ in batches]), x.astype(np.float32))
    np.testing.assert_array_equal(np.concatenate([yb for _, yb in batches]), y)


def test_drop_last():
    x, y = _arrays(10)
    loader = DataLoader(ArrayDataset(x, y), batch_size=4, drop_last=True)
    batches = _epoch(loader)
    assert len(loader) == 2 == len(batches)
    assert all(xb.shape[0] == 4 for xb, _ in batches)
    assert len(DataLoader(ArrayDataset(x, y), batch_size=5, drop_last=True)) == 2
    assert len(DataLoader(ArrayDataset(x, y), batch_size=11, drop_last=True)) == 0
    assert len(DataLoader(ArrayDataset(x, y), batch_size=11)) == 1


def test_seeded_shuffle_reproducible_and_differs_per_epoch():
    x, y = _arrays(50)
    ds = ArrayDataset(x, np.arange(50))
    a = DataLoader(ds, batch_size=8, shuffle=True, seed=3)
    b = DataLoader(ds, batch_size=8, shuffle=True, seed=3)
    orders_a = [np.concatenate([yb for _, yb in a]) for _ in range(3)]
    orders_b = [np.concatenate([yb for _, yb in b]) for _ in range(3)]
    for oa, ob in zip(orders_a, orders_b):
        np.testing.assert_array_equal(oa, ob)
        np.testing.assert_array_equal(np.sort(oa), np.arange(50))  # a permutation
    assert not np.array_equal(orders_a[0], orders_a[1])
    assert not np.array_equal(orders_a[1], orders_a[2])
    assert not np.array_equal(orders_a[0], np.arange(50))
    other = DataLoader(ds, batch_size=8, shuffle=True, seed=4)
    assert not np.array_equal(np.concatenate([yb for _, yb in other]), orders_a[0])


def test_set_epoch_and_epoch_advances_at_iter_time():
    ds = ArrayDataset(*_arrays(30))
    loader = DataLoader(ds, batch_size=30, shuffle=True, seed=0)
    first = next(iter(loader))[1]
    assert loader.epoch == 1
    it = iter(loader)
    assert loader.epoch == 2  # advanced before the first batch is drawn
    second = next(it)[1]
    loader.set_epoch(0)
    np.testing.assert_array_equal(next(iter(loader))[1], first)
    loader.set_epoch(1)
    np.testing.assert_array_equal(next(iter(loader))[1], second)


def test_unseeded_loader_still_differs_per_epoch():
    loader = DataLoader(ArrayDataset(np.zeros((40, 1)), np.arange(40)), batch_size=40, shuffle=True)
    e0, e1 = next(iter(loader))[1], next(iter(loader))[1]
    assert not np.array_equal(e0, e1)
    np.testing.assert_array_equal(np.sort(e0), np.arange(40))


def test_fast_path_matches_per_sample_path_and_skips_getitem():
    x, y = _arrays(23)
    kwargs = dict(batch_size=5, shuffle=True, seed=9)
    fast = _epoch(DataLoader(NoGetitemArrayDataset(x, y), **kwargs))
    slow = _epoch(DataLoader(LoopDataset(x, y), **kwargs))
    duck = _epoch(DataLoader([(x[i], y[i]) for i in range(23)], **kwargs))
    assert len(fast) == len(slow) == len(duck) == 5
    for (xf, yf), (xs, ys), (xd, yd) in zip(fast, slow, duck):
        np.testing.assert_array_equal(xf, xs)
        np.testing.assert_array_equal(yf, ys)
        np.testing.assert_array_equal(xf, xd)
        np.testing.assert_array_equal(yf, yd)
        assert xs.dtype == np.float32 and ys.dtype == np.int64


def test_loader_transform_deterministic_and_independent_of_shuffle():
    x = np.random.default_rng(0).random((40, 1, 8, 8)).astype(np.float32)
    ds = ArrayDataset(x, np.arange(40))
    t = RandomCrop(8, padding=2)
    a = _epoch(DataLoader(ds, batch_size=16, shuffle=True, seed=1, transform=t))
    b = _epoch(DataLoader(ds, batch_size=16, shuffle=True, seed=1, transform=t))
    plain = _epoch(DataLoader(ds, batch_size=16, shuffle=True, seed=1))
    for (xa, ya), (xb, yb), (xp, yp) in zip(a, b, plain):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
        np.testing.assert_array_equal(ya, yp)  # adding a transform keeps the order
        assert xa.shape == xp.shape
    assert any(not np.array_equal(xa, xp) for (xa, _), (xp, _) in zip(a, plain))


def test_array_dataset_transform_and_getitem():
    x = np.arange(8, dtype=np.float32).reshape(2, 1, 4)
    ds = ArrayDataset(x, np.array([1, 0]), transform=RandomFlip(0, p=1.0))
    xi, yi = ds[0]
    np.testing.assert_array_equal(xi, [[3, 2, 1, 0]])
    assert yi == 1 and isinstance(yi, int)
    assert ds[-1][1] == 0
    xb, yb = next(iter(DataLoader(ds, batch_size=2, seed=0)))
    np.testing.assert_array_equal(xb, x[:, :, ::-1])
    np.testing.assert_array_equal(yb, [1, 0])


@pytest.mark.parametrize(
    "make, exc, match",
    [
        (
            lambda ds: DataLoader(ds, batch_size=0),
            ValueError,
            "`batch_size` must be >= 1; got batch_size=0",
        ),
        (lambda ds: DataLoader(ds, batch_size=True), TypeError, "`batch_size` must be an int"),
        (lambda ds: DataLoader(ds, batch_size=2.0), TypeError, "got 2.0"),
        (lambda ds: DataLoader(ds, seed=-1), ValueError, "`seed` must be >= 0; got seed=-1"),
        (lambda ds: DataLoader(ds, seed="a"), TypeError, "`seed` must be an int or None"),
        (lambda ds: DataLoader(ds, shuffle=1), TypeError, "`shuffle` must be a bool; got 1"),
        (lambda ds: DataLoader(ds, transform=3), TypeError, "`transform` must be callable"),
        (
            lambda ds: DataLoader(42),
            TypeError,
            "`dataset` must have __len__ and __getitem__; got int",
        ),
        (
            lambda ds: DataLoader(ds).set_epoch(-2),
            ValueError,
            "`epoch` must be an int >= 0; got -2",
        ),
        (
            lambda ds: ArrayDataset(np.zeros((3, 2)), np.zeros(4, int)),
            ValueError,
            r"same length; got x.shape=\(3, 2\), y.shape=\(4,\)",
        ),
        (
            lambda ds: ArrayDataset(np.zeros((3, 2)), np.zeros(3)),
            TypeError,
            "integer class labels; got dtype float64",
        ),
        (
            lambda ds: ArrayDataset(np.zeros((3, 2)), np.zeros((3, 1), int)),
            ValueError,
            r"`y` must be 1-D.*y.shape=\(3, 1\)",
        ),
        (lambda ds: ds[10], IndexError, r"`index` must be in \[-10, 10\); got index=10"),
        (lambda ds: ds[1.0], TypeError, "`index` must be an int; got float"),
    ],
)
def test_errors_name_argument_and_value(make, exc, match):
    ds = ArrayDataset(*_arrays(10))
    with pytest.raises(exc, match=match):
        make(ds)
