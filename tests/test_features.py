"""Tokens to feature ids: the keys of each column, vocabularies, and the padded id streams."""
from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from nerwin.features import (
    _CLASSES,
    _OF_CLASSES,
    _OF_NORMALIZED,
    KEYS,
    PAD,
    UNK,
    Featurizer,
    _word_shape_chars,
    caps_class,
    normalize_word,
    word_shape,
)


def test_keys_of_each_column():
    assert normalize_word("Paris-1996") == "paris-0000"
    assert [caps_class(t) for t in ("paris", "Paris", "PARIS", "McDonald", "1996", ",")] == \
        ["lower", "title", "upper", "mixed", "noalpha", "noalpha"]
    assert word_shape("McDonald's") == "XxXx'x" and word_shape("1996-08-22") == "d-d-d"
    assert KEYS["suffix3"]("Walking") == "ing" and KEYS["prefix2"]("Walking") == "wa"


@given(st.text(max_size=12))
def test_keys_of_character_classes_are_the_keys_of_the_class_string(token):
    for name in _OF_CLASSES:
        assert KEYS[name](token.translate(_CLASSES)) == KEYS[name](token)


@given(st.text(max_size=12))
def test_keys_from_the_normalized_word_equal_the_columns_keys(token):
    for name, of_normalized in _OF_NORMALIZED.items():
        assert of_normalized(normalize_word(token)) == KEYS[name](token)


@given(st.text(max_size=16) | st.text(st.characters(max_codepoint=127), max_size=16))
def test_word_shape_by_translation_equals_the_character_loop(token):
    assert word_shape(token) == _word_shape_chars(token)


def _featurizer() -> Featurizer:
    train = [["Paris", "is", "in", "France", "."], ["Talvo", "visited", "Paris", "."]]
    return Featurizer.build(train, {"word": 4, "caps": 2, "suffix3": 3, "shape": 2}, half_window=2)


def test_vocabularies_hold_pad_unk_then_keys_by_frequency():
    feat = _featurizer()
    word = feat.columns[0]
    assert word.vocab[:3] == ["<pad>", "<unk>", "."] and word.vocab[3] == "paris"
    suffix = feat.columns[2]
    assert set(suffix.vocab[2:]) == {".", "ris"}  # affixes need 2 sightings by default


@given(st.lists(st.text(max_size=10), max_size=20))
def test_ids_are_each_columns_key_looked_up_or_unk(tokens):
    feat = _featurizer()
    ids = feat.ids(tokens)
    assert ids.shape == (len(tokens), len(feat.columns))
    for j, column in enumerate(feat.columns):
        assert ids[:, j].tolist() == [column.index.get(column.key(t), UNK) for t in tokens]


def test_encode_pads_between_sentences_and_windows_see_the_pads():
    feat = _featurizer()
    sentences = [["Paris", "is"], [], ["Talvo", "visited", "Paris"]]
    enc = feat.encode(sentences, [[1, 0], [], [2, 0, 1]])
    assert enc.lengths.tolist() == [2, 0, 3] and enc.tags.tolist() == [1, 0, 2, 0, 1]
    flat = [t for s in sentences for t in s]
    np.testing.assert_array_equal(np.stack([c[enc.positions] for c in enc.ids], axis=1), feat.ids(flat))
    windows = enc.windows(enc.positions)
    assert windows[0].shape == (5, 5)
    assert windows[0][0].tolist()[:2] == [PAD, PAD]  # two pads before the first word
    assert windows[0][1].tolist()[3:] == [PAD, PAD]  # "is" ends its sentence: pads after it
    assert windows[0][2].tolist()[:2] == [PAD, PAD]  # the next sentence never sees the last one
    assert feat.encode([]).lengths.tolist() == []


def test_json_round_trip_keeps_the_columns():
    feat = _featurizer()
    again = Featurizer.from_json(feat.to_json())
    assert again.half == feat.half and [c.vocab for c in again.columns] == [c.vocab for c in feat.columns]
    np.testing.assert_array_equal(again.ids(["Paris", "Zorvath"]), feat.ids(["Paris", "Zorvath"]))
