"""Batch normalisation (Ioffe & Szegedy 2015) over any number of spatial axes."""

from __future__ import annotations

import numpy as np

from ..autograd import Tensor, record

__all__ = ["batch_norm_train"]


def batch_norm_train(
    x: Tensor, weight: Tensor | None, bias: Tensor | None, eps: float
) -> tuple[Tensor, np.ndarray, np.ndarray]:
    """Primitive: normalise ``x`` (N, C, *S) with its own per-channel batch statistics.

    ``y = (x - mean) / sqrt(var + eps) * weight + bias``, ``var`` biased (divided by M, the
    number of values per channel). Returns ``y`` and the batch mean and biased variance.

    The VJP is the closed form (Ioffe & Szegedy, sec. 3), with ``xhat`` the normalised input::

        dx = weight / sqrt(var + eps) / M * (M*dy - sum(dy) - xhat * sum(dy * xhat))
    """
    xd = x.data
    axes = (0,) + tuple(range(2, xd.ndim))
    shape = (1, -1) + (1,) * (xd.ndim - 2)
    m = xd.size // xd.shape[1]
    mean = xd.mean(axis=axes, keepdims=True)
    centred = xd - mean
    var = (centred * centred).mean(axis=axes, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + np.asarray(eps, xd.dtype))
    xhat = centred * inv_std
    gamma = weight.data.reshape(shape) if weight is not None else None
    y = xhat * gamma if gamma is not None else xhat
    if bias is not None:
        y = y + bias.data.reshape(shape)

    def vjp(g: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
        sum_g = g.sum(axis=axes, keepdims=True)
        sum_gx = (g * xhat).sum(axis=axes, keepdims=True)
        scale = inv_std if gamma is None else gamma * inv_std
        gx = scale / m * (m * g - sum_g - xhat * sum_gx)
        gw = sum_gx.reshape(-1) if weight is not None else None
        gb = sum_g.reshape(-1) if bias is not None else None
        return gx, gw, gb

    out = record(y, (x, weight, bias), vjp, "batch_norm")
    return out, mean.reshape(-1), var.reshape(-1)
