"""Tests of ndconv.viz: capture, figures (Agg), filter grids, saliency, confusion matrix."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import ndconv as nc
import ndconv.nn as nn
from ndconv import viz

pytest.importorskip("matplotlib")


def net2d():
    nc.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Sequential(nn.Conv2d(6, 20, 3), nn.ReLU()), nn.Flatten(), nn.Linear(20 * 2 * 2, 4),
    )


def test_capture_default_leaf_layers_and_hooks_removed():
    net = net2d()
    acts = viz.capture(net, np.ones((2, 1, 8, 8), np.float32))
    assert list(acts) == ["0", "1", "2", "3.0", "3.1", "4", "5"]
    assert acts["3.0"].shape == (2, 20, 2, 2) and acts["5"].shape == (2, 4)
    assert all(not m._forward_hooks for m in net.modules())
    # values are those of the forward pass
    with nc.no_grad():
        np.testing.assert_allclose(acts["5"], net(nc.ones(2, 1, 8, 8)).data)


def test_capture_chosen_layers_and_unknown_name():
    net = net2d()
    acts = viz.capture(net, np.ones((1, 1, 8, 8), np.float32), layers=["3", "0"])
    assert list(acts) == ["3", "0"]
    with pytest.raises(ValueError, match="nope"):
        viz.capture(net, np.ones((1, 1, 8, 8), np.float32), layers="nope")
    assert all(not m._forward_hooks for m in net.modules())


def test_feature_maps_axes_count(tmp_path):
    net = net2d()
    x = np.random.default_rng(0).random((2, 1, 8, 8), dtype=np.float32)
    fig = viz.feature_maps(net, x, max_channels=16, path=tmp_path / "maps.png")
    # default: leaf layers with spatial axes: 0,1,2 (6 channels each), 3.0, 3.1 (16 of 20)
    assert len(fig.axes) == 3 * 6 + 2 * 16
    assert (tmp_path / "maps.png").stat().st_size > 0
    fig = viz.feature_maps(net, x, layers=["0", "5"], max_channels=4, index=1)
    assert len(fig.axes) == 4 + 1  # the (N, 4) logits: one curve panel


def test_feature_maps_1d_and_3d():
    nc.manual_seed(0)
    net1 = nn.Sequential(nn.Conv1d(2, 5, 3), nn.ReLU())
    assert len(viz.feature_maps(net1, np.ones((1, 2, 16), np.float32)).axes) == 10
    net3 = nn.Sequential(nn.Conv3d(1, 3, 3))
    fig = viz.feature_maps(net3, np.ones((1, 1, 6, 6, 6), np.float32))
    assert len(fig.axes) == 3
    assert fig.axes[0].images[0].get_array().shape == (4, 4)  # the middle slice


def test_filters_axes_and_kinds():
    nc.manual_seed(0)
    rgb = nn.Conv2d(3, 10, 5)
    fig = viz.filters(rgb)
    assert len(fig.axes) == 10
    assert fig.axes[0].images[0].get_array().shape == (5, 5, 3)
    assert len(viz.filters(nn.Conv2d(4, 70, 3), max_filters=64).axes) == 64
    fig1 = viz.filters(nn.Conv1d(2, 5, 7))
    assert len(fig1.axes) == 5 and len(fig1.axes[0].lines) == 2 + 1  # 2 channels + zero line
    fig3 = viz.filters(nn.Conv3d(2, 3, 3).weight)
    assert len(fig3.axes) == 3


@pytest.mark.parametrize(
    "shape, expected",
    [
        ((6, 1, 5, 5), (2 * 6 + 1, 3 * 6 + 1)),                 # gray, 3x2 grid
        ((4, 2, 3, 3), (2 * 4 + 1, 2 * (2 * 4 - 1 + 1) + 1)),   # 2 channels side by side
        ((8, 3, 3, 3), (3 * 4 + 1, 3 * 4 + 1, 3)),              # RGB, 3x3 grid
        ((4, 2, 7), (2 * 3 + 1, 2 * 8 + 1)),                    # 1-D: (C_in, K) heat maps
        ((2, 1, 3, 4, 5), (1 * 5 + 1, 2 * (3 * 6 - 1 + 1) + 1)),  # 3-D: depth slices
        ((2, 3, 2, 4, 4), (1 * 5 + 1, 2 * (2 * 5 - 1 + 1) + 1, 3)),  # 3-D RGB slices
        ((3, 2, 2, 3, 3), (2 * (2 * 4 - 1 + 1) + 1, 2 * (2 * 4 - 1 + 1) + 1)),  # 3-D, 2 channels
    ],
)
def test_filter_grid_array_shapes(shape, expected):
    grid = viz.filter_grid_array(np.random.default_rng(0).standard_normal(shape))
    assert grid.shape == expected
    assert grid.min() >= 0 and grid.max() <= 1


def test_filter_grid_array_values_and_errors():
    w = np.zeros((1, 1, 2, 2))
    w[0, 0] = [[0, 1], [2, 4]]
    grid = viz.filter_grid_array(w, pad=0)
    np.testing.assert_allclose(grid, [[0, 0.25], [0.5, 1]])
    assert viz.filter_grid_array(np.ones((3, 3, 3, 3)), rgb=False).ndim == 2
    with pytest.raises(ValueError, match="shape"):
        viz.filter_grid_array(np.ones((3, 3)))
    with pytest.raises(ValueError, match="rgb"):
        viz.filter_grid_array(np.ones((3, 2, 3, 3)), rgb=True)


def test_training_curves_both_forms(tmp_path):
    d = {"train_loss": [1.0, 0.5, 0.3], "test_loss": [1.1, 0.7, 0.5], "test_acc": [0.5, 0.8, 0.9]}
    fig = viz.training_curves(d)
    assert len(fig.axes) == 2
    assert len(fig.axes[0].lines) == 2
    rows = [{"epoch": e, "train_loss": l, "train_acc": a, "note": "x"}
            for e, l, a in [(1, 1.0, 0.5), (2, 0.6, 0.7)]]
    fig = viz.training_curves(rows, path=tmp_path / "c.png")
    assert len(fig.axes) == 2 and (tmp_path / "c.png").exists()
    with pytest.raises(TypeError, match="metrics"):
        viz.training_curves(3)


def test_confusion_matrix_counts_and_plot():
    y_true = np.array([0, 0, 1, 2, 2, 2])
    y_pred = np.array([0, 1, 1, 2, 0, 2])
    cm = viz.confusion_matrix(y_true, y_pred, 4)
    expected = np.zeros((4, 4), int)
    for t, p in zip(y_true, y_pred):
        expected[t, p] += 1
    np.testing.assert_array_equal(cm, expected)
    assert cm.sum() == 6
    with pytest.raises(ValueError, match="y_pred"):
        viz.confusion_matrix(y_true, y_pred + 2, 3)
    fig = viz.plot_confusion_matrix(cm, class_names=list("abcd"), normalize=True)
    assert len(fig.axes) == 2  # the matrix and its colour bar
    with pytest.raises(ValueError, match="class_names"):
        viz.plot_confusion_matrix(cm, class_names=["a"])


def test_missing_matplotlib_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    with pytest.raises(ImportError, match=r'pip install "ndconv\[plot\]"'):
        viz.training_curves({"loss": [1.0]})


@pytest.mark.parametrize("method", ["gradient", "gradient_x_input"])
def test_saliency_shapes_and_finite_differences(method):
    nc.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.Tanh(), nn.Flatten(), nn.Linear(3 * 5 * 5, 4))
    for p in net.parameters():
        p.data = p.data.astype(np.float64)
    x = np.random.default_rng(1).standard_normal((2, 2, 5, 5))
    target = np.array([3, 1])
    s = viz.saliency(net, x, target, method=method)
    assert s.shape == x.shape and s.dtype == np.float64
    assert all(p.grad is None for p in net.parameters())

    def logit(xx, n):
        with nc.no_grad():
            return net(nc.tensor(xx)).data[n, target[n]]

    h = 1e-6
    for idx in [(0, 0, 2, 2), (1, 1, 0, 4), (0, 1, 4, 0)]:
        xp, xm = x.copy(), x.copy()
        xp[idx] += h
        xm[idx] -= h
        fd = (logit(xp, idx[0]) - logit(xm, idx[0])) / (2 * h)
        if method == "gradient_x_input":
            fd *= x[idx]
        np.testing.assert_allclose(s[idx], fd, rtol=1e-6, atol=1e-9)
    with pytest.raises(ValueError, match="target"):
        viz.saliency(net, x, 9)
    with pytest.raises(ValueError, match="method"):
        viz.saliency(net, x, 0, method="smooth")
