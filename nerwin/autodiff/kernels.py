"""Numba kernels for the hot paths: gathers, scatter-adds, the fused softmax cross-entropy, optimizer updates.

The only module that imports numba (`nerwin.inference` compiles its tagging kernels through `jit`).
Each kernel is a module-level `@njit` function that fills a preallocated output; a thin Python wrapper
allocates and calls it. Plain `@njit` only, so
`NUMBA_DISABLE_JIT=1` runs exactly this code as Python (for tests and coverage).

No kernel here uses `prange`: scatter-adds write shared rows, and the rest are memory-bound loops
that one core saturates. Big matrix products are not here; numpy hands them to BLAS.

Compiled code is cached on disk (`cache=True`) so a new process does not recompile. Caching can never
break import: if the package folder is not writable (a read-only install), the cache goes to a user
cache folder; if no folder is writable, or numba still cannot cache, the kernels compile uncached.

numba itself is imported on the first kernel call, not on import: tagging one sentence takes the
small-input numpy paths below (`window_gather`, `viterbi`) and never pays numba's import time.
"""
from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import numpy as np


def _choose_cache_dir() -> None:
    """Point numba's cache at a writable folder when the package folder is not (must run before import)."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    if os.access(Path(__file__).parent, os.W_OK):
        return
    for base in (os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", tempfile.gettempdir()):
        # not plain "nerwin": a folder of that name in the working directory would shadow the package
        folder = Path(base) / "nerwin-numba-cache"
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(folder, os.W_OK):
            os.environ["NUMBA_CACHE_DIR"] = str(folder)
            return


_choose_cache_dir()

SMALL = 512  # rows below which the tagging kernels use plain numpy (no numba import, no compile)


def _compile(fn):
    """`numba.njit(cache=True)`, falling back to no cache if numba can find nowhere to cache.

    error_model="numpy": a division by zero gives inf/nan as in numpy instead of raising, which lets
    LLVM vectorize loops that divide (the Adam update runs ~5x faster). nogil: callers may run a kernel
    on disjoint rows from several threads (`nerwin.model.WindowModel.infer` does)."""
    import numba

    try:
        return numba.njit(cache=True, error_model="numpy", nogil=True)(fn)
    except Exception:  # e.g. "cannot cache function ...: no locator available" on read-only installs
        return numba.njit(cache=False, error_model="numpy", nogil=True)(fn)


class _Kernel:
    """A kernel compiled (or loaded from numba's cache) on its first call."""

    def __init__(self, fn):
        self.py_func = fn
        self.__name__ = fn.__name__
        self._dispatcher = None

    @property
    def dispatcher(self):
        """The numba dispatcher (or, with NUMBA_DISABLE_JIT=1, the plain function)."""
        if self._dispatcher is None:
            self._dispatcher = _compile(self.py_func)
        return self._dispatcher

    def __call__(self, *args):
        return (self._dispatcher or self.dispatcher)(*args)


def _jit(fn) -> _Kernel:
    return _Kernel(fn)


jit = _jit  # for kernels outside the engine (nerwin.inference)


# ---- gathers and scatter-adds -----------------------------------------------------------------------

@_jit
def _window_gather(table, idx, out, col):
    n, w = idx.shape
    d = table.shape[1]
    for i in range(n):
        for j in range(w):
            r = idx[i, j]
            for k in range(d):
                out[i, col + j * d + k] = table[r, k]


@_jit
def _window_rows(grad, col, w, d, out):
    n = grad.shape[0]
    for i in range(n):
        for j in range(w):
            for k in range(d):
                out[i * w + j, k] = grad[i, col + j * d + k]


def window_gather(tables: list[np.ndarray], indices: list[np.ndarray], out: np.ndarray | None = None) -> np.ndarray:
    """Each table's window rows side by side, the tables one after another:
    out[i] = [table0[idx0[i, 0]], ..., table0[idx0[i, w-1]], table1[idx1[i, 0]], ...]."""
    n = indices[0].shape[0]
    if n < SMALL:
        parts = [t[idx].reshape(n, idx.shape[1] * t.shape[1]) for t, idx in zip(tables, indices)]
        return np.concatenate(parts, axis=1, out=out)
    width = sum(idx.shape[1] * t.shape[1] for t, idx in zip(tables, indices))
    if out is None:
        out = np.empty((n, width), dtype=tables[0].dtype)
    col = 0
    for table, idx in zip(tables, indices):
        _window_gather(table, idx, out, col)
        col += idx.shape[1] * table.shape[1]
    return out


def window_rows(grad: np.ndarray, col: int, w: int, d: int) -> np.ndarray:
    """The (n*w, d) rows of one table's block of columns [col, col + w*d) of grad, contiguous."""
    out = np.empty((grad.shape[0] * w, d), dtype=grad.dtype)
    _window_rows(np.ascontiguousarray(grad), col, w, d, out)
    return out


@_jit
def _scatter_add_rows(out, rows, values):
    d = out.shape[1]
    for i in range(rows.shape[0]):
        r = rows[i]
        for k in range(d):
            out[r, k] += values[i, k]


def scatter_add_rows(out: np.ndarray, rows: np.ndarray, values: np.ndarray) -> None:
    """out[rows[i]] += values[i] for each i, in place (repeated rows add up). Serial on purpose."""
    _scatter_add_rows(out, rows, values.reshape(len(rows), out.shape[1]).astype(out.dtype, copy=False))


@_jit
def _coalesce_rows(rows, values, n_rows, slot, uniq, summed):
    count = 0
    d = values.shape[1]
    for i in range(rows.shape[0]):
        r = rows[i]
        s = slot[r]
        if s < 0:
            s = count
            slot[r] = s
            uniq[s] = r
            for k in range(d):
                summed[s, k] = values[i, k]
            count += 1
        else:
            for k in range(d):
                summed[s, k] += values[i, k]
    for i in range(count):
        slot[uniq[i]] = -1
    return count


_slots: dict[int, np.ndarray] = {}


def coalesce_rows(rows: np.ndarray, values: np.ndarray, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """(unique rows in order of first use, values summed per row). O(len(rows)), no sort."""
    slot = _slots.get(n_rows)
    if slot is None:  # a scratch map row -> output slot, all -1 between calls
        slot = _slots[n_rows] = np.full(n_rows, -1, dtype=np.int64)
    uniq = np.empty(len(rows), dtype=np.int64)
    summed = np.empty_like(values)
    count = _coalesce_rows(rows, values, n_rows, slot, uniq, summed)
    return uniq[:count], summed[:count]


# ---- elementwise: dropout, tanh' -------------------------------------------------------------------

@_jit
def _dropout(x, bits, threshold, scale, out, mask):
    for i in range(x.shape[0]):
        keep = scale if bits[i] >= threshold else 0.0
        mask[i] = keep
        out[i] = x[i] * keep


def dropout(x: np.ndarray, bits: np.ndarray, threshold: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """(x * mask, mask) with mask = scale where a 16-bit random draw >= threshold, else 0. One pass."""
    out, mask = np.empty_like(x), np.empty_like(x)
    _dropout(x.reshape(-1), bits.reshape(-1), np.uint16(threshold), x.dtype.type(scale), out.reshape(-1),
             mask.reshape(-1))
    return out, mask


@_jit
def _tanh_backward(grad, t, out):
    for i in range(grad.shape[0]):
        out[i] = grad[i] * (1 - t[i] * t[i])


def tanh_backward(grad: np.ndarray, t: np.ndarray) -> np.ndarray:
    """grad * (1 - t^2), one pass, no temporaries."""
    out = np.empty_like(t)
    _tanh_backward(np.ascontiguousarray(grad, dtype=t.dtype).reshape(-1), t.reshape(-1), out.reshape(-1))
    return out


# ---- fused softmax cross-entropy ----------------------------------------------------------------

@_jit
def _softmax_xent_forward(logits, targets, probs, losses):
    n, k = logits.shape
    for i in range(n):
        m = logits[i, 0]
        for j in range(1, k):
            if logits[i, j] > m:
                m = logits[i, j]
        total = 0.0
        for j in range(k):
            e = math.exp(logits[i, j] - m)
            probs[i, j] = e
            total += e
        for j in range(k):
            probs[i, j] /= total
        # -log softmax[target] = log(sum exp(z - m)) - (z_t - m): finite for any finite logits
        losses[i] = math.log(total) - (logits[i, targets[i]] - m)


def softmax_xent_forward(logits: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-row cross-entropy of softmax(logits) against integer targets, and the softmax itself."""
    probs = np.empty_like(logits)
    losses = np.empty(len(logits), dtype=np.float64)
    _softmax_xent_forward(logits, targets, probs, losses)
    return losses, probs


@_jit
def _softmax_xent_backward(probs, targets, weights, out):
    n, k = probs.shape
    for i in range(n):
        w = weights[i]
        for j in range(k):
            out[i, j] = probs[i, j] * w
        out[i, targets[i]] -= w


def softmax_xent_backward(probs: np.ndarray, targets: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """d loss / d logits = (softmax - onehot(target)) * weight of each row."""
    out = np.empty_like(probs)
    _softmax_xent_backward(probs, targets, weights.astype(probs.dtype, copy=False), out)
    return out


# ---- optimizer updates ---------------------------------------------------------------------------

@_jit
def _adam_dense(p, g, m, v, step, beta1, beta2, eps, inv_sqrt_bc2, decay_lr):
    one = np.float32(1.0)
    for i in range(p.shape[0]):
        gi = g[i]
        mi = beta1 * m[i] + (one - beta1) * gi
        vi = beta2 * v[i] + (one - beta2) * gi * gi
        m[i] = mi
        v[i] = vi
        p[i] = p[i] - step * mi / (math.sqrt(vi) * inv_sqrt_bc2 + eps) - decay_lr * p[i]


def _adam_scalars(p, lr, beta1, beta2, eps, bc1, bc2, decay):
    """The update's constants in the parameter's precision (float32 loops vectorize; mixed ones do not).

    lr * m_hat / (sqrt(v_hat) + eps) with m_hat = m / bc1, v_hat = v / bc2 is computed as
    (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps), as PyTorch does."""
    t = p.dtype.type
    return t(lr / bc1), t(beta1), t(beta2), t(eps), t(1.0 / math.sqrt(bc2)), t(lr * decay)


def adam_dense(p, g, m, v, lr, beta1, beta2, eps, bc1, bc2, decay) -> None:
    """One Adam step over whole arrays, in place (all arrays flattened views of the same size)."""
    _adam_dense(p.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1),
                *_adam_scalars(p, lr, beta1, beta2, eps, bc1, bc2, decay))


@_jit
def _adam_rows(p, rows, g, m, v, step, beta1, beta2, eps, inv_sqrt_bc2, decay_lr):
    one = np.float32(1.0)
    d = p.shape[1]
    for i in range(rows.shape[0]):
        r = rows[i]
        for k in range(d):
            gi = g[i, k]
            mi = beta1 * m[r, k] + (one - beta1) * gi
            vi = beta2 * v[r, k] + (one - beta2) * gi * gi
            m[r, k] = mi
            v[r, k] = vi
            p[r, k] = p[r, k] - step * mi / (math.sqrt(vi) * inv_sqrt_bc2 + eps) - decay_lr * p[r, k]


def adam_rows(p, rows, g, m, v, lr, beta1, beta2, eps, bc1, bc2, decay) -> None:
    """Adam on the listed rows only (rows unique); other rows and their moments are left alone."""
    _adam_rows(p, rows, g, m, v, *_adam_scalars(p, lr, beta1, beta2, eps, bc1, bc2, decay))


@_jit
def _sgd_dense(p, g, buf, lr, momentum, decay):
    for i in range(p.shape[0]):
        step = g[i] + decay * p[i]
        if momentum != 0.0:
            buf[i] = momentum * buf[i] + step
            step = buf[i]
        p[i] -= lr * step


def sgd_dense(p, g, buf, lr, momentum, decay) -> None:
    """p -= lr * (g + decay p), through a momentum buffer when momentum > 0 (in place)."""
    _sgd_dense(p.reshape(-1), g.reshape(-1), buf.reshape(-1), lr, momentum, decay)


@_jit
def _sgd_rows(p, rows, g, buf, lr, momentum, decay):
    d = p.shape[1]
    for i in range(rows.shape[0]):
        r = rows[i]
        for k in range(d):
            step = g[i, k] + decay * p[r, k]
            if momentum != 0.0:
                buf[r, k] = momentum * buf[r, k] + step
                step = buf[r, k]
            p[r, k] -= lr * step


def sgd_rows(p, rows, g, buf, lr, momentum, decay) -> None:
    """SGD on the listed rows only (rows unique)."""
    _sgd_rows(p, rows, g, buf, lr, momentum, decay)


@_jit
def _sum_squares(x):
    total = 0.0
    for i in range(x.shape[0]):
        v = np.float64(x[i])  # square in float64 (numba's float() keeps float32): a float32 square overflows
        total += v * v
    return total


def sum_squares(x: np.ndarray) -> float:
    """Sum of squares in float64 (for gradient norms)."""
    return float(_sum_squares(np.ascontiguousarray(x).reshape(-1)))


# ---- chain decoding --------------------------------------------------------------------------------

@_jit
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
    if len(scores) < SMALL:
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


@_jit
def _crf_nll(scores, lengths, targets, start, trans, end, g_scores, g_start, g_trans, g_end, alpha, beta, tmp):
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
        for i in range(k):  # backward: beta[t, i] = log sum over continuations from i at t
            beta[n - 1, i] = end[i]
        for t in range(n - 2, -1, -1):
            for i in range(k):
                for j in range(k):
                    tmp[j] = trans[i, j] + scores[at + t + 1, j] + beta[t + 1, j]
                beta[t, i] = _logsumexp(tmp, k)
        gold = start[targets[at]] + end[targets[at + n - 1]]
        for t in range(n):  # expected minus observed counts
            y = targets[at + t]
            gold += scores[at + t, y]
            for j in range(k):
                g_scores[at + t, j] += math.exp(alpha[t, j] + beta[t, j] - log_z)
            g_scores[at + t, y] -= 1.0
            if t > 0:
                gold += trans[targets[at + t - 1], y]
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
        total += log_z - gold
        at += n
    return total


def crf_nll(scores, lengths, targets, start, trans, end):
    """Negative log-likelihood of the target paths under a linear-chain CRF, summed over the chains,
    and its gradients (marginals minus observed counts) for scores, start, trans and end."""
    lengths = np.ascontiguousarray(lengths, dtype=np.int64)
    k = scores.shape[1]
    longest = max(int(lengths.max()) if len(lengths) else 1, 1)
    f64 = np.float64
    g_scores, g_start = np.zeros(scores.shape, f64), np.zeros(k, f64)
    g_trans, g_end = np.zeros((k, k), f64), np.zeros(k, f64)
    total = _crf_nll(np.ascontiguousarray(scores, dtype=f64), lengths, np.ascontiguousarray(targets, np.int64),
                     start.astype(f64), trans.astype(f64), end.astype(f64), g_scores, g_start, g_trans, g_end,
                     np.empty((longest, k), f64), np.empty((longest, k), f64), np.empty(k, f64))
    return total, g_scores, g_start, g_trans, g_end


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


@_jit
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
    if len(scores) < SMALL:
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
