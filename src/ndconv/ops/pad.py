"""N-d padding in four modes, and its adjoint.

``pad`` extends the trailing axes of ``x`` by ``(lo, hi)`` per axis:

* ``zeros`` -- a constant (0 unless ``value`` is given);
* ``reflect`` -- mirror without repeating the edge: ``[a b c] -> b | a b c | b`` (needs pad < size);
* ``replicate`` -- repeat the edge: ``a | a b c | c``;
* ``circular`` -- wrap around: ``c | a b c | a`` (needs pad <= size).

Padding is separable, so its adjoint ``pad_adjoint`` (used by the VJP of ``pad`` and as the
forward of a transposed convolution with that padding mode) folds each axis' border back onto
the input it was copied from, one axis at a time. ``pad`` and ``pad_adjoint`` are each other's
VJP.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..autograd import Tensor, record
from ..shapes import PADDING_MODES

__all__ = ["pad", "pad_adjoint", "check_pad_mode", "pad_array", "pad_adjoint_array"]

_NUMPY_MODE = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def check_pad_mode(
    mode: str, pairs: Sequence[tuple[int, int]], spatial: Sequence[int], op: str, arg: str = "padding_mode"
) -> None:
    """Raise if ``mode`` (the argument ``arg``) is unknown or the padding is too large for it."""
    if mode not in PADDING_MODES:
        raise ValueError(f"{op}: `{arg}` must be one of {PADDING_MODES}; got {arg}={mode!r}.")
    for axis, ((lo, hi), s) in enumerate(zip(pairs, spatial)):
        if mode == "reflect" and max(lo, hi) >= s:
            raise ValueError(
                f"{op}: reflect padding must be smaller than the input on each axis; "
                f"got padding ({lo}, {hi}) for size {s} on spatial axis {axis}."
            )
        if mode == "circular" and max(lo, hi) > s:
            raise ValueError(
                f"{op}: circular padding must not exceed the input size on each axis; "
                f"got padding ({lo}, {hi}) for size {s} on spatial axis {axis}."
            )


def pad_array(x: np.ndarray, pairs: Sequence[tuple[int, int]], mode: str, value: float = 0.0) -> np.ndarray:
    """Pad the trailing ``len(pairs)`` axes of an array (no autograd)."""
    if not any(lo or hi for lo, hi in pairs):
        return x
    width = [(0, 0)] * (x.ndim - len(pairs)) + [tuple(p) for p in pairs]
    if mode == "zeros":
        return np.pad(x, width, mode="constant", constant_values=value)
    return np.pad(x, width, mode=_NUMPY_MODE[mode])  # type: ignore[call-overload]


def pad_adjoint_array(g: np.ndarray, pairs: Sequence[tuple[int, int]], mode: str) -> np.ndarray:
    """Fold the padded borders of ``g`` back onto the unpadded array (adjoint of ``pad_array``)."""
    lead = g.ndim - len(pairs)
    for i, (lo, hi) in enumerate(pairs):
        if not (lo or hi):
            continue
        ax = lead + i
        size = g.shape[ax] - lo - hi
        g = np.moveaxis(g, ax, 0)  # fold along axis 0 of a view, then move it back
        gx = g[lo : lo + size].copy()
        if mode == "replicate":
            gx[0] += g[:lo].sum(axis=0)
            gx[size - 1] += g[lo + size :].sum(axis=0)
        elif mode == "reflect":
            gx[1 : lo + 1] += g[:lo][::-1]
            gx[size - 1 - hi : size - 1] += g[lo + size :][::-1]
        elif mode == "circular":
            gx[size - lo :] += g[:lo]
            gx[:hi] += g[lo + size :]
        g = np.moveaxis(gx, 0, ax)
    return g


def pad(
    x: Tensor, padding: Sequence[tuple[int, int]] | int, mode: str = "zeros", value: float = 0.0
) -> Tensor:
    """Pad the trailing axes of ``x``: ``padding`` is one ``(lo, hi)`` pair per padded axis.

    An int pads every spatial axis (all axes after ``(N, C)``) by that amount on both sides.

    Shapes:
        x: ``(*lead, *S)`` -> ``(*lead, S[i] + lo[i] + hi[i] ...)``

    >>> import ndconv as nc
    >>> pad(nc.tensor([[[1.0, 2.0, 3.0]]]), [(2, 1)], mode="reflect")
    tensor([[[3., 2., 1., 2., 3., 2.]]])
    """
    pairs = _pairs(x, padding)
    check_pad_mode(mode, pairs, x.shape[x.ndim - len(pairs) :], "pad", arg="mode")
    out = pad_array(x.data, pairs, mode, value)
    return record(out, (x,), lambda g: (pad_adjoint_array(g, pairs, mode),), "pad")


def pad_adjoint(y: Tensor, padding: Sequence[tuple[int, int]], mode: str = "zeros") -> Tensor:
    """Return the adjoint of :func:`pad`: crop the borders and fold them back (per ``mode``)."""
    pairs = _pairs(y, padding)
    spatial = [s - lo - hi for s, (lo, hi) in zip(y.shape[y.ndim - len(pairs) :], pairs)]
    if any(s < 1 for s in spatial):
        raise ValueError(f"pad_adjoint: padding {pairs} removes everything from shape {y.shape}.")
    check_pad_mode(mode, pairs, spatial, "pad_adjoint", arg="mode")
    out = pad_adjoint_array(y.data, pairs, mode)
    return record(out, (y,), lambda g: (pad_array(g, pairs, mode),), "pad_adjoint")


def _pairs(x: Tensor, padding: Sequence[tuple[int, int]] | int) -> list[tuple[int, int]]:
    if isinstance(padding, (int, np.integer)):
        if x.ndim < 3:
            raise ValueError(f"pad: an int `padding` needs an (N, C, *spatial) input; got shape {x.shape}.")
        return [(int(padding), int(padding))] * (x.ndim - 2)
    pairs = [(int(lo), int(hi)) for lo, hi in padding]
    if len(pairs) > x.ndim:
        raise ValueError(f"pad: {len(pairs)} (low, high) pairs for a tensor of rank {x.ndim}.")
    if any(lo < 0 or hi < 0 for lo, hi in pairs):
        raise ValueError(f"pad: padding must be >= 0; got {pairs}.")
    return pairs
