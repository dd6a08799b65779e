"""Adam (Kingma & Ba, 2015) and AdamW (Loshchilov & Hutter, 2019), with PyTorch's formulas."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from ..autograd import no_grad
from .optimizer import Optimizer, _check_lr

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """Adaptive moment estimation, step for step as ``torch.optim.Adam``::

        g = grad + weight_decay * p               (L2 penalty; AdamW decays p instead)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2        (amsgrad: v_max = max(v_max, v), used below)
        p -= lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    State per parameter: ``step`` (int), ``exp_avg``, ``exp_avg_sq`` (and ``max_exp_avg_sq``).

    >>> import ndconv as nc
    >>> p = nc.tensor([1.0, -1.0], requires_grad=True)
    >>> opt = Adam([p], lr=0.1)
    >>> (p * p).sum().backward(); opt.step(); [round(v, 4) for v in p.tolist()]
    [0.9, -0.9]
    """

    _decoupled = False

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        maximize: bool = False,
    ) -> None:
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize)
        super().__init__(params, defaults)

    def _validate(self, group: dict[str, Any]) -> None:
        super()._validate(group)
        name = type(self).__name__
        _check_lr(group["eps"], "eps", name)
        _check_lr(group["weight_decay"], "weight_decay", name)
        betas = group["betas"]
        if len(betas) != 2 or not all(0.0 <= float(b) < 1.0 for b in betas):
            raise ValueError(f"{name}: `betas` must be two numbers in [0, 1); got betas={betas!r}.")
        group["betas"] = (float(betas[0]), float(betas[1]))

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Apply one update to every parameter that has a gradient; return ``closure()``."""
        loss = self._evaluate(closure)
        with no_grad():
            for group in self.param_groups:
                lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
                for p in self._params_with_grad(group):
                    g: Any = p.grad if not group["maximize"] else -p.grad  # type: ignore[operator]
                    state = self.state.setdefault(p, {})
                    if not state:
                        state["step"] = 0
                        state["exp_avg"] = np.zeros_like(p.data)
                        state["exp_avg_sq"] = np.zeros_like(p.data)
                        if group["amsgrad"]:
                            state["max_exp_avg_sq"] = np.zeros_like(p.data)
                    state["step"] += 1
                    t = state["step"]
                    if wd != 0:
                        if self._decoupled:
                            p.data *= p.dtype.type(1 - lr * wd)
                        else:
                            g = g + wd * p.data
                    m, v = state["exp_avg"], state["exp_avg_sq"]
                    m += (g - m) * p.dtype.type(1 - b1)  # PyTorch's lerp
                    v *= p.dtype.type(b2)
                    v += p.dtype.type(1 - b2) * g * g
                    step_size = lr / (1 - b1**t)
                    bc2_sqrt = math.sqrt(1 - b2**t)
                    if group["amsgrad"]:
                        np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
                        v = state["max_exp_avg_sq"]
                    denom = np.sqrt(v) / p.dtype.type(bc2_sqrt) + p.dtype.type(eps)
                    p.data -= (p.dtype.type(step_size) * (m / denom)).astype(p.dtype, copy=False)
        return loss


class AdamW(Adam):
    """Adam with decoupled weight decay: ``p *= 1 - lr * weight_decay`` before the Adam step.

    Defaults as PyTorch: ``weight_decay=0.01``.

    >>> import ndconv as nc
    >>> p = nc.tensor([1.0], requires_grad=True)
    >>> opt = AdamW([p], lr=0.1)
    >>> (p * p).sum().backward(); opt.step(); round(p.item(), 4)
    0.899
    """

    _decoupled = True

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize)
