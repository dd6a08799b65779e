"""The library's random number generator (initialisation, dropout, shuffling defaults)."""

from __future__ import annotations

import numpy as np

__all__ = ["manual_seed", "get_rng", "get_state", "set_state"]

_rng = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Seed ndconv's generator: the same seed gives the same initial weights and dropout masks."""
    global _rng
    _rng = np.random.default_rng(seed)


def get_rng() -> np.random.Generator:
    """Return the generator used by initialisers and dropout."""
    return _rng


def get_state() -> dict:
    """Return the generator state as a JSON-serialisable dict (for checkpoints)."""
    return dict(_rng.bit_generator.state)


def set_state(state: dict) -> None:
    """Restore a state returned by :func:`get_state`."""
    _rng.bit_generator.state = state
