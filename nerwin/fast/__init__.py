"""The speed wing: every trick that makes tagging fast, each tested equal to the plain path it replaces.

- `prepare.Preparer`: raw text to encoded token types through memos of chunks and tokens
  (instead of `tokenize` + `Featurizer.encode`);
- `forward.Forward`: the network's forward pass with the first layer by token types and kept projections
  (instead of the graph's forward pass), on a copy of the weights taken when it is made;
- `threads`: row blocks on all cores with BLAS held to one thread, and decoding beside the marginals.

`FastPath` bundles them behind the one seam `nerwin.tagger.Tagger` uses. The stack never imports this.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..decode import SMALL
from ..features import Encoded, Featurizer
from . import threads
from .forward import Forward, TypedEncoded
from .prepare import Prepared, Preparer

__all__ = ["FastPath", "Prepared", "Preparer", "Forward", "TypedEncoded"]


class FastPath:
    """A tagger's fast wing: its preparer (memos of the text it has met) and its forward pass (weights copied),
    on `threads` threads."""

    def __init__(self, featurizer: Featurizer, model, threads: int = threads.CORES):
        self.threads = threads
        self.preparer = Preparer(featurizer)
        self.forward = Forward(model, threads)

    def prepare(self, texts: Sequence[str | Sequence[str]], tokens: bool = False) -> Prepared:
        return self.preparer.prepare(texts, tokens)

    def outputs(self, enc: Encoded) -> np.ndarray:
        return self.forward.outputs(enc)

    def both(self, first: Callable, second: Callable, rows: int) -> tuple:
        """(first(), second()): side by side on two threads for big inputs (both release the GIL)."""
        if rows < SMALL or self.threads < 2:
            return first(), second()
        return threads.together(first, second)
