"""Convolution in any number of spatial dimensions, and its gradient.

Convolution in deep learning is cross-correlation (no kernel flip). With ``C_g = C_in/groups``
input channels per group, output channel ``o`` in group ``g``, and the input padded already::

    y[n, o, *p] = sum_{c < C_g, *k} w[o, c, *k] * x[n, g*C_g + c, *(p*stride + k*dilation)]

(the mathematical convolution is ``conv(x, flip(w))``, flipping every spatial axis of ``w``).

**Forward (im2col + GEMM).** The input is moved to channels-last layout ``(N, *S, C)``; every
window is a strided view ``(N, *O, *K, C)`` (no copy); a chunk of windows is copied into the
matrix ``cols`` with one row per output position and ``prod(K)*C_g`` columns, and one BLAS
product ``cols @ W`` gives all ``C_out/groups`` output channels of the group at once.

**Backward (VJP).** For ``y = cols @ W``::

    dW    = cols^T @ dy          -- a correlation of the input with the output gradient
    dcols = dy @ W^T             -- folded back onto the input: a transposed convolution
    db    = sum of dy over the batch and the spatial axes (done by the engine's broadcasting)

With stride 1 that fold is computed as a convolution: the full correlation of ``dy`` with
the spatially flipped kernel, input and output channels swapped (one more im2col + GEMM).
With stride > 1 the ``prod(K)`` kernel offsets are added back as strided slices.
That input gradient *is* the transposed convolution, so :func:`conv_transpose_valid` is that
same function, and its VJP is :func:`conv_valid` again. Padding is a separate op
(:mod:`.pad`), except zero padding, which is folded into the layout copy.

**Faster routes, same results.** :func:`conv_valid` hands three kinds of layer to routes that
compute the same sums in fewer or cheaper steps (each tested against the im2col path):
stride-1 layers with large kernels to :mod:`.conv_fft` (when the FFT saves enough flops),
stride-1 layers with few input channels to :mod:`.conv_flat` (im2col on the flattened image,
contiguous copies), and 2-D 3x3 stride-1 layers with many channels to :mod:`.winograd`
(4x fewer multiplications). Everything else -- strides, groups, 1x1 -- is im2col here.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np

from ..autograd import Tensor, record
from ..backend import map_chunks, num_workers, ordered_sum
from .conv_fft import conv_valid_fft, fft_route_applies
from .conv_flat import conv_valid_flat, flat_route_applies
from .window import add_windows, windows
from .winograd import winograd_forward, winograd_weight_grad

__all__ = [
    "conv_valid",
    "conv_transpose_valid",
    "conv_forward_array",
    "conv_input_grad_array",
    "conv_weight_grad_array",
]

# Rows of ``cols`` copied per chunk: large enough for BLAS to run at full speed, small
# enough that the chunk stays in cache and memory stays bounded for big inputs.
CHUNK_BYTES = 1 << 23

Ints = Sequence[int]


def _to_channels_last(x: np.ndarray, pads: Sequence[tuple[int, int]]) -> np.ndarray:
    """Return ``x`` (N, C, *S) as (N, *S_padded, C), zero-padding in the same copy."""
    xl = np.moveaxis(x, 1, -1)  # (N, *S, C), a view
    if not any(lo or hi for lo, hi in pads):
        return np.ascontiguousarray(xl)
    shape = (x.shape[0],) + tuple(s + lo + hi for s, (lo, hi) in zip(x.shape[2:], pads)) + (x.shape[1],)
    out = np.zeros(shape, x.dtype)
    out[(slice(None),) + tuple(slice(lo, lo + s) for s, (lo, _) in zip(x.shape[2:], pads))] = xl
    return out


def _pad_channels_last(xl: np.ndarray, pads: Sequence[tuple[int, int]]) -> np.ndarray:
    """Zero-pad the spatial axes of channels-last ``xl`` (N, *S, C)."""
    if not any(lo or hi for lo, hi in pads):
        return xl
    return np.pad(xl, [(0, 0), *pads, (0, 0)])


def _weight_matrix(w: np.ndarray, groups: int) -> np.ndarray:
    """Return ``w`` (C_out, C_g, *K) as ``groups`` GEMM matrices (groups, prod(K)*C_g, C_out/groups)."""
    c_out = w.shape[0]
    wg = w.reshape((groups, c_out // groups) + w.shape[1:])  # (G, Co_g, C_g, *K)
    wg = np.moveaxis(wg, 2, -1)  # (G, Co_g, *K, C_g)
    return wg.reshape(groups, c_out // groups, -1).transpose(0, 2, 1)  # (G, K*C_g, Co_g)


# Products below this many multiply-adds run on the calling thread: handing tiny chunks to the
# pool costs more than it saves (measured: the MNIST autoencoder's 1-32 channel stride-2
# layers, 2-14M, trained 25% slower on two threads than on one).
PARALLEL_MIN_MACS = 20_000_000


def _chunks(batch: int, out: Ints, row_bytes: int) -> Iterator[tuple[slice, slice]]:
    """Yield (batch, first-output-axis) slices so that each chunk of ``cols`` is ~CHUNK_BYTES."""
    o0 = out[0]
    per_o0 = row_bytes * math.prod(out[1:])
    per_sample = per_o0 * o0
    if per_sample <= CHUNK_BYTES:
        # As many chunks as CHUNK_BYTES asks for, rounded up to a multiple of the workers, so
        # that the pool's threads finish together (3 chunks on 2 threads take as long as 4).
        workers = num_workers()
        count = -(-batch // max(1, CHUNK_BYTES // per_sample))
        count = min(batch, -(-count // workers) * workers)
        step = -(-batch // count)
        for a in range(0, batch, step):
            yield slice(a, min(a + step, batch)), slice(None)
    else:
        step = max(1, CHUNK_BYTES // per_o0)
        for i in range(batch):
            for a in range(0, o0, step):
                yield slice(i, i + 1), slice(a, min(a + step, o0))


def _window_view(xl: np.ndarray, kernel: Ints, stride: Ints, dilation: Ints) -> np.ndarray:
    """All windows of channels-last ``xl`` as a view (N, *O, *K, C)."""
    n = len(kernel)
    win = windows(xl, kernel, stride, dilation, axis=1)  # (N, *O, C, *K)
    return np.moveaxis(win, n + 1, -1)  # (N, *O, *K, C)


def conv_forward_array(
    xl: np.ndarray, w: np.ndarray, stride: Ints, dilation: Ints, groups: int
) -> np.ndarray:
    """Correlate padded channels-last ``xl`` (N, *S, C) with ``w``; return (N, *O, C_out)."""
    n = w.ndim - 2
    c_out, c_g = w.shape[:2]
    co_g = c_out // groups
    win = _window_view(xl, w.shape[2:], stride, dilation)  # (N, *O, *K, C)
    out_shape = win.shape[: n + 1]
    wm = _weight_matrix(w, groups)
    y = np.empty(out_shape + (c_out,), xl.dtype)
    k_cols = math.prod(w.shape[2:]) * c_g

    def chunk(bo: tuple[slice, slice]) -> None:  # chunks write disjoint parts of y
        b, o = bo
        for g in range(groups):
            cols = win[b, o, ..., g * c_g : (g + 1) * c_g]
            cols = cols.reshape(-1, k_cols)  # im2col: the one copy  (rows, K*C_g)
            if groups == 1 and o == slice(None):  # a contiguous block of y: write in place
                np.matmul(cols, wm[0], out=y[b].reshape(-1, c_out))
            else:
                part = cols @ wm[g]  # (rows, C_out/groups)
                y[b, o, ..., g * co_g : (g + 1) * co_g] = part.reshape(y[b, o, ..., :co_g].shape)

    chunks = list(_chunks(len(win), win.shape[1 : n + 1], k_cols * xl.itemsize))
    map_chunks(chunk, chunks, parallel=math.prod(out_shape) * k_cols * c_out >= PARALLEL_MIN_MACS)
    return y


def conv_input_grad_array(
    gl: np.ndarray,
    w: np.ndarray,
    spatial: Ints,
    stride: Ints,
    dilation: Ints,
    groups: int,
    method: str = "auto",
) -> np.ndarray:
    """Fold ``gl`` (N, *O, C_out) back through ``w``: the gradient (N, *spatial, C_in) of the input.

    This is the transposed convolution: each output position spreads ``dy @ W^T`` over the
    window it came from. ``method`` is ``"fold"`` (any stride), ``"conv"`` (stride 1 only) or
    ``"auto"`` (the cheaper of the two for this shape).
    """
    n = w.ndim - 2
    kernel = w.shape[2:]
    c_out, c_g = w.shape[:2]
    co_g = c_out // groups
    if method == "auto":
        # The convolution pays GEMM rows for the padded dy, prod(O + d(K-1)) instead of prod(O);
        # the fold pays prod(K) strided adds. Measured on 2 cores (ResNet-18 layers, 3-D 3x3x3):
        # the convolution wins while the padding adds <= 20% rows (32x32, 32^3), the fold after.
        padded = [o + d * (k - 1) for o, d, k in zip(gl.shape[1 : n + 1], dilation, kernel)]
        growth = math.prod(padded) / math.prod(gl.shape[1 : n + 1])
        method = "conv" if all(s == 1 for s in stride) and growth <= 1.2 else "fold"
    if method == "conv":
        # Stride 1: a full correlation of dy with the flipped kernel, in/out channels swapped.
        # Chosen when its im2col (rows = the padded dy) moves less memory than the fold's
        # dcols, written then read back: e.g. ResNet's 3x3 layers, not LeNet's 5x5 on 10x10.
        wt = w.reshape((groups, co_g, c_g) + tuple(kernel)).swapaxes(1, 2)  # (G, C_g, Co_g, *K)
        wt = np.flip(wt.reshape((groups * c_g, co_g) + tuple(kernel)), tuple(range(2, 2 + n)))
        pads = [(d * (k - 1), s - o) for d, k, s, o in zip(dilation, kernel, spatial, gl.shape[1 : n + 1])]
        gp = _pad_channels_last(gl, pads)  # (N, *(O + d(K-1) + extra), C_out)
        return conv_forward_array(gp, np.ascontiguousarray(wt), stride, dilation, groups)
    gx = np.zeros((gl.shape[0], *spatial, c_g * groups), gl.dtype)
    wm = _weight_matrix(w, groups)
    k_cols = math.prod(kernel) * c_g
    def fold(bo: tuple[slice, slice]) -> None:
        b, o = bo
        start = 0 if o.start is None else o.start
        g_chunk = gl[b, o]  # (nb, *O_chunk, C_out)
        o_chunk = g_chunk.shape[1 : n + 1]
        extent = (o_chunk[0] - 1) * stride[0] + dilation[0] * (kernel[0] - 1) + 1
        dst_rows = slice(start * stride[0], start * stride[0] + extent)
        for g in range(groups):
            dcols = g_chunk[..., g * co_g : (g + 1) * co_g].reshape(-1, co_g) @ wm[g].T
            dcols = dcols.reshape(g_chunk.shape[: n + 1] + tuple(kernel) + (c_g,))
            dst = gx[b, dst_rows, ..., g * c_g : (g + 1) * c_g]  # (nb, *S_chunk, C_g)
            add_windows(dst, np.moveaxis(dcols, -1, n + 1), stride, dilation, axis=1)

    chunks = list(_chunks(len(gl), gl.shape[1 : n + 1], k_cols * gl.itemsize))
    # Chunks of whole samples write disjoint parts of gx; row chunks of one sample overlap.
    disjoint = all(o == slice(None) for _, o in chunks)
    macs = gl.shape[0] * math.prod(gl.shape[1 : n + 1]) * k_cols * c_out
    map_chunks(fold, chunks, parallel=disjoint and macs >= PARALLEL_MIN_MACS)
    return gx


def conv_weight_grad_array(
    xl: np.ndarray, gl: np.ndarray, kernel: Ints, stride: Ints, dilation: Ints, groups: int
) -> np.ndarray:
    """Return dL/dw (C_out, C_g, *K) from the padded input ``xl`` and output gradient ``gl``."""
    n = len(kernel)
    c_out = gl.shape[-1]
    c_g = xl.shape[-1] // groups
    co_g = c_out // groups
    win = _window_view(xl, kernel, stride, dilation)
    win = win[(slice(None),) + tuple(slice(0, o) for o in gl.shape[1 : n + 1])]  # extra rows: no dy
    k_cols = math.prod(kernel) * c_g

    def chunk(bo: tuple[slice, slice]) -> np.ndarray:  # this chunk's share of dW
        b, o = bo
        part = np.empty((groups, k_cols, co_g), xl.dtype)
        for g in range(groups):
            cols = win[b, o, ..., g * c_g : (g + 1) * c_g].reshape(-1, k_cols)
            part[g] = cols.T @ gl[b, o, ..., g * co_g : (g + 1) * co_g].reshape(-1, co_g)
        return part

    chunks = list(_chunks(len(win), win.shape[1 : n + 1], k_cols * xl.itemsize))
    macs = math.prod(gl.shape[:-1]) * k_cols * c_out
    parts = map_chunks(chunk, chunks, parallel=macs >= PARALLEL_MIN_MACS)
    gwm = ordered_sum(parts)
    gw = gwm.transpose(0, 2, 1).reshape((groups, co_g) + tuple(kernel) + (c_g,))
    return np.moveaxis(gw, -1, 2).reshape((c_out, c_g) + tuple(kernel))


def _crop(gl: np.ndarray, pads: Sequence[tuple[int, int]]) -> np.ndarray:
    index = (slice(None),) + tuple(slice(lo, gl.shape[1 + i] - hi) for i, (lo, hi) in enumerate(pads))
    return gl[index]


def conv_valid(
    x: Tensor,
    w: Tensor,
    stride: Ints,
    dilation: Ints,
    groups: int,
    zero_pad: Sequence[tuple[int, int]],
    bias: Tensor | None = None,
) -> Tensor:
    """Primitive: correlate ``x`` (N, C_in, *S) with ``w`` after zero-padding by ``zero_pad``,
    then add ``bias`` (C_out,) if given.

    Arguments are assumed validated (see :func:`ndconv.nn.functional.conv`).
    Returns (N, C_out, *O) with the channels-last memory layout used inside.
    """
    if fft_route_applies(x.shape, w.shape, stride, dilation, groups, zero_pad, x.dtype):  # large kernels
        return conv_valid_fft(x, w, zero_pad, bias)
    if flat_route_applies(w.shape[1], stride, groups):  # few channels, stride 1
        return conv_valid_flat(x, w, dilation, zero_pad, bias)
    if groups == 1 and w.shape[1] <= FEW_CHANNELS and not x.requires_grad:
        return _conv_valid_few_channels(x, w, stride, dilation, zero_pad, bias)
    xl = _to_channels_last(x.data, zero_pad)  # (N, *S_pad, C_in)
    padded = xl.shape[1:-1]
    wd = w.data
    tile = 0 if xl.dtype == np.float16 else winograd_tile(x.shape, wd.shape, zero_pad, stride, dilation,
                                                            groups)  # float16: too coarse for it
    if tile:  # 3x3, stride 1, many channels: 4x (F(4x4)) or 2.25x (F(2x2)) fewer multiplications
        y = winograd_forward(xl, wd, tile)
    else:
        y = conv_forward_array(xl, wd, stride, dilation, groups)  # (N, *O, C_out)
    if bias is not None:
        y += bias.data
    del xl  # the graph keeps x; the backward pass pads it again rather than hold a second copy

    def vjp(g: np.ndarray) -> tuple[np.ndarray | None, ...]:
        gl = np.ascontiguousarray(np.moveaxis(g, 1, -1))  # (N, *O, C_out)
        gx = gw = None
        if x.requires_grad:
            dx_pads = _input_grad_padding(x.shape[2:], gl.shape[1:-1], wd.shape[2:], zero_pad)
            if tile and dx_pads is not None:  # dx = correlate(pad(dy), flip(w)^T), cropped
                wt = np.ascontiguousarray(np.flip(wd.swapaxes(0, 1), (2, 3)))
                gx = np.moveaxis(winograd_forward(_pad_channels_last(gl, dx_pads), wt, tile), -1, 1)
            else:
                gxl = conv_input_grad_array(gl, wd, padded, stride, dilation, groups)
                gx = np.moveaxis(_crop(gxl, zero_pad), -1, 1)
        if w.requires_grad:
            xl = _to_channels_last(x.data, zero_pad)
            if tile:
                gw = winograd_weight_grad(xl, gl, tile)
            else:
                gw = conv_weight_grad_array(xl, gl, wd.shape[2:], stride, dilation, groups)
        return gx, gw, bias_grad(gl.reshape(-1, gl.shape[-1]), bias)

    return record(np.moveaxis(y, -1, 1), (x, w, bias), vjp, "conv")


# Winograd (:mod:`.winograd`) runs 2-D 3x3 stride-1 layers with this many input channels or
# more (measured on 2 cores, ResNet-18's layers at 64-512 channels: forward and weight gradient
# 1.3-2.4x faster than im2col; below 17 channels the flat route is used) when the layer has
# at least WINOGRAD_MIN_TILES output tiles: with fewer, its per-position products are too short
# and the kernel transforms dominate (512 channels on 4x4 images, F(4x4) fwd+bwd vs im2col:
# 1.75x slower at 32 tiles, 1.14x at 64, 0.73x at 128). F(4x4, 3x3) is used when it has
# enough 4x4 tiles, else F(2x2, 3x3) when it has enough 2x2 tiles (ResNet-18's 512-channel
# 4x4 layers at batch 64: weight gradient 12.6 ms vs 20.4 for im2col, forward 18.4 vs 19.9).
WINOGRAD_MIN_CHANNELS = 32
WINOGRAD_MIN_TILES = 128


def winograd_tile(x_shape: Sequence[int], w_shape: Sequence[int], pads: Sequence[tuple[int, int]],
                  stride: Ints, dilation: Ints, groups: int) -> int:
    """Return the Winograd output tile size for the layer: 4, 2, or 0 for none."""
    if not (tuple(w_shape[2:]) == (3, 3) and w_shape[1] >= WINOGRAD_MIN_CHANNELS and groups == 1
            and all(s == 1 for s in stride) and all(d == 1 for d in dilation)):
        return 0
    out = [s + lo + hi - 2 for s, (lo, hi) in zip(x_shape[2:], pads)]
    for m in (4, 2):
        if x_shape[0] * math.prod(-(-o // m) for o in out) >= WINOGRAD_MIN_TILES:
            return m
    return 0


def _input_grad_padding(spatial: Ints, out: Ints, kernel: Ints,
                        zero_pad: Sequence[tuple[int, int]]) -> list[tuple[int, int]] | None:
    """Padding of dy whose stride-1 valid correlation with the flipped kernel is exactly dx.

    ``dx[i] = sum_k w[k] dy[i + lo - k]``: dy padded by ``K - 1 - lo`` below and by whatever
    makes the result ``spatial`` long above. None if that needs a crop (padding > K - 1).
    """
    pads = []
    for s, o, k, (lo, _) in zip(spatial, out, kernel, zero_pad):
        below = k - 1 - lo
        above = s + k - 1 - o - below
        if below < 0 or above < 0:
            return None
        pads.append((below, above))
    return pads


def bias_grad(g2: np.ndarray, bias: Tensor | None) -> np.ndarray | None:
    """The gradient of a per-channel bias from ``g2`` (positions, C_out): a column sum."""
    return g2.sum(axis=0) if bias is not None and bias.requires_grad else None


# A first layer (1-3 input channels, no input gradient) runs channels-first: its im2col is
# prod(K)*C contiguous plane copies instead of a gather along a 1-3 element channel axis.
FEW_CHANNELS = 3


def _conv_valid_few_channels(
    x: Tensor, w: Tensor, stride: Ints, dilation: Ints, zero_pad: Sequence[tuple[int, int]],
    bias: Tensor | None,
) -> Tensor:
    """Channels-first :func:`conv_valid` for inputs with few channels that need no gradient."""
    xp = np.pad(x.data, [(0, 0), (0, 0), *zero_pad]) if any(map(any, zero_pad)) else x.data
    n, c = xp.shape[:2]
    kernel = w.shape[2:]
    win = windows(xp, kernel, stride, dilation, axis=2)  # (N, C, *O, *K)
    out = win.shape[2 : 2 + len(kernel)]
    cols = np.empty((c,) + tuple(kernel) + (n,) + out, xp.dtype)  # (C, *K, N, *O)
    for ch in range(c):
        for offset in np.ndindex(*kernel):
            cols[(ch,) + offset] = win[(slice(None), ch, Ellipsis) + offset]
    cols2 = cols.reshape(c * math.prod(kernel), -1)  # (C*K, N*L)
    wd = w.data
    y = (wd.reshape(wd.shape[0], -1) @ cols2).reshape((wd.shape[0], n) + out)  # (C_out, N, *O)
    if bias is not None:
        y += bias.data.reshape((-1,) + (1,) * (len(out) + 1))

    def vjp(g: np.ndarray) -> tuple[None, np.ndarray, np.ndarray | None]:
        g2 = np.moveaxis(g, 1, 0).reshape(wd.shape[0], -1)  # (C_out, N*L)
        return None, (g2 @ cols2.T).reshape(wd.shape), bias_grad(g2.T, bias)

    return record(np.moveaxis(y, 0, 1), (x, w, bias), vjp, "conv")


def conv_transpose_valid(
    x: Tensor, w: Tensor, out_spatial: Ints, stride: Ints, dilation: Ints, groups: int
) -> Tensor:
    """Primitive: the adjoint of :func:`conv_valid` with no padding.

    ``x`` is (N, C_in, *I) and ``w`` is (C_in, C_out/groups, *K) (PyTorch's layout for
    transposed convolution); the result is (N, C_out, *out_spatial), where ``out_spatial`` is
    any size whose valid convolution gives back ``*I`` (extra high-side rows get no input).
    """
    xl = np.ascontiguousarray(np.moveaxis(x.data, 1, -1))  # (N, *I, C_in)
    wd = w.data
    yl = conv_input_grad_array(xl, wd, out_spatial, stride, dilation, groups)  # (N, *out, C_out)

    def vjp(g: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        gl = np.ascontiguousarray(np.moveaxis(g, 1, -1))
        gx = gw = None
        if x.requires_grad:
            gxl = conv_forward_array(gl, wd, stride, dilation, groups)
            gxl = gxl[(slice(None),) + tuple(slice(0, s) for s in xl.shape[1:-1])]
            gx = np.moveaxis(gxl, -1, 1)
        if w.requires_grad:
            gw = conv_weight_grad_array(gl, xl, wd.shape[2:], stride, dilation, groups)
        return gx, gw

    return record(np.moveaxis(yl, -1, 1), (x, w), vjp, "conv_transpose")
