"""Turning tokens into feature ids: word, capitalization, and optional prefix/suffix/shape columns.

Each feature column maps a token to a string key, and the key to an id in that column's vocabulary.
Ids 0 and 1 are reserved in every column: 0 pads the window beyond the sentence edges, 1 is UNK.
Words are lowercased with digits mapped to 0 ("1996" -> "0000"), so "Paris" and "PARIS" share a row
and the capitalization column tells them apart.
"""
from __future__ import annotations

import re
import string
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from operator import itemgetter

import numpy as np

__all__ = ["PAD", "UNK", "FeatureColumn", "Featurizer", "normalize_word", "caps_class", "word_shape",
           "Encoded"]

PAD, UNK = 0, 1
PAD_KEY, UNK_KEY = "<pad>", "<unk>"
_DIGITS = re.compile(r"\d")


def normalize_word(token: str) -> str:
    """Lowercase, every digit -> 0."""
    return _DIGITS.sub("0", token.lower())


def caps_class(token: str) -> str:
    """One of: lower, Title, UPPER, mIxed, digit-initial / no letters (punct, numbers)."""
    if not any(c.isalpha() for c in token):
        return "noalpha"
    if token.islower():
        return "lower"
    if token.isupper():
        return "upper"
    if token[0].isupper() and token[1:] == token[1:].lower():
        return "title"
    return "mixed"


_ASCII_SHAPE = str.maketrans({**dict.fromkeys(string.ascii_uppercase, "X"),
                              **dict.fromkeys(string.ascii_lowercase, "x"), **dict.fromkeys(string.digits, "d")})


def word_shape(token: str) -> str:
    """Characters as X/x/d/other, runs collapsed: "McDonald's" -> "XxXx'x", "1996-08-22" -> "d-d-d"."""
    if not token.isascii():
        return _word_shape_chars(token)
    classes = token.translate(_ASCII_SHAPE)  # the same for ASCII, ~3x faster
    out = classes[:1]
    for c in classes[1:]:
        if c != out[-1]:
            out += c
    return out


def _word_shape_chars(token: str) -> str:
    out = []
    for c in token:
        s = "X" if c.isupper() else "x" if c.isalpha() else "d" if c.isdigit() else c
        if not out or out[-1] != s:
            out.append(s)
    return "".join(out)


def _suffix(n: int) -> Callable[[str], str]:
    return lambda token: normalize_word(token)[-n:]


def _prefix(n: int) -> Callable[[str], str]:
    return lambda token: normalize_word(token)[:n]


KEYS: dict[str, Callable[[str], str]] = {
    "word": normalize_word,
    "caps": caps_class,
    "shape": word_shape,
    **{f"suffix{n}": _suffix(n) for n in (1, 2, 3, 4, 5)},
    **{f"prefix{n}": _prefix(n) for n in (2, 3, 4)},
}


# Keys that depend only on each character's class: key(token) == key(token.translate(_CLASSES)) (tested
# for every character). Far fewer class strings than tokens ("Paris", "Quinn" -> "Xxxxx"), so a
# featurizer computes these keys once per class string.
_CLASSES = str.maketrans({**dict.fromkeys(string.ascii_uppercase, "X"), **dict.fromkeys(string.ascii_lowercase, "x"),
                          **dict.fromkeys(string.digits, "0")})
_OF_CLASSES = {"caps", "shape"}

# The keys that are a part of normalize_word(token), as C-level callables (no Python frame per word)
_OF_NORMALIZED: dict[str, Callable[[str], str]] = {
    "word": str.__str__,
    **{f"suffix{n}": itemgetter(slice(-n, None)) for n in (1, 2, 3, 4, 5)},
    **{f"prefix{n}": itemgetter(slice(None, n)) for n in (2, 3, 4)},
}


@dataclass
class FeatureColumn:
    """One feature: how a token becomes a key, its vocabulary, and its embedding size."""

    name: str
    dim: int
    vocab: list[str] = field(default_factory=lambda: [PAD_KEY, UNK_KEY])

    def __post_init__(self) -> None:
        if self.name not in KEYS:
            raise ValueError(f"unknown feature {self.name!r}; known: {', '.join(KEYS)}")
        self.key = KEYS[self.name]
        self.of_normalized = _OF_NORMALIZED.get(self.name)  # the key from normalize_word(token), if it is one
        self.index = {k: i for i, k in enumerate(self.vocab)}

    def to_json(self) -> dict:
        return {"name": self.name, "dim": self.dim, "vocab": self.vocab}


@dataclass
class Encoded:
    """A corpus as flat id arrays with `half` pad ids between sentences, for fast window lookups.

    `ids[c]` holds column c's ids over the padded stream; `positions[i]` is the stream position of the
    i-th real token; `tags` its tag id (or -1 when unknown); `lengths` the sentence lengths.
    The same stream by token types: `types` numbers each distinct token (the pad is one too), and
    `type_ids[c][t]` is type t's id in column c, so ids[c] == type_ids[c][types]. `type_keys[t]` names
    type t for as long as the featurizer lives (its row, see `Featurizer.row`), or is -1 if it does not.
    """

    ids: list[np.ndarray]
    positions: np.ndarray
    tags: np.ndarray
    lengths: np.ndarray
    half: int
    types: np.ndarray
    type_ids: np.ndarray
    type_keys: np.ndarray

    def _where(self, batch_positions: np.ndarray) -> np.ndarray:
        return batch_positions[:, None] + np.arange(-self.half, self.half + 1)[None, :]

    def windows(self, batch_positions: np.ndarray) -> list[np.ndarray]:
        """(n, 2*half+1) id matrices, one per column, for the tokens at these stream positions."""
        where = self._where(batch_positions)
        return [ids[where] for ids in self.ids]

    def type_windows(self, batch_positions: np.ndarray) -> np.ndarray:
        """(n, 2*half+1) token types (see `type_ids`) of the windows at these stream positions."""
        return self.types[self._where(batch_positions)]


class Featurizer:
    """The feature columns of a model and the window size; turns sentences into `Encoded`."""

    def __init__(self, columns: list[FeatureColumn], half_window: int):
        if half_window < 0:
            raise ValueError("window must be >= 0 words on each side")
        self.columns = columns
        self.half = half_window
        # Every distinct token met is a row of `_rows`: its id in each column (memoized, as text repeats
        # a lot). Row 0 is all pads. Past ROWS_KEPT tokens, new ones get rows for one call only.
        self._row_of: dict[str, int] = {}
        self._rows = np.zeros((1024, len(columns)), dtype=np.int64)
        self._n_rows = 1
        self._unfilled: list[str] = []  # the tokens of the last rows handed out, filled in one go by `_fill`
        self.lock = threading.RLock()  # hold it from `begin` until the rows are encoded
        # for `_fill`, per column: vocabulary lookup, key function, whether it takes the normalized word,
        # and for keys of character classes, the id of each class string met
        self._keys = [(c.index.get, c.key if c.of_normalized is None else c.of_normalized, c.of_normalized is not None,
                       {} if c.name in _OF_CLASSES else None) for c in columns]

    @property
    def width(self) -> int:
        return 2 * self.half + 1

    @classmethod
    def build(cls, sentences: Iterable[Sequence[str]], dims: dict[str, int], half_window: int,
              min_counts: dict[str, int] | None = None) -> Featurizer:
        """Vocabularies from training tokens: keys seen at least min_count times (default 1 for words
        and caps, 2 for affixes and shapes), most frequent first."""
        min_counts = min_counts or {}
        counters = {name: Counter() for name in dims}
        for tokens in sentences:
            for tok in tokens:
                for name, counter in counters.items():
                    counter[KEYS[name](tok)] += 1
        columns = []
        for name, dim in dims.items():
            floor = min_counts.get(name, 1 if name in ("word", "caps") else 2)
            keys = sorted((k for k, c in counters[name].items() if c >= floor),
                          key=lambda k: (-counters[name][k], k))
            columns.append(FeatureColumn(name, dim, [PAD_KEY, UNK_KEY, *keys]))
        return cls(columns, half_window)

    ROWS_KEPT = 500_000

    def begin(self) -> None:
        """Start a new batch of `row` calls (under `lock`): forget the rows kept for one call only."""
        self._fill()  # rows handed out by a call that never reached encode_rows
        self._n_rows = len(self._row_of) + 1

    def row(self, token: str) -> int:
        """The row of `_rows` holding the token's id in every column (call under `lock`, after `begin`).
        A new token's ids are filled in later, with the other new tokens of the call (`_fill`)."""
        found = self._row_of.get(token)
        if found is not None:
            return found
        r = self._n_rows
        if r == len(self._rows):
            self._rows = np.concatenate([self._rows, np.zeros_like(self._rows)])
        self._unfilled.append(token)
        self._n_rows = r + 1
        if r <= self.ROWS_KEPT:
            self._row_of[token] = r
        return r

    def _fill(self) -> None:
        """Compute the ids of the new tokens' rows, a column at a time: one `map` per column instead of
        a Python loop over columns per word."""
        tokens = self._unfilled
        if not tokens:
            return
        block = self._rows[self._n_rows - len(tokens):self._n_rows]
        norms = list(map(normalize_word, tokens))  # most keys derive from it: compute it once
        classes = list(map(str.translate, tokens, repeat(_CLASSES)))
        for j, (lookup, key, by_norm, of_classes) in enumerate(self._keys):
            if of_classes is None:
                ids = list(map(lookup, map(key, norms if by_norm else tokens), repeat(UNK)))
            else:
                ids = list(map(of_classes.get, classes))
                i = -1
                for _ in range(ids.count(None)):
                    i = ids.index(None, i + 1)
                    ids[i] = lookup(key(classes[i]), UNK)
                    if len(of_classes) < self.ROWS_KEPT:
                        of_classes[classes[i]] = ids[i]
            block[:, j] = ids
        tokens.clear()

    def is_kept(self, row: int) -> bool:
        """Whether a row stays valid after the next `begin` (rows of tokens past ROWS_KEPT do not)."""
        return row <= len(self._row_of)

    def encode(self, sentences: Sequence[Sequence[str]], tags: Sequence[Sequence[int]] | None = None) -> Encoded:
        """Flat padded id streams for a list of tokenized sentences (and their tag ids, if known)."""
        lengths = np.fromiter((len(s) for s in sentences), dtype=np.int64, count=len(sentences))
        with self.lock:
            self.begin()
            get, row = self._row_of.get, self.row
            rows = np.fromiter((get(t) or row(t) for s in sentences for t in s), dtype=np.int64,
                               count=int(lengths.sum()))
            return self.encode_rows(rows, lengths, tags)

    def encode_rows(self, rows: np.ndarray, lengths: np.ndarray,
                    tags: Sequence[Sequence[int]] | None = None) -> Encoded:
        """`encode` from the tokens' rows (see `row`; under `lock`, before the next `begin`)."""
        self._fill()
        h, n_tokens = self.half, len(rows)
        # token k of sentence i sits after i+1 gaps of h pads: stream position k + h * (i + 1)
        positions = np.arange(n_tokens, dtype=np.int64) + h * np.repeat(np.arange(1, len(lengths) + 1), lengths)
        stream = np.zeros(n_tokens + h * (len(lengths) + 1), dtype=np.int64)  # row 0: pads
        stream[positions] = rows
        if tags is None:
            tag_ids = np.full(n_tokens, -1, dtype=np.int64)
        else:
            tag_ids = np.fromiter((t for seq in tags for t in seq), dtype=np.int64, count=n_tokens)
        kinds, types = np.unique(stream, return_inverse=True)  # the pad row 0 is type 0
        type_ids = np.ascontiguousarray(self._rows[kinds].T)
        ids = [column[types] for column in type_ids]
        keys = np.where(kinds <= len(self._row_of), kinds, -1)  # rows kept for one call only have no key
        return Encoded(ids, positions, tag_ids, np.asarray(lengths, dtype=np.int64), h, types, type_ids, keys)

    def to_json(self) -> dict:
        return {"half_window": self.half, "columns": [c.to_json() for c in self.columns]}

    @classmethod
    def from_json(cls, data: dict) -> Featurizer:
        return cls([FeatureColumn(c["name"], int(c["dim"]), list(c["vocab"])) for c in data["columns"]],
                   int(data["half_window"]))
