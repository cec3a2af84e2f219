"""Split raw English text into tokens the way CoNLL-2003 (Reuters) splits it, keeping character offsets.

One compiled regular expression does the work; every token satisfies ``text[token.start:token.end] ==
token.text``, and every non-space character of the input lands in exactly one token.

What it does, in order of priority:
- abbreviations keep their periods: ``U.S.``, ``p.m.``, ``Mr.``, ``Jan.``, ``Inc.``, initials ``F.``;
- currency prefixes stay whole: ``US$``, ``C$``, ``HK$``;
- clitics are split as in the corpus: ``John's -> John 's``, ``don't -> do n't``, ``I'm -> I 'm``;
- words and numbers keep inner hyphens, periods, slashes, ``&`` and apostrophes
  (``Bosnia-Herzegovina``, ``1996-08-22``, ``3/4``, ``AT&T``, ``O'Brien``), and digit groups keep
  ``,`` and ``:`` (``1,234.5``, ``10:30``);
- runs of ``.``, ``-``, ``*`` or ``=`` stay together (``...``, ``--``); any other symbol is its own token.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import NamedTuple

__all__ = ["Token", "chunk_keys", "chunk_tokens", "tokenize", "tokenize_many"]


class Token(NamedTuple):
    """A token and its character offsets in the original text (end exclusive)."""

    text: str
    start: int
    end: int


# Abbreviations that keep their period: titles, companies, months and others, US states.
_ABBREVIATIONS = (
    "Mr|Mrs|Ms|Dr|Prof|Gen|Sen|Rep|Gov|Lt|Col|Capt|Sgt|Cmdr|Adm|Rev|Fr|St|Mt|Ft|Jr|Sr|"
    "Inc|Corp|Ltd|Co|Bros|"
    "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|No|Nos|vs|etc|vol|Vol|Ave|Blvd|Dept|approx|"
    "Ala|Ariz|Ark|Calif|Colo|Conn|Del|Fla|Ga|Ill|Ind|Kan|Ky|La|Md|Mass|Mich|Minn|Miss|Mo|Mont|"
    "Neb|Nev|Okla|Ore|Pa|Penn|Tenn|Tex|Va|Vt|Wash|Wis|Wyo"
)

_APOSTROPHE = "['\u2019]"
# Clitics split off as their own token, as in the corpus ('s, 're, 'm, 've, 'll, 'd and n't).
_CLITIC_TAIL = r"(?:[sSmMdD]|re|RE|ve|VE|ll|LL)\b"
_CLITIC = _APOSTROPHE + _CLITIC_TAIL
_NOT = rf"[nN]{_APOSTROPHE}[tT]\b"
# A word character (letters, digits, _, combining marks) that does not begin "n't".
_CHAR = rf"(?:(?!{_NOT})[\w\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f])"
# What may join two runs of word characters into one token.
_JOIN = rf"(?:[-./&]|(?<=\d)[,:]|{_APOSTROPHE}(?!{_CLITIC_TAIL}))(?=\w)"

_TOKEN = re.compile(
    "|".join(
        [
            r"(?:[^\W\d_]\.){2,}(?:-\w+)*",  # U.S.  p.m.  U.S.A.  U.S.-led
            r"^\d{1,3}\.(?=\s)",  # list numbers at a line start: 1. Schumacher
            rf"(?=[A-Za-z]{{2,5}}\.)(?:{_ABBREVIATIONS})\.(?!\w)",  # Mr.  Jan.  Inc.
            r"[A-Z]\.(?=\s)",  # initials: John F. Kennedy
            r"[A-Z]{1,3}\$",  # US$  C$  HK$
            _CLITIC,
            _NOT,
            rf"(?:(?<![\w.])[+.](?=\d))?{_CHAR}+(?:{_JOIN}{_CHAR}+)*",  # words, numbers, +44, .500
            r"\.{2,}|-{2,}|\*{2,}|={2,}",  # ...  --  ***
            r"\S",  # any other symbol alone
        ]
    ),
    re.MULTILINE,
)


_CHUNK = re.compile(r"\S+")


def chunk_tokens(key: tuple[str, bool, bool]) -> tuple[tuple[str, int, int], ...]:
    """The tokens of one whitespace-free chunk given its key from `chunk_keys`, offsets relative to it.

    The expression above looks at most one character past a chunk (whitespace or the text's end) and
    anchors `^` at line starts, so a chunk's tokens depend on its key alone (tested against `tokenize`):
    the chunk is matched with that context recreated around it."""
    chunk, line_start, space_after = key
    if chunk.isascii() and chunk.isalnum():  # letters and digits only: no rule above splits or joins them
        return ((chunk, 0, len(chunk)),)
    pad = 0 if line_start else 1
    padded = " " * pad + chunk + (" " if space_after else "")
    return tuple((m.group(), m.start() - pad, m.end() - pad) for m in _TOKEN.finditer(padded))


def chunk_keys(text: str) -> list[tuple[int, tuple[str, bool, bool]]]:
    """Each whitespace-free chunk of the text: its start offset and its key (chunk, at a line start,
    more text follows), which is all its tokens depend on (see `chunk_tokens`)."""
    n = len(text)
    return [(m.start(), (m.group(), m.start() == 0 or text[m.start() - 1] == "\n", m.end() < n))
            for m in _CHUNK.finditer(text)]


def tokenize(text: str) -> list[Token]:
    """Tokenize one text; empty or whitespace-only text gives ``[]``."""
    return [Token(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text)]


def tokenize_many(lines: Iterable[str]) -> Iterator[list[Token]]:
    """Tokenize each line of an iterable (offsets are relative to each line)."""
    for line in lines:
        yield tokenize(line)
