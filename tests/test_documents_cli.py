"""`nerwin tag --documents blank-lines` and `--doc-key`: a two-pass model reads each document of a file
whole, in every input and output format, with --tokens, --jobs and resume; batches never split a
document (`nerwin.batching`), except one over --max-document-bytes, read in parts with a warning."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from itertools import groupby
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nerwin import corpus
from nerwin.batching import Cutter
from nerwin.corpus import Options, Reader, Settings
from nerwin.writers import WRITERS
from tests import helpers
from tests.helpers import ROOT, TOY_TEST, LineReader, ok, parse_marks, run

NERWIN = [sys.executable, "-m", "nerwin.cli"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
BLANK = ("--documents", "blank-lines")




def toy_documents() -> list[list[str]]:
    """The documents of data/toy/test.txt (between its -DOCSTART- lines), each a list of sentences."""
    from nerwin.data import read_conll

    return [[" ".join(s.tokens) for s in group] for _, group in groupby(read_conll(TOY_TEST), key=lambda s: s.doc)]


def blank_separated(documents: list[list[str]]) -> str:
    return "\n\n".join("\n".join(d) for d in documents) + "\n"


def numbering(lines: list[str]) -> list[int]:
    """Each line's document: the lines up to a blank one (the blank line goes with them)."""
    docs, doc = [], 0
    for line in lines:
        docs.append(doc)
        doc += not line.strip()
    return docs


def by_document(tagger, documents: list[list[str]], blank_lines: bool = True, min_score: float = 0.0
                ) -> list[list[dict]]:
    """Each line's entities, every document tagged whole by the API (`blank_lines`: an empty list for the
    blank line between two documents)."""
    out = []
    for k, lines in enumerate(documents):
        if k and blank_lines:
            out.append([])
        out += [[e.to_dict() for e in es] for es in tagger.tag_texts(lines, min_score, docs=[0] * len(lines))]
    return out


def json_out(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


@pytest.fixture(scope="module")
def documents() -> list[list[str]]:
    return toy_documents()


@pytest.fixture(scope="module")
def telling_score(two_pass_tagger, documents) -> float:
    """A --min-score that keeps an entity of a document read whole and drops it from its line read alone
    (or the other way round): the tiny model's documents change its scores, not its labels, so this lets
    the formats without scores tell the two readings apart."""
    for lines in documents:
        whole, alone = two_pass_tagger.tag_texts(lines, docs=[0] * len(lines)), two_pass_tagger.tag_texts(lines)
        for x, y in zip((e for es in whole for e in es), (e for es in alone for e in es)):
            if (x.start, x.end, x.label) == (y.start, y.end, y.label) and x.score != y.score:
                return max(x.score, y.score)
    pytest.fail("the two-pass model reads no document differently from its lines")


@pytest.fixture
def toy_file(tmp_path, documents) -> Path:
    path = tmp_path / "docs.txt"
    path.write_text(blank_separated(documents), encoding="utf-8")
    return path


# ---- what a line's tagging is ----------------------------------------------------------------------

def test_blank_line_documents_are_read_whole_and_each_line_alone_by_default(two_pass_model, two_pass_tagger,
                                                                            documents, toy_file):
    lines = toy_file.read_text(encoding="utf-8").splitlines()
    whole = by_document(two_pass_tagger, documents)
    alone = [[e.to_dict() for e in two_pass_tagger(line)] for line in lines]
    assert whole != alone  # the model reads its documents, so the checks below can tell them apart
    for size in ("3", "512"):  # a batch smaller than most documents, and one holding many
        out = json_out(ok(run("tag", "-m", two_pass_model, "--file", toy_file, "-F", "json", *BLANK, "-b", size)))
        assert [o["text"] for o in out] == lines
        assert [o["entities"] for o in out] == whole
    default = json_out(ok(run("tag", "-m", two_pass_model, "--file", toy_file, "-F", "json", "-b", "3")))
    assert [o["text"] for o in default] == lines
    assert [o["entities"] for o in default] == alone


def test_a_one_pass_model_tags_alike_in_either_mode(tiny_model, toy_file):
    lines_mode = ok(run("tag", "-m", tiny_model, "--file", toy_file, "-F", "conll", "-b", "3"))
    assert ok(run("tag", "-m", tiny_model, "--file", toy_file, "-F", "conll", "-b", "3", *BLANK)) == lines_mode


def _bracketed(line: str, entities: list[dict]) -> str:
    parts, at = [], 0
    for e in entities:
        parts += [line[at:e["start"]], f"[{e['text']}]{e['label']}"]
        at = e["end"]
    return "".join(parts) + line[at:]


@pytest.mark.parametrize("fmt", ["text", "displacy", "conll", "html"])
def test_every_output_format_reads_documents_whole(two_pass_model, two_pass_tagger, documents, toy_file,
                                                   telling_score, fmt):
    lines = toy_file.read_text(encoding="utf-8").splitlines()
    whole = by_document(two_pass_tagger, documents, min_score=telling_score)
    alone = [[e.to_dict() for e in es] for es in two_pass_tagger.tag_texts(lines, telling_score)]
    assert [[e["label"] for e in es] for es in whole] != [[e["label"] for e in es] for es in alone]
    out = ok(run("tag", "-m", two_pass_model, "--file", toy_file, "-F", fmt, *BLANK, "-b", "2",
                 "--min-score", telling_score))
    if fmt == "text":
        assert out.splitlines() == [_bracketed(line, es) for line, es in zip(lines, whole)]
    elif fmt == "displacy":
        assert json_out(out) == [{"text": line, "ents": [{k: e[k] for k in ("start", "end", "label")} for e in es],
                                  "title": None} for line, es in zip(lines, whole)]
    elif fmt == "conll":  # a token and its tag a line: the file tagged in one call, its documents numbered
        flat = two_pass_tagger.tag_flat(lines, telling_score, tokens=True, docs=numbering(lines))
        assert out == WRITERS["conll"](flat)
        assert out != WRITERS["conll"](two_pass_tagger.tag_flat(lines, telling_score, tokens=True))
    else:
        assert parse_marks(out).marks == [(e["text"], e["label"]) for es in whole for e in es]


def test_pre_tokenized_documents(two_pass_model, two_pass_tagger, documents, toy_file):
    out = json_out(ok(run("tag", "-m", two_pass_model, "--file", toy_file, "-F", "json", "--tokens", *BLANK,
                          "-b", "2")))
    expected = []  # the toy lines are tokens joined by single spaces: offsets agree
    for k, lines in enumerate(documents):
        expected += [[]] if k else []
        expected += [[e.to_dict() for e in es]
                     for es in two_pass_tagger.tag_texts([line.split() for line in lines], docs=[0] * len(lines))]
    assert [o["entities"] for o in out] == expected


# ---- JSON Lines ------------------------------------------------------------------------------------

def _records(documents: list[list[str]]) -> list[list[dict]]:
    """Each document's records; keys alternate between "a" and 1, so equal keys meet only apart."""
    return [[{"id": f"{k}.{i}", "doc": ["a", 1][k % 2], "body": line} for i, line in enumerate(lines)]
            for k, lines in enumerate(documents)]


def test_json_lines_documents_by_a_field_or_by_blank_lines(two_pass_model, two_pass_tagger, documents, tmp_path):
    records = _records(documents)
    flat = [r for doc in records for r in doc]
    whole = by_document(two_pass_tagger, documents, blank_lines=False)
    keyed = tmp_path / "keyed.jsonl"
    keyed.write_text("".join(json.dumps(r) + "\n" for r in flat), encoding="utf-8")
    blank = tmp_path / "blank.jsonl"
    blank.write_text("\n".join("".join(json.dumps(r) + "\n" for r in doc) for doc in records), encoding="utf-8")
    for path, how in ((keyed, ("--doc-key", "doc")), (blank, BLANK)):
        out = json_out(ok(run("tag", "-m", two_pass_model, "--file", path, "-I", "jsonl", "--text-key", "body",
                              "-F", "json", "-b", "2", *how)))
        assert [{k: v for k, v in o.items() if k != "entities"} for o in out] == flat
        assert [o["entities"] for o in out] == whole, how
    each = json_out(ok(run("tag", "-m", two_pass_model, "--file", keyed, "-I", "jsonl", "--text-key", "body",
                           "-F", "json")))
    assert [o["entities"] for o in each] == [[e.to_dict() for e in es]
                                            for es in two_pass_tagger.tag_texts([r["body"] for r in flat])]


@pytest.mark.reliability
def test_clean_errors_for_what_cannot_go_together_and_for_records_without_the_key(two_pass_model, tmp_path):
    text = tmp_path / "in.txt"
    text.write_text("Talvo Brenwick visited Velmora .\n", encoding="utf-8")
    helpers.fails(run("tag", "-m", two_pass_model, "--file", text, "--doc-key", "doc"), "--doc-key",
                  "--input-format jsonl")
    helpers.fails(run("tag", "-m", two_pass_model, "--file", text, "-I", "jsonl", "--doc-key", "doc", *BLANK),
                  "--doc-key", "--documents blank-lines")
    path = tmp_path / "in.jsonl"
    path.write_text('{"text": "Talvo Brenwick left .", "doc": 1}\n{"text": "Brenwick came back ."}\n'
                    '{"text": "Greyfen Corp fell .", "doc": 2}\n', encoding="utf-8")
    helpers.fails(run("tag", "-m", two_pass_model, "--file", path, "-I", "jsonl", "--doc-key", "doc"),
                  f'{path}:2: no "doc" field (see --doc-key)')
    result = run("tag", "-m", two_pass_model, "--file", path, "-I", "jsonl", "--doc-key", "doc", "-F", "json",
                 "--skip-bad")
    assert [o["doc"] for o in json_out(ok(result))] == [1, 2]
    assert "1 bad record(s) skipped" in result.stderr


# ---- batches: never inside a document --------------------------------------------------------------

def test_jobs_give_the_same_documents_as_one_process(two_pass_model, toy_file):
    one = ok(run("tag", "-m", two_pass_model, "--file", toy_file, "-F", "conll", *BLANK, "-b", "2"))
    assert ok(run("tag", "-m", two_pass_model, "--file", toy_file, "-F", "conll", *BLANK, "-b", "2", "-j", "2")) == one


def _ends_a_document(lines: list[str], n: int) -> bool:
    """Do the first `n` lines end where a document does (before or after a blank line, or at the end)?"""
    return n == len(lines) or not lines[n - 1].strip() or not lines[n].strip()


@pytest.mark.reliability
def test_an_interrupted_run_resumes_at_a_document_boundary(two_pass_model, documents, tmp_path, monkeypatch):
    path = tmp_path / "docs.txt"
    path.write_text(blank_separated(documents * 2), encoding="utf-8")
    lines = path.read_text(encoding="utf-8").splitlines()
    command = ("tag", "-m", two_pass_model, "--file", path, "-F", "json", *BLANK, "-b", "4", "-o")
    ok(run(*command, tmp_path / "whole.jsonl"))
    written, write = [], corpus._OutputFile.write

    def write_five_batches(self, text, batch, bad):
        if len(written) == 5:
            raise KeyboardInterrupt
        written.append(batch.line)
        write(self, text, batch, bad)

    monkeypatch.setattr(corpus._OutputFile, "write", write_five_batches)
    assert run(*command, tmp_path / "out.jsonl").exit_code == 130
    monkeypatch.undo()
    journal = (tmp_path / ".out.jsonl.progress").read_text().splitlines()[1:]
    assert [int(entry.split()[1]) for entry in journal] == written  # where the input stands after each batch
    assert all(_ends_a_document(lines, n) for n in written)
    assert max(b - a for a, b in zip([0, *written], written)) > 4  # a document longer than a batch, whole
    ok(run(*command, tmp_path / "out.jsonl"))
    assert (tmp_path / "out.jsonl").read_bytes() == (tmp_path / "whole.jsonl").read_bytes()


class _Trickle(io.RawIOBase):
    """A stream that hands its bytes on in the chunk sizes given (in turn), as a pipe might."""

    def __init__(self, data: bytes, sizes: list[int], offset: int = 0):
        self.data, self.sizes, self.at, self.turn = data, sizes, offset, 0

    def readable(self) -> bool:
        return True

    def read1(self, n: int = -1) -> bytes:
        size = self.sizes[self.turn % len(self.sizes)]
        self.turn += 1
        chunk = self.data[self.at:self.at + min(size, n if n > 0 else size)]
        self.at += len(chunk)
        return chunk


def _batches(data: bytes, settings: Settings, size: int, sizes: list[int], offset: int = 0, line: int = 0):
    warnings: list[str] = []
    reader = Reader("in", settings, Options(batch_size=size), warnings.append)
    found = [(b.texts, b.docs, b.offset, b.line) for b in reader.batches(_Trickle(data, sizes, offset), offset, line)]
    return found, warnings


_LINE = st.sampled_from(["Talvo Brenwick left .", "Velmora", "a b c d e f g", "x", "Greyfen Corp fell 3 % ."])
_DOCUMENTS = st.lists(st.lists(_LINE, min_size=1, max_size=9), min_size=1, max_size=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents=_DOCUMENTS, blank=st.sampled_from(["", " \t", "\r"]), size=st.integers(1, 6),
       cap=st.integers(10, 400), sizes=st.lists(st.integers(1, 64), min_size=1, max_size=5),
       final_newline=st.booleans())
def test_batches_end_between_documents_whatever_the_blocks_and_from_any_batch_end(documents, blank, size, cap,
                                                                                 sizes, final_newline):
    text = f"\n{blank}\n".join("\n".join(d) for d in documents) + ("\n" if final_newline else "")
    data, lines = text.encode(), text.split("\n")
    if final_newline:
        lines.pop()
    settings_ = Settings(documents="blank-lines", max_document_bytes=cap)
    found, warnings = _batches(data, settings_, size, sizes)
    assert found == _batches(data, settings_, size, [1 << 20])[0]  # how the bytes arrive does not matter
    assert [t for texts, *_ in found for t in texts] == [line.rstrip("\r") for line in lines]
    begin, splits = 0, 0
    for texts, docs, offset, end in found:
        held = sum(len(x.encode()) + 1 for x in lines[begin:end])
        if _ends_a_document(lines, end):
            assert end - begin <= size or all(x.strip() for x in lines[begin:end])  # more: one document
            assert held <= cap or end - begin == 1
        else:  # a document over the cap, cut where its next line would pass the cap
            splits += 1
            assert held <= cap < held + len(lines[end].encode()) + 1 or end - begin == 1
        assert docs == numbering(texts)
        assert offset == len("\n".join(lines[:end]).encode()) + (end < len(lines) or final_newline)
        begin = end
    assert bool(warnings) == bool(splits) and len(warnings) <= splits  # once for each document cut
    for k, (_, _, offset, end) in enumerate(found):  # a run resumed after any batch cuts the rest alike
        assert _batches(data, settings_, size, sizes, offset, end)[0] == found[k + 1:]


@settings(max_examples=100, deadline=None)
@given(keys=st.lists(st.sampled_from([1, "1", True, "a", None]), min_size=1, max_size=30),
       bad=st.sets(st.integers(0, 29)), size=st.integers(1, 5),
       sizes=st.lists(st.integers(1, 40), min_size=1, max_size=4))
def test_records_sharing_a_key_stay_in_one_batch(keys, bad, size, sizes):
    """Keys compare as JSON values (1, "1" and true are three); a record that cannot be read (skipped with
    --skip-bad) stays with the document before it."""
    rows = [b'{"oops"' if i in bad else json.dumps({"text": f"t{i}", "doc": k}).encode() for i, k in enumerate(keys)]
    warnings: list[str] = []
    reader = Reader("in", Settings(input_format="jsonl", documents="key", doc_key="doc"),
                    Options(batch_size=size, skip_bad=True), warnings.append)
    batches = list(reader.batches(_Trickle(b"\n".join(rows) + b"\n", sizes)))
    good = [(f"t{i}", json.dumps(k)) for i, k in enumerate(keys) if i not in bad]
    assert [t for b in batches for t in b.texts] == [t for t, _ in good]
    at = 0
    for b in batches:
        mine = [k for _, k in good[at:at + len(b.texts)]]
        at += len(b.texts)
        assert b.docs == [sum(x != y for x, y in zip(mine[:i], mine[1:i + 1])) for i in range(len(mine))]
        assert at == len(good) or good[at - 1][1] != good[at][1]  # the next batch starts another document
        assert len(b.texts) <= size or len(set(mine)) == 1
    assert len(warnings) == len(bad & set(range(len(keys))))


def test_a_document_over_the_cap_is_read_in_parts_with_a_warning(two_pass_model, two_pass_tagger, documents,
                                                                 tmp_path):
    def held(lines: list[str]) -> int:
        return sum(len(line.encode()) + 1 for line in lines)

    before, after = [d for d in documents if held(d) < 250][:2]
    long = [line for d in documents[:6] for line in d]  # one document of some 40 lines
    parts = [[]]
    for line in long:  # each part: the lines that fit in 300 bytes with their newlines
        if parts[-1] and held(parts[-1]) + held([line]) > 300:
            parts.append([])
        parts[-1].append(line)
    assert len(parts) > 2
    path = tmp_path / "long.txt"
    path.write_text(blank_separated([before, long, after]), encoding="utf-8")
    result = run("tag", "-m", two_pass_model, "--file", path, "-F", "json", *BLANK, "--max-document-bytes", "300")
    out = [o["entities"] for o in json_out(ok(result))]
    in_parts = by_document(two_pass_tagger, parts, blank_lines=False)
    assert in_parts != by_document(two_pass_tagger, [long])
    assert out == by_document(two_pass_tagger, [before]) + [[]] + in_parts + [[]] + \
        by_document(two_pass_tagger, [after])
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [f"warning: {path}:{len(before) + 2}: a document of more than 300 bytes, read in parts "
                        "(each its own document); raise --max-document-bytes to read it whole"]
    assert "1 document(s) over --max-document-bytes read in parts" in result.stderr
    whole = json_out(ok(run("tag", "-m", two_pass_model, "--file", path, "-F", "json", *BLANK)))
    assert [o["entities"] for o in whole] == by_document(two_pass_tagger, [before, long, after])


def test_the_cutter_refuses_a_mode_it_does_not_know():
    with pytest.raises(ValueError, match="documents must be one of"):
        Cutter("paragraphs", 4)
    with pytest.raises(ValueError, match="key function"):
        Cutter("key", 4)


# ---- stdin -----------------------------------------------------------------------------------------

def test_stdin_answers_a_document_once_its_blank_line_arrives(two_pass_model, two_pass_tagger, documents):
    first, second = documents[0], documents[1]
    proc = subprocess.Popen([*NERWIN, "tag", "-", "-F", "json", "-m", str(two_pass_model), *BLANK],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=ENV)
    try:
        reader = LineReader(proc.stdout)
        proc.stdin.write(("\n".join(first) + "\n\n" + second[0] + "\n").encode())
        proc.stdin.flush()
        # stdin still open: the first document (and its blank line) is answered, whole
        got = [json.loads(reader.next(timeout=120)) for _ in range(len(first) + 1)]
        assert [g["entities"] for g in got] == by_document(two_pass_tagger, [first]) + [[]]
        proc.stdin.write(("\n".join(second[1:]) + "\n").encode())
        proc.stdin.close()
        rest = [json.loads(reader.next(timeout=60)) for _ in second]
        assert [r["entities"] for r in rest] == by_document(two_pass_tagger, [second])
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
