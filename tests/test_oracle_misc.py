"""PyTorch oracle: pad, batch norm, losses, activations and softmax; forward and gradients.

Also checks the oracle's own guard: without torch, ``NDCONV_REQUIRE_TORCH=1`` turns the
oracle tests into failures instead of skips.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oracle_util import (
    EXAMPLES,
    PAD_MODES,
    REQUIRE_TORCH_ENV,
    TORCH_PAD_MODE,
    assert_close,
    assert_grads,
    backward_both,
    leaf_pair,
    randn,
    require_torch,
    seeds,
    torch_pad_arg,
)

import ndconv as nc
import ndconv.nn.functional as F

# --- the guard ----------------------------------------------------------------------------


def test_require_torch_fails_in_ci_and_skips_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    monkeypatch.setenv(REQUIRE_TORCH_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match=REQUIRE_TORCH_ENV):
        require_torch()
    monkeypatch.delenv(REQUIRE_TORCH_ENV)
    with pytest.raises(pytest.skip.Exception):
        require_torch()


def test_torch_is_present_when_required(torch: Any) -> None:
    assert torch.__version__


# --- pad ----------------------------------------------------------------------------------


@st.composite
def pad_case(draw: Any) -> dict[str, Any]:
    """Draw an input (N, C, *S) and valid padding for a mode, on some trailing axes."""
    n = draw(st.integers(1, 3))
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 3))) + tuple(
        draw(st.integers(1, 6 if n < 3 else 4)) for _ in range(n))
    mode = draw(st.sampled_from(PAD_MODES))
    form = draw(st.sampled_from(["int", "pairs", "pairs"]))
    # zeros may pad any trailing axes (batch and channels too); the others 1..n spatial axes
    axes = n if form == "int" else draw(st.integers(1, len(shape) if mode == "zeros" else n))

    def limit(size: int) -> int:
        return {"reflect": size - 1, "circular": size}.get(mode, 4)

    sizes = shape[len(shape) - axes:]
    if form == "int":
        p = draw(st.integers(0, min(limit(s) for s in sizes)))
        pairs = [(p, p)] * axes
    else:
        pairs = [(draw(st.integers(0, min(4, limit(s)))), draw(st.integers(0, min(4, limit(s)))))
                 for s in sizes]
    value = draw(st.sampled_from([0.0, 0.0, 1.5, -2.25]))
    return dict(shape=shape, mode=mode, form=form, pairs=pairs, value=value, seed=draw(seeds))


@settings(max_examples=EXAMPLES)
@given(c=pad_case())
def test_pad_matches_torch(torch: Any, c: dict[str, Any]) -> None:
    rng = np.random.default_rng(c["seed"])
    x, tx = leaf_pair(torch, randn(rng, c["shape"]))
    mode, pairs = c["mode"], c["pairs"]
    arg = pairs[0][0] if c["form"] == "int" else pairs
    y = F.pad(x, arg, mode=mode, value=c["value"]) if mode == "zeros" else F.pad(x, arg, mode)
    if mode == "zeros":
        ty = torch.nn.functional.pad(tx, torch_pad_arg(pairs), value=c["value"])
    else:  # torch pads 1-3 trailing axes of (N, C, *S): fold the other axes into C
        k = len(pairs)
        lead = tuple(c["shape"][: len(c["shape"]) - k])
        t3 = tx.reshape((1, int(np.prod(lead))) + tuple(c["shape"][-k:]))
        ty = torch.nn.functional.pad(t3, torch_pad_arg(pairs), mode=TORCH_PAD_MODE[mode])
        ty = ty.reshape(lead + tuple(ty.shape[2:]))
    assert_close(y, ty, f"pad {mode} forward")
    backward_both(torch, rng, y, ty)
    assert_grads([("x", x, tx)])


# --- batch norm ---------------------------------------------------------------------------


@st.composite
def bn_case(draw: Any) -> dict[str, Any]:
    n = draw(st.integers(0, 3))  # (N, C) plain features up to (N, C, D, H, W)
    training = draw(st.booleans())
    shape = (draw(st.integers(1, 4)), draw(st.integers(1, 5))) + tuple(
        draw(st.integers(1, 4)) for _ in range(n))
    if training and np.prod(shape) // shape[1] < 2:  # batch statistics need two values
        shape = (2,) + shape[1:]
    return dict(
        shape=shape, training=training, affine=draw(st.sampled_from(["both", "both", "w", "b", "none"])),
        running=draw(st.sampled_from([True, True, True, False])) if training else True,
        momentum=draw(st.sampled_from([0.1, 0.0, 1.0, 0.37])),
        eps=draw(st.sampled_from([1e-5, 1e-3, 0.5])), steps=draw(st.integers(1, 2)),
        offset=draw(st.sampled_from([0.0, 3.0])), seed=draw(seeds),
    )


@settings(max_examples=EXAMPLES)
@given(c=bn_case())
def test_batch_norm_matches_torch(torch: Any, c: dict[str, Any]) -> None:
    rng = np.random.default_rng(c["seed"])
    ch = c["shape"][1]
    rm = rng.standard_normal(ch).astype(np.float32)
    rv = rng.uniform(0.5, 2.0, ch).astype(np.float32)
    ours_rm, ours_rv = (rm.copy(), rv.copy()) if c["running"] else (None, None)
    theirs_rm, theirs_rv = ((torch.from_numpy(rm.copy()), torch.from_numpy(rv.copy()))
                            if c["running"] else (None, None))
    w_np = randn(rng, (ch,)) if c["affine"] in ("both", "w") else None
    b_np = randn(rng, (ch,)) if c["affine"] in ("both", "b") else None
    for step in range(c["steps"]):
        x_np = randn(rng, c["shape"]) + np.float32(c["offset"])
        (x, tx), (w, tw), (b, tb) = (leaf_pair(torch, x_np), leaf_pair(torch, w_np),
                                     leaf_pair(torch, b_np))
        y = F.batch_norm(x, ours_rm, ours_rv, w, b, training=c["training"],
                         momentum=c["momentum"], eps=c["eps"])
        ty = torch.nn.functional.batch_norm(tx, theirs_rm, theirs_rv, tw, tb,
                                            training=c["training"], momentum=c["momentum"],
                                            eps=c["eps"])
        assert_close(y, ty, f"batch_norm forward (step {step})")
        if c["running"]:
            assert_close(ours_rm, theirs_rm, f"running_mean (step {step})")
            assert_close(ours_rv, theirs_rv, f"running_var (step {step})")
            if not c["training"]:  # evaluation never touches the running statistics
                assert np.array_equal(ours_rm, rm) and np.array_equal(ours_rv, rv)
        backward_both(torch, rng, y, ty)
        assert_grads([("x", x, tx), ("weight", w, tw), ("bias", b, tb)])


# --- losses -------------------------------------------------------------------------------


@st.composite
def classification_case(draw: Any) -> dict[str, Any]:
    """Logits (N, C, *S), targets, and every option of cross_entropy / nll_loss."""
    n = draw(st.integers(0, 2))
    shape = (draw(st.integers(1, 4)), draw(st.integers(2, 6))) + tuple(
        draw(st.integers(1, 4)) for _ in range(n))
    return dict(
        shape=shape,
        probabilities=draw(st.sampled_from([False, False, True])),
        weighted=draw(st.booleans()),
        reduction=draw(st.sampled_from(["mean", "sum", "none"])),
        smoothing=draw(st.sampled_from([0.0, 0.0, 0.1, 0.5, 1.0])),
        ignore=draw(st.sampled_from(["none", "default", "class"])),
        scale=draw(st.sampled_from([1.0, 1.0, 10.0, 60.0])),  # large logits: no overflow
        seed=draw(seeds),
    )


def _class_targets(rng: np.random.Generator, c: dict[str, Any]) -> tuple[np.ndarray, int]:
    """Integer targets, some set to ignore_index; at least one target is not ignored.

    (With every target ignored, torch's mean is 0/0 = nan; that edge is not compared.)
    """
    n, ch = c["shape"][0], c["shape"][1]
    t = rng.integers(0, ch, (n,) + c["shape"][2:])
    ignore_index = -100
    if c["ignore"] != "none":
        ignore_index = -100 if c["ignore"] == "default" else int(rng.integers(0, ch))
        drop = rng.random(t.shape) < 0.3
        t[drop] = ignore_index
        if np.all(t == ignore_index):
            t.flat[0] = (ignore_index + 1) % ch if ignore_index >= 0 else 0
    return t.astype(np.int64), ignore_index


@settings(max_examples=EXAMPLES)
@given(c=classification_case())
def test_cross_entropy_matches_torch(torch: Any, c: dict[str, Any]) -> None:
    rng = np.random.default_rng(c["seed"])
    ch = c["shape"][1]
    z, tz = leaf_pair(torch, randn(rng, c["shape"], c["scale"]))
    weight = rng.uniform(0.2, 2.0, ch).astype(np.float32) if c["weighted"] else None
    if c["probabilities"]:
        p = rng.random(c["shape"]).astype(np.float32)
        target = (p / p.sum(axis=1, keepdims=True)).astype(np.float32)
        ignore_index = -100
    else:
        target, ignore_index = _class_targets(rng, c)
    kw = dict(reduction=c["reduction"], label_smoothing=c["smoothing"], ignore_index=ignore_index)
    y = F.cross_entropy(z, target, weight, **kw)
    ty = torch.nn.functional.cross_entropy(
        tz, torch.from_numpy(target.copy()),
        None if weight is None else torch.from_numpy(weight.copy()), **kw)
    # A mean over M elements has gradients of order 1/M: compare at that scale.
    floor = 1.0 / np.prod(target.shape) if c["reduction"] == "mean" else 1.0
    assert_close(y, ty, "cross_entropy forward", floor * c["scale"])
    backward_both(torch, rng, y, ty)
    assert_grads([("logits", z, tz)], floor)


@settings(max_examples=EXAMPLES)
@given(c=classification_case())
def test_nll_loss_matches_torch(torch: Any, c: dict[str, Any]) -> None:
    rng = np.random.default_rng(c["seed"])
    ch = c["shape"][1]
    lp_np = randn(rng, c["shape"])  # nll is linear in its input: any values will do
    lp, tlp = leaf_pair(torch, lp_np)
    weight = rng.uniform(0.2, 2.0, ch).astype(np.float32) if c["weighted"] else None
    target, ignore_index = _class_targets(rng, c)
    kw = dict(reduction=c["reduction"], ignore_index=ignore_index)
    y = F.nll_loss(lp, target, weight, **kw)
    ty = torch.nn.functional.nll_loss(
        tlp, torch.from_numpy(target.copy()),
        None if weight is None else torch.from_numpy(weight.copy()), **kw)
    floor = 1.0 / target.size if c["reduction"] == "mean" else 1.0
    assert_close(y, ty, "nll_loss forward", floor)
    backward_both(torch, rng, y, ty)
    assert_grads([("log_probs", lp, tlp)], floor)


@st.composite
def regression_case(draw: Any) -> dict[str, Any]:
    rank = draw(st.integers(1, 4))
    shape = tuple(draw(st.integers(1, 5)) for _ in range(rank))
    return dict(shape=shape, reduction=draw(st.sampled_from(["mean", "sum", "none"])),
                scale=draw(st.sampled_from([1.0, 1.0, 8.0, 40.0])),
                pos_weight=draw(st.sampled_from([False, False, True])),
                hard=draw(st.booleans()), seed=draw(seeds))


@settings(max_examples=EXAMPLES)
@given(c=regression_case())
def test_mse_and_l1_match_torch(torch: Any, c: dict[str, Any]) -> None:
    rng = np.random.default_rng(c["seed"])
    a_np, b_np = randn(rng, c["shape"]), randn(rng, c["shape"])
    floor = 1.0 / a_np.size if c["reduction"] == "mean" else 1.0
    for ours, theirs in ((F.mse_loss, torch.nn.functional.mse_loss),
                         (F.l1_loss, torch.nn.functional.l1_loss)):
        (a, ta), (b, tb) = leaf_pair(torch, a_np), leaf_pair(torch, b_np)
        y, ty = ours(a, b, reduction=c["reduction"]), theirs(ta, tb, reduction=c["reduction"])
        assert_close(y, ty, f"{ours.__name__} forward", floor)
        backward_both(torch, rng, y, ty)
        assert_grads([("input", a, ta), ("target", b, tb)], floor)


@settings(max_examples=EXAMPLES)
@given(c=regression_case())
def test_bce_with_logits_matches_torch(torch: Any, c: dict[str, Any]) -> None:
    rng = np.random.default_rng(c["seed"])
    shape = c["shape"]
    z, tz = leaf_pair(torch, randn(rng, shape, c["scale"]))
    t_np = (rng.integers(0, 2, shape) if c["hard"] else rng.random(shape)).astype(np.float32)
    y_t, ty_t = leaf_pair(torch, t_np)  # soft targets get a gradient too
    pw = rng.uniform(0.2, 3.0, shape[-1]).astype(np.float32) if c["pos_weight"] else None
    y = F.binary_cross_entropy_with_logits(z, y_t, reduction=c["reduction"], pos_weight=pw)
    ty = torch.nn.functional.binary_cross_entropy_with_logits(
        tz, ty_t, reduction=c["reduction"],
        pos_weight=None if pw is None else torch.from_numpy(pw.copy()))
    floor = 1.0 / z.size if c["reduction"] == "mean" else 1.0
    assert_close(y, ty, "bce_with_logits forward", floor * c["scale"])
    backward_both(torch, rng, y, ty)
    assert_grads([("logits", z, tz), ("target", y_t, ty_t)], floor * c["scale"])


# --- activations, softmax, linear ---------------------------------------------------------


ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh", "gelu", "gelu_tanh", "softplus",
               "softmax", "log_softmax")


def _apply(torch: Any, name: str, x: Any, tx: Any, slope: float, axis: int) -> tuple[Any, Any]:
    tF = torch.nn.functional
    if name == "leaky_relu":
        return F.leaky_relu(x, slope), tF.leaky_relu(tx, slope)
    if name == "gelu":
        return F.gelu(x), tF.gelu(tx)
    if name == "gelu_tanh":
        return F.gelu(x, approximate="tanh"), tF.gelu(tx, approximate="tanh")
    if name in ("softmax", "log_softmax"):
        return getattr(F, name)(x, axis=axis), getattr(tF, name)(tx, dim=axis)
    ours = getattr(F, name)(x)
    theirs = torch.sigmoid(tx) if name == "sigmoid" else (
        torch.tanh(tx) if name == "tanh" else getattr(tF, name)(tx))
    return ours, theirs


@settings(max_examples=EXAMPLES)
@given(
    name=st.sampled_from(ACTIVATIONS),
    shape=st.lists(st.integers(1, 5), min_size=1, max_size=4).map(tuple),
    scale=st.sampled_from([1.0, 1.0, 5.0, 30.0]),
    slope=st.sampled_from([0.01, 0.2, -0.5, 3.0]),
    axis_pick=st.integers(0, 7),
    seed=seeds,
)
def test_activations_match_torch(torch: Any, name: str, shape: tuple[int, ...], scale: float,
                                 slope: float, axis_pick: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x, tx = leaf_pair(torch, randn(rng, shape, scale))
    axis = axis_pick % len(shape) - (len(shape) if axis_pick >= len(shape) else 0)  # +/- axes
    y, ty = _apply(torch, name, x, tx, slope, axis)
    assert_close(y, ty, f"{name} forward", max(1.0, scale) if name.endswith("softmax") else 1.0)
    backward_both(torch, rng, y, ty)
    assert_grads([("x", x, tx)])


@settings(max_examples=EXAMPLES // 5)
@given(lead=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple),
       fin=st.integers(1, 8), fout=st.integers(1, 8), bias=st.booleans(), seed=seeds)
def test_linear_matches_torch(torch: Any, lead: tuple[int, ...], fin: int, fout: int,
                              bias: bool, seed: int) -> None:
    rng = np.random.default_rng(seed)
    (x, tx), (w, tw) = leaf_pair(torch, randn(rng, lead + (fin,))), leaf_pair(torch, randn(rng, (fout, fin)))
    b, tb = leaf_pair(torch, randn(rng, (fout,)) if bias else None)
    y, ty = F.linear(x, w, b), torch.nn.functional.linear(tx, tw, tb)
    assert isinstance(y, nc.Tensor)
    assert_close(y, ty, "linear forward")
    backward_both(torch, rng, y, ty)
    assert_grads([("x", x, tx), ("weight", w, tw), ("bias", b, tb)])
