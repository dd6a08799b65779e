"""Every bad input raises ValueError/TypeError naming the argument and the value received.

One table drives the test: each row is an id, a call that must fail, the exception type, the
argument's name and the received value as it must appear in the message.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

import ndconv as nc
import ndconv.nn.functional as F


def T(*shape: int, dtype=np.float32) -> nc.Tensor:
    return nc.tensor(np.zeros(shape, dtype))


X2 = T(2, 4, 5, 5)  # (N, C, H, W)
W2 = T(6, 4, 3, 3)
X4 = T(1, 2, 4, 4, 4, 4)  # rank 4: where PyTorch stops
W4 = T(3, 2, 2, 2, 2, 2)


@dataclass
class Bad:
    id: str
    call: Callable[[], object]
    exc: type[Exception] | tuple[type[Exception], ...]
    name: str  # the argument's name: it must appear in the message as `name` (in backticks)
    value: str  # the received value, as it must appear in the message
    quoted: bool = True  # False: the message names the argument in prose (e.g. "reflect padding")


NAN, INF = float("nan"), float("inf")

BAD: list[Bad] = [
    # shapes
    Bad("conv x rank for weight rank", lambda: F.conv(T(2, 4, 5), W2), ValueError, "x", "(2, 4, 5)"),
    Bad("conv rank-4 x rank", lambda: F.conv(T(1, 2, 4, 4, 4), W4), ValueError, "x", "(1, 2, 4, 4, 4)"),
    Bad("conv x rank too small", lambda: F.conv(T(4, 5), W2), ValueError, "x", "(4, 5)"),
    Bad("conv x rank too large", lambda: F.conv(T(1, 1, 4, 5, 5), W2), ValueError, "x", "(1, 1, 4, 5, 5)"),
    Bad("conv_transpose x rank", lambda: F.conv_transpose(T(1, 1, 4, 5, 5), T(4, 2, 3, 3)), ValueError, "x",
        "(1, 1, 4, 5, 5)"),
    Bad("conv weight rank < 3", lambda: F.conv(X2, T(6, 4)), ValueError, "weight", "(6, 4)"),
    Bad("conv2d weight rank", lambda: F.conv2d(X2, T(6, 4, 3)), ValueError, "weight", "(6, 4, 3)"),
    Bad("conv channel mismatch", lambda: F.conv(X2, T(6, 3, 3, 3)), ValueError, "weight", "(6, 3, 3, 3)"),
    Bad("conv groups do not divide in", lambda: F.conv(X2, T(6, 4, 3, 3), groups=3), ValueError, "groups", "groups=3"),
    Bad("conv groups do not divide out", lambda: F.conv(X2, T(5, 2, 3, 3), groups=2), ValueError, "groups", "groups=2"),
    Bad("conv groups 0", lambda: F.conv(X2, W2, groups=0), ValueError, "groups", "groups=0"),
    Bad("conv groups 1.5", lambda: F.conv(X2, W2, groups=1.5), TypeError, "groups", "groups=1.5"),
    Bad("conv kernel larger than padded input", lambda: F.conv(T(1, 4, 5, 2), W2, padding=0), ValueError,
        "kernel_size", "spatial axis 1", quoted=False),
    Bad("conv rank-4 kernel too large", lambda: F.conv(T(1, 2, 4, 4, 1, 4), W4), ValueError, "kernel_size",
        "spatial axis 2", quoted=False),
    Bad("conv transpose channel mismatch", lambda: F.conv_transpose(X2, T(3, 2, 3, 3)), ValueError,
        "weight", "(3, 2, 3, 3)"),
    Bad("conv_transpose groups", lambda: F.conv_transpose(X2, T(4, 2, 3, 3), groups=3), ValueError, "groups", "groups=3"),
    Bad("conv bias shape", lambda: F.conv(X2, W2, T(5)), ValueError, "bias", "(5,)"),
    Bad("conv_transpose bias shape", lambda: F.conv_transpose(X2, T(4, 2, 3, 3), T(4)), ValueError,
        "bias", "(4,)"),
    Bad("conv dtype mismatch", lambda: F.conv(X2, T(6, 4, 3, 3, dtype=np.float64)), TypeError, "weight", "float64"),
    Bad("conv_transpose dtype mismatch", lambda: F.conv_transpose(T(1, 4, 3, 3, dtype=np.float64), T(4, 2, 3, 3)),
        TypeError, "weight", "float32"),
    # stride / dilation / padding values
    Bad("conv stride 0", lambda: F.conv(X2, W2, stride=0), ValueError, "stride", "stride=0"),
    Bad("conv stride -1", lambda: F.conv(X2, W2, stride=-1), ValueError, "stride", "stride=-1"),
    Bad("conv stride tuple with 0", lambda: F.conv(X2, W2, stride=(1, 0)), ValueError, "stride", "stride=(1, 0)"),
    Bad("conv stride wrong length", lambda: F.conv(X2, W2, stride=(1, 1, 1)), ValueError, "stride", "stride=(1, 1, 1)"),
    Bad("conv stride nan", lambda: F.conv(X2, W2, stride=NAN), TypeError, "stride", "stride=nan"),
    Bad("conv stride inf", lambda: F.conv(X2, W2, stride=INF), TypeError, "stride", "stride=inf"),
    Bad("conv stride 1.5", lambda: F.conv(X2, W2, stride=1.5), TypeError, "stride", "stride=1.5"),
    Bad("conv stride bool", lambda: F.conv(X2, W2, stride=True), TypeError, "stride", "stride=True"),
    Bad("conv dilation 0", lambda: F.conv(X2, W2, dilation=0), ValueError, "dilation", "dilation=0"),
    Bad("conv dilation nan", lambda: F.conv(X2, W2, dilation=NAN), TypeError, "dilation", "dilation=nan"),
    Bad("conv dilation 1.5", lambda: F.conv(X2, W2, dilation=(1, 1.5)), TypeError, "dilation", "1.5"),
    Bad("conv padding -1", lambda: F.conv(X2, W2, padding=-1), ValueError, "padding", "-1"),
    Bad("conv padding pair -1", lambda: F.conv(X2, W2, padding=((0, -1), (1, 1))), ValueError, "padding", "-1"),
    Bad("conv padding 'bogus'", lambda: F.conv(X2, W2, padding="bogus"), ValueError, "padding", "padding='bogus'"),
    Bad("conv padding nan", lambda: F.conv(X2, W2, padding=NAN), (ValueError, TypeError), "padding", "padding=nan"),
    Bad("conv padding inf", lambda: F.conv(X2, W2, padding=INF), (ValueError, TypeError), "padding", "padding=inf"),
    Bad("conv padding 1.5", lambda: F.conv(X2, W2, padding=1.5), (ValueError, TypeError), "padding", "1.5"),
    Bad("conv padding (1, 1.5)", lambda: F.conv(X2, W2, padding=(1, 1.5)), (ValueError, TypeError), "padding",
        "1.5"),
    Bad("conv padding wrong length", lambda: F.conv(X2, W2, padding=(1, 1, 1)), ValueError, "padding", "padding=(1, 1, 1)"),
    Bad("conv padding_mode 'bogus'", lambda: F.conv(X2, W2, padding=1, padding_mode="bogus"), ValueError,
        "padding_mode", "'bogus'"),
    Bad("conv padding_mode 'bogus' without padding", lambda: F.conv(X2, W2, padding_mode="bogus"), ValueError,
        "padding_mode", "'bogus'"),
    Bad("conv reflect padding >= size", lambda: F.conv(T(1, 4, 3, 5), W2, padding=3, padding_mode="reflect"),
        ValueError, "padding", "padding (3, 3) for size 3", quoted=False),
    Bad("conv circular padding > size", lambda: F.conv(T(1, 4, 3, 5), W2, padding=4, padding_mode="circular"),
        ValueError, "padding", "padding (4, 4) for size 3", quoted=False),
    Bad("conv_transpose stride 0", lambda: F.conv_transpose(X2, T(4, 2, 3, 3), stride=0), ValueError,
        "stride", "stride=0"),
    Bad("conv_transpose padding 'bogus'", lambda: F.conv_transpose(X2, T(4, 2, 3, 3), padding="bogus"),
        ValueError, "padding", "padding='bogus'"),
    Bad("conv_transpose padding_mode 'bogus'",
        lambda: F.conv_transpose(X2, T(4, 2, 3, 3), padding=1, padding_mode="bogus"), ValueError,
        "padding_mode", "'bogus'"),
    Bad("conv_transpose padding_mode 'bogus' no padding",
        lambda: F.conv_transpose(X2, T(4, 2, 3, 3), padding_mode="bogus"), ValueError, "padding_mode", "'bogus'"),
    Bad("conv_transpose reflect padding >= output size",
        lambda: F.conv_transpose(T(1, 4, 1, 1), T(4, 2, 3, 3), padding=1, padding_mode="reflect"), ValueError,
        "padding", "padding (1, 1) for size 1", quoted=False),
    Bad("conv_transpose output_padding >= stride", lambda: F.conv_transpose(X2, T(4, 2, 3, 3), stride=2,
                                                                             output_padding=2),
        ValueError, "output_padding", "output_padding=2"),
    Bad("conv_transpose output_padding negative", lambda: F.conv_transpose(X2, T(4, 2, 3, 3), output_padding=-1),
        ValueError, "output_padding", "output_padding=-1"),
    Bad("conv_transpose output_padding with same", lambda: F.conv_transpose(X2, T(4, 2, 3, 3), stride=2,
                                                                             padding="same", output_padding=1),
        ValueError, "output_padding", "1"),
    Bad("conv_transpose output size < 1", lambda: F.conv_transpose(T(1, 4, 1, 1), T(4, 2, 1, 1), padding=1),
        ValueError, "padding", "padding=(1, 1)", quoted=False),
    # pools
    Bad("max_pool kernel too large", lambda: F.max_pool(X2, 6), ValueError, "kernel_size", "kernel_size=6", quoted=False),
    Bad("avg_pool kernel too large", lambda: F.avg_pool(X2, (2, 7)), ValueError, "kernel_size", "kernel_size=7", quoted=False),
    Bad("max_pool kernel_size 0", lambda: F.max_pool(X2, 0), ValueError, "kernel_size", "kernel_size=0"),
    Bad("max_pool kernel_size nan", lambda: F.max_pool(X2, NAN), TypeError, "kernel_size", "kernel_size=nan"),
    Bad("max_pool kernel_size inf", lambda: F.max_pool(X2, INF), TypeError, "kernel_size", "kernel_size=inf"),
    Bad("avg_pool kernel_size 1.5", lambda: F.avg_pool(X2, 1.5), TypeError, "kernel_size", "kernel_size=1.5"),
    Bad("max_pool stride 0", lambda: F.max_pool(X2, 2, stride=0), ValueError, "stride", "stride=0"),
    Bad("avg_pool stride -1", lambda: F.avg_pool(X2, 2, stride=-1), ValueError, "stride", "stride=-1"),
    Bad("max_pool stride nan", lambda: F.max_pool(X2, 2, stride=NAN), TypeError, "stride", "stride=nan"),
    Bad("max_pool padding -1", lambda: F.max_pool(X2, 2, padding=-1), ValueError, "padding", "-1"),
    Bad("max_pool padding 'bogus'", lambda: F.max_pool(X2, 2, padding="bogus"), ValueError, "padding", "padding='bogus'"),
    Bad("max_pool dilation 0", lambda: F.max_pool(X2, 2, dilation=0), ValueError, "dilation", "dilation=0"),
    Bad("max_pool dilation inf", lambda: F.max_pool(X2, 2, dilation=INF), TypeError, "dilation", "dilation=inf"),
    Bad("max_pool kernel rank vs x", lambda: F.max_pool(X2, (2, 2, 2)), ValueError, "x", "(2, 4, 5, 5)"),
    Bad("avg_pool divisor_override 0", lambda: F.avg_pool(X2, 2, divisor_override=0), ValueError,
        "divisor_override", "0"),
    Bad("adaptive_avg_pool output_size length", lambda: F.adaptive_avg_pool(X2, (2, 2, 2)), ValueError,
        "output_size", "(2, 2, 2)"),
    Bad("adaptive_max_pool output_size length", lambda: F.adaptive_max_pool(X4, (2, 2)), ValueError,
        "output_size", "(2, 2)"),
    Bad("adaptive_avg_pool output_size 0", lambda: F.adaptive_avg_pool(X2, 0), ValueError, "output_size", "output_size=0"),
    Bad("adaptive_max_pool output_size 1.5", lambda: F.adaptive_max_pool(X2, 1.5), TypeError, "output_size",
        "output_size=1.5"),
    Bad("unfold kernel too large", lambda: F.unfold(X2, 6), ValueError, "kernel_size", "kernel_size=6",
        quoted=False),
    Bad("unfold stride 0", lambda: F.unfold(X2, 2, stride=0), ValueError, "stride", "stride=0"),
    Bad("fold x shape", lambda: F.fold(T(1, 5, 9), (4, 4), 2), ValueError, "x", "(1, 5, 9)"),
    Bad("pad mode 'bogus'", lambda: F.pad(X2, 1, mode="bogus"), ValueError, "mode", "'bogus'"),
    Bad("pad reflect too large", lambda: F.pad(X2, 5, mode="reflect"), ValueError, "padding", "(5, 5) for size 5",
        quoted=False),
    Bad("pad negative", lambda: F.pad(X2, [(1, -2)]), ValueError, "padding", "-2", quoted=False),
    # losses
    Bad("cross_entropy target out of range", lambda: F.cross_entropy(T(3, 5), np.array([0, 7, 1])), ValueError,
        "target", "7"),
    Bad("cross_entropy target negative", lambda: F.cross_entropy(T(3, 5), np.array([0, -3, 1])), ValueError,
        "target", "-3"),
    Bad("cross_entropy target shape", lambda: F.cross_entropy(T(3, 5), np.array([0, 1])), ValueError,
        "target", "(2,)"),
    Bad("cross_entropy float target shape", lambda: F.cross_entropy(T(3, 5), np.zeros((3, 4), np.float32)),
        ValueError, "target", "(3, 4)"),
    Bad("cross_entropy label_smoothing", lambda: F.cross_entropy(T(3, 5), np.array([0, 1, 2]), label_smoothing=1.5),
        ValueError, "label_smoothing", "1.5"),
    Bad("cross_entropy label_smoothing nan",
        lambda: F.cross_entropy(T(3, 5), np.array([0, 1, 2]), label_smoothing=NAN), ValueError,
        "label_smoothing", "nan"),
    Bad("cross_entropy reduction", lambda: F.cross_entropy(T(3, 5), np.array([0, 1, 2]), reduction="avg"),
        ValueError, "reduction", "'avg'"),
    Bad("nll_loss float target", lambda: F.nll_loss(T(3, 5), np.zeros(3)), TypeError, "target", "float64"),
    Bad("mse_loss shapes", lambda: F.mse_loss(T(3, 5), T(3, 4)), ValueError, "target", "(3, 4)"),
    Bad("bce shapes", lambda: F.binary_cross_entropy_with_logits(T(3, 5), T(5, 3)), ValueError, "target", "(5, 3)"),
    Bad("dropout p", lambda: F.dropout(X2, 1.5), ValueError, "p", "p=1.5"),
    Bad("dropout p nan", lambda: F.dropout(X2, NAN), ValueError, "p", "p=nan"),
    Bad("batch_norm weight shape", lambda: F.batch_norm(X2, None, None, T(3), training=True), ValueError,
        "weight", "(3,)"),
    Bad("linear in_features", lambda: F.linear(T(2, 3), T(4, 5)), ValueError, "x", "(2, 3)"),
    Bad("gelu approximate", lambda: F.gelu(T(3), approximate="fast"), ValueError, "approximate", "approximate='fast'"),
    # autograd
    Bad("backward non-scalar without grad",
        lambda: (nc.tensor(np.ones((2, 3)), requires_grad=True) * 2).backward(), ValueError, "grad", "(2, 3)"),
    Bad("backward grad of wrong shape",
        lambda: (nc.tensor(np.ones((2, 3)), requires_grad=True) * 2).backward(np.ones(3)), ValueError,
        "grad", "(3,)"),
    Bad("requires_grad on integers", lambda: nc.tensor(np.arange(3), requires_grad=True), TypeError,
        "requires_grad=True", "dtype=int64", quoted=False),
]


@pytest.mark.parametrize("bad", BAD, ids=[b.id for b in BAD])
def test_bad_input_raises_naming_argument_and_value(bad: Bad) -> None:
    name = f"`{bad.name}`" if bad.quoted else bad.name
    with pytest.raises(bad.exc, match=re.escape(name)) as info:
        bad.call()
    message = str(info.value)
    assert bad.value in message, f"message does not show the received value {bad.value!r}: {message}"
    assert not isinstance(info.value, AssertionError)


def test_backward_without_requires_grad_raises() -> None:
    with pytest.raises(RuntimeError, match="does not require grad"):
        nc.tensor(np.ones(3)).sum().backward()


def test_errors_are_raised_before_any_work_with_good_inputs_passing() -> None:
    """The same calls with the bad argument fixed succeed: the table tests the argument, not setup."""
    assert F.conv(X2, W2, stride=1, padding=1, dilation=1).shape == (2, 6, 5, 5)
    assert F.conv(X4, W4, stride=2, padding="same").shape == (1, 3, 2, 2, 2, 2)
    assert F.conv_transpose(X2, T(4, 2, 3, 3), stride=2, output_padding=1).shape == (2, 2, 12, 12)
    assert F.max_pool(X2, 5).shape == (2, 4, 1, 1)
    assert F.adaptive_avg_pool(X4, (2, 2, 2, 2)).shape == (1, 2, 2, 2, 2, 2)
    assert F.cross_entropy(T(3, 5), np.array([0, 4, 1])).shape == ()
