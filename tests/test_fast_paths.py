"""Every fast path in the engine agrees with the simple path it stands in for.

The channels-first route for layers with few input channels (taken when the input needs no
gradient) is compared with the general channels-last route (taken when it does), forward and
weight/bias gradients, on generated configurations of ranks 1-3.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ndconv as nc
import ndconv.nn.functional as F
from ndconv.ops import conv as conv_ops


@st.composite
def few_channel_configs(draw: st.DrawFn) -> dict:
    rank = draw(st.integers(1, 3))
    c_in = draw(st.integers(1, conv_ops.FEW_CHANNELS))
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(rank))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(rank))
    padding = tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(rank))
    spatial = tuple(
        draw(st.integers(max(1, d * (k - 1) + 1 - lo - hi), 9))
        for k, d, (lo, hi) in zip(kernel, dilation, padding)
    )
    return {
        "x": (draw(st.integers(1, 3)), c_in, *spatial),
        "w": (draw(st.integers(1, 5)), c_in, *kernel),
        "kw": {"stride": stride, "dilation": dilation, "padding": padding},
        "seed": draw(st.integers(0, 2**16)),
    }


@settings(max_examples=150)
@given(few_channel_configs())
def test_few_channels_fast_path_matches_general_path(cfg: dict) -> None:
    rng = np.random.default_rng(cfg["seed"])
    x = rng.standard_normal(cfg["x"])
    w = rng.standard_normal(cfg["w"])
    b = rng.standard_normal(cfg["w"][0])
    results = []
    for x_needs_grad in (False, True):  # False takes the fast path, True the general one
        xt = nc.tensor(x, requires_grad=x_needs_grad)
        wt, bt = nc.tensor(w, requires_grad=True), nc.tensor(b, requires_grad=True)
        y = F.conv(xt, wt, bt, **cfg["kw"])
        g = np.random.default_rng(1).standard_normal(y.shape)
        y.backward(g)
        results.append((y.data, wt.grad, bt.grad))
    for fast, simple in zip(*results):
        np.testing.assert_allclose(fast, simple, rtol=1e-12, atol=1e-12)


def test_fast_path_is_taken_only_without_input_gradient(monkeypatch) -> None:
    calls = []
    original = conv_ops._conv_valid_few_channels
    monkeypatch.setattr(conv_ops, "_conv_valid_few_channels", lambda *a: calls.append(1) or original(*a))
    x = np.ones((1, 1, 5, 5))
    w = nc.tensor(np.ones((2, 1, 3, 3)), requires_grad=True)
    F.conv(nc.tensor(x), w)
    assert calls == [1]
    F.conv(nc.tensor(x, requires_grad=True), w)
    F.conv(nc.tensor(np.ones((1, 4, 5, 5))), nc.tensor(np.ones((2, 4, 3, 3))))
    assert calls == [1]


@st.composite
def stride1_configs(draw: st.DrawFn) -> dict:
    rank = draw(st.integers(1, 3))
    groups = draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 5)) for _ in range(rank))
    dilation = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    out = tuple(draw(st.integers(1, 6)) for _ in range(rank))
    extra = tuple(draw(st.integers(0, 2)) for _ in range(rank))  # rows no window reaches
    spatial = tuple(o + d * (k - 1) + e for o, d, k, e in zip(out, dilation, kernel, extra))
    return {
        "g": (draw(st.integers(1, 3)), *out, groups * draw(st.integers(1, 3))),
        "w_tail": (draw(st.integers(1, 3)), *kernel),
        "spatial": spatial,
        "dilation": dilation,
        "groups": groups,
        "seed": draw(st.integers(0, 2**16)),
    }


@settings(max_examples=150)
@given(stride1_configs())
def test_input_gradient_as_convolution_matches_the_fold(cfg: dict) -> None:
    rng = np.random.default_rng(cfg["seed"])
    g = rng.standard_normal(cfg["g"])  # (N, *O, C_out), channels-last
    w = rng.standard_normal((cfg["g"][-1], *cfg["w_tail"]))  # (C_out, C_in/groups, *K)
    args = (g, w, cfg["spatial"], (1,) * len(cfg["spatial"]), cfg["dilation"], cfg["groups"])
    conv = conv_ops.conv_input_grad_array(*args, method="conv")
    fold = conv_ops.conv_input_grad_array(*args, method="fold")
    np.testing.assert_allclose(conv, fold, rtol=1e-12, atol=1e-12)


def test_threaded_chunks_match_sequential_chunks(monkeypatch) -> None:
    """The 2-thread im2col/GEMM route gives the sequential route's results."""
    pytest.importorskip("threadpoolctl")  # without it the engine never threads
    from ndconv import backend

    monkeypatch.setattr(conv_ops, "CHUNK_BYTES", 1 << 14)  # many chunks, on a small problem
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 8, 12, 12)).astype(np.float32)
    w = rng.standard_normal((5, 8, 3, 3)).astype(np.float32)
    g = rng.standard_normal((6, 5, 12, 12)).astype(np.float32)
    results = {}
    for threads in ("1", "2"):
        monkeypatch.setenv("NDCONV_NUM_THREADS", threads)
        assert backend.num_workers() == int(threads)
        xt, wt = nc.tensor(x, requires_grad=True), nc.tensor(w, requires_grad=True)
        y = F.conv(xt, wt, padding=1)
        y.backward(g)
        results[threads] = (y.data, xt.grad, wt.grad)
    for one, two in zip(results["1"], results["2"]):
        np.testing.assert_allclose(two, one, rtol=1e-5, atol=1e-5)


def test_map_chunks_keeps_order_and_runs_sequentially_when_asked(monkeypatch) -> None:
    from ndconv import backend

    monkeypatch.setenv("NDCONV_NUM_THREADS", "2")
    assert backend.map_chunks(lambda i: i * i, list(range(20))) == [i * i for i in range(20)]
    assert backend.map_chunks(lambda i: -i, [1, 2, 3], parallel=False) == [-1, -2, -3]
    monkeypatch.setenv("NDCONV_NUM_THREADS", "two")
    with pytest.raises(ValueError, match="NDCONV_NUM_THREADS.*'two'"):
        backend.num_workers()
