"""Training a two-pass model's first pass, and its tags of the training data, the honest way.

The second pass learns how far to trust the first pass's tags (`nerwin.documents`), so it must see tags as
good as those it will meet on new text: never the first pass's tags of sentences it was trained on (it
would have memorized them). So train is cut into `folds` parts by document; a model trained on the other
parts tags each part (cross-validation, as Krishnan & Manning 2006 did with 10 folds), and the first pass
that ships is trained on all of train and tags dev (for early stopping) and, later, new text.

    first, tags = first_pass(corpus, config)   # tags["train"]: cross-validated; tags["validation"]: `first`'s
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from .sentences import Corpus, Sentence
from .tagger import Tagger
from .train_config import TrainConfig

__all__ = ["fold_of", "first_pass", "tag_documents"]


def fold_of(sentences: list[Sentence], folds: int, seed: int) -> np.ndarray:
    """Each sentence's fold: whole documents go to a fold (shuffled with the seed, then dealt in turn);
    data with fewer documents than folds is dealt sentence by sentence."""
    docs = np.array([s.doc for s in sentences], dtype=np.int64)
    names, of_sentence = np.unique(docs, return_inverse=True)
    if len(names) < folds:
        of_sentence = np.arange(len(sentences))
    order = np.random.default_rng([seed, 17]).permutation(int(of_sentence.max(initial=-1)) + 1)
    fold = np.empty(len(order), dtype=np.int64)
    fold[order] = np.arange(len(order)) % folds
    return fold[of_sentence]


def tag_documents(tagger: Tagger, sentences: list[Sentence]) -> list[list[str]]:
    """The tagger's tags of each sentence, the sentences read as the documents they belong to."""
    return tagger.tag_tokens([s.tokens for s in sentences], [s.doc for s in sentences])


def first_pass(corpus: Corpus, config: TrainConfig, progress: Callable[[dict], None] | None = None
               ) -> tuple[Tagger, dict[str, list[list[str]]]]:
    """The first pass trained on all of train (with `config`'s settings, as a one-pass model), and the
    first-pass tags of every sentence: of train cross-validated over `config.folds` folds, of dev by that
    first pass."""
    from .training import fit

    one = replace(config, two_pass=False, calibrate=False)
    train = corpus["train"]
    fold = fold_of(train, config.folds, config.seed)
    tags: list[list[str] | None] = [None] * len(train)
    for f in range(config.folds):
        inside = np.flatnonzero(fold != f).tolist()
        held = np.flatnonzero(fold == f).tolist()
        part = {"train": [train[i] for i in inside], "validation": corpus["validation"]}
        model = fit(part, one, _staged(progress, f"first pass, fold {f + 1}/{config.folds}"))
        for i, found in zip(held, tag_documents(model, [train[i] for i in held])):
            tags[i] = found
    first = fit(corpus, one, _staged(progress, "first pass"))
    return first, {"train": tags, "validation": tag_documents(first, corpus["validation"])}


def _staged(progress: Callable[[dict], None] | None, stage: str) -> Callable[[dict], None] | None:
    if progress is None:
        return None
    return lambda event: progress({**event, "stage": stage})
