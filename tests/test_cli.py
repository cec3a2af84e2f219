"""The `nerwin` command: every command works, and every failure is one clear line and exit code 1."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nerwin.cli import app
from nerwin.tags import repair_iob2
from tests.helpers import (
    BUILD_ONLY,
    DAMAGES,
    GOOD_CONLL,
    ROOT,
    SENTENCE,
    TINY_CLI,
    TOY,
    TOY_TEST,
    TOY_TRAIN,
    conll,
    fails,
    ok,
    run,
    write_conll,
)

# ---- train -----------------------------------------------------------------------------------------

def test_train_writes_a_model_and_its_log(tmp_path):
    out = tmp_path / "m"
    stdout = ok(run("train", out, "--data", TOY, *TINY_CLI))
    assert "best dev F1" in stdout and str(out) in stdout
    assert {p.name for p in out.iterdir()} == {"config.json", "vocab.json", "weights.safetensors", "README.md",
                                                "scores.json"}
    log = json.loads((tmp_path / "m.log.json").read_text())
    assert [e["epoch"] for e in log["epochs"]] == [1]
    assert 0 <= log["epochs"][0]["dev_f1"] <= 100
    assert ok(run("tag", "-m", out, SENTENCE)).strip()


@pytest.mark.reliability
def test_train_from_named_files_refuses_to_overwrite_without_force(tmp_path, small_toy_folder):
    small = small_toy_folder
    out, log = tmp_path / "m", tmp_path / "train-log.json"
    files = ["--train-file", small / "train.txt", "--dev-file", small / "valid.txt", "--log", log]
    ok(run("train", out, *files, *TINY_CLI))
    before = (out / "weights.safetensors").read_bytes()
    fails(run("train", out, *files, *TINY_CLI), str(out), "--force")
    assert (out / "weights.safetensors").read_bytes() == before
    ok(run("train", out, *files, *TINY_CLI, "--force", "--seed", "2"))
    assert (out / "weights.safetensors").read_bytes() != before
    assert json.loads(log.read_text())["config"]["seed"] == 2
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folders left


@pytest.mark.reliability
def test_train_refuses_a_folder_that_is_not_a_model_even_with_force(tmp_path):
    keep = tmp_path / "photos"
    keep.mkdir()
    (keep / "cat.jpg").write_bytes(b"meow")
    fails(run("train", keep, "--data", TOY, *TINY_CLI, "--force"), str(keep), "not a nerwin model")
    assert (keep / "cat.jpg").read_bytes() == b"meow"


@pytest.mark.reliability
def test_bad_options_and_an_existing_output_are_reported_before_any_data_is_loaded(tmp_path, monkeypatch):
    """With no local data the source is the hub: its (offline) failure must not hide the real mistake."""
    import nerwin.data

    def no_loading(*args, **kwargs):
        raise AssertionError("data was loaded before the options and the output were checked")

    monkeypatch.setattr(nerwin.data, "load_corpus", no_loading)
    existing = tmp_path / "m"
    existing.mkdir()
    (existing / "config.json").write_text("{}")
    fails(run("train", existing, *TINY_CLI), str(existing), "--force")
    fails(run("train", tmp_path / "new", *TINY_CLI, "--lr", "-1"), "learning rate")
    fails(run("train", tmp_path / "new", *TINY_CLI, "--activation", "swish"), "unknown activation 'swish'", "tanh")


def test_train_file_options_go_together(tmp_path):
    fails(run("train", tmp_path / "m", "--train-file", TOY_TRAIN, *TINY_CLI), "--dev-file")


@pytest.mark.reliability
def test_train_with_bad_settings_fails_cleanly(tmp_path):
    fails(run("train", tmp_path / "m", "--data", TOY, *TINY_CLI, "--dropout", "1.5"), "dropout")
    fails(run("train", tmp_path / "m", "--data", TOY, *TINY_CLI, "--lr", "-1"), "learning rate")
    fails(run("train", tmp_path / "m", "--data", tmp_path / "nowhere", *TINY_CLI), "nowhere")
    assert not (tmp_path / "m").exists()


@pytest.mark.reliability
def test_train_without_data_fails_fast_when_the_hub_is_unreachable(tmp_path):
    env = {"HF_ENDPOINT": "http://127.0.0.1:9", "NERWIN_DATA": None, "HF_HUB_OFFLINE": None,
           "HF_DATASETS_OFFLINE": None}
    started = time.perf_counter()
    line = fails(run("train", tmp_path / "m", *TINY_CLI, env=env), "127.0.0.1:9")
    assert time.perf_counter() - started < 5
    assert "local CoNLL files" in line and "--data" in line
    assert not (tmp_path / "m").exists()


def test_train_option_defaults_are_train_configs(tmp_path, monkeypatch):
    """`nerwin train OUT` with no options trains exactly TrainConfig(), the default preset: every default
    comes from it."""
    import nerwin.training
    from nerwin.training import TrainConfig, TrainResult

    seen = {}

    def fake_train(corpus, out, config, **kwargs):
        seen.update(corpus=corpus, config=config, **kwargs)
        return TrainResult(50.0, 1, 1, False, 0.1, 1000.0, out, [])

    monkeypatch.setattr(nerwin.training, "train", fake_train)
    ok(run("train", tmp_path / "m", "--data", TOY, "--quiet"))
    assert seen["config"] == TrainConfig() == TrainConfig.preset("default")
    assert not seen["force"] and not seen["resume"]
    corpus = seen["corpus"]()  # the CLI hands over how to load the data; train loads it after its checks
    assert len(corpus["train"]) > 100 and set(corpus) == {"train", "validation", "test"}


# ---- evaluate --------------------------------------------------------------------------------------

def test_evaluate_text_names_scheme_and_mode_and_has_a_per_type_table(tiny_model):
    stdout = ok(run("evaluate", TOY_TEST, "--model", tiny_model))
    assert "scheme IOB2" in stdout and "mode strict" in stdout and "conlleval" in stdout
    table = stdout[stdout.index("type"):].split("\n\n")[0].splitlines()  # the error analysis follows it
    assert table[0].split() == ["type", "precision", "recall", "F1", "support"]
    assert sorted(row.split()[0] for row in table[1:]) == ["LOC", "MISC", "ORG", "PER"]
    assert "Confusion of entity types" in stdout and "Mistakes by kind" in stdout


def test_evaluate_json_and_output_file(tmp_path, tiny_model):
    report = json.loads(ok(run("evaluate", TOY_TEST, "-m", tiny_model, "--format", "json")))
    assert report["scheme"] == "IOB2" and report["mode"] == "strict"
    assert report["f1"] > 90 and set(report["per_type"]) == {"LOC", "MISC", "ORG", "PER"}
    out = tmp_path / "report.json"
    ok(run("evaluate", TOY_TEST, "-m", tiny_model, "--output", out))
    assert json.loads(out.read_text()) == report


@pytest.mark.reliability
def test_evaluate_missing_file(tmp_path, tiny_model):
    fails(run("evaluate", tmp_path / "missing.txt", "-m", tiny_model), "missing.txt", "no such file")


@pytest.mark.reliability
def test_evaluate_malformed_line_names_file_and_line(tmp_path, tiny_model):
    path = write_conll(tmp_path, "Talvo X X B-PER\nBrenwick\n")
    fails(run("evaluate", path, "-m", tiny_model), f"{path}:2")


@pytest.mark.reliability
@pytest.mark.parametrize("bad", ["B_PER", "X-LOC", "Q-PER", "B-"])  # S-PER is IOBES now
def test_evaluate_malformed_label(tmp_path, bad, tiny_model):
    path = write_conll(tmp_path, f"Talvo X X {bad}\nwent X X O\n")
    fails(run("evaluate", path, "-m", tiny_model), f"{path}:1", repr(bad))


@pytest.mark.reliability
def test_evaluate_label_the_model_does_not_know(tmp_path, tiny_model):
    path = write_conll(tmp_path, GOOD_CONLL + "\nMonday X X B-DATE\n")
    fails(run("evaluate", path, "-m", tiny_model), "B-DATE", str(path))


@pytest.mark.reliability
def test_evaluate_empty_file(tmp_path, tiny_model):
    fails(run("evaluate", write_conll(tmp_path, "\n\n"), "-m", tiny_model), "no sentences")


def test_evaluate_gold_without_entities(tmp_path, tiny_model):
    path = write_conll(tmp_path, conll([("prices", "O"), ("rose", "O"), (".", "O")]))
    report = json.loads(ok(run("evaluate", path, "-m", tiny_model, "-F", "json")))
    assert report["gold_entities"] == 0 and report["mode"] == "strict"


# ---- tag -------------------------------------------------------------------------------------------

def test_tag_text(tiny_model):
    stdout = ok(run("tag", "-m", tiny_model, SENTENCE))
    assert stdout == "[Talvo Brenwick]PER visited [Velmora]LOC on Monday .\n"


def test_tag_json_offsets_point_into_the_input(tiny_model):
    text = "  Talvo  Brenwick's  trip to Velmora, with Greyfen Corp.  "
    line = json.loads(ok(run("tag", "-m", tiny_model, "-F", "json", text)))
    assert line["text"] == text
    assert line["entities"], line
    for e in line["entities"]:
        assert text[e["start"]:e["end"]] == e["text"]
        assert e["label"] in {"PER", "LOC", "ORG", "MISC"} and 0 <= e["score"] <= 1


def test_tag_conll(tiny_model):
    stdout = ok(run("tag", "-m", tiny_model, "--format", "conll", SENTENCE))
    rows = [line.split("\t") for line in stdout.strip("\n").splitlines()]
    assert [r[0] for r in rows] == SENTENCE.split()
    tags = [r[1] for r in rows]
    assert tags == ["B-PER", "I-PER", "O", "B-LOC", "O", "O", "O"]


def test_tag_file_one_output_line_per_input_line(tmp_path, tiny_model):
    lines = [SENTENCE, "", "Greyfen Corp said profits rose .", "Police in Ostrel arrested Lusk ."]
    path = tmp_path / "in.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = ok(run("tag", "-m", tiny_model, "--file", path, "-F", "json")).splitlines()
    assert [json.loads(o)["text"] for o in out] == lines
    assert json.loads(out[1])["entities"] == []
    assert [e["label"] for e in json.loads(out[2])["entities"]] == ["ORG"]


def test_tag_stdin(tiny_model):
    stdout = ok(run("tag", "-m", tiny_model, "-", input=f"{SENTENCE}\nGreyfen Corp fell .\n"))
    assert stdout.splitlines() == ["[Talvo Brenwick]PER visited [Velmora]LOC on Monday .",
                                   "[Greyfen Corp]ORG fell ."]


@pytest.mark.reliability
def test_tag_empty_stdin_prints_nothing(tiny_model):
    assert ok(run("tag", "-m", tiny_model, "-", input="")) == ""


def test_tag_pretokenized_splits_on_whitespace_only(tiny_model):
    text = "Brenwick's trip to Velmora,Ostrel ."
    plain = ok(run("tag", "-m", tiny_model, "-F", "conll", text)).split()
    tokens = ok(run("tag", "-m", tiny_model, "-F", "conll", "--tokens", text)).split()
    assert tokens[::2] == text.split()
    assert len(plain) > len(tokens)  # the tokenizer splits 's and the comma off


@pytest.mark.reliability
def test_tag_output_is_valid_iob2_on_odd_text(tiny_model):
    text = "😀 Talvo e\u0301 \u202eVelmora\u202c \x07 שלום  Ostrel\tCorp\r"
    stdout = ok(run("tag", "-m", tiny_model, "-F", "conll", text))
    tags = [row.split("\t")[1] for row in stdout.strip("\n").splitlines()]
    assert tags == repair_iob2(tags)


@pytest.mark.reliability
def test_tag_empty_text_is_an_error(tiny_model):
    fails(run("tag", "-m", tiny_model, ""), "empty")
    fails(run("tag", "-m", tiny_model, "   "), "empty")


def test_tag_needs_exactly_one_input(tmp_path, tiny_model):
    fails(run("tag", "-m", tiny_model), "--file")
    fails(run("tag", "-m", tiny_model, "--file", TOY_TEST, "text"), "--file")


@pytest.mark.reliability
def test_tag_missing_file(tmp_path, tiny_model):
    fails(run("tag", "-m", tiny_model, "--file", tmp_path / "gone.txt"), "gone.txt")


@pytest.mark.reliability
def test_tag_missing_model(tmp_path):
    fails(run("tag", "-m", tmp_path / "no-model", SENTENCE), "no-model")


@pytest.mark.reliability
@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_tag_and_info_with_a_damaged_model(tmp_path, damage, copy_model):
    spoil, filename = DAMAGES[damage]
    model = copy_model()
    spoil(model)
    fails(run("tag", "-m", model, SENTENCE), str(model / filename))
    if damage not in BUILD_ONLY:
        fails(run("info", model), str(model / filename))


# ---- info ------------------------------------------------------------------------------------------

def test_info(tiny_model):
    stdout = ok(run("info", tiny_model))
    assert "nerwin-window-tagger v1" in stdout
    assert "B-PER" in stdout and "parameters" in stdout and "dev F1" in stdout


def test_info_default_model_via_env(tmp_path, tiny_model):
    assert str(tiny_model) in ok(run("info", env={"NERWIN_MODEL": str(tiny_model)}))
    fails(run("info", env={"NERWIN_MODEL": str(tmp_path / "none")}), "none")


# ---- start-up --------------------------------------------------------------------------------------

def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "COLUMNS": "100"})


def test_help_works_in_a_fresh_process():
    """The installed command answers --help (how fast is bench_startup.py's to measure: tests never time;
    test_cli_imports_nothing_heavy below holds the cause of a fast start)."""
    nerwin = Path(sys.executable).with_name("nerwin")
    command = [str(nerwin)] if nerwin.exists() else [sys.executable, "-m", "nerwin.cli"]
    done = subprocess.run([*command, "--help"], check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "train" in done.stdout and "evaluate" in done.stdout


def test_cli_imports_nothing_heavy():
    code = ("import sys; import nerwin.cli; from typer.testing import CliRunner; "
            "r = CliRunner().invoke(nerwin.cli.app, ['tag', '--help']); assert r.exit_code == 0, r.output; "
            "print(sorted(m for m in ('numba', 'datasets', 'numpy', 'seqeval', 'safetensors') "
            "if m in sys.modules))")
    done = _python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_every_option_has_help():
    for command in ("train", "evaluate", "tag", "info"):
        stdout = ok(run(command, "--help"))
        assert "Usage" in stdout


def test_every_positional_argument_shows_its_help():
    """typer < 0.25 under click 8.5 dropped the help text of arguments (hence the pin on click)."""
    import click
    import typer.main

    def words(text: str) -> str:  # the help is wrapped to the terminal's width
        return " ".join(text.split())

    group = typer.main.get_command(app)
    for name, command in group.commands.items():
        stdout = words(ok(run(name, "--help")))
        for param in command.params:
            if isinstance(param, click.Argument):
                assert param.help and words(param.help) in stdout, (name, param.name, stdout)
    assert "Text to tag; '-' reads one text a line from stdin." in words(ok(run("tag", "--help")))


def test_version():
    import nerwin

    for flag in ("--version", "-V"):
        assert ok(run(flag)).strip() == f"nerwin {nerwin.__version__}"


def test_info_json(tiny_model):
    about = json.loads(ok(run("info", tiny_model, "--format", "json")))
    assert about["tags"][0] == "O" and "B-PER" in about["tags"]
    assert about["parameters"] > 0 and about["dev"]["f1"] > 0
    assert [c["name"] for c in about["features"]] == ["word", "caps"]
    assert about["card"]["name"] == "model" and about["card"]["labels"] == ["LOC", "MISC", "ORG", "PER"]


def test_info_of_the_shipped_model_shows_its_card():
    stdout = ok(run("info", ROOT / "models" / "default", env={"COLUMNS": "400"}))
    assert "name        default" in stdout and "labels      LOC MISC ORG PER" in stdout
    shipped = json.loads((ROOT / "models" / "default" / "scores.json").read_text())["test"]["f1"]
    assert f"test scores F1 {shipped:.2f}" in stdout and "train.txt" in stdout and "sha256" in stdout
