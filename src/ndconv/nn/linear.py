"""Dense and shape layers: ``Linear``, ``Flatten``, ``Identity``."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..autograd import Tensor
from ..ops import flatten
from . import functional as F
from . import init
from ._utils import check_dtype, check_positive_int, is_int, tensor_in
from .module import Module, Parameter

__all__ = ["Linear", "Flatten", "Identity"]


class Linear(Module):
    """Apply ``y = x @ weight.T + bias`` to the last axis.

    Initialisation (PyTorch's): ``weight`` ``(out_features, in_features)`` and ``bias`` ~
    U(-1/sqrt(in_features), 1/sqrt(in_features)) (kaiming_uniform with a = sqrt(5)).

    Shapes:
        ``x: (*, in_features) -> (*, out_features)``

    >>> import ndconv as nc
    >>> Linear(400, 120)(nc.zeros(8, 400)).shape
    (8, 120)
    """

    in_features: int
    out_features: int
    weight: Tensor
    bias: Tensor | None

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, dtype: Any = np.float32
    ) -> None:
        super().__init__()
        self.in_features = check_positive_int(in_features, "in_features", "Linear")
        self.out_features = check_positive_int(out_features, "out_features", "Linear")
        if not isinstance(bias, bool):
            raise TypeError(f"Linear: `bias` must be a bool; got bias={bias!r}.")
        dt = check_dtype(dtype, "Linear")
        self.weight = Parameter(np.empty((out_features, in_features), dt))
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if bias:
            bound = 1 / math.sqrt(in_features)
            self.bias = Parameter(np.empty(out_features, dt))
            init.uniform_(self.bias, -bound, bound)
        else:
            self.register_parameter("bias", None)

    def forward(self, x: Any) -> Tensor:
        return F.linear(tensor_in(x), self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Flatten(Module):
    """Flatten axes ``start_dim..end_dim`` into one (default: all but the batch axis).

    Shapes:
        ``(N, C, *S) -> (N, C * prod(S))`` with the defaults.

    >>> import ndconv as nc
    >>> Flatten()(nc.zeros(2, 16, 5, 5)).shape
    (2, 400)
    """

    start_dim: int
    end_dim: int

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        for name, v in (("start_dim", start_dim), ("end_dim", end_dim)):
            if not is_int(v):
                raise TypeError(f"Flatten: `{name}` must be an int; got {name}={v!r}.")
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)

    def forward(self, x: Any) -> Tensor:
        return flatten(tensor_in(x), self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Identity(Module):
    """Return the input unchanged (a placeholder; arguments are accepted and ignored).

    >>> Identity()(np.zeros((2, 3))).shape
    (2, 3)
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, x: Any) -> Any:
        return x
