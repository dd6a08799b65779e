"""Stride-1 convolution with few input channels, on the flattened image ("flat" route).

Channels-last im2col (:mod:`.conv`) copies windows whose innermost run is ``C_in`` floats;
with 1-16 input channels that run is too short for the copy to be fast. Here the layout is
channels-first and each padded image is flattened: with row strides ``r`` of the padded
spatial grid, the window offset ``k`` (a kernel position) is the single number
``off_k = sum_d k_d * dilation_d * r_d``, and for stride 1::

    y[o, p] = sum_{c, k} w[o, c, k] * x[c, p + off_k]      for every flat position p

So im2col becomes ``prod(K)*C_in`` copies of *contiguous* runs of the flat input, and one
GEMM ``(C_out, C_in*K) @ (C_in*K, positions)`` gives every output channel. The price: p runs
over whole padded rows, ``O_0 * prod(S_pad[1:])`` positions per image instead of
``prod(O)``; the positions past the valid output in the trailing axes are computed and
dropped (at most 1.4x extra work for LeNet's 5x5 on 14x14, 1.06x for 3x3 on 32x32).

The gradient uses the same columns: ``dW = dY @ cols^T`` (``dY`` zero at the dropped
positions) and the input gradient adds ``W^T @ dY`` back at the ``prod(K)`` offsets, again
contiguous runs. Work is split into chunks of whole images, run on the thread pool.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..autograd import Tensor, record
from ..backend import map_chunks

__all__ = ["FLAT_MAX_CHANNELS", "flat_route_applies", "conv_valid_flat"]

# The route is taken for groups=1, stride 1 and up to this many input channels (measured on
# 2 cores: LeNet's 1- and 6-channel layers run 2-3x faster than channels-last im2col; at 64
# channels channels-last is 2x faster).
FLAT_MAX_CHANNELS = 16
# Image chunks hold about this many bytes of columns (a chunk is at least one image).
CHUNK_BYTES = 1 << 23
# Columns kept from the forward pass for the backward pass up to this size; beyond it they
# are copied again (the copies are contiguous and cheap next to the memory they would hold).
KEEP_COLS_BYTES = 1 << 26


def flat_route_applies(c_in: int, stride: Sequence[int], groups: int) -> bool:
    """Return whether :func:`conv_valid_flat` handles this layer."""
    return groups == 1 and c_in <= FLAT_MAX_CHANNELS and all(s == 1 for s in stride)


class _Plan:
    """Geometry of the flat route for one layer: offsets, positions per image, slices."""

    def __init__(self, spatial: tuple[int, ...], kernel: tuple[int, ...],
                 dilation: tuple[int, ...], pads: tuple[tuple[int, int], ...]) -> None:
        self.kernel = kernel
        self.padded = tuple(s + lo + hi for s, (lo, hi) in zip(spatial, pads))
        self.out = tuple(s - d * (k - 1) for s, d, k in zip(self.padded, dilation, kernel))
        rows = [math.prod(self.padded[i + 1 :]) for i in range(len(self.padded))]
        self.plane = math.prod(self.padded)
        self.span = self.out[0] * rows[0]  # flat positions computed per image
        self.steps = tuple(d * r for d, r in zip(dilation, rows))  # flat step of each kernel axis
        self.offsets = [sum(k * st for k, st in zip(idx, self.steps)) for idx in np.ndindex(*kernel)]
        self.tail = self.offsets[-1]  # zeros after the last image: its runs may read past it
        self.inner = tuple(slice(lo, lo + s) for s, (lo, _) in zip(spatial, pads))
        self.valid = (slice(None),) * 3 + tuple(slice(0, o) for o in self.out[1:])  # (C, N, O_0, ...)
        self.grid = (self.out[0],) + self.padded[1:]  # the positions of one image, as a grid

    def runs(self, flat: np.ndarray, nb: int, offset: int) -> np.ndarray:
        """View (C, nb, span) of ``flat`` (C, nb*plane + tail): each image's run at ``offset``."""
        c = flat.shape[0]
        return flat[:, offset : offset + nb * self.plane].reshape(c, nb, self.plane)[..., : self.span]


@lru_cache(maxsize=256)
def _plan(spatial: tuple[int, ...], kernel: tuple[int, ...], dilation: tuple[int, ...],
          pads: tuple[tuple[int, int], ...]) -> _Plan:
    return _Plan(spatial, kernel, dilation, pads)


def _columns(xc: np.ndarray, plan: _Plan) -> np.ndarray:
    """im2col of a chunk ``xc`` (nb, C, *S): (C*K, nb*span), the runs of every offset."""
    nb, c = xc.shape[:2]
    flat = np.zeros((c, nb * plan.plane + plan.tail), xc.dtype)
    flat[:, : nb * plan.plane].reshape((c, nb) + plan.padded)[(slice(None),) * 2 + plan.inner] = (
        xc.swapaxes(0, 1))
    item = flat.itemsize
    # (C, *K, nb, span): kernel axis d steps plan.steps[d] floats; the tail keeps it in bounds
    view = as_strided(flat, (c,) + plan.kernel + (nb, plan.span),
                      (flat.strides[0],) + tuple(st * item for st in plan.steps) + (plan.plane * item, item))
    return view.reshape(-1, nb * plan.span)  # the one copy


def conv_valid_flat(x: Tensor, w: Tensor, dilation: Sequence[int],
                    zero_pad: Sequence[tuple[int, int]], bias: Tensor | None = None) -> Tensor:
    """Primitive: :func:`ndconv.ops.conv.conv_valid` for stride 1, groups 1, few channels."""
    xd, wd = x.data, w.data
    n, c = xd.shape[:2]
    c_out = wd.shape[0]
    plan = _plan(xd.shape[2:], wd.shape[2:], tuple(dilation), tuple((lo, hi) for lo, hi in zero_pad))
    wm = wd.reshape(c_out, -1)  # (C_out, C*K), columns in (c, *k) order like cols' rows
    k_rows = wm.shape[1]
    step = max(1, CHUNK_BYTES // (k_rows * plan.span * xd.itemsize))
    if n > 1:
        step = min(step, -(-n // 2))  # at least two chunks: both threads get work
    chunks = [slice(a, min(a + step, n)) for a in range(0, n, step)]
    keep = len(chunks) * step * k_rows * plan.span * xd.itemsize <= KEEP_COLS_BYTES
    y = np.empty((n, c_out) + plan.out, xd.dtype)
    kept: dict[int, np.ndarray] = {}
    bias_col = None if bias is None else bias.data.reshape((-1,) + (1,) * (len(plan.grid) + 1))

    def forward(b: slice) -> None:
        cols = _columns(xd[b], plan)
        nb = b.stop - b.start
        yc = (wm @ cols).reshape((c_out, nb) + plan.grid)
        if bias is not None:
            yc += bias_col
        y[b] = yc[plan.valid].swapaxes(0, 1)
        if keep:
            kept[b.start] = cols

    map_chunks(forward, chunks)

    def vjp(g: np.ndarray) -> tuple[np.ndarray | None, ...]:
        gx = np.empty(xd.shape, xd.dtype) if x.requires_grad else None
        gb = None
        if bias is not None and bias.requires_grad:
            gb = g.sum(axis=(0,) + tuple(range(2, g.ndim)))

        def backward(b: slice) -> np.ndarray | None:
            nb = b.stop - b.start
            gc = np.zeros((c_out, nb) + plan.grid, g.dtype)  # zero at the dropped positions
            gc[plan.valid] = g[b].swapaxes(0, 1)
            gm = gc.reshape(c_out, -1)
            cols = kept[b.start] if keep else _columns(xd[b], plan)
            if gx is not None:
                contrib = (wm.T @ gm).reshape(c, len(plan.offsets), nb, plan.span)
                flat = np.zeros((c, nb * plan.plane + plan.tail), g.dtype)
                for k, off in enumerate(plan.offsets):
                    run = plan.runs(flat, nb, off)  # within one offset the runs are disjoint
                    run += contrib[:, k]
                inner = flat[:, : nb * plan.plane].reshape((c, nb) + plan.padded)
                gx[b] = inner[(slice(None),) * 2 + plan.inner].swapaxes(0, 1)
            return (cols @ gm.T).T if w.requires_grad else None  # faster than gm @ cols.T

        parts = map_chunks(backward, chunks)
        if not w.requires_grad:
            return gx, None, gb
        gwm = np.zeros_like(wm)
        for part in parts:  # summed in chunk order: the same result on any thread count
            gwm += part
        return gx, gwm.reshape(wd.shape), gb

    return record(y, (x, w, bias), vjp, "conv")
