"""The functional API: validated, PyTorch-shaped entry points over the primitives in ``ops``.

Every function here checks its arguments once -- raising a ``ValueError``/``TypeError`` that
names the argument, the rule and what was received -- then composes primitives. All
sliding-window functions work for any number of spatial dimensions ``n >= 1``; the rank is
read from the weight (convolution) or from the input (pooling). Layout is channels-first:
``x`` is ``(N, C, *S)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import lru_cache, wraps
from typing import Any, TypeVar

import numpy as np

from ..autograd import Tensor, as_tensor
from ..ops import abs as _abs
from ..ops import amax as _amax
from ..ops import (
    gelu,
    leaky_relu,
    log_softmax,
    matmul,
    mean,
    permute,
    relu,
    reshape,
    sigmoid,
    softmax,
    softplus,
    sum,
    take_along_axis,
    tanh,
)
from ..ops.conv import conv_transpose_valid, conv_valid
from ..ops.loss import bce_with_logits_elementwise
from ..ops.norm import batch_norm_train
from ..ops.pad import check_pad_mode, pad_adjoint
from ..ops.pad import pad as _pad
from ..ops.pool import adaptive_bounds, adaptive_max_1d, max_pool_padded, max_unpool_flat, window_sum
from ..ops.reduce import linear as linear_op
from ..ops.window import fold_valid, unfold_valid
from ..random import get_rng
from ..shapes import (
    Padding,
    as_tuple,
    conv_output_shape,
    conv_transpose_output_shape,
    normalize_padding,
    pool_output_shape,
    same_padding,
)

R = TypeVar("R")

__all__ = [
    "conv",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose",
    "unfold",
    "fold",
    "pad",
    "max_pool",
    "avg_pool",
    "max_unpool",
    "adaptive_avg_pool",
    "adaptive_max_pool",
    "global_avg_pool",
    "global_max_pool",
    "batch_norm",
    "dropout",
    "linear",
    "cross_entropy",
    "nll_loss",
    "mse_loss",
    "l1_loss",
    "binary_cross_entropy_with_logits",
    "relu",
    "leaky_relu",
    "sigmoid",
    "tanh",
    "gelu",
    "softmax",
    "log_softmax",
    "softplus",
]


# --- argument checks --------------------------------------------------------------------


def _tensor(x: Any, name: str, op: str) -> Tensor:
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (np.ndarray, list, tuple, float, int)):
        return as_tensor(x)
    raise TypeError(f"{op}: `{name}` must be a Tensor or array; got {type(x).__name__}.")


def _batched(x: Tensor, n: int, op: str, what: str) -> tuple[Tensor, bool]:
    """Accept (N, C, *S) or unbatched (C, *S); return the batched tensor and whether to unbatch."""
    if x.ndim == n + 2:
        return x, False
    if x.ndim == n + 1:
        return reshape(x, (1,) + x.shape), True
    raise ValueError(
        f"{op}: `x` must have shape (N, C, *spatial) with {n} spatial axes ({what}), i.e. rank "
        f"{n + 2} (or {n + 1} unbatched); got x.shape={x.shape}."
    )


def _unbatch(y: Tensor, flag: bool) -> Tensor:
    return reshape(y, y.shape[1:]) if flag else y


def _plain(v: Any) -> bool:
    """Whether ``v`` is an int, str, None or a tuple of those, nested: values that are equal only
    when their types are too (unlike ``1.0 == 1`` or ``True == 1``, which a check must tell apart).
    """
    if type(v) is not tuple:
        return type(v) is int or type(v) is str or v is None
    for e in v:
        t = type(e)
        if not (t is int or (t is tuple and _plain(e)) or t is str or e is None):
            return False
    return True


def _memo(check: Callable[..., R]) -> Callable[..., R]:
    """Cache a pure argument check by its arguments; a call repeated with the same layer
    geometry (every training step) skips the validation. Only plain arguments are cached (see
    :func:`_plain`; a bool is plain at the top level, where the cache compares types); errors
    are raised afresh every time, never cached.
    """
    cached = lru_cache(maxsize=1024, typed=True)(check)

    @wraps(check)
    def wrapper(*args: Any) -> R:
        for a in args:
            if not (type(a) is bool or _plain(a)):
                return check(*args)
        return cached(*args)

    return wrapper


def _check_dtype(x: Tensor, w: Tensor, op: str) -> None:
    if x.dtype != w.dtype:
        raise TypeError(
            f"{op}: `x` and `weight` must have the same dtype; got x.dtype={x.dtype}, weight.dtype={w.dtype}."
        )


def _check_groups(groups: Any, c_in: int, c_out: int, op: str) -> int:
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool):
        raise TypeError(f"{op}: `groups` must be an int; got groups={groups!r}.")
    if groups < 1:
        raise ValueError(f"{op}: `groups` must be >= 1; got groups={groups}.")
    if c_in % groups or c_out % groups:
        raise ValueError(
            f"{op}: `groups` must divide both in_channels and out_channels; got groups={groups} "
            f"with in_channels={c_in}, out_channels={c_out}."
        )
    return int(groups)


def _conv_inputs(x: Any, weight: Any, op: str, layout: str) -> tuple[Tensor, Tensor, int, bool, str]:
    """Check the inputs that :func:`conv` and :func:`conv_transpose` share.

    Converts ``x`` and ``weight`` to tensors, checks that ``weight`` (whose expected shape
    ``layout`` names) has at least one spatial axis, batches an unbatched ``x`` and checks that
    the dtypes agree. Returns ``(x, w, n, unbatch, shown)``: the batched input, the weight, the
    number of spatial axes, whether to unbatch the result, and ``x``'s shape as received, for
    error messages.
    """
    x, w = _tensor(x, "x", op), _tensor(weight, "weight", op)
    if w.ndim < 3:
        raise ValueError(f"{op}: `weight` must have shape {layout}; got weight.shape={w.shape}.")
    n = w.ndim - 2
    x_shape = x.shape  # as received, for error messages
    x, unbatch = _batched(x, n, op, f"from weight.shape={w.shape}")
    shown = f"{x_shape} (read as unbatched (C_in, *spatial))" if unbatch else f"{x_shape}"
    _check_dtype(x, w, op)
    return x, w, n, unbatch, shown


def _bias(bias: Any, x: Tensor, c_out: int, op: str) -> Tensor | None:
    if bias is None:
        return None
    b = _tensor(bias, "bias", op)
    if b.shape != (c_out,):
        raise ValueError(
            f"{op}: `bias` must have shape ({c_out},) (one value per output channel); got {b.shape}."
        )
    if b.dtype != x.dtype:
        raise TypeError(
            f"{op}: `bias` must have the dtype of `x`; got bias.dtype={b.dtype}, x.dtype={x.dtype}."
        )
    return b


def _add_bias(y: Tensor, bias: Any, c_out: int, op: str) -> Tensor:
    b = _bias(bias, y, c_out, op)
    return y if b is None else y + reshape(b, (1, c_out) + (1,) * (y.ndim - 2))


# --- convolution ------------------------------------------------------------------------


def conv(
    x: Any,
    weight: Any,
    bias: Any = None,
    stride: int | Sequence[int] = 1,
    padding: Padding = 0,
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
) -> Tensor:
    """Correlate ``x`` with ``weight`` over any number of spatial axes, then add ``bias``.

    Each filter holds one kernel per input channel (of its group); their responses are summed
    and one bias added: ``y[n, o] = b[o] + sum_c corr(x[n, c], w[o, c])``. This is
    cross-correlation, as in every deep-learning framework (no kernel flip).

    Args:
        x: input ``(N, C_in, *S)`` (or unbatched ``(C_in, *S)``).
        weight: ``(C_out, C_in // groups, *K)``; its rank sets the number of spatial axes.
        bias: ``(C_out,)`` or None.
        stride, dilation: an int or one int >= 1 per spatial axis.
        padding: an int, one int per axis, one ``(lo, hi)`` pair per axis, ``"valid"`` or
            ``"same"`` (``out = ceil(in / stride)``, odd pixel on the high side; any stride).
        groups: split the channels into ``groups`` independent convolutions.
        padding_mode: ``"zeros"``, ``"reflect"``, ``"replicate"`` or ``"circular"``.

    Shapes:
        ``out[i] = floor((in[i] + lo[i] + hi[i] - dilation[i]*(K[i]-1) - 1) / stride[i]) + 1``

    Raises:
        ValueError, TypeError: on a bad argument, naming it and the value received.

    >>> import ndconv as nc
    >>> x = nc.tensor(np.zeros((2, 3, 16, 16, 16, 16), np.float32))   # rank-4 volumes
    >>> conv(x, nc.tensor(np.zeros((8, 3, 3, 3, 3, 3), np.float32)), stride=2, padding="same").shape
    (2, 8, 8, 8, 8, 8)
    """
    op = "conv"
    x, w, n, unbatch, shown = _conv_inputs(
        x, weight, op, "(C_out, C_in // groups, *kernel) with at least one spatial axis"
    )
    stride_, dilation_, pads, groups = _conv_geometry(
        x.shape, w.shape, stride, padding, dilation, groups, padding_mode, shown
    )
    b = _bias(bias, x, w.shape[0], op)  # added inside the convolution, into its fresh output
    if padding_mode == "zeros":
        y = conv_valid(x, w, stride_, dilation_, groups, zero_pad=pads, bias=b)
    else:
        y = conv_valid(_pad(x, pads, padding_mode), w, stride_, dilation_, groups, ((0, 0),) * n, b)
    return _unbatch(y, unbatch)


@_memo
def _conv_geometry(
    x_shape: tuple[int, ...], w_shape: tuple[int, ...], stride: Any, padding: Any, dilation: Any,
    groups: Any, padding_mode: str, shown: str,
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[tuple[int, int], ...], int]:
    """Check :func:`conv`'s geometry; return its stride, dilation, (lo, hi) padding, groups."""
    op = "conv"
    n = len(w_shape) - 2
    c_in, c_out = x_shape[1], w_shape[0]
    groups = _check_groups(groups, c_in, c_out, op)
    if w_shape[1] * groups != c_in:
        raise ValueError(
            f"{op}: `weight` must have in_channels // groups = {c_in // groups} input channels to "
            f"match `x`; got weight.shape={w_shape} with x.shape={shown}, groups={groups}."
        )
    kernel = w_shape[2:]
    stride_ = as_tuple(stride, n, "stride", op)
    dilation_ = as_tuple(dilation, n, "dilation", op)
    pads = normalize_padding(padding, n, op, kernel, stride_, dilation_, x_shape[2:])
    if padding_mode != "zeros":
        check_pad_mode(padding_mode, pads, x_shape[2:], op)
    conv_output_shape(x_shape[2:], kernel, stride_, pads, dilation_, op=op)  # raises if no fit
    return stride_, dilation_, pads, groups


def _ranked(n: int) -> Any:
    def f(x: Any, weight: Any, bias: Any = None, **kwargs: Any) -> Tensor:
        w = _tensor(weight, "weight", f"conv{n}d")
        if w.ndim != n + 2:
            raise ValueError(
                f"conv{n}d: `weight` must have rank {n + 2} (C_out, C_in // groups, *{n} kernel "
                f"sizes); got weight.shape={w.shape}."
            )
        return conv(x, w, bias, **kwargs)

    f.__name__ = f.__qualname__ = f"conv{n}d"
    f.__doc__ = f"Apply :func:`conv` with exactly {n} spatial axes."
    return f


conv1d, conv2d, conv3d = _ranked(1), _ranked(2), _ranked(3)


def conv_transpose(
    x: Any,
    weight: Any,
    bias: Any = None,
    stride: int | Sequence[int] = 1,
    padding: Padding = 0,
    output_padding: int | Sequence[int] = 0,
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
) -> Tensor:
    """Apply the transposed convolution: the adjoint of :func:`conv` with the same arguments.

    ``conv_transpose(y, w, ...)`` is the gradient of ``<conv(x, w, ...), y>`` with respect to
    ``x``: every input value spreads a copy of the kernel, scaled, over the output. This
    defines every padding mode: the borders are folded back as the adjoint of that padding
    (PyTorch only offers zeros). ``padding="same"`` gives ``out = in * stride``.

    Args:
        x: ``(N, C_in, *S)``; weight: ``(C_in, C_out // groups, *K)`` (PyTorch's layout).
        output_padding: extra size on the high side of each axis, < max(stride, dilation).

    Shapes:
        ``out[i] = (in[i]-1)*stride[i] - lo[i] - hi[i] + dilation[i]*(K[i]-1) + output_padding[i] + 1``

    >>> import ndconv as nc
    >>> conv_transpose(nc.tensor(np.zeros((1, 4, 7), np.float32)),
    ...                nc.tensor(np.zeros((4, 2, 3), np.float32)), stride=2, padding=1,
    ...                output_padding=1).shape
    (1, 2, 14)
    """
    op = "conv_transpose"
    x, w, n, unbatch, shown = _conv_inputs(x, weight, op, "(C_in, C_out // groups, *kernel)")
    c_in, c_out = x.shape[1], w.shape[1] * (groups if isinstance(groups, int) else 1)
    groups = _check_groups(groups, c_in, c_out, op)
    if w.shape[0] != c_in:
        raise ValueError(
            f"{op}: `weight` must have in_channels = {c_in} rows to match `x`; got "
            f"weight.shape={w.shape} with x.shape={shown}."
        )
    kernel = w.shape[2:]
    stride_ = as_tuple(stride, n, "stride", op)
    dilation_ = as_tuple(dilation, n, "dilation", op)
    out_pad = as_tuple(output_padding, n, "output_padding", op, min_value=0)
    if padding == "same":
        if any(out_pad):
            raise ValueError(f"{op}: `output_padding` must be 0 with padding='same'; got {output_padding!r}.")
        pads = tuple(
            same_padding(s * st, k, st, d) for s, k, st, d in zip(x.shape[2:], kernel, stride_, dilation_)
        )
        out_pad = tuple(max(st - d * (k - 1) - 1, 0) for k, st, d in zip(kernel, stride_, dilation_))
    else:
        pads = normalize_padding(padding, n, op)
        for axis, (p, st, d) in enumerate(zip(out_pad, stride_, dilation_)):
            if p >= max(st, d):
                raise ValueError(
                    f"{op}: `output_padding` must be smaller than max(stride, dilation) on each axis; "
                    f"got output_padding={output_padding!r}, stride={stride!r}, dilation={dilation!r} "
                    f"(axis {axis})."
                )
    out = conv_transpose_output_shape(x.shape[2:], kernel, stride_, pads, dilation_, out_pad, op=op)
    full = tuple(o + lo + hi for o, (lo, hi) in zip(out, pads))
    y = conv_transpose_valid(x, w, full, stride_, dilation_, groups)
    if any(lo or hi for lo, hi in pads):
        if padding_mode != "zeros":
            check_pad_mode(padding_mode, pads, out, op)
        y = pad_adjoint(y, pads, padding_mode)
    else:
        check_pad_mode(padding_mode, pads, out, op)
    return _unbatch(_add_bias(y, bias, c_out, op), unbatch)


def unfold(
    x: Any,
    kernel_size: int | Sequence[int],
    dilation: int | Sequence[int] = 1,
    padding: Padding = 0,
    stride: int | Sequence[int] = 1,
) -> Tensor:
    """Extract sliding windows (im2col): ``(N, C, *S) -> (N, C * prod(K), L)``, L = prod(out).

    Rows are ordered channel-major then kernel offset in row-major order, as in PyTorch.

    >>> import ndconv as nc
    >>> unfold(nc.tensor(np.zeros((2, 3, 5, 5, 5), np.float32)), 3).shape
    (2, 81, 27)
    """
    op = "unfold"
    x = _tensor(x, "x", op)
    n = _rank_from(kernel_size, x.shape, op)
    kernel = as_tuple(kernel_size, n, "kernel_size", op)
    stride_ = as_tuple(stride, n, "stride", op)
    dilation_ = as_tuple(dilation, n, "dilation", op)
    pads = normalize_padding(padding, n, op, kernel, stride_, dilation_, x.shape[2:])
    conv_output_shape(x.shape[2:], kernel, stride_, pads, dilation_, op=op)
    xp = _pad(x, pads) if any(map(any, pads)) else x
    return unfold_valid(xp, kernel, stride_, dilation_)


def fold(
    x: Any,
    output_size: int | Sequence[int],
    kernel_size: int | Sequence[int],
    dilation: int | Sequence[int] = 1,
    padding: Padding = 0,
    stride: int | Sequence[int] = 1,
) -> Tensor:
    """Sum sliding windows back into an image (col2im), the adjoint of :func:`unfold`.

    >>> import ndconv as nc
    >>> fold(nc.tensor(np.ones((1, 4, 9), np.float32)), (4, 4), 2, stride=1).shape
    (1, 1, 4, 4)
    """
    op = "fold"
    x = _tensor(x, "x", op)
    if x.ndim != 3:
        raise ValueError(f"{op}: `x` must have shape (N, C * prod(kernel), L); got x.shape={x.shape}.")
    n = (
        len(output_size)
        if isinstance(output_size, Sequence)
        else (len(kernel_size) if isinstance(kernel_size, Sequence) else 2)
    )
    size = as_tuple(output_size, n, "output_size", op)
    kernel = as_tuple(kernel_size, n, "kernel_size", op)
    stride_ = as_tuple(stride, n, "stride", op)
    dilation_ = as_tuple(dilation, n, "dilation", op)
    pads = normalize_padding(padding, n, op, kernel, stride_, dilation_, size)
    out = conv_output_shape(size, kernel, stride_, pads, dilation_, op=op)
    k = math.prod(kernel)
    if x.shape[1] % k or x.shape[2] != math.prod(out):
        raise ValueError(
            f"{op}: `x` must have shape (N, C * {k}, {math.prod(out)}) for output_size={size}, "
            f"kernel_size={kernel}; got x.shape={x.shape}."
        )
    full = tuple(s + lo + hi for s, (lo, hi) in zip(size, pads))
    y = fold_valid(x, full, kernel, stride_, dilation_)
    return pad_adjoint(y, pads, "zeros") if any(map(any, pads)) else y


def pad(x: Any, padding: Any, mode: str = "zeros", value: float = 0.0) -> Tensor:
    """Pad the trailing axes of ``x``; see :func:`ndconv.ops.pad.pad`.

    ``padding`` is an int (every spatial axis of ``(N, C, *S)``) or one ``(lo, hi)`` pair per
    padded trailing axis; ``mode`` is zeros, reflect, replicate or circular.
    """
    return _pad(_tensor(x, "x", "pad"), padding, mode, value)


# --- pooling ----------------------------------------------------------------------------


def _rank_from(kernel_size: Any, x_shape: tuple[int, ...], op: str) -> int:
    if isinstance(kernel_size, Sequence) and not isinstance(kernel_size, str):
        n = len(kernel_size)
        if n == 0:
            raise ValueError(f"{op}: `kernel_size` must not be empty.")
    else:
        n = len(x_shape) - 2
    if len(x_shape) != n + 2:
        raise ValueError(
            f"{op}: `x` must have shape (N, C, *spatial) with {n} spatial axes (rank {n + 2}); "
            f"got x.shape={x_shape}."
        )
    if n < 1:
        raise ValueError(f"{op}: `x` needs at least one spatial axis; got x.shape={x_shape}.")
    return n


@_memo
def _pool_args(
    x_shape: tuple[int, ...], kernel_size: Any, stride: Any, padding: Any, dilation: Any,
    ceil_mode: bool, op: str
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[tuple[int, int], ...], tuple[int, ...]]:
    n = _rank_from(kernel_size, x_shape, op)
    kernel = as_tuple(kernel_size, n, "kernel_size", op)
    stride_ = kernel if stride is None else as_tuple(stride, n, "stride", op)
    dilation_ = as_tuple(dilation, n, "dilation", op)
    pads = normalize_padding(padding, n, op, kernel, stride_, dilation_, x_shape[2:])
    out = pool_output_shape(x_shape[2:], kernel, stride_, pads, dilation_, ceil_mode, op=op)
    return kernel, stride_, dilation_, pads, out


def _ceil_pads(
    spatial: Sequence[int], pads: Any, out: Any, kernel: Any, stride: Any, dilation: Any
) -> tuple[tuple[int, int], ...]:
    """Extend the high padding so that the last (ceil-mode) window fits."""
    return tuple(
        (lo, max(hi, (o - 1) * st + d * (k - 1) + 1 - s - lo))
        for s, (lo, hi), o, k, st, d in zip(spatial, pads, out, kernel, stride, dilation)
    )


def max_pool(
    x: Any,
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] | None = None,
    padding: Padding = 0,
    dilation: int | Sequence[int] = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Any:
    """Take the maximum over each window; pads with ``-inf``; any number of spatial axes.

    Tie rule: the first maximal element of a window, in row-major kernel order, gets the
    whole gradient. ``stride`` defaults to ``kernel_size``. The rank is ``len(kernel_size)``,
    or ``x.ndim - 2`` for an int kernel.

    Shapes:
        ``out[i] = floor_or_ceil((in[i] + lo[i] + hi[i] - dilation[i]*(K[i]-1) - 1) / stride[i]) + 1``

    Returns:
        the pooled tensor, and with ``return_indices`` also the flat index into each
        channel's input ``*S`` of every chosen element (a Tensor of int64).

    >>> import ndconv as nc
    >>> max_pool(nc.tensor(np.zeros((1, 1, 7, 7), np.float32)), 2, ceil_mode=True).shape
    (1, 1, 4, 4)
    """
    op = "max_pool"
    x = _tensor(x, "x", op)
    kernel, stride_, dilation_, pads, out = _pool_args(
        x.shape, kernel_size, stride, padding, dilation, ceil_mode, op
    )
    pads = _ceil_pads(x.shape[2:], pads, out, kernel, stride_, dilation_)
    y, idx = max_pool_padded(x, kernel, stride_, dilation_, pads, return_indices)
    return (y, Tensor(idx)) if return_indices else y


def avg_pool(
    x: Any,
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] | None = None,
    padding: Padding = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
    dilation: int | Sequence[int] = 1,
) -> Tensor:
    """Average over each window (a window sum divided by the element count).

    ``count_include_pad`` counts the zero padding in the divisor (never the extra high-side
    cells that ``ceil_mode`` adds); ``divisor_override`` replaces the divisor.

    >>> import ndconv as nc
    >>> avg_pool(nc.tensor(np.ones((1, 1, 6), np.float32)), 3, stride=2, padding=1,
    ...          count_include_pad=False).tolist()
    [[[1.0, 1.0, 1.0]]]
    """
    op = "avg_pool"
    x = _tensor(x, "x", op)
    kernel, stride_, dilation_, pads, out = _pool_args(
        x.shape, kernel_size, stride, padding, dilation, ceil_mode, op
    )
    if divisor_override is not None and (
        not isinstance(divisor_override, (int, np.integer)) or divisor_override < 1
    ):
        raise ValueError(f"{op}: `divisor_override` must be a positive int; got {divisor_override!r}.")
    full = _ceil_pads(x.shape[2:], pads, out, kernel, stride_, dilation_)
    summed = window_sum(_pad(x, full), kernel, stride_, dilation_)
    if divisor_override is not None:
        return summed * (1.0 / divisor_override)
    # The divisor counts, per window, the cells that are input (or padding, if included).
    spatial = x.shape[2:]
    counted = np.ones((1, 1) + tuple(spatial), x.dtype)
    inner = pads if count_include_pad else ((0, 0),) * len(pads)
    counted = np.pad(counted, [(0, 0), (0, 0)] + [tuple(p) for p in inner], constant_values=1)
    rest = [(lo - a, hi - b) for (lo, hi), (a, b) in zip(full, inner)]
    counted = np.pad(counted, [(0, 0), (0, 0)] + rest)
    divisor = window_sum(Tensor(counted), kernel, stride_, dilation_).data
    return summed / Tensor(np.maximum(divisor, 1))


def max_unpool(
    x: Any,
    indices: Any,
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] | None = None,
    padding: Padding = 0,
    output_size: Sequence[int] | None = None,
) -> Tensor:
    """Invert :func:`max_pool` up to the lost values: put each maximum back where it came from.

    ``output_size`` defaults to ``(in[i]-1)*stride[i] - lo[i] - hi[i] + K[i]``.
    """
    op = "max_unpool"
    x = _tensor(x, "x", op)
    idx = np.asarray(indices.data if isinstance(indices, Tensor) else indices)
    n = _rank_from(kernel_size, x.shape, op)
    kernel = as_tuple(kernel_size, n, "kernel_size", op)
    stride_ = kernel if stride is None else as_tuple(stride, n, "stride", op)
    pads = normalize_padding(padding, n, op)
    if idx.shape != x.shape:
        raise ValueError(f"{op}: `indices` must have x's shape {x.shape}; got {idx.shape}.")
    if output_size is None:
        size = tuple(
            (s - 1) * st - lo - hi + k for s, st, (lo, hi), k in zip(x.shape[2:], stride_, pads, kernel)
        )
    else:
        size = tuple(output_size)[-n:]
        size = as_tuple(size, n, "output_size", op)
    if idx.size and (idx.min() < 0 or idx.max() >= math.prod(size)):
        raise ValueError(
            f"{op}: `indices` must lie in [0, {math.prod(size)}) for output size {size}; "
            f"got values in [{idx.min()}, {idx.max()}]."
        )
    return max_unpool_flat(x, idx, size)


def _adaptive_size(x: Tensor, output_size: Any, op: str) -> tuple[int, ...]:
    n = x.ndim - 2
    if n < 1:
        raise ValueError(f"{op}: `x` must have shape (N, C, *spatial); got x.shape={x.shape}.")
    if isinstance(output_size, Sequence):
        if len(output_size) != n:
            raise ValueError(
                f"{op}: `output_size` must have {n} entries for x.shape={x.shape}; got {output_size!r}."
            )
        output_size = tuple(s if o is None else o for o, s in zip(output_size, x.shape[2:]))
    return as_tuple(output_size, n, "output_size", op)


def adaptive_avg_pool(x: Any, output_size: int | Sequence[int | None]) -> Tensor:
    """Average over ``output_size`` windows per axis, ``[floor(i*L/out), ceil((i+1)*L/out))``.

    A box average is separable: one matrix product per spatial axis.

    >>> import ndconv as nc
    >>> adaptive_avg_pool(nc.tensor(np.zeros((2, 3, 10, 9, 7), np.float32)), (4, None, 1)).shape
    (2, 3, 4, 9, 1)
    """
    op = "adaptive_avg_pool"
    x = _tensor(x, "x", op)
    size = _adaptive_size(x, output_size, op)
    for i, out in enumerate(size):
        ax = 2 + i
        length = x.shape[ax]
        if out == length:
            continue
        start, stop = adaptive_bounds(length, out)
        pos = np.arange(length)[:, None]
        avg = ((pos >= start) & (pos < stop)) / (stop - start)  # (length, out)
        moved = _moveaxis(x, ax, -1)
        x = _moveaxis(matmul(moved, Tensor(avg.astype(x.dtype))), -1, ax)
    return x


def adaptive_max_pool(x: Any, output_size: int | Sequence[int | None]) -> Tensor:
    """Take the maximum over ``output_size`` adaptive windows per axis (separable).

    >>> import ndconv as nc
    >>> adaptive_max_pool(nc.tensor(np.zeros((2, 3, 10, 9), np.float32)), 4).shape
    (2, 3, 4, 4)
    """
    op = "adaptive_max_pool"
    x = _tensor(x, "x", op)
    size = _adaptive_size(x, output_size, op)
    for i in reversed(range(len(size))):
        if size[i] != x.shape[2 + i]:
            x = adaptive_max_1d(x, 2 + i, size[i])
    return x


def _moveaxis(x: Tensor, src: int, dst: int) -> Tensor:
    axes = list(range(x.ndim))
    axes.insert(dst % x.ndim, axes.pop(src % x.ndim))
    return permute(x, axes)


def global_avg_pool(x: Any, keepdims: bool = False) -> Tensor:
    """Average over all spatial axes: ``(N, C, *S) -> (N, C)`` (or ``(N, C, 1, ...)``)."""
    x = _tensor(x, "x", "global_avg_pool")
    return mean(x, tuple(range(2, x.ndim)), keepdims=keepdims)


def global_max_pool(x: Any, keepdims: bool = False) -> Tensor:
    """Take the maximum over all spatial axes: ``(N, C, *S) -> (N, C)``."""
    x = _tensor(x, "x", "global_max_pool")
    return _amax(x, tuple(range(2, x.ndim)), keepdims=keepdims)


# --- normalisation, dropout, dense ------------------------------------------------------


def batch_norm(
    x: Any,
    running_mean: np.ndarray | None,
    running_var: np.ndarray | None,
    weight: Any = None,
    bias: Any = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise each channel of ``x`` (N, C, *S), any number of spatial axes.

    Training uses the batch statistics and updates the running ones in place:
    ``running = (1 - momentum) * running + momentum * batch`` (the variance unbiased).
    Evaluation uses the running statistics.
    """
    op = "batch_norm"
    x = _tensor(x, "x", op)
    if x.ndim < 2:
        raise ValueError(f"{op}: `x` must have shape (N, C, *spatial); got x.shape={x.shape}.")
    c = x.shape[1]
    w = None if weight is None else _tensor(weight, "weight", op)
    b = None if bias is None else _tensor(bias, "bias", op)
    for name, t in (("weight", w), ("bias", b), ("running_mean", running_mean), ("running_var", running_var)):
        if t is not None and tuple(np.shape(t.data if isinstance(t, Tensor) else t)) != (c,):
            raise ValueError(f"{op}: `{name}` must have shape ({c},) (channels); got {np.shape(t)}.")
    if training:
        m = x.size // c
        if m < 2:
            raise ValueError(f"{op}: training needs more than one value per channel; got x.shape={x.shape}.")
        y, bmean, bvar = batch_norm_train(x, w, b, eps)
        if running_mean is not None and running_var is not None:
            running_mean *= 1 - momentum
            running_mean += momentum * bmean
            running_var *= 1 - momentum
            running_var += momentum * bvar * (m / (m - 1))
        return y
    if running_mean is None or running_var is None:
        raise ValueError(f"{op}: evaluation (training=False) needs running_mean and running_var.")
    shape = (1, c) + (1,) * (x.ndim - 2)
    inv = (1.0 / np.sqrt(np.asarray(running_var) + eps)).astype(x.dtype)
    y = (x - Tensor(np.asarray(running_mean, x.dtype).reshape(shape))) * Tensor(inv.reshape(shape))
    if w is not None:
        y = y * reshape(w, shape)
    if b is not None:
        y = y + reshape(b, shape)
    return y


def dropout(x: Any, p: float = 0.5, training: bool = True, rng: np.random.Generator | None = None) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by ``1/(1-p)`` (training only)."""
    x = _tensor(x, "x", "dropout")
    if not 0 <= p <= 1 or not math.isfinite(p):
        raise ValueError(f"dropout: `p` must be in [0, 1]; got p={p!r}.")
    if not training or p == 0:
        return x
    if p == 1:
        return x * 0.0
    keep = (rng or get_rng()).random(x.shape) >= p
    return x * Tensor((keep / (1 - p)).astype(x.dtype))


def linear(x: Any, weight: Any, bias: Any = None) -> Tensor:
    """Return ``x @ weight.T + bias``; weight is ``(out_features, in_features)``."""
    op = "linear"
    x, w = _tensor(x, "x", op), _tensor(weight, "weight", op)
    if w.ndim != 2 or x.shape[-1] != w.shape[1]:
        raise ValueError(
            f"{op}: `x` must end in in_features = {w.shape[-1]} to match weight.shape={w.shape}; "
            f"got x.shape={x.shape}."
        )
    _check_dtype(x, w, op)
    return linear_op(x, w, _bias(bias, x, w.shape[0], op))


# --- losses -----------------------------------------------------------------------------


def _reduce(loss: Tensor, reduction: str, op: str) -> Tensor:
    if reduction == "mean":
        return mean(loss)
    if reduction == "sum":
        return sum(loss)
    if reduction == "none":
        return loss
    raise ValueError(f"{op}: `reduction` must be 'mean', 'sum' or 'none'; got {reduction!r}.")


def nll_loss(
    log_probs: Any, target: Any, weight: Any = None, reduction: str = "mean", ignore_index: int = -100
) -> Tensor:
    """Negative log-likelihood of integer class targets; ``log_probs`` is (N, C, *S)."""
    return _nll(log_probs, target, weight, reduction, ignore_index, "nll_loss")


def _nll(log_probs: Any, target: Any, weight: Any, reduction: str, ignore_index: int, op: str) -> Tensor:
    lp = _tensor(log_probs, "log_probs", op)
    t = np.asarray(target.data if isinstance(target, Tensor) else target)
    if not np.issubdtype(t.dtype, np.integer):
        raise TypeError(f"{op}: `target` must hold integer class indices; got dtype={t.dtype}.")
    if lp.ndim < 2 or t.shape != lp.shape[:1] + lp.shape[2:]:
        raise ValueError(
            f"{op}: `target` must have shape (N, *S) = {lp.shape[:1] + lp.shape[2:]} for input "
            f"(N, C, *S) = {lp.shape}; got target.shape={t.shape}."
        )
    c = lp.shape[1]
    valid = t != ignore_index
    if np.any((t[valid] < 0) | (t[valid] >= c)):
        raise ValueError(f"{op}: `target` values must be in [0, {c}); got min {t.min()}, max {t.max()}.")
    safe = np.where(valid, t, 0)
    picked = take_along_axis(lp, safe[:, None], axis=1)
    picked = reshape(picked, t.shape)
    wts = valid.astype(lp.dtype)
    if weight is not None:
        wts = wts * np.asarray(weight.data if isinstance(weight, Tensor) else weight, lp.dtype)[safe]
    loss = -picked * Tensor(wts)
    if reduction == "mean":
        return sum(loss) * (1.0 / max(float(wts.sum()), 1e-12))
    return _reduce(loss, reduction, op)


def cross_entropy(
    logits: Any,
    target: Any,
    weight: Any = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
    ignore_index: int = -100,
) -> Tensor:
    """Cross-entropy of ``logits`` (N, C, *S) against class indices (N, *S) or probabilities.

    Uses a max-shifted log-softmax, so large logits never overflow.
    """
    op = "cross_entropy"
    z = _tensor(logits, "logits", op)
    if z.ndim < 2:
        raise ValueError(f"{op}: `logits` must have shape (N, C, *S); got {z.shape}.")
    if not 0 <= label_smoothing <= 1:
        raise ValueError(f"{op}: `label_smoothing` must be in [0, 1]; got {label_smoothing!r}.")
    lp = log_softmax(z, axis=1)
    t = target.data if isinstance(target, Tensor) else np.asarray(target)
    if np.issubdtype(t.dtype, np.floating):  # class probabilities
        if t.shape != z.shape:
            raise ValueError(f"{op}: probability `target` must have logits' shape {z.shape}; got {t.shape}.")
        c = z.shape[1]
        p = t * (1 - label_smoothing) + label_smoothing / c
        if weight is not None:
            wv = np.asarray(weight.data if isinstance(weight, Tensor) else weight, z.dtype)
            p = p * wv.reshape((1, c) + (1,) * (z.ndim - 2))
        loss = -sum(lp * Tensor(p.astype(z.dtype)), axis=1)
        return _reduce(loss, reduction, op)
    nll = _nll(lp, t, weight, reduction, ignore_index, op)
    if label_smoothing == 0:
        return nll
    c = z.shape[1]
    valid = (t != ignore_index).astype(z.dtype)
    if weight is not None:
        wv = np.asarray(weight.data if isinstance(weight, Tensor) else weight, z.dtype)
        smooth = -sum(lp * Tensor(wv.reshape((1, c) + (1,) * (z.ndim - 2))), axis=1) * Tensor(valid)
        denom = float((valid * wv[np.where(t != ignore_index, t, 0)]).sum())
    else:
        smooth = -sum(lp, axis=1) * Tensor(valid)
        denom = float(valid.sum())
    if reduction == "mean":
        smooth_r = sum(smooth) * (1.0 / max(denom, 1e-12))
    else:
        smooth_r = _reduce(smooth, reduction, op)
    return nll * (1 - label_smoothing) + smooth_r * (label_smoothing / c)


def mse_loss(input: Any, target: Any, reduction: str = "mean") -> Tensor:
    """Mean squared error."""
    a, b = _tensor(input, "input", "mse_loss"), _tensor(target, "target", "mse_loss")
    if a.shape != b.shape:
        raise ValueError(
            f"mse_loss: `input` and `target` must have the same shape; got {a.shape} and {b.shape}."
        )
    d = a - b
    return _reduce(d * d, reduction, "mse_loss")


def l1_loss(input: Any, target: Any, reduction: str = "mean") -> Tensor:
    """Mean absolute error."""
    a, b = _tensor(input, "input", "l1_loss"), _tensor(target, "target", "l1_loss")
    if a.shape != b.shape:
        raise ValueError(
            f"l1_loss: `input` and `target` must have the same shape; got {a.shape} and {b.shape}."
        )
    return _reduce(_abs(a - b), reduction, "l1_loss")


def binary_cross_entropy_with_logits(
    logits: Any, target: Any, reduction: str = "mean", pos_weight: Any = None
) -> Tensor:
    """Binary cross-entropy on logits, stable for any logit (no sigmoid overflow)."""
    op = "binary_cross_entropy_with_logits"
    z, y = _tensor(logits, "logits", op), _tensor(target, "target", op)
    if z.shape != y.shape:
        raise ValueError(
            f"{op}: `logits` and `target` must have the same shape; got {z.shape} and {y.shape}."
        )
    if y.dtype != z.dtype:
        y = Tensor(y.data.astype(z.dtype))
    pw = (
        None
        if pos_weight is None
        else np.asarray(pos_weight.data if isinstance(pos_weight, Tensor) else pos_weight)
    )
    return _reduce(bce_with_logits_elementwise(z, y, pw), reduction, op)
