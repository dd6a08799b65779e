"""Large-kernel convolutions: ndconv's FFT route against its direct route, and PyTorch.

    python benchmarks/fft_conv.py [--quick]

For each layer shape (ranks 1-3, kernels 7-255 taps), forward+backward (input and weight
gradients, padding "same") is timed three ways, each in its own block after an idle gap and a
warm-up (see _common.py): ndconv forced onto the FFT route, ndconv forced onto the direct route
(im2col or flat), and torch with as many threads. It prints fft/direct (below 1: the FFT route
is faster), which route ndconv's cost rule picks (``ndconv.ops.conv_fft``: estimated FFT flops
times FFT_ADVANTAGE below the direct flops) and ndconv/torch for the route picked.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import blas_threads, cpu_model, load_average, sgemm_gflops, time_block  # noqa: E402

import ndconv as nc  # noqa: E402
import ndconv.nn.functional as NF  # noqa: E402
from ndconv.ops import conv_fft  # noqa: E402

SHAPES = [  # (x shape, w shape)
    ((16, 3, 64, 64), (16, 3, 7, 7)),
    ((16, 3, 64, 64), (16, 3, 11, 11)),
    ((16, 3, 64, 64), (16, 3, 15, 15)),
    ((16, 16, 32, 32), (32, 16, 9, 9)),
    ((16, 16, 32, 32), (32, 16, 15, 15)),
    ((8, 2, 16000), (16, 2, 31)),
    ((8, 2, 16000), (16, 2, 127)),
    ((8, 2, 16000), (16, 2, 255)),
    ((8, 16, 4000), (16, 16, 63)),
    ((2, 4, 24, 24, 24), (8, 4, 5, 5, 5)),
    ((2, 4, 24, 24, 24), (8, 4, 7, 7, 7)),
]


def ndconv_step(x: np.ndarray, w: np.ndarray, g: np.ndarray, advantage: float):
    def step() -> dict[str, float]:
        conv_fft.FFT_ADVANTAGE = advantage
        xt, wt = nc.tensor(x, requires_grad=True), nc.tensor(w, requires_grad=True)
        t0 = time.perf_counter()
        NF.conv(xt, wt, padding="same").backward(g)
        return {"total": time.perf_counter() - t0}

    return step


def torch_step(x: np.ndarray, w: np.ndarray, g: np.ndarray):
    import torch

    conv = {3: torch.nn.functional.conv1d, 4: torch.nn.functional.conv2d, 5: torch.nn.functional.conv3d}[x.ndim]
    xt, wt, gt = (torch.from_numpy(a) for a in (x, w, g))

    def step() -> dict[str, float]:
        xr, wr = xt.detach().requires_grad_(), wt.detach().requires_grad_()
        t0 = time.perf_counter()
        conv(xr, wr, padding="same").backward(gt)
        return {"total": time.perf_counter() - t0}

    return step


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args(argv)
    import torch

    threads = blas_threads()
    torch.set_num_threads(threads)
    reps = {"min_reps": 3, "max_reps": 5 if args.quick else 9, "budget_s": 1.0 if args.quick else 3.0}
    default = conv_fft.FFT_ADVANTAGE
    print(f"cpu: {cpu_model()}  threads: {threads}  numpy {np.__version__}  torch {torch.__version__}")
    print(f"sgemm 2048^3: {sgemm_gflops():.0f} GFLOP/s   load average: {' '.join(f'{v:.2f}' for v in load_average())}")
    print("times in ms (median), forward + backward; rule = the route ndconv picks (FFT_ADVANTAGE "
          f"{default:g})")
    print(f"{'x shape':>22} {'w shape':>18} | {'fft':>8} {'direct':>8} {'fft/dir':>7} | {'rule':>6}"
          f" {'torch':>8} {'nd/torch':>8}")
    rng = np.random.default_rng(0)
    right = 0
    for x_shape, w_shape in SHAPES:
        x = rng.standard_normal(x_shape, dtype=np.float32)
        w = (rng.standard_normal(w_shape) / np.sqrt(np.prod(w_shape[1:]))).astype(np.float32)
        g = rng.standard_normal(x_shape[:1] + w_shape[:1] + x_shape[2:], dtype=np.float32)
        fft = time_block(ndconv_step(x, w, g, 0.0), **reps).stages["total"]
        direct = time_block(ndconv_step(x, w, g, np.inf), **reps).stages["total"]
        conv_fft.FFT_ADVANTAGE = default
        pads = [((k - 1) // 2, k // 2) for k in w_shape[2:]]
        picks_fft = conv_fft.fft_route_applies(x_shape, w_shape, (1,) * (len(x_shape) - 2),
                                               (1,) * (len(x_shape) - 2), 1, pads, np.dtype(np.float32))
        th = time_block(torch_step(x, w, g), **reps).stages["total"]
        picked = fft if picks_fft else direct
        right += (fft < direct) == picks_fft
        print(f"{str(x_shape):>22} {str(w_shape):>18} | {fft * 1e3:8.1f} {direct * 1e3:8.1f} {fft / direct:7.2f} |"
              f" {'fft' if picks_fft else 'direct':>6} {th * 1e3:8.1f} {picked / th:8.2f}")
    print(f"the rule picked the faster route in {right} of {len(SHAPES)} shapes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
