"""Helpers shared by the PyTorch oracle tests (``tests/test_oracle_*.py``).

The oracle tests run one randomly generated configuration through ndconv and through PyTorch
(ranks 1-3), feed the *same* random upstream gradient into both backward passes and compare
the forward result and every gradient. This module holds what they share: the torch guard,
the comparison rule, the seeded random arrays and the padding arithmetic written out
independently of ``ndconv.shapes`` (the oracle must not reuse the code under test).

Nothing here imports torch at module level, so the test modules import without it and the
guard in :func:`require_torch` decides between a skip and a failure.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import strategies as st

import ndconv as nc

REQUIRE_TORCH_ENV = "NDCONV_REQUIRE_TORCH"

# The acceptance criterion: agreement within 1e-4 relative, in float32.
RTOL = 1e-4

TORCH_PAD_MODE = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate",
                  "circular": "circular"}
PAD_MODES = ("zeros", "reflect", "replicate", "circular")


def require_torch() -> Any:
    """Return the ``torch`` module, or skip -- or FAIL when ``NDCONV_REQUIRE_TORCH=1``.

    CI sets the variable so that the oracle can never silently disappear (DESIGN.md,
    Correctness); a developer without torch gets skips instead.
    """
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        message = f"PyTorch is needed for the oracle tests and cannot be imported ({exc})."
        if os.environ.get(REQUIRE_TORCH_ENV) == "1":
            pytest.fail(f"{message} {REQUIRE_TORCH_ENV}=1 makes this a failure.", pytrace=False)
        pytest.skip(message)
    return torch


# --- comparison -------------------------------------------------------------------------


def to_numpy(a: Any) -> np.ndarray:
    """Return a NumPy array from an ndconv Tensor, a torch tensor or an array."""
    if isinstance(a, nc.Tensor):
        return a.numpy()
    if hasattr(a, "detach"):  # torch.Tensor
        return a.detach().cpu().numpy()
    return np.asarray(a)


def assert_close(got: Any, want: Any, name: str, floor: float = 1.0, rtol: float = RTOL) -> None:
    """Assert ``max|got - want| <= rtol * max(floor, max|want|)`` (norm-relative, max norm).

    Why norm-relative and not element-wise relative: every value compared here is a sum of
    float32 products (a window, a reduction over the batch, a softmax); its rounding error is
    a few ulps of the *largest* partial sums, not of the element itself, so an element that
    cancels to ~0 carries an absolute error of order eps * max|want| and an element-wise
    rtol would reject correct code. Scaling by max|want| demands 1e-4 relative precision
    at the array's own scale (float32 eps is 1.2e-7, so a correct op sits ~100x inside).

    Why the ``floor``: the tests draw standard-normal data, so the natural scale of every
    layer quantity is O(1) even where the result cancels almost entirely (the input gradient
    of batch norm with two values per channel is exactly zero, computed as float32 noise).
    Losses averaged over many elements have gradients of order 1/M and pass a smaller floor.

    Non-finite values must sit at the same places and be equal (``-inf`` where a max-pool
    window holds only padding, for example).
    """
    g, w = to_numpy(got), to_numpy(want)
    assert g.shape == w.shape, f"{name}: shape {g.shape} (ndconv) != {w.shape} (torch)"
    assert g.dtype == w.dtype, f"{name}: dtype {g.dtype} (ndconv) != {w.dtype} (torch)"
    finite = np.isfinite(w)
    assert np.array_equal(np.isfinite(g), finite), f"{name}: non-finite values differ"
    assert np.array_equal(g[~finite], w[~finite]), f"{name}: non-finite values differ"
    if not finite.any():
        return
    gf, wf = g[finite].astype(np.float64), w[finite].astype(np.float64)
    scale = max(floor, float(np.abs(wf).max()))
    err = float(np.abs(gf - wf).max())
    assert err <= rtol * scale, (
        f"{name}: max|ndconv - torch| = {err:.3g} > {rtol:g} * {scale:.3g} "
        f"(worst at flat index {int(np.argmax(np.abs(gf - wf)))} of the finite values)"
    )


def assert_grads(pairs: Sequence[tuple[str, Any, Any]], floor: float = 1.0) -> None:
    """Compare the gradients of ``(name, ndconv_leaf, torch_leaf)``; a None leaf is skipped.

    Every leaf given requires grad and the output depends on it, so both gradients must exist.
    """
    for name, a, b in pairs:
        if a is None and b is None:
            continue
        assert a.grad is not None, f"grad {name}: ndconv computed no gradient"
        assert b.grad is not None, f"grad {name}: torch computed no gradient"
        assert_close(a.grad, b.grad, f"grad {name}", floor)


# --- inputs ------------------------------------------------------------------------------


# Hypothesis examples per oracle test.
EXAMPLES = 500

seeds = st.integers(0, 2**32 - 1)

# Every way to write a padding argument; :func:`padding_arg` turns (lo, hi) pairs into each.
PADDING_FORMS = ("int", "tuple", "pairs", "valid", "same")


def draw_dilation(draw: Any, kernel: Sequence[int], max_extent: int) -> tuple[int, ...]:
    """Draw a dilation in 1..3 per axis that keeps each dilated kernel within ``max_extent``.

    A kernel of size 1 takes any dilation; larger ones are limited so that
    ``eff(k, d) <= max_extent`` (which keeps every example to a few milliseconds).
    """
    return tuple(
        draw(st.integers(1, max(1, min(3, (max_extent - 1) // max(k - 1, 1))))) for k in kernel
    )


def randn(rng: np.random.Generator, shape: Sequence[int], scale: float = 1.0) -> np.ndarray:
    """Return float32 standard-normal samples (continuous, so no ties and no exact zeros)."""
    return np.asarray(rng.standard_normal(tuple(shape)) * scale, dtype=np.float32)


def leaf_pair(torch: Any, a: np.ndarray | None, grad: bool = True) -> tuple[Any, Any]:
    """Return an ndconv leaf and a torch leaf holding copies of the same array."""
    if a is None:
        return None, None
    return (nc.tensor(a.copy(), requires_grad=grad),
            torch.from_numpy(a.copy()).requires_grad_(grad))


def backward_both(torch: Any, rng: np.random.Generator, ours: Any, theirs: Any) -> np.ndarray:
    """Backpropagate one random upstream gradient through both results; return it."""
    assert tuple(ours.shape) == tuple(theirs.shape), (
        f"output shape {tuple(ours.shape)} (ndconv) != {tuple(theirs.shape)} (torch)")
    g = randn(rng, ours.shape)
    ours.backward(g)
    theirs.backward(torch.from_numpy(g.copy()))
    return g


# --- padding arithmetic, written independently of ndconv.shapes --------------------------


def eff(k: int, d: int) -> int:
    """Return the extent of a dilated kernel, ``d*(k-1) + 1``."""
    return d * (k - 1) + 1


def tf_same_pads(size: int, k: int, s: int, d: int) -> tuple[int, int]:
    """TensorFlow's 'same': ``out = ceil(size/s)``, odd pixel on the high side."""
    out = -(-size // s)
    total = max((out - 1) * s + eff(k, d) - size, 0)
    return total // 2, total - total // 2


def torch_pad_arg(pairs: Sequence[tuple[int, int]]) -> list[int]:
    """Return torch's F.pad argument: (lo, hi) pairs from the LAST axis backwards."""
    flat: list[int] = []
    for lo, hi in reversed(list(pairs)):
        flat += [lo, hi]
    return flat


def padding_arg(form: str, pairs: Sequence[tuple[int, int]]) -> Any:
    """Express ``pairs`` in the padding form ``form`` (int, tuple, pairs, valid, same)."""
    if form == "int":
        return pairs[0][0]
    if form == "tuple":
        return tuple(lo for lo, _ in pairs)
    if form == "pairs":
        return tuple(tuple(p) for p in pairs)
    return form  # "valid" / "same": the pairs were computed to match


def window_hits_input(size: int, k: int, s: int, d: int, lo: int, out: int) -> bool:
    """Return whether every one of ``out`` windows holds at least one input element."""
    for o in range(out):
        start = o * s - lo
        if not any(0 <= start + j * d < size for j in range(k)):
            return False
    return True


def torch_ranked(torch: Any, name: str, n: int) -> Any:
    """Return ``torch.nn.functional.<name><n>d`` (conv2d, max_pool3d, ...)."""
    return getattr(torch.nn.functional, f"{name}{n}d")
