"""Tensor, the compute graph it records, and the reverse-mode walk over that graph.

A tensor made by an op remembers a `Context`: the op (a `Function` subclass), its inputs and what its
forward saved for backward. `backward()` sorts the graph topologically (iteratively, so long chains do
not overflow the stack), then walks it in reverse: each op turns the upstream gradient into one gradient
per input (downstream = upstream x local), and gradients add up where a value fans out.

Semantics worth knowing:
- Leaves (tensors made by the user with requires_grad=True) accumulate into `.grad` with `+=`:
  calling backward on two losses sums their gradients, as in PyTorch. Intermediate values never keep
  a `.grad`; use `grad(loss, [x])` to get a gradient of any tensor without touching `.grad`.
- The graph is freed after backward (saved arrays dropped). A second backward through the same graph
  raises `RuntimeError` unless the first one was called with `retain_graph=True`.
- Broadcasting is undone in one place (`unbroadcast`), for ops marked `broadcasting = True`; every
  other gradient must already have its input's shape, and the walk checks it and names the op if not.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import numpy as np

from .sparse import RowGrad

__all__ = ["Tensor", "Function", "Context", "no_grad", "is_grad_enabled", "grad", "tensor", "unbroadcast"]

DEFAULT_DTYPE = np.float32
_grad_enabled = True


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Within this block ops record nothing (for evaluation and inference)."""
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, False
    try:
        yield
    finally:
        _grad_enabled = previous


def is_grad_enabled() -> bool:
    return _grad_enabled


def _read_only(v):
    if isinstance(v, np.ndarray):
        v = v.view()
        v.flags.writeable = False
    return v


def _as_dense(g):
    return g.to_dense() if isinstance(g, RowGrad) else g


class Context:
    """What one op application remembers: the op, its inputs, which need gradients, saved arrays."""

    __slots__ = ("op", "parents", "needs_input_grad", "saved", "freed", "__dict__")

    def __init__(self, op: type[Function], parents: tuple[Tensor, ...]):
        self.op = op
        self.parents = parents
        self.needs_input_grad = tuple(p.requires_grad for p in parents)
        self.saved: tuple = ()
        self.freed = False

    def save(self, *values) -> None:
        """Keep arrays for backward as read-only views, so an accidental in-place write fails loudly."""
        self.saved = tuple(_read_only(v) for v in values)

    def free(self) -> None:
        self.saved = ()
        self.parents = ()
        self.__dict__.clear()
        self.freed = True


class Function:
    """One op: `forward(ctx, *arrays, **kw) -> ndarray` and `backward(ctx, grad) -> one grad per input`.

    Subclasses implement both as static methods; `apply` runs forward and records the graph.
    `broadcasting = True` asks the engine to sum gradients back to each input's shape.
    """

    broadcasting = False

    @staticmethod
    def forward(ctx: Context, *arrays: np.ndarray, **kwargs) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:  # pragma: no cover
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs, **kwargs) -> Tensor:
        like = next((x for x in inputs if isinstance(x, Tensor)), None)
        dtype = like.data.dtype if like is not None else DEFAULT_DTYPE
        tensors = tuple(x if isinstance(x, Tensor) else Tensor(x, dtype=dtype) for x in inputs)
        ctx = Context(cls, tensors)
        out = cls.forward(ctx, *(t.data for t in tensors), **kwargs)
        record = _grad_enabled and any(ctx.needs_input_grad)
        result = Tensor(out, requires_grad=record, dtype=out.dtype)
        if record:
            result._ctx = ctx
        return result


class Tensor:
    """An n-d array that can record the ops applied to it and carry a gradient."""

    __slots__ = ("data", "grad", "requires_grad", "_ctx", "name")
    __array_priority__ = 1000  # so ndarray OP Tensor defers to Tensor's reflected operators

    def __init__(self, data, requires_grad: bool = False, dtype=None, name: str | None = None):
        if isinstance(data, Tensor):
            data = data.data
        if dtype is None:  # numpy float32/float64 data keep their precision; Python numbers, ints: float32
            keep = isinstance(data, (np.ndarray, np.generic)) and data.dtype in (np.float32, np.float64)
            dtype = data.dtype if keep else DEFAULT_DTYPE
        self.data: np.ndarray = np.asarray(data, dtype=dtype)
        self.grad: np.ndarray | RowGrad | None = None
        self.requires_grad = bool(requires_grad)
        self._ctx: Context | None = None
        self.name = name

    # ---- plain properties -------------------------------------------------------------------
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
        return self.data.size

    def __len__(self) -> int:
        return len(self.data)

    def item(self) -> float:
        """The value of a one-element tensor as a Python float (keeps no graph alive)."""
        return float(self.data.reshape(-1)[0]) if self.data.size == 1 else _not_scalar(self.shape)

    def numpy(self) -> np.ndarray:
        return self.data

    def detach(self) -> Tensor:
        """The same values, cut from the graph."""
        return Tensor(self.data, dtype=self.data.dtype)

    def zero_grad(self) -> None:
        self.grad = None

    def __repr__(self) -> str:
        op = f", op={self._ctx.op.__name__}" if self._ctx is not None else ""
        rg = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({np.array2string(self.data, precision=4, threshold=8)}{rg}{op})"

    # ---- the reverse-mode walk --------------------------------------------------------------
    def backward(self, grad: np.ndarray | None = None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's `.grad` that requires it.

        `self` must hold one element unless `grad` (the upstream gradient, self's shape) is given.
        """
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad (no graph recorded)")
        seed = _seed(self, grad)
        for leaf, g in _backprop(self, seed, retain_graph, targets=None):
            leaf._accumulate(g)

    def _accumulate(self, g) -> None:
        if self.grad is None:
            self.grad = g if isinstance(g, RowGrad) else np.array(g, dtype=self.data.dtype, copy=True)
        elif isinstance(self.grad, RowGrad):
            self.grad = self.grad + g
        elif isinstance(g, RowGrad):
            g.add_to(self.grad)
        else:
            self.grad += g

    # ---- operators (defined in functions.py, bound here) -------------------------------------
    def __add__(self, other): return _F.add(self, other)
    def __radd__(self, other): return _F.add(other, self)
    def __sub__(self, other): return _F.sub(self, other)
    def __rsub__(self, other): return _F.sub(other, self)
    def __mul__(self, other): return _F.mul(self, other)
    def __rmul__(self, other): return _F.mul(other, self)
    def __truediv__(self, other): return _F.div(self, other)
    def __rtruediv__(self, other): return _F.div(other, self)
    def __matmul__(self, other): return _F.matmul(self, other)
    def __rmatmul__(self, other): return _F.matmul(other, self)
    def __pow__(self, exponent: float): return _F.pow(self, exponent)
    def __neg__(self): return _F.neg(self)
    def __getitem__(self, index): return _F.rows(self, index)

    def sum(self, axis=None, keepdims=False): return _F.sum(self, axis=axis, keepdims=keepdims)
    def mean(self, axis=None, keepdims=False): return _F.mean(self, axis=axis, keepdims=keepdims)
    def max(self, axis=None, keepdims=False): return _F.max(self, axis=axis, keepdims=keepdims)
    def reshape(self, *shape): return _F.reshape(self, shape[0] if len(shape) == 1 else shape)
    def transpose(self, *axes):  # x.transpose(1, 0) or x.transpose((1, 0)), as numpy
        axes = axes[0] if len(axes) == 1 and not isinstance(axes[0], int) else axes
        return _F.transpose(self, axes or None)
    @property
    def T(self): return _F.transpose(self, None)
    def exp(self): return _F.exp(self)
    def log(self): return _F.log(self)
    def tanh(self): return _F.tanh(self)
    def relu(self): return _F.relu(self)
    def sigmoid(self): return _F.sigmoid(self)


def _not_scalar(shape):
    raise ValueError(f"item() needs a tensor with one element, got shape {shape}")


def tensor(data, requires_grad: bool = False, dtype=None) -> Tensor:
    """Make a leaf tensor (float32 unless the data or `dtype` say float64)."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def unbroadcast(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum `g` over the axes that broadcasting added or stretched, so it gets `shape`."""
    if g.shape == shape:
        return g
    extra = g.ndim - len(shape)
    if extra > 0:
        g = g.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if stretched:
        g = g.sum(axis=stretched, keepdims=True)
    return g


def _seed(root: Tensor, grad) -> np.ndarray:
    if grad is None:
        if root.data.size != 1:
            raise RuntimeError(f"backward() without a gradient needs a one-element result, got shape "
                               f"{root.shape}; reduce it (e.g. .sum()) or pass grad=")
        return np.ones(root.shape, dtype=root.dtype)
    grad = np.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=root.dtype)
    if grad.shape != root.shape:
        raise RuntimeError(f"backward(grad=...) has shape {grad.shape}, the tensor has {root.shape}")
    return grad


def _toposort(root: Tensor) -> list[Tensor]:
    """Tensors that `root` depends on (requiring grad), inputs before the values made from them.

    Iterative depth-first search: each node is pushed once to be expanded and once more to be
    emitted after all its inputs, so a 10,000-op chain needs no recursion.
    """
    order: list[Tensor] = []
    seen: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        ctx = node._ctx
        if ctx is not None:
            if ctx.freed:
                raise RuntimeError(
                    f"backward through a graph that was already freed (op {ctx.op.__name__}); "
                    "pass retain_graph=True to the first backward() to run it twice")
            for parent in ctx.parents:
                if parent.requires_grad and id(parent) not in seen:
                    stack.append((parent, False))
    return order


def _backprop(root: Tensor, seed: np.ndarray, retain_graph: bool, targets: dict[int, Tensor] | None):
    """Walk the graph from `root` in reverse topological order.

    Yields (tensor, gradient) for every leaf (targets=None) or for every tensor in `targets`.
    """
    order = _toposort(root)
    grads: dict[int, object] = {id(root): seed}
    for node in reversed(order):
        g = grads.pop(id(node), None)
        if g is None:
            continue
        ctx = node._ctx
        if (ctx is None) if targets is None else (id(node) in targets):  # a leaf, or a tensor asked for
            yield node, g
        if ctx is None:
            continue
        op = ctx.op
        in_grads = op.backward(ctx, _as_dense(g))
        if not isinstance(in_grads, tuple):
            in_grads = (in_grads,)
        if len(in_grads) != len(ctx.parents):
            raise RuntimeError(f"{op.__name__}.backward returned {len(in_grads)} gradients "
                               f"for {len(ctx.parents)} inputs")
        for i, (parent, pg) in enumerate(zip(ctx.parents, in_grads)):
            if pg is None or not parent.requires_grad:
                continue
            if op.broadcasting:
                pg = unbroadcast(pg, parent.shape)
            if tuple(pg.shape) != parent.shape:
                raise RuntimeError(f"{op.__name__}.backward returned a gradient of shape {tuple(pg.shape)} "
                                   f"for input {i} of shape {parent.shape}")
            previous = grads.get(id(parent))
            # out of place: an op may hand the same array to several inputs
            grads[id(parent)] = pg if previous is None else previous + pg
        if not retain_graph:
            ctx.free()


def grad(output: Tensor, inputs: Sequence[Tensor], retain_graph: bool = False) -> list[np.ndarray | None]:
    """d(output)/d(input) for each input, as dense arrays, without touching any `.grad`.

    The "gradient tape" view of the same engine; inputs may be leaves or intermediate values.
    An input that `output` does not depend on gets None.
    """
    if not output.requires_grad:
        raise RuntimeError("grad() of a tensor that does not require grad (no graph recorded)")
    targets = {id(t): t for t in inputs}
    found: dict[int, np.ndarray] = {}
    for node, g in _backprop(output, _seed(output, None), retain_graph, targets=targets):
        found[id(node)] = np.array(_as_dense(g), copy=True)
    return [found.get(id(t)) for t in inputs]


from . import functions as _F  # noqa: E402  (operators above are bound to these ops)
