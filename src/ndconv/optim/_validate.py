"""Argument checks shared by optimisers and schedulers."""

from __future__ import annotations

import math
import numbers
from typing import Any


def check_positive_int(value: Any, name: str, op: str) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{op}: `{name}` must be an int >= 1; got {name}={value!r}.")
    return int(value)


def check_number(value: Any, name: str, op: str, lo: float = -math.inf, hi: float = math.inf) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(float(value))
        or not lo <= float(value) <= hi
    ):
        raise ValueError(f"{op}: `{name}` must be a finite number in [{lo}, {hi}]; got {name}={value!r}.")
    return float(value)
