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

        dx = weight / sqrt(var + eps) * (dy - sum(dy)/M - xhat * sum(dy * xhat)/M)
    """
    xd = x.data
    axes = (0,) + tuple(range(2, xd.ndim))
    shape = (1, -1) + (1,) * (xd.ndim - 2)
    m = xd.size // xd.shape[1]
    # Per-channel dot product ``sum(a * b)`` over (N, *S) without an (N, C, *S) temporary.
    letters = "abcdefghijklmnopqrstuvwxyz"[: xd.ndim]
    dot_spec = f"{letters},{letters}->{letters[1]}"

    def channel_dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.einsum(dot_spec, a, b).reshape(shape)

    # Two arrays the size of ``x`` are allocated: ``y`` (built in place from the centred
    # input) and, in the VJP, ``dx``. The VJP recomputes ``xhat`` from ``x`` -- which the graph
    # keeps anyway -- instead of holding a third copy for the whole backward pass.
    mean = np.add.reduce(xd, axis=axes, keepdims=True) / m
    y = xd - mean  # centred for now; order "K" keeps a channels-last layout
    var = channel_dot(y, y) / m  # two-pass variance: no cancellation in float32
    inv_std = 1.0 / np.sqrt(var + np.asarray(eps, xd.dtype))
    gamma = weight.data.reshape(shape) if weight is not None else None
    y *= inv_std if gamma is None else inv_std * gamma
    if bias is not None:
        y += bias.data.reshape(shape)

    def vjp(g: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
        xhat = xd - mean
        xhat *= inv_std
        sum_g = np.add.reduce(g, axis=axes, keepdims=True)
        sum_gx = channel_dot(g, xhat)
        scale = inv_std if gamma is None else gamma * inv_std
        gx = xhat  # dx = scale * (g - sum(g)/M - xhat*sum(g*xhat)/M), in xhat's buffer
        gx *= sum_gx / m
        gx += sum_g / m
        np.subtract(g, gx, out=gx)
        gx *= scale
        gw = sum_gx.reshape(-1) if weight is not None else None
        gb = sum_g.reshape(-1) if bias is not None else None
        return gx, gw, gb

    out = record(y, (x, weight, bias), vjp, "batch_norm")
    return out, mean.reshape(-1), var.reshape(-1)
