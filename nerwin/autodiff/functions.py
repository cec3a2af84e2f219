"""The ops: one class each, forward directly above backward, and the functions that apply them.

Each `backward(ctx, grad)` returns one gradient per input (None where no gradient is needed), in the
shape of the op's output for broadcasting ops (the engine sums them back) and in the input's shape
otherwise. Composites (sub, div, mean, mse, kl_div) are built from primitives; log_softmax and
cross_entropy are fused for numerical stability.
"""
from __future__ import annotations

import builtins

import numpy as np

from . import kernels
from .sparse import RowGrad
from .tensor import Function, Tensor

__all__ = [
    "add", "sub", "mul", "div", "neg", "pow", "matmul", "linear", "exp", "log", "sum", "mean", "max",
    "reshape", "transpose", "concatenate", "rows", "gather", "window_gather",
    "sigmoid", "tanh", "relu", "hardtanh", "softmax", "log_softmax",
    "cross_entropy", "binary_cross_entropy_with_logits", "mse_loss", "kl_div", "dropout",
]


def _tensor(x, like: Tensor | None = None) -> Tensor:
    if isinstance(x, Tensor):
        return x
    return Tensor(x, dtype=like.dtype if like is not None else None)


# ---- elementwise arithmetic ------------------------------------------------------------------------

class Add(Function):
    broadcasting = True

    @staticmethod
    def forward(ctx, a, b):
        """a + b"""
        return a + b

    @staticmethod
    def backward(ctx, grad):
        return grad, grad


class Mul(Function):
    broadcasting = True

    @staticmethod
    def forward(ctx, a, b):
        """a * b; d/da = b, d/db = a (multiplication switches the gradient)"""
        ctx.save(a, b)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved
        na, nb = ctx.needs_input_grad
        return (grad * b if na else None), (grad * a if nb else None)


class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        """-a"""
        return -a

    @staticmethod
    def backward(ctx, grad):
        return (-grad,)


class Pow(Function):
    @staticmethod
    def forward(ctx, a, *, exponent: float):
        """a ** p for a scalar p; d/da = p a^(p-1)"""
        ctx.save(a)
        ctx.exponent = exponent
        return a ** exponent

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved
        p = ctx.exponent
        return (grad * p * a ** (p - 1),)


class MatMul(Function):
    @staticmethod
    def forward(ctx, a, b):
        """a @ b for 2-d a (n, k) and b (k, m), or a batch of 2-d a; d/da = g b^T, d/db = a^T g"""
        if a.ndim < 2 or b.ndim != 2:  # fail here, not later in backward
            raise ValueError(f"matmul needs a 2-d (or batched) left and a 2-d right, got {a.shape} @ {b.shape}")
        ctx.save(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved
        na, nb = ctx.needs_input_grad
        ga = grad @ np.swapaxes(b, -1, -2) if na else None
        if nb:
            gb = np.swapaxes(a, -1, -2) @ grad
            if gb.ndim > b.ndim:  # a batched over leading axes, b shared: sum the batch
                gb = gb.reshape(-1, *b.shape).sum(axis=0)
        else:
            gb = None
        return ga, gb


class Linear(Function):
    @staticmethod
    def forward(ctx, x, w, b):
        """x @ w + b for x (n, k), w (k, m), b (m,): the bias added in place to the fresh product;
        d/dx = g w^T, d/dw = x^T g, d/db = sum of g over rows"""
        ctx.save(x, w)
        out = x @ w
        out += b
        return out

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved
        nx, nw, nb = ctx.needs_input_grad
        return (grad @ w.T if nx else None, x.T @ grad if nw else None, grad.sum(axis=0) if nb else None)


class Exp(Function):
    @staticmethod
    def forward(ctx, a):
        """e^a; d/da = e^a (saved output)"""
        out = np.exp(a)
        ctx.save(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved
        return (grad * out,)


class Log(Function):
    @staticmethod
    def forward(ctx, a):
        """ln a; d/da = 1/a"""
        ctx.save(a)
        return np.log(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved
        return (grad / a,)


# ---- reductions and shape ------------------------------------------------------------------------

def _expand_reduced(grad: np.ndarray, shape: tuple[int, ...], axis, keepdims: bool) -> np.ndarray:
    """Bring a gradient of a reduction back to rank of the input so it broadcasts over `shape`."""
    if axis is None:
        return np.broadcast_to(grad.reshape((1,) * len(shape)), shape)
    if not keepdims:
        axes = (axis,) if isinstance(axis, int) else tuple(axis)
        grad = np.expand_dims(grad, tuple(a % len(shape) for a in axes))
    return np.broadcast_to(grad, shape)


class Sum(Function):
    @staticmethod
    def forward(ctx, a, *, axis=None, keepdims=False):
        """sum of a over axis; d/da = 1 (the gradient is spread back over the summed axes)"""
        ctx.shape, ctx.axis, ctx.keepdims = a.shape, axis, keepdims
        return np.asarray(a.sum(axis=axis, keepdims=keepdims))

    @staticmethod
    def backward(ctx, grad):
        return (np.array(_expand_reduced(grad, ctx.shape, ctx.axis, ctx.keepdims)),)


class Max(Function):
    @staticmethod
    def forward(ctx, a, *, axis=None, keepdims=False):
        """max of a over axis; the gradient goes to the maximal entries (split evenly among ties)"""
        out = np.asarray(a.max(axis=axis, keepdims=keepdims))
        ctx.save(a, out)
        ctx.axis, ctx.keepdims = axis, keepdims
        return out

    @staticmethod
    def backward(ctx, grad):
        a, out = ctx.saved
        mask = (a == _expand_reduced(out, a.shape, ctx.axis, ctx.keepdims)).astype(a.dtype)
        count = _expand_reduced(np.asarray(mask.sum(axis=ctx.axis, keepdims=ctx.keepdims)),
                                a.shape, ctx.axis, ctx.keepdims)
        return (mask / count * _expand_reduced(grad, a.shape, ctx.axis, ctx.keepdims),)


class Reshape(Function):
    @staticmethod
    def forward(ctx, a, *, shape):
        """a viewed with another shape; the gradient is reshaped back"""
        ctx.shape = a.shape
        return a.reshape(shape)

    @staticmethod
    def backward(ctx, grad):
        return (grad.reshape(ctx.shape),)


class Transpose(Function):
    @staticmethod
    def forward(ctx, a, *, axes=None):
        """a with its axes permuted; the gradient is permuted back"""
        ctx.axes = axes
        return np.transpose(a, axes)

    @staticmethod
    def backward(ctx, grad):
        inverse = None if ctx.axes is None else tuple(np.argsort(ctx.axes))
        return (np.transpose(grad, inverse),)


class Concatenate(Function):
    @staticmethod
    def forward(ctx, *arrays, axis=0):
        """arrays joined along axis; each input gets its slice of the gradient"""
        ctx.axis = axis
        ctx.bounds = np.cumsum([x.shape[axis] for x in arrays])[:-1]
        return np.concatenate(arrays, axis=axis)

    @staticmethod
    def backward(ctx, grad):
        return tuple(np.split(grad, ctx.bounds, axis=ctx.axis))


class Gather(Function):
    @staticmethod
    def forward(ctx, table, *, index):
        """table[index] (rows); the gradient is row-sparse: one row of it per index, added up"""
        ctx.index, ctx.shape = index, table.shape
        return table[index]

    @staticmethod
    def backward(ctx, grad):
        return (RowGrad(ctx.index.reshape(-1), grad, ctx.shape),)  # RowGrad reshapes grad to (rows, d)


class WindowGather(Function):
    @staticmethod
    def forward(ctx, *tables, indices):
        """x[i] = concat over tables t, window slots j of table_t[index_t[i, j]], shape (n, sum w*d)"""
        ctx.indices = indices
        ctx.shapes = [t.shape for t in tables]
        return kernels.window_gather(tables, indices)

    @staticmethod
    def backward(ctx, grad):
        grads, col = [], 0
        for index, shape in zip(ctx.indices, ctx.shapes):
            w, d = index.shape[1], shape[1]
            grads.append(RowGrad(index.reshape(-1), kernels.window_rows(grad, col, w, d), shape))
            col += w * d
        return tuple(grads)


# ---- nonlinearities ------------------------------------------------------------------------------

class Sigmoid(Function):
    @staticmethod
    def forward(ctx, a):
        """s = 1 / (1 + e^-a), computed without overflow; ds/da = s (1 - s)"""
        e = np.exp(-np.abs(a))
        out = np.where(a >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(a.dtype, copy=False)
        ctx.save(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (s,) = ctx.saved
        return (grad * s * (1 - s),)


class Tanh(Function):
    @staticmethod
    def forward(ctx, a):
        """t = tanh a; dt/da = 1 - t^2"""
        out = np.tanh(a)
        ctx.save(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (t,) = ctx.saved
        return (kernels.tanh_backward(grad, t),)


class ReLU(Function):
    @staticmethod
    def forward(ctx, a):
        """max(a, 0); d/da = 1 where a > 0, else 0"""
        out = np.maximum(a, 0)
        ctx.save(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved
        return (grad * (out > 0),)


class HardTanh(Function):
    @staticmethod
    def forward(ctx, a):
        """clip(a, -1, 1); d/da = 1 inside (-1, 1), else 0"""
        ctx.save(a)
        return np.clip(a, -1, 1)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved
        return (grad * ((a > -1) & (a < 1)),)


class Softmax(Function):
    @staticmethod
    def forward(ctx, a, *, axis=-1):
        """s = e^(a - max) / sum e^(a - max); ds/da . g = s (g - sum(g s))"""
        e = np.exp(a - a.max(axis=axis, keepdims=True))
        out = e / e.sum(axis=axis, keepdims=True)
        ctx.save(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, grad):
        (s,) = ctx.saved
        return (s * (grad - (grad * s).sum(axis=ctx.axis, keepdims=True)),)


class LogSoftmax(Function):
    @staticmethod
    def forward(ctx, a, *, axis=-1):
        """a - logsumexp(a), stable; d/da . g = g - softmax(a) sum(g)"""
        shifted = a - a.max(axis=axis, keepdims=True)
        out = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
        ctx.save(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved
        return (grad - np.exp(out) * grad.sum(axis=ctx.axis, keepdims=True),)


class CrossEntropy(Function):
    @staticmethod
    def forward(ctx, logits, *, targets, weights):
        """sum_i w_i (-log softmax(logits_i)[t_i]), fused; d/dlogits = w (softmax - onehot)"""
        losses, probs = kernels.softmax_xent_forward(logits, targets)
        ctx.save(probs)
        ctx.targets, ctx.weights = targets, weights
        return np.asarray(np.dot(losses, weights), dtype=logits.dtype)

    @staticmethod
    def backward(ctx, grad):
        (probs,) = ctx.saved
        return (kernels.softmax_xent_backward(probs, ctx.targets, ctx.weights * float(grad)),)


class BCEWithLogits(Function):
    @staticmethod
    def forward(ctx, logits, *, targets):
        """mean of max(x,0) - x y + log(1 + e^-|x|) (stable); d/dx = (sigmoid(x) - y) / n"""
        e = np.exp(-np.abs(logits))
        loss = np.maximum(logits, 0) - logits * targets + np.log1p(e)
        s = np.where(logits >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
        ctx.save(s, targets)
        return np.asarray(loss.mean(), dtype=logits.dtype)

    @staticmethod
    def backward(ctx, grad):
        s, y = ctx.saved
        return (((s - y) * (grad / s.size)).astype(s.dtype, copy=False),)


class Dropout(Function):
    @staticmethod
    def forward(ctx, a, *, p, rng):
        """a * mask / (1 - p), mask ~ Bernoulli(1 - p) (inverted dropout); d/da = mask / (1 - p)"""
        # 16 random bits per value, straight from the generator: a quarter of the work of floats
        bits = rng.bit_generator.random_raw(-(-a.size // 4)).view(np.uint16)[:a.size]
        out, mask = kernels.dropout(np.ascontiguousarray(a), bits, min(round(p * 65536), 65535), 1.0 / (1.0 - p))
        ctx.save(mask)
        return out

    @staticmethod
    def backward(ctx, grad):
        (mask,) = ctx.saved
        return (grad * mask,)


# ---- the functions users call ----------------------------------------------------------------------

def add(a, b) -> Tensor:
    return Add.apply(a, b)


def mul(a, b) -> Tensor:
    return Mul.apply(a, b)


def neg(a) -> Tensor:
    return Neg.apply(a)


def sub(a, b) -> Tensor:
    """a - b = a + (-b)"""
    a, b = _tensor(a, b if isinstance(b, Tensor) else None), _tensor(b, a if isinstance(a, Tensor) else None)
    return add(a, neg(b))


def pow(a, exponent: float) -> Tensor:  # noqa: A001  (mirrors the operator's name)
    if isinstance(exponent, Tensor):
        raise TypeError("pow takes a scalar exponent")
    return Pow.apply(a, exponent=float(exponent))


def div(a, b) -> Tensor:
    """a / b = a * b^-1"""
    like = a if isinstance(a, Tensor) else b
    return mul(_tensor(a, like), pow(_tensor(b, like), -1.0))


def matmul(a, b) -> Tensor:
    return MatMul.apply(a, b)


def linear(x, w, b) -> Tensor:
    """x @ w + b for a batch of rows x (n, k), weights w (k, m) and bias b (m,), in one op."""
    x, w, b = _tensor(x), _tensor(w), _tensor(b)
    if x.ndim != 2 or w.ndim != 2 or b.shape != (w.shape[1],) or x.shape[1] != w.shape[0]:
        raise ValueError(f"linear needs x (n, k), w (k, m), b (m,); got {x.shape}, {w.shape}, {b.shape}")
    return Linear.apply(x, w, b)


def exp(a) -> Tensor:
    return Exp.apply(a)


def log(a) -> Tensor:
    return Log.apply(a)


def sum(a, axis=None, keepdims: bool = False) -> Tensor:  # noqa: A001
    return Sum.apply(a, axis=axis, keepdims=keepdims)


def mean(a, axis=None, keepdims: bool = False) -> Tensor:
    """sum / count"""
    a = _tensor(a)
    shape = a.shape
    axes = range(len(shape)) if axis is None else ((axis,) if isinstance(axis, int) else axis)
    count = int(np.prod([shape[i] for i in axes])) if shape else 1
    return mul(sum(a, axis=axis, keepdims=keepdims), 1.0 / count)


def max(a, axis=None, keepdims: bool = False) -> Tensor:  # noqa: A001
    return Max.apply(a, axis=axis, keepdims=keepdims)


def reshape(a, shape) -> Tensor:
    return Reshape.apply(a, shape=tuple(shape) if not isinstance(shape, int) else (shape,))


def transpose(a, axes=None) -> Tensor:
    return Transpose.apply(a, axes=None if axes is None else tuple(axes))


def concatenate(tensors, axis: int = 0) -> Tensor:
    return Concatenate.apply(*tensors, axis=axis)


def gather(table, index) -> Tensor:
    """Rows of a 2-d table picked by an integer array (an embedding lookup x = L e)."""
    return Gather.apply(table, index=np.asarray(index, dtype=np.int64))


def rows(a, index) -> Tensor:
    """`a[index]` on the first axis: an int, a slice, or an integer array."""
    a = _tensor(a)
    if isinstance(index, tuple):  # x[i, j] is not supported; without this it would silently pick rows i and j
        raise IndexError("tensors support indexing of rows only: an int, a slice or an integer array")
    if isinstance(index, (int, np.integer)):
        return reshape(gather(a, np.array([index])), a.shape[1:])
    if isinstance(index, slice):
        index = np.arange(a.shape[0])[index]
    index = np.asarray(index)
    if index.dtype.kind not in "iu":
        raise IndexError("tensors support indexing of rows only: an int, a slice or an integer array")
    return gather(a, index)


def window_gather(tables, indices) -> Tensor:
    """(n, w) row indices into each 2-d table -> (n, sum w*d): every window's rows side by side, the
    tables one after the other, gathered in one pass with no copy between. One table or a list."""
    if not isinstance(tables, (list, tuple)):
        tables, indices = [tables], [indices]
    indices = [np.ascontiguousarray(i, dtype=np.int64) for i in indices]
    if len(tables) != len(indices) or not tables:
        raise ValueError("window_gather needs one index matrix per table")
    for i in indices:
        if i.ndim != 2 or i.shape[0] != indices[0].shape[0]:
            raise ValueError(f"window_gather needs (n, w) indices with the same n, got shape {i.shape}")
    return WindowGather.apply(*tables, indices=indices)


def sigmoid(a) -> Tensor:
    return Sigmoid.apply(a)


def tanh(a) -> Tensor:
    return Tanh.apply(a)


def relu(a) -> Tensor:
    return ReLU.apply(a)


def hardtanh(a) -> Tensor:
    return HardTanh.apply(a)


def softmax(a, axis: int = -1) -> Tensor:
    return Softmax.apply(a, axis=axis)


def log_softmax(a, axis: int = -1) -> Tensor:
    return LogSoftmax.apply(a, axis=axis)


def cross_entropy(logits, targets, weights=None, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy of (n, k) logits against n integer targets, fused and stable.

    `reduction` "mean" (default) or "sum"; optional per-row `weights` multiply each row's loss
    (with "mean" they are divided by n, not by their sum).
    """
    logits = _tensor(logits)
    targets = np.ascontiguousarray(targets, dtype=np.int64)
    n, k = logits.shape
    if targets.shape != (n,):
        raise ValueError(f"cross_entropy: {n} rows of logits but targets of shape {targets.shape}")
    if n and (targets.min() < 0 or targets.max() >= k):
        raise ValueError(f"cross_entropy: targets must lie in [0, {k})")
    w = np.ones(n, dtype=np.float64) if weights is None else np.asarray(weights, dtype=np.float64)
    if reduction == "mean":
        w = w / builtins.max(n, 1)
    elif reduction != "sum":
        raise ValueError("reduction must be 'mean' or 'sum'")
    return CrossEntropy.apply(logits, targets=targets, weights=w)


def binary_cross_entropy_with_logits(logits, targets) -> Tensor:
    """Mean binary cross-entropy of sigmoid(logits) against 0/1 targets (constants), stable for any logits."""
    logits = _tensor(logits)
    return BCEWithLogits.apply(logits, targets=np.asarray(targets, dtype=logits.dtype))


def mse_loss(pred, target) -> Tensor:
    """mean((pred - target)^2)"""
    return mean(pow(sub(pred, target), 2.0))


def kl_div(log_q, p) -> Tensor:
    """KL(p || q) = sum p (log p - log q), averaged over the rows; `log_q` are log-probabilities, `p` fixed."""
    log_q = _tensor(log_q)
    p_arr = np.asarray(p.data if isinstance(p, Tensor) else p, dtype=log_q.dtype)
    plogp = float(np.where(p_arr > 0, p_arr * np.log(np.where(p_arr > 0, p_arr, 1.0)), 0.0).sum())
    rows_ = log_q.shape[0] if log_q.ndim > 1 else 1
    return mul(sub(plogp, sum(mul(log_q, p_arr))), 1.0 / rows_)


def dropout(a, p: float, training: bool = True, rng: np.random.Generator | None = None) -> Tensor:
    """Inverted dropout: zero each value with probability p, scale the rest by 1/(1-p). Identity in eval."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout probability must be in [0, 1), got {p}")
    if not training or p == 0.0:
        return _tensor(a)
    return Dropout.apply(a, p=p, rng=rng if rng is not None else np.random.default_rng())
