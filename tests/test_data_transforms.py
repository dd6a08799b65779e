"""Tests for ndconv.data.transforms: shapes, rng determinism, reference equality, errors."""

from __future__ import annotations

import numpy as np
import pytest

from ndconv.data.transforms import Compose, Normalize, Pad, RandomCrop, RandomFlip, RandomShift

SPATIAL = [(16,), (8, 9), (5, 6, 7)]


def _batch(spatial: tuple[int, ...], n: int = 6, c: int = 2) -> np.ndarray:
    size = n * c * int(np.prod(spatial))
    return np.arange(1, size + 1, dtype=np.float32).reshape((n, c, *spatial))


def _crop_reference(x, size, padding, seed):
    """Per-sample loop with the same draws as RandomCrop: the slow, obvious version."""
    rng = np.random.default_rng(seed)
    k = x.ndim - 2
    xp = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in padding])
    high = np.array([s + 2 * p - w + 1 for s, p, w in zip(x.shape[2:], padding, size)])
    starts = rng.integers(0, high, size=(x.shape[0], k))
    out = np.empty((x.shape[0], x.shape[1], *size), x.dtype)
    for n in range(x.shape[0]):
        window = tuple(slice(s, s + w) for s, w in zip(starts[n], size))
        out[n] = xp[(n, slice(None), *window)]
    return out


@pytest.mark.parametrize("spatial", SPATIAL)
def test_random_crop_matches_per_sample_reference(spatial):
    x = _batch(spatial)
    size = tuple(max(1, s - 2) for s in spatial)
    padding = (3,) * len(spatial)
    out = RandomCrop(size, padding=3)(x, np.random.default_rng(7))
    assert out.shape == (6, 2, *size)
    assert out.dtype == x.dtype
    np.testing.assert_array_equal(out, _crop_reference(x, size, padding, 7))


@pytest.mark.parametrize("spatial", SPATIAL)
def test_random_crop_rng_determinism(spatial):
    x = _batch(spatial)
    t = RandomCrop(spatial, padding=2)
    a = t(x, np.random.default_rng(1))
    b = t(x, np.random.default_rng(1))
    c = t(x, np.random.default_rng(2))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_random_crop_without_padding_full_size_is_identity():
    x = _batch((8, 9))
    np.testing.assert_array_equal(RandomCrop((8, 9))(x, np.random.default_rng(0)), x)


def test_random_crop_offsets_vary_per_sample():
    x = np.broadcast_to(_batch((12,), n=1), (64, 2, 12)).copy()
    out = RandomCrop(4, padding=0)(x, np.random.default_rng(0))
    assert len({tuple(row) for row in out[:, 0]}) > 1


@pytest.mark.parametrize("spatial", SPATIAL)
def test_random_shift_keeps_shape_and_matches_crop_reference(spatial):
    x = _batch(spatial)
    out = RandomShift(2)(x, np.random.default_rng(3))
    assert out.shape == x.shape
    np.testing.assert_array_equal(out, _crop_reference(x, spatial, (2,) * len(spatial), 3))


def test_random_shift_zero_is_identity_and_shift_moves_content():
    x = _batch((5, 6))
    np.testing.assert_array_equal(RandomShift(0)(x, np.random.default_rng(0)), x)
    shifted = RandomShift((0, 3))(x, np.random.default_rng(0))
    # Rows never move along axis 0; each sample is its row-content shifted by <= 3 columns.
    assert not np.array_equal(shifted, x)
    padded = np.pad(x, [(0, 0), (0, 0), (0, 0), (3, 3)])
    for n in range(x.shape[0]):
        assert any(
            np.array_equal(shifted[n], np.roll(padded[n], s, -1)[..., 3:-3]) for s in range(-3, 4)
        )


@pytest.mark.parametrize("spatial", SPATIAL)
@pytest.mark.parametrize("axis", [0, -1])
def test_random_flip_extremes_and_mix(spatial, axis):
    x = _batch(spatial, n=32)
    ax = 2 + axis % len(spatial)
    np.testing.assert_array_equal(
        RandomFlip(axis, p=1.0)(x, np.random.default_rng(0)), np.flip(x, ax)
    )
    np.testing.assert_array_equal(RandomFlip(axis, p=0.0)(x, np.random.default_rng(0)), x)
    out = RandomFlip(axis, p=0.5)(x, np.random.default_rng(5))
    flipped = [np.array_equal(out[n], np.flip(x[n], ax - 1)) for n in range(32)]
    kept = [np.array_equal(out[n], x[n]) for n in range(32)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert 0 < sum(flipped) < 32
    np.testing.assert_array_equal(out, RandomFlip(axis, p=0.5)(x, np.random.default_rng(5)))


@pytest.mark.parametrize("spatial", SPATIAL)
def test_pad_centres_content(spatial):
    x = _batch(spatial)
    to = tuple(s + 3 for s in spatial)
    out = Pad(to)(x)
    assert out.shape == (6, 2, *to)
    inner = tuple(slice(1, 1 + s) for s in spatial)  # low = 3 // 2 = 1, high = 2
    np.testing.assert_array_equal(out[(slice(None), slice(None), *inner)], x)
    assert out.sum() == x.sum()


def test_normalize_per_channel():
    x = np.stack([np.full((4, 4), 2.0), np.full((4, 4), 10.0)])[None].astype(np.float32)
    out = Normalize([1.0, 4.0], [0.5, 2.0])(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[0, 0], 2.0)
    np.testing.assert_allclose(out[0, 1], 3.0)
    np.testing.assert_allclose(Normalize(0.5, 0.5)(x.astype(np.float64))[0, 0], 3.0)
    assert Normalize(0.5, 0.5)(x.astype(np.float64)).dtype == np.float64


def test_compose_passes_rng_and_is_deterministic():
    x = _batch((6, 6))
    t = Compose([Pad(8), RandomCrop(6, padding=1), RandomFlip(-1), Normalize(0.0, 2.0)])
    a = t(x, np.random.default_rng(11))
    np.testing.assert_array_equal(a, t(x, np.random.default_rng(11)))
    assert a.shape == x.shape
    assert not np.array_equal(a, t(x, np.random.default_rng(12)))


@pytest.mark.parametrize(
    "make, exc, match",
    [
        (lambda: RandomCrop(4)(np.zeros((1, 1, 8)), None), TypeError, "`rng` must be"),
        (lambda: RandomShift(1)(np.zeros((1, 1, 8)), None), TypeError, "`rng` must be"),
        (lambda: RandomFlip()(np.zeros((1, 1, 8)), None), TypeError, "`rng` must be"),
        (
            lambda: RandomCrop((4, 4))(np.zeros((1, 1, 8)), np.random.default_rng()),
            ValueError,
            r"one value per spatial axis \(1\); got size=\(4, 4\)",
        ),
        (
            lambda: RandomCrop(9)(np.zeros((1, 1, 8)), np.random.default_rng()),
            ValueError,
            r"size=\(9,\)",
        ),
        (lambda: RandomCrop(0), ValueError, "`size` values must be ints >= 1; got 0"),
        (lambda: RandomCrop(4, padding=-1), ValueError, "`padding` values must be"),
        (lambda: RandomCrop("a"), TypeError, "`size` must be an int or"),
        (lambda: RandomFlip(p=1.5), ValueError, r"`p` must be in \[0, 1\]; got p=1.5"),
        (
            lambda: RandomFlip(axis=2)(np.zeros((1, 1, 4, 4)), np.random.default_rng()),
            ValueError,
            "got axis=2",
        ),
        (lambda: Pad(4)(np.zeros((1, 1, 8))), ValueError, r"got to=\(4,\)"),
        (lambda: Pad(8)(np.zeros((1, 8))), ValueError, r"x.shape=\(1, 8\)"),
        (lambda: Pad(8)([[[0.0]]]), TypeError, "got list"),
        (lambda: Normalize(0.0, 0.0), ValueError, r"`std` values must be > 0; got std=\[0.0\]"),
        (
            lambda: Normalize([0.0, 0.0, 0.0], 1.0)(np.zeros((1, 2, 4))),
            ValueError,
            "`mean` must have 1 or C=2 values",
        ),
        (lambda: Compose([Pad(4), 3]), TypeError, r"`transforms\[1\]` must be callable"),
    ],
)
def test_errors_name_argument_and_value(make, exc, match):
    with pytest.raises(exc, match=match):
        make()
