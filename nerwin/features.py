"""Turning tokens into feature ids: word, capitalization, and optional prefix/suffix/shape columns.

Each feature column maps a token to a string key, and the key to an id in that column's vocabulary.
Ids 0 and 1 are reserved in every column: 0 pads the window beyond the sentence edges, 1 is UNK.
Words are lowercased with digits mapped to 0 ("1996" -> "0000"), so "Paris" and "PARIS" share a row
and the capitalization column tells them apart.
"""
from __future__ import annotations

import copy
import re
import string
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from operator import itemgetter

import numpy as np

__all__ = ["PAD", "UNK", "CASES", "FeatureColumn", "Featurizer", "normalize_word", "caps_class", "case_codes",
           "word_shape",
           "Encoded", "DOCUMENT_COLUMNS"]

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


CASES = ("lower", "title", "upper", "mixed", "noalpha")  # `caps_class`'s classes, numbered by `case_codes`


def case_codes(tokens: Sequence[str]) -> np.ndarray:
    """Every token's `caps_class` as its index in CASES, computed once per class string ("Paris" and
    "Quinn" are both "Xxxxx")."""
    classes = [t.translate(_CLASSES) for t in tokens]
    code = {c: CASES.index(caps_class(c)) for c in dict.fromkeys(classes)}
    return np.fromiter(map(code.__getitem__, classes), np.int64, len(classes))


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


# Columns whose key is not a function of the token alone: a two-pass model's second pass reads them off
# the first pass's tags over the whole document (`nerwin.documents`), and `Featurizer.encode` is given their
# ids. They come after the token columns.
DOCUMENT_COLUMNS = ("pass1", "doc_word", "doc_entity", "doc_super")


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
        if self.name not in KEYS and self.name not in DOCUMENT_COLUMNS:
            raise ValueError(f"unknown feature {self.name!r}; known: {', '.join(KEYS)}")
        self.key = KEYS.get(self.name)  # None for a document column
        self.of_normalized = _OF_NORMALIZED.get(self.name)  # the key from normalize_word(token), if it is one
        self.index = {k: i for i, k in enumerate(self.vocab)}

    def to_json(self) -> dict:
        return {"name": self.name, "dim": self.dim, "vocab": self.vocab}


@dataclass
class Encoded:
    """A corpus as flat id arrays with `half` pad ids between sentences, for fast window lookups.

    `ids[c]` holds column c's ids over the padded stream; `positions[i]` is the stream position of the
    i-th real token; `tags` its tag id (or -1 when unknown); `lengths` the sentence lengths. Documents
    (what a two-pass model reads as a whole): `docs[s]` numbers sentence s's document, the sentences of
    one document next to each other (None: every sentence is a document of its own); `words` every
    token's text when a two-pass model needs them, or a number per token equal for the same word up to
    case and digits (`nerwin.documents.word_keys`; `nerwin.fast.Preparer` gives these); `cases` every
    token's `case_codes`, when a tagger with a caseless companion needs them.
    """

    ids: list[np.ndarray]
    positions: np.ndarray
    tags: np.ndarray
    lengths: np.ndarray
    half: int
    docs: np.ndarray | None = None
    words: list[str] | np.ndarray | None = None
    cases: np.ndarray | None = None

    def with_columns(self, ids: list[np.ndarray]) -> Encoded:
        """The same tokens and sentences with these columns' id streams."""
        return Encoded(ids, self.positions, self.tags, self.lengths, self.half, self.docs, self.words, self.cases)

    def columns(self, which: Sequence[int]) -> Encoded:
        """The same tokens and sentences with only these columns (by index)."""
        return self.with_columns([self.ids[c] for c in which])

    def sentences(self, keep: np.ndarray) -> Encoded:
        """Only the sentences where `keep` (a bool per sentence) holds, on the same id streams: their windows
        are what they were."""
        tokens = np.repeat(keep, self.lengths)
        subset = copy.copy(self)
        subset.positions, subset.tags, subset.lengths = self.positions[tokens], self.tags[tokens], self.lengths[keep]
        subset.docs = None if self.docs is None else self.docs[keep]
        subset.cases = None if self.cases is None else self.cases[tokens]
        if self.words is not None:
            subset.words = (self.words[tokens] if isinstance(self.words, np.ndarray)
                            else [w for w, k in zip(self.words, tokens.tolist()) if k])
        return subset

    def where(self, batch_positions: np.ndarray) -> np.ndarray:
        """(n, 2*half+1) stream positions of the windows around these positions."""
        return batch_positions[:, None] + np.arange(-self.half, self.half + 1)[None, :]

    def windows(self, batch_positions: np.ndarray) -> list[np.ndarray]:
        """(n, 2*half+1) id matrices, one per column, for the tokens at these stream positions."""
        where = self.where(batch_positions)
        return [ids[where] for ids in self.ids]


def stream_positions(lengths: np.ndarray, half: int) -> np.ndarray:
    """Where each token sits in a stream with `half` pads before, between and after the sentences:
    token k of sentence i sits after i+1 gaps, at k + half * (i + 1)."""
    return np.arange(int(lengths.sum()), dtype=np.int64) + half * np.repeat(np.arange(1, len(lengths) + 1), lengths)


def tag_ids(tags: Sequence[Sequence[int]] | None, n_tokens: int) -> np.ndarray:
    """The tag ids of every token in turn, or -1 for each where they are not known."""
    if tags is None:
        return np.full(n_tokens, -1, dtype=np.int64)
    return np.fromiter((t for seq in tags for t in seq), dtype=np.int64, count=n_tokens)


class Featurizer:
    """The feature columns of a model and the window size; turns sentences into `Encoded`."""

    def __init__(self, columns: list[FeatureColumn], half_window: int):
        if half_window < 0:
            raise ValueError("window must be >= 0 words on each side")
        self.columns = columns
        self.half = half_window
        self.token_columns = [c for c in columns if c.key is not None]
        if columns[:len(self.token_columns)] != self.token_columns:
            raise ValueError("document columns come after the token columns")

    def base(self) -> Featurizer:
        """The token columns alone (what a two-pass model's first pass reads)."""
        return self if len(self.token_columns) == len(self.columns) else Featurizer(self.token_columns, self.half)

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

    def extended(self, sentences: Sequence[Sequence[str]], min_counts: dict[str, int] | None = None) -> Featurizer:
        """A featurizer for continuing training on new data: every column keeps its keys and their ids,
        and the keys of `sentences` it lacks (by the same count floors as `build`) are appended after them,
        so row i of an old embedding table still means what it meant."""
        fresh = Featurizer.build(sentences, {c.name: c.dim for c in self.token_columns}, self.half, min_counts)
        columns = []
        for old, new in zip(self.token_columns, fresh.columns):
            added = [k for k in new.vocab if k not in old.index]
            columns.append(FeatureColumn(old.name, old.dim, [*old.vocab, *added]))
        return Featurizer(columns, self.half)

    def ids(self, tokens: Sequence[str]) -> np.ndarray:
        """(n, token columns) int64: each token's id in every token column (UNK for keys not in a vocabulary).

        A column at a time: the lowercased word is computed once per token (most keys are a part of it),
        and keys that depend only on character classes (caps, shape) once per class string of the call
        ("Paris" and "Quinn" are both "Xxxxx")."""
        out = np.empty((len(tokens), len(self.token_columns)), dtype=np.int64)
        norms = list(map(normalize_word, tokens))
        classes = [t.translate(_CLASSES) for t in tokens]
        for j, column in enumerate(self.token_columns):
            if column.name in _OF_CLASSES:
                of_class = {c: column.index.get(column.key(c), UNK) for c in dict.fromkeys(classes)}
                out[:, j] = list(map(of_class.__getitem__, classes))
            elif column.of_normalized is not None:
                out[:, j] = list(map(column.index.get, map(column.of_normalized, norms), repeat(UNK)))
            else:
                out[:, j] = list(map(column.index.get, map(column.key, tokens), repeat(UNK)))
        return out

    def encode(self, sentences: Sequence[Sequence[str]], tags: Sequence[Sequence[int]] | None = None,
               context: np.ndarray | None = None, docs: Sequence[int] | None = None, words: bool = False
               ) -> Encoded:
        """Flat padded id streams for a list of tokenized sentences (and their tag ids, if known). A
        featurizer with document columns takes their ids as `context` (tokens, document columns); `docs`
        numbers each sentence's document; with `words` the tokens' texts come along."""
        lengths = np.fromiter((len(s) for s in sentences), dtype=np.int64, count=len(sentences))
        flat = [t for s in sentences for t in s]
        ids = self.ids(flat)
        if len(self.token_columns) < len(self.columns):
            if context is None or context.shape != (len(flat), len(self.columns) - len(self.token_columns)):
                raise ValueError("a featurizer with document columns needs their ids for every token")
            ids = np.concatenate([ids, context], axis=1)
        positions = stream_positions(lengths, self.half)
        stream = np.zeros((len(positions) + self.half * (len(lengths) + 1), len(self.columns)), dtype=np.int64)
        stream[positions] = ids  # PAD (0) elsewhere
        return Encoded([np.ascontiguousarray(stream[:, c]) for c in range(len(self.columns))], positions,
                       tag_ids(tags, len(positions)), lengths, self.half,
                       None if docs is None else np.asarray(docs, dtype=np.int64), flat if words else None)

    def to_json(self) -> dict:
        return {"half_window": self.half, "columns": [c.to_json() for c in self.columns]}

    @classmethod
    def from_json(cls, data: dict) -> Featurizer:
        return cls([FeatureColumn(c["name"], int(c["dim"]), list(c["vocab"])) for c in data["columns"]],
                   int(data["half_window"]))
