"""Constants and pure functions shared by the tests: toy data paths, training settings, CoNLL text,
damaged model folders. Importable at collection time (for `parametrize`) under any import mode:

    from tests.helpers import TOY, TINY, SENTENCE, write_conll

Anything with state (the tiny model trained once per session, the loaded tagger, copies of the model,
the toy corpus as read) is a fixture in tests/conftest.py.
"""
from __future__ import annotations

import json
import os
import select
import struct
import time
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import numpy as np

from nerwin.training import TrainConfig

ROOT = Path(__file__).resolve().parent.parent
TOY = ROOT / "data" / "toy"
TOY_TRAIN, TOY_VALID, TOY_TEST = TOY / "train.txt", TOY / "valid.txt", TOY / "test.txt"

# Small and quick, also with NUMBA_DISABLE_JIT=1 (CI runs the tests that way too): the toy corpus has
# ~11k training tokens, so a high learning rate and few steps reach dev F1 > 90 in two epochs.
# The classic preset (words + caps, word-level softmax): the tests are about the machinery, not accuracy.
TINY = TrainConfig.preset("classic", epochs=2, hidden=16, word_dim=8, batch_size=128, lr=1e-2, seed=1)
TWO_PASS = TrainConfig.preset("classic", epochs=2, hidden=16, word_dim=8, batch_size=128, lr=1e-2, seed=1,
                            two_pass=True, folds=2, doc_dim=4)  # TINY read twice
# Options of `nerwin train` for a quick CLI run.
TINY_CLI = ["--preset", "classic", "--epochs", "1", "--hidden", "16", "--word-dim", "8", "--batch-size", "128",
            "--lr", "0.01", "--quiet"]
# Sentences of the toy splits used where a test is about the training machinery, not about accuracy.
SMALL_TRAIN, SMALL_DEV = 300, 60

# A toy-like sentence with entities of three types (names taken from the toy corpus's made-up lists).
SENTENCE = "Talvo Brenwick visited Velmora on Monday ."


def read_toy_corpus() -> dict:
    """{"train", "validation", "test"}: lists of Sentences read from data/toy (nerwin.train takes this as
    well as a DatasetDict). Tests take it as the session fixture `toy_corpus`."""
    from nerwin.data import read_conll

    return {"train": read_conll(TOY_TRAIN), "validation": read_conll(TOY_VALID), "test": read_conll(TOY_TEST)}


def cut(corpus: dict, train_sentences: int | None = None, dev_sentences: int | None = None) -> dict:
    """The corpus with train and validation cut to their first sentences (new lists; test as is)."""
    return {"train": corpus["train"][:train_sentences], "validation": corpus["validation"][:dev_sentences],
            "test": corpus["test"]}


def to_conll(sentences) -> str:
    """CoNLL text of Sentences (token and tag columns)."""
    return "\n".join("\n".join(f"{w} {t}" for w, t in zip(s.tokens, s.tags)) + "\n" for s in sentences)


def write_conll(tmp_path: Path, text: str, name: str = "data.txt") -> Path:
    """Write CoNLL text as given to tmp_path/name and return the path."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def conll(*sentences: list[tuple[str, str]]) -> str:
    """CoNLL text from sentences of (token, tag) pairs, with placeholder POS and chunk columns."""
    return "\n\n".join("\n".join(f"{tok} X X {tag}" for tok, tag in s) for s in sentences) + "\n"


GOOD_CONLL = conll(
    [("Talvo", "B-PER"), ("Brenwick", "I-PER"), ("visited", "O"), ("Velmora", "B-LOC"), (".", "O")],
    [("Greyfen", "B-ORG"), ("Corp", "I-ORG"), ("said", "O"), ("profits", "O"), ("rose", "O"), (".", "O")],
)


# ---- damaged models: name -> (how to damage a model folder, the file the error must name) ----------

def _truncate_weights(path: Path) -> None:
    weights = path / "weights.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])


def _edit_config(path: Path, **changes) -> None:
    config = json.loads((path / "config.json").read_text())
    config.update(changes)
    (path / "config.json").write_text(json.dumps(config))


def _drop_config_key(path: Path, key: str) -> None:
    config = json.loads((path / "config.json").read_text())
    del config[key]
    (path / "config.json").write_text(json.dumps(config))


def _reshape_weight(path: Path) -> None:
    from safetensors.numpy import load_file, save_file

    arrays = load_file(path / "weights.safetensors")
    arrays["hidden.weight"] = np.zeros((7, 3), dtype=np.float32)
    save_file(arrays, path / "weights.safetensors")


def _drop_weight(path: Path) -> None:
    from safetensors.numpy import load_file, save_file

    arrays = load_file(path / "weights.safetensors")
    del arrays["output.bias"]
    save_file(arrays, path / "weights.safetensors")


def _junk_header(path: Path) -> None:
    """A safetensors file whose header is not the JSON it should be (but claims a sane length)."""
    header = b"__import__('os').system('echo pwned')  "
    (path / "weights.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 64)


def _huge_header(path: Path) -> None:
    (path / "weights.safetensors").write_bytes(struct.pack("<Q", 2**62) + b"{}")


def _shorten_vocab(path: Path) -> None:
    vocab = json.loads((path / "vocab.json").read_text())
    vocab["word"] = vocab["word"][:10]
    (path / "vocab.json").write_text(json.dumps(vocab))


DAMAGES: dict[str, tuple[Callable[[Path], None], str]] = {
    "truncated weights": (_truncate_weights, "weights.safetensors"),
    "empty weights": (lambda p: (p / "weights.safetensors").write_bytes(b""), "weights.safetensors"),
    "missing weights": (lambda p: (p / "weights.safetensors").unlink(), "weights.safetensors"),
    "junk safetensors header": (_junk_header, "weights.safetensors"),
    "huge safetensors header": (_huge_header, "weights.safetensors"),
    "weight of a wrong shape": (_reshape_weight, "weights.safetensors"),
    "weight missing": (_drop_weight, "weights.safetensors"),
    "config not JSON": (lambda p: (p / "config.json").write_text("{not json"), "config.json"),
    "config not an object": (lambda p: (p / "config.json").write_text("[1, 2]"), "config.json"),
    "missing config": (lambda p: (p / "config.json").unlink(), "config.json"),
    "future format_version": (lambda p: _edit_config(p, format_version=99), "config.json"),
    "other format": (lambda p: _edit_config(p, format="pickle"), "config.json"),
    "config without network": (lambda p: _drop_config_key(p, "network"), "config.json"),
    "unknown activation": (lambda p: _edit_config(p, network={"hidden": 32, "activation": "gelu",
                                                              "dropout": 0.5}), "config.json"),
    "bad tag in config": (lambda p: _edit_config(p, tags=["O", "B_LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG",
                                                        "I-ORG", "B-PER", "I-PER"]), "config.json"),
    "tags not a list": (lambda p: _edit_config(p, tags="OBIOBIOBI"), "config.json"),
    "huge hidden size": (lambda p: _edit_config(p, network={"hidden": 10**12, "activation": "tanh",
                                                            "dropout": 0.5}), "weights.safetensors"),
    "missing vocab": (lambda p: (p / "vocab.json").unlink(), "vocab.json"),
    "vocab not JSON": (lambda p: (p / "vocab.json").write_bytes(b"\xff\xfe garbage"), "vocab.json"),
    "vocab shorter than the weights": (_shorten_vocab, "weights.safetensors"),
}

# Damage that only shows when the network is built: `nerwin info` reads the files and builds nothing.
BUILD_ONLY = {"weight of a wrong shape", "weight missing", "vocab shorter than the weights",
              "config without network", "unknown activation", "bad tag in config", "tags not a list",
              "huge hidden size"}


# ---- reading the HTML views (nerwin.views, nerwin.report) ------------------------------------------

class MarkedHTML(HTMLParser):
    """What a view shows: the text of each <mark data-label> (its label span left out) with the label,
    in order; the same per block (`<div class="doc ...">`: its class, marks and text); every tag seen."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.marks: list[tuple[str, str]] = []
        self.blocks: list[dict] = []
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self._in_mark = self._in_label = False
        self._depth = 0  # open <div>s inside the current block

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "div" and self._depth:
            self._depth += 1
        elif tag == "div" and "doc" in (attrs.get("class") or "").split():
            self._depth = 1
            self.blocks.append({"class": attrs["class"], "marks": [], "text": []})
        if tag == "mark" and attrs.get("data-label"):
            self._in_mark, self._label, self._chars = True, attrs["data-label"], []
        elif tag == "span" and (self._in_mark or attrs.get("class") == "side"):
            self._in_label = True

    def handle_endtag(self, tag):
        if tag == "span" and self._in_label:
            self._in_label = False
        elif tag == "mark" and self._in_mark:
            self._in_mark = False
            self.marks.append(("".join(self._chars), self._label))
            if self._depth:
                self.blocks[-1]["marks"].append(self.marks[-1])
        elif tag == "div" and self._depth:
            self._depth -= 1

    def handle_data(self, data):
        if self._in_mark and not self._in_label:
            self._chars.append(data)
        if not self._in_label:
            self.text.append(data)
            if self._depth:
                self.blocks[-1]["text"].append(data)


def parse_marks(markup: str) -> MarkedHTML:
    parser = MarkedHTML()
    parser.feed(markup)
    for block in parser.blocks:
        block["text"] = "".join(block["text"])
    return parser


def external_references(markup: str) -> list[str]:
    """Whatever in a page would reach outside it: tags that load things, src/href attributes, URLs."""
    found = [tag for tag, _ in parse_marks(markup).tags if tag in ("script", "link", "img", "iframe", "object")]
    found += [f"{tag}[{k}]" for tag, attrs in parse_marks(markup).tags for k in attrs if k in ("src", "href")]
    found += [s for s in ("url(", "@import", "http:", "https:", "//") if s in markup]
    return found


# ---- the CLI in-process: run a command, and check it succeeded or failed the nerwin way ------------------

def run(*args, input: str | None = None, env: dict | None = None):
    """`nerwin ARGS...` in this process (typer's CliRunner); the result has exit_code, stdout, stderr."""
    from typer.testing import CliRunner

    from nerwin.cli import app

    return CliRunner().invoke(app, [str(a) for a in args], input=input, env=env)


def ok(result) -> str:
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def fails(result, *needles: str, warnings_before: bool = False) -> str:
    """The command failed the nerwin way: exit 1, no traceback, its error as one line on stderr (the
    only line, or with `warnings_before` the last one) holding each of `needles`. Returns that line."""
    assert result.exit_code == 1, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    if not warnings_before:
        assert len(lines) == 1, result.stderr
    line = lines[-1]
    assert line.startswith("error: "), line
    for needle in needles:
        assert needle in line, (needle, line)
    return line


# ---- a child process's output, read with deadlines -------------------------------------------------

class LineReader:
    """Lines from a pipe, each with a deadline: a child that stops answering fails the test, not hangs it."""

    def __init__(self, pipe):
        self.fd, self.buffer, self.lines = pipe.fileno(), b"", []

    def next(self, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        while not self.lines:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                raise AssertionError(f"no output within {timeout} s")
            chunk = os.read(self.fd, 1 << 16)
            if not chunk:
                raise AssertionError("output ended early")
            *done, self.buffer = (self.buffer + chunk).split(b"\n")
            self.lines.extend(reversed(done))
        return self.lines.pop()
