"""Files: safetensors weights with JSON metadata, atomic training checkpoints.

Nothing here ever unpickles: weights and checkpoints are safetensors files (tensors plus a
JSON header), so loading a file from an untrusted source cannot execute code.

>>> import tempfile, pathlib
>>> import numpy as np
>>> from ndconv.io import save_weights, load_weights
>>> p = pathlib.Path(tempfile.mkdtemp()) / "model.safetensors"
>>> _ = save_weights({"fc.weight": np.eye(2, dtype=np.float32)}, p, metadata={"model": "toy"})
>>> sd, meta = load_weights(p)
>>> list(sd), meta["model"]
(['fc.weight'], 'toy')
"""

from ndconv.io.atomic import atomic_write_bytes, atomic_write_json
from ndconv.io.checkpoint import (
    Checkpoint,
    check_state_dict,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from ndconv.io.weights import WeightsFileError, load_weights, save_weights

__all__ = [
    "Checkpoint",
    "WeightsFileError",
    "atomic_write_bytes",
    "atomic_write_json",
    "check_state_dict",
    "load_checkpoint",
    "load_weights",
    "read_checkpoint",
    "save_checkpoint",
    "save_weights",
]
