"""Output formats of `nerwin tag`, written a whole batch at a time so that writing keeps up with tagging.

Each writer takes one batch's results flat (`nerwin.tagger.Tagged`) and returns the batch's output text,
every record on its own line(s) and the text ending with a newline. The loops run over entities, not
over texts or tokens, wherever they can: a text without entities costs one C-level call, and CoNLL rows
are one C-level join of tokens and what follows each. The output equals what the plain
one-record-at-a-time code gives (`json.dumps` with `ensure_ascii=False`, tested):

- text: each text with its entities bracketed, `[Samuel Quinn]PER was arrested in [Paris]LOC .`;
- json: `{"text": ..., "entities": [{"text", "label", "start", "end", "score"}]}` a line, or with JSON
  Lines input each record as read with `"entities"` added (every other field passed through);
- conll: a token and its IOB2 tag a line, a blank line after each text;
- displacy: displaCy's manual-mode `{"text", "ents": [{"start", "end", "label"}], "title"}` a line;
- html: the blocks of one self-contained page (`nerwin.views`), put together once every text is tagged.
"""
from __future__ import annotations

import json
from json.encoder import encode_basestring as _quote  # json.dumps(s, ensure_ascii=False), in C

import numpy as np

from .tagger import Tagged

__all__ = ["text", "json_lines", "conll", "displacy", "html_blocks", "WRITERS", "SUFFIX"]


def _by_text(t: Tagged) -> list[tuple[int, int, int]]:
    """(text number, first entity, end entity) of each text that has entities, in order."""
    groups, begin = [], 0
    for k in range(1, len(t.text_of) + 1):
        if k == len(t.text_of) or t.text_of[k] != t.text_of[begin]:
            groups.append((t.text_of[begin], begin, k))
            begin = k
    return groups


def text(t: Tagged, records: list[dict] | None = None) -> str:
    """Each text with its entities in brackets: '[Samuel Quinn]PER was arrested in [Paris]LOC .'"""
    if not t.texts:
        return ""
    out = list(t.texts)
    for i, begin, end in _by_text(t):
        line, parts, at = out[i], [], 0
        for a, b, label in zip(t.starts[begin:end], t.ends[begin:end], t.labels[begin:end]):
            parts += (line[at:a], "[", line[a:b], "]", label)
            at = b
        parts.append(line[at:])
        out[i] = "".join(parts)
    return "\n".join(out) + "\n"


_ENTITY = '{"text": %s, "label": %s, "start": %d, "end": %d, "score": %r}'.__mod__


def _entity_lists(t: Tagged) -> list[str]:
    """Each text's entities as the inside of a JSON list."""
    quoted = {label: _quote(label) for label in set(t.labels)}
    strings = [t.texts[i][a:b] for i, a, b in zip(t.text_of, t.starts, t.ends)]
    entities = list(map(_ENTITY, zip(map(_quote, strings), map(quoted.__getitem__, t.labels), t.starts, t.ends,
                                     t.scores)))
    lists = [""] * len(t.texts)
    for i, begin, end in _by_text(t):
        lists[i] = ", ".join(entities[begin:end])
    return lists


def json_lines(t: Tagged, records: list[dict] | None = None) -> str:
    """A JSON object a line: {"text", "entities"}, or each record with "entities" added."""
    if not t.texts:
        return ""
    lists = _entity_lists(t)
    if records is None:
        lines = [f'{{"text": {_quote(line)}, "entities": [{ents}]}}' for line, ents in zip(t.texts, lists)]
    else:
        lines = [_with_field(record, "entities", f"[{ents}]") for record, ents in zip(records, lists)]
    return "\n".join(lines) + "\n"


def _with_field(record: dict, key: str, value_json: str) -> str:
    """json.dumps({**record, key: value}, ensure_ascii=False), the value given as JSON text."""
    if key in record:  # it keeps its place in the record: let json do it
        return json.dumps({**record, key: json.loads(value_json)}, ensure_ascii=False)
    head = json.dumps(record, ensure_ascii=False)
    return f"{head[:-1]}{', ' if record else ''}{_quote(key)}: {value_json}}}"


def conll(t: Tagged, records: list[dict] | None = None) -> str:
    """A token and its IOB2 tag a line (tab between), a blank line after each text."""
    if not t.texts:
        return ""
    n = len(t.tokens)
    names = sorted(set(t.labels))
    tags = ["O"] + [f"{p}-{label}" for label in names for p in "BI"]
    # what follows a token: its tag and a newline, and a second newline after a text's last token
    suffixes = np.array([f"\t{tag}\n{blank}" for tag in tags for blank in ("", "\n")], dtype=object)
    codes = np.zeros(n, dtype=np.int64)
    if len(t.firsts):
        index = {label: 1 + 2 * k for k, label in enumerate(names)}
        label_code = np.array([index[label] for label in t.labels], dtype=np.int64)
        inner = t.lasts - t.firsts  # I- tags after each B-
        codes[t.firsts] = label_code
        if inner.sum():
            at = np.repeat(t.firsts + 1 - (np.cumsum(inner) - inner), inner) + np.arange(int(inner.sum()))
            codes[at] = np.repeat(label_code + 1, inner)
    lengths = np.asarray(t.lengths, dtype=np.int64)
    ends = np.cumsum(lengths)
    codes *= 2
    codes[ends[lengths > 0] - 1] += 1
    after = suffixes[codes].tolist()
    lead = ""
    for k in ends[lengths == 0].tolist():  # an empty text is a blank line of its own
        if k:
            after[k - 1] += "\n"
        else:
            lead += "\n"
    parts = [""] * (2 * n)  # token, what follows it, token, ...: one C-level join
    parts[0::2] = t.tokens
    parts[1::2] = after
    return lead + "".join(parts)


def displacy(t: Tagged, records: list[dict] | None = None) -> str:
    """displaCy's manual-mode JSON a line; with records, their other fields after "title" (a record's own
    "title" is used as the title)."""
    if not t.texts:
        return ""
    ents = [""] * len(t.texts)
    for i, begin, end in _by_text(t):
        ents[i] = ", ".join(f'{{"start": {a}, "end": {b}, "label": {_quote(label)}}}'
                            for a, b, label in zip(t.starts[begin:end], t.ends[begin:end], t.labels[begin:end]))
    if records is None:
        lines = [f'{{"text": {_quote(line)}, "ents": [{e}], "title": null}}' for line, e in zip(t.texts, ents)]
    else:
        lines = []
        for line, e, record in zip(t.texts, ents, records):
            doc = {"text": line, "ents": json.loads(f"[{e}]"), "title": record.get("title")}
            doc.update((k, v) for k, v in record.items() if k not in doc)
            lines.append(json.dumps(doc, ensure_ascii=False))
    return "\n".join(lines) + "\n"


def html_blocks(t: Tagged, records: list[dict] | None = None) -> str:
    """The page's blocks of this batch, one a line (`nerwin.views.page` puts them in a page)."""
    from .views import entities_html

    return "".join(entities_html(line, ents) + "\n" for line, ents in zip(t.texts, t.entities()))


WRITERS = {"text": text, "json": json_lines, "conll": conll, "displacy": displacy, "html": html_blocks}
SUFFIX = {"text": ".txt", "json": ".jsonl", "conll": ".conll", "displacy": ".jsonl", "html": ".html"}
