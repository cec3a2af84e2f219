"""What a document says about each of its words: the features of a two-pass model's second pass.

A window of five words cannot tell "Lukashenko" the man from a company, but the document can: it names
"Alexander Lukashenko" two sentences earlier. A first pass tags the whole document; from its tags, every
token gets four keys (Krishnan & Manning 2006's non-local features, as embedding columns):

- ``pass1``: the first pass's own tag of the token (the second pass sees its window's tags too);
- ``doc_word``: what the first pass made of the same word (case-insensitive, digits as 0) elsewhere in
  the document: the most frequent entity type among its other occurrences, ``O`` when none of them is in
  an entity, ``none`` when the word occurs nowhere else;
- ``doc_entity``: for a token inside a predicted entity, the most frequent type of the other predicted
  entities of the document with the same words ("U.S." tagged LOC three times and ORG once), else ``none``;
- ``doc_super``: the most frequent type of the longer predicted entities elsewhere in the document that
  hold this word ("Alexander Lukashenko" PER for a lone "Lukashenko"), else ``none``.

Ties go to the type first in alphabetical order. Nothing here is a rule: the second pass learns how far to trust
each key (a city's name is a LOC in one sentence and its football team, an ORG, in the next). A document
never sees another: every key is counted within the token's own document.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from itertools import count, repeat

import numpy as np

from .features import DOCUMENT_COLUMNS, PAD_KEY, UNK_KEY, FeatureColumn
from .tags import parse_tag

__all__ = ["DocumentFeatures", "normal_forms", "word_keys"]

_ZEROS = str.maketrans("123456789", "000000000")  # lowercased, then this: `nerwin.features.normalize_word`
NONE, OUTSIDE, FIRST_TYPE = 2, 3, 4  # ids in the doc_* columns: <pad>, <unk>, none, O, then the types


def normal_forms(words: Iterable[str]) -> list[str]:
    """Every word lowercased with its digits as 0, at C speed (no Python frame per word)."""
    return list(map(str.translate, map(str.lower, words), repeat(_ZEROS)))


def word_keys(words: Sequence[str]) -> np.ndarray:
    """A number per word, equal exactly where the words' normal forms are (what `DocumentFeatures.ids`
    compares). `nerwin.fast.Preparer` gives lasting numbers of its own, without a string per token."""
    normal = normal_forms(words)
    index = dict(zip(dict.fromkeys(normal), count()))
    return np.fromiter(map(index.__getitem__, normal), np.int64, len(normal))


@lru_cache(maxsize=8)
def _mixers(n: int) -> np.ndarray:
    """n odd 64-bit multipliers, the same in every call (an entity's name hashes the same everywhere)."""
    return np.random.default_rng(0).integers(1, 2**63, size=max(n, 64), dtype=np.uint64) | 1


class DocumentFeatures:
    """The document columns of a tag set: their vocabularies, and their ids from a first pass's tag ids."""

    def __init__(self, tags: Sequence[str]):
        self.tags = list(tags)
        self.types = sorted({parse_tag(t)[1] for t in self.tags} - {None})
        at = {k: i for i, k in enumerate(self.types)}
        # per tag id: 0 for O, else 1 + its type's index; and whether it begins an entity, continues one
        self._label = np.array([0 if parse_tag(t)[1] is None else 1 + at[parse_tag(t)[1]] for t in self.tags],
                               dtype=np.int64)
        self._prefix = np.array([{"O": 0, "B": 1, "I": 2}[parse_tag(t)[0]] for t in self.tags], dtype=np.int64)

    def vocab(self, name: str) -> list[str]:
        if name == "pass1":
            return [PAD_KEY, UNK_KEY, *self.tags]
        return [PAD_KEY, UNK_KEY, "none", "O", *self.types]

    def columns(self, dim: int) -> list[FeatureColumn]:
        """The document columns, each `dim` wide."""
        return [FeatureColumn(name, dim, self.vocab(name)) for name in DOCUMENT_COLUMNS]

    def ids(self, words: Sequence[str] | np.ndarray, tag_ids: np.ndarray, lengths: np.ndarray,
            docs: np.ndarray | None) -> np.ndarray:
        """(tokens, 4) ids of the document columns, from every token's text (or its number from `word_keys`:
        non-negative integers, equal for the same normal form) and its first-pass tag id; the tokens make
        sentences of `lengths`, `docs` numbers each sentence's document (None: each its own)."""
        n = len(words)
        out = np.full((n, len(DOCUMENT_COLUMNS)), NONE, dtype=np.int64)
        if n == 0:
            return out
        tag_ids = np.asarray(tag_ids, dtype=np.int64)
        out[:, 0] = 2 + tag_ids
        label, prefix = self._label[tag_ids], self._prefix[tag_ids]
        k = len(self.types) + 1
        doc = np.repeat(np.arange(len(lengths)) if docs is None else np.asarray(docs, dtype=np.int64), lengths)
        word = words.astype(np.int64, copy=False) if isinstance(words, np.ndarray) else word_keys(words)
        top = int(word.max()) + 1  # doc * top + word names a word of a document
        if top * (int(doc.max()) + 1) >= 2**62:  # numbers from a long-lived preparer: renumber them densely
            word = np.unique(word, return_inverse=True)[1].reshape(-1)
            top = int(word.max()) + 1
        # the same word elsewhere in the document
        _, group = np.unique(doc * top + word, return_inverse=True)
        counts = np.bincount(group * k + label, minlength=(group.max() + 1) * k).reshape(-1, k)
        others = counts[group]
        others[np.arange(n), label] -= 1
        entity_counts = others[:, 1:]
        out[:, 1] = np.where(others.sum(1) == 0, NONE,
                             np.where(entity_counts.sum(1) > 0, FIRST_TYPE + entity_counts.argmax(1), OUTSIDE))
        # predicted entities: a B- and the I- that follow it (decoding gives valid IOB2)
        firsts = np.flatnonzero(prefix == 1)
        if not len(firsts):
            return out
        stops = np.append(np.flatnonzero(prefix != 2), n)
        lasts = stops[np.searchsorted(stops, firsts, side="right")] - 1
        sizes = lasts - firsts + 1
        types = label[firsts] - 1
        inside = np.repeat(np.arange(len(firsts)), sizes)  # entity of each token inside one
        starts = np.cumsum(sizes) - sizes
        offset = np.arange(len(inside)) - starts[inside]  # of each such token in its entity
        spots = firsts[inside] + offset
        # the same words as another entity of the document: entities named by a hash of their document
        # and words in order (64-bit, random multipliers: a collision is a 2**-64 chance per pair)
        mix = _mixers(int(sizes.max()) + 1)
        with np.errstate(over="ignore"):
            hashed = np.add.reduceat(word[spots].astype(np.uint64) * mix[1:][offset], starts) + doc[firsts].astype(
                np.uint64) * mix[0]
        names, name = np.unique(hashed, return_inverse=True)
        k1 = len(self.types)
        same = np.bincount(name * k1 + types, minlength=len(names) * k1).reshape(-1, k1)[name]
        same[np.arange(len(firsts)), types] -= 1
        per_entity = np.where(same.sum(1) == 0, NONE, FIRST_TYPE + same.argmax(1))
        out[spots, 2] = per_entity[inside]
        # longer entities elsewhere in the document that hold the word: votes[key, type, s] counts the
        # entities of that type holding the key (a word of a document) that are longer than s words
        own = np.zeros(n, dtype=np.int64)
        own[spots] = sizes[inside]
        keys = doc * top + word
        long = own[spots] > 1
        if long.any():
            holder_keys, holder = np.unique(keys[spots[long]], return_inverse=True)
            longest = int(own.max())
            counts = np.zeros((len(holder_keys), k1, longest + 1), dtype=np.int64)
            np.add.at(counts, (holder, types[inside][long], own[spots[long]]), 1)
            votes = np.cumsum(counts[:, :, ::-1], axis=2)[:, :, ::-1]  # entities of >= s words
            at = np.searchsorted(holder_keys, keys)
            found = np.flatnonzero((at < len(holder_keys)) & (holder_keys[np.minimum(at, len(holder_keys) - 1)] == keys)
                                   & (own < longest))
            longer = votes[at[found], :, own[found] + 1]  # (tokens, types): longer than the token's own entity
            some = longer.sum(1) > 0
            out[found[some], 3] = FIRST_TYPE + longer[some].argmax(1)
        return out

    def extend(self, enc, tag_ids: np.ndarray, columns: int):
        """`enc`'s first `columns` id streams (its token columns) and the document columns' streams from
        the first pass's `tag_ids`: what the second pass reads. `enc.words` must hold the tokens (or their
        `word_keys`)."""
        ids = self.ids(enc.words, tag_ids, enc.lengths, enc.docs)
        streams = []
        for c in range(ids.shape[1]):
            stream = np.zeros(len(enc.ids[0]), dtype=np.int64)
            stream[enc.positions] = ids[:, c]
            streams.append(stream)
        return enc.with_columns(list(enc.ids[:columns]) + streams)
