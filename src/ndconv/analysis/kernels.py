"""Classic image-processing kernels in any number of dimensions, and kernel composition.

**Sign convention.** ndconv's :func:`~ndconv.nn.functional.conv` is a *cross-correlation*,
as in every deep-learning framework: ``y[i] = sum_k w[k] * x[i + k - c]`` (``c`` the kernel
centre), with no kernel flip. Every kernel here is written for that convention: the Sobel
derivative ``[-1, 0, 1]`` gives ``y[i] = x[i+1] - x[i-1]``, so an edge that rises along the
axis gives a *positive* response. A mathematical convolution flips the kernel along every
axis: ``conv(x, np.flip(k))`` is the true convolution ``(x * k)`` (symmetric kernels such as
the Gaussian, the box, the Laplacian and sharpen do not care; derivative kernels change sign).

>>> import ndconv.nn.functional as F
>>> step = np.array([[[0.0, 0.0, 1.0, 1.0]]])             # rises along +x
>>> F.conv(step, np.array([[[-1.0, 0.0, 1.0]]])).tolist()  # correlation: positive
[[[1.0, 1.0]]]
>>> F.conv(step, np.flip(np.array([[[-1.0, 0.0, 1.0]]]), axis=-1)).tolist()  # true convolution
[[[-1.0, -1.0]]]

**Composition.** Convolution is associative, so stacked linear, single-channel, stride-1,
unpadded convolutions are one convolution whose kernel is the *full* convolution of the
kernels (size ``K1 + K2 - 1`` per axis): two 3x3 layers see a 5x5 window, which is why a VGG
stack of 3x3 convolutions has the receptive field of one large kernel. With the correlation
convention the same holds, because ``flip(a) * flip(b) = flip(a * b)``. A non-linearity (a
ReLU) between the layers breaks the identity -- that is what makes depth useful.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..autograd import no_grad
from ..nn import functional as F

__all__ = [
    "sobel",
    "prewitt",
    "scharr",
    "laplacian",
    "gaussian",
    "box",
    "sharpen",
    "edges",
    "compose_kernels",
    "compose_weights",
]

_DERIVATIVE = np.array([-1.0, 0.0, 1.0])


def _check_ndim(ndim: Any, op: str) -> int:
    if not isinstance(ndim, numbers.Integral) or isinstance(ndim, bool):
        raise TypeError(f"{op}: `ndim` must be an int; got ndim={ndim!r}.")
    if ndim < 1:
        raise ValueError(f"{op}: `ndim` must be >= 1; got ndim={ndim}.")
    return int(ndim)


def _check_axis(axis: Any, ndim: int, op: str) -> int:
    if not isinstance(axis, numbers.Integral) or isinstance(axis, bool):
        raise TypeError(f"{op}: `axis` must be an int; got axis={axis!r}.")
    a = int(axis)
    if not -ndim <= a < ndim:
        raise ValueError(f"{op}: `axis` must be in [-{ndim}, {ndim}) for ndim={ndim}; got axis={axis}.")
    return a % ndim


def _outer(vectors: Sequence[np.ndarray]) -> np.ndarray:
    """Return the N-d outer product ``v0[i0] * v1[i1] * ...`` (a separable kernel)."""
    return functools.reduce(np.multiply.outer, vectors)


def _gradient_kernel(ndim: Any, axis: Any, smoothing: Sequence[float], op: str) -> np.ndarray:
    n = _check_ndim(ndim, op)
    a = _check_axis(axis, n, op)
    smooth = np.asarray(smoothing, np.float64)
    return _outer([_DERIVATIVE if i == a else smooth for i in range(n)])


def sobel(ndim: int, axis: int) -> np.ndarray:
    """Return the N-d Sobel kernel that differentiates along ``axis``.

    Separable: the central difference ``[-1, 0, 1]`` along ``axis`` times the smoothing
    ``[1, 2, 1]`` along every other axis (unnormalised, the classic integers). Written for
    ndconv's cross-correlation: the response to an edge rising along ``axis`` is positive.

    Args:
        ndim: number of spatial dimensions (>= 1).
        axis: the axis to differentiate along, in ``[-ndim, ndim)``.

    Returns:
        a float64 array of shape ``(3,) * ndim``.

    Raises:
        TypeError, ValueError: if ``ndim`` or ``axis`` is not a valid int.

    >>> sobel(2, axis=1)
    array([[-1.,  0.,  1.],
           [-2.,  0.,  2.],
           [-1.,  0.,  1.]])
    """
    return _gradient_kernel(ndim, axis, (1.0, 2.0, 1.0), "sobel")


def prewitt(ndim: int, axis: int) -> np.ndarray:
    """Return the N-d Prewitt kernel: ``[-1, 0, 1]`` along ``axis``, ``[1, 1, 1]`` elsewhere.

    Args:
        ndim: number of spatial dimensions (>= 1).
        axis: the axis to differentiate along, in ``[-ndim, ndim)``.

    Returns:
        a float64 array of shape ``(3,) * ndim``.

    Raises:
        TypeError, ValueError: if ``ndim`` or ``axis`` is not a valid int.

    >>> prewitt(3, axis=0).shape
    (3, 3, 3)
    """
    return _gradient_kernel(ndim, axis, (1.0, 1.0, 1.0), "prewitt")


def scharr(ndim: int, axis: int) -> np.ndarray:
    """Return the N-d Scharr kernel: ``[-1, 0, 1]`` along ``axis``, ``[3, 10, 3]`` elsewhere.

    Scharr's smoothing makes the gradient direction more rotation invariant than Sobel's.

    Args:
        ndim: number of spatial dimensions (>= 1).
        axis: the axis to differentiate along, in ``[-ndim, ndim)``.

    Returns:
        a float64 array of shape ``(3,) * ndim``.

    Raises:
        TypeError, ValueError: if ``ndim`` or ``axis`` is not a valid int.

    >>> scharr(2, axis=0)[:, 1]
    array([-10.,   0.,  10.])
    """
    return _gradient_kernel(ndim, axis, (3.0, 10.0, 3.0), "scharr")


def laplacian(ndim: int) -> np.ndarray:
    """Return the ``2*ndim + 1``-point Laplacian stencil: ``-2*ndim`` at the centre, 1 beside it.

    It is the sum over axes of the second difference ``[1, -2, 1]``.

    Args:
        ndim: number of spatial dimensions (>= 1).

    Returns:
        a float64 array of shape ``(3,) * ndim`` summing to 0.

    Raises:
        TypeError, ValueError: if ``ndim`` is not an int >= 1.

    >>> laplacian(2)
    array([[ 0.,  1.,  0.],
           [ 1., -4.,  1.],
           [ 0.,  1.,  0.]])
    """
    n = _check_ndim(ndim, "laplacian")
    k = np.zeros((3,) * n)
    centre = (1,) * n
    for axis in range(n):  # one loop step per axis, not per pixel
        for side in (0, 2):
            k[centre[:axis] + (side,) + centre[axis + 1 :]] = 1.0
    k[centre] = -2.0 * n
    return k


def _per_axis(value: Any, n: int, name: str, op: str, kind: type) -> tuple[Any, ...]:
    values = tuple(value) if isinstance(value, Sequence) and not isinstance(value, str) else (value,) * n
    if len(values) != n:
        raise ValueError(f"{op}: `{name}` must be one value or {n} (one per axis); got {name}={value!r}.")
    for v in values:
        if (
            not isinstance(v, numbers.Real)
            or isinstance(v, bool)
            or (kind is int and not isinstance(v, numbers.Integral))
        ):
            raise TypeError(
                f"{op}: `{name}` must be {'an int' if kind is int else 'a number'} "
                f"or a sequence of them; got {name}={value!r}."
            )
        if not (math.isfinite(v) and float(v) > 0):
            raise ValueError(f"{op}: `{name}` must be positive; got {name}={value!r}.")
    return tuple(kind(v) for v in values)


def gaussian(
    ndim: int, sigma: float | Sequence[float], size: int | Sequence[int] | None = None
) -> np.ndarray:
    """Return a normalised N-d Gaussian kernel (separable, centred, summing to 1).

    Args:
        ndim: number of spatial dimensions (>= 1).
        sigma: standard deviation in pixels, one for all axes or one per axis (> 0).
        size: kernel size per axis; default ``2*ceil(3*sigma) + 1`` (covers +-3 sigma).

    Returns:
        a float64 array of shape ``size`` (per axis).

    Raises:
        TypeError, ValueError: on a bad ``ndim``, ``sigma`` or ``size``.

    >>> g = gaussian(3, sigma=1.0)
    >>> g.shape, round(float(g.sum()), 12)
    ((7, 7, 7), 1.0)
    """
    op = "gaussian"
    n = _check_ndim(ndim, op)
    sigmas = _per_axis(sigma, n, "sigma", op, float)
    if size is None:
        sizes = tuple(2 * math.ceil(3 * s) + 1 for s in sigmas)
    else:
        sizes = _per_axis(size, n, "size", op, int)
    vectors = []
    for s, k in zip(sigmas, sizes):
        t = np.arange(k) - (k - 1) / 2.0
        g = np.exp(-(t**2) / (2.0 * s * s))
        vectors.append(g / g.sum())  # normalising each factor normalises the product
    return _outer(vectors)


def box(ndim: int, size: int | Sequence[int]) -> np.ndarray:
    """Return the N-d box (mean) filter: ``1 / prod(size)`` everywhere.

    Args:
        ndim: number of spatial dimensions (>= 1).
        size: kernel size, one for all axes or one per axis (>= 1).

    Returns:
        a float64 array of shape ``size`` (per axis) summing to 1.

    Raises:
        TypeError, ValueError: on a bad ``ndim`` or ``size``.

    >>> box(2, 2)
    array([[0.25, 0.25],
           [0.25, 0.25]])
    """
    sizes = _per_axis(size, _check_ndim(ndim, "box"), "size", "box", int)
    return np.full(sizes, 1.0 / math.prod(sizes))


def sharpen(ndim: int) -> np.ndarray:
    """Return the N-d sharpening kernel ``delta - laplacian(ndim)``: ``2*ndim + 1`` at the centre.

    It adds the negative Laplacian (the local detail) to the image; it sums to 1, so flat
    regions are unchanged.

    Args:
        ndim: number of spatial dimensions (>= 1).

    Returns:
        a float64 array of shape ``(3,) * ndim``.

    Raises:
        TypeError, ValueError: if ``ndim`` is not an int >= 1.

    >>> sharpen(2)
    array([[ 0., -1.,  0.],
           [-1.,  5., -1.],
           [ 0., -1.,  0.]])
    """
    n = _check_ndim(ndim, "sharpen")
    delta = np.zeros((3,) * n)
    delta[(1,) * n] = 1.0
    return delta - laplacian(n)


_GRADIENT_OPERATORS: dict[str, Callable[[int, int], np.ndarray]] = {
    "sobel": sobel,
    "prewitt": prewitt,
    "scharr": scharr,
}


def edges(image: Any, operator: str = "sobel", padding_mode: str = "replicate") -> np.ndarray:
    """Return the gradient magnitude of a single-channel image of any rank.

    One :func:`ndconv.nn.functional.conv` call with ``ndim`` output channels -- the derivative
    kernel along each axis -- and ``padding="same"``, then ``sqrt(sum_axis g_axis**2)``.

    Args:
        image: array of shape ``S`` (one channel, ``len(S) >= 1`` spatial axes).
        operator: ``"sobel"``, ``"prewitt"`` or ``"scharr"``.
        padding_mode: border handling, as in ``conv``; ``"replicate"`` keeps flat borders flat.

    Returns:
        the gradient magnitude, shape ``S``, in the image's float dtype (float64 for ints).

    Raises:
        ValueError, TypeError: on a bad ``image``, ``operator`` or ``padding_mode``.

    >>> img = np.zeros((5, 6)); img[:, 3:] = 1.0       # a vertical edge
    >>> edges(img)[0]
    array([0., 0., 4., 4., 0., 0.])
    """
    op = "edges"
    x = np.asarray(image)
    if x.ndim < 1 or x.size == 0:
        raise ValueError(
            f"{op}: `image` must be a non-empty array with >= 1 spatial axis; got shape {x.shape}."
        )
    if not np.issubdtype(x.dtype, np.floating):
        if not (np.issubdtype(x.dtype, np.integer) or x.dtype == np.bool_):
            raise TypeError(f"{op}: `image` must hold real numbers; got dtype={x.dtype}.")
        x = x.astype(np.float64)
    if operator not in _GRADIENT_OPERATORS:
        raise ValueError(f"{op}: `operator` must be one of {tuple(_GRADIENT_OPERATORS)}; got {operator!r}.")
    n = x.ndim
    kernel = _GRADIENT_OPERATORS[operator]
    w = np.stack([kernel(n, a) for a in range(n)])[:, None].astype(x.dtype)  # (n, 1, 3, ..., 3)
    with no_grad():
        g = F.conv(x[None, None], w, padding="same", padding_mode=padding_mode).numpy()[0]  # (n, *S)
    return np.sqrt(np.sum(g * g, axis=0))


# --- composition ------------------------------------------------------------------------


def _float_arrays(arrays: Sequence[Any], name: str, op: str) -> list[np.ndarray]:
    out = [np.asarray(a) for a in arrays]
    if not out:
        raise ValueError(f"{op}: needs at least one `{name}`; got none.")
    for i, a in enumerate(out):
        if not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_) or np.iscomplexobj(a):
            raise TypeError(f"{op}: {name}[{i}] must hold real numbers; got dtype={a.dtype}.")
    dtype = np.result_type(np.float32, *[a.dtype for a in out])
    return [a.astype(dtype, copy=False) for a in out]


def _compose_pair(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Compose ``(C1, C0, *K1)`` (applied first) with ``(C2, C1, *K2)`` -> ``(C2, C0, *K1+K2-1)``.

    ``U[c2, c0] = sum_c1 full_convolution(V[c1, c0], W[c2, c1])``, computed with ndconv's own
    correlation: padding by ``K2 - 1`` on both sides and correlating with the flipped ``W``
    is the full convolution. The ``C0`` filters of ``V`` ride along as the batch axis.
    """
    k2 = second.shape[2:]
    batch = np.swapaxes(first, 0, 1)  # (C0, C1, *K1)
    flipped = np.flip(second, axis=tuple(range(2, second.ndim)))
    with no_grad():
        y = F.conv(batch, np.ascontiguousarray(flipped), padding=[(k - 1, k - 1) for k in k2])
    return np.swapaxes(y.numpy(), 0, 1)  # (C2, C0, *K1+K2-1)


def compose_kernels(*kernels: Any) -> np.ndarray:
    """Return the one kernel equal to applying single-channel ``kernels`` one after another.

    For stride-1, unpadded ("valid"), linear convolutions (ndconv's cross-correlation),
    ``conv(conv(x, k1), k2) == conv(x, compose_kernels(k1, k2))``: the composed kernel is the
    full convolution ``k1 * k2``, of size ``K1 + K2 - 1`` per axis (the receptive field of
    the stack). The order does not matter for single-channel kernels. A non-linearity between
    the layers breaks the identity.

    Args:
        kernels: one or more arrays of the same rank ``n >= 1`` (bare kernels, no channel axes).

    Returns:
        an array of shape ``sum(K) - len(kernels) + 1`` per axis, in the kernels' common float
        dtype (float64 for integer kernels).

    Raises:
        ValueError: if no kernel is given or the ranks differ. TypeError: on non-real input.

    >>> compose_kernels(np.ones(3), np.ones(3))
    array([1., 2., 3., 2., 1.])
    >>> compose_kernels(sobel(2, 1), gaussian(2, 1.0)).shape
    (9, 9)
    """
    op = "compose_kernels"
    ks = _float_arrays(kernels, "kernels", op)
    if ks[0].ndim < 1 or any(k.ndim != ks[0].ndim for k in ks):
        raise ValueError(
            f"{op}: all `kernels` must have the same rank >= 1; got shapes {[k.shape for k in ks]}."
        )
    composed = functools.reduce(_compose_pair, [k[None, None] for k in ks])
    return composed[0, 0]


def compose_weights(*weights: Any) -> np.ndarray:
    """Return the one weight equal to multi-channel convolutions applied in the given order.

    ``weights[0]`` is applied first: composing ``(C1, C0, *K1)`` then ``(C2, C1, *K2)`` gives
    ``(C2, C0, *K1+K2-1)`` with ``U[c2, c0] = sum_c1 V[c1, c0] * W[c2, c1]`` (full
    convolutions), valid for stride-1, unpadded, groups=1, bias-free, linear layers.

    Args:
        weights: arrays in ndconv's layout ``(C_out, C_in, *K)``, all with the same number of
            spatial axes; each one's ``C_in`` must equal the previous one's ``C_out``.

    Returns:
        the composed weight ``(C_last, C_first, *K)``, ``K = sum(K_i) - len(weights) + 1``.

    Raises:
        ValueError: if no weight is given, a rank differs or the channels do not chain.
        TypeError: on non-real input.

    >>> compose_weights(np.ones((4, 3, 3, 3)), np.ones((8, 4, 3, 3))).shape
    (8, 3, 5, 5)
    """
    op = "compose_weights"
    ws = _float_arrays(weights, "weights", op)
    if ws[0].ndim < 3 or any(w.ndim != ws[0].ndim for w in ws):
        raise ValueError(
            f"{op}: all `weights` must have shape (C_out, C_in, *K) with the same number (>= 1) of "
            f"spatial axes; got shapes {[w.shape for w in ws]}."
        )
    for i in range(1, len(ws)):
        if ws[i].shape[1] != ws[i - 1].shape[0]:
            raise ValueError(
                f"{op}: weights[{i}] must have in_channels = {ws[i - 1].shape[0]} (the out_channels "
                f"of weights[{i - 1}]); got shapes {ws[i - 1].shape} then {ws[i].shape}."
            )
    return functools.reduce(_compose_pair, ws)
