"""Initialisation: PyTorch's bounds, reproducibility under manual_seed, the init functions."""

from __future__ import annotations

import math

import numpy as np
import pytest

import ndconv as nc
import ndconv.nn as nn
from ndconv.nn import init


@pytest.mark.parametrize(
    "make, fan_in",
    [
        (lambda: nn.Conv2d(6, 16, 5), 6 * 25),
        (lambda: nn.Conv2d(8, 16, 3, groups=4), 2 * 9),
        (lambda: nn.Conv(4, 32, (3, 3, 3, 3)), 4 * 81),
        (lambda: nn.Linear(400, 120), 400),
        # ConvTranspose: fan_in from weight.shape[1] * prod(K) = out_channels / groups * prod(K)
        (lambda: nn.ConvTranspose2d(16, 8, 4), 8 * 16),
        (lambda: nn.ConvTranspose2d(16, 8, 4, groups=2), 4 * 16),
    ],
)
def test_uniform_bound_is_one_over_sqrt_fan_in(make, fan_in):
    nc.manual_seed(0)
    layer = make()
    bound = 1 / math.sqrt(fan_in)
    for p in (layer.weight, layer.bias):
        assert np.abs(p.data).max() <= bound
    w = layer.weight.data
    if w.size > 500:  # U(-b, b): the extremes are reached and the variance is b^2 / 3
        assert np.abs(w).max() > 0.95 * bound
        assert abs(w.var() - bound**2 / 3) < 0.1 * bound**2 / 3
        assert abs(w.mean()) < 0.05 * bound


def test_batchnorm_init():
    bn = nn.BatchNorm2d(5)
    np.testing.assert_array_equal(bn.weight.data, np.ones(5))
    np.testing.assert_array_equal(bn.bias.data, np.zeros(5))
    np.testing.assert_array_equal(bn.running_var, np.ones(5))


def test_manual_seed_reproduces_weights():
    nc.manual_seed(42)
    a = nn.Conv2d(3, 4, 3).state_dict()
    nc.manual_seed(42)
    b = nn.Conv2d(3, 4, 3).state_dict()
    nc.manual_seed(43)
    c = nn.Conv2d(3, 4, 3).state_dict()
    np.testing.assert_array_equal(a["weight"], b["weight"])
    assert not np.array_equal(a["weight"], c["weight"])


def test_dtype_float64():
    layer = nn.Conv2d(2, 3, 3, dtype=np.float64)
    assert layer.weight.dtype == np.float64 and layer.bias.dtype == np.float64
    assert "dtype=float64" in repr(layer)


def test_init_functions():
    nc.manual_seed(0)
    w = nc.zeros(256, 128, 3)
    init.kaiming_normal_(w, nonlinearity="relu")
    assert abs(w.data.std() - math.sqrt(2 / (128 * 3))) < 0.02 * math.sqrt(2 / (128 * 3))
    init.kaiming_uniform_(w, mode="fan_out", nonlinearity="relu")
    assert np.abs(w.data).max() <= math.sqrt(2) * math.sqrt(3 / (256 * 3))
    init.xavier_uniform_(w)
    assert np.abs(w.data).max() <= math.sqrt(6 / (128 * 3 + 256 * 3))
    init.zeros_(w)
    assert not w.data.any()
    init.ones_(w)
    assert (w.data == 1).all()
    init.normal_(w, 2.0, 0.5)
    assert abs(w.data.mean() - 2) < 0.01
    init.uniform_(w, -3, -2)
    assert w.data.min() >= -3 and w.data.max() <= -2
    assert w.dtype == np.float32
    with pytest.raises(ValueError, match="`mode` must be 'fan_in' or 'fan_out'"):
        init.kaiming_uniform_(w, mode="fan_avg")
    with pytest.raises(ValueError, match="at least 2 axes"):
        init.xavier_uniform_(nc.zeros(3))
