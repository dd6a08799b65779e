"""The autograd engine: accumulation, broadcasting, no_grad, depth, dtypes, the array protocol."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import ndconv as nc
import ndconv.nn.functional as F


def leaf(a, dtype=np.float64) -> nc.Tensor:
    return nc.tensor(np.asarray(a, dtype), requires_grad=True)


# --- accumulation --------------------------------------------------------------------------


def test_gradients_accumulate_across_two_backward_calls():
    x = leaf([1.0, 2.0, 3.0])
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad, [2.0, 4.0, 6.0])
    (x * 3.0).sum().backward()  # a new graph: its gradient adds to the first
    np.testing.assert_allclose(x.grad, [5.0, 7.0, 9.0])
    x.zero_grad()
    assert x.grad is None
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad, [3.0, 3.0, 3.0])


def test_retain_graph_allows_a_second_backward_through_the_same_graph():
    x = leaf([1.0, -2.0])
    y = (x * x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad, 2 * 3 * np.array([1.0, 4.0]))


def test_second_backward_through_a_freed_graph_does_not_silently_pass():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward()
    first = x.grad.copy()
    try:
        y.backward()
    except RuntimeError:
        return  # explained, as in PyTorch
    # if it does not raise, it must at least not leave x.grad pretending nothing happened
    assert not np.array_equal(x.grad, first), "second backward through a freed graph was silently ignored"


def test_a_tensor_used_twice_gets_both_contributions():
    x = leaf([2.0, -1.0])
    y = x * x + x.exp() * x  # x reaches y along four paths
    y.backward(np.ones(2))
    xv = np.array([2.0, -1.0])
    np.testing.assert_allclose(x.grad, 2 * xv + np.exp(xv) * (1 + xv))


def test_diamond_graph_visits_shared_node_once():
    x = leaf([3.0])
    h = x * 2.0
    y = (h + h * h).sum()  # dy/dh = 1 + 2h, dh/dx = 2
    y.backward()
    np.testing.assert_allclose(x.grad, [2 * (1 + 2 * 6.0)])


# --- broadcasting --------------------------------------------------------------------------


def test_broadcast_inputs_get_gradients_summed_to_their_shape():
    a = leaf(np.arange(6.0).reshape(2, 3))
    b = leaf([10.0, 20.0, 30.0])  # (3,) broadcast over rows
    c = leaf([[1.0], [2.0]])  # (2, 1) broadcast over columns
    s = leaf(2.0)  # 0-d
    y = (a * b + c) * s
    g = np.arange(1.0, 7.0).reshape(2, 3)
    y.backward(g)
    assert b.grad.shape == (3,) and c.grad.shape == (2, 1) and s.grad.shape == ()
    np.testing.assert_allclose(a.grad, g * np.array([10.0, 20.0, 30.0]) * 2)
    np.testing.assert_allclose(b.grad, (g * np.arange(6.0).reshape(2, 3) * 2).sum(0))
    np.testing.assert_allclose(c.grad, (g * 2).sum(1, keepdims=True))
    np.testing.assert_allclose(s.grad, (g * (np.arange(6.0).reshape(2, 3) * [10, 20, 30] + [[1], [2]])).sum())


def test_broadcast_with_leading_and_inner_size_one_axes():
    a = leaf(np.ones((4, 1, 3)))
    b = leaf(np.ones((2, 1)))
    y = a * b  # (4, 2, 3)
    y.sum().backward()
    np.testing.assert_allclose(a.grad, np.full((4, 1, 3), 2.0))
    np.testing.assert_allclose(b.grad, np.full((2, 1), 12.0))


def test_python_scalars_on_either_side():
    x = leaf([1.0, 2.0])
    y = (2.0 - x) / 4.0 + 1.0 / x + x**2
    y.sum().backward()
    np.testing.assert_allclose(x.grad, -0.25 - 1 / np.array([1.0, 4.0]) + 2 * np.array([1.0, 2.0]))


# --- no_grad ------------------------------------------------------------------------------


def test_no_grad_records_nothing_and_restores_the_mode():
    x = leaf([1.0, 2.0])
    assert nc.is_grad_enabled()
    with nc.no_grad():
        assert not nc.is_grad_enabled()
        y = F.relu(x * 2.0).sum()
        with nc.enable_grad():
            z = (x * 2.0).sum()
        assert not nc.is_grad_enabled()
    assert nc.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()
    z.backward()
    np.testing.assert_allclose(x.grad, [2.0, 2.0])


def test_no_grad_restores_the_mode_after_an_exception():
    with pytest.raises(ZeroDivisionError), nc.no_grad():
        raise ZeroDivisionError
    assert nc.is_grad_enabled()


def test_detach_cuts_the_graph():
    x = leaf([1.0, 2.0])
    y = (x.detach() * x).sum()  # only the second factor is differentiated
    y.backward()
    np.testing.assert_allclose(x.grad, [1.0, 2.0])


def test_retain_grad_keeps_a_non_leaf_gradient():
    x = leaf([1.0, 2.0])
    h = (x * 3.0).retain_grad()
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad, 2 * 3.0 * np.array([1.0, 2.0]))
    np.testing.assert_allclose(x.grad, 18.0 * np.array([1.0, 2.0]))


def test_only_requested_leaves_get_gradients():
    x, w = leaf([1.0, 2.0]), nc.tensor(np.array([3.0, 4.0]))
    (x * w).sum().backward()
    assert w.grad is None and not w.requires_grad
    np.testing.assert_allclose(x.grad, [3.0, 4.0])


# --- depth ----------------------------------------------------------------------------------


def test_a_10000_op_chain_does_not_hit_the_recursion_limit():
    depth = 10 * sys.getrecursionlimit()
    x = leaf([0.5])
    y = x
    for _ in range(depth):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [1.0001**depth], rtol=1e-9)
    del y  # freeing a deep graph must not overflow the stack either


def test_a_200_layer_conv_network_backpropagates():
    rng = np.random.default_rng(0)
    x = leaf(rng.standard_normal((1, 2, 5, 5)))
    weights = [leaf(rng.standard_normal((2, 2, 3, 3)) * 0.2) for _ in range(200)]
    h = x
    for w in weights:
        h = F.relu(F.conv(h, w, padding=1)) + h  # residual, like a ResNet block
    h.sum().backward()
    assert x.grad.shape == x.shape and np.isfinite(x.grad).all()
    assert all(w.grad is not None and w.grad.shape == (2, 2, 3, 3) for w in weights)


# --- dtypes and the array protocol ------------------------------------------------------------


def test_float32_is_the_default():
    t = nc.tensor([1.0, 2.0])
    assert t.dtype == np.float32
    assert (t * 2.5 + 1.0).dtype == np.float32  # Python scalars do not promote
    assert nc.zeros(2, 3).dtype == np.float32 and nc.randn(2).dtype == np.float32
    assert nc.tensor([1, 2]).dtype.kind == "i"  # integer data stays integer (labels)


def test_float32_gradients_stay_float32():
    x = nc.tensor(np.ones((1, 1, 4, 4), np.float32), requires_grad=True)
    w = nc.tensor(np.ones((1, 1, 3, 3), np.float32), requires_grad=True)
    y = F.max_pool(F.relu(F.conv(x, w, padding=1) * 0.5), 2)
    assert y.dtype == np.float32
    F.cross_entropy(y.reshape(1, 4), np.array([1])).backward()
    assert x.grad.dtype == np.float32 and w.grad.dtype == np.float32


@pytest.mark.parametrize(
    "fn",
    [
        lambda x, w: F.conv(x, w, padding=1, padding_mode="reflect"),
        lambda x, w: F.conv_transpose(x, w, stride=2, padding="same"),
        lambda x, w: F.avg_pool(x * 2.0, 2) + F.max_pool(x, 2),
        lambda x, w: F.adaptive_avg_pool(x, 3) * F.adaptive_max_pool(x, 3),
        lambda x, w: F.batch_norm(x, None, None, training=True),
        lambda x, w: F.gelu(F.softmax(x, 1)) + F.log_softmax(x, 1),
    ],
)
def test_float64_is_preserved_through_ops_and_gradients(fn):
    rng = np.random.default_rng(0)
    x = leaf(rng.standard_normal((2, 2, 4, 4)))
    w = leaf(rng.standard_normal((2, 2, 3, 3)))
    y = fn(x, w)
    assert y.dtype == np.float64
    (y * y).sum().backward()
    assert x.grad.dtype == np.float64


def test_np_asarray_of_a_tensor():
    data = np.arange(6.0).reshape(2, 3)
    t = nc.tensor(data)
    a = np.asarray(t)
    assert isinstance(a, np.ndarray) and a.dtype == np.float64
    np.testing.assert_array_equal(a, data)
    np.testing.assert_array_equal(np.asarray(t, dtype=np.float32), data.astype(np.float32))
    assert np.asarray(t, dtype=np.float32).dtype == np.float32
    y = F.conv(nc.tensor(np.ones((1, 1, 3, 3))), nc.tensor(np.ones((1, 1, 2, 2))))
    np.testing.assert_array_equal(np.asarray(y), np.full((1, 1, 2, 2), 4.0))


def test_backward_on_a_non_scalar_needs_grad():
    x = leaf(np.ones((2, 3)))
    y = x * 2.0
    with pytest.raises(ValueError, match=r"`grad`.*\(2, 3\)"):
        y.backward()
    y.backward(np.full((2, 3), 0.5))
    np.testing.assert_allclose(x.grad, np.ones((2, 3)))


def test_backward_of_a_one_element_tensor_defaults_to_one():
    x = leaf([[2.0]])
    (x * 3.0).backward()  # shape (1, 1): one element
    np.testing.assert_allclose(x.grad, [[3.0]])
