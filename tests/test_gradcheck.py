"""Central finite differences in float64 against every VJP in ndconv, driven by one registry.

One generic checker: pick a random upstream gradient ``g``, backpropagate it through ``fn``,
and compare each input's analytic gradient with the central differences of the scalar
``<fn(x), g>``, element by element. The norm-relative error must be below 1e-6.

The registry (a small OpInfo) holds one record per case: a name, the function, and a maker
of sample inputs. Inputs of non-smooth ops are kept away from their kinks (and max-pool
inputs away from ties) so that finite differences are meaningful.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest

import ndconv as nc
import ndconv.nn.functional as F
from ndconv import ops
from ndconv.ops.pad import pad_adjoint

TOL = 1e-6


def gradcheck(fn: Callable[..., nc.Tensor], inputs: list[np.ndarray], wrt: tuple[int, ...] | None = None,
              eps: float = 1e-6, seed: int = 12345) -> float:
    """Return the worst norm-relative error between analytic and finite-difference gradients.

    ``inputs`` are float64 arrays passed to ``fn`` as tensors; ``wrt`` selects the ones
    differentiated (default: all). Raises AssertionError if the error is >= ``TOL``.
    """
    wrt = tuple(range(len(inputs))) if wrt is None else wrt
    inputs = [np.array(a, dtype=np.float64) for a in inputs]
    tensors = [nc.tensor(a.copy(), requires_grad=i in wrt) for i, a in enumerate(inputs)]
    y = fn(*tensors)
    assert y.dtype == np.float64, f"float64 in, {y.dtype} out"
    g = np.random.default_rng(seed).standard_normal(y.shape)
    y.backward(g)

    def scalar(arrays: list[np.ndarray]) -> float:
        with nc.no_grad():
            return float(np.vdot(np.asarray(fn(*[nc.tensor(a) for a in arrays])), g))

    worst = 0.0
    for i in wrt:
        analytic = tensors[i].grad
        assert analytic is not None, f"input {i} got no gradient"
        assert analytic.shape == inputs[i].shape and analytic.dtype == np.float64
        numeric = np.zeros_like(inputs[i])
        for j in range(inputs[i].size):
            plus = [a.copy() for a in inputs]
            minus = [a.copy() for a in inputs]
            plus[i].flat[j] += eps
            minus[i].flat[j] -= eps
            numeric.flat[j] = (scalar(plus) - scalar(minus)) / (2 * eps)
        err = np.linalg.norm(analytic - numeric) / max(np.linalg.norm(numeric), np.linalg.norm(analytic), 1e-12)
        assert err < TOL, f"input {i}: relative error {err:.3g}\nanalytic={analytic}\nnumeric={numeric}"
        worst = max(worst, err)
    return worst


# --- sample inputs ------------------------------------------------------------------------


def _r(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def normal(*shape: int, seed: int = 0) -> np.ndarray:
    return _r(seed).standard_normal(shape)


def away(*shape: int, seed: int = 0, low: float = 0.2) -> np.ndarray:
    """Values with |v| in [low, 2]: no kink of relu/abs/clip/leaky_relu nearby."""
    r = _r(seed)
    return r.choice([-1.0, 1.0], shape) * r.uniform(low, 2.0, shape)


def positive(*shape: int, seed: int = 0) -> np.ndarray:
    return _r(seed).uniform(0.5, 2.0, shape)


def distinct(*shape: int, seed: int = 0) -> np.ndarray:
    """A random permutation of well-separated values: no ties anywhere (max-pool, amax)."""
    n = int(np.prod(shape))
    return (_r(seed).permutation(n) * 0.1 - 0.05 * n).reshape(shape)


@dataclass
class Case:
    name: str
    fn: Callable[..., nc.Tensor]
    make: Callable[[], list[np.ndarray]]
    wrt: tuple[int, ...] | None = None
    covers: tuple[str, ...] = field(default_factory=tuple)


CASES: list[Case] = []


def case(name: str, fn, make, wrt=None, covers=()) -> None:
    CASES.append(Case(name, fn, make, wrt, tuple(covers) or (name.split("[")[0],)))


# elementwise
case("add[broadcast]", lambda a, b: ops.add(a, b), lambda: [normal(2, 3), normal(3, seed=1)])
case("sub[broadcast]", lambda a, b: ops.sub(a, b), lambda: [normal(2, 1, 3), normal(4, 1, seed=1)])
case("mul[broadcast]", lambda a, b: ops.mul(a, b), lambda: [normal(2, 3), normal(2, 1, seed=1)])
case("div", lambda a, b: ops.div(a, b), lambda: [normal(2, 3), away(2, 3, seed=1, low=0.5)])
case("neg", ops.neg, lambda: [normal(3, 2)])
case("pow[tensor exponent]", lambda a, b: ops.pow(a, b), lambda: [positive(2, 3), normal(2, 3, seed=1)],
     covers=("pow",))
case("pow[scalar exponent]", lambda a: a**3, lambda: [normal(2, 3)], covers=("pow",))
case("rpow", lambda a: 2.0**a, lambda: [normal(4)], covers=("pow",))
case("exp", ops.exp, lambda: [normal(2, 3)])
case("log", ops.log, lambda: [positive(2, 3)])
case("log1p", ops.log1p, lambda: [positive(2, 3)])
case("sqrt", ops.sqrt, lambda: [positive(2, 3)])
case("abs", ops.abs, lambda: [away(2, 3)])
case("sin", ops.sin, lambda: [normal(2, 3)])
case("cos", ops.cos, lambda: [normal(2, 3)])
case("maximum", lambda a, b: ops.maximum(a, b),
     lambda: [away(2, 3), np.zeros((2, 3))])
case("minimum", lambda a, b: ops.minimum(a, b),
     lambda: [away(2, 3), np.zeros((2, 3))])
case("where", lambda a, b: ops.where(normal(2, 3, seed=9) > 0, a, b), lambda: [normal(2, 3), normal(3, seed=1)])
case("clip", lambda a: ops.clip(a, -0.5, 0.7), lambda: [away(3, 4, low=0.05) * 0.9 + 0.01])
case("relu", F.relu, lambda: [away(3, 4)])
case("leaky_relu", lambda a: F.leaky_relu(a, 0.1), lambda: [away(3, 4)])
case("sigmoid", F.sigmoid, lambda: [normal(3, 4) * 3])
case("tanh", F.tanh, lambda: [normal(3, 4)])
case("softplus", F.softplus, lambda: [normal(3, 4) * 3])
case("gelu[erf]", F.gelu, lambda: [normal(3, 4) * 2], covers=("gelu",))
case("gelu[tanh]", lambda a: F.gelu(a, approximate="tanh"), lambda: [normal(3, 4) * 2], covers=("gelu",))
# reductions and contractions
case("sum[all]", lambda a: ops.sum(a), lambda: [normal(2, 3)], covers=("sum",))
case("sum[axes, keepdims]", lambda a: ops.sum(a, (0, 2), keepdims=True), lambda: [normal(2, 3, 4)], covers=("sum",))
case("mean[axis]", lambda a: ops.mean(a, 1), lambda: [normal(2, 3, 4)], covers=("mean",))
case("mean[all]", lambda a: a.mean(), lambda: [normal(2, 3)], covers=("mean",))
case("amax", lambda a: ops.amax(a, 1), lambda: [distinct(3, 4)])
case("amin", lambda a: ops.amin(a, (0, 2), keepdims=True), lambda: [distinct(2, 3, 2)])
case("var", lambda a: ops.var(a, 1), lambda: [normal(3, 5)])
case("matmul[2d]", ops.matmul, lambda: [normal(3, 4), normal(4, 2, seed=1)], covers=("matmul",))
case("matmul[batched broadcast]", ops.matmul, lambda: [normal(2, 3, 4), normal(4, 5, seed=1)], covers=("matmul",))
case("matmul[vec @ mat]", ops.matmul, lambda: [normal(4), normal(2, 4, 3, seed=1)], covers=("matmul",))
case("matmul[mat @ vec]", ops.matmul, lambda: [normal(3, 4), normal(4, seed=1)], covers=("matmul",))
case("matmul[vec @ vec]", ops.matmul, lambda: [normal(4), normal(4, seed=1)], covers=("matmul",))
case("softmax", lambda a: F.softmax(a, 1), lambda: [normal(2, 4, 3)])
case("log_softmax", lambda a: F.log_softmax(a, -1), lambda: [normal(2, 5) * 3])
case("logsumexp", lambda a: ops.logsumexp(a, 0), lambda: [normal(4, 3) * 3])
case("logsumexp[keepdims]", lambda a: ops.logsumexp(a, 1, keepdims=True), lambda: [normal(4, 3)],
     covers=("logsumexp",))
# array ops
case("reshape", lambda a: ops.reshape(a, (3, -1)), lambda: [normal(2, 3, 2)])
case("flatten", lambda a: ops.flatten(a, 1), lambda: [normal(2, 3, 2)])
case("squeeze", lambda a: ops.squeeze(a, 1), lambda: [normal(2, 1, 3)])
case("unsqueeze", lambda a: ops.unsqueeze(a, -1), lambda: [normal(2, 3)])
case("transpose", lambda a: ops.transpose(a, 0, 2), lambda: [normal(2, 3, 4)])
case("permute", lambda a: ops.permute(a, (2, 0, 1)), lambda: [normal(2, 3, 4)])
case("broadcast_to", lambda a: ops.broadcast_to(a, (4, 2, 3)), lambda: [normal(2, 1)])
case("getitem[basic]", lambda a: a[1:, ::2, None, -1], lambda: [normal(3, 5, 2)], covers=("getitem",))
case("getitem[advanced, repeats]", lambda a: a[np.array([0, 2, 0, 0]), 1:], lambda: [normal(3, 4)],
     covers=("getitem",))
case("getitem[two arrays, repeats]", lambda a: a[np.array([[1, 1], [0, 2]]), np.array([3, 3])],
     lambda: [normal(3, 4)], covers=("getitem",))
case("getitem[bool mask]", lambda a: a[normal(3, 4, seed=5) > 0], lambda: [normal(3, 4)], covers=("getitem",))
case("take_along_axis[repeats]", lambda a: ops.take_along_axis(a, np.array([[0, 0, 2], [1, 1, 1]]), 1),
     lambda: [normal(2, 3)], covers=("take_along_axis",))
case("take_along_axis[one pick]", lambda a: ops.take_along_axis(a, np.array([[2], [0]]), 1),
     lambda: [normal(2, 3)], covers=("take_along_axis",))
case("concat", lambda a, b, c: ops.concat([a, b, c], axis=1),
     lambda: [normal(2, 1), normal(2, 3, seed=1), normal(2, 2, seed=2)])
case("stack", lambda a, b: ops.stack([a, b], axis=1), lambda: [normal(2, 3), normal(2, 3, seed=1)])
case("Tensor methods", lambda a: (a.T @ a).reshape(-1).exp().sum() + a.var() + a.max(0).sum(),
     lambda: [distinct(3, 2) * 0.3], covers=())

# padding
for _mode in ("zeros", "reflect", "replicate", "circular"):
    case(f"pad[{_mode}]", lambda a, m=_mode: F.pad(a, [(2, 1), (0, 2)], mode=m), lambda: [normal(1, 2, 3, 3)],
         covers=("pad",))
    case(f"pad_adjoint[{_mode}]", lambda a, m=_mode: pad_adjoint(a, [(1, 2), (2, 0)], m),
         lambda: [normal(1, 2, 6, 5)], covers=("pad_adjoint",))


# convolution
def _conv(**kw):
    return lambda x, w, *b: F.conv(x, w, b[0] if b else None, **kw)


def _convt(**kw):
    return lambda x, w, *b: F.conv_transpose(x, w, b[0] if b else None, **kw)


case("conv[1d bias]", _conv(), lambda: [normal(2, 2, 6), normal(3, 2, 3, seed=1), normal(3, seed=2)],
     covers=("conv",))
case("conv[1d stride dilation]", _conv(stride=2, dilation=2, padding=2),
     lambda: [normal(1, 2, 9), normal(2, 2, 3, seed=1)], covers=("conv",))
case("conv[2d groups]", _conv(groups=2, padding=1), lambda: [normal(1, 4, 4, 4), normal(4, 2, 2, 3, seed=1)],
     covers=("conv",))
case("conv[2d strided same]", _conv(stride=(2, 3), padding="same"),
     lambda: [normal(1, 2, 5, 7), normal(2, 2, 3, 2, seed=1), normal(2, seed=2)], covers=("conv",))
case("conv[3d pairs dilation]", _conv(padding=((1, 0), (0, 2), (1, 1)), dilation=(1, 2, 1)),
     lambda: [normal(1, 1, 3, 4, 3), normal(2, 1, 2, 2, 2, seed=1)], covers=("conv",))
case("conv[4d strided same]", _conv(stride=2, padding="same"),
     lambda: [normal(1, 2, 3, 3, 3, 3), normal(2, 2, 2, 2, 2, 2, seed=1), normal(2, seed=2)], covers=("conv",))
case("conv[4d groups dilation]", _conv(groups=2, dilation=(2, 1, 1, 2)),
     lambda: [normal(1, 2, 3, 2, 2, 3), normal(2, 1, 2, 2, 1, 2, seed=1)], covers=("conv",))
case("conv[5d]", _conv(padding=1, stride=(1, 2, 1, 2, 1)),
     lambda: [normal(1, 1, 2, 3, 2, 2, 2), normal(1, 1, 2, 2, 2, 2, 2, seed=1)], covers=("conv",))
for _mode in ("reflect", "replicate", "circular"):
    case(f"conv[2d {_mode}]", _conv(padding=((1, 2), (2, 1)), padding_mode=_mode, stride=2),
         lambda: [normal(1, 2, 4, 5), normal(2, 2, 3, 3, seed=1)], covers=("conv",))
    case(f"conv[4d {_mode} same]", _conv(padding="same", padding_mode=_mode),
         lambda: [normal(1, 1, 3, 3, 2, 3), normal(1, 1, 2, 3, 1, 2, seed=1)], covers=("conv",))
case("conv1d", lambda x, w: F.conv1d(x, w, padding=1), lambda: [normal(1, 2, 5), normal(2, 2, 3, seed=1)])
case("conv2d", lambda x, w: F.conv2d(x, w, stride=2), lambda: [normal(1, 1, 5, 5), normal(2, 1, 2, 2, seed=1)])
case("conv3d", lambda x, w: F.conv3d(x, w), lambda: [normal(1, 1, 3, 3, 3), normal(1, 1, 2, 2, 2, seed=1)])

case("conv_transpose[1d bias output_padding]", _convt(stride=3, padding=1, output_padding=2),
     lambda: [normal(2, 2, 4), normal(2, 3, 3, seed=1), normal(3, seed=2)], covers=("conv_transpose",))
case("conv_transpose[2d groups dilation]", _convt(groups=2, dilation=2, stride=2, padding=(1, 2)),
     lambda: [normal(1, 4, 3, 3), normal(4, 1, 3, 3, seed=1)], covers=("conv_transpose",))
case("conv_transpose[dilation > stride, output_padding >= stride]",
     _convt(stride=1, dilation=3, output_padding=2, padding=1),
     lambda: [normal(1, 2, 3, 3), normal(2, 1, 2, 2, seed=1)], covers=("conv_transpose",))
case("conv_transpose[2d same stride]", _convt(stride=2, padding="same"),
     lambda: [normal(1, 2, 3, 2), normal(2, 2, 3, 3, seed=1)], covers=("conv_transpose",))
case("conv_transpose[3d]", _convt(stride=(1, 2, 1), padding=((0, 1), (1, 0), (1, 1))),
     lambda: [normal(1, 2, 2, 3, 3), normal(2, 1, 2, 2, 3, seed=1)], covers=("conv_transpose",))
case("conv_transpose[4d]", _convt(stride=2, padding=1, output_padding=1),
     lambda: [normal(1, 2, 2, 2, 2, 2), normal(2, 1, 2, 2, 2, 2, seed=1), normal(1, seed=2)],
     covers=("conv_transpose",))
for _mode in ("reflect", "replicate", "circular"):
    case(f"conv_transpose[2d {_mode}]", _convt(stride=2, padding=((1, 2), (2, 1)), padding_mode=_mode),
         lambda: [normal(1, 2, 3, 3), normal(2, 2, 3, 3, seed=1)], covers=("conv_transpose",))
    case(f"conv_transpose[4d {_mode} same]", _convt(stride=(2, 1, 1, 2), padding="same", padding_mode=_mode),
         lambda: [normal(1, 1, 2, 3, 2, 2), normal(1, 1, 3, 2, 2, 3, seed=1)], covers=("conv_transpose",))

# sliding windows, pools
case("unfold", lambda a: F.unfold(a, (2, 3), dilation=(2, 1), padding=1, stride=(1, 2)),
     lambda: [normal(1, 2, 4, 5)])
case("unfold[3d]", lambda a: F.unfold(a, 2, stride=2), lambda: [normal(1, 1, 3, 4, 4)], covers=("unfold",))
case("fold", lambda a: F.fold(a, (4, 5), (2, 3), dilation=(2, 1), padding=1, stride=(1, 2)),
     lambda: [normal(1, 12, 12)])
case("max_pool[2d overlapping]", lambda a: F.max_pool(a, 3, stride=1, padding=1), lambda: [distinct(1, 2, 4, 4)],
     covers=("max_pool",))
case("max_pool[3d dilation ceil]", lambda a: F.max_pool(a, 2, stride=2, dilation=(1, 2, 1), ceil_mode=True),
     lambda: [distinct(1, 1, 5, 5, 3)], covers=("max_pool",))
case("max_pool[4d]", lambda a: F.max_pool(a, (2, 2, 1, 2), stride=1, padding=(1, 0, 0, 1)),
     lambda: [distinct(1, 1, 3, 2, 2, 3)], covers=("max_pool",))
case("avg_pool[2d pad exclude ceil]",
     lambda a: F.avg_pool(a, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
     lambda: [normal(1, 2, 5, 6)], covers=("avg_pool",))
case("avg_pool[3d include dilation]", lambda a: F.avg_pool(a, 2, stride=1, padding=1, dilation=(1, 2, 1)),
     lambda: [normal(1, 1, 3, 4, 3)], covers=("avg_pool",))
case("avg_pool[4d divisor_override]", lambda a: F.avg_pool(a, 2, divisor_override=3),
     lambda: [normal(1, 1, 2, 3, 2, 3)], covers=("avg_pool",))
case("adaptive_avg_pool", lambda a: F.adaptive_avg_pool(a, (3, None, 2)), lambda: [normal(1, 2, 5, 3, 4)])
case("adaptive_avg_pool[upsample]", lambda a: F.adaptive_avg_pool(a, (5, 2)), lambda: [normal(1, 1, 3, 4)],
     covers=("adaptive_avg_pool",))
case("adaptive_max_pool", lambda a: F.adaptive_max_pool(a, (3, 2, 2)), lambda: [distinct(1, 2, 5, 4, 3)])
case("adaptive_max_pool[upsample]", lambda a: F.adaptive_max_pool(a, (5, 2)), lambda: [distinct(1, 1, 3, 4)],
     covers=("adaptive_max_pool",))
case("global_avg_pool", F.global_avg_pool, lambda: [normal(2, 3, 2, 2, 2)])
case("global_max_pool", lambda a: F.global_max_pool(a, keepdims=True), lambda: [distinct(2, 3, 2, 3)])


def _unpool(a):
    idx = F.max_pool(nc.tensor(distinct(1, 2, 4, 5, seed=3)), 2, stride=2, return_indices=True)[1]
    return F.max_unpool(a, idx, 2, stride=2, output_size=(4, 5))


case("max_unpool", _unpool, lambda: [normal(1, 2, 2, 2)])

# normalisation, dropout, dense
case("batch_norm[train, affine]", lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
     lambda: [normal(3, 2, 2, 2), normal(2, seed=1), normal(2, seed=2)], covers=("batch_norm",))
case("batch_norm[train, 4d, no affine]", lambda x: F.batch_norm(x, np.zeros(2), np.ones(2), training=True),
     lambda: [normal(2, 2, 2, 1, 2, 2)], covers=("batch_norm",))
case("batch_norm[eval]",
     lambda x, w, b: F.batch_norm(x, np.array([0.1, -0.2]), np.array([1.5, 0.5]), w, b, training=False),
     lambda: [normal(2, 2, 3), normal(2, seed=1), normal(2, seed=2)], covers=("batch_norm",))
case("dropout[fixed mask]", lambda a: F.dropout(a, 0.4, rng=np.random.default_rng(0)), lambda: [normal(3, 4)],
     covers=("dropout",))
case("linear", F.linear, lambda: [normal(2, 3, 4), normal(5, 4, seed=1), normal(5, seed=2)])

# losses
_T = np.array([[0, 2], [1, 1], [3, 0]])  # (N=3, S=2) class indices for C=4
case("cross_entropy[indices, smoothing, weight, ignore]",
     lambda z: F.cross_entropy(z, np.where(_T == 1, -1, _T), weight=np.array([1.0, 2.0, 0.5, 1.5]),
                               label_smoothing=0.2, ignore_index=-1),
     lambda: [normal(3, 4, 2) * 2], covers=("cross_entropy",))
case("cross_entropy[indices, sum]", lambda z: F.cross_entropy(z, np.array([1, 0, 3]), reduction="sum"),
     lambda: [normal(3, 4)], covers=("cross_entropy",))
case("cross_entropy[indices, none, smoothing]",
     lambda z: F.cross_entropy(z, np.array([1, 0, 3]), reduction="none", label_smoothing=0.1),
     lambda: [normal(3, 4)], covers=("cross_entropy",))
case("cross_entropy[probabilities, weight, smoothing]",
     lambda z: F.cross_entropy(z, _r(7).dirichlet(np.ones(4), size=(3,)), weight=np.array([1.0, 2.0, 0.5, 1.5]),
                               label_smoothing=0.1),
     lambda: [normal(3, 4)], covers=("cross_entropy",))
case("nll_loss[weight, ignore]",
     lambda lp: F.nll_loss(lp, np.array([2, -100, 0, 1]), weight=np.array([0.5, 1.0, 2.0])),
     lambda: [normal(4, 3)], covers=("nll_loss",))
case("nll_loss[spatial, none]", lambda lp: F.nll_loss(lp, _T[:2], reduction="none"), lambda: [normal(2, 4, 2)],
     covers=("nll_loss",))
case("bce_with_logits[pos_weight]",
     lambda z: F.binary_cross_entropy_with_logits(z, _r(3).uniform(0, 1, (3, 4)),
                                                  pos_weight=np.array([1.0, 2.0, 0.5, 3.0])),
     lambda: [normal(3, 4) * 3], covers=("binary_cross_entropy_with_logits",))
case("bce_with_logits[target grad, sum]",
     lambda z, y: F.binary_cross_entropy_with_logits(z, y, reduction="sum"),
     lambda: [normal(3, 4) * 3, _r(3).uniform(0, 1, (3, 4))], covers=("binary_cross_entropy_with_logits",))
case("mse_loss", F.mse_loss, lambda: [normal(3, 4), normal(3, 4, seed=1)])
case("l1_loss", lambda a, b: F.l1_loss(a, b, reduction="sum"), lambda: [away(3, 4), np.zeros((3, 4))])


@pytest.mark.parametrize("c", CASES, ids=[c.name for c in CASES])
def test_gradcheck(c: Case) -> None:
    assert gradcheck(c.fn, c.make(), c.wrt) < TOL


# public names that have no gradient to check (none so far: every public op is differentiable)
NOT_DIFFERENTIABLE: set[str] = set()


def test_registry_covers_every_differentiable_op() -> None:
    covered = {name for c in CASES for name in c.covers}
    public = set(ops.__all__) | set(F.__all__)
    missing = sorted(public - covered - NOT_DIFFERENTIABLE)
    assert not missing, f"ops without a finite-difference check: {missing}"


def test_checker_catches_a_wrong_vjp() -> None:
    """The checker itself must fail on a wrong derivative (here: d sin = sin, not cos)."""
    from ndconv.autograd import record

    def bad_sin(a):
        return record(np.sin(a.data), (a,), lambda g: (g * np.sin(a.data),), "bad_sin")

    with pytest.raises(AssertionError, match="relative error"):
        gradcheck(bad_sin, [normal(3)])


def test_dropout_mask_is_fixed_by_the_generator() -> None:
    x = nc.tensor(np.ones((50,)))
    a = np.asarray(F.dropout(x, 0.4, rng=np.random.default_rng(0)))
    b = np.asarray(F.dropout(x, 0.4, rng=np.random.default_rng(0)))
    np.testing.assert_array_equal(a, b)
    assert set(np.unique(a)) <= {0.0, 1 / 0.6} and 0 < (a == 0).sum() < 50
