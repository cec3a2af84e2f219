"""Entity-level scores with seqeval: strict IOB2 by default, the conlleval-compatible figure beside it.

seqeval's default mode is lenient (conlleval-like: ``I-PER I-PER`` gets full credit against
``B-PER I-PER``), and ``mode="strict"`` without a scheme silently stays lenient. So both go through
:func:`_seqeval_report`, which passes mode and scheme together. Figures are percentages (0..100).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nerwin.errors import NerwinError
from nerwin.tags import parse_tag

__all__ = ["format_report", "score", "strict_f1", "strict_f1_by_type", "strict_scores"]

Tags = Sequence[Sequence[str]]


def _seqeval_report(gold: Tags, pred: Tags, strict: bool) -> dict[str, dict[str, float]]:
    """seqeval's per-type report (plus 'micro avg'); strict means IOB2 scheme and strict mode together."""
    from seqeval.metrics import classification_report
    from seqeval.scheme import IOB2

    options: dict[str, Any] = {"mode": "strict", "scheme": IOB2} if strict else {}
    gold, pred = [list(s) for s in gold], [list(s) for s in pred]
    if not any(t != "O" for s in gold + pred for t in s):  # nothing to count: seqeval would warn
        return {}
    return classification_report(gold, pred, output_dict=True, zero_division=0, **options)


def _count_entities(sequences: Tags, strict: bool) -> int:
    from seqeval.metrics.sequence_labeling import get_entities
    from seqeval.scheme import IOB2, Entities

    lists = [list(s) for s in sequences]
    if strict:
        return sum(len(found) for found in Entities(lists, IOB2).entities)
    return sum(len(get_entities(s)) for s in lists)


def _check(gold: Tags, pred: Tags) -> None:
    if len(gold) != len(pred):
        raise NerwinError(f"cannot score: {len(gold)} gold sentences but {len(pred)} predicted")
    if not gold:
        raise NerwinError("cannot score: no sentences")
    for index, (g, p) in enumerate(zip(gold, pred)):
        if len(g) != len(p):
            raise NerwinError(f"cannot score: sentence {index} has {len(g)} gold tags but {len(p)} predicted")
        for side, tags in (("gold", g), ("predicted", p)):
            for tag in tags:
                try:
                    parse_tag(tag)
                except NerwinError as exc:
                    raise NerwinError(f"cannot score: {side} sentence {index}: {exc}") from None


def _prf(entry: dict[str, float] | None) -> dict[str, float]:
    entry = entry or {}
    return {
        key: 100.0 * float(entry.get(name, 0.0))
        for key, name in (("precision", "precision"), ("recall", "recall"), ("f1", "f1-score"))
    }


def score(gold: Tags, pred: Tags) -> dict[str, Any]:
    """Score predicted tag sequences against gold ones; a JSON-able dict of percentages and counts.

    Keys: scheme, mode, precision, recall, f1 (strict IOB2, micro-averaged), per_type {TYPE: precision,
    recall, f1, support}, conlleval {precision, recall, f1} (seqeval's lenient mode, as conlleval),
    token_accuracy, sentences, tokens, gold_entities, pred_entities.
    """
    _check(gold, pred)
    strict = _seqeval_report(gold, pred, strict=True)
    lenient = _seqeval_report(gold, pred, strict=False)
    averages = {"micro avg", "macro avg", "weighted avg"}
    per_type = {
        kind: {**_prf(entry), "support": int(entry["support"])}
        for kind, entry in sorted(strict.items())
        if kind not in averages
    }
    tokens = sum(len(s) for s in gold)
    correct = sum(g == p for gs, ps in zip(gold, pred) for g, p in zip(gs, ps))
    return {
        "scheme": "IOB2",
        "mode": "strict",
        **_prf(strict.get("micro avg")),
        "per_type": per_type,
        "conlleval": _prf(lenient.get("micro avg")),
        "token_accuracy": 100.0 * correct / tokens if tokens else 0.0,
        "sentences": len(gold),
        "tokens": tokens,
        "gold_entities": _count_entities(gold, strict=True),
        "pred_entities": _count_entities(pred, strict=True),
    }


def format_report(report: dict[str, Any]) -> str:
    """Plain-text report: scheme and mode, overall P/R/F with the conlleval F beside it, a per-type table."""
    c = report["conlleval"]
    width = max([len(kind) for kind in report["per_type"]] + [8]) + 2  # long label names stay aligned
    lines = [
        (
            f"Entity scores: scheme {report['scheme']}, mode {report['mode']} "
            f"({report['sentences']} sentences, {report['tokens']} tokens, "
            f"{report['gold_entities']} gold entities, {report['pred_entities']} predicted)"
        ),
        (
            f"precision {report['precision']:6.2f}  recall {report['recall']:6.2f}  F1 {report['f1']:6.2f}"
            f"   (conlleval-compatible, lenient: F1 {c['f1']:.2f})"
        ),
        f"token accuracy {report['token_accuracy']:6.2f}",
        "",
        f"{'type':<{width}}{'precision':>10}{'recall':>10}{'F1':>10}{'support':>10}",
    ]
    for kind, row in report["per_type"].items():
        lines.append(
            f"{kind:<{width}}{row['precision']:>10.2f}{row['recall']:>10.2f}{row['f1']:>10.2f}{row['support']:>10d}"
        )
    if not report["per_type"]:
        lines.append("(no entities in gold or predictions)")
    return "\n".join(lines)


def strict_f1(gold: Tags, pred: Tags) -> float:
    """Strict IOB2 entity F1 (percent) of valid IOB2 sequences, by exact span match.

    For valid IOB2 (what nerwin's loader and decoder produce) this equals seqeval's strict IOB2 micro F1
    (a test checks it), without importing seqeval (which pulls in scikit-learn) and in linear time:
    training scores dev with it after every epoch."""
    counts = _span_counts(gold, pred)
    return _f1(*(sum(c[i] for c in counts.values()) for i in range(3)))


def strict_f1_by_type(gold: Tags, pred: Tags) -> dict[str, float]:
    """Strict IOB2 entity F1 (percent) of each entity type met in gold or predictions, as `strict_f1`
    (exact span and type) but counted per type: what training logs per epoch for its curves."""
    return {kind: _f1(*c) for kind, c in sorted(_span_counts(gold, pred).items())}


def strict_scores(gold: Tags, pred: Tags) -> dict[str, Any]:
    """precision, recall, f1 (percent), per_type {TYPE: precision, recall, f1, support} and gold_entities
    of valid IOB2 sequences, by exact span and type: `score`'s strict figures without seqeval (which
    imports scikit-learn, scipy and pandas: ~130 MB and ~1 s), for what training writes when it ends."""
    counts = _span_counts(gold, pred)
    found, correct, expected = (sum(c[i] for c in counts.values()) for i in range(3))

    def prf(found: int, correct: int, expected: int) -> dict[str, float]:
        return {"precision": 100.0 * correct / found if found else 0.0,
                "recall": 100.0 * correct / expected if expected else 0.0, "f1": _f1(found, correct, expected)}

    return {**prf(found, correct, expected), "gold_entities": expected,
            "per_type": {kind: {**prf(*c), "support": c[2]} for kind, c in sorted(counts.items())}}


def _span_counts(gold: Tags, pred: Tags) -> dict[str, list[int]]:
    """{type: [found, correct, expected]} over all sentences, entities compared by exact span and type."""
    from nerwin.tags import spans

    _check(gold, pred)
    counts: dict[str, list[int]] = {}
    for g, p in zip(gold, pred):
        gs, ps = set(spans(g)), set(spans(p))
        for entities, i in ((ps, 0), (gs & ps, 1), (gs, 2)):
            for _, _, kind in entities:
                counts.setdefault(kind, [0, 0, 0])[i] += 1
    return counts


def _f1(found: int, correct: int, expected: int) -> float:
    if not correct:
        return 0.0
    precision, recall = correct / found, correct / expected
    return 100.0 * 2 * precision * recall / (precision + recall)
