"""The binary variant of the tagger: one logit per word, "is this word (part of) a location?".

Everything that differs from the IOB2 tagger lives here: the three tags it can output, the gold tags it
is scored against (LOC only), its training targets and loss, and its decoding into valid IOB2 (a run of
LOC words is one entity: B-LOC, then I-LOC).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .autodiff import functions as F
from .autodiff.tensor import Tensor
from .tags import parse_tag

__all__ = ["TAGS", "gold", "targets", "loss", "decode"]

TAGS = ["O", "B-LOC", "I-LOC"]
OUTSIDE, B_LOC, I_LOC = range(3)  # ids into TAGS


def _is_loc(tag: str) -> bool:
    return parse_tag(tag)[1] == "LOC"


def gold(tag_seqs: Sequence[Sequence[str]]) -> list[list[str]]:
    """The tags the binary model is scored against: LOC tags kept, every other tag O (valid IOB2 in,
    valid IOB2 out: an I-LOC follows a B-LOC or I-LOC, which stay)."""
    return [[t if _is_loc(t) else "O" for t in seq] for seq in tag_seqs]


def targets(tag_seqs: Sequence[Sequence[str]]) -> np.ndarray:
    """1.0 for each word of a location, 0.0 for the others: all sentences' words in turn (float32)."""
    return np.array([1.0 if _is_loc(t) else 0.0 for seq in tag_seqs for t in seq], dtype=np.float32)


def loss(logits: Tensor, targets: np.ndarray) -> Tensor:
    """Mean binary cross-entropy of the (n, 1) logits against the n 0/1 targets."""
    return F.binary_cross_entropy_with_logits(logits.reshape(-1), targets)


def decode(raw: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ids into TAGS, probability of each chosen tag) for the (N, 1) logits of sentences of `lengths`
    laid end to end. A word is a location when sigmoid(logit) >= 0.5; each run of location words within
    a sentence is one entity (B-LOC, then I-LOC), so the tags are valid IOB2."""
    p = 1.0 / (1.0 + np.exp(-np.asarray(raw)[:, 0].astype(np.float64)))
    loc = p >= 0.5
    starts = np.cumsum(lengths) - lengths
    first = np.zeros(len(loc), dtype=bool)  # the first word of each sentence
    first[starts[starts < len(loc)]] = True
    previous_loc = np.concatenate([[False], loc[:-1]])
    begins = loc & (first | ~previous_loc)
    ids = np.where(begins, B_LOC, np.where(loc, I_LOC, OUTSIDE)).astype(np.int64)
    return ids, np.where(loc, p, 1.0 - p)
