"""Classic kernels in any rank, edges, kernel composition and shift equivariance.

* The kernels against their definitions, and their filters against ``scipy.ndimage`` (an
  independent implementation, ranks 1-4) through ndconv's own conv with "same"/replicate.
* The sign convention: a step rising along an axis gives a positive Sobel response under
  ndconv's cross-correlation; the flipped kernel (a true convolution) gives a negative one.
* Composition: ``conv(conv(x, k1), k2) == conv(x, compose_kernels(k1, k2))`` for ranks 1-3
  (and multi-channel weights), and a ReLU in between breaks it.
* Equivariance: a stride-1 circular conv commutes with shifts to rounding; stride 2 and a 2x2
  max-pool only with even shifts.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ndconv.nn.functional as F
from ndconv.analysis import (
    box,
    compose_kernels,
    compose_weights,
    edges,
    gaussian,
    laplacian,
    prewitt,
    scharr,
    sharpen,
    shift_equivariance_error,
    sobel,
)

ndimage = pytest.importorskip("scipy.ndimage")
TOL = 1e-10


def filt(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Correlate a single-channel array with a bare kernel: ndconv conv, 'same', replicate."""
    return F.conv(x[None, None], k[None, None], padding="same", padding_mode="replicate").numpy()[0, 0]


# --- the kernels --------------------------------------------------------------------------


def test_sobel_2d_is_the_classic_kernel() -> None:
    np.testing.assert_array_equal(sobel(2, 1), [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    np.testing.assert_array_equal(sobel(2, 0), np.array(sobel(2, 1)).T)
    np.testing.assert_array_equal(sobel(2, -1), sobel(2, 1))
    np.testing.assert_array_equal(sobel(1, 0), [-1, 0, 1])
    np.testing.assert_array_equal(scharr(2, 1), [[-3, 0, 3], [-10, 0, 10], [-3, 0, 3]])
    np.testing.assert_array_equal(prewitt(2, 0), [[-1, -1, -1], [0, 0, 0], [1, 1, 1]])


@pytest.mark.parametrize("ndim", [1, 2, 3, 4])
@pytest.mark.parametrize(("kernel", "smooth"), [(sobel, 4), (prewitt, 3), (scharr, 16)])
def test_gradient_kernels_are_separable_in_any_rank(ndim: int, kernel: Any, smooth: int) -> None:
    for axis in range(ndim):
        k = kernel(ndim, axis)
        assert k.shape == (3,) * ndim and k.dtype == np.float64
        np.testing.assert_array_equal(np.flip(k, axis), -k)  # antisymmetric along the axis
        for other in set(range(ndim)) - {axis}:
            np.testing.assert_array_equal(np.flip(k, other), k)  # symmetric across it
        assert k.sum() == 0
        assert np.take(k, 2, axis=axis).sum() == smooth ** (ndim - 1)  # the smoothing's weight


@pytest.mark.parametrize("ndim", [1, 2, 3, 4])
def test_filters_match_scipy_ndimage(ndim: int) -> None:
    x = np.random.default_rng(ndim).standard_normal((7, 6, 5, 4)[:ndim])
    for axis in range(ndim):
        np.testing.assert_allclose(
            filt(x, sobel(ndim, axis)), ndimage.sobel(x, axis, mode="nearest"), rtol=TOL, atol=TOL
        )
        np.testing.assert_allclose(
            filt(x, prewitt(ndim, axis)), ndimage.prewitt(x, axis, mode="nearest"), rtol=TOL, atol=TOL
        )
    np.testing.assert_allclose(
        filt(x, laplacian(ndim)), ndimage.laplace(x, mode="nearest"), rtol=TOL, atol=TOL
    )
    np.testing.assert_allclose(
        filt(x, gaussian(ndim, 0.8)),
        ndimage.gaussian_filter(x, 0.8, mode="nearest", radius=3),
        rtol=TOL,
        atol=TOL,
    )
    np.testing.assert_allclose(
        filt(x, box(ndim, 3)), ndimage.uniform_filter(x, 3, mode="nearest"), rtol=TOL, atol=TOL
    )


@pytest.mark.parametrize("ndim", [1, 2, 3, 4])
def test_laplacian_and_sharpen(ndim: int) -> None:
    lap, sh = laplacian(ndim), sharpen(ndim)
    centre = (1,) * ndim
    assert lap[centre] == -2 * ndim and lap.sum() == 0 and (lap == 1).sum() == 2 * ndim
    assert sh[centre] == 2 * ndim + 1 and sh.sum() == 1 and (sh == -1).sum() == 2 * ndim
    flat = np.full((4,) * ndim, 3.0)
    np.testing.assert_allclose(filt(flat, sh), flat)  # flat regions are unchanged


def test_gaussian_and_box() -> None:
    g = gaussian(2, 1.5)
    assert g.shape == (11, 11)  # 2*ceil(4.5) + 1
    assert math.isclose(g.sum(), 1.0) and np.unravel_index(g.argmax(), g.shape) == (5, 5)
    np.testing.assert_allclose(g, g.T)
    np.testing.assert_allclose(g[5], g[5, 5] * np.exp(-((np.arange(11) - 5) ** 2) / (2 * 1.5**2)))
    g2 = gaussian(3, (0.5, 1.0, 2.0), size=(3, 5, 4))
    assert g2.shape == (3, 5, 4) and math.isclose(g2.sum(), 1.0)
    np.testing.assert_allclose(g2, np.flip(g2))  # centred, even sizes included
    b = box(3, (2, 3, 1))
    assert b.shape == (2, 3, 1) and math.isclose(b.sum(), 1.0) and np.all(b == 1 / 6)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: sobel(0, 0), ValueError, "`ndim` must be >= 1; got ndim=0"),
        (lambda: sobel(2.0, 0), TypeError, "`ndim` must be an int"),
        (lambda: sobel(2, 2), ValueError, r"`axis` must be in \[-2, 2\) for ndim=2; got axis=2"),
        (lambda: prewitt(2, None), TypeError, "`axis` must be an int"),
        (lambda: gaussian(2, 0.0), ValueError, "`sigma` must be positive"),
        (lambda: gaussian(2, (1.0, 2.0, 3.0)), ValueError, "`sigma` must be one value or 2"),
        (lambda: gaussian(2, 1.0, size=2.5), TypeError, "`size` must be an int"),
        (lambda: box(2, 0), ValueError, "`size` must be positive"),
        (lambda: laplacian(-1), ValueError, "`ndim` must be >= 1"),
        (lambda: edges(np.zeros((3, 3)), operator="canny"), ValueError, "`operator` must be one of"),
        (lambda: edges(np.zeros(())), ValueError, "`image` must be a non-empty array"),
        (lambda: edges(np.array(["a"])), TypeError, "`image` must hold real numbers"),
        (lambda: compose_kernels(), ValueError, "needs at least one `kernels`"),
        (lambda: compose_kernels(np.ones(3), np.ones((3, 3))), ValueError, "same rank"),
        (
            lambda: compose_weights(np.ones((2, 1, 3)), np.ones((1, 3, 3))),
            ValueError,
            r"weights\[1\] must have in_channels = 2",
        ),
        (lambda: compose_weights(np.ones((2, 3))), ValueError, r"\(C_out, C_in, \*K\)"),
    ],
)
def test_errors_name_the_argument(call: Any, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        call()


# --- sign convention and edges ------------------------------------------------------------


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_a_rising_step_gives_a_positive_sobel_response(ndim: int) -> None:
    for axis in range(ndim):
        shape = (6,) * ndim
        step = (np.indices(shape)[axis] >= 3).astype(np.float64)  # 0 then 1 along +axis
        k = sobel(ndim, axis)
        corr = F.conv(step[None, None], k[None, None]).numpy()  # valid: (4,)*ndim
        edge = np.take(corr, [1, 2], axis=2 + axis)  # windows centred on pixels 2 and 3
        assert np.all(edge == 4 ** (ndim - 1)) and np.all(np.take(corr, [0, 3], axis=2 + axis) == 0)
        flipped = F.conv(step[None, None], np.flip(k)[None, None]).numpy()  # a true convolution
        np.testing.assert_array_equal(flipped, -corr)


@pytest.mark.parametrize("ndim", [1, 2, 3, 4])
def test_edges_is_the_sobel_gradient_magnitude(ndim: int) -> None:
    x = np.random.default_rng(10 + ndim).standard_normal((6, 5, 4, 3)[:ndim])
    expected = np.sqrt(sum(ndimage.sobel(x, a, mode="nearest") ** 2 for a in range(ndim)))
    np.testing.assert_allclose(edges(x), expected, rtol=TOL, atol=TOL)
    step = (np.indices((6,) * ndim)[0] >= 3).astype(np.int64)  # an int image -> float64
    e = edges(step)
    assert e.dtype == np.float64 and e.max() == 4 ** (ndim - 1) and e[0].max() == 0
    assert edges(np.ones((4,) * ndim, np.float32)).dtype == np.float32
    assert np.all(edges(np.ones((4,) * ndim)) == 0)


def test_edges_other_operators_and_modes() -> None:
    x = np.random.default_rng(3).standard_normal((8, 7))
    expected = np.hypot(ndimage.prewitt(x, 0, mode="wrap"), ndimage.prewitt(x, 1, mode="wrap"))
    np.testing.assert_allclose(edges(x, "prewitt", padding_mode="circular"), expected, rtol=TOL, atol=TOL)
    assert edges(x, "scharr").shape == (8, 7)


# --- composition --------------------------------------------------------------------------


def conv_valid(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    return F.conv(x[None, None], k[None, None]).numpy()[0, 0]


@settings(max_examples=60)
@given(n=st.integers(1, 3), data=st.data())
def test_composed_kernel_equals_the_stack(n: int, data: Any) -> None:
    sizes = [
        tuple(data.draw(st.integers(1, 4)) for _ in range(n)) for _ in range(data.draw(st.integers(2, 3)))
    ]
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    ks = [rng.standard_normal(s) for s in sizes]
    total = tuple(sum(s[i] for s in sizes) - len(sizes) + 1 for i in range(n))
    x = rng.standard_normal(tuple(t + data.draw(st.integers(0, 3)) for t in total))
    stacked = x
    for k in ks:
        stacked = conv_valid(stacked, k)
    composed = compose_kernels(*ks)
    assert composed.shape == total
    np.testing.assert_allclose(conv_valid(x, composed), stacked, rtol=TOL, atol=TOL)
    np.testing.assert_allclose(compose_kernels(*ks[::-1]), composed, rtol=TOL, atol=TOL)  # commutes


def test_composed_1d_kernel_is_the_full_convolution() -> None:
    a, b = np.array([1.0, -2.0, 4.0]), np.array([3.0, 0.5])
    np.testing.assert_allclose(compose_kernels(a, b), np.convolve(a, b, mode="full"))
    np.testing.assert_array_equal(compose_kernels(np.ones(3, int), np.ones(3, int)), [1, 2, 3, 2, 1])
    np.testing.assert_array_equal(compose_kernels(a), a)
    # two 3x3 layers see a 5x5 window: the receptive field of a VGG stack
    assert compose_kernels(box(2, 3), box(2, 3)).shape == (5, 5)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_composed_multichannel_weights_equal_the_stack(n: int) -> None:
    rng = np.random.default_rng(n)
    w1 = rng.standard_normal((4, 3) + (3, 2, 2)[:n])  # (C1, C0, *K1), applied first
    w2 = rng.standard_normal((5, 4) + (2, 3, 1)[:n])  # (C2, C1, *K2)
    w3 = rng.standard_normal((2, 5) + (1, 2, 3)[:n])
    x = rng.standard_normal((2, 3) + (8, 7, 6)[:n])
    stacked = F.conv(F.conv(F.conv(x, w1), w2), w3).numpy()
    composed = compose_weights(w1, w2, w3)
    assert (
        composed.shape
        == (2, 3) + tuple(a + b + c - 2 for a, b, c in zip((3, 2, 2), (2, 3, 1), (1, 2, 3)))[:n]
    )
    np.testing.assert_allclose(F.conv(x, composed).numpy(), stacked, rtol=TOL, atol=TOL)


def test_compose_breaks_with_relu() -> None:
    rng = np.random.default_rng(0)
    k1, k2 = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    x = rng.standard_normal((12, 12))
    linear = conv_valid(x, compose_kernels(k1, k2))
    np.testing.assert_allclose(conv_valid(conv_valid(x, k1), k2), linear, rtol=TOL, atol=TOL)
    with_relu = conv_valid(np.maximum(conv_valid(x, k1), 0.0), k2)
    assert np.linalg.norm(with_relu - linear) / np.linalg.norm(linear) > 0.3


# --- shift equivariance -------------------------------------------------------------------


@pytest.fixture
def image() -> np.ndarray:
    return np.random.default_rng(7).standard_normal((1, 2, 16, 12))


@pytest.fixture
def weight() -> np.ndarray:
    return np.random.default_rng(8).standard_normal((3, 2, 3, 3))


def test_stride_1_circular_conv_is_exactly_equivariant(image: np.ndarray, weight: np.ndarray) -> None:
    def fn(v: np.ndarray) -> Any:
        return F.conv(v, weight, padding="same", padding_mode="circular")

    for axis in (2, 3, -1):
        for shift in (1, 3, -2, 5):
            assert shift_equivariance_error(fn, image, shift, axis) < 1e-14
    # zero padding is not: the border breaks it
    assert shift_equivariance_error(lambda v: F.conv(v, weight, padding=1), image, 1, 2) > 1e-2


def test_stride_2_only_commutes_with_even_shifts(image: np.ndarray, weight: np.ndarray) -> None:
    def fn(v: np.ndarray) -> Any:
        return F.conv(v, weight, stride=2, padding="same", padding_mode="circular")

    for axis in (2, 3):
        for shift in (2, 4, -6):
            assert shift_equivariance_error(fn, image, shift, axis) < 1e-14  # stride inferred: 2
            assert shift_equivariance_error(fn, image, shift, axis, stride=2) < 1e-14
        for shift in (1, 3, -1):
            assert shift_equivariance_error(fn, image, shift, axis) > 0.3


def test_max_pool_breaks_equivariance_for_odd_shifts(image: np.ndarray) -> None:
    def fn(v: np.ndarray) -> Any:
        return F.max_pool(v, 2)

    for axis in (2, 3):
        assert shift_equivariance_error(fn, image, 2, axis) == 0.0
        assert shift_equivariance_error(fn, image, 1, axis) > 0.3


def test_equivariance_error_arguments(image: np.ndarray) -> None:
    with pytest.raises(ValueError, match="cannot infer `stride`"):
        shift_equivariance_error(lambda v: v[..., :5], image, 1, 3)
    with pytest.raises(ValueError, match="`fn` must keep the rank"):
        shift_equivariance_error(lambda v: v[0], image, 1, 2)
    with pytest.raises(ValueError, match=r"`axis` must be in \[-4, 4\)"):
        shift_equivariance_error(lambda v: v, image, 1, 4)
    with pytest.raises(TypeError, match="`shift` must be an int"):
        shift_equivariance_error(lambda v: v, image, 1.5, 2)
    with pytest.raises(ValueError, match="`stride` must be >= 1"):
        shift_equivariance_error(lambda v: v, image, 1, 2, stride=0)
    with pytest.raises(TypeError, match="`fn` must be callable"):
        shift_equivariance_error(None, image, 1, 2)  # type: ignore[arg-type]
    assert shift_equivariance_error(lambda v: 0 * v, image, 1, 2) == 0.0  # all-zero output
