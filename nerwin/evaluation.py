"""Scoring a model on gold data (any file or hub split training reads): strict IOB2 entity P/R/F1 (and the
conlleval figure), per type."""
from __future__ import annotations

from pathlib import Path

from . import binary
from .analysis import error_analysis
from .data import DataOptions, read_data, read_hub_split
from .errors import NerwinError
from .metrics import score
from .tagger import Tagger, load

__all__ = ["evaluate"]


def evaluate(data: str | Path | None, model: Tagger | str | Path | None = None, errors: int = 3,
             options: DataOptions | None = None, hub: str | None = None, split: str = "test") -> dict:
    """Tag the sentences of a data file (read as `options` say, as training reads it) or of a hub
    dataset's `split` (`hub`: NAME or NAME:CONFIG) with `model` (default: the shipped one) and score them.

    Returns the `nerwin.metrics.score` report plus "data", "model" and "errors" (the confusion table
    and the mistakes by kind of `nerwin.analysis.error_analysis`, up to `errors` examples of each).
    Gold tags of a type the model does not know are an error (its scores would silently read 0); a
    binary (LOC) model is scored against the file's LOC entities, every other tag counting as O.
    """
    if (data is None) == (hub is None):
        raise NerwinError("give a data file or a hub dataset (--hub NAME[:CONFIG]) to evaluate on, one of them")
    tagger = model if isinstance(model, Tagger) else load(model)
    sentences = read_data(data, options) if hub is None else read_hub_split(hub, split, options)
    gold = [s.tags for s in sentences]
    if tagger.binary:
        gold = binary.gold(gold)
    else:
        known = set(tagger.tags)
        for s in sentences:
            for i, t in enumerate(s.tags):
                if t not in known:
                    where = f"{data}:{s.token_line(i)}" if hub is None else f"{hub} [{split}] row {s.line}"
                    raise NerwinError(f"{where}: tag {t!r} is not one the model knows "
                                      f"({', '.join(tagger.tags)})")
    pred = tagger.tag_tokens([s.tokens for s in sentences])
    report = score(gold, pred)
    report["errors"] = error_analysis(gold, pred, [s.tokens for s in sentences], examples=errors)
    report["data"] = str(data) if hub is None else f"{hub} [{split}]"
    report["model"] = str(model) if model is not None and not isinstance(model, Tagger) else "default"
    return report
