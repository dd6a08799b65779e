"""Optimisers and learning-rate schedules, with PyTorch's update formulas.

>>> import ndconv as nc
>>> from ndconv import nn, optim
>>> model = nn.Linear(3, 1)
>>> opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
>>> loss = (model(nc.ones(4, 3)) ** 2).mean()
>>> opt.zero_grad(); loss.backward(); opt.step()
"""

from .adam import Adam, AdamW
from .lr_scheduler import CosineAnnealingLR, LRScheduler, OneCycleLR, StepLR
from .optimizer import Optimizer, flatten_state, unflatten_state
from .sgd import SGD

__all__ = [
    "Optimizer", "SGD", "Adam", "AdamW", "LRScheduler", "StepLR", "CosineAnnealingLR",
    "OneCycleLR", "flatten_state", "unflatten_state",
]
