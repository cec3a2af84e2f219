"""Optimizers, in order of increasing complexity: SGD (with optional momentum), then Adam.

Updates are in-place kernel work on parameter data, outside the graph. A parameter whose gradient is
row-sparse (`RowGrad`, from an embedding lookup) is updated on the rows the batch used and no others:

- SGD: exactly the dense update (rows with zero gradient would not move anyway), unless momentum or
  weight decay is on, in which case rows outside the batch keep their momentum and are not decayed.
- Adam ("lazy Adam", as TensorFlow's LazyAdamOptimizer): the moments m, v and the values of a row
  change only on steps whose batch uses that row; bias correction uses the global step count.
  Dense Adam would keep moving every row by its stale momentum each step; lazy Adam does not, and
  costs O(rows used) instead of O(table) per step.
"""
from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from . import kernels
from .sparse import RowGrad
from .tensor import Tensor

__all__ = ["Optimizer", "SGD", "Adam", "clip_grad_norm"]


class Optimizer:
    """Holds the parameters; `zero_grad()` clears their gradients, `step()` updates them."""

    def __init__(self, params: Iterable[Tensor], lr: float):
        self.params = [p for p in params]
        if not self.params:
            raise ValueError("optimizer got no parameters")
        if not all(isinstance(p, Tensor) and p.requires_grad for p in self.params):
            raise ValueError("optimizer parameters must be tensors that require grad")
        if not (lr > 0 and math.isfinite(lr)):
            raise ValueError(f"learning rate must be positive and finite, got {lr}")
        self.lr = float(lr)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:  # pragma: no cover
        raise NotImplementedError

    def state_dict(self) -> dict[str, np.ndarray]:
        """The optimizer's state as arrays (copies, for checkpoints)."""
        return {k: v.copy() for k, v in self._state_arrays().items()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        for key, value in state.items():
            target = self._state_arrays().get(key)
            if target is None or target.shape != np.shape(value):
                raise ValueError(f"optimizer state {key!r} does not match this optimizer")
            target[...] = value

    def _state_arrays(self) -> dict[str, np.ndarray]:
        return {}


def _data(p: Tensor) -> np.ndarray:
    """p.data, made C-contiguous first if needed: the kernels update flat views, and a view of a
    non-contiguous array would be a copy, silently leaving the parameter unchanged."""
    if not p.data.flags.c_contiguous:
        p.data = np.ascontiguousarray(p.data)
    return p.data


def _table(a: np.ndarray) -> np.ndarray:
    """A (rows, rest) view for the row kernels, so a 1-d or 3-d table works like a 2-d one."""
    return a.reshape(a.shape[0], -1)


class SGD(Optimizer):
    """p -= lr * (g + weight_decay * p); with momentum mu: b = mu b + (g + wd p), p -= lr * b."""

    def __init__(self, params: Iterable[Tensor], lr: float = 0.01, momentum: float = 0.0,
                 weight_decay: float = 0.0):
        super().__init__(params, lr)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        if weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
        self.momentum, self.weight_decay = float(momentum), float(weight_decay)
        # without momentum the kernels never read the buffer: a one-element stand-in keeps the call uniform
        self.buffers = [np.zeros(p.shape, p.dtype) if momentum else np.zeros((1,) * p.ndim, p.dtype)
                        for p in self.params]

    def step(self) -> None:
        for p, buf in zip(self.params, self.buffers):
            g = p.grad
            if g is None:
                continue
            if isinstance(g, RowGrad):
                rows, values = g.coalesce()
                kernels.sgd_rows(_table(_data(p)), rows, values.astype(p.dtype, copy=False), _table(buf),
                                 self.lr, self.momentum, self.weight_decay)
            else:
                kernels.sgd_dense(_data(p), np.ascontiguousarray(g, dtype=p.dtype), buf, self.lr,
                                  self.momentum, self.weight_decay)

    def _state_arrays(self) -> dict[str, np.ndarray]:
        return {f"buf.{i}": b for i, b in enumerate(self.buffers)} if self.momentum else {}


class Adam(Optimizer):
    """Adam (Kingma & Ba), with optional decoupled weight decay (AdamW, Loshchilov & Hutter).

    m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
    m_hat = m / (1 - b1^t);  v_hat = v / (1 - b2^t)
    p -= lr * (m_hat / (sqrt(v_hat) + eps) + weight_decay * p)
    Row-sparse gradients get lazy per-row updates (see the module docstring).
    """

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0):
        super().__init__(params, lr)
        b1, b2 = betas
        if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
            raise ValueError(f"betas must be in [0, 1), got {betas}")
        if not eps > 0:
            raise ValueError(f"eps must be > 0, got {eps}")
        if weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
        self.beta1, self.beta2, self.eps, self.weight_decay = float(b1), float(b2), float(eps), float(weight_decay)
        self.t = 0
        self.m = [np.zeros(p.shape, p.dtype) for p in self.params]  # C order, as the kernels' flat views need
        self.v = [np.zeros(p.shape, p.dtype) for p in self.params]

    def step(self) -> None:
        self.t += 1
        bias_correction1 = 1.0 - self.beta1 ** self.t
        bias_correction2 = 1.0 - self.beta2 ** self.t
        args = (self.lr, self.beta1, self.beta2, self.eps, bias_correction1, bias_correction2, self.weight_decay)
        for p, m, v in zip(self.params, self.m, self.v):
            g = p.grad
            if g is None:
                continue
            if isinstance(g, RowGrad):
                rows, values = g.coalesce()
                kernels.adam_rows(_table(_data(p)), rows, values.astype(p.dtype, copy=False), _table(m),
                                  _table(v), *args)
            else:
                kernels.adam_dense(_data(p), np.ascontiguousarray(g, dtype=p.dtype), m, v, *args)

    def _state_arrays(self) -> dict[str, np.ndarray]:
        state = {f"m.{i}": m for i, m in enumerate(self.m)}
        state.update({f"v.{i}": v for i, v in enumerate(self.v)})
        return state

    def state_dict(self) -> dict[str, np.ndarray]:
        return {**super().state_dict(), "t": np.array(self.t, dtype=np.int64)}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        state = dict(state)
        self.t = int(np.asarray(state.pop("t", 0)).reshape(-1)[0])
        super().load_state_dict(state)


def clip_grad_norm(params: Iterable[Tensor], max_norm: float) -> float:
    """Scale all gradients so their global L2 norm is at most `max_norm`; returns the norm before.

    Row-sparse gradients are coalesced first, so a row used twice counts once with its summed value.
    """
    params = [p for p in params if p.grad is not None]
    total = 0.0
    for p in params:
        if isinstance(p.grad, RowGrad):
            total += kernels.sum_squares(p.grad.coalesce()[1])
        else:
            total += kernels.sum_squares(p.grad)
    norm = math.sqrt(total)
    if norm > max_norm > 0:
        scale = max_norm / (norm + 1e-12)
        for p in params:
            if isinstance(p.grad, RowGrad):
                rows, values = p.grad.coalesce()
                p.grad = RowGrad(rows, values * scale, p.grad.shape)
                p.grad._coalesced = (p.grad.rows, p.grad.values)
            else:
                p.grad = p.grad * scale
    return norm
