"""Reverse-mode automatic differentiation: the Tensor, the tape and ``backward()``.

Every primitive op (see :mod:`ndconv.ops`) computes its forward result with NumPy and, when a
gradient is wanted, records *one* node: its input tensors and a vector-Jacobian product (VJP)
closure that maps the output's gradient to one gradient per input. ``backward()`` walks the
recorded graph in reverse topological order -- iteratively, so a 152-layer ResNet does not hit
Python's recursion limit -- and accumulates (``+=``) the gradients. Summing a gradient back to a
broadcast input's shape happens in exactly one place: :func:`_unbroadcast`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

__all__ = [
    "Tensor",
    "tensor",
    "no_grad",
    "enable_grad",
    "is_grad_enabled",
    "record",
    "as_tensor",
]

DEFAULT_DTYPE = np.float32
_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.float16))

VJP = Callable[[np.ndarray], Sequence["np.ndarray | None"]]


class _GradMode(threading.local):
    enabled: bool = True


_grad_mode = _GradMode()


def is_grad_enabled() -> bool:
    """Return whether operations are currently recorded for backpropagation."""
    return _grad_mode.enabled


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Disable recording inside the block (inference, optimizer updates).

    >>> import ndconv as nc
    >>> x = nc.tensor([1.0, 2.0], requires_grad=True)
    >>> with nc.no_grad():
    ...     y = x * 2
    >>> y.requires_grad
    False
    """
    previous = _grad_mode.enabled
    _grad_mode.enabled = False
    try:
        yield
    finally:
        _grad_mode.enabled = previous


@contextlib.contextmanager
def enable_grad() -> Iterator[None]:
    """Re-enable recording inside a :func:`no_grad` block."""
    previous = _grad_mode.enabled
    _grad_mode.enabled = True
    try:
        yield
    finally:
        _grad_mode.enabled = previous


class _Node:
    """One recorded op: the tensors it read and the VJP that sends gradients back to them."""

    __slots__ = ("parents", "vjp", "name")

    def __init__(self, parents: tuple[Tensor | None, ...], vjp: VJP, name: str) -> None:
        self.parents = parents
        self.vjp = vjp
        self.name = name


class Tensor:
    """An n-dimensional array that can record the operations applied to it.

    ``data`` is a NumPy array; ``grad`` holds the accumulated gradient of a leaf tensor
    with ``requires_grad=True`` after :meth:`backward`. ``np.asarray(t)`` returns ``data``.
    """

    __slots__ = ("data", "grad", "requires_grad", "_node", "_retain", "__weakref__")
    __array_priority__ = 1000  # make ``ndarray + Tensor`` defer to Tensor.__radd__

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        self.data: np.ndarray = _to_array(data, dtype)
        if requires_grad and self.data.dtype not in _FLOAT_DTYPES:
            raise TypeError(
                "tensor: only floating-point tensors can have `requires_grad=True`; "
                f"got dtype={self.data.dtype}."
            )
        self.requires_grad: bool = bool(requires_grad)
        self.grad: np.ndarray | None = None
        self._node: _Node | None = None
        self._retain = False

    # --- array-like ------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def size(self) -> int:
        return int(self.data.size)

    @property
    def is_leaf(self) -> bool:
        return self._node is None

    def __len__(self) -> int:
        return len(self.data)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        if dtype is not None and np.dtype(dtype) != self.data.dtype:
            return self.data.astype(dtype)
        return self.data.copy() if copy else self.data

    def numpy(self) -> np.ndarray:
        """Return the underlying array (shared, not copied)."""
        return self.data

    def item(self) -> float:
        """Return the value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item: tensor must have exactly one element; got shape={self.shape}.")
        return self.data.item()  # type: ignore[no-any-return]

    def tolist(self) -> Any:
        return self.data.tolist()

    def detach(self) -> Tensor:
        """Return a tensor sharing the data, cut off from the graph."""
        return Tensor(self.data)

    def retain_grad(self) -> Tensor:
        """Keep ``.grad`` on this non-leaf tensor after backward (as PyTorch does)."""
        self._retain = True
        return self

    def requires_grad_(self, flag: bool = True) -> Tensor:
        if flag and self.data.dtype not in _FLOAT_DTYPES:
            raise TypeError(f"requires_grad_: dtype {self.data.dtype} cannot require grad.")
        self.requires_grad = bool(flag)
        return self

    def zero_grad(self) -> None:
        self.grad = None

    def __repr__(self) -> str:
        body = np.array2string(self.data, precision=4, separator=", ", threshold=20)
        extra = ", requires_grad=True" if self.requires_grad else ""
        if self.dtype != DEFAULT_DTYPE:
            extra += f", dtype={self.dtype}"
        return f"tensor({body}{extra})"

    def __hash__(self) -> int:
        return id(self)

    # --- backpropagation ---------------------------------------------------------------
    def backward(self, grad: Any = None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``.

        Args:
            grad: the gradient of some scalar with respect to ``self``; defaults to 1 for a
                one-element tensor.
            retain_graph: keep the recorded graph so backward can run through it again.

        Raises:
            RuntimeError: if ``self`` does not require grad.
            ValueError: if ``grad`` is omitted for a non-scalar tensor or has the wrong shape.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward: this tensor does not require grad (no input had requires_grad=True, "
                "or it was computed under no_grad())."
            )
        if grad is None:
            if self.data.size != 1:
                raise ValueError(
                    f"backward: `grad` must be given for a non-scalar tensor; got shape={self.shape}."
                )
            seed = np.ones_like(self.data)
        else:
            seed = np.asarray(grad.data if isinstance(grad, Tensor) else grad, self.dtype)
            if seed.shape != self.shape:
                raise ValueError(
                    f"backward: `grad` must have the tensor's shape {self.shape}; got {seed.shape}."
                )
        _run_backward(self, seed, retain_graph)

    # --- operators and methods: thin calls into the primitives of ``ndconv.ops`` ------------
    def __add__(self, other: Any) -> Tensor:
        return _ops.add(self, other)  # type: ignore[no-any-return]

    def __radd__(self, other: Any) -> Tensor:
        return _ops.add(other, self)  # type: ignore[no-any-return]

    def __sub__(self, other: Any) -> Tensor:
        return _ops.sub(self, other)  # type: ignore[no-any-return]

    def __rsub__(self, other: Any) -> Tensor:
        return _ops.sub(other, self)  # type: ignore[no-any-return]

    def __mul__(self, other: Any) -> Tensor:
        return _ops.mul(self, other)  # type: ignore[no-any-return]

    def __rmul__(self, other: Any) -> Tensor:
        return _ops.mul(other, self)  # type: ignore[no-any-return]

    def __truediv__(self, other: Any) -> Tensor:
        return _ops.div(self, other)  # type: ignore[no-any-return]

    def __rtruediv__(self, other: Any) -> Tensor:
        return _ops.div(other, self)  # type: ignore[no-any-return]

    def __pow__(self, other: Any) -> Tensor:
        return _ops.pow(self, other)  # type: ignore[no-any-return]

    def __rpow__(self, other: Any) -> Tensor:
        return _ops.pow(other, self)  # type: ignore[no-any-return]

    def __neg__(self) -> Tensor:
        return _ops.neg(self)  # type: ignore[no-any-return]

    def __matmul__(self, other: Any) -> Tensor:
        return _ops.matmul(self, other)  # type: ignore[no-any-return]

    def __rmatmul__(self, other: Any) -> Tensor:
        return _ops.matmul(other, self)  # type: ignore[no-any-return]

    def __getitem__(self, index: Any) -> Tensor:
        return _ops.getitem(self, index)  # type: ignore[no-any-return]

    # Comparisons give plain boolean arrays: they have no gradient.
    def __lt__(self, other: Any) -> np.ndarray:
        return self.data < _raw(other)  # type: ignore[no-any-return]

    def __le__(self, other: Any) -> np.ndarray:
        return self.data <= _raw(other)  # type: ignore[no-any-return]

    def __gt__(self, other: Any) -> np.ndarray:
        return self.data > _raw(other)  # type: ignore[no-any-return]

    def __ge__(self, other: Any) -> np.ndarray:
        return self.data >= _raw(other)  # type: ignore[no-any-return]

    def sum(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _ops.sum(self, axis, keepdims)  # type: ignore[no-any-return]

    def mean(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _ops.mean(self, axis, keepdims)  # type: ignore[no-any-return]

    def max(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _ops.amax(self, axis, keepdims)  # type: ignore[no-any-return]

    def min(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _ops.amin(self, axis, keepdims)  # type: ignore[no-any-return]

    def var(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _ops.var(self, axis, keepdims)  # type: ignore[no-any-return]

    def reshape(self, *shape: Any) -> Tensor:
        return _ops.reshape(self, _shape_arg(shape))  # type: ignore[no-any-return]

    view = reshape

    def permute(self, *axes: Any) -> Tensor:
        return _ops.permute(self, _shape_arg(axes))  # type: ignore[no-any-return]

    def transpose(self, axis0: int = -2, axis1: int = -1) -> Tensor:
        return _ops.transpose(self, axis0, axis1)  # type: ignore[no-any-return]

    @property
    def T(self) -> Tensor:
        return _ops.permute(self, tuple(reversed(range(self.ndim))))  # type: ignore[no-any-return]

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        return _ops.flatten(self, start_dim, end_dim)  # type: ignore[no-any-return]

    def squeeze(self, axis: int) -> Tensor:
        return _ops.squeeze(self, axis)  # type: ignore[no-any-return]

    def unsqueeze(self, axis: int) -> Tensor:
        return _ops.unsqueeze(self, axis)  # type: ignore[no-any-return]

    def exp(self) -> Tensor:
        return _ops.exp(self)  # type: ignore[no-any-return]

    def log(self) -> Tensor:
        return _ops.log(self)  # type: ignore[no-any-return]

    def sqrt(self) -> Tensor:
        return _ops.sqrt(self)  # type: ignore[no-any-return]

    def abs(self) -> Tensor:
        return _ops.abs(self)  # type: ignore[no-any-return]

    def relu(self) -> Tensor:
        return _ops.relu(self)  # type: ignore[no-any-return]

    def sigmoid(self) -> Tensor:
        return _ops.sigmoid(self)  # type: ignore[no-any-return]

    def tanh(self) -> Tensor:
        return _ops.tanh(self)  # type: ignore[no-any-return]

    def clip(self, lo: float | None = None, hi: float | None = None) -> Tensor:
        return _ops.clip(self, lo, hi)  # type: ignore[no-any-return]

    def softmax(self, axis: int = -1) -> Tensor:
        return _ops.softmax(self, axis)  # type: ignore[no-any-return]

    def log_softmax(self, axis: int = -1) -> Tensor:
        return _ops.log_softmax(self, axis)  # type: ignore[no-any-return]

    def argmax(self, axis: int | None = None) -> np.ndarray:
        return np.asarray(np.argmax(self.data, axis=axis))

    def astype(self, dtype: Any) -> Tensor:
        """Return a copy cast to ``dtype`` (a new leaf, as ``detach().to(dtype)``)."""
        return Tensor(self.data.astype(dtype), requires_grad=self.requires_grad)

    def float(self) -> Tensor:
        return self.astype(np.float32)

    def double(self) -> Tensor:
        return self.astype(np.float64)


def _freed_vjp(g: np.ndarray) -> Sequence[np.ndarray | None]:
    raise RuntimeError(
        "backward: this graph was already freed by an earlier backward(); "
        "pass retain_graph=True to that call to backpropagate through it twice."
    )


_FREED = _Node((), _freed_vjp, "freed")

_ops: Any = None  # ndconv.ops, bound when it is imported (it imports this module)


def _raw(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def _shape_arg(shape: tuple[Any, ...]) -> tuple[Any, ...]:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def _run_backward(root: Tensor, seed: np.ndarray, retain_graph: bool) -> None:
    order = _topological_order(root)
    grads: dict[int, np.ndarray] = {id(root): seed}
    while order:  # order is parents-first; popping goes children-first and lets each
        t = order.pop()  # finished tensor (and what its node saved) be freed at once
        g = grads.pop(id(t), None)
        node = t._node
        if node is None or g is None:
            if g is not None and t.requires_grad:
                _accumulate_leaf(t, g)
            continue
        if t._retain:
            _accumulate_leaf(t, g)
        parent_grads = node.vjp(g)
        for parent, pg in zip(node.parents, parent_grads):
            if parent is None or pg is None or not parent.requires_grad:
                continue
            pg = _unbroadcast(np.asarray(pg), parent.shape)
            if pg.dtype != parent.dtype:
                pg = pg.astype(parent.dtype)
            key = id(parent)
            if key in grads:
                grads[key] = grads[key] + pg
            else:
                grads[key] = pg
        if not retain_graph:
            t._node = _FREED  # a second backward through here raises instead of passing silently


def _topological_order(root: Tensor) -> list[Tensor]:
    """Return the tensors reachable from ``root``, every tensor after its parents."""
    order: list[Tensor] = []
    visited: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        t, expanded = stack.pop()
        if expanded:
            order.append(t)
            continue
        if id(t) in visited:
            continue
        visited.add(id(t))
        stack.append((t, True))
        if t._node is not None:
            for p in t._node.parents:
                if p is not None and p.requires_grad and id(p) not in visited:
                    stack.append((p, False))
    return order


def _accumulate_leaf(t: Tensor, g: np.ndarray) -> None:
    if t.grad is None:
        t.grad = np.array(g, dtype=t.dtype, copy=True)
    else:
        t.grad += g


def _unbroadcast(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``g`` over the axes along which an input of ``shape`` was broadcast."""
    if g.shape == shape:
        return g
    extra = g.ndim - len(shape)
    if extra < 0:
        return np.broadcast_to(g, shape).copy()
    axes = tuple(range(extra)) + tuple(
        extra + i for i, n in enumerate(shape) if n == 1 and g.shape[extra + i] != 1
    )
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)


def _to_array(data: Any, dtype: Any) -> np.ndarray:
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        return np.asarray(data, dtype=dtype)
    if isinstance(data, np.ndarray):
        return data
    if isinstance(data, np.generic):
        return np.asarray(data)
    arr = np.asarray(data)
    if arr.dtype == np.float64:  # Python floats: the default dtype, as in PyTorch
        arr = arr.astype(DEFAULT_DTYPE)
    return arr


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """Create a tensor from an array-like.

    Python floats become float32 (the default); NumPy arrays keep their dtype, so a float64
    array gives a float64 tensor; integer data stays integer (class labels).

    >>> import ndconv as nc
    >>> nc.tensor([[1.0, 2.0]]).shape, nc.tensor([1.0]).dtype
    ((1, 2), dtype('float32'))
    """
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def as_tensor(x: Any, like: Tensor | None = None) -> Tensor:
    """Return ``x`` if it is a Tensor, else wrap it (scalars take ``like``'s dtype)."""
    if isinstance(x, Tensor):
        return x
    if like is not None and (np.isscalar(x) or isinstance(x, (int, float))):
        return Tensor(np.asarray(x, dtype=like.dtype))
    return Tensor(x)


def record(
    out: np.ndarray,
    inputs: Sequence[Tensor | None],
    vjp: VJP,
    name: str = "",
) -> Tensor:
    """Wrap a primitive's forward result and, if needed, record its VJP on the tape.

    ``vjp(g)`` must return one gradient (or ``None``) per entry of ``inputs``; gradients of
    broadcast inputs may keep the broadcast shape -- the engine sums them back.
    """
    result = Tensor(out)
    if _grad_mode.enabled and any(t is not None and t.requires_grad for t in inputs):
        result.requires_grad = True
        result._node = _Node(tuple(inputs), vjp, name)
    return result
