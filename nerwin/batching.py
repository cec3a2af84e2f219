"""Where `nerwin tag` cuts its input into batches: between documents, never inside one.

A two-pass model reads a document as a whole (`nerwin.documents`), so a document read in two batches
would be read as two halves. What a document is, in the lines of an input:

- ``lines``: every line (a text, or a JSON Lines record) is a document of its own: a batch is `size` lines;
- ``blank-lines``: consecutive lines up to a blank one (empty, or spaces and tabs only), which ends it
  (a batch may end before or after a blank line);
- ``key`` (JSON Lines): consecutive records with the same value of a field (`--doc-key`).

`Cutter.cut(lines)` says how many of the lines read so far make the next batch: as many whole documents as
fit in `size` lines and `cap` bytes; a single document of more than `size` lines alone; and a document of
more than `cap` bytes (counted with their newlines) in parts of at most `cap` bytes, each then read as a
document of its own, so that memory stays bounded whatever the input (the caller warns). The cut depends
on the lines alone, never on how they arrived (1 MB blocks, a pipe): a run resumed at the end of a batch
cuts the rest as the run that was never interrupted did, so its outputs are the same bytes.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Sequence

__all__ = ["DOCUMENTS", "BLANK", "Cutter", "is_blank", "key_value"]

DOCUMENTS = ("lines", "blank-lines", "key")
BLANK = " \t\r\f\v"  # what a blank line may hold: one definition for bytes as read and text as decoded
_BLANK_BYTES = BLANK.encode()


def is_blank(line: bytes | str) -> bool:
    """A line of nothing but spaces, tabs (and a CR of a CRLF line end)."""
    return isinstance(line, (bytes, str)) and not line.strip(_BLANK_BYTES if isinstance(line, bytes) else BLANK)


def key_value(value) -> str:
    """A document key's value as text, so that 1 and true, or {"a":1,"b":2} in either order, compare as
    JSON says they do."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


class Cutter:
    """The batches of one input, cut between documents: `documents` is one of DOCUMENTS; with "key",
    `key(line)` gives a line's key (see `key_value`), or None for a line that is not a record (blank or
    bad: it stays with the document before it). `cap` (bytes) bounds a batch of documents; None: none.

    The lines looked at are remembered until a cut (the pending lines only grow between cuts), so a long
    document is scanned once however many blocks it arrives in."""

    def __init__(self, documents: str, size: int, cap: int | None = None,
                 key: Callable[[bytes], str | None] | None = None):
        if documents not in DOCUMENTS:
            raise ValueError(f"documents must be one of {DOCUMENTS}, got {documents!r}")
        if documents == "key" and key is None:
            raise ValueError('documents="key" needs a key function')
        self.documents, self.size, self.key = documents, size, key
        self.cap = None if documents == "lines" else cap
        self.splitting = False  # the last cut was inside a document
        self._reset()

    def _reset(self) -> None:
        self.scanned = 0  # pending lines looked at
        self.used = 0  # their bytes
        self.best = 0  # the last document end among them a batch may take
        self.last: str | None = None  # "key": the key of the last record looked at
        self.memo: tuple[int, str | None] | None = None  # "key": (line, its key), parsed ahead

    def cut(self, pending: Sequence, eof: bool = False, idle: bool = False) -> tuple[int, bool]:
        """(how many of `pending`, the lines read and not yet handed on, make the next batch; whether that
        cut is the first inside an over-long document). (0, False): wait for more lines. `eof`: no more
        will come; `idle`: none are waiting now (interactive input), so the whole documents are handed on.
        A line is bytes, or anything else for one whose bytes were not kept (0 bytes, never blank)."""
        n = len(pending)
        if self.documents == "lines":  # every line ends a document: the plain batches of `size` lines
            return (self.size if n >= self.size else n if eof or idle else 0), False
        while self.scanned < n:
            b = self.scanned + 1
            line = pending[b - 1]
            used = self.used + (len(line) if isinstance(line, bytes) else 0) + 1
            if self.cap is not None and used > self.cap:
                return self._over(pending, eof)
            end = True if eof and b == n else self._ends(pending, b)
            if end is None:  # the last line's document may go on
                break
            self.scanned, self.used = b, used
            if end:
                self.best = b
            if b >= self.size and self.best:
                return self._take(self.best)
        if eof:  # the end of the input ends a document
            return self._take(n)
        if idle and self.best:
            return self._take(self.best)
        return 0, False

    def _ends(self, pending: Sequence, b: int) -> bool | None:
        """Does a document end after the first `b` pending lines (None: not known before the next line)?"""
        if self.documents == "blank-lines":  # a blank line ends a document, and is one (empty) of its own
            if is_blank(pending[b - 1]):
                return True
            return None if b == len(pending) else is_blank(pending[b])
        before = self._key(pending, b - 1)
        if before is not None:
            self.last = before
        if b == len(pending):
            return None
        after = self._key(pending, b)
        return after is not None and self.last is not None and after != self.last

    def _key(self, pending: Sequence, i: int) -> str | None:
        if self.memo is None or self.memo[0] != i:
            line = pending[i]
            self.memo = (i, self.key(line) if isinstance(line, bytes) else None)
        return self.memo[1]

    def _over(self, pending: Sequence, eof: bool) -> tuple[int, bool]:
        """The pending lines outgrew the cap: the documents that fit, or the first part of one too long."""
        if self.best:
            return self._take(self.best)
        cut = max(self.scanned, 1)
        if self.scanned:  # looked at and not a document's end (else `best` would hold it)
            inside = True
        else:  # a first line longer than the cap by itself
            end = True if eof and len(pending) == 1 else self._ends(pending, 1)
            if end is None:
                return 0, False
            inside = not end
        first = inside and not self.splitting
        self.splitting = inside
        self._reset()
        return cut, first

    def _take(self, cut: int) -> tuple[int, bool]:
        self.splitting = False
        self._reset()
        return cut, False
