"""A convolutional autoencoder: strided convolutions down, transposed convolutions up, N-d.

With the defaults it takes 28x28 digits ``(N, 1, 28, 28)``: the encoder halves the size twice
(28 -> 14 -> 7, widths 16 -> 32) and the decoder mirrors it with transposed convolutions
(``kernel 3, stride 2, padding 1, output_padding 1``: ``(7-1)*2 - 2 + 2 + 1 + 1 = 14``), ending
in a sigmoid so outputs lie in (0, 1) like the pixel intensities.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import nn
from ..autograd import Tensor
from ._checks import check_arch_args

__all__ = ["ConvAutoencoder", "autoencoder"]


class ConvAutoencoder(nn.Module):
    """``encoder`` (conv stride 2 + ReLU per width) then ``decoder`` (transposed conv stride 2).

    Shapes:
        ``(N, in_channels, *S) -> (N, in_channels, *S)`` when every ``S[i]`` is divisible by
        ``2 ** len(widths)``; :meth:`encode` gives ``(N, widths[-1], *S / 2**len(widths))``.
    """

    def __init__(self, in_channels: int = 1, widths: Sequence[int] = (16, 32), ndim: int = 2) -> None:
        super().__init__()
        check_arch_args("autoencoder", in_channels=in_channels, ndim=ndim)
        widths = tuple(widths)
        if not widths:
            raise ValueError("autoencoder: `widths` must name at least one width; got ().")
        check_arch_args("autoencoder", **{f"widths[{i}]": w for i, w in enumerate(widths)})
        self.ndim, self.widths = ndim, widths
        enc: list[nn.Module] = []
        c = in_channels
        for w in widths:
            enc += [nn.Conv(c, w, 3, stride=2, padding=1, ndim=ndim), nn.ReLU()]
            c = w
        dec: list[nn.Module] = []
        outs = (*widths[-2::-1], in_channels)
        for i, w in enumerate(outs):
            dec.append(nn.ConvTranspose(c, w, 3, stride=2, padding=1, output_padding=1, ndim=ndim))
            dec.append(nn.Sigmoid() if i == len(outs) - 1 else nn.ReLU())
            c = w
        self.encoder = nn.Sequential(*enc)
        self.decoder = nn.Sequential(*dec)

    def encode(self, x: Any) -> Tensor:
        """Map the input to the latent code ``(N, widths[-1], *S / 2**depth)``."""
        return self.encoder(x)  # type: ignore[no-any-return]

    def decode(self, z: Any) -> Tensor:
        """Map a latent code back to input space."""
        return self.decoder(z)  # type: ignore[no-any-return]

    def forward(self, x: Any) -> Tensor:
        x_shape = getattr(x, "shape", None)
        if x_shape is not None and len(x_shape) == self.ndim + 2:
            step = 2 ** len(self.widths)
            if any(s % step for s in x_shape[2:]):
                raise ValueError(
                    f"autoencoder: every spatial size must be divisible by 2**depth = {step} so "
                    f"the output matches the input; got x.shape={tuple(x_shape)}."
                )
        return self.decode(self.encode(x))

    def extra_repr(self) -> str:
        return f"widths={self.widths}, ndim={self.ndim}"


def autoencoder(in_channels: int = 1, widths: Sequence[int] = (16, 32), ndim: int = 2) -> ConvAutoencoder:
    """Build a convolutional autoencoder (28x28 digits by default).

    >>> import ndconv as nc
    >>> autoencoder()(nc.zeros(2, 1, 28, 28)).shape
    (2, 1, 28, 28)
    """
    return ConvAutoencoder(in_channels, widths, ndim)
