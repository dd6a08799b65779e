"""Primitives: each one is its shape rule, its forward and its VJP, in one place.

This module also gives :class:`~ndconv.autograd.Tensor` its operators and methods.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd import Tensor
from . import array, elementwise, reduce
from .array import (
    broadcast_to, concat, flatten, getitem, permute, reshape, squeeze, stack, take_along_axis,
    transpose, unsqueeze,
)
from .elementwise import (
    abs, add, clip, cos, div, exp, gelu, leaky_relu, log, log1p, maximum, minimum, mul, neg, pow,
    relu, sigmoid, sin, softplus, sqrt, sub, tanh, where,
)
from .reduce import amax, amin, log_softmax, logsumexp, matmul, mean, softmax, sum, var

__all__ = [*array.__all__, *elementwise.__all__, *reduce.__all__]


def _shape_arg(shape: tuple[Any, ...]) -> tuple[int, ...]:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def _attach() -> None:
    T = Tensor
    T.__add__ = lambda a, b: add(a, b)  # type: ignore[method-assign,assignment]
    T.__radd__ = lambda a, b: add(b, a)  # type: ignore[method-assign,assignment]
    T.__sub__ = lambda a, b: sub(a, b)  # type: ignore[method-assign,assignment]
    T.__rsub__ = lambda a, b: sub(b, a)  # type: ignore[method-assign,assignment]
    T.__mul__ = lambda a, b: mul(a, b)  # type: ignore[method-assign,assignment]
    T.__rmul__ = lambda a, b: mul(b, a)  # type: ignore[method-assign,assignment]
    T.__truediv__ = lambda a, b: div(a, b)  # type: ignore[method-assign,assignment]
    T.__rtruediv__ = lambda a, b: div(b, a)  # type: ignore[method-assign,assignment]
    T.__pow__ = lambda a, b: pow(a, b)  # type: ignore[method-assign,assignment]
    T.__rpow__ = lambda a, b: pow(b, a)  # type: ignore[method-assign,assignment]
    T.__neg__ = lambda a: neg(a)  # type: ignore[method-assign,assignment]
    T.__matmul__ = lambda a, b: matmul(a, b)  # type: ignore[method-assign,assignment]
    T.__rmatmul__ = lambda a, b: matmul(b, a)  # type: ignore[method-assign,assignment]
    T.__getitem__ = lambda a, i: getitem(a, i)  # type: ignore[method-assign,assignment]
    # Comparisons give plain boolean arrays: they have no gradient.
    T.__lt__ = lambda a, b: a.data < np.asarray(b)  # type: ignore[method-assign,assignment,operator]
    T.__le__ = lambda a, b: a.data <= np.asarray(b)  # type: ignore[method-assign,assignment,operator]
    T.__gt__ = lambda a, b: a.data > np.asarray(b)  # type: ignore[method-assign,assignment,operator]
    T.__ge__ = lambda a, b: a.data >= np.asarray(b)  # type: ignore[method-assign,assignment,operator]
    T.sum = lambda a, axis=None, keepdims=False: sum(a, axis, keepdims)  # type: ignore[attr-defined]
    T.mean = lambda a, axis=None, keepdims=False: mean(a, axis, keepdims)  # type: ignore[attr-defined]
    T.max = lambda a, axis=None, keepdims=False: amax(a, axis, keepdims)  # type: ignore[attr-defined]
    T.min = lambda a, axis=None, keepdims=False: amin(a, axis, keepdims)  # type: ignore[attr-defined]
    T.var = lambda a, axis=None, keepdims=False: var(a, axis, keepdims)  # type: ignore[attr-defined]
    T.reshape = lambda a, *shape: reshape(a, _shape_arg(shape))  # type: ignore[attr-defined]
    T.view = T.reshape  # type: ignore[attr-defined]
    T.permute = lambda a, *axes: permute(a, _shape_arg(axes))  # type: ignore[attr-defined]
    T.transpose = lambda a, d0=-2, d1=-1: transpose(a, d0, d1)  # type: ignore[attr-defined]
    T.T = property(lambda a: permute(a, tuple(reversed(range(a.ndim)))))  # type: ignore[attr-defined]
    T.flatten = lambda a, start_dim=0, end_dim=-1: flatten(a, start_dim, end_dim)  # type: ignore[attr-defined]
    T.squeeze = lambda a, axis: squeeze(a, axis)  # type: ignore[attr-defined]
    T.unsqueeze = lambda a, axis: unsqueeze(a, axis)  # type: ignore[attr-defined]
    T.exp = lambda a: exp(a)  # type: ignore[attr-defined]
    T.log = lambda a: log(a)  # type: ignore[attr-defined]
    T.sqrt = lambda a: sqrt(a)  # type: ignore[attr-defined]
    T.abs = lambda a: abs(a)  # type: ignore[attr-defined]
    T.relu = lambda a: relu(a)  # type: ignore[attr-defined]
    T.sigmoid = lambda a: sigmoid(a)  # type: ignore[attr-defined]
    T.tanh = lambda a: tanh(a)  # type: ignore[attr-defined]
    T.clip = lambda a, lo=None, hi=None: clip(a, lo, hi)  # type: ignore[attr-defined]
    T.softmax = lambda a, axis=-1: softmax(a, axis)  # type: ignore[attr-defined]
    T.log_softmax = lambda a, axis=-1: log_softmax(a, axis)  # type: ignore[attr-defined]
    T.argmax = lambda a, axis=None: np.argmax(a.data, axis=axis)  # type: ignore[attr-defined]
    T.astype = lambda a, dtype: Tensor(a.data.astype(dtype), requires_grad=a.requires_grad)  # type: ignore[attr-defined]
    T.float = lambda a: a.astype(np.float32)  # type: ignore[attr-defined]
    T.double = lambda a: a.astype(np.float64)  # type: ignore[attr-defined]


_attach()
