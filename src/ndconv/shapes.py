"""Shape arithmetic for sliding-window layers, written once and used everywhere.

Every op, layer, summary and test computes output sizes through this module. Along each
spatial axis ``i``, with padding ``(lo[i], hi[i])``::

    conv / pool:      out[i] = floor((in[i] + lo[i] + hi[i] - dilation[i]*(k[i]-1) - 1) / stride[i]) + 1
    transposed conv:  out[i] = (in[i]-1)*stride[i] - lo[i] - hi[i] + dilation[i]*(k[i]-1)
                               + output_padding[i] + 1

(pools with ``ceil_mode=True`` round up instead, as long as the last window starts inside the
input or the low padding). ``"same"`` padding makes ``out[i] = ceil(in[i] / stride[i])`` and
puts the odd pixel on the high side, TensorFlow's convention, so it works for any stride.

>>> conv_output_shape((32, 32), kernel=(5, 5), stride=(1, 1), padding=((0, 0), (0, 0)),
...                   dilation=(1, 1))
(28, 28)
>>> same_padding(7, kernel=3, stride=2, dilation=1)
(1, 1)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any, Union

__all__ = [
    "Padding",
    "as_tuple",
    "normalize_padding",
    "same_padding",
    "conv_output_size",
    "conv_output_shape",
    "conv_transpose_output_shape",
    "pool_output_shape",
    "conv_param_count",
    "linear_param_count",
    "PADDING_MODES",
]

Padding = Union[int, str, Sequence[int], Sequence[Sequence[int]]]
PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _is_int(v: Any) -> bool:
    if type(v) is int:  # the common case, without the slower abstract-class check
        return True
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def as_tuple(value: Any, n: int, name: str, op: str, min_value: int = 1) -> tuple[int, ...]:
    """Normalise an int-or-sequence hyper-parameter to ``n`` ints, each >= ``min_value``.

    Raises:
        TypeError: if an entry is not an integer.
        ValueError: if the length is not ``n`` or an entry is below ``min_value``.

    >>> as_tuple(2, 3, "stride", "conv")
    (2, 2, 2)
    """
    if type(value) is tuple and len(value) == n and all(type(v) is int and v >= min_value for v in value):
        return value  # already normalised (layers pass tuples on every call)
    if _is_int(value):
        values: tuple[Any, ...] = (value,) * n
    elif isinstance(value, Sequence) and not isinstance(value, str):
        values = tuple(value)
        if len(values) != n:
            raise ValueError(
                f"{op}: `{name}` must be an int or a sequence of {n} ints (one per spatial axis); "
                f"got {name}={value!r} with {len(values)} entries."
            )
    else:
        raise TypeError(f"{op}: `{name}` must be an int or a sequence of ints; got {name}={value!r}.")
    for v in values:
        if not _is_int(v):
            raise TypeError(f"{op}: `{name}` entries must be integers; got {name}={value!r}.")
        if v < min_value:
            raise ValueError(f"{op}: `{name}` entries must be >= {min_value}; got {name}={value!r}.")
    return tuple(int(v) for v in values)


def same_padding(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """Return the ``(lo, hi)`` padding that makes ``out = ceil(size / stride)``.

    The total is ``max((out - 1)*stride + dilation*(kernel - 1) + 1 - size, 0)``; the odd pixel
    goes to the high side (TensorFlow's convention).
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + dilation * (kernel - 1) + 1 - size, 0)
    return total // 2, total - total // 2


def normalize_padding(
    padding: Padding,
    n: int,
    op: str,
    kernel: Sequence[int] | None = None,
    stride: Sequence[int] | None = None,
    dilation: Sequence[int] | None = None,
    in_spatial: Sequence[int] | None = None,
) -> tuple[tuple[int, int], ...]:
    """Turn any accepted padding form into ``n`` ``(lo, hi)`` pairs.

    Accepted: an int; ``"valid"``; ``"same"`` (needs kernel, stride, dilation, in_spatial);
    a sequence of ``n`` ints (symmetric per axis); a sequence of ``n`` ``(lo, hi)`` pairs.

    >>> normalize_padding(((1, 2), (0, 0)), 2, "conv")
    ((1, 2), (0, 0))
    """
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * n
        if padding == "same":
            if kernel is None or stride is None or dilation is None or in_spatial is None:
                raise ValueError(f"{op}: padding='same' is not available here.")
            return tuple(
                same_padding(s, k, st, d) for s, k, st, d in zip(in_spatial, kernel, stride, dilation)
            )
        raise ValueError(f"{op}: `padding` string must be 'valid' or 'same'; got padding={padding!r}.")
    if _is_int(padding):
        if padding < 0:  # type: ignore[operator]
            raise ValueError(f"{op}: `padding` must be >= 0; got padding={padding!r}.")
        p = int(padding)  # type: ignore[arg-type]
        return ((p, p),) * n
    if not isinstance(padding, Sequence) or len(padding) != n:
        raise ValueError(
            f"{op}: `padding` must be an int, 'valid', 'same', {n} ints or {n} (low, high) pairs "
            f"(one per spatial axis); got padding={padding!r}."
        )
    pairs = []
    for entry in padding:
        if _is_int(entry):
            pair: tuple[Any, ...] = (entry, entry)
        elif isinstance(entry, Sequence) and not isinstance(entry, str) and len(entry) == 2:
            pair = tuple(entry)
        else:
            raise ValueError(
                f"{op}: each `padding` entry must be an int or a (low, high) pair; got padding={padding!r}."
            )
        for v in pair:
            if not _is_int(v):
                raise TypeError(f"{op}: `padding` entries must be integers; got padding={padding!r}.")
            if v < 0:
                raise ValueError(f"{op}: `padding` must be >= 0; got padding={padding!r}.")
        pairs.append((int(pair[0]), int(pair[1])))
    return tuple(pairs)


def conv_output_size(size: int, kernel: int, stride: int, lo: int, hi: int, dilation: int) -> int:
    """Return ``floor((size + lo + hi - dilation*(kernel-1) - 1) / stride) + 1`` (may be <= 0)."""
    return (size + lo + hi - dilation * (kernel - 1) - 1) // stride + 1


def conv_output_shape(
    in_spatial: Sequence[int],
    kernel: Sequence[int],
    stride: Sequence[int],
    padding: Sequence[tuple[int, int]],
    dilation: Sequence[int],
    op: str = "conv",
) -> tuple[int, ...]:
    """Return the spatial output shape, or raise naming the axis whose window does not fit.

    Raises:
        ValueError: if the dilated kernel is larger than the padded input along some axis.
    """
    out = []
    for axis, (s, k, st, (lo, hi), d) in enumerate(zip(in_spatial, kernel, stride, padding, dilation)):
        if s + lo + hi < d * (k - 1) + 1:
            raise ValueError(
                f"{op}: the kernel does not fit on spatial axis {axis}: dilated kernel size "
                f"{d * (k - 1) + 1} (kernel_size={k}, dilation={d}) > padded input size "
                f"{s + lo + hi} (input {s} + padding ({lo}, {hi}))."
            )
        out.append(conv_output_size(s, k, st, lo, hi, d))
    return tuple(out)


def conv_transpose_output_shape(
    in_spatial: Sequence[int],
    kernel: Sequence[int],
    stride: Sequence[int],
    padding: Sequence[tuple[int, int]],
    dilation: Sequence[int],
    output_padding: Sequence[int],
    op: str = "conv_transpose",
) -> tuple[int, ...]:
    """Return the transposed convolution's spatial output shape (see the module docstring).

    Raises:
        ValueError: if some axis would have a size < 1.
    """
    out = []
    for axis, (s, k, st, (lo, hi), d, op_) in enumerate(
        zip(in_spatial, kernel, stride, padding, dilation, output_padding)
    ):
        size = (s - 1) * st - lo - hi + d * (k - 1) + op_ + 1
        if size < 1:
            raise ValueError(
                f"{op}: output size on spatial axis {axis} would be {size} < 1 "
                f"(input {s}, kernel_size={k}, stride={st}, padding=({lo}, {hi}), dilation={d}, "
                f"output_padding={op_}); reduce the padding."
            )
        out.append(size)
    return tuple(out)


def pool_output_shape(
    in_spatial: Sequence[int],
    kernel: Sequence[int],
    stride: Sequence[int],
    padding: Sequence[tuple[int, int]],
    dilation: Sequence[int],
    ceil_mode: bool = False,
    op: str = "pool",
) -> tuple[int, ...]:
    """Return a pool's spatial output shape; ``ceil_mode`` rounds up (PyTorch's rule).

    With ``ceil_mode`` the last window must still start inside the input or the low padding.
    """
    out = list(conv_output_shape(in_spatial, kernel, stride, padding, dilation, op=op))
    if ceil_mode:
        for i, (s, k, st, (lo, hi), d) in enumerate(zip(in_spatial, kernel, stride, padding, dilation)):
            span = s + lo + hi - d * (k - 1) - 1
            o = -(-span // st) + 1
            if (o - 1) * st >= s + lo:
                o -= 1
            out[i] = o
    return tuple(out)


def conv_param_count(
    in_channels: int, out_channels: int, kernel: Sequence[int], groups: int = 1, bias: bool = True
) -> int:
    """Return ``out_channels * in_channels/groups * prod(kernel) + (out_channels if bias)``.

    >>> conv_param_count(1, 6, (5, 5))
    156
    """
    return out_channels * (in_channels // groups) * math.prod(kernel) + (out_channels if bias else 0)


def linear_param_count(in_features: int, out_features: int, bias: bool = True) -> int:
    """Return ``in_features * out_features + (out_features if bias)``."""
    return in_features * out_features + (out_features if bias else 0)
