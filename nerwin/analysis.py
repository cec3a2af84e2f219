"""Which mistakes a model makes: a confusion table of entity types, and mistakes by kind with examples.

Entities are compared by exact token span, as strict scoring does. The confusion table counts each gold
entity under its type's row: in the column of the type predicted for the same span, or in the column
"missed"; each predicted entity with no gold one of its span counts in the row "spurious". Its diagonal
is what strict scoring calls correct. The kinds say more about the mistakes: a gold entity not found
exactly has the right span with the wrong type ("wrong type"), overlaps a predicted entity ("overlapping
span"), or is "missed"; a predicted entity overlapping no gold one is "spurious".
"""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

from .tags import spans

__all__ = ["KINDS", "MISSED", "SPURIOUS", "classify", "error_analysis", "format_errors"]

MISSED, SPURIOUS = "missed", "spurious"
KINDS = ("wrong type", "overlapping span", MISSED, SPURIOUS)


def classify(gold: Sequence[str], pred: Sequence[str]) -> list[tuple[str, str, tuple[int, int]]]:
    """(kind, types, token span) of each mistake in one sentence: kind as in KINDS, types e.g.
    "LOC -> ORG" for a wrong type, else the entity's own type."""
    g = {(a, b): k for a, b, k in spans(gold)}
    p = {(a, b): k for a, b, k in spans(pred)}

    def overlaps(span, others) -> bool:
        return any(o[0] < span[1] and span[0] < o[1] for o in others)

    out = []
    for span, kind in g.items():
        if span in p:
            if p[span] != kind:
                out.append(("wrong type", f"{kind} -> {p[span]}", span))
        else:
            out.append(("overlapping span" if overlaps(span, p) else MISSED, kind, span))
    out += [(SPURIOUS, kind, span) for span, kind in p.items() if span not in g and not overlaps(span, g)]
    return out


def _confusion(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict[str, dict[str, int]]:
    table: dict[str, Counter] = defaultdict(Counter)
    for g_seq, p_seq in zip(gold, pred):
        g = {(a, b): k for a, b, k in spans(g_seq)}
        p = {(a, b): k for a, b, k in spans(p_seq)}
        for span, kind in g.items():
            table[kind][p.get(span, MISSED)] += 1
        for span, kind in p.items():
            if span not in g:
                table[SPURIOUS][kind] += 1
    rows = sorted(table, key=lambda row: (row == SPURIOUS, row))  # the types, then "spurious"
    return {row: dict(sorted(table[row].items())) for row in rows}


def error_analysis(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]],
                   tokens: Sequence[Sequence[str]] | None = None, examples: int = 0) -> dict:
    """{"confusion": {gold type or "spurious": {predicted type or "missed": count}}, "kinds": {kind:
    count}, "examples": {kind: [{"sentence", "text", "types"}, ...]}} with up to `examples` of each kind
    (their words from `tokens`)."""
    kinds: Counter = Counter({k: 0 for k in KINDS})
    found: dict[str, list[dict]] = {k: [] for k in KINDS}
    for i, (g_seq, p_seq) in enumerate(zip(gold, pred)):
        for kind, types, (a, b) in classify(g_seq, p_seq):
            kinds[kind] += 1
            if len(found[kind]) < examples:
                text = " ".join(tokens[i][a:b]) if tokens is not None else None
                found[kind].append({"sentence": i, "text": text, "types": types})
    return {"confusion": _confusion(gold, pred), "kinds": dict(kinds),
            "examples": {k: v for k, v in found.items() if v}}


def format_errors(analysis: dict) -> str:
    """The confusion table and the kinds of mistakes as plain text."""
    table = analysis["confusion"]
    columns = sorted({c for row in table.values() for c in row} - {MISSED}) + [MISSED]
    width = max([len(c) for c in columns] + [len(r) for r in table] + [6]) + 1
    lines = ["Confusion of entity types (rows: gold, columns: predicted; by exact span):",
             "gold \\ pred".ljust(width) + "".join(c.rjust(width) for c in columns)]
    for row, cols in table.items():
        lines.append(row.ljust(width) + "".join(str(cols.get(c, 0) if c != MISSED or row != SPURIOUS else "")
                                                 .rjust(width) for c in columns))
    lines.append("")
    lines.append("Mistakes by kind: " + ", ".join(f"{k} {n}" for k, n in analysis["kinds"].items()))
    for kind, shown in analysis["examples"].items():
        lines.append(f"  {kind}: " + "; ".join(f"{e['text']} ({e['types']})" for e in shown))
    return "\n".join(lines)
