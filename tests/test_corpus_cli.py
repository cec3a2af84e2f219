"""`nerwin tag` on a corpus: files, folders, JSON Lines, outputs per file, resume after SIGKILL, --jobs,
bad records, the progress bar."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nerwin.cli import app
from tests import helpers
from tests.helpers import ROOT, SENTENCE, TOY_TEST, ok

runner = CliRunner()
NERWIN = [sys.executable, "-m", "nerwin.cli"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


fails = partial(helpers.fails, warnings_before=True)  # --skip-bad warnings may come before the error


def toy_lines() -> list[str]:
    from nerwin.data import read_conll

    return [" ".join(s.tokens) for s in read_conll(TOY_TEST)]


@pytest.fixture
def corpus(tmp_path) -> Path:
    """tmp/corpus: a.txt, sub/b.txt, notes.md (not matched by the default glob), .hidden.txt"""
    folder = tmp_path / "corpus"
    (folder / "sub").mkdir(parents=True)
    lines = toy_lines()
    (folder / "a.txt").write_text("\n".join(lines[:40]) + "\n", encoding="utf-8")
    (folder / "sub" / "b.txt").write_text("\n".join(lines[40:70]), encoding="utf-8")  # no final newline
    (folder / "notes.md").write_text(SENTENCE + "\n", encoding="utf-8")
    (folder / ".hidden.txt").write_text(SENTENCE + "\n", encoding="utf-8")
    return folder


def json_out(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_a_folder_becomes_a_folder_of_outputs(tiny_model, tiny_tagger, corpus, tmp_path):
    out = tmp_path / "out"
    ok(run("tag", "-m", tiny_model, "--file", corpus, "-F", "json", "-o", out))
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        ".nerwin-tag.json", "a.jsonl", "sub/b.jsonl"]
    for name, src in (("a.jsonl", "a.txt"), ("sub/b.jsonl", "sub/b.txt")):
        lines = (corpus / src).read_text(encoding="utf-8").splitlines()
        docs = json_out((out / name).read_text(encoding="utf-8"))
        assert [d["text"] for d in docs] == lines
        assert [d["entities"] for d in docs] == [[e.to_dict() for e in es] for es in tiny_tagger.tag_texts(lines)]
    # the same folder with --glob: only the markdown file
    md = tmp_path / "md"
    ok(run("tag", "-m", tiny_model, "--file", corpus, "--glob", "*.md", "-o", md))
    assert sorted(p.name for p in md.iterdir()) == [".nerwin-tag.json", "notes.txt"]
    # to stdout: the files in turn
    stdout = ok(run("tag", "-m", tiny_model, "--file", corpus / "a.txt", "--file", corpus / "sub"))
    assert len(stdout.splitlines()) == 70


def test_several_files_need_an_output_folder_and_clashes_are_refused(tiny_model, corpus, tmp_path):
    (tmp_path / "file.txt").write_text("x", encoding="utf-8")
    fails(run("tag", "-m", tiny_model, "--file", corpus, "-o", tmp_path / "file.txt"), "not a folder")
    other = tmp_path / "other"
    other.mkdir()
    (other / "a.txt").write_text(SENTENCE + "\n", encoding="utf-8")
    fails(run("tag", "-m", tiny_model, "--file", corpus / "a.txt", "--file", other / "a.txt", "-o",
              tmp_path / "o"), "both would be written")
    fails(run("tag", "-m", tiny_model, "--file", tmp_path / "nothing-here"), "nothing-here")
    fails(run("tag", "-m", tiny_model, "--file", corpus, "--glob", "*.csv"), "--glob")


def test_jsonl_input_passes_other_fields_through(tiny_model, tiny_tagger, tmp_path):
    records = [{"id": i, "body": line, "meta": {"source": "toy", "n": [i]}} for i, line in enumerate(toy_lines()[:25])]
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + "\n", encoding="utf-8")  # a blank line too
    docs = json_out(ok(run("tag", "-m", tiny_model, "--file", path, "-I", "jsonl", "--text-key", "body",
                           "-F", "json")))
    assert [{k: v for k, v in d.items() if k != "entities"} for d in docs] == records
    assert [d["entities"] for d in docs] == [[e.to_dict() for e in es]
                                            for es in tiny_tagger.tag_texts([r["body"] for r in records])]
    shown = json_out(ok(run("tag", "-m", tiny_model, "--file", path, "-I", "jsonl", "--text-key", "body",
                            "-F", "displacy")))
    assert [(d["text"], d["id"], d["title"]) for d in shown] == [(r["body"], r["id"], None) for r in records]


BAD_JSONL = [
    (b'{"text": "fine"}\n{"text": "fine", \n', "2: not valid JSON"),
    (b'{"text": "fine"}\n["a", "list"]\n', "2: a JSON record must be an object"),
    (b'{"text": "fine"}\n{"body": "no text"}\n', '2: no "text" field'),
    (b'{"text": "fine"}\n{"text": 3}\n', '2: "text" is not a string'),
    (b'{"text": "fine"}\n{"text": "caf\xe9"}\n', "2: bytes that are not UTF-8"),
    (b'{"text": "fine"}\n' + b"[" * 100_000 + b"\n", "2: JSON nested too deeply to read"),
]


@pytest.mark.reliability
@pytest.mark.parametrize("data, problem", BAD_JSONL)
def test_a_bad_record_stops_the_run_or_is_skipped_and_counted(tiny_model, tmp_path, data, problem):
    path = tmp_path / "in.jsonl"
    path.write_bytes(data + b'{"text": "last"}\n')
    fails(run("tag", "-m", tiny_model, "--file", path, "-I", "jsonl", "-F", "json"), f"{path}:{problem}")
    result = run("tag", "-m", tiny_model, "--file", path, "-I", "jsonl", "-F", "json", "--skip-bad")
    assert [d["text"] for d in json_out(ok(result))] == ["fine", "last"]
    assert f"{path}:{problem}" in result.stderr and "1 bad record(s) skipped" in result.stderr


@pytest.mark.reliability
def test_bad_text_lines_and_over_long_lines(tiny_model, tmp_path):
    path = tmp_path / "in.txt"
    path.write_bytes(b"first line\n\xff\xfe not utf-8\n" + b"x" * 300 + b"\nlast line")
    fails(run("tag", "-m", tiny_model, "--file", path), f"{path}:2: bytes that are not UTF-8")
    result = run("tag", "-m", tiny_model, "--file", path, "--skip-bad", "--max-line-bytes", "100")
    assert ok(result).splitlines() == ["first line", "last line"]
    assert f"{path}:3: a line of more than 100 bytes; raise --max-line-bytes" in result.stderr
    assert "2 bad record(s) skipped" in result.stderr
    big = tmp_path / "one-line.txt"  # a line longer than the 1 MB read block, refused before it is all read
    big.write_bytes(b"word " * 400_000)
    fails(run("tag", "-m", tiny_model, "--file", big, "--max-line-bytes", "1000000"),
          f"{big}:1: a line of more than 1,000,000 bytes; raise --max-line-bytes")


def _command(model, corpus, out, *extra) -> list[str]:
    return [*NERWIN, "tag", "-m", str(model), "--file", str(corpus), "-F", "json", "-o", str(out), "-b", "16",
            "--quiet", *extra]


def _journal_entries(out: Path) -> int:
    return sum(len(p.read_bytes().splitlines()) - 1 for p in out.rglob(".*.progress"))


@pytest.mark.reliability
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_sigkill_mid_run_then_rerun_gives_the_bytes_of_an_uninterrupted_run(tiny_model, tmp_path, jobs):
    lines = toy_lines()
    folder = tmp_path / "big"
    (folder / "more").mkdir(parents=True)
    for i, name in enumerate(["a.txt", "b.txt", "more/c.txt"]):
        (folder / name).write_text("\n".join(lines[i::2] * 12) + "\n", encoding="utf-8")
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    subprocess.run(_command(tiny_model, folder, whole), env=ENV, check=True)
    proc = subprocess.Popen(_command(tiny_model, folder, resumed, "--jobs", jobs), env=ENV)
    deadline = time.monotonic() + 120
    while _journal_entries(resumed) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    partials = list(resumed.rglob(".*.partial"))
    assert partials, "killed after every output was finished: nothing left to resume"
    done_before = {p for p in resumed.rglob("*.jsonl")}
    subprocess.run(_command(tiny_model, folder, resumed, "--jobs", jobs), env=ENV, check=True)
    for name in ("a.jsonl", "b.jsonl", "more/c.jsonl"):
        assert (resumed / name).read_bytes() == (whole / name).read_bytes(), name
    assert not list(resumed.rglob(".*.partial")) and not list(resumed.rglob(".*.progress"))
    assert len(done_before) < 3


def test_a_rerun_keeps_finished_outputs_and_other_settings_are_refused(tiny_model, corpus, tmp_path):
    out = tmp_path / "out"
    ok(run("tag", "-m", tiny_model, "--file", corpus, "-o", out))
    first = (out / "a.txt").stat().st_mtime_ns
    result = run("tag", "-m", tiny_model, "--file", corpus, "-o", out)
    assert "2 finished output(s) of an earlier run kept" in ok(result) + result.stderr
    assert (out / "a.txt").stat().st_mtime_ns == first
    fails(run("tag", "-m", tiny_model, "--file", corpus, "-o", out, "--min-score", "0.5"), "other settings",
          "--force")
    ok(run("tag", "-m", tiny_model, "--file", corpus, "-o", out, "--min-score", "0.5", "--force"))
    stray = tmp_path / "stray"
    stray.mkdir()
    (stray / "a.txt").write_text("mine", encoding="utf-8")
    fails(run("tag", "-m", tiny_model, "--file", corpus, "-o", stray), "a.txt", "--force")
    assert (stray / "a.txt").read_text(encoding="utf-8") == "mine"


def test_jobs_give_the_same_output_as_one_process(tiny_model, corpus, tmp_path):
    one = ok(run("tag", "-m", tiny_model, "--file", corpus / "a.txt", "-F", "conll"))
    two = ok(run("tag", "-m", tiny_model, "--file", corpus / "a.txt", "-F", "conll", "--jobs", "2", "-b", "8"))
    assert one == two


def test_no_progress_bar_when_stderr_is_not_a_terminal(tiny_model, corpus, tmp_path):
    done = subprocess.run([*NERWIN, "tag", "-m", str(tiny_model), "--file", str(corpus), "-o", str(tmp_path / "o")],
                          env=ENV, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


def test_a_progress_bar_on_a_terminal_unless_quiet(tiny_model, corpus, tmp_path):
    import pty

    def stderr_of(*extra) -> str:
        leader, follower = pty.openpty()
        proc = subprocess.Popen([*NERWIN, "tag", "-m", str(tiny_model), "--file", str(corpus), "-o",
                                 str(tmp_path / f"o{len(extra)}"), *extra], env={**ENV, "COLUMNS": "120"},
                                stdout=subprocess.DEVNULL, stderr=follower)
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert proc.wait() == 0
        os.close(leader)
        return b"".join(chunks).decode(errors="replace")

    shown = stderr_of()
    assert "tagged 70 records" in shown and "tok/s" in shown
    assert stderr_of("--quiet") == ""
