"""Elementwise primitives: arithmetic with broadcasting, and the activations.

Each function is one primitive: it computes the forward value and records the VJP right
beside it. Broadcast inputs get gradients of the broadcast shape; the engine sums them back.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..autograd import Tensor, as_tensor, record
from ..backend import in_layout_of, map_chunks, row_blocks

__all__ = [
    "add",
    "sub",
    "mul",
    "div",
    "neg",
    "pow",
    "exp",
    "log",
    "sqrt",
    "abs",
    "maximum",
    "minimum",
    "where",
    "clip",
    "relu",
    "leaky_relu",
    "sigmoid",
    "tanh",
    "gelu",
    "softplus",
    "log1p",
    "sin",
    "cos",
]


def _pair(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    if isinstance(a, Tensor):
        return a, as_tensor(b, like=a)
    b = as_tensor(b)
    return as_tensor(a, like=b), b


def add(a: Any, b: Any) -> Tensor:
    """Return ``a + b`` (broadcasting)."""
    a, b = _pair(a, b)
    return record(a.data + b.data, (a, b), lambda g: (g, g), "add")


def sub(a: Any, b: Any) -> Tensor:
    """Return ``a - b`` (broadcasting)."""
    a, b = _pair(a, b)
    return record(a.data - b.data, (a, b), lambda g: (g, -g), "sub")


def mul(a: Any, b: Any) -> Tensor:
    """Return ``a * b`` (broadcasting)."""
    a, b = _pair(a, b)
    x, y = a.data, b.data
    return record(x * y, (a, b), lambda g: (g * y, g * x), "mul")


def div(a: Any, b: Any) -> Tensor:
    """Return ``a / b`` (broadcasting)."""
    a, b = _pair(a, b)
    x, y = a.data, b.data
    out = x / y
    return record(out, (a, b), lambda g: (g / y, -g * out / y), "div")


def neg(a: Tensor) -> Tensor:
    """Return ``-a``."""
    return record(-a.data, (a,), lambda g: (-g,), "neg")


def pow(a: Any, b: Any) -> Tensor:
    """Return ``a ** b``; the gradient for ``b`` uses ``log(a)`` and is 0 where ``a <= 0``."""
    a, b = _pair(a, b)
    x, y = a.data, b.data
    out = x**y

    def vjp(g: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        ga = g * y * x ** (y - 1)
        gb = None
        if b.requires_grad:
            with np.errstate(divide="ignore", invalid="ignore"):
                gb = g * out * np.where(x > 0, np.log(np.where(x > 0, x, 1)), 0)
        return ga, gb

    return record(out, (a, b), vjp, "pow")


def exp(a: Tensor) -> Tensor:
    """Return ``exp(a)``."""
    out = np.exp(a.data)
    return record(out, (a,), lambda g: (g * out,), "exp")


def log(a: Tensor) -> Tensor:
    """Return the natural logarithm of ``a``."""
    x = a.data
    return record(np.log(x), (a,), lambda g: (g / x,), "log")


def log1p(a: Tensor) -> Tensor:
    """Return ``log(1 + a)``, accurate for small ``a``."""
    x = a.data
    return record(np.log1p(x), (a,), lambda g: (g / (1 + x),), "log1p")


def sqrt(a: Tensor) -> Tensor:
    """Return the square root of ``a``."""
    out = np.sqrt(a.data)
    return record(out, (a,), lambda g: (g / (2 * out),), "sqrt")


def abs(a: Tensor) -> Tensor:
    """Return ``|a|``; the gradient at 0 is 0 (``sign(0) = 0``)."""
    x = a.data
    return record(np.abs(x), (a,), lambda g: (g * np.sign(x),), "abs")


def sin(a: Tensor) -> Tensor:
    """Return ``sin(a)``."""
    x = a.data
    return record(np.sin(x), (a,), lambda g: (g * np.cos(x),), "sin")


def cos(a: Tensor) -> Tensor:
    """Return ``cos(a)``."""
    x = a.data
    return record(np.cos(x), (a,), lambda g: (-g * np.sin(x),), "cos")


def maximum(a: Any, b: Any) -> Tensor:
    """Return the elementwise maximum; on ties the gradient is split equally."""
    a, b = _pair(a, b)
    x, y = a.data, b.data
    out = np.maximum(x, y)

    def vjp(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        wa = (x > y) + 0.5 * (x == y)
        return g * wa, g * (1 - wa)

    return record(out, (a, b), vjp, "maximum")


def minimum(a: Any, b: Any) -> Tensor:
    """Return the elementwise minimum; on ties the gradient is split equally."""
    a, b = _pair(a, b)
    x, y = a.data, b.data
    out = np.minimum(x, y)

    def vjp(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        wa = (x < y) + 0.5 * (x == y)
        return g * wa, g * (1 - wa)

    return record(out, (a, b), vjp, "minimum")


def where(cond: Any, a: Any, b: Any) -> Tensor:
    """Return ``a`` where ``cond`` is true, else ``b`` (``cond`` gets no gradient)."""
    c = np.asarray(cond.data if isinstance(cond, Tensor) else cond, dtype=bool)
    a, b = _pair(a, b)
    out = np.where(c, a.data, b.data)
    return record(out, (a, b), lambda g: (np.where(c, g, 0), np.where(c, 0, g)), "where")


def clip(a: Tensor, lo: float | None = None, hi: float | None = None) -> Tensor:
    """Clamp ``a`` to ``[lo, hi]``; the gradient is 1 inside and 0 where clamped."""
    x = a.data
    out = np.clip(x, lo, hi)
    inside = np.ones(x.shape, bool)
    if lo is not None:
        inside &= x >= lo
    if hi is not None:
        inside &= x <= hi
    return record(out, (a,), lambda g: (g * inside,), "clip")


# --- activations -------------------------------------------------------------------------


def relu(a: Tensor) -> Tensor:
    """Return ``max(a, 0)``; the gradient at exactly 0 is 0 (as in PyTorch).

    Large arrays are split along the batch axis across the worker threads (memory-bound).
    """
    x = a.data
    blocks = row_blocks(x)
    if len(blocks) == 1:
        return record(np.maximum(x, 0), (a,), lambda g: (in_layout_of(g, x) * (x > 0),), "relu")
    out = np.empty_like(x)  # x's memory layout
    map_chunks(lambda s: np.maximum(x[s], 0, out=out[s]), blocks)

    def vjp(g: np.ndarray) -> tuple[np.ndarray]:
        g = in_layout_of(g, x)
        gx = np.empty_like(g)
        map_chunks(lambda s: np.multiply(g[s], x[s] > 0, out=gx[s]), blocks)
        return (gx,)

    return record(out, (a,), vjp, "relu")


def leaky_relu(a: Tensor, negative_slope: float = 0.01) -> Tensor:
    """Return ``a`` where ``a > 0``, else ``negative_slope * a``."""
    x = a.data
    slope = np.asarray(negative_slope, x.dtype)
    out = np.where(x > 0, x, x * slope)
    return record(out, (a,), lambda g: (np.where(x > 0, g, g * slope),), "leaky_relu")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # exp of a non-positive number never overflows: two branches joined by where.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def sigmoid(a: Tensor) -> Tensor:
    """Return ``1 / (1 + exp(-a))``, computed without overflow."""
    out = _sigmoid(a.data)
    return record(out, (a,), lambda g: (g * out * (1 - out),), "sigmoid")


def tanh(a: Tensor) -> Tensor:
    """Return ``tanh(a)``."""
    out = np.tanh(a.data)
    return record(out, (a,), lambda g: (g * (1 - out * out),), "tanh")


def softplus(a: Tensor) -> Tensor:
    """Return ``log(1 + exp(a))``, computed without overflow."""
    x = a.data
    out = np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))
    return record(out, (a,), lambda g: (g * _sigmoid(x),), "softplus")


def _erf(x: np.ndarray) -> np.ndarray:
    try:  # SciPy's erf is vectorised; it is optional, so fall back to the exact math.erf.
        from scipy.special import erf

        return erf(x).astype(x.dtype, copy=False)  # type: ignore[no-any-return]
    except ImportError:  # pragma: no cover - exercised only without SciPy
        return np.vectorize(math.erf, otypes=[x.dtype])(x)  # type: ignore[no-any-return]


def gelu(a: Tensor, approximate: str = "none") -> Tensor:
    """Return ``a * Phi(a)`` (Hendrycks & Gimpel 2016); ``approximate="tanh"`` uses the tanh form."""
    x = a.data
    if approximate == "none":
        cdf = 0.5 * (1 + _erf(x / np.sqrt(2).astype(x.dtype)))
        pdf = np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
        out = x * cdf
        return record(out, (a,), lambda g: (g * (cdf + x * pdf),), "gelu")
    if approximate == "tanh":
        c = math.sqrt(2 / math.pi)
        inner = c * (x + 0.044715 * x**3)
        t = np.tanh(inner)
        out = 0.5 * x * (1 + t)

        def vjp(g: np.ndarray) -> tuple[np.ndarray]:
            dinner = c * (1 + 3 * 0.044715 * x * x)
            return (g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * dinner),)

        return record(out, (a,), vjp, "gelu")
    raise ValueError(f"gelu: `approximate` must be 'none' or 'tanh'; got approximate={approximate!r}.")
