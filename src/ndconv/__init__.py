"""ndconv: convolutional networks in any number of dimensions, from first principles on NumPy.

>>> import ndconv as nc
>>> import ndconv.nn.functional as F
>>> x = nc.tensor(np.ones((1, 1, 5, 5), np.float32), requires_grad=True)
>>> w = nc.tensor(np.ones((2, 1, 3, 3), np.float32), requires_grad=True)
>>> y = F.conv(x, w, padding=1)
>>> y.shape
(1, 2, 5, 5)
>>> y.sum().backward(); x.grad[0, 0, 0]
array([ 8., 12., 12., 12.,  8.], dtype=float32)
"""

from __future__ import annotations

import numpy as np

from . import ops, shapes
from .autograd import Tensor, as_tensor, enable_grad, is_grad_enabled, no_grad, tensor
from .ops import *  # noqa: F403  -- the primitives double as the functional array API
from .random import manual_seed

__version__ = "0.1.0"

float32 = np.float32
float64 = np.float64


def zeros(*shape: int, dtype=np.float32, requires_grad: bool = False) -> Tensor:
    """Return a tensor of zeros."""
    return Tensor(np.zeros(shape, dtype), requires_grad=requires_grad)


def ones(*shape: int, dtype=np.float32, requires_grad: bool = False) -> Tensor:
    """Return a tensor of ones."""
    return Tensor(np.ones(shape, dtype), requires_grad=requires_grad)


def randn(*shape: int, dtype=np.float32, requires_grad: bool = False) -> Tensor:
    """Return a tensor of standard normal samples from ndconv's generator."""
    from .random import get_rng

    return Tensor(get_rng().standard_normal(shape).astype(dtype), requires_grad=requires_grad)


__all__ = [
    "Tensor",
    "tensor",
    "as_tensor",
    "no_grad",
    "enable_grad",
    "is_grad_enabled",
    "manual_seed",
    "zeros",
    "ones",
    "randn",
    "float32",
    "float64",
    "ops",
    "shapes",
    *ops.__all__,
]
