"""The Python API: load, tag text or tokens, entities with offsets (IOB2 decoding itself: test_decode.py)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nerwin
from nerwin.decode import allowed_transitions, decode
from nerwin.errors import NerwinError
from nerwin.tagger import Entity, Tagger
from nerwin.tags import TAGS_CONLL2003
from tests.helpers import SENTENCE

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

def test_load_in_one_line_and_tag_in_another(tiny_model):
    tagger = nerwin.load(tiny_model)
    assert isinstance(tagger, Tagger)
    assert [(e.text, e.label) for e in tagger(SENTENCE)] == [("Talvo Brenwick", "PER"), ("Velmora", "LOC")]


def test_entities_carry_offsets_into_the_original_string(tiny_tagger):
    text = "  Police in  Ostrel arrested Talvo Brenwick, of Greyfen Corp.  "
    entities = tiny_tagger(text)
    assert entities and all(isinstance(e, Entity) for e in entities)
    for e in entities:
        assert text[e.start:e.end] == e.text
        assert 0.0 <= e.score <= 1.0
        assert e.to_dict() == {"text": e.text, "label": e.label, "start": e.start, "end": e.end,
                               "score": e.score}
    starts = [e.start for e in entities]
    assert starts == sorted(starts)


def test_a_list_of_texts_gives_a_list_of_entity_lists(tiny_tagger):
    texts = [SENTENCE, "", "Greyfen Corp said profits rose .", "   "]
    out = tiny_tagger(texts)
    assert len(out) == len(texts)
    assert out[0] == tiny_tagger(SENTENCE)
    assert out[1] == [] and out[3] == []
    assert [e.label for e in out[2]] == ["ORG"]
    assert tiny_tagger([]) == []


def test_pre_split_tokens_get_offsets_in_the_space_joined_text(tiny_tagger):
    tokens = ["Talvo", "Brenwick", "visited", "Velmora", "."]
    [entities] = tiny_tagger.tag_texts([tokens])
    joined = " ".join(tokens)
    assert [(e.text, e.start, e.end) for e in entities] == [("Talvo Brenwick", 0, 14), ("Velmora", 23, 30)]
    assert all(joined[e.start:e.end] == e.text for e in entities)


def test_tag_tokens_gives_one_tag_per_token(tiny_tagger):
    sentences = [SENTENCE.split(), [], ["Greyfen", "Corp", "fell", "."], ["Velmora"]]
    tags = tiny_tagger.tag_tokens(sentences)
    assert [len(t) for t in tags] == [len(s) for s in sentences]
    assert tags[0] == ["B-PER", "I-PER", "O", "B-LOC", "O", "O", "O"]
    assert tags[2][:2] == ["B-ORG", "I-ORG"]
    assert tiny_tagger.tag_tokens([]) == []


def test_empty_text_gives_no_entities(tiny_tagger):
    assert tiny_tagger("") == []
    assert tiny_tagger(" \n\t ") == []


ODD = ["😀😀 Talvo 🇳🇴", "e\u0301te\u0301 Velmora\u0308", "\x00\x07\x1b[31m Ostrel", "שלום עולם Velmora",
       "\u202eVelmora\u202c", "مرحبا 123", "\ufeffTalvo", "a\u200bb", "x" * 5000, "- - - ... ***", "\r\n\r\n",
       "Ǆemal ǅ İstanbul ß ŉ", "\U0001d400\U0001d401 Brenwick"]


@pytest.mark.parametrize("text", ODD)
def test_odd_text_does_not_raise(text, tiny_tagger):
    entities = tiny_tagger(text)
    for e in entities:
        assert text[e.start:e.end] == e.text


@FAST
@given(st.text(max_size=80))
def test_any_text_gives_entities_with_true_offsets(tiny_tagger, text):
    for e in tiny_tagger(text):
        assert text[e.start:e.end] == e.text and e.text.strip() == e.text and e.text


TOY_WORDS = ["Talvo", "Brenwick", "Velmora", "Greyfen", "Corp", "Bank", "of", "New", "Port", "visited",
             "on", "Monday", ".", ",", "(", ")", "Velmoran", "Glimmer", "Cup", "said", "the", "in", "3"]
token = st.one_of(st.sampled_from(TOY_WORDS), st.text(min_size=1, max_size=12))


@FAST
@given(st.lists(st.lists(token, max_size=25), max_size=6))
def test_tag_tokens_always_valid_iob2(tiny_tagger, sentences):
    tagger = tiny_tagger
    out = tagger.tag_tokens(sentences)
    assert [len(t) for t in out] == [len(s) for s in sentences]
    for tags in out:
        assert set(tags) <= set(tagger.tags)
        assert valid_iob2(tags), tags


def test_load_without_a_path_uses_nerwin_model(monkeypatch, tmp_path, tiny_model, tiny_tagger):
    monkeypatch.setenv("NERWIN_MODEL", str(tiny_model))
    assert nerwin.load().tags == tiny_tagger.tags
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
