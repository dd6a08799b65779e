"""Pooling primitives in any number of spatial dimensions.

Every pool walks the kernel offsets: for offset ``k`` the inputs read by all windows form one
strided slice (:func:`.window.offset_slices`), so a pool is ``prod(kernel)`` vectorised array
operations, forward and backward -- no window tensor is materialised and no scatter is used.

* **Max pool** pads with ``-inf``. Among tied values the *first* window element in row-major
  kernel order wins and receives the whole gradient (PyTorch's CPU rule): the forward pass
  records each window's first maximal offset and the backward pass routes the gradient there.
* **Window sum** (zero-padded by the caller) is the primitive under average pooling.
* **Adaptive max along one axis**: output ``i`` covers ``[floor(i*L/out), ceil((i+1)*L/out))``.
  A box max is separable, so N-d adaptive max is one 1-D pass per axis; its ties also resolve
  to the first element in row-major order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from ..autograd import Tensor, is_grad_enabled, record
from ..backend import in_layout_of, map_chunks, row_blocks
from .window import offset_slices, valid_out_shape

__all__ = ["max_pool_padded", "window_sum", "adaptive_max_1d", "adaptive_bounds", "max_unpool_flat"]

Ints = Sequence[int]


# A max-pool over this many input elements or more runs on the worker threads, a block of the
# batch each (measured on 2 cores, LeNet's first pool, (128, 6, 28, 28) = 602K elements: 0.78 ->
# 0.46 ms; its second, 205K: 0.30 -> 0.37 ms, slower). The backward's routing did not gain.
PARALLEL_MIN_ELEMENTS = 1 << 19


@lru_cache(maxsize=256)
def _pool_slices(out: tuple[int, ...], kernel: tuple[int, ...], stride: tuple[int, ...],
                 dilation: tuple[int, ...]) -> list[tuple[Any, ...]]:
    """The strided slice of (N, C, *S) that each kernel offset reads, cached per layer shape."""
    return [index for _, index in offset_slices(out, kernel, stride, dilation, axis=2)]


def _max_and_first_argmax(
    xp: np.ndarray, slices: list[tuple[Any, ...]], best: np.ndarray, arg: np.ndarray | None
) -> None:
    """Write the window maxima of ``xp`` to ``best`` and, if given, the first maximal offsets to ``arg``.

    Offsets count in row-major kernel order; a window whose maximum is NaN has no maximal
    element and gets ``K = len(slices)``. Walking the offsets in order, ``xs > best`` holds
    exactly where offset ``i`` beats every earlier one (a tie, ``-0.0`` against ``+0.0``
    included, keeps the earlier), and ``i`` exceeds every offset recorded so far, so
    ``arg = max(arg, i * (xs > best))`` keeps the first maximum with two small integer ops.
    """
    np.copyto(best, xp[slices[0]])
    if arg is None:
        for index in slices[1:]:
            np.maximum(best, xp[index], out=best)
        return
    arg_type = arg.dtype.type
    arg.fill(0)
    beats = np.empty_like(best, dtype=bool)
    flag = beats.view(np.uint8)  # 1 where ``beats``
    step = flag if arg.dtype == np.uint8 else np.empty_like(arg)
    for i, index in enumerate(slices[1:], 1):
        xs = xp[index]
        np.greater(xs, best, out=beats)
        np.maximum(best, xs, out=best)  # NaN-propagating
        np.multiply(flag, arg_type(i), out=step)
        np.maximum(arg, step, out=arg)
    if best.dtype.kind in "fc":  # a NaN maximum: no element equals it, so no winner
        np.not_equal(best, best, out=beats)
        np.multiply(flag, arg_type(len(slices)), out=step)
        np.maximum(arg, step, out=arg)


def _route(g: np.ndarray, arg: np.ndarray, slices: list[tuple[Any, ...]], gp: np.ndarray, add: bool) -> None:
    """Send each ``g`` to offset ``arg`` of its window in ``gp``: write, or ``add`` (overlapping windows).

    ``g & mask`` on the bit pattern (mask all ones or zeros) is an exact select: the winner
    gets ``g`` and the rest +0.0, even where ``g`` is inf or NaN (``g * (arg == i)`` is not).
    """
    bits = np.dtype(f"i{g.itemsize}")
    g_bits = g.view(bits)
    hit = np.empty_like(arg, dtype=bool)
    mask = hit.view(np.int8)
    chosen = np.empty_like(g) if add else g
    for i, index in enumerate(slices):
        np.equal(arg, i, out=hit)
        np.negative(mask, out=mask)  # True -> -1: all bits set
        if add:
            np.bitwise_and(g_bits, mask, out=chosen.view(bits))
            gp[index] += chosen
        else:  # each input feeds one window
            np.bitwise_and(g_bits, mask, out=gp[index].view(bits))


def max_pool_padded(
    x: Tensor,
    kernel: Ints,
    stride: Ints,
    dilation: Ints,
    pads: Sequence[tuple[int, int]],
    return_indices: bool = False,
) -> tuple[Tensor, np.ndarray | None]:
    """Primitive: max over windows of ``x`` (N, C, *S) padded with ``-inf`` by ``pads``.

    Returns the pooled tensor and, if asked, the flat index into each channel's ``*S`` of the
    chosen element (as ``torch.nn.functional.max_pool*d(return_indices=True)``).

    When a gradient or the indices will need it, the forward pass also records each window's
    first maximal offset (one small unsigned integer per output), so the backward pass only
    routes ``g`` and the tape keeps no padded copy of ``x``. The output and the gradient keep
    the input's memory layout (a channels-last input stays channels-last).
    """
    n = len(kernel)
    xd = x.data
    width = [(0, 0), (0, 0)] + [tuple(p) for p in pads]
    interior = tuple(slice(lo, lo + s) for s, (lo, _) in zip(xd.shape, width))
    xp = xd
    if any(map(any, pads)):  # ``np.pad`` with -inf, keeping a channels-last input's layout
        padded = tuple(s + lo + hi for s, (lo, hi) in zip(xd.shape, width))
        xp = np.full_like(xd, xd.dtype.type(-np.inf), shape=padded)  # integers: OverflowError
        xp[interior] = xd
    out_shape = valid_out_shape(xp.shape[2:], kernel, stride, dilation)
    slices = _pool_slices(out_shape, tuple(kernel), tuple(stride), tuple(dilation))
    best = np.empty_like(xp[slices[0]])  # (N, C, *out_shape), laid out like ``xp``
    track = return_indices or (is_grad_enabled() and x.requires_grad)
    arg = np.empty_like(best, dtype=np.min_scalar_type(len(slices))) if track else None

    def pool_block(b: slice) -> None:  # windows never cross images: blocks of the batch are independent
        _max_and_first_argmax(xp[b], slices, best[b], None if arg is None else arg[b])

    map_chunks(pool_block, row_blocks(xp, PARALLEL_MIN_ELEMENTS))
    padded_shape = xp.shape  # the backward needs only ``arg``, not ``xp``

    disjoint = all(d == 1 and st >= k for st, d, k in zip(stride, dilation, kernel))
    # Non-overlapping windows that tile the whole input (the usual 2x2/2 pool): every input
    # element is written exactly once, so the gradient needs no zero fill and no crop.
    tiles = (
        disjoint
        and not any(map(any, pads))
        and all(st == k and o * k == s for st, k, o, s in zip(stride, kernel, out_shape, xd.shape[2:]))
    )

    def vjp(g: np.ndarray) -> tuple[np.ndarray]:
        if arg is None:  # cannot happen: ``record`` keeps this VJP exactly when ``track`` is set
            raise RuntimeError("max_pool: the forward pass did not record the argmax the backward needs.")
        g = in_layout_of(g, arg)  # at most one copy, so that every pass below walks memory in order
        make = np.empty_like if tiles else np.zeros_like
        gp = make(xd, g.dtype, shape=padded_shape)  # laid out like ``x``
        _route(g, arg, slices, gp, add=not disjoint)
        return (gp if tiles else gp[interior],)

    indices = None
    if arg is not None and return_indices:
        first = np.where(arg == len(slices), 0, arg)  # no maximum (NaN): report the first element
        offsets = np.unravel_index(first, tuple(kernel))  # per-axis kernel offset of the winner
        flat = np.zeros(first.shape, np.int64)
        for ax in range(n):
            o = np.arange(out_shape[ax]).reshape((-1,) + (1,) * (n - 1 - ax))
            pos = o * stride[ax] + offsets[ax] * dilation[ax] - pads[ax][0]
            flat = flat * xd.shape[2 + ax] + pos
        indices = flat
    return record(best, (x,), vjp, "max_pool"), indices


def window_sum(x: Tensor, kernel: Ints, stride: Ints, dilation: Ints) -> Tensor:
    """Primitive: sum over every window of ``x`` (N, C, *S) (no padding: pad first)."""
    xd = x.data
    out_shape = valid_out_shape(xd.shape[2:], kernel, stride, dilation)
    total = np.zeros(xd.shape[:2] + out_shape, xd.dtype)
    for _, index in offset_slices(out_shape, kernel, stride, dilation, axis=2):
        total += xd[index]

    def vjp(g: np.ndarray) -> tuple[np.ndarray]:
        gx = np.zeros(xd.shape, g.dtype)
        for _, index in offset_slices(out_shape, kernel, stride, dilation, axis=2):
            gx[index] += g
        return (gx,)

    return record(total, (x,), vjp, "window_sum")


def adaptive_bounds(size: int, out: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the start and stop of each adaptive window: ``floor(i*L/out)``, ``ceil((i+1)*L/out)``."""
    i = np.arange(out)
    return (i * size) // out, -((-(i + 1) * size) // out)


def adaptive_max_1d(x: Tensor, axis: int, out: int) -> Tensor:
    """Primitive: adaptive max pool along one axis of ``x``."""
    xd = x.data
    size = xd.shape[axis]
    start, stop = adaptive_bounds(size, out)
    width = int((stop - start).max())
    idx = start[:, None] + np.arange(width)  # (out, width); past ``stop`` -> the -inf sentinel
    idx = np.where(idx < stop[:, None], idx, size)
    xm = np.moveaxis(xd, axis, -1)
    xm = np.concatenate([xm, np.full(xm.shape[:-1] + (1,), -np.inf, xd.dtype)], axis=-1)
    vals = xm[..., idx]  # (..., out, width)
    arg = vals.argmax(axis=-1)  # first maximum wins
    res = np.take_along_axis(vals, arg[..., None], -1)[..., 0]

    def vjp(g: np.ndarray) -> tuple[np.ndarray]:
        gm = np.moveaxis(g, axis, -1)  # (..., out)
        onehot = (arg[..., None] == np.arange(width)) * gm[..., None]  # (..., out, width)
        # scatter (out, width) -> positions, as a product with a fixed 0/1 matrix (no add.at)
        scatter = np.zeros((out * width, size + 1), g.dtype)
        scatter[np.arange(out * width), idx.ravel()] = 1
        gx = onehot.reshape(onehot.shape[:-2] + (-1,)) @ scatter
        return (np.moveaxis(gx[..., :size], -1, axis),)

    return record(np.moveaxis(res, -1, axis), (x,), vjp, "adaptive_max")


def max_unpool_flat(x: Tensor, indices: np.ndarray, out_spatial: Ints) -> Tensor:
    """Primitive: place ``x`` (N, C, *O) at the flat ``indices`` of zeros (N, C, *out_spatial)."""
    n_, c = x.shape[:2]
    size = math.prod(out_spatial)
    flat_idx = indices.reshape(n_, c, -1)
    out = np.zeros((n_, c, size), x.dtype)
    np.put_along_axis(out, flat_idx, x.data.reshape(n_, c, -1), axis=2)
    shape = x.shape

    def vjp(g: np.ndarray) -> tuple[np.ndarray]:
        return (np.take_along_axis(g.reshape(n_, c, -1), flat_idx, axis=2).reshape(shape),)

    return record(out.reshape((n_, c) + tuple(out_spatial)), (x,), vjp, "max_unpool")
