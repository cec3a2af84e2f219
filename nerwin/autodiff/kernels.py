"""Numba kernels for the hot paths: gathers, scatter-adds, dropout, the fused softmax cross-entropy,
optimizer updates; and `jit`, the decorator that compiles them.

The only module that imports numba. Each kernel is a module-level `@jit` function that fills a
preallocated output; a thin Python wrapper allocates and calls it. Plain `numba.njit` underneath, so
`NUMBA_DISABLE_JIT=1` runs exactly this code as Python (for tests and coverage).

No kernel here uses `prange`: scatter-adds write shared rows, and the rest are memory-bound loops
that one core saturates. Big matrix products are not here; numpy hands them to BLAS.

Compiled code is cached on disk (`cache=True`) so a new process does not recompile. Caching can never
break import: if the package folder is not writable (a read-only install), the cache goes to a user
cache folder; if no folder is writable, or numba still cannot cache, the kernels compile uncached.
numba itself is imported on the first kernel call, not on import.
"""
from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import numpy as np


def _choose_cache_dir() -> None:
    """Point numba's cache at a writable folder when the package folder is not (must run before import)."""
    if os.environ.get("NUMBA_CACHE_DIR") or os.access(Path(__file__).parent, os.W_OK):
        return  # chosen by the user, or numba's default (next to this file) works
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


def _compile(fn):
    """`numba.njit(cache=True)`, falling back to no cache if numba can find nowhere to cache.

    error_model="numpy": a division by zero gives inf/nan as in numpy instead of raising, which lets
    LLVM vectorize loops that divide (the Adam update runs ~5x faster). nogil: a caller may run a
    kernel on disjoint parts of its arrays from several threads at once."""
    import numba

    try:
        return numba.njit(cache=True, error_model="numpy", nogil=True)(fn)
    except Exception:  # e.g. "cannot cache function ...: no locator available" on read-only installs
        return numba.njit(cache=False, error_model="numpy", nogil=True)(fn)


class Kernel:
    """A function compiled by numba (or loaded from its disk cache) on its first call; see `jit`."""

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

    @property
    def loaded(self) -> bool:
        """Whether this process has the compiled code already (a call now pays no compile and no load)."""
        return self._dispatcher is not None

    def __call__(self, *args):
        return (self._dispatcher or self.dispatcher)(*args)


def jit(fn) -> Kernel:
    """Decorate a module-level function of loops over numpy arrays to make it a Numba kernel.

    Nothing happens on import: the first call imports numba and compiles `fn` (or loads it from the disk
    cache, see above) with `numba.njit(cache=True, error_model="numpy", nogil=True)`; later calls go
    straight to the compiled code. Every kernel of this module is made this way, and code outside the
    stack uses it too, so that it need not import numba itself. `kernel.py_func` is the plain function.
    """
    return Kernel(fn)


# ---- gathers and scatter-adds -----------------------------------------------------------------------

@jit
def _window_gather(table, idx, out, col):
    n, w = idx.shape
    d = table.shape[1]
    for i in range(n):
        for j in range(w):
            r = idx[i, j]
            for k in range(d):
                out[i, col + j * d + k] = table[r, k]


@jit
def _window_rows(grad, col, w, d, out):
    n = grad.shape[0]
    for i in range(n):
        for j in range(w):
            for k in range(d):
                out[i * w + j, k] = grad[i, col + j * d + k]


FEW_ROWS = 128  # window gathers of fewer rows index with numpy instead (see window_gather)


def window_gather(tables: list[np.ndarray], indices: list[np.ndarray], out: np.ndarray | None = None) -> np.ndarray:
    """Each table's window rows side by side, the tables one after another:
    out[i] = [table0[idx0[i, 0]], ..., table0[idx0[i, w-1]], table1[idx1[i, 0]], ...].

    Fewer than FEW_ROWS rows take numpy's fancy indexing instead of the kernel. Measured on windows of
    5 over 2 tables (50 and 5 columns) and over 9 tables (5 to 50 columns), best of 30 alternating runs:
    once compiled, the kernel is as fast as numpy on 2 tables and 1.3-1.6x faster on 9, at every size;
    but below 128 rows that saves at most ~25 us a call, while the kernel's first call costs ~1 s
    (numba's import and loading the compiled code). So a program that only gathers a few rows never
    loads numba, and batches of 128 rows or more take the kernel."""
    n = indices[0].shape[0]
    if n < FEW_ROWS:
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


@jit
def _scatter_add_rows(out, rows, values):
    d = out.shape[1]
    for i in range(rows.shape[0]):
        r = rows[i]
        for k in range(d):
            out[r, k] += values[i, k]


def scatter_add_rows(out: np.ndarray, rows: np.ndarray, values: np.ndarray) -> None:
    """out[rows[i]] += values[i] for each i, in place (repeated rows add up). Serial on purpose."""
    _scatter_add_rows(out, rows, values.reshape(len(rows), out.shape[1]).astype(out.dtype, copy=False))


@jit
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

@jit
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


@jit
def _tanh_backward(grad, t, out):
    for i in range(grad.shape[0]):
        out[i] = grad[i] * (1 - t[i] * t[i])


def tanh_backward(grad: np.ndarray, t: np.ndarray) -> np.ndarray:
    """grad * (1 - t^2), one pass, no temporaries."""
    out = np.empty_like(t)
    _tanh_backward(np.ascontiguousarray(grad, dtype=t.dtype).reshape(-1), t.reshape(-1), out.reshape(-1))
    return out


# ---- fused softmax cross-entropy ----------------------------------------------------------------

@jit
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


@jit
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

@jit
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


@jit
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


@jit
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


@jit
def sgd_rows(p, rows, g, buf, lr, momentum, decay):
    """SGD on the listed rows only (rows unique), in place (called directly: it has nothing to allocate)."""
    d = p.shape[1]
    for i in range(rows.shape[0]):
        r = rows[i]
        for k in range(d):
            step = g[i, k] + decay * p[r, k]
            if momentum != 0.0:
                buf[r, k] = momentum * buf[r, k] + step
                step = buf[r, k]
            p[r, k] -= lr * step


@jit
def _sum_squares(x):
    total = 0.0
    for i in range(x.shape[0]):
        v = np.float64(x[i])  # square in float64 (numba's float() keeps float32): a float32 square overflows
        total += v * v
    return total


def sum_squares(x: np.ndarray) -> float:
    """Sum of squares in float64 (for gradient norms)."""
    return float(_sum_squares(np.ascontiguousarray(x).reshape(-1)))
