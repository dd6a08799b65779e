"""Stochastic gradient descent with momentum, dampening, Nesterov and L2 weight decay."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ..autograd import no_grad
from .optimizer import Optimizer, _check_lr

__all__ = ["SGD"]


class SGD(Optimizer):
    """Update ``p -= lr * d`` with PyTorch's exact rule (Sutskever et al. momentum form)::

        g = grad + weight_decay * p                  (L2 penalty, if weight_decay)
        buf = g            (first step)
        buf = momentum * buf + (1 - dampening) * g   (later steps)
        d = g + momentum * buf  (nesterov)   or   d = buf   (or g if momentum == 0)

    ``maximize=True`` ascends instead. The momentum buffer is ``state[p]["momentum_buffer"]``.

    >>> import ndconv as nc
    >>> p = nc.tensor([1.0, 2.0], requires_grad=True)
    >>> opt = SGD([p], lr=0.1)
    >>> (p * p).sum().backward(); opt.step(); p.tolist()
    [0.800000011920929, 1.600000023841858]
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        maximize: bool = False,
    ) -> None:
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _validate(self, group: dict[str, Any]) -> None:
        super()._validate(group)
        for k in ("momentum", "dampening", "weight_decay"):
            _check_lr(group[k], k, "SGD")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                f"SGD: `nesterov=True` needs momentum > 0 and dampening = 0; got "
                f"momentum={group['momentum']}, dampening={group['dampening']}."
            )

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Apply one update to every parameter that has a gradient; return ``closure()``."""
        loss = self._evaluate(closure)
        with no_grad():
            for group in self.param_groups:
                lr, mom, damp = group["lr"], group["momentum"], group["dampening"]
                wd, nesterov = group["weight_decay"], group["nesterov"]
                for p in self._params_with_grad(group):
                    g: Any = p.grad if not group["maximize"] else -p.grad  # type: ignore[operator]
                    if wd != 0:
                        g = g + wd * p.data
                    if mom != 0:
                        state = self.state.setdefault(p, {})
                        buf = state.get("momentum_buffer")
                        if buf is None:
                            buf = state["momentum_buffer"] = g.astype(p.dtype, copy=True)
                        else:
                            buf *= mom
                            buf += g if damp == 0 else (1 - damp) * g  # (1 - 0) * g is g exactly
                        g = g + mom * buf if nesterov else buf
                    p.data -= lr * g if g.dtype == p.dtype else (lr * g).astype(p.dtype)
        return loss
