"""From tag scores to valid IOB2 tag sequences: Viterbi over the allowed transitions.

The window network scores each word alone, so its argmax can say `O I-PER` or `B-LOC I-ORG`. Decoding
maximizes the summed log-probabilities of a whole sentence over the sequences IOB2 allows (an `I-X`
only after `B-X` or `I-X`), so the output is always valid. `transitions` may add learned scores.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .autodiff import kernels
from .autodiff.kernels import SMALL, crf_marginals  # noqa: F401  (TEMPORARY until the stack branch lands)
from .tags import parse_tag

__all__ = ["allowed_transitions", "decode", "log_softmax_rows"]

FORBIDDEN = -1e9


def allowed_transitions(tags: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(start, trans): 0 where IOB2 allows a tag first / tag j after tag i, FORBIDDEN where not."""
    parsed = [parse_tag(t) for t in tags]
    k = len(tags)
    start = np.zeros(k)
    trans = np.zeros((k, k))
    for j, (prefix_j, type_j) in enumerate(parsed):
        if prefix_j != "I":
            continue
        start[j] = FORBIDDEN
        for i, (_, type_i) in enumerate(parsed):
            if type_i != type_j:
                trans[i, j] = FORBIDDEN
    return start, trans


def log_softmax_rows(scores: np.ndarray) -> np.ndarray:
    shifted = scores - scores.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def decode(scores: np.ndarray, lengths: np.ndarray, start: np.ndarray, trans: np.ndarray,
           end: np.ndarray | None = None, normalize: bool = True) -> np.ndarray:
    """Tag ids (N,) for the sentences of `lengths` laid end to end in `scores` (N, K) of raw scores.

    Word-level models (normalize=True) add up log-softmax scores; a CRF passes its raw scores and its
    learned start/trans/end added to the IOB2 constraints."""
    scores = scores.astype(np.float64)
    return kernels.viterbi(log_softmax_rows(scores) if normalize else scores, lengths, start, trans, end)
