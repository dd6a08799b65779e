"""Batch transforms for `(N, C, *spatial)` arrays, in any number of spatial dimensions.

Every transform works on a whole batch at once (no per-sample Python loop) and is called as
``t(x, rng)``. Random transforms draw from the `rng` they are given and nothing else, so a
seeded `numpy.random.Generator` makes augmentation exactly reproducible; deterministic
transforms accept ``rng=None``.

Spatial sizes (`size`, `padding`, `max_shift`, `to`) are an int, meaning the same value on
every spatial axis, or a sequence with one value per spatial axis.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "Transform",
    "Compose",
    "Normalize",
    "Pad",
    "RandomCrop",
    "RandomFlip",
    "RandomShift",
]

IntOrSeq = int | Sequence[int]


class Transform(Protocol):
    """Anything called as ``t(x, rng)`` that maps a batch array to a batch array."""

    def __call__(
        self, x: np.ndarray, rng: np.random.Generator | None = None
    ) -> np.ndarray: ...  # pragma: no cover


def _check_batch(x: object, owner: str, min_ndim: int = 3) -> np.ndarray:
    """Return `x` as an array, checking it is a batch `(N, C, *spatial)`."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{owner}: `x` must be a numpy.ndarray; got {type(x).__name__}.")
    if x.ndim < min_ndim:
        layout = "(N, C, ...)" if min_ndim < 3 else "(N, C, *spatial), >= 1 spatial axis"
        raise ValueError(f"{owner}: `x` must be a batch {layout}; got x.shape={x.shape}.")
    return x


def _check_rng(rng: object, owner: str) -> np.random.Generator:
    """Return `rng`, checking it is a Generator (random transforms never invent one)."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"{owner}: `rng` must be a numpy.random.Generator, e.g. np.random.default_rng(0); "
            f"got {type(rng).__name__}."
        )
    return rng


def _check_int_or_seq(value: object, name: str, owner: str, minimum: int) -> tuple[int, ...]:
    """Normalise an int-or-sequence hyper-parameter; the rank is checked at call time."""
    items = (value,) if isinstance(value, (int, np.integer)) else value
    if not isinstance(items, Sequence) or isinstance(items, str) or len(items) == 0:
        raise TypeError(
            f"{owner}: `{name}` must be an int or a non-empty sequence of ints; got {value!r}."
        )
    out = []
    for v in items:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{owner}: `{name}` must hold ints; got {value!r}.")
        if v < minimum:
            raise ValueError(f"{owner}: `{name}` values must be ints >= {minimum}; got {value!r}.")
        out.append(int(v))
    return tuple(out)


def _per_axis(values: tuple[int, ...], ndim: int, name: str, owner: str, shape: tuple) -> tuple:
    """Broadcast a normalised hyper-parameter to `ndim` spatial axes."""
    if len(values) == 1:
        return values * ndim
    if len(values) != ndim:
        raise ValueError(
            f"{owner}: `{name}` must have one value per spatial axis ({ndim}); "
            f"got {name}={values} for x.shape={shape}."
        )
    return values


def _gather_windows(x: np.ndarray, starts: np.ndarray, size: tuple[int, ...]) -> np.ndarray:
    """Cut one window of `size` per sample, sample n starting at `starts[n]`.

    Every window position is a zero-copy view (``sliding_window_view``); one advanced index
    (sample n, position ``starts[n]``) copies out each sample's window, whole rows at a time.
    """
    k = len(size)
    win = sliding_window_view(x, size, axis=tuple(range(2, 2 + k)))  # (N, C, *positions, *size)
    index = (np.arange(x.shape[0]), slice(None)) + tuple(starts[:, d] for d in range(k))
    return win[index]  # (N, C, *size)


def _pad_spatial(x: np.ndarray, pad: Sequence[tuple[int, int]]) -> np.ndarray:
    """Zero-pad the spatial axes of `x` by `(low, high)` pairs."""
    if not any(lo or hi for lo, hi in pad):
        return x
    return np.pad(x, [(0, 0), (0, 0), *pad])


class Compose:
    """Apply transforms in order, passing each the same `rng`.

    Args:
        transforms: the transforms, applied first to last.

    Examples:
        >>> t = Compose([Pad(32), RandomFlip(axis=-1)])
        >>> t(np.zeros((2, 1, 28, 28), np.float32), np.random.default_rng(0)).shape
        (2, 1, 32, 32)
    """

    def __init__(self, transforms: Sequence[Transform]) -> None:
        transforms = list(transforms)
        for i, t in enumerate(transforms):
            if not callable(t):
                raise TypeError(
                    f"Compose: `transforms[{i}]` must be callable as t(x, rng); "
                    f"got {type(t).__name__}."
                )
        self.transforms = transforms

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        for t in self.transforms:
            x = t(x, rng)
        return x

    def __repr__(self) -> str:
        return f"Compose({self.transforms!r})"


class Normalize:
    """Subtract a per-channel mean and divide by a per-channel standard deviation.

    ``out[:, c] = (x[:, c] - mean[c]) / std[c]``; a scalar applies to every channel.

    Args:
        mean: a float, or one float per channel.
        std: a float, or one float per channel; all > 0.

    Shapes:
        x: `(N, C, ...)`; out: same shape, float32 unless `x` is float64.

    Raises:
        ValueError: `std` not positive, or the number of values does not match `C`.

    Examples:
        >>> Normalize([0.5], [0.25])(np.ones((2, 1, 3), np.float32))[0, 0]
        array([2., 2., 2.], dtype=float32)
    """

    def __init__(self, mean: float | Sequence[float], std: float | Sequence[float]) -> None:
        self.mean = np.atleast_1d(np.asarray(mean, dtype=np.float64))
        self.std = np.atleast_1d(np.asarray(std, dtype=np.float64))
        for name, v in (("mean", self.mean), ("std", self.std)):
            if v.ndim != 1 or not np.all(np.isfinite(v)):
                raise ValueError(
                    f"Normalize: `{name}` must be a finite float or a 1-D sequence of floats; "
                    f"got {name}={v.tolist()}."
                )
        if np.any(self.std <= 0):
            raise ValueError(f"Normalize: `std` values must be > 0; got std={self.std.tolist()}.")

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        x = _check_batch(x, "Normalize", min_ndim=2)
        c = x.shape[1]
        for name, v in (("mean", self.mean), ("std", self.std)):
            if v.size not in (1, c):
                raise ValueError(
                    f"Normalize: `{name}` must have 1 or C={c} values to match x; "
                    f"got {v.size} values with x.shape={x.shape}."
                )
        dtype = x.dtype if x.dtype == np.float64 else np.float32
        shape = (1, -1) + (1,) * (x.ndim - 2)  # broadcasts over (N, C, *spatial)
        mean = self.mean.astype(dtype).reshape(shape)
        std = self.std.astype(dtype).reshape(shape)
        return (x.astype(dtype, copy=False) - mean) / std

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


class Pad:
    """Zero-pad the spatial axes, centred, up to the size `to` (e.g. MNIST 28 -> 32 for LeNet).

    An odd amount of padding puts the extra row/column at the high end.

    Args:
        to: target spatial size, an int or one int per spatial axis.

    Shapes:
        x: `(N, C, *S)`; out: `(N, C, *to)`.

    Raises:
        ValueError: an axis of `x` is already larger than `to`.

    Examples:
        >>> Pad((4, 5))(np.ones((1, 1, 2, 2))).shape
        (1, 1, 4, 5)
    """

    def __init__(self, to: IntOrSeq) -> None:
        self.to = _check_int_or_seq(to, "to", "Pad", minimum=1)

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        x = _check_batch(x, "Pad")
        spatial = x.shape[2:]
        to = _per_axis(self.to, len(spatial), "to", "Pad", x.shape)
        if any(t < s for t, s in zip(to, spatial)):
            raise ValueError(
                f"Pad: `to` must be >= the spatial size on every axis; got to={to} for "
                f"x.shape={x.shape}."
            )
        pad = [((t - s) // 2, t - s - (t - s) // 2) for t, s in zip(to, spatial)]
        return _pad_spatial(x, pad)

    def __repr__(self) -> str:
        return f"Pad(to={self.to})"


class RandomCrop:
    """Zero-pad by `padding`, then cut a window of `size` at a random place in each sample.

    Offsets are drawn independently per sample and per axis, uniformly over all positions
    where the window fits.

    Args:
        size: window size, an int or one int per spatial axis.
        padding: zeros added on both sides of every spatial axis first (int or per axis).

    Shapes:
        x: `(N, C, *S)`; out: `(N, C, *size)`, needing ``size[i] <= S[i] + 2*padding[i]``.

    Raises:
        ValueError: the window does not fit in the padded input.

    Examples:
        >>> RandomCrop(28, padding=4)(np.ones((3, 1, 28, 28)), np.random.default_rng(0)).shape
        (3, 1, 28, 28)
    """

    def __init__(self, size: IntOrSeq, padding: IntOrSeq = 0) -> None:
        self.size = _check_int_or_seq(size, "size", "RandomCrop", minimum=1)
        self.padding = _check_int_or_seq(padding, "padding", "RandomCrop", minimum=0)

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        x = _check_batch(x, "RandomCrop")
        rng = _check_rng(rng, "RandomCrop")
        k = x.ndim - 2
        size = _per_axis(self.size, k, "size", "RandomCrop", x.shape)
        padding = _per_axis(self.padding, k, "padding", "RandomCrop", x.shape)
        padded = [s + 2 * p for s, p in zip(x.shape[2:], padding)]
        if any(w > s for w, s in zip(size, padded)):
            raise ValueError(
                f"RandomCrop: `size` must be <= the padded spatial size {tuple(padded)}; "
                f"got size={size}, padding={padding} for x.shape={x.shape}."
            )
        xp = _pad_spatial(x, [(p, p) for p in padding])
        high = np.array([s - w + 1 for s, w in zip(padded, size)])
        starts = rng.integers(0, high, size=(x.shape[0], k))  # (N, k)
        return _gather_windows(xp, starts, size)

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomShift:
    """Translate each sample by a random whole number of pixels, filling with zeros.

    The shift on each spatial axis is uniform in ``[-max_shift, max_shift]``, drawn per sample.
    Equivalent to ``RandomCrop(size=S, padding=max_shift)``: the spatial size is unchanged.

    Args:
        max_shift: the largest shift, an int or one int per spatial axis.

    Shapes:
        x: `(N, C, *S)`; out: `(N, C, *S)`.

    Examples:
        >>> RandomShift(2)(np.ones((4, 2, 16)), np.random.default_rng(0)).shape
        (4, 2, 16)
    """

    def __init__(self, max_shift: IntOrSeq) -> None:
        self.max_shift = _check_int_or_seq(max_shift, "max_shift", "RandomShift", minimum=0)

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        x = _check_batch(x, "RandomShift")
        rng = _check_rng(rng, "RandomShift")
        k = x.ndim - 2
        shift = _per_axis(self.max_shift, k, "max_shift", "RandomShift", x.shape)
        xp = _pad_spatial(x, [(m, m) for m in shift])
        starts = rng.integers(0, 2 * np.array(shift) + 1, size=(x.shape[0], k))  # (N, k)
        return _gather_windows(xp, starts, x.shape[2:])

    def __repr__(self) -> str:
        return f"RandomShift(max_shift={self.max_shift})"


class RandomFlip:
    """Reverse one spatial axis of each sample with probability `p`.

    Args:
        axis: the spatial axis to flip, counted among the spatial axes only: 0 is the first
            spatial axis, -1 the last (the horizontal flip of an image).
        p: probability that a given sample is flipped, in [0, 1].

    Shapes:
        x: `(N, C, *S)`; out: same shape.

    Raises:
        ValueError: `p` outside [0, 1]; `axis` out of range for `x`.

    Examples:
        >>> RandomFlip(axis=0, p=1.0)(np.arange(3.0).reshape(1, 1, 3), np.random.default_rng(0))
        array([[[2., 1., 0.]]])
    """

    def __init__(self, axis: int = -1, p: float = 0.5) -> None:
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"RandomFlip: `axis` must be an int; got {axis!r}.")
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomFlip: `p` must be in [0, 1]; got p={p!r}.")
        self.axis = int(axis)
        self.p = float(p)

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        x = _check_batch(x, "RandomFlip")
        rng = _check_rng(rng, "RandomFlip")
        k = x.ndim - 2
        if not -k <= self.axis < k:
            raise ValueError(
                f"RandomFlip: `axis` must index one of the {k} spatial axes (-{k}..{k - 1}); "
                f"got axis={self.axis} for x.shape={x.shape}."
            )
        flip = rng.random(x.shape[0]) < self.p  # (N,)
        out = x.copy()
        out[flip] = np.flip(x[flip], axis=2 + self.axis % k)
        return out

    def __repr__(self) -> str:
        return f"RandomFlip(axis={self.axis}, p={self.p})"
