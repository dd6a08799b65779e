"""Model zoo: classic architectures built from ``ndconv.nn`` layers.

>>> from ndconv.models import lenet5
>>> lenet5().num_parameters()
61706
"""

from .lenet import LeNet5, lenet5

__all__ = ["LeNet5", "lenet5"]
