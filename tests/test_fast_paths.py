"""Every fast path in the engine agrees with the simple path it stands in for.

The channels-first route for strided layers with few input channels (taken when the input
needs no gradient) and the flat route for stride-1 layers with few channels are compared with
the general channels-last route, forward and every gradient, on generated configurations of
ranks 1-3.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ndconv as nc
import ndconv.nn.functional as F
from ndconv.ops import conv as conv_ops
from ndconv.ops import conv_flat


def _count_calls(monkeypatch: pytest.MonkeyPatch, module: object, name: str) -> list[int]:
    """Wrap ``module.name`` so that each call appends 1 to the returned list."""
    calls: list[int] = []
    original = getattr(module, name)
    monkeypatch.setattr(module, name, lambda *a, **k: calls.append(1) or original(*a, **k))
    return calls


def _draw_conv(draw: st.DrawFn, max_c_in: int, max_batch: int, max_spatial: int) -> dict:
    """A small conv configuration of rank 1-3: shapes of x and w, dilation and padding."""
    rank = draw(st.integers(1, 3))
    c_in = draw(st.integers(1, max_c_in))
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(rank))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(rank))
    padding = tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(rank))
    spatial = tuple(
        draw(st.integers(max(1, d * (k - 1) + 1 - lo - hi), max_spatial))
        for k, d, (lo, hi) in zip(kernel, dilation, padding)
    )
    return {
        "x": (draw(st.integers(1, max_batch)), c_in, *spatial),
        "w": (draw(st.integers(1, 5)), c_in, *kernel),
        "kw": {"dilation": dilation, "padding": padding},
        "seed": draw(st.integers(0, 2**16)),
    }


@st.composite
def few_channel_configs(draw: st.DrawFn) -> dict:
    cfg = _draw_conv(draw, conv_ops.FEW_CHANNELS, max_batch=3, max_spatial=9)
    cfg["kw"]["stride"] = tuple(draw(st.integers(1, 3)) for _ in cfg["kw"]["dilation"])
    return cfg


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
    calls = _count_calls(monkeypatch, conv_ops, "_conv_valid_few_channels")
    x = np.ones((1, 1, 5, 5))
    w = nc.tensor(np.ones((2, 1, 3, 3)), requires_grad=True)
    F.conv(nc.tensor(x), w, stride=2)
    assert calls == [1]
    F.conv(nc.tensor(x, requires_grad=True), w, stride=2)
    F.conv(nc.tensor(np.ones((1, 4, 5, 5))), nc.tensor(np.ones((2, 4, 3, 3))), stride=2)
    assert calls == [1]


@st.composite
def flat_configs(draw: st.DrawFn) -> dict:
    cfg = _draw_conv(draw, conv_flat.FLAT_MAX_CHANNELS, max_batch=4, max_spatial=7)
    cfg["x_grad"] = draw(st.booleans())
    # budgets: the default, one position per piece, a few positions, a few images
    cfg["budget"] = draw(st.sampled_from([None, 1, 200, 1000, 5000, 20000]))
    # the weight gradient's operand: copied above the default size, always, or never
    cfg["dw_copy"] = draw(st.sampled_from([None, 0, 1 << 30]))
    return cfg


def _conv_and_grads(cfg: dict) -> list[np.ndarray]:
    rng = np.random.default_rng(cfg["seed"])
    xt = nc.tensor(rng.standard_normal(cfg["x"]), requires_grad=cfg["x_grad"])
    wt = nc.tensor(rng.standard_normal(cfg["w"]), requires_grad=True)
    bt = nc.tensor(rng.standard_normal(cfg["w"][0]), requires_grad=True)
    y = F.conv(xt, wt, bt, **cfg["kw"])
    y.backward(rng.standard_normal(y.shape))
    return [y.data, wt.grad, bt.grad] + ([xt.grad] if cfg["x_grad"] else [])


@settings(max_examples=150)
@given(flat_configs())
def test_flat_route_matches_general_path(cfg: dict) -> None:
    with pytest.MonkeyPatch.context() as mp:
        if cfg["budget"] is not None:
            mp.setattr(conv_flat, "STREAM_BYTES", cfg["budget"])
            mp.setattr(conv_flat, "INPUT_GRAD_BYTES", cfg["budget"])
        if cfg["dw_copy"] is not None:
            mp.setattr(conv_flat, "DW_COPY_MIN", cfg["dw_copy"])
        fast = _conv_and_grads(cfg)
        mp.setattr(conv_flat, "FLAT_MAX_CHANNELS", 0)  # every layer takes the general path
        simple = _conv_and_grads(cfg)
    for f, s in zip(fast, simple, strict=True):
        np.testing.assert_allclose(f, s, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kernel", [(3,), (3, 2), (2, 3, 2)], ids=["1d", "2d", "3d"])
@pytest.mark.parametrize("images_per_piece", [1, 2, 5])
def test_flat_route_input_gradient_in_place_when_unpadded(monkeypatch, kernel: tuple,
                                                         images_per_piece: int) -> None:
    # An unpadded layer's input gradient is summed straight into dx, a piece of whole images
    # at a time (the hypothesis test draws padding on every side, so it rarely gets here);
    # with 2 images per piece, batch 5 ends on a smaller piece.
    rank = len(kernel)
    spatial = (7, 6, 5)[:rank]
    cfg = {"x": (5, 3) + spatial, "w": (4, 3) + kernel, "seed": 11, "x_grad": True,
           "kw": {"dilation": (2,) + (1,) * (rank - 1)}}
    plan = conv_flat._plan(spatial, kernel, cfg["kw"]["dilation"], ((0, 0),) * rank)
    rows = 4 * kernel[-1] + 3 * math.prod(kernel[:-1])  # the input gradient's rows per position
    monkeypatch.setattr(conv_flat, "INPUT_GRAD_BYTES", images_per_piece * rows * plan.t_extent * 8)
    monkeypatch.setattr(conv_flat, "STREAM_BYTES", images_per_piece * 3 * math.prod(kernel) * plan.span * 8)
    pieces = conv_flat._sub_blocks(5, plan.t_extent, rows, 8, conv_flat.INPUT_GRAD_BYTES)
    assert [e - s for s, e, _, _ in pieces][0] == images_per_piece  # whole images, as many as meant
    fast = _conv_and_grads(cfg)
    monkeypatch.setattr(conv_flat, "FLAT_MAX_CHANNELS", 0)
    simple = _conv_and_grads(cfg)
    for f, s in zip(fast, simple, strict=True):
        np.testing.assert_allclose(f, s, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("budget", [None, 1, 300, 1000, 3000])
def test_flat_route_3d_input_gradient_past_the_plane(monkeypatch, budget: int | None) -> None:
    # A 3-D kernel with K_1 > 1: the input gradient's outer offsets reach past an image's padded
    # plane from the forward's span, where its partial sums T are zero and are cut off; with
    # small budgets an image is cut into pieces of 1, 2, 6 or 20 positions, some of which start
    # where every position lands past the plane for the largest offsets.
    cfg = {"x": (2, 2, 4, 5, 6), "w": (3, 2, 2, 3, 2), "seed": 3, "x_grad": True,
           "kw": {"dilation": (1, 2, 1), "padding": ((1, 1), (0, 1), (2, 0))}}
    if budget is not None:
        monkeypatch.setattr(conv_flat, "STREAM_BYTES", budget)
        monkeypatch.setattr(conv_flat, "INPUT_GRAD_BYTES", budget)
    fast = _conv_and_grads(cfg)
    monkeypatch.setattr(conv_flat, "FLAT_MAX_CHANNELS", 0)
    simple = _conv_and_grads(cfg)
    for f, s in zip(fast, simple, strict=True):
        np.testing.assert_allclose(f, s, rtol=1e-12, atol=1e-12)


def test_flat_route_is_taken_for_few_channels_at_stride_1(monkeypatch) -> None:
    calls = _count_calls(monkeypatch, conv_ops, "conv_valid_flat")
    x = nc.tensor(np.ones((2, conv_flat.FLAT_MAX_CHANNELS, 6, 6)), requires_grad=True)
    F.conv(x, nc.tensor(np.ones((3, conv_flat.FLAT_MAX_CHANNELS, 3, 3))))
    assert calls == [1]
    F.conv(x, nc.tensor(np.ones((3, conv_flat.FLAT_MAX_CHANNELS, 3, 3))), stride=2)
    F.conv(x, nc.tensor(np.ones((4, conv_flat.FLAT_MAX_CHANNELS // 2, 3, 3))), groups=2)
    y = nc.tensor(np.ones((2, conv_flat.FLAT_MAX_CHANNELS + 1, 6, 6)))
    F.conv(y, nc.tensor(np.ones((3, conv_flat.FLAT_MAX_CHANNELS + 1, 3, 3))))
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


@pytest.mark.parametrize("route", ["im2col", "im2col-fold", "flat", "winograd"])
def test_threaded_chunks_match_sequential_chunks(monkeypatch, route: str) -> None:
    """Each route's 2-thread chunks give its sequential results (small problems, so the
    thresholds that keep tiny layers on one thread are lowered)."""
    pytest.importorskip("threadpoolctl")  # without it the engine never threads
    from ndconv import backend

    monkeypatch.setattr(conv_ops, "CHUNK_BYTES", 1 << 14)  # many chunks, on a small problem
    monkeypatch.setattr(conv_ops, "PARALLEL_MIN_MACS", 0)
    monkeypatch.setattr(conv_flat, "PARALLEL_MIN_MACS", 0)
    monkeypatch.setattr(conv_ops, "WINOGRAD_MIN_TILES", 1)
    if route != "flat":
        monkeypatch.setattr(conv_flat, "FLAT_MAX_CHANNELS", 0)
    c_in = 32 if route == "winograd" else 8
    stride = 2 if route == "im2col-fold" else 1
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, c_in, 12, 12)).astype(np.float32)
    w = (rng.standard_normal((5, c_in, 3, 3)) / np.sqrt(9 * c_in)).astype(np.float32)
    g = rng.standard_normal((6, 5, 12 // stride, 12 // stride)).astype(np.float32)
    calls = _count_calls(monkeypatch, conv_ops, "map_chunks")
    results = {}
    for threads in ("1", "2"):
        monkeypatch.setenv("NDCONV_NUM_THREADS", threads)
        assert backend.num_workers() == int(threads)
        xt, wt = nc.tensor(x, requires_grad=True), nc.tensor(w, requires_grad=True)
        y = F.conv(xt, wt, padding=1, stride=stride)
        y.backward(g)
        results[threads] = (y.data, xt.grad, wt.grad)
    assert (len(calls) > 0) == route.startswith("im2col")  # the route under test was taken
    for one, two in zip(results["1"], results["2"]):  # float32 sums in another order
        np.testing.assert_allclose(two, one, rtol=0, atol=2e-5 * np.abs(one).max())


@pytest.mark.parametrize("threads", ["1", "2"])
def test_flat_route_weight_gradient_is_the_same_with_or_without_dx(monkeypatch, threads: str) -> None:
    """Each block's job computes dx (when asked) and the block's dW from the same gradient grid;
    the blocks are summed in the same order either way: dW equal to the last bit."""
    monkeypatch.setenv("NDCONV_NUM_THREADS", threads)
    monkeypatch.setattr(conv_flat, "PARALLEL_MIN_MACS", 0)  # one block per thread
    grid_calls = _count_calls(monkeypatch, conv_flat, "_grad_grid")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 3, 9, 9)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    g = rng.standard_normal((6, 4, 9, 9)).astype(np.float32)
    grads = []
    for x_grad in (False, True):
        wt = nc.tensor(w, requires_grad=True)
        F.conv(nc.tensor(x, requires_grad=x_grad), wt, padding=1).backward(g)
        grads.append(wt.grad)
    assert len(grid_calls) == 2 * int(threads)  # one grid per block, shared by dx and dW
    np.testing.assert_array_equal(grads[1], grads[0])


@pytest.mark.parametrize(("files", "expected"), [
    ({"index0": ("1", "48K"), "index2": ("2", "2048K"), "index3": ("3", "480M")}, 2 << 20),
    ({"index1": ("1", "32K"), "index2": ("2", "1M")}, 1 << 20),
    ({"index2": ("2", "524288")}, 1 << 19),
    ({"index0": ("1", "32K")}, 1 << 20),  # no L2 listed: the default
    ({"index2": ("2", "lots")}, 1 << 20),  # unreadable: the default
])
def test_l2_cache_size_is_read_from_sysfs(monkeypatch, tmp_path, files: dict, expected: int) -> None:
    from ndconv import backend

    for name, (level, size) in files.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "level").write_text(level + "\n")
        (tmp_path / name / "size").write_text(size + "\n")
    monkeypatch.setattr(backend, "_CACHE_DIR", str(tmp_path))
    backend.l2_cache_bytes.cache_clear()
    try:
        assert backend.l2_cache_bytes() == expected
    finally:
        backend.l2_cache_bytes.cache_clear()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_pool_works_in_a_forked_child(monkeypatch) -> None:
    """A child forked after the pool started gets a pool of its own (the parent's threads do not
    exist in it), and threaded chunks run there."""
    pytest.importorskip("threadpoolctl")  # without it the engine never threads
    import multiprocessing

    from ndconv import backend

    monkeypatch.setenv("NDCONV_NUM_THREADS", "2")
    assert backend.map_chunks(lambda i: i + 1, [0, 1, 2]) == [1, 2, 3]  # the pool exists now
    child = multiprocessing.get_context("fork").Process(target=_use_pool_in_child)
    child.start()
    child.join(30)
    if child.is_alive():
        child.kill()
        pytest.fail("the forked child hung on the pool")
    assert child.exitcode == 0


def _use_pool_in_child() -> None:
    from ndconv import backend

    forgotten = backend._pool is None  # the parent's pool was dropped at the fork
    ok = forgotten and backend.map_chunks(lambda i: i * 2, [1, 2, 3]) == [2, 4, 6]
    os._exit(0 if ok and backend._pool is not None else 1)


def test_map_chunks_keeps_order_and_runs_sequentially_when_asked(monkeypatch) -> None:
    from ndconv import backend

    monkeypatch.setenv("NDCONV_NUM_THREADS", "2")
    assert backend.map_chunks(lambda i: i * i, list(range(20))) == [i * i for i in range(20)]
    assert backend.map_chunks(lambda i: -i, [1, 2, 3], parallel=False) == [-1, -2, -3]
    monkeypatch.setenv("NDCONV_NUM_THREADS", "two")
    with pytest.raises(ValueError, match="NDCONV_NUM_THREADS.*'two'"):
        backend.num_workers()


def test_map_chunks_caller_and_pool_thread_both_work_and_errors_surface(monkeypatch) -> None:
    pytest.importorskip("threadpoolctl")  # without it the engine never threads
    import threading

    from ndconv import backend

    monkeypatch.setenv("NDCONV_NUM_THREADS", "2")
    barrier = threading.Barrier(2, timeout=10)

    def meet(i: int) -> str:  # passes only if two threads run chunks at the same time
        barrier.wait()
        return threading.current_thread().name

    names = backend.map_chunks(meet, [0, 1])
    assert threading.current_thread().name in names  # the caller took a chunk itself
    assert any(name.startswith("ndconv") for name in names)  # and a pool thread the other

    def nested(i: int) -> list[int]:  # a pool inside a chunk runs inline, in order
        return backend.map_chunks(lambda j: 10 * i + j, [0, 1, 2])

    assert backend.map_chunks(nested, [1, 2, 3, 4]) == [[10 * i + j for j in range(3)] for i in (1, 2, 3, 4)]

    def fail(i: int) -> int:
        if i == 3:
            raise ArithmeticError(f"chunk {i}")
        return i

    with pytest.raises(ArithmeticError, match="chunk 3"):
        backend.map_chunks(fail, list(range(6)))
    assert backend.map_chunks(lambda i: i, list(range(5))) == list(range(5))  # pool still usable


# --- max pool: the tiling and disjoint fast paths against the per-offset first-max rule ------


def first_max_pool_reference(
    x: np.ndarray, g: np.ndarray, kernel: tuple, stride: tuple, dilation: tuple, pads: tuple
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The simple path: per offset in row-major kernel order, mark the windows not yet taken
    whose maximum that offset holds, and add the gradient there. Returns (y, dx, flat index)."""
    from ndconv.ops.window import offset_slices, valid_out_shape

    xp = np.pad(x, [(0, 0), (0, 0), *pads], constant_values=-np.inf)
    out = valid_out_shape(xp.shape[2:], kernel, stride, dilation)
    slices = [index for _, index in offset_slices(out, kernel, stride, dilation, axis=2)]
    best = np.max([xp[index] for index in slices], axis=0)
    gp = np.zeros(xp.shape, g.dtype)
    arg = np.zeros(best.shape, np.int64)
    taken = np.zeros(best.shape, bool)
    for i, index in enumerate(slices):
        hit = (xp[index] == best) & ~taken
        taken |= hit
        gp[index] += np.where(hit, g, 0)
        arg[hit] = i
    offsets = np.unravel_index(arg, kernel)
    flat = np.zeros(arg.shape, np.int64)
    for ax in range(len(kernel)):
        o = np.arange(out[ax]).reshape((-1,) + (1,) * (len(kernel) - 1 - ax))
        flat = flat * x.shape[2 + ax] + o * stride[ax] + offsets[ax] * dilation[ax] - pads[ax][0]
    crop = (slice(None), slice(None)) + tuple(slice(lo, lo + s) for (lo, _), s in zip(pads, x.shape[2:]))
    return best, gp[crop], flat


@st.composite
def pool_configs(draw: st.DrawFn) -> dict:
    rank = draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    tiling = draw(st.booleans())  # stride == kernel, no padding, sizes divisible
    if tiling:
        stride, dilation = kernel, (1,) * rank
        pads = tuple((0, 0) for _ in range(rank))
        spatial = tuple(k * draw(st.integers(1, 4)) for k in kernel)
    else:
        stride = tuple(draw(st.integers(1, 4)) for _ in range(rank))
        dilation = tuple(draw(st.integers(1, 2)) for _ in range(rank))
        pads = tuple((draw(st.integers(0, k // 2)), draw(st.integers(0, k - 1))) for k in kernel)
        spatial = tuple(
            draw(st.integers(max(1, d * (k - 1) + 1 - lo - hi), 9))
            for k, d, (lo, hi) in zip(kernel, dilation, pads)
        )
    return {
        "shape": (draw(st.integers(1, 3)), draw(st.integers(1, 4)), *spatial),
        "kernel": kernel,
        "stride": stride,
        "dilation": dilation,
        "pads": pads,
        "values": draw(st.sampled_from(["normal", "ties", "zeros"])),
        "channels_last": draw(st.booleans()),
        "dtype": draw(st.sampled_from([np.float32, np.float64])),
        "seed": draw(st.integers(0, 2**16)),
    }


def _layout(a: np.ndarray, channels_last: bool) -> np.ndarray:
    """``a`` with the same values, stored channels-last in memory if asked."""
    if not channels_last:
        return a
    return np.ascontiguousarray(np.moveaxis(a, 1, -1)).transpose(0, a.ndim - 1, *range(1, a.ndim - 1))


@settings(max_examples=300, deadline=None)
@given(pool_configs())
def test_max_pool_fast_paths_match_the_first_max_reference(cfg: dict) -> None:
    from ndconv.ops.pool import max_pool_padded

    rng = np.random.default_rng(cfg["seed"])
    if cfg["values"] == "normal":
        x = rng.standard_normal(cfg["shape"])
    elif cfg["values"] == "ties":  # integers in a small range: many tied maxima
        x = rng.integers(-2, 3, cfg["shape"]).astype(float)
    else:  # after a ReLU: mostly all-zero windows
        x = np.maximum(rng.integers(-8, 2, cfg["shape"]), 0).astype(float)
    x = _layout(x.astype(cfg["dtype"]), cfg["channels_last"])
    args = (cfg["kernel"], cfg["stride"], cfg["dilation"], cfg["pads"])
    y_ref, _, _ = first_max_pool_reference(x, np.zeros(1), *args)  # for the output shape
    g = _layout(rng.standard_normal(y_ref.shape).astype(cfg["dtype"]), cfg["channels_last"])
    y_ref, gx_ref, idx_ref = first_max_pool_reference(x, g, *args)
    xt = nc.tensor(x, requires_grad=True)
    y, idx = max_pool_padded(xt, *args, return_indices=True)
    y.backward(g)
    np.testing.assert_array_equal(y.data, y_ref)
    np.testing.assert_array_equal(xt.grad, gx_ref)  # exact: the whole gradient, to one winner
    np.testing.assert_array_equal(idx, idx_ref)


def test_max_pool_tiling_backward_selects_exactly_even_for_non_finite_gradients() -> None:
    from ndconv.ops.pool import max_pool_padded

    x = _layout(np.zeros((2, 3, 4, 6), np.float32), channels_last=True)  # every window all-zero
    x[0, 0, 1, 1] = 1.0
    g = np.full((2, 3, 2, 3), np.inf, np.float32)
    g[0, 0, 0, 0] = np.nan
    xt = nc.tensor(x, requires_grad=True)
    y, _ = max_pool_padded(xt, (2, 2), (2, 2), (1, 1), ((0, 0), (0, 0)))
    y.backward(g)
    _, gx_ref, _ = first_max_pool_reference(x, g, (2, 2), (2, 2), (1, 1), ((0, 0), (0, 0)))
    np.testing.assert_array_equal(xt.grad, gx_ref)  # first element of each window; +0.0 elsewhere
    assert np.isnan(xt.grad[0, 0, 1, 1]) and np.isinf(xt.grad[0, 1, 0, 0]) and xt.grad[0, 1, 0, 1] == 0


# --- batch norm: the fused forward and VJP against the textbook formulas --------------------


def batch_norm_reference(
    x: np.ndarray, w: np.ndarray | None, b: np.ndarray | None, g: np.ndarray, eps: float
) -> tuple[np.ndarray, ...]:
    """Straight from Ioffe & Szegedy: returns (y, dx, dw, db, mean, var)."""
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    m = x.size // x.shape[1]
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    xhat = (x - mean) / np.sqrt(var + eps)
    gamma = w.reshape(shape) if w is not None else 1.0
    y = xhat * gamma + (b.reshape(shape) if b is not None else 0.0)
    sum_g, sum_gx = g.sum(axis=axes, keepdims=True), (g * xhat).sum(axis=axes, keepdims=True)
    dx = gamma / np.sqrt(var + eps) / m * (m * g - sum_g - xhat * sum_gx)
    return y, dx, sum_gx.reshape(-1), sum_g.reshape(-1), mean.reshape(-1), var.reshape(-1)


@settings(max_examples=100, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 4), st.integers(1, 5)).flatmap(
        lambda nc_: st.lists(st.integers(1, 5), min_size=0, max_size=3).map(lambda s: (*nc_, *s))
    ),
    affine=st.sampled_from([(True, True), (True, False), (False, True), (False, False)]),
    channels_last=st.booleans(),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 2**16),
)
def test_batch_norm_matches_the_textbook_formulas(
    shape: tuple, affine: tuple, channels_last: bool, dtype: type, seed: int
) -> None:
    from ndconv.ops.norm import batch_norm_train

    if shape[0] * int(np.prod(shape[2:])) < 2:
        shape = (2, *shape[1:])  # a channel needs two values for a variance
    rng = np.random.default_rng(seed)
    x = _layout((rng.standard_normal(shape) * 3 + 1).astype(dtype), channels_last)
    g = _layout(rng.standard_normal(shape).astype(dtype), channels_last)
    w = rng.standard_normal(shape[1]).astype(dtype) if affine[0] else None
    b = rng.standard_normal(shape[1]).astype(dtype) if affine[1] else None
    xt = nc.tensor(x, requires_grad=True)
    wt = nc.tensor(w, requires_grad=True) if w is not None else None
    bt = nc.tensor(b, requires_grad=True) if b is not None else None
    y, mean, var = batch_norm_train(xt, wt, bt, 1e-5)
    y.backward(g)
    ref = [r.astype(np.float64) for r in batch_norm_reference(x.astype(float), w, b, g.astype(float), 1e-5)]
    got = [
        y.data,
        xt.grad,
        wt.grad if wt is not None else None,
        bt.grad if bt is not None else None,
        mean,
        var,
    ]
    tol = 1e-4 if dtype == np.float32 else 1e-10
    for name, ours, theirs in zip(["y", "dx", "dw", "db", "mean", "var"], got, ref):
        if ours is not None:
            assert ours.dtype == dtype, name
            np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol, err_msg=name)


def _forward_backward(model: nc.nn.Module, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    xt = nc.tensor(x, requires_grad=True)
    y = model(xt)
    y.backward(np.cos(np.arange(y.size)).reshape(y.shape))  # a fixed, sign-changing gradient
    return y.data, xt.grad


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_sequential_pools_before_relu_with_the_same_values_and_gradients(rank: int) -> None:
    # Integer data with many zeros, negatives and ties: the tie rule must agree too.
    x = np.random.default_rng(rank).integers(-3, 4, size=(2, 3) + (6,) * rank).astype(np.float64)
    pool = nc.nn.MaxPool(kernel_size=(3,) * rank, stride=2, padding=1)
    fused = _forward_backward(nc.nn.Sequential(nc.nn.ReLU(), pool), x)
    plain = _forward_backward(lambda t: pool(F.relu(t)), x)  # type: ignore[arg-type]
    for a, b in zip(fused, plain, strict=True):
        np.testing.assert_array_equal(a, b)


def test_sequential_keeps_relu_then_pool_when_a_hook_watches() -> None:
    seen = []
    relu, pool = nc.nn.ReLU(), nc.nn.MaxPool2d(2)
    relu.register_forward_hook(lambda m, args, out: seen.append(out.shape))
    nc.nn.Sequential(relu, pool)(nc.tensor(np.ones((1, 1, 4, 4))))
    assert seen == [(1, 1, 4, 4)]  # the ReLU ran on the full map, before the pool


@settings(max_examples=50)
@given(st.integers(1, 3), st.integers(1, 4), st.integers(1, 4), st.booleans(), st.integers(0, 2**16))
def test_linear_primitive_matches_matmul_plus_bias(lead: int, fin: int, fout: int, with_bias: bool,
                                                   seed: int) -> None:
    rng = np.random.default_rng(seed)
    x, w, b = rng.standard_normal((lead, 2, fin)), rng.standard_normal((fout, fin)), rng.standard_normal(fout)
    results = []
    for fused in (True, False):
        xt, wt = nc.tensor(x, requires_grad=True), nc.tensor(w, requires_grad=True)
        bt = nc.tensor(b, requires_grad=True) if with_bias else None
        y = F.linear(xt, wt, bt) if fused else nc.ops.matmul(xt, wt.T) + (bt if with_bias else 0.0)
        y.backward(np.sin(np.arange(y.size)).reshape(y.shape))
        results.append([y.data, xt.grad, wt.grad] + ([bt.grad] if bt is not None else []))
    for a, c in zip(*results, strict=True):
        np.testing.assert_allclose(a, c, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("bad", [{"stride": 1.0}, {"stride": True}, {"stride": (1, 1.0)},
                                 {"padding": (1, True)}, {"dilation": (1, 1.0)}])
def test_cached_conv_checks_still_reject_what_equals_a_cached_value(bad: dict) -> None:
    x, w = nc.tensor(np.ones((1, 1, 5, 5))), nc.tensor(np.ones((1, 1, 3, 3)))
    F.conv(x, w, stride=1, padding=(1, 1), dilation=(1, 1))  # cached: 1.0 == True == 1
    good = {"stride": 1, "padding": (1, 1), "dilation": (1, 1)}
    with pytest.raises((TypeError, ValueError), match=next(iter(bad))):
        F.conv(x, w, **{**good, **bad})


def test_cached_pool_checks_still_reject_a_float_kernel() -> None:
    x = nc.tensor(np.ones((1, 1, 4, 4)))
    F.max_pool(x, (2, 2))
    with pytest.raises(TypeError, match="kernel_size"):
        F.max_pool(x, (2, 2.0))


def test_keep_freed_memory_applies_on_glibc_and_can_be_turned_off(monkeypatch) -> None:
    import platform

    from ndconv import backend

    if platform.libc_ver()[0] == "glibc":
        assert backend.keep_freed_memory() is True
    monkeypatch.setenv("NDCONV_KEEP_MEMORY", "0")
    assert backend.keep_freed_memory() is False


@st.composite
def winograd_configs(draw: st.DrawFn) -> dict:
    padding = tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(2))
    spatial = tuple(draw(st.integers(max(1, 3 - lo - hi), 11)) for lo, hi in padding)
    c_in = draw(st.integers(conv_ops.WINOGRAD_MIN_CHANNELS, conv_ops.WINOGRAD_MIN_CHANNELS + 8))
    return {
        "x": (draw(st.integers(1, 3)), c_in, *spatial),
        "w": (draw(st.integers(1, 6)), c_in, 3, 3),
        "kw": {"padding": padding},
        "x_grad": draw(st.booleans()),
        "seed": draw(st.integers(0, 2**16)),
    }


@settings(max_examples=60, deadline=None)
@given(winograd_configs(), st.sampled_from([np.float64, np.float32]), st.sampled_from([4, 2]))
def test_winograd_route_matches_general_path(cfg: dict, dtype: type, tile: int) -> None:
    rng = np.random.default_rng(cfg["seed"])
    arrays = [rng.standard_normal(cfg["x"]), rng.standard_normal(cfg["w"]) / np.sqrt(9 * cfg["x"][1]),
              rng.standard_normal(cfg["w"][0]), None]
    results = []
    for m in (tile, 0):  # Winograd F(m x m, 3x3), then im2col
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(conv_ops, "winograd_tile", lambda *a, m=m: m)
            xt = nc.tensor(arrays[0].astype(dtype), requires_grad=cfg["x_grad"])
            wt = nc.tensor(arrays[1].astype(dtype), requires_grad=True)
            bt = nc.tensor(arrays[2].astype(dtype), requires_grad=True)
            y = F.conv(xt, wt, bt, **cfg["kw"])
            if arrays[3] is None:
                arrays[3] = rng.standard_normal(y.shape)
            y.backward(arrays[3].astype(dtype))
            results.append([y.data, wt.grad, bt.grad] + ([xt.grad] if cfg["x_grad"] else []))
    tol = 1e-10 if dtype is np.float64 else 1e-4  # F(4x4,3x3) rounding: within 1.5e-5 in float32
    for fast, simple in zip(*results, strict=True):
        assert fast.dtype == simple.dtype
        np.testing.assert_allclose(fast, simple, rtol=0, atol=tol * max(1.0, np.abs(simple).max()))


def test_winograd_route_is_taken_for_3x3_stride_1_many_channels(monkeypatch) -> None:
    monkeypatch.setattr(conv_ops, "WINOGRAD_MIN_TILES", 4)
    calls = _count_calls(monkeypatch, conv_ops, "winograd_forward")
    c = conv_ops.WINOGRAD_MIN_CHANNELS
    x = nc.tensor(np.ones((1, c, 6, 6)), requires_grad=True)
    F.conv(x, nc.tensor(np.ones((2, c, 3, 3))), padding=1).backward(np.ones((1, 2, 6, 6)))
    assert calls == [1, 1]  # forward and input gradient
    F.conv(x, nc.tensor(np.ones((2, c, 3, 3))), stride=2)
    F.conv(x, nc.tensor(np.ones((2, c, 3, 3))), dilation=2)
    F.conv(x, nc.tensor(np.ones((2, c, 5, 5))))
    F.conv(x, nc.tensor(np.ones((2, c // 2, 3, 3))), groups=2)
    F.conv(nc.tensor(np.ones((1, c, 6, 6, 6))), nc.tensor(np.ones((2, c, 3, 3, 3))))
    F.conv(nc.tensor(np.ones((1, c, 4, 4))), nc.tensor(np.ones((2, c, 3, 3))))  # 1 tile < 4
    assert calls == [1, 1]
    assert conv_ops.winograd_tile((2, c, 6, 6), (2, c, 3, 3), ((0, 0),) * 2, (1, 1), (1, 1), 1) == 2
    assert conv_ops.winograd_tile((4, c, 8, 8), (2, c, 3, 3), ((1, 1),) * 2, (1, 1), (1, 1), 1) == 4


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_batch_norm_and_relu_split_across_workers_match_one_block(monkeypatch, layout: str) -> None:
    from ndconv import backend

    rng = np.random.default_rng(7)
    a = rng.standard_normal((5, 4, 6, 3)).astype(np.float32) * 3 + 1
    x0 = np.moveaxis(np.ascontiguousarray(np.moveaxis(a, 1, -1)), -1, 1) if layout == "channels_last" else a
    g = rng.standard_normal(a.shape).astype(np.float32)

    def run() -> list[np.ndarray]:
        x = nc.tensor(x0, requires_grad=True)
        w = nc.tensor(np.linspace(0.5, 2, 4, dtype=np.float32), requires_grad=True)
        b = nc.tensor(np.linspace(-1, 1, 4, dtype=np.float32), requires_grad=True)
        y = F.relu(F.batch_norm(x, None, None, w, b, training=True))
        y.backward(g)
        return [y.data, x.grad, w.grad, b.grad]

    monkeypatch.setattr(backend, "num_workers", lambda: 2)
    one = run()  # 360 elements: below the threshold, one block
    monkeypatch.setattr(backend, "ROW_BLOCK_MIN_ELEMENTS", 1)
    assert len(backend.row_blocks(x0)) == 2
    split = run()
    for s, o in zip(split, one, strict=True):
        np.testing.assert_allclose(s, o, rtol=1e-5, atol=1e-5)


def test_winograd_route_is_not_taken_in_float16(monkeypatch) -> None:
    monkeypatch.setattr(conv_ops, "WINOGRAD_MIN_TILES", 1)
    calls = _count_calls(monkeypatch, conv_ops, "winograd_forward")
    c = conv_ops.WINOGRAD_MIN_CHANNELS
    F.conv(nc.tensor(np.ones((1, c, 6, 6), np.float16)), nc.tensor(np.ones((2, c, 3, 3), np.float16)))
    assert calls == []
    F.conv(nc.tensor(np.ones((1, c, 6, 6), np.float32)), nc.tensor(np.ones((2, c, 3, 3), np.float32)))
    assert calls == [1]
