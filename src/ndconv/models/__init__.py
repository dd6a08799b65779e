"""Model zoo: classic architectures built from ``ndconv.nn`` layers.

Names and layouts follow torchvision where it has the model, so state dicts map by name.
:func:`get_model` builds any of them by name (``MODEL_NAMES`` lists the names).

>>> from ndconv.models import lenet5
>>> lenet5().num_parameters()
61706
>>> get_model("resnet18", num_classes=10, ndim=1).fc.weight.shape
(10, 512)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..nn import Module
from .alexnet import AlexNet, alexnet
from .autoencoder import ConvAutoencoder, autoencoder
from .lenet import LeNet5, lenet5
from .resnet import (
    BasicBlock,
    Bottleneck,
    ResNet,
    resnet18,
    resnet18_cifar,
    resnet34,
    resnet50,
    resnet101,
    resnet152,
)
from .unet import Concat, UNet, unet
from .vgg import (
    VGG,
    vgg11,
    vgg11_bn,
    vgg13,
    vgg13_bn,
    vgg16,
    vgg16_bn,
    vgg19,
    vgg19_bn,
)

_REGISTRY: dict[str, Callable[..., Module]] = {
    "lenet5": lenet5,
    "alexnet": alexnet,
    "vgg11": vgg11, "vgg11_bn": vgg11_bn, "vgg13": vgg13, "vgg13_bn": vgg13_bn,
    "vgg16": vgg16, "vgg16_bn": vgg16_bn, "vgg19": vgg19, "vgg19_bn": vgg19_bn,
    "resnet18": resnet18, "resnet34": resnet34, "resnet50": resnet50, "resnet101": resnet101,
    "resnet152": resnet152, "resnet18_cifar": resnet18_cifar,
    "autoencoder": autoencoder,
    "unet": unet,
}

MODEL_NAMES: tuple[str, ...] = tuple(_REGISTRY)


def get_model(name: str, **kwargs: Any) -> Module:
    """Build the model called ``name`` (one of ``MODEL_NAMES``) with the builder's keywords.

    Raises:
        ValueError: for an unknown name (the message lists the known ones).
    """
    try:
        builder = _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"get_model: unknown model `name`; got name={name!r}. Known: {', '.join(MODEL_NAMES)}."
        ) from None
    return builder(**kwargs)


__all__ = [
    "MODEL_NAMES", "get_model",
    "LeNet5", "lenet5", "AlexNet", "alexnet", "VGG", "vgg11", "vgg11_bn", "vgg13", "vgg13_bn",
    "vgg16", "vgg16_bn", "vgg19", "vgg19_bn", "ResNet", "BasicBlock", "Bottleneck", "resnet18",
    "resnet34", "resnet50", "resnet101", "resnet152", "resnet18_cifar", "ConvAutoencoder",
    "autoencoder", "UNet", "Concat", "unet",
]
