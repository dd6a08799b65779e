"""ResNet (He, Zhang, Ren & Sun, 2016) in torchvision's layout, any number of spatial axes.

Parameter names are torchvision's (``conv1.weight``, ``bn1.running_mean``,
``layer1.0.conv1.weight``, ``layer2.0.downsample.0.weight``, ``fc.weight``), so its
``state_dict`` loads by name. As in torchvision: no convolution bias before a batch norm, and
the bottleneck strides on its 3x3 convolution ("ResNet v1.5"), not on the first 1x1.

``ndim=1`` gives a ResNet for signals ``(N, C, L)``, ``ndim=3`` one for volumes
``(N, C, D, H, W)``: every convolution, pool and batch norm takes the rank.
:func:`resnet18_cifar` is the CIFAR-sized variant (3x3 stem with stride 1, no max-pool).
"""

from __future__ import annotations

from typing import Any

from .. import nn
from ..autograd import Tensor
from ._checks import check_arch_args

__all__ = [
    "BasicBlock", "Bottleneck", "ResNet", "resnet18", "resnet34", "resnet50", "resnet101",
    "resnet152", "resnet18_cifar",
]


def _conv(cin: int, cout: int, k: int, stride: int, ndim: int) -> nn.Conv:
    # padding k // 2 keeps the size for stride 1 and halves it (rounding up) for stride 2.
    return nn.Conv(cin, cout, k, stride=stride, padding=k // 2, bias=False, ndim=ndim)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm, plus the shortcut.

    ``out = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))``.

    ``downsample`` (1x1 convolution + batch norm) projects the shortcut when the stride or the
    width changes. Shapes: ``(N, inplanes, *S) -> (N, planes, *ceil(S / stride))``.
    """

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None, ndim: int = 2) -> None:
        super().__init__()
        self.conv1 = _conv(inplanes, planes, 3, stride, ndim)
        self.bn1 = nn.BatchNorm(planes)
        self.relu = nn.ReLU()
        self.conv2 = _conv(planes, planes, 3, 1, ndim)
        self.bn2 = nn.BatchNorm(planes)
        if downsample is None:
            self.add_module("downsample", None)
        else:
            self.downsample = downsample
        self.stride = stride

    def last_bn(self) -> nn.BatchNorm:
        return self.bn2  # type: ignore[no-any-return]

    def forward(self, x: Any) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)  # type: ignore[no-any-return]


class Bottleneck(nn.Module):
    """1x1 (reduce) -> 3x3 (stride here, torchvision's v1.5) -> 1x1 (expand x4), plus the shortcut.

    Shapes: ``(N, inplanes, *S) -> (N, 4 * planes, *ceil(S / stride))``.
    """

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None, ndim: int = 2) -> None:
        super().__init__()
        self.conv1 = _conv(inplanes, planes, 1, 1, ndim)
        self.bn1 = nn.BatchNorm(planes)
        self.conv2 = _conv(planes, planes, 3, stride, ndim)
        self.bn2 = nn.BatchNorm(planes)
        self.conv3 = _conv(planes, planes * self.expansion, 1, 1, ndim)
        self.bn3 = nn.BatchNorm(planes * self.expansion)
        self.relu = nn.ReLU()
        if downsample is None:
            self.add_module("downsample", None)
        else:
            self.downsample = downsample
        self.stride = stride

    def last_bn(self) -> nn.BatchNorm:
        return self.bn3  # type: ignore[no-any-return]

    def forward(self, x: Any) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)  # type: ignore[no-any-return]


class ResNet(nn.Module):
    """Stem (``conv1``, ``bn1``, ``relu``, ``maxpool``) -> ``layer1..layer4`` -> ``avgpool``
    (global, adaptive to 1) -> ``flatten`` -> ``fc``.

    Args:
        block: :class:`BasicBlock` or :class:`Bottleneck`.
        layers: blocks per stage, e.g. ``(2, 2, 2, 2)`` for ResNet-18.
        num_classes, in_channels: sizes of the head and of the input.
        zero_init_residual: start the last batch norm of every block at weight 0, so each
            block begins as the identity (Goyal et al., 2017).
        ndim: number of spatial axes.
        small_input: CIFAR stem -- a 3x3 convolution with stride 1 and no max-pool.

    Initialisation: the layers' defaults (PyTorch's), batch norm weight 1 and bias 0.
    """

    def __init__(self, block: type[BasicBlock] | type[Bottleneck], layers: tuple[int, ...],
                 num_classes: int = 1000, in_channels: int = 3, zero_init_residual: bool = False,
                 ndim: int = 2, small_input: bool = False) -> None:
        super().__init__()
        check_arch_args("resnet", num_classes=num_classes, in_channels=in_channels, ndim=ndim)
        if len(layers) != 4 or any(not isinstance(n, int) or n < 1 for n in layers):
            raise ValueError(f"resnet: `layers` must be 4 ints >= 1 (blocks per stage); got {layers!r}.")
        self.ndim = ndim
        self.inplanes = 64
        if small_input:
            self.conv1 = _conv(in_channels, 64, 3, 1, ndim)
        else:
            self.conv1 = nn.Conv(in_channels, 64, 7, stride=2, padding=3, bias=False, ndim=ndim)
        self.bn1 = nn.BatchNorm(64)
        self.relu = nn.ReLU()
        self.maxpool = nn.Identity() if small_input else nn.MaxPool(3, stride=2, padding=1, ndim=ndim)
        self.layer1 = self._make_layer(block, 64, layers[0], 1)
        self.layer2 = self._make_layer(block, 128, layers[1], 2)
        self.layer3 = self._make_layer(block, 256, layers[2], 2)
        self.layer4 = self._make_layer(block, 512, layers[3], 2)
        self.avgpool = nn.AdaptiveAvgPool((1,) * ndim)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, (BasicBlock, Bottleneck)):
                    nn.init.zeros_(m.last_bn().weight)

    def _make_layer(self, block: type[BasicBlock] | type[Bottleneck], planes: int, blocks: int,
                    stride: int) -> nn.Sequential:
        ndim = self.ndim
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                _conv(self.inplanes, planes * block.expansion, 1, stride, ndim),
                nn.BatchNorm(planes * block.expansion),
            )
        layers: list[nn.Module] = [block(self.inplanes, planes, stride, downsample, ndim)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes, 1, None, ndim) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: Any) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.flatten(self.avgpool(x)))  # type: ignore[no-any-return]


def resnet18(num_classes: int = 1000, in_channels: int = 3, zero_init_residual: bool = False,
             ndim: int = 2) -> ResNet:
    """ResNet-18: 11,689,512 parameters at the defaults.

    >>> import ndconv as nc
    >>> resnet18(num_classes=5, in_channels=1, ndim=1)(nc.zeros(1, 1, 64)).shape
    (1, 5)
    """
    return ResNet(BasicBlock, (2, 2, 2, 2), num_classes, in_channels, zero_init_residual, ndim)


def resnet34(num_classes: int = 1000, in_channels: int = 3, zero_init_residual: bool = False,
             ndim: int = 2) -> ResNet:
    """ResNet-34: 21,797,672 parameters at the defaults."""
    return ResNet(BasicBlock, (3, 4, 6, 3), num_classes, in_channels, zero_init_residual, ndim)


def resnet50(num_classes: int = 1000, in_channels: int = 3, zero_init_residual: bool = False,
             ndim: int = 2) -> ResNet:
    """ResNet-50 (bottleneck, stride on the 3x3): 25,557,032 parameters at the defaults."""
    return ResNet(Bottleneck, (3, 4, 6, 3), num_classes, in_channels, zero_init_residual, ndim)


def resnet101(num_classes: int = 1000, in_channels: int = 3, zero_init_residual: bool = False,
              ndim: int = 2) -> ResNet:
    """ResNet-101: 44,549,160 parameters at the defaults."""
    return ResNet(Bottleneck, (3, 4, 23, 3), num_classes, in_channels, zero_init_residual, ndim)


def resnet152(num_classes: int = 1000, in_channels: int = 3, zero_init_residual: bool = False,
              ndim: int = 2) -> ResNet:
    """ResNet-152: 60,192,808 parameters at the defaults."""
    return ResNet(Bottleneck, (3, 8, 36, 3), num_classes, in_channels, zero_init_residual, ndim)


def resnet18_cifar(num_classes: int = 10, in_channels: int = 3, zero_init_residual: bool = False,
                   ndim: int = 2) -> ResNet:
    """ResNet-18 for 32x32 images: 3x3 stem with stride 1, no max-pool (11,173,962 parameters
    with 10 classes).

    >>> import ndconv as nc
    >>> resnet18_cifar()(nc.zeros(1, 3, 32, 32)).shape
    (1, 10)
    """
    return ResNet(BasicBlock, (2, 2, 2, 2), num_classes, in_channels, zero_init_residual, ndim,
                  small_input=True)
