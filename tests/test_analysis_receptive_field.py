"""Receptive fields: golden values, the recurrences, and a brute-force check -- backprop from
one output unit (all-ones weights, so no gradient cancels) and compare the input positions
with a nonzero gradient with receptive_field_for_unit."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import ndconv as nc
from ndconv import nn
from ndconv.analysis import meta_init, receptive_field, receptive_field_for_unit
from ndconv.analysis.receptive_field import _unit_sets, receptive_field_command
from ndconv.models import get_model
from ndconv.models.unet import Concat


def test_golden_vgg16_and_resnet50() -> None:
    with meta_init():
        vgg, r50, r18 = get_model("vgg16"), get_model("resnet50"), get_model("resnet18")
    rf = receptive_field(vgg, (3, 224, 224))
    assert all(f.size == 212 and f.jump == 32 for f in rf["features"] or ())
    rf50 = receptive_field(r50, (3, 224, 224))
    assert all(f.size == 427 and f.jump == 32 for f in rf50["layer4"] or ())
    assert rf50["layer4"][0].start == 0.0  # type: ignore[index]
    assert receptive_field(r18, (3, 224, 224))["layer4"][0].size == 435  # type: ignore[index]
    text = receptive_field_command("vgg16", "3x224x224")
    assert "features.30" in text and "r=212 j=32" in text


def test_recurrences_by_hand() -> None:
    # conv k3 s2 p1 -> conv k3 d2 p2 -> maxpool k2: r = 1+2 = 3; 3 + 4*2 = 11; 11 + 1*2 = 13
    model = nn.Sequential(nn.Conv1d(1, 1, 3, stride=2, padding=1),
                          nn.Conv1d(1, 1, 3, dilation=2, padding=2), nn.MaxPool1d(2))
    rows = receptive_field(model, (1, 32)).rows
    assert [(r.field[0].size, r.field[0].jump, r.field[0].start) for r in rows] == [  # type: ignore[index]
        (3, 2, 0), (11, 2, 0), (13, 4, 1)]
    # transposed: j' = j/s, r' = r + (k-1)*j'
    up = nn.Sequential(nn.Conv1d(1, 1, 3, stride=2), nn.ConvTranspose1d(1, 1, 4, stride=2, padding=1))
    f = receptive_field(up, (1, 16)).rows[-1].field[0]  # type: ignore[index]
    assert (f.size, f.jump) == (6.0, 1.0)


def _ones(model: nn.Module) -> nn.Module:
    for p in model.parameters():
        p.data[...] = 1.0
    return model.eval().double()


def _brute_force(model: nn.Module, shape: tuple[int, ...], index: tuple[int, ...]) -> np.ndarray:
    x = nc.tensor(np.ones((1, *shape)), requires_grad=True, dtype=np.float64)
    y = model(x)
    y[(0, 0) + tuple(index)].backward()
    return np.abs(x.grad[0]).sum(axis=0) > 0  # type: ignore[index]


class _Unit(nn.Module):
    """A U-Net-like join: concat a pooled-then-upsampled branch with the input."""

    def __init__(self) -> None:
        super().__init__()
        self.down = nn.Conv2d(1, 1, 3, stride=2, padding=1)
        self.up = nn.ConvTranspose2d(1, 1, 2, stride=2)
        self.cat = Concat(1)
        self.mix = nn.Conv2d(2, 1, 1)

    def forward(self, x):  # type: ignore[no-untyped-def]
        return self.mix(self.cat(x, self.up(self.down(x))))


NETS = {
    "conv_stride_pad": (lambda: nn.Sequential(nn.Conv2d(1, 2, 3, stride=2, padding=1),
                                              nn.Conv2d(2, 1, (3, 2), stride=(1, 2), padding=(0, 1))),
                        (1, 13, 12)),
    "dilated": (lambda: nn.Sequential(nn.Conv2d(1, 1, 3, dilation=2, padding=1),
                                      nn.Conv2d(1, 1, 2, dilation=(1, 3))), (1, 14, 15)),
    "avgpool_padded": (lambda: nn.Sequential(nn.AvgPool2d(3, stride=2, padding=1),
                                             nn.Conv2d(1, 1, 3, padding="same")), (1, 11, 10)),
    "transposed": (lambda: nn.Sequential(nn.Conv2d(1, 1, 3, stride=2),
                                         nn.ConvTranspose2d(1, 1, 3, stride=2, padding=1,
                                                            output_padding=1)), (1, 13, 9)),
    "transposed_dilated": (lambda: nn.Sequential(nn.ConvTranspose1d(1, 1, 3, stride=3, dilation=2),
                                                 nn.Conv1d(1, 1, 2)), (1, 7)),
    "residual": (lambda: nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1),
        nn.Residual(nn.Sequential(nn.Conv2d(2, 2, 3, stride=2, padding=1), nn.BatchNorm2d(2),
                                  nn.Conv2d(2, 2, 3, padding=1)),
                    nn.Conv2d(2, 2, 1, stride=2))), (1, 12, 11)),
    "adaptive": (lambda: nn.Sequential(nn.Conv3d(1, 1, 2), nn.AdaptiveAvgPool3d((3, 2, 4))), (1, 8, 6, 9)),
    "unet_join": (_Unit, (1, 8, 10)),
}


@pytest.mark.parametrize("name", sorted(NETS))
def test_brute_force_backprop(name: str) -> None:
    build, shape = NETS[name]
    nc.manual_seed(0)
    model = _ones(build())
    out_spatial = receptive_field(model, shape).rows[-1].output_shape[2:]
    rng = np.random.default_rng(1)
    corners = list(itertools.product(*[(0, s - 1) for s in out_spatial]))
    samples = [tuple(int(rng.integers(0, s)) for s in out_spatial) for _ in range(4)]
    last = list(dict(model.named_modules()))[-1]
    for index in corners + samples:
        mask = _brute_force(model, shape, index)
        sets = _unit_sets(model, shape, last, index)
        expected = np.zeros(shape[1:], bool)
        expected[np.ix_(*sets)] = True
        np.testing.assert_array_equal(mask, expected, err_msg=f"{name} unit {index}")
        region = receptive_field_for_unit(model, shape, last, index)
        nz = np.nonzero(mask)
        assert region == tuple((int(a.min()), int(a.max()) + 1) for a in nz)


def test_max_pool_by_perturbation() -> None:
    """Max-pool gradients go to one element, so perturb each input position instead."""
    model = _ones(nn.Sequential(nn.Conv2d(1, 1, 2), nn.MaxPool2d(3, stride=2, padding=1)))
    shape = (1, 9, 8)
    base = np.random.default_rng(0).random((1, *shape))
    y0 = model(nc.tensor(base)).data
    for index in [(0, 0), (2, 1), (3, 3)]:
        changed = np.zeros(shape[1:], bool)
        for pos in itertools.product(*map(range, shape[1:])):
            x = base.copy()
            x[(0, 0) + tuple(pos)] = 1e3
            changed[pos] = model(nc.tensor(x)).data[(0, 0) + index] != y0[(0, 0) + index]
        region = receptive_field_for_unit(model, shape, "1", index)
        nz = np.nonzero(changed)
        assert region == tuple((int(a.min()), int(a.max()) + 1) for a in nz)


def test_continuous_field_matches_exact_region() -> None:
    """Without dilation or transposition, unit i's region is [lo + i*j, hi + i*j] clipped."""
    build, shape = NETS["residual"]
    model = _ones(build())
    row = receptive_field(model, shape).rows[-1]
    assert row.field is not None
    for index in [(0, 0), (2, 3), (5, 5)]:
        region = receptive_field_for_unit(model, shape, "1.add", index)
        for (lo, hi), f, i, n in zip(region, row.field, index, shape[1:]):
            assert f.jump is not None
            a = f.start - (f.size - 1) / 2 + i * f.jump
            b = f.start + (f.size - 1) / 2 + i * f.jump
            assert (lo, hi) == (max(0, int(a)), min(n, int(b) + 1))


def test_whole_input_after_flatten_and_errors() -> None:
    model = get_model("lenet5")
    assert receptive_field_for_unit(model, (1, 28, 28), "classifier.5", 3) == ((0, 28), (0, 28))
    with pytest.raises(ValueError, match="layer"):
        receptive_field_for_unit(model, (1, 28, 28), "nope", 0)
    with pytest.raises(ValueError, match="index"):
        receptive_field_for_unit(model, (1, 28, 28), "features.0", (28, 0))
    with pytest.raises(KeyError, match="nope"):
        receptive_field(model, (1, 28, 28))["nope"]
