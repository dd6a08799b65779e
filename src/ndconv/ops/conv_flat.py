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

The weight gradient uses the same columns: ``dW = dY @ cols^T``, with ``dY`` laid on the
forward's flat positions (zero at the dropped ones). The input gradient ``dx[c, q] =
sum_{o,k} w[o, c, k] dY[o, q - off_k]`` stacks that same ``dY`` shifted by the last kernel
axis's offsets only (``K_last*C_out`` rows), so one GEMM gives a row per input channel and
leading-axis offset, and ``dx`` is a few shifted adds of long rows (:func:`_input_grad`).
Columns are never all materialised: they are copied a few images at a time into a buffer
that stays in cache, multiplied, and copied again for the backward pass from the padded flat
input, which is all the layer keeps. A buffer's images are multiplied one product per image,
in one batched call. Large layers split their images into one block per worker thread.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from ..autograd import Tensor, record
from ..backend import l2_cache_bytes, map_chunks, num_workers, ordered_sum

__all__ = ["FLAT_MAX_CHANNELS", "flat_route_applies", "conv_valid_flat"]

# The route is taken for groups=1, stride 1 and up to this many input channels (measured on
# 2 cores: LeNet's 1- and 6-channel layers run 2-3x faster than channels-last im2col; at 64
# channels channels-last is 2x faster).
FLAT_MAX_CHANNELS = 16
# Work is split into one block of whole images per thread; each block's columns are built and
# used a few images at a time, in a buffer of half the core's L2 cache, clamped to 256 KiB-1
# MiB. Measured on 2 cores: 3x faster than building every column first for LeNet's first layer.
# With a 2 MiB L2 and products of up to 1M multiply-adds (see below), LeNet-5's step
# (`benchmarks/ab_step.py`, batch 128 / 64) took 9.91 / 5.50 ms with 512 KiB, 9.56 / 5.43 with
# 768 KiB, 9.58 / 5.44 with 1 MiB and 10.02 / 5.88 with 1.5 MiB, when the columns and their
# product no longer stay in L2. Smaller buffers mean more, shorter NumPy calls, and between
# calls a thread waits for the GIL (LeNet's second layer forward on two threads, one product
# per piece: 2.5 ms with 128 KiB, 1.3 with 256, 1.1 with 512).
# The input gradient works through its images a few at a time, so that their stacked
# gradient and GEMM result take about INPUT_GRAD_BYTES (for whole images, plus the zeros laid
# between their partial sums: 1.4x for LeNet's second layer; see :func:`_input_grad`).
# Measured with `benchmarks/ab_step.py` (LeNet-5's step, batch 128 / 64): 1 MiB 9.71 / 5.94 ms,
# 2 MiB 9.59-9.63 / 5.86, 4 MiB 9.57 at 128. (When the runs of positions covered the whole
# padded plane: LeNet's second layer at batch 128, both gradients, 2.7 ms with 1 MiB, 3.6 ms
# with 256 KiB; 3.1 ms when W^T dY was added back at 25 offsets.)
STREAM_BYTES = min(max(l2_cache_bytes() // 2, 1 << 18), 1 << 20)
INPUT_GRAD_BYTES = 1 << 21
# A piece of whole images is multiplied as one product per image, all in one batched
# ``np.matmul`` call, with the weight gradient's products summed at the end. Measured on 2 cores
# (OpenBLAS 0.3.31, SkylakeX kernels): OpenBLAS multiplies matrices of up to 1M multiply-adds
# with its small-matrix kernel, without packing ((16, 150) @ (150, n) at 55-65 GMAC/s on one
# core for n <= 416, 40-50 above), and two threads that each make such products, many per
# call, gain 1.4-1.7x, where separate 2-D products of LeNet's first layer's shapes ((6, 25) @
# (25, 4480), (25, 6272) @ (6272, 6)) ran slower on two threads than on one. LeNet-5's step
# (`benchmarks/ab_step.py`, batch 128 / 64): 8.73 / 5.65 ms against 9.35 / 5.63 with products
# of up to 1M multiply-adds (7 images for the first layer, 2 for the second) and, in another
# run, 8.68 / 5.25 against 9.26 / 5.26 with one 2-D product per piece.
# The weight gradient's operand, the output gradient with positions as rows, is copied to be
# contiguous where the layer's multiply-adds per position, C*K x C_out, reach DW_COPY_MIN
# ((150, 140) @ (140, 16) at 70 GMAC/s against 41 with a transposed view), else left a view
# ((25, 896) @ (896, 6): 44 against 40). LeNet-5's step, batch 128 / 64: 8.56 / 5.60 ms so,
# 8.91 / 5.91 copying always, 8.74 / 5.68 never.
DW_COPY_MIN = 512
# Below this many multiply-adds in the layer's forward the layer runs on one thread: a second
# costs more than it saves. Measured on 2 cores with `benchmarks/ab_step.py`, LeNet-5's
# training step (its layers: 9M and 22M multiply-adds at batch 64, 17M and 43M at 128): 15M
# gives 6.14 ms at batch 64 and 10.28 ms at 128, 30M 6.25 and 10.23 ms; 8M was slower at batch
# 64 in an earlier A/B. (While the caller sat idle during a pooled op, 30M had been best:
# `ndconv train` 0.5-1 s faster than with 20M.) With one product per image: 5.51 ms at batch
# 64 against 5.77 with 8M and 5.72 with 4M; 8.34 ms at 128 against 9.02 with 30M.
PARALLEL_MIN_MACS = 15_000_000
# With this many output channels or more the output is laid out channels-last, like the rest
# of the engine's wide layers (a ResNet stem's 64 channels): element-wise passes over two
# arrays of different layouts run several times slower than over matching ones.
CHANNELS_LAST_OUT = 32


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
        # The largest kernel offset: zeros after the last image, as its runs may read past it
        self.tail = sum((k - 1) * st for k, st in zip(kernel, self.steps))
        self.inner = tuple(slice(lo, lo + s) for s, (lo, _) in zip(spatial, pads))
        self.valid = (slice(None),) * 3 + tuple(slice(0, o) for o in self.out[1:])  # (C, N, O_0, ...)
        self.grid = (self.out[0],) + self.padded[1:]  # the positions of one image, as a grid
        # The input gradient splits each offset into the last kernel axis's step and the rest:
        # ``outer`` lists the offsets of the leading kernel axes (just 0 for a 1-D kernel).
        self.outer = [sum(k * st for k, st in zip(idx, self.steps)) for idx in np.ndindex(*kernel[:-1])]
        # ... and shifts the output gradient back by up to ``head`` positions (zeros before the
        # first image); its partial sums T can be non-zero on ``t_extent`` positions per image:
        # the forward's span, but for a 1-D kernel (its last axis is its leading axis: no zeros
        # at a row's end to wrap onto) the whole padded plane.
        self.head = (kernel[-1] - 1) * self.steps[-1]
        self.t_extent = self.span if len(kernel) > 1 else self.plane


@lru_cache(maxsize=256)
def _plan(spatial: tuple[int, ...], kernel: tuple[int, ...], dilation: tuple[int, ...],
          pads: tuple[tuple[int, int], ...]) -> _Plan:
    return _Plan(spatial, kernel, dilation, pads)


def _flat_input(xc: np.ndarray, plan: _Plan) -> np.ndarray:
    """Zero-pad and flatten a block ``xc`` (nb, C, *S): (C, nb*plane + tail), channels first."""
    nb, c = xc.shape[:2]
    flat = np.zeros((c, nb * plan.plane + plan.tail), xc.dtype)
    flat[:, : nb * plan.plane].reshape((c, nb) + plan.padded)[(slice(None),) * 2 + plan.inner] = (
        xc.swapaxes(0, 1))
    return flat


def _column_view(flat: np.ndarray, plan: _Plan, nb: int) -> np.ndarray:
    """im2col of ``flat`` as a view (C, *K, nb, span): kernel axis d steps plan.steps[d] floats."""
    item = flat.itemsize  # an ndarray over flat's buffer: NumPy checks the view stays inside it
    strides = (flat.strides[0],) + tuple(st * item for st in plan.steps) + (plan.plane * item, item)
    return np.ndarray((flat.shape[0],) + plan.kernel + (nb, plan.span), flat.dtype, flat, strides=strides)


def _sub_blocks(nb: int, positions: int, rows: int, item: int,
                budget: int) -> list[tuple[int, int, int, int]]:
    """Split ``nb`` images of ``positions`` each into (first image, end image, first position,
    end position) pieces whose columns take about ``budget`` bytes: several whole images, or
    part of one image. A piece is multiplied as one product per image (one in all for a part)."""
    per_image = rows * positions * item
    if per_image <= budget:
        step = budget // per_image
        return [(s, min(s + step, nb), 0, positions) for s in range(0, nb, step)]
    step = max(1, budget // (rows * item))
    return [(i, i + 1, p, min(p + step, positions)) for i in range(nb) for p in range(0, positions, step)]


def _buffer(subs: list[tuple[int, int, int, int]], rows: int, dtype: np.dtype) -> np.ndarray:
    """A flat buffer for ``rows`` values per position of the largest piece of :func:`_sub_blocks`
    (its first)."""
    s, e, p, q = subs[0]
    return np.empty((e - s) * (q - p) * rows, dtype)


def _per_image(buf: np.ndarray, images: int, rows: int, positions: int) -> np.ndarray:
    """``buf`` as ``images`` matrices of ``rows`` x ``positions``: one product per image."""
    return buf[: images * rows * positions].reshape(images, rows, positions)


def _grad_grid(gv: np.ndarray, plan: _Plan, per_image: int) -> np.ndarray:
    """The output gradient ``gv`` (C_out, nb, *O) laid on the flat positions of the forward
    pass, ``per_image`` apart (``plan.span``, or ``plan.t_extent`` for :func:`_input_grad`):
    (C_out, head + nb*per_image), zero at the dropped positions and over ``plan.head``
    positions before the first image."""
    c_out, nb = gv.shape[:2]
    gcat = np.zeros((c_out, plan.head + nb * per_image), gv.dtype)
    images = gcat[:, plan.head :].reshape(c_out, nb, per_image)[:, :, : plan.span]  # a view
    images.reshape((c_out, nb) + plan.grid)[plan.valid] = gv
    return gcat


def _input_grad(gcat: np.ndarray, w_outer: np.ndarray, plan: _Plan, nb: int, budget: int,
                out: np.ndarray | None = None) -> np.ndarray:
    """The input gradient (C, nb, plane) on the padded flat grid from ``gcat`` (:func:`_grad_grid`),
    written into ``out`` if given.

    ``dx[c, q] = sum_{o,k} w[o, c, k] G[o, q - off_k]``. Split ``off_k`` into an outer offset
    (leading kernel axes) and ``j * s`` (last axis, step ``s``). Stacking ``G`` shifted by
    each ``j * s`` gives ``K_last*C_out`` rows; one GEMM with ``w`` gives, per outer offset
    and input channel, a row ``T[u] = sum_{j,o} w[o, c, outer, j] G[o, u - j*s]``, and ``dx``
    is the sum of ``T[q - outer]`` over the outer offsets. With two or more spatial axes, ``T``
    is zero past the output's extent in the leading axis (``G`` is, and a shift by ``j*s`` that
    wraps around a row lands on the zeros at its end), so it is computed on the forward's
    ``span`` positions per image, not the whole padded ``plane`` (``plan.t_extent``): 1.4x
    fewer multiply-adds for LeNet's 5x5 on 14x14. ``gcat`` lays images that far apart.

    Pieces of whole images lay each image's ``T`` after as many zeros as the largest outer
    offset, so that the shifted sum is one ``np.add.reduce`` over a strided view of them, in
    the order of the offsets; parts of an image add their ``T`` at each offset in turn.
    """
    c_out, item = gcat.shape[0], gcat.itemsize
    k_last, step = plan.kernel[-1], plan.steps[-1]
    head, extent, plane = plan.head, plan.t_extent, plan.plane
    n_outer = len(plan.outer)
    c = w_outer.shape[0] // n_outer
    rows = k_last * c_out + n_outer * c  # the stack's rows and T's, per position
    subs = _sub_blocks(nb, extent, rows, item, budget)
    stack_buf = _buffer(subs, k_last * c_out, gcat.dtype)
    whole = subs[0][3] - subs[0][2] == extent
    if whole:  # T's images `stride` apart, zeros between (never written, so they stay zero)
        reach = plan.outer[-1]  # the largest outer offset
        # The sum reads T[q - outer] for q in [0, plane): from `reach` before an image's T to
        # plane - 1 after its start, inside the zeros around it since stride >= plane (with
        # two or more axes plane - extent <= reach; with one, reach = 0 and extent = plane).
        stride = extent + reach
        t_len = reach + (subs[0][1] - subs[0][0]) * stride
        t_full = np.zeros((n_outer * c, t_len), gcat.dtype)
        lead = plan.kernel[:-1]  # shifted_t[*k, c, image, q] = T[(k, c), reach + image*stride + q - outer(k)]
        lead_strides = tuple((math.prod(lead[d + 1 :]) * c * t_len - st) * item
                             for d, st in enumerate(plan.steps[:-1]))
        shifted_t_strides = lead_strides + (t_len * item, stride * item, item)
        dflat = np.empty((c, nb, plane), gcat.dtype) if out is None else out  # every element summed into
    else:
        t_buf = _buffer(subs, n_outer * c, gcat.dtype)
        dflat = np.zeros((c, nb, plane), gcat.dtype)
    for s, e, p, q in subs:  # images s..e-1, positions p..q-1 of each, one product per image
        u0 = s * extent + p  # the first of the piece's positions in gcat
        stack = _per_image(stack_buf, e - s, k_last * c_out, q - p)
        # stack[i, (j, o), u] = G[o, u0 + i*extent + u - j*step]: one copy from a view stepping
        # back j*step per j (five copies took 5% longer on two threads: each NumPy call hands
        # the GIL over)
        stack_strides = (extent * item, -step * item, gcat.strides[0], item)
        stack.reshape(e - s, k_last, c_out, q - p)[...] = np.ndarray(
            (e - s, k_last, c_out, q - p), gcat.dtype, gcat, (head + u0) * item, stack_strides)
        if whole:
            images = t_full[:, reach : reach + (e - s) * stride].reshape(n_outer * c, e - s, stride)
            np.matmul(w_outer, stack, out=images[:, :, :extent].swapaxes(0, 1))
            shifted_t = np.ndarray(lead + (c, e - s, plane), gcat.dtype, t_full, reach * item,
                                   shifted_t_strides)
            np.add.reduce(shifted_t, axis=tuple(range(len(lead))), out=dflat[:, s:e])
            continue
        t = t_buf[: n_outer * c * (q - p)].reshape(n_outer * c, 1, q - p)  # one image's part
        np.matmul(w_outer, stack, out=t.swapaxes(0, 1))
        t4 = t.reshape(n_outer, c, 1, q - p)
        for i, off in enumerate(plan.outer):
            hi = min(q + off, plane)  # T past the plane's end is zero (beyond O in a middle axis)
            if hi > p + off:
                dflat[:, s:e, p + off : hi] += t4[i, :, :, : hi - p - off]
    if out is not None and dflat is not out:
        out[...] = dflat
    return dflat if out is None else out


def conv_valid_flat(x: Tensor, w: Tensor, dilation: Sequence[int],
                    zero_pad: Sequence[tuple[int, int]], bias: Tensor | None = None) -> Tensor:
    """Primitive: :func:`ndconv.ops.conv.conv_valid` for stride 1, groups 1, few channels."""
    xd, wd = x.data, w.data
    n, c = xd.shape[:2]
    c_out = wd.shape[0]
    plan = _plan(xd.shape[2:], wd.shape[2:], tuple(dilation), tuple((lo, hi) for lo, hi in zero_pad))
    wm = wd.reshape(c_out, -1)  # (C_out, C*K), columns in (c, *k) order like cols' rows
    rows = wm.shape[1]
    macs = rows * c_out * n * plan.span  # the layer's forward, and dW and dx alike
    step = -(-n // (num_workers() if macs >= PARALLEL_MIN_MACS else 1))
    blocks = [slice(a, min(a + step, n)) for a in range(0, n, step)]  # one per thread, or one
    if c_out >= CHANNELS_LAST_OUT:  # wide outputs feed channels-last layers: match them
        y = np.moveaxis(np.empty((n,) + plan.out + (c_out,), xd.dtype), -1, 1)
    else:
        y = np.empty((n, c_out) + plan.out, xd.dtype)
    flats: dict[int, np.ndarray] = {}  # each block's padded, flattened input, for the backward
    bias_col = None if bias is None else bias.data.reshape((-1,) + (1,) * (len(plan.grid) + 1))

    to_images_first = (len(plan.kernel) + 1, *range(len(plan.kernel) + 1), len(plan.kernel) + 2)

    def columns(view: np.ndarray, buf: np.ndarray, s: int, e: int, p: int, q: int) -> np.ndarray:
        """Copy the piece's columns into ``buf``: (images, C*K, positions), one matrix per image."""
        cols = _per_image(buf, e - s, rows, q - p)
        src = view[..., s:e, p:q].transpose(to_images_first)  # (images, C, *K, positions)
        cols.reshape(src.shape)[...] = src  # the copy
        return cols

    def forward(b: slice) -> None:
        nb = b.stop - b.start
        flats[b.start] = flat = _flat_input(xd[b], plan)
        view = _column_view(flat, plan, nb)
        subs = _sub_blocks(nb, plan.span, rows, xd.itemsize, STREAM_BYTES)
        if len(subs) == 1:  # small (batch-1 inference): one copy, one product
            yc = wm @ view.reshape(rows, -1)
        else:
            buf = _buffer(subs, rows, xd.dtype)
            yc = np.empty((c_out, nb * plan.span), xd.dtype)
            for s, e, p, q in subs:
                out = yc[:, s * plan.span + p : (e - 1) * plan.span + q]
                out = out.reshape(c_out, e - s, q - p).swapaxes(0, 1)  # (images, C_out, positions)
                np.matmul(wm, columns(view, buf, s, e, p, q), out=out)
        yc = yc.reshape((c_out, nb) + plan.grid)
        if bias_col is not None:
            yc += bias_col
        y[b] = yc[plan.valid].swapaxes(0, 1)

    map_chunks(forward, blocks)

    def vjp(g: np.ndarray) -> tuple[np.ndarray | None, ...]:
        gx = np.empty(xd.shape, xd.dtype) if x.requires_grad else None
        unpadded = not any(lo or hi for lo, hi in zero_pad)
        gb = None
        if bias is not None and bias.requires_grad:
            gb = g.sum(axis=(0,) + tuple(range(2, g.ndim)))
        # dx's weights, (C*n_outer, K_last*C_out): row (outer offset, c), column (last-axis offset, o)
        w_outer = None if gx is None else wd.reshape((c_out, c, len(plan.outer), plan.kernel[-1])).transpose(
            2, 1, 3, 0).reshape(len(plan.outer) * c, -1)

        def block_grads(b: slice) -> np.ndarray | None:
            """Write the block's dx into ``gx``; return its share of dW, (C*K, C_out)."""
            nb = b.stop - b.start
            gv = g[b].swapaxes(0, 1)
            gcat = _grad_grid(gv, plan, plan.span) if w.requires_grad else None  # on the flat positions
            if gx is not None and w_outer is not None:  # dW's grid, unless a 1-D kernel's T needs the plane
                if gcat is None or plan.t_extent != plan.span:
                    gdx = _grad_grid(gv, plan, plan.t_extent)
                else:
                    gdx = gcat
                if unpadded:  # the padded grid is the input's: write dx in place
                    into = gx[b].reshape(nb, c, -1).swapaxes(0, 1)
                    _input_grad(gdx, w_outer, plan, nb, INPUT_GRAD_BYTES, into)
                else:
                    dflat = _input_grad(gdx, w_outer, plan, nb, INPUT_GRAD_BYTES)
                    inner = dflat.reshape((c, nb) + plan.padded)[(slice(None),) * 2 + plan.inner]
                    gx[b] = inner.swapaxes(0, 1)
            if gcat is None:
                return None
            gm = gcat[:, plan.head :]
            view = _column_view(flats[b.start], plan, nb)
            subs = _sub_blocks(nb, plan.span, rows, xd.itemsize, STREAM_BYTES)
            buf = _buffer(subs, rows, xd.dtype)
            if subs[0][1] - subs[0][0] == 1:  # one image, or part of one, per piece: one product
                gwm = np.zeros((rows, c_out), g.dtype)
                for s, e, p, q in subs:
                    piece = gm[:, s * plan.span + p : (e - 1) * plan.span + q]
                    gwm += columns(view, buf, s, e, p, q)[0] @ piece.T
                return gwm
            # One product per image, summed at the end, with the gradient's positions as rows
            # (copied contiguous or left a view: see DW_COPY_MIN).
            gt = np.ascontiguousarray(gm.T) if rows * c_out >= DW_COPY_MIN else gm.T  # (nb*span, C_out)
            partial = np.empty((nb, rows, c_out), g.dtype)
            for s, e, p, q in subs:
                piece = gt[s * plan.span : e * plan.span].reshape(e - s, plan.span, c_out)
                np.matmul(columns(view, buf, s, e, p, q), piece, out=partial[s:e])
            return partial.sum(axis=0)

        # One job per block does both gradients, so the thread that lays out the block's
        # gradient uses it twice while it is in its cache (LeNet-5's step 10.22 -> 10.12 ms at
        # batch 128 and 6.01 -> 5.90 ms at batch 64 against dx on both threads, then dW handed
        # to a pool thread while the layers below backpropagated; the layer's backward on its
        # own 2.54 -> 2.29-2.38 ms).
        parts = map_chunks(block_grads, blocks)
        gw = ordered_sum(parts).T.reshape(wd.shape) if w.requires_grad else None  # (C*K, C_out) blocks
        return gx, gw, gb

    return record(y, (x, w, bias), vjp, "conv")
