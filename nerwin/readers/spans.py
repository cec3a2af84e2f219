"""JSONL of text and character spans, the shapes annotation tools export, read as tokens with IOB2 tags.

One JSON object a line, each a sentence (or a paragraph) with its entities as character offsets, end
exclusive; any of these shapes:

- spaCy / Prodigy: ``{"text": ..., "spans": [{"start": 0, "end": 5, "label": "PER"}, ...]}``
- doccano: ``{"text": ..., "label": [[0, 5, "PER"], ...]}`` (or ``"entities"`` of ``start_offset`` /
  ``end_offset`` / ``label`` objects, as newer doccano writes)
- nerwin's own ``tag --format json``: ``{"text": ..., "entities": [{"text", "label", "start", "end",
  "score"}, ...]}``

The text is split by nerwin's tokenizer (the one tagging uses), and each span must fall on token
boundaries: a span that cuts a token, overlaps another span, or points outside the text is an error
naming the line and the span, unless ``snap`` widens cut spans to the tokens they touch. Whitespace at a
span's edges is left out first (annotation tools often take a trailing space along).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nerwin.errors import NerwinError
from nerwin.readers.lines import shorten, text_lines
from nerwin.sentences import Sentence
from nerwin.tokenize import Token, tokenize

__all__ = ["SPAN_KEYS", "read_jsonl", "tags_of_spans"]

SPAN_KEYS = ("spans", "entities", "label", "labels")  # where a record's spans may be, first found wins
Span = tuple[int, int, str]


def read_jsonl(path: str | Path, *, snap: bool = False) -> list[Sentence]:
    """Sentences of a JSONL file of text and character spans; each record is its own document.

    Blank lines are skipped, and so are records whose text holds no token."""
    path = Path(path)
    sentences: list[Sentence] = []
    for number, line in text_lines(path, "JSONL"):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        text, spans = _record(line, where)
        tokens = tokenize(text)
        tags = tags_of_spans(text, tokens, spans, snap=snap, where=where)
        if tokens:
            sentences.append(Sentence([t.text for t in tokens], tags, len(sentences), number, one_line=True))
    if not sentences:
        raise NerwinError(f"{path}: no sentences (expected one JSON object a line with a \"text\")")
    return sentences


def _record(line: str, where: str) -> tuple[str, list[Span]]:
    """The text and the spans of one JSON line, with every field checked."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise NerwinError(f"{where}: not JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(record, dict) or not isinstance(record.get("text"), str):
        raise NerwinError(f"{where}: expected an object with a \"text\" string, got {shorten(line)}")
    key = next((k for k in SPAN_KEYS if k in record), None)
    items = record.get(key, []) if key else []
    if not isinstance(items, list):
        raise NerwinError(f"{where}: \"{key}\" must be a list of spans, got {shorten(json.dumps(items))}")
    return record["text"], [_span(item, key, where) for item in items]


def _span(item: Any, key: str | None, where: str) -> Span:
    """(start, end, label) from {"start", "end", "label"}, {"start_offset", "end_offset", "label"} or
    [start, end, label]."""
    if isinstance(item, dict):
        start, end = item.get("start", item.get("start_offset")), item.get("end", item.get("end_offset"))
        label = item.get("label")
    elif isinstance(item, list) and len(item) == 3:
        start, end, label = item
    else:
        start = end = label = None
    if not (_is_int(start) and _is_int(end) and isinstance(label, str)):
        raise NerwinError(f"{where}: a span in \"{key}\" must have integer start and end and a label "
                          f"(as {{\"start\": 0, \"end\": 5, \"label\": \"PER\"}} or [0, 5, \"PER\"]), "
                          f"got {shorten(json.dumps(item, ensure_ascii=False))}")
    if not label or any(c.isspace() for c in label):
        raise NerwinError(f"{where}: span {start}-{end} has label {label!r}: a label must be non-empty text "
                          "without whitespace")
    return start, end, label


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def tags_of_spans(text: str, tokens: list[Token], spans: list[Span], *, snap: bool = False,
                  where: str = "") -> list[str]:
    """IOB2 tags of `tokens` (of `text`) for character `spans`; see the module's doc for the errors."""
    tags = ["O"] * len(tokens)
    placed: list[tuple[int, int, Span]] = []  # token range of each span
    for span in spans:
        first, last = _token_range(text, tokens, span, snap, where)
        placed.append((first, last, span))
    placed.sort()
    for (_, last, a), (first, _, b) in zip(placed, placed[1:]):
        if first < last:
            how = " once snapped to token boundaries" if snap else ""
            raise NerwinError(f"{where}: span {_show(text, a)} overlaps span {_show(text, b)}{how}")
    for first, last, (_, _, label) in placed:
        tags[first:last] = [f"B-{label}"] + [f"I-{label}"] * (last - first - 1)
    return tags


def _token_range(text: str, tokens: list[Token], span: Span, snap: bool, where: str) -> tuple[int, int]:
    """The tokens [first, last) a span covers: whitespace at its edges left out, then it must start and
    end on token boundaries (or, with snap, widen to the tokens it touches)."""
    start, end, label = span
    if not 0 <= start < end <= len(text):
        problem = "is empty" if 0 <= start == end <= len(text) else f"points outside the text (0-{len(text)})"
        raise NerwinError(f"{where}: span {start}-{end} {label!r} {problem}")
    inner_start, inner_end = start, end
    while inner_start < inner_end and text[inner_start].isspace():
        inner_start += 1
    while inner_end > inner_start and text[inner_end - 1].isspace():
        inner_end -= 1
    if inner_start == inner_end:
        raise NerwinError(f"{where}: span {_show(text, span)} holds only whitespace")
    touched = [i for i, t in enumerate(tokens) if t.start < inner_end and inner_start < t.end]
    first, last = touched[0], touched[-1] + 1
    cut = tokens[first] if inner_start != tokens[first].start else (
        tokens[last - 1] if inner_end != tokens[last - 1].end else None)
    if cut is not None and not snap:
        raise NerwinError(f"{where}: span {_show(text, span)} cuts the token {cut.text!r} ({cut.start}-{cut.end}); "
                          "fix the span, or give --snap to widen spans to token boundaries")
    return first, last


def _show(text: str, span: Span) -> str:
    start, end, label = span
    return f"{start}-{end} {label!r} ({shorten(text[start:end], 30)})"
