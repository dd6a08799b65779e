"""``Module``: the base class of every layer and model, and ``Parameter``.

A module owns *parameters* (tensors the optimiser updates), *buffers* (NumPy arrays that are
state but not trained, e.g. batch-norm running statistics) and *child modules*. All three are
registered by plain attribute assignment, as in PyTorch::

    self.weight = Parameter(np.zeros((8, 3, 3, 3), np.float32))   # a parameter
    self.body = Conv2d(3, 8, 3)                                    # a child module
    self.register_buffer("running_mean", np.zeros(8, np.float32))  # a buffer

Names are dotted paths (``"features.0.weight"``), the keys of :meth:`Module.state_dict`, which
are PyTorch's, so weights can travel between the two libraries by name.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from ..autograd import Tensor

__all__ = ["Module", "Parameter", "RemovableHandle", "IncompatibleKeys", "StateDictError"]


class Parameter(Tensor):
    """A leaf tensor that a :class:`Module` registers as a trainable parameter.

    ``Parameter(data)`` is a :class:`~ndconv.Tensor` with ``requires_grad=True``. Assigning any
    leaf tensor that requires grad to a module attribute registers it too; ``Parameter`` only
    makes the intent explicit (and stays registered after ``requires_grad_(False)``).

    >>> Parameter(np.zeros((2, 3), np.float32)).requires_grad
    True
    """

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True, dtype: Any = None) -> None:
        super().__init__(data, requires_grad=requires_grad, dtype=dtype)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class RemovableHandle:
    """Returned by ``register_forward_hook``: call :meth:`remove` to unregister the hook."""

    _next_id = 0

    def __init__(self, hooks: dict[int, Any]) -> None:
        self._hooks = hooks
        self.id = RemovableHandle._next_id
        RemovableHandle._next_id += 1

    def remove(self) -> None:
        self._hooks.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()


class IncompatibleKeys(NamedTuple):
    """What :meth:`Module.load_state_dict` found missing or unexpected (with ``strict=False``)."""

    missing_keys: list[str]
    unexpected_keys: list[str]


class StateDictError(ValueError):
    """A state dict does not fit the module; nothing was loaded."""


def _is_parameter(value: Any) -> bool:
    return isinstance(value, Parameter) or (
        isinstance(value, Tensor) and value.requires_grad and value.is_leaf
    )


class Module:
    """Base class of layers and models: subclasses set attributes in ``__init__`` and define
    ``forward``. Call the module (``m(x)``), not ``forward``, so hooks run.

    >>> class Affine(Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.scale = Parameter(np.ones(3, np.float32))
    ...     def forward(self, x):
    ...         return x * self.scale
    >>> Affine()(np.ones((2, 3), np.float32)).shape
    (2, 3)
    """

    training: bool
    _parameters: dict[str, Tensor | None]
    _buffers: dict[str, np.ndarray | None]
    _non_persistent: set[str]
    _modules: dict[str, Module | None]
    _forward_hooks: dict[int, Callable[..., Any]]
    _forward_pre_hooks: dict[int, Callable[..., Any]]

    def __init__(self) -> None:
        setattr_ = object.__setattr__
        setattr_(self, "training", True)
        setattr_(self, "_parameters", OrderedDict())
        setattr_(self, "_buffers", OrderedDict())
        setattr_(self, "_non_persistent", set())
        setattr_(self, "_modules", OrderedDict())
        setattr_(self, "_forward_hooks", OrderedDict())
        setattr_(self, "_forward_pre_hooks", OrderedDict())

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__}: subclasses must define `forward`.")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not (self._forward_pre_hooks or self._forward_hooks):  # the common case, kept lean
            return self.forward(*args, **kwargs)
        for pre in list(self._forward_pre_hooks.values()):
            new = pre(self, args)
            if new is not None:
                args = new if isinstance(new, tuple) else (new,)
        out = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            new = hook(self, args, out)
            if new is not None:
                out = new
        return out

    # --- registration ------------------------------------------------------------------
    def _check_init(self, name: str) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"{type(self).__name__}: call `super().__init__()` before assigning {name!r}."
            )

    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        if _is_parameter(value):
            self._check_init(name)
            if name not in d["_parameters"]:  # replacing keeps the registration order
                self._forget(name)
            d["_parameters"][name] = value
        elif isinstance(value, Module):
            self._check_init(name)
            if name not in d["_modules"]:  # replacing keeps the order (Sequential relies on it)
                self._forget(name)
            d["_modules"][name] = value
        elif "_parameters" in d and name in d["_parameters"]:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(
                    f"{type(self).__name__}: parameter {name!r} must be a Tensor or None; got "
                    f"{type(value).__name__}."
                )
            d["_parameters"][name] = value
        elif "_modules" in d and name in d["_modules"]:
            if value is not None:
                raise TypeError(
                    f"{type(self).__name__}: child module {name!r} must be a Module or None; got "
                    f"{type(value).__name__}."
                )
            d["_modules"][name] = None
        elif "_buffers" in d and name in d["_buffers"]:
            if value is not None and not isinstance(value, np.ndarray):
                raise TypeError(
                    f"{type(self).__name__}: buffer {name!r} must be a NumPy array or None; got "
                    f"{type(value).__name__}."
                )
            d["_buffers"][name] = value
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name: str) -> None:
        for key in ("_parameters", "_buffers", "_modules"):
            self.__dict__[key].pop(name, None)
        self.__dict__.pop(name, None)
        self._non_persistent.discard(name)

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        for key in ("_parameters", "_buffers", "_modules"):
            if key in d and name in d[key]:
                return d[key][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        for key in ("_parameters", "_buffers", "_modules"):
            if name in self.__dict__.get(key, {}):
                del self.__dict__[key][name]
                self._non_persistent.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self) -> list[str]:
        extra = [*self._parameters, *self._buffers, *self._modules]
        return sorted(set(super().__dir__()) | set(extra))

    def register_parameter(self, name: str, param: Tensor | None) -> None:
        """Register ``param`` (a tensor, or None for an absent optional one such as a bias)."""
        self._check_init(name)
        if param is not None and not isinstance(param, Tensor):
            raise TypeError(
                f"register_parameter: `param` must be a Tensor or None; got {type(param).__name__}."
            )
        self._forget(name)
        self._parameters[name] = param

    def register_buffer(self, name: str, array: np.ndarray | None, persistent: bool = True) -> None:
        """Register a NumPy array as non-trained state; it is in ``state_dict`` if persistent."""
        self._check_init(name)
        if array is not None and not isinstance(array, np.ndarray):
            raise TypeError(
                f"register_buffer: `array` must be a NumPy array or None; got {type(array).__name__}."
            )
        self._forget(name)
        self._buffers[name] = array
        if not persistent:
            self._non_persistent.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Register a child module under ``name``."""
        self._check_init(name)
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: `module` must be a Module; got {type(module).__name__}.")
        self._forget(name)
        self._modules[name] = module

    # --- traversal ---------------------------------------------------------------------
    def named_modules(self, prefix: str = "", memo: set[int] | None = None) -> Iterator[tuple[str, Module]]:
        """Yield ``(dotted_name, module)`` for this module (name ``""``) and all descendants."""
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is not None:
                yield from child.named_modules(f"{prefix}.{name}" if prefix else name, memo)

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        for name, child in self._modules.items():
            if child is not None:
                yield name, child

    def children(self) -> Iterator[Module]:
        for _, child in self.named_children():
            yield child

    def _named_members(self, key: str, recurse: bool) -> Iterator[tuple[str, Any]]:
        seen: set[int] = set()
        mods = self.named_modules() if recurse else iter([("", self)])
        for prefix, m in mods:
            for name, v in getattr(m, key).items():
                if v is None or id(v) in seen:
                    continue
                seen.add(id(v))
                yield (f"{prefix}.{name}" if prefix else name), v

    def named_parameters(self, recurse: bool = True) -> Iterator[tuple[str, Tensor]]:
        """Yield ``(dotted_name, parameter)``, each shared parameter once."""
        return self._named_members("_parameters", recurse)

    def parameters(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, p in self.named_parameters(recurse):
            yield p

    def named_buffers(self, recurse: bool = True) -> Iterator[tuple[str, np.ndarray]]:
        return self._named_members("_buffers", recurse)

    def buffers(self, recurse: bool = True) -> Iterator[np.ndarray]:
        for _, b in self.named_buffers(recurse):
            yield b

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Return the number of parameter elements (only those requiring grad if asked)."""
        return sum(p.size for p in self.parameters() if p.requires_grad or not trainable_only)

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call ``fn`` on every descendant, then on this module (as PyTorch does); return self."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # --- modes and gradients -------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Set training mode (dropout active, batch norm uses batch statistics); return self."""
        if not isinstance(mode, bool):
            raise TypeError(f"train: `mode` must be a bool; got mode={mode!r}.")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> Module:
        """Set evaluation mode; same as ``train(False)``."""
        return self.train(False)

    def zero_grad(self) -> None:
        """Reset every parameter's gradient to None."""
        for p in self.parameters():
            p.grad = None

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Freeze (``False``) or unfreeze every parameter; return self."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    # --- dtype ---------------------------------------------------------------------------
    def to(self, dtype: Any) -> Module:
        """Convert every floating parameter and buffer to ``dtype`` in place; return self.

        Parameters keep their identity (an optimiser built before still holds them).
        """
        dt = np.dtype(dtype)
        if dt.kind != "f":
            raise TypeError(f"to: `dtype` must be a floating-point type; got {dt}.")
        for m in self.modules():
            for p in m._parameters.values():
                if p is not None and p.data.dtype.kind == "f":
                    p.data = p.data.astype(dt)
                    p.grad = None if p.grad is None else p.grad.astype(dt)
            for name, b in m._buffers.items():
                if b is not None and b.dtype.kind == "f":
                    m._buffers[name] = b.astype(dt)
        return self

    def double(self) -> Module:
        return self.to(np.float64)

    def float(self) -> Module:
        return self.to(np.float32)

    # --- state ---------------------------------------------------------------------------
    def _state_items(self) -> Iterator[tuple[str, Tensor | np.ndarray]]:
        """Yield (key, live object) in PyTorch's order: own params, own buffers, children."""
        for prefix, m in self.named_modules():
            dot = f"{prefix}." if prefix else ""
            for name, p in m._parameters.items():
                if p is not None:
                    yield dot + name, p
            for name, b in m._buffers.items():
                if b is not None and name not in m._non_persistent:
                    yield dot + name, b

    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """Return copies of all parameters and persistent buffers, keyed by dotted name.

        >>> from ndconv.nn import Linear
        >>> list(Linear(3, 2).state_dict())
        ['weight', 'bias']
        """
        return OrderedDict(
            (k, (v.data if isinstance(v, Tensor) else v).copy()) for k, v in self._state_items()
        )

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy arrays into the parameters and buffers, in place, by name.

        Values may be NumPy arrays, Tensors, or anything ``np.asarray`` accepts (including
        CPU torch tensors); they are cast to the target's dtype.

        Raises:
            StateDictError: listing every missing key and unexpected key (``strict=True``) and
                every shape mismatch (always). Nothing is loaded if any problem is found.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(
                f"load_state_dict: `state_dict` must be a mapping; got {type(state_dict).__name__}."
            )
        targets = dict(self._state_items())
        missing = [k for k in targets if k not in state_dict]
        unexpected = [k for k in state_dict if k not in targets]
        arrays: dict[str, np.ndarray] = {}
        problems: list[str] = []
        for key, target in targets.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            arr = np.asarray(value.data if isinstance(value, Tensor) else value)
            expected = target.shape
            if arr.shape != expected:
                problems.append(f"  {key}: expected shape {expected}, got shape {arr.shape}")
            else:
                arrays[key] = arr
        if strict and missing:
            problems.insert(0, f"  missing keys: {', '.join(missing)}")
        if strict and unexpected:
            problems.insert(int(strict and bool(missing)), f"  unexpected keys: {', '.join(unexpected)}")
        if problems:
            raise StateDictError(
                f"load_state_dict: the state dict does not fit {type(self).__name__}; nothing "
                "was loaded:\n" + "\n".join(problems)
            )
        for key, arr in arrays.items():
            target = targets[key]
            dest = target.data if isinstance(target, Tensor) else target
            dest[...] = arr.astype(dest.dtype, copy=False)
        return IncompatibleKeys(missing, unexpected)

    # --- hooks ---------------------------------------------------------------------------
    def register_forward_hook(self, hook: Callable[[Module, tuple[Any, ...], Any], Any]) -> RemovableHandle:
        """Call ``hook(module, inputs, output)`` after every forward; a non-None return value
        replaces the output. Returns a handle whose ``remove()`` unregisters the hook.
        """
        handle = RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle.id] = hook
        return handle

    def register_forward_pre_hook(self, hook: Callable[[Module, tuple[Any, ...]], Any]) -> RemovableHandle:
        """Call ``hook(module, inputs)`` before every forward; a non-None return replaces inputs."""
        handle = RemovableHandle(self._forward_pre_hooks)
        self._forward_pre_hooks[handle.id] = hook
        return handle

    # --- printing ------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """Return the hyper-parameters shown inside the parentheses of ``repr``."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        children = [
            f"({name}): " + repr(child).replace("\n", "\n  ") for name, child in self._modules.items()
        ]
        if len(lines) == 1 and not children:
            return f"{type(self).__name__}({lines[0]})"
        body = lines + children
        if not body:
            return f"{type(self).__name__}()"
        return f"{type(self).__name__}(\n  " + "\n  ".join(body) + "\n)"
