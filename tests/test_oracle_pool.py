"""PyTorch oracle: max / average / adaptive pooling, ranks 1-3, forward and input gradients.

Max pool: kernel, stride (default = kernel), padding in every form, dilation, ``ceil_mode`` and
``return_indices`` (the indices must equal torch's exactly), and ``max_unpool`` with them.
Average pool: ``ceil_mode``, ``count_include_pad``, ``divisor_override`` (torch has no
dilated average pool, so dilation is not drawn there). Adaptive pools: any output size,
larger than the input included, and ``None`` entries.

torch only pads symmetrically, with ``padding <= kernel / 2``; the padding pairs and "same"
forms are checked against ``F.pad`` (``-inf`` for max, zeros for average) followed by an
unpadded torch pool, with ``ceil_mode`` off (on a pre-padded input torch's ceil rule sees
the high padding as input). Inputs are continuous random floats: no ties (ties are tested
against the slow reference elsewhere).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st
from oracle_util import (
    EXAMPLES,
    PADDING_FORMS,
    assert_close,
    assert_grads,
    backward_both,
    draw_dilation,
    eff,
    leaf_pair,
    padding_arg,
    randn,
    seeds,
    tf_same_pads,
    torch_pad_arg,
    torch_ranked,
    window_hits_input,
)

import ndconv as nc
import ndconv.nn.functional as F

# The largest dilated kernel per rank keeps every example to a few milliseconds.
MAX_EXTENT = {1: 13, 2: 10, 3: 7}


def pool_out(size: int, k: int, s: int, d: int, lo: int, hi: int, ceil_mode: bool) -> int:
    """PyTorch's pool output size, written out here independently of ndconv.shapes."""
    span = size + lo + hi - eff(k, d)
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= size + lo:  # the last window must start inside
        out -= 1
    return out


@st.composite
def pool_case(draw: Any, kind: str) -> dict[str, Any]:
    """Draw a valid max (``kind="max"``) or average pooling configuration."""
    n = draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 5 if n < 3 else 4)) for _ in range(n))
    if kind == "max":
        dilation = draw_dilation(draw, kernel, MAX_EXTENT[n])
    else:
        dilation = (1,) * n
    stride_arg = draw(st.sampled_from([None, "draw", "draw"]))
    stride = kernel if stride_arg is None else tuple(draw(st.integers(1, 3)) for _ in range(n))
    form = draw(st.sampled_from(PADDING_FORMS))
    native = form in ("int", "tuple", "valid")  # torch pools pad symmetrically, <= kernel/2
    if form == "int":
        p = draw(st.integers(0, min(kernel) // 2))
        pairs = [(p, p)] * n
    elif form == "tuple":
        pairs = [(p, p) for p in (draw(st.integers(0, k // 2)) for k in kernel)]
    elif form == "pairs":
        pairs = [(draw(st.integers(0, eff(k, d) - 1)), draw(st.integers(0, eff(k, d) - 1)))
                 for k, d in zip(kernel, dilation)]
    elif form == "valid":
        pairs = [(0, 0)] * n
    else:  # "same": computed below, from the input size
        pairs = []
    ceil_mode = draw(st.booleans()) if native else False
    size = []
    for i in range(n):
        extra = draw(st.integers(0, 4 if n < 3 else 2))
        if form == "same":
            size.append(1 + extra)
            pairs.append(tf_same_pads(size[-1], kernel[i], stride[i], dilation[i]))
        else:
            lo, hi = pairs[i]
            need = max(1, eff(kernel[i], dilation[i]) - lo - hi)
            if kind == "avg" and n == 3:  # torch's avg_pool3d wants the kernel to fit unpadded
                need = max(need, kernel[i])
            size.append(need + extra)
    out = [pool_out(s, k, st_, d, lo, hi, ceil_mode)
           for s, k, st_, d, (lo, hi) in zip(size, kernel, stride, dilation, pairs)]
    # A window made only of padding is -inf (max) or 0/0 (average without the padding).
    assume(all(window_hits_input(s, k, st_, d, lo, o)
               for s, k, st_, d, (lo, _), o in zip(size, kernel, stride, dilation, pairs, out)))
    event(f"rank {n}, padding {form}, ceil_mode {ceil_mode}")
    case = dict(
        n=n, batch=draw(st.integers(1, 3)), channels=draw(st.integers(1, 4)), kernel=kernel,
        stride=stride, stride_arg=stride_arg, dilation=dilation, form=form, native=native,
        pairs=pairs, ceil_mode=ceil_mode, size=tuple(size), seed=draw(seeds),
    )
    if kind == "max":
        case["return_indices"] = draw(st.booleans())
    else:
        case["count_include_pad"] = draw(st.booleans())
        case["divisor_override"] = draw(st.sampled_from([None, None, 1, 2, 3, 7]))
    return case


def _args(c: dict[str, Any]) -> dict[str, Any]:
    """ndconv's keyword arguments: ints where every axis agrees (both forms get exercised)."""
    kernel = c["kernel"][0] if len(set(c["kernel"])) == 1 else c["kernel"]
    stride = None if c["stride_arg"] is None else c["stride"]
    return dict(kernel_size=kernel, stride=stride, padding=padding_arg(c["form"], c["pairs"]))


def _flat_unpadded(idx: np.ndarray, padded: tuple[int, ...], pairs: Any, size: tuple[int, ...]
                   ) -> np.ndarray:
    """Map flat indices into the padded spatial shape to flat indices into the input."""
    coords = np.unravel_index(idx, padded)
    coords = tuple(c - lo for c, (lo, _) in zip(coords, pairs))
    return np.ravel_multi_index(coords, size)


@settings(max_examples=EXAMPLES)
@given(c=pool_case("max"))
def test_max_pool_matches_torch(torch: Any, c: dict[str, Any]) -> None:
    rng = np.random.default_rng(c["seed"])
    n, tF = c["n"], torch.nn.functional
    x_np = randn(rng, (c["batch"], c["channels"]) + c["size"])
    x, tx = leaf_pair(torch, x_np)

    res = F.max_pool(x, **_args(c), dilation=c["dilation"], ceil_mode=c["ceil_mode"],
                     return_indices=c["return_indices"])
    y, idx = res if c["return_indices"] else (res, None)
    pool = torch_ranked(torch, "max_pool", n)
    if c["native"]:
        ty, tidx = pool(tx, c["kernel"], c["stride"], tuple(lo for lo, _ in c["pairs"]),
                        c["dilation"], ceil_mode=c["ceil_mode"], return_indices=True)
        tidx = tidx.numpy()
    else:
        xp = tF.pad(tx, torch_pad_arg(c["pairs"]), value=-math.inf)
        ty, tidx = pool(xp, c["kernel"], c["stride"], 0, c["dilation"], return_indices=True)
        tidx = _flat_unpadded(tidx.numpy(), tuple(xp.shape[2:]), c["pairs"], c["size"])
    assert_close(y, ty, "max_pool forward")
    if idx is not None:
        assert isinstance(idx, nc.Tensor) and idx.dtype == np.int64, f"indices: {idx!r}"
        assert np.array_equal(idx.numpy(), tidx), "max_pool indices differ from torch's"
    backward_both(torch, rng, y, ty)
    assert_grads([("x", x, tx)])

    pads = tuple(lo for lo, _ in c["pairs"])
    default = [(o - 1) * st_ - 2 * p + k
               for o, st_, p, k in zip(y.shape[2:], c["stride"], pads, c["kernel"])]
    if idx is not None and c["native"] and all(  # torch accepts only sizes near its default
        d - st_ < s < d + st_ for d, st_, s in zip(default, c["stride"], c["size"])
    ):  # max_unpool puts every maximum back where the indices say
        v_np = randn(rng, tuple(y.shape))
        v, tv = leaf_pair(torch, v_np)
        u = F.max_unpool(v, idx, **_args(c), output_size=c["size"])
        tu = torch_ranked(torch, "max_unpool", n)(
            tv, torch.from_numpy(tidx), c["kernel"], c["stride"], pads, output_size=c["size"])
        assert_close(u, tu, "max_unpool forward")
        backward_both(torch, rng, u, tu)
        assert_grads([("max_unpool x", v, tv)])


def torch_avg_pool(torch: Any, c: dict[str, Any], tx: Any) -> Any:
    n, tF = c["n"], torch.nn.functional
    kernel, stride, div = c["kernel"], c["stride"], c["divisor_override"]
    if c["native"]:
        pads = tuple(lo for lo, _ in c["pairs"])
        kw = dict(ceil_mode=c["ceil_mode"], count_include_pad=c["count_include_pad"])
        if n == 1 and div is not None:  # avg_pool1d has no divisor_override: use 2-d, K=1
            y = tF.avg_pool2d(tx[..., None], kernel + (1,), stride + (1,), pads + (0,),
                              divisor_override=div, **kw)
            return y[..., 0]
        if div is not None:
            kw["divisor_override"] = div
        return torch_ranked(torch, "avg_pool", n)(tx, kernel, stride, pads, **kw)
    # Padding pairs / 'same': zero-pad, then window sums (mean * K) divided as asked.
    pool = torch_ranked(torch, "avg_pool", n)
    pad = torch_pad_arg(c["pairs"])
    k = math.prod(kernel)
    window_sum = pool(tF.pad(tx, pad), kernel, stride, 0) * k
    if div is not None:
        return window_sum / div
    if c["count_include_pad"]:
        return window_sum / k
    count = pool(tF.pad(torch.ones_like(tx), pad), kernel, stride, 0) * k
    return window_sum / count


@settings(max_examples=EXAMPLES)
@given(c=pool_case("avg"))
def test_avg_pool_matches_torch(torch: Any, c: dict[str, Any]) -> None:
    rng = np.random.default_rng(c["seed"])
    x_np = randn(rng, (c["batch"], c["channels"]) + c["size"])
    x, tx = leaf_pair(torch, x_np)
    y = F.avg_pool(x, **_args(c), ceil_mode=c["ceil_mode"],
                   count_include_pad=c["count_include_pad"],
                   divisor_override=c["divisor_override"])
    ty = torch_avg_pool(torch, c, tx)
    assert_close(y, ty, "avg_pool forward")
    backward_both(torch, rng, y, ty)
    assert_grads([("x", x, tx)])


@st.composite
def adaptive_case(draw: Any) -> dict[str, Any]:
    """Draw input and output sizes; outputs up to 10 (larger than the input included)."""
    n = draw(st.integers(1, 3))
    top = 9 if n < 3 else 6
    size = tuple(draw(st.integers(1, top)) for _ in range(n))
    form = draw(st.sampled_from(["int", "tuple", "tuple", "none"]))
    if form == "int":
        o = draw(st.integers(1, top + 1))
        out_arg: Any = o
        out = (o,) * n
    else:
        out = tuple(draw(st.integers(1, top + 1)) for _ in range(n))
        out_arg = out
        if form == "none":  # None keeps that axis' size
            keep = [draw(st.booleans()) for _ in range(n)]
            out_arg = tuple(None if k else o for k, o in zip(keep, out))
            out = tuple(s if k else o for s, k, o in zip(size, keep, out))
    return dict(n=n, batch=draw(st.integers(1, 3)), channels=draw(st.integers(1, 4)),
                size=size, out_arg=out_arg, out=out, seed=draw(seeds))


@settings(max_examples=EXAMPLES)
@given(c=adaptive_case())
def test_adaptive_avg_pool_matches_torch(torch: Any, c: dict[str, Any]) -> None:
    rng = np.random.default_rng(c["seed"])
    x, tx = leaf_pair(torch, randn(rng, (c["batch"], c["channels"]) + c["size"]))
    y = F.adaptive_avg_pool(x, c["out_arg"])
    ty = torch_ranked(torch, "adaptive_avg_pool", c["n"])(tx, c["out"])
    assert_close(y, ty, "adaptive_avg_pool forward")
    backward_both(torch, rng, y, ty)
    assert_grads([("x", x, tx)])


@settings(max_examples=EXAMPLES)
@given(c=adaptive_case())
def test_adaptive_max_pool_matches_torch(torch: Any, c: dict[str, Any]) -> None:
    rng = np.random.default_rng(c["seed"])
    x, tx = leaf_pair(torch, randn(rng, (c["batch"], c["channels"]) + c["size"]))
    y = F.adaptive_max_pool(x, c["out_arg"])
    ty = torch_ranked(torch, "adaptive_max_pool", c["n"])(tx, c["out"])
    assert_close(y, ty, "adaptive_max_pool forward")
    backward_both(torch, rng, y, ty)
    assert_grads([("x", x, tx)])


@settings(max_examples=EXAMPLES // 5)
@given(n=st.integers(1, 3), seed=seeds, keep=st.booleans())
def test_global_pools_match_torch(torch: Any, n: int, seed: int, keep: bool) -> None:
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(1, 4)), int(rng.integers(1, 5))) + tuple(
        int(v) for v in rng.integers(1, 6, n))
    x_np = randn(rng, shape)
    axes = tuple(range(2, 2 + n))
    for ours, theirs in ((F.global_avg_pool, lambda t: t.mean(axes, keepdim=keep)),
                         (F.global_max_pool, lambda t: t.amax(axes, keepdim=keep))):
        x, tx = leaf_pair(torch, x_np)
        y, ty = ours(x, keepdims=keep), theirs(tx)
        assert_close(y, ty, f"{ours.__name__} forward")
        backward_both(torch, rng, y, ty)
        assert_grads([("x", x, tx)])
