"""Winograd convolution for 3x3 kernels with stride 1, dilation 1 and one group.

Winograd's minimal filtering algorithm ``F(m x m, 3 x 3)`` (Lavin & Gray, "Fast Algorithms for
Convolutional Neural Networks", CVPR 2016) computes an ``m x m`` tile of outputs from a
``t x t`` tile of input, ``t = m + 2``, with ``t*t`` multiplications instead of ``9*m*m``::

    Y = A^T [ (G g G^T) * (B^T d B) ] A          (* is the elementwise product)

for one input channel's tile ``d`` (t, t) and kernel ``g`` (3, 3). Summed over input channels,
each of the ``t*t`` positions of that product becomes a matrix product, so a whole layer is::

    V[xi] = (B^T d B)[xi]   for every tile and channel       (T, P, C_in)     -- input transform
    U[xi] = (G g G^T)[xi]   for every kernel                 (T, C_in, C_out) -- kernel transform
    M[xi] = V[xi] @ U[xi]   for xi < T = t*t                 (T, P, C_out)    -- T GEMMs
    Y     = A^T M A         for every tile                   (m*m, P, C_out)  -- output transform

with ``P`` tiles. Each transform is separable, ``B^T d B`` is ``B^T`` applied along the tile's
rows and then along its columns, so with tiles laid out position-major each half is one small
GEMM over all tiles and channels at once. ``F(2x2, 3x3)`` needs 16 products per 4 outputs and
``F(4x4, 3x3)`` 36 per 16 (2.25x and 4x fewer than the 9 per output of im2col), at the price
of float32 rounding that grows with ``m``: the transforms' coefficients (up to 8 in ``A``,
1/24 in ``G``) amplify it. Measured against float64 on random normal inputs and Kaiming-scaled
kernels (C_in up to 512): F(4x4) within 1.5e-5 of the output's largest magnitude, F(2x2)
within 1e-6, like im2col; the oracle tests accept 1e-4. F(4x4) is the default: on 2 cores it
is the faster of the two on ResNet-18's 3x3 layers up to 256 channels (1.5x at 64 channels);
at 512 channels on 4x4 images they tie. It runs those layers 1.2-2.4x faster than im2col.

**Work in chunks.** The tiles are processed a chunk (some samples, or some tile rows of one
sample) at a time, each worker thread running its share of chunks with its own buffers, so
that the transforms' elementwise-speed GEMMs and copies run in cache.

**Weight gradient.** ``M`` is linear in ``U``, so ``dL/dU[xi] = V[xi]^T @ dM[xi]``, summed over
tiles, with ``dM = A dY A^T`` (the adjoint of the output transform applied to the output
gradient's tiles) and ``dL/dg = G^T dU G`` (the adjoint of the kernel transform).

Shapes: the input is zero-padded already (channels-last ``(N, H + 2, W + 2, C_in)``), the output
is ``(N, H, W, C_out)``. The tile grid covers ``ceil(H/m) x ceil(W/m)`` tiles; when ``m`` does
not divide ``H`` or ``W`` the input is zero-padded further and the extra outputs are dropped.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..backend import map_chunks, num_workers

__all__ = ["winograd_matrices", "winograd_forward", "winograd_weight_grad"]

# (B^T, G, A^T) for F(m, 3) from Lavin & Gray (2016), interpolation points 0, +-1, (+-2,) inf.
_MATRICES = {
    2: (
        [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
        [[1, 0, 0], [1 / 2, 1 / 2, 1 / 2], [1 / 2, -1 / 2, 1 / 2], [0, 0, 1]],
        [[1, 1, 1, 0], [0, 1, -1, -1]],
    ),
    4: (
        [
            [4, 0, -5, 0, 1, 0],
            [0, -4, -4, 1, 1, 0],
            [0, 4, -4, -1, 1, 0],
            [0, -2, -1, 2, 1, 0],
            [0, 2, -1, -2, 1, 0],
            [0, 4, 0, -5, 0, 1],
        ],
        [
            [1 / 4, 0, 0],
            [-1 / 6, -1 / 6, -1 / 6],
            [-1 / 6, 1 / 6, -1 / 6],
            [1 / 24, 1 / 12, 1 / 6],
            [1 / 24, -1 / 12, 1 / 6],
            [0, 0, 1],
        ],
        [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]],
    ),
}

# Tiles per chunk: as many as keep one chunk's transformed input (T, P, C) near CHUNK_BYTES, so
# that its transforms run in L2 cache, but at least MIN_TILES, so that each of the T GEMMs reuses
# its (C_in, C_out) matrix of U over enough rows (U does not fit in cache for wide layers) and
# each NumPy call is long enough to share the GIL well. Measured on 2 cores, ResNet-18 layers
# (N=128): 64 to 256 tiles are within noise of each other; 32 is 50% slower at 64 channels.
CHUNK_BYTES = 1 << 20
MIN_TILES = 128


def winograd_matrices(m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(B^T, G, A^T)`` of ``F(m, 3)`` in float64: shapes (t, t), (t, 3), (m, t), t = m + 2.

    In one dimension, ``A^T [(G g) * (B^T d)]`` is the correlation of ``d`` (t,) with ``g`` (3,).

    >>> bt, g, at = winograd_matrices(2)
    >>> bt.shape, g.shape, at.shape
    ((4, 4), (4, 3), (2, 4))
    """
    if m not in _MATRICES:
        raise ValueError(f"winograd: tile size `m` must be one of {sorted(_MATRICES)}; got m={m}.")
    bt, g, at = (np.array(a, np.float64) for a in _MATRICES[m])
    return bt, g, at


def _pad_to(xl: np.ndarray, h: int, w: int) -> np.ndarray:
    """Zero-pad channels-last ``xl`` at the bottom and right to spatial size (h, w)."""
    if xl.shape[1:3] == (h, w):
        return xl
    return np.pad(xl, [(0, 0), (0, h - xl.shape[1]), (0, w - xl.shape[2]), (0, 0)])


def _tile_shares(batch: int, rows: int, cols: int, tile_bytes: int) -> list[list[tuple[slice, int, int]]]:
    """Split the tile grid into chunks of whole samples or of one sample's tile rows, one share per worker.

    Each chunk is (samples, first tile row, end tile row); each worker runs its share of chunks
    in order, reusing its buffers (fresh ones would be page-faulted in again for every chunk).
    """
    per_sample = rows * cols
    workers = num_workers()
    tiles = max(MIN_TILES, CHUNK_BYTES // tile_bytes)
    tiles = max(1, min(tiles, -(-batch * per_sample // workers)))  # at least one chunk per worker
    if per_sample <= tiles:
        step = tiles // per_sample
        chunks = [(slice(a, min(a + step, batch)), 0, rows) for a in range(0, batch, step)]
    else:
        step = max(1, tiles // cols)
        chunks = [
            (slice(i, i + 1), a, min(a + step, rows)) for i in range(batch) for a in range(0, rows, step)
        ]
    shares = min(workers, len(chunks))
    bounds = [len(chunks) * k // shares for k in range(shares + 1)]
    return [chunks[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:])]


def _pooled_matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray, axis: int) -> np.ndarray:
    """Compute ``a @ b`` into ``out`` on the worker pool, split along ``axis`` (rows of a or columns of b).

    Why not one ``np.matmul``: a multi-threaded BLAS call leaves BLAS's own threads spinning for
    a while after it returns, and they would take the cores from the pool that runs next
    (measured: +50% on the whole forward). In the pool, BLAS is held to one thread.
    """
    size = out.shape[axis]
    parts = min(num_workers(), size) or 1
    bounds = [size * k // parts for k in range(parts + 1)]

    def part(lo_hi: tuple[int, int]) -> None:
        lo, hi = lo_hi
        if axis == 0:
            np.matmul(a[lo:hi], b, out=out[lo:hi])
        else:
            np.matmul(a, b[:, lo:hi], out=out[:, lo:hi])

    map_chunks(part, list(zip(bounds[:-1], bounds[1:])))
    return out


def _buffer(flat: np.ndarray, *shape: int) -> np.ndarray:
    """Return the first prod(shape) elements of ``flat`` as a contiguous array of that shape."""
    return flat[: math.prod(shape)].reshape(shape)


def _input_transform(
    xs: np.ndarray, bt: np.ndarray, rows: int, cols: int, a: np.ndarray, b: np.ndarray
) -> np.ndarray:
    """Return V = B^T d B for every t x t tile d (step m) of ``xs``, as (t, t, n*rows*cols*C) in ``a``.

    ``xs`` (n, m*rows + 2, m*cols + 2, C) has contiguous (W, C) planes; the buffers ``a``
    and ``b`` hold t*t*n*rows*cols*C elements each (``b`` is scratch).
    """
    t = bt.shape[0]
    m = t - 2
    n, _, wp, c = xs.shape
    s = xs.strides
    # B^T along the tile rows first, on a strided view of the input: row i of tile row r is
    # input row m*r + i, so the input is read once per tile row, not once per tile.
    row_tiles = as_strided(xs, (n, rows, t, wp * c), (s[0], m * s[1], s[1], s[3]))  # (n, rows, t, W*C)
    z = np.matmul(bt, row_tiles, out=_buffer(a, n, rows, t, wp * c))  # (n, rows, xi1, W*C)
    s = z.strides
    tiles = as_strided(z, (t, t, n, rows, cols, c), (s[2], c * s[3], s[0], s[1], m * c * s[3], s[3]))
    d = _buffer(b, t, t, n * rows * cols * c)
    d.reshape(tiles.shape)[...] = tiles  # (xi1, j, n, rows, cols, C): column j of every tile, the one gather
    return np.matmul(bt, d, out=_buffer(a, t, t, d.shape[-1]))  # ... then B along the tile columns


def winograd_forward(xl: np.ndarray, w: np.ndarray, m: int = 4) -> np.ndarray:
    """Correlate padded channels-last ``xl`` with a 3x3 kernel ``w``, stride 1, by Winograd F(m, 3).

    Same contract as ``conv_forward_array(xl, w, (1, 1), (1, 1), 1)``.

    Args:
        xl: the zero-padded input, channels-last.
        w: the kernel.
        m: the output tile size, 2 or 4.

    Shapes:
        xl: (N, H + 2, W + 2, C_in); w: (C_out, C_in, 3, 3); returns (N, H, W, C_out),
        ``out = in - 2`` on both spatial axes.

    Raises:
        ValueError: if the shapes do not fit together or ``m`` is not 2 or 4.

    >>> winograd_forward(np.zeros((2, 7, 6, 3), np.float32), np.zeros((8, 3, 3, 3), np.float32)).shape
    (2, 5, 4, 8)
    """
    if w.ndim != 4 or w.shape[2:] != (3, 3):
        raise ValueError(f"winograd: `w` must be (C_out, C_in, 3, 3); got shape {w.shape}.")
    c_out, c_in = w.shape[:2]
    if xl.ndim != 4 or xl.shape[-1] != c_in or min(xl.shape[1:3]) < 3:
        raise ValueError(
            f"winograd: `xl` must be channels-last (N, H + 2, W + 2, {c_in}) with H, W >= 1 to match "
            f"w.shape={w.shape}; got xl.shape={xl.shape}."
        )
    bt, g, at = winograd_matrices(m)
    t = m + 2
    n, h, wd = xl.shape[0], xl.shape[1] - 2, xl.shape[2] - 2
    rows, cols = -(-h // m), -(-wd // m)  # the tile grid
    xp = np.ascontiguousarray(_pad_to(xl, m * rows + 2, m * cols + 2))
    dtype = xl.dtype
    # vec(G g G^T) = (G kron G) vec(g) for every kernel; w, not U (T/9 times larger), is transposed.
    w_in_out = np.ascontiguousarray(w.transpose(1, 0, 2, 3)).reshape(c_in * c_out, 9)
    u = np.empty((t * t, c_in * c_out), dtype)
    u = _pooled_matmul(np.kron(g, g).astype(dtype), w_in_out.T, u, axis=1).reshape(t * t, c_in, c_out)
    bt, at = bt.astype(dtype), at.astype(dtype)
    yp = np.empty((n, m * rows, m * cols, c_out), dtype)  # the whole tile grid
    y_tiles = yp.reshape(n, rows, m, cols, m, c_out)

    def share(chunks: list[tuple[slice, int, int]]) -> None:  # shares write disjoint tiles of y
        most = max((b.stop - b.start) * (r1 - r0) for b, r0, r1 in chunks) * cols  # tiles
        # Two buffers, each step writing the one its input is not in: L2 holds a chunk's work.
        buf1, buf2 = (np.empty(t * t * most * max(c_in, c_out), dtype) for _ in range(2))
        for b, r0, r1 in chunks:
            p = (b.stop - b.start) * (r1 - r0) * cols
            v = _input_transform(xp[b, m * r0 : m * r1 + 2], bt, r1 - r0, cols, buf1, buf2)  # in buf1
            mm = np.matmul(v.reshape(t * t, p, c_in), u, out=_buffer(buf2, t * t, p, c_out))  # (T, P, C_out)
            ya = np.matmul(at, mm.reshape(t, -1), out=_buffer(buf1, m, t * p * c_out))  # A^T along rows
            yb = np.matmul(at, ya.reshape(m, t, -1), out=_buffer(buf2, m, m, p * c_out))  # and along columns
            y_tiles[b, r0:r1] = yb.reshape(m, m, -1, r1 - r0, cols, c_out).transpose(2, 3, 0, 4, 1, 5)

    map_chunks(share, _tile_shares(n, rows, cols, t * t * max(c_in, c_out) * xl.itemsize))
    return yp if (m * rows, m * cols) == (h, wd) else np.ascontiguousarray(yp[:, :h, :wd])


def winograd_weight_grad(xl: np.ndarray, gl: np.ndarray, m: int = 4) -> np.ndarray:
    """Return dL/dw (C_out, C_in, 3, 3) of a 3x3, stride-1 correlation, by Winograd F(m, 3).

    Same contract as ``conv_weight_grad_array(xl, gl, (3, 3), (1, 1), (1, 1), 1)``.

    Args:
        xl: the zero-padded input, channels-last.
        gl: the output gradient, channels-last.
        m: the output tile size, 2 or 4.

    Shapes:
        xl: (N, H + 2, W + 2, C_in); gl: (N, H, W, C_out); returns (C_out, C_in, 3, 3).

    Raises:
        ValueError: if the shapes do not fit together or ``m`` is not 2 or 4.

    >>> winograd_weight_grad(np.zeros((2, 7, 6, 3), np.float32), np.zeros((2, 5, 4, 8), np.float32)).shape
    (8, 3, 3, 3)
    """
    if xl.ndim != 4 or gl.ndim != 4 or gl.shape[:3] != (xl.shape[0], xl.shape[1] - 2, xl.shape[2] - 2):
        raise ValueError(
            "winograd: `gl` must be (N, H, W, C_out) for `xl` (N, H + 2, W + 2, C_in); "
            f"got xl.shape={xl.shape}, gl.shape={gl.shape}."
        )
    bt, g, at = winograd_matrices(m)
    t = m + 2
    n, h, wd, c_out = gl.shape
    c_in = xl.shape[-1]
    rows, cols = -(-h // m), -(-wd // m)
    xp = np.ascontiguousarray(_pad_to(xl, m * rows + 2, m * cols + 2))
    gp = np.ascontiguousarray(_pad_to(gl, m * rows, m * cols))  # outputs beyond the layer's: zero gradient
    g_tiles = gp.reshape(n, rows, m, cols, m, c_out)
    dtype = xl.dtype
    bt, a = bt.astype(dtype), at.T.astype(dtype)  # dM = A dY A^T, the adjoint of Y = A^T M A

    def share(chunks: list[tuple[slice, int, int]]) -> np.ndarray:  # this share's dU
        most = max((b.stop - b.start) * (r1 - r0) for b, r0, r1 in chunks) * cols  # tiles
        buf1, buf2, buf3 = (np.empty(t * t * most * max(c_in, c_out), dtype) for _ in range(3))
        du = np.empty((t * t, c_out, c_in), dtype)
        # dU[xi] += dM[xi]^T V[xi]: one batched product per chunk while the T products fit in
        # the chunk budget (few, long NumPy calls share the GIL better), else one per position.
        # The first chunk writes dU (T/9 times the size of dw: no zero fill, no extra pass).
        batched = t * t * c_out * c_in * xl.itemsize <= CHUNK_BYTES
        part = np.empty((t * t, c_out, c_in) if batched else (c_out, c_in), dtype)
        for i, (b, r0, r1) in enumerate(chunks):
            p = (b.stop - b.start) * (r1 - r0) * cols
            v = _input_transform(xp[b, m * r0 : m * r1 + 2], bt, r1 - r0, cols, buf1, buf2)  # in buf1
            v = v.reshape(t * t, p, c_in)
            tiles = _buffer(buf2, m, m, b.stop - b.start, r1 - r0, cols, c_out)
            tiles[...] = g_tiles[b, r0:r1].transpose(2, 4, 0, 1, 3, 5)  # (m, m, n, rows, cols, C_out)
            da = np.matmul(a, tiles.reshape(m, -1), out=_buffer(buf3, t, m * p * c_out))  # A along rows
            dmm = np.matmul(a, da.reshape(t, m, -1), out=_buffer(buf2, t, t, p * c_out))  # and along columns
            dmm = dmm.reshape(t * t, p, c_out)
            if i == 0:
                np.matmul(dmm.transpose(0, 2, 1), v, out=du)
            elif batched:
                du += np.matmul(dmm.transpose(0, 2, 1), v, out=part)
            else:
                for k in range(t * t):
                    du[k] += np.matmul(dmm[k].T, v[k], out=part)
        return du

    parts = map_chunks(share, _tile_shares(n, rows, cols, t * t * max(c_in, c_out) * xl.itemsize))
    du = parts[0]
    for more in parts[1:]:  # summed in share order: deterministic for a given number of workers
        du += more
    # dL/dg = G^T dU G, i.e. vec(dg) = (G kron G)^T vec(dU), for every kernel.
    dw = np.empty((c_out * c_in, 9), dtype)
    _pooled_matmul(du.reshape(t * t, c_out * c_in).T, np.kron(g, g).astype(dtype), dw, axis=0)
    return dw.reshape(c_out, c_in, 3, 3)
