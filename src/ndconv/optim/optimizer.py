"""``Optimizer``: parameter groups, ``zero_grad``, and a state dict made of arrays and scalars.

Like PyTorch, an optimiser holds ``param_groups``: a list of dicts, each with ``"params"`` (a
list of tensors) and its own hyper-parameters (``"lr"``, ...), which schedulers change in
place. Per-parameter state (momentum buffers, Adam moments) lives in ``state[param]``.

``state_dict()`` refers to parameters by their index in the order they were given (across
groups) and holds only NumPy arrays and JSON-serialisable scalars, so a checkpoint can be
written as safetensors (the arrays) plus JSON (the rest); :func:`flatten_state` and
:func:`unflatten_state` do that split.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from ..autograd import Tensor, enable_grad

__all__ = ["Optimizer", "flatten_state", "unflatten_state"]


def _check_lr(value: Any, name: str, op: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not (
        math.isfinite(float(value)) and float(value) >= 0
    ):
        raise ValueError(f"{op}: `{name}` must be a finite number >= 0; got {name}={value!r}.")
    return float(value)


class Optimizer:
    """Base class: subclasses define ``defaults`` and ``step``.

    Args:
        params: an iterable of tensors, or of dicts ``{"params": [...], **hyper_parameters}``
            (per-group settings override the defaults).
        defaults: the hyper-parameters of every group that does not set its own.
    """

    defaults: dict[str, Any]
    param_groups: list[dict[str, Any]]
    state: dict[Tensor, dict[str, Any]]

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        name = type(self).__name__
        if isinstance(params, Tensor):
            raise TypeError(f"{name}: `params` must be an iterable of tensors or dicts; got a single Tensor.")
        self.defaults = dict(defaults)
        self.state = {}
        self.param_groups = []
        groups = list(params)
        if not groups:
            raise ValueError(f"{name}: got an empty parameter list.")
        if not isinstance(groups[0], Mapping):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    def add_param_group(self, group: Mapping[str, Any]) -> None:
        """Add a group ``{"params": [...], **overrides}`` (e.g. a new head while fine-tuning)."""
        name = type(self).__name__
        if not isinstance(group, Mapping) or "params" not in group:
            raise TypeError(f"{name}: a parameter group must be a dict with a 'params' key; got {group!r}.")
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: parameters must be Tensors; got {type(p).__name__}.")
            if id(p) in seen:
                raise ValueError(f"{name}: a parameter appears in more than one group (or twice).")
            seen.add(id(p))
        unknown = set(group) - set(self.defaults) - {"params"} - _SCHEDULER_KEYS
        if unknown:
            raise ValueError(
                f"{name}: unknown hyper-parameter(s) {sorted(unknown)} in a parameter group; "
                f"known: {sorted(self.defaults)}."
            )
        full = {**self.defaults, **{k: v for k, v in group.items() if k != "params"}}
        self._validate(full)
        full["params"] = params
        self.param_groups.append(full)

    def _validate(self, group: dict[str, Any]) -> None:
        """Check one group's hyper-parameters (subclasses extend)."""
        _check_lr(group["lr"], "lr", type(self).__name__)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of every parameter (to None, or to zeros)."""
        for g in self.param_groups:
            for p in g["params"]:
                if set_to_none or p.grad is None:
                    p.grad = None
                else:
                    p.grad[...] = 0

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        raise NotImplementedError

    @staticmethod
    def _evaluate(closure: Callable[[], Any] | None) -> Any:
        """Return ``closure()`` (it recomputes the loss), or None when there is no closure.

        The closure runs with gradients enabled, even when ``step`` is called under ``no_grad``,
        because it must build a graph to call ``backward`` on (as in PyTorch).
        """
        if closure is None:
            return None
        with enable_grad():
            return closure()

    def _params_with_grad(self, group: dict[str, Any]) -> Iterable[Tensor]:
        for p in group["params"]:
            if p.grad is not None and p.requires_grad:
                yield p

    # --- state ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Return ``{"state": {index: {name: array | scalar}}, "param_groups": [...]}``.

        Arrays are copies; hyper-parameters are plain Python scalars/lists; parameters are
        referred to by index.
        """
        index: dict[int, int] = {}
        groups = []
        for g in self.param_groups:
            ids = []
            for p in g["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            hyper = {k: _plain(v) for k, v in g.items() if k != "params"}
            groups.append({**hyper, "params": ids})
        state = {}
        for g in self.param_groups:
            for p in g["params"]:
                if p in self.state:
                    state[index[id(p)]] = {
                        k: (v.copy() if isinstance(v, np.ndarray) else _plain(v))
                        for k, v in self.state[p].items()
                    }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore from :meth:`state_dict` (keys may be ints or their strings, as after JSON).

        Raises:
            ValueError: if the groups or parameter counts or state shapes do not match; nothing
                is changed then.
        """
        name = type(self).__name__
        if not isinstance(state_dict, Mapping) or "param_groups" not in state_dict:
            raise ValueError(f"{name}.load_state_dict: expected a dict with 'state' and 'param_groups'.")
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(
                f"{name}.load_state_dict: the state dict has {len(groups)} parameter groups; this "
                f"optimizer has {len(self.param_groups)}."
            )
        params: dict[int, Tensor] = {}
        for i, (saved, mine) in enumerate(zip(groups, self.param_groups)):
            if len(saved["params"]) != len(mine["params"]):
                raise ValueError(
                    f"{name}.load_state_dict: group {i} has {len(saved['params'])} parameters in the "
                    f"state dict; this optimizer's has {len(mine['params'])}."
                )
            for idx, p in zip(saved["params"], mine["params"]):
                params[int(idx)] = p
        new_state: dict[Tensor, dict[str, Any]] = {}
        for key, entry in state_dict.get("state", {}).items():
            idx = int(key)
            if idx not in params:
                raise ValueError(f"{name}.load_state_dict: state for unknown parameter index {idx}.")
            p = params[idx]
            restored: dict[str, Any] = {}
            for k, v in entry.items():
                if isinstance(v, (np.ndarray, Tensor)) or hasattr(v, "shape"):
                    arr = np.array(v.data if isinstance(v, Tensor) else v)
                    if arr.ndim and arr.shape != p.shape:
                        raise ValueError(
                            f"{name}.load_state_dict: state {k!r} of parameter {idx}: expected shape "
                            f"{p.shape}, got shape {arr.shape}."
                        )
                    restored[k] = arr.astype(p.dtype) if arr.ndim else arr.item()
                else:
                    restored[k] = copy.deepcopy(v)
            new_state[p] = restored
        self.state = new_state
        for saved, mine in zip(groups, self.param_groups):
            for k, v in saved.items():
                if k != "params":
                    mine[k] = tuple(v) if isinstance(v, list) and isinstance(mine.get(k), tuple) else v

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(g):
                if k != "params":
                    lines.append(f"    {k}: {g[k]}")
        return "\n".join(lines) + "\n)"


# Keys a learning-rate scheduler may add to a group.
_SCHEDULER_KEYS = {"initial_lr", "max_lr", "min_lr", "max_momentum", "base_momentum"}


def _plain(v: Any) -> Any:
    """Turn NumPy scalars and tuples into JSON-friendly Python values."""
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


def flatten_state(state_dict: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Split an optimizer state dict into ``{"state.<idx>.<name>": array}`` and a JSON-able rest.

    >>> arrays, meta = flatten_state({"state": {0: {"step": 3, "exp_avg": np.zeros(2)}},
    ...                               "param_groups": [{"lr": 0.1, "params": [0]}]})
    >>> sorted(arrays), meta["state"]
    (['state.0.exp_avg'], {'0': {'step': 3}})
    """
    arrays: dict[str, np.ndarray] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, entry in state_dict["state"].items():
        for k, v in entry.items():
            if isinstance(v, np.ndarray):
                arrays[f"state.{idx}.{k}"] = v
            else:
                scalars.setdefault(str(idx), {})[k] = v
    return arrays, {"state": scalars, "param_groups": state_dict["param_groups"]}


def unflatten_state(arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> dict[str, Any]:
    """Inverse of :func:`flatten_state`."""
    state: dict[int, dict[str, Any]] = {int(i): dict(e) for i, e in meta["state"].items()}
    for key, arr in arrays.items():
        _, idx, name = key.split(".", 2)
        state.setdefault(int(idx), {})[name] = np.asarray(arr)
    return {"state": state, "param_groups": meta["param_groups"]}
