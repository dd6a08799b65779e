"""LeNet-5 (LeCun, Bottou, Bengio & Haffner, 1998): the modern form and the paper's own.

Both variants take digits of 28x28 pixels, ``(N, in_channels, 28, 28)``: the paper pads its
28x28 MNIST digits to 32x32 before C1; here the first convolution does it (``padding=2``),
which is the same operation, so ``28 + 2*2 - 5 + 1 = 28`` and every later size matches the
paper's (C1 28x28, S2 14x14, C3 10x10, S4 5x5, C5 1x1).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np

from .. import nn
from ..autograd import Tensor
from ..nn import functional as F
from ..nn._utils import tensor_in
from ..ops import matmul, reshape, sum, tanh
from ..random import get_rng

__all__ = ["LeNet5", "lenet5", "C3_TABLE"]

# Table I of the paper: the S2 maps (0..5) read by each of the 16 C3 maps. Maps 0-5 read 3
# contiguous maps, 6-11 four contiguous, 12-14 four non-contiguous, 15 all six.
C3_TABLE: tuple[tuple[int, ...], ...] = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (4, 5, 0), (5, 0, 1),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (3, 4, 5, 0), (4, 5, 0, 1), (5, 0, 1, 2),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)


class ScaledTanh(nn.Module):
    """The paper's squashing function ``f(a) = A * tanh(S * a)``, A = 1.7159, S = 2/3 (App. A).

    >>> import ndconv as nc
    >>> ScaledTanh()(nc.zeros(2, 3)).shape
    (2, 3)
    """

    A = 1.7159
    S = 2.0 / 3.0

    def forward(self, x: Any) -> Tensor:
        return tanh(tensor_in(x) * self.S) * self.A


class Subsample(nn.Module):
    """S2/S4: sum each 2x2 block, times a trainable coefficient, plus a trainable bias, per map.

    2 parameters per map: 12 for S2 (6 maps), 32 for S4 (16 maps). Both are initialised with
    the paper's rule U(-2.4/F_in, 2.4/F_in), F_in = 4 (the unit's inputs).

    Shapes:
        ``(N, C, H, W) -> (N, C, H // 2, W // 2)``
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        bound = 2.4 / 4
        self.weight = nn.Parameter(get_rng().uniform(-bound, bound, channels).astype(np.float32))
        self.bias = nn.Parameter(get_rng().uniform(-bound, bound, channels).astype(np.float32))

    def forward(self, x: Any) -> Tensor:
        s = F.avg_pool(tensor_in(x), (2, 2), divisor_override=1)  # the 2x2 sums
        shape = (1, self.channels, 1, 1)
        return s * reshape(self.weight, shape) + reshape(self.bias, shape)

    def extra_repr(self) -> str:
        return f"{self.channels}"


class PartialConv(nn.Module):
    """C3: a 5x5 convolution where output map ``o`` reads only the inputs ``table[o]``.

    One 5x5 kernel per connection (60 connections) plus a bias per map: 60*25 + 16 = 1,516
    parameters. The kernels are scattered into a dense ``(16, 6, 5, 5)`` weight through a
    constant 0/1 matrix (a matmul, so gradients flow back to the 60 kernels) and one
    :func:`~ndconv.nn.functional.conv` does the work.
    """

    def __init__(self, in_channels: int, table: tuple[tuple[int, ...], ...], kernel_size: int = 5) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = in_channels, len(table), kernel_size
        pairs = [(o, i) for o, ins in enumerate(table) for i in ins]
        scatter = np.zeros((len(table) * in_channels, len(pairs)), np.float32)
        for c, (o, i) in enumerate(pairs):
            scatter[o * in_channels + i, c] = 1.0
        self.register_buffer("scatter", scatter, persistent=False)
        k2 = kernel_size * kernel_size
        self.weight = nn.Parameter(np.empty((len(pairs), k2), np.float32))
        self.bias = nn.Parameter(np.empty(len(table), np.float32))
        # The paper's initialisation: U(-2.4/F_in, 2.4/F_in), F_in = inputs of the unit.
        fan_in = np.array([len(table[o]) * k2 for o, _ in pairs], np.float32)[:, None]
        self.weight.data[...] = get_rng().uniform(-1, 1, self.weight.shape) * (2.4 / fan_in)
        bias_fan = np.array([len(ins) * k2 + 1 for ins in table], np.float32)
        self.bias.data[...] = get_rng().uniform(-1, 1, len(table)) * (2.4 / bias_fan)

    def forward(self, x: Any) -> Tensor:
        k = self.kernel_size
        dense = matmul(Tensor(self.scatter.astype(self.weight.dtype)), self.weight)
        w = reshape(dense, (self.out_channels, self.in_channels, k, k))
        return F.conv(tensor_in(x), w, self.bias)

    def extra_repr(self) -> str:
        k = self.kernel_size
        return (f"{self.in_channels}, {self.out_channels}, kernel_size=({k}, {k}), "
                f"connections={self.weight.shape[0]}")


class RBFOutput(nn.Module):
    """The paper's output layer: Euclidean RBF units with *fixed* (not trained) prototypes.

    Class ``i`` scores ``-sum_j (x_j - w_ij)^2`` (the paper's penalty, negated so that the
    largest score wins and the output works as logits for cross-entropy). The paper's
    prototypes are stylised 7x12 bitmaps of the characters with entries +-1; here they are
    fixed random +-1 codes drawn at construction, kept as a buffer (saved in the state dict,
    never updated), so this layer has 0 trainable parameters -- as in the paper.
    """

    def __init__(self, in_features: int, num_classes: int) -> None:
        super().__init__()
        codes = np.where(get_rng().random((num_classes, in_features)) < 0.5, -1.0, 1.0)
        self.register_buffer("prototypes", codes.astype(np.float32))

    def forward(self, x: Any) -> Tensor:
        x = tensor_in(x)
        w = Tensor(self.prototypes.astype(x.dtype))
        d = reshape(x, (x.shape[0], 1, x.shape[1])) - reshape(w, (1,) + w.shape)
        return -sum(d * d, axis=2)

    def extra_repr(self) -> str:
        return f"in_features={self.prototypes.shape[1]}, num_classes={self.prototypes.shape[0]}"


class LeNet5(nn.Module):
    """LeNet-5 as ``features`` (convolutions and pools) then ``classifier`` (dense layers).

    Accepts ``(N, in_channels, 28, 28)`` only (the first convolution pads 28x28 to 32x32 with
    ``padding=2``); anything else raises ``ValueError``. See :func:`lenet5` for the variants.
    """

    def __init__(self, features: nn.Sequential, classifier: nn.Sequential, in_channels: int,
                 variant: str) -> None:
        super().__init__()
        self.in_channels, self.variant = in_channels, variant
        self.features = features
        self.classifier = classifier

    def forward(self, x: Any) -> Tensor:
        x = tensor_in(x)
        if x.ndim != 4 or x.shape[1:] != (self.in_channels, 28, 28):
            raise ValueError(
                f"lenet5: expects input (N, {self.in_channels}, 28, 28); got x.shape={x.shape}."
            )
        return self.classifier(self.features(x))

    def extra_repr(self) -> str:
        return f"variant={self.variant!r}"


def lenet5(num_classes: int = 10, in_channels: int = 1, variant: str = "modern") -> LeNet5:
    """Build LeNet-5 for 28x28 digits: input ``(N, in_channels, 28, 28)`` -> logits ``(N, num_classes)``.

    ``variant="modern"`` (the form in today's courses): ReLU and max-pooling, full C3::

        conv 1->6 5x5 pad 2   (28x28)   156
        relu, maxpool 2       (14x14)
        conv 6->16 5x5        (10x10)   2,416
        relu, maxpool 2       (5x5)
        flatten                         (400)
        linear 400->120, relu           48,120
        linear 120->84,  relu           10,164
        linear 84->10                   850
                                        61,706 parameters (with 10 classes, 1 channel)

    ``variant="1998"`` (LeCun et al., 1998, Section II-B), with the paper's trainable-parameter
    counts::

        C1 conv 1->6 5x5 pad 2               156
        S2 2x2 sum * coef + bias, per map    12
        C3 partial conv, Table I, 6->16 5x5  1,516   (60 kernels + 16 biases)
        S4 2x2 sum * coef + bias, per map    32
        C5 conv 16->120 5x5 (= dense 400)    48,120
        F6 linear 120->84                    10,164
        output: 10 Euclidean RBF units       0       (fixed +-1 prototypes)
                                             60,000 trainable parameters

    every layer but the output followed by the paper's ``1.7159 * tanh(2x/3)``. The paper's
    "60,000 trainable parameters" is exactly this sum: its RBF prototypes were hand-designed
    and fixed, so they are kept here as a buffer of random +-1 codes (not the paper's 7x12
    character bitmaps), and the output is the negated squared distance, usable as logits.
    The paper's C1..F6 initialisation ``U(-2.4/F_in, 2.4/F_in)`` is used for S2, C3 and S4;
    C1, C5 and F6 use the layers' PyTorch initialisation.

    Raises:
        ValueError: for an unknown variant or bad counts; at call time for an input that is
        not ``(N, in_channels, 28, 28)``.

    >>> import ndconv as nc
    >>> lenet5()(nc.zeros(2, 1, 28, 28)).shape
    (2, 10)
    >>> lenet5(variant="1998").num_parameters()
    60000
    """
    for name, v in (("num_classes", num_classes), ("in_channels", in_channels)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
            raise ValueError(f"lenet5: `{name}` must be an int >= 1; got {name}={v!r}.")
    if variant == "modern":
        features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        )
        classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, num_classes),
        )
    elif variant == "1998":
        features = nn.Sequential(OrderedDict([
            ("C1", nn.Conv2d(in_channels, 6, 5, padding=2)), ("act1", ScaledTanh()),
            ("S2", Subsample(6)), ("act2", ScaledTanh()),
            ("C3", PartialConv(6, C3_TABLE)), ("act3", ScaledTanh()),
            ("S4", Subsample(16)), ("act4", ScaledTanh()),
            ("C5", nn.Conv2d(16, 120, 5)), ("act5", ScaledTanh()),
        ]))
        classifier = nn.Sequential(OrderedDict([
            ("flatten", nn.Flatten()), ("F6", nn.Linear(120, 84)), ("act6", ScaledTanh()),
            ("output", RBFOutput(84, num_classes)),
        ]))
    else:
        raise ValueError(f"lenet5: `variant` must be 'modern' or '1998'; got variant={variant!r}.")
    return LeNet5(features, classifier, int(in_channels), variant)
