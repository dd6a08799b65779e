"""Winograd 3x3 convolution against the im2col path it may replace (ndconv.ops.winograd)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ndconv.ops import winograd
from ndconv.ops.conv import conv_forward_array, conv_weight_grad_array
from ndconv.ops.winograd import winograd_forward, winograd_matrices, winograd_weight_grad

ONE = (1, 1)
# (N, C_in, C_out, H, W): odd sizes, sizes below one tile, a single channel, wide layers.
SHAPES = [
    (2, 3, 5, 7, 5),
    (1, 1, 1, 1, 1),
    (1, 1, 4, 2, 3),
    (3, 4, 2, 3, 1),
    (2, 8, 6, 9, 4),
    (1, 2, 3, 1, 13),
    (4, 16, 16, 8, 8),
    (2, 64, 32, 11, 6),
]
WIDE = [(4, 512, 512, 4, 4), (2, 256, 256, 8, 8), (2, 64, 64, 32, 32)]


def _data(shape: tuple[int, ...], dtype: type, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Return a zero-padded input, a Kaiming-scaled kernel and an output gradient."""
    n, c_in, c_out, h, w = shape
    rng = np.random.default_rng(seed)
    xl = np.zeros((n, h + 2, w + 2, c_in), dtype)
    xl[:, 1:-1, 1:-1] = rng.standard_normal((n, h, w, c_in))
    wt = (rng.standard_normal((c_out, c_in, 3, 3)) * np.sqrt(2 / (9 * c_in))).astype(dtype)
    gl = rng.standard_normal((n, h, w, c_out)).astype(dtype)
    return xl, wt, gl


def _rel(got: np.ndarray, want: np.ndarray) -> float:
    """Max error relative to the max magnitude: the rule of the PyTorch oracle tests."""
    return float(np.abs(got - want).max() / max(1.0, np.abs(want).max()))


@pytest.mark.parametrize("m", [2, 4])
def test_matrices_correlate_in_1d(m: int) -> None:
    bt, g, at = winograd_matrices(m)
    rng = np.random.default_rng(m)
    d, k = rng.standard_normal(m + 2), rng.standard_normal(3)
    want = np.correlate(d, k, mode="valid")  # (m,)
    np.testing.assert_allclose(at @ ((g @ k) * (bt @ d)), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("m", [2, 4])
@pytest.mark.parametrize("shape", SHAPES)
def test_float64_matches_im2col(shape: tuple[int, ...], m: int) -> None:
    xl, wt, gl = _data(shape, np.float64)
    y = winograd_forward(xl, wt, m)
    assert y.shape == (shape[0], shape[3], shape[4], shape[2]) and y.dtype == np.float64
    assert _rel(y, conv_forward_array(xl, wt, ONE, ONE, 1)) < 1e-12
    dw = winograd_weight_grad(xl, gl, m)
    assert dw.shape == wt.shape and dw.dtype == np.float64
    assert _rel(dw, conv_weight_grad_array(xl, gl, (3, 3), ONE, ONE, 1)) < 1e-12


@pytest.mark.parametrize("m", [2, 4])
@pytest.mark.parametrize("shape", SHAPES[:4] + WIDE)
def test_float32_within_oracle_tolerance(shape: tuple[int, ...], m: int) -> None:
    """float32 results stay well inside the oracle's 1e-4 (measured: F(4,3) ~1e-5, F(2,3) ~1e-6)."""
    xl, wt, gl = _data(shape, np.float64, seed=1)
    want_y = conv_forward_array(xl, wt, ONE, ONE, 1)
    want_dw = conv_weight_grad_array(xl, gl, (3, 3), ONE, ONE, 1)
    x32, w32, g32 = (a.astype(np.float32) for a in (xl, wt, gl))
    y = winograd_forward(x32, w32, m)
    dw = winograd_weight_grad(x32, g32, m)
    assert y.dtype == dw.dtype == np.float32
    assert _rel(y, want_y) < 3e-5
    assert _rel(dw, want_dw) < 3e-5


def test_input_gradient_as_forward() -> None:
    """The stride-1 input gradient is a forward pass on the padded gradient, flipped kernel."""
    xl, wt, gl = _data((2, 5, 7, 6, 9), np.float64)
    wt_flip = np.ascontiguousarray(np.flip(wt.swapaxes(0, 1), (2, 3)))  # (C_in, C_out, 3, 3)
    gp = np.pad(gl, [(0, 0), (2, 2), (2, 2), (0, 0)])
    want = conv_forward_array(gp, wt_flip, ONE, ONE, 1)  # (N, H + 2, W + 2, C_in)
    assert _rel(winograd_forward(gp, wt_flip), want) < 1e-12


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize("tiles", [1, 3, 1000])
def test_chunking(monkeypatch: pytest.MonkeyPatch, tiles: int, workers: str) -> None:
    """Chunks of single tile rows, of several samples, one worker or two: the same result."""
    monkeypatch.setattr(winograd, "MIN_TILES", tiles)
    monkeypatch.setattr(winograd, "CHUNK_BYTES", 1)
    monkeypatch.setenv("NDCONV_NUM_THREADS", workers)
    xl, wt, gl = _data((3, 4, 5, 13, 9), np.float64)
    for m in (2, 4):
        assert _rel(winograd_forward(xl, wt, m), conv_forward_array(xl, wt, ONE, ONE, 1)) < 1e-12
        want = conv_weight_grad_array(xl, gl, (3, 3), ONE, ONE, 1)
        assert _rel(winograd_weight_grad(xl, gl, m), want) < 1e-12


def test_wide_weight_grad_per_position(monkeypatch: pytest.MonkeyPatch) -> None:
    """dU summed one position at a time (layers too wide for one batched product per chunk)."""
    monkeypatch.setattr(winograd, "CHUNK_BYTES", 1)
    monkeypatch.setattr(winograd, "MIN_TILES", 1)  # several chunks per worker
    xl, wt, gl = _data((2, 6, 7, 5, 8), np.float64)
    want = conv_weight_grad_array(xl, gl, (3, 3), ONE, ONE, 1)
    assert _rel(winograd_weight_grad(xl, gl), want) < 1e-12


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 3),
    c_in=st.integers(1, 5),
    c_out=st.integers(1, 5),
    h=st.integers(1, 10),
    w=st.integers(1, 10),
    m=st.sampled_from([2, 4]),
)
def test_any_shape(n: int, c_in: int, c_out: int, h: int, w: int, m: int) -> None:
    xl, wt, gl = _data((n, c_in, c_out, h, w), np.float64)
    assert _rel(winograd_forward(xl, wt, m), conv_forward_array(xl, wt, ONE, ONE, 1)) < 1e-12
    want = conv_weight_grad_array(xl, gl, (3, 3), ONE, ONE, 1)
    assert _rel(winograd_weight_grad(xl, gl, m), want) < 1e-12


def test_errors() -> None:
    xl, wt, gl = _data((1, 2, 3, 4, 4), np.float32)
    with pytest.raises(ValueError, match="`m` must be one of"):
        winograd_forward(xl, wt, m=3)
    with pytest.raises(ValueError, match=r"`w` must be \(C_out, C_in, 3, 3\)"):
        winograd_forward(xl, wt[:, :, :2])
    with pytest.raises(ValueError, match="`xl` must be channels-last"):
        winograd_forward(xl[..., :1], wt)
    with pytest.raises(ValueError, match="`xl` must be channels-last"):
        winograd_forward(xl[:, :2], wt)
    with pytest.raises(ValueError, match="`gl` must be"):
        winograd_weight_grad(xl, gl[:, 1:])
