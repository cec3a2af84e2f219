"""Numba kernels of the first layer by token types (see `nerwin.fast.forward`).

A token type is a distinct token of a batch: the tuple of its ids in every feature column. These kernels
number the token types of a batch of windows, gather each type's embeddings once, and sum the projected
rows of a window's w slots.
"""
from __future__ import annotations

import numpy as np

from ..autodiff import jit as _jit


@_jit
def _window_types(ids, slots, first, inv):
    n_cols, n, w = ids.shape
    mask = slots.shape[0] - 1
    slots[:] = -1
    k = 0
    for i in range(n):
        for p in range(w):
            h = 2166136261  # FNV-1a over the column ids, kept to 32 bits (no overflow, with or without JIT)
            for c in range(n_cols):
                h = ((h ^ int(ids[c, i, p])) * 16777619) & 0xFFFFFFFF
            s = h & mask
            while True:
                t = slots[s]
                if t < 0:  # a new type
                    slots[s] = k
                    first[k] = i * w + p
                    inv[i, p] = k
                    k += 1
                    break
                fi, fp = divmod(first[t], w)
                same = True
                for c in range(n_cols):
                    if ids[c, fi, fp] != ids[c, i, p]:
                        same = False
                        break
                if same:
                    inv[i, p] = t
                    break
                s = (s + 1) & mask
    return k


@_jit
def _type_rows(table, ids, first, k, out, col):
    d = table.shape[1]
    for t in range(k):
        r = ids[first[t]]
        for j in range(d):
            out[t, col + j] = table[r, j]


def window_types(windows: list[np.ndarray], workspace: dict, inv: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """Number the distinct token types of a batch of windows, a type being the tuple of one window
    slot's ids in every column: (windows[0][i, p], ..., windows[C-1][i, p]). Fills inv (n, w) with each
    slot's type number and returns (k, ids, first): type t has ids[c][first[t]] in column c.
    `workspace` keeps the scratch arrays (an open-addressing hash table over the slots) between calls."""
    n, w = windows[0].shape
    size = 1 << (2 * n * w).bit_length()  # a power of two, over twice the slot count
    ids, slots = workspace.get("type_ids"), workspace.get("type_slots")
    if slots is None or slots.shape[0] < size or ids.shape[0] != len(windows):
        ids = workspace["type_ids"] = np.empty((len(windows), size // 2), dtype=np.int32)
        slots = workspace["type_slots"] = np.empty(size, dtype=np.int32)
        workspace["type_first"] = np.empty(size // 2, dtype=np.int64)
    first = workspace["type_first"]
    ids = ids[:, :n * w].reshape(len(windows), n, w)
    for c, window in enumerate(windows):
        ids[c] = window
    k = int(_window_types(ids, slots[:size], first, inv))
    return k, ids.reshape(len(windows), -1), first


@_jit
def _renumber(types, seen, inv, first):
    n, w = types.shape
    k = 0
    for i in range(n):
        for p in range(w):
            t = types[i, p]
            if seen[t] < 0:
                seen[t] = k
                first[k] = t
                k += 1
            inv[i, p] = seen[t]
    for j in range(k):
        seen[first[j]] = -1
    return k


def renumber(types: np.ndarray, n_types: int, workspace: dict, inv: np.ndarray) -> tuple[int, np.ndarray]:
    """The types of a batch of windows, numbered 0..k-1 in order of appearance: fills inv (n, w) and
    returns (k, first) with first[j] the original number of type j."""
    seen = workspace.get("renumber_seen")
    if seen is None or seen.shape[0] < n_types:
        seen = workspace["renumber_seen"] = np.full(n_types, -1, dtype=np.int64)
    first = workspace.get("renumber_first")
    if first is None or first.shape[0] < types.size:
        first = workspace["renumber_first"] = np.empty(types.size, dtype=np.int64)
    return int(_renumber(types, seen, inv, first)), first


def type_embeddings(tables: list[np.ndarray], ids: list[np.ndarray], first: np.ndarray, k: int,
                    out: np.ndarray) -> np.ndarray:
    """out[j] = every column's embedding of type j side by side: tables[c][ids[c][first[j]]]."""
    col = 0
    for table, column in zip(tables, ids):
        _type_rows(table, column, first, k, out, col)
        col += table.shape[1]
    return out[:k]


@_jit
def _window_sum(inv, projected, bias, out):
    n, w = inv.shape
    h = out.shape[1]
    for i in range(n):
        for j in range(h):
            out[i, j] = bias[j]
        for p in range(w):
            r = inv[i, p]
            for j in range(h):
                out[i, j] += projected[r, p * h + j]


@_jit
def _window_sum_5(inv, projected, bias, out):
    n = inv.shape[0]
    h = out.shape[1]
    for i in range(n):
        r0, r1, r2, r3, r4 = inv[i, 0], inv[i, 1], inv[i, 2], inv[i, 3], inv[i, 4]
        for j in range(h):  # the same additions in the same order as _window_sum, in one pass
            out[i, j] = (bias[j] + projected[r0, j] + projected[r1, h + j] + projected[r2, 2 * h + j]
                         + projected[r3, 3 * h + j] + projected[r4, 4 * h + j])


@_jit
def _window_sum_two(inv, projected, inv2, projected2, bias, out):
    n, w = inv.shape
    h = out.shape[1]
    for i in range(n):
        for j in range(h):
            out[i, j] = bias[j]
        for p in range(w):
            r, r2 = inv[i, p], inv2[i, p]
            for j in range(h):
                out[i, j] += projected[r, p * h + j] + projected2[r2, p * h + j]


@_jit
def _window_sum_two_5(inv, projected, inv2, projected2, bias, out):
    n = inv.shape[0]
    h = out.shape[1]
    for i in range(n):
        r0, r1, r2, r3, r4 = inv[i, 0], inv[i, 1], inv[i, 2], inv[i, 3], inv[i, 4]
        s0, s1, s2, s3, s4 = inv2[i, 0], inv2[i, 1], inv2[i, 2], inv2[i, 3], inv2[i, 4]
        for j in range(h):  # the same additions in the same order as _window_sum_two, in one pass
            out[i, j] = (bias[j] + (projected[r0, j] + projected2[s0, j])
                         + (projected[r1, h + j] + projected2[s1, h + j])
                         + (projected[r2, 2 * h + j] + projected2[s2, 2 * h + j])
                         + (projected[r3, 3 * h + j] + projected2[s3, 3 * h + j])
                         + (projected[r4, 4 * h + j] + projected2[s4, 4 * h + j]))


def window_sum_two(inv: np.ndarray, projected: np.ndarray, inv2: np.ndarray, projected2: np.ndarray,
                   bias: np.ndarray, out: np.ndarray) -> None:
    """`window_sum` of two sets of projections in one pass: out[i] = bias + sum_p (projected[inv[i, p]]
    + projected2[inv2[i, p]])'s block p (a two-pass model's second network: token types and document
    key combinations; `nerwin.fast.second_pass`). Five slots (the default window) read side by side, as
    `window_sum` does."""
    (_window_sum_two_5 if inv.shape[1] == 5 else _window_sum_two)(inv, projected, inv2, projected2, bias, out)


def window_sum(inv: np.ndarray, projected: np.ndarray, bias: np.ndarray, out: np.ndarray) -> None:
    """out[i] = bias + sum_p projected[inv[i, p], p*h:(p+1)*h]: each window's first-layer pre-activation
    from the (k, w*h) projections of its token types, h = out.shape[1].

    The projections are read from memory at random rows; reading a window's 5 rows side by side (the
    default window: 2 words each side) instead of one after another took ~30% less time on 8,192
    windows of a 7,000-type table. Both give the same floats (tested)."""
    (_window_sum_5 if inv.shape[1] == 5 else _window_sum)(inv, projected, bias, out)


# what each path of `Forward` runs first; loaded together by any big batch (see `nerwin.decode.small`)
WINDOWS_KERNELS = (_window_types, _type_rows)
TYPES_KERNELS = (_renumber, _type_rows)
SECOND_PASS_KERNELS = (_renumber, _type_rows, _window_sum_two_5)  # of the default window
