"""Scoring a model on gold data (any file or hub split training reads): strict IOB2 entity P/R/F1 (and the
conlleval figure), per type, the mistakes, and how well the entity scores are calibrated."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import binary
from .analysis import error_analysis
from .calibration import reliability
from .data import DataOptions, read_data, read_hub_split
from .errors import NerwinError
from .metrics import score
from .sentences import Sentence
from .tagger import Tagger, load
from .tags import spans

__all__ = ["Predictions", "ScoredSpan", "evaluate", "gold_tags", "predict_file"]

ScoredSpan = tuple[int, int, str, float]  # a predicted entity: token start, end (exclusive), type, score


@dataclass
class Predictions:
    """A model's predictions on gold data beside its gold tags: what the report and the HTML page
    (`nerwin.report`) are made from."""

    data: str
    model: str
    sentences: list[Sentence]
    gold: list[list[str]]            # the file's tags (a binary model: its LOC entities only)
    pred: list[list[str]]
    entities: list[list[ScoredSpan]]  # the predicted entities of each sentence, with their scores

    def report(self, errors: int = 3) -> dict:
        """The `nerwin.metrics.score` report plus "errors" (`nerwin.analysis.error_analysis`, up to
        `errors` examples of each kind), "calibration" (`nerwin.calibration.reliability`), "data", "model"."""
        out = score(self.gold, self.pred)
        out["errors"] = error_analysis(self.gold, self.pred, [s.tokens for s in self.sentences], examples=errors)
        out["calibration"] = reliability(*self.scored_right())
        out["data"], out["model"] = self.data, self.model
        return out

    def scored_right(self) -> tuple[list[float], list[bool]]:
        """Every predicted entity's score, and whether gold has its span and type."""
        scores, right = [], []
        for gold, found in zip(self.gold, self.entities):
            truth = set(spans(gold))
            for a, b, label, s in found:
                scores.append(s)
                right.append((a, b, label) in truth)
        return scores, right


def gold_tags(tagger: Tagger, sentences: list[Sentence], file: str | None, source: str = "") -> list[list[str]]:
    """The sentences' tags to score `tagger` against: as they are, or a binary (LOC) model's LOC entities
    alone. A tag of a type the model does not know is an error (its scores would silently read 0), named
    by `file` and line, or (no file) by `source` (e.g. a hub split) and row."""
    if tagger.binary:
        return binary.gold([s.tags for s in sentences])
    known = set(tagger.tags)
    for s in sentences:
        for i, t in enumerate(s.tags):
            if t not in known:
                where = f"{file}:{s.token_line(i)}" if file is not None else f"{source} row {s.line}"
                raise NerwinError(f"{where}: tag {t!r} is not one the model knows ({', '.join(tagger.tags)})")
    return [s.tags for s in sentences]


def predict_file(data: str | Path | None, model: Tagger | str | Path | None = None,
                 options: DataOptions | None = None, hub: str | None = None, split: str = "test",
                 documents: bool = True) -> Predictions:
    """Tag the sentences of a data file (read as `options` say, as training reads it) or of a hub dataset's
    `split` (`hub`: NAME or NAME:CONFIG) with `model` (default: the shipped one), in one pass that gives
    both the tags and the entities' scores.

    The sentences of one document (CoNLL's -DOCSTART- lines separate documents) are tagged as that
    document, which a two-pass model reads as a whole; with `documents=False` each sentence is a document
    of its own.

    Gold tags of a type the model does not know are an error (its scores would silently read 0); a
    binary (LOC) model is scored against the file's LOC entities, every other tag counting as O.
    """
    if (data is None) == (hub is None):
        raise NerwinError("give a data file or a hub dataset (--hub NAME[:CONFIG]) to evaluate on, one of them")
    tagger = model if isinstance(model, Tagger) else load(model)
    sentences = read_data(data, options) if hub is None else read_hub_split(hub, split, options)
    gold = gold_tags(tagger, sentences, str(data) if hub is None else None, f"{hub} [{split}]")
    tokens, found = tagger.tokens_and_entities([s.tokens for s in sentences],
                                               docs=[s.doc for s in sentences] if documents else None)
    pred, entities = [], []
    for toks, ents in zip(tokens, found):
        first = {start: i for i, (_, start, _) in enumerate(toks)}
        after = {end: i + 1 for i, (_, _, end) in enumerate(toks)}
        tags, scored = ["O"] * len(toks), []
        for e in ents:  # decoding gives valid IOB2: B-X, then I-X to the entity's last word
            a, b = first[e.start], after[e.end]
            tags[a:b] = [f"B-{e.label}"] + [f"I-{e.label}"] * (b - a - 1)
            scored.append((a, b, e.label, e.score))
        pred.append(tags)
        entities.append(scored)
    name = str(model) if model is not None and not isinstance(model, Tagger) else "default"
    where = str(data) if hub is None else f"{hub} [{split}]"
    return Predictions(where, name, sentences, gold, pred, entities)


def evaluate(data: str | Path | None, model: Tagger | str | Path | None = None, errors: int = 3,
             options: DataOptions | None = None, hub: str | None = None, split: str = "test",
             documents: bool = True) -> dict:
    """Tag gold data as `predict_file` does and score it: the report of `Predictions.report` (scores, per
    type, mistakes with up to `errors` examples of each kind, calibration of the entity scores)."""
    return predict_file(data, model, options, hub, split, documents).report(errors)
