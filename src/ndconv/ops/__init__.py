"""Primitives: each one is its shape rule, its forward and its VJP, in one place.

This module also gives :class:`~ndconv.autograd.Tensor` its operators and methods.
"""

from __future__ import annotations

import sys

from . import array, elementwise, reduce
from .array import (
    broadcast_to,
    concat,
    flatten,
    getitem,
    permute,
    reshape,
    squeeze,
    stack,
    take_along_axis,
    transpose,
    unsqueeze,
)
from .elementwise import (
    abs,
    add,
    clip,
    cos,
    div,
    exp,
    gelu,
    leaky_relu,
    log,
    log1p,
    maximum,
    minimum,
    mul,
    neg,
    pow,
    relu,
    sigmoid,
    sin,
    softplus,
    sqrt,
    sub,
    tanh,
    where,
)
from .reduce import amax, amin, linear, log_softmax, logsumexp, matmul, mean, softmax, sum, var

__all__ = [*array.__all__, *elementwise.__all__, *reduce.__all__]


from .. import autograd as _autograd

_autograd._ops = sys.modules[__name__]  # Tensor's operators call the primitives through this
