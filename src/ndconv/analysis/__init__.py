"""Analysis tools: a convolution as a matrix, kernel composition, classic kernels, equivariance.

>>> from ndconv.analysis import conv_matrix, sobel
>>> conv_matrix((1, 5, 5), sobel(2, axis=1)[None, None], padding="same").shape
(25, 25)
"""

from . import kernels
from .conv_matrix import conv_matrix
from .equivariance import shift_equivariance_error
from .kernels import (
    box,
    compose_kernels,
    compose_weights,
    edges,
    gaussian,
    laplacian,
    prewitt,
    scharr,
    sharpen,
    sobel,
)
from .receptive_field import ReceptiveField, receptive_field, receptive_field_for_unit
from .summary import Summary, meta_init, summary

__all__ = [
    "conv_matrix",
    *kernels.__all__,
    "shift_equivariance_error",
    "summary",
    "Summary",
    "meta_init",
    "receptive_field",
    "receptive_field_for_unit",
    "ReceptiveField",
]
