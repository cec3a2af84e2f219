"""Reliability through the `nerwin` command: bad data is one `file:line: problem` line and exit code 1,
odd but valid data reads the same as clean data, huge and streamed input works with flat memory, a
training run killed with SIGKILL leaves a loadable model and resumes to the same weights, and two runs
with the same seed give the same bits.

What the library-level tests already prove (tests/test_data.py, test_model_files.py, test_train.py,
test_tagger.py, test_cli.py) is not repeated here; these tests go through the CLI and real processes.
Run them all (with those) by `pytest -m reliability`.
"""
from __future__ import annotations

import dataclasses
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nerwin.cli import app
from nerwin.data import Sentence, load_corpus, load_files, read_conll
from nerwin.errors import NerwinError
from nerwin.tagger import load
from nerwin.training import train
from tests.helpers import GOOD_CONLL, SENTENCE, TINY, TINY_CLI, TOY, TOY_TEST, LineReader, conll, write_conll

pytestmark = pytest.mark.reliability

runner = CliRunner()
NERWIN = [sys.executable, "-m", "nerwin.cli"]  # a real process, as a user would start it


def run(*args: str | Path, input: str | None = None):
    return runner.invoke(app, [str(a) for a in args], input=input)


def ok(result) -> str:
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def fails(result) -> str:
    """The command failed the nerwin way (exit 1, one red line, no traceback); returns the message."""
    assert result.exit_code == 1, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0].removeprefix("error: ")


def weights(model: Path) -> bytes:
    return (model / "weights.safetensors").read_bytes()


# ---- 1. bad data through `nerwin evaluate` and `nerwin train --data` -------------------------------------

# (content of the file, its problem as `{file}:{line}: ...` with {file} filled in by the test)
BAD_DATA = {
    "empty file": (b"", "{file}: no sentences"),
    "only -DOCSTART-": (b"-DOCSTART- -X- -X- O\n\n-DOCSTART- -X- -X- O\n\n", "{file}: no sentences"),
    "too few columns": (b"Talvo X X B-PER\nBrenwick\n", "{file}:2: expected 'token ... tag', got 'Brenwick'"),
    "tag B_PER": (b"Talvo X X B-PER\n\nBrenwick X X B_PER\n", "{file}:3: bad tag 'B_PER'"),
    "tag X-LOC": (b"Talvo X X B-PER\nin X X O\nVelmora X X X-LOC\n", "{file}:3: bad tag 'X-LOC'"),
    "tag without a type": (b"Velmora X X B-\n", "{file}:1: bad tag 'B-'"),
    "not UTF-8": (b"Talvo X X B-PER\nVelm\xe9ra X X B-LOC\n", "{file}:2: not UTF-8 (byte 0xe9 at column 5)"),
    # a BOM and CRLF line ends do not shift line numbers or leak '\r' into the message
    "BOM, CRLF, too few columns": (b"\xef\xbb\xbfTalvo X X B-PER\r\n\r\nBrenwick\r\n",
                                   "{file}:3: expected 'token ... tag', got 'Brenwick'"),
}


@pytest.mark.parametrize("where", ["evaluate", "train.txt", "valid.txt"])
@pytest.mark.parametrize("case", sorted(BAD_DATA))
def test_bad_data_is_one_line_naming_file_and_line_and_exit_1(tmp_path, case, where, tiny_model):
    content, problem = BAD_DATA[case]
    out = tmp_path / "model"
    if where == "evaluate":
        bad = tmp_path / "gold.txt"
        bad.write_bytes(content)
        message = fails(run("evaluate", bad, "-m", tiny_model))
    else:
        folder = tmp_path / "corpus"
        folder.mkdir()
        write_conll(folder, GOOD_CONLL, "train.txt")
        write_conll(folder, GOOD_CONLL, "valid.txt")
        bad = folder / where
        bad.write_bytes(content)
        message = fails(run("train", out, "--data", folder, *TINY_CLI))
    expected = problem.format(file=bad)
    assert message.startswith(expected), (message, expected)
    assert not out.exists()


def _conll_bytes(sentences: list[Sentence], *, bom=False, crlf=False, mixed=False, iob1=False) -> bytes:
    """CoNLL text of sentences in an odd but valid form: a BOM, CRLF line ends, tabs and spaces mixed
    between columns, tags in IOB1 (B- only where an entity follows one of the same type)."""
    seps = ["\t", " \t ", "  ", " "] if mixed else [" "]
    eol = "\r\n" if crlf else "\n"
    lines = ["-DOCSTART- -X- -X- O", ""]
    for s in sentences:
        prev = "O"
        for i, (token, tag) in enumerate(zip(s.tokens, s.tags)):
            if iob1 and tag.startswith("B-") and prev[2:] != tag[2:]:
                tag = "I-" + tag[2:]
            prev = s.tags[i]
            sep = seps[i % len(seps)]
            lines.append(sep.join([token, "NN", "O", tag]))
        lines.append("")
    return ("\ufeff" if bom else "").encode() + eol.join(lines).encode("utf-8")


ODD_FORMS = {"BOM": {"bom": True}, "CRLF": {"crlf": True}, "tabs and spaces": {"mixed": True},
             "IOB1": {"iob1": True}, "all at once": {"bom": True, "crlf": True, "mixed": True, "iob1": True}}


@pytest.mark.parametrize("form", sorted(ODD_FORMS))
def test_odd_but_valid_files_evaluate_exactly_like_the_clean_file(tmp_path, form, tiny_model):
    sentences = read_conll(TOY_TEST)
    clean, odd = tmp_path / "clean.txt", tmp_path / "odd.txt"
    clean.write_bytes(_conll_bytes(sentences))
    odd.write_bytes(_conll_bytes(sentences, **ODD_FORMS[form]))
    assert clean.read_bytes() != odd.read_bytes()
    assert [(s.tokens, s.tags) for s in read_conll(odd)] == [(s.tokens, s.tags) for s in sentences]
    reports = [json.loads(ok(run("evaluate", p, "-m", tiny_model, "-F", "json"))) for p in (clean, odd)]
    for report in reports:
        del report["data"]
    assert reports[0] == reports[1]
    assert reports[0]["gold_entities"] > 100


def test_training_on_odd_but_valid_files_gives_the_same_model(tmp_path, small_toy_folder):
    clean = small_toy_folder
    odd = tmp_path / "odd"
    odd.mkdir()
    for name in ("train.txt", "valid.txt"):
        (odd / name).write_bytes(_conll_bytes(read_conll(clean / name), **ODD_FORMS["all at once"]))
    ok(run("train", tmp_path / "m-clean", "--data", clean, *TINY_CLI))
    ok(run("train", tmp_path / "m-odd", "--data", odd, *TINY_CLI))
    assert weights(tmp_path / "m-clean") == weights(tmp_path / "m-odd")


def test_a_sentence_of_100000_tokens_evaluates(tmp_path, tiny_model):
    # Lower-case words, so that few entities are predicted: seqeval's strict mode is quadratic in
    # (tokens x entities) of one sentence, which is seqeval's cost, not the reader's.
    rng = random.Random(0)
    words = ["the", "prices", "rose", "said", "on", "of", "and", "in", "a", "."]
    rows = [f"{rng.choice(words)} X X O" for _ in range(100_000)]
    rows[10] = "Talvo X X B-PER"
    path = write_conll(tmp_path, "\n".join(rows) + "\n", "long.txt")
    report = json.loads(ok(run("evaluate", path, "-m", tiny_model, "-F", "json")))
    assert report["sentences"] == 1 and report["tokens"] == 100_000 and report["gold_entities"] == 1
    assert report["token_accuracy"] > 90


# ---- a validation or test tag never seen in training -----------------------------------------------------

TRAIN_PER_LOC = conll([("Talvo", "B-PER"), ("visited", "O"), ("Velmora", "B-LOC"), (".", "O")])
# I-PER after O is IOB1 for a new PER entity: the type is known even though I-PER never occurs in train.
DEV_UNSEEN = conll([("Talvo", "I-PER"), ("Brenwick", "I-PER")],
                   [("Velmora", "B-LOC"), ("on", "O"), ("Monday", "B-DATE"), (".", "O")])


def _unseen_message(path: Path, line: int, tag: str, train_file: Path) -> str:
    return f"{path}:{line}: tag '{tag}' never occurs in the training file {train_file}"


def test_unseen_dev_or_test_tag_names_file_line_and_tag(tmp_path):
    train = write_conll(tmp_path, TRAIN_PER_LOC, "train.txt")
    valid = write_conll(tmp_path, DEV_UNSEEN, "valid.txt")
    with pytest.raises(NerwinError) as info:
        load_corpus(tmp_path)
    assert str(info.value) == _unseen_message(valid, 6, "B-DATE", train)
    with pytest.raises(NerwinError) as info:
        load_files(train, valid)
    assert str(info.value) == _unseen_message(valid, 6, "B-DATE", train)

    valid.write_text(conll([("Brenwick", "I-PER"), ("said", "O")]), encoding="utf-8")  # a known type
    test = write_conll(tmp_path, conll([("Talvo", "B-PER")], [("Greyfen", "B-ORG"), ("Corp", "I-ORG")]),
                       "test.txt")
    with pytest.raises(NerwinError) as info:
        load_corpus(tmp_path)
    assert str(info.value) == _unseen_message(test, 3, "B-ORG", train)
    with pytest.raises(NerwinError) as info:
        load_files(train, valid, test)
    assert str(info.value) == _unseen_message(test, 3, "B-ORG", train)

    test.write_text(conll([("Talvo", "B-PER"), ("in", "O"), ("Velmora", "B-LOC")]), encoding="utf-8")
    corpus = load_corpus(tmp_path)
    assert [s.tags for s in corpus["validation"]] == [["B-PER", "O"]]  # IOB1 converted, not rejected
    assert [s.tags for s in load_files(train, valid, test)["test"]] == [["B-PER", "O", "B-LOC"]]


def test_unseen_dev_tag_through_the_cli(tmp_path):
    train = write_conll(tmp_path, TRAIN_PER_LOC, "train.txt")
    valid = write_conll(tmp_path, DEV_UNSEEN, "valid.txt")
    out = tmp_path / "m"
    expected = _unseen_message(valid, 6, "B-DATE", train)
    assert fails(run("train", out, "--data", tmp_path, *TINY_CLI)) == expected
    assert fails(run("train", out, "--train-file", train, "--dev-file", valid, *TINY_CLI)) == expected
    assert not out.exists()


# ---- 2. odd text to tag: a 1 MB line, a stream of 100,000 lines ------------------------------------------

# toy names and words, emoji, combining marks, right-to-left text and marks, a control character, ...
ODD_WORDS = ["Talvo", "Brenwick", "visited", "Velmora", "on", "Monday", ".", "Greyfen", "Corp", ",", "said",
             "\U0001f600", "e\u0301te\u0301", "שלום", "\u202eOstrel\u202c", "\x07", "Ǆemal", "İstanbul",
             "\U0001d400x"]


def test_tag_a_1mb_single_line(tmp_path, tiny_model):
    rng = random.Random(1)
    parts, size = [], 0
    while size < 1_000_000:
        word = rng.choice(ODD_WORDS)
        parts.append(word)
        size += len(word) + 1
    text = " ".join(parts)
    path = tmp_path / "big.txt"
    path.write_text(text + "\n", encoding="utf-8")
    out = ok(run("tag", "--file", path, "-m", tiny_model, "-F", "json")).splitlines()
    assert len(out) == 1
    line = json.loads(out[0])
    assert line["text"] == text
    entities = line["entities"]
    assert len(entities) > 1000
    assert all(text[e["start"]:e["end"]] == e["text"] for e in entities)
    assert all(a["end"] <= b["start"] for a, b in zip(entities, entities[1:]))


def _hwm_kb(pid: int) -> int:
    """Peak resident memory of a live process (VmHWM), in kB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^VmHWM:\s+(\d+) kB", status, re.M).group(1))


@pytest.mark.slow  # about 15 s with the JIT, a minute and more without
def test_tag_a_stream_of_100000_lines_answers_as_input_arrives_with_flat_memory(tmp_path, tiny_model):
    n, first = 100_000, 5
    samples = [SENTENCE, "Greyfen Corp fell 3 % in Ostrel .", "", "😀 e\u0301 שלום Velmora\tCorp", "the end"]
    # Words repeat, so the tokenizer's and featurizer's bounded memo tables stay small: any growth is a leak.
    lines = [samples[i % len(samples)] for i in range(n)]
    stderr = (tmp_path / "stderr.txt").open("wb")
    proc = subprocess.Popen([*NERWIN, "tag", "-", "--format", "json", "-m", str(tiny_model)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, cwd=tmp_path)
    release = threading.Event()

    def feed(begin: int, end: int, close: bool) -> None:
        try:
            for b in range(begin, end, 1000):
                proc.stdin.write("".join(x + "\n" for x in lines[b:min(b + 1000, end)]).encode())
            proc.stdin.flush()
            if close:
                release.wait(120)
                proc.stdin.close()
        except BrokenPipeError:
            pass

    try:
        reader = LineReader(proc.stdout)
        feed(0, first, close=False)
        # stdin is still open: the first answer must come anyway (startup takes a few seconds)
        assert json.loads(reader.next(timeout=120))["text"] == lines[0]
        writer = threading.Thread(target=feed, args=(first, n, True), daemon=True)
        writer.start()
        started = time.monotonic()
        for i in range(1, n):
            record = json.loads(reader.next(timeout=60))
            assert record["text"] == lines[i]
            assert all(lines[i][e["start"]:e["end"]] == e["text"] for e in record["entities"])
            if i == n // 10:
                early = _hwm_kb(proc.pid)
        late = _hwm_kb(proc.pid)  # all 100,000 answered while stdin is still open: the process lives
        elapsed = time.monotonic() - started
        release.set()
        writer.join(30)
        assert proc.wait(30) == 0, (tmp_path / "stderr.txt").read_text()
    finally:
        release.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        stderr.close()
    # 90,000 more lines in and out may not pile up in memory: keeping just the input lines would add
    # some 9 MB here; a flat process adds well under 1 MB.
    assert late - early < 5_000, (early, late)
    assert elapsed < 120


# ---- 4. faults during training: SIGKILL, --resume ---------------------------------------------------------

# Slow enough (batches of 8 words) that an epoch on data/toy takes about a second with the JIT.
KILL_OPTIONS = ["--data", str(TOY), "--preset", "classic", "--epochs", "4", "--patience", "10", "--hidden", "16",
                "--word-dim", "8", "--batch-size", "8", "--lr", "0.001", "--seed", "3", "--quiet"]


def _train_process(out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([*NERWIN, "train", str(out), *KILL_OPTIONS, *extra], cwd=out.parent,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow  # about 20 s with the JIT, minutes without
def test_sigkill_mid_epoch_keeps_a_loadable_model_and_resume_ends_like_an_uninterrupted_run(tmp_path):
    straight_dir, killed_dir = tmp_path / "straight", tmp_path / "killed"
    straight_dir.mkdir()
    killed_dir.mkdir()
    straight = _train_process(straight_dir / "m")  # the reference, alongside
    out = killed_dir / "m"
    killed = _train_process(out)
    try:
        deadline = time.monotonic() + 180
        while not (killed_dir / "m.checkpoint" / "config.json").exists():  # after epoch 1 and its save
            assert killed.poll() is None, killed.communicate()[0]
            assert time.monotonic() < deadline, "no checkpoint after 180 s"
            time.sleep(0.02)
        time.sleep(0.4)  # into epoch 2
        assert killed.poll() is None, "training ended before it could be killed"
        os.kill(killed.pid, signal.SIGKILL)
        assert killed.wait(30) == -signal.SIGKILL
    finally:
        if killed.poll() is None:
            killed.kill()
            killed.wait()

    # The model on disk is whole: it loads and tags. Temporary folders are hidden and never the model.
    tagger = load(out)
    assert tagger.config["dev"]["epoch"] >= 1
    assert len(tagger.tag_tokens([SENTENCE.split()])[0]) == len(SENTENCE.split())
    assert ok(run("tag", "-m", out, SENTENCE)).strip()
    strays = {p.name for p in killed_dir.iterdir()} - {"m", "m.checkpoint", "m.log.json", "m.curves.svg"}
    assert all(name.startswith(".") for name in strays), strays

    resumed = subprocess.run([*NERWIN, "train", str(out), *KILL_OPTIONS, "--resume"], cwd=killed_dir,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert straight.wait(300) == 0, straight.communicate()[0]
    assert weights(out) == weights(straight_dir / "m")
    assert not (killed_dir / "m.checkpoint").exists()
    log = json.loads((killed_dir / "m.log.json").read_text())
    assert [e["epoch"] for e in log["epochs"]] == [1, 2, 3, 4]


def test_resume_without_a_checkpoint_is_one_clear_error(tmp_path, small_toy_folder):
    out = tmp_path / "m"
    message = fails(run("train", out, "--data", small_toy_folder, *TINY_CLI, "--resume"))
    assert message == f"{out}.checkpoint: no checkpoint to resume from"
    assert not out.exists()


def test_resume_with_other_settings_is_refused_and_keeps_the_model(tmp_path, small_toy_folder, small_corpus):
    def stop_in_epoch_2(event):
        if event["epoch"] == 2:
            raise KeyboardInterrupt

    out = tmp_path / "m"
    result = train(small_corpus, out, dataclasses.replace(TINY, epochs=4), progress=stop_in_epoch_2)
    assert result.interrupted and (tmp_path / "m.checkpoint").is_dir()
    before = weights(out)
    folder = small_toy_folder
    message = fails(run("train", out, "--data", folder, *TINY_CLI, "--seed", "2", "--resume"))
    assert message.startswith(f"{out}.checkpoint: ")
    assert weights(out) == before


# ---- 5. determinism across processes ----------------------------------------------------------------------

def test_two_processes_with_the_same_seed_write_identical_weights(tmp_path, small_toy_folder):
    folder = small_toy_folder
    runs = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        runs.append(subprocess.Popen([*NERWIN, "train", str(tmp_path / name / "m"), "--data", str(folder),
                                      *TINY_CLI, "--epochs", "2", "--seed", "7"], cwd=tmp_path / name,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    for proc in runs:
        output = proc.communicate(timeout=300)[0]
        assert proc.returncode == 0, output
    a, b = tmp_path / "a" / "m", tmp_path / "b" / "m"
    assert weights(a) == weights(b)
    assert (a / "vocab.json").read_bytes() == (b / "vocab.json").read_bytes()
    assert len(weights(a)) > 1000
