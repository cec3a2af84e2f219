"""Raw texts to a `TypedEncoded` batch, memoized: each distinct chunk of text is tokenized and each
distinct token featurized once, however often they come back (text repeats a lot).

A `Preparer` owns its memos and their validity:
- token -> row: a row of `ids` holds the token's id in every feature column, and also names its token
  type across calls (`TypedEncoded.type_keys`, which lets the forward pass keep projections). Past
  ROWS_KEPT tokens, new ones get rows for the current call only (and no lasting name).
- token -> its capitalization class (`case_codes`, `TypedEncoded.cases`: what routes a document to a
  caseless companion) and its word key: a number per row, equal exactly for tokens with the same normal
  form (lowercased, digits as 0): what a two-pass model's document columns compare (`TypedEncoded.words`),
  without a string per token. Rows kept keep their numbers; rows for one call only get numbers for that call.
- chunk key -> chunk number: a chunk's tokens, their offsets in the chunk and their rows sit in numpy
  tables (one shape for every chunk). A whitespace-free chunk's tokens depend on its key alone
  (`nerwin.tokenize.chunk_tokens`; see `Key`); a word of a pre-split text is one token. Chunks holding
  a row for one call only, chunks over 64 characters and chunks past CHUNKS_KEPT are numbered for the
  current call only.

A batch goes through three whole-batch steps: the chunks' keys and offsets (for lines of words split by
single spaces, the common case, one `split`), their numbers (one dictionary lookup per chunk; new chunks
are tokenized and added), and the tables spread into one array per field by numpy indexing. A plain
loop over chunks and tokens instead, with the same memos, made tagging as a whole 1.5x slower (the dev
text after the train text, alternating in one process, best and median of 5). The result equals the
plain path (`tokenize`, then `Featurizer.encode`): tested.
"""
from __future__ import annotations

import threading
from collections.abc import Sequence
from itertools import accumulate, count
from typing import NamedTuple

import numpy as np

from ..documents import normal_forms
from ..features import Featurizer, case_codes, stream_positions, tag_ids
from ..tokenize import chunk_keys, chunk_tokens
from .forward import TypedEncoded

__all__ = ["Prepared", "Preparer"]

# A chunk's key: (chunk, at a line start, more text follows), or the chunk alone for the common context
# INSIDE a line (a str hashes faster than a tuple); (word, None, None) for a word of a pre-split text.
Key = str | tuple
INSIDE = (False, True)


def _nones(values: list) -> list[int]:
    """Where `values` holds None, found by C-level search (a batch of known text has few or none)."""
    found, i = [], -1
    for _ in range(values.count(None)):
        i = values.index(None, i + 1)
        found.append(i)
    return found


# What a chunk holds: its tokens' texts, their starts and ends in the chunk, and their rows
Chunk = tuple[tuple[str, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...]]


def _text(key: Key) -> str:
    return key if isinstance(key, str) else key[0]


class Prepared(NamedTuple):
    """A batch of texts: every token's text (if asked for), start and end (into its own text), texts in
    turn; and the batch encoded (a sentence per text)."""

    tokens: list[str] | None
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


class _Table:
    """int64 columns that grow by blocks; the first `n` entries of each are in use."""

    def __init__(self, width: int):
        self.columns = [np.zeros(1024, dtype=np.int64) for _ in range(width)]
        self.n = 0

    def extend(self, *values: list[int]) -> None:
        """Append one list of values to each column."""
        size = self.n + len(values[0])
        if size > len(self.columns[0]):
            self.columns = [np.concatenate([c[:self.n], np.zeros(size, dtype=np.int64)]) for c in self.columns]
        for column, new in zip(self.columns, values):
            column[self.n:size] = new
        self.n = size


class _NewRows:
    """New chunks' rows for a preparer's tables, gathered in lists and added in one block."""

    def __init__(self, preparer: Preparer):
        self.preparer = preparer
        self.firsts: list[int] = []
        self.counts: list[int] = []
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.rows: list[int] = []

    def add(self, chunk: Chunk) -> int:
        """The number the chunk will have."""
        texts, starts, ends, rows = chunk
        self.firsts.append(self.preparer._tokens.n + len(self.rows))
        self.counts.append(len(rows))
        self.starts += starts
        self.ends += ends
        self.rows += rows
        self.preparer._texts += texts
        return self.preparer._chunks.n + len(self.counts) - 1

    def into_tables(self) -> None:
        self.preparer._chunks.extend(self.firsts, self.counts)
        self.preparer._tokens.extend(self.starts, self.ends, self.rows)


class Preparer:
    """Tokenizes and encodes texts for one featurizer, remembering the chunks and tokens it has met."""

    ROWS_KEPT = 500_000
    CHUNKS_KEPT = 200_000

    def __init__(self, featurizer: Featurizer):
        self.featurizer = featurizer
        self._lock = threading.Lock()
        self._row_of: dict[str, int] = {}
        self._ids = np.zeros((1024, len(featurizer.columns)), dtype=np.int64)  # row 0: the pad
        self._word_keys = np.zeros(1024, dtype=np.int64)  # per row: its word key
        self._cases = np.zeros(1024, dtype=np.int64)  # per row: its `case_codes`
        self._key_of: dict[str, int] = {}  # normal form -> word key, for the rows kept
        self._next_key = count(1)  # key 0: the pad's
        self._n_rows = 1
        self._new: list[str] = []  # tokens given a row in this call, their ids filled at its end
        self._chunk_of: dict[Key, int] = {}
        self._chunks = _Table(2)  # per chunk number: its first token in `_tokens`, its token count
        self._tokens = _Table(3)  # per token of a chunk: start and end in the chunk, row
        self._texts: list[str] = []  # per token of a chunk: its text
        self._kept = (0, 0)  # chunks and tokens of the chunks that stay numbered

    def prepare(self, texts: Sequence[str | Sequence[str]], tokens: bool = False) -> Prepared:
        """Raw strings are tokenized; token lists are taken as they are, their offsets counting the tokens
        joined by single spaces. With `tokens`, the tokens' texts too."""
        with self._lock:
            self._n_rows = len(self._row_of) + 1  # the last call's rows for one call only are free again
            self._chunks.n, self._tokens.n = self._kept  # and its chunks numbered for one call only
            del self._texts[self._kept[1]:]
            keys, offsets, chunks_per_text = self._keys(texts)
            numbers = list(map(self._chunk_of.get, keys))
            if None in numbers:
                try:
                    self._number_new_chunks(keys, numbers)
                finally:  # even after an error: a kept row must never stay unfilled
                    self._fill_new_rows()
            return self._spread(np.array(numbers, dtype=np.int64), offsets, chunks_per_text, tokens)

    @staticmethod
    def _keys(texts: Sequence[str | Sequence[str]]) -> tuple[list[Key], np.ndarray, list[int]]:
        """Every chunk's key and its offset in its text, texts in turn, and the chunk count of each text."""
        words = _single_spaced(texts)
        if words is not None:  # inside a line, a word is its own key; a line's first and last are not
            counts = [t.count(" ") + 1 for t in texts]
            keys: list[Key] = list(words)
            for first, end in zip(accumulate(counts[:-1], initial=0), accumulate(counts)):
                keys[first] = (words[first], True, end - first > 1)
                if end - first > 1:
                    keys[end - 1] = (words[end - 1], False, False)
            lens = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
            starts = np.cumsum(lens + 1) - lens - 1  # each word's start in the texts joined by spaces
            line_first = np.repeat(np.cumsum(counts) - counts, counts)  # the first word of each word's line
            return keys, starts - starts[line_first], counts
        keys, offsets, counts = [], [], []
        for text in texts:
            if isinstance(text, str):
                for at, key in chunk_keys(text):
                    keys.append(key[0] if key[1:] == INSIDE else key)
                    offsets.append(at)
            else:
                at = 0
                for word in text:
                    keys.append((word, None, None))
                    offsets.append(at)
                    at += len(word) + 1
            counts.append(len(keys) - sum(counts))
        return keys, np.array(offsets, dtype=np.int64), counts

    def _number_new_chunks(self, keys: list[Key], numbers: list[int | None]) -> None:
        """Tokenize the chunks not met before and number them: first those that stay numbered, then those
        for this call only (so that the next call can drop the latter from the tables' ends)."""
        holes = _nones(numbers)
        kept: dict[Key, int] = {}  # chunks that stay numbered, remembered once they are in the tables
        later: dict[Key, Chunk] = {}  # chunks for this call only
        new = _NewRows(self)
        for i in holes:
            key = keys[i]
            number = kept.get(key)  # it may have come earlier in this batch
            if number is None and key not in later:
                chunk = self._chunk(key)
                if (len(_text(key)) <= 64 and len(self._chunk_of) + len(kept) < self.CHUNKS_KEPT
                        and max(chunk[3]) <= len(self._row_of)):
                    number = kept[key] = new.add(chunk)
                else:
                    later[key] = chunk
            numbers[i] = number
        new.into_tables()
        self._chunk_of.update(kept)
        self._kept = (self._chunks.n, self._tokens.n)
        if later:
            new = _NewRows(self)
            number_of = {key: new.add(chunk) for key, chunk in later.items()}
            new.into_tables()
            for i in holes:
                if numbers[i] is None:
                    numbers[i] = number_of[keys[i]]

    def _chunk(self, key: Key) -> Chunk:
        """A chunk's tokens: their texts, starts and ends in the chunk, and rows."""
        inside = isinstance(key, str)
        text = key if inside else key[0]
        if inside and text.isascii() and text.isalnum() or not inside and key[1] is None:
            return (text,), (0,), (len(text),), (self._row(text),)  # one token (see chunk_tokens)
        texts, starts, ends = zip(*chunk_tokens((key, *INSIDE) if inside else key))
        return texts, starts, ends, tuple(map(self._row, texts))

    def _row(self, token: str) -> int:
        row = self._row_of.get(token)
        if row is None:
            row = self._n_rows
            self._n_rows += 1
            if row == len(self._ids):
                self._ids = np.concatenate([self._ids, np.zeros_like(self._ids)])
                self._word_keys = np.concatenate([self._word_keys, np.zeros_like(self._word_keys)])
                self._cases = np.concatenate([self._cases, np.zeros_like(self._cases)])
            self._new.append(token)
            if row <= self.ROWS_KEPT:
                self._row_of[token] = row
        return row

    def _fill_new_rows(self) -> None:
        """The new tokens' ids, all in one call of the featurizer (column at a time), and their word keys."""
        if self._new:
            first = self._n_rows - len(self._new)
            self._ids[first:self._n_rows] = self.featurizer.ids(self._new)
            normal = normal_forms(self._new)
            kept = max(0, min(len(normal), self.ROWS_KEPT + 1 - first))  # rows <= ROWS_KEPT stay
            keys = list(map(self._key_of.setdefault, normal[:kept], self._next_key))
            if kept < len(normal):  # keys for this call only: the table of kept keys stays bounded
                here: dict[str, int] = {}
                keys += [self._key_of[w] if w in self._key_of else here.setdefault(w, next(self._next_key))
                         for w in normal[kept:]]
            self._word_keys[first:self._n_rows] = keys
            self._cases[first:self._n_rows] = case_codes(self._new)
            self._new = []

    def _spread(self, numbers: np.ndarray, offsets: np.ndarray, chunks_per_text: list[int],
                tokens: bool) -> Prepared:
        """The chunks' tokens as flat per-token arrays; a token's offset is its chunk's plus its own."""
        first, count = (column[numbers] for column in self._chunks.columns)
        ends = np.cumsum(count)
        at = np.repeat(first - (ends - count), count) + np.arange(ends[-1] if len(ends) else 0)  # into _tokens
        start, end, rows = (column[at] for column in self._tokens.columns)
        shift = np.repeat(offsets, count)
        texts = [self._texts[i] for i in at.tolist()] if tokens else None
        bounds = np.concatenate([[0], ends])[np.cumsum([0, *chunks_per_text])]
        return Prepared(texts, shift + start, shift + end, self._encode(rows, np.diff(bounds)))

    def _encode(self, rows: np.ndarray, lengths: np.ndarray) -> TypedEncoded:
        """The batch as a padded stream of token types: the distinct rows, numbered."""
        half = self.featurizer.half
        positions = stream_positions(lengths, half)
        stream = np.zeros(len(rows) + half * (len(lengths) + 1), dtype=np.int64)  # row 0: the pad
        stream[positions] = rows
        kinds, types = np.unique(stream, return_inverse=True)
        keys = np.where(kinds <= len(self._row_of), kinds, -1)  # rows for one call only have no lasting name
        enc = TypedEncoded(positions, tag_ids(None, len(rows)), lengths, half, types,
                           np.ascontiguousarray(self._ids[kinds].T), keys)
        enc.words, enc.cases = self._word_keys[rows], self._cases[rows]
        return enc
