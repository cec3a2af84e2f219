"""Layers: Module, Embedding, Linear, Dropout, activations, Sequential.

General building blocks over `nerwin.autodiff`; they know nothing of words or tags.
Initialization takes a `numpy.random.Generator`, so the same seed gives the same model.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from .autodiff import functions as F
from .autodiff.tensor import Tensor

__all__ = ["Parameter", "Module", "Embedding", "Linear", "Dropout", "Tanh", "ReLU", "Sigmoid", "HardTanh",
           "Sequential", "ACTIVATIONS"]


def Parameter(data: np.ndarray, name: str | None = None) -> Tensor:
    """A leaf tensor that requires grad (float32 unless `data` is float64)."""
    return Tensor(data, requires_grad=True, name=name)


class Module:
    """A part of a model: its parameters are the Tensor attributes that require grad, and its
    sub-modules are the Module attributes (or lists of modules); `train()`/`eval()` set the mode."""

    training: bool = True

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, *args, **kwargs):  # pragma: no cover
        raise NotImplementedError

    def _children(self) -> Iterator[tuple[str, object]]:
        for name, value in vars(self).items():
            if isinstance(value, (Tensor, Module)):
                yield name, value
            elif isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    if isinstance(item, (Tensor, Module)):
                        yield f"{name}.{i}", item

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        for name, value in self._children():
            if isinstance(value, Module):
                yield from value.named_parameters(prefix + name + ".")
            elif value.requires_grad:
                yield prefix + name, value

    def parameters(self) -> list[Tensor]:
        return [p for _, p in self.named_parameters()]

    def modules(self) -> Iterator[Module]:
        yield self
        for _, value in self._children():
            if isinstance(value, Module):
                yield from value.modules()

    def train(self, mode: bool = True) -> Module:
        for m in self.modules():
            m.training = mode
        return self

    def eval(self) -> Module:
        return self.train(False)

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    def state_dict(self) -> dict[str, np.ndarray]:
        """Every parameter's values, by dotted name (copies)."""
        return {name: p.data.copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Load values saved by `state_dict`; names and shapes must match exactly (ValueError if not)."""
        own = dict(self.named_parameters())
        missing, extra = sorted(set(own) - set(state)), sorted(set(state) - set(own))
        if missing or extra:
            raise ValueError(f"state does not match the model: missing {missing}, unexpected {extra}")
        for name, p in own.items():
            value = np.asarray(state[name])
            if value.shape != p.shape:
                raise ValueError(f"parameter {name}: saved shape {value.shape}, model expects {p.shape}")
            p.data = np.array(value, dtype=p.dtype, copy=True)

    @contextmanager
    def use_params(self, params: dict[str, np.ndarray]) -> Iterator[None]:
        """Swap in these values (names as in `state_dict`) for the `with` block; the originals come back after."""
        own = dict(self.named_parameters())
        unknown = sorted(set(params) - set(own))
        if unknown:
            raise ValueError(f"use_params: no parameters named {unknown}")
        for name, value in params.items():
            if np.shape(value) != own[name].shape:
                raise ValueError(f"use_params: {name} has shape {np.shape(value)}, the model expects "
                                 f"{own[name].shape}")
        originals = {name: own[name].data for name in params}
        try:
            for name, value in params.items():
                own[name].data = np.array(value, dtype=own[name].dtype, copy=True)
            yield
        finally:
            for name, data in originals.items():
                own[name].data = data

    def num_parameters(self) -> int:
        return int(sum(p.size for p in self.parameters()))


class Embedding(Module):
    """A table L of shape (num, dim); looking up index e gives x = L e (row e). Gradients are row-sparse."""

    def __init__(self, num: int, dim: int, rng: np.random.Generator, scale: float | None = None):
        scale = np.sqrt(3.0 / dim) if scale is None else scale  # unit variance per vector
        self.weight = Parameter(rng.uniform(-scale, scale, size=(num, dim)).astype(np.float32))

    def forward(self, index: np.ndarray) -> Tensor:
        return F.gather(self.weight, index)

    def windows(self, index: np.ndarray) -> Tensor:
        """(n, w) indices -> (n, w*dim): each row the w looked-up vectors side by side."""
        return F.window_gather(self.weight, index)


class Linear(Module):
    """y = x W + b with W of shape (fan_in, fan_out), Glorot/Xavier-uniform initialized, b zero."""

    def __init__(self, fan_in: int, fan_out: int, rng: np.random.Generator, bias: bool = True):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        self.weight = Parameter(rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype(np.float32))
        self.bias = Parameter(np.zeros(fan_out, dtype=np.float32)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        if self.bias is not None and x.ndim == 2:
            return F.linear(x, self.weight, self.bias)
        y = F.matmul(x, self.weight)
        return F.add(y, self.bias) if self.bias is not None else y


class Dropout(Module):
    """Inverted dropout with probability p in training mode; the identity in eval mode."""

    def __init__(self, p: float, rng: np.random.Generator | None = None):
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p
        self.rng = rng if rng is not None else np.random.default_rng()

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, training=self.training, rng=self.rng)


class Tanh(Module):
    def forward(self, x: Tensor) -> Tensor:
        return F.tanh(x)


class ReLU(Module):
    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x)


class Sigmoid(Module):
    def forward(self, x: Tensor) -> Tensor:
        return F.sigmoid(x)


class HardTanh(Module):
    def forward(self, x: Tensor) -> Tensor:
        return F.hardtanh(x)


ACTIVATIONS: dict[str, type[Module]] = {"tanh": Tanh, "relu": ReLU, "sigmoid": Sigmoid, "hardtanh": HardTanh}


class Sequential(Module):
    """Modules applied one after another."""

    def __init__(self, *layers: Module):
        self.layers = list(layers)

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x)
        return x
