"""The window network: concatenated embeddings of a window of words -> one hidden layer -> tag scores.

For a word at position t with window half-width h, each feature column c contributes the embeddings
of the 2h+1 words around t (padding beyond the sentence edges), laid side by side:

    x = [L_word e(w_{t-h}) ... L_word e(w_{t+h}), L_caps e(c_{t-h}) ..., ...]
    a = f(d(x) W1 + b1)         f = tanh (default), hardtanh, relu or sigmoid; d = input dropout
    s = dropout(a) W2 + b2      one score per tag (or one logit in the binary variant)

With `crf=True` the scores of a sentence feed a linear-chain CRF (Collobert et al.'s sentence-level
log-likelihood): learned start, transition and end scores, trained with the forward algorithm and
decoded with Viterbi. Built only from nerwin.nn and nerwin.autodiff.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import nn
from .autodiff import functions as F
from .autodiff import kernels
from .autodiff.tensor import Tensor

__all__ = ["WindowModel"]


_THREADS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
_pool: ThreadPoolExecutor | None = None


def _by_rows(n: int, work) -> None:
    """work(a, b) over row blocks [a, b) of [0, n), on all cores for big batches: the gather kernel and
    numpy's elementwise loops release the GIL, and each block writes only its own rows."""
    global _pool
    if n < 2048 or _THREADS < 2:
        work(0, n)
        return
    if _pool is None:
        _pool = ThreadPoolExecutor(_THREADS, thread_name_prefix="nerwin")
    bounds = np.linspace(0, n, _THREADS + 1).astype(int)
    for future in [_pool.submit(work, a, b) for a, b in zip(bounds[:-1], bounds[1:])]:
        future.result()


def _sigmoid_in_place(h: np.ndarray) -> None:
    with np.errstate(over="ignore"):  # exp(-x) overflows to inf for x < -88: 1 / (1 + inf) = 0, exact
        np.negative(h, out=h)
        np.exp(h, out=h)
        h += 1
        np.reciprocal(h, out=h)


_ACTIVATE_IN_PLACE = {
    "Tanh": lambda h: np.tanh(h, out=h),
    "ReLU": lambda h: np.maximum(h, 0, out=h),
    "HardTanh": lambda h: np.clip(h, -1, 1, out=h),
    "Sigmoid": _sigmoid_in_place,
}


class WindowModel(nn.Module):
    def __init__(self, vocab_sizes: list[int], dims: list[int], width: int, hidden: int, n_out: int,
                 activation: str, dropout: float, rng: np.random.Generator, crf: bool = False,
                 input_dropout: float = 0.0):
        if activation not in nn.ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose one of {', '.join(nn.ACTIVATIONS)}")
        self.embeddings = [nn.Embedding(v, d, rng) for v, d in zip(vocab_sizes, dims)]
        self.hidden = nn.Linear(width * sum(dims), hidden, rng)
        self.activation = nn.ACTIVATIONS[activation]()
        self.dropout = nn.Dropout(dropout, rng)
        self.input_dropout = nn.Dropout(input_dropout, rng)
        self.output = nn.Linear(hidden, n_out, rng)
        self.crf = crf
        if crf:
            self.start = nn.Parameter(np.zeros(n_out, dtype=np.float32))
            self.transitions = nn.Parameter(np.zeros((n_out, n_out), dtype=np.float32))
            self.end = nn.Parameter(np.zeros(n_out, dtype=np.float32))

    def forward(self, windows: list[np.ndarray]) -> Tensor:
        """windows: one (n, width) id matrix per feature column -> (n, n_out) scores."""
        return self.head(self.gather(windows))

    def gather(self, windows: list[np.ndarray]) -> Tensor:
        """The input layer x: every column's window embeddings side by side, (n, width * sum(dims))."""
        return F.window_gather([emb.weight for emb in self.embeddings], windows)

    def head(self, x: Tensor) -> Tensor:
        """(Input dropout,) hidden layer, nonlinearity, dropout, output scores."""
        return self.output(self.dropout(self.activation(self.hidden(self.input_dropout(x)))))

    def infer(self, windows: list[np.ndarray], workspace: dict | None = None) -> np.ndarray:
        """The eval-mode forward pass in plain numpy: no graph, and with a `workspace` dict kept between
        calls, no new large arrays (each fresh multi-MB array costs ~1 ms of page faults per batch).
        Returns scores equal to `forward` in eval mode (tested); the result is a view into the workspace."""
        n = windows[0].shape[0]
        ws = workspace if workspace is not None else {}

        def buffer(name: str, cols: int) -> np.ndarray:
            buf = ws.get(name)
            if buf is None or buf.shape[0] < n or buf.shape[1] != cols:
                buf = ws[name] = np.empty((max(n, 1), cols), dtype=np.float32)
            return buf[:n]

        tables = [emb.weight.data for emb in self.embeddings]
        w1, b1 = self.hidden.weight.data, self.hidden.bias.data
        w2, b2 = self.output.weight.data, self.output.bias.data
        x = buffer("x", w1.shape[0])
        _by_rows(n, lambda a, b: kernels.window_gather(tables, [w[a:b] for w in windows], out=x[a:b]))
        h = np.matmul(x, w1, out=buffer("h", w1.shape[1]))  # BLAS uses the cores itself
        activate = _ACTIVATE_IN_PLACE[type(self.activation).__name__]

        def bias_and_activation(a: int, b: int) -> None:
            h[a:b] += b1
            activate(h[a:b])

        _by_rows(n, bias_and_activation)
        scores = np.matmul(h, w2, out=buffer("scores", w2.shape[1]))
        scores += b2
        return scores
