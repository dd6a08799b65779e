"""LeNet-5: parameter counts, shapes, input checks, and that a few SGD steps learn."""

from __future__ import annotations

import numpy as np
import pytest

import ndconv as nc
import ndconv.nn.functional as F
from ndconv.models import lenet5
from ndconv.optim import SGD


def test_modern_count_is_61706():
    m = lenet5()
    assert m.num_parameters() == 61_706
    names = [n for n, _ in m.named_parameters()]
    assert names[:2] == ["features.0.weight", "features.0.bias"]


def test_1998_count_is_60000_and_decomposes_as_the_paper():
    m = lenet5(variant="1998")
    assert m.num_parameters() == 60_000
    per = {}
    for name, p in m.named_parameters():
        layer = name.split(".")[1]
        per[layer] = per.get(layer, 0) + p.size
    assert per == {"C1": 156, "S2": 12, "C3": 1516, "S4": 32, "C5": 48120, "F6": 10164}


@pytest.mark.parametrize("variant", ["modern", "1998"])
def test_forward_backward_shapes(variant):
    m = lenet5(num_classes=7, variant=variant)
    y = m(nc.randn(4, 1, 28, 28))
    assert y.shape == (4, 7)
    y.sum().backward()
    assert all(p.grad is not None and p.grad.shape == p.shape for p in m.parameters())


@pytest.mark.parametrize("shape", [(2, 3, 28, 28), (2, 1, 64, 64), (1, 28, 28), (2, 1, 32, 32)])
def test_wrong_input_shape_raises(shape):
    with pytest.raises(ValueError, match=r"lenet5: expects input \(N, 1, 28, 28\)"):
        lenet5()(np.zeros(shape, np.float32))


def test_bad_variant():
    with pytest.raises(ValueError, match="variant"):
        lenet5(variant="2012")


def test_c3_connection_pattern():
    """The dense C3 weight is zero exactly where Table I has no connection."""
    from ndconv.models.lenet import C3_TABLE

    c3 = lenet5(variant="1998").features.C3
    dense = (c3.scatter @ c3.weight.data).reshape(16, 6, 5, 5)
    for o in range(16):
        for i in range(6):
            assert (np.abs(dense[o, i]).sum() > 0) == (i in C3_TABLE[o])


@pytest.mark.parametrize("variant", ["modern", "1998"])
def test_sgd_steps_reduce_loss(variant):
    nc.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 1, 28, 28)).astype(np.float32)
    t = rng.integers(0, 10, 16)
    m = lenet5(variant=variant)
    opt = SGD(m.parameters(), lr=0.05 if variant == "modern" else 1e-3, momentum=0.9)
    losses = []
    for _ in range(10):
        loss = F.cross_entropy(m(x), t)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.9 * losses[0], losses
