"""PyTorch oracle: convolution and transposed convolution, ranks 1-3, forward and gradients.

Each example draws a valid configuration -- rank, batch (1 included), channels with groups
dividing both, odd and even non-square kernels, stride, dilation, every padding form (int,
per-axis tuple, per-axis (lo, hi) pairs, "valid", "same" with any stride) and every padding
mode -- runs it through ndconv and torch, backpropagates the same random upstream gradient
and compares the output and the gradients of the input, the weight and the bias.

Where torch lacks the feature, the reference is built from torch primitives with the same
meaning: asymmetric or non-zero padding = ``F.pad(mode)`` then an unpadded convolution;
ndconv's strided "same" = TensorFlow's split; a transposed convolution with padding pairs
or a non-zero mode = the unpadded transposed convolution followed by the adjoint of
``F.pad(mode)`` (ndconv defines it as the adjoint of the convolution with those arguments).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import event, given, settings
from hypothesis import strategies as st
from oracle_util import (
    EXAMPLES,
    PAD_MODES,
    PADDING_FORMS,
    TORCH_PAD_MODE,
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
)

import ndconv.nn.functional as F

# The largest dilated kernel per rank keeps every example to a few milliseconds.
MAX_EXTENT = {1: 13, 2: 13, 3: 7}


def ints(draw: Any, n: int, lo: int, hi: int) -> tuple[int, ...]:
    return tuple(draw(st.integers(lo, hi)) for _ in range(n))


@st.composite
def conv_case(draw: Any, transpose: bool = False) -> dict[str, Any]:
    """Draw one valid (transposed) convolution configuration."""
    n = draw(st.integers(1, 3))
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    c_in = groups * draw(st.integers(1, 6 // groups))
    c_out = groups * draw(st.integers(1, 6 // groups))
    kernel = ints(draw, n, 1, 5)
    stride = ints(draw, n, 1, 3)
    dilation = draw_dilation(draw, kernel, MAX_EXTENT[n])
    form = draw(st.sampled_from(PADDING_FORMS))
    mode = draw(st.sampled_from(("zeros", "zeros") + PAD_MODES[1:]))
    extra_max = 3 if n < 3 else 2
    pairs: list[tuple[int, int]] = []
    if form == "int":
        p = draw(st.integers(0, 3))
        pairs = [(p, p)] * n
    elif form == "tuple":
        pairs = [(p, p) for p in ints(draw, n, 0, 3)]
    elif form == "pairs":
        pairs = [(draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in range(n)]
    elif form == "valid":
        pairs = [(0, 0)] * n
    out_pad = [0] * n
    size = []
    for i in range(n):
        e, s, d = eff(kernel[i], dilation[i]), stride[i], dilation[i]
        extra = draw(st.integers(0, extra_max))
        if not transpose:
            if form == "same":  # hi <= e // 2, so reflect (pad < size) always fits
                size.append(max(1, e // 2 + 1) + extra)
                pairs.append(tf_same_pads(size[-1], kernel[i], s, d))
            else:
                lo, hi = pairs[i]
                need = max(1, e - lo - hi)
                if mode == "reflect":
                    need = max(need, lo + 1, hi + 1)
                elif mode == "circular":
                    need = max(need, lo, hi)
                size.append(need + extra)
            continue
        if form == "same":  # the output is size * stride; its padding is 'same' for that
            m = e // 2 // s + 1
            size.append(m + extra)
            pairs.append(tf_same_pads(size[-1] * s, kernel[i], s, d))
            continue
        lo, hi = pairs[i]
        out_pad[i] = draw(st.integers(0, max(s, d) - 1))
        need = 1  # the output size (in-1)*s - lo - hi + e + out_pad must reach this
        if mode == "reflect":
            need = max(lo, hi) + 1
        elif mode == "circular":
            need = max(lo, hi, 1)
        deficit = need + lo + hi - e - out_pad[i]
        size.append(1 + max(0, -(-deficit // s)) + extra)
    event(f"rank {n}, padding {form}, mode {mode}")  # shown by --hypothesis-show-statistics
    return dict(
        n=n, batch=draw(st.integers(1, 3)), groups=groups, c_in=c_in, c_out=c_out,
        kernel=kernel, stride=stride, dilation=dilation, form=form, mode=mode,
        pairs=pairs, out_pad=tuple(out_pad), size=tuple(size),
        bias=draw(st.sampled_from([True, True, True, False])),
        unbatched=draw(st.sampled_from([False, False, False, True])),
        alias=draw(st.booleans()), seed=draw(seeds),
    )


def _stride_arg(values: tuple[int, ...], draw_int: bool) -> Any:
    """Pass an int when all axes agree (and the case asks for it), else the tuple."""
    return values[0] if draw_int and len(set(values)) == 1 else values


def torch_conv(torch: Any, c: dict[str, Any], x: Any, w: Any, b: Any) -> Any:
    n, pairs, mode = c["n"], c["pairs"], c["mode"]
    conv = torch_ranked(torch, "conv", n)
    kw = dict(stride=c["stride"], dilation=c["dilation"], groups=c["groups"])
    if c["form"] == "same" and mode == "zeros" and set(c["stride"]) == {1}:
        return conv(x, w, b, padding="same", **kw)  # torch's own 'same' (stride 1 only)
    if mode == "zeros" and all(lo == hi for lo, hi in pairs):
        return conv(x, w, b, padding=tuple(lo for lo, _ in pairs), **kw)
    xp = torch.nn.functional.pad(x, torch_pad_arg(pairs), mode=TORCH_PAD_MODE[mode])
    return conv(xp, w, b, padding=0, **kw)


@settings(max_examples=EXAMPLES)
@given(c=conv_case())
def test_conv_matches_torch(torch: Any, c: dict[str, Any]) -> None:
    rng = np.random.default_rng(c["seed"])
    n = c["n"]
    x_np = randn(rng, (c["batch"], c["c_in"]) + c["size"])
    w_np = randn(rng, (c["c_out"], c["c_in"] // c["groups"]) + c["kernel"])
    b_np = randn(rng, (c["c_out"],)) if c["bias"] else None
    (x, tx), (w, tw), (b, tb) = leaf_pair(torch, x_np), leaf_pair(torch, w_np), leaf_pair(torch, b_np)

    fn = getattr(F, f"conv{n}d") if c["alias"] else F.conv
    x_in = x
    if c["unbatched"]:  # (C, *S): ndconv adds and removes the batch axis itself
        x_in = x[0]
    y = fn(x_in, w, b, stride=_stride_arg(c["stride"], c["alias"]),
           padding=padding_arg(c["form"], c["pairs"]), dilation=c["dilation"],
           groups=c["groups"], padding_mode=c["mode"])
    ty = torch_conv(torch, c, tx, tw, tb)
    if c["unbatched"]:
        ty = ty[0]
    assert_close(y, ty, "conv forward")
    backward_both(torch, rng, y, ty)
    assert_grads([("x", x, tx), ("weight", w, tw), ("bias", b, tb)])


def torch_pad_adjoint(torch: Any, y: Any, pairs: list[tuple[int, int]], mode: str) -> Any:
    """Return the adjoint of ``F.pad(., pairs, mode)`` applied to ``y`` (differentiable in y)."""
    if not any(lo or hi for lo, hi in pairs):
        return y
    n = len(pairs)
    shape = tuple(y.shape[:-n]) + tuple(
        s - lo - hi for s, (lo, hi) in zip(y.shape[-n:], pairs))
    u = torch.zeros(shape, dtype=y.dtype, requires_grad=True)
    padded = torch.nn.functional.pad(u, torch_pad_arg(pairs), mode=TORCH_PAD_MODE[mode])
    (adj,) = torch.autograd.grad(padded, u, grad_outputs=y, create_graph=True)
    return adj


def torch_conv_transpose(torch: Any, c: dict[str, Any], x: Any, w: Any, b: Any) -> Any:
    n, pairs, mode = c["n"], c["pairs"], c["mode"]
    convt = torch_ranked(torch, "conv_transpose", n)
    kw = dict(stride=c["stride"], dilation=c["dilation"], groups=c["groups"])
    if c["form"] != "same" and mode == "zeros" and all(lo == hi for lo, hi in pairs):
        return convt(x, w, b, padding=tuple(lo for lo, _ in pairs),
                     output_padding=c["out_pad"], **kw)
    if c["form"] == "same":  # out = in * stride; extend the unpadded result to reach it
        out_pad = tuple(
            s * st - ((s - 1) * st + eff(k, d)) + lo + hi
            for s, st, k, d, (lo, hi) in zip(c["size"], c["stride"], c["kernel"], c["dilation"],
                                             pairs)
        )
    else:
        out_pad = c["out_pad"]
    full = convt(x, w, None, padding=0, output_padding=out_pad, **kw)
    y = torch_pad_adjoint(torch, full, pairs, mode)
    return y if b is None else y + b.reshape((1, -1) + (1,) * n)


@settings(max_examples=EXAMPLES)
@given(c=conv_case(transpose=True))
def test_conv_transpose_matches_torch(torch: Any, c: dict[str, Any]) -> None:
    rng = np.random.default_rng(c["seed"])
    g = c["groups"]
    x_np = randn(rng, (c["batch"], c["c_in"]) + c["size"])
    w_np = randn(rng, (c["c_in"], c["c_out"] // g) + c["kernel"])
    b_np = randn(rng, (c["c_out"],)) if c["bias"] else None
    (x, tx), (w, tw), (b, tb) = leaf_pair(torch, x_np), leaf_pair(torch, w_np), leaf_pair(torch, b_np)

    out_pad: Any = c["out_pad"]
    if c["alias"] and len(set(out_pad)) == 1:
        out_pad = out_pad[0]
    y = F.conv_transpose(
        x[0] if c["unbatched"] else x, w, b, stride=_stride_arg(c["stride"], c["alias"]),
        padding=padding_arg(c["form"], c["pairs"]), output_padding=out_pad,
        dilation=c["dilation"], groups=g, padding_mode=c["mode"])
    ty = torch_conv_transpose(torch, c, tx, tw, tb)
    if c["unbatched"]:
        ty = ty[0]
    assert_close(y, ty, "conv_transpose forward")
    backward_both(torch, rng, y, ty)
    assert_grads([("x", x, tx), ("weight", w, tw), ("bias", b, tb)])
