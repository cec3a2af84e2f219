"""From tag scores to valid IOB2 tag sequences: Viterbi over the allowed transitions, and CRF marginals.

The window network scores each word alone, so its argmax can say `O I-PER` or `B-LOC I-ORG`. Decoding
maximizes the summed log-probabilities of a whole sentence over the sequences IOB2 allows (an `I-X`
only after `B-X` or `I-X`), so the output is always valid. `transitions` may add learned scores.
A CRF tagger also reads the marginals p(y_t = k | sentence) to say how sure it is of each word.

Viterbi and the marginals each have a Numba kernel (compiled with the stack's `jit`) and a numpy twin
that computes the same, vectorized over labels: inputs of fewer than SMALL rows (a sentence or two) take
the twins while the kernel is not loaded yet, so tagging one sentence never imports numba nor waits for
a compile; once loaded (a big batch ran, a server warmed up) the kernel takes every input, being faster
at every size (64 one-sentence texts: 0.8 ms against 17 ms a call).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .autodiff import jit
from .tags import parse_tag

__all__ = ["SMALL", "small", "allowed_transitions", "crf_marginals", "decode", "log_softmax_rows", "viterbi"]

FORBIDDEN = -1e9
SMALL = 512  # rows below which Viterbi and the marginals run their numpy twins (no numba import, no compile)


def small(rows: int, *kernels) -> bool:
    """Whether `rows` rows take the numpy twins: fewer than SMALL, and some kernel still unloaded."""
    return rows < SMALL and not all(k.loaded for k in kernels)


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
    return viterbi(log_softmax_rows(scores) if normalize else scores, lengths, start, trans, end)


# ---- Viterbi: the best path of each chain ----------------------------------------------------------

@jit
def _viterbi(scores, lengths, start, trans, end, out, back, best):
    k = scores.shape[1]
    at = 0
    for s in range(lengths.shape[0]):
        n = lengths[s]
        if n == 0:
            continue
        for j in range(k):
            best[0, j] = start[j] + scores[at, j]
        for t in range(1, n):
            for j in range(k):
                arg = 0
                top = best[t - 1, 0] + trans[0, j]
                for i in range(1, k):
                    v = best[t - 1, i] + trans[i, j]
                    if v > top:
                        top = v
                        arg = i
                best[t, j] = top + scores[at + t, j]
                back[t, j] = arg
        arg = 0
        for j in range(1, k):
            if best[n - 1, j] + end[j] > best[n - 1, arg] + end[arg]:
                arg = j
        for t in range(n - 1, -1, -1):
            out[at + t] = arg
            arg = back[t, arg]
        at += n


def viterbi(scores: np.ndarray, lengths: np.ndarray, start: np.ndarray, trans: np.ndarray,
            end: np.ndarray | None = None) -> np.ndarray:
    """Best label path of each chain: scores (N, K) for the concatenated chains of `lengths`,
    maximizing start[y_0] + sum_t scores[t, y_t] + sum_t trans[y_(t-1), y_t] + end[y_last]."""
    lengths = np.ascontiguousarray(lengths, dtype=np.int64)
    longest = int(lengths.max()) if len(lengths) else 0
    k = scores.shape[1]
    end = np.zeros(k) if end is None else end
    if small(len(scores), _viterbi):
        return _viterbi_numpy(np.asarray(scores, dtype=np.float64), lengths, start, trans, end)
    out = np.zeros(len(scores), dtype=np.int64)
    back = np.zeros((max(longest, 1), k), dtype=np.int64)
    best = np.zeros((max(longest, 1), k), dtype=np.float64)
    _viterbi(np.ascontiguousarray(scores, dtype=np.float64), lengths, start.astype(np.float64),
             trans.astype(np.float64), end.astype(np.float64), out, back, best)
    return out


def _viterbi_numpy(scores, lengths, start, trans, end) -> np.ndarray:
    """The same decoding as `_viterbi`, vectorized over labels, for a few short chains."""
    out = np.zeros(len(scores), dtype=np.int64)
    at = 0
    for n in lengths.tolist():
        if n == 0:
            continue
        best = start + scores[at]
        back = np.zeros((n, len(start)), dtype=np.int64)
        for t in range(1, n):
            cand = best[:, None] + trans           # cand[i, j]: come from i, go to j
            back[t] = cand.argmax(axis=0)          # the first maximum, as the kernel's strict >
            best = cand[back[t], np.arange(len(start))] + scores[at + t]
        arg = int((best + end).argmax())
        for t in range(n - 1, -1, -1):
            out[at + t] = arg
            arg = back[t, arg]
        at += n
    return out


# ---- marginals: forward-backward ------------------------------------------------------------------

def _logsumexp_np(x: np.ndarray, axis: int) -> np.ndarray:
    m = x.max(axis=axis, keepdims=True)
    return (m + np.log(np.exp(x - m).sum(axis=axis, keepdims=True))).squeeze(axis)


def _crf_marginals_numpy(scores, lengths, start, trans, end) -> np.ndarray:
    """Forward-backward in numpy, vectorized over labels, for a few short chains."""
    out = np.zeros_like(scores)
    at = 0
    for n in lengths.tolist():
        if n == 0:
            continue
        s = scores[at:at + n]
        alpha, beta = np.empty_like(s), np.empty_like(s)
        alpha[0] = start + s[0]
        for t in range(1, n):
            alpha[t] = _logsumexp_np(alpha[t - 1][:, None] + trans, axis=0) + s[t]
        beta[n - 1] = end
        for t in range(n - 2, -1, -1):
            beta[t] = _logsumexp_np(trans + (s[t + 1] + beta[t + 1])[None, :], axis=1)
        log_z = _logsumexp_np(alpha[n - 1] + end, axis=0)
        out[at:at + n] = np.exp(alpha + beta - log_z)
        at += n
    return out


@jit
def _crf_marginals(scores, lengths, start, trans, end, out, alpha, beta, emit):
    # scaled forward-backward in probability space: K exps per word instead of ~2 K^2 in log space;
    # every row of alpha and beta is renormalized, and p(y_t) is proportional to alpha_t * beta_t
    k = scores.shape[1]
    at = 0
    for s in range(lengths.shape[0]):
        n = lengths[s]
        if n == 0:
            continue
        for t in range(n):
            m = scores[at + t, 0]
            for j in range(1, k):
                if scores[at + t, j] > m:
                    m = scores[at + t, j]
            for j in range(k):
                emit[t, j] = math.exp(scores[at + t, j] - m)
        total = 0.0
        for j in range(k):
            alpha[0, j] = start[j] * emit[0, j]
            total += alpha[0, j]
        for j in range(k):
            alpha[0, j] /= total
        for t in range(1, n):
            total = 0.0
            for j in range(k):
                acc = 0.0
                for i in range(k):
                    acc += alpha[t - 1, i] * trans[i, j]
                alpha[t, j] = acc * emit[t, j]
                total += alpha[t, j]
            for j in range(k):
                alpha[t, j] /= total
        for j in range(k):
            beta[n - 1, j] = end[j]
        for t in range(n - 2, -1, -1):
            total = 0.0
            for i in range(k):
                acc = 0.0
                for j in range(k):
                    acc += trans[i, j] * emit[t + 1, j] * beta[t + 1, j]
                beta[t, i] = acc
                total += acc
            for i in range(k):
                beta[t, i] /= total
        for t in range(n):
            total = 0.0
            for j in range(k):
                out[at + t, j] = alpha[t, j] * beta[t, j]
                total += out[at + t, j]
            for j in range(k):
                out[at + t, j] /= total
        at += n


def crf_marginals(scores, lengths, start, trans, end) -> np.ndarray:
    """p(y_t = k | sentence) under a linear-chain CRF, (N, K): what a CRF tagger is sure of per word."""
    scores = np.asarray(scores, dtype=np.float64)
    lengths = np.ascontiguousarray(lengths, dtype=np.int64)
    if small(len(scores), _crf_marginals):
        return _crf_marginals_numpy(scores, lengths, start.astype(np.float64), trans.astype(np.float64),
                                    end.astype(np.float64))
    k = scores.shape[1]
    longest = max(int(lengths.max()) if len(lengths) else 1, 1)
    out = np.zeros_like(scores)
    # start/trans/end as probabilities: exp of scores shifted by their max (constant factors cancel)
    weights = [np.exp(np.asarray(a, dtype=np.float64) - np.max(a)) for a in (start, trans, end)]
    _crf_marginals(np.ascontiguousarray(scores), lengths, *weights, out,
                   *(np.empty((longest, k)) for _ in range(3)))
    return out
