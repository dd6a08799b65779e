"""Slow, obviously correct NumPy references for the sliding-window ops (tests only).

Every function here loops in Python over output (or input) positions and does one small,
readable computation per position: no strided views, no im2col, no clever index arithmetic.
They are the oracle for ranks the PyTorch oracle does not reach (4 and more spatial axes) and
for what PyTorch refuses (strided "same", non-zero padding modes on transposed convolution).

Conventions are ndconv's: channels-first ``(N, C, *S)``, convolution weights
``(C_out, C_in // groups, *K)``, transposed-convolution weights ``(C_in, C_out // groups, *K)``,
padding as one ``(lo, hi)`` pair per spatial axis.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

NUMPY_MODE = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _window(start: tuple[int, ...], kernel, dilation) -> tuple[slice, ...]:
    """The slices that pick the (dilated) window starting at ``start`` along the spatial axes."""
    return tuple(slice(s, s + d * (k - 1) + 1, d) for s, k, d in zip(start, kernel, dilation))


def ref_pad(x: np.ndarray, pads, mode: str = "zeros", value: float = 0.0) -> np.ndarray:
    """Pad the trailing ``len(pads)`` axes of ``x`` with ``np.pad``."""
    width = [(0, 0)] * (x.ndim - len(pads)) + [tuple(p) for p in pads]
    if mode == "zeros":
        return np.pad(x, width, mode="constant", constant_values=value)
    return np.pad(x, width, mode=NUMPY_MODE[mode])


def ref_pad_adjoint(g: np.ndarray, pads, mode: str) -> np.ndarray:
    """The adjoint of :func:`ref_pad`: send every padded cell's value back to its source cell.

    The source of each padded cell is found by padding an array of flat source indices with the
    same mode (padding cells of "zeros" have no source and are dropped).
    """
    n = len(pads)
    lead, padded = g.shape[: g.ndim - n], g.shape[g.ndim - n :]
    spatial = tuple(s - lo - hi for s, (lo, hi) in zip(padded, pads))
    size = math.prod(spatial)
    ids = np.arange(size).reshape(spatial)
    if mode == "zeros":
        src = np.pad(ids, [tuple(p) for p in pads], mode="constant", constant_values=-1)
    else:
        src = np.pad(ids, [tuple(p) for p in pads], mode=NUMPY_MODE[mode])
    out = np.zeros(lead + (size,), g.dtype)
    flat_g = g.reshape(lead + (-1,))
    for j, s in enumerate(src.ravel()):
        if s >= 0:
            out[..., s] += flat_g[..., j]
    return out.reshape(lead + spatial)


def ref_conv(x, w, b=None, stride=None, pads=None, dilation=None, groups=1, padding_mode="zeros"):
    """Cross-correlate ``x`` (N, C_in, *S) with ``w`` (C_out, C_in // groups, *K).

    ``y[n, o, *p] = b[o] + sum_{c, *k} w[o, c, *k] * xp[n, g*C_g + c, *(p*stride + k*dilation)]``
    with ``xp`` the padded input.
    """
    n = w.ndim - 2
    stride = stride or (1,) * n
    dilation = dilation or (1,) * n
    pads = pads or ((0, 0),) * n
    kernel = w.shape[2:]
    xp = ref_pad(x, pads, padding_mode)
    c_out, c_g = w.shape[:2]
    co_g = c_out // groups
    out = tuple(
        (s - d * (k - 1) - 1) // st + 1 for s, k, st, d in zip(xp.shape[2:], kernel, stride, dilation)
    )
    y = np.zeros((x.shape[0], c_out) + out, np.result_type(x, w))
    for p in itertools.product(*(range(o) for o in out)):
        start = tuple(i * st for i, st in zip(p, stride))
        for g in range(groups):
            patch = xp[(slice(None), slice(g * c_g, (g + 1) * c_g)) + _window(start, kernel, dilation)]
            filt = w[g * co_g : (g + 1) * co_g]  # (C_out/groups, C_g, *K)
            # sum over the channel and every kernel axis of patch * filter
            y[(slice(None), slice(g * co_g, (g + 1) * co_g)) + p] = np.tensordot(
                patch, filt, axes=(list(range(1, n + 2)), list(range(1, n + 2)))
            )
    if b is not None:
        y = y + b.reshape((1, c_out) + (1,) * n)
    return y


def conv_transpose_out_size(in_spatial, kernel, stride, pads, dilation, output_padding):
    return tuple(
        (s - 1) * st - lo - hi + d * (k - 1) + op + 1
        for s, k, st, (lo, hi), d, op in zip(in_spatial, kernel, stride, pads, dilation, output_padding)
    )


def ref_conv_transpose(
    x, w, b=None, stride=None, pads=None, dilation=None, groups=1, padding_mode="zeros", output_padding=None
):
    """The adjoint of :func:`ref_conv` (same ``w``, read as (C_in, C_out // groups, *K)).

    Every input value scatters a scaled copy of its kernel into the padded output; the padding
    is then folded back with the adjoint of the padding mode (zeros: crop).
    """
    n = w.ndim - 2
    stride = stride or (1,) * n
    dilation = dilation or (1,) * n
    pads = pads or ((0, 0),) * n
    output_padding = output_padding or (0,) * n
    kernel = w.shape[2:]
    c_in, co_g = w.shape[:2]
    ci_g = c_in // groups
    out = conv_transpose_out_size(x.shape[2:], kernel, stride, pads, dilation, output_padding)
    full = tuple(o + lo + hi for o, (lo, hi) in zip(out, pads))
    yp = np.zeros((x.shape[0], co_g * groups) + full, np.result_type(x, w))
    for p in itertools.product(*(range(s) for s in x.shape[2:])):
        start = tuple(i * st for i, st in zip(p, stride))
        for g in range(groups):
            vals = x[(slice(None), slice(g * ci_g, (g + 1) * ci_g)) + p]  # (N, C_in/groups)
            filt = w[g * ci_g : (g + 1) * ci_g]  # (C_in/groups, C_out/groups, *K)
            yp[(slice(None), slice(g * co_g, (g + 1) * co_g)) + _window(start, kernel, dilation)] += (
                np.tensordot(vals, filt, axes=(1, 0))
            )
    y = ref_pad_adjoint(yp, pads, padding_mode)
    if b is not None:
        y = y + b.reshape((1, -1) + (1,) * n)
    return y


def same_pads(in_spatial, kernel, stride, dilation):
    """TensorFlow's "same": out = ceil(in / stride), the odd pixel on the high side."""
    pads = []
    for s, k, st, d in zip(in_spatial, kernel, stride, dilation):
        out = math.ceil(s / st)
        total = max((out - 1) * st + d * (k - 1) + 1 - s, 0)
        pads.append((total // 2, total - total // 2))
    return tuple(pads)


def pool_out_size(s, k, st, lo, hi, d, ceil_mode):
    span = s + lo + hi - d * (k - 1) - 1
    o = (math.ceil(span / st) if ceil_mode else span // st) + 1
    if ceil_mode and (o - 1) * st >= s + lo:  # the last window must start inside input or low pad
        o -= 1
    return o


def _pool_setup(x, kernel, stride, pads, dilation, ceil_mode):
    n = len(kernel)
    stride = stride or tuple(kernel)
    dilation = dilation or (1,) * n
    pads = pads or ((0, 0),) * n
    out = tuple(
        pool_out_size(s, k, st, lo, hi, d, ceil_mode)
        for s, k, st, (lo, hi), d in zip(x.shape[2:], kernel, stride, pads, dilation)
    )
    return stride, dilation, pads, out


def ref_max_pool(x, kernel, stride=None, pads=None, dilation=None, ceil_mode=False):
    """Max over each window of ``x`` padded with -inf; also return the flat input index of the
    first maximal element of each window in row-major kernel order."""
    stride, dilation, pads, out = _pool_setup(x, kernel, stride, pads, dilation, ceil_mode)
    spatial = x.shape[2:]
    y = np.zeros(x.shape[:2] + out, x.dtype)
    idx = np.zeros(x.shape[:2] + out, np.int64)
    for nc in itertools.product(range(x.shape[0]), range(x.shape[1])):
        for p in itertools.product(*(range(o) for o in out)):
            best, best_i = -np.inf, None
            for k in itertools.product(*(range(kk) for kk in kernel)):
                pos = tuple(pi * st + ki * d - lo for pi, st, ki, d, (lo, _) in zip(p, stride, k, dilation, pads))
                inside = all(0 <= q < s for q, s in zip(pos, spatial))
                v = x[nc + pos] if inside else -np.inf
                if best_i is None or v > best:  # strict: the first maximum wins
                    best, best_i = v, pos
            y[nc + p] = best
            idx[nc + p] = np.ravel_multi_index(best_i, spatial) if all(
                0 <= q < s for q, s in zip(best_i, spatial)
            ) else -1
    return y, idx


def ref_avg_pool(
    x, kernel, stride=None, pads=None, dilation=None, ceil_mode=False, count_include_pad=True,
    divisor_override=None,
):
    """Mean over each window: the sum of the input cells it covers, divided by the cells counted
    (input cells, plus padding cells if ``count_include_pad``; never the ceil-mode overhang)."""
    stride, dilation, pads, out = _pool_setup(x, kernel, stride, pads, dilation, ceil_mode)
    spatial = x.shape[2:]
    y = np.zeros(x.shape[:2] + out, x.dtype)
    for p in itertools.product(*(range(o) for o in out)):
        total = np.zeros(x.shape[:2], x.dtype)
        count = 0
        for k in itertools.product(*(range(kk) for kk in kernel)):
            pos = tuple(pi * st + ki * d - lo for pi, st, ki, d, (lo, _) in zip(p, stride, k, dilation, pads))
            if all(0 <= q < s for q, s in zip(pos, spatial)):
                total = total + x[(slice(None), slice(None)) + pos]
                count += 1
            elif count_include_pad and all(
                -lo <= q < s + hi for q, s, (lo, hi) in zip(pos, spatial, pads)
            ):
                count += 1
        divisor = divisor_override if divisor_override is not None else max(count, 1)
        y[(slice(None), slice(None)) + p] = total / divisor
    return y


def adaptive_window(i: int, length: int, out: int) -> slice:
    """Adaptive window ``i`` of ``out`` over ``length``: [floor(i*L/out), ceil((i+1)*L/out))."""
    return slice((i * length) // out, -((-(i + 1) * length) // out))


def ref_adaptive_avg_pool(x, output_size):
    y = np.zeros(x.shape[:2] + tuple(output_size), x.dtype)
    for p in itertools.product(*(range(o) for o in output_size)):
        win = tuple(adaptive_window(i, s, o) for i, s, o in zip(p, x.shape[2:], output_size))
        y[(slice(None), slice(None)) + p] = x[(slice(None), slice(None)) + win].mean(
            axis=tuple(range(2, x.ndim))
        )
    return y


def ref_adaptive_max_pool(x, output_size):
    y = np.zeros(x.shape[:2] + tuple(output_size), x.dtype)
    for p in itertools.product(*(range(o) for o in output_size)):
        win = tuple(adaptive_window(i, s, o) for i, s, o in zip(p, x.shape[2:], output_size))
        y[(slice(None), slice(None)) + p] = x[(slice(None), slice(None)) + win].max(
            axis=tuple(range(2, x.ndim))
        )
    return y


def ref_unfold(x, kernel, stride, pads, dilation):
    """im2col: (N, C, *S) -> (N, C*prod(K), L), rows channel-major then kernel offset."""
    xp = ref_pad(x, pads)
    out = tuple(
        (s - d * (k - 1) - 1) // st + 1 for s, k, st, d in zip(xp.shape[2:], kernel, stride, dilation)
    )
    cols = []
    for p in itertools.product(*(range(o) for o in out)):
        start = tuple(i * st for i, st in zip(p, stride))
        patch = xp[(slice(None), slice(None)) + _window(start, kernel, dilation)]
        cols.append(patch.reshape(x.shape[0], -1))
    return np.stack(cols, axis=-1)
