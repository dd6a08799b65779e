"""A small U-Net (Ronneberger, Fischer & Brox, 2015), any number of spatial axes.

Each level doubles the width and halves the size (2x2 max-pool); the way up upsamples with a
2x2 transposed convolution of stride 2, concatenates the skip connection from the same level
along channels (a :class:`Concat` module, so tools see the join), and applies two 3x3
convolutions. ``padding=1`` everywhere ("same" convolutions, unlike the paper's valid ones),
so the output has the input's spatial size.
"""

from __future__ import annotations

from typing import Any

from .. import nn
from ..autograd import Tensor
from ..nn._utils import tensor_in
from ..ops import concat
from ._checks import check_arch_args

__all__ = ["Concat", "DoubleConv", "UNet", "unet"]


class Concat(nn.Module):
    """Concatenate the inputs along ``dim`` (channels by default).

    >>> import ndconv as nc
    >>> Concat()(nc.zeros(1, 2, 4, 4), nc.zeros(1, 3, 4, 4)).shape
    (1, 5, 4, 4)
    """

    def __init__(self, dim: int = 1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, *xs: Any) -> Tensor:
        if not xs:
            raise ValueError("Concat: needs at least one input; got none.")
        return concat([tensor_in(x) for x in xs], axis=self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class DoubleConv(nn.Sequential):
    """``(conv 3x3 pad 1 -> batch norm -> ReLU) x 2``; keeps the spatial size."""

    def __init__(self, cin: int, cout: int, ndim: int) -> None:
        super().__init__(
            nn.Conv(cin, cout, 3, padding=1, bias=False, ndim=ndim), nn.BatchNorm(cout), nn.ReLU(),
            nn.Conv(cout, cout, 3, padding=1, bias=False, ndim=ndim), nn.BatchNorm(cout), nn.ReLU(),
        )


class UNet(nn.Module):
    """``inc`` -> ``downs[i]`` (pool + double conv) -> ``ups[i]`` (transposed conv, concat with
    the skip, double conv) -> ``head`` (1x1 convolution to ``num_classes``).

    Shapes:
        ``(N, in_channels, *S) -> (N, num_classes, *S)``; each ``S[i]`` divisible by ``2**depth``.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 2, base: int = 16, depth: int = 3,
                 ndim: int = 2) -> None:
        super().__init__()
        check_arch_args("unet", in_channels=in_channels, num_classes=num_classes, base=base,
                        depth=depth, ndim=ndim)
        self.ndim, self.depth = ndim, depth
        widths = [base * 2**i for i in range(depth + 1)]
        self.inc = DoubleConv(in_channels, base, ndim)
        self.downs = nn.ModuleList(
            nn.Sequential(nn.MaxPool(2, ndim=ndim), DoubleConv(widths[i], widths[i + 1], ndim))
            for i in range(depth)
        )
        self.upconvs = nn.ModuleList(
            nn.ConvTranspose(widths[i + 1], widths[i], 2, stride=2, ndim=ndim)
            for i in reversed(range(depth))
        )
        self.cat = Concat(1)
        self.ups = nn.ModuleList(DoubleConv(2 * widths[i], widths[i], ndim) for i in reversed(range(depth)))
        self.head = nn.Conv(base, num_classes, 1, ndim=ndim)

    def forward(self, x: Any) -> Tensor:
        shape = getattr(x, "shape", ())
        step = 2**self.depth
        if len(shape) != self.ndim + 2 or any(s % step for s in shape[2:]):
            raise ValueError(
                f"unet: input must be (N, C, *S) with {self.ndim} spatial axes, each divisible by "
                f"2**depth = {step}; got x.shape={tuple(shape)}."
            )
        skips = [self.inc(x)]
        for down in self.downs:
            skips.append(down(skips[-1]))
        y = skips.pop()
        for upconv, up in zip(self.upconvs, self.ups):
            y = up(self.cat(skips.pop(), upconv(y)))
        return self.head(y)  # type: ignore[no-any-return]

    def extra_repr(self) -> str:
        return f"depth={self.depth}, ndim={self.ndim}"


def unet(in_channels: int = 1, num_classes: int = 2, base: int = 16, depth: int = 3,
         ndim: int = 2) -> UNet:
    """Build a small U-Net: ``(N, in_channels, *S) -> (N, num_classes, *S)``.

    >>> import ndconv as nc
    >>> unet(ndim=3, base=4, depth=2)(nc.zeros(1, 1, 8, 8, 8)).shape
    (1, 2, 8, 8, 8)
    """
    return UNet(in_channels, num_classes, base, depth, ndim)
