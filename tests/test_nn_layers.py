"""Layers: output shapes for ranks 1-4, agreement with PyTorch's layers, hyper-parameter errors."""

from __future__ import annotations

import numpy as np
import pytest

import ndconv as nc
import ndconv.nn as nn
from ndconv.models import lenet5

RNG = np.random.default_rng(1234)


def _x(*shape, dtype=np.float32):
    return nc.tensor(RNG.standard_normal(shape).astype(dtype), requires_grad=True)


# --- shapes -----------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_conv_and_transpose_shapes_any_rank(n):
    x = _x(2, 3, *(6,) * n)
    conv = nn.Conv(3, 4, (3,) * n, stride=2, padding=1)
    assert conv(x).shape == (2, 4, *(3,) * n)
    assert conv.weight.shape == (4, 3, *(3,) * n)
    up = nn.ConvTranspose(4, 2, 2, stride=2, ndim=n)
    assert up(conv(x)).shape == (2, 2, *(6,) * n)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_ranked_aliases(n):
    x = _x(2, 3, *(8,) * n)
    convs = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
    pools = {1: (nn.MaxPool1d, nn.AvgPool1d, nn.AdaptiveAvgPool1d, nn.AdaptiveMaxPool1d),
             2: (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d),
             3: (nn.MaxPool3d, nn.AvgPool3d, nn.AdaptiveAvgPool3d, nn.AdaptiveMaxPool3d)}
    assert convs[n](3, 5, 3, padding="same")(x).shape == (2, 5, *(8,) * n)
    maxp, avgp, aavg, amax = pools[n]
    assert maxp(2)(x).shape == (2, 3, *(4,) * n)
    assert avgp(3, stride=2, padding=1)(x).shape == (2, 3, *(4,) * n)
    assert aavg(3)(x).shape == (2, 3, *(3,) * n)
    assert amax(1)(x).shape == (2, 3, *(1,) * n)
    assert nn.BatchNorm(3)(x).shape == x.shape
    assert nn.GlobalAvgPool()(x).shape == (2, 3)
    assert nn.GlobalMaxPool(keepdims=True)(x).shape == (2, 3, *(1,) * n)
    y, idx = maxp(2, return_indices=True)(x)
    assert nn.MaxUnpool(2, ndim=n)(y, idx).shape == x.shape


def test_generic_pool_takes_rank_from_input():
    pool = nn.MaxPool(2)
    assert pool(_x(1, 1, 8)).shape == (1, 1, 4)
    assert pool(_x(1, 1, 8, 8, 8, 8)).shape == (1, 1, 4, 4, 4, 4)


def test_elementwise_layers_keep_shape():
    x = _x(2, 3, 4)
    for layer in (nn.ReLU(), nn.LeakyReLU(0.2), nn.Sigmoid(), nn.Tanh(), nn.GELU(), nn.Identity(),
                  nn.Softmax(1), nn.LogSoftmax(1), nn.Dropout(0.3)):
        assert layer(x).shape == x.shape, layer


def test_residual_and_add():
    x = _x(1, 4, 5, 5)
    res = nn.Residual(nn.Conv2d(4, 4, 3, padding=1))
    np.testing.assert_allclose(res(x).data, (res.body(x) + x).data, rtol=1e-6)
    proj = nn.Residual(nn.Conv2d(4, 8, 3, padding=1, stride=2), nn.Conv2d(4, 8, 1, stride=2))
    assert proj(x).shape == (1, 8, 3, 3)
    with pytest.raises(ValueError, match="same shape"):
        nn.Residual(nn.Conv2d(4, 8, 1))(x)
    assert nn.Add()(x, x, x).shape == x.shape


def test_modulelist():
    ml = nn.ModuleList([nn.Linear(2, 2), nn.ReLU()])
    ml.append(nn.Linear(2, 1))
    ml.insert(0, nn.Identity())
    assert [type(m).__name__ for m in ml] == ["Identity", "Linear", "ReLU", "Linear"]
    assert [n for n, _ in ml.named_parameters()] == ["1.weight", "1.bias", "3.weight", "3.bias"]


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: nn.Conv(3, 4, 3), r"Conv: give `kernel_size` as a tuple .* or set `ndim`"),
        (lambda: nn.Conv(3, 4, (3, 3), ndim=3), r"`kernel_size` must have 3 entries"),
        (lambda: nn.Conv2d(3, 4, (3, 3, 3)), r"Conv2d: `kernel_size` must have 2 entries"),
        (lambda: nn.Conv2d(3, 4, 3, ndim=3), r"Conv2d: `ndim` must be 2"),
        (lambda: nn.Conv2d(3, 4, 3, groups=2), r"`groups` must divide both in_channels and out_channels.*groups=2.*in_channels=3"),
        (lambda: nn.Conv2d(0, 4, 3), r"`in_channels` must be an int >= 1; got in_channels=0"),
        (lambda: nn.Conv2d(3, 4, 3, stride=0), r"`stride` entries must be >= 1"),
        (lambda: nn.Conv2d(3, 4, 3, padding="full"), r"`padding` string must be 'valid' or 'same'"),
        (lambda: nn.Conv2d(3, 4, 3, padding_mode="mirror"), r"`padding_mode` must be one of"),
        (lambda: nn.ConvTranspose2d(3, 4, 3, stride=2, output_padding=2), r"`output_padding` must be smaller"),
        (lambda: nn.Linear(3, 0), r"Linear: `out_features` must be an int >= 1; got out_features=0"),
        (lambda: nn.BatchNorm2d(4, momentum=2.0), r"`momentum` must be a number in \[0.0, 1.0\]"),
        (lambda: nn.Dropout(1.5), r"Dropout: `p` must be a number in \[0.0, 1.0\]; got p=1.5"),
        (lambda: nn.MaxPool2d((2, 2, 2)), r"MaxPool2d: `kernel_size` must have 2 entries"),
        (lambda: nn.AvgPool2d(2, divisor_override=0), r"`divisor_override` must be an int >= 1"),
        (lambda: nn.AdaptiveAvgPool2d((2, 2, 2)), r"`output_size` must have 2 entries"),
        (lambda: nn.GELU("fast"), r"`approximate` must be 'none' or 'tanh'"),
    ],
)
def test_hyper_parameter_errors(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_call_time_errors():
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected 4-D input; got x.shape=\(2, 3, 4\)"):
        nn.BatchNorm2d(3)(_x(2, 3, 4))
    with pytest.raises(ValueError, match=r"num_features = 3 channels"):
        nn.BatchNorm(3)(_x(2, 4, 4))
    with pytest.raises(ValueError, match=r"MaxPool2d: input must have shape .* 2 spatial axes"):
        nn.MaxPool2d(2)(_x(2, 3, 4, 4, 4))


# --- PyTorch oracle ----------------------------------------------------------------------


def _copy_to_torch(torch, ours, theirs):
    theirs.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in ours.state_dict().items()})


def _compare(torch, ours, theirs, x_shape, rtol=1e-4, atol=1e-5, dtype=np.float32):
    x = RNG.standard_normal(x_shape).astype(dtype)
    xn = nc.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    yn, yt = ours(xn), theirs(xt)
    np.testing.assert_allclose(yn.data, yt.detach().numpy(), rtol=rtol, atol=atol)
    g = RNG.standard_normal(yn.shape).astype(dtype)
    yn.backward(g)
    yt.backward(torch.from_numpy(g))
    np.testing.assert_allclose(xn.grad, xt.grad.numpy(), rtol=rtol, atol=atol)
    named_t = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad, named_t[name].grad.numpy(), rtol=rtol, atol=atol,
                                   err_msg=name)


@pytest.mark.parametrize(
    "kwargs",
    [dict(stride=1, padding=0), dict(stride=2, padding=1, dilation=2),
     dict(padding=1, groups=2, bias=False), dict(padding=2, padding_mode="reflect"),
     dict(padding=1, padding_mode="circular")],
)
def test_conv2d_matches_torch(torch, kwargs):
    ours = nn.Conv2d(4, 6, 3, **kwargs)
    theirs = torch.nn.Conv2d(4, 6, 3, **kwargs)
    _copy_to_torch(torch, ours, theirs)
    _compare(torch, ours, theirs, (2, 4, 9, 9))


@pytest.mark.parametrize("cls", ["Conv1d", "Conv3d"])
def test_conv1d_3d_match_torch(torch, cls):
    n = 1 if cls == "Conv1d" else 3
    ours = getattr(nn, cls)(2, 3, 3, stride=2, padding=1)
    theirs = getattr(torch.nn, cls)(2, 3, 3, stride=2, padding=1)
    _copy_to_torch(torch, ours, theirs)
    _compare(torch, ours, theirs, (2, 2, *(7,) * n))


@pytest.mark.parametrize(
    "kwargs",
    [dict(stride=2, padding=1, output_padding=1), dict(stride=1, dilation=2),
     dict(stride=2, groups=2, bias=False)],
)
def test_conv_transpose2d_matches_torch(torch, kwargs):
    ours = nn.ConvTranspose2d(4, 6, 3, **kwargs)
    theirs = torch.nn.ConvTranspose2d(4, 6, 3, **kwargs)
    _copy_to_torch(torch, ours, theirs)
    _compare(torch, ours, theirs, (2, 4, 5, 5))


def test_linear_matches_torch(torch):
    ours, theirs = nn.Linear(7, 5), torch.nn.Linear(7, 5)
    _copy_to_torch(torch, ours, theirs)
    _compare(torch, ours, theirs, (3, 7))


@pytest.mark.parametrize("momentum", [0.1, None])
def test_batchnorm2d_train_then_eval_matches_torch(torch, momentum):
    ours = nn.BatchNorm2d(3, momentum=momentum)
    theirs = torch.nn.BatchNorm2d(3, momentum=momentum)
    with torch.no_grad():
        theirs.weight.uniform_(0.5, 1.5)
        theirs.bias.uniform_(-0.5, 0.5)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    for _ in range(3):
        _compare(torch, ours, theirs, (4, 3, 5, 5))
        ours.zero_grad()
        theirs.zero_grad()
    for k, v in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[k], v.numpy(), rtol=1e-5, atol=1e-6, err_msg=k)
    ours.eval()
    theirs.eval()
    _compare(torch, ours, theirs, (4, 3, 5, 5))


def test_batchnorm_without_running_stats_matches_torch(torch):
    ours = nn.BatchNorm1d(3, track_running_stats=False, affine=False)
    theirs = torch.nn.BatchNorm1d(3, track_running_stats=False, affine=False)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == []
    ours.eval()
    theirs.eval()
    _compare(torch, ours, theirs, (6, 3, 4))


def test_pools_match_torch(torch):
    for ours, theirs in [
        (nn.MaxPool2d(3, stride=2, padding=1), torch.nn.MaxPool2d(3, stride=2, padding=1)),
        (nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False),
         torch.nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)),
        (nn.AdaptiveAvgPool2d((3, 2)), torch.nn.AdaptiveAvgPool2d((3, 2))),
    ]:
        _compare(torch, ours, theirs, (2, 3, 9, 8))


def test_lenet_sequential_matches_torch_by_state_dict_keys(torch):
    tnn = torch.nn

    class TorchLeNet(tnn.Module):
        def __init__(self):
            super().__init__()
            self.features = tnn.Sequential(
                tnn.Conv2d(1, 6, 5, padding=2), tnn.ReLU(), tnn.MaxPool2d(2),
                tnn.Conv2d(6, 16, 5), tnn.ReLU(), tnn.MaxPool2d(2))
            self.classifier = tnn.Sequential(
                tnn.Flatten(), tnn.Linear(400, 120), tnn.ReLU(), tnn.Linear(120, 84), tnn.ReLU(),
                tnn.Linear(84, 10))

        def forward(self, x):
            return self.classifier(self.features(x))

    ours, theirs = lenet5(), TorchLeNet()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert ours.num_parameters() == sum(p.numel() for p in theirs.parameters())
    _copy_to_torch(torch, ours, theirs)
    _compare(torch, ours, theirs, (3, 1, 28, 28))
    # and back: torch weights load into ndconv by name
    ours2 = lenet5()
    ours2.load_state_dict(theirs.state_dict())
    np.testing.assert_array_equal(ours2.features[0].weight.data, theirs.features[0].weight.detach().numpy())


def test_repr_matches_torch(torch):
    pairs = [
        (nn.Conv2d(1, 6, 5), torch.nn.Conv2d(1, 6, 5)),
        (nn.Conv2d(4, 8, 3, stride=2, padding=1, dilation=2, groups=2, bias=False,
                   padding_mode="reflect"),
         torch.nn.Conv2d(4, 8, 3, stride=2, padding=1, dilation=2, groups=2, bias=False,
                         padding_mode="reflect")),
        (nn.ConvTranspose2d(4, 2, 3, stride=2, output_padding=1),
         torch.nn.ConvTranspose2d(4, 2, 3, stride=2, output_padding=1)),
        (nn.Linear(3, 2), torch.nn.Linear(3, 2)),
        (nn.BatchNorm2d(3), torch.nn.BatchNorm2d(3)),
        (nn.Dropout(0.25), torch.nn.Dropout(0.25)),
        (nn.ReLU(), torch.nn.ReLU()),
        (nn.Flatten(), torch.nn.Flatten()),
    ]
    for ours, theirs in pairs:
        expected = repr(theirs).replace(", inplace=False", "").replace("affine=True, bias=True", "affine=True")
        assert repr(ours) == expected


def test_dropout_train_and_eval():
    nc.manual_seed(3)
    d = nn.Dropout(0.5)
    y = d(nc.ones(1000))
    assert set(np.unique(y.data)) <= {0.0, 2.0} and 350 < (y.data == 0).sum() < 650
    d.eval()
    np.testing.assert_array_equal(d(nc.ones(10)).data, np.ones(10))
