"""Column files (CoNLL and its cousins): a token a line, columns split by tabs or spaces, blank lines
between sentences, ``-DOCSTART-`` lines (if any) between documents; tags in any scheme, read as IOB2."""
from __future__ import annotations

from pathlib import Path

from nerwin.errors import NerwinError
from nerwin.readers.lines import shorten, text_lines
from nerwin.schemes import split_tag, to_iob2
from nerwin.sentences import Sentence

__all__ = ["read_conll"]


def read_conll(path: str | Path, *, token_column: int = 1, tag_column: int | None = None,
               scheme: str = "auto") -> list[Sentence]:
    """Read a column file: the token in column `token_column`, the tag in `tag_column` (1 is the first;
    None or -1 the last, -2 the one before it), blank lines between sentences.

    Columns may be separated by spaces or tabs; ``-DOCSTART-`` lines separate documents; CRLF and byte-
    order marks are fine. Tags may be in any scheme of `nerwin.schemes`, named or detected ("auto"), and
    come back as IOB2 (CoNLL-2003 as first published is IOB1).
    """
    path = Path(path)
    token_index, tag_index = _index(token_column, "--token-column"), _index(tag_column or -1, "--tag-column")
    need = max(i + 1 if i >= 0 else -i for i in (token_index, tag_index))
    need = max(need, 2)  # a token and a tag, even when both columns are counted from the end
    sentences: list[Sentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    doc, first_line = 0, 0

    def close() -> None:
        nonlocal tokens, tags
        if tokens:
            sentences.append(Sentence(tokens, tags, doc, first_line))
            tokens, tags = [], []

    for number, text in text_lines(path, "CoNLL"):
        columns = text.split()
        if not columns:
            close()
            continue
        if columns[0] == "-DOCSTART-":
            close()
            if sentences and sentences[-1].doc == doc:
                doc += 1
            continue
        if len(columns) < need:
            raise NerwinError(f"{path}:{number}: {_too_few(columns, text, token_column, tag_column)}")
        try:
            split_tag(columns[tag_index])
        except NerwinError as exc:
            raise NerwinError(f"{path}:{number}: {exc}") from None
        if not tokens:
            first_line = number
        tokens.append(columns[token_index])
        tags.append(columns[tag_index])
    close()
    if not sentences:
        raise NerwinError(f"{path}: no sentences")
    iob2, _ = to_iob2([s.tags for s in sentences], scheme, source=str(path),
                      where=lambda s, t: f"{path}:{sentences[s].token_line(t)}")
    for sentence, tags_iob2 in zip(sentences, iob2):
        sentence.tags = tags_iob2
    return sentences


def _index(column: int, option: str) -> int:
    """A 1-based column number (negative: from the end) as a list index."""
    if column == 0:
        raise NerwinError(f"{option} counts from 1 (the first column) or from -1 (the last), not 0")
    return column - 1 if column > 0 else column


def _too_few(columns: list[str], text: str, token_column: int, tag_column: int | None) -> str:
    if token_column == 1 and tag_column in (None, -1):
        hint = " (a tag without a token)" if len(columns) == 1 and _is_tag(columns[0]) else ""
        return f"expected 'token ... tag', got {shorten(text)}{hint}"
    last = "the last column" if tag_column in (None, -1) else f"column {tag_column}"
    return f"expected the token in column {token_column} and the tag in {last}, got {shorten(text)}"


def _is_tag(text: str) -> bool:
    try:
        split_tag(text)
    except NerwinError:
        return False
    return True
