"""AlexNet (Krizhevsky, Sutskever & Hinton, 2012), in torchvision's single-tower form.

Parameter names are torchvision's (``features.0.weight`` ... ``classifier.6.bias``), so a
torchvision ``state_dict`` loads by name. With ``ndim != 2`` every convolution and pool takes
that rank (a 1-D or 3-D AlexNet); the classifier reads ``256 * 6**ndim`` features.
"""

from __future__ import annotations

from typing import Any

from .. import nn
from ..autograd import Tensor
from ._checks import check_arch_args

__all__ = ["AlexNet", "alexnet"]


class AlexNet(nn.Module):
    """``features`` (5 convolutions, 3 max-pools) -> ``avgpool`` (adaptive, 6 per axis) ->
    ``flatten`` -> ``classifier`` (3 dense layers with dropout).

    Shapes:
        ``(N, in_channels, *S) -> (N, num_classes)``; ``S`` at least 63 per axis
        (224 per axis is the native size).
    """

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5,
                 ndim: int = 2) -> None:
        super().__init__()
        check_arch_args("alexnet", num_classes=num_classes, in_channels=in_channels, ndim=ndim)
        self.ndim = ndim

        def conv(cin: int, cout: int, k: int, s: int = 1, p: int = 0) -> nn.Conv:
            return nn.Conv(cin, cout, k, stride=s, padding=p, ndim=ndim)

        def pool() -> nn.MaxPool:
            return nn.MaxPool(3, stride=2, ndim=ndim)

        self.features = nn.Sequential(
            conv(in_channels, 64, 11, 4, 2), nn.ReLU(), pool(),
            conv(64, 192, 5, p=2), nn.ReLU(), pool(),
            conv(192, 384, 3, p=1), nn.ReLU(),
            conv(384, 256, 3, p=1), nn.ReLU(),
            conv(256, 256, 3, p=1), nn.ReLU(), pool(),
        )
        self.avgpool = nn.AdaptiveAvgPool((6,) * ndim)
        self.flatten = nn.Flatten()
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(256 * 6**ndim, 4096), nn.ReLU(),
            nn.Dropout(dropout), nn.Linear(4096, 4096), nn.ReLU(),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: Any) -> Tensor:
        return self.classifier(self.flatten(self.avgpool(self.features(x))))  # type: ignore[no-any-return]


def alexnet(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5, ndim: int = 2) -> AlexNet:
    """Build AlexNet: ``(N, in_channels, 224, 224) -> (N, num_classes)``; 61,100,840 parameters
    with the defaults (torchvision's count).

    >>> alexnet(num_classes=10, ndim=1).classifier[6].weight.shape
    (10, 4096)
    """
    return AlexNet(num_classes, in_channels, dropout, ndim)
