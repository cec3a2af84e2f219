"""Tag schemes on input: IOB1, IOB2, IOE1, IOE2, IOBES (BIOES) and BILOU, detected or named, read as IOB2.

Every scheme marks an entity's tokens with prefixes that mean the same thing wherever they occur: ``B``
begins an entity, ``I`` is inside one, ``E``/``L`` end one, ``S``/``U`` are a one-token entity. So one
reader, :func:`decode`, gets the entities of a valid sequence of any scheme (a type change or ``O`` also
ends an entity, as in IOB1 and IOE1), and reads a stray tag as conlleval does (an ``I-X`` after ``O``
opens an entity). Each scheme writes a set of entities in exactly one way (:func:`encode`), so a
sequence is valid in a scheme exactly when writing its entities back gives the same tags: the first tag
that differs is the one to report, and the rewritten tag is what the scheme expected there.

The schemes and their prefixes are seqeval's (``seqeval.scheme``, light to import); seqeval's own strict
reader drops invalid tags silently, so it cannot say which line is wrong, and nerwin reads the tags
itself (the tests check both readers agree on valid sequences).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import lru_cache

from seqeval import scheme as _seqeval

from nerwin.errors import NerwinError

__all__ = ["SCHEMES", "decode", "detect", "encode", "invalid_at", "split_tag", "to_iob2"]

Span = tuple[int, int, str]  # token start, end (exclusive), type

# name -> seqeval's class (its allowed prefixes); "bioes" is another name for IOBES.
SCHEMES: dict[str, type[_seqeval.Token]] = {
    "iob1": _seqeval.IOB1, "iob2": _seqeval.IOB2, "ioe1": _seqeval.IOE1, "ioe2": _seqeval.IOE2,
    "iobes": _seqeval.IOBES, "bioes": _seqeval.IOBES, "bilou": _seqeval.BILOU,
}
_ANY_TAG = re.compile(r"([BIESLU])-(\S+)")
_BEGINS, _ENDS = set("BSU"), set("ESLU")


@lru_cache(maxsize=4096)  # a corpus has few distinct tags and many tokens
def split_tag(tag: str) -> tuple[str, str | None]:
    """``'O' -> ('O', None)``, ``'S-creative-work' -> ('S', 'creative-work')``; prefixes of every scheme.

    Raises NerwinError for anything else (``B_PER``, ``X-LOC``, ``B-``, whitespace...)."""
    if tag == "O":
        return "O", None
    match = _ANY_TAG.fullmatch(tag) if isinstance(tag, str) else None
    if match is None:
        shown = tag if isinstance(tag, str) and len(tag) <= 40 else f"{str(tag)[:40]}..."
        raise NerwinError(f"bad tag {shown!r}: expected O or PREFIX-TYPE, PREFIX one of B, I, E, S, L, U "
                          "(IOB, IOE, IOBES or BILOU) and TYPE any text without whitespace")
    return match.group(1), match.group(2)


def decode(tags: Sequence[str]) -> list[Span]:
    """The entities of a tag sequence in any scheme, as (start, end, type) token offsets.

    ``B``/``S``/``U``, a type change or ``O`` close the open entity; ``E``/``L``/``S``/``U`` close it
    after their token."""
    found: list[Span] = []
    start, current = 0, None
    for i, tag in enumerate(tags):
        prefix, kind = split_tag(tag)
        if current is not None and (prefix == "O" or prefix in _BEGINS or kind != current):
            found.append((start, i, current))
            current = None
        if prefix == "O":
            continue
        if current is None:
            start, current = i, kind
        if prefix in _ENDS:
            found.append((start, i + 1, current))
            current = None
    if current is not None:
        found.append((start, len(tags), current))
    return found


def encode(entities: Sequence[Span], length: int, scheme: str) -> list[str]:
    """Write non-overlapping entities as `length` tags of `scheme` (the one way that scheme writes them)."""
    scheme = _name(scheme)
    tags = ["O"] * length
    ends = {end: kind for _, end, kind in entities}
    starts = {start: kind for start, _, kind in entities}
    for start, end, kind in entities:
        inner = ["I"] * (end - start)
        if scheme == "iob2" or (scheme == "iob1" and ends.get(start) == kind):
            inner[0] = "B"
        elif scheme == "ioe2" or (scheme == "ioe1" and starts.get(end) == kind):
            inner[-1] = "E"
        elif scheme in ("iobes", "bilou"):
            single, last = ("S", "E") if scheme == "iobes" else ("U", "L")
            inner = [single] if end - start == 1 else ["B"] + inner[2:] + [last]
        tags[start:end] = [f"{p}-{kind}" for p in inner]
    return tags


def invalid_at(tags: Sequence[str], scheme: str) -> tuple[int, str] | None:
    """(index, problem) of the first tag not valid in `scheme`, or None if the sequence is valid."""
    name = _name(scheme)
    allowed = SCHEMES[name].allowed_prefix
    for i, tag in enumerate(tags):
        prefix = split_tag(tag)[0]
        if _seqeval.Prefixes[prefix] not in allowed:
            return i, f"tag {tag!r}: prefix {prefix}- is not part of {name.upper()} ({_prefixes(name)})"
    expected = encode(decode(tags), len(tags), name)
    for i, (tag, want) in enumerate(zip(tags, expected)):
        if tag != want:
            before = repr(tags[i - 1]) if i else "the sentence start"
            after = repr(tags[i + 1]) if i + 1 < len(tags) else "the sentence end"
            return i, f"tag {tag!r} between {before} and {after} is not valid {name.upper()} (expected {want!r})"
    return None


def detect(sequences: Sequence[Sequence[str]]) -> str:
    """The scheme a file's tags are in, from the prefixes they use (raises NerwinError if they mix schemes).

    B and I: IOB1 if some entity starts with ``I-``, else IOB2. I and E: IOE1 if some entity ends with
    ``I-``, else IOE2. With S: IOBES; with L or U: BILOU."""
    prefixes = {split_tag(tag)[0] for tags in sequences for tag in tags} - {"O"}
    if prefixes <= {"B", "I"}:
        return "iob1" if any(tags[start].startswith("I-") for tags in sequences
                             for start, _, _ in decode(tags)) else "iob2"
    if prefixes <= {"I", "E"}:
        return "ioe1" if any(tags[end - 1].startswith("I-") for tags in sequences
                             for _, end, _ in decode(tags)) else "ioe2"
    if prefixes <= {"B", "I", "E", "S"}:
        return "iobes"
    if prefixes <= {"B", "I", "L", "U"}:
        return "bilou"
    raise NerwinError(f"the tags mix the prefixes of several schemes ({', '.join(sorted(prefixes))}); "
                      f"name the scheme with --scheme ({', '.join(SCHEMES)})")


def to_iob2(sequences: Sequence[Sequence[str]], scheme: str = "auto",
            where: Callable[[int, int], str] = lambda s, t: f"sentence {s}, token {t}",
            source: str = "the data") -> tuple[list[list[str]], str]:
    """Each sequence rewritten in IOB2, and the scheme read. A named scheme is checked first: the first
    invalid tag raises NerwinError prefixed by ``where(sequence index, token index)`` (a file reader
    gives ``file:line``); a problem of the whole data (mixed schemes) by `source`. With "auto" the
    scheme is detected and a stray tag is read leniently, as conlleval reads it (``O I-PER`` as
    ``O B-PER``), which is how nerwin always read IOB files."""
    for s, tags in enumerate(sequences):  # every tag well formed, before anything reads them
        for t, tag in enumerate(tags):
            try:
                split_tag(tag)
            except NerwinError as exc:
                raise NerwinError(f"{where(s, t)}: {exc}") from None
    if scheme == "auto":
        try:
            name = detect(sequences)
        except NerwinError as exc:
            raise NerwinError(f"{source}: {exc}") from None
    else:
        name = _name(scheme)
        for s, tags in enumerate(sequences):
            problem = invalid_at(tags, name)
            if problem is not None:
                raise NerwinError(f"{where(s, problem[0])}: {problem[1]}")
    return [encode(decode(tags), len(tags), "iob2") for tags in sequences], name


def _name(scheme: str) -> str:
    name = scheme.lower()
    if name not in SCHEMES:
        raise NerwinError(f"unknown tag scheme {scheme!r}: expected auto or one of {', '.join(SCHEMES)}")
    return "iobes" if name == "bioes" else name


def _prefixes(name: str) -> str:
    allowed = SCHEMES[name].allowed_prefix
    return ", ".join(p for p in "BIOESLU" if _seqeval.Prefixes[p] in allowed)
