"""Adversarial examples: the fast gradient sign method and projected gradient descent.

Both attacks move an input ``x`` along the gradient of the cross-entropy loss with respect to
the *input* (not the weights), computed by ndconv's own autograd, to raise the loss of the
true label (untargeted) or lower the loss of a chosen label (targeted), while staying inside
a small ball around ``x`` and inside the valid pixel range:

- FGSM (Goodfellow, Shlens & Szegedy, 2015): one step, ``x' = clip(x + eps * sign(grad))``.
- PGD (Madry et al., 2018): ``steps`` steps of size ``alpha``, each followed by a projection
  back onto the L-inf or L2 ball of radius ``eps`` around ``x`` and onto the valid range.

The model runs in evaluation mode with its parameters frozen (no weight gradients are
accumulated); both are restored afterwards.

>>> import ndconv as nc, ndconv.nn as nn
>>> nc.manual_seed(0)
>>> net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
>>> x = np.random.default_rng(0).random((5, 1, 8, 8), dtype=np.float32)
>>> y = np.array([0, 1, 2, 0, 1])
>>> x_adv = fgsm(net, x, y, eps=0.1)
>>> x_adv.shape, bool(np.abs(x_adv - x).max() <= 0.1 + 1e-6)
((5, 1, 8, 8), True)
"""

from __future__ import annotations

import contextlib
import math
import numbers
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from .autograd import Tensor, enable_grad, no_grad
from .nn import functional as F
from .nn.module import Module

__all__ = ["fgsm", "pgd", "robust_accuracy", "input_gradient", "frozen_eval"]


@contextlib.contextmanager
def frozen_eval(model: Module) -> Iterator[Module]:
    """Put ``model`` in eval mode with every parameter frozen; restore both on exit.

    Inside the block, backpropagating to an input leaves the weights' ``.grad`` untouched and
    skips their gradients. Used by the attacks, saliency maps and feature visualisation.

    >>> import ndconv.nn as nn
    >>> lin = nn.Linear(2, 2)
    >>> with frozen_eval(lin):
    ...     lin.training, lin.weight.requires_grad
    (False, False)
    >>> lin.training, lin.weight.requires_grad
    (True, True)
    """
    if not isinstance(model, Module):
        raise TypeError(f"`model` must be an ndconv.nn.Module; got {type(model).__name__}.")
    modes = [(m, m.training) for m in model.modules()]
    flags = [(p, p.requires_grad) for p in model.parameters()]
    model.eval()
    for p, _ in flags:
        p.requires_grad = False
    try:
        yield model
    finally:
        for m, mode in modes:
            object.__setattr__(m, "training", mode)
        for p, flag in flags:
            p.requires_grad = flag


def _float_input(x: Any, name: str, op: str) -> np.ndarray:
    arr = np.asarray(x.data if isinstance(x, Tensor) else x)
    if arr.dtype.kind != "f":
        raise TypeError(f"{op}: `{name}` must be a floating-point array; got dtype={arr.dtype}.")
    if arr.ndim < 2:
        raise ValueError(f"{op}: `{name}` must be a batch (N, ...); got {name}.shape={arr.shape}.")
    return arr


def _labels(y: Any, n: int, name: str, op: str) -> np.ndarray:
    arr = np.asarray(y.data if isinstance(y, Tensor) else y)
    if arr.ndim == 0:
        arr = np.full(n, arr)
    if arr.dtype.kind not in "iu" or arr.shape != (n,):
        raise ValueError(
            f"{op}: `{name}` must be {n} integer class labels, one per example; got "
            f"{name} with shape={arr.shape}, dtype={arr.dtype}."
        )
    return arr.astype(np.int64)


def _check_eps(eps: Any, op: str) -> float:
    if not isinstance(eps, numbers.Real) or isinstance(eps, bool) or not (0 <= float(eps) < math.inf):
        raise ValueError(f"{op}: `eps` must be a finite number >= 0; got eps={eps!r}.")
    return float(eps)


def _check_clip(clip: Any, op: str) -> tuple[float, float] | None:
    if clip is None:
        return None
    try:
        lo, hi = (float(v) for v in clip)
    except (TypeError, ValueError):
        raise ValueError(f"{op}: `clip` must be None or a pair (lo, hi); got clip={clip!r}.") from None
    if not lo < hi:
        raise ValueError(f"{op}: `clip` must have lo < hi; got clip={clip!r}.")
    return lo, hi


def _check_norm(norm: Any, op: str) -> str:
    key = str(norm).lower()
    if key in ("inf", "linf"):
        return "inf"
    if key in ("2", "l2", "2.0"):
        return "2"
    raise ValueError(f"{op}: `norm` must be 'inf' or '2'; got norm={norm!r}.")


def input_gradient(model: Module, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """Return each example's cross-entropy loss and its gradient with respect to ``x``.

    The loss is summed over the batch, so each example's gradient is its own loss's
    gradient (examples do not interact in eval mode). The caller chooses the model's mode.

    Args:
        model: maps ``(N, ...)`` inputs to logits ``(N, num_classes)``.
        x: inputs ``(N, ...)``, floating point.
        y: integer labels ``(N,)``.

    Returns:
        ``(loss, grad)``: per-example losses ``(N,)`` and ``d loss / d x`` of ``x``'s shape.

    >>> import ndconv.nn as nn
    >>> loss, g = input_gradient(nn.Linear(3, 2), np.ones((4, 3), np.float32), np.zeros(4, int))
    >>> loss.shape, g.shape
    ((4,), (4, 3))
    """
    arr = _float_input(x, "x", "input_gradient")
    labels = _labels(y, arr.shape[0], "y", "input_gradient")
    loss, grad, _ = _loss_grad_pred(model, arr, labels)
    return loss, grad


def _loss_grad_pred(model: Module, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-example losses, their input gradient, and the predicted classes, in one pass."""
    xt = Tensor(x.copy(), requires_grad=True)
    with enable_grad():
        logits = model(xt)
        losses = F.cross_entropy(logits, y, reduction="none")
        losses.sum().backward()
    grad = xt.grad if xt.grad is not None else np.zeros_like(x)
    return losses.data.copy(), grad, np.argmax(logits.data, axis=1)


def _project(delta: np.ndarray, eps: float, norm: str) -> np.ndarray:
    """Project each example's perturbation onto the norm ball of radius ``eps``."""
    if norm == "inf":
        return np.clip(delta, -eps, eps)
    flat = delta.reshape(len(delta), -1)
    lengths = np.linalg.norm(flat, axis=1)
    factor = np.minimum(1.0, eps / np.maximum(lengths, 1e-12))
    return (flat * factor[:, None]).reshape(delta.shape).astype(delta.dtype)


def _unit(g: np.ndarray) -> np.ndarray:
    flat = g.reshape(len(g), -1)
    lengths = np.maximum(np.linalg.norm(flat, axis=1), 1e-12)
    return (flat / lengths[:, None]).reshape(g.shape).astype(g.dtype)


def fgsm(
    model: Module,
    x: Any,
    y: Any,
    eps: float,
    clip: tuple[float, float] | None = (0.0, 1.0),
    targeted: bool = False,
) -> np.ndarray:
    """Perturb ``x`` by one signed-gradient step of size ``eps`` (fast gradient sign method).

    Untargeted: ``x' = x + eps * sign(d loss(x, y) / dx)``; targeted (``y`` = the labels to
    reach): ``x' = x - eps * sign(d loss(x, y) / dx)``. Then ``x'`` is clipped to ``clip``.

    Args:
        model: a classifier returning logits ``(N, num_classes)``; run in eval mode.
        x: inputs ``(N, ...)``, floating point (returned in the same dtype).
        y: true labels ``(N,)`` (untargeted) or target labels (targeted); an int is broadcast.
        eps: the L-inf radius, ``>= 0``.
        clip: the valid value range ``(lo, hi)``, or None for no clipping.
        targeted: move towards ``y`` instead of away from it.

    Returns:
        The adversarial inputs, ``x``'s shape and dtype; ``max|x' - x| <= eps``.

    Raises:
        ValueError, TypeError: on a bad argument, naming it and the value received.
    """
    op = "fgsm"
    arr = _float_input(x, "x", op)
    eps = _check_eps(eps, op)
    bounds = _check_clip(clip, op)
    labels = _labels(y, arr.shape[0], "y", op)
    with frozen_eval(model):
        _, g = input_gradient(model, arr, labels)
    direction = -np.sign(g) if targeted else np.sign(g)
    out = arr + arr.dtype.type(eps) * direction
    if bounds is not None:
        out = np.clip(out, *bounds)
    return out.astype(arr.dtype, copy=False)


def pgd(
    model: Module,
    x: Any,
    y: Any,
    eps: float,
    alpha: float | None = None,
    steps: int = 20,
    norm: str = "inf",
    random_start: bool = True,
    targeted: bool = False,
    clip: tuple[float, float] | None = (0.0, 1.0),
    seed: int | None = None,
    early_stop: bool = False,
) -> np.ndarray:
    """Perturb ``x`` by projected gradient ascent on the loss (Madry et al., 2018).

    Each step moves ``alpha`` along ``sign(grad)`` (``norm="inf"``) or ``grad / ||grad||_2``
    (``norm="2"``) -- against the gradient when ``targeted`` -- then projects back onto the
    ``eps``-ball around ``x`` and onto ``clip``. With ``random_start`` the walk starts at a
    uniformly random point of the L-inf ball, or at a random direction with a uniformly random
    length ``<= eps`` for L2. Each example keeps the iterate with the highest loss
    (untargeted) or the lowest loss of the target (targeted) seen along the walk, so more
    steps never make the attack weaker. With ``early_stop`` an example leaves the walk at the
    first iterate that fools the model (misclassified; or classified as ``y`` when targeted),
    and that iterate is returned -- the same verdict for accuracy, in far fewer gradients.

    Args:
        model: a classifier returning logits ``(N, num_classes)``; run in eval mode.
        x: inputs ``(N, ...)``, floating point (returned in the same dtype).
        y: true labels ``(N,)`` (untargeted) or target labels (targeted); an int is broadcast.
        eps: the radius of the ball, ``>= 0``.
        alpha: the step size; default ``2.5 * eps / steps`` (Madry et al.).
        steps: the number of gradient steps, ``>= 1``.
        norm: ``"inf"`` or ``"2"`` (per example, over all of its values).
        random_start: start from a random point of the ball instead of ``x``.
        targeted: move towards ``y`` instead of away from it.
        clip: the valid value range ``(lo, hi)``, or None.
        seed: seeds the random start.
        early_stop: stop attacking an example as soon as it fools the model.

    Returns:
        The adversarial inputs, ``x``'s shape and dtype, within ``eps`` of ``x`` in the chosen
        norm (up to float rounding) and inside ``clip``.

    Raises:
        ValueError, TypeError: on a bad argument, naming it and the value received.

    >>> import ndconv.nn as nn
    >>> x = np.full((2, 4), 0.5, np.float32)
    >>> x_adv = pgd(nn.Linear(4, 3), x, [0, 1], eps=0.2, norm="2", steps=3, seed=0)
    >>> bool(np.all(np.linalg.norm(x_adv - x, axis=1) <= 0.2 + 1e-6))
    True
    """
    op = "pgd"
    arr = _float_input(x, "x", op)
    eps = _check_eps(eps, op)
    bounds = _check_clip(clip, op)
    norm = _check_norm(norm, op)
    labels = _labels(y, arr.shape[0], "y", op)
    if not isinstance(steps, numbers.Integral) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"{op}: `steps` must be an int >= 1; got steps={steps!r}.")
    if alpha is None:
        alpha = 2.5 * eps / steps
    elif not isinstance(alpha, numbers.Real) or isinstance(alpha, bool) or not 0 <= alpha < math.inf:
        raise ValueError(f"{op}: `alpha` must be a finite number >= 0 or None; got alpha={alpha!r}.")
    dt = arr.dtype.type
    rng = np.random.default_rng(seed)
    n = arr.shape[0]
    delta = np.zeros_like(arr)
    if random_start and eps > 0:
        if norm == "inf":
            delta = rng.uniform(-eps, eps, arr.shape).astype(arr.dtype)
        else:
            radius = eps * rng.uniform(0, 1, n)
            delta = _unit(rng.standard_normal(arr.shape).astype(arr.dtype))
            delta *= radius.reshape((n,) + (1,) * (arr.ndim - 1)).astype(arr.dtype)
    x_adv = arr + delta if bounds is None else np.clip(arr + delta, *bounds)
    sign = -1.0 if targeted else 1.0
    best, best_score = x_adv.copy(), np.full(n, -np.inf)
    active = np.arange(n)  # the examples still being attacked
    with frozen_eval(model):
        for step in range(steps + 1):
            xa, x0, ya = x_adv[active], arr[active], labels[active]
            loss, g, pred = _loss_grad_pred(model, xa, ya)
            score = sign * loss.astype(np.float64)
            fooled = pred == ya if targeted else pred != ya
            if early_stop:
                score[fooled] = np.inf  # a fooling iterate beats every later one
            better = score > best_score[active]
            best[active[better]], best_score[active[better]] = xa[better], score[better]
            if early_stop:
                keep = ~fooled
                active, xa, x0, g = active[keep], xa[keep], x0[keep], g[keep]
            if step == steps or len(active) == 0:
                break
            move = np.sign(g) if norm == "inf" else _unit(g)
            delta = _project(xa + dt(sign * alpha) * move - x0, eps, norm)
            x_adv[active] = x0 + delta if bounds is None else np.clip(x0 + delta, *bounds)
    return best.astype(arr.dtype, copy=False)


def robust_accuracy(
    model: Module,
    x: Any,
    y: Any,
    eps_list: Sequence[float],
    attack: str = "fgsm",
    batch_size: int = 256,
    **kw: Any,
) -> dict[float, float]:
    """Return the accuracy of ``model`` on ``attack``-perturbed inputs, for each ``eps``.

    ``eps = 0`` gives the clean accuracy. Examples are attacked ``batch_size`` at a time.

    Args:
        model: a classifier returning logits ``(N, num_classes)``.
        x: inputs ``(N, ...)``; y: labels ``(N,)``.
        eps_list: the radii to try.
        attack: ``"fgsm"`` or ``"pgd"``.
        batch_size: examples per attack batch, ``>= 1``.
        **kw: passed to the attack (e.g. ``steps``, ``norm``, ``clip``, ``seed``); PGD runs
            with ``early_stop=True`` unless told otherwise (the accuracy is the same: an
            example counts as broken once any iterate fools the model).

    Returns:
        ``{eps: accuracy}`` with accuracies in ``[0, 1]``.

    >>> import ndconv as nc, ndconv.nn as nn
    >>> nc.manual_seed(0)
    >>> x = np.random.default_rng(1).random((6, 4), dtype=np.float32)
    >>> acc = robust_accuracy(nn.Linear(4, 2), x, np.zeros(6, int), [0.0, 0.5], attack="pgd", steps=2)
    >>> sorted(acc), acc[0.5] <= acc[0.0]
    ([0.0, 0.5], True)
    """
    op = "robust_accuracy"
    attacks = {"fgsm": fgsm, "pgd": pgd}
    if attack not in attacks:
        raise ValueError(f"{op}: `attack` must be 'fgsm' or 'pgd'; got attack={attack!r}.")
    if not isinstance(batch_size, numbers.Integral) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"{op}: `batch_size` must be an int >= 1; got batch_size={batch_size!r}.")
    arr = _float_input(x, "x", op)
    labels = _labels(y, arr.shape[0], "y", op)
    eps_values = [_check_eps(e, op) for e in eps_list]
    if kw.get("targeted"):
        raise ValueError(f"{op}: accuracy is measured against untargeted attacks; got targeted=True.")
    fn: Any = attacks[attack]
    if attack == "pgd":
        kw.setdefault("early_stop", True)
    result: dict[float, float] = {}
    with frozen_eval(model):
        for eps in eps_values:
            correct = 0
            for i in range(0, len(arr), batch_size):
                xb, yb = arr[i:i + batch_size], labels[i:i + batch_size]
                xa = xb if eps == 0 else fn(model, xb, yb, eps, **kw)
                with no_grad():
                    pred = np.argmax(model(Tensor(xa)).data, axis=1)
                correct += int(np.sum(pred == yb))
            result[eps] = correct / len(arr)
    return result
