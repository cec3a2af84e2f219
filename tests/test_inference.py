"""The tagging forward pass by token types (nerwin.inference, WindowModel.infer / infer_types).

Run both ways like the engine's kernels: with the JIT on, and with NUMBA_DISABLE_JIT=1.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nerwin import inference
from nerwin.autodiff.tensor import no_grad
from nerwin.model import WindowModel

FAST = settings(deadline=None, max_examples=25)


def _windows(rng, n, w, vocab):
    return [rng.integers(0, v, size=(n, w)) for v in vocab]


@FAST
@given(n=st.integers(1, 40), w=st.integers(1, 5), vocab=st.lists(st.integers(1, 4), min_size=1, max_size=3),
       seed=st.integers(0, 10_000))
def test_window_types_numbers_exactly_the_distinct_id_tuples(n, w, vocab, seed):
    """Few ids per column: types repeat a lot and the hash table probes past collisions."""
    windows = _windows(np.random.default_rng(seed), n, w, vocab)
    inv = np.empty((n, w), dtype=np.int32)
    k, ids, first = inference.window_types(windows, {}, inv)
    slots = np.stack([x.reshape(-1) for x in windows], axis=1)  # (n*w, C) one id tuple per slot
    assert k == len(np.unique(slots, axis=0))
    assert sorted(set(inv.reshape(-1).tolist())) == list(range(k))  # numbered 0..k-1
    for j in range(k):  # type j: the tuple of its first slot, and every slot with that tuple
        np.testing.assert_array_equal(slots[first[j]], [column[first[j]] for column in ids])
        same = (slots == slots[first[j]]).all(axis=1)
        np.testing.assert_array_equal(same, inv.reshape(-1) == j)


@FAST
@given(n=st.integers(1, 30), w=st.integers(1, 5), n_types=st.integers(1, 12), seed=st.integers(0, 10_000))
def test_renumber_keeps_first_appearance_order_and_leaves_its_scratch_clean(n, w, n_types, seed):
    rng = np.random.default_rng(seed)
    ws: dict = {}
    for _ in range(2):  # the second call reuses the scratch array: it must be clean again
        types = rng.integers(0, n_types, size=(n, w))
        inv = np.empty((n, w), dtype=np.int32)
        k, first = inference.renumber(types, n_types, ws, inv)
        order = list(dict.fromkeys(types.reshape(-1).tolist()))
        assert k == len(order) and first[:k].tolist() == order
        np.testing.assert_array_equal(first[inv], types)
        assert (ws["renumber_seen"] == -1).all()


@pytest.mark.parametrize("w", [3, 5])  # the general kernel, and the one-pass kernel of 5-word windows
def test_window_sum_adds_each_slots_block_to_the_bias(w):
    rng = np.random.default_rng(0)
    n, h, k = 7, 4, 5
    inv = rng.integers(0, k, size=(n, w)).astype(np.int32)
    projected = rng.normal(size=(k, w * h)).astype(np.float32)
    bias = rng.normal(size=h).astype(np.float32)
    out = np.empty((n, h), dtype=np.float32)
    inference.window_sum(inv, projected, bias, out)
    expected = bias + sum(projected[inv[:, p], p * h:(p + 1) * h] for p in range(w))
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)
    if w == 5:  # the same sums in the same order as the general kernel: equal to the bit
        general = np.empty_like(out)
        inference._window_sum(inv, projected, bias, general)
        np.testing.assert_array_equal(out, general)


@pytest.mark.parametrize("n", [3, 600, 2600])  # numpy path, by types on one thread, by types split over threads
def test_infer_by_types_equals_the_graph_forward_with_many_repeated_tokens(n):
    rng = np.random.default_rng(n)
    model = WindowModel([40, 7, 9], [6, 2, 3], 5, 24, 9, "tanh", 0.5, rng, crf=True).eval()
    stream = [rng.integers(0, v, size=n + 4) for v in (5, 3, 2)]  # few distinct tokens: types repeat
    windows = [np.lib.stride_tricks.sliding_window_view(s, 5).copy() for s in stream]
    with no_grad():
        expected = model(windows).data
    np.testing.assert_allclose(model.infer(windows, {}), expected, rtol=1e-5, atol=1e-5)

    # the same windows as token types: a type per distinct id tuple, in any numbering
    tuples, types = np.unique(np.stack(stream, axis=1), axis=0, return_inverse=True)
    slot_types = np.lib.stride_tricks.sliding_window_view(types.reshape(-1), 5).copy()
    got = model.infer_types(slot_types, np.ascontiguousarray(tuples.T), {})
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_a_workspace_follows_new_weights_once_its_cached_layout_is_dropped():
    rng = np.random.default_rng(3)
    model = WindowModel([30, 7], [4, 2], 5, 16, 9, "tanh", 0.0, rng).eval()
    windows = _windows(rng, 800, 5, [30, 7])
    ws: dict = {}
    model.infer(windows, ws)
    model.hidden.weight.data *= 2  # in place, as an optimizer step does
    ws.pop("slot_weights_of")  # what Tagger.scores does at every call
    with no_grad():
        expected = model(windows).data
    np.testing.assert_allclose(model.infer(windows, ws), expected, rtol=1e-5, atol=1e-5)


def _stream_windows(rng, n, vocab=(5, 3, 2)):
    """A stream of few distinct tokens as windows and as token types (np.unique numbering)."""
    stream = [rng.integers(0, v, size=n + 4) for v in vocab]
    windows = [np.lib.stride_tricks.sliding_window_view(s, 5).copy() for s in stream]
    tuples, types = np.unique(np.stack(stream, axis=1), axis=0, return_inverse=True)
    slot_types = np.lib.stride_tricks.sliding_window_view(types.reshape(-1), 5).copy()
    return windows, slot_types, np.ascontiguousarray(tuples.T)


@pytest.mark.parametrize("budget", [None, 3 * 4 * 5 * 24])  # room for many types, or for 3 rows of 5 x 24
def test_projections_kept_between_batches_give_the_forward_scores(budget, monkeypatch):
    from nerwin import model as model_module

    if budget is not None:
        monkeypatch.setattr(model_module._Projections, "BYTES", budget)
    rng = np.random.default_rng(7)
    model = WindowModel([40, 7, 9], [6, 2, 3], 5, 24, 9, "tanh", 0.5, rng, crf=True).eval()
    ws: dict = {}
    named: set[int] = set()
    for n in (700, 900, 2600, 800):  # later batches find earlier batches' types kept
        windows, slot_types, type_ids = _stream_windows(rng, n)
        keys = type_ids[0] * 100 + type_ids[1] * 10 + type_ids[2]  # lasting names: the same tuple, the same key
        keys[::4] = -1  # types without a lasting name are never kept
        named |= set(keys[keys >= 0].tolist())
        with no_grad():
            expected = model(windows).data
        np.testing.assert_allclose(model.infer_types(slot_types, type_ids, ws, keys), expected, rtol=1e-5, atol=1e-5)
        cache = ws["projections"]
        assert cache.used <= cache.capacity
        assert set(np.flatnonzero(cache.slot >= 0).tolist()) <= named
    assert cache.used == 3 if budget is not None else cache.used > 3


def test_kept_projections_are_dropped_with_new_weights():
    rng = np.random.default_rng(8)
    model = WindowModel([40, 7, 9], [6, 2, 3], 5, 24, 9, "tanh", 0.0, rng).eval()
    windows, slot_types, type_ids = _stream_windows(rng, 1500)
    keys = type_ids[0] * 100 + type_ids[1] * 10 + type_ids[2]
    ws: dict = {}
    for _ in range(2):
        model.infer_types(slot_types, type_ids, ws, keys)
    assert ws["projections"].used > 0
    model.hidden.weight.data *= 0.5
    ws.pop("slot_weights_of")  # as Tagger.scores does for a tagger whose weights may change
    with no_grad():
        expected = model(windows).data
    np.testing.assert_allclose(model.infer_types(slot_types, type_ids, ws, keys), expected, rtol=1e-5, atol=1e-5)
