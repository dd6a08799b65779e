"""Model zoo: golden parameter counts, torchvision parameter names, forward shapes that match
the summary's shape propagation, N-d variants, a few SGD steps of ResNet-18/CIFAR."""

from __future__ import annotations

import numpy as np
import pytest

import ndconv as nc
from ndconv import nn
from ndconv.analysis import meta_init, summary
from ndconv.models import MODEL_NAMES, get_model, lenet5
from ndconv.nn import functional as F
from ndconv.optim import SGD

GOLDEN_PARAMS = {
    "alexnet": 61_100_840,
    "vgg16": 138_357_544,
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    # torchvision's published counts for the rest
    "vgg11": 132_863_336, "vgg13": 133_047_848, "vgg19": 143_667_240,
    "vgg11_bn": 132_868_840, "vgg13_bn": 133_053_736, "vgg16_bn": 138_365_992,
    "vgg19_bn": 143_678_248, "resnet101": 44_549_160, "resnet152": 60_192_808,
}


@pytest.fixture(scope="module")
def vgg16_model() -> nn.Module:
    """The one real VGG-16 of the session (550 MB of float32 weights)."""
    return get_model("vgg16").eval()


@pytest.mark.parametrize("name", sorted(GOLDEN_PARAMS))
def test_golden_parameter_counts(name: str) -> None:
    with meta_init():  # exact shapes, no weight memory
        model = get_model(name)
    assert model.num_parameters() == GOLDEN_PARAMS[name]


def test_lenet_counts() -> None:
    assert lenet5().num_parameters() == 61_706
    assert lenet5(variant="1998").num_parameters() == 60_000


def test_real_construction_matches_meta(vgg16_model: nn.Module) -> None:
    assert vgg16_model.num_parameters() == 138_357_544
    assert get_model("alexnet").num_parameters() == 61_100_840


def _keys(model: nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model._state_items()}


def test_torchvision_names_alexnet_vgg() -> None:
    with meta_init():
        a, v, vb = get_model("alexnet"), get_model("vgg16"), get_model("vgg11_bn")
    ka = _keys(a)
    assert ka["features.0.weight"] == (64, 3, 11, 11)
    assert ka["features.10.bias"] == (256,)
    assert ka["classifier.1.weight"] == (4096, 9216)
    assert ka["classifier.6.weight"] == (1000, 4096)
    assert len(ka) == 16
    kv = _keys(v)
    assert kv["features.28.weight"] == (512, 512, 3, 3)
    assert kv["classifier.0.weight"] == (4096, 25088)
    assert kv["classifier.6.bias"] == (1000,)
    assert len(kv) == 32
    kb = _keys(vb)
    assert kb["features.1.running_mean"] == (64,)
    assert kb["features.1.num_batches_tracked"] == ()


def test_torchvision_names_resnet() -> None:
    with meta_init():
        r18, r50 = get_model("resnet18"), get_model("resnet50")
    k = _keys(r18)
    assert k["conv1.weight"] == (64, 3, 7, 7)
    assert "conv1.bias" not in k and "layer1.0.conv1.bias" not in k
    assert k["bn1.running_mean"] == (64,)
    assert k["layer1.0.conv1.weight"] == (64, 64, 3, 3)
    assert k["layer2.0.downsample.0.weight"] == (128, 64, 1, 1)
    assert k["layer2.0.downsample.1.running_var"] == (128,)
    assert "layer1.0.downsample.0.weight" not in k
    assert k["fc.weight"] == (1000, 512)
    assert len(k) == 122  # torchvision's resnet18 state_dict size
    k50 = _keys(r50)
    assert k50["layer1.0.downsample.0.weight"] == (256, 64, 1, 1)
    # v1.5: the stride sits on the 3x3 conv
    assert r50.layer2[0].conv2.stride == (2, 2) and r50.layer2[0].conv1.stride == (1, 1)
    assert len(k50) == 320


# Every model at its native size, batch 1 (a 224x224 forward of the largest, VGG-19, takes
# about 0.3 s; building its 144M random weights takes longer than running it).
FORWARD_CASES = [
    ("lenet5", {}, (1, 28, 28)),
    ("alexnet", {}, (3, 224, 224)),
    ("resnet18", {}, (3, 224, 224)),
    ("resnet34", {}, (3, 224, 224)),
    ("resnet50", {}, (3, 224, 224)),
    ("resnet101", {}, (3, 224, 224)),
    ("resnet152", {}, (3, 224, 224)),
    ("resnet18_cifar", {}, (3, 32, 32)),
    ("vgg11", {}, (3, 224, 224)),
    ("vgg11_bn", {}, (3, 224, 224)),
    ("vgg13", {}, (3, 224, 224)),
    ("vgg13_bn", {}, (3, 224, 224)),
    ("vgg16_bn", {}, (3, 224, 224)),
    ("vgg19", {}, (3, 224, 224)),
    ("vgg19_bn", {}, (3, 224, 224)),
    ("autoencoder", {}, (1, 28, 28)),
    ("unet", {}, (1, 64, 64)),
]


def test_forward_cases_cover_the_zoo() -> None:
    assert set(MODEL_NAMES) == {n for n, _, _ in FORWARD_CASES} | {"vgg16"}


def _forward_matches_summary(model: nn.Module, shape: tuple[int, ...]) -> None:
    s = summary(model, shape)
    nc.manual_seed(0)
    x = nc.randn(1, *shape)
    with nc.no_grad():
        y = model.eval()(x)
    assert y.shape == s.output_shape
    assert np.isfinite(y.data).all()


@pytest.mark.parametrize(("name", "kw", "shape"), FORWARD_CASES, ids=[c[0] for c in FORWARD_CASES])
def test_forward_matches_summary(name: str, kw: dict, shape: tuple[int, ...]) -> None:
    _forward_matches_summary(get_model(name, **kw), shape)


def test_vgg16_forward_224(vgg16_model: nn.Module) -> None:
    _forward_matches_summary(vgg16_model, (3, 224, 224))


def test_every_layer_shape_matches_summary() -> None:
    """Forward hooks on the real run see exactly the shapes the summary predicted."""
    model = get_model("resnet18", num_classes=4).eval()
    seen: list[tuple[str, tuple[int, ...]]] = []
    def recorder(name: str):  # type: ignore[no-untyped-def]
        def hook(mod: nn.Module, args: object, out: nc.Tensor) -> None:
            seen.append((name, out.shape))
        return hook

    handles = [m.register_forward_hook(recorder(name)) for name, m in model.named_modules()
               if not any(True for _ in m.children())]
    with nc.no_grad():
        model(nc.zeros(1, 3, 64, 64))
    for h in handles:
        h.remove()
    s = summary(model, (3, 64, 64))
    assert seen == [(r.name, r.output_shape) for r in s.rows]


@pytest.mark.parametrize(("ndim", "shape"), [(1, (2, 256)), (3, (1, 32, 32, 32))])
def test_resnet_other_ranks(ndim: int, shape: tuple[int, ...]) -> None:
    model = get_model("resnet18", num_classes=5, in_channels=shape[0], ndim=ndim).eval()
    assert model.conv1.weight.shape == (64, shape[0], *(7,) * ndim)
    with nc.no_grad():
        y = model(nc.randn(2, *shape))
    assert y.shape == (2, 5)
    assert summary(model, shape).output_shape == (1, 5)


def test_resnet_zero_init_residual() -> None:
    model = get_model("resnet50", zero_init_residual=True)
    assert all(not np.any(b.bn3.weight.data) for stage in (model.layer1, model.layer4) for b in stage)
    assert np.all(model.layer1[0].bn1.weight.data == 1)
    model18 = get_model("resnet18", zero_init_residual=True)
    assert not np.any(model18.layer2[1].bn2.weight.data)


def test_resnet18_cifar_sgd_reduces_loss() -> None:
    nc.manual_seed(0)
    model = get_model("resnet18_cifar", num_classes=10)
    rng = np.random.default_rng(0)
    x = nc.tensor(rng.standard_normal((8, 3, 32, 32)).astype(np.float32))
    t = rng.integers(0, 10, 8)
    opt = SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for _ in range(3):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), t)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_autoencoder_reconstructs_shape() -> None:
    model = get_model("autoencoder")
    x = nc.tensor(np.random.default_rng(0).random((2, 1, 28, 28)).astype(np.float32))
    z = model.encode(x)
    assert z.shape == (2, 32, 7, 7)
    y = model(x)
    assert y.shape == x.shape and float(y.data.min()) > 0 and float(y.data.max()) < 1
    model3 = get_model("autoencoder", ndim=3, widths=(4,))
    assert model3(nc.zeros(1, 1, 8, 8, 8)).shape == (1, 1, 8, 8, 8)
    with pytest.raises(ValueError, match="divisible"):
        model(nc.zeros(1, 1, 30, 30))


@pytest.mark.parametrize(("ndim", "spatial"), [(2, (32, 48)), (3, (16, 16, 8))])
def test_unet_shapes(ndim: int, spatial: tuple[int, ...]) -> None:
    model = get_model("unet", in_channels=2, num_classes=3, base=4, depth=3 if ndim == 2 else 2,
                      ndim=ndim)
    y = model(nc.randn(2, 2, *spatial))
    assert y.shape == (2, 3, *spatial)
    assert summary(model, (2, *spatial)).output_shape == (1, 3, *spatial)
    with pytest.raises(ValueError, match="divisible"):
        model(nc.zeros(1, 2, *(s + 1 for s in spatial)))


def test_get_model_errors() -> None:
    with pytest.raises(ValueError, match="unknown model .*resnet18"):
        get_model("resnet17")
    with pytest.raises(ValueError, match="num_classes"):
        get_model("resnet18", num_classes=0)
    with pytest.raises(ValueError, match="ndim"):
        get_model("vgg16", ndim=0)
