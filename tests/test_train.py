"""Training: reproducible, keeps the best epoch on disk, logs every epoch, stops early, survives
Ctrl-C and NaN losses with the best model so far, and trains the binary LOC variant too."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.numpy import load_file

import nerwin.training as train_module
from nerwin.autodiff import functions as F
from nerwin.data import load_files
from nerwin.errors import NerwinError
from nerwin.evaluation import evaluate
from nerwin.tagger import load
from nerwin.training import TrainConfig, train
from tests.helpers import GOOD_CONLL, SENTENCE, SMALL_DEV, TINY, TOY_VALID, conll, cut, to_conll, write_conll

ONE = dataclasses.replace(TINY, epochs=1)


def weights(path: Path) -> bytes:
    return (path / "weights.safetensors").read_bytes()


@pytest.fixture(scope="module")
def one_epoch(tmp_path_factory, small_corpus) -> Path:
    """The TINY model after exactly one epoch (what an interrupted run must leave behind)."""
    path = tmp_path_factory.mktemp("one") / "model"
    train(small_corpus, path, ONE)
    return path


@pytest.mark.reliability
def test_same_seed_same_bits_other_seed_other_bits(tmp_path, one_epoch, small_corpus):
    again = tmp_path / "again"
    train(small_corpus, again, ONE)
    assert weights(again) == weights(one_epoch)
    assert (again / "vocab.json").read_bytes() == (one_epoch / "vocab.json").read_bytes()
    other = tmp_path / "other"
    train(small_corpus, other, dataclasses.replace(ONE, seed=2))
    a, b = load_file(one_epoch / "weights.safetensors"), load_file(other / "weights.safetensors")
    assert a.keys() == b.keys()
    assert all(a[k].shape == b[k].shape for k in a)
    assert any((a[k] != b[k]).any() for k in a)


def test_train_without_a_folder_returns_figures_only(small_corpus):
    result = train(small_corpus, None, ONE)
    assert result.path is None and result.best_epoch == 1 and result.epochs_run == 1


def test_the_best_epoch_is_on_disk_and_the_log_has_every_epoch(tmp_path, monkeypatch, small_corpus):
    # Make epoch 3 look worse than it is: the model from epoch 2 must be the one kept.
    real_f1, seen = train_module.strict_f1, []

    def strict_f1(gold, pred):
        seen.append(real_f1(gold, pred))
        return 0.0 if len(seen) == 3 else seen[-1]

    monkeypatch.setattr(train_module, "strict_f1", strict_f1)
    out, log_path = tmp_path / "best", tmp_path / "log.json"
    result = train(small_corpus, out, dataclasses.replace(TINY, epochs=3, patience=5), log_path=log_path)
    assert result.best_epoch == 2 and result.epochs_run == 3 and not result.interrupted
    assert result.best_dev_f1 == seen[1]

    log = json.loads(log_path.read_text())
    assert [e["epoch"] for e in log["epochs"]] == [1, 2, 3]
    assert [e["dev_f1"] for e in log["epochs"]] == [seen[0], seen[1], 0.0]
    assert [e["best"] for e in log["epochs"]] == [True, seen[1] > seen[0], False]
    assert all(e["loss"] > 0 and e["tokens_per_second"] > 0 for e in log["epochs"])
    assert log["config"]["epochs"] == 3 and log["epochs"] == result.log

    config = json.loads((out / "config.json").read_text())
    assert config["dev"]["epoch"] == 2 and config["dev"]["f1"] == seen[1]
    monkeypatch.setattr(train_module, "strict_f1", real_f1)
    dev = write_conll(tmp_path, to_conll(small_corpus["validation"]))
    assert evaluate(dev, out)["f1"] == pytest.approx(seen[1])
    two = tmp_path / "two"  # the same run stopped after epoch 2: bit for bit the kept model
    train(small_corpus, two, dataclasses.replace(TINY, epochs=2))
    assert weights(two) == weights(out)


def test_early_stopping_after_patience_epochs_without_progress(tmp_path, monkeypatch, small_corpus):
    monkeypatch.setattr(train_module, "strict_f1", lambda g, p: 50.0)
    result = train(small_corpus, None, dataclasses.replace(TINY, epochs=20, patience=2))
    assert result.epochs_run == 3 and result.best_epoch == 1
    assert [e["best"] for e in result.log] == [True, False, False]


def test_binary_variant_tags_locations_only(tmp_path, toy_corpus):
    out = tmp_path / "binary"
    result = train(cut(toy_corpus, None, SMALL_DEV), out, dataclasses.replace(TINY, task="binary"))
    assert result.best_dev_f1 > 80
    tagger = load(out)
    assert tagger.binary and json.loads((out / "config.json").read_text())["task"] == "binary"
    assert [(e.text, e.label) for e in tagger(SENTENCE)] == [("Velmora", "LOC")]
    tags = tagger.tag_tokens([["Talvo", "visited", "New", "Ostrel", "and", "Velmora", "."]])
    assert set(tags[0]) <= {"O", "B-LOC", "I-LOC"}
    assert tags[0][2:4] == ["B-LOC", "I-LOC"]
    report = evaluate(TOY_VALID, out)  # other types in the gold file count as O for this model
    assert set(report["per_type"]) == {"LOC"} and report["f1"] > 80


@pytest.mark.reliability
def test_dev_tag_never_seen_in_training_is_an_error(tmp_path):
    train_file = write_conll(tmp_path, GOOD_CONLL, "train.txt")
    dev_file = write_conll(tmp_path, conll([("Monday", "B-DATE"), ("Talvo", "B-PER")]), "dev.txt")
    with pytest.raises(NerwinError, match="B-DATE"):
        train(load_files(train_file, dev_file), tmp_path / "m", ONE)
    assert not (tmp_path / "m").exists()


@pytest.mark.reliability
def test_bad_config_is_refused_before_any_work(tmp_path, small_corpus):
    for bad in ({"lr": float("nan")}, {"dropout": 1.0}, {"task": "spans"}, {"hidden": 0}):
        with pytest.raises(NerwinError):
            train(small_corpus, tmp_path / "m", dataclasses.replace(ONE, **bad))
    assert not (tmp_path / "m").exists()


@pytest.mark.reliability
def test_existing_model_needs_force(tmp_path, one_epoch, small_corpus):
    with pytest.raises(NerwinError, match="--force"):
        train(small_corpus, one_epoch, ONE)
    result = train(small_corpus, one_epoch, ONE, force=True)  # same seed: same model back
    assert result.best_epoch == 1


@pytest.mark.reliability
def test_ctrl_c_keeps_the_best_model_so_far(tmp_path, one_epoch, small_corpus):
    def progress(event):
        if event["epoch"] == 2 and event.get("step") == 3:
            raise KeyboardInterrupt

    out, log_path = tmp_path / "m", tmp_path / "log.json"
    result = train(small_corpus, out, dataclasses.replace(TINY, epochs=5), progress=progress,
                   log_path=log_path)
    assert result.interrupted and result.best_epoch == 1 and result.epochs_run == 1
    assert weights(out) == weights(one_epoch)
    tokens = SENTENCE.split()
    assert len(load(out).tag_tokens([tokens])[0]) == len(tokens)  # loadable and working
    assert [e["epoch"] for e in json.loads(log_path.read_text())["epochs"]] == [1]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    # the interrupted run can go on from its checkpoint and ends where an uninterrupted run ends
    resumed = train(small_corpus, out, dataclasses.replace(TINY, epochs=5), resume=True)
    straight = train(small_corpus, tmp_path / "straight", dataclasses.replace(TINY, epochs=5))
    assert resumed.epochs_run == straight.epochs_run and resumed.best_epoch == straight.best_epoch
    assert weights(out) == weights(tmp_path / "straight")
    assert not (tmp_path / "m.checkpoint").exists()


@pytest.mark.reliability
def test_ctrl_c_before_the_first_epoch_ends_writes_nothing(tmp_path, small_corpus):
    def progress(event):
        raise KeyboardInterrupt

    result = train(small_corpus, tmp_path / "m", ONE, progress=progress)
    assert result.interrupted and result.best_epoch == 0
    assert not (tmp_path / "m").exists()


@pytest.mark.reliability
def test_nan_loss_stops_naming_the_step_and_keeps_the_last_good_model(tmp_path, monkeypatch, one_epoch, small_corpus):
    real_loss, state = F.cross_entropy, {"epoch": 1, "steps": 0}

    def progress(event):
        if event.get("end"):
            state["epoch"], state["steps"] = event["epoch"] + 1, 0

    def poisoned(logits, targets):
        loss = real_loss(logits, targets)
        state["steps"] += 1
        return loss * float("nan") if state["epoch"] == 2 and state["steps"] == 5 else loss

    monkeypatch.setattr(F, "cross_entropy", poisoned)
    out = tmp_path / "m"
    with pytest.raises(NerwinError, match=r"loss became nan at epoch 2, step 5") as info:
        train(small_corpus, out, dataclasses.replace(TINY, epochs=3), progress=progress)
    assert str(out) in str(info.value)
    assert weights(out) == weights(one_epoch)
    assert len(load(out).tag_tokens([SENTENCE.split()])[0]) == len(SENTENCE.split())


def test_config_from_dict_ignores_unknown_keys():
    assert TrainConfig.from_dict({"hidden": 7, "future_option": 1}).hidden == 7


def test_nerwin_train_and_evaluate_stay_the_functions_however_submodules_are_imported():
    import subprocess
    import sys

    code = ("import inspect, nerwin, nerwin.training, nerwin.evaluation, nerwin.cli\n"
            "from nerwin.training import TrainConfig\n"
            "from nerwin.evaluation import evaluate\n"
            "assert inspect.isfunction(nerwin.train) and nerwin.train is nerwin.training.train\n"
            "assert inspect.isfunction(nerwin.evaluate) and nerwin.evaluate is nerwin.evaluation.evaluate\n"
            "assert nerwin.TrainConfig is TrainConfig\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_use_params_swaps_weights_in_for_the_block_and_back_even_on_an_error():
    import numpy as np

    from nerwin import nn
    from nerwin.autodiff import tensor

    layer = nn.Linear(3, 2, np.random.default_rng(0))
    before = layer.state_dict()
    twos = {"weight": np.full((3, 2), 2.0, dtype=np.float32)}
    x = np.ones((1, 3), dtype=np.float32)
    with layer.use_params(twos):
        np.testing.assert_array_equal(layer.weight.data, twos["weight"])
        np.testing.assert_array_equal(layer(tensor(x)).data, [[6.0, 6.0]])
        np.testing.assert_array_equal(layer.bias.data, before["bias"])  # not named: untouched
    assert all((layer.state_dict()[k] == v).all() for k, v in before.items())
    with pytest.raises(RuntimeError), layer.use_params(twos):
        raise RuntimeError("inside")
    assert all((layer.state_dict()[k] == v).all() for k, v in before.items())
    with pytest.raises(ValueError, match="nope"), layer.use_params({"nope": twos["weight"]}):
        pass
    assert all((layer.state_dict()[k] == v).all() for k, v in before.items())


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.floats(-4, 4), max_size=8), max_size=6))
def test_binary_decode_gives_valid_iob2_runs_of_locations(sentences):
    import numpy as np

    from nerwin import binary
    from nerwin.tags import repair_iob2, spans

    raw = np.array([x for s in sentences for x in s], dtype=np.float32).reshape(-1, 1)
    lengths = np.array([len(s) for s in sentences], dtype=np.int64)
    ids, probs = binary.decode(raw, lengths)
    assert ids.shape == probs.shape == (len(raw),)
    at = 0
    for logits in sentences:
        tags = [binary.TAGS[i] for i in ids[at:at + len(logits)]]
        for start, _, label in spans(tags):  # valid IOB2: every entity opens with B-
            assert tags[start] == "B-LOC" and label == "LOC"
        p = 1 / (1 + np.exp(-np.array(logits, dtype=np.float32).astype(np.float64)))
        assert tags == repair_iob2(["I-LOC" if q >= 0.5 else "O" for q in p])  # a run of LOC words: one entity
        np.testing.assert_array_equal(probs[at:at + len(logits)], np.where(p >= 0.5, p, 1 - p))
        at += len(logits)


def test_binary_gold_and_targets_keep_locations_only():
    from nerwin import binary

    seqs = [["B-LOC", "I-LOC", "O", "B-PER", "I-PER"], ["B-ORG", "B-LOC"]]
    assert binary.gold(seqs) == [["B-LOC", "I-LOC", "O", "O", "O"], ["O", "B-LOC"]]
    assert binary.targets(seqs).tolist() == [1, 1, 0, 0, 0, 0, 1]
    assert binary.targets(seqs).dtype.name == "float32"
