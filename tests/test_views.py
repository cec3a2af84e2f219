"""Views: the HTML page of `nerwin tag --format html`, displaCy's JSON, and leaving out unsure entities."""
from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest
from typer.testing import CliRunner

from nerwin.cli import app
from nerwin.tagger import Entity
from nerwin.views import displacy, entities_html, page

runner = CliRunner()


class _Marks(HTMLParser):
    """The text inside each <mark class="ent"> (its label span excluded), its data-label, and every tag seen."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.marks: list[tuple[str, str]] = []
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self._in_mark = self._in_label = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "mark" and attrs.get("data-label"):
            self._in_mark, self._label, self._chars = True, attrs["data-label"], []
        elif tag == "span" and self._in_mark:
            self._in_label = True

    def handle_endtag(self, tag):
        if tag == "span" and self._in_label:
            self._in_label = False
        elif tag == "mark" and self._in_mark:
            self._in_mark = False
            self.marks.append(("".join(self._chars), self._label))

    def handle_data(self, data):
        if self._in_mark and not self._in_label:
            self._chars.append(data)
        if not self._in_label:
            self.text.append(data)


def _parse(markup: str) -> _Marks:
    parser = _Marks()
    parser.feed(markup)
    return parser


def test_each_entity_is_marked_once_with_its_label_in_order_and_the_text_reads_as_written():
    text = 'Samuel <Quinn> & "Co" met <script>alert(1)</script> in Paris &amp; Lyon'
    ents = [Entity("Samuel <Quinn>", "PER", 0, 14, 0.99), Entity('"Co"', "ORG", 17, 21, 0.5),
            Entity("Paris", "LOC", 55, 60, 0.9)]
    parsed = _parse(entities_html(text, ents))
    assert parsed.marks == [("Samuel <Quinn>", "PER"), ('"Co"', "ORG"), ("Paris", "LOC")]
    assert "".join(parsed.text) == text  # escaped on the way in, read back as written
    assert not any(tag == "script" for tag, _ in parsed.tags)  # the text's <script> is text, not a tag


def test_the_page_is_self_contained_with_a_legend_of_the_labels():
    blocks = [entities_html("Paris", [Entity("Paris", "LOC", 0, 5, 0.9)]),
              entities_html("Acme Corp.", [Entity("Acme Corp.", "creative-work", 0, 10, 0.4)])]
    markup = page(blocks, {"LOC", "creative-work"})
    parsed = _parse(markup)
    for tag, attrs in parsed.tags:
        assert tag not in ("script", "link", "img", "iframe"), tag
        assert not any(k in ("src", "href") for k in attrs), (tag, attrs)
    assert "url(" not in markup and "@import" not in markup and "http" not in markup
    legend = [t for t, a in parsed.tags if t == "mark" and not a.get("data-label")]
    assert len(legend) == 2 and [m[1] for m in parsed.marks] == ["LOC", "creative-work"]


def test_displacy_manual_mode_shape():
    doc = displacy("Angela Merkel visited Paris", [Entity("Angela Merkel", "PER", 0, 13, 0.9),
                                                   Entity("Paris", "LOC", 22, 27, 0.8)])
    assert set(doc) == {"text", "ents", "title"} and doc["title"] is None
    assert doc["ents"] == [{"start": 0, "end": 13, "label": "PER"}, {"start": 22, "end": 27, "label": "LOC"}]
    assert all(doc["text"][e["start"]:e["end"]] for e in doc["ents"])


def test_min_score_leaves_out_unsure_entities(tiny_tagger):
    text = "Talvo Brenwick visited Velmora on Monday ."
    every = tiny_tagger(text)
    assert every
    cut = sorted(e.score for e in every)[len(every) // 2]
    assert tiny_tagger(text, min_score=cut) == [e for e in every if e.score >= cut]
    assert tiny_tagger([text], min_score=1.01) == [[]]


def test_tag_writes_an_html_page_and_displacy_json_to_files(tmp_path, tiny_model):
    page_file, lines = tmp_path / "page.html", tmp_path / "in.txt"
    lines.write_text("Talvo Brenwick visited Velmora .\n<b>Velmora</b> & Quillon\n", encoding="utf-8")
    result = runner.invoke(app, ["tag", "--file", str(lines), "-m", str(tiny_model), "-F", "html",
                                 "-o", str(page_file)])
    assert result.exit_code == 0, result.output
    parsed = _parse(page_file.read_text(encoding="utf-8"))
    assert sum(1 for t, a in parsed.tags if t == "div" and a.get("class") == "doc") == 2
    assert not any(tag == "b" for tag, _ in parsed.tags)
    again = runner.invoke(app, ["tag", "--file", str(lines), "-m", str(tiny_model), "-F", "html",
                                "-o", str(page_file)])
    assert again.exit_code == 1 and "--force" in again.stderr  # never silently overwritten
    result = runner.invoke(app, ["tag", "--file", str(lines), "-m", str(tiny_model), "-F", "displacy"])
    docs = [json.loads(line) for line in result.stdout.splitlines()]
    assert [d["text"] for d in docs] == lines.read_text(encoding="utf-8").splitlines()
    assert all(set(d) == {"text", "ents", "title"} for d in docs)


@pytest.mark.parametrize("bad", ["-0.1", "1.5"])
def test_min_score_out_of_range_is_one_clear_error(bad, tiny_model):
    result = runner.invoke(app, ["tag", "Talvo", "-m", str(tiny_model), "--min-score", bad])
    assert result.exit_code == 1 and "--min-score" in result.stderr and "Traceback" not in result.output
