"""The one N-d sliding-window helper that convolution, pooling and unfold/fold share.

A window of a ``kernel``-sized, ``dilation``-spaced grid slides over ``n`` consecutive axes of
an array with step ``stride``. :func:`windows` returns every window as a zero-copy strided view;
:func:`add_windows` is its adjoint: it adds window-shaped values back into an array, one
kernel offset at a time (``prod(kernel)`` vectorised slice-adds -- never a per-pixel loop and
never an unbuffered scatter-add). Inputs here are already padded; padding lives in :mod:`.pad`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..autograd import Tensor, record

__all__ = ["windows", "add_windows", "offset_slices", "valid_out_shape", "unfold_valid", "fold_valid"]


def valid_out_shape(
    spatial: Sequence[int], kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int]
) -> tuple[int, ...]:
    """Return the number of window positions per axis on an (already padded) input."""
    return tuple((s - d * (k - 1) - 1) // st + 1 for s, k, st, d in zip(spatial, kernel, stride, dilation))


def windows(
    x: np.ndarray,
    kernel: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
    axis: int,
) -> np.ndarray:
    """Return a read-only view of all windows over axes ``axis .. axis+n-1`` of ``x``.

    The window axes are replaced by the output-position axes and the kernel axes are
    appended last: ``(*x.shape[:axis], *out, *x.shape[axis+n:], *kernel)``, where
    ``view[..., o, ..., k] = x[..., o*stride + k*dilation, ...]``.

    >>> windows(np.arange(5.0), (3,), (2,), (1,), axis=0)
    array([[0., 1., 2.],
           [2., 3., 4.]])
    """
    n = len(kernel)
    spatial = x.shape[axis : axis + n]
    out = valid_out_shape(spatial, kernel, stride, dilation)
    st = x.strides[axis : axis + n]
    shape = x.shape[:axis] + out + x.shape[axis + n :] + tuple(kernel)
    strides = (
        x.strides[:axis]
        + tuple(s * step for s, step in zip(st, stride))
        + x.strides[axis + n :]
        + tuple(s * d for s, d in zip(st, dilation))
    )
    return as_strided(x, shape, strides, writeable=False)


def offset_slices(
    out: Sequence[int],
    kernel: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
    axis: int,
) -> Iterator[tuple[tuple[int, ...], tuple[slice | type(Ellipsis), ...]]]:  # type: ignore[valid-type]
    """Yield ``(offset, index)`` per kernel offset: ``x[index]`` are the inputs that offset reads.

    For kernel offset ``k`` the inputs read by all windows form one strided slice
    ``k*dilation :: stride`` per axis, ``out`` long -- the basis of every fold and pool.
    """
    lead = (slice(None),) * axis
    for offset in np.ndindex(*kernel):
        index = lead + tuple(
            slice(k * d, k * d + (o - 1) * s + 1, s) for k, d, o, s in zip(offset, dilation, out, stride)
        )
        yield offset, index


def add_windows(
    dst: np.ndarray,
    src: np.ndarray,
    stride: Sequence[int],
    dilation: Sequence[int],
    axis: int,
) -> np.ndarray:
    """Add window-shaped ``src`` into ``dst`` in place (the adjoint of :func:`windows`).

    ``src`` has the shape ``windows(dst, ...)`` would have; overlapping windows accumulate.
    """
    n = len(stride)
    kernel = src.shape[src.ndim - n :]
    out = src.shape[axis : axis + n]
    for offset, index in offset_slices(out, kernel, stride, dilation, axis):
        dst[index] += src[(Ellipsis,) + tuple(offset)]
    return dst


def unfold_valid(x: Tensor, kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int]) -> Tensor:
    """Primitive: im2col of an already padded ``x`` (N, C, *S) -> (N, C*prod(K), prod(O))."""
    xd = x.data
    n = len(kernel)
    win = windows(xd, kernel, stride, dilation, axis=2)  # (N, C, *O, *K)
    out = win.shape[2 : 2 + n]
    axes = (0, 1) + tuple(range(2 + n, 2 + 2 * n)) + tuple(range(2, 2 + n))
    cols = win.transpose(axes).reshape(xd.shape[0], -1, math.prod(out))  # (N, C*K, L)

    def vjp(g: np.ndarray) -> tuple[np.ndarray]:
        gk = g.reshape((xd.shape[0], xd.shape[1]) + tuple(kernel) + out)  # (N, C, *K, *O)
        gx = np.zeros(xd.shape, g.dtype)
        add_windows(
            gx,
            np.moveaxis(gk, tuple(range(2, 2 + n)), tuple(range(2 + n, 2 + 2 * n))),
            stride,
            dilation,
            axis=2,
        )
        return (gx,)

    return record(cols, (x,), vjp, "unfold")


def fold_valid(
    x: Tensor, spatial: Sequence[int], kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int]
) -> Tensor:
    """Primitive: col2im, the adjoint of :func:`unfold_valid`: (N, C*K, L) -> (N, C, *spatial)."""
    n = len(kernel)
    xd = x.data
    out = valid_out_shape(spatial, kernel, stride, dilation)
    c = xd.shape[1] // math.prod(kernel)
    gk = xd.reshape((xd.shape[0], c) + tuple(kernel) + out)
    y = np.zeros((xd.shape[0], c) + tuple(spatial), xd.dtype)
    add_windows(
        y, np.moveaxis(gk, tuple(range(2, 2 + n)), tuple(range(2 + n, 2 + 2 * n))), stride, dilation, axis=2
    )

    def vjp(g: np.ndarray) -> tuple[np.ndarray]:
        win = windows(g, kernel, stride, dilation, axis=2)
        axes = (0, 1) + tuple(range(2 + n, 2 + 2 * n)) + tuple(range(2, 2 + n))
        return (win.transpose(axes).reshape(xd.shape),)

    return record(y, (x,), vjp, "fold")
