"""`ndconv train --model autoencoder`: the reconstruction task end to end, quickly."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

pytest.importorskip("click")
pytest.importorskip("safetensors")

from click.testing import CliRunner  # noqa: E402

from ndconv.cli import MODELS, build_model, main  # noqa: E402
from ndconv.io import load_weights  # noqa: E402

TINY = ["--model", "autoencoder", "--limit", "200", "--test-limit", "100", "--epochs", "1",
        "--batch-size", "50", "--no-progress", "--no-report"]


def _invoke(*args: object, ok: bool = True) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert (result.exit_code == 0) == ok, result.output
    return result.output


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ae") / "run"
    text = _invoke("train", *TINY, "--out", out)
    assert re.search(r"epoch   1/1  train MSE \d\.\d+  held-out MSE \d\.\d+", text), text
    assert "held-out reconstruction MSE" in text and "accuracy" not in text
    return out


def test_the_task_is_part_of_the_model_table() -> None:
    assert MODELS["autoencoder"].task == "reconstruction"
    assert MODELS["lenet5"].task == "classification"
    assert build_model("autoencoder")(__import__("ndconv").zeros(2, 1, 28, 28)).shape == (2, 1, 28, 28)


def test_training_writes_files_and_a_finite_mse(run_dir: Path) -> None:
    names = {p.name for p in run_dir.iterdir()}
    assert {"model.safetensors", "metrics.json", "checkpoint.safetensors"} <= names
    history = json.loads((run_dir / "metrics.json").read_text())["history"]
    assert len(history) == 1 and "train_acc" not in history[0]
    mse = history[0]["test_mse"]
    assert math.isfinite(mse) and 0 < mse < 1 and history[0]["test_loss"] == mse
    _, meta = load_weights(run_dir / "model.safetensors")
    assert meta["model"] == "autoencoder" and meta["task"] == "reconstruction"
    assert meta["test_loss"] == mse
    pytest.importorskip("matplotlib")
    for name in ("reconstructions.png", "curves.png"):
        assert (run_dir / name).read_bytes()[:4] == b"\x89PNG"


def test_eval_prints_the_test_mse(run_dir: Path) -> None:
    text = _invoke("eval", run_dir)
    found = re.search(r"mnist-5k test \(1000 samples\): reconstruction MSE (\d\.\d+)", text)
    assert found and 0 < float(found[1]) < 1


def test_predict_refuses_an_autoencoder(run_dir: Path, tmp_path: Path) -> None:
    import numpy as np

    np.save(tmp_path / "x.npy", np.zeros((28, 28), np.float32))
    text = _invoke("predict", run_dir, tmp_path / "x.npy", ok=False)
    assert "predict classifies images" in text and "reconstruction" in text


def test_report_degrades_gracefully(run_dir: Path) -> None:
    pytest.importorskip("matplotlib")
    text = _invoke("report", run_dir)
    assert "confusion: not shown" in text and "adversarial: not shown" in text
    page = (run_dir / "report.html").read_text()
    assert "Held-out reconstruction MSE" in page and "needs a classifier" in page
    assert not (run_dir / "robustness.json").exists()


def test_resume_is_bit_identical(tmp_path: Path) -> None:
    import numpy as np

    quick = [*TINY[:TINY.index("--epochs")], *TINY[TINY.index("--epochs") + 2:], "--schedule", "none"]
    _invoke("train", *quick, "--epochs", 2, "--out", tmp_path / "full")
    _invoke("train", *quick, "--epochs", 1, "--out", tmp_path / "part")
    text = _invoke("train", "--resume", tmp_path / "part", "--epochs", 2)
    assert "epoch   2/2  train MSE" in text
    full, _ = load_weights(tmp_path / "full" / "model.safetensors")
    resumed, _ = load_weights(tmp_path / "part" / "model.safetensors")
    for name in full:
        np.testing.assert_array_equal(full[name], resumed[name], err_msg=name)
    history = json.loads((tmp_path / "part" / "metrics.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [1, 2]
    assert all(h["test_mse"] == h["test_loss"] and "train_acc" not in h for h in history)
