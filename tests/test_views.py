"""Views: the HTML page of `nerwin tag --format html`, displaCy's JSON, and leaving out unsure entities."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from nerwin.cli import app
from nerwin.tagger import Entity
from nerwin.views import displacy, entities_html, page
from tests.helpers import conll, external_references, parse_marks, write_conll

runner = CliRunner()


def test_each_entity_is_marked_once_with_its_label_in_order_and_the_text_reads_as_written():
    text = 'Samuel <Quinn> & "Co" met <script>alert(1)</script> in Paris &amp; Lyon'
    ents = [Entity("Samuel <Quinn>", "PER", 0, 14, 0.99), Entity('"Co"', "ORG", 17, 21, 0.5),
            Entity("Paris", "LOC", 55, 60, 0.9)]
    parsed = parse_marks(entities_html(text, ents))
    assert parsed.marks == [("Samuel <Quinn>", "PER"), ('"Co"', "ORG"), ("Paris", "LOC")]
    assert "".join(parsed.text) == text  # escaped on the way in, read back as written
    assert not any(tag == "script" for tag, _ in parsed.tags)  # the text's <script> is text, not a tag


def test_the_page_is_self_contained_with_a_legend_of_the_labels():
    blocks = [entities_html("Paris", [Entity("Paris", "LOC", 0, 5, 0.9)]),
              entities_html("Acme Corp.", [Entity("Acme Corp.", "creative-work", 0, 10, 0.4)])]
    markup = page(blocks, {"LOC", "creative-work"})
    parsed = parse_marks(markup)
    assert external_references(markup) == []
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
    parsed = parse_marks(page_file.read_text(encoding="utf-8"))
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


# ---- the report of `nerwin evaluate --html` ---------------------------------------------------------

# Sentences the tiny model gets partly wrong (gold says "visited" and "said" are ORGs, a script is an
# entity), so each has a mistake to show; tokens hold markup that must read as written.
SCRIPT = "<script>document.title='pwned'</script>"
REPORT_CONLL = conll(
    [("Talvo", "B-PER"), ("Brenwick", "I-PER"), ("visited", "B-ORG"), ("Velmora", "B-LOC"), (".", "O")],
    [(SCRIPT, "B-MISC"), ("met", "O"), ("Greyfen", "B-ORG"), ("&amp;", "I-ORG"), ("Corp", "I-ORG"), (".", "O")],
    [("Talvo", "B-PER"), ("Brenwick", "I-PER"), ("said", "B-ORG"), ("<b>no</b>", "O"), (".", "O")],
)


def report_file(tmp_path, tiny_model, *extra: str) -> tuple:
    """Write REPORT_CONLL and its HTML report; (result of the run, the data file, the report file)."""
    data, out = write_conll(tmp_path, REPORT_CONLL), tmp_path / "report.html"
    result = runner.invoke(app, ["evaluate", str(data), "-m", str(tiny_model), "--html", str(out), *extra])
    return result, data, out


def test_the_report_shows_each_mistaken_sentence_gold_above_predicted_with_the_text_as_written(
        tmp_path, tiny_model, tiny_tagger):
    from nerwin.analysis import classify
    from nerwin.data import read_conll
    from nerwin.tags import spans

    result, data, out = report_file(tmp_path, tiny_model)
    assert result.exit_code == 0, result.output
    markup = out.read_text(encoding="utf-8")
    assert external_references(markup) == []
    parsed = parse_marks(markup)
    assert not any(tag == "script" for tag, _ in parsed.tags)  # the tokens' markup is text

    sentences = read_conll(data)
    pred = tiny_tagger.tag_tokens([s.tokens for s in sentences])
    wrong = [(s, p) for s, p in zip(sentences, pred) if classify(s.tags, p)]
    assert len(wrong) == 3  # the gold above makes mistakes certain
    blocks = parsed.blocks
    assert [b["class"] for b in blocks] == ["doc gold", "doc pred"] * len(wrong)
    for (s, p), gold_block, pred_block in zip(wrong, blocks[::2], blocks[1::2]):
        assert gold_block["text"] == pred_block["text"] == " ".join(s.tokens)
        assert gold_block["marks"] == [(" ".join(s.tokens[a:b]), k) for a, b, k in spans(s.tags)]
        assert pred_block["marks"] == [(" ".join(s.tokens[a:b]), k) for a, b, k in spans(p)]
    assert SCRIPT in blocks[2]["text"] and "<b>no</b> ." in blocks[4]["text"]


def test_the_report_has_the_scores_the_confusion_and_a_reliability_chart_with_the_ece(tmp_path, tiny_model):
    result, data, out = report_file(tmp_path, tiny_model)
    assert result.exit_code == 0, result.output
    report = json.loads(runner.invoke(app, ["evaluate", str(data), "-m", str(tiny_model), "-F", "json"]).stdout)
    markup = out.read_text(encoding="utf-8")
    tags = parse_marks(markup).tags
    bars = [a for t, a in tags if t == "rect" and a.get("class") == "bar"]
    assert len(bars) == sum(1 for b in report["calibration"]["bins"] if b["count"]) > 0
    assert sum(1 for t, _ in tags if t == "svg") == 1 and sum(1 for t, _ in tags if t == "table") == 4
    assert f'<b class="ece">{report["calibration"]["ece"]:.3f}</b>' in markup
    assert f"<b>{report['f1']:.2f}</b>" in markup
    for kind, n in report["errors"]["kinds"].items():
        assert f"<li>{kind}: {n:,}</li>" in markup
    again, _, _ = report_file(tmp_path, tiny_model)
    assert again.exit_code == 1 and "--force" in again.stderr  # never silently overwritten
    forced, _, _ = report_file(tmp_path, tiny_model, "--force")
    assert forced.exit_code == 0 and out.read_text(encoding="utf-8") == markup
    scores = tmp_path / "scores.json"  # the JSON report is kept the same way
    scores.write_text("mine")
    kept = runner.invoke(app, ["evaluate", str(data), "-m", str(tiny_model), "-o", str(scores)])
    assert kept.exit_code == 1 and "--force" in kept.stderr and scores.read_text() == "mine"
    replaced = runner.invoke(app, ["evaluate", str(data), "-m", str(tiny_model), "-o", str(scores), "--force"])
    assert replaced.exit_code == 0 and json.loads(scores.read_text())["f1"] == report["f1"]


def test_reliability_bins_and_expected_calibration_error_by_hand():
    from nerwin.calibration import reliability

    got = reliability([0.95, 0.91, 0.92, 0.55, 0.5, 1.0], [True, True, False, True, False, True], bins=10)
    full = {b["low"]: b for b in got["bins"] if b["count"]}
    assert set(full) == {0.5, 0.9} and got["entities"] == 6
    assert (full[0.9]["count"], full[0.9]["right"]) == (4, 3) and full[0.9]["precision"] == 0.75
    assert full[0.5]["mean_score"] == pytest.approx(0.525)
    # |0.75 - 0.945| * 4/6 + |0.5 - 0.525| * 2/6
    assert got["ece"] == pytest.approx(0.195 * 4 / 6 + 0.025 * 2 / 6)
    assert reliability([0.7], [True])["ece"] == pytest.approx(0.3)


def test_evaluation_tags_once_and_gives_the_taggers_tags_and_scores(tiny_tagger):
    from nerwin.evaluation import predict_file
    from tests.helpers import TOY_TEST

    predictions = predict_file(TOY_TEST, tiny_tagger)
    tokens = [s.tokens for s in predictions.sentences]
    assert predictions.pred == tiny_tagger.tag_tokens(tokens)
    entities = tiny_tagger([" ".join(t) for t in tokens])
    assert [[e.score for e in ents] for ents in entities] == [[s for *_, s in found]
                                                              for found in predictions.entities]
