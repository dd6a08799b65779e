"""Helpers shared by the layer files: rank resolution and hyper-parameter checks."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..autograd import Tensor, as_tensor


def is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def resolve_rank(kernel_size: Any, ndim: int | None, fixed: int | None, layer: str) -> int | None:
    """Return the number of spatial axes from ``kernel_size``'s length, ``ndim`` or the alias.

    ``None`` means "not known until the input arrives" (pools with an int kernel).
    """
    if ndim is not None and (not is_int(ndim) or ndim < 1):
        raise ValueError(f"{layer}: `ndim` must be an int >= 1; got ndim={ndim!r}.")
    if fixed is not None:
        if ndim is not None and ndim != fixed:
            raise ValueError(f"{layer}: `ndim` must be {fixed} for {layer}; got ndim={ndim}.")
        ndim = fixed
    if isinstance(kernel_size, Sequence) and not isinstance(kernel_size, str):
        n = len(kernel_size)
        if n == 0:
            raise ValueError(f"{layer}: `kernel_size` must not be empty; got kernel_size={kernel_size!r}.")
        if ndim is not None and n != ndim:
            raise ValueError(
                f"{layer}: `kernel_size` must have {ndim} entries (ndim={ndim}); got "
                f"kernel_size={tuple(kernel_size)!r}."
            )
        return n
    if not is_int(kernel_size):
        raise TypeError(f"{layer}: `kernel_size` must be an int or a sequence of ints; got {kernel_size!r}.")
    return ndim


def check_positive_int(value: Any, name: str, layer: str, minimum: int = 1) -> int:
    if not is_int(value) or value < minimum:
        raise ValueError(f"{layer}: `{name}` must be an int >= {minimum}; got {name}={value!r}.")
    return int(value)


def check_float(value: Any, name: str, layer: str, lo: float, hi: float, lo_open: bool = False) -> float:
    ok = isinstance(value, (int, float, np.floating)) and not isinstance(value, bool)
    if ok:
        v = float(value)
        ok = (v > lo if lo_open else v >= lo) and v <= hi
    if not ok:
        bracket = "(" if lo_open else "["
        raise ValueError(f"{layer}: `{name}` must be a number in {bracket}{lo}, {hi}]; got {name}={value!r}.")
    return float(value)


def check_dtype(dtype: Any, layer: str) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError as e:
        raise TypeError(f"{layer}: `dtype` must be a NumPy floating dtype; got dtype={dtype!r}.") from e
    if dt.kind != "f":
        raise TypeError(f"{layer}: `dtype` must be a floating-point dtype; got dtype={dt}.")
    return dt


def tensor_in(x: Any) -> Tensor:
    """Accept a Tensor or an array-like input."""
    return x if isinstance(x, Tensor) else as_tensor(x)


def check_input_rank(x: Tensor, n: int | None, layer: str, allow_unbatched: bool = True) -> None:
    """Raise if ``x`` is not ``(N, C, *S)`` with ``n`` spatial axes (or unbatched ``(C, *S)``)."""
    if n is None:
        return
    ok = x.ndim == n + 2 or (allow_unbatched and x.ndim == n + 1)
    if not ok:
        unb = f" (or {n + 1} unbatched)" if allow_unbatched else ""
        raise ValueError(
            f"{layer}: input must have shape (N, C, *spatial) with {n} spatial axes, i.e. rank "
            f"{n + 2}{unb}; got x.shape={x.shape}."
        )
