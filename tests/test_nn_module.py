"""Module: registration, names, state dicts, modes, freezing, hooks, repr."""

from __future__ import annotations

import numpy as np
import pytest

import ndconv as nc
import ndconv.nn as nn


def _net():
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.5), nn.Linear(4 * 4 * 4, 3),
    )


def test_named_parameters_and_buffers():
    net = _net()
    assert [n for n, _ in net.named_parameters()] == [
        "0.weight", "0.bias", "1.weight", "1.bias", "6.weight", "6.bias"]
    assert [n for n, _ in net.named_buffers()] == [
        "1.running_mean", "1.running_var", "1.num_batches_tracked"]
    assert list(net.state_dict()) == [
        "0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
        "1.num_batches_tracked", "6.weight", "6.bias"]
    assert len(list(net.children())) == 7
    assert [n for n, _ in net.named_modules()][:2] == ["", "0"]


def test_state_dict_round_trip_copies():
    a, b = _net(), _net()
    sd = a.state_dict()
    sd["0.weight"][...] = 0  # a copy: the model is untouched
    assert np.abs(a[0].weight.data).sum() > 0
    b.load_state_dict(a.state_dict())
    for (k, va), (_, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        np.testing.assert_array_equal(va, vb, err_msg=k)


def test_load_state_dict_errors_leave_model_unchanged():
    net = _net()
    before = net.state_dict()
    sd = _net().state_dict()
    del sd["0.bias"]
    sd["extra"] = np.zeros(1)
    sd["6.weight"] = np.zeros((2, 2), np.float32)
    with pytest.raises(ValueError) as e:
        net.load_state_dict(sd)
    msg = str(e.value)
    assert "missing keys: 0.bias" in msg and "unexpected keys: extra" in msg
    assert "6.weight: expected shape (3, 64), got shape (2, 2)" in msg
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    # non-strict still refuses shape mismatches but reports missing/unexpected keys
    sd["6.weight"] = np.zeros((3, 64), np.float32)
    res = net.load_state_dict(sd, strict=False)
    assert res.missing_keys == ["0.bias"] and res.unexpected_keys == ["extra"]


def test_train_eval_switches_dropout_and_batchnorm():
    net = _net()
    x = nc.randn(8, 1, 8, 8)
    assert net.training and all(m.training for m in net.modules())
    net.eval()
    assert not any(m.training for m in net.modules())
    np.testing.assert_array_equal(net(x).data, net(x).data)  # deterministic in eval
    rm = net[1].running_mean.copy()
    net(x)
    np.testing.assert_array_equal(net[1].running_mean, rm)  # eval does not update stats
    net.train()
    net(x)
    assert not np.array_equal(net[1].running_mean, rm)
    assert int(net[1].num_batches_tracked) == 1


def test_freeze_and_zero_grad():
    net = _net()
    net[0].requires_grad_(False)
    net(nc.randn(2, 1, 8, 8)).sum().backward()
    assert net[0].weight.grad is None and net[6].weight.grad is not None
    assert net.num_parameters(trainable_only=True) == net.num_parameters() - 4 * 9 - 4
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_forward_hook_and_removal():
    net = _net()
    seen = []
    h = net[2].register_forward_hook(lambda m, inp, out: seen.append(out.shape))
    net(nc.randn(2, 1, 8, 8))
    h.remove()
    net(nc.randn(2, 1, 8, 8))
    assert seen == [(2, 4, 8, 8)]


def test_hook_can_replace_output():
    lin = nn.Linear(2, 2)
    lin.register_forward_hook(lambda m, i, o: o * 0.0)
    assert lin(nc.ones(1, 2)).tolist() == [[0.0, 0.0]]


def test_to_double_keeps_identity():
    net = _net()
    p = net[0].weight
    net.double()
    assert net[0].weight is p and p.dtype == np.float64
    assert net[1].running_mean.dtype == np.float64
    assert net[1].num_batches_tracked.dtype == np.int64
    assert net(nc.tensor(np.zeros((2, 1, 8, 8)))).dtype == np.float64


def test_apply_and_custom_module_registration():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(2, 2, 1)
            self.scale = nc.tensor(np.ones(2, np.float32), requires_grad=True)
            self.not_a_param = nc.tensor(np.ones(2, np.float32))
            self.register_buffer("count", np.zeros(()))

        def forward(self, x):
            return self.conv(x)

    b = Block()
    assert [n for n, _ in b.named_parameters()] == ["scale", "conv.weight", "conv.bias"]
    assert list(b.state_dict()) == ["scale", "count", "conv.weight", "conv.bias"]
    names = []
    b.apply(lambda m: names.append(type(m).__name__))
    assert names == ["Conv2d", "Block"]


def test_setattr_before_init_raises():
    class Bad(nn.Module):
        def __init__(self):
            self.conv = nn.Conv2d(1, 1, 1)

    with pytest.raises(AttributeError, match="super"):
        Bad()


def test_repr_nested_pytorch_style():
    net = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2, bias=False), nn.ReLU())
    assert repr(net) == (
        "Sequential(\n"
        "  (0): Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2), bias=False)\n"
        "  (1): ReLU()\n"
        ")"
    )


def test_sequential_indexing():
    net = _net()
    assert len(net) == 7 and isinstance(net[-1], nn.Linear)
    assert isinstance(net[1:3], nn.Sequential) and len(net[1:3]) == 2
    net.append(nn.Softmax(dim=1))
    assert len(net) == 8 and net(nc.randn(2, 1, 8, 8)).shape == (2, 3)
    with pytest.raises(IndexError):
        net[8]
    with pytest.raises(TypeError, match="Modules"):
        nn.Sequential(lambda x: x)


def test_replacing_a_sequential_layer_keeps_its_position() -> None:
    import ndconv.nn as nn

    s = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 4))
    s[0] = nn.Linear(2, 3)
    assert list(s._modules) == ["0", "1", "2"]
    assert s(nc.zeros(1, 2)).shape == (1, 4)
    m = nn.Linear(2, 3)
    names = [n for n, _ in m.named_parameters()]
    m.weight = nn.Parameter(np.zeros((3, 2), np.float32))
    assert [n for n, _ in m.named_parameters()] == names
