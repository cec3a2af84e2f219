"""IOB tags: check them, tell IOB1 from IOB2, convert to IOB2, repair decoded sequences, read off spans.

CoNLL-2003 as first published is IOB1 (an entity starts with ``I-`` unless it directly follows an entity of
the same type, which then starts with ``B-``). nerwin works in IOB2 (every entity starts with ``B-``).
Only ``O``, ``B-TYPE`` and ``I-TYPE`` are accepted here, TYPE any non-empty string without whitespace
(``B-creative-work``, ``I-Ort.Stadt``): the first ``-`` ends the prefix, the rest is the type. Files in
other schemes (IOE, IOBES, BILOU) become IOB2 on load, in `nerwin.schemes`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from nerwin.errors import NerwinError

__all__ = [
    "TAGS_CONLL2003",
    "check_tags",
    "iob1_to_iob2",
    "is_iob1",
    "parse_tag",
    "repair_iob2",
    "spans",
]

# The label order of the CoNLL-2003 ClassLabel on the Hugging Face hub.
TAGS_CONLL2003 = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC")

_TAG = re.compile(r"([BI])-(\S+)")


def parse_tag(tag: str) -> tuple[str, str | None]:
    """Split a tag into (prefix, type): ``'O' -> ('O', None)``, ``'B-PER' -> ('B', 'PER')``.

    TYPE is everything after the first ``-`` (``'B-creative-work' -> ('B', 'creative-work')``). Raises
    NerwinError for anything else (``B_PER``, ``X-LOC``, ``B-``, ``S-PER``, whitespace...).
    """
    if tag == "O":
        return "O", None
    match = _TAG.fullmatch(tag) if isinstance(tag, str) else None
    if match is None:
        shown = tag if isinstance(tag, str) and len(tag) <= 40 else f"{str(tag)[:40]}..."
        raise NerwinError(
            f"bad tag {shown!r}: expected O, B-TYPE or I-TYPE (IOB tags as in CoNLL; "
            "TYPE any text without whitespace)"
        )
    return match.group(1), match.group(2)


def check_tags(tags: Iterable[str]) -> None:
    """Raise NerwinError on the first malformed tag."""
    for tag in tags:
        parse_tag(tag)


def _starts_with_i(tags: Sequence[str]) -> bool:
    """True if an entity here begins with ``I-`` (at the start, after O, or after another type)."""
    previous: str | None = None  # type of the previous tag, None for O / sentence start
    for tag in tags:
        prefix, kind = parse_tag(tag)
        if prefix == "I" and kind != previous:
            return True
        previous = kind
    return False


def is_iob1(sequences: Iterable[Sequence[str]]) -> bool:
    """Detect IOB1: some entity starts with ``I-``. In IOB2 every entity starts with ``B-``."""
    return any(_starts_with_i(tags) for tags in sequences)


def repair_iob2(tags: Sequence[str]) -> list[str]:
    """Return valid IOB2: an ``I-X`` at the start, after ``O`` or after another type becomes ``B-X``."""
    out: list[str] = []
    previous: str | None = None
    for tag in tags:
        prefix, kind = parse_tag(tag)
        if prefix == "I" and kind != previous:
            tag = f"B-{kind}"
        out.append(tag)
        previous = kind
    return out


def iob1_to_iob2(tags: Sequence[str]) -> list[str]:
    """Convert one IOB1 sequence to IOB2.

    IOB1 already marks with ``B-`` the entities that follow one of the same type; the others start with
    ``I-`` and only need their first tag turned into ``B-``: the same rewrite as :func:`repair_iob2`.
    """
    return repair_iob2(tags)


def spans(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """Entities of an IOB2 sequence as ``(start, end, type)`` token offsets, end exclusive.

    A stray ``I-X`` (invalid IOB2) opens a new entity, as :func:`repair_iob2` would.
    """
    found: list[tuple[int, int, str]] = []
    start, current = 0, None
    for i, tag in enumerate(tags):
        prefix, kind = parse_tag(tag)
        if current is not None and (prefix != "I" or kind != current):
            found.append((start, i, current))
            current = None
        if prefix != "O" and current is None:
            start, current = i, kind
    if current is not None:
        found.append((start, len(tags), current))
    return found
