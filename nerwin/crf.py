"""The linear-chain CRF loss (Collobert et al.'s sentence-level log-likelihood) as one op over the autodiff stack.

A path y through a chain of n positions scores start[y_0] + sum_t scores[t, y_t] + sum_t trans[y_(t-1), y_t]
+ end[y_(n-1)]. The loss is -log p(target path) = log Z - score(target), with log Z summed over all paths
by the forward algorithm; its gradient is the expected counts (forward-backward) minus the observed ones.
Chains of `lengths` lie end to end in the rows of `scores`. One Numba kernel computes the loss and all
gradients in one pass over each chain.
"""
from __future__ import annotations

import math

import numpy as np

from .autodiff import Function, Tensor, jit

__all__ = ["CRFNegLogLikelihood", "crf_nll", "crf_nll_value"]


@jit
def _crf_nll(scores, lengths, targets, start, trans, end, g_scores, g_start, g_trans, g_end, alpha, beta, tmp,
             grads):
    def _logsumexp(x, n):  # log sum_i exp(x[i]) over the first n entries, shifted by the max
        m = x[0]
        for i in range(1, n):
            if x[i] > m:
                m = x[i]
        total = 0.0
        for i in range(n):
            total += math.exp(x[i] - m)
        return m + math.log(total)

    k = scores.shape[1]
    total = 0.0
    at = 0
    for s in range(lengths.shape[0]):
        n = lengths[s]
        if n == 0:
            continue
        for j in range(k):  # forward: alpha[t, j] = log sum over paths ending in j at t
            alpha[0, j] = start[j] + scores[at, j]
        for t in range(1, n):
            for j in range(k):
                for i in range(k):
                    tmp[i] = alpha[t - 1, i] + trans[i, j]
                alpha[t, j] = _logsumexp(tmp, k) + scores[at + t, j]
        for j in range(k):
            tmp[j] = alpha[n - 1, j] + end[j]
        log_z = _logsumexp(tmp, k)
        gold = start[targets[at]] + end[targets[at + n - 1]]
        for t in range(n):
            gold += scores[at + t, targets[at + t]]
            if t > 0:
                gold += trans[targets[at + t - 1], targets[at + t]]
        total += log_z - gold
        if not grads:
            at += n
            continue
        for i in range(k):  # backward: beta[t, i] = log sum over continuations from i at t
            beta[n - 1, i] = end[i]
        for t in range(n - 2, -1, -1):
            for i in range(k):
                for j in range(k):
                    tmp[j] = trans[i, j] + scores[at + t + 1, j] + beta[t + 1, j]
                beta[t, i] = _logsumexp(tmp, k)
        for t in range(n):  # expected minus observed counts
            y = targets[at + t]
            for j in range(k):
                g_scores[at + t, j] += math.exp(alpha[t, j] + beta[t, j] - log_z)
            g_scores[at + t, y] -= 1.0
            if t > 0:
                g_trans[targets[at + t - 1], y] -= 1.0
                for i in range(k):
                    for j in range(k):
                        g_trans[i, j] += math.exp(alpha[t - 1, i] + trans[i, j] + scores[at + t, j]
                                                  + beta[t, j] - log_z)
        for j in range(k):
            g_start[j] += math.exp(alpha[0, j] + beta[0, j] - log_z)
            g_end[j] += math.exp(alpha[n - 1, j] + end[j] - log_z)
        g_start[targets[at]] -= 1.0
        g_end[targets[at + n - 1]] -= 1.0
        at += n
    return total


def _crf_nll_and_grads(scores, lengths, targets, start, trans, end, grads: bool = True):
    """Negative log-likelihood of the target paths under a linear-chain CRF, summed over the chains,
    and its gradients (marginals minus observed counts) for scores, start, trans and end (zeros unless
    `grads`: the forward pass alone is a third of the work)."""
    lengths = np.ascontiguousarray(lengths, dtype=np.int64)
    k = scores.shape[1]
    longest = max(int(lengths.max()) if len(lengths) else 1, 1)
    f64 = np.float64
    g_scores, g_start = np.zeros(scores.shape, f64), np.zeros(k, f64)
    g_trans, g_end = np.zeros((k, k), f64), np.zeros(k, f64)
    total = _crf_nll(np.ascontiguousarray(scores, dtype=f64), lengths, np.ascontiguousarray(targets, np.int64),
                     start.astype(f64), trans.astype(f64), end.astype(f64), g_scores, g_start, g_trans, g_end,
                     np.empty((longest, k), f64), np.empty((longest, k), f64), np.empty(k, f64), grads)
    return total, g_scores, g_start, g_trans, g_end


class CRFNegLogLikelihood(Function):
    @staticmethod
    def forward(ctx, scores, start, trans, end, *, lengths, targets, scale):
        """scale * sum over chains of (log Z - target path score); d/d(input) = scale * (expected - observed counts)"""
        total, *grads = _crf_nll_and_grads(scores, lengths, targets, start, trans, end)
        ctx.grads = tuple((g * scale).astype(scores.dtype) for g in grads)
        return np.asarray(total * scale, dtype=scores.dtype)

    @staticmethod
    def backward(ctx, grad):
        g = float(grad)
        return tuple(x * g for x in ctx.grads)


def crf_nll(scores, start, trans, end, lengths, targets, reduction: str = "mean") -> Tensor:
    """Linear-chain CRF loss: -log p(target path) for chains of `lengths` laid end to end in `scores`
    (N, K); a path scores start[y_0] + sum scores[t, y_t] + sum trans[y_(t-1), y_t] + end[y_last].
    "mean" divides by the number of positions N, "sum" does not."""
    lengths = np.ascontiguousarray(lengths, dtype=np.int64)
    targets = np.ascontiguousarray(targets, dtype=np.int64)
    scores = scores if isinstance(scores, Tensor) else Tensor(scores)
    if int(lengths.sum()) != scores.shape[0] or targets.shape != (scores.shape[0],):
        raise ValueError("crf_nll: lengths must add up to the rows of scores, one target per row")
    if reduction not in ("mean", "sum"):
        raise ValueError("reduction must be 'mean' or 'sum'")
    scale = 1.0 / max(scores.shape[0], 1) if reduction == "mean" else 1.0
    return CRFNegLogLikelihood.apply(scores, start, trans, end, lengths=lengths, targets=targets, scale=scale)


def crf_nll_value(scores, start, trans, end, lengths, targets) -> float:
    """What `crf_nll(...).item()` gives ("mean": per position) with no graph and no gradients: a loss to
    watch, such as training's dev loss after each epoch."""
    lengths = np.ascontiguousarray(lengths, dtype=np.int64)
    if int(lengths.sum()) != len(scores) or len(targets) != len(scores):
        raise ValueError("crf_nll_value: lengths must add up to the rows of scores, one target per row")
    total = _crf_nll_and_grads(scores, lengths, targets, np.asarray(start), np.asarray(trans), np.asarray(end),
                               grads=False)[0]
    return total / max(len(scores), 1)
