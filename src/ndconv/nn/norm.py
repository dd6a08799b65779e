"""Normalisation and regularisation layers: ``BatchNorm`` (any rank) and ``Dropout``."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..autograd import Tensor
from . import functional as F
from ._utils import check_dtype, check_float, check_positive_int, tensor_in
from .module import Module, Parameter

__all__ = ["BatchNorm", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "Dropout"]


class BatchNorm(Module):
    """Normalise each channel by its batch statistics, then scale and shift (Ioffe & Szegedy, 2015).

    ``y = (x - mean) / sqrt(var + eps) * weight + bias`` per channel. In training mode
    ``mean``/``var`` are the batch's (over N and all spatial axes, biased variance) and the
    running statistics are updated in place:
    ``running = (1 - momentum) * running + momentum * batch`` (unbiased variance);
    ``momentum=None`` makes it a cumulative average. In eval mode the running statistics are
    used. With ``track_running_stats=False`` batch statistics are used in both modes.

    Initialisation (PyTorch's): weight 1, bias 0, running_mean 0, running_var 1.

    Shapes:
        ``(N, C, *S) -> (N, C, *S)``; any number of spatial axes (``BatchNorm1d`` also takes
        ``(N, C)``).

    >>> import ndconv as nc
    >>> BatchNorm(4)(nc.randn(2, 4, 3, 3, 3, 3)).shape
    (2, 4, 3, 3, 3, 3)
    """

    num_features: int
    eps: float
    momentum: float | None
    affine: bool
    track_running_stats: bool
    weight: Tensor | None
    bias: Tensor | None
    _input_ranks: ClassVar[tuple[int, ...] | None] = None

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        layer = type(self).__name__
        self.num_features = check_positive_int(num_features, "num_features", layer)
        self.eps = check_float(eps, "eps", layer, 0.0, float("inf"), lo_open=True)
        self.momentum = None if momentum is None else check_float(momentum, "momentum", layer, 0.0, 1.0)
        for name, v in (("affine", affine), ("track_running_stats", track_running_stats)):
            if not isinstance(v, bool):
                raise TypeError(f"{layer}: `{name}` must be a bool; got {name}={v!r}.")
        self.affine, self.track_running_stats = affine, track_running_stats
        dt = check_dtype(dtype, layer)
        if affine:
            self.weight = Parameter(np.ones(num_features, dt))
            self.bias = Parameter(np.zeros(num_features, dt))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, dt))
            self.register_buffer("running_var", np.ones(num_features, dt))
            self.register_buffer("num_batches_tracked", np.zeros((), np.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        """Set running_mean to 0, running_var to 1 and the batch counter to 0."""
        if self.track_running_stats:
            self.running_mean[...] = 0
            self.running_var[...] = 1
            self.num_batches_tracked[...] = 0

    def forward(self, x: Any) -> Tensor:
        x = tensor_in(x)
        layer = type(self).__name__
        ranks = self._input_ranks
        if (ranks is not None and x.ndim not in ranks) or x.ndim < 2:
            want = " or ".join(f"{r}-D" for r in ranks) if ranks else "at least 2-D (N, C, *S)"
            raise ValueError(f"{layer}: expected {want} input; got x.shape={x.shape}.")
        if x.shape[1] != self.num_features:
            raise ValueError(
                f"{layer}: input must have num_features = {self.num_features} channels on axis 1; "
                f"got x.shape={x.shape}."
            )
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked += 1
            if self.momentum is None:  # cumulative moving average
                momentum = 1.0 / float(self.num_batches_tracked)
        use_batch = self.training or not self.track_running_stats
        return F.batch_norm(
            x,
            self.running_mean if (not self.training or self.track_running_stats) else None,
            self.running_var if (not self.training or self.track_running_stats) else None,
            self.weight, self.bias, use_batch, momentum, self.eps,
        )

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(BatchNorm):
    """:class:`BatchNorm` for ``(N, C)`` or ``(N, C, L)`` input.

    >>> import ndconv as nc
    >>> BatchNorm1d(8)(nc.randn(4, 8)).shape
    (4, 8)
    """

    _input_ranks = (2, 3)


class BatchNorm2d(BatchNorm):
    """:class:`BatchNorm` for ``(N, C, H, W)`` input.

    >>> import ndconv as nc
    >>> BatchNorm2d(3)(nc.randn(2, 3, 4, 4)).shape
    (2, 3, 4, 4)
    """

    _input_ranks = (4,)


class BatchNorm3d(BatchNorm):
    """:class:`BatchNorm` for ``(N, C, D, H, W)`` input.

    >>> import ndconv as nc
    >>> BatchNorm3d(3)(nc.randn(2, 3, 2, 2, 2)).shape
    (2, 3, 2, 2, 2)
    """

    _input_ranks = (5,)


class Dropout(Module):
    """Zero each element with probability ``p`` in training and scale the rest by ``1/(1-p)``.

    Identity in eval mode. Masks come from ``ndconv.random`` (seeded by ``manual_seed``).

    Shapes:
        any shape -> the same shape.

    >>> import ndconv as nc
    >>> Dropout(0.5).eval()(nc.ones(2, 3)).tolist()
    [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
    """

    p: float

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.p = check_float(p, "p", "Dropout", 0.0, 1.0)

    def forward(self, x: Any) -> Tensor:
        return F.dropout(tensor_in(x), self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
