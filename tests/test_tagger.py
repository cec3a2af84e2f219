"""The Python API (load, tag text or tokens, entities with offsets) and IOB2-constrained decoding."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ner_helpers import SENTENCE, tiny_model, tiny_tagger

import nerwin
from nerwin.decode import allowed_transitions, decode
from nerwin.errors import NerwinError
from nerwin.tagger import Entity, Tagger
from nerwin.tags import TAGS_CONLL2003

FAST = settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])


def valid_iob2(tags: list[str]) -> bool:
    """No I-X at the start, after O, or after a tag of another type (written out, not nerwin's code)."""
    previous = "O"
    for tag in tags:
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            return False
        previous = tag
    return True


def test_valid_iob2_checker():
    assert valid_iob2(["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC"])
    assert not valid_iob2(["I-PER"])
    assert not valid_iob2(["O", "I-PER"])
    assert not valid_iob2(["B-PER", "I-LOC"])


# ---- loading and tagging ---------------------------------------------------------------------------

def test_load_in_one_line_and_tag_in_another():
    tagger = nerwin.load(tiny_model())
    assert isinstance(tagger, Tagger)
    assert [(e.text, e.label) for e in tagger(SENTENCE)] == [("Talvo Brenwick", "PER"), ("Velmora", "LOC")]


def test_entities_carry_offsets_into_the_original_string():
    text = "  Police in  Ostrel arrested Talvo Brenwick, of Greyfen Corp.  "
    entities = tiny_tagger()(text)
    assert entities and all(isinstance(e, Entity) for e in entities)
    for e in entities:
        assert text[e.start:e.end] == e.text
        assert 0.0 <= e.score <= 1.0
        assert e.to_dict() == {"text": e.text, "label": e.label, "start": e.start, "end": e.end,
                               "score": e.score}
    starts = [e.start for e in entities]
    assert starts == sorted(starts)


def test_a_list_of_texts_gives_a_list_of_entity_lists():
    texts = [SENTENCE, "", "Greyfen Corp said profits rose .", "   "]
    out = tiny_tagger()(texts)
    assert len(out) == len(texts)
    assert out[0] == tiny_tagger()(SENTENCE)
    assert out[1] == [] and out[3] == []
    assert [e.label for e in out[2]] == ["ORG"]
    assert tiny_tagger()([]) == []


def test_pre_split_tokens_get_offsets_in_the_space_joined_text():
    tokens = ["Talvo", "Brenwick", "visited", "Velmora", "."]
    [entities] = tiny_tagger().tag_texts([tokens])
    joined = " ".join(tokens)
    assert [(e.text, e.start, e.end) for e in entities] == [("Talvo Brenwick", 0, 14), ("Velmora", 23, 30)]
    assert all(joined[e.start:e.end] == e.text for e in entities)


def test_tag_tokens_gives_one_tag_per_token():
    sentences = [SENTENCE.split(), [], ["Greyfen", "Corp", "fell", "."], ["Velmora"]]
    tags = tiny_tagger().tag_tokens(sentences)
    assert [len(t) for t in tags] == [len(s) for s in sentences]
    assert tags[0] == ["B-PER", "I-PER", "O", "B-LOC", "O", "O", "O"]
    assert tags[2][:2] == ["B-ORG", "I-ORG"]
    assert tiny_tagger().tag_tokens([]) == []


def test_empty_text_gives_no_entities():
    assert tiny_tagger()("") == []
    assert tiny_tagger()(" \n\t ") == []


ODD = ["😀😀 Talvo 🇳🇴", "e\u0301te\u0301 Velmora\u0308", "\x00\x07\x1b[31m Ostrel", "שלום עולם Velmora",
       "\u202eVelmora\u202c", "مرحبا 123", "\ufeffTalvo", "a\u200bb", "x" * 5000, "- - - ... ***", "\r\n\r\n",
       "Ǆemal ǅ İstanbul ß ŉ", "\U0001d400\U0001d401 Brenwick"]


@pytest.mark.parametrize("text", ODD)
def test_odd_text_does_not_raise(text):
    entities = tiny_tagger()(text)
    for e in entities:
        assert text[e.start:e.end] == e.text


@FAST
@given(st.text(max_size=80))
def test_any_text_gives_entities_with_true_offsets(text):
    for e in tiny_tagger()(text):
        assert text[e.start:e.end] == e.text and e.text.strip() == e.text and e.text


TOY_WORDS = ["Talvo", "Brenwick", "Velmora", "Greyfen", "Corp", "Bank", "of", "New", "Port", "visited",
             "on", "Monday", ".", ",", "(", ")", "Velmoran", "Glimmer", "Cup", "said", "the", "in", "3"]
token = st.one_of(st.sampled_from(TOY_WORDS), st.text(min_size=1, max_size=12))


@FAST
@given(st.lists(st.lists(token, max_size=25), max_size=6))
def test_tag_tokens_always_valid_iob2(sentences):
    tagger = tiny_tagger()
    out = tagger.tag_tokens(sentences)
    assert [len(t) for t in out] == [len(s) for s in sentences]
    for tags in out:
        assert set(tags) <= set(tagger.tags)
        assert valid_iob2(tags), tags


def test_load_without_a_path_uses_nerwin_model(monkeypatch, tmp_path):
    monkeypatch.setenv("NERWIN_MODEL", str(tiny_model()))
    assert nerwin.load().tags == tiny_tagger().tags
    monkeypatch.setenv("NERWIN_MODEL", str(tmp_path / "absent"))
    with pytest.raises(NerwinError, match="absent"):
        nerwin.load()


def test_load_a_missing_or_non_folder_model(tmp_path):
    with pytest.raises(NerwinError, match="no such model"):
        nerwin.load(tmp_path / "nothing")
    (tmp_path / "file").write_text("x")
    with pytest.raises(NerwinError, match="folder"):
        nerwin.load(tmp_path / "file")


# ---- decoding --------------------------------------------------------------------------------------

TAGS = list(TAGS_CONLL2003)
START, TRANS = allowed_transitions(TAGS)


@st.composite
def scored_sentences(draw):
    """(scores (N, K), lengths) with N split into sentences, some of them empty."""
    lengths = draw(st.lists(st.integers(0, 12), min_size=1, max_size=6))
    n = sum(lengths)
    seed = draw(st.integers(0, 2**32 - 1))
    scale = draw(st.sampled_from([0.1, 1.0, 10.0, 1000.0]))
    scores = np.random.default_rng(seed).normal(0, scale, size=(n, len(TAGS)))
    return scores, np.array(lengths, dtype=np.int64)


def split(ids: np.ndarray, lengths: np.ndarray) -> list[list[str]]:
    out, at = [], 0
    for n in lengths:
        out.append([TAGS[i] for i in ids[at:at + n]])
        at += n
    return out


@settings(deadline=None, max_examples=300)
@given(scored_sentences())
def test_decode_always_valid_iob2(case):
    scores, lengths = case
    ids = decode(scores, lengths, START, TRANS)
    assert ids.shape == (len(scores),)
    for tags in split(ids, lengths):
        assert valid_iob2(tags), tags


@settings(deadline=None, max_examples=300)
@given(scored_sentences(), st.data())
def test_decode_is_argmax_when_argmax_is_valid(case, data):
    scores, lengths = case
    # Pick a valid IOB2 path per sentence and make it the argmax of every row.
    path = []
    for n in lengths:
        tags = data.draw(st.lists(st.sampled_from(TAGS), min_size=int(n), max_size=int(n)))
        path += [TAGS.index(t) for t in repair(tags)]
    rows = np.arange(len(scores))
    scores[rows, path] = scores.max(axis=1) + data.draw(st.floats(0.01, 5.0))
    assert decode(scores, lengths, START, TRANS).tolist() == path


def repair(tags: list[str]) -> list[str]:
    previous, out = "O", []
    for tag in tags:
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            tag = "B-" + tag[2:]
        out.append(tag)
        previous = tag
    return out


def test_decode_fixes_an_invalid_argmax():
    # argmax says O I-PER I-PER: decoding must not start an entity with I-.
    logp = np.log(np.array([[0.9, 0.02, 0.08, 0, 0, 0, 0, 0, 0],
                            [0.3, 0.3, 0.4, 0, 0, 0, 0, 0, 0],
                            [0.1, 0.1, 0.8, 0, 0, 0, 0, 0, 0]]) + 1e-9)
    tags = [TAGS[i] for i in decode(logp, np.array([3]), START, TRANS)]
    assert valid_iob2(tags) and tags == ["O", "B-PER", "I-PER"]


@pytest.mark.parametrize("activation", ["tanh", "relu", "hardtanh", "sigmoid"])
def test_numpy_inference_equals_the_graph_forward(activation):
    """Tagging runs `WindowModel.infer` (plain numpy, reused buffers); it must give `forward`'s scores."""
    from nerwin.autodiff.tensor import no_grad
    from nerwin.model import WindowModel

    rng = np.random.default_rng(0)
    model = WindowModel([30, 7], [4, 2], 5, 16, 9, activation, 0.5, rng, input_dropout=0.3).eval()
    workspace: dict = {}
    for n in (3, 700, 2500, 5):  # numpy path, kernel, kernel on row blocks in threads; buffers reused
        windows = [rng.integers(0, 30, size=(n, 5)), rng.integers(0, 7, size=(n, 5))]
        with no_grad():
            expected = model(windows).data
        np.testing.assert_allclose(model.infer(windows, workspace), expected, rtol=1e-5, atol=1e-6)
    big = workspace["h"]
    model.infer([rng.integers(0, 30, size=(10, 5)), rng.integers(0, 7, size=(10, 5))], workspace)
    assert workspace["h"] is big  # no new buffer for a smaller batch


def _reference_entities(tagger, texts):
    """Entities through the plain path: tokenize, featurizer.encode, predict (no chunk memo)."""
    from nerwin.tokenize import token_spans

    return tagger.entities([token_spans(t) for t in texts], texts)


def test_tag_texts_memo_path_gives_the_entities_of_the_plain_path():
    """tag_texts tokenizes and looks up feature rows through a memo of chunks; on a big batch (the
    by-types forward) and on repeats, it must find what tokenize + encode + predict finds."""
    tagger = nerwin.load(tiny_model())  # a private tagger: fresh memo and feature rows
    rng = np.random.default_rng(0)
    words = SENTENCE.split() + ["Zorvath", "Quillon", "said", "in", "Velmora-based", "U.S.", "don't", "1,234.5"]
    texts = [" ".join(rng.choice(words, size=rng.integers(1, 25))) for _ in range(300)]
    texts += ["  Talvo\tBrenwick visited\nVelmora .", ""]
    fresh = nerwin.load(tiny_model())
    from nerwin.tokenize import token_spans

    for _ in range(2):  # the second time every chunk is found in the memo, and projections were kept
        assert tagger.tag_texts(texts) == _reference_entities(fresh, texts)
        assert tagger.tokens_and_entities(texts)[0] == [token_spans(t) for t in texts]
    assert tagger._local.workspace["projections"].used > 0
    # single-spaced texts only (done all at once), and texts mixed with token lists (done in runs)
    single, mixed = texts[:300], [*texts[:3], ["Talvo", "Brenwick", "of", "Velmora"], "", *texts[3:6]]
    for batch in (single, mixed, single[::-1]):
        assert tagger.tag_texts(batch) == _reference_entities(fresh, [_as_text(t) for t in batch])
        assert nerwin.load(tiny_model()).tag_texts(batch) == tagger.tag_texts(batch)  # with no memo at all
    spans, _ = tagger.tokens_and_entities(mixed)
    assert spans[3] == [("Talvo", 0, 5), ("Brenwick", 6, 14), ("of", 15, 17), ("Velmora", 18, 25)]


@pytest.mark.parametrize("odd", ["\u200b", "\xa0", "\u2028", "\x1c", "\t", "\xad"])
def test_texts_with_unprintable_characters_or_unusual_whitespace_tag_as_the_plain_path(odd):
    """Whitespace other than a single space sends a batch to the text-by-text path; characters that
    are unprintable but not whitespace (zero-width space, soft hyphen) keep it on the batch path.
    Either way: the tokens and entities of tokenize + encode + predict."""
    tagger, fresh = nerwin.load(tiny_model()), nerwin.load(tiny_model())
    from nerwin.tokenize import token_spans

    texts = [f"Talvo{odd}Brenwick visited Velmora .", f"Quillon said{odd} Zorvath", f"{odd}Velmora", "Talvo ."]
    assert tagger.tag_texts(texts) == _reference_entities(fresh, texts)
    assert tagger.tokens_and_entities(texts)[0] == [token_spans(t) for t in texts]


def _as_text(text):
    return text if isinstance(text, str) else " ".join(text)


def test_new_tokens_rows_are_filled_with_each_columns_key():
    """A new token's row is filled in later, with the other new tokens of its call, one column at a time."""
    feat = nerwin.load(tiny_model()).featurizer
    tokens = ["Zorvath", "McDonald's", "1996-08-22", "ÉCOLE", "x", "Velmora-based", "Zorvath"]
    with feat.lock:
        feat.begin()
        rows = [feat.row(t) for t in tokens]
        enc = feat.encode_rows(np.array(rows), np.array([len(tokens)]))
    assert rows[0] == rows[-1]
    for c, ids in zip(feat.columns, enc.ids):
        want = [c.index.get(c.key(t), 1) for t in tokens]
        assert ids[enc.positions].tolist() == want, c.name


def test_rows_handed_out_by_an_interrupted_call_are_filled_by_the_next():
    tagger, fresh = nerwin.load(tiny_model()), nerwin.load(tiny_model())
    tagger.featurizer.ROWS_KEPT = 1  # and rows past the kept limit, which the next call hands out again
    with tagger.featurizer.lock:  # a call that stops after handing out rows (e.g. an exception)
        tagger.featurizer.begin()
        tagger.featurizer.row("Zorvath")
        tagger.featurizer.row("Brenwick")
    texts = ["Zorvath Quillon visited Velmora ."]
    assert tagger.tag_texts(texts) == fresh.tag_texts(texts)


def test_feature_rows_past_the_kept_limit_serve_one_call_only():
    small, fresh = nerwin.load(tiny_model()), nerwin.load(tiny_model())
    small.featurizer.ROWS_KEPT = 5  # new tokens past the fifth get rows for one call only
    calls = [[f"Word{i}x{j} visited Velmora on Monday ." for j in range(40)] for i in range(3)]
    for texts in calls:
        got = small.tag_texts(texts)
        assert len(small.featurizer._row_of) <= 5
        assert all(small.featurizer.is_kept(r) for memo in (small._inner_chunks, small._edge_chunks)
                   for found in memo.values() for r in ((found,) if type(found) is int else found[1]))
        assert got == _reference_entities(fresh, texts)
        assert small.tag_tokens([t.split() for t in texts]) == fresh.tag_tokens([t.split() for t in texts])


def test_encoded_types_describe_the_same_ids():
    enc = tiny_tagger().featurizer.encode([["Talvo", "Brenwick", "visited"], [], ["Velmora", "Talvo"]])
    for column, type_column in zip(enc.ids, enc.type_ids):
        np.testing.assert_array_equal(column, type_column[enc.types])
    positions = enc.positions
    np.testing.assert_array_equal(enc.type_windows(positions)[:, enc.half], enc.types[positions])


@given(st.text(max_size=12))
def test_keys_of_character_classes_are_the_keys_of_the_class_string(token):
    from nerwin.features import _CLASSES, _OF_CLASSES, KEYS

    for name in _OF_CLASSES:
        assert KEYS[name](token.translate(_CLASSES)) == KEYS[name](token)


@given(st.text(max_size=12))
def test_keys_from_the_normalized_word_equal_the_columns_keys(token):
    from nerwin.features import _OF_NORMALIZED, KEYS, normalize_word

    for name, of_normalized in _OF_NORMALIZED.items():
        assert of_normalized(normalize_word(token)) == KEYS[name](token)


@given(st.text(max_size=16) | st.text(st.characters(max_codepoint=127), max_size=16))
def test_word_shape_by_translation_equals_the_character_loop(token):
    from nerwin.features import _word_shape_chars, word_shape

    assert word_shape(token) == _word_shape_chars(token)


def test_a_tagger_with_changing_weights_does_not_reuse_old_projections():
    tagger = nerwin.load(tiny_model())
    texts = [SENTENCE] * 300  # big enough for the by-types path and kept projections
    before = tagger.tag_texts(texts)
    assert tagger.tag_texts(texts) == before  # this call's batch finds the first one's words kept
    assert tagger._local.workspace["projections"].used > 0
    tagger.fixed_weights = False
    tagger.model.output.bias.data[:] = 0
    tagger.model.hidden.weight.data *= -1  # in place: a changed network must give its own entities
    fresh = nerwin.load(tiny_model())
    fresh.model.output.bias.data[:] = 0
    fresh.model.hidden.weight.data *= -1
    fresh.fixed_weights = False
    after = tagger.tag_texts(texts)
    assert after == fresh.tag_texts(texts) and after != before

