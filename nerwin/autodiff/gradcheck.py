"""Numeric gradient checking: central differences in float64 against the engine's backward."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .tensor import Tensor

__all__ = ["gradcheck", "GradcheckError"]


class GradcheckError(AssertionError):
    """backward() and the numeric derivative disagree; the message names the op, input and index."""


def _ops(root: Tensor) -> list[str]:
    names, seen, stack = [], set(), [root]
    while stack:
        t = stack.pop()
        if id(t) in seen or t._ctx is None:
            continue
        seen.add(id(t))
        names.append(t._ctx.op.__name__)
        stack.extend(t._ctx.parents)
    return names


def gradcheck(f: Callable[..., Tensor], *inputs, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-4) -> bool:
    """Check d f(*inputs).sum() / d input against central differences, for every input and element.

    `inputs` are Tensors or arrays; each is copied to float64 and handed to `f` as a new leaf. For a
    non-scalar output, the check runs on sum(output * r) with a fixed random r, so every output
    element is exercised. Returns True, or raises `GradcheckError` naming the op(s), the input,
    the index and both values.
    """
    leaves = [Tensor(np.array(x.data if isinstance(x, Tensor) else x, dtype=np.float64), requires_grad=True)
              for x in inputs]
    out = f(*leaves)
    probe = np.random.default_rng(0).uniform(0.5, 1.5, size=out.shape)
    ops = ", ".join(reversed(_ops(out))) or "(no op)"

    def scalar(arrays) -> float:
        xs = [Tensor(a, dtype=np.float64) for a in arrays]
        return float((f(*xs).data * probe).sum())

    (out * probe).sum().backward()
    base = [leaf.data.copy() for leaf in leaves]
    for i, leaf in enumerate(leaves):
        analytic = leaf.grad.to_dense() if hasattr(leaf.grad, "to_dense") else leaf.grad
        if analytic is None:
            analytic = np.zeros_like(leaf.data)
        for idx in np.ndindex(*leaf.shape):
            plus = [b.copy() for b in base]
            minus = [b.copy() for b in base]
            plus[i][idx] += eps
            minus[i][idx] -= eps
            numeric = (scalar(plus) - scalar(minus)) / (2 * eps)
            got = float(analytic[idx])
            if not np.isclose(got, numeric, atol=atol, rtol=rtol):
                raise GradcheckError(
                    f"gradient mismatch in {getattr(f, '__name__', 'f')} (ops: {ops}): input {i} "
                    f"(shape {leaf.shape}) at index {idx}: backward {got:.8g}, numeric {numeric:.8g}")
    return True
