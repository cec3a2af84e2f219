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
    """Each sentence's fold: whole documents go to a fold (shuffled with the seed, then dealt in turn), a
    copy made from a document (`Sentence.origin`, e.g. re-cased by --case-copies) with it, so that no fold
    model tags a sentence it was trained on in another casing; data with fewer documents than folds is
    dealt sentence by sentence."""
    docs = np.array([s.doc if s.origin is None else s.origin for s in sentences], dtype=np.int64)
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


def first_pass(corpus: Corpus, config: TrainConfig, progress: Callable[[dict], None] | None = None,
               workers: int = 1) -> tuple[Tagger, dict[str, list[list[str]]]]:
    """The first pass trained on all of train (with `config`'s settings, as a one-pass model), and the
    first-pass tags of every sentence: of train cross-validated over `config.folds` folds, of dev by that
    first pass.

    The fold models train for as many epochs as the first pass's best (dev is not scored for them: that
    saves its scoring and the epochs of patience), on `workers` processes at a time (started with spawn,
    each holding BLAS to one thread; a script that asks for more than one needs the usual
    `if __name__ == "__main__":` guard), or in this process."""
    from .training import fit

    one = replace(config, two_pass=False, calibrate=False)
    first = fit(corpus, one, _staged(progress, "first pass"))
    epochs = int(first.config["dev"].get("epoch") or config.epochs)
    train = corpus["train"]
    fold = fold_of(train, config.folds, config.seed)
    jobs = [([train[i] for i in np.flatnonzero(fold != f)], [train[i] for i in np.flatnonzero(fold == f)])
            for f in range(config.folds)]
    workers = min(workers, config.folds)
    if workers > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_one_blas_thread) as pool:
            futures = [pool.submit(_fold_tags, inside, held, corpus["validation"], one, epochs, None)
                       for inside, held in jobs]
            found = []
            for f, future in enumerate(futures):
                found.append(future.result())
                _report(progress, f, config.folds, epochs)
    else:
        found = []
        for f, (inside, held) in enumerate(jobs):
            stage = _staged(progress, f"first pass, fold {f + 1}/{config.folds}")
            found.append(_fold_tags(inside, held, corpus["validation"], one, epochs, stage))
    tags: list[list[str] | None] = [None] * len(train)
    for f, fold_tags in enumerate(found):
        for i, t in zip(np.flatnonzero(fold == f).tolist(), fold_tags):
            tags[i] = t
    return first, {"train": tags, "validation": tag_documents(first, corpus["validation"])}


def _fold_tags(inside: list[Sentence], held: list[Sentence], dev: list[Sentence], config: TrainConfig,
               epochs: int, progress: Callable[[dict], None] | None) -> list[list[str]]:
    """A fold model trained on `inside` for `epochs` epochs, and its tags of `held`, by document."""
    from .training import fit

    model = fit({"train": inside, "validation": dev}, config, progress, epochs=epochs)
    return tag_documents(model, held)


def _one_blas_thread() -> None:
    """A fold worker's start: BLAS on one thread (the workers share the cores)."""
    from threadpoolctl import threadpool_limits

    global _LIMIT
    _LIMIT = threadpool_limits(1, user_api="blas")


def _report(progress: Callable[[dict], None] | None, f: int, folds: int, epochs: int) -> None:
    if progress is not None:
        progress({"stage": f"first pass, fold {f + 1}/{folds}", "note": f"trained {epochs} epochs in a worker"})


def _staged(progress: Callable[[dict], None] | None, stage: str) -> Callable[[dict], None] | None:
    if progress is None:
        return None
    return lambda event: progress({**event, "stage": stage})
