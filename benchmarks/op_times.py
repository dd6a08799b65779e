"""Where a training step's time goes: ndconv's primitives, forward and backward, per layer.

    python benchmarks/op_times.py [--model lenet5|resnet18] [--batch N] [--steps N] [--threads N]

Wraps ``ndconv.autograd.record`` for the run: a primitive's forward time is the time since the
previous primitive recorded its result (so it includes the Python between them: argument
checks, module calls), its backward time is its VJP's. Convolutions are listed per weight
shape. Median-free: means over ``--steps`` steps after 5 warm-up steps, so run it on a quiet
machine. Not a comparison with PyTorch (see train_step.py).
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time
from typing import Any


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["lenet5", "resnet18"], default="lenet5")
    parser.add_argument("--batch", type=int, default=None, help="default: 128 (LeNet-5), 64 (ResNet-18)")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--threads", type=int, default=None, help="NDCONV_NUM_THREADS")
    args = parser.parse_args(argv)
    if args.threads:
        os.environ["NDCONV_NUM_THREADS"] = str(args.threads)

    import numpy as np

    import ndconv as nc
    import ndconv.autograd as ag
    import ndconv.nn.functional as F
    from ndconv.backend import num_workers
    from ndconv.models import lenet5, resnet18_cifar
    from ndconv.optim import SGD

    forward: dict[str, float] = collections.defaultdict(float)
    backward: dict[str, float] = collections.defaultdict(float)
    last = [time.perf_counter()]
    original = ag.record

    def timed_record(out: Any, inputs: Any, vjp: Any, name: str = "") -> Any:
        now = time.perf_counter()
        if name in ("conv", "conv_transpose") and len(inputs) > 1 and inputs[1] is not None:
            name = f"{name} {tuple(inputs[1].shape)}"
        forward[name] += now - last[0]

        def timed_vjp(g: Any) -> Any:
            t0 = time.perf_counter()
            result = vjp(g)
            backward[name] += time.perf_counter() - t0
            return result

        result = original(out, inputs, timed_vjp, name)
        last[0] = time.perf_counter()
        return result

    for module in list(sys.modules.values()):  # every ndconv module that imported record
        if getattr(module, "__name__", "").startswith("ndconv") and getattr(module, "record", None) is original:
            module.record = timed_record

    rng = np.random.default_rng(0)
    if args.model == "lenet5":
        model, batch, shape = lenet5(), args.batch or 128, (1, 28, 28)
    else:
        model, batch, shape = resnet18_cifar(), args.batch or 64, (3, 32, 32)
    x = nc.tensor(rng.standard_normal((batch, *shape), dtype=np.float32))
    labels = rng.integers(0, 10, batch)
    opt = SGD(model.parameters(), lr=0.01, momentum=0.9)
    totals = collections.defaultdict(float)

    def step() -> None:
        t0 = time.perf_counter()
        opt.zero_grad()
        last[0] = time.perf_counter()
        loss = F.cross_entropy(model(x), labels)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        opt.step()
        t3 = time.perf_counter()
        totals["forward"] += t1 - t0
        totals["backward"] += t2 - t1
        totals["optimizer"] += t3 - t2
        totals["step"] += t3 - t0

    for _ in range(5):
        step()
    for d in (forward, backward, totals):
        d.clear()
    for _ in range(args.steps):
        step()
    ms = 1e3 / args.steps
    print(f"{args.model}, batch {batch}, {num_workers()} thread(s), mean of {args.steps} steps")
    print("  ".join(f"{k} {v * ms:.2f} ms" for k, v in totals.items()))
    print(f"{'primitive':28s} {'forward ms':>10s} {'backward ms':>11s}")
    for name in sorted(set(forward) | set(backward), key=lambda k: -(forward[k] + backward[k])):
        print(f"{name:28s} {forward[name] * ms:10.2f} {backward[name] * ms:11.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
