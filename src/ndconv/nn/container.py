"""Containers: ``Sequential``, ``ModuleList``, and the residual helpers ``Residual`` and ``Add``."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import Any, overload

from ..autograd import Tensor
from ..ops import add
from . import functional as F
from ._utils import tensor_in
from .activation import ReLU
from .module import Module
from .pool import MaxPool

__all__ = ["Sequential", "ModuleList", "Residual", "Add"]


def _check_module(m: Any, where: str) -> Module:
    if not isinstance(m, Module):
        raise TypeError(f"{where}: entries must be Modules; got {type(m).__name__}.")
    return m


class Sequential(Module):
    """Chain modules: the output of each is the input of the next.

    Build from modules (named ``"0"``, ``"1"``, ...) or from an ``OrderedDict`` of names to
    modules. Indexable (an int gives a module, a slice a new ``Sequential``), iterable,
    ``len``-able; ``append`` adds at the end.

    >>> import ndconv as nc
    >>> from ndconv.nn import Conv2d, ReLU, Flatten
    >>> Sequential(Conv2d(1, 4, 3), ReLU(), Flatten())(nc.zeros(2, 1, 5, 5)).shape
    (2, 36)
    """

    def __init__(self, *modules: Any) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, m in modules[0].items():
                self.add_module(str(name), _check_module(m, "Sequential"))
        else:
            for i, m in enumerate(modules):
                self.add_module(str(i), _check_module(m, "Sequential"))

    def _index(self, idx: int) -> str:
        n = len(self._modules)
        if not -n <= idx < n:
            raise IndexError(f"Sequential: index {idx} is out of range for {n} modules.")
        return list(self._modules)[idx % n]

    @overload
    def __getitem__(self, idx: int) -> Module: ...
    @overload
    def __getitem__(self, idx: slice) -> Sequential: ...
    def __getitem__(self, idx: int | slice) -> Module:
        if isinstance(idx, slice):
            return Sequential(OrderedDict(list(self._modules.items())[idx]))
        return self._modules[self._index(idx)]  # type: ignore[return-value]

    def __setitem__(self, idx: int, module: Module) -> None:
        setattr(self, self._index(idx), _check_module(module, "Sequential"))

    def __delitem__(self, idx: int) -> None:
        delattr(self, self._index(idx))

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(m for m in self._modules.values() if m is not None)

    def append(self, module: Module) -> Sequential:
        """Add ``module`` at the end (named by its position); return self."""
        self.add_module(str(len(self)), _check_module(module, "Sequential.append"))
        return self

    def extend(self, modules: Iterable[Module]) -> Sequential:
        for m in modules:
            self.append(m)
        return self

    def forward(self, x: Any) -> Any:
        mods = list(self)
        i = 0
        while i < len(mods):
            if i + 1 < len(mods) and _relu_then_max_pool(mods[i], mods[i + 1]):
                # ReLU and max-pooling commute (both monotone; the gradients agree, tie rule
                # included), and pooling first leaves the ReLU 1/prod(kernel) of the values.
                x = F.relu(mods[i + 1](x))
                i += 2
            else:
                x = mods[i](x)
                i += 1
        return x


def _relu_then_max_pool(a: Module, b: Module) -> bool:
    """Return whether ``a`` is a ReLU and ``b`` a max-pool that may swap places unobserved."""
    return (type(a) is ReLU and isinstance(b, MaxPool) and not b.return_indices
            and not any(m._forward_hooks or m._forward_pre_hooks for m in (a, b)))


class ModuleList(Module):
    """Hold sub-modules in a list so that they are registered (no ``forward`` of its own).

    >>> from ndconv.nn import Linear
    >>> layers = ModuleList([Linear(4, 4) for _ in range(3)])
    >>> len(layers), sum(1 for _ in layers.parameters())
    (3, 6)
    """

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _index(self, idx: int) -> str:
        n = len(self._modules)
        if not -n <= idx < n:
            raise IndexError(f"ModuleList: index {idx} is out of range for {n} modules.")
        return str(idx % n)

    def __getitem__(self, idx: int | slice) -> Any:
        if isinstance(idx, slice):
            return ModuleList(list(self._modules.values())[idx])  # type: ignore[arg-type]
        return self._modules[self._index(idx)]

    def __setitem__(self, idx: int, module: Module) -> None:
        setattr(self, self._index(idx), _check_module(module, "ModuleList"))

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(m for m in self._modules.values() if m is not None)

    def append(self, module: Module) -> ModuleList:
        self.add_module(str(len(self)), _check_module(module, "ModuleList.append"))
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        for m in modules:
            self.append(m)
        return self

    def insert(self, index: int, module: Module) -> None:
        items = list(self)
        items.insert(index, _check_module(module, "ModuleList.insert"))
        self._modules.clear()
        self.extend(items)


class Add(Module):
    """Sum its inputs element-wise (with broadcasting): ``Add()(a, b) == a + b``.

    >>> import ndconv as nc
    >>> Add()(nc.ones(2, 3), nc.ones(2, 3)).tolist()[0]
    [2.0, 2.0, 2.0]
    """

    def forward(self, *xs: Any) -> Tensor:
        if not xs:
            raise ValueError("Add: needs at least one input; got none.")
        out = tensor_in(xs[0])
        for x in xs[1:]:
            out = add(out, tensor_in(x))
        return out


class Residual(Module):
    """Compute ``body(x) + shortcut(x)``; the shortcut is the identity by default (He et al., 2016).

    Shapes:
        ``body(x)`` and ``shortcut(x)`` must have the same shape.

    >>> import ndconv as nc
    >>> from ndconv.nn import Conv2d
    >>> Residual(Conv2d(4, 4, 3, padding=1))(nc.zeros(1, 4, 8, 8)).shape
    (1, 4, 8, 8)
    """

    body: Module
    shortcut: Module | None

    def __init__(self, body: Module, shortcut: Module | None = None) -> None:
        super().__init__()
        self.body = _check_module(body, "Residual")
        if shortcut is None:
            self.add_module("shortcut", None)
        else:
            self.shortcut = _check_module(shortcut, "Residual")
        self.add = Add()

    def forward(self, x: Any) -> Tensor:
        x = tensor_in(x)
        y = self.body(x)
        s = x if self.shortcut is None else self.shortcut(x)
        if y.shape != s.shape:
            raise ValueError(
                f"Residual: body(x) and shortcut(x) must have the same shape; got {y.shape} and "
                f"{s.shape} for x.shape={x.shape} (give a projection `shortcut`)."
            )
        return self.add(y, s)
