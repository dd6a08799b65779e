"""A convolution as an explicit matrix, in any number of spatial dimensions.

A convolution is linear in its input, so for one sample it *is* a matrix ``M``:
``conv(x).ravel() == M @ x.ravel()``. Each row of ``M`` is one output value (one output
channel at one output position); it holds a copy of that channel's filter, laid out at the
input positions its window covers. Along one axis with stride 1 every row is the previous row
shifted one column to the right: ``M[i, j]`` depends only on ``j - i`` -- a *Toeplitz* matrix
(constant along its diagonals). With two spatial axes the rows of the image give a Toeplitz
matrix of Toeplitz blocks, a *doubly-block-Toeplitz* matrix; with ``n`` axes the blocks nest
``n`` deep, and channels add one more (dense) block level. A stride ``s`` keeps every
``s``-th row; dilation spreads the taps ``d`` columns apart; zero padding drops the taps that
fall outside the input, while reflect, replicate and circular padding fold them back onto
the input pixels they copy (circular padding makes the 1-D matrix *circulant*).

The transpose ``M.T`` maps an output-shaped array back to the input's shape, spreading every
output value over the window it came from: it is exactly the *transposed convolution*
(:func:`ndconv.nn.functional.conv_transpose` with the same arguments, the adjoint of
:func:`ndconv.nn.functional.conv` for every padding mode) and it is the gradient of the input
in backpropagation.

The matrix is built without loops over pixels: per spatial axis, a table maps every (output
position, kernel offset) to the input coordinate it reads, through the padding mode; NumPy
broadcasting combines the tables of all axes with the channels into the (row, column, value)
triplets of every tap, and ``np.bincount`` (dense) or a COO-to-CSR conversion (sparse) adds up
the taps that land on the same entry.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..ops.pad import check_pad_mode
from ..shapes import PADDING_MODES, Padding, as_tuple, conv_output_shape, normalize_padding

__all__ = ["conv_matrix"]

_OP = "conv_matrix"


def _input_coords(
    size: int, out: int, kernel: int, stride: int, dilation: int, lo: int, mode: str
) -> tuple[np.ndarray, np.ndarray]:
    """Return the input coordinate read by each (output position, kernel offset), and validity.

    The window of output ``o`` reads padded coordinate ``o*stride + k*dilation``, i.e. input
    coordinate ``q = o*stride + k*dilation - lo``; the padding mode maps a ``q`` outside
    ``[0, size)`` back inside (or, for zeros, marks the tap invalid).
    """
    q = np.arange(out)[:, None] * stride + np.arange(kernel)[None, :] * dilation - lo  # (O, K)
    valid = np.ones(q.shape, bool)
    if mode == "zeros":
        valid = (q >= 0) & (q < size)
        q = np.clip(q, 0, size - 1)
    elif mode == "replicate":
        q = np.clip(q, 0, size - 1)
    elif mode == "circular":
        q = np.mod(q, size)
    elif mode == "reflect":  # mirror about the edge pixels, which are not repeated
        q = np.abs(q)
        q = np.where(q > size - 1, 2 * (size - 1) - q, q)
    return q, valid


def conv_matrix(
    input_shape: Sequence[int],
    weight: Any,
    stride: int | Sequence[int] = 1,
    padding: Padding = 0,
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
    sparse: bool = False,
) -> Any:
    """Return the matrix ``M`` of the linear map ``x -> conv(x, weight, None, ...)`` for one sample.

    ``M @ x.ravel()`` equals ``F.conv(x, weight, ...)`` (no bias) raveled, and ``M.T @ y.ravel()``
    equals the transposed convolution of ``y`` with the same arguments. Rows are ordered
    ``(C_out, *O)`` and columns ``(C_in, *S)``, both row-major, as ``ravel()`` orders them.

    A convolution is a (doubly-)block-Toeplitz matrix; its transpose is the transposed
    convolution -- see the module docstring.

    Args:
        input_shape: ``(C_in, *S)``, the shape of one input sample (no batch axis).
        weight: ``(C_out, C_in // groups, *K)`` array or Tensor; its rank sets the number of
            spatial axes (any number >= 1).
        stride, padding, dilation, groups, padding_mode: as in :func:`ndconv.nn.functional.conv`
            (every padding form, ``"same"`` also strided; zeros, reflect, replicate, circular).
        sparse: return a ``scipy.sparse`` CSR array instead of a dense NumPy array (needs
            SciPy; the dense matrix of a real layer is huge, the sparse one is
            ``C_out * prod(O) * C_in/groups * prod(K)`` entries at most).

    Shapes:
        ``M``: ``(C_out * prod(O), C_in * prod(S))``, with
        ``O[i] = floor((S[i] + lo[i] + hi[i] - dilation[i]*(K[i]-1) - 1) / stride[i]) + 1``.

    Returns:
        ``M`` in the weight's floating dtype (float64 for an integer weight).

    Raises:
        ValueError, TypeError: on a bad argument, naming it and the value received.
        ImportError: if ``sparse=True`` and SciPy is not installed.

    >>> conv_matrix((1, 4), np.array([[[1.0, 2.0, 3.0]]]), padding=1)
    array([[2., 3., 0., 0.],
           [1., 2., 3., 0.],
           [0., 1., 2., 3.],
           [0., 0., 1., 2.]])
    """
    w = np.asarray(weight)
    if w.ndim < 3:
        raise ValueError(
            f"{_OP}: `weight` must have shape (C_out, C_in // groups, *kernel) with at least one "
            f"spatial axis; got weight.shape={w.shape}."
        )
    if not np.issubdtype(w.dtype, np.floating):
        if not (np.issubdtype(w.dtype, np.integer) or w.dtype == np.bool_):
            raise TypeError(f"{_OP}: `weight` must hold real numbers; got weight.dtype={w.dtype}.")
        w = w.astype(np.float64)
    n = w.ndim - 2
    shape = _check_input_shape(input_shape, n, w.shape)
    c_in, spatial = shape[0], shape[1:]
    c_out, c_group = w.shape[0], w.shape[1]
    groups = _check_groups(groups, c_in, c_out)
    if c_group * groups != c_in:
        raise ValueError(
            f"{_OP}: `weight` must have in_channels // groups = {c_in // groups} input channels to "
            f"match `input_shape`; got weight.shape={w.shape} with input_shape={shape}, groups={groups}."
        )
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"{_OP}: `padding_mode` must be one of {PADDING_MODES}; got {padding_mode!r}.")
    kernel = w.shape[2:]
    stride_ = as_tuple(stride, n, "stride", _OP)
    dilation_ = as_tuple(dilation, n, "dilation", _OP)
    pads = normalize_padding(padding, n, _OP, kernel, stride_, dilation_, spatial)
    check_pad_mode(padding_mode, pads, spatial, _OP)
    out = conv_output_shape(spatial, kernel, stride_, pads, dilation_, op=_OP)

    # Broadcast every tap over the axes (C_out, C_in/groups, O_1..O_n, K_1..K_n).
    ndim = 2 + 2 * n
    row = (np.arange(c_out) * math.prod(out)).reshape((c_out,) + (1,) * (ndim - 1))
    first_in = (np.arange(c_out) // (c_out // groups)) * c_group  # first input channel of o's group
    chan = first_in[:, None] + np.arange(c_group)[None, :]  # (C_out, C_in/groups)
    col = (chan * math.prod(spatial)).reshape(chan.shape + (1,) * (2 * n))
    valid: Any = True
    for i in range(n):
        lo = pads[i][0]
        q, ok = _input_coords(spatial[i], out[i], kernel[i], stride_[i], dilation_[i], lo, padding_mode)
        o_shape, table_shape = [1] * ndim, [1] * ndim
        o_shape[2 + i] = table_shape[2 + i] = out[i]
        table_shape[2 + n + i] = kernel[i]
        # Row-major strides: an output (input) step along axis i moves prod(later sizes) entries.
        o_step, s_step = math.prod(out[i + 1 :]), math.prod(spatial[i + 1 :])
        row = row + (np.arange(out[i]) * o_step).reshape(o_shape)
        col = col + (q * s_step).reshape(table_shape)
        valid = valid & ok.reshape(table_shape)
    values = w.reshape((c_out, c_group) + (1,) * n + kernel)  # the same filter at every position
    full = (c_out, c_group) + tuple(out) + tuple(kernel)
    row, col, values = (np.broadcast_to(a, full) for a in (row, col, values))
    keep = np.broadcast_to(valid, full)
    row, col, values = row[keep], col[keep], values[keep]

    n_rows, n_cols = c_out * math.prod(out), c_in * math.prod(spatial)
    if sparse:
        return _sparse_sum(row, col, values, (n_rows, n_cols))
    flat = row.astype(np.int64) * n_cols + col  # taps that land on one entry add up here
    dense = np.bincount(flat, weights=values, minlength=n_rows * n_cols)
    return dense.reshape(n_rows, n_cols).astype(w.dtype, copy=False)


def _sparse_sum(row: np.ndarray, col: np.ndarray, values: np.ndarray, shape: tuple[int, int]) -> Any:
    """Assemble a CSR array from COO triplets, summing duplicates (SciPy imported lazily)."""
    try:
        import scipy.sparse as sp
    except ImportError as exc:
        raise ImportError(
            f"{_OP}: sparse=True needs SciPy, which is not a core dependency of ndconv "
            f"(pip install scipy); or call with sparse=False for a dense NumPy array. ({exc})"
        ) from exc
    m = sp.coo_array((values, (row, col)), shape=shape).tocsr()  # tocsr sums duplicates
    m.eliminate_zeros()
    return m


def _check_input_shape(input_shape: Any, n: int, weight_shape: tuple[int, ...]) -> tuple[int, ...]:
    if not isinstance(input_shape, Sequence) or isinstance(input_shape, str):
        raise TypeError(f"{_OP}: `input_shape` must be a sequence of ints (C_in, *S); got {input_shape!r}.")
    if len(input_shape) != n + 1:
        raise ValueError(
            f"{_OP}: `input_shape` must be (C_in, *S) with {n} spatial sizes (from "
            f"weight.shape={weight_shape}), i.e. {n + 1} entries; got input_shape={tuple(input_shape)}."
        )
    return as_tuple(tuple(input_shape), n + 1, "input_shape", _OP)


def _check_groups(groups: Any, c_in: int, c_out: int) -> int:
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool):
        raise TypeError(f"{_OP}: `groups` must be an int; got groups={groups!r}.")
    if groups < 1 or c_in % groups or c_out % groups:
        raise ValueError(
            f"{_OP}: `groups` must be >= 1 and divide both in_channels and out_channels; got "
            f"groups={groups} with in_channels={c_in}, out_channels={c_out}."
        )
    return int(groups)
