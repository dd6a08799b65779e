"""Feature visualisation: synthesise the input that excites one channel of one layer most.

Activation maximisation (Erhan et al., 2009; Olah, Mordvintsev & Schubert, "Feature
Visualization", Distill 2017) runs gradient *ascent* on the input to raise the mean
activation of a chosen channel. Unconstrained, it finds high-frequency patterns that no
natural input contains, so three things steer it towards legible pictures:

- **parameterisation**: with ``param="fft"`` the input is the inverse real FFT of learnable
  coefficients whose spectrum is scaled by ``1 / frequency`` -- natural signals have roughly
  that spectrum, so each step changes low frequencies more than high ones (a decorrelated,
  "whitened" input space). It works for any number of channels (each channel on its own;
  no colour decorrelation) and any number of spatial axes. ``param="pixel"`` optimises the
  values directly.
- **robustness transforms** applied at every step before the network sees the input:
  reflect-padding, a random roll (``jitter``), a random zoom (``scale``, nearest-neighbour
  index maps) and a random rotation (``rotate``, nearest-neighbour, in the plane of the
  *last two* spatial axes -- so a 3-D volume turns about its first axis; 1-D signals are not
  rotated), then a crop back to the input's size. All are index maps, so gradients flow
  through them exactly.
- **regularisers** on the input: total variation (``tv``), ``l1`` and ``l2`` penalties.

The FFT parameterisation is a small primitive of its own, :func:`irfftn`, whose VJP is the
adjoint of ``numpy.fft.irfftn`` with respect to the real and imaginary coefficients.

>>> import ndconv as nc, ndconv.nn as nn
>>> nc.manual_seed(0)
>>> net = nn.Sequential(nn.Conv1d(1, 4, 5), nn.ReLU())
>>> img = visualize_feature(net, "1", channel=2, input_shape=(1, 32), steps=8, seed=0)
>>> img.shape
(1, 32)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import ops
from ..attacks import frozen_eval
from ..autograd import Tensor, enable_grad, record
from ..nn import functional as F
from ..nn.module import Module
from ..optim import Adam
from .capture import resolve_layers

__all__ = ["visualize_feature", "irfftn", "spectrum_scale"]


# --- the FFT parameterisation ---------------------------------------------------------


def _hermitian_weights(n: int) -> np.ndarray:
    """How many times each rfft bin along the last axis counts in the full spectrum.

    Bins 1..ceil(n/2)-1 stand for themselves and their mirror image (weight 2); the DC bin and,
    for even ``n``, the Nyquist bin have no mirror (weight 1).
    """
    w = np.full(n // 2 + 1, 2.0)
    w[0] = 1.0
    if n % 2 == 0:
        w[-1] = 1.0
    return w


def irfftn(real: Tensor, imag: Tensor, shape: Sequence[int]) -> Tensor:
    """Return ``numpy.fft.irfftn(real + 1j*imag, s=shape, norm="ortho")`` over the last axes.

    A primitive: the forward is NumPy's inverse real FFT over the trailing ``len(shape)``
    axes; the VJP is its adjoint. Writing ``y = irfftn(Z)`` with ``Z = a + i b``, the map
    ``(a, b) -> y`` is real-linear, and with the orthonormal scaling its adjoint is
    ``G = rfftn(g) * w`` (``w``: :func:`_hermitian_weights` along the last axis, since each
    interior rfft bin also stands for its mirror image), giving ``(Re G, Im G)``. The
    imaginary parts that ``irfftn`` ignores (the DC and Nyquist bins along the last axis)
    correctly receive zero gradient.

    Args:
        real, imag: coefficients ``(..., *shape[:-1], shape[-1] // 2 + 1)``.
        shape: the spatial shape of the output.

    Returns:
        A real tensor ``(..., *shape)`` of ``real``'s dtype.

    >>> import ndconv as nc
    >>> a = nc.tensor(np.zeros((2, 4, 3)), requires_grad=True)
    >>> y = irfftn(a, nc.tensor(np.zeros((2, 4, 3))), (4, 4))
    >>> y.shape, y.dtype
    ((2, 4, 4), dtype('float64'))
    """
    s = tuple(int(v) for v in shape)
    k = len(s)
    expected = (*s[:-1], s[-1] // 2 + 1)
    if k == 0 or real.shape != imag.shape or real.shape[-k:] != expected:
        raise ValueError(
            f"irfftn: `real` and `imag` must both end in {expected} for shape={s}; got "
            f"real.shape={real.shape}, imag.shape={imag.shape}."
        )
    axes = tuple(range(-k, 0))
    dtype = real.dtype
    out = np.fft.irfftn(real.data + 1j * imag.data, s=s, axes=axes, norm="ortho").astype(dtype)
    w = _hermitian_weights(s[-1])

    def vjp(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        G = np.fft.rfftn(g, s=s, axes=axes, norm="ortho") * w  # adjoint of irfftn
        return G.real.astype(dtype), G.imag.astype(dtype)

    return record(out, (real, imag), vjp, "irfftn")


def spectrum_scale(shape: Sequence[int], decay: float = 1.0) -> np.ndarray:
    """Return ``1 / max(|f|, 1/max(shape)) ** decay`` on the rfft grid of ``shape``, RMS 1.

    ``|f|`` is the Euclidean length of the frequency vector in cycles per sample; the floor
    keeps the DC term finite. Normalised to a root-mean-square of 1, so coefficients of
    standard deviation ``sd`` give an input of roughly that standard deviation.

    >>> spectrum_scale((8, 8)).shape
    (8, 5)
    """
    freqs = [np.fft.fftfreq(n) for n in shape[:-1]] + [np.fft.rfftfreq(shape[-1])]
    grids = np.meshgrid(*freqs, indexing="ij")
    f = np.sqrt(sum(g * g for g in grids))
    scale = 1.0 / np.maximum(f, 1.0 / max(shape)) ** decay
    return scale / np.sqrt(np.mean(scale**2))


# --- robustness transforms (index maps, so gradients flow) ------------------------------


def _roll(x: Tensor, shift: int, axis: int) -> Tensor:
    n = x.shape[axis]
    shift %= n
    if shift == 0:
        return x
    head = (slice(None),) * axis
    return ops.concat([x[head + (slice(n - shift, None),)], x[head + (slice(0, n - shift),)]], axis=axis)


def _zoom(x: Tensor, factor: float, axis: int) -> Tensor:
    """Zoom about the centre along ``axis`` by ``factor``, nearest neighbour, same size."""
    n = x.shape[axis]
    c = (n - 1) / 2.0
    idx = np.clip(np.rint(c + (np.arange(n) - c) / factor), 0, n - 1).astype(np.intp)
    return x[(slice(None),) * axis + (idx,)]


def _rotate_last2(x: Tensor, degrees: float) -> Tensor:
    """Rotate the plane of the last two axes about its centre, nearest neighbour, same size."""
    h, w = x.shape[-2:]
    t = math.radians(degrees)
    yy, xx = np.meshgrid(np.arange(h) - (h - 1) / 2.0, np.arange(w) - (w - 1) / 2.0, indexing="ij")
    # each output pixel reads the input pixel that the rotation carries onto it
    sy = np.clip(np.rint(math.cos(t) * yy - math.sin(t) * xx + (h - 1) / 2.0), 0, h - 1)
    sx = np.clip(np.rint(math.sin(t) * yy + math.cos(t) * xx + (w - 1) / 2.0), 0, w - 1)
    flat = (sy * w + sx).astype(np.intp)  # (h, w) indices into the flattened plane
    lead = x.shape[:-2]
    return ops.reshape(x, (*lead, h * w))[(Ellipsis, flat)]


def _transform(x: Tensor, rng: np.random.Generator, pad: int, jitter: int, scale: float,
               rotate: float) -> Tensor:
    """Pad, roll, zoom and rotate ``x`` (1, C, *S) at random, then crop back to ``S``."""
    spatial = x.shape[2:]
    p = min(pad, min(spatial) - 1)
    y = F.pad(x, p, mode="reflect") if p > 0 else x
    for ax in range(2, y.ndim):
        if jitter:
            y = _roll(y, int(rng.integers(-jitter, jitter + 1)), ax)
    if scale:
        factor = float(rng.uniform(1.0 - scale, 1.0 + scale))
        for ax in range(2, y.ndim):
            y = _zoom(y, factor, ax)
    if rotate and len(spatial) >= 2:
        y = _rotate_last2(y, float(rng.uniform(-rotate, rotate)))
    if p > 0:
        y = y[(slice(None), slice(None)) + tuple(slice(p, p + n) for n in spatial)]
    return y


def _total_variation(x: Tensor) -> Tensor:
    """Anisotropic total variation: the mean absolute difference of neighbours, summed over axes."""
    tv: Tensor | None = None
    for ax in range(2, x.ndim):
        if x.shape[ax] < 2:
            continue
        head = (slice(None),) * ax
        d = ops.abs(x[head + (slice(1, None),)] - x[head + (slice(None, -1),)]).mean()
        tv = d if tv is None else tv + d
    return tv if tv is not None else x.sum() * 0.0


# --- the optimisation -----------------------------------------------------------------


class _Reached(Exception):
    """Raised by the hook once the chosen layer has run: the rest of the network is not needed."""


def _check_real(value: Any, name: str, lo: float = 0.0) -> float:
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not lo <= float(value) < math.inf:
        raise ValueError(
            f"visualize_feature: `{name}` must be a finite number >= {lo}; got {name}={value!r}."
        )
    return float(value)


def _check_count(value: Any, name: str, minimum: int) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"visualize_feature: `{name}` must be an int >= {minimum}; got {name}={value!r}.")
    return int(value)


def visualize_feature(
    model: Module,
    layer: str | Module,
    channel: int,
    input_shape: Sequence[int],
    steps: int = 128,
    lr: float = 0.05,
    jitter: int = 2,
    scale: float = 0.05,
    rotate: float = 5.0,
    pad: int = 2,
    tv: float = 0.0,
    l1: float = 0.0,
    l2: float = 0.0,
    param: str = "fft",
    decay: float = 1.0,
    init_std: float = 0.1,
    seed: int | None = None,
    norm: float | None = None,
    starts: int = 8,
) -> np.ndarray:
    """Find an input that maximises the mean activation of ``channel`` at ``layer``.

    Minimises ``-mean(act[channel]) + tv * TV(x) + l1 * mean|x| + l2 * mean(x**2)`` with
    Adam, where ``act`` is the layer's output for the randomly transformed input (see the
    module docstring). The model runs in eval mode with frozen weights (restored afterwards),
    and the forward pass stops at ``layer``.

    With ``norm`` set, the input is ``norm * v / ||v||`` for the optimised ``v``: the search
    is over directions, on the sphere of that L2 norm (Erhan et al., 2009, maximise
    ``h(x)`` subject to ``||x|| = rho``). Without it, ascent on a roughly positively
    homogeneous ReLU network spends most of its steps growing the input rather than turning
    it, and the result has no fixed norm to compare against. ``norm=sqrt(prod(input_shape))``
    gives an input of unit root-mean-square, the scale of standardised data.

    The ascent begins at the best of ``starts`` white-noise inputs (standard deviation
    ``init_std``; the same start for both parameterisations), judged by the channel's mean
    activation: at a start where a ReLU channel is silent everywhere the gradient is exactly
    zero, and the ascent would never move.

    Args:
        model: the network.
        layer: a dotted name from ``model.named_modules()``, or the module itself.
        channel: the channel (axis 1) of the layer's output; for a ``(N, features)`` output,
            the feature.
        input_shape: one example's shape ``(C, *spatial)`` (no batch axis).
        steps: Adam steps, ``>= 1``; lr: its learning rate.
        jitter: the largest random roll in samples per spatial axis (0: none).
        scale: zoom factors are drawn from ``[1 - scale, 1 + scale]`` (0: none).
        rotate: angles are drawn from ``[-rotate, rotate]`` degrees (0: none; rank >= 2 only).
        pad: reflect-padding added before the transforms and cropped after them.
        tv, l1, l2: weights of the total-variation, L1 and L2 penalties on the input.
        param: ``"fft"`` (decorrelated, 1/f-scaled spectrum) or ``"pixel"``.
        decay: the spectrum's power law, ``1 / f**decay`` (``param="fft"``).
        init_std: the standard deviation of the random starting input.
        seed: seeds the start and the transforms.
        norm: if given (``> 0``), the L2 norm of the input at every step and of the result;
            ``None``: unconstrained.
        starts: how many random starting inputs to try (one batched forward pass), ``>= 1``.

    Returns:
        The input, ``input_shape`` (of L2 norm ``norm`` if given), in the dtype of the model's
        parameters (float32 if none).

    Raises:
        ValueError: for an unknown layer, a channel out of range, or a bad hyper-parameter.
    """
    op = "visualize_feature"
    if isinstance(layer, Module):
        found = [n for n, m in model.named_modules() if m is layer]
        if not found:
            raise ValueError(f"{op}: `layer` must be a module of `model`; got {type(layer).__name__}.")
        target = layer
    else:
        target = next(iter(resolve_layers(model, [layer], op).values()))
    shape = tuple(input_shape) if isinstance(input_shape, Sequence) else ()
    if len(shape) < 2 or not all(isinstance(v, numbers.Integral) and v >= 1 for v in shape):
        raise ValueError(
            f"{op}: `input_shape` must be (C, *spatial) with positive ints; got input_shape={input_shape!r}."
        )
    steps, starts = _check_count(steps, "steps", 1), _check_count(starts, "starts", 1)
    if norm is not None and (_check_real(norm, "norm") == 0):
        raise ValueError(f"{op}: `norm` must be None or a finite number > 0; got norm={norm!r}.")
    jitter, pad = _check_count(jitter, "jitter", 0), _check_count(pad, "pad", 0)
    lr, tv, l1, l2 = (_check_real(v, n) for v, n in ((lr, "lr"), (tv, "tv"), (l1, "l1"), (l2, "l2")))
    scale_, rotate_ = _check_real(scale, "scale"), _check_real(rotate, "rotate")
    if scale_ >= 1:
        raise ValueError(f"{op}: `scale` must be in [0, 1); got scale={scale!r}.")
    init_std, decay = _check_real(init_std, "init_std"), _check_real(decay, "decay")
    if param not in ("fft", "pixel"):
        raise ValueError(f"{op}: `param` must be 'fft' or 'pixel'; got param={param!r}.")
    if not isinstance(channel, numbers.Integral) or isinstance(channel, bool) or channel < 0:
        raise ValueError(f"{op}: `channel` must be an int >= 0; got channel={channel!r}.")

    dtype = next((p.dtype for p in model.parameters()), np.dtype(np.float32))
    rng = np.random.default_rng(seed)
    full = (1, *(int(v) for v in shape))
    spatial = full[2:]

    def project(x: np.ndarray) -> np.ndarray:
        if norm is None:
            return x
        sq = np.sqrt(np.sum(x * x, axis=tuple(range(1, x.ndim)), keepdims=True))
        return x * (norm / np.maximum(sq, 1e-12))

    reached: dict[str, Any] = {}

    def hook(m: Module, inputs: tuple[Any, ...], out: Any) -> None:
        reached["out"] = out
        raise _Reached

    def run_to_layer(x: Tensor) -> Tensor:
        try:
            model(x)
        except _Reached:
            pass
        act = reached.pop("out", None)
        if not isinstance(act, Tensor):
            raise ValueError(f"{op}: layer {layer!r} did not run (or returned no tensor).")
        if act.ndim < 2 or channel >= act.shape[1]:
            raise ValueError(
                f"{op}: `channel` must be in [0, {act.shape[1] if act.ndim >= 2 else 0}) for "
                f"layer {layer!r} with output shape {act.shape}; got channel={channel}."
            )
        return act

    # Best of `starts` white-noise inputs: a start at which the channel is silent everywhere
    # (a ReLU below zero) gets no gradient at all, and the ascent never leaves it.
    cands = rng.normal(0, init_std, (starts, *full[1:]))
    with frozen_eval(model):
        handle = target.register_forward_hook(hook)
        try:
            act0 = run_to_layer(Tensor(project(cands).astype(dtype))).data[:, channel]
        finally:
            handle.remove()
    start = cands[int(np.argmax(act0.reshape(starts, -1).mean(axis=1)))][None]  # (1, C, *S)
    if param == "fft":
        amp_np = spectrum_scale(spatial, decay)
        amp = Tensor(amp_np.astype(dtype))
        # the coefficients whose image is the start (irfftn inverts rfftn exactly)
        z = np.fft.rfftn(start, axes=tuple(range(2, len(full))), norm="ortho") / amp_np
        re = Tensor(z.real.astype(dtype), requires_grad=True)
        im = Tensor(z.imag.astype(dtype), requires_grad=True)
        params = [re, im]

        def raw_image() -> Tensor:
            return irfftn(re * amp, im * amp, spatial)
    else:
        pixels = Tensor(start.astype(dtype), requires_grad=True)
        params = [pixels]

        def raw_image() -> Tensor:
            return pixels

    def constrained() -> Tensor:
        x = raw_image()
        if norm is None:
            return x
        return x * (norm / ((x * x).sum() + 1e-24).sqrt())  # onto the sphere ||x|| = norm

    opt = Adam(params, lr=lr)
    with frozen_eval(model), enable_grad():
        handle = target.register_forward_hook(hook)
        try:
            for _ in range(steps):
                x = constrained()
                act = run_to_layer(_transform(x, rng, pad, jitter, scale_, rotate_))
                loss = -act[0, channel].mean()
                if tv:
                    loss = loss + _total_variation(x) * tv
                if l1:
                    loss = loss + ops.abs(x).mean() * l1
                if l2:
                    loss = loss + (x * x).mean() * l2
                opt.zero_grad()
                loss.backward()
                opt.step()
        finally:
            handle.remove()
    return constrained().data[0].copy()
