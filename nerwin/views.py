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

__all__ = ["colour", "displacy", "entities_html", "page"]

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


def entities_html(text: str, entities: Sequence) -> str:
    """One text as an HTML block, its entities (with .label, .start, .end, .score) marked in order."""
    parts, at = [], 0
    for e in entities:
        about = f"{e.label} {e.score:.2f}"
        parts.append(html.escape(text[at:e.start]))
        parts.append(f'<mark class="ent" style="background: {colour(e.label)}" title="{html.escape(about)}" '
                     f'data-label="{html.escape(e.label)}">{html.escape(text[e.start:e.end])}'
                     f'<span class="label">{html.escape(about)}</span></mark>')
        at = e.end
    parts.append(html.escape(text[at:]))
    return f'<div class="doc">{"".join(parts)}</div>'


def page(blocks: Iterable[str], labels: Iterable[str], title: str = "nerwin") -> str:
    """A whole page from `entities_html` blocks, with a legend of `labels`."""
    legend = "".join(f'<mark class="ent" style="background: {colour(label)}">{html.escape(label)}</mark>'
                     for label in sorted(set(labels)))
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n'
            f'<h1>{html.escape(title)}</h1>\n<p class="legend">{legend}</p>\n'
            + "\n".join(blocks) + "\n</body>\n</html>\n")


def displacy(text: str, entities: Sequence) -> dict:
    """The shape displaCy renders with `manual=True`: {"text", "ents": [{"start", "end", "label"}], "title"}."""
    return {"text": text, "ents": [{"start": e.start, "end": e.end, "label": e.label} for e in entities],
            "title": None}
