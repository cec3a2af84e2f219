"""The speed wing (`nerwin.fast`): every piece equals the plain path it replaces.

Run both ways like the engine's kernels: with the JIT on, and with NUMBA_DISABLE_JIT=1.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nerwin
from nerwin.autodiff.tensor import no_grad
from nerwin.documents import word_keys
from nerwin.fast import Forward, Preparer, token_types
from nerwin.fast import forward as forward_module
from nerwin.model import WindowModel
from nerwin.tagger import Tagger
from tests.helpers import SENTENCE

FAST = settings(deadline=None, max_examples=25)


def both_paths(monkeypatch):
    """Yield twice: with the numpy twins forced for small batches, then with the kernels forced (which one a
    small batch takes otherwise depends on what this process has loaded; see `nerwin.decode.small`)."""
    for twins in (True, False):
        monkeypatch.setattr(forward_module, "small", lambda rows, *kernels, twins=twins: twins and rows < 512)
        yield twins
    monkeypatch.undo()


def _windows(rng, n, w, vocab):
    return [rng.integers(0, v, size=(n, w)) for v in vocab]


# ---- the kernels of token types ----------------------------------------------------------------

@FAST
@given(n=st.integers(1, 40), w=st.integers(1, 5), vocab=st.lists(st.integers(1, 4), min_size=1, max_size=3),
       seed=st.integers(0, 10_000))
def test_window_types_numbers_exactly_the_distinct_id_tuples(n, w, vocab, seed):
    """Few ids per column: types repeat a lot and the hash table probes past collisions."""
    windows = _windows(np.random.default_rng(seed), n, w, vocab)
    inv = np.empty((n, w), dtype=np.int32)
    k, ids, first = token_types.window_types(windows, {}, inv)
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
        k, first = token_types.renumber(types, n_types, ws, inv)
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
    token_types.window_sum(inv, projected, bias, out)
    expected = bias + sum(projected[inv[:, p], p * h:(p + 1) * h] for p in range(w))
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)
    if w == 5:  # the same sums in the same order as the general kernel: equal to the bit
        general = np.empty_like(out)
        token_types._window_sum(inv, projected, bias, general)
        np.testing.assert_array_equal(out, general)



@pytest.mark.parametrize("w", [3, 5])
def test_window_sum_two_adds_both_tables_blocks_to_the_bias(w):
    rng = np.random.default_rng(1)
    n, h, k, k2 = 9, 4, 5, 3
    inv = rng.integers(0, k, size=(n, w)).astype(np.int32)
    inv2 = rng.integers(0, k2, size=(n, w)).astype(np.int32)
    projected = rng.normal(size=(k, w * h)).astype(np.float32)
    projected2 = rng.normal(size=(k2, w * h)).astype(np.float32)
    bias = rng.normal(size=h).astype(np.float32)
    out = np.empty((n, h), dtype=np.float32)
    token_types.window_sum_two(inv, projected, inv2, projected2, bias, out)
    expected = bias + sum(projected[inv[:, p], p * h:(p + 1) * h] + projected2[inv2[:, p], p * h:(p + 1) * h]
                          for p in range(w))
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    if w == 5:  # the same sums in the same order as the general kernel: equal to the bit
        general = np.empty_like(out)
        token_types._window_sum_two(inv, projected, inv2, projected2, bias, general)
        np.testing.assert_array_equal(out, general)


# ---- the forward equals the graph's forward pass ------------------------------------------------

def _stream_windows(rng, n, vocab=(5, 3, 2)):
    """A stream of few distinct tokens as windows and as token types (np.unique numbering)."""
    stream = [rng.integers(0, v, size=n + 4) for v in vocab]
    windows = [np.lib.stride_tricks.sliding_window_view(s, 5).copy() for s in stream]
    tuples, types = np.unique(np.stack(stream, axis=1), axis=0, return_inverse=True)
    slot_types = np.lib.stride_tricks.sliding_window_view(types.reshape(-1), 5).copy()
    return windows, slot_types, np.ascontiguousarray(tuples.T)


@pytest.mark.parametrize("activation", ["tanh", "relu", "hardtanh", "sigmoid"])
def test_fast_forward_equals_the_graph_forward(activation, monkeypatch):
    rng = np.random.default_rng(0)
    model = WindowModel([30, 7], [4, 2], 5, 16, 9, activation, 0.5, rng, input_dropout=0.3).eval()
    forward = Forward(model)
    for _ in both_paths(monkeypatch):
        for n in (3, 700, 2500, 5):  # numpy or kernels, by types, by types on row blocks in threads; buffers reused
            windows = _windows(rng, n, 5, [30, 7])
            with no_grad():
                expected = model(windows).data
            np.testing.assert_allclose(forward.windows(windows), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("n", [3, 600, 2600])  # numpy or kernels, by types on one thread, by types split over threads
def test_scores_by_token_types_equal_the_graph_forward_with_many_repeated_tokens(n, monkeypatch):
    rng = np.random.default_rng(n)
    model = WindowModel([40, 7, 9], [6, 2, 3], 5, 24, 9, "tanh", 0.5, rng, crf=True).eval()
    windows, slot_types, type_ids = _stream_windows(rng, n)
    with no_grad():
        expected = model(windows).data
    forward = Forward(model)
    for _ in both_paths(monkeypatch):
        np.testing.assert_allclose(forward.windows(windows), expected, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(forward.by_types(slot_types, type_ids), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("budget", [None, 3 * 4 * 5 * 24])  # room for many types, or for 3 rows of 5 x 24
def test_projections_kept_between_batches_give_the_forward_scores(budget, monkeypatch):
    if budget is not None:
        monkeypatch.setattr(forward_module.KeptProjections, "BYTES", budget)
    rng = np.random.default_rng(7)
    model = WindowModel([40, 7, 9], [6, 2, 3], 5, 24, 9, "tanh", 0.5, rng, crf=True).eval()
    forward = Forward(model)
    named: set[int] = set()
    for n in (700, 900, 2600, 800):  # later batches find earlier batches' types kept
        windows, slot_types, type_ids = _stream_windows(rng, n)
        keys = type_ids[0] * 100 + type_ids[1] * 10 + type_ids[2]  # lasting names: the same tuple, the same key
        keys[::4] = -1  # types without a lasting name are never kept
        named |= set(keys[keys >= 0].tolist())
        with no_grad():
            expected = model(windows).data
        np.testing.assert_allclose(forward.by_types(slot_types, type_ids, keys), expected, rtol=1e-5, atol=1e-5)
        kept = forward._workspace().kept
        assert kept.used <= kept.capacity
        assert set(np.flatnonzero(kept.slot >= 0).tolist()) <= named
    assert kept.used == 3 if budget is not None else kept.used > 3


def test_fast_forward_keeps_the_weights_it_was_made_with():
    rng = np.random.default_rng(8)
    model = WindowModel([40, 7, 9], [6, 2, 3], 5, 24, 9, "tanh", 0.0, rng).eval()
    windows, slot_types, type_ids = _stream_windows(rng, 1500)
    keys = type_ids[0] * 100 + type_ids[1] * 10 + type_ids[2]
    with no_grad():
        before = model(windows).data
    forward = Forward(model)
    forward.by_types(slot_types, type_ids, keys)
    model.hidden.weight.data *= 0.5  # in place, as an optimizer step does
    np.testing.assert_allclose(forward.by_types(slot_types, type_ids, keys), before, rtol=1e-5, atol=1e-5)
    with no_grad():
        after = model(windows).data
    np.testing.assert_allclose(Forward(model).by_types(slot_types, type_ids, keys), after, rtol=1e-5, atol=1e-5)


# ---- the preparer and the whole fast path equal the plain path ---------------------------------

def _plain(tagger: Tagger) -> Tagger:
    return Tagger(tagger.featurizer, tagger.model, tagger.tags, tagger.config, fast=False)


def _as_text(text):
    return text if isinstance(text, str) else " ".join(text)


def test_fast_tagging_gives_the_tokens_and_entities_of_the_plain_path(tiny_model):
    """On a big batch (the by-types forward), on repeats (every chunk memoized, projections kept), on
    single-spaced texts (done all at once) and texts mixed with token lists."""
    tagger = nerwin.load(tiny_model)  # a private tagger: fresh memos
    plain = _plain(tagger)
    rng = np.random.default_rng(0)
    words = SENTENCE.split() + ["Zorvath", "Quillon", "said", "in", "Velmora-based", "U.S.", "don't", "1,234.5"]
    texts = [" ".join(rng.choice(words, size=rng.integers(1, 25))) for _ in range(300)]
    texts += ["  Talvo\tBrenwick visited\nVelmora .", ""]
    for _ in range(2):  # the second time every chunk is found in the memo, and projections were kept
        assert tagger.tokens_and_entities(texts) == plain.tokens_and_entities(texts)
    single, mixed = texts[:300], [*texts[:3], ["Talvo", "Brenwick", "of", "Velmora"], "", *texts[3:6]]
    for batch in (single, mixed, single[::-1]):
        assert tagger.tag_texts(batch) == plain.tag_texts(batch)
        assert nerwin.load(tiny_model).tag_texts(batch) == tagger.tag_texts(batch)  # with no memo at all
    spans, _ = tagger.tokens_and_entities(mixed)
    assert spans[3] == [("Talvo", 0, 5), ("Brenwick", 6, 14), ("of", 15, 17), ("Velmora", 18, 25)]


@pytest.mark.parametrize("odd", ["\u200b", "\xa0", "\u2028", "\x1c", "\t", "\xad"])
def test_texts_with_unprintable_characters_or_unusual_whitespace_tag_as_the_plain_path(odd, tiny_model):
    """Whitespace other than a single space sends a batch to the chunk-by-chunk path; characters that
    are unprintable but not whitespace (zero-width space, soft hyphen) keep it on the batch path."""
    tagger = nerwin.load(tiny_model)
    texts = [f"Talvo{odd}Brenwick visited Velmora .", f"Quillon said{odd} Zorvath", f"{odd}Velmora", "Talvo ."]
    assert tagger.tokens_and_entities(texts) == _plain(tagger).tokens_and_entities(texts)


def test_prepared_ids_are_each_columns_key_of_each_token(tiny_model):
    feat = nerwin.load(tiny_model).featurizer
    tokens = ["Zorvath", "McDonald's", "1996-08-22", "ÉCOLE", "x", "Velmora-based", "Zorvath"]
    prepared = Preparer(feat).prepare([tokens], tokens=True)
    assert prepared.tokens == tokens
    enc = prepared.enc
    for c, ids in zip(feat.columns, enc.ids):
        assert ids[enc.positions].tolist() == [c.index.get(c.key(t), 1) for t in tokens], c.name
    plain = feat.encode([tokens])
    for a, b in zip(enc.ids, plain.ids):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(enc.type_windows(enc.positions)[:, enc.half], enc.types[enc.positions])


def _partition(keys) -> list[list[int]]:
    """Which positions share a key, whatever the keys' values."""
    groups: dict = {}
    for i, k in enumerate(np.asarray(keys).tolist()):
        groups.setdefault(k, []).append(i)
    return sorted(groups.values())


@pytest.mark.parametrize("kept", [1, 4, 500_000])
def test_the_preparers_word_keys_match_exactly_the_same_word_up_to_case_and_digits(monkeypatch, kept, tiny_model):
    """What a two-pass model's document columns compare: equal keys exactly for equal normal forms, in every
    call, also for rows past the kept limit (numbered for one call only)."""
    monkeypatch.setattr(Preparer, "ROWS_KEPT", kept)
    preparer = Preparer(nerwin.load(tiny_model).featurizer)
    calls = [["Velmora VELMORA velmora Velmor 1996 2017 Tam Tam", "Quillon quillon Velmora ."],
             ["Velmora met QUILLON in 1999 , velmora .", "Brenwick brenwick BRENWICK Velmora"],
             ["new NEW words Words 12 34"]]
    for texts in calls:
        prepared = preparer.prepare(texts, tokens=True)
        assert _partition(prepared.enc.words) == _partition(word_keys(prepared.tokens))
        assert prepared.enc.words.min() > 0 and len(prepared.enc.words) == len(prepared.tokens)


def test_a_call_interrupted_midway_leaves_the_memos_right(monkeypatch, tiny_model):
    """Ctrl-C while a batch is being tokenized: tokens already given rows must still get their ids."""
    from nerwin.fast import prepare

    monkeypatch.setattr(Preparer, "ROWS_KEPT", 1)  # and rows past the kept limit, handed out again next call
    tagger = nerwin.load(tiny_model)
    real, calls = prepare.chunk_tokens, []

    def interrupted(key):
        calls.append(key)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(key)

    monkeypatch.setattr(prepare, "chunk_tokens", interrupted)
    with pytest.raises(KeyboardInterrupt):
        tagger.tag_texts(["Zorvath Brenwick, Quillon visited Velmora-based Corp."])
    monkeypatch.setattr(prepare, "chunk_tokens", real)
    texts = ["Zorvath Quillon visited Velmora .", "Zorvath Brenwick, Quillon visited Velmora-based Corp."]
    assert tagger.tokens_and_entities(texts) == _plain(tagger).tokens_and_entities(texts)


def test_tokens_past_the_kept_limit_serve_one_call_only(monkeypatch, tiny_model):
    monkeypatch.setattr(Preparer, "ROWS_KEPT", 5)  # new tokens past the fifth get rows for one call only
    small = nerwin.load(tiny_model)
    plain = _plain(small)
    calls = [[f"Word{i}x{j} visited Velmora on Monday ." for j in range(40)] for i in range(3)]
    for texts in calls:
        assert small.tag_texts(texts) == plain.tag_texts(texts)
        assert small.tag_texts([t.split() for t in texts]) == plain.tag_texts([t.split() for t in texts])
