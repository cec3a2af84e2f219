"""A two-pass model's second network, forward in eval mode, with its first layer cut in two.

The second pass reads the token columns (as the first pass does) and the document columns
(`nerwin.documents`). Its first layer is linear in both, so a window's pre-activation is
    b1 + sum over slots p of [ P_tok(token type at p) + P_doc(document key combination at p) ]
where P_tok projects a token type's embeddings (the types the `Preparer` numbers and names, so their
projections are kept between batches and calls as `forward.Forward` keeps the first pass's) and P_doc
projects one of the few combinations of document keys a batch holds (a few hundred, projected per batch).
Treating the tuple of all 13 columns as one type instead (what `Forward.windows` does with any
encoding) makes every token type new again in each document context and projects every one of them in
every batch: the second pass took twice the first's time. Outputs equal the graph's up to float32
rounding (tested).
"""
from __future__ import annotations

import numpy as np

from . import token_types
from .forward import Forward, TypedEncoded
from .threads import blas_on_one_thread, by_rows

__all__ = ["SecondPass"]


class SecondPass:
    """The outputs of a two-pass model's second network from the first pass's `TypedEncoded` batch and the
    document columns' ids of its tokens, on a copy of the weights taken now."""

    def __init__(self, model, token_columns: int, threads: int):
        self.forward = f = Forward(model, threads)  # the weights copied, W1 regrouped by column
        split = sum(t.shape[1] for t in f.tables[:token_columns])
        self.token_tables, self.doc_tables = f.tables[:token_columns], f.tables[token_columns:]
        self.token_weights = np.ascontiguousarray(f.slot_weights[:split])
        self.doc_weights = np.ascontiguousarray(f.slot_weights[split:])
        sizes = [t.shape[0] for t in self.doc_tables]
        self.strides = np.cumprod([1, *sizes[:0:-1]])[::-1].astype(np.int64)  # mixed radix of the doc ids
        self.sizes = np.array(sizes, dtype=np.int64)
        self.n_combos = int(np.prod(self.sizes))

    @property
    def threads(self) -> int:
        return self.forward.threads

    @threads.setter
    def threads(self, threads: int) -> None:
        self.forward.threads = threads

    def outputs(self, enc: TypedEncoded, doc_ids: np.ndarray, batch_size: int = 8192) -> np.ndarray:
        """(tokens, n_out) outputs: `enc` is the token columns' encoding, doc_ids (tokens, columns) the
        document columns' ids of its tokens."""
        combos = np.zeros(len(enc.types), dtype=np.int64)  # per stream position; the pad is combination 0
        combos[enc.positions] = doc_ids @ self.strides
        f = self.forward
        out = np.empty((len(enc.positions), f.w2.shape[1]), dtype=np.float32)
        for i in range(0, len(enc.positions), batch_size):
            where = enc.where(enc.positions[i:i + batch_size])
            out[i:i + batch_size] = self._batch(enc, enc.types[where], combos[where])
        return out

    def _batch(self, enc: TypedEncoded, slot_types: np.ndarray, slot_combos: np.ndarray) -> np.ndarray:
        f = self.forward
        ws = f._workspace()
        n, w = slot_types.shape
        inv = ws.buffer("types", slot_types.shape, np.int32)
        k, first = token_types.renumber(slot_types, enc.type_ids.shape[1], ws.hashed, inv)
        keys = None if enc.type_keys is None else enc.type_keys[first[:k]]
        if keys is None:
            keys = np.full(k, -1, dtype=np.int64)
        kept = ws.kept  # this Forward's own, per thread: the second network's projections
        source, missing = kept.plan(keys)
        todo = first[missing]
        fresh = kept.table[kept.capacity:kept.capacity + len(missing)]
        rows = np.take(source, inv, out=ws.buffer("rows", inv.shape, np.int32))
        combo_rows = ws.buffer("combo_rows", slot_combos.shape, np.int32)
        scratch = ws.__dict__.setdefault("combos", {})  # renumber's scratch, apart from the token types'
        m, combos = token_types.renumber(slot_combos, self.n_combos, scratch, combo_rows)
        doc_ids = (combos[:m, None] // self.strides[None, :]) % self.sizes
        embedded = ws.buffer("embedded", (len(todo), self.token_weights.shape[0]))
        h = ws.buffer("h", (n, f.w1.shape[1]))
        outputs = ws.buffer("outputs", (n, f.w2.shape[1]))
        doc_embedded = np.concatenate([t[doc_ids[:, c]] for c, t in enumerate(self.doc_tables)], axis=1)

        def project(a: int, b: int) -> None:
            token_types.type_embeddings(self.token_tables, list(enc.type_ids), todo[a:b], b - a, embedded[a:b])
            np.matmul(embedded[a:b], self.token_weights, out=fresh[a:b])

        def layers(a: int, b: int) -> None:
            token_types.window_sum_two(rows[a:b], kept.table, combo_rows[a:b], doc_projected, f.b1, h[a:b])
            f.activate(h[a:b])
            f._output(h[a:b], outputs[a:b])

        with blas_on_one_thread():
            doc_projected = doc_embedded @ self.doc_weights
            by_rows(len(todo), project, f.threads)
            by_rows(n, layers, f.threads)
        kept.keep(keys, missing)
        return outputs
