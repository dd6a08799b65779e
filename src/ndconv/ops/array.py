"""Primitives that move data without arithmetic: reshape, transpose, indexing, concat."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..autograd import Tensor, as_tensor, record

__all__ = [
    "reshape",
    "transpose",
    "permute",
    "getitem",
    "concat",
    "stack",
    "broadcast_to",
    "flatten",
    "squeeze",
    "unsqueeze",
    "take_along_axis",
]


def reshape(a: Tensor, shape: Sequence[int]) -> Tensor:
    """Return ``a`` with a new shape (one entry may be -1)."""
    in_shape = a.shape
    try:
        out = a.data.reshape(tuple(shape))
    except ValueError as e:
        raise ValueError(f"reshape: cannot reshape a tensor of shape {in_shape} to {tuple(shape)}.") from e
    return record(out, (a,), lambda g: (g.reshape(in_shape),), "reshape")


def flatten(a: Tensor, start_dim: int = 1, end_dim: int = -1) -> Tensor:
    """Merge the axes ``start_dim..end_dim`` into one (composite of reshape)."""
    nd = a.ndim
    s, e = start_dim % nd, end_dim % nd
    shape = a.shape[:s] + (-1,) + a.shape[e + 1 :]
    return reshape(a, shape)


def squeeze(a: Tensor, axis: int) -> Tensor:
    """Remove axis ``axis`` of size 1."""
    shape = list(a.shape)
    if shape[axis] != 1:
        raise ValueError(f"squeeze: axis {axis} has size {shape[axis]}, not 1 (shape {a.shape}).")
    del shape[axis]
    return reshape(a, shape)


def unsqueeze(a: Tensor, axis: int) -> Tensor:
    """Insert an axis of size 1 at position ``axis``."""
    shape = list(a.shape)
    shape.insert(axis if axis >= 0 else len(shape) + axis + 1, 1)
    return reshape(a, shape)


def transpose(a: Tensor, axis0: int = -2, axis1: int = -1) -> Tensor:
    """Swap two axes."""
    axes = list(range(a.ndim))
    axes[axis0], axes[axis1] = axes[axis1], axes[axis0]
    return permute(a, axes)


def permute(a: Tensor, axes: Sequence[int]) -> Tensor:
    """Reorder the axes (``np.transpose``)."""
    axes = tuple(int(x) % a.ndim for x in axes)
    if sorted(axes) != list(range(a.ndim)):
        raise ValueError(f"permute: `axes` must be a permutation of 0..{a.ndim - 1}; got {axes}.")
    inverse = tuple(np.argsort(axes))
    return record(a.data.transpose(axes), (a,), lambda g: (g.transpose(inverse),), "permute")


def broadcast_to(a: Tensor, shape: Sequence[int]) -> Tensor:
    """Broadcast ``a`` to ``shape`` (the engine sums the gradient back)."""
    return record(np.broadcast_to(a.data, tuple(shape)), (a,), lambda g: (g,), "broadcast_to")


def _is_basic(index: Any) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (int, np.integer, slice)) or i is None or i is Ellipsis for i in items)


def _scatter_sum(flat: np.ndarray, g: np.ndarray, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """Return zeros of ``shape`` with ``g`` added at the flat positions ``flat`` (repeats sum up)."""
    total = np.bincount(flat.ravel(), weights=g.ravel(), minlength=int(np.prod(shape)))
    return total.reshape(shape).astype(dtype, copy=False)


def getitem(a: Tensor, index: Any) -> Tensor:
    """Index ``a`` like a NumPy array (basic and advanced indexing).

    The VJP of advanced indexing sums the gradients of repeated positions with ``bincount``.
    """
    if isinstance(index, Tensor):
        index = index.data
    if isinstance(index, tuple):
        index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
    x = a.data
    out = x[index]
    shape, dtype = x.shape, x.dtype

    def vjp(g: np.ndarray) -> tuple[np.ndarray]:
        if _is_basic(index):
            gx = np.zeros(shape, dtype)
            gx[index] = g
            return (gx,)
        flat = np.arange(int(np.prod(shape))).reshape(shape)[index]
        return (_scatter_sum(flat, np.broadcast_to(g, flat.shape), shape, dtype),)

    return record(out, (a,), vjp, "getitem")


def take_along_axis(a: Tensor, indices: np.ndarray, axis: int) -> Tensor:
    """Pick one entry per position along ``axis`` (``np.take_along_axis``), e.g. a label's logit."""
    idx = np.asarray(indices)
    x = a.data
    out = np.take_along_axis(x, idx, axis)
    shape, dtype = x.shape, x.dtype

    def vjp(g: np.ndarray) -> tuple[np.ndarray]:
        gx = np.zeros(shape, dtype)
        if idx.shape[axis] == 1:  # one pick per row: no repeats, a plain put is exact
            np.put_along_axis(gx, idx, g, axis)
            return (gx,)
        flat = np.take_along_axis(np.arange(gx.size).reshape(shape), idx, axis)
        return (_scatter_sum(flat, g, shape, dtype),)

    return record(out, (a,), vjp, "take_along_axis")


def concat(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis."""
    ts = [as_tensor(t) for t in tensors]
    if not ts:
        raise ValueError("concat: `tensors` must not be empty.")
    out = np.concatenate([t.data for t in ts], axis=axis)
    bounds = np.cumsum([t.shape[axis] for t in ts])[:-1]
    return record(out, ts, lambda g: tuple(np.split(g, bounds, axis=axis)), "concat")


def stack(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors along a new axis."""
    ts = [as_tensor(t) for t in tensors]
    if not ts:
        raise ValueError("stack: `tensors` must not be empty.")
    out = np.stack([t.data for t in ts], axis=axis)
    n = len(ts)
    return record(out, ts, lambda g: tuple(np.moveaxis(g, axis, 0)[i] for i in range(n)), "stack")
