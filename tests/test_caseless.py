"""A caseless companion: a model blind to case tags the documents written without the usual capitals."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import nerwin
from nerwin import serialize
from nerwin.errors import NerwinError
from nerwin.features import CASES, Featurizer, caps_class, case_codes
from nerwin.tagger import UNCASED_MIN_WORDS, Tagger, uncased
from nerwin.training import caseless_config
from tests.helpers import TINY, TINY_CLI, TOY, TWO_PASS, ok, run

LOWER, TITLE, UPPER, MIXED, NOALPHA = range(5)  # nerwin.features.CASES


@pytest.fixture(scope="module")
def caseless_model(tmp_path_factory, toy_corpus) -> Path:
    from nerwin.training import train

    path = tmp_path_factory.mktemp("caseless") / "model"
    train(toy_corpus, path, replace(TINY, caseless=True, epochs=3))
    return path


@pytest.fixture(scope="module")
def two_pass_caseless(tmp_path_factory, toy_corpus) -> Path:
    from nerwin.training import train

    path = tmp_path_factory.mktemp("caseless-two") / "model"
    train(toy_corpus, path, replace(TWO_PASS, caseless=True))
    return path


def _without_companion(tagger: Tagger) -> Tagger:
    return Tagger(tagger.featurizer, tagger.model, tagger.tags, tagger.config, first_pass=tagger.first_pass)


def _plain(path: Path) -> Tagger:
    config, vocab, arrays = serialize.load_folder(path)
    return Tagger.from_parts(config, vocab, arrays, path, fast=False)


# ---- which documents are uncased ----------------------------------------------------------------

def _uncased(*docs: list[int]) -> list[bool]:
    caps = np.array([c for d in docs for c in d])
    return uncased(caps, np.array([len(d) for d in docs]), None).tolist()


def test_lowercase_documents_of_any_size_are_uncased():
    assert _uncased([LOWER, LOWER, NOALPHA, LOWER], [LOWER]) == [True, True]


def test_capitals_and_title_case_are_uncased_only_in_documents_of_many_words():
    short = UNCASED_MIN_WORDS - 1
    assert _uncased([UPPER] * short, [TITLE] * short, [TITLE, UPPER] * short) == [False, False, True]
    assert _uncased([UPPER] * UNCASED_MIN_WORDS + [NOALPHA] * 5, [TITLE] * UNCASED_MIN_WORDS) == [True, True]


def test_title_case_may_hold_a_few_lowercase_words_and_ordinary_text_holds_many():
    title = [TITLE] * 27 + [LOWER] * 3  # "'s", "2nd", "10km": lowercase even in title case
    assert _uncased(title, [TITLE] * 20 + [LOWER] * 10) == [True, False]


def test_ordinary_text_mixed_case_words_and_wordless_documents_are_cased():
    ordinary = [TITLE, LOWER, LOWER, TITLE, UPPER, LOWER] * 5  # sentence starts, names, acronyms, the rest
    assert _uncased(ordinary, [LOWER] * 30 + [MIXED], [UPPER] * 30 + [MIXED], [NOALPHA] * 3) == [False] * 4


def test_case_codes_are_each_tokens_capitalization_class():
    tokens = ["paris", "Paris", "PARIS", "McDonald", "1996", "U.S.", "U.s.", "École", "x"]
    assert [CASES[c] for c in case_codes(tokens)] == [caps_class(t) for t in tokens]
    assert [CASES[c] for c in case_codes(tokens)][:5] == ["lower", "title", "upper", "mixed", "noalpha"]


def test_the_casing_of_a_document_is_that_of_all_its_sentences():
    caps = np.array([LOWER, LOWER, TITLE, LOWER, LOWER, LOWER])
    lengths, docs = np.array([2, 2, 2]), np.array([0, 0, 1])
    assert uncased(caps, lengths, docs).tolist() == [False, False, True]


# ---- the model ---------------------------------------------------------------------------------

def test_a_model_trained_with_the_option_tags_lowercased_training_sentences(caseless_model, toy_corpus):
    tagger = nerwin.load(caseless_model)
    assert tagger.caseless is not None
    sentences = [s for s in toy_corpus["train"] if any(t != "O" for t in s.tags)][:40]
    lowered = [[w.lower() for w in s.tokens] for s in sentences]
    found = tagger.tag_tokens(lowered)
    right = sum(f == s.tags for f, s in zip(found, sentences))
    assert right >= 0.9 * len(sentences)
    alone = _without_companion(tagger).tag_tokens(lowered)  # the cased model by itself, for contrast
    assert right > sum(f == s.tags for f, s in zip(alone, sentences))


def test_cased_documents_are_tagged_by_the_model_itself(caseless_model, toy_corpus):
    tagger = nerwin.load(caseless_model)
    sentences = [s.tokens for s in toy_corpus["test"][:60]]
    assert tagger.tag_tokens(sentences) == _without_companion(tagger).tag_tokens(sentences)


def test_uncased_documents_are_tagged_by_the_companion_whatever_else_is_in_the_batch(caseless_model, toy_corpus):
    tagger = nerwin.load(caseless_model)
    cased = [" ".join(s.tokens) for s in toy_corpus["test"][:20]]
    lowered = [t.lower() for t in cased]
    shouted = [" ".join([t.upper()] * UNCASED_MIN_WORDS) for t in cased[:3]]  # long enough for capitals
    batch = [x for trio in zip(cased, lowered, shouted + [""] * 17) for x in trio]
    together = tagger.tag_texts(batch)
    one_by_one = [tagger.tag_texts([t])[0] for t in batch]
    assert together == one_by_one
    assert tagger.tag_texts(lowered) == tagger.caseless.tag_texts(lowered)
    assert tagger.tag_texts(shouted) == tagger.caseless.tag_texts(shouted)
    assert tagger.tag_texts(cased) == _without_companion(tagger).tag_texts(cased)
    assert _plain(caseless_model).tag_texts(batch) == together  # the plain path routes alike


def test_a_two_pass_model_routes_whole_documents(two_pass_caseless, toy_corpus):
    tagger = nerwin.load(two_pass_caseless)
    documents = [[s.tokens for s in toy_corpus["test"][i:i + 4]] for i in range(0, 24, 4)]
    lowered = [[[w.lower() for w in s] for s in doc] for doc in documents]
    mixed = [d for pair in zip(documents, lowered) for d in pair]
    assert tagger.tag_tokens(mixed) == [tagger.tag_tokens([d])[0] for d in mixed]
    assert tagger.tag_tokens(lowered) == tagger.caseless.tag_tokens(lowered)
    assert tagger.tag_tokens(documents) == _without_companion(tagger).tag_tokens(documents)
    assert _plain(two_pass_caseless).tag_tokens(mixed) == tagger.tag_tokens(mixed)


# ---- files ---------------------------------------------------------------------------------------

def test_the_companion_is_saved_as_arrays_and_json_and_loads_the_same(caseless_model, toy_corpus, tmp_path):
    config, vocab, arrays = serialize.load_folder(caseless_model)
    assert config["caseless"]["columns"] == ["word"] and "caps" not in config["caseless"]["columns"]
    assert any(k.startswith("caseless.") for k in arrays)
    tagger = nerwin.load(caseless_model)
    tagger.save(tmp_path / "again")
    lowered = [" ".join(s.tokens).lower() for s in toy_corpus["test"][:30]]
    assert nerwin.load(tmp_path / "again").tag_texts(lowered) == tagger.tag_texts(lowered)
    _without_companion(tagger).save(tmp_path / "cased")  # its config said "caseless": not any more
    assert "caseless" not in serialize.load_folder(tmp_path / "cased")[0]
    assert nerwin.load(tmp_path / "cased").tag_texts(lowered) == _without_companion(tagger).tag_texts(lowered)
    info = json.loads(ok(run("info", caseless_model, "-F", "json")))
    assert info["caseless"]["columns"] == ["word"]
    assert "caseless" in ok(run("info", caseless_model))


def _edit(path: Path, change) -> None:
    config, vocab, arrays = serialize.load_folder(path)
    change(config, vocab, arrays)
    serialize.save_folder(path, config, vocab, arrays)


DAMAGES = {
    "companion arrays removed": (lambda c, v, a: [a.pop(k) for k in list(a) if k.startswith("caseless.")],
                                 "weights.safetensors"),
    "companion reads the caps column": (lambda c, v, a: c["caseless"].update(columns=["caps"]), "config.json"),
    "companion of an unknown column": (lambda c, v, a: c["caseless"].update(columns=["nope"]), "config.json"),
    "companion not an object": (lambda c, v, a: c.update(caseless=[1]), "config.json"),
}


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_companion_fails_with_one_message_naming_the_file(damage, caseless_model, tmp_path):
    import shutil

    path = tmp_path / "m"
    shutil.copytree(caseless_model, path)
    change, file = DAMAGES[damage]
    _edit(path, change)
    with pytest.raises(NerwinError, match=file):
        nerwin.load(path)


def test_a_companion_must_read_the_same_vocabularies_and_tags(caseless_model):
    tagger = nerwin.load(caseless_model)
    companion = tagger.caseless
    other = Featurizer.from_json({"half_window": companion.featurizer.half, "columns": [
        {**c.to_json(), "vocab": c.vocab[:-1]} for c in companion.featurizer.columns]})
    with pytest.raises(ValueError, match="vocabulary"):
        Tagger(tagger.featurizer, tagger.model, tagger.tags, tagger.config,
               caseless=Tagger(other, companion.model, companion.tags, companion.config))
    with pytest.raises(ValueError, match="same tags"):
        Tagger(tagger.featurizer, tagger.model, tagger.tags, tagger.config,
               caseless=Tagger(companion.featurizer, companion.model, companion.tags[::-1], companion.config))


def test_the_companions_settings_drop_the_columns_that_see_case():
    companion = caseless_config(replace(TINY, caseless=True, two_pass=True, case_copies=["lower"],
                                        features={"suffix2": 10, "shape": 5}))
    assert companion.feature_dims().keys() == {"word", "suffix2"}
    assert not companion.two_pass and not companion.caseless and not companion.case_copies


# ---- the CLI ---------------------------------------------------------------------------------------

def test_the_cli_trains_a_model_with_a_companion(tmp_path):
    out = tmp_path / "m"
    ok(run("train", out, "--data", TOY, *TINY_CLI, "--caseless"))
    config, _, _ = serialize.load_folder(out)
    assert config["training"]["caseless"] is True and "caseless" in config


def test_the_cli_refuses_a_companion_without_a_capitalization_column(tmp_path):
    from tests.helpers import fails

    fails(run("train", tmp_path / "m", "--data", TOY, *TINY_CLI, "--caseless", "--caps-dim", "0"),
          "capitalization column")


def test_the_casing_script_scores_a_model_with_and_without_its_companion(caseless_model):
    import os
    import subprocess
    import sys

    from nerwin.casing import CASINGS
    from nerwin.data import read_data
    from nerwin.metrics import strict_f1
    from tests.helpers import ROOT, TOY_TEST

    def script(*args):
        done = subprocess.run([sys.executable, str(ROOT / "scripts" / "casing.py"), str(caseless_model), str(TOY_TEST),
                               "--json", *args], capture_output=True, text=True, timeout=300,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert done.returncode == 0, done.stderr
        return {r["casing"]: r["f1"] for r in json.loads(done.stdout)["rows"]}

    test = read_data(TOY_TEST)
    gold, docs, lowered = [s.tags for s in test], [s.doc for s in test], [CASINGS["lower"](s.tokens) for s in test]
    tagger = nerwin.load(caseless_model)
    both, cased = script(), script("--cased-only")
    assert both["lower"] == round(strict_f1(gold, tagger.caseless.tag_tokens(lowered, docs=docs)), 2)
    assert cased["lower"] == round(strict_f1(gold, _without_companion(tagger).tag_tokens(lowered, docs=docs)), 2)
    assert both["lower"] > cased["lower"] and both["as written"] == cased["as written"]
