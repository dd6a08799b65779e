"""summary(): golden multiply-adds, per-layer columns, speed and memory of the shape pass,
meta_init, the CLI helper."""

from __future__ import annotations

import json
import time
import tracemalloc

import numpy as np
import pytest

import ndconv as nc
from ndconv import nn
from ndconv.analysis import Summary, meta_init, summary
from ndconv.analysis.summary import (
    MetaTensor,
    parse_input_spec,
    register_shape_rule,
    summary_command,
)
from ndconv.models import get_model, lenet5

GOLDEN_MACS = {
    "alexnet": 714_188_480,
    "vgg16": 15_470_264_320,
    "resnet18": 1_814_073_344,
    "resnet50": 4_089_184_256,
}


@pytest.fixture(scope="module")
def meta_models() -> dict[str, nn.Module]:
    with meta_init():
        return {name: get_model(name) for name in GOLDEN_MACS}


@pytest.mark.parametrize("name", sorted(GOLDEN_MACS))
def test_golden_macs_and_params(meta_models: dict[str, nn.Module], name: str) -> None:
    s = summary(meta_models[name], (3, 224, 224))
    assert s.total_macs == GOLDEN_MACS[name]
    assert s.total_params == meta_models[name].num_parameters()
    assert sum(r.params for r in s.rows) == s.total_params
    assert s.output_shape == (1, 1000)
    assert abs(sum(r.params_pct for r in s.rows) - 100) < 1e-6


def test_lenet_rows() -> None:
    s = summary(lenet5(), (1, 28, 28))
    first = s.rows[0]
    assert (first.name, first.type, first.output_shape) == ("features.0", "Conv2d", (1, 6, 28, 28))
    assert first.kernel == (5, 5) and first.stride == (1, 1) and first.padding == ((2, 2), (2, 2))
    assert first.dilation == (1, 1) and first.groups == 1
    assert first.params == 156 and first.macs == 6 * 28 * 28 * 25
    assert first.memory == 6 * 28 * 28 * 4
    assert first.field is not None and first.field[0].size == 5
    assert s.total_params == 61_706
    # the 1998 form's custom layers have rules too
    s98 = summary(lenet5(variant="1998"), (1, 28, 28))
    assert s98.total_params == 60_000 and s98.output_shape == (1, 10)
    c3 = next(r for r in s98.rows if r.name == "features.C3")
    assert c3.output_shape == (1, 16, 10, 10) and c3.macs == 60 * 25 * 100


def test_float64_and_batch_memory() -> None:
    s = summary(lenet5(), (1, 28, 28), dtype=np.float64, batch_size=4)
    assert s.rows[0].output_shape == (4, 6, 28, 28)
    assert s.rows[0].memory == 4 * 6 * 28 * 28 * 8
    assert s.rows[0].macs == 4 * 6 * 28 * 28 * 25


def test_vgg16_summary_fast_and_small(meta_models: dict[str, nn.Module]) -> None:
    # a real VGG-16 (550 MB of weights), built once here
    model = get_model("vgg16")
    tracemalloc.start()
    try:
        t0 = time.perf_counter()
        s = summary(model, (3, 224, 224))
        elapsed = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert s.total_macs == GOLDEN_MACS["vgg16"]
    assert elapsed < 2.0  # milliseconds in practice; generous for a loaded machine
    assert peak < 500 * 2**20  # in practice well under 1 MB: no activation is allocated


def test_summary_command_builds_without_weights() -> None:
    tracemalloc.start()
    try:
        t0 = time.perf_counter()
        text = summary_command("vgg16", "3x224x224")
        elapsed = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 2.0 and peak < 500 * 2**20
    assert "138,357,544" in text and "15,470,264,320" in text
    assert "features.0" in text and "classifier.6" in text
    one_d = summary_command("resnet18", "2x1000")
    assert "(1, 1000)" in one_d and "Conv" in one_d


def test_meta_init_restores_everything() -> None:
    with meta_init():
        m = nn.Conv2d(3, 8, 3)
        assert m.weight.data.strides == (0, 0, 0, 0)
    real = nn.Conv2d(3, 8, 3)
    assert real.weight.data.flags.writeable and np.any(real.weight.data != 0)
    with pytest.raises(RuntimeError), meta_init():
        raise RuntimeError("boom")
    assert nn.Linear(2, 2).weight.data.flags.writeable


def test_table_html_and_dict() -> None:
    s = summary(get_model("resnet18", num_classes=10), (3, 32, 32))
    assert isinstance(s, Summary)
    text = str(s)
    assert "layer2.0.downsample.0" in text and "Total params: 11,181,642" in text
    assert "<table>" in s._repr_html_()
    d = s.to_dict()
    json.dumps(d)
    assert d["total_params"] == 11_181_642
    assert d["layers"][0]["receptive_field"][0] == {"size": 7.0, "jump": 2.0, "start": 0.0}


def test_branching_and_custom_layers() -> None:
    body = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1))
    model = nn.Sequential(nn.Residual(body), nn.GlobalAvgPool())
    s = summary(model, (4, 9, 9))
    assert [r.name for r in s.rows] == ["0.body.0", "0.body.1", "0.body.2", "0.add", "1"]
    assert s.rows[3].field is not None and s.rows[3].field[0].size == 5  # longest path
    assert s.rows[-1].output_shape == (1, 4)

    class Double(nn.Module):  # no rule: the fallback runs its forward on zero-stride data
        def forward(self, x):  # type: ignore[no-untyped-def]
            return x * 2.0

    s2 = summary(nn.Sequential(nn.Conv2d(1, 2, 3), Double()), (1, 8, 8))
    assert s2.rows[1].output_shape == (1, 2, 6, 6) and s2.rows[1].note
    assert s2.rows[1].field is not None and s2.rows[1].field[0].size == 3

    class Halve(nn.Module):
        def forward(self, x):  # type: ignore[no-untyped-def]
            return x[:, :, ::2]

    register_shape_rule(Halve, lambda ctx, x, args: MetaTensor(
        (*x.shape[:2], (x.shape[2] + 1) // 2), x.dtype, None, True))
    s3 = summary(nn.Sequential(nn.Conv1d(1, 1, 3), Halve()), (1, 10))
    assert s3.output_shape == (1, 1, 4) and s3.rows[1].field is None


def test_errors() -> None:
    with pytest.raises(ValueError, match="expects \\(N, 3"):
        summary(get_model("resnet18"), (1, 32, 32))
    with pytest.raises(ValueError, match="input_shape"):
        summary(lenet5(), (1, 0, 28))
    with pytest.raises(ValueError, match="3x224x224"):
        parse_input_spec("3xAx4")
    assert parse_input_spec("3x224x224") == (3, 224, 224)
    with pytest.raises(ValueError, match="unknown model"):
        summary_command("nope", "3x8x8")


def test_summary_leaves_model_usable() -> None:
    model = lenet5()
    summary(model, (1, 28, 28))
    assert "forward" not in model.features[0].__dict__
    assert model(nc.zeros(1, 1, 28, 28)).shape == (1, 10)
