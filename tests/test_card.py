"""Every trained model carries its card (README.md, scores.json): name, version, labels, data files with
sha256 and sizes, the command, dev scores per type, test scores when there is a test split; no card
names a folder of the training machine; the O offset chosen on dev is never worse on dev than none."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import re

import pytest

from nerwin.card import file_facts, portable_path, read_card
from nerwin.errors import NerwinError
from nerwin.tagger import load
from nerwin.training import O_OFFSETS, train
from tests.helpers import ROOT, TINY, TINY_CLI, TOY, fails, ok, run

# an absolute POSIX path or a Windows drive path, where a word starts
ABSOLUTE = re.compile(r"(^|[\s`'\"(=:])(/[A-Za-z0-9_.-]+/|[A-Za-z]:\\)")


def test_train_writes_the_card(tmp_path):
    out = tmp_path / "models" / "mine"
    ok(run("train", out, "--data", TOY.resolve(), *TINY_CLI, "--name", "toy-ner", "--version", "1.2"))
    card = json.loads((out / "scores.json").read_text())
    assert card["name"] == "toy-ner" and card["version"] == "1.2"
    assert card["labels"] == ["LOC", "MISC", "ORG", "PER"] and card["tags"] == load(out).tags
    for split, name in (("train", "train.txt"), ("validation", "valid.txt"), ("test", "test.txt")):
        facts, path = card["data"][split], TOY / name
        assert facts["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert facts["bytes"] == path.stat().st_size and facts["sentences"] > 100
    assert set(card["dev"]["per_type"]) == {"LOC", "MISC", "ORG", "PER"}
    assert 0 < card["dev"]["f1"] <= 100 and 0 < card["test"]["f1"] <= 100
    assert card["command"].startswith(f"nerwin train {portable_path(out)} --preset classic")
    text = (out / "README.md").read_text()
    assert "# nerwin model: toy-ner 1.2" in text and facts["sha256"] in text and card["command"] in text
    assert f"{card['test']['f1']:.2f}" in text
    for written in (text, json.dumps(card)):
        assert str(tmp_path) not in written and str(ROOT) not in written and not ABSOLUTE.search(written)

    stdout = ok(run("info", out, env={"COLUMNS": "400"}))
    assert "name        toy-ner 1.2" in stdout and "labels      LOC MISC ORG PER" in stdout
    assert "test scores F1" in stdout and "train.txt" in stdout
    assert json.loads(ok(run("info", out, "-F", "json")))["card"] == card


def test_no_test_split_no_test_scores(tmp_path, small_toy_folder):
    out = tmp_path / "m"
    ok(run("train", out, "--train-file", small_toy_folder / "train.txt", "--dev-file",
           small_toy_folder / "valid.txt", *TINY_CLI))
    card = read_card(out)
    assert card["name"] == "m" and card["version"] is None and "test" not in card
    assert set(card["data"]) == {"train", "validation"}
    assert "No test split was given" in (out / "README.md").read_text()


def test_a_model_trained_from_python_has_a_card_too(tmp_path, small_corpus):
    out = tmp_path / "m"
    train(small_corpus, out, TINY, name="from-python")
    card = read_card(out)
    assert card["name"] == "from-python" and card["command"] is None
    assert card["data"]["train"]["file"] == "(given in memory)" and card["data"]["train"]["sentences"] == 300


def test_portable_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d").mkdir()
    assert portable_path(tmp_path / "d" / "x.txt") == "d/x.txt"
    assert portable_path("rel/x.txt") == "rel/x.txt"
    assert portable_path("/x.txt") == "x.txt"  # shares only the root with the working folder
    assert file_facts(__file__)["file"] == portable_path(__file__)


def test_a_damaged_card_is_one_clear_error(copy_model):
    model = copy_model()
    (model / "scores.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(NerwinError, match="scores.json"):
        read_card(model)
    fails(run("info", model), "scores.json")


def test_the_shipped_card_names_no_folder_of_the_training_machine():
    shipped = ROOT / "models" / "default"
    for name in ("README.md", "scores.json", "config.json"):
        text = (shipped / name).read_text(encoding="utf-8")
        assert not ABSOLUTE.search(text), (name, ABSOLUTE.search(text))
    card = read_card(shipped)
    assert card["name"] == "default" and card["labels"] == ["LOC", "MISC", "ORG", "PER"]
    assert {f["file"] for f in card["data"].values()} == {"conll2003/train.txt", "conll2003/valid.txt",
                                                           "conll2003/test.txt"}
    assert set(card["dev"]["per_type"]) == set(card["test"]["per_type"]) == {"LOC", "MISC", "ORG", "PER"}


def test_the_o_offset_is_chosen_on_dev(tmp_path, small_corpus):
    """The saved model's dev F1 is the best over the offsets tried (0 among them), and the offset sits
    in the output bias: tagging needs nothing new."""
    plain, tuned = tmp_path / "plain", tmp_path / "tuned"
    before = train(small_corpus, plain, TINY)
    after = train(small_corpus, tuned, dataclasses.replace(TINY, calibrate=True))
    dev = load(tuned).config["dev"]
    assert dev["o_offset"] in O_OFFSETS and dev["f1_before_offset"] == pytest.approx(before.best_dev_f1)
    assert after.best_dev_f1 == dev["f1"] >= before.best_dev_f1
    a, b = load(plain).model.state_dict(), load(tuned).model.state_dict()
    o = load(tuned).tags.index("O")
    assert a["output.bias"][o] - b["output.bias"][o] == pytest.approx(dev["o_offset"])
    assert read_card(tuned)["dev"]["f1"] == pytest.approx(dev["f1"])
