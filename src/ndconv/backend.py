"""Threading and memory for the engine.

**Threads.** Independent chunks of work run on the calling thread and a small pool
(:func:`map_chunks`).

NumPy's copies and BLAS products release the GIL, so two Python threads that each copy a
chunk of windows (im2col) and multiply it keep both cores busy: while one thread copies, the
other multiplies. Results computed in parts are summed in a fixed order (:func:`ordered_sum`),
so they do not depend on which thread finished first. On import, NumPy's BLAS is held to one thread
(``threadpoolctl``) for the rest of the process, so the cores are not oversubscribed (this
applies to the user's own NumPy products too; ``NDCONV_NUM_THREADS=1`` leaves BLAS alone).
Without ``threadpoolctl`` -- an optional dependency -- chunks run one after another and BLAS
threads itself, which is always correct, only slower.

``NDCONV_NUM_THREADS`` sets the number of workers (1 turns the pool off).

**Memory.** Every training step allocates the same large temporaries (im2col columns,
activations, gradients). glibc's ``malloc`` hands blocks over 128 KiB-32 MiB back to the
kernel when they are freed, so the next step page-faults all of them in again: measured, that
doubled the time of LeNet's convolutions. On import, :func:`keep_freed_memory` asks ``malloc``
to keep freed blocks below 32 MiB for reuse (``mallopt``: ``M_MMAP_THRESHOLD`` 32 MiB,
``M_TRIM_THRESHOLD`` 1 GiB) -- what a framework's caching allocator does. The process then
keeps its peak heap; ``NDCONV_KEEP_MEMORY=0`` leaves ``malloc`` alone. Other C libraries
(no ``mallopt``) are left alone too.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import itertools
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any, TypeVar

import numpy as np

__all__ = [
    "num_workers", "map_chunks", "row_blocks", "in_layout_of", "keep_freed_memory", "l2_cache_bytes",
    "ordered_sum",
]

# Element-wise passes over arrays at least this large are split across the workers (measured
# on 2 cores: a multiply over 4M float32 1.8x faster on two threads; below ~1M the thread
# hand-off costs more than it saves).
ROW_BLOCK_MIN_ELEMENTS = 1 << 20

T = TypeVar("T")
R = TypeVar("R")

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_blas: Any = None  # threadpoolctl.ThreadpoolController, created on first use
_local = threading.local()  # marks the pool's own threads: they never nest another pool


def num_workers() -> int:
    """Return the number of worker threads: ``NDCONV_NUM_THREADS`` or the usable cores (<= 4)."""
    env = os.environ.get("NDCONV_NUM_THREADS")
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            raise ValueError(f"NDCONV_NUM_THREADS must be an integer; got {env!r}.") from None
    return _usable_cores()


@lru_cache(maxsize=1)
def _usable_cores() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 4))


_CACHE_DIR = "/sys/devices/system/cpu/cpu0/cache"


@lru_cache(maxsize=1)
def l2_cache_bytes() -> int:
    """Return the size of one core's L2 cache from Linux's sysfs, or 1 MiB if it cannot be read.

    Cache-blocked loops (im2col columns streamed through a buffer) size their blocks by it.
    """
    base = _CACHE_DIR
    try:
        for entry in sorted(os.listdir(base)):
            if not entry.startswith("index"):
                continue
            with open(f"{base}/{entry}/level") as f:
                if f.read().strip() != "2":
                    continue
            with open(f"{base}/{entry}/size") as f:
                size = f.read().strip().upper()
            units = {"K": 1 << 10, "M": 1 << 20}
            return int(size[:-1]) * units[size[-1]] if size[-1] in units else int(size)
    except (OSError, ValueError):
        pass
    return 1 << 20


def _controller() -> Any:
    """Return a ``threadpoolctl.ThreadpoolController``, or None without threadpoolctl."""
    global _blas
    if _blas is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _blas = False
        else:
            _blas = ThreadpoolController()
    return _blas or None


def _get_pool() -> ThreadPoolExecutor | None:
    """The pool of ``workers - 1`` threads (the caller is the other worker), or None when the
    engine does not thread here (one worker, no threadpoolctl, or already on a pool thread)."""
    global _pool
    workers = num_workers()
    if workers == 1 or getattr(_local, "in_pool", False) or not _hold_blas():
        return None
    with _lock:
        if _pool is None or _pool._max_workers != workers - 1:  # noqa: SLF001
            _pool = ThreadPoolExecutor(workers - 1, thread_name_prefix="ndconv", initializer=_mark)
        return _pool


def map_chunks(fn: Callable[[T], R], chunks: Sequence[T], parallel: bool = True) -> list[R]:
    """Return ``[fn(c) for c in chunks]``, on the worker pool if ``parallel`` and available.

    The calling thread works too: it and ``workers - 1`` pool threads take the next chunk in
    turn until none is left. (Handing every chunk to the pool instead left the caller idle and,
    measured on a 2-core VM, a woken pool thread could start a whole chunk late: LeNet's second
    layer took 1.9 ms after any pause against 1.3 ms back to back.) A helper no pool thread
    has started when the caller has taken every chunk is cancelled, not waited for. Results
    keep the order of ``chunks``, whichever thread computed them, so sums over them are
    deterministic.
    """
    pool = _get_pool() if parallel and len(chunks) > 1 else None
    if pool is None:
        return [fn(c) for c in chunks]
    results: list[Any] = [None] * len(chunks)
    order = itertools.count()  # next() on it is atomic: each index is taken once

    def drain() -> None:
        i = next(order)
        while i < len(chunks):
            results[i] = fn(chunks[i])
            i = next(order)

    helpers = [pool.submit(drain) for _ in range(min(num_workers(), len(chunks)) - 1)]
    _local.in_pool = True  # a map_chunks inside fn runs inline, as on the pool's threads
    try:
        drain()
    finally:
        _local.in_pool = False
        for helper in helpers:  # a helper that never started has nothing left to do
            if not helper.cancel():
                helper.exception()  # wait for it, even if this thread's chunk raised
    for helper in helpers:
        if not helper.cancelled():
            helper.result()  # re-raise a helper's exception
    return results


def ordered_sum(parts: Sequence[Any]) -> Any:
    """Return ``parts[0] + parts[1] + ...`` added in list order, into ``parts[0]`` (a temporary
    of the caller's): the rounding then depends on how the work was split, never on timing."""
    total = parts[0]
    for part in parts[1:]:
        total += part
    return total


def row_blocks(a: Any, min_elements: int | None = None) -> list[slice]:
    """Split axis 0 of ``a`` into one slice per worker if ``a`` has ``min_elements`` (default
    ``ROW_BLOCK_MIN_ELEMENTS``) or more, else ``[slice(None)]``.

    For memory-bound element-wise passes (batch norm, ReLU): run ``map_chunks`` over the
    slices; each slice of a C- or channels-last array is one contiguous block.
    """
    if a.size < (ROW_BLOCK_MIN_ELEMENTS if min_elements is None else min_elements):
        return [slice(None)]
    workers = num_workers()
    n = a.shape[0] if a.ndim else 1
    if workers == 1 or n < workers:
        return [slice(None)]
    step = -(-n // workers)
    return [slice(i, min(i + step, n)) for i in range(0, n, step)]


def in_layout_of(g: Any, x: Any) -> Any:
    """Return ``g`` in ``x``'s memory layout (a copy only if the axis orders differ).

    Element-wise passes over arrays with different layouts (say an NCHW gradient against a
    channels-last activation) run several times slower than over matching ones (measured: a
    ReLU backward on 4M floats 19.6 ms vs 2.6 ms), so a gradient is copied once to match.
    """
    if g.shape != x.shape or g.strides == x.strides or g.ndim < 2:
        return g
    if sorted(range(g.ndim), key=g.strides.__getitem__) == sorted(range(x.ndim), key=x.strides.__getitem__):
        return g
    out = np.empty_like(x, dtype=g.dtype)
    out[...] = g
    return out


_held: Any = None  # threadpoolctl's limit object, kept for the life of the process


def _hold_blas() -> bool:
    """Hold NumPy's BLAS to one thread for good; False without threadpoolctl.

    Done once (on import when the pool is on), not around each call: a multi-threaded BLAS
    call leaves its threads spinning on the cores for a while after it returns, and a pooled
    op that follows then runs at half speed (measured: ResNet-18's 512-channel layer 3-10x
    slower after one). The engine runs its heavy products on the pool, so BLAS threads would
    only compete with it. Doing it on import also keeps results reproducible: a product's
    rounding can depend on BLAS's thread count, so a run resumed from a checkpoint must not
    see a different one than the run it continues.
    """
    global _held
    if _held is None:
        blas = _controller()
        _held = blas.limit(limits=1, user_api="blas") if blas else False
    return bool(_held)


def _mark() -> None:
    _local.in_pool = True


def _forget_pool() -> None:
    """In a forked child the pool's threads do not exist: make the next call start a new pool."""
    global _pool
    _pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameter numbers


def keep_freed_memory() -> bool:
    """Ask glibc's ``malloc`` to keep freed blocks (below 32 MiB) for reuse; see the module doc.

    Returns whether the settings were applied (False on another C library, or when
    ``NDCONV_KEEP_MEMORY=0``).
    """
    if os.environ.get("NDCONV_KEEP_MEMORY", "1") == "0":
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(_M_MMAP_THRESHOLD, 32 << 20) and mallopt(_M_TRIM_THRESHOLD, 1 << 30))


keep_freed_memory()
if num_workers() > 1:
    _hold_blas()
