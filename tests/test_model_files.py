"""Model folders: JSON plus safetensors, nothing that can run code; damage is one clear error naming the
file; saving is atomic and never replaces what is not a model."""
from __future__ import annotations

import json
import os
import pickle
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from nerwin import serialize
from nerwin.errors import NerwinError
from nerwin.tagger import Tagger, load
from tests.helpers import DAMAGES, SENTENCE, TINY

pytestmark = pytest.mark.reliability

FILES = {"config.json", "vocab.json", "weights.safetensors"}


def toy_test_tokens(corpus: dict) -> list[list[str]]:
    return [s.tokens for s in corpus["test"]]


def test_round_trip_gives_identical_predictions(tmp_path, toy_corpus, tiny_model, tiny_tagger):
    tagger = tiny_tagger
    tagger.save(tmp_path / "copy")
    again = load(tmp_path / "copy")
    sentences = toy_test_tokens(toy_corpus)
    enc = tagger.featurizer.encode(sentences)
    assert np.array_equal(tagger.outputs(enc), again.outputs(again.featurizer.encode(sentences)))
    assert again.tag_tokens(sentences) == tagger.tag_tokens(sentences)
    assert again(SENTENCE) == tagger(SENTENCE)
    assert again.tags == tagger.tags
    for name in FILES:  # saving a loaded model writes the same files
        assert (tmp_path / "copy" / name).read_bytes() == (tiny_model / name).read_bytes(), name


def test_model_files_are_json_and_safetensors_only(tiny_model, tiny_tagger):
    assert {p.name for p in tiny_model.iterdir()} == FILES | {"README.md", "scores.json"}  # + the card (text, JSON)
    config = json.loads((tiny_model / "config.json").read_text(encoding="utf-8"))
    assert config["format"] == serialize.FORMAT and config["format_version"] == serialize.FORMAT_VERSION
    assert config["tags"] == tiny_tagger.tags and config["network"]["hidden"] == TINY.hidden
    vocab = json.loads((tiny_model / "vocab.json").read_text(encoding="utf-8"))
    assert all(isinstance(v, list) and all(isinstance(k, str) for k in v) for v in vocab.values())
    raw = (tiny_model / "weights.safetensors").read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + size])
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    assert tensors and all(v["dtype"] == "F32" for v in tensors.values())
    last = max(v["data_offsets"][1] for v in tensors.values())
    assert len(raw) == 8 + size + last  # nothing hidden after the arrays


def test_save_with_a_card_adds_only_a_readme(tmp_path, tiny_tagger):
    tiny_tagger.save(tmp_path / "m", card="# tiny\nA toy model.\n")
    assert {p.name for p in (tmp_path / "m").iterdir()} == FILES | {"README.md"}
    assert load(tmp_path / "m")(SENTENCE) == tiny_tagger(SENTENCE)


class _Boom:
    """Unpickling this creates the marker file: proof that something was unpickled."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_loading_never_unpickles(tmp_path, monkeypatch, tiny_tagger, copy_model):
    model = copy_model()
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Boom(marker))
    for name in ("weights.pkl", "model.pkl", "tagger.pickle", "pytorch_model.bin"):
        (model / name).write_bytes(payload)
    np.savez(model / "weights.npz", evil=np.array([_Boom(marker)], dtype=object))
    np.save(model / "weights.npy", np.array([_Boom(marker)], dtype=object))

    def refuse(*args, **kwargs):
        raise AssertionError("a model load tried to unpickle")

    for target, name in ((pickle, "load"), (pickle, "loads"), (pickle, "Unpickler"), (np, "load")):
        monkeypatch.setattr(target, name, refuse)
    tagger = load(model)
    assert tagger(SENTENCE) == tiny_tagger(SENTENCE)
    assert not marker.exists()


def test_pickle_in_place_of_the_weights_is_refused(tmp_path, copy_model):
    model = copy_model()
    marker = tmp_path / "pwned"
    (model / "weights.safetensors").write_bytes(pickle.dumps(_Boom(marker)))
    with pytest.raises(NerwinError, match="weights.safetensors"):
        load(model)
    assert not marker.exists()


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_damaged_model_is_one_error_naming_the_file(tmp_path, damage, copy_model):
    spoil, filename = DAMAGES[damage]
    model = copy_model()
    spoil(model)
    with pytest.raises(NerwinError) as info:
        load(model)
    assert str(model / filename) in str(info.value)


def test_a_missing_or_wrong_kind_of_model_path(tmp_path):
    with pytest.raises(NerwinError, match="no such model"):
        Tagger.load(tmp_path / "none")
    (tmp_path / "file.safetensors").write_bytes(b"")
    with pytest.raises(NerwinError, match="folder"):
        Tagger.load(tmp_path / "file.safetensors")
    (tmp_path / "empty").mkdir()
    with pytest.raises(NerwinError, match="config.json"):
        Tagger.load(tmp_path / "empty")


def test_replacing_a_model_is_atomic_and_leaves_no_temp_folders(tmp_path, tiny_tagger):
    target = tmp_path / "m"
    tiny_tagger.save(target)
    (target / "stale.txt").write_text("from the old model")
    tiny_tagger.save(target)
    assert {p.name for p in target.iterdir()} == FILES  # replaced as a whole, not merged
    assert [p.name for p in tmp_path.iterdir()] == ["m"]
    assert load(target)(SENTENCE) == tiny_tagger(SENTENCE)


def test_a_failed_save_keeps_the_old_model(tmp_path, monkeypatch, tiny_tagger, copy_model):
    target = copy_model("m")
    before = {p.name: p.read_bytes() for p in target.iterdir()}
    real_write = serialize._fsync_write

    def failing_write(path: Path, data: bytes) -> None:
        if path.name == serialize.WEIGHTS:
            raise OSError(28, "No space left on device")
        real_write(path, data)

    monkeypatch.setattr(serialize, "_fsync_write", failing_write)
    with pytest.raises(OSError):
        tiny_tagger.save(target)
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # the half-written temp folder is gone


def test_saving_over_a_folder_that_is_not_a_model_is_refused(tmp_path, tiny_tagger):
    precious = tmp_path / "thesis"
    precious.mkdir()
    (precious / "chapter1.tex").write_text("...")
    with pytest.raises(NerwinError, match="not a nerwin model"):
        tiny_tagger.save(precious)
    assert (precious / "chapter1.tex").read_text() == "..."
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(NerwinError):
        tiny_tagger.save(tmp_path / "notes.txt")
    assert (tmp_path / "notes.txt").read_text() == "keep me"


def test_check_writable(tmp_path, tiny_model):
    serialize.check_writable(tmp_path / "new", force=False)
    with pytest.raises(NerwinError, match="--force"):
        serialize.check_writable(tiny_model, force=False)
    serialize.check_writable(tiny_model, force=True)
    with pytest.raises(NerwinError, match="not a nerwin model"):
        serialize.check_writable(tmp_path, force=True)


def test_a_save_killed_between_its_renames_is_finished_on_load(tmp_path, copy_model):
    """save_folder renames the old model aside, then the new one in; a kill between the two leaves
    both hidden folders and no model: loading completes the swap to the new model."""
    from nerwin.serialize import load_folder

    model = copy_model()
    config_before = (model / "config.json").read_text()
    old = model.with_name(f".{model.name}.old-4242")
    new = model.with_name(f".{model.name}.tmp-4242")
    shutil.copytree(model, new)
    (new / "config.json").write_text(config_before.replace('"format_version": 1', '"format_version": 1 '))
    os.replace(model, old)  # the state right after the first rename
    config, _, _ = load_folder(model)
    assert model.is_dir() and not old.exists() and not new.exists()
    assert (model / "config.json").read_text() != config_before  # the new model won


def test_saving_removes_the_leftovers_of_saves_whose_process_died(tmp_path, copy_model):
    model = copy_model()
    dead = 2**22 + 12345  # above the default pid_max on Linux: no such process
    stale = [model.with_name(f".{model.name}.tmp-{dead}"), model.with_name(f".{model.name}.old-{dead + 1}")]
    alive = model.with_name(f".{model.name}.tmp-1")  # pid 1 is always running
    for folder in [*stale, alive]:
        shutil.copytree(model, folder)
    load(model).save(model)
    assert not any(f.exists() for f in stale) and alive.exists()


def test_a_checkpoint_is_refused_as_a_model_and_a_model_as_a_checkpoint(tmp_path, toy_corpus):
    import dataclasses

    from typer.testing import CliRunner

    from nerwin.cli import app
    from nerwin.training import train

    def stop_in_epoch_2(event):
        if event["epoch"] == 2:
            raise KeyboardInterrupt

    out = tmp_path / "m"
    corpus = {"train": toy_corpus["train"][:200], "validation": toy_corpus["validation"][:40]}
    assert train(corpus, out, dataclasses.replace(TINY, epochs=3), progress=stop_in_epoch_2).interrupted
    checkpoint = tmp_path / "m.checkpoint"
    config = json.loads((checkpoint / "config.json").read_text())
    assert config["format"] == serialize.CHECKPOINT_FORMAT != serialize.FORMAT

    with pytest.raises(NerwinError) as info:
        load(checkpoint)
    assert str(info.value).startswith(f"{checkpoint}: a nerwin training checkpoint, not a nerwin model")
    assert "--resume" in str(info.value)
    result = CliRunner().invoke(app, ["info", str(checkpoint)])
    assert result.exit_code == 1 and "a nerwin training checkpoint, not a nerwin model" in result.stderr

    shutil.rmtree(checkpoint)
    shutil.copytree(out, checkpoint)  # a model where the checkpoint should be
    with pytest.raises(NerwinError) as info:
        train(corpus, out, dataclasses.replace(TINY, epochs=3), resume=True)
    assert str(info.value) == f"{checkpoint}: a nerwin model, not a nerwin training checkpoint"
