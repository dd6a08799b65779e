"""Training checkpoints: model, optimizer, scheduler, counters, RNG state -- one safetensors file.

Layout of the file:

- tensors ``model.<name>``: the model's ``state_dict()``;
- tensors ``optim.<path>``, ``sched.<path>``, ``extra.<path>``: every NumPy array found
  inside the optimizer's / scheduler's state dict and the other state (momentum buffers,
  Adam moments, ...), ``<path>`` being its place in the nested dicts and lists;
- metadata ``ndconv.checkpoint``: a JSON document with everything else (epoch, step,
  learning rates, RNG states, metric history), in which each array is replaced by a
  reference ``{"__array__": "<tensor name>"}``.

Nothing is pickled, and the file is written atomically, so a crash (even SIGKILL) while saving
leaves the previous checkpoint intact.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ndconv.io.weights import (
    KIND_KEY,
    WeightsFileError,
    decode_metadata,
    read_safetensors,
    state_dict_of,
    write_safetensors,
)

__all__ = ["Checkpoint", "save_checkpoint", "load_checkpoint", "read_checkpoint",
           "check_state_dict"]

STATE_KEY = "ndconv.checkpoint"
FORMAT_VERSION = 1
_SECTIONS = {"optimizer": "optim", "scheduler": "sched", "rng_state": "extra.rng",
             "history": "extra.history", "extra": "extra.extra"}


# --- nested state <-> (JSON document, tensors) ------------------------------------------
def _encode(obj: Any, name: str, tensors: dict[str, np.ndarray], owner: str) -> Any:
    if isinstance(obj, np.ndarray) or isinstance(obj, np.generic):
        key, n = name, 1
        while key in tensors:  # "a.b" and {"a": {"b": ...}} would otherwise collide
            key, n = f"{name}#{n}", n + 1
        tensors[key] = np.asarray(obj)
        return {"__array__" if isinstance(obj, np.ndarray) else "__scalar__": key}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, Mapping):
        if all(isinstance(k, str) and not k.startswith("__") for k in obj):
            return {k: _encode(v, f"{name}.{k}", tensors, owner) for k, v in obj.items()}
        # int (or other non-str) keys, e.g. PyTorch-style optimizer state {param_index: ...}
        return {"__dict__": [[_encode(k, f"{name}.key", {}, owner),
                              _encode(v, f"{name}.{k}", tensors, owner)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, f"{name}.{i}", tensors, owner) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_encode(v, f"{name}.{i}", tensors, owner) for i, v in enumerate(obj)]
    data = getattr(obj, "data", None)  # an ndconv Tensor: store its array
    if isinstance(data, np.ndarray):
        return _encode(data, name, tensors, owner)
    raise TypeError(
        f"{owner}: cannot store a {type(obj).__name__} at '{name}'; checkpoint state must be "
        "made of NumPy arrays, dicts, lists, tuples, str, int, float, bool and None."
    )


def _decode(doc: Any, tensors: Mapping[str, np.ndarray]) -> Any:
    if isinstance(doc, list):
        return [_decode(v, tensors) for v in doc]
    if not isinstance(doc, dict):
        return doc
    if len(doc) == 1:
        (tag, value), = doc.items()
        if tag == "__array__":
            return np.array(tensors[value])
        if tag == "__scalar__":
            return np.asarray(tensors[value])[()]
        if tag == "__tuple__":
            return tuple(_decode(v, tensors) for v in value)
        if tag == "__dict__":
            return {_hashable(_decode(k, tensors)): _decode(v, tensors) for k, v in value}
    return {k: _decode(v, tensors) for k, v in doc.items()}


def _hashable(key: Any) -> Any:
    return tuple(_hashable(k) for k in key) if isinstance(key, (list, tuple)) else key


# --- the checkpoint ----------------------------------------------------------------------
@dataclass
class Checkpoint:
    """The contents of a checkpoint file, as read by :func:`read_checkpoint`."""

    path: Path
    model_state: OrderedDict[str, np.ndarray]
    epoch: int = 0
    step: int = 0
    optimizer_state: Any = None
    scheduler_state: Any = None
    rng_state: Any = None
    history: Any = None
    extra: Any = None
    metadata: dict[str, Any] = field(default_factory=dict)


def save_checkpoint(
    path: str | os.PathLike[str],
    model: Any,
    optimizer: Any = None,
    scheduler: Any = None,
    epoch: int = 0,
    step: int = 0,
    rng_state: Any = None,
    history: Any = None,
    extra: Any = None,
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Write a training checkpoint to one safetensors file, atomically.

    Args:
        path: destination, conventionally ``checkpoint.safetensors``.
        model: a Module (or a state dict).
        optimizer, scheduler: objects with ``state_dict()``, or None.
        epoch: number of completed epochs. step: number of optimizer steps taken.
        rng_state, history, extra: nested dicts/lists of JSON scalars and NumPy arrays.
        metadata: JSON-serialisable values shown in the header as they are (e.g. model name).

    Returns:
        The destination as a `Path`.

    Raises:
        TypeError: some state holds an object that is neither an array nor JSON-able.

    Examples:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "checkpoint.safetensors"
        >>> _ = save_checkpoint(p, {"w": np.zeros(3, np.float32)}, epoch=2, step=10,
        ...                     history={"loss": [0.5, 0.25]})
        >>> ck = read_checkpoint(p)
        >>> ck.epoch, ck.step, ck.history, ck.model_state["w"].shape
        (2, 10, {'loss': [0.5, 0.25]}, (3,))
    """
    owner = "save_checkpoint"
    tensors: dict[str, np.ndarray] = {
        f"model.{k}": v for k, v in state_dict_of(model, owner).items()
    }
    doc: dict[str, Any] = {"format": FORMAT_VERSION, "epoch": int(epoch), "step": int(step),
                           "model_class": type(model).__name__}
    states = {"optimizer": optimizer.state_dict() if optimizer is not None else None,
              "scheduler": scheduler.state_dict() if scheduler is not None else None,
              "rng_state": rng_state, "history": history, "extra": extra}
    for section, value in states.items():
        doc[section] = _encode(value, _SECTIONS[section], tensors, owner)
    meta: dict[str, str] = {}
    for key, value in (metadata or {}).items():
        meta[str(key)] = json.dumps(value)
    meta.update({KIND_KEY: "checkpoint", STATE_KEY: json.dumps(doc), "epoch": str(int(epoch)),
                 "step": str(int(step))})
    return write_safetensors(path, tensors, meta)


def read_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read a checkpoint file without applying it to anything.

    Raises:
        FileNotFoundError: no file at `path`.
        WeightsFileError: the file is truncated or corrupt, or is not an ndconv checkpoint.
    """
    owner = "load_checkpoint"
    tensors, raw = read_safetensors(path, owner)
    if raw.get(KIND_KEY) != "checkpoint" or STATE_KEY not in raw:
        raise WeightsFileError(
            f"{owner}: '{path}' is a safetensors file but not an ndconv checkpoint "
            f"(metadata {KIND_KEY}={raw.get(KIND_KEY)!r}); weights files load with load_weights."
        )
    try:
        doc = json.loads(raw[STATE_KEY])
        state = {s: _decode(doc.get(s), tensors) for s in _SECTIONS}
    except (ValueError, KeyError, TypeError) as exc:
        raise WeightsFileError(f"{owner}: '{path}' has a corrupt checkpoint header ({exc}).") from exc
    model_state = OrderedDict(
        (k[len("model."):], v) for k, v in tensors.items() if k.startswith("model.")
    )
    return Checkpoint(
        path=Path(path), model_state=model_state, epoch=int(doc.get("epoch", 0)),
        step=int(doc.get("step", 0)), optimizer_state=state["optimizer"],
        scheduler_state=state["scheduler"], rng_state=state["rng_state"],
        history=state["history"], extra=state["extra"], metadata=decode_metadata(raw),
    )


def _preview(names: list[str], limit: int = 8) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


def check_state_dict(
    model: Any, state: Mapping[str, np.ndarray], source: str, owner: str = "load_checkpoint"
) -> None:
    """Raise `WeightsFileError` listing every key or shape of `state` that `model` does not have."""
    expected = state_dict_of(model, owner)
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
              for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing from the file ({len(missing)}): {_preview(missing)}")
        if unexpected:
            parts.append(f"not in the model ({len(unexpected)}): {_preview(unexpected)}")
        if shapes:
            parts.append(f"shape mismatches ({len(shapes)}): {_preview(shapes)}")
        raise WeightsFileError(
            f"{owner}: '{source}' does not fit {type(model).__name__} (a checkpoint of another "
            f"architecture?); the model was left unchanged. " + "; ".join(parts) + "."
        )


def load_checkpoint(
    path: str | os.PathLike[str], model: Any, optimizer: Any = None, scheduler: Any = None
) -> Checkpoint:
    """Restore `model` (and `optimizer`, `scheduler` when given) from a checkpoint file.

    Everything is validated before anything is changed: a truncated or corrupt file, or a
    checkpoint of another architecture, raises and leaves `model` and `optimizer` as they were.

    Returns:
        The :class:`Checkpoint` read (epoch, step, RNG state, history, extra, ...).

    Raises:
        FileNotFoundError: no file at `path`.
        WeightsFileError: unreadable or corrupt file; keys or shapes that do not match the
            model (all listed); optimizer/scheduler state missing or rejected.
    """
    owner = "load_checkpoint"
    ck = read_checkpoint(path)
    check_state_dict(model, ck.model_state, str(path), owner)
    if optimizer is not None and ck.optimizer_state is None:
        raise WeightsFileError(f"{owner}: '{path}' holds no optimizer state; the model was left unchanged.")
    if scheduler is not None and ck.scheduler_state is None:
        raise WeightsFileError(f"{owner}: '{path}' holds no scheduler state; the model was left unchanged.")
    backup = OrderedDict((k, np.array(v)) for k, v in state_dict_of(model, owner).items())
    opt_backup = optimizer.state_dict() if optimizer is not None else None
    try:
        model.load_state_dict(ck.model_state)
        if optimizer is not None:
            optimizer.load_state_dict(ck.optimizer_state)
        if scheduler is not None:
            scheduler.load_state_dict(ck.scheduler_state)
    except Exception as exc:
        model.load_state_dict(backup)
        if optimizer is not None:
            with contextlib.suppress(Exception):  # report the first error, not this one
                optimizer.load_state_dict(opt_backup)
        raise WeightsFileError(
            f"{owner}: '{path}' could not be applied ({exc}); the model was left unchanged."
        ) from exc
    return ck
