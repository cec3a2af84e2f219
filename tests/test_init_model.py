"""Continuing training from a finished model (`--init-model`): new words and labels extend the tables,
old rows keep their weights, and the old entities are still found on old-style text."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from nerwin.data import Sentence
from nerwin.errors import NerwinError
from nerwin.metrics import strict_f1
from nerwin.tagger import load
from nerwin.training import Rngs, build_model, prepare, start_from, train
from tests.helpers import SENTENCE, TINY, to_conll

# Made-up products in made-up sentences: new words and a label the toy corpus never had.
PRODUCTS = ["Zorbix", "Quellon Max", "Vantrel", "Drimo Phone", "Skarn Pad", "Yelvet", "Omtra Nine", "Pexlo"]
FRAMES = ["I bought a {} yesterday .", "The new {} costs too much .", "My {} broke again .",
          "She reviewed the {} on her blog .", "Is the {} any good ?"]


def product_sentences(n: int, offset: int = 0) -> list[Sentence]:
    """`n` sentences, each naming one product (B-PRODUCT I-PRODUCT ...) in a frame."""
    out = []
    for i in range(offset, offset + n):
        name, frame = PRODUCTS[i % len(PRODUCTS)].split(), FRAMES[(i // len(PRODUCTS)) % len(FRAMES)]
        before, after = (part.split() for part in frame.split("{}"))
        tokens = [*before, *name, *after]
        tags = ["O"] * len(before) + ["B-PRODUCT"] + ["I-PRODUCT"] * (len(name) - 1) + ["O"] * len(after)
        out.append(Sentence(tokens, tags))
    return out


@pytest.fixture(scope="module")
def base(tmp_path_factory, toy_corpus):
    """A CRF model trained on the toy corpus (PER, LOC, ORG, MISC)."""
    path = tmp_path_factory.mktemp("base") / "model"
    result = train(toy_corpus, path, dataclasses.replace(TINY, crf=True, epochs=3))
    assert result.best_dev_f1 > 90
    return path


@pytest.fixture(scope="module")
def new_corpus(toy_corpus):
    """New data with a new label and new words, old sentences mixed in (as README advises)."""
    old_train, old_dev = toy_corpus["train"][:400], toy_corpus["validation"][:60]
    return {"train": product_sentences(120) + old_train, "validation": product_sentences(20, 7) + old_dev}


def test_tables_grow_and_old_rows_keep_their_weights(base, new_corpus):
    init = load(base)
    config = dataclasses.replace(TINY, crf=True)
    data = prepare(new_corpus, config, init)
    assert data.tags == [*init.tags, "B-PRODUCT", "I-PRODUCT"]  # old tags first, in their order
    for old, new in zip(init.featurizer.columns, data.featurizer.columns):
        assert new.vocab[:len(old.vocab)] == old.vocab  # every old key keeps its id
    words = data.featurizer.columns[0]
    assert "zorbix" not in init.featurizer.columns[0].index and "zorbix" in words.index

    model = build_model(data, config, Rngs.from_seed(5))
    fresh = model.state_dict()
    start_from(model, init, data.tags)
    got, old = model.state_dict(), init.model.state_dict()
    for i, column in enumerate(init.featurizer.columns):
        key = f"embeddings.{i}.weight"
        np.testing.assert_array_equal(got[key][:len(column.vocab)], old[key])
        np.testing.assert_array_equal(got[key][len(column.vocab):], fresh[key][len(column.vocab):])
    np.testing.assert_array_equal(got["hidden.weight"], old["hidden.weight"])
    k = len(init.tags)
    np.testing.assert_array_equal(got["output.weight"][:, :k], old["output.weight"])
    np.testing.assert_array_equal(got["transitions"][:k, :k], old["transitions"])
    assert not got["transitions"][k:, :].any() and not got["transitions"][:, k:].any()  # new CRF scores: 0


def test_continued_model_finds_new_labels_and_still_the_old_ones(base, new_corpus, toy_corpus, tmp_path):
    out = tmp_path / "continued"
    result = train(new_corpus, out, dataclasses.replace(TINY, crf=True, epochs=3), init_model=base)
    assert result.best_dev_f1 > 80
    tagger = load(out)
    assert tagger.tags[-2:] == ["B-PRODUCT", "I-PRODUCT"]
    assert tagger.config["continued_from"]["tags"] == load(base).tags
    found = {(e.text, e.label) for e in tagger("Yesterday Kessa bought a Quellon Max in Velmora .")}
    assert ("Quellon Max", "PRODUCT") in found
    # old-style text: the toy test split, never trained on by either model
    test = toy_corpus["test"]
    f1 = strict_f1([s.tags for s in test], tagger.tag_tokens([s.tokens for s in test]))
    assert f1 > 85, f1
    assert {e.label for e in tagger(SENTENCE)} >= {"PER", "LOC"}


def test_the_network_shape_comes_from_the_model(base, new_corpus, tmp_path):
    """A config asking for another shape is given the model's: only how to train comes from it."""
    out = tmp_path / "m"
    train(new_corpus, out, dataclasses.replace(TINY, hidden=99, word_dim=3, crf=False, epochs=1), init_model=base)
    model = load(out)
    assert model.model.hparams()["hidden"] == TINY.hidden and model.model.crf
    assert model.featurizer.columns[0].dim == TINY.word_dim


def test_cli_init_model(base, new_corpus, tmp_path):
    from tests.helpers import fails, ok, run

    (tmp_path / "train.txt").write_text(to_conll(new_corpus["train"]), encoding="utf-8")
    (tmp_path / "dev.txt").write_text(to_conll(new_corpus["validation"]), encoding="utf-8")
    files = ["--train-file", tmp_path / "train.txt", "--dev-file", tmp_path / "dev.txt"]
    fails(run("train", tmp_path / "bad", "--init-model", base, *files, "--hidden", "20", "--quiet"),
          "--hidden", "--init-model")
    fails(run("train", tmp_path / "bad", "--init-model", tmp_path / "nowhere", *files, "--quiet"), "nowhere")
    ok(run("train", tmp_path / "m", "--init-model", base, *files, "--epochs", "1", "--lr", "0.01", "--quiet"))
    assert load(tmp_path / "m").tags[-2:] == ["B-PRODUCT", "I-PRODUCT"]
    assert "continued" in ok(run("info", tmp_path / "m"))


def test_binary_models_cannot_be_continued(copy_model, toy_corpus, tmp_path):
    binary = tmp_path / "binary"
    train(toy_corpus, binary, dataclasses.replace(TINY, task="binary", epochs=1))
    with pytest.raises(NerwinError, match="binary"):
        train(toy_corpus, tmp_path / "m", TINY, init_model=binary)
