"""The FFT route for large kernels (ndconv.ops.conv_fft) against the direct path, and torch."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oracle_util import assert_close, assert_grads, backward_both, leaf_pair, randn

import ndconv as nc
import ndconv.nn.functional as F
from ndconv.ops import conv as conv_ops
from ndconv.ops import conv_fft


def _calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    original = conv_ops.conv_valid_fft
    monkeypatch.setattr(conv_ops, "conv_valid_fft", lambda *a, **k: calls.append(1) or original(*a, **k))
    return calls


@st.composite
def fft_cases(draw: st.DrawFn) -> dict[str, Any]:
    rank = draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 6)) for _ in range(rank))
    pads = tuple((draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in range(rank))
    spatial = tuple(k + draw(st.integers(0, 6)) for k in kernel)  # at least one output
    n, c_in, c_out = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    return {"x": (n, c_in, *spatial), "w": (c_out, c_in, *kernel), "pads": pads,
            "x_grad": draw(st.booleans()), "bias": draw(st.booleans()), "seed": draw(st.integers(0, 2**16))}


def _run(case: dict[str, Any]) -> list[np.ndarray]:
    rng = np.random.default_rng(case["seed"])
    x = nc.tensor(rng.standard_normal(case["x"]), requires_grad=case["x_grad"])
    w = nc.tensor(rng.standard_normal(case["w"]), requires_grad=True)
    b = nc.tensor(rng.standard_normal(case["w"][0]), requires_grad=True) if case["bias"] else None
    y = F.conv(x, w, b, padding=case["pads"])  # (lo, hi) per axis
    y.backward(rng.standard_normal(y.shape))
    return [y.data, w.grad] + ([x.grad] if case["x_grad"] else []) + ([b.grad] if b is not None else [])


@settings(max_examples=80, deadline=None)
@given(fft_cases())
def test_fft_route_matches_the_direct_path(case: dict[str, Any]) -> None:
    """float64, every rank, padding, kernel up to 6, with and without input gradient and bias."""
    with pytest.MonkeyPatch.context() as mp:
        calls = _calls(mp)
        mp.setattr(conv_fft, "FFT_ADVANTAGE", 0.0)  # always the FFT where it applies
        fast = _run(case)
        assert calls == [1]
        mp.setattr(conv_fft, "FFT_ADVANTAGE", np.inf)  # never
        slow = _run(case)
        assert calls == [1]
    for f, s in zip(fast, slow, strict=True):
        np.testing.assert_allclose(f, s, rtol=0, atol=1e-10 * max(1.0, np.abs(s).max()))


def test_fft_route_float32_error_is_small(monkeypatch) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 40, 40)).astype(np.float32)
    w = (rng.standard_normal((5, 3, 15, 15)) / 15).astype(np.float32)
    results = []
    for advantage in (0.0, np.inf):
        monkeypatch.setattr(conv_fft, "FFT_ADVANTAGE", advantage)
        xt, wt = nc.tensor(x, requires_grad=True), nc.tensor(w, requires_grad=True)
        y = F.conv(xt, wt, padding=7)
        y.backward(np.ones(y.shape, np.float32))
        assert y.dtype == xt.grad.dtype == wt.grad.dtype == np.float32
        results.append((y.data, xt.grad, wt.grad))
    for f, s in zip(*results, strict=True):
        assert np.abs(f - s).max() <= 1e-5 * np.abs(s).max()


def test_threaded_transforms_give_the_single_thread_result(monkeypatch) -> None:
    pytest.importorskip("threadpoolctl")  # without it the engine never threads
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5, 3, 21, 19)).astype(np.float32)
    w = rng.standard_normal((4, 3, 9, 7)).astype(np.float32)
    g = rng.standard_normal((5, 4, 21, 19)).astype(np.float32)
    monkeypatch.setattr(conv_fft, "FFT_ADVANTAGE", 0.0)
    monkeypatch.setattr(conv_fft, "PARALLEL_MIN_ELEMENTS", 0)
    splits = []
    original = conv_fft._split
    monkeypatch.setattr(conv_fft, "_split", lambda n, e: splits.append(len(original(n, e))) or original(n, e))
    results = []
    for threads in ("1", "2"):
        monkeypatch.setenv("NDCONV_NUM_THREADS", threads)
        xt, wt = nc.tensor(x, requires_grad=True), nc.tensor(w, requires_grad=True)
        F.conv(xt, wt, padding="same").backward(g)
        results.append((xt.grad, wt.grad))
    assert max(splits) == 2  # the transforms were split on two threads
    for one, two in zip(*results, strict=True):
        np.testing.assert_array_equal(two, one)


def test_route_choice_large_kernels_only(monkeypatch) -> None:
    calls = _calls(monkeypatch)

    def conv(x_shape: tuple, w_shape: tuple, dtype: type = np.float32, **kw: Any) -> None:
        x = nc.tensor(np.zeros(x_shape, dtype), requires_grad=True)
        F.conv(x, nc.tensor(np.zeros(w_shape, dtype), requires_grad=True), **kw)

    conv((8, 2, 4000), (16, 2, 255), padding=127)  # a long 1-D filter: 9x fewer flops
    conv((4, 16, 32, 32), (32, 16, 15, 15), padding=7)
    assert calls == [1, 1]
    conv((8, 6, 14, 14), (16, 6, 5, 5))  # LeNet
    conv((8, 64, 32, 32), (64, 64, 3, 3), padding=1)  # ResNet
    conv((4, 16, 32, 32), (32, 16, 15, 15), padding=7, stride=2)
    conv((4, 16, 32, 32), (32, 16, 15, 15), padding=7, dilation=2)
    conv((4, 16, 32, 32), (32, 8, 15, 15), padding=7, groups=2)
    conv((4, 16, 32, 32), (32, 16, 15, 15), dtype=np.float16, padding=7)
    assert calls == [1, 1]


def test_fast_length_is_the_next_5_smooth_number() -> None:
    smooth = [m for m in range(1, 200) if all(p in (2, 3, 5) for p in _factors(m))]
    for n in range(1, 190):
        assert conv_fft.fast_length(n) == min(m for m in smooth if m >= n)


def _factors(m: int) -> list[int]:
    out, p = [], 2
    while m > 1:
        while m % p == 0:
            out.append(p)
            m //= p
        p += 1
    return out


@pytest.mark.parametrize(("x_shape", "w_shape", "padding"), [
    ((4, 4, 400), (8, 4, 255), 127),
    ((2, 8, 32, 30), (16, 8, 17, 15), (8, 7)),
    ((2, 4, 16, 16, 16), (8, 4, 9, 9, 9), 4),
])
def test_fft_route_matches_torch(torch: Any, x_shape: tuple, w_shape: tuple, padding: Any) -> None:
    """Layers the cost rule sends to the FFT route, as they come: float32 against torch."""
    rng = np.random.default_rng(sum(w_shape))
    x, w, b = randn(rng, x_shape), randn(rng, w_shape, scale=w_shape[1] ** -0.5), randn(rng, w_shape[:1])
    assert conv_fft.fft_route_applies(x_shape, w_shape, (1,) * (len(x_shape) - 2), (1,) * (len(x_shape) - 2), 1,
                                      [(p, p) for p in np.broadcast_to(padding, len(x_shape) - 2)], np.float32)
    (xo, xt), (wo, wt), (bo, bt) = leaf_pair(torch, x), leaf_pair(torch, w), leaf_pair(torch, b)
    ours = F.conv(xo, wo, bo, padding=padding)
    conv = {3: torch.nn.functional.conv1d, 4: torch.nn.functional.conv2d, 5: torch.nn.functional.conv3d}[len(x_shape)]
    theirs = conv(xt, wt, bt, padding=padding)
    backward_both(torch, rng, ours, theirs)
    assert_close(ours.data, theirs.detach(), "y")
    assert_grads([("x", xo, xt), ("w", wo, wt), ("b", bo, bt)])
