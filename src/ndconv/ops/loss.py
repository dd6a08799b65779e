"""Loss primitives that need their own numerically stable VJP."""

from __future__ import annotations

import numpy as np

from ..autograd import Tensor, record
from .elementwise import _sigmoid

__all__ = ["bce_with_logits_elementwise"]


def bce_with_logits_elementwise(
    logits: Tensor, target: Tensor, pos_weight: np.ndarray | None = None
) -> Tensor:
    """Primitive: ``-(p*y*log(sigmoid(x)) + (1-y)*log(1-sigmoid(x)))`` per element, p = pos_weight.

    Computed as ``(1-y)*x + (1+(p-1)*y) * softplus(-x)`` with ``softplus(-x) = max(-x,0) +
    log1p(exp(-|x|))``, which never overflows; the gradient is exact at ``x = 0``.
    """
    x, y = logits.data, target.data
    p = np.ones((), x.dtype) if pos_weight is None else pos_weight.astype(x.dtype)
    lw = 1 + (p - 1) * y
    sp = np.maximum(-x, 0) + np.log1p(np.exp(-np.abs(x)))
    out = (1 - y) * x + lw * sp

    def vjp(g: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        s = _sigmoid(x)
        gx = g * ((1 - y) - lw * (1 - s))
        gy = g * (-x + (p - 1) * sp) if target.requires_grad else None
        return gx, gy

    return record(out, (logits, target), vjp, "bce_with_logits")
