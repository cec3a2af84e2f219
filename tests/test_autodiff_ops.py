"""Every op of the autodiff engine: forward against numpy, backward against central differences.

`gradcheck` (float64 central differences) runs on hypothesis-drawn shapes and values, on broadcast
operands, scalars and Python floats on either side, and on reused inputs (x*x, x+x, one weight used
twice, a non-leaf value reused). Inputs are kept away from kinks (relu at 0, hardtanh at +-1, ties in
max) and from the domain edges (log, pow, division near 0). Where PyTorch is installed, forward values
and gradients are also compared with it.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nerwin.autodiff import Function, GradcheckError, gradcheck, tensor
from nerwin.autodiff import functions as F

FAST = settings(deadline=None, max_examples=25)

small_shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)
values = st.floats(-3, 3, allow_nan=False, allow_infinity=False)
away_from_zero = st.one_of(st.floats(-3, -0.25), st.floats(0.25, 3))  # kinks and poles at 0


def arrays(shape, elements=values):
    return hnp.arrays(np.float64, shape, elements=elements)


@st.composite
def array_of_some_shape(draw, elements=values, shapes=small_shapes):
    return draw(arrays(draw(shapes), elements))


@st.composite
def broadcast_pair(draw, right=values):
    """Two arrays whose shapes broadcast: (B,H)+(H,), (B,1)*(B,H), 0-d scalars, ... in either order."""
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=4))
    a_shape, b_shape = shapes.input_shapes
    return draw(arrays(a_shape)), draw(arrays(b_shape, right))


@st.composite
def distinct_values(draw, shapes=small_shapes):
    """Values at least 0.3 apart (no ties for max): a permutation of 0..n-1, scaled, plus small noise."""
    shape = draw(shapes)
    n = int(np.prod(shape))
    order = draw(st.permutations(range(n)))
    noise = draw(arrays((n,), st.floats(0, 0.2)))
    return ((np.array(order, dtype=np.float64) * 0.5 - n / 4) + noise).reshape(shape)


@st.composite
def reduce_axis(draw, ndim):
    """axis None, an int (maybe negative), or a tuple of distinct axes."""
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none":
        return None
    if kind == "int":
        return draw(st.integers(-ndim, ndim - 1))
    return tuple(draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True)))


def _t(x):
    return tensor(np.asarray(x, dtype=np.float64), requires_grad=True)


# ---- arithmetic, with broadcasting and scalars ------------------------------------------------------

BINARY = {
    "add": (lambda a, b: a + b, np.add),
    "sub": (lambda a, b: a - b, np.subtract),
    "mul": (lambda a, b: a * b, np.multiply),
    "div": (lambda a, b: a / b, np.divide),
}


@pytest.mark.parametrize("name", list(BINARY))
@FAST
@given(data=st.data())
def test_binary_ops_broadcast(name, data):
    op, ref = BINARY[name]
    a, b = data.draw(broadcast_pair(right=away_from_zero if name == "div" else values))
    out = op(_t(a), _t(b))
    np.testing.assert_allclose(out.data, ref(a, b), rtol=1e-12)
    assert gradcheck(op, a, b)


def test_broadcast_shapes_of_the_lecture():
    rng = np.random.default_rng(1)
    x, bias, col, w = (
        rng.normal(size=(3, 4)),
        rng.normal(size=4),
        rng.normal(size=(3, 1)),
        rng.normal(size=(4,)),
    )
    assert gradcheck(lambda x, b: x + b, x, bias)  # (B, H) + (H,)
    assert gradcheck(lambda c, x: c * x, col, x)  # (B, 1) * (B, H)
    assert gradcheck(lambda s, x: s * x + s, np.array(1.5), x)  # a 0-d scalar tensor
    assert gradcheck(lambda x, w: (x * w) / (w * w + 1.0), x, w)


@pytest.mark.parametrize("name", list(BINARY))
@FAST
@given(x=array_of_some_shape(elements=away_from_zero), c=away_from_zero)
def test_python_float_on_either_side(name, x, c):
    op, ref = BINARY[name]
    left, right = op(c, _t(x)), op(_t(x), c)
    np.testing.assert_allclose(left.data, ref(c, x), rtol=1e-12)
    np.testing.assert_allclose(right.data, ref(x, c), rtol=1e-12)
    assert left.dtype == right.dtype == np.float64
    assert gradcheck(lambda t: op(c, t), x)
    assert gradcheck(lambda t: op(t, c), x)


def test_numpy_array_constant_on_the_left_defers_to_tensor():
    x = _t([1.0, 2.0, 3.0])
    c = np.array([2.0, 3.0, 4.0])
    out = c * x - c + c / x
    assert isinstance(out.data, np.ndarray) and out.requires_grad
    out.sum().backward()
    np.testing.assert_allclose(x.grad, c - c / np.array([1.0, 2.0, 3.0]) ** 2)


def test_float32_stays_float32_with_python_floats():
    x = tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    y = 2.0 * x + 1.0 - x / 3.0
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32


@FAST
@given(x=array_of_some_shape())
def test_neg(x):
    np.testing.assert_array_equal((-_t(x)).data, -x)
    assert gradcheck(lambda t: -t, x)


@pytest.mark.parametrize("p", [2, 3, 0.5, -1.0, 1.5, -2.5])
@FAST
@given(x=array_of_some_shape(elements=st.floats(0.3, 3)))
def test_pow_scalar_exponent(p, x):
    np.testing.assert_allclose((_t(x) ** p).data, x**p, rtol=1e-12)
    assert gradcheck(lambda t: t**p, x)


def test_pow_integer_exponent_of_negative_values():
    x = np.array([-2.0, -0.5, 1.5])
    assert gradcheck(lambda t: t**3, x)
    with pytest.raises(TypeError):
        F.pow(_t(x), _t(2.0))


@FAST
@given(n=st.integers(1, 4), k=st.integers(1, 4), m=st.integers(1, 4), data=st.data())
def test_matmul_2d(n, k, m, data):
    a, b = data.draw(arrays((n, k))), data.draw(arrays((k, m)))
    np.testing.assert_allclose((_t(a) @ _t(b)).data, a @ b, rtol=1e-12, atol=1e-12)
    assert gradcheck(lambda a, b: a @ b, a, b)


def test_matmul_shapes_it_does_not_support_fail_in_forward():
    with pytest.raises(ValueError, match="matmul"):
        _t(np.ones((3, 4))) @ _t(np.ones(4))
    with pytest.raises(ValueError, match="matmul"):
        _t(np.ones(4)) @ _t(np.ones((4, 2)))


@FAST
@given(batch=st.integers(1, 3), n=st.integers(1, 3), k=st.integers(1, 3), m=st.integers(1, 3), data=st.data())
def test_matmul_batched_left(batch, n, k, m, data):
    a, b = data.draw(arrays((batch, n, k))), data.draw(arrays((k, m)))
    np.testing.assert_allclose(F.matmul(_t(a), _t(b)).data, a @ b, rtol=1e-12, atol=1e-12)
    assert gradcheck(F.matmul, a, b)


@FAST
@given(x=array_of_some_shape())
def test_exp(x):
    np.testing.assert_allclose(_t(x).exp().data, np.exp(x), rtol=1e-12)
    assert gradcheck(F.exp, x)


@FAST
@given(x=array_of_some_shape())
def test_log_shifted_positive(x):
    np.testing.assert_allclose(F.log(_t(x) + 4.0).data, np.log(x + 4.0), rtol=1e-12)
    assert gradcheck(lambda t: F.log(t + 4.0), x)


# ---- reductions and shape ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sum", "mean"])
@FAST
@given(data=st.data(), keepdims=st.booleans())
def test_sum_and_mean(name, data, keepdims):
    x = data.draw(array_of_some_shape())
    axis = data.draw(reduce_axis(x.ndim))
    out = getattr(_t(x), name)(axis=axis, keepdims=keepdims)
    np.testing.assert_allclose(out.data, getattr(np, name)(x, axis=axis, keepdims=keepdims), rtol=1e-12)
    assert gradcheck(lambda t: getattr(F, name)(t, axis=axis, keepdims=keepdims), x)


@FAST
@given(data=st.data(), keepdims=st.booleans())
def test_max_routes_the_gradient(data, keepdims):
    x = data.draw(distinct_values())
    axis = data.draw(reduce_axis(x.ndim))
    out = _t(x).max(axis=axis, keepdims=keepdims)
    np.testing.assert_array_equal(out.data, np.max(x, axis=axis, keepdims=keepdims))
    assert gradcheck(lambda t: F.max(t, axis=axis, keepdims=keepdims), x)


def test_max_gradient_goes_to_the_argmax_only_and_ties_split():
    x = _t([[1.0, 5.0, 2.0], [7.0, 7.0, 0.0]])
    x.max(axis=1).sum().backward()
    np.testing.assert_array_equal(x.grad, [[0, 1, 0], [0.5, 0.5, 0]])


@FAST
@given(x=array_of_some_shape(), data=st.data())
def test_reshape(x, data):
    shape = data.draw(st.sampled_from([(-1,), (x.size, 1), (1, x.size), x.shape[::-1]]))
    np.testing.assert_array_equal(_t(x).reshape(shape).data, x.reshape(shape))
    assert gradcheck(lambda t: t.reshape(shape) * np.arange(x.size).reshape(shape), x)


@FAST
@given(x=array_of_some_shape(), data=st.data())
def test_transpose(x, data):
    axes = tuple(data.draw(st.permutations(range(x.ndim))))
    np.testing.assert_array_equal(F.transpose(_t(x), axes).data, np.transpose(x, axes))
    np.testing.assert_array_equal(_t(x).transpose(axes).data, np.transpose(x, axes))
    np.testing.assert_array_equal(_t(x).transpose(*axes).data, np.transpose(x, axes))
    np.testing.assert_array_equal(_t(x).T.data, x.T)
    assert gradcheck(lambda t: F.transpose(t, axes), x)
    assert gradcheck(lambda t: t.T, x)


@FAST
@given(data=st.data(), count=st.integers(1, 3))
def test_concatenate(data, count):
    base = data.draw(small_shapes)
    axis = data.draw(st.integers(-len(base), len(base) - 1))
    parts = []
    for _ in range(count):
        shape = list(base)
        shape[axis] = data.draw(st.integers(1, 3))
        parts.append(data.draw(arrays(tuple(shape))))
    out = F.concatenate([_t(p) for p in parts], axis=axis)
    np.testing.assert_array_equal(out.data, np.concatenate(parts, axis=axis))
    assert gradcheck(lambda *ts: F.concatenate(list(ts), axis=axis), *parts)


def test_concatenate_with_a_constant_part():
    x = _t([[1.0, 2.0]])
    out = F.concatenate([x, tensor([[3.0, 4.0]], dtype=np.float64), x], axis=0)
    (out * np.arange(6.0).reshape(3, 2)).sum().backward()
    np.testing.assert_array_equal(x.grad, [[4.0, 6.0]])


# ---- row indexing, gathers ------------------------------------------------------------------------


@FAST
@given(x=array_of_some_shape(), data=st.data())
def test_row_index_int(x, data):
    i = data.draw(st.integers(-len(x), len(x) - 1))
    np.testing.assert_array_equal(_t(x)[i].data, x[i])
    assert gradcheck(lambda t: t[i], x)


@FAST
@given(
    x=array_of_some_shape(),
    start=st.none() | st.integers(-5, 5),
    stop=st.none() | st.integers(-5, 5),
    step=st.none() | st.sampled_from([1, 2, -1, -2]),
)
def test_row_index_slice(x, start, stop, step):
    s = slice(start, stop, step)  # may select no rows at all
    np.testing.assert_array_equal(_t(x)[s].data, x[s])
    assert gradcheck(lambda t: t[s], x)


@FAST
@given(x=array_of_some_shape(), data=st.data())
def test_row_index_int_array_with_repeats(x, data):
    idx = np.array(data.draw(st.lists(st.integers(0, len(x) - 1), min_size=1, max_size=6)))
    np.testing.assert_array_equal(_t(x)[idx].data, x[idx])
    assert gradcheck(lambda t: t[idx], x)
    t = _t(x)
    t[np.array([0, 0, 0])].sum().backward()  # a row used three times gets three times the gradient
    assert np.all(t.grad.to_dense()[0] == 3) and np.all(t.grad.to_dense()[1:] == 0)


def test_row_index_rejects_what_it_does_not_support():
    x = _t(np.arange(6.0).reshape(2, 3))
    with pytest.raises(IndexError):
        x[0, 1]  # would otherwise silently pick rows 0 and 1
    with pytest.raises(IndexError):
        x[np.array([True, False])]


@FAST
@given(
    v=st.integers(1, 5),
    d=st.integers(1, 4),
    index_shape=hnp.array_shapes(min_dims=1, max_dims=2, max_side=4),
    data=st.data(),
)
def test_gather(v, d, index_shape, data):
    table = data.draw(arrays((v, d)))
    index = data.draw(hnp.arrays(np.int64, index_shape, elements=st.integers(0, v - 1)))
    out = F.gather(_t(table), index)
    np.testing.assert_array_equal(out.data, table[index])
    assert gradcheck(lambda t: F.gather(t, index), table)


@FAST
@given(v=st.integers(1, 5), d=st.integers(1, 3), n=st.integers(1, 4), w=st.integers(1, 3), data=st.data())
def test_window_gather(v, d, n, w, data):
    table = data.draw(arrays((v, d)))
    index = data.draw(hnp.arrays(np.int64, (n, w), elements=st.integers(0, v - 1)))
    out = F.window_gather(_t(table), index)
    np.testing.assert_array_equal(out.data, table[index].reshape(n, w * d))
    assert gradcheck(lambda t: F.window_gather(t, index), table)
    with pytest.raises(ValueError):
        F.window_gather(_t(table), index.reshape(-1))


# ---- nonlinearities ------------------------------------------------------------------------------


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


@pytest.mark.parametrize("name, ref", [("sigmoid", _sigmoid), ("tanh", np.tanh)])
@FAST
@given(x=array_of_some_shape())
def test_smooth_activations(name, ref, x):
    np.testing.assert_allclose(getattr(F, name)(_t(x)).data, ref(x), rtol=1e-12)
    assert gradcheck(getattr(F, name), x)


@FAST
@given(x=array_of_some_shape(elements=away_from_zero))
def test_relu_away_from_the_kink(x):
    np.testing.assert_array_equal(F.relu(_t(x)).data, np.maximum(x, 0))
    assert gradcheck(F.relu, x)
    assert gradcheck(lambda t: F.relu(t + 5.5), x)  # all active


@FAST
@given(
    x=array_of_some_shape(elements=st.one_of(st.floats(-3, -1.2), st.floats(-0.8, 0.8), st.floats(1.2, 3)))
)
def test_hardtanh_away_from_the_kinks(x):
    np.testing.assert_array_equal(F.hardtanh(_t(x)).data, np.clip(x, -1, 1))
    assert gradcheck(F.hardtanh, x)


def _log_softmax(x, axis):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@FAST
@given(x=array_of_some_shape(), data=st.data())
def test_softmax_and_log_softmax(name, x, data):
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    ref = _log_softmax(x, axis)
    ref = np.exp(ref) if name == "softmax" else ref
    np.testing.assert_allclose(getattr(F, name)(_t(x), axis=axis).data, ref, rtol=1e-10, atol=1e-12)
    assert gradcheck(lambda t: getattr(F, name)(t, axis=axis), x)


# ---- losses ----------------------------------------------------------------------------------------


@FAST
@given(
    n=st.integers(1, 5),
    k=st.integers(2, 5),
    reduction=st.sampled_from(["mean", "sum"]),
    weighted=st.booleans(),
    data=st.data(),
)
def test_cross_entropy(n, k, reduction, weighted, data):
    logits = data.draw(arrays((n, k), st.floats(-5, 5)))
    targets = np.array(data.draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
    weights = data.draw(arrays((n,), st.floats(0.1, 3))) if weighted else None
    per_row = -_log_softmax(logits, 1)[np.arange(n), targets] * (1.0 if weights is None else weights)
    expected = per_row.sum() / (n if reduction == "mean" else 1)
    out = F.cross_entropy(_t(logits), targets, weights=weights, reduction=reduction)
    assert out.shape == ()
    np.testing.assert_allclose(out.item(), expected, rtol=1e-10)
    assert gradcheck(lambda t: F.cross_entropy(t, targets, weights=weights, reduction=reduction), logits)


def test_cross_entropy_rejects_bad_arguments():
    logits = _t(np.zeros((2, 3)))
    with pytest.raises(ValueError):
        F.cross_entropy(logits, [0, 3])
    with pytest.raises(ValueError):
        F.cross_entropy(logits, [0])
    with pytest.raises(ValueError):
        F.cross_entropy(logits, [0, 1], reduction="none")


@FAST
@given(shape=hnp.array_shapes(min_dims=1, max_dims=2, max_side=4), soft=st.booleans(), data=st.data())
def test_binary_cross_entropy_with_logits(shape, soft, data):
    logits = data.draw(arrays(shape, st.floats(-6, 6)))
    y = (
        data.draw(arrays(shape, st.floats(0, 1)))
        if soft
        else data.draw(hnp.arrays(np.float64, shape, elements=st.sampled_from([0.0, 1.0])))
    )
    p = _sigmoid(logits)
    expected = np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p)))
    np.testing.assert_allclose(F.binary_cross_entropy_with_logits(_t(logits), y).item(), expected, rtol=1e-9)
    assert gradcheck(lambda t: F.binary_cross_entropy_with_logits(t, y), logits)


@FAST
@given(data=st.data())
def test_mse_loss(data):
    shape = data.draw(small_shapes)
    pred, target = data.draw(arrays(shape)), data.draw(arrays(shape))
    np.testing.assert_allclose(F.mse_loss(_t(pred), target).item(), np.mean((pred - target) ** 2), rtol=1e-12)
    assert gradcheck(F.mse_loss, pred, target)  # gradients to both sides
    assert gradcheck(lambda t: F.mse_loss(t, target), pred)


@FAST
@given(n=st.integers(1, 4), k=st.integers(2, 5), data=st.data())
def test_kl_div(n, k, data):
    z = data.draw(arrays((n, k)))
    raw = data.draw(arrays((n, k), st.sampled_from([0.0, 0.5, 1.0, 2.0])))
    raw[:, 0] += 0.1  # every row has some mass; other entries may be exactly 0
    p = raw / raw.sum(axis=1, keepdims=True)
    log_q = _log_softmax(z, 1)
    plogp = np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0)
    expected = (plogp - p * log_q).sum() / n
    np.testing.assert_allclose(F.kl_div(F.log_softmax(_t(z)), p).item(), expected, rtol=1e-10, atol=1e-12)
    assert gradcheck(lambda t: F.kl_div(F.log_softmax(t), p), z)


@FAST
@given(x=array_of_some_shape(), p=st.sampled_from([0.1, 0.5, 0.9]), seed=st.integers(0, 2**31))
def test_dropout_with_a_fixed_rng(x, p, seed):
    out = F.dropout(_t(x), p, rng=np.random.default_rng(seed))
    kept = out.data != 0
    np.testing.assert_allclose(out.data[kept], x[kept] / (1 - p), rtol=1e-12)
    # the generator is re-created inside f, so every call of f draws the same mask
    assert gradcheck(lambda t: F.dropout(t, p, rng=np.random.default_rng(seed)), x)


def test_dropout_eval_mode_and_bad_p():
    x = _t(np.ones((50, 40)))
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    kept = (F.dropout(x, 0.25, rng=np.random.default_rng(0)).data != 0).mean()
    assert 0.7 < kept < 0.8
    for bad in (-0.1, 1.0, 1.5):
        with pytest.raises(ValueError):
            F.dropout(x, bad)


# ---- reused inputs, and a whole model ------------------------------------------------------------


def test_reused_inputs():
    rng = np.random.default_rng(3)
    x, w, y = rng.normal(size=(2, 3)), rng.normal(size=(3, 3)), rng.normal(size=(2, 3))
    assert gradcheck(lambda x: x * x, x)
    assert gradcheck(lambda x: x + x, x)
    assert gradcheck(lambda x: x * x * x - x / (x * x + 1.0), x)
    assert gradcheck(lambda x, w: F.tanh(x @ w) @ w, x, w)  # one weight used in two places

    def reuse_non_leaf(x, y):
        a = x * y
        return a * (a + a) + F.exp(a)

    assert gradcheck(reuse_non_leaf, x, y)


def test_whole_model_loss():
    """A window tagger in miniature: embedding windows -> linear -> tanh -> linear -> cross-entropy."""
    rng = np.random.default_rng(4)
    emb, w1, b1 = rng.normal(size=(6, 2)), rng.normal(size=(6, 4)), rng.normal(size=4)
    w2, b2 = rng.normal(size=(4, 3)), rng.normal(size=3)
    windows = np.array([[0, 1, 2], [1, 2, 5], [5, 5, 0], [3, 4, 3]])
    targets = np.array([0, 2, 1, 2])

    def loss(emb, w1, b1, w2, b2):
        h = F.tanh(F.window_gather(emb, windows) @ w1 + b1)
        return F.cross_entropy(h @ w2 + b2, targets) + 0.01 * (w1 * w1).sum()

    assert gradcheck(loss, emb, w1, b1, w2, b2)


def test_gradcheck_catches_a_wrong_backward():
    class Doubled(Function):  # forward is the identity, backward claims 2
        @staticmethod
        def forward(ctx, a):
            return a.copy()

        @staticmethod
        def backward(ctx, grad):
            return (2 * grad,)

    with pytest.raises(GradcheckError, match="Doubled"):
        gradcheck(lambda t: Doubled.apply(t) * 3.0, np.ones((2, 2)))


# ---- against PyTorch ---------------------------------------------------------------------------------

TORCH_CASES = {
    "broadcast_mul_add": (lambda F_, a, b: (a * b + b).sum(), [(3, 4), (4,)]),
    "matmul_tanh": (lambda F_, a, b: F_["tanh"](a @ b).sum(), [(3, 4), (4, 2)]),
    "sigmoid_exp_log": (
        lambda F_, a, b: (F_["sigmoid"](a) * F_["exp"](b) + F_["log"](b * b + 1)).mean(),
        [(2, 3), (2, 3)],
    ),
    "softmax": (lambda F_, a, b: (F_["softmax"](a) * b).sum(), [(3, 5), (3, 5)]),
    "log_softmax": (lambda F_, a, b: (F_["log_softmax"](a) * b).sum(), [(3, 5), (3, 5)]),
    "div_pow_max": (lambda F_, a, b: (a / (b * b + 1.0) + a**2).max(), [(2, 3), (2, 3)]),
}


@pytest.mark.parametrize("case", list(TORCH_CASES))
def test_against_torch(case):
    torch = pytest.importorskip("torch")
    f, shapes = TORCH_CASES[case]
    rng = np.random.default_rng(5)
    arrays_ = [rng.normal(size=s) for s in shapes]
    ours = [_t(a) for a in arrays_]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays_]
    out = f(
        {
            "tanh": F.tanh,
            "sigmoid": F.sigmoid,
            "exp": F.exp,
            "log": F.log,
            "softmax": lambda t: F.softmax(t, axis=-1),
            "log_softmax": lambda t: F.log_softmax(t, axis=-1),
        },
        *ours,
    )
    ref = f(
        {
            "tanh": torch.tanh,
            "sigmoid": torch.sigmoid,
            "exp": torch.exp,
            "log": torch.log,
            "softmax": lambda t: torch.softmax(t, -1),
            "log_softmax": lambda t: torch.log_softmax(t, -1),
        },
        *theirs,
    )
    out.backward()
    ref.backward()
    np.testing.assert_allclose(out.item(), ref.item(), rtol=1e-10)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad, b.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_losses_against_torch():
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    rng = np.random.default_rng(6)
    logits, targets, w = rng.normal(size=(5, 4)) * 3, np.array([0, 3, 1, 1, 2]), rng.uniform(0.5, 2, size=5)
    for weights, reduction in [(None, "mean"), (None, "sum"), (w, "sum")]:
        x, tx = _t(logits), torch.tensor(logits, requires_grad=True)
        out = F.cross_entropy(x, targets, weights=weights, reduction=reduction)
        per_row = tf.cross_entropy(tx, torch.tensor(targets), reduction="none")
        ref = (per_row * torch.tensor(w)).sum() if weights is not None else getattr(per_row, reduction)()
        out.backward()
        ref.backward()
        np.testing.assert_allclose(out.item(), ref.item(), rtol=1e-10)
        np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-9, atol=1e-12)
    y = (rng.random((5, 4)) > 0.5).astype(np.float64)
    x, tx = _t(logits), torch.tensor(logits, requires_grad=True)
    out, ref = (
        F.binary_cross_entropy_with_logits(x, y),
        tf.binary_cross_entropy_with_logits(tx, torch.tensor(y)),
    )
    out.backward()
    ref.backward()
    np.testing.assert_allclose(out.item(), ref.item(), rtol=1e-10)
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-9, atol=1e-12)
    p = np.exp(_log_softmax(rng.normal(size=(5, 4)), 1))
    x, tx = _t(logits), torch.tensor(logits, requires_grad=True)
    out = F.kl_div(F.log_softmax(x), p)
    ref = tf.kl_div(torch.log_softmax(tx, -1), torch.tensor(p), reduction="batchmean")
    out.backward()
    ref.backward()
    np.testing.assert_allclose(out.item(), ref.item(), rtol=1e-9)
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-8, atol=1e-12)


def test_window_gather_of_several_tables_matches_concatenated_lookups():
    rng = np.random.default_rng(3)
    words, caps = rng.normal(size=(7, 3)), rng.normal(size=(4, 2))
    iw, ic = rng.integers(0, 7, size=(5, 3)), rng.integers(0, 4, size=(5, 3))
    out = F.window_gather([_t(words), _t(caps)], [iw, ic])
    np.testing.assert_allclose(out.data, np.concatenate([words[iw].reshape(5, -1), caps[ic].reshape(5, -1)], 1))
    # one weight in two windows too (a reused input)
    assert gradcheck(lambda a, b: F.window_gather([a, b, a], [iw, ic, ic]), words, caps)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 5), k=st.integers(1, 4), m=st.integers(1, 4), seed=st.integers(0, 1000))
def test_linear_is_matmul_plus_bias(n, k, m, seed):
    rng = np.random.default_rng(seed)
    x, w, b = rng.normal(size=(n, k)), rng.normal(size=(k, m)), rng.normal(size=m)
    np.testing.assert_allclose(F.linear(_t(x), _t(w), _t(b)).data, x @ w + b, rtol=1e-5, atol=1e-6)
    assert gradcheck(lambda x, w, b: F.linear(x, w, b), x, w, b)
    assert gradcheck(lambda x, w: F.linear(x, w, w[0]), x, np.resize(w, (k, k)))  # one weight used twice
    with pytest.raises(ValueError):
        F.linear(_t(x), _t(w), _t(np.ones(m + 1)))
