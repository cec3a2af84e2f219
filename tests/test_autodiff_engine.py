"""The engine around the ops: the reverse walk, accumulation, freed graphs, grad(), no_grad, memory.

Also the two worked examples of the lecture, with their hand-computed numbers.
"""

from __future__ import annotations

import gc
import sys
import tracemalloc
import warnings

import numpy as np
import pytest

from nerwin import nn
from nerwin.autodiff import Function, RowGrad, Tensor, grad, gradcheck, is_grad_enabled, no_grad, tensor
from nerwin.autodiff import functions as F
from nerwin.autodiff.optim import SGD


def _t(x, dtype=np.float64):
    return tensor(np.asarray(x, dtype=dtype), requires_grad=True)


# ---- the lecture's worked examples ---------------------------------------------------------------


def test_lecture_example_add_mul_max():
    """f(x, y, z) = (x + y) * max(y, z) at (1, 2, 0): f = 6, df/dx = 2, df/dy = 5, df/dz = 0."""
    x, y, z = _t(1.0), _t(2.0), _t(0.0)
    f = (x + y) * F.concatenate([y.reshape(1), z.reshape(1)]).max()
    assert f.item() == 6.0
    f.backward()
    assert (float(x.grad), float(y.grad), float(z.grad)) == (2.0, 5.0, 0.0)
    assert x.grad.shape == y.grad.shape == z.grad.shape == ()


@pytest.mark.parametrize("case", ["one hidden unit inactive", "both hidden units active"])
def test_lecture_example_4_2_1_network(case):
    """z2 = ReLU(x W1 + b1) W2 + b2 = 10 for target 7: L = (z2 - 7)^2 = 9, dL/db2 = 6, dL/dW1 by hand."""
    x = np.array([[1.0, 0.0, 2.0, 1.0]])
    w1 = np.array([[1.0, 0.0], [5.0, 5.0], [0.0, -1.0], [1.0, 1.0]])  # x W1 = [2, -1]
    if case == "one hidden unit inactive":
        b1, w2, b2 = np.array([-1.0, 0.5]), np.array([[3.0], [5.0]]), np.array([7.0])  # a1 = [1, -0.5]
        by_hand_dw1 = [[18.0, 0.0], [0.0, 0.0], [36.0, 0.0], [18.0, 0.0]]
    else:
        b1, w2, b2 = np.array([0.0, 2.0]), np.array([[3.0], [2.0]]), np.array([2.0])  # a1 = [2, 1]
        by_hand_dw1 = [[18.0, 12.0], [0.0, 0.0], [36.0, 24.0], [18.0, 12.0]]
    params = W1, B1, W2, B2 = [_t(p) for p in (w1, b1, w2, b2)]
    z2 = F.relu(tensor(x) @ W1 + B1) @ W2 + B2
    assert z2.item() == 10.0
    loss = ((z2 - 7.0) ** 2).sum()
    assert loss.item() == 9.0
    loss.backward()
    assert B2.grad.tolist() == [6.0]
    # the chain rule written out: dL/dW1 = x^T [(2 (z2 - t) W2^T) * relu'(a1)]
    a1 = x @ w1 + b1
    delta1 = (2 * (10.0 - 7.0) * w2.T) * (a1 > 0)
    np.testing.assert_array_equal(W1.grad, x.T @ delta1)
    np.testing.assert_array_equal(W1.grad, by_hand_dw1)
    np.testing.assert_array_equal(B1.grad, delta1[0])
    np.testing.assert_array_equal(W2.grad, np.maximum(a1, 0).T * 6.0)
    assert all(p.grad.shape == p.shape for p in params)
    assert gradcheck(
        lambda w1, b1, w2, b2: ((F.relu(tensor(x) @ w1 + b1) @ w2 + b2 - 7.0) ** 2).sum(), w1, b1, w2, b2
    )


def test_micrograd_more_ops_values():
    """micrograd's test_more_ops (values computed by PyTorch there), a graph full of reuse."""
    a, b = _t(-4.0), _t(2.0)
    c = a + b
    d = a * b + b**3
    c = c + c + 1
    c = c + 1 + c + (-a)
    d = d + d * 2 + (b + a).relu()
    d = d + 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g = g + 10.0 / f
    g.backward()
    assert abs(g.item() - 24.70408163265306) < 1e-9
    assert abs(float(a.grad) - 138.83381924198252) < 1e-9
    assert abs(float(b.grad) - 645.5772594752186) < 1e-9


# ---- the reverse walk ------------------------------------------------------------------------------


def test_a_10000_op_chain_needs_no_recursion():
    assert sys.getrecursionlimit() < 10_000  # a recursive sort would overflow here
    x = _t(1.0)
    y = x
    for _ in range(5_000):
        y = y * 1.0001 + 0.5  # two ops per step
    y.backward()
    np.testing.assert_allclose(float(x.grad), 1.0001**5_000, rtol=1e-9)


def test_reused_non_leaf_value_micrograd_issue_2():
    x, y = _t(3.0), _t(-2.0)
    a = x * y
    b = a + a
    c = a * b  # c = 2 (xy)^2
    c.backward()
    assert float(x.grad) == 4 * 3.0 * (-2.0) ** 2  # 4 x y^2
    assert float(y.grad) == 4 * 3.0**2 * (-2.0)  # 4 x^2 y


def test_fan_out_sums_and_leaves_accumulate_across_backward_calls():
    x = _t([1.0, 2.0])
    (x * 3.0 + x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [5.0, 7.0])
    (x * 10.0).sum().backward()  # a second graph: gradients add up, as in PyTorch
    np.testing.assert_array_equal(x.grad, [15.0, 17.0])
    x.zero_grad()
    assert x.grad is None


def test_backward_twice_without_retain_graph_raises():
    x = _t([1.0, 2.0])
    loss = (x * x).sum()
    loss.backward()
    assert loss._ctx.freed and loss._ctx.saved == ()  # saved context freed once used
    with pytest.raises(RuntimeError, match="freed.*retain_graph=True"):
        loss.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])  # untouched by the failed call


def test_backward_twice_with_retain_graph_accumulates():
    x = _t([1.0, 2.0])
    loss = (F.tanh(x) * x).sum()
    loss.backward(retain_graph=True)
    first = x.grad.copy()
    loss.backward(retain_graph=True)
    np.testing.assert_allclose(x.grad, 2 * first)
    loss.backward()
    np.testing.assert_allclose(x.grad, 3 * first)
    with pytest.raises(RuntimeError, match="freed"):
        loss.backward()


def test_grad_of_leaves_and_intermediates_leaves_dot_grad_alone():
    x, w = _t([1.0, -2.0, 3.0]), _t([0.5, 0.5, 2.0])
    h = x * w
    loss = (h * h).sum()
    unrelated = _t([1.0])
    gx, gh, gw, gu = grad(loss, [x, h, w, unrelated])
    np.testing.assert_allclose(gh, 2 * h.data)
    np.testing.assert_allclose(gx, 2 * h.data * w.data)
    np.testing.assert_allclose(gw, 2 * h.data * x.data)
    assert gu is None
    assert x.grad is None and w.grad is None and h.grad is None
    with pytest.raises(RuntimeError, match="freed"):
        grad(loss, [x])
    with pytest.raises(RuntimeError):
        grad(tensor([1.0]).sum(), [x])


def test_grad_with_retain_graph_then_backward():
    x = _t([1.0, 2.0])
    loss = (x**3).sum()
    (gx,) = grad(loss, [x], retain_graph=True)
    loss.backward()
    np.testing.assert_allclose(gx, x.grad)


def test_broadcast_grads_have_the_input_shape():
    a, b, c, s = _t(np.ones((2, 3))), _t(np.ones(3)), _t(np.ones((2, 1))), _t(2.0)
    (a * b + c * s - b / s).sum().backward()
    assert a.grad.shape == (2, 3) and b.grad.shape == (3,) and c.grad.shape == (2, 1) and s.grad.shape == ()
    np.testing.assert_allclose(b.grad, [2.0 - 1.0, 1.0, 1.0])
    np.testing.assert_allclose(c.grad, [[6.0], [6.0]])


def test_backward_needs_a_scalar_or_an_upstream_gradient():
    x = _t([1.0, 2.0])
    y = x * 2.0
    with pytest.raises(RuntimeError, match="one-element"):
        y.backward()
    with pytest.raises(RuntimeError, match="shape"):
        y.backward(grad=np.ones(3))
    y.backward(grad=np.array([1.0, 10.0]))
    np.testing.assert_array_equal(x.grad, [2.0, 20.0])


class _WrongShape(Function):
    """Sums over rows but hands back a gradient of the output's shape: a bug backward must catch."""

    @staticmethod
    def forward(ctx, a):
        return a.sum(axis=0)

    @staticmethod
    def backward(ctx, grad):
        return (grad,)


class _WrongCount(Function):
    @staticmethod
    def forward(ctx, a):
        return a * 1.0

    @staticmethod
    def backward(ctx, grad):
        return grad, grad


def test_a_wrong_shaped_gradient_is_caught_and_the_op_named():
    x = _t(np.ones((2, 3)))
    with pytest.raises(RuntimeError, match=r"_WrongShape\.backward.*shape \(3,\).*shape \(2, 3\)"):
        _WrongShape.apply(x).sum().backward()
    with pytest.raises(RuntimeError, match=r"_WrongCount\.backward returned 2 gradients for 1 inputs"):
        _WrongCount.apply(x).sum().backward()


def test_item_returns_a_python_float():
    v = (_t([1.5, 2.5], dtype=np.float32) * 2).sum().item()
    assert type(v) is float and v == 8.0
    assert type(tensor([[3]]).item()) is float
    with pytest.raises(ValueError, match="one element"):
        tensor([1.0, 2.0]).item()


def test_detach_cuts_the_graph():
    x = _t([1.0, 2.0])
    y = x * 3.0
    d = y.detach()
    assert not d.requires_grad and d._ctx is None
    np.testing.assert_array_equal(d.data, y.data)
    (d * x).sum().backward()  # d is a constant here
    np.testing.assert_array_equal(x.grad, [3.0, 6.0])


def test_saved_arrays_are_read_only():
    x, w = _t([1.0, 2.0]), _t([3.0, 4.0])
    y = F.sigmoid(x * w)
    ctx = y._ctx
    assert ctx.saved and all(not a.flags.writeable for a in ctx.saved)
    with pytest.raises(ValueError, match="read-only"):
        ctx.saved[0][0] = 0.0
    mul_ctx = ctx.parents[0]._ctx
    with pytest.raises(ValueError, match="read-only"):
        mul_ctx.saved[1][...] = 0.0
    x.data[0] = 1.0  # the inputs themselves stay writable (the saved copies are read-only views)


def test_constants_are_not_recorded():
    a, b = tensor([1.0, 2.0]), tensor([3.0, 4.0])
    c = a * b + 1.0
    assert not c.requires_grad and c._ctx is None
    with pytest.raises(RuntimeError, match="does not require grad"):
        c.sum().backward()
    x = _t([1.0, 2.0])
    y = (x * a).sum()
    mul_ctx = y._ctx.parents[0]._ctx
    assert mul_ctx.parents[1] is a and mul_ctx.needs_input_grad == (True, False)
    y.backward()
    assert a.grad is None and b.grad is None
    np.testing.assert_array_equal(x.grad, a.data)


def test_no_grad_records_no_graph():
    x = _t([1.0, 2.0])
    assert is_grad_enabled()
    with no_grad():
        assert not is_grad_enabled()
        y = F.cross_entropy(F.tanh(x * 2.0).reshape(1, 2), [1])
        with no_grad():
            pass
        assert not is_grad_enabled()  # nesting restores the outer state
    assert is_grad_enabled()
    assert not y.requires_grad and y._ctx is None
    with pytest.raises(ValueError), no_grad():
        raise ValueError("the state is restored on exceptions too")
    assert is_grad_enabled()


def test_leaf_dtypes():
    assert tensor([1, 2]).dtype == np.float32  # ints and Python floats become float32
    assert tensor([1.0]).dtype == np.float32
    assert tensor(np.array([1.0])).dtype == np.float64  # float64 arrays keep their precision
    assert tensor([1.0], dtype=np.float64).dtype == np.float64


def test_row_sparse_gradients_mix_with_dense_use():
    table = _t(np.arange(12.0).reshape(4, 3))
    idx = np.array([2, 0, 2])
    loss = (table[idx] * 2.0).sum() + (table * table).sum()
    loss.backward()
    expected = 2 * table.data
    expected[2] += 4.0
    expected[0] += 2.0
    g = table.grad.to_dense() if isinstance(table.grad, RowGrad) else table.grad
    np.testing.assert_array_equal(g, expected)
    only_rows = _t(np.zeros((5, 2)))
    F.gather(only_rows, np.array([[1, 1], [4, 1]])).sum().backward()
    assert isinstance(only_rows.grad, RowGrad)  # a lookup costs the rows it used, not the table
    np.testing.assert_array_equal(only_rows.grad.to_dense()[:, 0], [0, 3, 0, 0, 1])
    assert gradcheck(
        lambda t: F.gather(t, idx).sum() * t.sum() + F.window_gather(t, idx.reshape(1, 3)), table.data
    )


def test_row_grads_of_other_ranks():
    v = _t(np.arange(5.0))  # a 1-d table: one value per row
    (v[np.array([1, 1, 4])] * 2.0).sum().backward()
    np.testing.assert_array_equal(v.grad.to_dense(), [0, 4, 0, 0, 2])
    cube = _t(np.ones((3, 2, 2)))
    cube[1].sum().backward()
    np.testing.assert_array_equal(
        cube.grad.to_dense(), np.stack([np.zeros((2, 2)), np.ones((2, 2)), np.zeros((2, 2))])
    )
    assert gradcheck(lambda t: t[np.array([0, 2, 2])] * t[1], np.arange(12.0).reshape(3, 2, 2))


def test_empty_lookups_backpropagate():
    """An empty batch (no rows, no windows) gives a zero gradient, not a crash."""
    table = _t(np.ones((4, 3)))
    none = np.zeros((0,), dtype=np.int64)
    loss = F.gather(table, none).sum() + F.window_gather(table, none.reshape(0, 2)).sum() + table[1:1].sum()
    loss = loss + (table * 2.0).sum()
    loss.backward()
    np.testing.assert_array_equal(table.grad, np.full((4, 3), 2.0))
    empty_only = _t(np.ones((4, 3)))
    F.gather(empty_only, none).sum().backward()
    np.testing.assert_array_equal(empty_only.grad.to_dense(), np.zeros((4, 3)))


# ---- numerical stability ---------------------------------------------------------------------------


def test_cross_entropy_is_finite_at_logits_1e4_with_gradient_softmax_minus_onehot():
    logits = _t([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4], [0.0, 0.0, 0.0]], dtype=np.float32)
    targets = np.array([1, 2, 0])
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        loss = F.cross_entropy(logits, targets)
        loss.backward()
        log_p = F.log_softmax(logits).data
    assert loss.dtype == np.float32 and np.isfinite(loss.item()) and np.all(np.isfinite(log_p))
    expected = (2e4 + np.log(2) + np.log(3)) / 3
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-6)
    softmax = np.array([[1, 0, 0], [0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])
    onehot = np.eye(3)[targets]
    np.testing.assert_allclose(logits.grad, (softmax - onehot) / 3, atol=1e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_is_stable_at_1000(dtype):
    x = _t([-1000.0, 1000.0, 0.0], dtype=dtype)
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        s = F.sigmoid(x)
        s.sum().backward()
        bce = F.binary_cross_entropy_with_logits(_t([-1000.0, 1000.0], dtype=dtype), [1.0, 0.0])
        t = F.tanh(_t([-1000.0, 1000.0], dtype=dtype))
    assert s.data.tolist() == [0.0, 1.0, 0.5] and s.dtype == dtype  # the exact limits
    assert np.all(np.isfinite(x.grad)) and x.grad.tolist() == [0.0, 0.0, 0.25]
    np.testing.assert_allclose(bce.item(), 1000.0, rtol=1e-6)
    assert t.data.tolist() == [-1.0, 1.0]


# ---- memory: the running-loss leak -------------------------------------------------------------------


def _live_tensors() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is Tensor)  # type(): weak proxies may be dead


def _tiny_training(steps: int, keep_graphs: bool = False, checkpoints=()):
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(4, 8, rng), nn.Tanh(), nn.Linear(8, 3, rng))
    opt = SGD(model.parameters(), lr=0.05, momentum=0.9)
    x, y = tensor(rng.normal(size=(16, 4))), rng.integers(0, 3, size=16)
    total = 0.0
    seen = {}
    for step in range(1, steps + 1):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        total = total + loss if keep_graphs else total + loss.item()
        if step in checkpoints:
            seen[step] = (
                _live_tensors(),
                tracemalloc.get_traced_memory()[0] if tracemalloc.is_tracing() else 0,
            )
    return total, seen


def test_running_loss_with_item_keeps_memory_flat_over_2000_steps():
    tracemalloc.start()
    try:
        total, seen = _tiny_training(2_000, checkpoints=(200, 2_000))
    finally:
        tracemalloc.stop()
    assert type(total) is float and np.isfinite(total)
    (tensors_warm, bytes_warm), (tensors_end, bytes_end) = seen[200], seen[2_000]
    assert tensors_end <= tensors_warm + 2, (tensors_warm, tensors_end)
    # one step's graph is several KB; 1,800 leaked graphs would be megabytes
    assert bytes_end - bytes_warm < 64 * 1024, (bytes_warm, bytes_end)


def test_the_memory_measure_sees_a_leak():
    """Sanity check of the measure above: `total = total + loss` (a Tensor) keeps a tensor per step."""
    _, seen = _tiny_training(300, keep_graphs=True, checkpoints=(100, 300))
    assert seen[300][0] - seen[100][0] >= 200
