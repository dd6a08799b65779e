"""Learning-rate schedules with PyTorch's formulas: ``StepLR``, ``CosineAnnealingLR``, ``OneCycleLR``.

Call ``scheduler.step()`` after ``optimizer.step()`` (per epoch for StepLR/Cosine, per batch
for OneCycle). Creating a scheduler performs the first step (epoch 0), as in PyTorch.
StepLR and CosineAnnealingLR use PyTorch's recursive ("chainable") update, so they also agree
with it when another scheduler or the user changes ``group["lr"]``.
"""

from __future__ import annotations

import math
from typing import Any

from ._validate import check_number, check_positive_int
from .optimizer import Optimizer

__all__ = ["LRScheduler", "StepLR", "CosineAnnealingLR", "OneCycleLR"]


class LRScheduler:
    """Base class: subclasses define ``get_lr()`` from ``last_epoch`` and the groups' ``lr``."""

    optimizer: Optimizer
    base_lrs: list[float]
    last_epoch: int

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        name = type(self).__name__
        if not isinstance(optimizer, Optimizer):
            raise TypeError(
                f"{name}: `optimizer` must be an ndconv Optimizer; got {type(optimizer).__name__}."
            )
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(
                        f"{name}: resuming with last_epoch={last_epoch} needs 'initial_lr' in "
                        f"param_groups[{i}] (load the optimizer state first)."
                    )
        self.base_lrs = [g["initial_lr"] for g in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self._initial = True
        self.step()
        self._initial = False

    def get_lr(self) -> list[float]:
        raise NotImplementedError

    def step(self) -> None:
        """Advance one epoch (or batch) and write the new learning rates into the groups."""
        self._step_count += 1
        self.last_epoch += 1
        lrs = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, lrs):
            group["lr"] = lr
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """Return the learning rates set by the last :meth:`step`."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """Return every attribute but the optimizer (JSON-serialisable)."""
        return {k: (list(v) if isinstance(v, list) else v) for k, v in self.__dict__.items()
                if k != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.__dict__.update(state_dict)


class StepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs.

    ``lr(epoch) = base_lr * gamma ** (epoch // step_size)``

    >>> import ndconv as nc
    >>> from ndconv.optim import SGD
    >>> opt = SGD([nc.zeros(1, requires_grad=True)], lr=1.0)
    >>> s = StepLR(opt, step_size=2, gamma=0.5)
    >>> lrs = []
    >>> for _ in range(5):
    ...     lrs.append(opt.param_groups[0]["lr"]); opt.step(); s.step()
    >>> lrs
    [1.0, 1.0, 0.5, 0.5, 0.25]
    """

    def __init__(
        self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1
    ) -> None:
        self.step_size = check_positive_int(step_size, "step_size", "StepLR")
        self.gamma = check_number(gamma, "gamma", "StepLR", 0.0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        groups = self.optimizer.param_groups
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return [g["lr"] for g in groups]
        return [g["lr"] * self.gamma for g in groups]


class CosineAnnealingLR(LRScheduler):
    """Anneal along half a cosine from ``base_lr`` to ``eta_min`` over ``T_max`` epochs.

    ``lr(t) = eta_min + (base_lr - eta_min) * (1 + cos(pi * t / T_max)) / 2`` (SGDR,
    Loshchilov & Hutter 2017, without restarts); past ``T_max`` it rises again, as PyTorch's.

    >>> import ndconv as nc
    >>> from ndconv.optim import SGD
    >>> opt = SGD([nc.zeros(1, requires_grad=True)], lr=1.0)
    >>> s = CosineAnnealingLR(opt, T_max=2)
    >>> s.step(); round(opt.param_groups[0]["lr"], 6)
    0.5
    """

    def __init__(
        self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1
    ) -> None:
        self.T_max = check_positive_int(T_max, "T_max", "CosineAnnealingLR")
        self.eta_min = check_number(eta_min, "eta_min", "CosineAnnealingLR", 0.0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        groups, t, T, lo = self.optimizer.param_groups, self.last_epoch, self.T_max, self.eta_min
        if self._initial:
            return [g["lr"] for g in groups]
        if self._step_count == 1 and t > 0:
            return [lo + (b - lo) * (1 + math.cos(t * math.pi / T)) / 2 for b in self.base_lrs]
        if (t - 1 - T) % (2 * T) == 0:
            return [g["lr"] + (b - lo) * (1 - math.cos(math.pi / T)) / 2
                    for b, g in zip(self.base_lrs, groups)]
        return [
            (1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T)) * (g["lr"] - lo) + lo
            for g in groups
        ]


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith & Topin, 2017): warm up to ``max_lr``, then anneal far below.

    Per batch: from ``max_lr / div_factor`` up to ``max_lr`` over the first ``pct_start`` of
    ``total_steps`` (or ``epochs * steps_per_epoch``), then down to
    ``max_lr / div_factor / final_div_factor``; cosine (or linear) interpolation
    ``end + (start - end) / 2 * (1 + cos(pi * pct))``. With ``cycle_momentum`` the momentum
    (SGD) or beta1 (Adam) moves inversely between ``max_momentum`` and ``base_momentum``.
    ``three_phase`` returns to the initial rate before the final anneal. Same phases and
    boundaries as PyTorch.

    >>> import ndconv as nc
    >>> from ndconv.optim import SGD
    >>> opt = SGD([nc.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
    >>> s = OneCycleLR(opt, max_lr=1.0, total_steps=10)
    >>> round(opt.param_groups[0]["lr"], 6)
    0.04
    """

    def __init__(
        self,
        optimizer: Optimizer,
        max_lr: float | list[float],
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        cycle_momentum: bool = True,
        base_momentum: float | list[float] = 0.85,
        max_momentum: float | list[float] = 0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
        last_epoch: int = -1,
    ) -> None:
        name = "OneCycleLR"
        if not isinstance(optimizer, Optimizer):
            raise TypeError(
                f"{name}: `optimizer` must be an ndconv Optimizer; got {type(optimizer).__name__}."
            )
        if total_steps is not None:
            self.total_steps = check_positive_int(total_steps, "total_steps", name)
        elif epochs is not None and steps_per_epoch is not None:
            self.total_steps = check_positive_int(epochs, "epochs", name) * check_positive_int(
                steps_per_epoch, "steps_per_epoch", name)
        else:
            raise ValueError(f"{name}: give `total_steps`, or both `epochs` and `steps_per_epoch`.")
        pct = check_number(pct_start, "pct_start", name, 0.0, 1.0)
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"{name}: `anneal_strategy` must be 'cos' or 'linear'; got {anneal_strategy!r}.")
        self.anneal_strategy = anneal_strategy
        n = self.total_steps
        self._phases: list[list[Any]]
        if three_phase:
            self._phases = [
                [float(pct * n) - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"],
                [float(2 * pct * n) - 2, "max_lr", "initial_lr", "base_momentum", "max_momentum"],
                [n - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum"],
            ]
        else:
            self._phases = [
                [float(pct * n) - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"],
                [n - 1, "max_lr", "min_lr", "base_momentum", "max_momentum"],
            ]
        groups = optimizer.param_groups
        max_lrs = _per_group(max_lr, "max_lr", len(groups))
        if last_epoch == -1:
            for m, g in zip(max_lrs, groups):
                g["initial_lr"] = m / div_factor
                g["max_lr"] = m
                g["min_lr"] = g["initial_lr"] / final_div_factor
        self.cycle_momentum = bool(cycle_momentum)
        if self.cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError(f"{name}: `cycle_momentum` needs an optimizer with momentum or betas.")
            self.use_beta1 = "betas" in optimizer.defaults
            maxs = _per_group(max_momentum, "max_momentum", len(groups))
            bases = _per_group(base_momentum, "base_momentum", len(groups))
            if last_epoch == -1:
                for mm, bm, g in zip(maxs, bases, groups):
                    if self.use_beta1:
                        g["betas"] = (mm, *g["betas"][1:])
                    else:
                        g["momentum"] = mm
                    g["max_momentum"], g["base_momentum"] = mm, bm
        super().__init__(optimizer, last_epoch)

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self) -> list[float]:
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(
                f"OneCycleLR: stepped {step} times; the schedule has total_steps={self.total_steps}."
            )
        lrs = []
        for g in self.optimizer.param_groups:
            start = 0.0
            for i, phase in enumerate(self._phases):
                end, lr0, lr1, m0, m1 = phase  # type: ignore[misc]
                if step <= end or i == len(self._phases) - 1:
                    pct = (step - start) / (end - start)
                    lr = self._anneal(g[lr0], g[lr1], pct)
                    mom = self._anneal(g[m0], g[m1], pct) if self.cycle_momentum else 0.0
                    break
                start = end
            lrs.append(lr)
            if self.cycle_momentum:
                if self.use_beta1:
                    g["betas"] = (mom, *g["betas"][1:])
                else:
                    g["momentum"] = mom
        return lrs


def _per_group(value: Any, name: str, n: int) -> list[float]:
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"OneCycleLR: `{name}` must have one value per group ({n}); got {value!r}.")
        return [float(v) for v in value]
    return [float(value)] * n
