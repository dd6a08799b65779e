"""Record what the layers of a model compute: activations captured by forward hooks.

>>> import ndconv as nc, ndconv.nn as nn
>>> net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten())
>>> acts = capture(net, np.zeros((2, 1, 6, 6), np.float32))
>>> {name: a.shape for name, a in acts.items()}
{'0': (2, 4, 4, 4), '1': (2, 4, 4, 4), '2': (2, 64)}
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..autograd import Tensor, no_grad
from ..nn.module import Module

__all__ = ["capture", "leaf_layers", "resolve_layers"]


def leaf_layers(model: Module) -> list[str]:
    """Return the dotted names of the modules of ``model`` that have no child modules.

    >>> import ndconv.nn as nn
    >>> leaf_layers(nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.ReLU(), nn.Linear(2, 1))))
    ['0', '1.0', '1.1']
    """
    if not isinstance(model, Module):
        raise TypeError(f"`model` must be an ndconv.nn.Module; got {type(model).__name__}.")
    return [name for name, m in model.named_modules() if not any(True for _ in m.children())]


def resolve_layers(model: Module, layers: str | Iterable[str] | None, op: str) -> dict[str, Module]:
    """Map dotted layer names (``None``: every leaf layer) to the modules of ``model``.

    Raises:
        ValueError: for a name that ``model.named_modules()`` does not yield, listing them.
    """
    if not isinstance(model, Module):
        raise TypeError(f"{op}: `model` must be an ndconv.nn.Module; got {type(model).__name__}.")
    named = dict(model.named_modules())
    if layers is None:
        names = leaf_layers(model)
    elif isinstance(layers, str):
        names = [layers]
    else:
        names = list(layers)
    unknown = [n for n in names if not isinstance(n, str) or n not in named]
    if unknown:
        known = ", ".join(repr(n) for n in named if n) or "(none)"
        raise ValueError(
            f"{op}: `layers` must name modules of the model (dotted names from named_modules()); "
            f"got unknown layers={unknown!r}; known: {known}."
        )
    return {n: named[n] for n in names}


def _as_array(out: Any) -> np.ndarray:
    if isinstance(out, Tensor):
        return out.data.copy()
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], Tensor):
        return out[0].data.copy()  # modules returning (values, indices): keep the values
    return np.array(out, copy=True)


def capture(model: Module, x: Any, layers: str | Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """Run ``model(x)`` once and return the outputs of the chosen layers.

    Forward hooks record each layer's output (a copy, as a NumPy array); they are removed
    afterwards even if the forward pass raises. Runs under :func:`~ndconv.no_grad` and in the
    model's current mode (call ``model.eval()`` first for inference behaviour). A layer that
    runs more than once in a forward pass keeps its last output.

    Args:
        model: any :class:`~ndconv.nn.Module`.
        x: the input, as ``model`` accepts it.
        layers: a dotted name, a list of them (from ``model.named_modules()``), or None for
            every leaf layer (a module with no children), in registration order.

    Returns:
        ``{name: activation}`` in the order of ``layers``; layers that did not run are absent.

    Raises:
        ValueError: for an unknown layer name (the message lists the known ones).
    """
    chosen = resolve_layers(model, layers, "capture")
    seen: dict[str, np.ndarray] = {}
    handles = []
    try:
        for name, module in chosen.items():
            def hook(m: Module, inputs: tuple[Any, ...], out: Any, name: str = name) -> None:
                seen[name] = _as_array(out)

            handles.append(module.register_forward_hook(hook))
        with no_grad():
            model(x if isinstance(x, Tensor) else Tensor(np.asarray(x)))
    finally:
        for h in handles:
            h.remove()
    return {n: seen[n] for n in chosen if n in seen}
