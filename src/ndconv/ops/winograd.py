"""Winograd convolution for 3x3 kernels with stride 1, dilation 1 and one group.

Winograd's minimal filtering algorithm ``F(m x m, 3 x 3)`` (Lavin & Gray, "Fast Algorithms for
Convolutional Neural Networks", CVPR 2016) computes an ``m x m`` tile of outputs from a
``t x t`` tile of input, ``t = m + 2``, with ``t*t`` multiplications instead of ``9*m*m``::

    Y = A^T [ (G g G^T) * (B^T d B) ] A          (* is the elementwise product)

for one input channel's tile ``d`` (t, t) and kernel ``g`` (3, 3). Summed over input channels,
each of the ``t*t`` positions of that product becomes a matrix product, so a whole layer is

    V[xi] = (B^T d B)[xi]   for every tile and channel       (T, P, C_in)     -- input transform
    U[xi] = (G g G^T)[xi]   for every kernel                 (T, C_in, C_out) -- kernel transform
    M[xi] = V[xi] @ U[xi]   for xi < T = t*t                 (T, P, C_out)    -- T GEMMs
    Y     = A^T M A         for every tile                   (m*m, P, C_out)  -- output transform

with ``P`` tiles. Each transform is linear in the tile, ``vec(B^T d B) = (B^T kron B^T) vec(d)``,
so it is one small GEMM on tiles laid out position-major, which is how it is computed here.
``F(2x2, 3x3)`` needs 16 products per 4 outputs and ``F(4x4, 3x3)`` 36 per 16 (2.25x and 4x
fewer than the 9 per output of im2col), at the price of float32 rounding that grows with
``m``: the transforms' coefficients (up to 8 in ``A``, 1/24 in ``G``) amplify it.

**Weight gradient.** ``M`` is linear in ``U``, so ``dL/dU[xi] = V[xi]^T @ dM[xi]`` summed over
tiles, with ``dM = A dY A^T`` (the adjoint of the output transform applied to the output
gradient's tiles) and ``dL/dg = G^T dU G`` (the adjoint of the kernel transform).

Shapes: the input is zero-padded already (channels-last ``(N, H + 2, W + 2, C_in)``), the output
is ``(N, H, W, C_out)``. The tile grid covers ``ceil(H/m) x ceil(W/m)`` tiles; when ``m`` does
not divide ``H`` or ``W`` the input is zero-padded further and the extra outputs are dropped.
"""

from __future__ import annotations

import numpy as np

from ..backend import map_chunks

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

# Tiles per chunk are chosen so that one chunk's transformed input (T, P, C_in) is about this
# many bytes: the gather, the transforms and the GEMMs of a chunk then run in L2 cache.
CHUNK_BYTES = 1 << 20


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


def _tile_chunks(
    batch: int, rows: int, tiles_per_sample: int, tile_bytes: int
) -> list[tuple[slice, int, int]]:
    """Split ``batch`` samples of ``rows`` tile rows into chunks of about CHUNK_BYTES.

    Each chunk is (samples, first tile row, end tile row).
    """
    per_sample = tiles_per_sample * tile_bytes
    if per_sample <= CHUNK_BYTES:
        step = max(1, CHUNK_BYTES // per_sample)
        return [(slice(a, min(a + step, batch)), 0, rows) for a in range(0, batch, step)]
    step = max(1, CHUNK_BYTES * rows // per_sample)
    return [(slice(i, i + 1), a, min(a + step, rows)) for i in range(batch) for a in range(0, rows, step)]


def _gather_tiles(xs: np.ndarray, t: int, m: int, rows: int, cols: int) -> np.ndarray:
    """Copy the overlapping t x t tiles (step m) of ``xs`` (n, >= m*rows + t - m, >= m*cols + t - m, C).

    Returns (t*t, n*rows*cols*C): tile position first, so a linear map of the tiles is one GEMM.
    """
    n, c = xs.shape[0], xs.shape[-1]
    d = np.empty((t, t, n, rows, cols, c), xs.dtype)
    for a in range(t):  # t*t strided copies, each of one position of every tile
        for b in range(t):
            d[a, b] = xs[:, a : a + m * rows : m, b : b + m * cols : m]
    return d.reshape(t * t, -1)


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
    xp = _pad_to(xl, m * rows + 2, m * cols + 2)
    dtype = xl.dtype
    bb = np.kron(bt, bt).astype(dtype)  # (T, T): vec(B^T d B) = (B^T kron B^T) vec(d)
    aa = np.kron(at, at).astype(dtype)  # (m*m, T)
    gw = w.astype(np.float64).transpose(2, 3, 1, 0).reshape(9, c_in * c_out)  # (9, C_in*C_out)
    u = (np.kron(g, g) @ gw).astype(dtype).reshape(t * t, c_in, c_out)  # (T, C_in, C_out)
    y = np.empty((n, h, wd, c_out), dtype)

    def chunk(job: tuple[slice, int, int]) -> None:  # chunks write disjoint tiles of y
        b, r0, r1 = job
        xs = xp[b, m * r0 : m * r1 + 2]
        v = (bb @ _gather_tiles(xs, t, m, r1 - r0, cols)).reshape(t * t, -1, c_in)  # (T, P, C_in)
        prod = np.matmul(v, u)  # (T, P, C_out)
        out = (aa @ prod.reshape(t * t, -1)).reshape(
            m, m, -1, r1 - r0, cols, c_out
        )  # (m, m, n, *tiles, C_out)
        for i in range(m):  # position (i, j) of every output tile
            for j in range(m):
                dst = y[b, m * r0 + i : m * r1 : m, j::m]
                dst[...] = out[i, j, :, : dst.shape[1], : dst.shape[2]]

    jobs = _tile_chunks(n, rows, cols, t * t * max(c_in, c_out) * xl.itemsize)
    map_chunks(chunk, jobs)
    return y


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
    xp = _pad_to(xl, m * rows + 2, m * cols + 2)
    gp = _pad_to(gl, m * rows, m * cols)  # outputs beyond the layer's get a zero gradient
    dtype = xl.dtype
    bb = np.kron(bt, bt).astype(dtype)  # (T, T)
    aat = np.kron(at, at).T.astype(dtype)  # (T, m*m): dM = A dY A^T, the adjoint of Y = A^T M A

    def chunk(job: tuple[slice, int, int]) -> np.ndarray:  # this chunk's share of dU
        b, r0, r1 = job
        v = (bb @ _gather_tiles(xp[b, m * r0 : m * r1 + 2], t, m, r1 - r0, cols)).reshape(t * t, -1, c_in)
        dy = _gather_tiles(gp[b, m * r0 : m * r1], m, m, r1 - r0, cols)  # (m*m, P*C_out)
        dm = (aat @ dy).reshape(t * t, -1, c_out)  # (T, P, C_out)
        return np.matmul(v.transpose(0, 2, 1), dm)  # (T, C_in, C_out)

    jobs = _tile_chunks(n, rows, cols, t * t * max(c_in, c_out) * xl.itemsize)
    parts = map_chunks(chunk, jobs)
    du = parts[0]
    for part in parts[1:]:  # summed in chunk order: the same result however many threads
        du += part
    # dL/dg = G^T dU G, i.e. vec(dg) = (G kron G)^T vec(dU), computed in float64.
    dg = np.kron(g, g).T @ du.astype(np.float64).reshape(t * t, -1)  # (9, C_in*C_out)
    return dg.reshape(3, 3, c_in, c_out).transpose(3, 2, 0, 1).astype(dtype)
