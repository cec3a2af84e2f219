"""The window network's eval-mode forward pass in numpy, with the first layer computed by token types.

The hidden layer's input is linear in the embeddings, so x W1 is a sum over the window's w slots of
e(token at slot p) W1_p, where e(.) is a token's embeddings of every column side by side. A batch of n
windows holds only k ~ n/3 distinct tokens (token types: the tuple of a token's ids in every column),
so each type is projected once for all slots, P = E_types W1' ((k, D) x (D, w*hidden)), and a window's
pre-activation is the sum of w rows of P: k/n of the multiply-adds of x W1, and no x to gather.

Frequent words come back in every batch, so a `Forward` also keeps the projections of token types that
it meets again (`KeptProjections`, up to 32 MB: the precomputation of Devlin et al. 2014 and Chen &
Manning 2014, filled from the text itself). A Forward works on a copy of the weights made when it is
built, so what it keeps can never go stale. Its outputs equal the graph's forward pass up to
float32 rounding (tested).
"""
from __future__ import annotations

import copy
import threading

import numpy as np

from ..decode import small
from ..features import Encoded
from . import threads as threads_module
from . import token_types
from .threads import blas_on_one_thread, by_rows

__all__ = ["KeptProjections", "Forward", "TypedEncoded"]


class TypedEncoded(Encoded):
    """An `Encoded` stream also given by token types: `types` numbers each distinct token of the stream
    (the pad is one too), `type_ids[c][t]` is type t's id in column c (so ids[c] == type_ids[c][types]),
    and `type_keys[t]` names type t for as long as its `Preparer` lives, or is -1."""

    def __init__(self, positions, tags, lengths, half, types, type_ids, type_keys):
        super().__init__([column[types] for column in type_ids], positions, tags, lengths, half)
        self.types, self.type_ids, self.type_keys = types, type_ids, type_keys

    def columns(self, which) -> TypedEncoded:
        """Only these columns, still by token types; with no lasting type names (`type_keys` None), since
        another network's kept projections must not be named by this stream's preparer."""
        subset = copy.copy(self)
        subset.ids = [self.ids[c] for c in which]
        subset.type_ids, subset.type_keys = np.ascontiguousarray(self.type_ids[list(which)]), None
        return subset

    def type_windows(self, batch_positions: np.ndarray) -> np.ndarray:
        """(n, 2*half+1) token types of the windows at these stream positions."""
        return self.types[self.where(batch_positions)]


def _sigmoid_in_place(h: np.ndarray) -> None:
    with np.errstate(over="ignore"):  # exp(-x) overflows to inf for x < -88: 1 / (1 + inf) = 0, exact
        np.negative(h, out=h)
        np.exp(h, out=h)
        h += 1
        np.reciprocal(h, out=h)


_ACTIVATE_IN_PLACE = {
    "tanh": lambda h: np.tanh(h, out=h),
    "relu": lambda h: np.maximum(h, 0, out=h),
    "hardtanh": lambda h: np.clip(h, -1, 1, out=h),
    "sigmoid": _sigmoid_in_place,
}


class KeptProjections:
    """First-layer projections of token types kept from one batch to the next.

    `plan` says where each type of a batch finds its projection: a kept row, or a fresh row at
    `capacity + i` that the caller fills. `keep` then keeps the fresh rows of types that an earlier
    batch met too (a word met twice will likely come again), until `capacity` rows are kept."""

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


class _Workspace:
    """One thread's buffers, reused between batches and calls (a fresh multi-MB array costs ~1 ms of
    page faults per batch), and its kept projections."""

    def __init__(self, row_floats: int):
        self.buffers: dict[str, np.ndarray] = {}
        self.kept = KeptProjections(row_floats)
        self.hashed: dict = {}  # scratch of token_types.window_types / renumber

    def buffer(self, name: str, shape: tuple[int, ...], dtype=np.float32) -> np.ndarray:
        """buffers[name][:shape[0]], grown (never shrunk) when a batch needs more rows."""
        buf = self.buffers.get(name)
        if buf is None or buf.shape[0] < shape[0] or buf.shape[1:] != shape[1:] or buf.dtype != dtype:
            buf = self.buffers[name] = np.empty((max(shape[0], 1), *shape[1:]), dtype=dtype)
        return buf[:shape[0]]


class Forward:
    """The outputs (N, n_out) of a WindowModel in eval mode, from a copy of its weights taken now, a batch
    split over `threads` threads."""

    def __init__(self, model, threads: int = threads_module.CORES):
        self.threads = threads
        self.tables = [e.weight.data.copy() for e in model.embeddings]
        self.w1, self.b1 = model.hidden.weight.data.copy(), model.hidden.bias.data.copy()
        self.w2, self.b2 = model.output.weight.data.copy(), model.output.bias.data.copy()
        self.activate = _ACTIVATE_IN_PLACE[model.activation_name]
        self.width = self.w1.shape[0] // sum(t.shape[1] for t in self.tables)
        self.slot_weights = self._slot_weights()
        self._local = threading.local()

    def _slot_weights(self) -> np.ndarray:
        """W1's rows regrouped from x's layout (column, slot, dim) to (column, dim) x (slot, hidden)."""
        parts, at, h = [], 0, self.w1.shape[1]
        for table in self.tables:
            d = table.shape[1]
            block = self.w1[at:at + self.width * d].reshape(self.width, d, h)
            parts.append(block.transpose(1, 0, 2).reshape(d, self.width * h))
            at += self.width * d
        return np.ascontiguousarray(np.concatenate(parts, axis=0))

    def _workspace(self) -> _Workspace:
        ws = getattr(self._local, "ws", None)
        if ws is None:
            ws = self._local.ws = _Workspace(self.slot_weights.shape[1])
        return ws

    def outputs(self, enc: Encoded, batch_size: int = 8192) -> np.ndarray:
        """The network outputs of every token of `enc`, `batch_size` windows at a time. With a `TypedEncoded`, the token
        types come with the stream and their projections are kept between batches and calls. A batch of
        8,192 rows (512 lines of news) took ~10% less time than 4,096, which projected again the types
        that the two halves share."""
        out = np.empty((len(enc.positions), self.w2.shape[1]), dtype=np.float32)
        for i in range(0, len(enc.positions), batch_size):
            positions = enc.positions[i:i + batch_size]
            if isinstance(enc, TypedEncoded):
                out[i:i + batch_size] = self.by_types(enc.type_windows(positions), enc.type_ids, enc.type_keys)
            else:
                out[i:i + batch_size] = self.windows(enc.windows(positions))
        return out

    def windows(self, windows: list[np.ndarray]) -> np.ndarray:
        """The outputs for a batch of windows (one (n, w) id matrix per column); a view into a buffer."""
        ws = self._workspace()
        n = windows[0].shape[0]
        if small(n, *token_types.WINDOWS_KERNELS):  # a sentence or two, kernels not loaded: numpy, no numba import
            x = np.concatenate([t[idx].reshape(n, -1) for t, idx in zip(self.tables, windows)], axis=1)
            h = ws.buffer("h", (n, self.w1.shape[1]))
            np.matmul(x, self.w1, out=h)
            h += self.b1
            self.activate(h)
            return self._output(h, ws.buffer("outputs", (n, self.w2.shape[1])))
        inv = ws.buffer("types", windows[0].shape, np.int32)
        k, ids, first = token_types.window_types(windows, ws.hashed, inv)
        return self._by_types(ws, inv, k, list(ids), first)

    def by_types(self, slot_types: np.ndarray, type_ids: np.ndarray, type_keys: np.ndarray | None = None
                 ) -> np.ndarray:
        """`windows` for windows given by token types: slot_types (n, w) numbers a type per window slot,
        and type_ids[c][t] is type t's id in column c. With `type_keys` (a lasting name per type, or -1),
        the projections of types met again are kept between calls."""
        if small(slot_types.shape[0], *token_types.TYPES_KERNELS):
            return self.windows([column[slot_types] for column in type_ids])
        ws = self._workspace()
        inv = ws.buffer("types", slot_types.shape, np.int32)
        k, first = token_types.renumber(slot_types, type_ids.shape[1], ws.hashed, inv)
        keys = None if type_keys is None else type_keys[first[:k]]
        return self._by_types(ws, inv, k, list(type_ids), first, keys)

    def _by_types(self, ws: _Workspace, inv: np.ndarray, k: int, ids: list[np.ndarray], first: np.ndarray,
                  keys: np.ndarray | None = None) -> np.ndarray:
        """The first layer by types: inv (n, w) numbers the k types of the batch's slots, type j having id
        ids[c][first[j]] in column c (and the lasting name keys[j], if given)."""
        n = inv.shape[0]
        if keys is None:  # project every type of the batch
            todo, rows = first[:k], inv
            projected = out = ws.buffer("projected", (k, self.slot_weights.shape[1]))
        else:  # only the types not kept from earlier batches
            source, missing = ws.kept.plan(keys)
            todo, projected = first[missing], ws.kept.table
            out = ws.kept.table[ws.kept.capacity:ws.kept.capacity + len(missing)]
            rows = np.take(source, inv, out=ws.buffer("rows", inv.shape, np.int32))
        embedded = ws.buffer("embedded", (len(todo), self.slot_weights.shape[0]))
        h = ws.buffer("h", (n, self.w1.shape[1]))
        outputs = ws.buffer("outputs", (n, self.w2.shape[1]))

        def project(a: int, b: int) -> None:
            token_types.type_embeddings(self.tables, ids, todo[a:b], b - a, embedded[a:b])
            np.matmul(embedded[a:b], self.slot_weights, out=out[a:b])

        def layers(a: int, b: int) -> None:
            token_types.window_sum(rows[a:b], projected, self.b1, h[a:b])
            self.activate(h[a:b])
            self._output(h[a:b], outputs[a:b])

        with blas_on_one_thread():  # the row blocks run on our threads; BLAS's own would spin against them
            by_rows(len(todo), project, self.threads)
            by_rows(n, layers, self.threads)
        if keys is not None:
            ws.kept.keep(keys, missing)
        return outputs

    def _output(self, h: np.ndarray, out: np.ndarray) -> np.ndarray:
        np.matmul(h, self.w2, out=out)
        out += self.b2
        return out
