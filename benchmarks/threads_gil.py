"""Two Python threads issuing short NumPy calls wait for each other's GIL.

    python benchmarks/threads_gil.py

Each thread adds two arrays in place in a loop (same total work per size); the script prints
one thread's time alone and each thread's time when both run. NumPy releases the GIL inside
each call, so large calls run in parallel, but a thread must take the GIL back between calls:
with calls of a few microseconds, the threads keep waiting for each other. This is why the
engine's threaded loops use buffers of a few hundred KiB (see docs/benchmarks.md).
"""

from __future__ import annotations

import threading
import time

import numpy as np


def run(size: int, reps: int) -> None:
    arrays = [(np.ones(size, np.float32), np.ones(size, np.float32)) for _ in range(2)]
    times = [0.0, 0.0]

    def work(i: int) -> None:
        a, b = arrays[i]
        t0 = time.perf_counter()
        for _ in range(reps):
            np.add(a, b, out=a)
        times[i] = time.perf_counter() - t0

    work(0)
    alone = times[0]
    other = threading.Thread(target=work, args=(1,))
    other.start()
    work(0)
    other.join()
    print(f"{size * 4 // 1024:7d} KiB arrays, {reps:6d} calls: one thread {alone * 1e3:6.1f} ms; "
          f"two threads {times[0] * 1e3:6.1f} / {times[1] * 1e3:6.1f} ms each "
          f"({max(times) / alone:.2f}x)")


if __name__ == "__main__":
    for size, reps in ((16 << 10, 20000), (64 << 10, 5000), (256 << 10, 1250), (1 << 20, 300)):
        run(size, reps)
