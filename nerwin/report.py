"""The HTML report of `nerwin evaluate --html`: one self-contained page to look at a model's results.

In order: the scores, the per-type table, the confusion of entity types, the mistakes by kind, a
reliability diagram of the entity scores (precision per score bin, with the expected calibration
error), and every sentence with a mistake, its gold entities above its predicted ones. The marking is
`nerwin.views`' (every piece of text escaped), the chart `nerwin.charts`' (inline SVG): the page
references nothing outside itself.
"""
from __future__ import annotations

from html import escape
from typing import NamedTuple

from .analysis import MISSED, SPURIOUS, classify
from .charts import Bar, interval_bars
from .evaluation import Predictions
from .tagger import words_as_tokens
from .tags import spans
from .views import document, entities_html, legend

__all__ = ["report_page"]

_STYLE = """
h2 { font-size: 1.05em; margin: 1.5em 0 .5em; }
.row { display: flex; flex-wrap: wrap; gap: 0 3em; align-items: flex-start; }
.row p { max-width: 28em; }
figure { margin: 0; }
table { border-collapse: collapse; font-size: .9em; line-height: 1.5; }
th, td { padding: .1em .7em; text-align: right; border-bottom: 1px solid #eee; }
th:first-child, td:first-child { text-align: left; }
td.right { background: #e3f4e3; }
td.wrong { background: #fbe3e3; }
.pair { border-top: 1px solid #ddd; padding: .4em 0; }
.pair .where { font-size: .8em; color: #666; }
.pair .doc { border: 0; padding: 0 0 0 6em; text-indent: -6em; }
.side { display: inline-block; width: 6em; text-indent: 0; font-size: .8em; color: #666; }
"""


class _Mark(NamedTuple):
    label: str
    start: int
    end: int
    score: float | None


def _table(head: list[str], rows: list[list[str]]) -> str:
    """An HTML table; cells are markup (escaped by the caller), put in a <td> unless already a cell."""
    def cell(markup: str) -> str:
        return markup if markup.startswith(("<td", "<th")) else f"<td>{markup}</td>"

    return ("<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>"
            + "".join("<tr>" + "".join(map(cell, row)) + "</tr>" for row in rows) + "</table>")


def _scores(report: dict) -> list[str]:
    c = report["conlleval"]
    summary = (f"<p>{report['sentences']:,} sentences, {report['tokens']:,} tokens, {report['gold_entities']:,} "
               f"gold entities, {report['pred_entities']:,} predicted; scheme {escape(report['scheme'])}, "
               f"mode {escape(report['mode'])} (entities must match in span and type).</p>")
    overall = _table(["", "precision", "recall", "F1"],
                     [["strict IOB2", f"{report['precision']:.2f}", f"{report['recall']:.2f}",
                       f"<b>{report['f1']:.2f}</b>"],
                      ["conlleval (lenient)", f"{c['precision']:.2f}", f"{c['recall']:.2f}", f"{c['f1']:.2f}"]])
    per_type = _table(["type", "precision", "recall", "F1", "support"],
                      [[escape(k), f"{r['precision']:.2f}", f"{r['recall']:.2f}", f"{r['f1']:.2f}",
                        f"{r['support']:,}"] for k, r in report["per_type"].items()])
    return [summary, '<div class="row"><div><h2>Scores</h2>', overall,
            f"<p>token accuracy {report['token_accuracy']:.2f}</p></div>",
            "<div><h2>Per type</h2>", per_type, "</div></div>"]


def _confusion(errors: dict) -> list[str]:
    table = errors["confusion"]
    columns = sorted({c for row in table.values() for c in row} - {MISSED}) + [MISSED]
    rows = []
    for row, cols in table.items():
        cells = [f"<th>{escape(row)}</th>"]
        for c in columns:
            n = cols.get(c, 0)
            css = "right" if c == row else "wrong" if n else ""
            cells.append("<td></td>" if row == SPURIOUS and c == MISSED else f'<td class="{css}">{n:,}</td>')
        rows.append(cells)
    kinds = "".join(f"<li>{escape(k)}: {n:,}</li>" for k, n in errors["kinds"].items())
    return ['<div class="row"><div><h2>Confusion of entity types</h2>',
            _table(["gold \\ predicted", *map(escape, columns)], rows),
            "<p>Rows: the gold type (or \"spurious\": predicted with no gold entity of that span); columns: the "
            "type predicted for the same span (or \"missed\").</p></div>",
            "<div><h2>Mistakes by kind</h2>", f"<ul class=\"kinds\">{kinds}</ul></div></div>"]


def _calibration(calibration: dict) -> list[str]:
    full = [b for b in calibration["bins"] if b["count"]]
    chart = interval_bars([Bar(b["low"], b["high"], b["precision"], f"{b['count']:,}") for b in full],
                          title="Precision of predicted entities per score bin", x_label="entity score",
                          y_label="precision", diagonal=True)
    rows = [[f"{b['low']:.1f}-{b['high']:.1f}", f"{b['count']:,}", f"{b['precision']:.3f}", f"{b['mean_score']:.3f}"]
            for b in full]
    return ["<h2>Reliability of the entity scores</h2>",
            f"<p>Expected calibration error <b class=\"ece\">{calibration['ece']:.3f}</b> over "
            f"{calibration['entities']:,} predicted entities: the mean gap between a bin's precision and its "
            "mean score, weighted by its entities (0 is perfect). Bars: precision per bin, the number of "
            "entities above each; dashed: where calibrated scores would be. The bars right of a "
            "<code>--min-score</code> give the precision to expect above it.</p>",
            f'<div class="row"><figure>{chart}</figure>',
            _table(["score", "entities", "precision", "mean score"], rows), "</div>"]


def _sentences(pred: Predictions) -> list[str]:
    blocks = []
    for i, (sentence, gold, tags, found) in enumerate(zip(pred.sentences, pred.gold, pred.pred, pred.entities)):
        mistakes = classify(gold, tags)
        if not mistakes:
            continue
        offsets = words_as_tokens(sentence.tokens)
        text = " ".join(sentence.tokens)
        gold_marks = [_Mark(k, offsets[a].start, offsets[b - 1].end, None) for a, b, k in spans(gold)]
        pred_marks = [_Mark(k, offsets[a].start, offsets[b - 1].end, s) for a, b, k, s in found]
        what = "; ".join(f"{kind}: {' '.join(sentence.tokens[a:b])} ({types})" for kind, types, (a, b) in mistakes)
        blocks.append(f'<div class="pair" id="s{i}"><div class="where">sentence {i + 1}, line {sentence.line}: '
                      f'{escape(what)}</div>'
                      + entities_html(text, gold_marks, "doc gold", "gold")
                      + entities_html(text, pred_marks, "doc pred", "predicted") + "</div>")
    return [f"<h2>Sentences with a mistake ({len(blocks):,})</h2>", *blocks]


def report_page(pred: Predictions, report: dict) -> str:
    """The whole page for `pred` and its report (`Predictions.report`)."""
    labels = {k for seq in pred.gold + pred.pred for _, _, k in spans(seq)}
    head = f"<p>Model <code>{escape(pred.model)}</code> on <code>{escape(pred.data)}</code>.</p>"
    body = [head, *_scores(report), *_confusion(report["errors"]), *_calibration(report["calibration"]),
            legend(labels), *_sentences(pred)]
    return document("nerwin: evaluation", body, _STYLE)
