"""Element-wise activation layers and (log-)softmax."""

from __future__ import annotations

from typing import Any

from ..autograd import Tensor
from . import functional as F
from ._utils import check_float, is_int, tensor_in
from .module import Module

__all__ = ["ReLU", "LeakyReLU", "Sigmoid", "Tanh", "GELU", "Softmax", "LogSoftmax"]


class ReLU(Module):
    """Apply ``max(x, 0)`` element-wise (gradient 0 at x = 0, as PyTorch).

    Shapes:
        any shape -> the same shape.

    >>> import ndconv as nc
    >>> ReLU()(nc.tensor([-1.0, 2.0])).tolist()
    [0.0, 2.0]
    """

    def forward(self, x: Any) -> Tensor:
        return F.relu(tensor_in(x))


class LeakyReLU(Module):
    """Apply ``x if x > 0 else negative_slope * x``.

    >>> import ndconv as nc
    >>> LeakyReLU(0.1)(nc.tensor([-1.0, 2.0])).shape
    (2,)
    """

    negative_slope: float

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = check_float(negative_slope, "negative_slope", "LeakyReLU", -1e308, 1e308)

    def forward(self, x: Any) -> Tensor:
        return F.leaky_relu(tensor_in(x), self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Sigmoid(Module):
    """Apply ``1 / (1 + exp(-x))``.

    >>> import ndconv as nc
    >>> Sigmoid()(nc.zeros(3)).tolist()
    [0.5, 0.5, 0.5]
    """

    def forward(self, x: Any) -> Tensor:
        return F.sigmoid(tensor_in(x))


class Tanh(Module):
    """Apply ``tanh(x)``.

    >>> import ndconv as nc
    >>> Tanh()(nc.zeros(2, 3)).shape
    (2, 3)
    """

    def forward(self, x: Any) -> Tensor:
        return F.tanh(tensor_in(x))


class GELU(Module):
    """Apply ``x * Phi(x)`` (``approximate="tanh"`` for the tanh approximation).

    >>> import ndconv as nc
    >>> GELU()(nc.zeros(2, 3)).shape
    (2, 3)
    """

    approximate: str

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(
                f"GELU: `approximate` must be 'none' or 'tanh'; got approximate={approximate!r}."
            )
        self.approximate = approximate

    def forward(self, x: Any) -> Tensor:
        return F.gelu(tensor_in(x), self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}" if self.approximate != "none" else ""


def _check_dim(dim: Any, layer: str) -> int:
    if not is_int(dim):
        raise TypeError(f"{layer}: `dim` must be an int; got dim={dim!r}.")
    return int(dim)


class Softmax(Module):
    """Apply ``exp(x) / sum(exp(x))`` along ``dim`` (default: the last axis).

    >>> import ndconv as nc
    >>> Softmax(dim=1)(nc.zeros(2, 4)).tolist()[0]
    [0.25, 0.25, 0.25, 0.25]
    """

    dim: int

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = _check_dim(dim, "Softmax")

    def forward(self, x: Any) -> Tensor:
        return F.softmax(tensor_in(x), self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """Apply ``x - logsumexp(x)`` along ``dim`` (default: the last axis).

    >>> import ndconv as nc
    >>> LogSoftmax(dim=1)(nc.zeros(2, 4)).shape
    (2, 4)
    """

    dim: int

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = _check_dim(dim, "LogSoftmax")

    def forward(self, x: Any) -> Tensor:
        return F.log_softmax(tensor_in(x), self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
