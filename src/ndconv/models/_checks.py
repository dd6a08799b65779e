"""Argument checks shared by the model builders (errors name the argument and the value)."""

from __future__ import annotations

from typing import Any

from ..nn._utils import is_int

__all__ = ["check_arch_args"]


def check_arch_args(model: str, **ints: Any) -> None:
    """Raise ``ValueError`` unless every keyword is an int >= 1 (``ndim`` too)."""
    for name, v in ints.items():
        if not is_int(v) or v < 1:
            raise ValueError(f"{model}: `{name}` must be an int >= 1; got {name}={v!r}.")
