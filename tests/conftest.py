"""Shared fixtures: the toy corpus, one tiny model trained once per session, its loaded tagger, private
copies of it, and a small toy data folder. Constants and pure functions live in tests/helpers.py.

Session-scoped fixtures (`toy_corpus`, `small_corpus`, `tiny_model`, `tiny_tagger`) are shared by every
test, so they must not be modified; they may also be used in hypothesis `@given` tests, which refuse
function-scoped fixtures. Tests that damage or replace a model take `copy_model` instead.
"""
from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import SMALL_DEV, SMALL_TRAIN, TINY, TWO_PASS, cut, read_toy_corpus, to_conll


@pytest.fixture(scope="session")
def toy_corpus() -> dict:
    """{"train", "validation", "test"}: lists of Sentences read from data/toy (shared: do not modify)."""
    return read_toy_corpus()


@pytest.fixture(scope="session")
def small_corpus(toy_corpus) -> dict:
    """The toy corpus with train and validation cut to their first SMALL_TRAIN and SMALL_DEV sentences,
    for tests about the training machinery rather than accuracy (shared: do not modify)."""
    return cut(toy_corpus, SMALL_TRAIN, SMALL_DEV)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, toy_corpus) -> Path:
    """A model folder trained on data/toy with TINY, once per session (a second or two). Do not modify it."""
    from nerwin.training import train

    path = tmp_path_factory.mktemp("tiny") / "model"
    result = train(toy_corpus, path, TINY)
    assert result.best_dev_f1 > 90, result.log
    return path


@pytest.fixture(scope="session")
def two_pass_model(tmp_path_factory, toy_corpus) -> Path:
    """A two-pass model trained on data/toy with TWO_PASS (2 folds, 2 epochs), once per session. Do not
    modify it."""
    from nerwin.training import train

    path = tmp_path_factory.mktemp("two-pass") / "model"
    result = train(toy_corpus, path, TWO_PASS)
    assert result.best_dev_f1 > 80, result.log
    return path


@pytest.fixture(scope="session")
def two_pass_tagger(two_pass_model):
    """The two-pass model, loaded (shared: do not modify)."""
    import nerwin

    return nerwin.load(two_pass_model)


@pytest.fixture(scope="session")
def tiny_tagger(tiny_model):
    """The tiny model, loaded (shared: do not modify)."""
    from nerwin.tagger import load

    return load(tiny_model)


@pytest.fixture
def copy_model(tiny_model, tmp_path) -> Callable[..., Path]:
    """`copy_model(name="model")`: a private copy of the tiny model at tmp_path/name, free to damage."""

    def copy(name: str = "model") -> Path:
        return Path(shutil.copytree(tiny_model, tmp_path / name))

    return copy


@pytest.fixture
def small_toy_folder(tmp_path, small_corpus) -> Path:
    """tmp_path/small-toy with train.txt and valid.txt: the first sentences of the toy splits."""
    folder = tmp_path / "small-toy"
    folder.mkdir()
    (folder / "train.txt").write_text(to_conll(small_corpus["train"]), encoding="utf-8")
    (folder / "valid.txt").write_text(to_conll(small_corpus["validation"]), encoding="utf-8")
    return folder
