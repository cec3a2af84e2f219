"""The one shape every data source gives: a `Corpus` of `Sentence`s (tokens and their IOB2 tags).

A module of its own so that each reader in `nerwin.readers` and the loader in `nerwin.data` can share it
without importing each other.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Corpus", "Sentence"]


@dataclass
class Sentence:
    """One sentence: tokens, their IOB2 tags, its document index and its first line in the file.

    ``one_line`` says the whole sentence stands on that line (a JSONL record, a hub row); otherwise its
    tokens stand one a line from ``line`` on (a column file), which is what `token_line` counts on."""

    tokens: list[str]
    tags: list[str]
    doc: int = 0
    line: int = 0
    one_line: bool = False

    def token_line(self, index: int) -> int:
        """The line of the file that holds token `index`, for messages that name a file and line."""
        return self.line if self.one_line else self.line + index


Corpus = dict[str, list[Sentence]]  # "train", "validation" and maybe "test": what every source gives
