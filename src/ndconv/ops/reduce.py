"""Reductions and contractions: sum, mean, max, matmul, softmax, log-softmax."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd import Tensor, as_tensor, record
from .elementwise import mul, sub

__all__ = ["sum", "mean", "amax", "amin", "var", "matmul", "linear", "softmax", "log_softmax", "logsumexp"]

Axis = Any  # int, tuple of ints or None


def _axes(axis: Axis, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        axis = (axis,)
    return tuple(int(a) % ndim for a in axis)


def _expand(g: np.ndarray, axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
    return g if keepdims else np.expand_dims(g, axes)


def sum(a: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Sum over ``axis`` (all axes by default)."""
    axes = _axes(axis, a.ndim)
    shape = a.shape
    out = np.asarray(a.data.sum(axis=axes, keepdims=keepdims))
    return record(out, (a,), lambda g: (np.broadcast_to(_expand(g, axes, keepdims), shape),), "sum")


def mean(a: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Average over ``axis`` (all axes by default)."""
    axes = _axes(axis, a.ndim)
    count = int(np.prod([a.shape[i] for i in axes]))
    shape, dtype = a.shape, a.dtype
    out = np.asarray(a.data.mean(axis=axes, keepdims=keepdims), dtype=dtype)
    return record(
        out,
        (a,),
        lambda g: (np.broadcast_to(_expand(g, axes, keepdims) / np.asarray(count, dtype), shape),),
        "mean",
    )


def _extreme(a: Tensor, axis: Axis, keepdims: bool, fn: Any, name: str) -> Tensor:
    axes = _axes(axis, a.ndim)
    x = a.data
    out_k = fn(x, axis=axes, keepdims=True)
    out = out_k if keepdims else np.squeeze(out_k, axis=axes)

    def vjp(g: np.ndarray) -> tuple[np.ndarray]:
        hit = x == out_k
        # Ties share the gradient equally (as torch.amax does).
        share = hit / hit.sum(axis=axes, keepdims=True)
        return (_expand(g, axes, keepdims) * share.astype(x.dtype, copy=False),)

    return record(np.asarray(out), (a,), vjp, name)


def amax(a: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Maximum over ``axis``; tied maxima share the gradient equally."""
    return _extreme(a, axis, keepdims, np.max, "amax")


def amin(a: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Minimum over ``axis``; tied minima share the gradient equally."""
    return _extreme(a, axis, keepdims, np.min, "amin")


def var(a: Tensor, axis: Axis = None, keepdims: bool = False, correction: int = 0) -> Tensor:
    """Variance over ``axis`` (composite: mean of squared deviations)."""
    axes = _axes(axis, a.ndim)
    count = int(np.prod([a.shape[i] for i in axes]))
    d = sub(a, mean(a, axes, keepdims=True))
    s = sum(mul(d, d), axes, keepdims=keepdims)
    return mul(s, 1.0 / max(count - correction, 1))


def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product with NumPy's broadcasting rules (``a @ b``)."""
    a, b = as_tensor(a), as_tensor(b)
    x, y = a.data, b.data
    if x.ndim == 0 or y.ndim == 0:
        raise ValueError(f"matmul: operands must have >= 1 dimension; got {x.shape} and {y.shape}.")
    out = x @ y

    def vjp(g: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        # Promote 1-D operands to matrices as NumPy does; the engine sums broadcast axes.
        x2 = x[None, :] if x.ndim == 1 else x
        y2 = y[:, None] if y.ndim == 1 else y
        batch = np.broadcast_shapes(x2.shape[:-2], y2.shape[:-2])
        g2 = np.reshape(g, batch + (x2.shape[-2], y2.shape[-1]))
        gx = gy = None
        if a.requires_grad:
            gx = g2 @ np.swapaxes(y2, -1, -2)  # (..., m, k); a 1-D x keeps m = 1, summed away
        if b.requires_grad:
            gy = np.swapaxes(x2, -1, -2) @ g2  # (..., k, n)
            if y.ndim == 1:
                gy = gy[..., 0]
        return gx, gy

    return record(np.asarray(out), (a, b), vjp, "matmul")


def linear(x: Tensor, w: Tensor, b: Tensor | None = None) -> Tensor:
    """``x @ w.T + b`` as one primitive: ``x`` (..., in), ``w`` (out, in), ``b`` (out,).

    The same as ``matmul(x, permute(w)) + b`` with one node instead of three and the bias
    added into the product's fresh output (a dense layer's forward at batch 1 is mostly
    per-op overhead).
    """
    xd, wd = x.data, w.data
    out = xd @ wd.T
    if b is not None:
        out += b.data

    def vjp(g: np.ndarray) -> tuple[np.ndarray | None, ...]:
        g2 = g.reshape(-1, g.shape[-1])
        gx = (g @ wd) if x.requires_grad else None
        gw = (g2.T @ xd.reshape(-1, xd.shape[-1])) if w.requires_grad else None
        gb = g2.sum(axis=0) if b is not None and b.requires_grad else None
        return gx, gw, gb

    return record(out, (x, w, b), vjp, "linear")


def _shifted_log_sum(x: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``m``, ``x - m`` and ``log(sum(exp(x - m)))`` with ``m`` the (finite) max along ``axis``.

    Subtracting the maximum first is what keeps ``exp`` from overflowing.
    """
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    shifted = x - m
    return m, shifted, np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def logsumexp(a: Tensor, axis: int = -1, keepdims: bool = False) -> Tensor:
    """Return ``log(sum(exp(a)))`` along ``axis``, stable for large values."""
    x = a.data
    m, _, log_sum = _shifted_log_sum(x, axis)
    lse_k = m + log_sum
    out = lse_k if keepdims else np.squeeze(lse_k, axis)

    def vjp(g: np.ndarray) -> tuple[np.ndarray]:
        gk = g if keepdims else np.expand_dims(g, axis)
        return (gk * np.exp(x - lse_k),)

    return record(out, (a,), vjp, "logsumexp")


def log_softmax(a: Tensor, axis: int = -1) -> Tensor:
    """Return ``a - logsumexp(a)`` along ``axis`` (max-shifted: no overflow)."""
    _, shifted, log_sum = _shifted_log_sum(a.data, axis)
    out = shifted - log_sum

    def vjp(g: np.ndarray) -> tuple[np.ndarray]:
        return (g - np.exp(out) * g.sum(axis=axis, keepdims=True),)

    return record(out, (a,), vjp, "log_softmax")


def softmax(a: Tensor, axis: int = -1) -> Tensor:
    """Return ``exp(a) / sum(exp(a))`` along ``axis`` (max-shifted: no overflow)."""
    x = a.data
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    out = e / e.sum(axis=axis, keepdims=True)

    def vjp(g: np.ndarray) -> tuple[np.ndarray]:
        return (out * (g - (g * out).sum(axis=axis, keepdims=True)),)

    return record(out, (a,), vjp, "softmax")
