"""Time full training steps and batch-1 inference: ndconv against PyTorch, same weights.

    python benchmarks/train_step.py                  # LeNet-5 b128 step, ResNet-18/CIFAR b64 step,
                                                     # LeNet-5 batch-1 latency
    python benchmarks/train_step.py --only lenet --profile   # + a cProfile of ndconv's step

Each library runs in its own block after an idle gap and a warm-up (never interleaved), and
reports the median over repeats; the ratio is ndconv / torch. Peak memory (measured in one
extra, untimed call, since tracing slows every allocation): tracemalloc for
ndconv's NumPy arrays, and the process's max RSS growth around torch's block.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import resource
import sys
import time
import tracemalloc

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import blas_threads, geomean, idle, sgemm_gflops, torch_lenet5  # noqa: E402

import ndconv as nc  # noqa: E402
import ndconv.nn.functional as F  # noqa: E402
from ndconv.models import lenet5, resnet18_cifar  # noqa: E402
from ndconv.optim import SGD  # noqa: E402


def _median_time(fn, repeats: int, budget: float) -> float:
    fn()  # warm-up
    times: list[float] = []
    t_end = time.perf_counter() + budget
    while len(times) < repeats and (len(times) < 3 or time.perf_counter() < t_end):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def ndconv_step(model, batch: np.ndarray, labels: np.ndarray):
    opt = SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = nc.tensor(batch)

    def step() -> None:
        opt.zero_grad()
        F.cross_entropy(model(x), labels).backward()
        opt.step()

    return step


def torch_model(model, torch_factory):
    import torch

    tm = torch_factory()
    sd = {k: torch.from_numpy(np.array(v)) for k, v in model.state_dict().items()}
    tm.load_state_dict(sd)
    return tm


def torch_step(tm, batch: np.ndarray, labels: np.ndarray):
    import torch

    opt = torch.optim.SGD(tm.parameters(), lr=0.01, momentum=0.9)
    x = torch.from_numpy(batch)
    y = torch.from_numpy(labels)

    def step() -> None:
        opt.zero_grad()
        torch.nn.functional.cross_entropy(tm(x), y).backward()
        opt.step()

    return step


def torch_resnet18_cifar():
    import torch.nn as tnn

    class Block(tnn.Module):
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.conv1 = tnn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = tnn.BatchNorm2d(cout)
            self.relu = tnn.ReLU()
            self.conv2 = tnn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = tnn.BatchNorm2d(cout)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = tnn.Sequential(tnn.Conv2d(cin, cout, 1, stride, bias=False), tnn.BatchNorm2d(cout))

        def forward(self, x):
            idt = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            return self.relu(self.bn2(self.conv2(out)) + idt)

    class Net(tnn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = tnn.Conv2d(3, 64, 3, 1, 1, bias=False)
            self.bn1 = tnn.BatchNorm2d(64)
            self.relu = tnn.ReLU()
            chans = [(64, 64, 1), (64, 128, 2), (128, 256, 2), (256, 512, 2)]
            for i, (a, b, s) in enumerate(chans, start=1):
                setattr(self, f"layer{i}", tnn.Sequential(Block(a, b, s), Block(b, b, 1)))
            self.avgpool = tnn.AdaptiveAvgPool2d(1)
            self.fc = tnn.Linear(512, 10)

        def forward(self, x):
            x = self.relu(self.bn1(self.conv1(x)))
            for i in range(1, 5):
                x = getattr(self, f"layer{i}")(x)
            return self.fc(self.avgpool(x).flatten(1))

    return Net()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default="lenet,resnet,latency", help="comma list of: lenet, resnet, latency")
    ap.add_argument("--profile", action="store_true", help="print a cProfile of ndconv's step")
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args(argv)
    import torch

    threads = blas_threads()
    torch.set_num_threads(threads)
    print(f"threads {threads}; sgemm {sgemm_gflops():.0f} GFLOP/s")
    rng = np.random.default_rng(0)
    rows = []
    for name in args.only.split(","):
        nc.manual_seed(0)
        if name == "lenet":
            model, tf, shape, n = lenet5(), torch_lenet5, (1, 28, 28), 128
        elif name == "resnet":
            model, tf, shape, n = resnet18_cifar(), torch_resnet18_cifar, (3, 32, 32), 64
        elif name == "latency":
            model, tf, shape, n = lenet5(), torch_lenet5, (1, 28, 28), 1
        else:
            raise SystemExit(f"unknown case {name!r}")
        x = rng.random((n, *shape), dtype=np.float32)
        y = rng.integers(0, 10, n)
        tm = torch_model(model, tf)
        if name == "latency":
            model.eval()
            tm.eval()

            def nd_fn(model=model, x=x) -> None:
                with nc.no_grad():
                    model(nc.tensor(x))

            tx = torch.from_numpy(x)

            def t_fn(tm=tm, tx=tx) -> None:
                with torch.no_grad():
                    tm(tx)

            reps, budget = 200, 2.0
        else:
            nd_fn, t_fn = ndconv_step(model, x, y), torch_step(tm, x, y)
            reps, budget = args.repeats, 20.0
        idle()
        nd_t = _median_time(nd_fn, reps, budget)
        tracemalloc.start()  # a separate, untimed call: tracing slows every allocation
        nd_fn()
        nd_peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        if args.profile:
            cProfile.runctx("for _ in range(3): nd_fn()", globals(), {"nd_fn": nd_fn}, "/tmp/ndconv_step.prof")
            pstats.Stats("/tmp/ndconv_step.prof").sort_stats("tottime").print_stats(15)
        idle()
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t_t = _median_time(t_fn, reps, budget)
        t_peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
        rows.append((name, n, nd_t, t_t, nd_peak, t_peak))
        print(f"{name:8s} batch {n:4d}: ndconv {nd_t * 1e3:8.2f} ms  torch {t_t * 1e3:8.2f} ms  "
              f"ratio {nd_t / t_t:5.2f}  peak MiB ndconv {nd_peak:7.1f} torch(rss growth) {t_peak:7.1f}")
    print(f"geomean ratio {geomean([r[2] / r[3] for r in rows]):.2f}")


if __name__ == "__main__":
    main()
