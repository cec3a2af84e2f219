"""The one shape every data source gives: a `Corpus` of `Sentence`s (tokens and their IOB2 tags).

A module of its own so that each reader in `nerwin.readers` and the loader in `nerwin.data` can share it
without importing each other.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Corpus", "Sentence"]


@dataclass
class Sentence:
    """One sentence: tokens, their IOB2 tags, its document index and its first line in the file (and, for a
    copy made from another sentence, that one's document: cross-validation keeps the two in one fold).

    ``one_line`` says the whole sentence stands on that line (a JSONL record, a hub row); otherwise its
    tokens stand one a line from ``line`` on (a column file), which is what `token_line` counts on."""

    tokens: list[str]
    tags: list[str]
    doc: int = 0
    line: int = 0
    one_line: bool = False
    origin: int | None = None  # a made copy (e.g. re-cased): the document of the sentence it was made from

    def token_line(self, index: int) -> int:
        """The line of the file that holds token `index`, for messages that name a file and line."""
        return self.line if self.one_line else self.line + index


Corpus = dict[str, list[Sentence]]  # "train", "validation" and maybe "test": what every source gives
