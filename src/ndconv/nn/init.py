"""Weight initialisers, in place, with PyTorch's formulas; samples come from ``ndconv.random``.

``fan_in = weight.shape[1] * prod(weight.shape[2:])`` and
``fan_out = weight.shape[0] * prod(weight.shape[2:])``, as in PyTorch, so a conv weight
``(C_out, C_in // groups, *K)`` has ``fan_in = C_in // groups * prod(K)``.

>>> import ndconv as nc
>>> nc.manual_seed(0)
>>> w = nc.zeros(64, 3, 3, 3)
>>> _ = kaiming_uniform_(w, a=5 ** 0.5)
>>> bool(abs(w.data).max() <= 1 / 27 ** 0.5)
True
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..autograd import Tensor
from ..random import get_rng

__all__ = [
    "calculate_gain", "fan_in_and_fan_out", "uniform_", "normal_", "zeros_", "ones_", "constant_",
    "kaiming_uniform_", "kaiming_normal_", "xavier_uniform_", "xavier_normal_",
]


def _array(t: Any, op: str) -> np.ndarray:
    if isinstance(t, Tensor):
        return t.data
    if isinstance(t, np.ndarray):
        return t
    raise TypeError(f"{op}: `tensor` must be a Tensor or a NumPy array; got {type(t).__name__}.")


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """Return PyTorch's recommended gain for ``nonlinearity`` (relu: sqrt(2), tanh: 5/3, ...)."""
    linear = ("linear", "conv1d", "conv2d", "conv3d", "conv", "conv_transpose", "sigmoid")
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unknown `nonlinearity`; got {nonlinearity!r}.")


def fan_in_and_fan_out(tensor: Any) -> tuple[int, int]:
    """Return ``(fan_in, fan_out)`` of a weight with at least 2 axes (PyTorch's rule)."""
    a = _array(tensor, "fan_in_and_fan_out")
    if a.ndim < 2:
        raise ValueError(f"fan_in_and_fan_out: `tensor` needs at least 2 axes; got shape={a.shape}.")
    receptive = math.prod(a.shape[2:])
    return a.shape[1] * receptive, a.shape[0] * receptive


def _fill(tensor: Any, values: np.ndarray, op: str) -> Any:
    a = _array(tensor, op)
    a[...] = values.astype(a.dtype, copy=False)
    return tensor


def uniform_(tensor: Any, a: float = 0.0, b: float = 1.0) -> Any:
    """Fill with samples of U(a, b)."""
    shape = _array(tensor, "uniform_").shape
    return _fill(tensor, get_rng().uniform(a, b, shape), "uniform_")


def normal_(tensor: Any, mean: float = 0.0, std: float = 1.0) -> Any:
    """Fill with samples of N(mean, std**2)."""
    shape = _array(tensor, "normal_").shape
    return _fill(tensor, get_rng().normal(mean, std, shape), "normal_")


def constant_(tensor: Any, value: float) -> Any:
    """Fill with ``value``."""
    _array(tensor, "constant_")[...] = value
    return tensor


def zeros_(tensor: Any) -> Any:
    """Fill with 0."""
    return constant_(tensor, 0.0)


def ones_(tensor: Any) -> Any:
    """Fill with 1."""
    return constant_(tensor, 1.0)


def _fan(tensor: Any, mode: str, op: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"{op}: `mode` must be 'fan_in' or 'fan_out'; got mode={mode!r}.")
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def kaiming_uniform_(
    tensor: Any, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"
) -> Any:
    """Fill with U(-bound, bound), ``bound = gain * sqrt(3 / fan)`` (He et al., 2015).

    With ``a = sqrt(5)`` (PyTorch's default for conv and linear layers) the gain is
    ``sqrt(2 / 6)``, so ``bound = 1 / sqrt(fan_in)``.
    """
    fan = _fan(tensor, mode, "kaiming_uniform_")
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan)
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(
    tensor: Any, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"
) -> Any:
    """Fill with N(0, std**2), ``std = gain / sqrt(fan)`` (He et al., 2015)."""
    fan = _fan(tensor, mode, "kaiming_normal_")
    return normal_(tensor, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(fan))


def xavier_uniform_(tensor: Any, gain: float = 1.0) -> Any:
    """Fill with U(-b, b), ``b = gain * sqrt(6 / (fan_in + fan_out))`` (Glorot & Bengio, 2010)."""
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor: Any, gain: float = 1.0) -> Any:
    """Fill with N(0, std**2), ``std = gain * sqrt(2 / (fan_in + fan_out))``."""
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))
