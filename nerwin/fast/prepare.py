"""Raw texts to a `TypedEncoded` batch, memoized: each distinct chunk of text is tokenized and each
distinct token featurized once, however often they come back (text repeats a lot).

A `Preparer` owns both memos and their validity:
- token -> row: a row of `ids` holds the token's id in every feature column, and also names its token
  type across calls (`TypedEncoded.type_keys`, which lets the forward pass keep projections). Past ROWS_KEPT
  tokens, new ones get rows for the current call only (and no lasting name).
- chunk key -> `Chunk`: its tokens, their offsets in the chunk, and their rows. A whitespace-free
  chunk's tokens depend on its key alone (`nerwin.tokenize.chunk_tokens`); a word of a pre-split text
  has the key (word, None, None) and is one token.

A batch goes through three steps, each over the whole batch: the chunks' keys and offsets, their memo
entries, and the entries spread out into one flat array per field. For a batch of lines whose words are
split by single spaces (the common case), the first step is one `split` and the third is numpy and
C-level `chain`s; a Python loop per token instead took 2.4x the time of all of tagging's other steps
together. The result equals the plain path (`tokenize`, then `Featurizer.encode`): tested.
"""
from __future__ import annotations

import threading
from collections.abc import Sequence
from itertools import accumulate, chain
from operator import itemgetter
from typing import NamedTuple

import numpy as np

from ..features import Featurizer, stream_positions, tag_ids
from ..tokenize import chunk_keys, chunk_tokens
from .forward import TypedEncoded

__all__ = ["Chunk", "Prepared", "Preparer"]

Key = tuple  # (chunk, at a line start, more text follows); (word, None, None) for a pre-split word


class Chunk(NamedTuple):
    """What a chunk of text holds: its tokens, their starts and ends in the chunk, their rows."""

    tokens: tuple[str, ...]
    starts: tuple[int, ...]
    ends: tuple[int, ...]
    rows: tuple[int, ...]


class Prepared(NamedTuple):
    """A batch of texts: every token's text, start and end (into its own text), texts in turn; and the
    batch encoded (a sentence per text)."""

    tokens: list[str]
    starts: np.ndarray
    ends: np.ndarray
    enc: TypedEncoded


def _single_spaced(texts: Sequence) -> list[str] | None:
    """The words of all the texts in turn, if every text is words split by single spaces (no other
    whitespace, none at the ends, no empty text); otherwise None."""
    if not all(isinstance(t, str) for t in texts):
        return None
    joined = " ".join(texts)
    words = joined.split(" ")
    if "" in words:
        return None
    # whitespace other than " " is not printable; other unprintable characters take the exact test
    return words if joined.isprintable() or words == joined.split() else None


class Preparer:
    """Tokenizes and encodes texts for one featurizer, remembering the chunks and tokens it has met."""

    ROWS_KEPT = 500_000
    CHUNKS_KEPT = 200_000

    def __init__(self, featurizer: Featurizer):
        self.featurizer = featurizer
        self._lock = threading.Lock()
        self._row_of: dict[str, int] = {}
        self._ids = np.zeros((1024, len(featurizer.columns)), dtype=np.int64)  # row 0: the pad
        self._n_rows = 1
        self._new: list[str] = []  # tokens given a row in this call, their ids filled at its end
        self._chunks: dict[Key, Chunk] = {}

    def prepare(self, texts: Sequence[str | Sequence[str]]) -> Prepared:
        """Raw strings are tokenized; token lists are taken as they are, their offsets counting the tokens
        joined by single spaces."""
        with self._lock:
            self._n_rows = len(self._row_of) + 1  # the last call's rows for one call only are free again
            keys, offsets, chunks_per_text = self._keys(texts)
            try:
                found = list(map(self._chunks.get, keys))
                i = -1
                for _ in range(found.count(None)):  # the chunks not met before (found by C-level search)
                    i = found.index(None, i + 1)
                    found[i] = self._new_chunk(keys[i])
            finally:  # even after an error: a kept row must never stay unfilled
                self._fill_new_rows()
            return self._spread(found, offsets, chunks_per_text)

    @staticmethod
    def _keys(texts: Sequence[str | Sequence[str]]) -> tuple[list[Key], np.ndarray, list[int]]:
        """Every chunk's key and its offset in its text, texts in turn, and the chunk count of each text."""
        words = _single_spaced(texts)
        if words is not None:  # a line's first chunk starts it; its last has no text after it
            counts = [t.count(" ") + 1 for t in texts]
            line_start, more = [False] * len(words), [True] * len(words)
            for first in accumulate(counts[:-1], initial=0):
                line_start[first] = True
            for end in accumulate(counts):
                more[end - 1] = False
            lens = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
            starts = np.cumsum(lens + 1) - lens - 1  # each word's start in the texts joined by spaces
            line_first = np.repeat(np.cumsum(counts) - counts, counts)  # the first word of each word's line
            offsets = starts - starts[line_first]
            return list(zip(words, line_start, more)), offsets, counts
        keys: list[Key] = []
        offsets: list[int] = []
        counts = []
        for text in texts:
            if isinstance(text, str):
                found = chunk_keys(text)
                keys += [key for _, key in found]
                offsets += [at for at, _ in found]
            else:
                at = 0
                for word in text:
                    keys.append((word, None, None))
                    offsets.append(at)
                    at += len(word) + 1
            counts.append(len(keys) - sum(counts))
        return keys, np.array(offsets, dtype=np.int64), counts

    def _new_chunk(self, key: Key) -> Chunk:
        tokens = ((key[0], 0, len(key[0])),) if key[1] is None else chunk_tokens(key)
        chunk = Chunk(*zip(*tokens), tuple(self._row(t) for t, _, _ in tokens)) if tokens else Chunk((), (), (), ())
        kept = all(row <= len(self._row_of) for row in chunk.rows)
        if kept and len(key[0]) <= 64 and len(self._chunks) < self.CHUNKS_KEPT:
            self._chunks[key] = chunk
        return chunk

    def _row(self, token: str) -> int:
        row = self._row_of.get(token)
        if row is None:
            row = self._n_rows
            self._n_rows += 1
            if row == len(self._ids):
                self._ids = np.concatenate([self._ids, np.zeros_like(self._ids)])
            self._new.append(token)
            if row <= self.ROWS_KEPT:
                self._row_of[token] = row
        return row

    def _fill_new_rows(self) -> None:
        """The new tokens' ids, all in one call of the featurizer (column at a time)."""
        if self._new:
            self._ids[self._n_rows - len(self._new):self._n_rows] = self.featurizer.ids(self._new)
            self._new = []

    def _spread(self, found: list[Chunk], offsets: np.ndarray, chunks_per_text: list[int]) -> Prepared:
        """The chunks' fields as flat per-token arrays; a token's offset is its chunk's plus its own."""
        def flat(field: int, dtype=np.int64) -> np.ndarray:
            return np.fromiter(chain.from_iterable(map(itemgetter(field), found)), dtype=dtype)

        per_chunk = np.fromiter(map(len, map(itemgetter(3), found)), dtype=np.int64, count=len(found))
        at = np.repeat(offsets, per_chunk)
        bounds = np.concatenate([[0], np.cumsum(per_chunk)])[np.cumsum([0, *chunks_per_text])]
        tokens = list(chain.from_iterable(map(itemgetter(0), found)))
        return Prepared(tokens, at + flat(1), at + flat(2), self._encode(flat(3), np.diff(bounds)))

    def _encode(self, rows: np.ndarray, lengths: np.ndarray) -> TypedEncoded:
        """The batch as a padded stream of token types: the distinct rows, numbered."""
        half = self.featurizer.half
        positions = stream_positions(lengths, half)
        stream = np.zeros(len(rows) + half * (len(lengths) + 1), dtype=np.int64)  # row 0: the pad
        stream[positions] = rows
        kinds, types = np.unique(stream, return_inverse=True)
        keys = np.where(kinds <= len(self._row_of), kinds, -1)  # rows for one call only have no lasting name
        return TypedEncoded(positions, tag_ids(None, len(rows)), lengths, half, types,
                            np.ascontiguousarray(self._ids[kinds].T), keys)
