"""Scores against hand-computed values, strict versus lenient, and bad input."""

import json
import warnings

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from nerwin.errors import NerwinError
from nerwin.metrics import format_report, score


def test_perfect():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-ORG"]]
    report = score(gold, gold)
    assert report["precision"] == report["recall"] == report["f1"] == 100.0
    assert report["token_accuracy"] == 100.0
    assert report["gold_entities"] == report["pred_entities"] == 3
    assert report["sentences"] == 2 and report["tokens"] == 6
    assert set(report["per_type"]) == {"PER", "LOC", "ORG"}


def test_hand_computed():
    gold = [["B-PER", "I-PER", "O", "B-LOC", "O"], ["B-ORG", "I-ORG", "O"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG", "O"], ["B-ORG", "O", "O"]]
    # gold: PER(0,2) LOC(3,4) ORG(0,2); pred: PER(0,2) ORG(3,4) ORG(0,1): 1 correct of 3 and 3.
    report = score(gold, pred)
    assert report["precision"] == pytest.approx(100 / 3)
    assert report["recall"] == pytest.approx(100 / 3)
    assert report["f1"] == pytest.approx(100 / 3)
    assert report["per_type"]["PER"] == {"precision": 100.0, "recall": 100.0, "f1": 100.0, "support": 1}
    assert report["per_type"]["LOC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert report["per_type"]["ORG"]["precision"] == 0.0 and report["per_type"]["ORG"]["support"] == 1
    assert report["token_accuracy"] == pytest.approx(100 * 6 / 8)
    assert report["gold_entities"] == 3 and report["pred_entities"] == 3


def test_strict_and_lenient_differ():
    gold = [["B-PER", "I-PER", "O"]]
    pred = [["I-PER", "I-PER", "O"]]  # invalid IOB2: no entity in strict mode, full credit in conlleval
    report = score(gold, pred)
    assert report["scheme"] == "IOB2" and report["mode"] == "strict"
    assert report["f1"] == 0.0 and report["recall"] == 0.0
    assert report["pred_entities"] == 0
    assert report["conlleval"] == {"precision": 100.0, "recall": 100.0, "f1": 100.0}


def test_no_gold_entities_no_crash_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = score([["O", "O"]], [["O", "O"]])
        assert report["f1"] == 0.0 and report["per_type"] == {} and report["gold_entities"] == 0
        report = score([["O", "O"]], [["B-PER", "O"]])
        assert report["precision"] == 0.0 and report["pred_entities"] == 1
        assert report["per_type"]["PER"]["support"] == 0


def test_json_able():
    report = score([["B-PER", "O"]], [["B-PER", "O"]])
    assert json.loads(json.dumps(report)) == report


@pytest.mark.parametrize(
    "gold, pred, message",
    [
        ([["O"]], [["O"], ["O"]], "1 gold sentences but 2 predicted"),
        ([["O", "O"]], [["O"]], "sentence 0 has 2 gold tags but 1 predicted"),
        ([["B_PER"]], [["O"]], "gold sentence 0: bad tag 'B_PER'"),
        ([["O"]], [["X-LOC"]], "predicted sentence 0: bad tag 'X-LOC'"),
        ([], [], "no sentences"),
    ],
)
def test_bad_input(gold, pred, message):
    with pytest.raises(NerwinError, match=message):
        score(gold, pred)


def test_format_report():
    text = format_report(score([["B-PER", "I-PER", "O"]], [["I-PER", "I-PER", "O"]]))
    lines = text.splitlines()
    assert "IOB2" in lines[0] and "strict" in lines[0]
    assert "F1   0.00" in lines[1] and "conlleval" in lines[1] and "100.00" in lines[1]
    assert "token accuracy" in text
    assert any(line.startswith("PER") for line in lines)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.lists(st.sampled_from(["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]), max_size=8),
                          st.lists(st.sampled_from(["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]), max_size=8)),
                min_size=1, max_size=5))
def test_fast_strict_f1_equals_seqeval_strict_on_valid_iob2(pairs):
    """Training scores dev with strict_f1 (no seqeval import); on valid IOB2 it is seqeval's strict F1,
    overall and per type."""
    from nerwin.metrics import strict_f1, strict_f1_by_type
    from nerwin.tags import repair_iob2

    gold, pred = [], []
    for g, p in pairs:
        n = min(len(g), len(p))
        if n:
            gold.append(repair_iob2(g[:n]))
            pred.append(repair_iob2(p[:n]))
    assume(gold)
    report = score(gold, pred)
    assert strict_f1(gold, pred) == pytest.approx(report["f1"])
    by_type = strict_f1_by_type(gold, pred)
    assert set(by_type) == set(report["per_type"])
    assert all(by_type[k] == pytest.approx(report["per_type"][k]["f1"]) for k in by_type)
    # what a model card holds, also without seqeval: the same figures, and conlleval's F1 is the strict one
    from nerwin.metrics import strict_scores

    quick = strict_scores(gold, pred)
    for key in ("precision", "recall", "f1"):
        assert quick[key] == pytest.approx(report[key])
    assert quick["f1"] == pytest.approx(report["conlleval"]["f1"])
    assert quick["gold_entities"] == report["gold_entities"]
    assert quick["per_type"].keys() == report["per_type"].keys()
    for kind, row in quick["per_type"].items():
        assert row == pytest.approx(report["per_type"][kind]), kind


# ---- error analysis -------------------------------------------------------------------------------

def test_confusion_and_kinds_of_mistakes_on_a_hand_made_pair():
    from nerwin.analysis import error_analysis, format_errors

    tokens = [["Paris", "and", "Lyon", "beat", "Acme", "Corp"], ["John", "Smith", "left", "Rome"]]
    gold = [["B-LOC", "O", "B-LOC", "O", "B-ORG", "I-ORG"], ["B-PER", "I-PER", "O", "B-LOC"]]
    pred = [["B-LOC", "O", "B-ORG", "O", "B-ORG", "O"], ["B-PER", "O", "B-MISC", "O"]]
    # Paris right; Lyon LOC -> ORG (wrong type); Acme Corp vs Acme: overlapping span (and spurious by span);
    # John Smith vs John: overlapping span; left: spurious (overlaps no gold entity); Rome: missed
    report = error_analysis(gold, pred, tokens, examples=5)
    assert report["kinds"] == {"wrong type": 1, "overlapping span": 2, "missed": 1, "spurious": 1}
    assert report["confusion"] == {
        "LOC": {"LOC": 1, "ORG": 1, "missed": 1},
        "ORG": {"missed": 1},
        "PER": {"missed": 1},
        "spurious": {"MISC": 1, "ORG": 1, "PER": 1},
    }
    assert report["examples"]["wrong type"] == [{"sentence": 0, "text": "Lyon", "types": "LOC -> ORG"}]
    assert [e["text"] for e in report["examples"]["overlapping span"]] == ["Acme Corp", "John Smith"]
    text = format_errors(report)
    assert "gold \\ pred" in text and "wrong type 1" in text and "Rome (LOC)" in text
    assert error_analysis(gold, pred, tokens)["examples"] == {}  # no examples unless asked


def test_evaluate_reports_the_errors_in_json(tiny_model):
    import json

    from typer.testing import CliRunner

    from nerwin.cli import app
    from tests.helpers import TOY_TEST

    result = CliRunner().invoke(app, ["evaluate", str(TOY_TEST), "-m", str(tiny_model), "-F", "json", "-e", "2"])
    assert result.exit_code == 0, result.output
    errors = json.loads(result.stdout)["errors"]
    assert set(errors) == {"confusion", "kinds", "examples"}
    assert all(len(shown) <= 2 for shown in errors["examples"].values())
