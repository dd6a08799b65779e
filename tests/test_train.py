"""ndconv.train: determinism, bit-exact resume (end of epoch, mid-epoch, Ctrl-C), files."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest

pytest.importorskip("safetensors")

import ndconv as nc  # noqa: E402
import ndconv.nn as nn  # noqa: E402
import ndconv.optim as optim  # noqa: E402
from ndconv.data import ArrayDataset, DataLoader, RandomShift  # noqa: E402
from ndconv.io import load_weights, read_checkpoint  # noqa: E402
from ndconv.train import Trainer, evaluate  # noqa: E402


def _data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.standard_normal((n, 1, 8, 8)).astype(np.float32) * 0.5
    x[np.arange(n), 0, y * 2, y * 2] += 3.0  # a learnable class signal
    return x, y


def _setup(out_dir=None, epochs=3, optimizer="adam", seed=0, **kw):
    nc.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Dropout(0.25), nn.Linear(64, 3),
    )
    if optimizer == "adam":
        opt = optim.Adam(model.parameters(), lr=1e-2)
    else:
        opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    x, y = _data()
    train = DataLoader(ArrayDataset(x[:64], y[:64]), batch_size=16, shuffle=True, seed=seed,
                       transform=RandomShift(1))
    test = DataLoader(ArrayDataset(x[64:], y[64:]), batch_size=32)
    return Trainer(model, opt, train_loader=train, test_loader=test, out_dir=out_dir,
                   epochs=epochs, progress=False, **kw)


def _weights(trainer):
    return trainer.model.state_dict()


def _assert_same(a, b):
    assert list(a) == list(b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_same_seed_gives_bit_identical_weights(capsys):
    a = _setup()
    a.fit()
    b = _setup()  # ndconv's generator is global: build each run just before it trains
    b.fit()
    _assert_same(_weights(a), _weights(b))
    c = _setup(seed=1)
    c.fit()
    assert not np.array_equal(_weights(a)["0.weight"], _weights(c)["0.weight"])
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch")]
    assert len(lines) == 9 and "test loss" in lines[0] and "samples/s" in lines[0]


def test_training_learns_and_writes_files(tmp_path):
    t = _setup(tmp_path, epochs=4)
    history = t.fit()
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert history[-1]["test_acc"] > 0.6
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["history"] == json.loads(json.dumps(history))
    assert {"train_loss", "train_acc", "test_loss", "test_acc", "epoch_time", "lr"} <= set(
        metrics["history"][0])
    ck = read_checkpoint(tmp_path / "checkpoint.safetensors")
    assert (ck.epoch, ck.step) == (4, 16)
    t.save_weights()
    sd, meta = load_weights(tmp_path / "model.safetensors")
    _assert_same(sd, _weights(t))
    assert meta["test_acc"] == history[-1]["test_acc"]


def test_evaluate_uses_eval_mode_and_no_grad():
    t = _setup()
    seen = []
    t.model.register_forward_hook(
        lambda m, i, out: seen.append((m.training, nc.is_grad_enabled(), out.requires_grad)))
    result = evaluate(t.model, t.test_loader)
    assert result["n"] == 32 and 0 <= result["acc"] <= 1
    assert seen and all(s == (False, False, False) for s in seen)
    assert t.model.training  # mode restored


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_resume_after_epoch_is_bit_identical(tmp_path, optimizer):
    full = _setup(epochs=3, optimizer=optimizer)
    full.fit()
    first = _setup(tmp_path, epochs=1, optimizer=optimizer)
    first.fit()
    second = _setup(tmp_path, epochs=3, optimizer=optimizer, seed=0)
    nc.manual_seed(123)  # the checkpoint's RNG state must win over whatever is current
    second.fit(resume=True)
    _assert_same(_weights(full), _weights(second))
    assert [h["epoch"] for h in second.history] == [1, 2, 3]
    for h_full, h_res in zip(full.history, second.history):
        assert h_full["train_loss"] == h_res["train_loss"]


def test_resume_mid_epoch_after_exception_is_bit_identical(tmp_path):
    full = _setup(epochs=2)
    full.fit()
    t = _setup(tmp_path, epochs=2)
    original, calls = t.train_step, []

    def interrupted_step(xb, yb):
        calls.append(1)
        if len(calls) == 7:  # epoch 2, batch 3
            raise KeyboardInterrupt
        return original(xb, yb)

    t.train_step = interrupted_step
    with pytest.raises(KeyboardInterrupt):
        t.fit()
    ck = read_checkpoint(tmp_path / "checkpoint.safetensors")
    assert (ck.epoch, ck.step, ck.extra["batch_in_epoch"]) == (1, 6, 2)
    resumed = _setup(tmp_path, epochs=2)
    resumed.fit(resume=True)
    _assert_same(_weights(full), _weights(resumed))
    assert resumed.history[-1]["train_loss"] == full.history[-1]["train_loss"]


def test_ctrl_c_finishes_the_batch_then_saves(tmp_path):
    full = _setup(epochs=2)
    full.fit()
    t = _setup(tmp_path, epochs=2)
    original, calls = t.train_step, []

    def step_with_sigint(xb, yb):
        calls.append(1)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGINT)  # handled: stop after this batch
        return original(xb, yb)

    t.train_step = step_with_sigint
    with pytest.raises(KeyboardInterrupt):
        t.fit()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler removed
    ck = read_checkpoint(tmp_path / "checkpoint.safetensors")
    assert (ck.epoch, ck.step, ck.extra["batch_in_epoch"]) == (0, 3, 3)
    resumed = _setup(tmp_path, epochs=2)
    resumed.fit(resume=True)
    _assert_same(_weights(full), _weights(resumed))


def test_resume_without_checkpoint_starts_fresh(tmp_path):
    t = _setup(tmp_path, epochs=1)
    assert t.resume() is False
    t.fit(resume=True)
    assert t.epoch == 1


def test_bad_arguments():
    with pytest.raises(ValueError, match="epochs"):
        _setup(epochs=0)
    with pytest.raises(ValueError, match="scheduler_interval"):
        _setup(scheduler_interval="batch")


def test_reconstruction_target_and_no_metric(tmp_path, capsys):
    from ndconv.nn.functional import mse_loss

    nc.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Conv2d(2, 1, 3, padding=1))
    x, y = _data()
    train = DataLoader(ArrayDataset(x[:64], y[:64]), batch_size=16, shuffle=True, seed=0)
    test = DataLoader(ArrayDataset(x[64:], y[64:]), batch_size=32)
    t = Trainer(model, optim.Adam(model.parameters(), lr=1e-2), loss_fn=mse_loss,
                train_loader=train, test_loader=test, out_dir=tmp_path, epochs=2, progress=False,
                target_fn=lambda xb, yb: xb, metric=None, loss_labels=("train MSE", "test MSE"))
    history = t.fit()
    assert all("train_acc" not in h and "test_acc" not in h for h in history)
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    result = evaluate(model, test, mse_loss, target_fn=lambda xb, yb: xb, metric=None)
    assert result["loss"] == history[-1]["test_loss"] and "acc" not in result
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch")]
    assert len(lines) == 2 and "train MSE" in lines[0] and "test MSE" in lines[0]
    assert "acc" not in lines[0]
    assert json.loads((tmp_path / "metrics.json").read_text())["best_test_acc"] is None


def test_unknown_metric_is_refused():
    with pytest.raises(ValueError, match="`metric` must be 'accuracy' or None; got metric='mse'"):
        _setup(metric="mse")
    with pytest.raises(ValueError, match="evaluate: `metric`"):
        evaluate(_setup().model, [], metric="top5")
