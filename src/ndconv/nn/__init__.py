"""Neural-network building blocks: ``Module``, layers, containers; ``functional`` holds the ops.

>>> import ndconv as nc
>>> import ndconv.nn as nn
>>> net = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
>>> net(nc.zeros(1, 1, 28, 28)).shape
(1, 1176)
"""

from . import functional, init
from .activation import GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .container import Add, ModuleList, Residual, Sequential
from .conv import (
    Conv,
    Conv1d,
    Conv2d,
    Conv3d,
    ConvTranspose,
    ConvTranspose1d,
    ConvTranspose2d,
    ConvTranspose3d,
)
from .linear import Flatten, Identity, Linear
from .module import IncompatibleKeys, Module, Parameter, RemovableHandle, StateDictError
from .norm import BatchNorm, BatchNorm1d, BatchNorm2d, BatchNorm3d, Dropout
from .pool import (
    AdaptiveAvgPool,
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AdaptiveAvgPool3d,
    AdaptiveMaxPool,
    AdaptiveMaxPool1d,
    AdaptiveMaxPool2d,
    AdaptiveMaxPool3d,
    AvgPool,
    AvgPool1d,
    AvgPool2d,
    AvgPool3d,
    GlobalAvgPool,
    GlobalMaxPool,
    MaxPool,
    MaxPool1d,
    MaxPool2d,
    MaxPool3d,
    MaxUnpool,
    MaxUnpool1d,
    MaxUnpool2d,
    MaxUnpool3d,
)

__all__ = [
    "functional", "init", "Module", "Parameter", "RemovableHandle", "IncompatibleKeys",
    "StateDictError",
    "Conv", "Conv1d", "Conv2d", "Conv3d",
    "ConvTranspose", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
    "MaxPool", "MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool", "AvgPool1d", "AvgPool2d",
    "AvgPool3d", "MaxUnpool", "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d",
    "AdaptiveAvgPool", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d",
    "AdaptiveMaxPool", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d",
    "GlobalAvgPool", "GlobalMaxPool",
    "Linear", "Flatten", "Identity",
    "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "GELU", "Softmax", "LogSoftmax",
    "BatchNorm", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "Dropout",
    "Sequential", "ModuleList", "Residual", "Add",
]
