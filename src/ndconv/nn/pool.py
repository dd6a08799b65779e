"""Pooling layers in any number of spatial dimensions: max, average, unpool, adaptive, global.

The rank is ``len(kernel_size)``, or ``ndim``, or fixed by an alias (``MaxPool2d``); with an
int kernel and no ``ndim``, the generic layer takes its rank from the input.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from ..autograd import Tensor
from ..shapes import Padding, as_tuple, normalize_padding
from . import functional as F
from ._utils import check_input_rank, check_positive_int, is_int, resolve_rank, tensor_in
from .module import Module

__all__ = [
    "MaxPool", "MaxPool1d", "MaxPool2d", "MaxPool3d",
    "AvgPool", "AvgPool1d", "AvgPool2d", "AvgPool3d",
    "MaxUnpool", "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d",
    "AdaptiveAvgPool", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d",
    "AdaptiveMaxPool", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d",
    "GlobalAvgPool", "GlobalMaxPool",
]

IntOrSeq = int | Sequence[int]


def _norm(value: Any, n: int | None, name: str, layer: str, min_value: int = 1) -> Any:
    """Normalise to an n-tuple when the rank is known, else check the int."""
    if n is not None:
        return as_tuple(value, n, name, layer, min_value)
    if isinstance(value, Sequence) and not isinstance(value, str):
        raise ValueError(
            f"{layer}: `{name}` is a sequence but the rank is unknown; give `kernel_size` as a "
            f"tuple or set `ndim`; got {name}={value!r}."
        )
    return as_tuple(value, 1, name, layer, min_value)[0]


class _PoolBase(Module):
    kernel_size: int | tuple[int, ...]
    stride: int | tuple[int, ...]
    padding: Padding
    dilation: int | tuple[int, ...]
    ceil_mode: bool
    _fixed_ndim: ClassVar[int | None] = None

    def _setup(self, kernel_size: Any, stride: Any, padding: Any, dilation: Any, ceil_mode: Any,
               ndim: int | None) -> int | None:
        layer = type(self).__name__
        n = resolve_rank(kernel_size, ndim, self._fixed_ndim, layer)
        self._n = n
        self.kernel_size = _norm(kernel_size, n, "kernel_size", layer)
        self.stride = self.kernel_size if stride is None else _norm(stride, n, "stride", layer)
        self.dilation = _norm(dilation, n, "dilation", layer)
        if isinstance(padding, str):
            if padding not in ("valid", "same"):
                raise ValueError(f"{layer}: `padding` string must be 'valid' or 'same'; got {padding!r}.")
            self.padding = padding
        elif is_int(padding):
            if padding < 0:
                raise ValueError(f"{layer}: `padding` must be >= 0; got padding={padding!r}.")
            self.padding = padding if n is None else (int(padding),) * n
        else:
            if n is None:
                raise ValueError(
                    f"{layer}: per-axis `padding` needs a tuple `kernel_size` or `ndim`; got {padding!r}."
                )
            normalize_padding(padding, n, layer)
            self.padding = tuple(p if is_int(p) else tuple(p) for p in padding)
        if not isinstance(ceil_mode, bool):
            raise TypeError(f"{layer}: `ceil_mode` must be a bool; got ceil_mode={ceil_mode!r}.")
        self.ceil_mode = ceil_mode
        return n

    def _base_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool(_PoolBase):
    """Take the maximum over each window; pads with ``-inf``.

    Tie rule: the first maximal element of a window (row-major kernel order) gets the whole
    gradient. ``stride`` defaults to ``kernel_size``.

    Shapes:
        ``(N, C, *S) -> (N, C, *S_out)``,
        ``S_out[i] = floor_or_ceil((S[i] + lo[i] + hi[i] - dilation[i]*(K[i]-1) - 1) / stride[i]) + 1``

    >>> import ndconv as nc
    >>> MaxPool(2)(nc.zeros(1, 6, 28, 28)).shape
    (1, 6, 14, 14)
    """

    return_indices: bool

    def __init__(
        self,
        kernel_size: IntOrSeq,
        stride: IntOrSeq | None = None,
        padding: Padding = 0,
        dilation: IntOrSeq = 1,
        return_indices: bool = False,
        ceil_mode: bool = False,
        ndim: int | None = None,
    ) -> None:
        super().__init__()
        self._setup(kernel_size, stride, padding, dilation, ceil_mode, ndim)
        if not isinstance(return_indices, bool):
            raise TypeError(
                f"{type(self).__name__}: `return_indices` must be a bool; got {return_indices!r}."
            )
        self.return_indices = return_indices

    def forward(self, x: Any) -> Any:
        x = tensor_in(x)
        check_input_rank(x, self._n, type(self).__name__, allow_unbatched=False)
        return F.max_pool(x, self.kernel_size, self.stride, self.padding, self.dilation,
                          self.ceil_mode, self.return_indices)

    def extra_repr(self) -> str:
        return f"{self._base_repr()}, dilation={self.dilation}, ceil_mode={self.ceil_mode}"


class MaxPool1d(MaxPool):
    """:class:`MaxPool` over one spatial axis.

    >>> import ndconv as nc
    >>> MaxPool1d(2)(nc.zeros(1, 2, 9)).shape
    (1, 2, 4)
    """

    _fixed_ndim = 1


class MaxPool2d(MaxPool):
    """:class:`MaxPool` over two spatial axes.

    >>> import ndconv as nc
    >>> MaxPool2d(3, stride=2, padding=1)(nc.zeros(1, 2, 8, 8)).shape
    (1, 2, 4, 4)
    """

    _fixed_ndim = 2


class MaxPool3d(MaxPool):
    """:class:`MaxPool` over three spatial axes.

    >>> import ndconv as nc
    >>> MaxPool3d(2)(nc.zeros(1, 2, 4, 4, 4)).shape
    (1, 2, 2, 2, 2)
    """

    _fixed_ndim = 3


class AvgPool(_PoolBase):
    """Average over each window (window sum / element count).

    ``count_include_pad`` counts zero padding in the divisor; ``divisor_override`` replaces it.

    Shapes:
        as :class:`MaxPool`.

    >>> import ndconv as nc
    >>> AvgPool((2, 2, 2))(nc.zeros(1, 3, 4, 4, 4)).shape
    (1, 3, 2, 2, 2)
    """

    count_include_pad: bool
    divisor_override: int | None

    def __init__(
        self,
        kernel_size: IntOrSeq,
        stride: IntOrSeq | None = None,
        padding: Padding = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
        dilation: IntOrSeq = 1,
        ndim: int | None = None,
    ) -> None:
        super().__init__()
        layer = type(self).__name__
        self._setup(kernel_size, stride, padding, dilation, ceil_mode, ndim)
        if not isinstance(count_include_pad, bool):
            raise TypeError(f"{layer}: `count_include_pad` must be a bool; got {count_include_pad!r}.")
        self.count_include_pad = count_include_pad
        if divisor_override is not None:
            check_positive_int(divisor_override, "divisor_override", layer)
        self.divisor_override = divisor_override

    def forward(self, x: Any) -> Tensor:
        x = tensor_in(x)
        check_input_rank(x, self._n, type(self).__name__, allow_unbatched=False)
        return F.avg_pool(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                          self.count_include_pad, self.divisor_override, self.dilation)

    def extra_repr(self) -> str:
        s = self._base_repr()
        if self.ceil_mode:
            s += ", ceil_mode=True"
        if not self.count_include_pad:
            s += ", count_include_pad=False"
        if self.divisor_override is not None:
            s += f", divisor_override={self.divisor_override}"
        return s


class AvgPool1d(AvgPool):
    """:class:`AvgPool` over one spatial axis.

    >>> import ndconv as nc
    >>> AvgPool1d(3, stride=2)(nc.zeros(1, 2, 9)).shape
    (1, 2, 4)
    """

    _fixed_ndim = 1


class AvgPool2d(AvgPool):
    """:class:`AvgPool` over two spatial axes.

    >>> import ndconv as nc
    >>> AvgPool2d(2)(nc.zeros(1, 2, 8, 8)).shape
    (1, 2, 4, 4)
    """

    _fixed_ndim = 2


class AvgPool3d(AvgPool):
    """:class:`AvgPool` over three spatial axes.

    >>> import ndconv as nc
    >>> AvgPool3d(2)(nc.zeros(1, 2, 4, 4, 4)).shape
    (1, 2, 2, 2, 2)
    """

    _fixed_ndim = 3


class MaxUnpool(Module):
    """Put each pooled maximum back at the position ``MaxPool(return_indices=True)`` recorded.

    Shapes:
        ``(N, C, *S) -> (N, C, *S_out)``, ``S_out[i] = (S[i]-1)*stride[i] - lo[i] - hi[i] + K[i]``
        unless ``output_size`` is given to ``forward``.

    >>> import ndconv as nc
    >>> y, idx = MaxPool2d(2, return_indices=True)(nc.randn(1, 1, 4, 4))
    >>> MaxUnpool2d(2)(y, idx).shape
    (1, 1, 4, 4)
    """

    kernel_size: int | tuple[int, ...]
    stride: int | tuple[int, ...]
    padding: Any
    _fixed_ndim: ClassVar[int | None] = None

    def __init__(self, kernel_size: IntOrSeq, stride: IntOrSeq | None = None, padding: Padding = 0,
                 ndim: int | None = None) -> None:
        super().__init__()
        layer = type(self).__name__
        n = resolve_rank(kernel_size, ndim, self._fixed_ndim, layer)
        self._n = n
        self.kernel_size = _norm(kernel_size, n, "kernel_size", layer)
        self.stride = self.kernel_size if stride is None else _norm(stride, n, "stride", layer)
        self.padding = _norm(padding, n, "padding", layer, min_value=0)

    def forward(self, x: Any, indices: Any, output_size: Sequence[int] | None = None) -> Tensor:
        x = tensor_in(x)
        check_input_rank(x, self._n, type(self).__name__, allow_unbatched=False)
        return F.max_unpool(x, indices, self.kernel_size, self.stride, self.padding, output_size)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(MaxUnpool):
    """:class:`MaxUnpool` over one spatial axis."""

    _fixed_ndim = 1


class MaxUnpool2d(MaxUnpool):
    """:class:`MaxUnpool` over two spatial axes."""

    _fixed_ndim = 2


class MaxUnpool3d(MaxUnpool):
    """:class:`MaxUnpool` over three spatial axes."""

    _fixed_ndim = 3


class _AdaptiveBase(Module):
    output_size: Any
    _fixed_ndim: ClassVar[int | None] = None

    def __init__(self, output_size: int | Sequence[int | None]) -> None:
        super().__init__()
        layer = type(self).__name__
        n = self._fixed_ndim
        if isinstance(output_size, Sequence) and not isinstance(output_size, str):
            if n is not None and len(output_size) != n:
                raise ValueError(f"{layer}: `output_size` must have {n} entries; got {output_size!r}.")
            for v in output_size:
                if v is not None:
                    check_positive_int(v, "output_size", layer)
            self.output_size = tuple(output_size)
        else:
            check_positive_int(output_size, "output_size", layer)
            self.output_size = output_size if n is None else (int(output_size),) * n

    def _check(self, x: Any) -> Tensor:
        x = tensor_in(x)
        n = self._fixed_ndim
        if n is None and isinstance(self.output_size, tuple):
            n = len(self.output_size)
        check_input_rank(x, n, type(self).__name__, allow_unbatched=False)
        return x

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool(_AdaptiveBase):
    """Average over adaptive windows ``[floor(i*L/out), ceil((i+1)*L/out))`` per axis.

    ``output_size``: an int (every axis) or one size per axis (``None`` keeps that axis).

    Shapes:
        ``(N, C, *S) -> (N, C, *output_size)``

    >>> import ndconv as nc
    >>> AdaptiveAvgPool((6, 6))(nc.zeros(2, 4, 13, 13)).shape
    (2, 4, 6, 6)
    """

    def forward(self, x: Any) -> Tensor:
        return F.adaptive_avg_pool(self._check(x), self.output_size)


class AdaptiveAvgPool1d(AdaptiveAvgPool):
    """:class:`AdaptiveAvgPool` over one spatial axis."""

    _fixed_ndim = 1


class AdaptiveAvgPool2d(AdaptiveAvgPool):
    """:class:`AdaptiveAvgPool` over two spatial axes.

    >>> import ndconv as nc
    >>> AdaptiveAvgPool2d(1)(nc.zeros(2, 4, 7, 7)).shape
    (2, 4, 1, 1)
    """

    _fixed_ndim = 2


class AdaptiveAvgPool3d(AdaptiveAvgPool):
    """:class:`AdaptiveAvgPool` over three spatial axes."""

    _fixed_ndim = 3


class AdaptiveMaxPool(_AdaptiveBase):
    """Take the maximum over adaptive windows per axis.

    Shapes:
        ``(N, C, *S) -> (N, C, *output_size)``

    >>> import ndconv as nc
    >>> AdaptiveMaxPool(2)(nc.zeros(1, 3, 5, 5, 5)).shape
    (1, 3, 2, 2, 2)
    """

    def forward(self, x: Any) -> Tensor:
        return F.adaptive_max_pool(self._check(x), self.output_size)


class AdaptiveMaxPool1d(AdaptiveMaxPool):
    """:class:`AdaptiveMaxPool` over one spatial axis."""

    _fixed_ndim = 1


class AdaptiveMaxPool2d(AdaptiveMaxPool):
    """:class:`AdaptiveMaxPool` over two spatial axes."""

    _fixed_ndim = 2


class AdaptiveMaxPool3d(AdaptiveMaxPool):
    """:class:`AdaptiveMaxPool` over three spatial axes."""

    _fixed_ndim = 3


class GlobalAvgPool(Module):
    """Average over all spatial axes: ``(N, C, *S) -> (N, C)`` (``keepdims``: ``(N, C, 1, ...)``).

    >>> import ndconv as nc
    >>> GlobalAvgPool()(nc.zeros(2, 8, 3, 3, 3)).shape
    (2, 8)
    """

    keepdims: bool

    def __init__(self, keepdims: bool = False) -> None:
        super().__init__()
        if not isinstance(keepdims, bool):
            raise TypeError(f"GlobalAvgPool: `keepdims` must be a bool; got keepdims={keepdims!r}.")
        self.keepdims = keepdims

    def forward(self, x: Any) -> Tensor:
        return F.global_avg_pool(tensor_in(x), self.keepdims)

    def extra_repr(self) -> str:
        return "keepdims=True" if self.keepdims else ""


class GlobalMaxPool(Module):
    """Take the maximum over all spatial axes: ``(N, C, *S) -> (N, C)``.

    >>> import ndconv as nc
    >>> GlobalMaxPool(keepdims=True)(nc.zeros(2, 8, 5)).shape
    (2, 8, 1)
    """

    keepdims: bool

    def __init__(self, keepdims: bool = False) -> None:
        super().__init__()
        if not isinstance(keepdims, bool):
            raise TypeError(f"GlobalMaxPool: `keepdims` must be a bool; got keepdims={keepdims!r}.")
        self.keepdims = keepdims

    def forward(self, x: Any) -> Tensor:
        return F.global_max_pool(tensor_in(x), self.keepdims)

    def extra_repr(self) -> str:
        return "keepdims=True" if self.keepdims else ""
