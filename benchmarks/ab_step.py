"""In-process A/B of LeNet-5's training step under different engine settings.

    python benchmarks/ab_step.py [--batch N] [--rounds R] VARIANT [VARIANT ...]

A VARIANT is ``name:module.ATTR=value[,module.ATTR=value...]`` (``value`` a Python literal,
or ``@module.ATTR`` for another module's object, such as an alternative function kept in a
scratch module; ``name:`` alone is the settings as they are),
for example::

    python benchmarks/ab_step.py --batch 128 base: \\
        1M:ndconv.ops.conv_flat.INPUT_GRAD_BYTES=1048576

The variants take turns in one process, ``--rounds`` times, 30 timed steps each after one
untimed step, so that the machine's drift hits all of them alike (separate processes moved by
more than the differences measured here). Prints each variant's median step time and its
25th percentile. Only module attributes read at call time can be varied this way.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_step import ndconv_step  # noqa: E402


def _target(path: str, variant: str) -> tuple[Any, str]:
    """The module and attribute name ``module.ATTR`` names; exits if there is no such attribute."""
    module_name, _, attr = path.rpartition(".")
    module = importlib.import_module(module_name)
    if not hasattr(module, attr):
        raise SystemExit(f"ab_step: {module_name} has no attribute {attr!r} (variant {variant!r}).")
    return module, attr


def parse_variant(text: str) -> tuple[str, list[tuple[Any, str, Any]]]:
    name, _, settings = text.partition(":")
    parsed = []
    for item in filter(None, settings.split(",")):
        target, _, value = item.partition("=")
        module, attr = _target(target, text)
        # ``@module.ATTR``: another module's object (an alternative function, say)
        setting = getattr(*_target(value[1:], text)) if value.startswith("@") else ast.literal_eval(value)
        parsed.append((module, attr, setting))
    return name, parsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("variants", nargs="+")
    args = parser.parse_args(argv)

    import numpy as np

    from ndconv.models import lenet5

    variants = [parse_variant(v) for v in args.variants]
    originals = {(m, a): getattr(m, a) for _, sets in variants for m, a, _ in sets}
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.batch, 1, 28, 28), dtype=np.float32)
    step = ndconv_step(lenet5(), x, rng.integers(0, 10, args.batch))  # SGD with momentum

    for _ in range(20):
        step()
    times: dict[str, list[float]] = {name: [] for name, _ in variants}
    for _ in range(args.rounds):
        for name, sets in variants:
            for (module, attr), value in originals.items():
                setattr(module, attr, value)
            for module, attr, value in sets:
                setattr(module, attr, value)
            step()
            for _ in range(30):
                t0 = time.perf_counter()
                step()
                times[name].append(time.perf_counter() - t0)
    for name, ts in times.items():
        ms = np.array(ts) * 1e3
        print(f"batch {args.batch:4d}  {name:12s} median {np.median(ms):7.3f} ms   p25 {np.percentile(ms, 25):7.3f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
