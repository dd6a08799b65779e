"""Time full training steps and batch-1 inference: ndconv against PyTorch, same weights.

    python benchmarks/train_step.py                  # LeNet-5 b128 step, ResNet-18/CIFAR b64 step,
                                                     # LeNet-5 batch-1 latency
    python benchmarks/train_step.py --only lenet --profile   # + a cProfile of ndconv's step

Each library runs in its own block after an idle gap and a warm-up (never interleaved), and
reports the median over repeats; the ratio is ndconv / torch.

Peak memory is measured the same way for both libraries (skip it with --no-memory), each in
its own fresh subprocess (hidden option ``--_memory-child LIB CASE``) that imports only its
library (the ndconv child never imports torch), loads the same initial weights and batch as
the timing part (through a temporary .npz), uses the same thread count, runs one warm-up step
(so that gradients, optimizer state and allocator caches exist), then measures --mem-steps
more steps (median and range reported: torch's step varies by
~+-10% from step to step, ndconv's by ~1%). All figures are RSS from /proc/self/status, in MiB:

* ``base``: VmRSS after imports, model and batch, before any step (weights included);
* ``steady``: VmRSS just before a measured step: base + the last step's gradients + momentum;
* ``step``: the step's peak above steady (``VmHWM - steady``), i.e. what the step itself
  allocates (activations saved for backward, temporaries, new gradients), weights and
  optimizer state excluded for both libraries. The high-water mark is reset right before the
  step by writing "5" to /proc/self/clear_refs (Linux >= 4.0); where that fails the figure is
  ``ru_maxrss - steady``, an upper bound marked ``~``. ``gc.collect()`` and glibc's
  ``malloc_trim(0)`` run first, since glibc otherwise keeps most of the previous step's freed
  heap pages resident (ndconv ResNet: steady 1002, step 137 untrimmed vs 240 / 898 trimmed);
* ``total``: the process's peak RSS (VmHWM) during the step; ``train = total - base``: all
  that training adds to the loaded model (step peak + optimizer state), imports excluded;
* ``trace`` (ndconv only): tracemalloc's peak over one more step, NumPy arrays only.

The memory ratios are ndconv / torch of ``step`` and of ``train`` (for batch-1 latency both
are tiny and ``train`` is dominated by torch's lazy initialisation: read them as noise).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import blas_threads, geomean, idle, sgemm_gflops, torch_lenet5  # noqa: E402

import ndconv as nc  # noqa: E402
import ndconv.nn.functional as F  # noqa: E402
from ndconv.models import lenet5, resnet18_cifar  # noqa: E402
from ndconv.optim import SGD  # noqa: E402


def _median_time(fn, repeats: int, budget: float, warmup: int) -> float:
    for _ in range(warmup):  # ndconv's first steps after other shapes run slower (malloc settles)
        fn()
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


CASES = {  # name: (ndconv model factory, torch twin, input shape, batch)
    "lenet": (lenet5, torch_lenet5, (1, 28, 28), 128),
    "resnet": (resnet18_cifar, torch_resnet18_cifar, (3, 32, 32), 64),
    "latency": (lenet5, torch_lenet5, (1, 28, 28), 1),
}


def ndconv_fn(name: str, model, x: np.ndarray, y: np.ndarray):
    if name != "latency":
        return ndconv_step(model, x, y)
    model.eval()

    def fn() -> None:
        with nc.no_grad():
            model(nc.tensor(x))

    return fn


def torch_fn(name: str, tm, x: np.ndarray, y: np.ndarray):
    import torch

    if name != "latency":
        return torch_step(tm, x, y)
    tm.eval()
    tx = torch.from_numpy(x)

    def fn() -> None:
        with torch.no_grad():
            tm(tx)

    return fn


# --- peak memory, one fresh subprocess per library and case -----------------------------------
def _proc_status_kib() -> dict[str, int]:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, val = line.split(":")
                out[key] = int(val.split()[0])
    return out


def _reset_hwm() -> bool:
    """Reset VmHWM to the current RSS (Linux: write 5 to clear_refs); True if it worked."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        st = _proc_status_kib()
    except OSError:
        return False
    return st["VmHWM"] <= st["VmRSS"] + 1024  # HWM now equals RSS (+ slack for the read itself)


def _malloc_trim() -> bool:
    """Return the C heap's free pages to the OS (glibc ``malloc_trim(0)``); False if unavailable."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
        return True
    except (OSError, AttributeError):
        return False


def _memory_child(lib: str, name: str, data: str, threads: int, steps: int) -> None:
    """Build one library's step from ``data``, warm it up, and print its peak RSS as JSON."""
    with np.load(data) as saved:
        x, y = saved["x"], saved["y"]
        state = {k[3:]: saved[k] for k in saved.files if k.startswith("sd/")}
    nd_factory, t_factory, _, _ = CASES[name]
    if lib == "ndconv":
        model = nd_factory()
        model.load_state_dict(state)
        fn = ndconv_fn(name, model, x, y)
    else:
        import torch

        torch.set_num_threads(threads)
        model = t_factory()
        model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
        fn = torch_fn(name, model, x, y)
    del state
    gc.collect()
    _malloc_trim()
    base = _proc_status_kib()["VmRSS"]
    fn()  # warm-up: gradients, optimizer state, allocator caches
    samples = []
    for _ in range(steps):
        gc.collect()
        trimmed = _malloc_trim()  # else glibc keeps the last step's freed heap pages resident
        exact = _reset_hwm()
        steady = _proc_status_kib()["VmRSS"]
        fn()
        peak = _proc_status_kib()["VmHWM"] if exact else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        samples.append((max(0, peak - steady), steady, peak))
    step, steady, peak = sorted(samples)[len(samples) // 2]  # the median step
    res = {"base": base / 1024, "steady": steady / 1024, "step": step / 1024, "total": peak / 1024,
           "steps": [s[0] / 1024 for s in samples], "exact": exact, "trimmed": trimmed, "trace": None,
           "torch_loaded": "torch" in sys.modules}
    if lib == "ndconv":
        gc.collect()
        tracemalloc.start()
        fn()
        res["trace"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    print(json.dumps(res))


def measure_memory(lib: str, name: str, data: str, threads: int, steps: int) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--_memory-child", lib, name, "--_data", data,
           "--_threads", str(threads), "--mem-steps", str(steps)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"memory child {lib} {name} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def print_memory(mems: list[tuple[str, int, dict, dict]]) -> None:
    print("\npeak RSS in MiB, one fresh process per library; base = after imports, weights and batch;")
    print("steady = after a warm-up step (+ gradients, momentum); step = a step's peak above steady")
    print("(median of --mem-steps, and their range); total = peak RSS; train = total - base;")
    print("trace = ndconv's tracemalloc peak for one step")
    print(f"{'case':18s} {'lib':7s} {'base':>7s} {'steady':>7s} {'step':>7s} {'(range)':>13s} {'total':>7s} "
          f"{'train':>7s} {'trace':>7s}")
    for name, n, *ms in mems:
        for lib, m in zip(("ndconv", "torch"), ms):
            mark = "" if m["exact"] else "~"  # ~: ru_maxrss fallback, an upper bound
            trace = f"{m['trace']:7.1f}" if m["trace"] is not None else f"{'-':>7s}"
            span = f"({min(m['steps']):.0f}-{max(m['steps']):.0f})"
            print(f"{name:8s} batch {n:4d} {lib:7s} {m['base']:7.1f} {m['steady']:7.1f} "
                  f"{mark}{m['step']:7.1f} {span:>13s} {mark}{m['total']:7.1f} {m['total'] - m['base']:7.1f} {trace}")
        nd, t = ms
        print(f"{name:8s} batch {n:4d} {'ratio':7s} {'':7s} {'':7s} {nd['step'] / t['step']:7.2f} {'':13s} {'':7s} "
              f"{(nd['total'] - nd['base']) / (t['total'] - t['base']):7.2f}   (ndconv / torch)")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default="lenet,resnet,latency", help="comma list of: lenet, resnet, latency")
    ap.add_argument("--profile", action="store_true", help="print a cProfile of ndconv's step")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    ap.add_argument("--mem-steps", type=int, default=5, help="measured steps per memory subprocess")
    ap.add_argument("--_memory-child", nargs=2, metavar=("LIB", "CASE"), help=argparse.SUPPRESS)
    ap.add_argument("--_data", help=argparse.SUPPRESS)
    ap.add_argument("--_threads", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._memory_child:
        _memory_child(*args._memory_child, args._data, args._threads, args.mem_steps)
        return
    import torch

    threads = blas_threads()
    torch.set_num_threads(threads)
    print(f"threads {threads}; sgemm {sgemm_gflops():.0f} GFLOP/s")
    rng = np.random.default_rng(0)
    rows = []
    mems = []
    tmpdir = tempfile.TemporaryDirectory()
    for name in args.only.split(","):
        if name not in CASES:
            raise SystemExit(f"unknown case {name!r}")
        nc.manual_seed(0)
        nd_factory, tf, shape, n = CASES[name]
        model = nd_factory()
        x = rng.random((n, *shape), dtype=np.float32)
        y = rng.integers(0, 10, n)
        data = os.path.join(tmpdir.name, f"{name}.npz")
        np.savez(data, x=x, y=y, **{f"sd/{k}": v for k, v in model.state_dict().items()})
        tm = torch_model(model, tf)
        nd_fn, t_fn = ndconv_fn(name, model, x, y), torch_fn(name, tm, x, y)
        reps, budget = (200, 2.0) if name == "latency" else (args.repeats, 20.0)
        warmup = 2 if name == "resnet" else 10  # the same for both libraries
        idle()
        nd_t = _median_time(nd_fn, reps, budget, warmup)
        if args.profile:
            cProfile.runctx("for _ in range(3): nd_fn()", globals(), {"nd_fn": nd_fn}, "/tmp/ndconv_step.prof")
            pstats.Stats("/tmp/ndconv_step.prof").sort_stats("tottime").print_stats(15)
        idle()
        t_t = _median_time(t_fn, reps, budget, warmup)
        rows.append((name, n, nd_t, t_t))
        print(f"{name:8s} batch {n:4d}: ndconv {nd_t * 1e3:8.2f} ms  torch {t_t * 1e3:8.2f} ms  "
              f"ratio {nd_t / t_t:5.2f}", flush=True)
        if not args.no_memory:
            idle()
            mems.append((name, n, measure_memory("ndconv", name, data, threads, args.mem_steps),
                         measure_memory("torch", name, data, threads, args.mem_steps)))
    print(f"geomean ratio {geomean([r[2] / r[3] for r in rows]):.2f}")
    if mems:
        print_memory(mems)
    tmpdir.cleanup()


if __name__ == "__main__":
    main()
