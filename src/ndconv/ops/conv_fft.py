"""Convolution with large kernels through the FFT ("fft" route).

im2col costs ``prod(K)`` multiply-adds per input channel and output position, so a 15x15
kernel costs 225 of them; the FFT costs ``O(log L)`` per position whatever the kernel. With
every array zero-padded to ``L >= S`` (the padded input size), a circular correlation of the
input with the kernel never wraps around at the ``O = S - K + 1`` valid positions::

    Y[n, o] = sum_c  X[n, c] * conj(W[o, c])        y = irfft(Y)[:O]      (forward)
    DX[n, c] = sum_o G[n, o] * W[o, c]               dx = irfft(DX)[:S]    (convolution)
    DW[o, c] = sum_n conj(G[n, o]) * X[n, c]         dw = irfft(DW)[:K]    (correlation)

(capitals are real FFTs over the spatial axes; each sum is, per frequency, one complex matrix
product). The forward keeps ``X`` and ``W`` for the backward, which transforms ``g`` once for
both gradients. Stride 1, dilation 1 and one group only; the result equals the im2col path's to
float rounding (tested against it), and float16 is not taken here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from ..autograd import Tensor, record
from ..backend import map_chunks, num_workers

__all__ = ["FFT_ADVANTAGE", "fft_route_applies", "conv_valid_fft", "fast_length", "fft_flop_ratio"]

# The route is taken when the FFT's estimated floating-point work, times this factor, is below
# the direct convolution's. Measured on 2 cores, forward+backward, layer shapes of ranks 1-3
# with kernels of 7-255 taps: per flop the FFT route ran 3-21x slower than im2col and GEMM,
# ~12x typically (single-threaded transforms); with 12 the rule picks the faster route for all
# 11 shapes of `benchmarks/fft_conv.py` (10 of 11 before the transforms were threaded).
FFT_ADVANTAGE = 12.0


def fft_flop_ratio(x_shape: Sequence[int], w_shape: Sequence[int],
                   pads: Sequence[tuple[int, int]]) -> float:
    """Estimated flops of this route over the direct convolution's, forward and backward.

    Direct: ``6 N prod(O) C_in C_out prod(K)``. FFT: ``2N(C_in + C_out) + 2 C_in C_out`` real
    transforms of ``prod(L)`` points at ``2.5 prod(L) log2 prod(L)`` flops each, and three
    complex products per frequency (8 flops per multiply-add).
    """
    n, c_in = x_shape[:2]
    c_out, kernel = w_shape[0], tuple(w_shape[2:])
    spatial = [s + lo + hi for s, (lo, hi) in zip(x_shape[2:], pads)]
    out = [s - k + 1 for s, k in zip(spatial, kernel)]
    size = [fast_length(s) for s in spatial]
    points = math.prod(size)
    freq = points // size[-1] * (size[-1] // 2 + 1)
    direct = 6 * n * math.prod(out) * c_in * c_out * math.prod(kernel)
    transforms = 2 * n * (c_in + c_out) + 2 * c_in * c_out
    fft = 2.5 * points * math.log2(max(points, 2)) * transforms + 24 * n * freq * c_in * c_out
    return fft / max(direct, 1)


_cached_ratio = lru_cache(maxsize=1024)(fft_flop_ratio)


def fft_route_applies(x_shape: Sequence[int], w_shape: Sequence[int], stride: Sequence[int],
                      dilation: Sequence[int], groups: int, pads: Sequence[tuple[int, int]],
                      dtype: np.dtype) -> bool:
    """Return whether :func:`conv_valid_fft` handles this layer (stride 1, dilation 1, one
    group, float32/float64, and an estimated ``FFT_ADVANTAGE``-fold saving of flops)."""
    if not (groups == 1 and all(s == 1 for s in stride) and all(d == 1 for d in dilation)
            and dtype in (np.float32, np.float64)):
        return False
    try:  # the same shapes every step: the estimate is cached (a few microseconds a layer)
        ratio = _cached_ratio(x_shape, w_shape, pads)
    except TypeError:  # unhashable arguments (lists)
        ratio = fft_flop_ratio(x_shape, w_shape, pads)
    return ratio * FFT_ADVANTAGE < 1


def fast_length(n: int) -> int:
    """The smallest ``m >= n`` with no prime factor above 5 (the FFT is fastest on those)."""
    m = n
    while True:
        k = m
        for p in (2, 3, 5):
            while k % p == 0:
                k //= p
        if k == 1:
            return m
        m += 1


def _per_frequency(a: np.ndarray) -> np.ndarray:
    """(A, B, *F) -> (prod(F), A, B): one matrix per frequency, for a batched product."""
    return np.moveaxis(a.reshape(a.shape[:2] + (-1,)), -1, 0)


def _from_frequency(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """(prod(F), A, B) -> (A, B, *F)."""
    return np.moveaxis(a, 0, -1).reshape(a.shape[1:] + shape)


# Transforms over at least this many elements are split across the worker threads, a block of
# images (or kernels) each: every transform is independent, so the result is the same to the
# bit. Measured on 2 cores, forward+backward: 1.3-1.5x faster for 1-D and 2-D layers of
# `benchmarks/fft_conv.py`, the inverse transforms most (13.3 -> 5.0 ms for 16 images of 3 -> 16
# channels at 80x80); the 3-D layers (2 volumes) gained nothing.
PARALLEL_MIN_ELEMENTS = 1 << 17


def _split(n: int, elements: int) -> list[slice]:
    """Slices of ``range(n)``: one per worker if ``elements`` is worth threads, else one."""
    parts = num_workers() if elements >= PARALLEL_MIN_ELEMENTS and n > 1 else 1
    step = -(-n // parts)
    return [slice(i, min(i + step, n)) for i in range(0, n, step)]


def _rfftn(a: np.ndarray, size: tuple[int, ...]) -> np.ndarray:
    """Real FFT over the spatial axes of ``a`` (A, B, *S), zero-padded to ``size``."""
    axes = tuple(range(2, a.ndim))
    out = np.empty(a.shape[:2] + size[:-1] + (size[-1] // 2 + 1,), np.result_type(a.dtype, np.complex64))

    def part(b: slice) -> None:
        out[b] = np.fft.rfftn(a[b], s=size, axes=axes)

    map_chunks(part, _split(len(a), a.size))
    return out


def _irfftn(af: np.ndarray, size: tuple[int, ...], keep: tuple[slice, ...], dtype: np.dtype) -> np.ndarray:
    """Inverse of :func:`_rfftn` for ``af`` (A, B, *F), cropped to ``keep``, as ``dtype``."""
    axes = tuple(range(2, af.ndim))
    shape = tuple(len(range(*k.indices(s))) for k, s in zip(keep, size))
    out = np.empty(af.shape[:2] + shape, dtype)

    def part(b: slice) -> None:
        out[b] = np.fft.irfftn(af[b], s=size, axes=axes)[(Ellipsis,) + keep]

    map_chunks(part, _split(len(af), af.size))
    return out


def conv_valid_fft(x: Tensor, w: Tensor, zero_pad: Sequence[tuple[int, int]],
                   bias: Tensor | None = None) -> Tensor:
    """Primitive: :func:`ndconv.ops.conv.conv_valid` for stride 1, dilation 1, one group."""
    xd, wd = x.data, w.data
    n_sp = wd.ndim - 2
    kernel = wd.shape[2:]
    xp = np.pad(xd, [(0, 0), (0, 0), *zero_pad]) if any(map(any, zero_pad)) else xd
    spatial = xp.shape[2:]
    size = tuple(fast_length(s) for s in spatial)
    xf = _rfftn(xp, size)  # (N, C, *F)
    wf = _rfftn(wd, size)  # (C_out, C, *F)
    freq = xf.shape[2:]
    # One matrix product per frequency, (F, m, k) @ (F, k, n), on this thread: split across two,
    # the many small products ran slower in three of four layer shapes.
    yf = np.matmul(_per_frequency(xf), np.conj(_per_frequency(wf)).transpose(0, 2, 1))  # (F, N, C_out)
    valid = tuple(slice(0, s - k + 1) for s, k in zip(spatial, kernel))
    y = _irfftn(_from_frequency(yf, freq), size, valid, xd.dtype)
    if bias is not None:
        y += bias.data.reshape((-1,) + (1,) * n_sp)
    del xp, yf

    def vjp(g: np.ndarray) -> tuple[np.ndarray | None, ...]:
        gf = _per_frequency(_rfftn(g, size))  # (F, N, C_out)
        gx = gw = gb = None
        if x.requires_grad:
            dxf = np.matmul(gf, _per_frequency(wf))  # (F, N, C)
            inner = tuple(slice(lo, s - hi) for s, (lo, hi) in zip(spatial, zero_pad))
            gx = _irfftn(_from_frequency(dxf, freq), size, inner, xd.dtype)
        if w.requires_grad:
            dwf = np.matmul(np.conj(gf).transpose(0, 2, 1), _per_frequency(xf))  # (F, C_out, C)
            gw = _irfftn(_from_frequency(dwf, freq), size, tuple(slice(0, k) for k in kernel), wd.dtype)
        if bias is not None and bias.requires_grad:
            gb = g.sum(axis=(0,) + tuple(range(2, g.ndim)))
        return gx, gw, gb

    return record(y, (x, w, bias), vjp, "conv")
