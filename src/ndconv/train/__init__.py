"""Training: the :class:`Trainer` loop with progress bars, metrics, checkpoints and resume.

See :class:`Trainer` for a runnable example.
"""

from ndconv.train.metrics import RunningMetrics, accuracy_count, plot_curves
from ndconv.train.trainer import CHECKPOINT_NAME, METRICS_NAME, WEIGHTS_NAME, Trainer, evaluate

__all__ = ["CHECKPOINT_NAME", "METRICS_NAME", "WEIGHTS_NAME", "RunningMetrics", "Trainer",
           "accuracy_count", "evaluate", "plot_curves"]
