"""Text re-cased: the casing transforms that `scripts/casing.py` scores a model on, and the copies of the
training data that `nerwin train --case-copies` adds.

A window tagger learns that capital letters mark names, so text that lacks them (speech transcripts,
chat, search queries: all lowercase), has them everywhere (headlines, telexes: ALL CAPS) or on every word
(titles) loses many of its entities. Mayhew, Tsygankova & Roth (EMNLP 2019) found training on the cased
data plus re-cased copies of it the best remedy without outside data. Each transform maps a sentence's
tokens to as many tokens, token by token, so gold tags stay aligned with them:

- ``lower``: every token lowercased (``str.lower``);
- ``upper``: every token in capitals (``str.upper``);
- ``title``: every token's first character upper, the rest lower (``str.capitalize``): "U.S." -> "U.s.",
  "McDonald" -> "Mcdonald", "EU" -> "Eu", "o'neill" -> "O'neill"; a token that starts with a digit or a
  sign keeps it and lowers the rest ("1990s", "'s", "--" unchanged). Not ``str.title``, which capitalizes
  after every non-letter ("1990S", "'S"), and acronyms are not kept in capitals: text in which every word
  looks alike is what the test is for, and keeping "EU" would hand the model the original casing back.

Pure Python (no numpy): `TrainConfig.check` imports it to name an unknown kind before anything loads.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from .errors import NerwinError
from .sentences import Corpus

__all__ = ["CASINGS", "augment", "check_kinds", "lower", "title", "upper"]


def lower(tokens: Sequence[str]) -> list[str]:
    """Every token lowercased."""
    return [t.lower() for t in tokens]


def upper(tokens: Sequence[str]) -> list[str]:
    """Every token in capitals."""
    return [t.upper() for t in tokens]


def title(tokens: Sequence[str]) -> list[str]:
    """Every token's first character upper, the rest lower (see the module's docstring for why)."""
    return [t.capitalize() for t in tokens]


# The transforms by name, in the order the casing table shows them.
CASINGS: dict[str, Callable[[Sequence[str]], list[str]]] = {"lower": lower, "upper": upper, "title": title}


def check_kinds(kinds: Sequence[str]) -> None:
    """NerwinError for a kind that is not a casing transform, or one given twice."""
    for kind in kinds:
        if kind not in CASINGS:
            raise NerwinError(f"unknown casing {kind!r}; choose from {', '.join(CASINGS)}")
    if len(set(kinds)) < len(kinds):
        raise NerwinError(f"a casing is given twice in {','.join(kinds)}")


def augment(corpus: Corpus, kinds: Sequence[str]) -> Corpus:
    """The corpus with, after its training sentences, a copy of every one of them re-cased each of the
    `kinds` ways (in that order), gold tags kept; dev and test untouched. No kinds: `corpus` itself.

    Each copy of a document is a document of its own, numbered `doc + k * span` for the k-th kind, where
    `span` is the width of the originals' range of numbers: no copy shares a number with an original or
    another copy, so a two-pass model's document features never mix a text with its re-cased twin."""
    check_kinds(kinds)
    if not kinds:
        return corpus
    train = corpus["train"]
    docs = [s.doc for s in train]
    span = max(docs, default=0) - min(docs, default=0) + 1
    copies = [replace(s, tokens=CASINGS[kind](s.tokens), tags=list(s.tags), doc=s.doc + k * span,
                      origin=s.doc if s.origin is None else s.origin)
              for k, kind in enumerate(kinds, start=1) for s in train]
    return {**corpus, "train": [*train, *copies]}

