"""Entities to look at: a self-contained HTML page, and displaCy's manual-mode JSON.

The page has no external scripts, fonts or styles, so it opens anywhere (a file, a mail, an air-gapped
machine); every piece of the user's text is escaped, so a text holding `<script>` or `&amp;` shows as
written and runs nothing. Each entity is highlighted in its label's colour, with the label and score
after it and on hover; a legend lists the labels met.
"""
from __future__ import annotations

import html
import zlib
from collections.abc import Iterable, Sequence

__all__ = ["colour", "displacy", "document", "entities_html", "legend", "page"]

# Label colours: CoNLL-2003's four as displaCy shows them, others from a palette by a stable hash
_KNOWN = {"PER": "#aa9cfc", "ORG": "#7aecec", "LOC": "#ff9561", "MISC": "#e4e7d2"}
_PALETTE = ["#fe4a49", "#feda75", "#bfe1d9", "#c887fb", "#9cc9cc", "#ffeb80", "#ff8197", "#a6e22d",
            "#e4d5b7", "#f0a1ab", "#b5d8fe", "#d1c4e9"]

_STYLE = """
body { font: 16px/1.9 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 60em;
       padding: 0 1em; color: #222; }
h1 { font-size: 1.2em; }
.legend mark { margin-right: .6em; }
.doc { border-top: 1px solid #ddd; padding: .6em 0; white-space: pre-wrap; }
mark.ent { padding: .1em .35em; border-radius: .35em; }
mark.ent .label { font-size: .65em; font-weight: bold; margin-left: .4em; vertical-align: middle; }
"""


def colour(label: str) -> str:
    """A label's colour, the same in every page and run."""
    return _KNOWN.get(label) or _PALETTE[zlib.crc32(label.encode()) % len(_PALETTE)]


def entities_html(text: str, entities: Sequence, css: str = "doc", side: str = "") -> str:
    """One text as an HTML block of class `css`, its entities (with .label, .start, .end, .score; a score
    of None shows the label alone, as for gold entities) marked in order; `side` names the block at its
    start (the report's "gold" and "predicted")."""
    parts, at = [f'<span class="side">{html.escape(side)}</span>'] if side else [], 0
    for e in entities:
        about = e.label if e.score is None else f"{e.label} {e.score:.2f}"
        parts.append(html.escape(text[at:e.start]))
        parts.append(f'<mark class="ent" style="background: {colour(e.label)}" title="{html.escape(about)}" '
                     f'data-label="{html.escape(e.label)}">{html.escape(text[e.start:e.end])}'
                     f'<span class="label">{html.escape(about)}</span></mark>')
        at = e.end
    parts.append(html.escape(text[at:]))
    return f'<div class="{css}">{"".join(parts)}</div>'


def legend(labels: Iterable[str]) -> str:
    """A paragraph with each label once, in its colour."""
    marks = "".join(f'<mark class="ent" style="background: {colour(label)}">{html.escape(label)}</mark>'
                    for label in sorted(set(labels)))
    return f'<p class="legend">{marks}</p>'


def document(title: str, body: Iterable[str], style: str = "") -> str:
    """A self-contained HTML page: `title` as its title and heading, the house style plus `style`, then
    the pieces of `body` (markup, already escaped where it holds text)."""
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<title>{html.escape(title)}</title>\n<style>{_STYLE}{style}</style>\n</head>\n<body>\n'
            f'<h1>{html.escape(title)}</h1>\n' + "\n".join(body) + "\n</body>\n</html>\n")


def page(blocks: Iterable[str], labels: Iterable[str], title: str = "nerwin") -> str:
    """A whole page from `entities_html` blocks, with a legend of `labels`."""
    return document(title, [legend(labels), *blocks])


def displacy(text: str, entities: Sequence) -> dict:
    """The shape displaCy renders with `manual=True`: {"text", "ents": [{"start", "end", "label"}], "title"}."""
    return {"text": text, "ents": [{"start": e.start, "end": e.end, "label": e.label} for e in entities],
            "title": None}
