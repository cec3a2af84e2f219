"""Casing: the transforms keep tokens and gold tags aligned, `--case-copies` adds re-cased copies of train
(never dev) in documents of their own, a model trained with them finds entities in lowercased text, and
`scripts/casing.py` prints the table."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nerwin.casing import CASINGS, augment, lower, title, upper
from nerwin.errors import NerwinError
from nerwin.sentences import Sentence
from nerwin.train_config import TrainConfig
from tests.helpers import ROOT, TINY, TINY_CLI, TOY_TEST, conll, fails, ok, run, write_conll

# ---- the transforms ----------------------------------------------------------------------------------


@settings(deadline=None, max_examples=200)
@given(st.lists(st.text(min_size=1, max_size=12).filter(lambda t: not any(c.isspace() for c in t)), max_size=20))
def test_every_casing_keeps_one_token_for_each_token_and_tag(tokens):
    for name, recase in CASINGS.items():
        out = recase(tokens)
        assert len(out) == len(tokens), name
        assert all(t and not any(c.isspace() for c in t) for t in out), (name, out)
        assert [t.casefold() for t in out] == [t.casefold() for t in recase(out)], name  # applied twice: same
    tags = ["B-X" if i % 3 == 0 else "I-X" if i % 3 == 1 else "O" for i in range(len(tokens))]
    copies = augment({"train": [Sentence(list(tokens), tags)], "validation": []}, list(CASINGS))["train"][1:]
    assert [(c.tokens, c.tags) for c in copies] == [(recase(tokens), tags) for recase in CASINGS.values()]


def test_each_casing_does_what_its_name_says():
    tokens = ["U.S.", "McDonald", "'s", "1990s", "EU", "--", "o'neill", "Paris"]
    assert lower(tokens) == ["u.s.", "mcdonald", "'s", "1990s", "eu", "--", "o'neill", "paris"]
    assert upper(tokens) == ["U.S.", "MCDONALD", "'S", "1990S", "EU", "--", "O'NEILL", "PARIS"]
    assert title(tokens) == ["U.s.", "Mcdonald", "'s", "1990s", "Eu", "--", "O'neill", "Paris"]


def _corpus() -> dict:
    train = [Sentence(["Anna", "Berg", "left"], ["B-PER", "I-PER", "O"], doc=3),
             Sentence(["in", "Paris"], ["O", "B-LOC"], doc=3),
             Sentence(["Acme", "Corp", "won"], ["B-ORG", "I-ORG", "O"], doc=7)]
    dev = [Sentence(["Oslo", "."], ["B-LOC", "O"], doc=0)]
    return {"train": train, "validation": dev, "test": list(dev)}


@settings(deadline=None, max_examples=50)
@given(st.lists(st.sampled_from(list(CASINGS)), unique=True))
def test_augment_adds_exactly_the_copies_asked_for_to_train_alone(kinds):
    corpus = _corpus()
    out = augment(corpus, kinds)
    originals = corpus["train"]
    assert out["validation"] is corpus["validation"] and out["test"] is corpus["test"]
    assert out["train"][:len(originals)] == originals
    copies = out["train"][len(originals):]
    assert len(copies) == len(kinds) * len(originals)
    for k, kind in enumerate(kinds):
        for original, copy in zip(originals, copies[k * len(originals):(k + 1) * len(originals)]):
            assert copy.tokens == CASINGS[kind](original.tokens) and copy.tags == original.tags
    # every copy of a document is a document of its own, never one of the originals' numbers
    docs = [{s.doc for s in copies[k * len(originals):(k + 1) * len(originals)]} for k in range(len(kinds))]
    for k, numbers in enumerate(docs):
        assert len(numbers) == len({s.doc for s in originals})
        assert not numbers & {s.doc for s in originals}
        assert all(not numbers & other for other in docs[k + 1:])
    by_doc = {}  # sentences of one original document stay together in each copy
    for s in copies:
        by_doc.setdefault(s.doc, []).append(s)
    assert sorted(len(v) for v in by_doc.values()) == sorted([2, 1] * len(kinds))
    assert corpus == _corpus()  # the input is left alone


def test_augment_refuses_an_unknown_or_repeated_casing():
    with pytest.raises(NerwinError, match="unknown casing 'loud'"):
        augment(_corpus(), ["lower", "loud"])
    with pytest.raises(NerwinError, match="twice"):
        augment(_corpus(), ["lower", "lower"])
    with pytest.raises(NerwinError, match="unknown casing"):
        TrainConfig(case_copies=["Lower"]).check()
    assert augment(_corpus(), []) == _corpus()


# ---- training with copies ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lower_tagger(tmp_path_factory, toy_corpus):
    """TINY (the session's tiny model's settings) trained on the toy corpus plus a lowercased copy."""
    import nerwin
    from nerwin.training import train

    path = tmp_path_factory.mktemp("lower") / "model"
    train(toy_corpus, path, replace(TINY, case_copies=["lower"]))
    return nerwin.load(path)


def test_a_model_trained_with_lowercased_copies_tags_lowercased_text(lower_tagger, tiny_tagger, toy_corpus):
    from nerwin.metrics import strict_f1

    sentence = toy_corpus["train"][2]  # Amber Games officials met in San Ostrel on Sunday .
    assert lower_tagger.tag_tokens([lower(sentence.tokens)]) == [sentence.tags]
    assert lower_tagger.tag_tokens([sentence.tokens]) == [sentence.tags]  # the cased text still as well
    # The same settings without the option (the session's tiny model) tag the lowercased sentence all O:
    # measured F1 0.0 on the first 400 training sentences lowercased, 100.0 with the option.
    assert tiny_tagger.tag_tokens([lower(sentence.tokens)]) == [["O"] * len(sentence.tokens)]
    some = toy_corpus["train"][:400]
    gold = [s.tags for s in some]
    assert strict_f1(gold, lower_tagger.tag_tokens([lower(s.tokens) for s in some])) > 95
    assert strict_f1(gold, tiny_tagger.tag_tokens([lower(s.tokens) for s in some])) < 20


def test_a_two_pass_model_trains_with_copies(tmp_path, small_corpus):
    import nerwin
    from nerwin.training import train
    from tests.helpers import TWO_PASS

    path = tmp_path / "model"
    result = train(small_corpus, path, replace(TWO_PASS, case_copies=["lower", "upper"]))
    assert result.best_dev_f1 > 50, result.log
    tagger = nerwin.load(path)
    assert tagger.first_pass is not None and tagger.config["training"]["case_copies"] == ["lower", "upper"]
    card = json.loads((path / "scores.json").read_text())
    assert card["data"]["train"]["sentences"] == len(small_corpus["train"])  # the file as read, not the copies


def test_train_cli_records_case_copies_and_refuses_unknown_ones(tmp_path, small_toy_folder):
    out = tmp_path / "m"
    ok(run("train", out, "--data", small_toy_folder, *TINY_CLI, "--case-copies", "lower,title"))
    config = json.loads((out / "config.json").read_text())
    assert config["training"]["case_copies"] == ["lower", "title"]
    assert "--case-copies lower,title" in config["command"]
    ok(run("train", tmp_path / "plain", "--data", small_toy_folder, *TINY_CLI))
    assert json.loads((tmp_path / "plain" / "config.json").read_text())["training"]["case_copies"] == []
    fails(run("train", tmp_path / "bad", "--data", small_toy_folder, *TINY_CLI, "--case-copies", "lower,loud"),
          "unknown casing 'loud'", "lower, upper, title")
    assert not (tmp_path / "bad").exists()


# ---- the script ------------------------------------------------------------------------------------


def _script(*args) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "casing.py"), *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=300)


def test_the_casing_script_prints_four_rows(tiny_model, tiny_tagger):
    from nerwin.data import read_data
    from nerwin.metrics import strict_f1

    done = _script(tiny_model, TOY_TEST)
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert [r.split(" | ")[0] for r in rows] == ["| as written", "| all lowercase", "| ALL CAPS",
                                                  "| Every Word Capitalized"]
    report = json.loads(_script(tiny_model, TOY_TEST, "--json").stdout)
    assert [r["casing"] for r in report["rows"]] == ["as written", "lower", "upper", "title"]
    test = read_data(TOY_TEST)
    gold, docs = [s.tags for s in test], [s.doc for s in test]
    for row in report["rows"]:  # each figure is the model's F1 on the file re-cased that way
        tokens = [s.tokens if row["casing"] == "as written" else CASINGS[row["casing"]](s.tokens) for s in test]
        assert row["f1"] == round(strict_f1(gold, tiny_tagger.tag_tokens(tokens, docs=docs)), 2)
        assert f"| {row['f1']:.2f} |" in rows[report["rows"].index(row)]
    assert report["rows"][0]["f1"] > 90 and report["rows"][1]["f1"] < report["rows"][0]["f1"]


@pytest.mark.reliability
def test_the_casing_script_fails_in_one_line(tmp_path, tiny_model):
    for args, needle in [((tiny_model, tmp_path / "none.txt"), "none.txt"),
                         ((tmp_path / "no-model", TOY_TEST), "no-model"),
                         ((tiny_model, TOY_TEST, "--first-pass"), "no first pass"),
                         ((tiny_model, write_conll(tmp_path, conll([("Zed", "B-GADGET")]))), "data.txt:1: tag")]:
        done = _script(*args)
        assert done.returncode == 1 and "Traceback" not in done.stderr
        assert done.stderr.strip().startswith("error: ") and needle in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1


def test_the_casing_script_scores_a_two_pass_models_first_pass_alone(two_pass_model, two_pass_tagger):
    from nerwin.data import read_data
    from nerwin.metrics import strict_f1

    test = read_data(TOY_TEST)
    gold, docs = [s.tags for s in test], [s.doc for s in test]
    for flag, tagger in (((), two_pass_tagger), (("--first-pass",), two_pass_tagger.first_pass)):
        done = _script(two_pass_model, TOY_TEST, "--json", *flag)
        assert done.returncode == 0, done.stderr
        written = json.loads(done.stdout)["rows"][0]
        assert written["f1"] == round(strict_f1(gold, tagger.tag_tokens([s.tokens for s in test], docs=docs)), 2)
