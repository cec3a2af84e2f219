"""Tagging a corpus: what `nerwin tag` reads, where it writes, and how an interrupted run resumes.

Inputs: a text, stdin, files, and folders searched recursively with a glob; each read as lines of text
(a text a line) or as JSON Lines records (`--input-format jsonl`: the text under `--text-key`, every other
field passed through to the output record). Input is read in binary blocks and cut into batches of
lines, so memory stays bounded however big a file; a line longer than `max_line_bytes` is refused (or
skipped) with a message naming that limit. A batch holds whole documents (`documents`: each line its own,
the lines up to a blank one, or JSON Lines records sharing a `doc_key` value; see `nerwin.batching`), so a
two-pass model reads each document whole; a document over `max_document_bytes` is read in parts, with a
warning. A record that cannot be read (bytes that are not UTF-8, invalid JSON, no text field) stops the
run as `file:line: problem`, or with `skip_bad` is reported, skipped and counted.

Outputs: stdout; one file (`--output FILE`); or a folder (`--output DIR`) holding one output file per
input, at the input's path under its folder with the format's suffix. An output file is written to a
hidden `.NAME.partial` beside it, and after each batch a line appended to the journal `.NAME.progress`
records how far input and output have got (input bytes and lines, output bytes), under a first line
naming the settings, model and input file; the partial is renamed to NAME when its input is done. A
rerun of the same command (after a crash, Ctrl-C or SIGKILL) skips finished outputs, cuts a partial back
to its last recorded batch, seeks the input there and goes on, so the outputs equal those of a run never
interrupted, byte for byte. A folder's `.nerwin-tag.json` names the settings and model its outputs came
from: a rerun with other ones is refused (or with `force` redoes everything) instead of mixing the two.
An HTML page is made in one piece at the end, so an interrupted one is redone whole.

Batches are tagged and formatted (`nerwin.writers`) in this process or, with `jobs` > 1, on worker
processes (`nerwin.workers`), and written here in input order.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

from .batching import Cutter, is_blank, key_value
from .errors import NerwinError
from .serialize import write_json_atomic
from .writers import SUFFIX, WRITERS

__all__ = ["Settings", "Options", "Source", "Summary", "find_sources", "tag_corpus", "render", "MANIFEST"]

MANIFEST = ".nerwin-tag.json"
BLOCK = 1 << 20  # bytes read at a time
_SPLIT = re.compile(r"\S+")


@dataclass(frozen=True)
class Settings:
    """Everything that decides an output's bytes (besides the model)."""

    fmt: str = "text"
    input_format: str = "text"
    text_key: str = "text"
    tokens: bool = False
    min_score: float = 0.0
    documents: str = "lines"  # what a document is: "lines", "blank-lines" or "key" (see nerwin.batching)
    doc_key: str | None = None  # with "key": the JSON Lines field naming each record's document
    max_document_bytes: int = 4_000_000  # a longer document is read in parts, each its own


@dataclass
class Options:
    """How a run goes: none of these change what is written."""

    batch_size: int = 512
    jobs: int = 1
    force: bool = False
    skip_bad: bool = False
    max_line_bytes: int = 4_000_000
    progress: bool = False


@dataclass
class Source:
    """One input: a file (`path`), stdin (neither), or a text given on the command line (`text`); and
    `output`, the file its results go to (None: stdout). `name` is how messages call it."""

    name: str
    path: Path | None = None
    text: str | None = None
    output: Path | None = None
    relative: Path | None = None  # under its folder, for an output folder


@dataclass
class Summary:
    records: int = 0
    tokens: int = 0
    bad: int = 0
    finished_before: int = 0
    split: int = 0  # documents over max_document_bytes, read in parts
    seconds: float = 0.0
    written: list[Path] = field(default_factory=list)


# ---- inputs ------------------------------------------------------------------------------------------

def find_sources(files: list[Path], glob: str) -> list[Source]:
    """Files as given, and the files under folders matching `glob` (recursively, sorted, hidden ones left
    out), each once."""
    sources, seen = [], set()
    for given in files:
        if given.is_dir():
            found = sorted(p for p in given.rglob(glob) if p.is_file()
                           and not any(part.startswith(".") for part in p.relative_to(given).parts))
            if not found:
                raise NerwinError(f"{given}: no files matching {glob!r} in this folder (see --glob)")
            pairs = [(p, p.relative_to(given)) for p in found]
        elif given.is_file():
            pairs = [(given, Path(given.name))]
        else:
            raise NerwinError(f"{given}: no such file or folder")
        for path, relative in pairs:
            if path.resolve() not in seen:
                seen.add(path.resolve())
                sources.append(Source(str(path), path=path, relative=relative))
    return sources


class _Long:
    """A line too long to read, in place of its bytes: only its size is kept."""

    def __init__(self, size: int):
        self.size = size

    def __len__(self) -> int:
        return self.size


@dataclass
class Batch:
    """Records read together: their texts, the records themselves (JSON Lines), where the input stands
    after them (bytes and lines), how many bad records were skipped among them, and the document of each
    text (None: each its own). A batch holds whole documents (`nerwin.batching`)."""

    texts: list[str]
    records: list[dict] | None
    offset: int
    line: int
    bad: int
    docs: list[int] | None = None


class Reader:
    """A binary stream as batches of records, checked line by line."""

    def __init__(self, name: str, settings: Settings, options: Options, warn: Callable[[str], None]):
        self.name, self.settings, self.options, self.warn = name, settings, options, warn
        self.split = 0  # documents read in parts

    def bad(self, line: int, problem: str) -> None:
        message = f"{self.name}:{line}: {problem}"
        if not self.options.skip_bad:
            raise NerwinError(message)
        self.warn(f"{message} (skipped)")

    def _cutter(self) -> Cutter:
        s = self.settings
        return Cutter(s.documents, self.options.batch_size, s.max_document_bytes, self._key)

    def _cut(self, cutter: Cutter, pending: list, line: int, eof: bool = False, idle: bool = False) -> int:
        """How many pending lines (the first after `line` lines) make the next batch; 0: wait for more."""
        cut, split = cutter.cut(pending, eof, idle)
        if split:
            self.split += 1
            self.warn(f"{self.name}:{line + 1}: a document of more than {self.settings.max_document_bytes:,} "
                      "bytes, read in parts (each its own document); raise --max-document-bytes to read it whole")
        return cut

    def batches(self, stream, offset: int = 0, line: int = 0, interactive: bool = False) -> Iterator[Batch]:
        """Batches from `stream`, which stands at byte `offset` after `line` lines, each ending where a
        document does (`nerwin.batching`). Interactive input (a pipe, a terminal) hands the whole documents
        read on as soon as no more input is waiting."""
        limit = self.options.max_line_bytes
        cutter = self._cutter()
        read = getattr(stream, "read1", stream.read)
        pending: list = []  # whole lines (bytes, or _Long), not yet handed on
        tail, skipping = b"", 0  # a line begun; the bytes of a too-long line being skipped
        for block in iter(partial(read, BLOCK), b""):
            if skipping:
                cut = block.find(b"\n")
                if cut < 0:
                    skipping += len(block)
                    continue
                pending.append(_Long(skipping + cut))
                skipping, block = 0, block[cut + 1:]
            lines = (tail + block).split(b"\n")
            tail = lines.pop()
            if lines and max(map(len, lines)) > limit:
                lines = [self._too_long(line + len(pending) + k, len(x)) if len(x) > limit else x
                         for k, x in enumerate(lines, 1)]
            pending += lines
            if len(tail) > limit:
                skipping, tail = len(self._too_long(line + len(pending) + 1, len(tail))), b""
            while pending:
                cut = self._cut(cutter, pending, line)
                if not cut and interactive and not _waiting(stream):
                    cut = self._cut(cutter, pending, line, idle=True)
                if not cut:
                    break
                batch, pending = pending[:cut], pending[cut:]
                yield self._batch(batch, offset, line)
                offset += sum(map(len, batch)) + len(batch)
                line += len(batch)
        if skipping:
            pending.append(_Long(skipping - 1))  # counted with a newline below, though the file has none
        if tail:
            pending.append(tail)
        while pending:
            cut = self._cut(cutter, pending, line, eof=True)
            batch, pending = pending[:cut], pending[cut:]
            yield self._batch(batch, offset, line, last=not pending and not skipping and bool(tail))
            offset += sum(map(len, batch)) + len(batch)
            line += len(batch)

    def _too_long(self, number: int, size: int) -> _Long:
        self.bad(number, f"a line of more than {self.options.max_line_bytes:,} bytes; raise --max-line-bytes "
                 "to tag it")
        return _Long(size)

    def _batch(self, lines: list, offset: int, line: int, last: bool = False) -> Batch:
        """Decode and check lines that start at byte `offset` after `line` lines."""
        end = offset + sum(map(len, lines)) + len(lines) - (1 if last else 0)
        strings = self._decode(lines, line)
        if offset == 0 and strings and strings[0] is not None and strings[0].startswith("\ufeff"):
            strings[0] = strings[0][1:]  # a UTF-8 byte order mark
        bad = sum(1 for s in strings if s is None)
        documents = self.settings.documents
        if self.settings.input_format == "text":
            texts = [s.rstrip("\r") if "\r" in s else s for s in strings if s is not None]
            return Batch(texts, None, end, line + len(lines), bad,
                         _numbers(map(is_blank, texts)) if documents == "blank-lines" else None)
        texts, records, docs = [], [], []
        doc, last = 0, None  # the document of the next record; the key of the last one
        for number, s in enumerate(strings, line + 1):
            if s is None or not s.strip():
                doc += documents == "blank-lines" and s is not None and is_blank(s)
                continue
            record = self._record(s, number)
            if record is None:
                bad += 1
                continue
            if documents == "key":
                key = key_value(record[self.settings.doc_key])
                doc += last is not None and key != last
                last = key
            texts.append(record[self.settings.text_key])
            records.append(record)
            docs.append(doc)
        return Batch(texts, records, end, line + len(lines), bad, None if documents == "lines" else docs)

    def _decode(self, lines: list, line: int) -> list[str | None]:
        """The lines as text; None for a bad one (reported)."""
        if not any(isinstance(x, _Long) for x in lines):
            try:
                return b"\n".join(lines).decode("utf-8").split("\n")
            except UnicodeDecodeError:
                pass
        strings: list[str | None] = []
        for number, raw in enumerate(lines, line + 1):
            if isinstance(raw, _Long):
                strings.append(None)  # reported when it was read
                continue
            try:
                strings.append(raw.decode("utf-8"))
            except UnicodeDecodeError as e:
                self.bad(number, f"bytes that are not UTF-8 at byte {e.start + 1} of the line")
                strings.append(None)
        return strings

    def _record(self, s: str, number: int) -> dict | None:
        try:
            record = json.loads(s)
        except json.JSONDecodeError as e:
            self.bad(number, f"not valid JSON ({e.msg} at column {e.colno})")
            return None
        except RecursionError:
            self.bad(number, "JSON nested too deeply to read")
            return None
        problem = self._problem(record)
        if problem is not None:
            self.bad(number, problem)
            return None
        return record

    def _problem(self, record) -> str | None:
        """Why a parsed JSON line is not a record to tag, or None."""
        key, doc_key = self.settings.text_key, self.settings.doc_key
        if not isinstance(record, dict):
            return f"a JSON record must be an object, got {type(record).__name__}"
        if key not in record:
            return f'no "{key}" field (see --text-key)'
        if not isinstance(record[key], str):
            return f'"{key}" is not a string'
        if self.settings.documents == "key" and doc_key not in record:
            return f'no "{doc_key}" field (see --doc-key)'
        return None

    def _key(self, raw: bytes) -> str | None:
        """A line's document key (`--doc-key`) as `_batch` will read it, or None for a line it will not
        read as a record (blank or bad): quietly, since `_batch` reports it."""
        try:
            s = raw.decode("utf-8")
            record = json.loads(s) if s.strip() else None
        except (ValueError, RecursionError):
            return None
        if record is None or self._problem(record) is not None:
            return None
        return key_value(record[self.settings.doc_key])


def _numbers(ends: Iterator[bool]) -> list[int]:
    """Each line's document, from whether each line ends one (a blank line is the end of its own)."""
    docs, doc = [], 0
    for end in ends:
        docs.append(doc)
        doc += end
    return docs


def _waiting(stream) -> bool:
    """Is more input waiting on this stream (or is it a file, where it always is)?"""
    import select

    try:
        return bool(select.select([stream.fileno()], [], [], 0)[0])
    except (OSError, ValueError, AttributeError):
        return True


# ---- tagging a batch (here or on a worker) ----------------------------------------------------------

def render(tagger, payload: tuple[list[str], list[dict] | None, list[int] | None], settings: Settings
           ) -> tuple[str, int, list[str]]:
    """One batch tagged and written in the output format: (text, tokens, labels met). The payload: the
    batch's texts, its records (JSON Lines) and the document of each text (None: each its own)."""
    texts, records, docs = payload
    if not texts:
        return "", 0, []
    if settings.tokens:  # pre-tokenized: split on whitespace only, offsets into the text as it is
        tokenized = [[(m.group(), m.start(), m.end()) for m in _SPLIT.finditer(t)] for t in texts]
        tagged = tagger.tag_flat_tokens(tokenized, texts, settings.min_score, docs=docs)
    else:
        tagged = tagger.tag_flat(texts, settings.min_score, tokens=settings.fmt == "conll", docs=docs)
    return WRITERS[settings.fmt](tagged, records), int(tagged.lengths.sum()), sorted(set(tagged.labels))


# ---- outputs -----------------------------------------------------------------------------------------

def _hidden(path: Path, what: str) -> Path:
    return path.with_name(f".{path.name}.{what}")


class _OutputFile:
    """One output file written through `.NAME.partial`, with a journal `.NAME.progress`: a JSON line naming
    the work (settings, model, input file), then a line per batch written, "input-bytes lines bad
    output-bytes". Appending a line costs microseconds where a rename per batch cost milliseconds here."""

    SYNC_SECONDS = 10.0  # the partial and its journal reach the disk at least this often

    def __init__(self, path: Path, identity: dict, resumable: bool):
        self.path, self.identity, self.resumable = path, identity, resumable
        self.partial, self.progress = _hidden(path, "partial"), _hidden(path, "progress")
        self.file = None
        self.journal = None
        self.synced = time.monotonic()

    def open(self) -> tuple[int, int, int]:
        """Start, or resume a partial this same work left: (input offset, lines, bad records) done."""
        state = self._last_state()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.file = open(self.partial, "r+b" if state else "wb")
        if self.resumable:
            self.journal = open(self.progress, "ab" if state else "wb", buffering=0)
        if not state:
            if self.journal is not None:
                self.journal.write((json.dumps(self.identity) + "\n").encode())
            return 0, 0, 0
        offset, line, bad, output = state
        self.file.truncate(output)
        self.file.seek(output)
        return offset, line, bad

    def _last_state(self) -> tuple[int, int, int, int] | None:
        """The last batch the journal records, if it is this work's and the partial holds its output."""
        if not (self.resumable and self.partial.is_file() and self.progress.is_file()):
            return None
        try:
            header, *entries = self.progress.read_bytes().split(b"\n")
            if json.loads(header) != self.identity:
                return None
            for entry in reversed(entries[:-1]):  # the last one (after the final newline) may be torn
                state = tuple(map(int, entry.split()))
                if len(state) == 4 and state[3] <= self.partial.stat().st_size:
                    return state
                return None
        except (OSError, ValueError):
            return None
        return None

    def write(self, text: str, batch: Batch, bad: int) -> None:
        self.file.write(text.encode("utf-8"))
        if self.journal is None:
            return
        self.file.flush()  # the bytes reach the OS before the journal says they are there
        if time.monotonic() - self.synced > self.SYNC_SECONDS:
            os.fsync(self.file.fileno())
            os.fsync(self.journal.fileno())
            self.synced = time.monotonic()
        self.journal.write(f"{batch.offset} {batch.line} {bad} {self.file.tell()}\n".encode())

    def finish(self) -> None:
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        os.replace(self.partial, self.path)
        if self.journal is not None:
            self.journal.close()
            self.progress.unlink(missing_ok=True)

    def close(self) -> None:
        """After `finish`, or after an error: a partial that cannot be resumed is removed."""
        if self.journal is not None and not self.journal.closed:
            self.journal.close()
        if self.file is not None and not self.file.closed:
            self.file.close()
            if not self.resumable:
                self.partial.unlink(missing_ok=True)


def _model_digest(tagger) -> str:
    from .serialize import folder_contents

    digest = hashlib.sha256()
    for name, data in sorted(folder_contents(*tagger._parts()).items()):
        digest.update(name.encode() + b"\0" + data)
    return digest.hexdigest()[:16]


def _input_identity(source: Source) -> dict | None:
    if source.path is None:
        return None
    info = source.path.stat()
    return {"path": str(source.path.resolve()), "size": info.st_size, "mtime_ns": info.st_mtime_ns}


def plan_outputs(sources: list[Source], output: Path | None, settings: Settings, force: bool, folder: bool,
                 digest: str) -> tuple[list[Source], int]:
    """Give each source its output file; (the sources still to do, how many were finished before)."""
    if output is None:
        return sources, 0
    if not folder:
        source = sources[0]
        if output.is_dir():
            raise NerwinError(f"{output}: is a folder")
        if output.exists() and not force:
            raise NerwinError(f"{output}: already exists; pass --force to replace it")
        if source.path is not None and output.resolve() == source.path.resolve():
            raise NerwinError(f"{output}: is the input too; choose another --output")
        source.output = output
        return sources, 0
    if output.exists() and not output.is_dir():
        raise NerwinError(f"{output}: exists and is not a folder (several inputs need --output FOLDER)")
    targets: dict[Path, Source] = {}
    inputs = {s.path.resolve() for s in sources if s.path is not None}
    for source in sources:
        target = output / source.relative.with_suffix(SUFFIX[settings.fmt])
        if target in targets:
            raise NerwinError(f"{targets[target].name} and {source.name}: both would be written to {target}")
        if target.resolve() in inputs:
            raise NerwinError(f"{target}: is an input too; choose another --output")
        targets[target] = source
        source.output = target
    manifest = {"format": "nerwin-tag-outputs", "settings": asdict(settings), "model": digest}
    where = output / MANIFEST
    earlier = _read_manifest(where)
    if earlier is not None and earlier != manifest and not force:
        raise NerwinError(f"{output}: holds the outputs of a run with other settings or another model; pass "
                          "--force to redo them, or choose another --output")
    fresh = force or earlier is None
    if fresh and not force:
        clash = next((t for t in targets if t.exists()), None)
        if clash is not None:
            raise NerwinError(f"{clash}: already exists; pass --force to replace it")
    output.mkdir(parents=True, exist_ok=True)
    write_json_atomic(where, manifest)
    todo = [s for s in sources if fresh or not s.output.exists()]
    if force:
        for source in sources:  # redo: no partial of the earlier run is taken up
            _hidden(source.output, "progress").unlink(missing_ok=True)
    return todo, len(sources) - len(todo)


def _read_manifest(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}


# ---- the run -----------------------------------------------------------------------------------------

class _Progress:
    """A rich progress bar on stderr (bytes or records, tokens/s, ETA), or nothing."""

    def __init__(self, on: bool, total_bytes: int | None):
        self.bar = None
        self.tokens = 0
        self.records = 0
        self.started = time.perf_counter()
        if on:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            columns = [TextColumn("{task.description}"), BarColumn(), DownloadColumn()] if total_bytes else \
                [TextColumn("{task.description}")]
            self.bar = Progress(*columns, TextColumn("{task.fields[records]:,} records  {task.fields[rate]} tok/s"),
                                TimeElapsedColumn(), *([TimeRemainingColumn()] if total_bytes else []),
                                console=Console(stderr=True), transient=True)
            self.task = self.bar.add_task("tagging", total=total_bytes or None, records=0, rate="-")
            self.bar.start()

    def advance(self, name: str, nbytes: int, records: int, tokens: int) -> None:
        self.tokens += tokens
        self.records += records
        if self.bar is not None:
            rate = self.tokens / max(time.perf_counter() - self.started, 1e-9)
            self.bar.update(self.task, advance=nbytes, description=name, records=self.records,
                            rate=f"{rate:,.0f}")

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def tag_corpus(tagger, sources: list[Source], settings: Settings, options: Options, output: Path | None = None,
               folder: bool = False, stdout=None, warn: Callable[[str], None] | None = None) -> Summary:
    """Tag every source into `output` (a file, or with `folder` a folder of files, see `plan_outputs`; None:
    `stdout`), skipping outputs an earlier run of the same work finished, and say how it went."""
    stdout = stdout or sys.stdout
    digest = _model_digest(tagger) if output is not None else ""
    sources, finished_before = plan_outputs(sources, output, settings, options.force, folder, digest)
    warn = warn or (lambda message: print(f"warning: {message}", file=sys.stderr))
    summary = Summary(finished_before=finished_before)
    started = time.perf_counter()
    total = sum(s.path.stat().st_size for s in sources if s.path is not None) if sources else 0
    progress = _Progress(options.progress, total if all(s.path is not None for s in sources) else None)
    workers = None
    if options.jobs > 1:
        from .workers import Workers

        workers = Workers(tagger, options.jobs, max(1, tagger.threads // options.jobs))
    work = partial(render, settings=settings)
    run = (lambda batches: workers.map(work, batches, lambda b: (b.texts, b.records, b.docs))) if workers else \
        (lambda batches: ((b, work(tagger, (b.texts, b.records, b.docs))) for b in batches))
    page: list[str] = []  # html: the blocks of every source, and the labels met
    labels: set[str] = set()
    try:
        for source in sources:
            summary.bad += _tag_source(source, settings, options, digest, run, stdout, warn, progress, page,
                                       labels, summary)
        if settings.fmt == "html" and not any(s.output for s in sources):
            from .views import page as make_page

            stdout.write(make_page(["".join(page).rstrip("\n")], labels, title="nerwin: entities"))
    except OSError as e:  # a file that cannot be read or written, a full disk
        raise NerwinError(f"{e.filename or 'output'}: {e.strerror or e}") from None
    finally:
        progress.stop()
        if workers is not None:
            workers.close()
    summary.records, summary.tokens = progress.records, progress.tokens
    summary.seconds = time.perf_counter() - started
    return summary


def _tag_source(source: Source, settings: Settings, options: Options, digest: str, run, stdout, warn,
                progress: _Progress, page: list[str], labels: set[str], summary: Summary) -> int:
    """Tag one source into its output; the bad records it skipped."""
    reader = Reader(source.name, settings, options, warn)
    html = settings.fmt == "html"
    sink = None
    offset = line = bad = 0
    if source.output is not None:
        identity = {"settings": asdict(settings), "model": digest, "input": _input_identity(source)}
        sink = _OutputFile(source.output, identity, resumable=source.path is not None and not html)
        offset, line, bad = sink.open()
        if html:  # a page of its own
            page, labels = [], set()
    stream = None
    try:
        if source.text is not None:
            batches = iter([Batch([source.text], None, 0, 1, 0)])
        elif source.path is None:
            stream = sys.stdin.buffer
            batches = reader.batches(stream, interactive=not _is_file(stream))
        else:
            stream = open(source.path, "rb")
            stream.seek(offset)
            batches = reader.batches(stream, offset, line)
        done = offset
        for batch, (text, tokens, met) in run(batches):
            bad += batch.bad
            if html:
                page.append(text)
                labels.update(met)
            elif sink is not None:
                sink.write(text, batch, bad)
            else:
                stdout.write(text)
                stdout.flush()
            progress.advance(source.name, batch.offset - done, len(batch.texts), tokens)
            done = batch.offset
        summary.split += reader.split
        if sink is not None:
            if html:
                from .views import page as make_page

                sink.file.write(make_page(["".join(page).rstrip("\n")], labels,
                                          title="nerwin: entities").encode("utf-8"))
            sink.finish()
            summary.written.append(source.output)
    finally:
        if sink is not None:
            sink.close()
        if stream is not None and source.path is not None:
            stream.close()
    return bad


def _is_file(stream) -> bool:
    try:
        return stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
    except (OSError, ValueError, AttributeError):
        return False
