"""Saliency maps: which input values the score of a class is most sensitive to.

``gradient`` (Simonyan, Vedaldi & Zisserman, 2014) is ``d logit[target] / d x``;
``gradient_x_input`` (Shrikumar et al., 2016) multiplies it by ``x``, a first-order estimate
of each value's contribution to the logit. Both keep the sign and the channels; the classic
picture is ``np.abs(s).max(axis=1)`` (the largest magnitude over channels).

>>> import ndconv as nc, ndconv.nn as nn
>>> nc.manual_seed(0)
>>> net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 5))
>>> s = saliency(net, np.ones((2, 3, 8, 8), np.float32), target=[1, 4])
>>> s.shape, np.abs(s).max(axis=1).shape
((2, 3, 8, 8), (2, 8, 8))
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..attacks import frozen_eval
from ..autograd import Tensor, enable_grad
from ..nn.module import Module

__all__ = ["saliency"]

_METHODS = ("gradient", "gradient_x_input")


def saliency(model: Module, x: Any, target: Any, method: str = "gradient") -> np.ndarray:
    """Return the gradient of each example's target logit with respect to its input.

    The model runs in eval mode with frozen parameters (both restored afterwards), so the
    examples of a batch do not interact and each gets the gradient of its own logit.

    Args:
        model: a classifier returning logits ``(N, num_classes)``.
        x: inputs ``(N, C, *S)`` (any shape the model takes), floating point.
        target: the class whose logit is explained: an int for all examples, or ``(N,)`` ints.
        method: ``"gradient"`` or ``"gradient_x_input"``.

    Returns:
        An array of ``x``'s shape and dtype.

    Raises:
        ValueError: for an unknown ``method``, a target out of range, or logits not ``(N, K)``.
        TypeError: for a non-floating ``x``.
    """
    op = "saliency"
    if method not in _METHODS:
        raise ValueError(f"{op}: `method` must be one of {_METHODS}; got method={method!r}.")
    arr = np.asarray(x.data if isinstance(x, Tensor) else x)
    if arr.dtype.kind != "f":
        raise TypeError(f"{op}: `x` must be a floating-point array; got dtype={arr.dtype}.")
    xt = Tensor(arr.copy(), requires_grad=True)
    with frozen_eval(model), enable_grad():
        logits = model(xt)
        if not isinstance(logits, Tensor) or logits.ndim != 2 or logits.shape[0] != arr.shape[0]:
            shape = getattr(logits, "shape", None)
            raise ValueError(f"{op}: the model must return logits (N={arr.shape[0]}, K); got shape={shape}.")
        n, k = logits.shape
        t = np.asarray(target.data if isinstance(target, Tensor) else target)
        t = np.broadcast_to(t, (n,)) if t.ndim == 0 else t
        if t.shape != (n,) or t.dtype.kind not in "iu" or t.min() < 0 or t.max() >= k:
            raise ValueError(
                f"{op}: `target` must be an int or {n} ints in [0, {k}); got target={target!r}."
            )
        seed = np.zeros(logits.shape, logits.dtype)
        seed[np.arange(n), t] = 1.0  # d(sum_i logit[i, t_i]) / d logits
        logits.backward(seed)
    grad = xt.grad if xt.grad is not None else np.zeros_like(arr)
    return grad * arr if method == "gradient_x_input" else grad
