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
import threading
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # imported where first used: concurrent.futures costs ~15 ms of start-up
    from concurrent.futures import ThreadPoolExecutor

from . import decode, inference
from .autodiff import functions as F
from .autodiff import kernels, nn
from .autodiff.tensor import Tensor

__all__ = ["WindowModel"]


_THREADS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
_pool: ThreadPoolExecutor | None = None


def _by_rows(n: int, work) -> None:
    """work(a, b) over row blocks [a, b) of [0, n), on all cores for big batches: the kernels, numpy's
    elementwise loops and BLAS release the GIL, and each block writes only its own rows."""
    global _pool
    if n < 256 or _THREADS < 2:
        work(0, n)
        return
    if _pool is None:
        from concurrent.futures import ThreadPoolExecutor

        _pool = ThreadPoolExecutor(_THREADS, thread_name_prefix="nerwin")
    bounds = np.linspace(0, n, _THREADS + 1).astype(int)
    for future in [_pool.submit(work, a, b) for a, b in zip(bounds[:-1], bounds[1:])]:
        future.result()


def _buffer(ws: dict, name: str, shape: tuple[int, ...], dtype=np.float32) -> np.ndarray:
    """ws[name][:shape[0]], grown (never shrunk) when a batch needs more rows."""
    buf = ws.get(name)
    if buf is None or buf.shape[0] < shape[0] or buf.shape[1:] != shape[1:] or buf.dtype != dtype:
        buf = ws[name] = np.empty((max(shape[0], 1), *shape[1:]), dtype=dtype)
    return buf[:shape[0]]


class _BlasSingleThreaded:
    """While any thread is inside, BLAS runs on one thread (threadpoolctl), restored when the last leaves.

    `infer` splits a big batch over its own threads, each calling BLAS on its half; BLAS's worker threads
    would otherwise spin-wait on the same cores after each product (measured: ~30% slower)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._inside = 0
        self._limit = None
        self._controller = None

    def __enter__(self):
        with self._lock:
            if self._inside == 0 and _THREADS > 1:
                if self._controller is None:
                    from threadpoolctl import ThreadpoolController

                    self._controller = ThreadpoolController()
                self._limit = self._controller.limit(limits=1, user_api="blas")
            self._inside += 1

    def __exit__(self, *exc):
        with self._lock:
            self._inside -= 1
            if self._inside == 0 and self._limit is not None:
                self._limit.restore_original_limits()
                self._limit = None


_blas_single_threaded = _BlasSingleThreaded()


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


class _Projections:
    """First-layer projections of token types kept between batches, for as long as the weights stay.

    `infer_types` projects each type of a batch (a (k, D) x (D, w*hidden) product). Frequent words come
    back in every batch, so a type met in an earlier batch is kept when a batch needs it again, up to
    BYTES of rows: the precomputation of Chen & Manning (2014) for frequent words, filled from the
    text itself. `table` holds the kept rows, then room for one batch's new ones."""

    BYTES = 32 * 2**20

    def __init__(self, row_floats: int):
        self.capacity = min(8192, self.BYTES // (4 * row_floats))
        self.table = np.empty((self.capacity + 1024, row_floats), dtype=np.float32)
        self.slot = np.full(1024, -1, dtype=np.int32)  # by key: the kept row, or -1
        self.seen = np.zeros(1024, dtype=bool)  # by key: met in an earlier batch
        self.used = 0

    def plan(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(source, missing) for a batch's types: type j's projection is table row source[j]; the types
        `missing` (indices into keys) must be projected into rows capacity, capacity + 1, ..."""
        top = int(keys.max(initial=-1)) + 1
        if top > len(self.slot):
            grow = max(top, 2 * len(self.slot)) - len(self.slot)
            self.slot = np.concatenate([self.slot, np.full(grow, -1, dtype=np.int32)])
            self.seen = np.concatenate([self.seen, np.zeros(grow, dtype=bool)])
        source = np.where(keys >= 0, self.slot[keys], -1).astype(np.int32)  # keys -1 read slot[-1]: ignored
        missing = np.flatnonzero(source < 0)
        if self.capacity + len(missing) > len(self.table):
            table = np.empty((self.capacity + len(missing), self.table.shape[1]), dtype=np.float32)
            table[:self.used] = self.table[:self.used]
            self.table = table
        source[missing] = self.capacity + np.arange(len(missing), dtype=np.int32)
        return source, missing

    def keep(self, keys: np.ndarray, missing: np.ndarray) -> None:
        """After the batch: keep the projections of its new types that earlier batches met too."""
        named = keys[missing] >= 0
        again = np.flatnonzero(named)[self.seen[keys[missing][named]]][:self.capacity - self.used]
        self.seen[keys[missing][named]] = True
        if len(again):
            self.table[self.used:self.used + len(again)] = self.table[self.capacity + again]
            self.slot[keys[missing[again]]] = np.arange(self.used, self.used + len(again), dtype=np.int32)
            self.used += len(again)


class WindowModel(nn.Module):
    def __init__(self, vocab_sizes: list[int], dims: list[int], width: int, hidden: int, n_out: int,
                 activation: str, dropout: float, rng: np.random.Generator, crf: bool = False,
                 input_dropout: float = 0.0):
        if activation not in nn.ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose one of {', '.join(nn.ACTIVATIONS)}")
        self.embeddings = [nn.Embedding(v, d, rng) for v, d in zip(vocab_sizes, dims)]
        self.hidden = nn.Linear(width * sum(dims), hidden, rng)
        self.activation_name = activation
        self.activation = nn.ACTIVATIONS[activation]()
        self.dropout = nn.Dropout(dropout, rng)
        self.input_dropout = nn.Dropout(input_dropout, rng)
        self.output = nn.Linear(hidden, n_out, rng)
        self.crf = crf
        if crf:
            self.start = nn.Parameter(np.zeros(n_out, dtype=np.float32))
            self.transitions = nn.Parameter(np.zeros((n_out, n_out), dtype=np.float32))
            self.end = nn.Parameter(np.zeros(n_out, dtype=np.float32))

    def hparams(self) -> dict:
        """The network's own settings as JSON (a model folder's "network"); the table sizes come from the
        feature columns and the tag set. `from_hparams` reads them back: the one place for both."""
        return {"hidden": self.hidden.weight.shape[1], "activation": self.activation_name,
                "dropout": self.dropout.p, "crf": self.crf, "input_dropout": self.input_dropout.p}

    @classmethod
    def from_hparams(cls, hp: dict, vocab_sizes: list[int], dims: list[int], width: int, n_out: int,
                     rng: np.random.Generator | None = None) -> WindowModel:
        """A network with the settings `hparams` wrote, weights initialized from `rng`."""
        return cls(vocab_sizes, dims, width, int(hp["hidden"]), n_out, hp["activation"], float(hp["dropout"]),
                   rng if rng is not None else np.random.default_rng(0), crf=bool(hp.get("crf", False)),
                   input_dropout=float(hp.get("input_dropout", 0.0)))

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
        Returns scores equal to `forward` in eval mode up to float32 rounding (tested); the result is a
        view into the workspace, which also caches W1 regrouped: use a new one after changing weights.

        Batches of SMALL windows or more take the first layer by token types. x W1 is a sum over the
        window's slots p of e(token at p) W1_p, e(.) being a token's embeddings of every column side by
        side, and a batch of n windows holds only k ~ n/3 distinct tokens (a type: the tuple of its ids).
        So each type is projected once for every slot, P = E_types W1' ((k, D) x (D, w*hidden)), and a
        window's pre-activation is the sum of w rows of P: k/n of the multiply-adds of x W1, and no x."""
        ws = workspace if workspace is not None else {}
        if windows[0].shape[0] < decode.SMALL:  # a sentence or two: plain numpy (no numba import)
            tables = [emb.weight.data for emb in self.embeddings]
            h = _buffer(ws, "h", (windows[0].shape[0], self.hidden.weight.shape[1]))
            np.matmul(kernels.window_gather(tables, windows), self.hidden.weight.data, out=h)
            h += self.hidden.bias.data
            _ACTIVATE_IN_PLACE[type(self.activation).__name__](h)
            return self._output(h, ws)
        inv = _buffer(ws, "types", windows[0].shape, np.int32)
        k, ids, first = inference.window_types(windows, ws, inv)
        return self._infer_by_types(inv, k, list(ids), first, ws)

    def infer_types(self, slot_types: np.ndarray, type_ids: np.ndarray, workspace: dict | None = None,
                    type_keys: np.ndarray | None = None) -> np.ndarray:
        """`infer` for windows given by token types (as `Encoded.type_windows`): slot_types (n, w)
        numbers a type per window slot, and type_ids[c][t] is type t's id in column c. Saves hashing
        the windows' ids into types. With `type_keys` (a name per type that stays valid between calls,
        -1 for none, as `Encoded.type_keys`), the workspace keeps the projections of types met again
        (see `_Projections`): reuse the workspace only while the weights stay the same."""
        if slot_types.shape[0] < decode.SMALL:
            return self.infer([column[slot_types] for column in type_ids], workspace)
        ws = workspace if workspace is not None else {}
        inv = _buffer(ws, "types", slot_types.shape, np.int32)
        k, first = inference.renumber(slot_types, type_ids.shape[1], ws, inv)
        keys = None if type_keys is None else type_keys[first[:k]]
        return self._infer_by_types(inv, k, list(type_ids), first, ws, keys)

    def _infer_by_types(self, inv: np.ndarray, k: int, ids: list[np.ndarray], first: np.ndarray,
                        ws: dict, keys: np.ndarray | None = None) -> np.ndarray:
        """The first layer by types (see `infer`): inv (n, w) numbers the k types of the batch's slots,
        type j having id ids[c][first[j]] in column c (and the lasting name keys[j], if given)."""
        tables = [emb.weight.data for emb in self.embeddings]
        w1, b1 = self.hidden.weight.data, self.hidden.bias.data
        activate = _ACTIVATE_IN_PLACE[type(self.activation).__name__]
        n, width = inv.shape
        if ws.get("slot_weights_of") is not w1:  # new weights: regroup W1, forget kept projections
            ws["slot_weights"], ws["slot_weights_of"] = self._slot_weights(w1, tables, width), w1
            ws["projections"] = _Projections(width * w1.shape[1])
        slot_weights = ws["slot_weights"]
        if keys is None:  # project every type of the batch
            todo, rows = first[:k], inv
            projected = _buffer(ws, "projected", (k, slot_weights.shape[1]))
            out = projected
        else:  # only the types not kept from earlier batches
            cache: _Projections = ws["projections"]
            source, missing = cache.plan(keys)
            todo, projected = first[missing], cache.table
            out = cache.table[cache.capacity:cache.capacity + len(missing)]
            rows = np.take(source, inv, out=_buffer(ws, "rows", inv.shape, np.int32))
        embedded = _buffer(ws, "embedded", (len(todo), slot_weights.shape[0]))
        h = _buffer(ws, "h", (n, w1.shape[1]))
        scores = _buffer(ws, "scores", (n, self.output.weight.shape[1]))

        def project(a: int, b: int) -> None:
            inference.type_embeddings(tables, ids, todo[a:b], b - a, embedded[a:b])
            np.matmul(embedded[a:b], slot_weights, out=out[a:b])

        def layers(a: int, b: int) -> None:
            inference.window_sum(rows[a:b], projected, b1, h[a:b])
            activate(h[a:b])
            self._output(h[a:b], ws, scores[a:b])

        with _blas_single_threaded:  # the halves run on our threads; BLAS's own would spin against them
            _by_rows(len(todo), project)
            _by_rows(n, layers)
        if keys is not None:
            cache.keep(keys, missing)
        return scores

    def _output(self, h: np.ndarray, ws: dict, out: np.ndarray | None = None) -> np.ndarray:
        if out is None:
            out = _buffer(ws, "scores", (h.shape[0], self.output.weight.shape[1]))
        np.matmul(h, self.output.weight.data, out=out)
        out += self.output.bias.data
        return out

    @staticmethod
    def _slot_weights(w1: np.ndarray, tables: list[np.ndarray], width: int) -> np.ndarray:
        """W1's rows regrouped from x's layout (column, slot, dim) to (column, dim) x (slot, hidden)."""
        parts, at = [], 0
        for table in tables:
            d = table.shape[1]
            block = w1[at:at + width * d].reshape(width, d, w1.shape[1])
            parts.append(block.transpose(1, 0, 2).reshape(d, width * w1.shape[1]))
            at += width * d
        return np.concatenate(parts, axis=0)
