"""The max-pool fast path (first argmax recorded in the forward, bit-mask routing in the
backward) against a reference that materialises every window and applies the tie rule
literally: the first element equal to the window's maximum, in row-major kernel order, takes
the whole gradient; a window whose maximum is NaN has no such element and routes nothing.

Data are small integers (many ties) with inf, -inf, NaN and -0.0 mixed in, in NCHW and
channels-last memory, for tiled, disjoint and overlapping windows, ranks 1-3.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ndconv as nc
from ndconv.ops.pool import max_pool_padded
from ndconv.ops.window import valid_out_shape

# inf + -inf routed to one input is NaN, with NumPy's warning, in the op and the reference alike
pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")

SPECIALS = np.array([np.inf, -np.inf, np.nan, -0.0, 0.0])


def window_reference(
    x: np.ndarray, g: np.ndarray, kernel: tuple, stride: tuple, dilation: tuple, pads: tuple
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (y, dx, flat index) from a (N, C, *out, K) array of every window.

    Disjoint windows write the gradient (the winner keeps ``g`` exactly, -0.0 included);
    overlapping windows add it to +0.0, in kernel-offset order.
    """
    rank = len(kernel)
    xp = np.pad(x, [(0, 0), (0, 0), *pads], constant_values=-np.inf)
    out = valid_out_shape(xp.shape[2:], kernel, stride, dilation)
    k_total = int(np.prod(kernel))
    windows = np.empty(x.shape[:2] + tuple(out) + (k_total,), x.dtype)
    positions = []  # per window position (out index), the padded input index of each offset
    for o in itertools.product(*map(range, out)):
        per_offset = []
        for k, offset in enumerate(itertools.product(*map(range, kernel))):
            pos = tuple(oi * s + ki * d for oi, s, ki, d in zip(o, stride, offset, dilation))
            windows[(Ellipsis,) + o + (k,)] = xp[(slice(None), slice(None)) + pos]
            per_offset.append(pos)
        positions.append((o, per_offset))
    y = windows.max(axis=-1)
    is_max = windows == y[..., None]  # all False where the maximum is NaN
    has_max = is_max.any(axis=-1)
    first = np.argmax(is_max, axis=-1)  # first True; 0 where none
    disjoint = all(d == 1 and s >= k for s, d, k in zip(stride, dilation, kernel))
    gp = np.zeros(xp.shape, g.dtype)
    for n, c in itertools.product(range(x.shape[0]), range(x.shape[1])):
        for k in range(k_total):  # kernel-offset order, as the overlapping adds
            for o, per_offset in positions:
                if has_max[(n, c) + o] and first[(n, c) + o] == k:
                    target = (n, c) + per_offset[k]
                    if disjoint:
                        gp[target] = g[(n, c) + o]
                    else:
                        gp[target] += g[(n, c) + o]
    crop = (slice(None), slice(None)) + tuple(slice(lo, lo + s) for (lo, _), s in zip(pads, x.shape[2:]))
    offsets = np.unravel_index(first, kernel)
    flat = np.zeros(first.shape, np.int64)
    for ax in range(rank):
        o_ax = np.arange(out[ax]).reshape((-1,) + (1,) * (rank - 1 - ax))
        flat = flat * x.shape[2 + ax] + o_ax * stride[ax] + offsets[ax] * dilation[ax] - pads[ax][0]
    return y, gp[crop], flat


def pooled_shape(x: np.ndarray, kernel: tuple, stride: tuple, dilation: tuple, pads: tuple) -> tuple:
    padded = tuple(s + lo + hi for s, (lo, hi) in zip(x.shape[2:], pads))
    return x.shape[:2] + tuple(valid_out_shape(padded, kernel, stride, dilation))


def channels_last(a: np.ndarray) -> np.ndarray:
    """``a`` with the same values, stored channels-last (a conv output's layout)."""
    return np.moveaxis(np.ascontiguousarray(np.moveaxis(a, 1, -1)), -1, 1)


def tied_data(rng: np.random.Generator, shape: tuple, dtype: type, special: float) -> np.ndarray:
    """Integers in [-2, 2] with a fraction ``special`` replaced by inf, -inf, NaN, -0.0 or 0.0."""
    a = rng.integers(-2, 3, shape).astype(dtype)
    where = rng.random(shape) < special
    a[where] = rng.choice(SPECIALS, int(where.sum()))
    return a


def assert_identical(actual: np.ndarray, expected: np.ndarray) -> None:
    """Equal values, NaN where NaN, and the same sign on every zero."""
    np.testing.assert_array_equal(actual, expected)
    both = ~np.isnan(expected)
    np.testing.assert_array_equal(np.signbit(actual[both]), np.signbit(expected[both]))


CONFIGS = [  # (shape, kernel, stride, dilation, pads)
    ((2, 3, 6, 8), (2, 2), (2, 2), (1, 1), ((0, 0), (0, 0))),  # tiles
    ((2, 3, 7, 8), (2, 2), (3, 3), (1, 1), ((0, 0), (0, 0))),  # disjoint, with gaps
    ((2, 3, 5, 7), (2, 3), (2, 3), (1, 1), ((1, 0), (0, 2))),  # disjoint, padded
    ((2, 3, 7, 6), (3, 3), (2, 2), (1, 1), ((1, 1), (1, 1))),  # overlapping (ResNet stem)
    ((2, 2, 7, 7), (2, 2), (1, 1), (2, 2), ((0, 1), (1, 0))),  # overlapping, dilated
    ((3, 2, 9), (3,), (2,), (1,), ((1, 1),)),  # 1-D
    ((2, 2, 4, 5, 6), (2, 2, 2), (2, 2, 2), (1, 1, 1), ((0, 0), (0, 1), (0, 0))),  # 3-D
    ((2, 3, 4, 6, 4), (2, 3, 2), (2, 3, 2), (1, 1, 1), ((0, 0), (0, 0), (0, 0))),  # 3-D tiles
    ((2, 3, 6, 9), (3, 3), (3, 3), (1, 1), ((0, 0), (0, 0))),  # 3x3 tiles
    ((2, 3, 4, 8), (1, 2), (1, 2), (1, 1), ((0, 0), (0, 0))),  # 1x2 tiles
    ((3, 2, 10), (2,), (2,), (1,), ((0, 0),)),  # 1-D tiles
]


def check_against_window_reference(x: np.ndarray, g: np.ndarray, kernel: tuple, stride: tuple,
                                   dilation: tuple, pads: tuple) -> np.ndarray:
    """Pool ``x``, backpropagate ``g``; compare values, gradient and indices with the reference."""
    y_ref, gx_ref, idx_ref = window_reference(x, g, kernel, stride, dilation, pads)
    xt = nc.tensor(x, requires_grad=True)
    y, idx = max_pool_padded(xt, kernel, stride, dilation, pads, return_indices=True)
    y.backward(g)
    np.testing.assert_array_equal(y.data, y_ref)
    assert_identical(xt.grad, gx_ref)
    np.testing.assert_array_equal(idx, idx_ref)
    return xt.grad


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("x_last", [False, True], ids=["x-nchw", "x-last"])
@pytest.mark.parametrize("g_last", [False, True], ids=["g-nchw", "g-last"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_max_pool_matches_the_window_reference(config: tuple, x_last: bool, g_last: bool, dtype: type) -> None:
    shape, kernel, stride, dilation, pads = config
    rng = np.random.default_rng(len(shape) * 100 + 10 * x_last + g_last)
    x = tied_data(rng, shape, dtype, special=0.1)
    x[0, 0].flat[0] = np.nan  # at least one window without a maximum
    x = channels_last(x) if x_last else x
    g = tied_data(rng, pooled_shape(x, kernel, stride, dilation, pads), dtype, special=0.1)
    g = channels_last(g) if g_last else g
    gx = check_against_window_reference(x, g, kernel, stride, dilation, pads)
    assert gx.strides == x.strides  # the gradient keeps the input's layout


@pytest.mark.parametrize("config", [CONFIGS[0], CONFIGS[3]], ids=["tiles", "overlapping"])
def test_pool_split_over_the_batch_on_two_threads_matches_the_reference(monkeypatch, config: tuple) -> None:
    pytest.importorskip("threadpoolctl")  # without it the engine never threads
    from ndconv import backend
    from ndconv.ops import pool

    monkeypatch.setenv("NDCONV_NUM_THREADS", "2")
    monkeypatch.setattr(pool, "PARALLEL_MIN_ELEMENTS", 0)
    blocks = []
    monkeypatch.setattr(pool, "row_blocks", lambda a, m: blocks.append(backend.row_blocks(a, m)) or blocks[-1])
    shape, kernel, stride, dilation, pads = config
    rng = np.random.default_rng(7)
    x = channels_last(tied_data(rng, (5,) + shape[1:], np.float32, special=0.1))
    g = tied_data(rng, pooled_shape(x, kernel, stride, dilation, pads), np.float32, special=0.1)
    check_against_window_reference(x, g, kernel, stride, dilation, pads)
    assert len(blocks[0]) == 2  # the forward ran as two blocks of the batch


def test_a_tiled_pool_of_an_input_in_neither_memory_order() -> None:
    rng = np.random.default_rng(5)
    base = tied_data(rng, (3, 2, 8, 6), np.float32, special=0.1)
    x = base.transpose(1, 0, 3, 2)[:, :, ::-1]  # (2, 3, 6, 8): neither NCHW nor channels-last
    g = tied_data(rng, (2, 3, 3, 4), np.float32, special=0.1)
    check_against_window_reference(x, g, (2, 2), (2, 2), (1, 1), ((0, 0), (0, 0)))


def test_signed_zeros_tie_and_the_first_wins() -> None:
    x = np.array([[[[-0.0, 0.0], [0.0, -0.0]], [[0.0, -0.0], [-1.0, -0.0]]]], np.float32)  # (1, 2, 2, 2)
    g = np.array([[[[-0.0]], [[5.0]]]], np.float32)
    xt = nc.tensor(x, requires_grad=True)
    y, idx = max_pool_padded(xt, (2, 2), (2, 2), (1, 1), ((0, 0), (0, 0)), return_indices=True)
    y.backward(g)
    np.testing.assert_array_equal(idx.ravel(), [0, 0])
    assert_identical(xt.grad, np.array([[[[-0.0, 0.0], [0.0, 0.0]], [[5.0, 0.0], [0.0, 0.0]]]], np.float32))


def test_a_nan_window_routes_nothing_and_reports_its_first_element() -> None:
    x = np.array([[[[1.0, 3.0, np.nan, 3.0]]]])  # (1, 1, 1, 4): windows [1, 3], [nan, 3]
    xt = nc.tensor(x, requires_grad=True)
    y, idx = max_pool_padded(xt, (1, 2), (1, 2), (1, 1), ((0, 0), (0, 0)), return_indices=True)
    y.backward(np.array([[[[np.inf, 7.0]]]]))
    assert y.data[0, 0, 0, 0] == 3.0 and np.isnan(y.data[0, 0, 0, 1])
    np.testing.assert_array_equal(idx.ravel(), [1, 2])
    assert_identical(xt.grad, np.array([[[[0.0, np.inf, 0.0, 0.0]]]]))


def test_more_than_255_kernel_offsets() -> None:
    rng = np.random.default_rng(3)
    x = tied_data(rng, (1, 2, 7, 7, 6), np.float32, special=0.0)  # 7*7*6 = 294 offsets: uint16
    args = ((7, 7, 6), (1, 1, 1), (1, 1, 1), ((0, 0), (0, 0), (0, 1)))
    g = tied_data(rng, pooled_shape(x, *args), np.float32, special=0.0)
    y_ref, gx_ref, idx_ref = window_reference(x, g, *args)
    xt = nc.tensor(x, requires_grad=True)
    y, idx = max_pool_padded(xt, *args, return_indices=True)
    y.backward(g)
    np.testing.assert_array_equal(y.data, y_ref)
    assert_identical(xt.grad, gx_ref)
    np.testing.assert_array_equal(idx, idx_ref)


def test_inference_skips_the_argmax_and_gives_the_same_maximum() -> None:
    x = channels_last(tied_data(np.random.default_rng(4), (2, 3, 7, 6), np.float32, special=0.1))
    args = ((3, 3), (2, 2), (1, 1), ((1, 1), (1, 1)))
    with nc.no_grad():
        y, idx = max_pool_padded(nc.tensor(x, requires_grad=True), *args)
    assert idx is None and y.requires_grad is False
    y_ref, _, _ = window_reference(x, np.zeros(pooled_shape(x, *args)), *args)
    np.testing.assert_array_equal(y.data, y_ref)
    assert y.data.strides == np.empty_like(x, shape=y.shape).strides  # channels-last stays so


@st.composite
def pool_cases(draw: st.DrawFn) -> tuple:
    rank = draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(rank))
    pads = tuple((draw(st.integers(0, k // 2)), draw(st.integers(0, k // 2))) for k in kernel)
    spatial = tuple(
        draw(st.integers(d * (k - 1) + 1, d * (k - 1) + 5)) for k, d in zip(kernel, dilation)
    )
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3))) + spatial
    return shape, kernel, stride, dilation, pads, draw(st.booleans()), draw(st.integers(0, 2**16))


@settings(max_examples=60, deadline=None)
@given(pool_cases())
def test_generated_pools_match_the_window_reference(case: tuple) -> None:
    shape, kernel, stride, dilation, pads, last, seed = case
    rng = np.random.default_rng(seed)
    x = tied_data(rng, shape, np.float32, special=0.15)
    x = channels_last(x) if last else x
    g = tied_data(rng, pooled_shape(x, kernel, stride, dilation, pads), np.float32, special=0.15)
    check_against_window_reference(x, g, kernel, stride, dilation, pads)
