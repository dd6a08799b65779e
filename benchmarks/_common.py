"""Shared timing helpers for the benchmark scripts (not tests; nothing here is imported by ndconv).

Hygiene rules, measured on the 2-core development machine (see /work/shared/DESIGN.md):

* NumPy/OpenBLAS and PyTorch each keep worker threads spinning for a while after a call, so
  timing one library right after the other corrupts both timings (a torch conv timed right
  after a NumPy GEMM ran 40x slower). Every library is therefore timed in its own *block*,
  preceded by an idle gap (:func:`idle`) and a warm-up call, and never interleaved.
* Each block reports the *median* of an adaptive number of repeats: at least ``min_reps``,
  at most ``max_reps``, stopping once ``budget_s`` seconds have been spent.
* The machine's sgemm rate (a 2048^3 ``np.matmul``) is measured in the same run, so results
  can be read as a fraction of what the BLAS can do here.
"""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

IDLE_S = 0.5


def idle(seconds: float = IDLE_S) -> None:
    """Sleep so that the other library's spinning worker threads go back to sleep."""
    time.sleep(seconds)


def usable_cpus() -> int:
    """CPUs this process may run on (respects ``taskset``), else os.cpu_count()."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def blas_threads() -> int:
    """Number of cores each library gets: ndconv's worker count (``NDCONV_NUM_THREADS`` or the
    usable cores). Torch is given as many threads, and the sgemm peak is measured with as many.

    (NumPy's BLAS itself runs one thread under ndconv's pool, so its own count is not it.)
    """
    from ndconv.backend import num_workers

    return num_workers()


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> tuple[float, float, float]:
    try:
        return os.getloadavg()
    except OSError:
        return (float("nan"),) * 3


def _busy_ticks() -> int | None:
    """Busy CPU ticks of the whole machine since boot (/proc/stat), or None if unavailable."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle_ticks = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields[:8]) - idle_ticks


class ForeignLoad:
    """Measure how much CPU *other* processes used during a block, as a fraction of all cores.

    ``(machine busy CPU time - this process's CPU time) / (wall time * cores)``: 0 on a quiet
    machine, ~0.5 when another process kept one of two cores busy. Other helpers run test
    suites on the shared development machine, so every timing block reports this.
    """

    def __enter__(self) -> ForeignLoad:
        self._tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self._busy0 = _busy_ticks()
        self._own0 = sum(os.times()[:2])
        self._t0 = time.perf_counter()
        self.fraction = float("nan")
        return self

    def __exit__(self, *exc: object) -> None:
        busy1 = _busy_ticks()
        if busy1 is None or self._busy0 is None:
            return
        wall = time.perf_counter() - self._t0
        own = sum(os.times()[:2]) - self._own0
        foreign = (busy1 - self._busy0) / self._tick - own
        self.fraction = max(0.0, foreign / (wall * (os.cpu_count() or 1)))  # whole machine


def sgemm_gflops(n: int = 2048, reps: int = 7, warmup_s: float = 0.5) -> float:
    """Best-of-``reps`` float32 ``np.matmul`` rate for an n x n x n product, in GFLOP/s.

    Runs products for ``warmup_s`` first so that the BLAS threads are up and clocks settled.
    """
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty((n, n), np.float32)
    with _blas_on_all_cores():
        t_end = time.perf_counter() + warmup_s
        while time.perf_counter() < t_end:
            np.matmul(a, b, out=out)
        best = float("inf")
        for _ in range(reps):
            t0 = time.perf_counter()
            np.matmul(a, b, out=out)
            best = min(best, time.perf_counter() - t0)
    return 2.0 * n**3 / best / 1e9


def _blas_on_all_cores() -> Any:
    """Let NumPy's BLAS use ``blas_threads()`` threads for a while (ndconv holds it to one)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=blas_threads(), user_api="blas")


@dataclass
class Timing:
    """Median seconds of each named stage over ``reps`` repeats."""

    stages: dict[str, float] = field(default_factory=dict)
    reps: int = 0
    foreign: float = float("nan")  # CPU share used by other processes during the block


def time_block(
    step: Callable[[], dict[str, float]],
    *,
    warmup: int = 1,
    min_reps: int = 3,
    max_reps: int = 15,
    budget_s: float = 4.0,
    gap_s: float = IDLE_S,
) -> Timing:
    """Run ``step`` (which returns {stage: seconds}) after an idle gap and warm-up; return medians.

    Repeats until ``max_reps`` or until ``budget_s`` has been spent (but at least ``min_reps``).
    """
    idle(gap_s)
    for _ in range(warmup):
        step()
    samples: dict[str, list[float]] = {}
    start = time.perf_counter()
    reps = 0
    with ForeignLoad() as load:
        while reps < max_reps and (reps < min_reps or time.perf_counter() - start < budget_s):
            for k, v in step().items():
                samples.setdefault(k, []).append(v)
            reps += 1
    return Timing({k: statistics.median(v) for k, v in samples.items()}, reps, load.fraction)


def geomean(values: list[float]) -> float:
    return float(np.exp(np.mean(np.log(values)))) if values else float("nan")


def torch_lenet5() -> Any:
    """Return the PyTorch twin of ``ndconv.models.lenet5()``, with the same state-dict keys.

    Load ndconv's weights into it by name (``load_state_dict(..., strict=True)``) to compare
    the two libraries from the same starting point. torch is imported here, on first use.
    """
    import torch.nn as tnn

    class LeNet(tnn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = tnn.Sequential(
                tnn.Conv2d(1, 6, 5, padding=2), tnn.ReLU(), tnn.MaxPool2d(2),
                tnn.Conv2d(6, 16, 5), tnn.ReLU(), tnn.MaxPool2d(2),
            )
            self.classifier = tnn.Sequential(
                tnn.Flatten(), tnn.Linear(400, 120), tnn.ReLU(), tnn.Linear(120, 84), tnn.ReLU(),
                tnn.Linear(84, 10),
            )

        def forward(self, x: Any) -> Any:
            return self.classifier(self.features(x))

    return LeNet()
