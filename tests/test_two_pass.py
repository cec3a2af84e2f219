"""Two-pass models (issue 13): the document features on hand-made documents, the cross-validated first
pass (no sentence's first-pass tags come from a model trained on it), the save/load round trip (arrays and
JSON, nothing pickled), the document path of the tagger (offsets, documents that do not see each other)
and the CLI.

One two-pass model is trained on the toy data once per session (`two_pass_model`, a few seconds); it is
shared, so tests that damage a model work on a copy.
"""
from __future__ import annotations

import json
import pickle
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import nerwin
from nerwin import serialize
from nerwin.documents import DocumentFeatures, word_keys
from nerwin.errors import NerwinError
from nerwin.features import DOCUMENT_COLUMNS
from nerwin.sentences import Sentence
from nerwin.tagger import Tagger
from nerwin.tokenize import tokenize
from nerwin.two_pass import first_pass, fold_of
from tests.helpers import SENTENCE, TINY_CLI, TOY, TOY_TEST, TWO_PASS, fails, ok, run

TAGS = ["O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"]


# ---- the document features on hand-made documents -----------------------------------------------------

def features(*documents, docs: str = "given", tags: list[str] = TAGS) -> list[list[list[dict[str, str]]]]:
    """The document features of documents given as lists of sentences of "word/TAG" strings, decoded back to
    their keys: per document, per sentence, per token {column: key}. `docs="none"` passes docs=None (each
    sentence its own document); `docs="one"` numbers every sentence as one document."""
    sentences = [s.split() for doc in documents for s in doc]
    words = [t.rsplit("/", 1)[0] for s in sentences for t in s]
    tag_ids = np.array([tags.index(t.rsplit("/", 1)[1]) for s in sentences for t in s], dtype=np.int64)
    lengths = np.array([len(s) for s in sentences], dtype=np.int64)
    numbers = {"given": np.array([d for d, doc in enumerate(documents) for _ in doc], dtype=np.int64),
               "none": None, "one": np.zeros(len(sentences), dtype=np.int64)}[docs]
    documents_features = DocumentFeatures(tags)
    ids = documents_features.ids(words, tag_ids, lengths, numbers)
    assert ids.shape == (len(words), len(DOCUMENT_COLUMNS))
    vocabs = {name: documents_features.vocab(name) for name in DOCUMENT_COLUMNS}
    flat = [{name: vocabs[name][i] for name, i in zip(DOCUMENT_COLUMNS, row)} for row in ids.tolist()]
    out, at = [], 0
    for doc in documents:
        out.append([])
        for s in doc:
            out[-1].append(flat[at:at + len(s.split())])
            at += len(s.split())
    return out


def keys(pass1: str, doc_word: str, doc_entity: str, doc_super: str) -> dict[str, str]:
    return {"pass1": pass1, "doc_word": doc_word, "doc_entity": doc_entity, "doc_super": doc_super}


def test_the_document_columns_and_their_vocabularies():
    documents = DocumentFeatures(TAGS)
    assert documents.vocab("pass1") == ["<pad>", "<unk>", *TAGS]
    for name in ("doc_word", "doc_entity", "doc_super"):
        assert documents.vocab(name) == ["<pad>", "<unk>", "none", "O", "LOC", "MISC", "ORG", "PER"]
    columns = documents.columns(7)
    assert [c.name for c in columns] == list(DOCUMENT_COLUMNS)
    assert {c.dim for c in columns} == {7}


def test_a_lone_part_of_a_person_name_gets_the_person_as_its_superentity():
    """Krishnan & Manning's superentity: "Alexander Lukashenko" (PER) in one sentence makes the lone
    "Lukashenko" (tagged ORG by the first pass) of another sentence a part of a PER; only longer entities
    count, so a token inside the two-word name itself gets none."""
    [doc] = features([
        "Alexander/B-PER Lukashenko/I-PER said/O ./O",
        "Lukashenko/B-ORG visited/O Minsk/B-LOC ./O",
    ])
    alexander, luka_in_name, said, stop = doc[0]
    lone, visited, minsk, _ = doc[1]
    assert lone == keys("B-ORG", "PER", "none", "PER")  # its own tag kept; the other occurrence was PER
    assert luka_in_name == keys("I-PER", "ORG", "none", "none")  # the 2-word name holds it, but is not longer
    assert alexander == keys("B-PER", "none", "none", "none")
    assert said == keys("O", "none", "none", "none")
    assert stop == keys("O", "O", "none", "none")  # "." again in the other sentence, outside any entity
    assert minsk == keys("B-LOC", "none", "none", "none")
    assert visited == keys("O", "none", "none", "none")


def test_the_superentity_counts_only_longer_entities_and_also_reaches_untagged_words():
    [doc] = features([
        "Bank/B-ORG of/I-ORG New/I-ORG York/I-ORG",
        "New/B-LOC York/I-LOC is/O big/O",
        "york/O ./O",
    ])
    bank, of, new4, york4 = doc[0]
    new2, york2, _, _ = doc[1]
    york_untagged, _ = doc[2]
    assert new2["doc_super"] == york2["doc_super"] == "ORG"  # held by the 4-word ORG
    assert york4["doc_super"] == "none"  # the 2-word LOC is shorter than its own entity
    assert bank["doc_super"] == of["doc_super"] == new4["doc_super"] == "none"
    # the untagged "york": held by the 4-word ORG and the 2-word LOC, a vote each; the other two "York"
    # are ORG and LOC too; ties go to the type first in the tag set (LOC before ORG)
    assert york_untagged == keys("O", "LOC", "none", "LOC")


def test_a_repeated_string_reports_the_majority_of_its_other_occurrences():
    """"U.S." tagged LOC three times and ORG once: the ORG one sees LOC (3 to 0), a LOC one sees LOC (2 to 1)."""
    [doc] = features([
        "U.S./B-LOC officials/O said/O",
        "U.S./B-LOC troops/O left/O",
        "the/O U.S./B-LOC army/O",
        "U.S./B-ORG said/O ./O",
    ])
    org = doc[3][0]
    assert org == keys("B-ORG", "LOC", "LOC", "none")
    for loc in (doc[0][0], doc[1][0], doc[2][1]):
        assert loc == keys("B-LOC", "LOC", "LOC", "none")
    assert doc[0][2]["doc_word"] == "O"  # "said" again, outside an entity both times


def test_repeated_strings_are_matched_case_insensitively_with_digits_as_zero():
    [doc] = features([
        "PARIS/B-LOC ROUTE/B-LOC 66/I-LOC",
        "Paris/B-ORG route/B-ORG 12/I-ORG",
        "Paris/B-ORG Route/B-LOC 7/I-LOC",
    ])
    paris_upper, route_upper, sixty_six = doc[0]
    paris, route, twelve = doc[1]
    assert paris["doc_word"] == "LOC" and paris["doc_entity"] == "LOC"  # PARIS (LOC) vs Paris (ORG): tie, LOC
    assert paris_upper["doc_word"] == "ORG" and paris_upper["doc_entity"] == "ORG"  # both others are ORG
    # "ROUTE 66" and "route 12" are the same words once lowercased with digits as 0 ("route 00"); "Route 7"
    # is "route 0", another name
    assert route["doc_entity"] == "LOC" and twelve["doc_entity"] == "LOC"  # "ROUTE 66" is the only other "route 00"
    assert sixty_six["doc_entity"] == "ORG"  # "route 12" is the only other "route 00"
    assert twelve["doc_word"] == "LOC"  # "66" is "00" too; "7" is "0", another word
    assert doc[2][2]["doc_word"] == "none"


def test_a_city_that_is_also_a_sports_team_gets_the_majority_as_a_feature_not_as_its_tag():
    """Leeds the city (LOC) once, Leeds the football club (ORG) three times: every occurrence sees what the
    others were; the first pass's own tag stays in the pass1 column, for the second pass to weigh."""
    [doc] = features([
        "Leeds/B-LOC is/O rainy/O",
        "Leeds/B-ORG beat/O Hull/B-ORG",
        "Leeds/B-ORG lost/O",
        "Leeds/B-ORG won/O",
    ])
    city = doc[0][0]
    teams = [doc[1][0], doc[2][0], doc[3][0]]
    assert city == keys("B-LOC", "ORG", "ORG", "none")
    for team in teams:
        assert team == keys("B-ORG", "ORG", "ORG", "none")  # 2 ORG to 1 LOC among the others
    assert [t["pass1"] for s in doc for t in s] == ["B-LOC", "O", "O", "B-ORG", "O", "B-ORG", "B-ORG", "O",
                                                    "B-ORG", "O"]


def test_documents_do_not_see_each_other():
    first = ["Alexander/B-PER Lukashenko/I-PER said/O", "Lukashenko/B-ORG left/O"]
    other = ["Lukashenko/B-LOC Lukashenko/B-LOC said/O", "Alexander/B-MISC Lukashenko/I-MISC Lukashenko/I-MISC"]
    alone = features(first)[0]
    together = features(first, other)
    assert together[0] == alone
    assert together[1] == features(other)[0]
    # the same sentences numbered as one document do see each other: the test above can tell
    merged = features(first, other, docs="one")
    assert merged[0] != alone


def test_without_document_numbers_every_sentence_is_its_own_document():
    sentences = ["Alexander/B-PER Lukashenko/I-PER said/O", "Lukashenko/B-ORG left/O", "Lukashenko/B-LOC ./O"]
    [doc] = features(sentences, docs="none")
    assert doc == [features([s])[0][0] for s in sentences]
    assert doc[1][0] == keys("B-ORG", "none", "none", "none")  # it sees no other sentence


def test_empty_input_and_a_document_without_entities():
    documents = DocumentFeatures(TAGS)
    for docs in (None, np.zeros(0, np.int64)):
        empty = documents.ids([], np.zeros(0, np.int64), np.zeros(0, np.int64), docs)
        assert empty.shape == (0, len(DOCUMENT_COLUMNS))
    assert documents.ids([], np.zeros(0, np.int64), np.zeros(2, np.int64), None).shape == (0, 4)
    [doc] = features(["the/O talks/O went/O on/O", "the/O end/O ./O"])
    assert doc[0][0] == keys("O", "O", "none", "none")  # "the" again, outside an entity
    assert doc[0][1] == keys("O", "none", "none", "none")
    assert all(t["doc_entity"] == "none" and t["doc_super"] == "none" for s in doc for t in s)


def test_empty_sentences_inside_a_document_keep_the_others_in_place():
    words = ["Lukashenko", "Alexander", "Lukashenko"]
    tag_ids = np.array([TAGS.index(t) for t in ("B-ORG", "B-PER", "I-PER")])
    documents = DocumentFeatures(TAGS)
    with_empty = documents.ids(words, tag_ids, np.array([1, 0, 2, 0]), np.array([0, 0, 0, 0]))
    without = documents.ids(words, tag_ids, np.array([1, 2]), np.array([0, 0]))
    np.testing.assert_array_equal(with_empty, without)
    assert documents.vocab("doc_super")[with_empty[0, 3]] == "PER"


# ---- the cross-validation split ----------------------------------------------------------------------

def _sentences(docs: list[int]) -> list[Sentence]:
    return [Sentence([f"w{i}"], ["O"], doc=d) for i, d in enumerate(docs)]


def test_folds_deal_whole_documents_evenly_and_the_same_for_the_same_seed():
    rng = np.random.default_rng(3)
    docs = sorted(rng.integers(0, 37, size=400).tolist())  # 37 documents (some may be missing) of many sizes
    sentences = _sentences(docs)
    fold = fold_of(sentences, 4, seed=1)
    assert fold.shape == (len(sentences),) and set(fold.tolist()) == {0, 1, 2, 3}
    of_doc: dict[int, set[int]] = {}
    for s, f in zip(sentences, fold.tolist()):
        of_doc.setdefault(s.doc, set()).add(f)
    assert all(len(folds) == 1 for folds in of_doc.values())  # a document lies in one fold
    per_fold = np.bincount([next(iter(f)) for f in of_doc.values()], minlength=4)
    assert per_fold.max() - per_fold.min() <= 1  # documents dealt in turn
    np.testing.assert_array_equal(fold, fold_of(sentences, 4, seed=1))
    assert not np.array_equal(fold, fold_of(sentences, 4, seed=2))


def test_folds_of_the_toy_training_data(toy_corpus):
    train = toy_corpus["train"]
    fold = fold_of(train, 3, seed=5)
    docs = {s.doc for s in train}
    for f in range(3):
        inside = {s.doc for s, g in zip(train, fold.tolist()) if g == f}
        outside = {s.doc for s, g in zip(train, fold.tolist()) if g != f}
        assert inside and not inside & outside
    assert len(docs) > 3 * 10  # the toy data's -DOCSTART- lines: dealt by document, not by sentence


def test_copies_of_a_document_go_to_its_fold(toy_corpus):
    """Re-cased copies (--case-copies) are documents of their own for the document features, but a fold
    model must not be trained on a sentence in one casing and tag it in another."""
    from nerwin.casing import augment

    train = augment(toy_corpus, ["lower", "upper"])["train"]
    n = len(toy_corpus["train"])
    assert len(train) == 3 * n and {s.doc for s in train[n:]}.isdisjoint({s.doc for s in train[:n]})
    fold = fold_of(train, 4, seed=3).tolist()
    assert fold[n:2 * n] == fold[:n] and fold[2 * n:] == fold[:n]
    assert len(set(fold)) == 4


def test_with_fewer_documents_than_folds_sentences_are_dealt():
    sentences = _sentences([0] * 7 + [1] * 3)
    fold = fold_of(sentences, 3, seed=0)
    assert sorted(np.bincount(fold, minlength=3).tolist()) == [3, 3, 4]
    assert len(set(fold[:7].tolist())) > 1  # the big document is split: there is no other way to fill 3 folds


def test_no_sentence_gets_first_pass_tags_from_a_model_trained_on_it(small_corpus, monkeypatch):
    """`first_pass` trains a model per fold and the full first pass; every training sentence is tagged
    exactly once, by the model of the fold that held it out, and that is the tag the second pass reads."""
    import nerwin.training
    import nerwin.two_pass

    trained_on: dict[int, list[int]] = {}  # id of a model -> ids of the sentences it was trained on
    models: list[Tagger] = []  # kept alive, so that no two models share an id
    tagged: list[tuple[int, list[int], list[list[str]]]] = []  # (model, sentences, tags) of every call
    real_fit, real_tag = nerwin.training.fit, nerwin.two_pass.tag_documents

    def fit(corpus, config, progress=None, epochs=None):
        assert not config.two_pass  # the first pass is a one-pass model
        model = real_fit(corpus, config, progress, epochs)
        models.append(model)
        trained_on[id(model)] = [id(s) for s in corpus["train"]]
        return model

    def tag_documents(tagger, sentences):
        found = real_tag(tagger, sentences)
        tagged.append((id(tagger), [id(s) for s in sentences], found))
        return found

    monkeypatch.setattr(nerwin.training, "fit", fit)
    monkeypatch.setattr(nerwin.two_pass, "tag_documents", tag_documents)
    train = small_corpus["train"]
    config = replace(TWO_PASS, folds=3, epochs=1)
    first, tags = first_pass(small_corpus, config, workers=1)  # in this process, where fit is watched

    assert len(trained_on) == 4  # three folds and the full first pass
    assert trained_on[id(first)] == [id(s) for s in train]
    assert tagged[-1][0] == id(first) and tagged[-1][1] == [id(s) for s in small_corpus["validation"]]
    assert tags["validation"] == tagged[-1][2]
    by_sentence: dict[int, list[tuple[int, list[str]]]] = {}
    doc_of = {id(s): s.doc for s in train}
    for model, sentences, found in tagged[:-1]:
        assert model != id(first)
        assert not set(sentences) & set(trained_on[model])  # it never tags what it was trained on
        assert len(set(sentences)) + len(trained_on[model]) == len(train)  # and trained on all the rest
        # nor any other sentence of the documents it tags (the toy data have more documents than folds)
        assert not {doc_of[i] for i in sentences} & {doc_of[i] for i in trained_on[model]}
        for s, t in zip(sentences, found):
            by_sentence.setdefault(s, []).append((model, t))
    assert set(by_sentence) == {id(s) for s in train}
    assert all(len(calls) == 1 for calls in by_sentence.values())  # tagged exactly once
    assert len(tags["train"]) == len(train)
    for s, t in zip(train, tags["train"]):
        [(model, found)] = by_sentence[id(s)]
        assert t == found and len(t) == len(s.tokens)
    fold = fold_of(train, config.folds, config.seed)  # each fold model held out one fold, whole documents
    held = sorted(sorted(sentences) for _, sentences, _ in tagged[:-1])
    assert held == sorted(sorted(id(s) for s, g in zip(train, fold.tolist()) if g == f) for f in range(3))


def test_the_training_data_of_the_second_pass_hold_the_first_pass_tags_given(small_corpus):
    """`prepare` with first-pass tags: the pass1 column of every training word is its given tag (the
    cross-validated ones), read within its document."""
    from nerwin.training import prepare

    train, dev = small_corpus["train"], small_corpus["validation"]
    rng = np.random.default_rng(0)
    made_up = {"train": [[TAGS[0] if rng.random() < 0.7 else "B-ORG" for _ in s.tokens] for s in train],
               "validation": [s.tags for s in dev]}
    data = prepare(small_corpus, replace(TWO_PASS, lone=0.0), None, (None, made_up))  # every sentence in its document
    names = [c.name for c in data.featurizer.columns]
    assert names[-4:] == list(DOCUMENT_COLUMNS)
    pass1 = data.featurizer.columns[names.index("pass1")]
    got = [pass1.vocab[i] for i in data.train.ids[names.index("pass1")][data.train.positions].tolist()]
    assert got == [t for s in made_up["train"] for t in s]
    documents = DocumentFeatures(data.tags)
    expected = documents.ids([w for s in train for w in s.tokens],
                             np.array([data.tags.index(t) for s in made_up["train"] for t in s]),
                             np.array([len(s.tokens) for s in train]), np.array([s.doc for s in train]))
    for c, name in enumerate(DOCUMENT_COLUMNS):
        np.testing.assert_array_equal(data.train.ids[names.index(name)][data.train.positions], expected[:, c])


def test_lone_sentences_are_read_as_documents_of_their_own(small_corpus):
    """`lone`: that share of the training sentences get the document features of a one-sentence document
    (as a line or a short text gets at tag time); the others, and dev, keep their documents."""
    from nerwin.training import prepare

    train, dev = small_corpus["train"], small_corpus["validation"]
    made_up = {"train": [s.tags for s in train], "validation": [s.tags for s in dev]}

    def doc_columns(config, split="train"):
        data = prepare(small_corpus, config, None, (None, made_up))
        enc = getattr(data, {"train": "train", "validation": "dev"}[split])
        return np.stack([enc.ids[-4 + c][enc.positions] for c in range(4)], axis=1)

    documents = DocumentFeatures(prepare(small_corpus, TWO_PASS, None, (None, made_up)).tags)

    def expected(sentences, docs):
        return documents.ids([w for s in sentences for w in s.tokens],
                             np.array([documents.tags.index(t) for s in sentences for t in s.tags]),
                             np.array([len(s.tokens) for s in sentences]), docs)

    by_document = expected(train, np.array([s.doc for s in train]))
    alone = expected(train, None)
    assert (by_document != alone).any()  # the toy documents do say something
    np.testing.assert_array_equal(doc_columns(replace(TWO_PASS, lone=0.0)), by_document)
    np.testing.assert_array_equal(doc_columns(replace(TWO_PASS, lone=1.0)), alone)
    data = prepare(small_corpus, replace(TWO_PASS, lone=0.5), None, (None, made_up))
    docs = data.train.docs
    original = np.array([s.doc for s in train])
    moved = docs != original  # read alone: a document number no other sentence has
    assert 0.35 < moved.mean() < 0.65
    assert all((docs == d).sum() == 1 for d in docs[moved])
    np.testing.assert_array_equal(docs[~moved], original[~moved])
    np.testing.assert_array_equal(np.stack([data.train.ids[-4 + c][data.train.positions] for c in range(4)], 1),
                                  expected(train, docs))
    np.testing.assert_array_equal(doc_columns(replace(TWO_PASS, lone=1.0), "validation"),
                                  expected(dev, np.array([s.doc for s in dev])))


# ---- a two-pass model: files, pickling, the fast and plain paths ---------------------------------------



def _plain(path: Path) -> Tagger:
    return Tagger.from_parts(*serialize.load_folder(path), path, fast=False)


def _toy_documents(toy_corpus, count: int, split: str = "test") -> list[list[list[str]]]:
    """The first `count` documents of a toy split, as lists of token lists."""
    documents: dict[int, list[list[str]]] = {}
    for s in toy_corpus[split]:
        documents.setdefault(s.doc, []).append(s.tokens)
    return list(documents.values())[:count]


def test_a_two_pass_model_is_arrays_and_json(two_pass_model, two_pass_tagger):
    files = sorted(p.name for p in two_pass_model.iterdir())
    assert set(files) <= {"config.json", "vocab.json", "weights.safetensors", "README.md", "scores.json"}
    assert {"config.json", "vocab.json", "weights.safetensors"} <= set(files)
    for p in two_pass_model.iterdir():
        assert not p.read_bytes().startswith(b"\x80")  # no pickle protocol header
        if p.suffix == ".json":
            json.loads(p.read_text(encoding="utf-8"))
    config, vocab, arrays = serialize.load_folder(two_pass_model)
    assert set(config["first_pass"]) >= {"network"}
    assert [c["name"] for c in config["features"]["columns"]][-4:] == list(DOCUMENT_COLUMNS)
    first = {k for k in arrays if k.startswith("first.")}
    assert first and {k[6:] for k in first} == set(two_pass_tagger.first_pass.model.state_dict())
    assert {k for k in arrays if not k.startswith("first.")} == set(two_pass_tagger.model.state_dict())
    assert all(a.dtype == np.float32 for a in arrays.values())
    assert two_pass_tagger.first_pass.featurizer.columns == two_pass_tagger.featurizer.columns[:-4]


def test_a_loaded_two_pass_model_tags_as_the_one_in_memory(two_pass_model, two_pass_tagger, toy_corpus, tmp_path):
    """Saved again from memory, loaded, pickled: every copy tags every document alike."""
    documents = _toy_documents(toy_corpus, 6)
    expected = two_pass_tagger.tag_tokens(documents)
    again = two_pass_tagger.save(tmp_path / "again")
    for copy in (nerwin.load(again), nerwin.load(two_pass_model), pickle.loads(pickle.dumps(two_pass_tagger))):
        assert copy.first_pass is not None
        assert copy.tag_tokens(documents) == expected
    config, _, arrays = serialize.load_folder(again)
    saved = serialize.load_folder(two_pass_model)
    assert config["first_pass"] == saved[0]["first_pass"]
    assert arrays.keys() == saved[2].keys()
    for k in arrays:
        np.testing.assert_array_equal(arrays[k], saved[2][k])


def test_the_fast_and_plain_paths_of_a_two_pass_model_tag_alike(two_pass_model, toy_corpus):
    fast, plain = nerwin.load(two_pass_model), _plain(two_pass_model)
    assert plain.first_pass is not None and plain._fast is None and plain.first_pass._fast is None
    documents = _toy_documents(toy_corpus, 12)
    assert fast.tag_tokens(documents) == plain.tag_tokens(documents)
    texts = [" ".join(s) for doc in documents for s in doc]
    docs = [d for d, doc in enumerate(documents) for _ in doc]
    for _ in range(2):  # the second time from the fast path's memos
        assert fast.tag_texts(texts, docs=docs) == plain.tag_texts(texts, docs=docs)
        assert fast.tokens_and_entities(texts) == plain.tokens_and_entities(texts)
    np.testing.assert_allclose(fast.outputs(fast.encode(documents[0], [0] * len(documents[0]))),
                               plain.outputs(plain.encode(documents[0], [0] * len(documents[0]))),
                               rtol=1e-4, atol=1e-4)


def test_the_fast_path_past_its_kept_rows_tags_a_two_pass_model_as_the_plain_path(two_pass_model, toy_corpus,
                                                                                 monkeypatch):
    from nerwin.fast import Preparer

    monkeypatch.setattr(Preparer, "ROWS_KEPT", 3)  # most words get their rows (and word keys) for one call only
    fast, plain = nerwin.load(two_pass_model), _plain(two_pass_model)
    documents = _toy_documents(toy_corpus, 6)
    texts = [" ".join(s) for doc in documents for s in doc]
    docs = [d for d, doc in enumerate(documents) for _ in doc]
    shouted = [t.upper() for t in texts]
    for batch in (texts, shouted, texts):
        assert fast.tag_texts(batch, docs=docs) == plain.tag_texts(batch, docs=docs)


def test_document_columns_from_word_keys_equal_those_from_the_words():
    words = ["Velmora", "visited", "VELMORA", "in", "1996", "and", "velmora", "in", "2017"]
    tag_ids = np.array([1, 0, 3, 0, 0, 0, 1, 0, 0])
    lengths, docs = np.array([4, 5]), np.array([0, 0])
    features = DocumentFeatures(["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG"])
    np.testing.assert_array_equal(features.ids(word_keys(words) * 7 + 3, tag_ids, lengths, docs),
                                  features.ids(words, tag_ids, lengths, docs))


def _drop_first_arrays(path: Path) -> None:
    config, vocab, arrays = serialize.load_folder(path)
    serialize.save_folder(path, config, vocab, {k: v for k, v in arrays.items() if not k.startswith("first.")})


def _edit(path: Path, change) -> None:
    config, vocab, arrays = serialize.load_folder(path)
    change(config, vocab)
    serialize.save_folder(path, config, vocab, arrays)


def _drop_document_columns(config: dict, vocab: dict) -> None:
    config["features"]["columns"] = [c for c in config["features"]["columns"] if c["name"] not in DOCUMENT_COLUMNS]


TWO_PASS_DAMAGES = {
    "first-pass arrays removed": (_drop_first_arrays, "weights.safetensors"),
    "config's first_pass removed": (lambda p: _edit(p, lambda c, v: c.pop("first_pass")), "config.json"),
    "first_pass not an object": (lambda p: _edit(p, lambda c, v: c.update(first_pass="yes")), "config.json"),
    "first pass of another size": (
        lambda p: _edit(p, lambda c, v: c["first_pass"]["network"].update(hidden=17)), "weights.safetensors"),
    "first pass without its network": (lambda p: _edit(p, lambda c, v: c["first_pass"].pop("network")),
                                       "config.json"),
    "document columns removed": (lambda p: _edit(p, _drop_document_columns), "config.json"),
}


@pytest.mark.parametrize("damage", TWO_PASS_DAMAGES)
def test_a_damaged_two_pass_model_fails_with_one_message_naming_the_file(damage, two_pass_model, tmp_path):
    model = Path(shutil.copytree(two_pass_model, tmp_path / "model"))
    spoil, file = TWO_PASS_DAMAGES[damage]
    spoil(model)
    with pytest.raises(NerwinError) as e:
        nerwin.load(model)
    assert str(model / file) in str(e.value)
    fails(run("tag", SENTENCE, "-m", model), file)


# ---- the document path of the tagger (acceptance 3) ------------------------------------------------------

def _entities_of(tags: list[str], text: str) -> list[tuple[str, str, int, int]]:
    """(text, label, start, end) of the entities of IOB2 `tags` over `tokenize(text)`, written out here."""
    tokens, found, open_ = tokenize(text), [], None
    for token, tag in zip(tokens, [*tags, "O"]):
        if open_ is not None and tag != f"I-{open_[1]}":
            found.append(open_)
            open_ = None
        if tag.startswith("B-"):
            open_ = [token.start, tag[2:], token.end]
        elif open_ is not None:
            open_[2] = token.end
    if open_ is not None:
        found.append(open_)
    return [(text[a:b], label, a, b) for a, label, b in found]


def _plain_entities(entities) -> list[tuple[str, str, int, int]]:
    return [(e.text, e.label, e.start, e.end) for e in entities]


def test_one_text_of_many_sentences_is_one_document_with_true_offsets(two_pass_tagger, toy_corpus):
    sentences = [s for doc in _toy_documents(toy_corpus, 3) for s in doc]
    text = "  " + "\n".join(" ".join(s) if i % 2 else "  ".join(s) for i, s in enumerate(sentences)) + " \n"
    entities = two_pass_tagger(text)
    assert len(entities) > 10
    for e in entities:
        assert text[e.start:e.end] == e.text
    [tags] = two_pass_tagger.tag_tokens([[t.text for t in tokenize(text)]])
    assert _plain_entities(entities) == _entities_of(tags, text)
    assert two_pass_tagger([text]) == [entities]


def test_sentences_of_one_document_as_a_list_of_texts_get_offsets_in_their_own_text(two_pass_tagger, toy_corpus):
    documents = _toy_documents(toy_corpus, 2)
    texts = [" " + "  ".join(s) for doc in documents for s in doc]
    docs = [d for d, doc in enumerate(documents) for _ in doc]
    found = two_pass_tagger.tag_texts(texts, docs=docs)
    tags = two_pass_tagger.tag_tokens([[[t.text for t in tokenize(x)] for x, d in zip(texts, docs) if d == n]
                                       for n in range(len(documents))])
    flat_tags = [t for doc in tags for t in doc]
    assert sum(map(len, found)) > 5
    for text, entities, sentence_tags in zip(texts, found, flat_tags):
        assert _plain_entities(entities) == _entities_of(sentence_tags, text)
    # the flat forms and the tokens-and-entities form agree
    assert two_pass_tagger.tag_flat(texts, docs=docs).entities() == found
    spans, entities = two_pass_tagger.tokens_and_entities(texts, docs=docs)
    assert entities == found
    assert spans == [[(t.text, t.start, t.end) for t in tokenize(x)] for x in texts]
    tokenized = [tokenize(x) for x in texts]
    assert two_pass_tagger.tag_flat_tokens(tokenized, texts, docs=docs).entities() == found


def _document_pair(tagger: Tagger, toy_corpus) -> tuple[list[list[str]], list[list[str]]]:
    """Two toy documents such that reading them as one changes the network's outputs for the first: if
    documents in a list saw each other, tagging them together would differ from tagging each alone."""
    documents = _toy_documents(toy_corpus, 30)
    for a, first in enumerate(documents):
        alone = tagger.outputs(tagger.encode(first, [0] * len(first)))
        for second in documents[a + 1:]:
            merged = tagger.outputs(tagger.encode(first + second, [0] * (len(first) + len(second))))
            if not np.allclose(alone, merged[:len(alone)]):
                return first, second
    raise AssertionError("no two toy documents change each other's reading")


def test_documents_in_a_list_do_not_see_each_other(two_pass_tagger, toy_corpus):
    first, second = _document_pair(two_pass_tagger, toy_corpus)
    both = two_pass_tagger.tag_tokens([first, second])
    assert both == [two_pass_tagger.tag_tokens([first])[0], two_pass_tagger.tag_tokens([second])[0]]
    assert both == [two_pass_tagger.tag_tokens(first, [0] * len(first)),
                    two_pass_tagger.tag_tokens(second, [7] * len(second))]
    texts = [" ".join(s) for s in first + second]
    docs = [0] * len(first) + [1] * len(second)
    together = two_pass_tagger.tag_texts(texts, docs=docs)
    assert together == (two_pass_tagger.tag_texts(texts[:len(first)], docs=[0] * len(first))
                        + two_pass_tagger.tag_texts(texts[len(first):], docs=[0] * len(second)))
    # the network's outputs too (read as one document, they would differ: see `_document_pair`)
    out = two_pass_tagger.outputs(two_pass_tagger.encode(first + second, docs))
    alone = two_pass_tagger.outputs(two_pass_tagger.encode(first, [0] * len(first)))
    np.testing.assert_allclose(out[:len(alone)], alone, rtol=1e-5, atol=1e-5)


def test_a_one_pass_model_ignores_documents_and_a_two_pass_model_reads_each_text_alone_by_default(
        tiny_tagger, two_pass_tagger, toy_corpus):
    documents = _toy_documents(toy_corpus, 8)
    texts = [" ".join(s) for doc in documents for s in doc]
    by_doc = [d for d, doc in enumerate(documents) for _ in doc]
    numberings = (None, by_doc, [0] * len(texts), list(range(len(texts))))
    one = [tiny_tagger.tag_texts(texts, docs=docs) for docs in numberings]
    assert all(found == one[0] for found in one)
    assert tiny_tagger.tag_tokens(documents) == [tiny_tagger.tag_tokens(doc) for doc in documents]
    # a two-pass model with docs=None reads each text as its own document, as a list of one-text documents
    two = two_pass_tagger.tag_texts(texts)
    assert two == two_pass_tagger.tag_texts(texts, docs=list(range(len(texts))))
    assert two == [two_pass_tagger.tag_texts([t])[0] for t in texts[:10]] + two[10:]


def test_a_two_pass_model_takes_empty_texts_sentences_and_documents(two_pass_tagger):
    """Empty texts add no tokens to their document, so they change nothing around them."""
    assert two_pass_tagger("") == []
    assert two_pass_tagger.tag_texts([]) == []
    assert two_pass_tagger.tag_tokens([]) == []
    assert two_pass_tagger.tag_texts(["", SENTENCE, "   "], docs=[0, 0, 0]) == [[], two_pass_tagger(SENTENCE), []]
    words = SENTENCE.split()
    [alone] = two_pass_tagger.tag_tokens([words])
    assert len(alone) == len(words)
    assert two_pass_tagger.tag_tokens([[], words, []], [0, 0, 0]) == [[], alone, []]
    assert two_pass_tagger.tag_tokens([[], [words], [[]]]) == [[], [alone], [[]]]


# ---- the CLI -----------------------------------------------------------------------------------------

def test_the_cli_trains_a_two_pass_model_that_info_and_evaluate_accept(tmp_path):
    out = tmp_path / "two"
    ok(run("train", out, "--data", TOY, *TINY_CLI, "--two-pass", "--folds", "2", "--doc-dim", "3",
           "--second-hidden", "7"))
    config, _, arrays = serialize.load_folder(out)
    assert arrays["hidden.weight"].shape[1] == 7 and arrays["first.hidden.weight"].shape[1] == 16  # --hidden
    fast, plain = nerwin.load(out), _plain(out)
    assert fast.tag_texts([SENTENCE] * 40) == plain.tag_texts([SENTENCE] * 40)
    assert config["training"]["two_pass"] is True and config["training"]["folds"] == 2
    assert "first_pass" in config and any(k.startswith("first.") for k in arrays)
    assert {c["dim"] for c in config["features"]["columns"] if c["name"] in DOCUMENT_COLUMNS} == {3}
    assert json.loads(ok(run("info", out, "-F", "json")))
    report = json.loads(ok(run("evaluate", TOY_TEST, "-m", out, "--format", "json")))
    assert 0 <= report["f1"] <= 100
    assert "Velmora" in ok(run("tag", SENTENCE, "-m", out))


def test_the_cli_refuses_a_two_pass_model_of_one_fold(tmp_path):
    fails(run("train", tmp_path / "m", "--data", TOY, *TINY_CLI, "--two-pass", "--folds", "1"), "2 or more folds")
    assert not (tmp_path / "m").exists()


def test_the_cli_refuses_to_continue_a_model_as_a_two_pass_one(tiny_model, tmp_path):
    fails(run("train", tmp_path / "m", "--data", TOY, "--init-model", tiny_model, "--two-pass", "--epochs", "1",
              "--quiet"), "--init-model", "two-pass")
    assert not (tmp_path / "m").exists()


def test_the_cli_refuses_to_continue_a_two_pass_model_as_a_one_pass_one(two_pass_model, tmp_path):
    line = fails(run("train", tmp_path / "m", "--data", TOY, "--init-model", two_pass_model, "--epochs", "1",
                     "--quiet"))
    assert not (tmp_path / "m").exists()
    assert "--init-model" in line and "two-pass" in line, line


# ---- documents where gold data are read: evaluate and the model card -----------------------------------

@pytest.fixture
def docs_read(monkeypatch) -> list:
    """The `docs` argument of every DocumentFeatures.ids call (what a second pass was told of documents)."""
    seen: list = []
    real = DocumentFeatures.ids

    def ids(self, words, tag_ids, lengths, docs):
        seen.append((len(lengths), None if docs is None else np.asarray(docs).tolist()))
        return real(self, words, tag_ids, lengths, docs)

    monkeypatch.setattr(DocumentFeatures, "ids", ids)
    return seen


def _same_grouping(docs: list[int] | None, sentences: list[Sentence]) -> bool:
    if docs is None:
        return len({s.doc for s in sentences}) == len(sentences)
    pairs = set(zip(docs, (s.doc for s in sentences)))
    return len(pairs) == len(set(docs)) == len({s.doc for s in sentences})


def test_evaluate_reads_the_files_documents(two_pass_tagger, toy_corpus, docs_read):
    from nerwin.evaluation import evaluate

    evaluate(TOY_TEST, two_pass_tagger)
    [(sentences, docs)] = docs_read
    assert sentences == len(toy_corpus["test"])
    assert _same_grouping(docs, toy_corpus["test"]), docs[:20] if docs else docs


def test_the_model_cards_scores_read_documents(two_pass_tagger, toy_corpus, docs_read):
    from nerwin.card import card_data

    card_data(two_pass_tagger, toy_corpus, name="two")
    assert [n for n, _ in docs_read] == [len(toy_corpus["validation"]), len(toy_corpus["test"])]
    for (_, docs), split in zip(docs_read, ("validation", "test")):
        assert _same_grouping(docs, toy_corpus[split]), split
