"""Training curves: what train logs per epoch for them (dev loss, dev F1 per type), the SVG it draws
beside the model, and `nerwin plot` redrawing it from a log, old logs included."""
from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from typer.testing import CliRunner

from nerwin.cli import app
from nerwin.curves import curves_path, curves_svg
from nerwin.decode import log_softmax_rows
from nerwin.evaluation import evaluate
from nerwin.tagger import load
from nerwin.training import train
from tests.helpers import TINY, TINY_CLI, to_conll, write_conll

runner = CliRunner()
SVG = "{http://www.w3.org/2000/svg}"


def series_names(svg_text: str) -> list[str]:
    """The lines drawn in a curves file (parsed as XML: the file must be well-formed), in order."""
    root = ET.fromstring(svg_text)
    names = [e.get("data-name") for e in root.iter(f"{SVG}polyline")]
    return list(dict.fromkeys(names))


def test_each_epoch_logs_dev_loss_and_dev_f1_per_type_as_evaluate_and_the_loss_define_them(tmp_path, small_corpus):
    out, log_path = tmp_path / "m", tmp_path / "m.log.json"
    config = dataclasses.replace(TINY, epochs=2, patience=5)
    result = train(small_corpus, out, config, log_path=log_path, curves_path=curves_path(out))
    epochs = json.loads(log_path.read_text())["epochs"]
    assert all(e["dev_loss"] > 0 and set(e["dev_f1_per_type"]) == {"LOC", "MISC", "ORG", "PER"} for e in epochs)
    assert epochs[0]["dev_loss"] != epochs[1]["dev_loss"]

    # The kept model is the best epoch's: its figures, measured again from the saved model, are the log's.
    best = next(e for e in epochs if e["epoch"] == result.best_epoch)
    dev = write_conll(tmp_path, to_conll(small_corpus["validation"]))
    report = evaluate(dev, out)
    assert best["dev_f1_per_type"] == pytest.approx({k: v["f1"] for k, v in report["per_type"].items()})
    tagger = load(out)  # a softmax model: the loss is the mean -log p(gold tag) per dev word
    enc = tagger.featurizer.encode([s.tokens for s in small_corpus["validation"]])
    gold = [tagger.tags.index(t) for s in small_corpus["validation"] for t in s.tags]
    logp = log_softmax_rows(tagger.outputs(enc).astype(np.float64))
    assert best["dev_loss"] == pytest.approx(-logp[np.arange(len(gold)), gold].mean(), rel=1e-4)


def test_train_draws_the_curves_beside_the_model_and_refuses_to_replace_them(tmp_path, small_toy_folder):
    out = tmp_path / "m"
    result = runner.invoke(app, ["train", str(out), "--data", str(small_toy_folder), *TINY_CLI, "--epochs", "2"])
    assert result.exit_code == 0, result.output
    picture = (tmp_path / "m.curves.svg").read_text(encoding="utf-8")
    assert "m.curves.svg" in result.stdout
    assert series_names(picture) == ["train loss", "dev loss", "dev F1", "LOC", "MISC", "ORG", "PER"]
    best = json.loads((tmp_path / "m.log.json").read_text())["epochs"]
    best_epoch = max(e["epoch"] for e in best if e["best"])
    assert picture.count(f"best epoch {best_epoch}") == 2  # marked on both charts

    (tmp_path / "m2.curves.svg").write_text("mine")  # a model folder free, its curves' file taken
    again = runner.invoke(app, ["train", str(tmp_path / "m2"), "--data", str(small_toy_folder), *TINY_CLI])
    assert again.exit_code == 1 and "m2.curves.svg" in again.stderr and "--force" in again.stderr
    assert (tmp_path / "m2.curves.svg").read_text() == "mine" and not (tmp_path / "m2").exists()

    (tmp_path / "m3.log.json").write_text("mine")  # the same for the training log
    again = runner.invoke(app, ["train", str(tmp_path / "m3"), "--data", str(small_toy_folder), *TINY_CLI])
    assert again.exit_code == 1 and "m3.log.json" in again.stderr and "--force" in again.stderr
    assert (tmp_path / "m3.log.json").read_text() == "mine" and not (tmp_path / "m3").exists()


def test_plot_redraws_a_log_beside_it_and_never_over_a_file_without_force(tmp_path):
    log = tmp_path / "run.log.json"
    epochs = [{"epoch": i, "loss": 1 / i, "dev_f1": 80 + i, "dev_loss": 0.5 / i, "best": True,
               "dev_f1_per_type": {"LOC": 85 + i, "creative-work": 40 + i}} for i in (1, 2, 3)]
    log.write_text(json.dumps({"config": {}, "epochs": epochs}))
    result = runner.invoke(app, ["plot", str(log)])
    assert result.exit_code == 0, result.output
    picture = (tmp_path / "run.curves.svg").read_text(encoding="utf-8")
    assert picture == curves_svg(json.loads(log.read_text()))
    assert series_names(picture) == ["train loss", "dev loss", "dev F1", "LOC", "creative-work"]
    again = runner.invoke(app, ["plot", str(log)])
    assert again.exit_code == 1 and "--force" in again.stderr
    assert runner.invoke(app, ["plot", str(log), "--force"]).exit_code == 0
    other = tmp_path / "other.svg"
    assert runner.invoke(app, ["plot", str(log), "-o", str(other)]).exit_code == 0 and other.is_file()


def test_an_old_log_without_dev_loss_or_types_plots_what_it_has(tmp_path):
    log = tmp_path / "old.log.json"  # as train wrote before dev loss and per-type F1 were logged
    log.write_text(json.dumps({"config": {}, "epochs": [
        {"epoch": 1, "loss": 0.3, "dev_f1": 85.0, "lr": 0.001, "train_seconds": 1.0, "tokens_per_second": 9,
         "best": True},
        {"epoch": 2, "loss": 0.1, "dev_f1": 84.0, "lr": 0.001, "train_seconds": 1.0, "tokens_per_second": 9,
         "best": False}]}))
    result = runner.invoke(app, ["plot", str(log)])
    assert result.exit_code == 0, result.output
    picture = (tmp_path / "old.curves.svg").read_text(encoding="utf-8")
    assert series_names(picture) == ["train loss", "dev F1"] and "best epoch 1" in picture


@pytest.mark.parametrize("content, message", [
    (None, "no such file"),
    ("{not json", "not JSON"),
    ('{"config": {}}', "not a training log"),
    ('{"epochs": [{"epoch": 1, "loss": "high"}]}', "epoch record 1"),
])
def test_plot_of_a_bad_log_is_one_clear_error(tmp_path, content, message):
    log = tmp_path / "bad.log.json"
    if content is not None:
        log.write_text(content)
    result = runner.invoke(app, ["plot", str(log)])
    assert result.exit_code == 1 and message in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "bad.curves.svg").exists()


def test_the_crf_loss_without_gradients_is_the_crf_loss():
    from nerwin.crf import crf_nll, crf_nll_value

    rng = np.random.default_rng(0)
    lengths = np.array([3, 1, 5])
    scores, targets = rng.normal(size=(9, 4)), rng.integers(0, 4, size=9)
    start, trans, end = rng.normal(size=4), rng.normal(size=(4, 4)), rng.normal(size=4)
    assert crf_nll_value(scores, start, trans, end, lengths, targets) == pytest.approx(
        crf_nll(scores, start, trans, end, lengths, targets).item())
