"""Save and load model weights as safetensors files, with JSON metadata. Never pickle.

A safetensors file is an 8-byte header length, a JSON header (tensor names, dtypes, shapes,
byte offsets and a ``__metadata__`` table of str -> str) and the raw tensor bytes. It holds
no code, so loading a file from a stranger cannot run anything. ndconv stores every metadata
value as a JSON string, so numbers, lists and dicts survive the round trip, and adds a SHA-256
digest of the tensors so a file whose bytes were damaged is reported, not silently loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ndconv.io.atomic import atomic_write_bytes

__all__ = ["WeightsFileError", "save_weights", "load_weights", "read_safetensors",
           "write_safetensors", "state_dict_of"]

# Metadata keys ndconv reserves for itself; user metadata may not use the prefix.
_PREFIX = "ndconv."
KIND_KEY = "ndconv.kind"
DIGEST_KEY = "ndconv.sha256"
VERSION_KEY = "ndconv.version"
ORDER_KEY = "ndconv.order"


class WeightsFileError(ValueError):
    """A weights or checkpoint file is unreadable, corrupt, or does not fit the model."""


def _safetensors_numpy() -> Any:
    try:
        import safetensors.numpy as stn
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            "ndconv.io needs the `safetensors` package: pip install 'ndconv[io]'."
        ) from exc
    return stn


def state_dict_of(model_or_state_dict: Any, owner: str) -> OrderedDict[str, np.ndarray]:
    """Return the state dict of a Module, or check and copy a mapping of name -> array."""
    if hasattr(model_or_state_dict, "state_dict") and callable(model_or_state_dict.state_dict):
        sd = model_or_state_dict.state_dict()
    elif isinstance(model_or_state_dict, Mapping):
        sd = model_or_state_dict
    else:
        raise TypeError(
            f"{owner}: expected a Module or a mapping of name -> array; "
            f"got {type(model_or_state_dict).__name__}."
        )
    out: OrderedDict[str, np.ndarray] = OrderedDict()
    for name, value in sd.items():
        if not isinstance(name, str):
            raise TypeError(f"{owner}: state dict keys must be str; got {name!r}.")
        out[name] = np.asarray(getattr(value, "data", value))
    return out


def _contiguous(a: np.ndarray) -> np.ndarray:
    # not np.ascontiguousarray: it turns a 0-d array into shape (1,)
    a = np.asarray(a)
    return a if a.flags.c_contiguous else a.copy(order="C")


def tensors_digest(tensors: Mapping[str, np.ndarray]) -> str:
    """SHA-256 over every tensor's name, dtype, shape and bytes, in sorted name order."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        a = _contiguous(tensors[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def write_safetensors(
    path: str | os.PathLike[str], tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str]
) -> Path:
    """Write `tensors` and str -> str `metadata` (plus a digest) atomically to `path`."""
    stn = _safetensors_numpy()
    arrays = {name: _contiguous(a) for name, a in tensors.items()}
    meta = dict(metadata)
    meta[DIGEST_KEY] = tensors_digest(arrays)
    meta[ORDER_KEY] = json.dumps(list(arrays))  # safetensors sorts names; keep the model's order
    from ndconv import __version__

    meta.setdefault(VERSION_KEY, __version__)
    return atomic_write_bytes(path, stn.save(arrays, metadata=meta))


def read_safetensors(
    path: str | os.PathLike[str], owner: str = "load_weights"
) -> tuple[OrderedDict[str, np.ndarray], dict[str, str]]:
    """Read every tensor and the raw metadata of a safetensors file, checking its digest.

    Raises:
        FileNotFoundError: no file at `path`.
        WeightsFileError: the file is truncated, not safetensors, or its digest does not match.
    """
    _safetensors_numpy()
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{owner}: no such file: '{path}'.")
    size = path.stat().st_size
    try:
        with safe_open(str(path), framework="np") as f:
            metadata = dict(f.metadata() or {})
            tensors = OrderedDict((name, np.array(f.get_tensor(name))) for name in f.keys())
    except Exception as exc:  # safetensors raises its own SafetensorError on bad bytes
        raise WeightsFileError(
            f"{owner}: '{path}' ({size} bytes) is not a readable safetensors file -- it is "
            f"truncated or corrupt ({exc})."
        ) from exc
    try:
        order = json.loads(metadata.pop(ORDER_KEY, "[]"))
    except ValueError:
        order = []
    if sorted(order) == sorted(tensors):
        tensors = OrderedDict((name, tensors[name]) for name in order)
    expected = metadata.pop(DIGEST_KEY, None)
    if expected is not None and tensors_digest(tensors) != expected:
        raise WeightsFileError(
            f"{owner}: '{path}' is corrupt: the tensors' SHA-256 does not match the digest "
            "recorded when the file was written."
        )
    return tensors, metadata


def _encode_metadata(metadata: Mapping[str, Any] | None, owner: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in (metadata or {}).items():
        if not isinstance(key, str):
            raise TypeError(f"{owner}: metadata keys must be str; got {key!r}.")
        if key.startswith(_PREFIX):
            raise ValueError(f"{owner}: metadata keys starting with {_PREFIX!r} are reserved; got {key!r}.")
        try:
            out[key] = json.dumps(value)
        except TypeError as exc:
            raise TypeError(
                f"{owner}: metadata value for {key!r} must be JSON-serialisable; "
                f"got {type(value).__name__}."
            ) from exc
    return out


def _decode_metadata(raw: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, text in raw.items():
        if key.startswith(_PREFIX):
            continue
        try:
            out[key] = json.loads(text)
        except ValueError:  # a file written by another tool: keep its plain string
            out[key] = text
    return out


def save_weights(
    model_or_state_dict: Any, path: str | os.PathLike[str], metadata: Mapping[str, Any] | None = None
) -> Path:
    """Save a model's (or a state dict's) tensors to a safetensors file, atomically.

    Args:
        model_or_state_dict: a Module (its ``state_dict()`` is saved) or a mapping
            name -> array.
        path: destination file, conventionally ``*.safetensors``.
        metadata: JSON-serialisable values stored (as JSON strings) in the file header.

    Returns:
        The destination as a `Path`.

    Raises:
        TypeError: a key is not a string or a metadata value is not JSON-serialisable.

    Examples:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "w.safetensors"
        >>> _ = save_weights({"w": np.ones((2, 3), np.float32)}, p, {"acc": 0.98})
        >>> sd, meta = load_weights(p)
        >>> sd["w"].shape, meta
        ((2, 3), {'acc': 0.98})
    """
    sd = state_dict_of(model_or_state_dict, "save_weights")
    meta = _encode_metadata(metadata, "save_weights")
    meta[KIND_KEY] = "weights"
    return write_safetensors(path, sd, meta)


def load_weights(path: str | os.PathLike[str]) -> tuple[OrderedDict[str, np.ndarray], dict[str, Any]]:
    """Load a safetensors file written by :func:`save_weights` (or any safetensors file).

    Returns:
        `(state_dict, metadata)`: an ordered name -> array dict, and the decoded metadata
        (JSON values; strings that are not JSON are returned as they are).

    Raises:
        FileNotFoundError: no file at `path`.
        WeightsFileError: the file is truncated, corrupt or not safetensors.
    """
    tensors, raw = read_safetensors(path, "load_weights")
    return tensors, _decode_metadata(raw)


def decode_metadata(raw: Mapping[str, str]) -> dict[str, Any]:
    """Decode str -> JSON-string metadata, dropping ndconv's reserved keys."""
    return _decode_metadata(raw)
