"""VGG (Simonyan & Zisserman, 2015): configurations A, B, D, E = VGG-11/13/16/19, with or
without batch norm, in torchvision's layout and parameter names (``features.<i>``,
``classifier.0/3/6``). ``ndim`` sets the rank of every convolution and pool.
"""

from __future__ import annotations

from typing import Any

from .. import nn
from ..autograd import Tensor
from ._checks import check_arch_args

__all__ = [
    "VGG", "VGG_CONFIGS", "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn",
    "vgg19", "vgg19_bn",
]

# Table 1 of the paper: output channels of each 3x3 convolution, "M" a 2x2 max-pool.
VGG_CONFIGS: dict[str, tuple[int | str, ...]] = {
    "vgg11": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "vgg13": (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "vgg16": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
              512, 512, 512, "M"),
    "vgg19": (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512, "M"),
}


def make_features(config: tuple[int | str, ...], in_channels: int, batch_norm: bool,
                  ndim: int) -> nn.Sequential:
    """Build the convolutional trunk: ``conv 3x3 pad 1 [-> BN] -> ReLU`` per entry, pools at "M"."""
    layers: list[nn.Module] = []
    c = in_channels
    for v in config:
        if v == "M":
            layers.append(nn.MaxPool(2, stride=2, ndim=ndim))
            continue
        if not isinstance(v, int):
            raise ValueError(f"vgg: `config` entries must be channel counts or 'M'; got {v!r}.")
        layers.append(nn.Conv(c, v, 3, padding=1, ndim=ndim))
        if batch_norm:
            layers.append(nn.BatchNorm(v))
        layers.append(nn.ReLU())
        c = v
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """``features`` -> ``avgpool`` (adaptive, 7 per axis) -> ``flatten`` -> ``classifier``.

    Shapes:
        ``(N, in_channels, *S) -> (N, num_classes)``, ``S`` at least 32 per axis (224 native).
    """

    def __init__(self, features: nn.Sequential, num_classes: int = 1000, dropout: float = 0.5,
                 ndim: int = 2) -> None:
        super().__init__()
        self.ndim = ndim
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool((7,) * ndim)
        self.flatten = nn.Flatten()
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7**ndim, 4096), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: Any) -> Tensor:
        return self.classifier(self.flatten(self.avgpool(self.features(x))))  # type: ignore[no-any-return]


def _vgg(name: str, batch_norm: bool, num_classes: int, in_channels: int, dropout: float,
         ndim: int) -> VGG:
    label = name + ("_bn" if batch_norm else "")
    check_arch_args(label, num_classes=num_classes, in_channels=in_channels, ndim=ndim)
    return VGG(make_features(VGG_CONFIGS[name], in_channels, batch_norm, ndim), num_classes,
               dropout, ndim)


def vgg11(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5, ndim: int = 2) -> VGG:
    """VGG-11 (configuration A): 132,863,336 parameters at the defaults."""
    return _vgg("vgg11", False, num_classes, in_channels, dropout, ndim)


def vgg11_bn(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5, ndim: int = 2) -> VGG:
    """VGG-11 with batch norm after every convolution."""
    return _vgg("vgg11", True, num_classes, in_channels, dropout, ndim)


def vgg13(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5, ndim: int = 2) -> VGG:
    """VGG-13 (configuration B)."""
    return _vgg("vgg13", False, num_classes, in_channels, dropout, ndim)


def vgg13_bn(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5, ndim: int = 2) -> VGG:
    """VGG-13 with batch norm."""
    return _vgg("vgg13", True, num_classes, in_channels, dropout, ndim)


def vgg16(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5, ndim: int = 2) -> VGG:
    """VGG-16 (configuration D): 138,357,544 parameters at the defaults.

    >>> vgg16(num_classes=10, ndim=1).classifier[0].weight.shape
    (4096, 3584)
    """
    return _vgg("vgg16", False, num_classes, in_channels, dropout, ndim)


def vgg16_bn(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5, ndim: int = 2) -> VGG:
    """VGG-16 with batch norm."""
    return _vgg("vgg16", True, num_classes, in_channels, dropout, ndim)


def vgg19(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5, ndim: int = 2) -> VGG:
    """VGG-19 (configuration E)."""
    return _vgg("vgg19", False, num_classes, in_channels, dropout, ndim)


def vgg19_bn(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5, ndim: int = 2) -> VGG:
    """VGG-19 with batch norm."""
    return _vgg("vgg19", True, num_classes, in_channels, dropout, ndim)
