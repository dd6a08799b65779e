"""Convolution layers in any number of spatial dimensions: ``Conv`` and ``ConvTranspose``.

``Conv1d``/``Conv2d``/``Conv3d`` (and the transposed ones) are thin aliases that fix the rank.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from ..autograd import Tensor
from ..shapes import PADDING_MODES, Padding, as_tuple, normalize_padding
from . import functional as F
from . import init
from ._utils import check_dtype, check_positive_int, resolve_rank, tensor_in
from .module import Module, Parameter

__all__ = [
    "Conv", "Conv1d", "Conv2d", "Conv3d",
    "ConvTranspose", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
]


def _check_padding(padding: Any, n: int, layer: str, transposed: bool) -> Padding:
    if isinstance(padding, str):
        allowed = ("valid", "same")
        if padding not in allowed:
            raise ValueError(f"{layer}: `padding` string must be 'valid' or 'same'; got padding={padding!r}.")
        return padding
    normalize_padding(padding, n, layer)  # raises on a bad form
    if isinstance(padding, Sequence):
        return tuple(p if isinstance(p, int) else tuple(p) for p in padding)  # type: ignore[return-value]
    return padding  # type: ignore[no-any-return]


def _padding_repr(padding: Any, n: int) -> str | None:
    if isinstance(padding, str):
        return None if padding == "valid" else repr(padding)
    pairs = normalize_padding(padding, n, "repr")
    if all(lo == 0 and hi == 0 for lo, hi in pairs):
        return None
    if all(lo == hi for lo, hi in pairs):
        return repr(tuple(lo for lo, _ in pairs))
    return repr(pairs)


class _ConvBase(Module):
    in_channels: int
    out_channels: int
    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]
    padding: Padding
    dilation: tuple[int, ...]
    groups: int
    padding_mode: str
    weight: Tensor
    bias: Tensor | None
    _fixed_ndim: ClassVar[int | None] = None
    _transposed: ClassVar[bool] = False

    def _setup(
        self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any, padding: Any,
        dilation: Any, groups: int, bias: bool, padding_mode: str, ndim: int | None, dtype: Any,
    ) -> int:
        layer = type(self).__name__
        n = resolve_rank(kernel_size, ndim, self._fixed_ndim, layer)
        if n is None:
            raise ValueError(
                f"{layer}: give `kernel_size` as a tuple (one size per spatial axis) or set `ndim` "
                f"for an int kernel; got kernel_size={kernel_size!r}, ndim=None."
            )
        self.in_channels = check_positive_int(in_channels, "in_channels", layer)
        self.out_channels = check_positive_int(out_channels, "out_channels", layer)
        self.groups = check_positive_int(groups, "groups", layer)
        if in_channels % groups or out_channels % groups:
            raise ValueError(
                f"{layer}: `groups` must divide both in_channels and out_channels; got groups={groups} "
                f"with in_channels={in_channels}, out_channels={out_channels}."
            )
        self.kernel_size = as_tuple(kernel_size, n, "kernel_size", layer)
        self.stride = as_tuple(stride, n, "stride", layer)
        self.dilation = as_tuple(dilation, n, "dilation", layer)
        self.padding = _check_padding(padding, n, layer, self._transposed)
        if padding_mode not in PADDING_MODES:
            raise ValueError(
                f"{layer}: `padding_mode` must be one of {PADDING_MODES}; got padding_mode={padding_mode!r}."
            )
        self.padding_mode = padding_mode
        if not isinstance(bias, bool):
            raise TypeError(f"{layer}: `bias` must be a bool; got bias={bias!r}.")
        self._dtype = check_dtype(dtype, layer)
        return n

    def _init_params(self, weight_shape: tuple[int, ...], bias: bool) -> None:
        # PyTorch's reset_parameters: kaiming_uniform(a=sqrt(5)) for the weight, i.e.
        # U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the same bound for the bias; fan_in is
        # weight.shape[1] * prod(kernel).
        self.weight = Parameter(np.empty(weight_shape, self._dtype))
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if bias:
            fan_in, _ = init.fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            self.bias = Parameter(np.empty(self.out_channels, self._dtype))
            init.uniform_(self.bias, -bound, bound)
        else:
            self.register_parameter("bias", None)

    def _repr_common(self, extra_first: list[str]) -> str:
        n = len(self.kernel_size)
        s = [f"{self.in_channels}, {self.out_channels}", f"kernel_size={self.kernel_size}",
             f"stride={self.stride}"]
        pad = _padding_repr(self.padding, n)
        if pad is not None:
            s.append(f"padding={pad}")
        s += extra_first
        if self.dilation != (1,) * n:
            s.append(f"dilation={self.dilation}")
        if self.groups != 1:
            s.append(f"groups={self.groups}")
        if self.bias is None:
            s.append("bias=False")
        if self.padding_mode != "zeros":
            s.append(f"padding_mode={self.padding_mode}")
        if self._dtype != np.float32:
            s.append(f"dtype={self._dtype}")
        return ", ".join(s)


class Conv(_ConvBase):
    """Convolve (cross-correlate) over any number of spatial axes.

    Each of the ``out_channels`` filters holds one kernel per input channel of its group;
    ``y[n, o] = bias[o] + sum_c corr(x[n, c], weight[o, c])`` (no kernel flip, as in every
    deep-learning framework). The rank is ``len(kernel_size)``, or ``ndim`` for an int kernel.

    Args:
        in_channels, out_channels: channel counts (both divisible by ``groups``).
        kernel_size: an int (with ``ndim``) or one size per spatial axis.
        stride, dilation: an int or one int per axis.
        padding: int, per-axis ints, per-axis ``(lo, hi)`` pairs, ``"valid"`` or ``"same"``.
        padding_mode: ``"zeros"``, ``"reflect"``, ``"replicate"`` or ``"circular"``.
        ndim: number of spatial axes when ``kernel_size`` is an int.
        dtype: float32 (default) or float64.

    Initialisation (PyTorch's): ``weight`` and ``bias`` ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
    ``fan_in = in_channels / groups * prod(kernel_size)`` -- kaiming_uniform with a = sqrt(5) --
    drawn from ``ndconv.random`` (``ndconv.manual_seed`` makes it reproducible).

    Shapes:
        ``x: (N, C_in, *S) -> (N, C_out, *S_out)``; weight ``(C_out, C_in // groups, *K)``;
        ``S_out[i] = floor((S[i] + lo[i] + hi[i] - dilation[i]*(K[i]-1) - 1) / stride[i]) + 1``

    >>> import ndconv as nc
    >>> Conv(3, 8, kernel_size=(3, 3, 3, 3), padding=1)(nc.zeros(2, 3, 6, 6, 6, 6)).shape
    (2, 8, 6, 6, 6, 6)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] = 1,
        padding: Padding = 0,
        dilation: int | Sequence[int] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        ndim: int | None = None,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        self._setup(in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                    bias, padding_mode, ndim, dtype)
        self._init_params((out_channels, in_channels // groups, *self.kernel_size), bias)

    def forward(self, x: Any) -> Tensor:
        return F.conv(tensor_in(x), self.weight, self.bias, self.stride, self.padding,
                      self.dilation, self.groups, self.padding_mode)

    def extra_repr(self) -> str:
        return self._repr_common([])


class Conv1d(Conv):
    """:class:`Conv` with one spatial axis: ``(N, C_in, L) -> (N, C_out, L_out)``.

    >>> import ndconv as nc
    >>> Conv1d(2, 4, 3)(nc.zeros(1, 2, 10)).shape
    (1, 4, 8)
    """

    _fixed_ndim = 1


class Conv2d(Conv):
    """:class:`Conv` with two spatial axes: ``(N, C_in, H, W) -> (N, C_out, H_out, W_out)``.

    >>> import ndconv as nc
    >>> Conv2d(1, 6, 5)(nc.zeros(1, 1, 32, 32)).shape
    (1, 6, 28, 28)
    """

    _fixed_ndim = 2


class Conv3d(Conv):
    """:class:`Conv` with three spatial axes: ``(N, C_in, D, H, W) -> (N, C_out, D', H', W')``.

    >>> import ndconv as nc
    >>> Conv3d(1, 2, 3, padding=1)(nc.zeros(1, 1, 4, 4, 4)).shape
    (1, 2, 4, 4, 4)
    """

    _fixed_ndim = 3


class ConvTranspose(_ConvBase):
    """Apply the transposed convolution (the adjoint of :class:`Conv`), any number of axes.

    Every input value spreads a scaled copy of its kernel over the output -- the gradient of a
    convolution with respect to its input. Used to upsample (decoders, U-Nets).

    Args:
        as :class:`Conv`, plus ``output_padding``: extra size on the high side of each axis,
        smaller than ``max(stride, dilation)`` (it resolves the size ambiguity of strides).

    Initialisation (PyTorch's): ``weight`` ``(C_in, C_out // groups, *K)`` and ``bias`` ~
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in computed from the weight as PyTorch does:
    ``weight.shape[1] * prod(K) = C_out / groups * prod(K)``.

    Shapes:
        ``x: (N, C_in, *S) -> (N, C_out, *S_out)``,
        ``S_out[i] = (S[i]-1)*stride[i] - lo[i] - hi[i] + dilation[i]*(K[i]-1) + output_padding[i] + 1``

    >>> import ndconv as nc
    >>> ConvTranspose(4, 2, (3, 3), stride=2, padding=1, output_padding=1)(nc.zeros(1, 4, 7, 7)).shape
    (1, 2, 14, 14)
    """

    output_padding: tuple[int, ...]
    _transposed = True

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] = 1,
        padding: Padding = 0,
        output_padding: int | Sequence[int] = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: int | Sequence[int] = 1,
        padding_mode: str = "zeros",
        ndim: int | None = None,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        layer = type(self).__name__
        n = self._setup(in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                        bias, padding_mode, ndim, dtype)
        self.output_padding = as_tuple(output_padding, n, "output_padding", layer, min_value=0)
        for axis, (p, st, d) in enumerate(zip(self.output_padding, self.stride, self.dilation)):
            if p >= max(st, d):
                raise ValueError(
                    f"{layer}: `output_padding` must be smaller than max(stride, dilation) on each "
                    f"axis; got output_padding={self.output_padding}, stride={self.stride}, "
                    f"dilation={self.dilation} (axis {axis})."
                )
        if self.padding == "same" and any(self.output_padding):
            raise ValueError(
                f"{layer}: `output_padding` must be 0 with padding='same'; got {self.output_padding}."
            )
        self._init_params((in_channels, out_channels // groups, *self.kernel_size), bias)

    def forward(self, x: Any) -> Tensor:
        return F.conv_transpose(tensor_in(x), self.weight, self.bias, self.stride, self.padding,
                                self.output_padding, self.dilation, self.groups, self.padding_mode)

    def extra_repr(self) -> str:
        extra = [f"output_padding={self.output_padding}"] if any(self.output_padding) else []
        return self._repr_common(extra)


class ConvTranspose1d(ConvTranspose):
    """:class:`ConvTranspose` with one spatial axis.

    >>> import ndconv as nc
    >>> ConvTranspose1d(2, 1, 4, stride=2, padding=1)(nc.zeros(1, 2, 8)).shape
    (1, 1, 16)
    """

    _fixed_ndim = 1


class ConvTranspose2d(ConvTranspose):
    """:class:`ConvTranspose` with two spatial axes.

    >>> import ndconv as nc
    >>> ConvTranspose2d(8, 4, 2, stride=2)(nc.zeros(1, 8, 5, 5)).shape
    (1, 4, 10, 10)
    """

    _fixed_ndim = 2


class ConvTranspose3d(ConvTranspose):
    """:class:`ConvTranspose` with three spatial axes.

    >>> import ndconv as nc
    >>> ConvTranspose3d(2, 2, 2, stride=2)(nc.zeros(1, 2, 3, 3, 3)).shape
    (1, 2, 6, 6, 6)
    """

    _fixed_ndim = 3
