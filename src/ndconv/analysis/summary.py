"""Summarise a model layer by layer -- shapes, parameters, multiply-adds, memory, receptive
fields -- by *shape propagation*, without computing (or allocating) a single activation.

How it works (robust on any forward, branching graphs included):

1. The input is a :class:`MetaTensor`: a real :class:`~ndconv.Tensor` subclass whose data is
   ``np.broadcast_to(np.zeros((), dtype), shape)`` -- a zero-stride array, so it costs no
   memory however large the shape -- carrying, per input spatial axis, the receptive field of
   its first unit and the jump between units.
2. Each *leaf* module (a module without children) gets an instance attribute ``forward``
   for the duration of the trace (``Module.__call__`` looks up ``self.forward``, so the
   instance attribute wins over the class method; hooks still run). It maps the input
   MetaTensor through the layer's **shape rule** -- computed with :mod:`ndconv.shapes`, the
   same formulas the ops use -- and records a row. Containers (``Sequential``, ResNet blocks,
   the U-Net) run their own, unchanged ``forward`` on MetaTensors; ``a + b`` (residual adds)
   is overloaded on MetaTensor to join the branches. Nothing global is patched.
3. A leaf of an unknown type runs its real forward on the zero-stride data (this does
   allocate its output) to learn the output shape; its receptive field is kept if the
   spatial shape is unchanged and marked unknown otherwise. :func:`register_shape_rule` adds
   a rule for a custom layer.

Multiply-adds (MACs) count convolutions and dense layers only, without bias additions --
the convention of torchvision's model table, torchinfo and ptflops:

- convolution: ``out_elements * (C_in / groups * prod(K))``;
- transposed convolution: ``in_elements * (C_out / groups * prod(K))`` (each input element
  scales one kernel);
- linear: ``prod(batch axes) * in_features * out_features``;
- batch norm, pooling, activations, adds and concatenations: 0.

Receptive fields are tracked per input spatial axis as the interval ``[lo, hi]`` (input
coordinates, possibly in the padding) seen by the layer's first output unit, and the jump
``j`` between neighbouring units, so unit ``i`` sees ``[lo + i*j, hi + i*j]``. A window layer
(convolution or pool; kernel ``k``, stride ``s``, dilation ``d``, low padding ``p``,
``k_eff = d*(k-1) + 1``) maps ``(lo, hi, j)`` to::

    lo' = lo - p*j      hi' = hi + (k_eff - 1 - p)*j      j' = j*s

i.e. ``r' = r + (k_eff - 1)*j`` and ``start' = start + ((k_eff - 1)/2 - p)*j``. A transposed
convolution (output ``o`` reads inputs ``i`` with ``i*s = o + p - d*t``) maps to
``j' = j/s``, ``lo' = lo + (p - (k_eff - 1))*j'``, ``hi' = hi + p*j'``: a continuous envelope
(``r`` may be fractional); :func:`~ndconv.analysis.receptive_field_for_unit` gives exact
integer regions. Branches that join (residual adds, concatenations) take the union of their
intervals -- the longest path's field when they are centred alike -- and must agree on the
jump. See :mod:`ndconv.analysis.receptive_field`.
"""

from __future__ import annotations

import contextlib
import html
import math
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import nn
from ..autograd import Tensor
from ..nn import init as nn_init
from ..shapes import (
    as_tuple,
    conv_output_shape,
    conv_transpose_output_shape,
    normalize_padding,
    pool_output_shape,
)

__all__ = [
    "AxisField", "LayerRow", "Summary", "MetaTensor", "summary", "summary_command", "meta_init",
    "register_shape_rule", "parse_input_spec", "trace",
]

# --------------------------------------------------------------------------------------
# The meta tensor and its receptive-field state
# --------------------------------------------------------------------------------------

# Per input spatial axis: (lo, hi, jump) of the first unit; jump None once the spatial
# structure is gone (after Flatten / global pooling).
RF = tuple[tuple[float, float, "float | None"], ...]
# Back-mapping of a node: per-axis index arrays of this output -> one entry per parent
# (per-axis index arrays, or None for "every position").
IndexSets = tuple[np.ndarray, ...]
BackFn = Callable[[IndexSets], "list[IndexSets | None]"]


@dataclass(frozen=True)
class AxisField:
    """The receptive field along one input axis: ``size`` r, ``jump`` j, ``start`` (centre of
    the first unit's field, in input coordinates). ``jump`` is None without spatial structure."""

    size: float
    jump: float | None
    start: float


def _fields(rf: RF | None) -> tuple[AxisField, ...] | None:
    if rf is None:
        return None
    return tuple(AxisField(hi - lo + 1, j, (lo + hi) / 2) for lo, hi, j in rf)


class MetaTensor(Tensor):
    """A Tensor of a given shape and dtype whose data is a zero-stride array of zeros.

    Carries ``rf`` (receptive-field state, per input spatial axis), ``spatial`` (whether axes
    2.. are those input axes) and the node that made it, for exact per-unit back-mapping.
    """

    __slots__ = ("rf", "spatial", "parents", "back", "seq")

    _counter = 0

    def __init__(self, shape: Sequence[int], dtype: Any, rf: RF | None, spatial: bool,
                 parents: tuple[MetaTensor, ...] = (), back: BackFn | None = None) -> None:
        super().__init__(np.broadcast_to(np.zeros((), dtype), tuple(int(s) for s in shape)))
        self.rf, self.spatial, self.parents, self.back = rf, spatial, parents, back
        MetaTensor._counter += 1
        self.seq = MetaTensor._counter

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        return tuple(self.shape[2:]) if self.spatial else ()

    def _elementwise(self, other: Any) -> MetaTensor:
        others = [other] if isinstance(other, Tensor) else []
        shape = np.broadcast_shapes(self.shape, *(o.shape for o in others))
        return _join([self, *others], shape, self.dtype)

    def __add__(self, other: Any) -> MetaTensor:  # type: ignore[override]
        return self._elementwise(other)

    __radd__ = __add__  # type: ignore[assignment]
    __sub__ = __add__  # type: ignore[assignment]
    __rsub__ = __add__  # type: ignore[assignment]
    __mul__ = __add__  # type: ignore[assignment]
    __rmul__ = __add__  # type: ignore[assignment]


def _meta_in(x: Any, n_axes: int) -> MetaTensor:
    """Return ``x`` if it is a MetaTensor, else one of its shape with an unknown field."""
    if isinstance(x, MetaTensor):
        return x
    shape = tuple(np.shape(x))
    dtype = x.dtype if hasattr(x, "dtype") else np.float32
    return MetaTensor(shape, dtype, None, len(shape) == n_axes + 2)


def _same_sets(parent: MetaTensor, sets: IndexSets) -> IndexSets | None:
    if not parent.spatial or len(parent.spatial_shape) != len(sets):
        return None
    return tuple(s if n > 1 else np.zeros(1, np.int64) for s, n in zip(sets, parent.spatial_shape))


def _join(parents: Sequence[Any], shape: tuple[int, ...], dtype: Any) -> MetaTensor:
    """Join branches (add, concat): the union of their fields; jumps must agree."""
    metas = [p for p in parents if isinstance(p, MetaTensor)]
    rf: RF | None = None
    if metas and all(p.rf is not None for p in metas):
        axes = []
        for per_axis in zip(*(p.rf for p in metas if p.rf is not None)):
            jumps = {j for _, _, j in per_axis}
            if len(jumps) != 1:
                raise ValueError(
                    f"receptive field: joined branches have different jumps {sorted(map(str, jumps))} "
                    f"on one axis; their outputs are not aligned (shape {shape})."
                )
            axes.append((min(lo for lo, _, _ in per_axis), max(hi for _, hi, _ in per_axis), jumps.pop()))
        rf = tuple(axes)
    spatial = all(p.spatial for p in metas)

    def back(sets: IndexSets) -> list[IndexSets | None]:
        return [_same_sets(p, sets) for p in metas]

    return MetaTensor(shape, dtype, rf, spatial, tuple(metas), back)


# --------------------------------------------------------------------------------------
# Rows and the summary object
# --------------------------------------------------------------------------------------


@dataclass
class LayerRow:
    """One call of one leaf module."""

    name: str
    type: str
    output_shape: tuple[int, ...]
    params: int = 0
    macs: int = 0
    memory: int = 0
    kernel: tuple[int, ...] | None = None
    stride: tuple[Any, ...] | None = None
    padding: tuple[tuple[int, int], ...] | None = None
    dilation: tuple[int, ...] | None = None
    groups: int | None = None
    field: tuple[AxisField, ...] | None = None
    params_pct: float = 0.0
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in (
            "name", "type", "output_shape", "kernel", "stride", "padding", "dilation", "groups",
            "params", "params_pct", "macs", "memory", "note")}
        d["receptive_field"] = None if self.field is None else [
            {"size": f.size, "jump": f.jump, "start": f.start} for f in self.field]
        return d


@dataclass
class Summary:
    """The rows of :func:`summary` and the totals; ``str()`` is a text table."""

    model: str
    input_shape: tuple[int, ...]
    dtype: np.dtype
    rows: list[LayerRow]
    total_params: int
    trainable_params: int
    total_macs: int
    activation_bytes: int
    param_bytes: int
    output_shape: tuple[int, ...] | None = None
    outputs: dict[str, MetaTensor] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """Return plain Python data (JSON-serialisable)."""
        return {
            "model": self.model, "input_shape": list(self.input_shape), "dtype": str(self.dtype),
            "output_shape": None if self.output_shape is None else list(self.output_shape),
            "total_params": self.total_params, "trainable_params": self.trainable_params,
            "total_macs": self.total_macs, "activation_bytes": self.activation_bytes,
            "param_bytes": self.param_bytes, "layers": [r.to_dict() for r in self.rows],
        }

    def _table(self) -> tuple[list[str], list[list[str]]]:
        head = ["Layer", "Type", "Output shape", "Kernel", "Stride", "Pad", "Dil", "Groups",
                "Params", "%", "MACs", "Memory", "RF", "Jump", "Start"]
        body = []
        for r in self.rows:
            f = r.field
            body.append([
                r.name, r.type, _fmt_shape(r.output_shape), _fmt_axes(r.kernel), _fmt_axes(r.stride),
                _fmt_pad(r.padding), _fmt_axes(r.dilation), "" if r.groups in (None, 1) else str(r.groups),
                f"{r.params:,}" if r.params else "", f"{r.params_pct:.1f}" if r.params else "",
                f"{r.macs:,}" if r.macs else "", _fmt_bytes(r.memory),
                "?" if f is None else _fmt_axes(tuple(a.size for a in f)),
                "?" if f is None else _fmt_axes(tuple(a.jump for a in f)),
                "?" if f is None else _fmt_axes(tuple(a.start for a in f)),
            ])
        return head, body

    def _totals(self) -> list[str]:
        return [
            f"Input: {_fmt_shape(self.input_shape)} {self.dtype}   Output: "
            f"{'?' if self.output_shape is None else _fmt_shape(self.output_shape)}",
            f"Total params: {self.total_params:,} ({_fmt_bytes(self.param_bytes)})   "
            f"Trainable: {self.trainable_params:,}",
            f"Multiply-adds (conv + linear): {self.total_macs:,} ({self.total_macs / 1e9:.2f} G)",
            f"Activation memory (sum of layer outputs): {_fmt_bytes(self.activation_bytes)}",
        ]

    def __str__(self) -> str:
        head, body = self._table()
        widths = [max(len(x) for x in col) for col in zip(head, *body)]
        right = {8, 9, 10, 11}

        def line(cells: list[str]) -> str:
            return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                             for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

        rule = "-" * len(line(head))
        return "\n".join([f"{self.model} summary", rule, line(head), rule, *map(line, body), rule,
                          *self._totals()])

    def _repr_html_(self) -> str:
        head, body = self._table()
        th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
        trs = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in body)
        foot = "<br>".join(html.escape(t) for t in self._totals())
        return (f"<div><b>{html.escape(self.model)}</b><table><thead><tr>{th}</tr></thead>"
                f"<tbody>{trs}</tbody></table><p>{foot}</p></div>")


def _fmt_shape(shape: Sequence[int]) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


def _num(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and not v.is_integer():
        return f"{v:g}"
    return str(int(v))


def _fmt_axes(values: Sequence[Any] | None) -> str:
    if values is None:
        return ""
    texts = [_num(v) for v in values]
    return texts[0] if len(set(texts)) == 1 else "x".join(texts)


def _fmt_pad(pads: Sequence[tuple[int, int]] | None) -> str:
    if pads is None:
        return ""
    if all(lo == hi for lo, hi in pads):
        return _fmt_axes([lo for lo, _ in pads])
    return "x".join(f"{lo}/{hi}" for lo, hi in pads)


def _fmt_bytes(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    for unit in ("KiB", "MiB", "GiB"):
        n_f = n / 1024
        if n_f < 1024 or unit == "GiB":
            return f"{n_f:.1f} {unit}"
        n = int(n_f)
    return f"{n} B"


# --------------------------------------------------------------------------------------
# Shape rules
# --------------------------------------------------------------------------------------


@dataclass
class _Ctx:
    """What a shape rule receives: the row to fill and the trace's dtype."""

    row: LayerRow
    module: nn.Module


Rule = Callable[[_Ctx, MetaTensor, tuple[Any, ...]], Any]
_RULES: dict[type, Rule] = {}


def register_shape_rule(cls: type, rule: Rule) -> None:
    """Teach :func:`summary` a leaf layer type: ``rule(ctx, x, extra_args) -> MetaTensor``.

    The rule fills ``ctx.row`` (kernel, stride, macs, ...) and returns the output, built with
    the helpers of this module. Subclasses inherit their base class's rule.
    """
    _RULES[cls] = rule


def _find_rule(module: nn.Module) -> Rule | None:
    for cls in type(module).__mro__:
        if cls in _RULES:
            return _RULES[cls]
    return None


def _pointwise(ctx: _Ctx, x: MetaTensor, args: tuple[Any, ...]) -> MetaTensor:
    return MetaTensor(x.shape, x.dtype, x.rf, x.spatial, (x,), lambda s: [_same_sets(x, s)])


def _window_rf(rf: RF | None, k: Sequence[int], s: Sequence[float], d: Sequence[int],
               pads: Sequence[tuple[int, int]]) -> RF | None:
    if rf is None:
        return None
    out = []
    for (lo, hi, j), kk, ss, dd, (p, _) in zip(rf, k, s, d, pads):
        if j is None:
            return None
        out.append((lo - p * j, hi + (dd * (kk - 1) - p) * j, j * ss))
    return tuple(out)


def _window_back(k: Sequence[int], s: Sequence[int], d: Sequence[int],
                 pads: Sequence[tuple[int, int]], in_shape: Sequence[int]) -> BackFn:
    """Exact back-map of a window op: output ``o`` reads ``o*s - p + d*t``, ``t < k``."""
    def back(sets: IndexSets) -> list[IndexSets | None]:
        res = []
        for o, kk, ss, dd, (p, _), n in zip(sets, k, s, d, pads, in_shape):
            idx = (o[:, None] * ss - p + dd * np.arange(kk)[None, :]).ravel()
            res.append(np.unique(idx[(idx >= 0) & (idx < n)]))
        return [tuple(res)]
    return back


def _expect(ctx: _Ctx, cls: Any) -> Any:
    """Return ``ctx.module``, checked to be of the type its shape rule was registered for."""
    if not isinstance(ctx.module, cls):
        raise TypeError(f"summary: a shape rule for {cls} was applied to {type(ctx.module).__name__}.")
    return ctx.module


def _conv_rule(ctx: _Ctx, x: MetaTensor, args: tuple[Any, ...]) -> MetaTensor:
    m = _expect(ctx, nn.Conv)
    n = len(m.kernel_size)
    _check_channels(ctx, x, m.in_channels, n)
    spatial = x.shape[2:]
    pads = normalize_padding(m.padding, n, ctx.row.type, m.kernel_size, m.stride, m.dilation, spatial)
    out_sp = conv_output_shape(spatial, m.kernel_size, m.stride, pads, m.dilation, op=ctx.row.name)
    shape = (x.shape[0], m.out_channels, *out_sp)
    _set_window(ctx.row, m.kernel_size, m.stride, pads, m.dilation)
    ctx.row.groups = m.groups
    ctx.row.macs = math.prod(shape) * (m.in_channels // m.groups) * math.prod(m.kernel_size)
    back = _window_back(m.kernel_size, m.stride, m.dilation, pads, spatial)
    return MetaTensor(shape, x.dtype, _window_rf(x.rf, m.kernel_size, m.stride, m.dilation, pads),
                      True, (x,), back)


def _conv_transpose_rule(ctx: _Ctx, x: MetaTensor, args: tuple[Any, ...]) -> MetaTensor:
    m = _expect(ctx, nn.ConvTranspose)
    n = len(m.kernel_size)
    _check_channels(ctx, x, m.in_channels, n)
    spatial = x.shape[2:]
    if m.padding == "same":
        # The op's rule: output = input * stride, total padding split low/high.
        out_sp = tuple(s * st for s, st in zip(spatial, m.stride))
        total = [d * (k - 1) + 1 - st for k, st, d in zip(m.kernel_size, m.stride, m.dilation)]
        pads = tuple((max(t, 0) // 2, max(t, 0) - max(t, 0) // 2) for t in total)
    else:
        pads = normalize_padding(m.padding, n, ctx.row.type)
        out_sp = conv_transpose_output_shape(spatial, m.kernel_size, m.stride, pads, m.dilation,
                                             m.output_padding, op=ctx.row.name)
    shape = (x.shape[0], m.out_channels, *out_sp)
    _set_window(ctx.row, m.kernel_size, m.stride, pads, m.dilation)
    ctx.row.groups = m.groups
    ctx.row.macs = x.size * (m.out_channels // m.groups) * math.prod(m.kernel_size)
    rf: RF | None = None
    if x.rf is not None and all(j is not None for _, _, j in x.rf):
        rf = tuple(
            (lo + (p - d * (k - 1)) * (j / s), hi + p * (j / s), j / s)  # type: ignore[operator]
            for (lo, hi, j), k, s, d, (p, _) in zip(x.rf, m.kernel_size, m.stride, m.dilation, pads)
        )

    def back(sets: IndexSets) -> list[IndexSets | None]:
        res = []
        for o, k, s, d, (p, _), size in zip(sets, m.kernel_size, m.stride, m.dilation, pads, spatial):
            num = (o[:, None] + p - d * np.arange(k)[None, :]).ravel()  # = i * s
            idx = num[num % s == 0] // s
            res.append(np.unique(idx[(idx >= 0) & (idx < size)]))
        return [tuple(res)]

    return MetaTensor(shape, x.dtype, rf, True, (x,), back)


def _pool_rule(ctx: _Ctx, x: MetaTensor, args: tuple[Any, ...]) -> Any:
    m = _expect(ctx, (nn.MaxPool, nn.AvgPool))
    n = x.ndim - 2
    name = ctx.row.type
    k = as_tuple(m.kernel_size, n, "kernel_size", name)
    st = as_tuple(m.stride, n, "stride", name)
    d = as_tuple(m.dilation, n, "dilation", name)
    spatial = x.shape[2:]
    pads = normalize_padding(m.padding, n, name, k, st, d, spatial)
    out_sp = pool_output_shape(spatial, k, st, pads, d, m.ceil_mode, op=ctx.row.name)
    shape = (*x.shape[:2], *out_sp)
    _set_window(ctx.row, k, st, pads, d)
    out = MetaTensor(shape, x.dtype, _window_rf(x.rf, k, st, d, pads), True, (x,),
                     _window_back(k, st, d, pads, spatial))
    if isinstance(m, nn.MaxPool) and m.return_indices:
        return out, MetaTensor(shape, np.int64, None, True)
    return out


def _adaptive_rule(ctx: _Ctx, x: MetaTensor, args: tuple[Any, ...]) -> MetaTensor:
    m = ctx.module
    n = x.ndim - 2
    size = m.output_size  # type: ignore[union-attr]
    sizes = (size,) * n if isinstance(size, int) else tuple(size)
    if len(sizes) != n:
        raise ValueError(f"{ctx.row.name}: output_size={size!r} does not match input shape {x.shape}.")
    out_sp = tuple(s if o is None else int(o) for s, o in zip(x.shape[2:], sizes))
    shape = (*x.shape[:2], *out_sp)
    # Window i is [floor(i*L/out), ceil((i+1)*L/out)): stride L/out, width up to ceil(L/out)+1.
    starts_stops = [_adaptive_bounds(L, o) for L, o in zip(x.shape[2:], out_sp)]
    k = tuple(int((stop - start).max()) for start, stop in starts_stops)
    st = tuple(L / o for L, o in zip(x.shape[2:], out_sp))
    ctx.row.kernel, ctx.row.stride = k, tuple(int(s) if float(s).is_integer() else s for s in st)
    rf = _window_rf(x.rf, k, st, (1,) * n, ((0, 0),) * n)

    def back(sets: IndexSets) -> list[IndexSets | None]:
        res = []
        for o, (start, stop) in zip(sets, starts_stops):
            idx = np.concatenate([np.arange(start[i], stop[i]) for i in o]) if len(o) else o
            res.append(np.unique(idx))
        return [tuple(res)]

    return MetaTensor(shape, x.dtype, rf, True, (x,), back)


def _adaptive_bounds(size: int, out: int) -> tuple[np.ndarray, np.ndarray]:
    i = np.arange(out)
    return (i * size) // out, -((-(i + 1) * size) // out)


def _collapse(x: MetaTensor) -> RF | None:
    """The field of a unit that sees every spatial position: the union over all units."""
    if x.rf is None:
        return None
    if not x.spatial:
        return tuple((lo, hi, None) for lo, hi, _ in x.rf)
    return tuple((lo, hi + (n - 1) * (j or 0), None) for (lo, hi, j), n in zip(x.rf, x.shape[2:]))


def _all(x: MetaTensor) -> BackFn:
    return lambda sets: [None]


def _global_rule(ctx: _Ctx, x: MetaTensor, args: tuple[Any, ...]) -> MetaTensor:
    keep = bool(getattr(ctx.module, "keepdims", False))
    shape = (*x.shape[:2], *((1,) * (x.ndim - 2))) if keep else tuple(x.shape[:2])
    return MetaTensor(shape, x.dtype, _collapse(x), keep and x.spatial, (x,), _all(x))


def _flatten_rule(ctx: _Ctx, x: MetaTensor, args: tuple[Any, ...]) -> MetaTensor:
    m = _expect(ctx, nn.Flatten)
    nd = x.ndim
    a, b = m.start_dim % nd, m.end_dim % nd
    shape = (*x.shape[:a], math.prod(x.shape[a:b + 1]), *x.shape[b + 1:])
    if a == b:
        return _pointwise(ctx, x, args)
    return MetaTensor(shape, x.dtype, _collapse(x), False, (x,), _all(x))


def _linear_rule(ctx: _Ctx, x: MetaTensor, args: tuple[Any, ...]) -> MetaTensor:
    m = _expect(ctx, nn.Linear)
    if x.shape[-1] != m.in_features:
        raise ValueError(
            f"{ctx.row.name}: Linear expects in_features = {m.in_features} on the last axis; got "
            f"input shape {x.shape}."
        )
    shape = (*x.shape[:-1], m.out_features)
    ctx.row.macs = math.prod(x.shape[:-1]) * m.in_features * m.out_features
    if x.spatial and x.ndim > 2:  # mixes the last spatial axis: that axis is seen whole
        return MetaTensor(shape, x.dtype, _collapse(x), False, (x,), _all(x))
    return MetaTensor(shape, x.dtype, x.rf, x.spatial, (x,), lambda s: [_same_sets(x, s)])


def _add_rule(ctx: _Ctx, x: MetaTensor, args: tuple[Any, ...]) -> MetaTensor:
    xs = [x, *(_meta_in(a, x.ndim - 2) for a in args)]
    return _join(xs, np.broadcast_shapes(*(t.shape for t in xs)), x.dtype)


def _concat_rule(ctx: _Ctx, x: MetaTensor, args: tuple[Any, ...]) -> MetaTensor:
    xs = [x, *(_meta_in(a, x.ndim - 2) for a in args)]
    dim = getattr(ctx.module, "dim", 1) % x.ndim
    for t in xs[1:]:
        if t.ndim != x.ndim or any(a != b for i, (a, b) in enumerate(zip(t.shape, x.shape)) if i != dim):
            raise ValueError(
                f"{ctx.row.name}: inputs must match except on axis {dim}; got shapes "
                f"{[t.shape for t in xs]}."
            )
    shape = tuple(sum(t.shape[dim] for t in xs) if i == dim else s for i, s in enumerate(x.shape))
    return _join(xs, shape, x.dtype)


def _check_channels(ctx: _Ctx, x: MetaTensor, channels: int, n: int) -> None:
    if x.ndim != n + 2 or x.shape[1] != channels:
        raise ValueError(
            f"{ctx.row.name}: {ctx.row.type} expects (N, {channels}, *S) with {n} spatial axes; "
            f"got input shape {x.shape}."
        )


def _set_window(row: LayerRow, k: Sequence[int], s: Sequence[Any], pads: Sequence[tuple[int, int]],
                d: Sequence[int]) -> None:
    row.kernel, row.stride, row.padding, row.dilation = tuple(k), tuple(s), tuple(pads), tuple(d)


def _install_default_rules() -> None:
    from ..models.lenet import PartialConv, RBFOutput, ScaledTanh, Subsample
    from ..models.unet import Concat

    for cls in (nn.BatchNorm, nn.Dropout, nn.ReLU, nn.LeakyReLU, nn.Sigmoid, nn.Tanh, nn.GELU,
                nn.Softmax, nn.LogSoftmax, nn.Identity, ScaledTanh):
        register_shape_rule(cls, _pointwise)
    register_shape_rule(nn.Conv, _conv_rule)
    register_shape_rule(nn.ConvTranspose, _conv_transpose_rule)
    register_shape_rule(nn.MaxPool, _pool_rule)
    register_shape_rule(nn.AvgPool, _pool_rule)
    register_shape_rule(nn.AdaptiveAvgPool, _adaptive_rule)
    register_shape_rule(nn.AdaptiveMaxPool, _adaptive_rule)
    register_shape_rule(nn.GlobalAvgPool, _global_rule)
    register_shape_rule(nn.GlobalMaxPool, _global_rule)
    register_shape_rule(nn.Flatten, _flatten_rule)
    register_shape_rule(nn.Linear, _linear_rule)
    register_shape_rule(nn.Add, _add_rule)
    register_shape_rule(Concat, _concat_rule)

    def subsample(ctx: _Ctx, x: MetaTensor, args: tuple[Any, ...]) -> MetaTensor:
        k, pads = (2, 2), ((0, 0), (0, 0))
        _set_window(ctx.row, k, k, pads, (1, 1))
        shape = (*x.shape[:2], *pool_output_shape(x.shape[2:], k, k, pads, (1, 1)))
        return MetaTensor(shape, x.dtype, _window_rf(x.rf, k, k, (1, 1), pads), True, (x,),
                          _window_back(k, k, (1, 1), pads, x.shape[2:]))

    def partial_conv(ctx: _Ctx, x: MetaTensor, args: tuple[Any, ...]) -> MetaTensor:
        m = ctx.module
        k = (m.kernel_size, m.kernel_size)
        pads, one = ((0, 0), (0, 0)), (1, 1)
        _set_window(ctx.row, k, one, pads, one)
        out_sp = conv_output_shape(x.shape[2:], k, one, pads, one)
        shape = (x.shape[0], m.out_channels, *out_sp)
        ctx.row.macs = x.shape[0] * math.prod(out_sp) * m.weight.size  # connections * K * K
        return MetaTensor(shape, x.dtype, _window_rf(x.rf, k, one, one, pads), True, (x,),
                          _window_back(k, one, one, pads, x.shape[2:]))

    def rbf(ctx: _Ctx, x: MetaTensor, args: tuple[Any, ...]) -> MetaTensor:
        classes, feats = ctx.module.prototypes.shape
        ctx.row.macs = x.shape[0] * classes * feats
        return MetaTensor((x.shape[0], classes), x.dtype, x.rf, False, (x,), _all(x))

    register_shape_rule(Subsample, subsample)
    register_shape_rule(PartialConv, partial_conv)
    register_shape_rule(RBFOutput, rbf)


def _fallback(ctx: _Ctx, x: MetaTensor, args: tuple[Any, ...]) -> Any:
    """Unknown leaf: run its real forward on the zero-stride data to learn the output shape."""
    m = ctx.module
    real = [Tensor(a.data) if isinstance(a, Tensor) else a for a in (x, *args)]
    out = type(m).forward(m, *real)
    if not isinstance(out, Tensor):
        raise TypeError(
            f"summary: no shape rule for {type(m).__name__} ({ctx.row.name}) and its forward "
            "returned a non-tensor; register one with register_shape_rule."
        )
    same = x.spatial and out.shape[2:] == x.shape[2:] and out.ndim == x.ndim
    ctx.row.note = "no shape rule: ran forward"
    rf = x.rf if same else None
    back: BackFn = (lambda s: [_same_sets(x, s)]) if same else _all(x)
    return MetaTensor(out.shape, out.dtype, rf, same, (x,), back)


# --------------------------------------------------------------------------------------
# The trace
# --------------------------------------------------------------------------------------


@dataclass
class Trace:
    """The rows of one shape-propagation pass, the input and every named module's output."""

    input: MetaTensor
    output: Any
    rows: list[LayerRow]
    outputs: dict[str, MetaTensor]


def _leaves(model: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    for name, m in model.named_modules():
        if not any(True for _ in m.children()) or _find_rule(m) is not None:
            yield name, m


def trace(model: nn.Module, input_shape: Sequence[int], dtype: Any = np.float32,
          batch_size: int = 1) -> Trace:
    """Run ``model``'s forward on a :class:`MetaTensor` of shape ``(batch_size, *input_shape)``.

    Returns the rows (one per leaf call, in call order) and the output of every named module
    (leaves and containers, the last call of each), without computing any activation.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"summary: `model` must be an ndconv Module; got {type(model).__name__}.")
    shape = tuple(input_shape)
    if not shape or not all(isinstance(s, (int, np.integer)) and s >= 1 for s in shape):
        raise ValueError(
            f"summary: `input_shape` must be (C, *spatial) positive ints, without the batch axis; "
            f"got input_shape={input_shape!r}."
        )
    dt = np.dtype(dtype)
    n_axes = len(shape) - 1
    x = MetaTensor((batch_size, *shape), dt, ((0.0, 0.0, 1.0),) * n_axes, True)
    rows: list[LayerRow] = []
    outputs: dict[str, MetaTensor] = {}
    seen_params: set[int] = set()
    patched: list[nn.Module] = []
    handles = []

    def make_forward(name: str, m: nn.Module) -> Callable[..., Any]:
        rule = _find_rule(m) or _fallback

        def forward(*args: Any, **kwargs: Any) -> Any:
            if not args:
                raise TypeError(f"summary: {name} was called without an input.")
            first = _meta_in(args[0], n_axes)
            row = LayerRow(name or type(m).__name__, type(m).__name__, ())
            out = rule(_Ctx(row, m), first, tuple(args[1:]))
            main = out[0] if isinstance(out, tuple) else out
            row.output_shape = tuple(main.shape)
            row.memory = int(main.size) * main.dtype.itemsize
            row.field = _fields(main.rf) if main.spatial or main.rf is not None else None
            fresh = [p for p in m.parameters() if id(p) not in seen_params]
            seen_params.update(id(p) for p in fresh)
            row.params = sum(p.size for p in fresh)
            rows.append(row)
            return out

        return forward

    def record(name: str) -> Callable[..., None]:
        def hook(module: nn.Module, args: Any, out: Any) -> None:
            main = out[0] if isinstance(out, tuple) else out
            if isinstance(main, MetaTensor):
                outputs[name] = main
        return hook

    leaf_names = dict(_leaves(model))
    try:
        for name, m in model.named_modules():
            handles.append(m.register_forward_hook(record(name)))
            if name in leaf_names:
                object.__setattr__(m, "forward", make_forward(name, m))
                patched.append(m)
        out = model(x)
    finally:
        for m in patched:
            m.__dict__.pop("forward", None)
        for h in handles:
            h.remove()
    return Trace(x, out, rows, outputs)


def summary(model: nn.Module, input_shape: Sequence[int], dtype: Any = np.float32,
            batch_size: int = 1) -> Summary:
    """Summarise ``model`` for one input of shape ``input_shape = (C, *spatial)``.

    Per leaf-layer call: output shape, kernel/stride/padding/dilation/groups, parameters and
    their share, multiply-adds (conv + linear, see the module docstring), activation memory
    (bytes of the output) and the receptive field, jump and start per input axis. Computed by
    shape propagation: nothing is allocated for activations, so VGG-16 at 224x224 takes
    milliseconds. Parameters are counted at their first use (shared ones once).

    >>> from ndconv.models import lenet5
    >>> s = summary(lenet5(), (1, 28, 28))
    >>> s.total_params, s.total_macs, s.rows[-1].output_shape
    (61706, 416520, (1, 10))
    """
    tr = trace(model, input_shape, dtype, batch_size)
    total = model.num_parameters()
    for r in tr.rows:
        r.params_pct = 100.0 * r.params / total if total else 0.0
    main = tr.output[0] if isinstance(tr.output, tuple) else tr.output
    return Summary(
        model=type(model).__name__,
        input_shape=(batch_size, *tuple(input_shape)),
        dtype=np.dtype(dtype),
        rows=tr.rows,
        total_params=total,
        trainable_params=model.num_parameters(trainable_only=True),
        total_macs=sum(r.macs for r in tr.rows),
        activation_bytes=sum(r.memory for r in tr.rows),
        param_bytes=sum(p.size * p.dtype.itemsize for p in model.parameters()),
        output_shape=tuple(main.shape) if isinstance(main, Tensor) else None,
        outputs=tr.outputs,
    )


# --------------------------------------------------------------------------------------
# Building models without allocating their weights
# --------------------------------------------------------------------------------------

_META_LOCK = threading.Lock()


class _MetaNumPy:
    """Stands in for ``numpy`` inside the layer modules while :func:`meta_init` is active:
    ``empty``/``zeros``/``ones`` return read-only zero-stride arrays; all else is NumPy's."""

    @staticmethod
    def empty(shape: Any, dtype: Any = np.float64, *args: Any, **kwargs: Any) -> np.ndarray:
        return np.broadcast_to(np.zeros((), dtype), shape)

    zeros = empty

    @staticmethod
    def ones(shape: Any, dtype: Any = np.float64, *args: Any, **kwargs: Any) -> np.ndarray:
        return np.broadcast_to(np.ones((), dtype), shape)

    def __getattr__(self, name: str) -> Any:
        return getattr(np, name)


def _no_fill(tensor: Any, *args: Any, **kwargs: Any) -> Any:
    return tensor


@contextlib.contextmanager
def meta_init() -> Iterator[None]:
    """Build models whose parameters and buffers take no memory (for summaries only).

    Inside the block, the layer modules ``ndconv.nn.conv``, ``ndconv.nn.linear`` and
    ``ndconv.nn.norm`` see a ``numpy`` whose ``empty``/``zeros``/``ones`` return zero-stride
    read-only arrays, and ``ndconv.nn.init``'s samplers (``uniform_``, ``normal_``,
    ``constant_``, which every other initialiser calls) do nothing. Shapes, dtypes and
    parameter counts are exact; values are zeros (ones for batch-norm scales) and read-only:
    such a model can be summarised and traced, not trained or run. Everything is restored on
    exit; a lock serialises concurrent uses. VGG-16 built this way costs kilobytes, not 550 MB.

    >>> from ndconv.models import vgg16
    >>> with meta_init():
    ...     m = vgg16()
    >>> m.num_parameters(), m.classifier[0].weight.data.strides
    (138357544, (0, 0))
    """
    from ..nn import conv, linear, norm

    targets: list[tuple[Any, str, Any]] = [(mod, "np", _MetaNumPy()) for mod in (conv, linear, norm)]
    targets += [(nn_init, f, _no_fill) for f in ("uniform_", "normal_", "constant_")]
    with _META_LOCK:
        saved = [(obj, attr, getattr(obj, attr)) for obj, attr, _ in targets]
        try:
            for obj, attr, value in targets:
                setattr(obj, attr, value)
            yield
        finally:
            for obj, attr, value in saved:
                setattr(obj, attr, value)


def parse_input_spec(spec: str) -> tuple[int, ...]:
    """Parse ``"3x224x224"`` (also ``"3,224,224"`` or ``"3 224 224"``) into ``(3, 224, 224)``.

    Raises:
        ValueError: naming the spec, if an entry is not a positive integer.
    """
    parts = [p for p in spec.replace(",", "x").replace(" ", "x").lower().split("x") if p]
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        dims = ()
    if len(dims) < 2 or any(d < 1 for d in dims):
        raise ValueError(
            f"input spec must be channels then spatial sizes, positive ints joined by 'x' "
            f"(e.g. '3x224x224'); got {spec!r}."
        )
    return dims


def build_meta_model(model_name: str, input_shape: Sequence[int], **kwargs: Any) -> nn.Module:
    """Build zoo model ``model_name`` under :func:`meta_init`; ``in_channels`` (and ``ndim``
    where the builder has it) are taken from ``input_shape``."""
    import inspect

    from ..models import _REGISTRY, get_model

    builder = _REGISTRY.get(model_name)
    params = inspect.signature(builder).parameters if builder is not None else {}
    if "in_channels" in params:
        kwargs.setdefault("in_channels", int(input_shape[0]))
    if "ndim" in params:
        kwargs.setdefault("ndim", len(input_shape) - 1)
    with meta_init():
        return get_model(model_name, **kwargs)


def summary_command(model_name: str, input_spec: str) -> str:
    """Return the printable summary of zoo model ``model_name`` for ``input_spec`` ("3x224x224").

    The model is built under :func:`meta_init`, so even VGG-16 needs no weight memory.
    """
    shape = parse_input_spec(input_spec)
    model = build_meta_model(model_name, shape)
    return str(summary(model, shape))


_install_default_rules()
