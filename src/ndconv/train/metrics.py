"""Per-epoch metric history: accumulate batch results, save ``metrics.json``, draw curves."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["RunningMetrics", "accuracy_count", "plot_curves"]


def accuracy_count(logits: np.ndarray, target: np.ndarray) -> int:
    """Return how many rows of `logits` (N, C) have their largest entry at `target` (N,)."""
    return int((np.argmax(logits, axis=1) == target).sum())


class RunningMetrics:
    """Sample-weighted running mean of the loss and accuracy over an epoch.

    >>> m = RunningMetrics()
    >>> m.update(loss=0.5, correct=3, n=4); m.update(loss=1.0, correct=4, n=4)
    >>> m.loss, m.accuracy
    (0.75, 0.875)
    """

    def __init__(self, loss_sum: float = 0.0, correct: int = 0, count: int = 0) -> None:
        self.loss_sum = float(loss_sum)
        self.correct = int(correct)
        self.count = int(count)

    def update(self, loss: float, correct: int, n: int) -> None:
        """Add one batch: its mean `loss`, number of `correct` predictions and size `n`."""
        self.loss_sum += float(loss) * n
        self.correct += int(correct)
        self.count += int(n)

    @property
    def loss(self) -> float:
        return self.loss_sum / self.count if self.count else float("nan")

    @property
    def accuracy(self) -> float:
        return self.correct / self.count if self.count else float("nan")

    def state_dict(self) -> dict[str, Any]:
        return {"loss_sum": self.loss_sum, "correct": self.correct, "count": self.count}


def plot_curves(history: Sequence[dict[str, Any]], path: str | os.PathLike[str]) -> Path | None:
    """Draw loss and accuracy per epoch (train and test) to a PNG; None without matplotlib.

    Uses the object-oriented Figure API with the Agg canvas, so no pyplot global state is
    touched and no display is needed.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    from ndconv.io.atomic import atomic_write_bytes

    epochs = [h["epoch"] for h in history]
    fig = Figure(figsize=(9, 3.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax_loss, ax_acc = fig.subplots(1, 2)
    for split, style in (("train", "-o"), ("test", "-s")):
        loss = [h.get(f"{split}_loss", np.nan) for h in history]
        acc = [100 * h.get(f"{split}_acc", np.nan) for h in history]
        if not np.all(np.isnan(np.asarray(loss, dtype=float))):
            ax_loss.plot(epochs, loss, style, markersize=3, label=split)
            ax_acc.plot(epochs, acc, style, markersize=3, label=split)
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss", yscale="log")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return atomic_write_bytes(path, buf.getvalue())
