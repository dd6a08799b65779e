"""Time ndconv against PyTorch, forward and backward, on LeNet / ResNet-18 / 3-D layer shapes.

    python benchmarks/ops.py                 # full run (a few minutes on 2 cores)
    python benchmarks/ops.py --quick         # fewer repeats
    python benchmarks/ops.py --only resnet64 --json out.json

For every shape both libraries compute, in float32 and stride 1, ``y = conv(x, w)`` (no bias)
and then the gradients of x and w from a fixed upstream gradient ``g`` (``y.backward(g)``).
Each repeat records forward time, backward time and their sum; the table shows medians.
Each library is timed in its own block after an idle gap and a warm-up (never interleaved:
the other library's spinning worker threads would corrupt the timing), and the machine's
sgemm rate is measured in the same run (a 2048^3 ``np.matmul``), so every conv also gets a
percentage of that peak. ``torch.set_num_threads`` is set to ndconv's worker count (ndconv
holds NumPy's BLAS to one thread and runs its own pool). FLOPs: forward
``2*N*C_out*prod(O)*C_in*prod(K)``, backward twice that.

The acceptance number is the geometric mean of the forward+backward ratio ndconv/torch over
the six 2-D conv shapes (target <= 3.0). This is a benchmark script, not a test.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import sys
import time
import tracemalloc
from dataclasses import dataclass

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (  # noqa: E402
    ForeignLoad,
    blas_threads,
    cpu_model,
    geomean,
    idle,
    load_average,
    sgemm_gflops,
    time_block,
    usable_cpus,
)

import ndconv as nc  # noqa: E402
import ndconv.nn.functional as NF  # noqa: E402


@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # "conv" or "maxpool"
    n: int
    c_in: int
    size: int  # H = W (= D for 3-D)
    c_out: int
    k: int
    pad: int
    dims: int = 2
    in_geomean: bool = False

    @property
    def x_shape(self) -> tuple[int, ...]:
        return (self.n, self.c_in) + (self.size,) * self.dims

    @property
    def w_shape(self) -> tuple[int, ...]:
        return (self.c_out, self.c_in) + (self.k,) * self.dims

    @property
    def out_size(self) -> int:
        if self.kind == "maxpool":
            return self.size // self.k
        return self.size + 2 * self.pad - self.k + 1

    def fwd_flops(self) -> float:
        if self.kind != "conv":
            return float("nan")
        return 2.0 * self.n * self.c_out * self.out_size**self.dims * self.c_in * self.k**self.dims

    def label(self) -> str:
        if self.kind == "maxpool":
            return f"maxpool {self.k}x{self.k} ({self.n},{self.c_in},{self.size},{self.size})"
        return f"({self.n},{self.c_in},{self.size},{self.c_out},{self.k},{self.pad})" + (
            f" {self.dims}-D" if self.dims != 2 else ""
        )


CASES = [
    Case("lenet1", "conv", 128, 1, 32, 6, 5, 0, in_geomean=True),
    Case("lenet2", "conv", 128, 6, 14, 16, 5, 0, in_geomean=True),
    Case("resnet64", "conv", 128, 64, 32, 64, 3, 1, in_geomean=True),
    Case("resnet128", "conv", 128, 128, 16, 128, 3, 1, in_geomean=True),
    Case("resnet256", "conv", 128, 256, 8, 256, 3, 1, in_geomean=True),
    Case("resnet512", "conv", 128, 512, 4, 512, 3, 1, in_geomean=True),
    Case("conv3d", "conv", 8, 16, 32, 32, 3, 1, dims=3),
    Case("maxpool", "maxpool", 128, 64, 32, 64, 2, 0),
]


def make_data(case: Case) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(case.x_shape, dtype=np.float32)
    fan_in = case.c_in * case.k**case.dims
    w = (rng.standard_normal(case.w_shape, dtype=np.float32) / math.sqrt(fan_in)).astype(np.float32)
    out_shape = (case.n, case.c_out if case.kind == "conv" else case.c_in) + (case.out_size,) * case.dims
    g = rng.standard_normal(out_shape, dtype=np.float32)
    return x, w, g


# --- one forward+backward step per library; each returns {stage: seconds} -------------------


def ndconv_step(case: Case, xa: np.ndarray, wa: np.ndarray, ga: np.ndarray, keep: dict):
    def step() -> dict[str, float]:
        x = nc.Tensor(xa, requires_grad=True)
        w = nc.Tensor(wa, requires_grad=True)
        t0 = time.perf_counter()
        if case.kind == "conv":
            y = NF.conv(x, w, padding=case.pad)
        else:
            y = NF.max_pool(x, case.k)
        t1 = time.perf_counter()
        y.backward(ga)
        t2 = time.perf_counter()
        keep["y"], keep["gx"] = y.data, x.grad
        keep["gw"] = w.grad if case.kind == "conv" else None
        return {"fwd": t1 - t0, "bwd": t2 - t1, "total": t2 - t0}

    return step


def torch_step(case: Case, xa: np.ndarray, wa: np.ndarray, ga: np.ndarray, keep: dict):
    import torch
    import torch.nn.functional as TF

    xt = torch.from_numpy(xa).requires_grad_()
    wt = torch.from_numpy(wa).requires_grad_()
    gt = torch.from_numpy(ga)
    conv = {1: TF.conv1d, 2: TF.conv2d, 3: TF.conv3d}[case.dims]
    pool = {1: TF.max_pool1d, 2: TF.max_pool2d, 3: TF.max_pool3d}[case.dims]

    def step() -> dict[str, float]:
        xt.grad = None
        wt.grad = None
        t0 = time.perf_counter()
        if case.kind == "conv":
            y = conv(xt, wt, padding=case.pad)
        else:
            y = pool(xt, case.k)
        t1 = time.perf_counter()
        y.backward(gt)
        t2 = time.perf_counter()
        keep["y"], keep["gx"] = y.detach().numpy(), xt.grad.numpy()
        keep["gw"] = wt.grad.numpy() if case.kind == "conv" else None
        return {"fwd": t1 - t0, "bwd": t2 - t1, "total": t2 - t0}

    return step


def ndconv_peak_mib(step) -> float:
    """Peak NumPy memory allocated during one ndconv forward+backward (tracemalloc), MiB."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        step()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return (peak - base) / 2**20


def rel_err(a: np.ndarray | None, b: np.ndarray | None) -> float:
    if a is None or b is None:
        return 0.0
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a64 - b64)) / (np.max(np.abs(b64)) + 1e-30))


def run_case(case: Case, reps: dict, peak: float, memory: bool) -> dict:
    xa, wa, ga = make_data(case)
    nd_keep: dict = {}
    th_keep: dict = {}
    nd = time_block(ndconv_step(case, xa, wa, ga, nd_keep), **reps)
    mem = ndconv_peak_mib(ndconv_step(case, xa, wa, ga, {})) if memory else None
    th = time_block(torch_step(case, xa, wa, ga, th_keep), **reps)
    err = max(rel_err(nd_keep[k], th_keep[k]) for k in ("y", "gx", "gw"))
    flops = {"fwd": case.fwd_flops(), "bwd": 2 * case.fwd_flops(), "total": 3 * case.fwd_flops()}
    res = {
        "name": case.name,
        "shape": case.label(),
        "kind": case.kind,
        "in_geomean": case.in_geomean,
        "reps": {"ndconv": nd.reps, "torch": th.reps},
        "ndconv_ms": {k: v * 1e3 for k, v in nd.stages.items()},
        "torch_ms": {k: v * 1e3 for k, v in th.stages.items()},
        "ratio": {k: nd.stages[k] / th.stages[k] for k in nd.stages},
        "ndconv_gflops": {k: flops[k] / nd.stages[k] / 1e9 for k in nd.stages},
        "torch_gflops": {k: flops[k] / th.stages[k] / 1e9 for k in th.stages},
        "max_rel_err": err,
        "ndconv_peak_mib": mem,
        "foreign_load": max(nd.foreign, th.foreign),
    }
    res["ndconv_pct_peak"] = res["ndconv_gflops"]["total"] / peak * 100
    res["torch_pct_peak"] = res["torch_gflops"]["total"] / peak * 100
    return res


def run_case_clean(case: Case, reps: dict, peak: float, memory: bool, retries: int, busy_max: float) -> dict:
    """Run a case; while other processes used more than ``busy_max`` of the CPUs, wait and redo it."""
    best = None
    for attempt in range(retries + 1):
        r = run_case(case, reps, peak, memory)
        r["attempts"] = attempt + 1
        if best is None or r["foreign_load"] < best["foreign_load"]:
            best = r
        if not r["foreign_load"] > busy_max:
            break
        print(f"  [{case.name}: other processes used {r['foreign_load']:.0%} of the CPUs; "
              f"waiting 10 s and retrying]", flush=True)
        time.sleep(10)
    best["clean"] = best["foreign_load"] <= busy_max
    return best


def measure_peak(retries: int, busy_max: float) -> tuple[float, float]:
    best = (0.0, 1.0)
    for _ in range(retries + 1):
        with ForeignLoad() as load:
            gf = sgemm_gflops()
        if gf > best[0]:
            best = (gf, load.fraction)
        if load.fraction <= busy_max:
            break
        time.sleep(5)
    return best


def fmt(v: float, nd: int = 1) -> str:
    return "-" if v is None or not math.isfinite(v) else f"{v:.{nd}f}"


def print_row(r: dict) -> None:
    a, b = r["ndconv_ms"], r["torch_ms"]
    print(
        f"{r['shape']:<30} {a['fwd']:8.1f} {a['bwd']:8.1f} {a['total']:8.1f} | "
        f"{b['fwd']:8.1f} {b['bwd']:8.1f} {b['total']:8.1f} | {r['ratio']['total']:5.2f} "
        f"(f {r['ratio']['fwd']:4.2f} b {r['ratio']['bwd']:4.2f}) | "
        f"{fmt(r['ndconv_gflops']['total']):>6} {fmt(r['ndconv_pct_peak']):>5}% | "
        f"{fmt(r['torch_gflops']['total']):>6} {fmt(r['torch_pct_peak']):>5}% | "
        f"{fmt(r['ndconv_peak_mib'], 0):>5} | {r['max_rel_err']:.1e} | {r['foreign_load']:4.0%}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats (noisier)")
    ap.add_argument("--only", metavar="NAME", help="comma-separated case names: " + ", ".join(c.name for c in CASES))
    ap.add_argument("--json", metavar="PATH", help="write the results as JSON")
    ap.add_argument("--no-memory", action="store_true", help="skip the tracemalloc peak-memory run")
    ap.add_argument("--retries", type=int, default=2,
                    help="redo a case up to this many times when other processes were busy (default 2)")
    ap.add_argument("--busy-max", type=float, default=0.05,
                    help="largest CPU share other processes may use during a block (default 0.05)")
    args = ap.parse_args(argv)

    cases = CASES
    if args.only:
        wanted = set(args.only.split(","))
        unknown = wanted - {c.name for c in CASES}
        if unknown:
            ap.error(f"unknown case(s) {sorted(unknown)}; choose from {[c.name for c in CASES]}")
        cases = [c for c in CASES if c.name in wanted]

    threads = blas_threads()  # ndconv's workers: torch gets as many threads
    import torch

    torch.set_num_threads(threads)
    # Ten warm-up steps for each library: after another layer's shapes, ndconv's first steps of
    # a layer run slower while malloc's free lists settle (measured: LeNet conv2 right after
    # conv1, 6.6-7.9 ms for its first ~8 steps, then 4.2 ms; with one warm-up step the median
    # of 15 caught them).
    reps = (
        dict(warmup=1, min_reps=2, max_reps=3, budget_s=1.0)
        if args.quick
        else dict(warmup=10, min_reps=3, max_reps=15, budget_s=3.0)
    )

    load0 = load_average()
    peak, peak_busy = measure_peak(args.retries, args.busy_max)
    print(f"cpu: {cpu_model()}  cores: {os.cpu_count()} (usable {usable_cpus()})  threads: {threads}  "
          f"torch threads: {torch.get_num_threads()}  numpy {np.__version__}  torch {torch.__version__}")
    print(f"sgemm 2048^3 np.matmul: {peak:.1f} GFLOP/s (others busy {peak_busy:.0%})   "
          f"load average: {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}")
    print("times in ms (median); ratio = ndconv/torch; GFLOP/s and % of sgemm peak are fwd+bwd; "
          "mem = ndconv peak MiB (tracemalloc); busy = CPU share other processes used (max of the two blocks)")
    print(f"{'shape (N,Cin,H,Cout,k,pad)':<30} {'nd fwd':>8} {'nd bwd':>8} {'nd f+b':>8} | "
          f"{'th fwd':>8} {'th bwd':>8} {'th f+b':>8} | ratio                  | "
          f"{'nd GF/s':>6} {'%pk':>6} | {'th GF/s':>6} {'%pk':>6} | {'mem':>5} | rel.err | busy")

    results = []
    t_start = time.perf_counter()
    for case in cases:
        r = run_case_clean(case, reps, peak, not args.no_memory, args.retries, args.busy_max)
        print_row(r)
        results.append(r)

    idle()
    peak_end, _ = measure_peak(args.retries, args.busy_max)
    load1 = load_average()
    ratios = [r["ratio"]["total"] for r in results if r["in_geomean"]]
    gm = geomean(ratios)
    print(f"sgemm at end: {peak_end:.1f} GFLOP/s   load average at end: {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}"
          f"   elapsed {time.perf_counter() - t_start:.0f} s")
    if abs(peak_end - peak) > 0.15 * peak:
        print("WARNING: sgemm rate changed by >15% during the run; the machine was probably busy.")
    noisy = [r["name"] for r in results if not r["clean"]]
    if noisy:
        print(f"WARNING: other processes were busy during {noisy} even after retries; rerun those.")
    if len(ratios) == 6:
        print(f"geometric mean of fwd+bwd ratio over the six 2-D convs: {gm:.2f}  "
              f"(acceptance <= 3.0: {'PASS' if gm <= 3.0 else 'FAIL'})")
    elif ratios:
        print(f"geometric mean of fwd+bwd ratio over {len(ratios)} of the six 2-D convs: {gm:.2f}")

    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "date": _dt.datetime.now().isoformat(timespec="seconds"),
                    "cpu": cpu_model(),
                    "cores": os.cpu_count(),
                    "usable_cpus": usable_cpus(),
                    "blas_threads": threads,
                    "torch_threads": torch.get_num_threads(),
                    "numpy": np.__version__,
                    "torch": torch.__version__,
                    "sgemm_gflops": peak,
                    "sgemm_gflops_end": peak_end,
                    "sgemm_foreign_load": peak_busy,
                    "load_start": load0,
                    "load_end": load1,
                    "quick": args.quick,
                    "geomean_2d_ratio": gm,
                    "results": results,
                },
                f,
                indent=2,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
