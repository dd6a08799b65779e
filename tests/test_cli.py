"""The `ndconv` command line: train / eval / predict, errors, and a SIGKILL-then-resume run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("click")
pytest.importorskip("safetensors")

from click.testing import CliRunner  # noqa: E402

from ndconv.cli import build_model, main  # noqa: E402
from ndconv.io import (  # noqa: E402
    WeightsFileError,
    load_checkpoint,
    load_weights,
    read_checkpoint,
    save_weights,
)

TINY = ["--limit", "200", "--test-limit", "100", "--epochs", "1", "--batch-size", "50",
        "--no-progress", "--no-report"]


def _invoke(*args, ok=True):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    else:
        assert result.exit_code != 0, result.output
    return result


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "tiny"
    _invoke("train", *TINY, "--out", out)
    return out


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_train_writes_a_complete_run(run_dir):
    names = {p.name for p in run_dir.iterdir()}
    assert {"model.safetensors", "metrics.json", "checkpoint.safetensors"} <= names
    pytest.importorskip("matplotlib")
    assert (run_dir / "curves.png").read_bytes()[:4] == b"\x89PNG"
    sd, meta = load_weights(run_dir / "model.safetensors")
    assert meta["model"] == "lenet5" and meta["dataset"] == "mnist-5k"
    assert meta["args"]["limit"] == 200 and meta["input_shape"] == [1, 28, 28]
    assert 0 <= meta["test_acc"] <= 1
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert len(metrics["history"]) == 1 and metrics["history"][0]["test_acc"] == meta["test_acc"]
    assert read_checkpoint(run_dir / "checkpoint.safetensors").epoch == 1


def test_eval_run_dir_and_weights_file(run_dir):
    out = _invoke("eval", run_dir).output
    assert "mnist-5k test (1000 samples)" in out and "accuracy" in out
    out = _invoke("eval", run_dir / "model.safetensors", "--dataset", "mnist_5k").output
    assert "accuracy" in out


def test_predict_npy_and_png(run_dir, tmp_path):
    from ndconv.data import mnist_5k

    x_test, y_test = mnist_5k()[2:]
    np.save(tmp_path / "digit.npy", x_test[0, 0])  # (28, 28)
    np.save(tmp_path / "big.npy", np.kron(x_test[1, 0] * 255, np.ones((2, 2))))  # 56x56, 0-255
    out = _invoke("predict", run_dir, tmp_path / "digit.npy", tmp_path / "big.npy", "--json")
    rows = [json.loads(line) for line in out.output.splitlines()]
    assert [r["image"] for r in rows] == [str(tmp_path / "digit.npy"), str(tmp_path / "big.npy")]
    assert all(len(r["top"]) == 3 and r["prediction"] in "0123456789" for r in rows)
    mpimg = pytest.importorskip("matplotlib.image")
    mpimg.imsave(tmp_path / "digit.png", 1 - x_test[2, 0], cmap="gray")  # dark on light, RGBA
    out = _invoke("predict", run_dir / "model.safetensors", tmp_path / "digit.png")
    assert out.output.startswith(str(tmp_path / "digit.png") + ": ")


def test_predict_rejects_bad_images(run_dir, tmp_path):
    np.save(tmp_path / "cube.npy", np.zeros((2, 3, 28, 28), np.float32))
    out = _invoke("predict", run_dir, tmp_path / "cube.npy", ok=False).output
    assert "expects one image of shape (1, 28, 28)" in out and "(2, 3, 28, 28)" in out
    np.save(tmp_path / "five.npy", np.zeros((5, 28, 28), np.float32))
    out = _invoke("predict", run_dir, tmp_path / "five.npy", ok=False).output
    assert "expects 1 channel(s)" in out
    (tmp_path / "x.txt").write_text("hi")
    assert "unsupported image type" in _invoke("predict", run_dir, tmp_path / "x.txt", ok=False).output
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert "cannot read image" in _invoke("predict", run_dir, tmp_path / "obj.npy", ok=False).output


@pytest.mark.parametrize("option, value, message", [
    ("--model", "resnet9000", "unknown model 'resnet9000'; valid names: lenet5, lenet5-1998"),
    ("--dataset", "imagenet", "unknown dataset 'imagenet'; valid names: mnist-5k, fashion-mnist"),
])
def test_unknown_names(tmp_path, option, value, message):
    out = _invoke("train", option, value, "--out", tmp_path / "r", ok=False).output
    assert message in out
    assert not (tmp_path / "r").exists()


def test_wrong_input_shape_for_model(tmp_path):
    # a tiny but well-formed CIFAR-10 binary folder: 3x32x32 images do not fit lenet5
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        records = np.concatenate([rng.integers(0, 10, (2, 1)), rng.integers(0, 256, (2, 3072))], 1)
        (tmp_path / name).write_bytes(records.astype(np.uint8).tobytes())
    out = _invoke("train", "--dataset", "cifar10", "--data-root", tmp_path, "--out",
                  tmp_path / "r", ok=False).output
    assert "model 'lenet5' expects inputs of shape (1, 28, 28)" in out and "(3, 32, 32)" in out


def test_existing_run_is_not_overwritten(run_dir):
    before = _snapshot(run_dir)
    out = _invoke("train", *TINY, "--out", run_dir, ok=False).output
    assert "already holds a run" in out and "--resume" in out
    assert _snapshot(run_dir) == before


def test_resume_refuses_changed_settings(run_dir):
    before = _snapshot(run_dir)
    out = _invoke("train", "--resume", run_dir, "--lr", "0.5", ok=False).output
    assert "only --epochs may be given" in out and "--lr" in out
    out = _invoke("train", "--resume", run_dir, "--epochs", "3", ok=False).output
    assert "onecycle schedule is fixed to 1 epochs" in out
    assert _snapshot(run_dir) == before


def test_resume_of_finished_run_extends_a_constant_schedule(tmp_path):
    out = tmp_path / "const"
    _invoke("train", *TINY, "--schedule", "none", "--out", out)
    text = _invoke("train", "--resume", out, "--epochs", "2").output
    assert "resuming" in text and "epoch   2/2" in text
    assert len(json.loads((out / "metrics.json").read_text())["history"]) == 2


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupt_files_give_clear_errors(run_dir, tmp_path, damage):
    broken = tmp_path / "broken"
    broken.mkdir()
    for name, data in _snapshot(run_dir).items():
        if name.endswith(".safetensors"):
            data = data[: len(data) // 3] if damage == "truncate" else os.urandom(len(data))
        (broken / name).write_bytes(data)
    before = _snapshot(broken)
    out = _invoke("train", "--resume", broken, ok=False).output
    assert "checkpoint.safetensors" in out and ("truncated or corrupt" in out or "corrupt" in out)
    out = _invoke("eval", broken, ok=False).output
    assert "model.safetensors" in out and "corrupt" in out
    assert _snapshot(broken) == before


def test_checkpoint_of_another_model(run_dir, tmp_path):
    import ndconv as nc

    nc.manual_seed(0)
    other = build_model("lenet5-1998")
    before = other.state_dict()
    with pytest.raises(WeightsFileError, match="does not fit LeNet5.*left unchanged") as info:
        load_checkpoint(run_dir / "checkpoint.safetensors", other)
    assert "features.3.weight" in str(info.value)  # a key named in the message
    for k, v in other.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    # a weights file claiming to be lenet5 but holding the 1998 model's tensors
    save_weights(other, tmp_path / "liar.safetensors", {"model": "lenet5", "num_classes": 10})
    out = _invoke("eval", tmp_path / "liar.safetensors", ok=False).output
    assert "does not fit LeNet5" in out and "liar.safetensors" in out


def test_sigkill_mid_epoch_then_resume(tmp_path):
    args = ["train", "--limit", "1500", "--test-limit", "100", "--epochs", "4",
            "--batch-size", "25", "--no-progress", "--no-report", "--seed", "3"]
    killed = tmp_path / "killed"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "ndconv.cli", *args, "--out", str(killed)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 60
        while not (killed / "checkpoint.safetensors").exists():
            assert proc.poll() is None, proc.stdout.read().decode()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "no checkpoint after 60 s"
            time.sleep(0.02)
        time.sleep(0.15)  # into epoch 2 (an epoch takes >= 0.4 s)
        assert proc.poll() is None, "training finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    # every file left behind is whole (temp files are hidden and never read)
    ck = read_checkpoint(killed / "checkpoint.safetensors")
    assert 1 <= ck.epoch < 4
    if (killed / "metrics.json").exists():  # written just after the checkpoint
        metrics = json.loads((killed / "metrics.json").read_text())
        assert len(metrics["history"]) in (ck.epoch - 1, ck.epoch)
    for leftover in killed.glob(".*.tmp"):
        leftover.unlink()

    resumed = subprocess.run([sys.executable, "-m", "ndconv.cli", "train", "--resume",
                              str(killed)], capture_output=True, text=True, timeout=120, env=env)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"resuming {killed} at epoch {ck.epoch + 1}" in resumed.stdout
    history = json.loads((killed / "metrics.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    for name in ("model.safetensors", "checkpoint.safetensors"):
        load_weights(killed / name)

    # the interrupted-and-resumed run ends with the uninterrupted run's weights, bit for bit
    straight = tmp_path / "straight"
    _invoke(*args, "--out", straight)
    a, _ = load_weights(killed / "model.safetensors")
    b, _ = load_weights(straight / "model.safetensors")
    assert list(a) == list(b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
