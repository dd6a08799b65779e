"""The training loop: epochs, progress bar, metrics, checkpoints, resume, Ctrl-C.

One epoch is: ``model.train()``; for every batch of the loader, forward, loss, backward,
optimizer step (and scheduler step, for per-step schedules such as OneCycleLR); then
``evaluate`` on the test loader under ``no_grad()`` with ``model.eval()``; then the
checkpoint and ``metrics.json`` are written atomically.

Reproducibility: the only randomness is ndconv's generator (initialisation, dropout) and the
loader's (shuffle and augmentation, a pure function of its seed and epoch). A checkpoint
stores the generator state and the position in the epoch, so a resumed run replays exactly
the batches an uninterrupted run would have seen and ends with bit-identical weights.
"""

from __future__ import annotations

import contextlib
import math
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

import numpy as np

import ndconv as nc
from ndconv import random as nc_random
from ndconv.io.atomic import atomic_write_json
from ndconv.io.checkpoint import load_checkpoint, save_checkpoint
from ndconv.io.weights import save_weights
from ndconv.train.metrics import RunningMetrics, accuracy_count

__all__ = ["Trainer", "evaluate", "CHECKPOINT_NAME", "METRICS_NAME", "WEIGHTS_NAME"]

CHECKPOINT_NAME = "checkpoint.safetensors"
METRICS_NAME = "metrics.json"
WEIGHTS_NAME = "model.safetensors"
# Schedules that are stepped after every optimizer step rather than every epoch.
_PER_STEP_SCHEDULERS = ("OneCycleLR",)


def _cross_entropy(logits: Any, target: Any) -> Any:
    from ndconv.nn.functional import cross_entropy

    return cross_entropy(logits, target)


def _labels(xb: np.ndarray, yb: np.ndarray) -> np.ndarray:
    return yb


_METRICS = ("accuracy", None)


def _check_metric(metric: str | None, where: str) -> None:
    if metric not in _METRICS:
        raise ValueError(f"{where}: `metric` must be 'accuracy' or None; got metric={metric!r}.")


def evaluate(
    model: Any,
    loader: Any,
    loss_fn: Callable[[Any, Any], Any] = _cross_entropy,
    target_fn: Callable[[np.ndarray, np.ndarray], Any] = _labels,
    metric: str | None = "accuracy",
) -> dict[str, float]:
    """Return the mean loss (and the accuracy) of `model` over `loader`.

    Runs under ``ndconv.no_grad()`` with ``model.eval()`` and restores the model's previous
    mode afterwards.

    Args:
        model, loader, loss_fn: as for :class:`Trainer`.
        target_fn: ``target_fn(xb, yb)`` is what ``loss_fn`` compares the output with; the
            labels by default.
        metric: ``"accuracy"``, or None for the loss alone.

    Returns:
        ``{"loss": mean loss per sample, "acc": fraction correct, "n": number of samples}``,
        without ``"acc"`` when `metric` is None.

    Raises:
        ValueError: an unknown `metric`.
    """
    _check_metric(metric, "evaluate")
    was_training = getattr(model, "training", True)
    model.eval()
    running = RunningMetrics()
    try:
        with nc.no_grad():
            for xb, yb in loader:
                out = model(nc.tensor(xb))
                target = target_fn(xb, yb)
                loss = loss_fn(out, target)
                correct = accuracy_count(np.asarray(out), target) if metric == "accuracy" else 0
                running.update(float(loss.item()), correct, len(xb))
    finally:
        model.train(was_training)
    result: dict[str, float] = {"loss": running.loss, "n": running.count}
    if metric == "accuracy":
        result["acc"] = running.accuracy
    return result


class _StopFlag:
    """Turn the first SIGINT into a request to stop after the current batch.

    A second Ctrl-C raises KeyboardInterrupt at once, as usual. Installed only in the main
    thread (Python delivers signals there); elsewhere KeyboardInterrupt is caught instead.
    """

    def __init__(self) -> None:
        self.requested = False

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.getsignal(signal.SIGINT)

        def handler(signum: int, frame: Any) -> None:
            if self.requested:
                signal.signal(signal.SIGINT, signal.default_int_handler)
                raise KeyboardInterrupt
            self.requested = True

        signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)


class Trainer:
    """Train a model for a number of epochs, with checkpoints and resume.

    A classifier by default: cross-entropy against the labels, and accuracy. Other tasks
    set `loss_fn`, `target_fn` and `metric`; an autoencoder, for instance, uses
    ``loss_fn=mse_loss, target_fn=lambda xb, yb: xb, metric=None``.

    Args:
        model: an ``ndconv.nn.Module`` mapping a batch ``(N, C, *spatial)`` to its output,
            e.g. logits ``(N, K)``.
        optimizer: an ``ndconv.optim`` optimizer over the model's parameters.
        loss_fn: ``loss_fn(output, target) -> scalar Tensor``; cross-entropy by default.
        train_loader: iterable of NumPy ``(xb, yb)`` batches (an ``ndconv.data.DataLoader``;
            its ``set_epoch`` is called so every epoch's order is reproducible).
        test_loader: batches evaluated after each epoch, or None.
        scheduler: a learning-rate scheduler, or None. OneCycleLR is stepped after every
            optimizer step, others after every epoch (override with `scheduler_interval`).
        out_dir: folder for ``checkpoint.safetensors``, ``metrics.json`` and
            ``model.safetensors``; None writes nothing (and cannot resume).
        epochs: total number of epochs (a resumed run continues up to this number).
        metadata: JSON-able values stored in the weights file and the checkpoint header.
        progress: show a tqdm bar; None shows it only when stderr is a terminal.
        log: where the one-line summary of each epoch goes (stdout by default).
        scheduler_interval: ``"step"`` or ``"epoch"``; None infers it from the scheduler.
        target_fn: ``target_fn(xb, yb)`` is the target of a batch: the labels ``yb`` by
            default; the input ``xb`` itself for a reconstruction.
        metric: ``"accuracy"`` (counted per batch; ``train_acc``/``test_acc`` in the history),
            or None: the history and the log line then show only the loss.
        loss_labels: how the log line names the train and test loss.

    Examples:
        >>> import io, numpy as np, ndconv as nc, ndconv.nn as nn
        >>> from ndconv.data import ArrayDataset, DataLoader
        >>> from ndconv.optim import Adam
        >>> nc.manual_seed(0)
        >>> x = np.random.default_rng(0).random((64, 1, 8, 8), dtype=np.float32)
        >>> y = (x.mean(axis=(1, 2, 3)) > 0.5).astype(np.int64)
        >>> model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.GlobalAvgPool(), nn.Linear(4, 2))
        >>> loader = DataLoader(ArrayDataset(x, y), batch_size=16, shuffle=True, seed=0)
        >>> trainer = Trainer(model, Adam(model.parameters(), lr=1e-2), train_loader=loader,
        ...                   epochs=2, progress=False, log=io.StringIO())
        >>> history = trainer.fit()
        >>> len(history), sorted(history[-1])[:3]
        (2, ['epoch', 'epoch_time', 'lr'])
    """

    def __init__(
        self,
        model: Any,
        optimizer: Any,
        loss_fn: Callable[[Any, Any], Any] | None = None,
        train_loader: Any = None,
        test_loader: Any = None,
        scheduler: Any = None,
        out_dir: str | Path | None = None,
        epochs: int = 10,
        metadata: dict[str, Any] | None = None,
        progress: bool | None = None,
        log: TextIO | None = None,
        scheduler_interval: str | None = None,
        target_fn: Callable[[np.ndarray, np.ndarray], Any] = _labels,
        metric: str | None = "accuracy",
        loss_labels: tuple[str, str] = ("train loss", "test loss"),
    ) -> None:
        if train_loader is None:
            raise TypeError("Trainer: `train_loader` is required.")
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
            raise ValueError(f"Trainer: `epochs` must be an int >= 1; got epochs={epochs!r}.")
        if scheduler_interval is None:
            per_step = type(scheduler).__name__ in _PER_STEP_SCHEDULERS
            scheduler_interval = "step" if per_step else "epoch"
        if scheduler_interval not in ("step", "epoch"):
            raise ValueError(
                f"Trainer: `scheduler_interval` must be 'step' or 'epoch'; got {scheduler_interval!r}."
            )
        _check_metric(metric, "Trainer")
        self.model = model
        self.optimizer = optimizer
        self.loss_fn = loss_fn if loss_fn is not None else _cross_entropy
        self.target_fn = target_fn
        self.metric = metric
        self.loss_labels = loss_labels
        self.train_loader = train_loader
        self.test_loader = test_loader
        self.scheduler = scheduler
        self.scheduler_interval = scheduler_interval
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.epochs = int(epochs)
        self.metadata = dict(metadata or {})
        self.progress = progress
        self.log = log
        self.epoch = 0  # completed epochs
        self.step = 0  # optimizer steps taken
        self.batch_in_epoch = 0  # batches of the current epoch already trained
        self.history: list[dict[str, Any]] = []
        self._running = RunningMetrics()
        self._epoch_time = 0.0
        self._stop = _StopFlag()

    # --- files ---------------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path | None:
        return self.out_dir / CHECKPOINT_NAME if self.out_dir is not None else None

    def save_checkpoint(self) -> Path | None:
        """Write the full training state to ``out_dir/checkpoint.safetensors`` (atomically)."""
        if self.checkpoint_path is None:
            return None
        rng = {"ndconv": nc_random.get_state(),
               "loader_seed": getattr(self.train_loader, "seed", None)}
        extra = {"batch_in_epoch": self.batch_in_epoch, "running": self._running.state_dict(),
                 "epoch_time": self._epoch_time, "epochs": self.epochs}
        return save_checkpoint(
            self.checkpoint_path, self.model, self.optimizer, self.scheduler,
            epoch=self.epoch, step=self.step, rng_state=rng, history=self.history,
            extra=extra, metadata=self.metadata,
        )

    def resume(self, path: str | Path | None = None) -> bool:
        """Restore model, optimizer, scheduler, counters and RNG state from a checkpoint.

        Args:
            path: the checkpoint; defaults to ``out_dir/checkpoint.safetensors``.

        Returns:
            True if a checkpoint was loaded, False if there is none yet (a fresh start).

        Raises:
            ndconv.io.WeightsFileError: corrupt checkpoint, or one of another model.
        """
        path = Path(path) if path is not None else self.checkpoint_path
        if path is None or not path.exists():
            return False
        ck = load_checkpoint(path, self.model, self.optimizer, self.scheduler)
        self.epoch, self.step = ck.epoch, ck.step
        self.history = list(ck.history or [])
        extra = ck.extra or {}
        self.batch_in_epoch = int(extra.get("batch_in_epoch", 0))
        self._running = RunningMetrics(**extra.get("running", {}))
        self._epoch_time = float(extra.get("epoch_time", 0.0))
        rng = ck.rng_state or {}
        if rng.get("ndconv") is not None:
            nc_random.set_state(rng["ndconv"])
        return True

    def write_metrics(self) -> None:
        """Write the history to ``out_dir/metrics.json`` (atomically; done after every epoch)."""
        if self.out_dir is not None:
            best = max((h["test_acc"] for h in self.history if "test_acc" in h), default=None)
            atomic_write_json(self.out_dir / METRICS_NAME,
                              {"history": self.history, "best_test_acc": best,
                               "epochs": self.epochs, "metadata": self.metadata})

    def save_weights(self, extra_metadata: dict[str, Any] | None = None) -> Path | None:
        """Write the model's weights to ``out_dir/model.safetensors`` with the metadata."""
        if self.out_dir is None:
            return None
        meta = dict(self.metadata)
        if self.history:
            last = self.history[-1]
            meta.update({k: last[k] for k in ("epoch", "test_acc", "test_loss") if k in last})
        meta.update(extra_metadata or {})
        return save_weights(self.model, self.out_dir / WEIGHTS_NAME, meta)

    # --- the loop ------------------------------------------------------------------------
    def _lr(self) -> float | None:
        groups = getattr(self.optimizer, "param_groups", None)
        return float(groups[0]["lr"]) if groups else None


    def _make_bar(self, epoch: int) -> Any:
        try:
            from tqdm.auto import tqdm
        except ImportError:
            return None
        disable = None if self.progress is None else not self.progress
        return tqdm(total=len(self.train_loader), initial=self.batch_in_epoch, disable=disable,
                    desc=f"epoch {epoch + 1}/{self.epochs}", unit="batch", leave=False,
                    file=sys.stderr, dynamic_ncols=True)

    def _batches(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """This epoch's batches, skipping those a resumed checkpoint has already trained."""
        if hasattr(self.train_loader, "set_epoch"):
            self.train_loader.set_epoch(self.epoch)
        for i, batch in enumerate(self.train_loader):
            if i >= self.batch_in_epoch:  # earlier ones are drawn (keeping every RNG in step)
                yield batch

    def train_step(self, xb: np.ndarray, yb: np.ndarray) -> tuple[float, int]:
        """One optimizer step on a batch; returns (mean loss, number correct or 0 without metric)."""
        out = self.model(nc.tensor(xb))
        target = self.target_fn(xb, yb)
        loss = self.loss_fn(out, target)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        if self.scheduler is not None and self.scheduler_interval == "step":
            self.scheduler.step()
        correct = accuracy_count(np.asarray(out), target) if self.metric == "accuracy" else 0
        return float(loss.item()), correct

    def fit(self, resume: bool = False) -> list[dict[str, Any]]:
        """Train up to ``epochs`` epochs; return the history (one dict per epoch).

        Args:
            resume: continue from ``out_dir/checkpoint.safetensors`` if it exists.

        Raises:
            KeyboardInterrupt: after Ctrl-C, once the checkpoint of the last finished batch
                has been written (resume with ``resume=True``).
        """
        if resume:
            self.resume()
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        self._stop.requested = False
        with self._stop.installed():
            while self.epoch < self.epochs:
                self._train_epoch()
                if self._stop.requested and self.epoch < self.epochs:  # Ctrl-C during evaluation
                    print(f"\ninterrupted: checkpoint of epoch {self.epoch} saved to "
                          f"{self.checkpoint_path}", file=sys.stderr, flush=True)
                    raise KeyboardInterrupt
        return self.history

    def _train_epoch(self) -> None:
        self.model.train()
        lr_start = self._lr()
        bar = self._make_bar(self.epoch)
        t0 = time.perf_counter() - self._epoch_time
        seen_since_start, t_rate = 0, time.perf_counter()
        try:
            for xb, yb in self._batches():
                loss, correct = self.train_step(xb, yb)
                self._running.update(loss, correct, len(xb))
                self.step += 1
                self.batch_in_epoch += 1
                seen_since_start += len(xb)
                if bar is not None:
                    rate = seen_since_start / max(time.perf_counter() - t_rate, 1e-9)
                    postfix = {"loss": f"{self._running.loss:.4f}"}
                    if self.metric == "accuracy":
                        postfix["acc"] = f"{100 * self._running.accuracy:.2f}%"
                    postfix["samples/s"] = f"{rate:.0f}"
                    bar.set_postfix(postfix, refresh=False)
                    bar.update(1)
                if self._stop.requested:
                    raise KeyboardInterrupt
        except KeyboardInterrupt:
            self._epoch_time = time.perf_counter() - t0
            if bar is not None:
                bar.close()
            path = self.save_checkpoint()
            if path is not None:
                print(f"\ninterrupted: checkpoint of epoch {self.epoch + 1}, batch "
                      f"{self.batch_in_epoch} saved to {path}", file=sys.stderr, flush=True)
            raise
        if bar is not None:
            bar.close()
        train_time = time.perf_counter() - t0
        if self.scheduler is not None and self.scheduler_interval == "epoch":
            self.scheduler.step()
        record: dict[str, Any] = {"epoch": self.epoch + 1, "step": self.step,
                                  "train_loss": self._running.loss}
        if self.metric == "accuracy":
            record["train_acc"] = self._running.accuracy
        record.update(
            epoch_time=train_time,
            samples_per_s=self._running.count / train_time if train_time > 0 else math.nan,
            lr=lr_start,
        )
        if self.test_loader is not None:
            t1 = time.perf_counter()
            result = evaluate(self.model, self.test_loader, self.loss_fn, self.target_fn,
                              self.metric)
            record["test_loss"] = result["loss"]
            if "acc" in result:
                record["test_acc"] = result["acc"]
            record["eval_time"] = time.perf_counter() - t1
        self.history.append(record)
        self.epoch += 1
        self.batch_in_epoch = 0
        self._running = RunningMetrics()
        self._epoch_time = 0.0
        self.save_checkpoint()
        self.write_metrics()
        print(self._log_line(record), file=self.log or sys.stdout, flush=True)

    def _log_line(self, record: dict[str, Any]) -> str:
        """One epoch in a line: loss (and accuracy) per split, time, speed, learning rate."""
        line = f"epoch {record['epoch']:>3}/{self.epochs}"
        for split, label in zip(("train", "test"), self.loss_labels):
            if f"{split}_loss" in record:
                line += f"  {label} {record[f'{split}_loss']:.4f}"
            if f"{split}_acc" in record:
                line += f" acc {100 * record[f'{split}_acc']:6.2f}%"
        line += f"  {record['epoch_time']:5.1f}s  {record['samples_per_s']:.0f} samples/s"
        if record["lr"] is not None:
            line += f"  lr {record['lr']:.3g}"
        return line
