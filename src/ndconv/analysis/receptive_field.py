"""Receptive fields: how much of the input each layer's units see, and where.

For every layer (per input spatial axis): the size ``r`` of a unit's field, the jump ``j``
between neighbouring units' fields (the effective stride) and the ``start`` -- the centre of
the first unit's field in input coordinates (negative when it reaches into the padding). The
recurrences (``k_eff = d*(k-1) + 1``, ``p`` the low padding)::

    window layer (conv, pool):  r' = r + (k_eff - 1)*j    j' = j*s    start' = start + ((k_eff-1)/2 - p)*j
    transposed conv:            j' = j/s                  r' = r + (k_eff - 1)*j'
                                start' = start + (p - (k_eff - 1)/2)*j'
    pointwise (BN, ReLU, ...):  unchanged
    join (residual add, concat): the union of the branches' fields (the longest path's when
                                they are centred alike); the jumps must agree.

The transposed rule follows from ``o = i*s + d*t - p``: output ``o`` reads the inputs
``i`` with ``i*s`` in ``[o + p - (k_eff - 1), o + p]``, an interval of ``(k_eff - 1)/s``
input units (a continuous envelope; :func:`receptive_field_for_unit` gives exact integers).
The fields come from the same shape-propagation trace as :func:`~ndconv.analysis.summary`.

>>> from ndconv.models import vgg16
>>> from ndconv.analysis.summary import meta_init
>>> with meta_init():
...     model = vgg16()
>>> rf = receptive_field(model, (3, 224, 224))
>>> rf["features"][0]
AxisField(size=212.0, jump=32.0, start=15.5)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import nn
from .summary import AxisField, LayerRow, MetaTensor, _fields, build_meta_model, parse_input_spec, trace

__all__ = ["ReceptiveField", "receptive_field", "receptive_field_for_unit", "receptive_field_command"]


@dataclass
class ReceptiveField:
    """Per-layer fields: ``rows`` (one per leaf call, in order) and ``by_name`` (the last output
    of every named module, containers included: ``rf["features"]``, ``rf["layer4"]``)."""

    input_shape: tuple[int, ...]
    rows: list[LayerRow]
    by_name: dict[str, tuple[AxisField, ...] | None]

    def __getitem__(self, name: str) -> tuple[AxisField, ...] | None:
        try:
            return self.by_name[name]
        except KeyError:
            raise KeyError(
                f"receptive_field: no module named {name!r}; known: {', '.join(self.by_name)}."
            ) from None

    def __str__(self) -> str:
        lines = [f"Receptive fields for input {self.input_shape} (size / jump / start per axis)"]
        width = max((len(r.name) for r in self.rows), default=5)
        for r in self.rows:
            if r.field is None:
                text = "unknown"
            else:
                text = "  ".join(f"r={_n(f.size)} j={_n(f.jump)} start={_n(f.start)}" for f in r.field)
            lines.append(f"{r.name.ljust(width)}  {r.type.ljust(16)}  {text}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"input_shape": list(self.input_shape), "layers": [r.to_dict() for r in self.rows]}


def _n(v: float | None) -> str:
    if v is None:
        return "-"
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def receptive_field(model: nn.Module, input_shape: Sequence[int]) -> ReceptiveField:
    """Return the receptive field, jump and start of every layer, per input spatial axis.

    ``input_shape`` is ``(C, *spatial)``. Branching graphs are exact: a residual add takes the
    union of its branches (ResNet-50's field at ``layer4`` is 427, along the longest path).
    """
    tr = trace(model, input_shape)
    by_name = {name: _fields(t.rf) for name, t in tr.outputs.items()}
    return ReceptiveField((1, *tuple(input_shape)), tr.rows, by_name)


def _unit_sets(model: nn.Module, input_shape: Sequence[int], layer: str,
               index: int | Sequence[int]) -> tuple[np.ndarray, ...]:
    """The exact per-axis index sets of input positions that unit ``index`` of ``layer`` reads."""
    tr = trace(model, input_shape)
    if layer not in tr.outputs:
        raise ValueError(
            f"receptive_field_for_unit: `layer` must name a module of the model; got layer={layer!r}. "
            f"Known: {', '.join(n for n in tr.outputs if n)}."
        )
    out = tr.outputs[layer]
    idx = (index,) if isinstance(index, (int, np.integer)) else tuple(index)
    spatial = out.spatial_shape
    n_in = len(input_shape) - 1
    if not out.spatial:
        return tuple(np.arange(s) for s in tuple(input_shape)[1:])
    if len(idx) != len(spatial) or any(not 0 <= i < s for i, s in zip(idx, spatial)):
        raise ValueError(
            f"receptive_field_for_unit: `index` must be {len(spatial)} spatial indices within "
            f"{spatial} (the output of {layer!r}); got index={index!r}."
        )
    # Walk the recorded graph backwards in reverse creation order (a topological order),
    # taking the union where branches meet.
    pending: dict[int, tuple[MetaTensor, list[np.ndarray] | None]] = {
        out.seq: (out, [np.array([i], np.int64) for i in idx])}
    while pending:
        seq = max(pending)
        node, sets = pending.pop(seq)
        full = sets is None  # None: every position (a layer that mixes all positions)
        cur = tuple(np.arange(s) for s in node.spatial_shape) if full else tuple(sets)  # type: ignore[arg-type]
        if node is tr.input:
            return cur
        if node.back is None:
            continue
        if full and not node.spatial:
            parent_sets: list[Any] = [None] * len(node.parents)
        else:
            parent_sets = node.back(cur)
        for parent, ps in zip(node.parents, parent_sets):
            ps_list = None if ps is None else list(ps)
            if parent.seq in pending:
                prev = pending[parent.seq][1]
                if prev is None or ps_list is None:
                    ps_list = None
                else:
                    ps_list = [np.union1d(a, b) for a, b in zip(prev, ps_list)]
            pending[parent.seq] = (parent, ps_list)
    return tuple(np.zeros(0, np.int64) for _ in range(n_in))


def receptive_field_for_unit(model: nn.Module, input_shape: Sequence[int], layer: str,
                             index: int | Sequence[int]) -> tuple[tuple[int, int], ...]:
    """Return the input region ``((lo, hi), ...)`` (per spatial axis, ``hi`` exclusive, clipped
    to the input) that output unit ``index`` of module ``layer`` depends on.

    Exact integer arithmetic through every layer (strides, dilation, padding, transposed
    convolutions, adaptive pools, residual adds and concatenations); dilated layers may leave
    holes inside the region. An axis with no dependency gives ``(0, 0)``.

    >>> from ndconv.models import lenet5
    >>> receptive_field_for_unit(lenet5(), (1, 28, 28), "features.0", (0, 0))
    ((0, 3), (0, 3))
    """
    sets = _unit_sets(model, input_shape, layer, index)
    return tuple((int(s.min()), int(s.max()) + 1) if s.size else (0, 0) for s in sets)


def receptive_field_command(model_name: str, input_spec: str) -> str:
    """Return the printable receptive-field table of zoo model ``model_name`` for ``input_spec``
    (e.g. ``"3x224x224"``); the model is built without allocating its weights."""
    shape = parse_input_spec(input_spec)
    return str(receptive_field(build_meta_model(model_name, shape), shape))
