"""ndconv.io: safetensors weights, atomic checkpoints, and their error messages."""

from __future__ import annotations

import json
import os
from collections import OrderedDict

import numpy as np
import pytest

pytest.importorskip("safetensors")

from ndconv.io import (  # noqa: E402
    WeightsFileError,
    atomic_write_bytes,
    atomic_write_json,
    load_checkpoint,
    load_weights,
    read_checkpoint,
    save_checkpoint,
    save_weights,
)


class ToyModel:
    """The part of the Module API that ndconv.io uses."""

    def __init__(self, shapes: dict[str, tuple[int, ...]], seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.params = OrderedDict(
            (k, rng.standard_normal(s).astype(np.float32)) for k, s in shapes.items()
        )

    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        return OrderedDict((k, v.copy()) for k, v in self.params.items())

    def load_state_dict(self, sd, strict: bool = True):
        for k in self.params:
            self.params[k][...] = sd[k]


class ToyOptimizer:
    """PyTorch-shaped state: int keys, arrays, numpy scalars, tuples, nested groups."""

    def __init__(self) -> None:
        self.state = {0: {"exp_avg": np.arange(6, dtype=np.float32).reshape(2, 3),
                          "step": np.int64(7)}, 1: {"exp_avg": np.ones(2, np.float64)}}
        self.param_groups = [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0, 1],
                              "nesterov": False, "eps": float("inf")}]

    def state_dict(self):
        return {"state": self.state, "param_groups": self.param_groups}

    def load_state_dict(self, sd) -> None:
        self.state, self.param_groups = sd["state"], sd["param_groups"]


SHAPES = {"conv.weight": (4, 1, 3, 3), "conv.bias": (4,), "fc.weight": (10, 16)}


def test_weights_roundtrip_with_json_metadata(tmp_path):
    model = ToyModel(SHAPES)
    meta = {"model": "toy", "accuracy": 0.975, "args": {"lr": 0.001, "layers": [1, 2]}}
    path = save_weights(model, tmp_path / "w.safetensors", meta)
    sd, got = load_weights(path)
    assert list(sd) == list(SHAPES)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(sd[k], v)
        assert sd[k].dtype == v.dtype
    assert got == meta
    assert not list(tmp_path.glob(".*tmp"))  # no temp file left behind


def test_weights_reject_bad_metadata(tmp_path):
    with pytest.raises(TypeError, match="JSON-serialisable"):
        save_weights({"a": np.zeros(1)}, tmp_path / "w.safetensors", {"x": object()})
    with pytest.raises(ValueError, match="reserved"):
        save_weights({"a": np.zeros(1)}, tmp_path / "w.safetensors", {"ndconv.kind": 1})
    with pytest.raises(TypeError, match="Module or a mapping"):
        save_weights([1, 2], tmp_path / "w.safetensors")


def test_load_weights_of_foreign_file_keeps_plain_strings(tmp_path):
    from safetensors.numpy import save_file

    save_file({"x": np.zeros(2, np.float32)}, str(tmp_path / "f.safetensors"),
              metadata={"format": "pt"})
    sd, meta = load_weights(tmp_path / "f.safetensors")
    assert meta == {"format": "pt"} and sd["x"].shape == (2,)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "flip"])
def test_corrupt_file_gives_clear_error(tmp_path, damage):
    path = save_weights(ToyModel(SHAPES), tmp_path / "w.safetensors")
    data = path.read_bytes()
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "garbage":
        data = b"\x00garbage" * 20
    elif damage == "empty":
        data = b""
    else:  # flip one byte in the tensor data (the header is intact)
        data = data[:-3] + bytes([data[-3] ^ 0xFF]) + data[-2:]
    path.write_bytes(data)
    with pytest.raises(WeightsFileError, match=r"w\.safetensors.*(truncated or corrupt|corrupt)"):
        load_weights(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.safetensors"):
        load_weights(tmp_path / "nope.safetensors")


def test_checkpoint_roundtrip_all_state(tmp_path):
    model, opt = ToyModel(SHAPES), ToyOptimizer()
    rng_state = np.random.default_rng(5).bit_generator.state  # 128-bit ints
    history = [{"epoch": 1, "test_acc": 0.9, "loss": float("nan")}]
    path = save_checkpoint(tmp_path / "checkpoint.safetensors", model, opt, None, epoch=3,
                           step=120, rng_state=rng_state, history=history,
                           extra={"note": "x", "arr": np.eye(2)}, metadata={"model": "toy"})
    ck = read_checkpoint(path)
    assert (ck.epoch, ck.step) == (3, 120)
    assert ck.rng_state == rng_state
    assert ck.history[0]["epoch"] == 1 and np.isnan(ck.history[0]["loss"])
    np.testing.assert_array_equal(ck.extra["arr"], np.eye(2))
    assert ck.metadata["model"] == "toy"

    model2, opt2 = ToyModel(SHAPES, seed=1), ToyOptimizer()
    opt2.state = {}
    load_checkpoint(path, model2, opt2)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(model2.params[k], v)
    s = opt2.state_dict()
    assert set(s["state"]) == {0, 1}  # int keys survive
    np.testing.assert_array_equal(s["state"][0]["exp_avg"], opt.state[0]["exp_avg"])
    assert isinstance(s["state"][0]["step"], np.int64) and s["state"][0]["step"] == 7
    assert s["state"][1]["exp_avg"].dtype == np.float64
    assert s["param_groups"][0]["betas"] == (0.9, 0.999)
    assert s["param_groups"][0]["eps"] == float("inf")


def test_checkpoint_of_other_architecture_is_rejected_and_model_unchanged(tmp_path):
    path = save_checkpoint(tmp_path / "ck.safetensors", ToyModel(SHAPES), ToyOptimizer())
    other = ToyModel({"conv.weight": (8, 1, 3, 3), "conv.bias": (8,), "head.weight": (10, 16)})
    before = other.state_dict()
    with pytest.raises(WeightsFileError) as info:
        load_checkpoint(path, other, ToyOptimizer())
    msg = str(info.value)
    assert "ck.safetensors" in msg and "left unchanged" in msg
    assert "head.weight" in msg and "fc.weight" in msg  # missing and unexpected
    assert "conv.weight: file (4, 1, 3, 3) vs model (8, 1, 3, 3)" in msg
    for k, v in before.items():
        np.testing.assert_array_equal(other.params[k], v)


def test_weights_file_is_not_a_checkpoint(tmp_path):
    path = save_weights(ToyModel(SHAPES), tmp_path / "model.safetensors")
    with pytest.raises(WeightsFileError, match="not an ndconv checkpoint"):
        read_checkpoint(path)


def test_optimizer_failure_restores_model(tmp_path):
    class BadOptimizer(ToyOptimizer):
        def load_state_dict(self, sd):
            raise ValueError("param groups differ")

    model = ToyModel(SHAPES)
    path = save_checkpoint(tmp_path / "ck.safetensors", ToyModel(SHAPES, seed=9), ToyOptimizer())
    before = model.state_dict()
    with pytest.raises(WeightsFileError, match="param groups differ"):
        load_checkpoint(path, model, BadOptimizer())
    for k, v in before.items():
        np.testing.assert_array_equal(model.params[k], v)


def test_checkpoint_rejects_unstorable_state(tmp_path):
    with pytest.raises(TypeError, match="extra.extra.f"):
        save_checkpoint(tmp_path / "ck.safetensors", ToyModel(SHAPES), extra={"f": object()})
    assert not (tmp_path / "ck.safetensors").exists()


def test_atomic_write_replaces_and_cleans_up(tmp_path, monkeypatch):
    target = tmp_path / "sub" / "m.json"
    atomic_write_json(target, {"a": 1})
    assert json.loads(target.read_text()) == {"a": 1}

    def boom(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(target, b"new")
    assert json.loads(target.read_text()) == {"a": 1}  # old file intact
    assert os.listdir(target.parent) == ["m.json"]  # temp file removed
