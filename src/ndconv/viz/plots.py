"""Pictures of a network: feature maps, learned filters, training curves, confusion matrices.

Matplotlib is optional (``pip install "ndconv[plot]"``) and imported only inside the functions
that draw. Figures are built on ``matplotlib.figure.Figure`` with the Agg canvas -- never
pyplot's global state -- so they work in scripts, servers and threads, and are returned for
the caller to save, show or embed (every function also takes ``path=`` to save directly).

The array helpers (:func:`filter_grid_array`, :func:`confusion_matrix`) need NumPy only.

>>> w = np.random.default_rng(0).standard_normal((6, 1, 5, 5))
>>> filter_grid_array(w).shape                  # 6 filters of 5x5 in a 3x2 grid, 1-pixel gaps
(13, 19)
>>> confusion_matrix([0, 1, 1, 2], [0, 2, 1, 2], num_classes=3)
array([[1, 0, 0],
       [0, 1, 1],
       [0, 0, 1]])
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ..autograd import Tensor
from ..nn.module import Module
from .capture import capture, resolve_layers

__all__ = [
    "feature_maps",
    "filters",
    "filter_grid_array",
    "training_curves",
    "confusion_matrix",
    "plot_confusion_matrix",
]

_SPLITS = ("train_", "val_", "valid_", "validation_", "test_")


# --- matplotlib, lazily -------------------------------------------------------------------


def _figure(op: str, figsize: tuple[float, float]) -> Any:
    """Return a new Agg-backed ``Figure``; raise ImportError naming the extra if matplotlib is absent."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(
            f'{op}: plotting needs matplotlib, which is not installed; install it with: '
            f'pip install "ndconv[plot]"'
        ) from exc
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _finish(fig: Any, path: str | os.PathLike[str] | None, dpi: int) -> Any:
    if path is not None:
        fig.savefig(os.fspath(path), dpi=dpi)
    return fig


def _grid(n: int, cols: int | None = None) -> tuple[int, int]:
    """Rows and columns of a near-square grid holding ``n`` cells (``cols`` if given)."""
    c = max(1, min(n, cols if cols is not None else math.ceil(math.sqrt(n))))
    return math.ceil(n / c), c


def _check_int(value: Any, name: str, op: str, minimum: int = 1) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{op}: `{name}` must be an int >= {minimum}; got {name}={value!r}.")
    return int(value)


def _to_2d(a: np.ndarray) -> np.ndarray:
    """Reduce an N-d map to at most 2-D by taking the middle slice of each leading axis."""
    while a.ndim > 2:
        a = a[a.shape[0] // 2]
    return a


# --- feature maps ---------------------------------------------------------------------


def feature_maps(
    model: Module,
    x: Any,
    layers: str | Iterable[str] | None = None,
    max_channels: int = 16,
    index: int = 0,
    cols: int = 8,
    path: str | os.PathLike[str] | None = None,
    dpi: int = 100,
) -> Any:
    """Draw the activations of chosen layers for one input, one small panel per channel.

    Each layer gets its own block of rows, ``min(channels, max_channels)`` panels, ``cols``
    per row. A channel with 2 spatial axes is an image; with 1, a curve; with 3 or more, the
    middle slice of each leading axis (a 3-D volume shows its middle depth slice). A layer
    whose output has no spatial axes (``(N, features)``, e.g. a Linear layer) is one panel
    showing the vector as a curve.

    Args:
        model: the network; run once on ``x`` under ``no_grad`` (see :func:`capture`).
        x: a batch ``(N, C, *S)``; only example ``index`` is drawn.
        layers: dotted layer names; None: every leaf layer whose output has spatial axes.
        max_channels: the most channels drawn per layer (the first ones).
        index: which example of the batch to draw.
        cols: panels per row.
        path: save the figure there too (format from the suffix).
        dpi: resolution when saving.

    Returns:
        The ``matplotlib.figure.Figure``.

    Raises:
        ValueError: for an unknown layer, or ``index``/``max_channels``/``cols`` out of range.
        ImportError: if matplotlib is not installed.
    """
    op = "feature_maps"
    max_channels = _check_int(max_channels, "max_channels", op)
    cols = _check_int(cols, "cols", op)
    names = None if layers is None else list(resolve_layers(model, layers, op))
    acts = capture(model, x, names)
    if layers is None:
        acts = {k: v for k, v in acts.items() if v.ndim >= 3}
    if not acts:
        raise ValueError(f"{op}: no chosen layer produced an output to draw; got layers={layers!r}.")
    n_batch = next(iter(acts.values())).shape[0]
    if not isinstance(index, numbers.Integral) or not 0 <= index < n_batch:
        raise ValueError(f"{op}: `index` must be an int in [0, {n_batch}); got index={index!r}.")
    panels: list[tuple[str, list[np.ndarray], bool]] = []  # (layer, maps, is a plain vector)
    for name, a in acts.items():
        sample = a[index]
        if sample.ndim <= 1:
            panels.append((name, [sample.reshape(-1)], True))
        else:
            panels.append((name, [_to_2d(ch) for ch in sample[:max_channels]], False))
    row_counts = [_grid(len(p), cols)[0] for _, p, _ in panels]
    ncols = min(cols, max(len(p) for _, p, _ in panels))
    fig = _figure(op, (1.4 * ncols + 0.5, 1.5 * sum(row_counts) + 0.3))
    gs = fig.add_gridspec(sum(row_counts), ncols)
    row = 0
    for (name, maps, vector), nrows in zip(panels, row_counts):
        for i, m in enumerate(maps):
            ax = fig.add_subplot(gs[row + i // ncols, i % ncols])
            if m.ndim == 2:
                ax.imshow(m, cmap="viridis", interpolation="nearest")
            else:
                ax.plot(m, linewidth=0.8)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title((name or "(model)") if vector else f"{name}[{i}]", fontsize=7)
        row += nrows
    return _finish(fig, path, dpi)


# --- filters --------------------------------------------------------------------------


def _weight_array(layer_or_weight: Any, op: str) -> np.ndarray:
    w = layer_or_weight
    if isinstance(w, Module):
        if not isinstance(getattr(w, "weight", None), Tensor):
            raise TypeError(f"{op}: layer {type(w).__name__} has no `weight` tensor to draw.")
        w = w.weight
    arr = np.asarray(w.data if isinstance(w, Tensor) else w, dtype=np.float64)
    if arr.ndim < 3:
        raise ValueError(
            f"{op}: the weight must have shape (C_out, C_in, *kernel) with at least one kernel "
            f"axis; got shape={arr.shape}."
        )
    return arr


def _normalise(a: np.ndarray) -> np.ndarray:
    lo, hi = float(a.min()), float(a.max())
    return np.full_like(a, 0.5) if hi == lo else (a - lo) / (hi - lo)


def _side_by_side(parts: Sequence[np.ndarray], axis: int, pad: int, pad_value: float) -> np.ndarray:
    """Concatenate equally shaped arrays along ``axis`` with ``pad`` gaps of ``pad_value``."""
    gap_shape = list(parts[0].shape)
    gap_shape[axis] = pad
    gap = np.full(gap_shape, pad_value)
    pieces: list[np.ndarray] = []
    for i, p in enumerate(parts):
        if i:
            pieces.append(gap)
        pieces.append(p)
    return np.concatenate(pieces, axis=axis)


def _filter_tile(w: np.ndarray, rgb: bool, max_channels: int, pad: int, pad_value: float) -> np.ndarray:
    """One filter ``(C_in, *K)`` as an image in [0, 1]: see :func:`filter_grid_array`."""
    w = _normalise(w)
    while w.ndim > 4:  # rank > 3 kernels: middle slice of each leading kernel axis
        w = w[:, w.shape[1] // 2]
    if w.ndim == 2:  # 1-D kernels: a (C_in, K) heat map
        return w[:max_channels]
    if rgb:
        w = np.moveaxis(w, 0, -1)  # (*K, 3)
        if w.ndim == 3:
            return w
        return _side_by_side(list(w), 1, pad, pad_value)  # depth slices left to right
    w = w[:max_channels]
    if w.ndim == 3:  # 2-D kernels: input channels left to right
        return _side_by_side(list(w), 1, pad, pad_value)
    # 3-D kernels: one row per input channel, its depth slices left to right
    rows = [_side_by_side(list(c), 1, pad, pad_value) for c in w]
    return _side_by_side(rows, 0, pad, pad_value)


def _use_rgb(w: np.ndarray, rgb: bool | None, op: str) -> bool:
    if rgb is None:
        return w.shape[1] == 3 and w.ndim >= 4
    if rgb and w.shape[1] != 3:
        raise ValueError(f"{op}: `rgb=True` needs 3 input channels; got weight shape={w.shape}.")
    return bool(rgb)


def filter_grid_array(
    weight: Any,
    max_filters: int | None = None,
    max_channels: int = 16,
    rgb: bool | None = None,
    pad: int = 1,
    pad_value: float = 1.0,
) -> np.ndarray:
    """Tile the filters of a convolution weight into one image array.

    Each filter ``weight[o]`` (``(C_in, *K)``) is scaled to [0, 1] by its own min and max and
    drawn as a tile:

    - 2-D kernels, 3 input channels (``rgb``): a ``(kh, kw, 3)`` colour tile;
    - 2-D kernels otherwise: its input channels side by side, ``(kh, C*(kw+pad)-pad)``;
    - 1-D kernels: a ``(C_in, k)`` heat map (one row per input channel);
    - 3-D kernels: a row per input channel holding its depth slices side by side,
      ``(C*(kh+pad)-pad, kd*(kw+pad)-pad)`` (RGB: one row of colour slices);
    - rank > 3: the middle slice of each leading kernel axis, down to 3-D.

    The tiles fill a near-square grid of ``cols = ceil(sqrt(n))`` columns with ``pad``-pixel
    gaps and border of value ``pad_value``: shape ``(rows*(th+pad)+pad, cols*(tw+pad)+pad)``
    (plus a trailing 3 for RGB).

    Args:
        weight: ``(C_out, C_in, *K)``: an array, a Tensor, or a layer with a ``weight``.
        max_filters: draw only the first filters; None: all.
        max_channels: the most input channels per grayscale tile.
        rgb: None: colour when ``C_in == 3`` (and kernels have >= 2 axes); False: grayscale.
        pad: the gap in pixels, ``>= 0``; pad_value: its value.

    Returns:
        A float64 array, 2-D (grayscale) or 3-D with 3 colour channels last.

    >>> filter_grid_array(np.ones((8, 3, 3, 3))).shape   # 8 RGB 3x3 filters, 3 columns
    (13, 13, 3)
    >>> filter_grid_array(np.ones((4, 2, 7))).shape      # 1-D kernels: 2x7 heat maps
    (7, 17)
    """
    op = "filter_grid_array"
    w = _weight_array(weight, op)
    if max_filters is not None:
        w = w[:_check_int(max_filters, "max_filters", op)]
    max_channels = _check_int(max_channels, "max_channels", op)
    pad = _check_int(pad, "pad", op, minimum=0)
    use_rgb = _use_rgb(w, rgb, op)
    tiles = [_filter_tile(f, use_rgb, max_channels, pad, pad_value) for f in w]
    rows, cols = _grid(len(tiles))
    th, tw = tiles[0].shape[:2]
    extra = tiles[0].shape[2:]
    out = np.full((rows * (th + pad) + pad, cols * (tw + pad) + pad, *extra), pad_value)
    for i, t in enumerate(tiles):
        r, c = divmod(i, cols)
        top, left = pad + r * (th + pad), pad + c * (tw + pad)
        out[top:top + th, left:left + tw] = t
    return out


def filters(
    layer_or_weight: Any,
    max_filters: int = 64,
    max_channels: int = 16,
    rgb: bool | None = None,
    path: str | os.PathLike[str] | None = None,
    dpi: int = 100,
) -> Any:
    """Draw the learned kernels of a convolution, one panel per filter.

    2-D and 3-D kernels are drawn as the tiles of :func:`filter_grid_array` (colour when the
    layer reads 3 channels, e.g. a first layer on RGB images; grayscale per input channel
    otherwise; 3-D kernels as depth slices); 1-D kernels as curves, one per input channel.

    Args:
        layer_or_weight: a convolution layer, or its weight ``(C_out, C_in, *K)``.
        max_filters: the most filters drawn (the first ones).
        max_channels: the most input channels drawn per filter (grayscale and curves).
        rgb: None: colour when ``C_in == 3``; False: force grayscale.
        path: save the figure there too; dpi: resolution when saving.

    Returns:
        The ``matplotlib.figure.Figure`` with one axes per drawn filter.

    Raises:
        ValueError, TypeError: for a weight that is not ``(C_out, C_in, *K)``.
        ImportError: if matplotlib is not installed.
    """
    op = "filters"
    w = _weight_array(layer_or_weight, op)[:_check_int(max_filters, "max_filters", op)]
    max_channels = _check_int(max_channels, "max_channels", op)
    use_rgb = _use_rgb(w, rgb, op)
    rows, cols = _grid(len(w))
    fig = _figure(op, (1.3 * cols + 0.4, 1.3 * rows + 0.3))
    for o, f in enumerate(w):
        ax = fig.add_subplot(rows, cols, o + 1)
        if f.ndim == 2:
            for c, curve in enumerate(f[:max_channels]):
                ax.plot(curve, marker=".", linewidth=0.8, label=f"in {c}")
            ax.axhline(0.0, color="0.7", linewidth=0.5)
        else:
            tile = _filter_tile(f, use_rgb, max_channels, 1, 1.0)
            ax.imshow(tile, cmap=None if use_rgb else "gray", vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"#{o}", fontsize=7)
    return _finish(fig, path, dpi)


# --- training curves ------------------------------------------------------------------


def _columns(metrics: Any, op: str) -> dict[str, list[float]]:
    """Turn ``{name: [values]}`` or ``[{name: value}, ...]`` into numeric columns."""
    if isinstance(metrics, Mapping):
        raw = {str(k): list(v) for k, v in metrics.items()}
    elif isinstance(metrics, Sequence) and not isinstance(metrics, str):
        if not all(isinstance(row, Mapping) for row in metrics):
            raise TypeError(f"{op}: `metrics` as a list must hold one dict per epoch; got {metrics!r:.80}.")
        keys: list[str] = []
        for row in metrics:
            keys += [str(k) for k in row if str(k) not in keys]
        raw = {k: [row.get(k, math.nan) for row in metrics] for k in keys}
    else:
        raise TypeError(
            f"{op}: `metrics` must be a dict of lists or a list of per-epoch dicts; "
            f"got {type(metrics).__name__}."
        )

    def numeric(v: Any) -> bool:
        return v is None or (isinstance(v, numbers.Real) and not isinstance(v, bool))

    return {k: [math.nan if v is None else float(v) for v in vals]
            for k, vals in raw.items() if vals and all(numeric(v) for v in vals)}


def training_curves(
    metrics: Mapping[str, Sequence[float]] | Sequence[Mapping[str, Any]],
    path: str | os.PathLike[str] | None = None,
    dpi: int = 100,
) -> Any:
    """Plot metrics per epoch: one axes per quantity, one line per split.

    Keys are grouped by the quantity after a split prefix (``train_``, ``val_``, ``valid_``,
    ``validation_``, ``test_``): ``train_loss`` and ``test_loss`` share the "loss" axes,
    ``train_acc`` and ``test_acc`` the "acc" axes. A key ``epoch`` gives the x values
    (default 1, 2, ...). Non-numeric entries (e.g. strings) are skipped; missing values in
    the per-epoch-dict form are gaps.

    Args:
        metrics: ``{"train_loss": [...], "test_acc": [...]}`` or ``[{"epoch": 1, ...}, ...]``
            (the rows of a ``metrics.json``).
        path: save the figure there too; dpi: resolution when saving.

    Returns:
        The ``matplotlib.figure.Figure``.

    Raises:
        TypeError: if ``metrics`` is neither form; ValueError: if nothing numeric is left.
    """
    op = "training_curves"
    cols = _columns(metrics, op)
    x = cols.pop("epoch", None)
    if not cols:
        raise ValueError(f"{op}: `metrics` holds no numeric series to plot; got keys {list(cols)}.")
    groups: dict[str, list[str]] = {}
    for key in cols:
        quantity = next((key[len(p):] for p in _SPLITS if key.startswith(p) and len(key) > len(p)), key)
        groups.setdefault(quantity, []).append(key)
    rows, ncols = _grid(len(groups), 3)
    fig = _figure(op, (4.0 * ncols, 3.0 * rows))
    for i, (quantity, keys) in enumerate(groups.items()):
        ax = fig.add_subplot(rows, ncols, i + 1)
        for key in keys:
            ys = cols[key]
            xs = x[: len(ys)] if x is not None and len(x) >= len(ys) else list(range(1, len(ys) + 1))
            ax.plot(xs, ys, marker="o", markersize=3, label=key)
        ax.set_title(quantity)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _finish(fig, path, dpi)


# --- confusion matrix -----------------------------------------------------------------


def confusion_matrix(y_true: Any, y_pred: Any, num_classes: int | None = None) -> np.ndarray:
    """Count how often each true class (row) was predicted as each class (column).

    Args:
        y_true, y_pred: integer labels of the same length, in ``[0, num_classes)``.
        num_classes: the number of classes; None: ``1 + max`` of both label arrays.

    Returns:
        An int64 array ``(num_classes, num_classes)``: ``cm[t, p]`` = #(true t, predicted p).

    Raises:
        ValueError: for labels that are not 1-D integers of equal length, or out of range.
    """
    op = "confusion_matrix"
    t = np.asarray(y_true.data if isinstance(y_true, Tensor) else y_true)
    p = np.asarray(y_pred.data if isinstance(y_pred, Tensor) else y_pred)
    for name, a in (("y_true", t), ("y_pred", p)):
        if a.ndim != 1 or (a.size and a.dtype.kind not in "iu"):
            raise ValueError(
                f"{op}: `{name}` must be 1-D integer labels; got shape={a.shape}, dtype={a.dtype}."
            )
    if t.shape != p.shape:
        raise ValueError(
            f"{op}: `y_true` and `y_pred` must have the same length; got {t.shape} and {p.shape}."
        )
    if num_classes is None:
        num_classes = int(max(t.max(initial=-1), p.max(initial=-1))) + 1
    k = _check_int(num_classes, "num_classes", op)
    for name, a in (("y_true", t), ("y_pred", p)):
        if a.size and (a.min() < 0 or a.max() >= k):
            raise ValueError(
                f"{op}: `{name}` must lie in [0, {k}) (num_classes={k}); got values "
                f"{int(a.min())}..{int(a.max())}."
            )
    counts = np.bincount(t.astype(np.int64) * k + p.astype(np.int64), minlength=k * k)
    return counts.reshape(k, k).astype(np.int64)


def plot_confusion_matrix(
    cm: Any,
    class_names: Sequence[str] | None = None,
    normalize: bool = False,
    path: str | os.PathLike[str] | None = None,
    dpi: int = 100,
) -> Any:
    """Draw a confusion matrix as a heat map, true class down, predicted class across.

    Cells are annotated with their counts (or row fractions with ``normalize``) when there
    are at most 20 classes.

    Args:
        cm: a square matrix from :func:`confusion_matrix`.
        class_names: one label per class; None: 0, 1, ...
        normalize: divide each row by its total (the recall of each class on the diagonal).
        path: save the figure there too; dpi: resolution when saving.

    Returns:
        The ``matplotlib.figure.Figure`` (the matrix axes and its colour bar).

    Raises:
        ValueError: for a non-square ``cm`` or the wrong number of ``class_names``.
    """
    op = "plot_confusion_matrix"
    m = np.asarray(cm, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] == 0:
        raise ValueError(f"{op}: `cm` must be a non-empty square matrix; got shape={m.shape}.")
    k = m.shape[0]
    names = [str(i) for i in range(k)] if class_names is None else [str(c) for c in class_names]
    if len(names) != k:
        raise ValueError(f"{op}: `class_names` must have {k} entries; got {len(names)}.")
    if normalize:
        m = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    size = 1.0 + 0.45 * k
    fig = _figure(op, (size + 1.2, size))
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(m, cmap="Blues", interpolation="nearest")
    fig.colorbar(image, ax=ax, shrink=0.8)
    ax.set_xticks(range(k), names, rotation=45 if max(map(len, names)) > 2 else 0)
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if k <= 20:
        top = m.max() if m.size else 0.0
        for (i, j), v in np.ndenumerate(m):
            text = f"{v:.2f}" if normalize else f"{int(v)}"
            ax.text(j, i, text, ha="center", va="center", fontsize=7,
                    color="white" if v > 0.6 * top else "black")
    return _finish(fig, path, dpi)
