"""Seeing inside a network: activations, feature maps, filters, feature visualisation, saliency.

NumPy-only: :func:`capture`, :func:`filter_grid_array`, :func:`confusion_matrix`,
:func:`visualize_feature`, :func:`irfftn`, :func:`saliency`. Drawing (the functions returning a
``matplotlib.figure.Figure``) needs the ``plot`` extra: ``pip install "ndconv[plot]"``;
matplotlib is imported only when a figure is drawn.

>>> import ndconv as nc, ndconv.nn as nn
>>> import numpy as np
>>> from ndconv import viz
>>> nc.manual_seed(0)
>>> net = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2))
>>> viz.capture(net, np.zeros((1, 1, 28, 28), np.float32), layers="2")["2"].shape
(1, 6, 14, 14)
>>> viz.filter_grid_array(net[0]).shape
(13, 19)
"""

from . import plots
from .capture import capture, leaf_layers
from .feature_vis import irfftn, spectrum_scale, visualize_feature
from .plots import (
    confusion_matrix,
    feature_maps,
    filter_grid_array,
    filters,
    plot_confusion_matrix,
    training_curves,
)
from .saliency import saliency

__all__ = [
    "capture",
    "leaf_layers",
    *plots.__all__,
    "visualize_feature",
    "irfftn",
    "spectrum_scale",
    "saliency",
]
