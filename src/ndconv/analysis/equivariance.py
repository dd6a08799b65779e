"""Measure translation (shift) equivariance: does shifting the input shift the output?

A stride-1 convolution commutes with translations: ``conv(shift(x)) == shift(conv(x))`` --
exactly so with circular padding and circular shifts, where no border effect interferes.
Subsampling breaks this: a stride-``s`` layer (strided convolution, pooling) only commutes
with shifts by multiples of ``s`` (the output then moves by ``shift / s``); any other shift
changes *which* input samples are kept, and the output changes, not just moves -- the
aliasing that Zhang (2019, "Making Convolutional Networks Shift-Invariant Again") measures.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

import numpy as np

from ..autograd import Tensor, no_grad

__all__ = ["shift_equivariance_error"]

_OP = "shift_equivariance_error"


def _apply(fn: Callable[[np.ndarray], Any], x: np.ndarray) -> np.ndarray:
    with no_grad():
        y = fn(x)
    return y.numpy() if isinstance(y, Tensor) else np.asarray(y)


def _int(value: Any, name: str) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{_OP}: `{name}` must be an int; got {name}={value!r}.")
    return int(value)


def shift_equivariance_error(
    fn: Callable[[np.ndarray], Any], x: Any, shift: int, axis: int, stride: int | None = None
) -> float:
    """Return ``|fn(roll(x, shift)) - roll(fn(x), shift / stride)| / |fn(x)|`` along ``axis``.

    Shifts are circular (``np.roll``), so a circular-padded, stride-1 convolution gives 0 up
    to rounding. The output is rolled by ``shift / stride`` on the same axis; when ``stride``
    does not divide ``shift`` there is no such integer shift, and the error is the smaller of
    the two nearest ones (``floor`` and ``ceil`` of ``shift / stride``), so a large value
    means no output shift at all matches. Exact equivariance under a stride also needs the
    axis length to be a multiple of the stride.

    Args:
        fn: a function of one NumPy array returning an array or a Tensor, of the same rank,
            with ``x.shape[axis] / stride`` entries along ``axis`` (e.g. ``lambda v: F.conv(v, w)``).
        x: the input array.
        shift: the circular shift of the input, in samples (may be negative).
        axis: the axis of ``x`` (and of the output) to shift along.
        stride: the op's total stride along ``axis``; default inferred as
            ``x.shape[axis] // fn(x).shape[axis]`` (which must divide exactly).

    Returns:
        the relative error, a float >= 0 (the absolute error when ``fn(x)`` is all zeros).

    Raises:
        TypeError, ValueError: on a bad ``shift``, ``axis`` or ``stride``, an output of another
            rank, or a stride that cannot be inferred.

    >>> shift_equivariance_error(lambda v: 2 * v, np.arange(6.0), shift=1, axis=0)
    0.0
    >>> round(shift_equivariance_error(lambda v: v[::2], np.arange(6.0), shift=1, axis=0), 3)
    0.387
    """
    if not callable(fn):
        raise TypeError(f"{_OP}: `fn` must be callable; got {type(fn).__name__}.")
    x = x.numpy() if isinstance(x, Tensor) else np.asarray(x)
    shift, axis = _int(shift, "shift"), _int(axis, "axis")
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"{_OP}: `axis` must be in [-{x.ndim}, {x.ndim}) for x.shape={x.shape}; got {axis}.")
    axis %= x.ndim
    y = _apply(fn, x)
    if y.ndim != x.ndim:
        raise ValueError(
            f"{_OP}: `fn` must keep the rank of `x` so that `axis` means the same on both; got "
            f"x.shape={x.shape} -> fn(x).shape={y.shape}."
        )
    if stride is None:
        if y.shape[axis] == 0 or x.shape[axis] % y.shape[axis]:
            raise ValueError(
                f"{_OP}: cannot infer `stride` from x.shape[{axis}]={x.shape[axis]} and "
                f"fn(x).shape[{axis}]={y.shape[axis]} (not a whole ratio); pass stride=."
            )
        stride = x.shape[axis] // y.shape[axis]
    stride = _int(stride, "stride")
    if stride < 1:
        raise ValueError(f"{_OP}: `stride` must be >= 1; got stride={stride}.")
    y_shifted = _apply(fn, np.roll(x, shift, axis=axis))
    if y_shifted.shape != y.shape:
        raise ValueError(
            f"{_OP}: `fn` returned shape {y_shifted.shape} for the shifted input but {y.shape} for `x`."
        )
    candidates = {shift // stride, -(-shift // stride)}  # one value when stride divides shift
    diff = min(np.linalg.norm((y_shifted - np.roll(y, c, axis=axis)).ravel()) for c in candidates)
    scale = np.linalg.norm(y.ravel())
    return float(diff / scale) if scale > 0 else float(diff)
