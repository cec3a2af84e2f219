"""The window network: concatenated embeddings of a window of words -> one hidden layer -> tag scores.

For a word at position t with window half-width h, each feature column c contributes the embeddings
of the 2h+1 words around t (padding beyond the sentence edges), laid side by side:

    x = [L_word e(w_{t-h}) ... L_word e(w_{t+h}), L_caps e(c_{t-h}) ..., ...]
    a = f(d(x) W1 + b1)         f = tanh (default), hardtanh, relu or sigmoid; d = input dropout
    s = dropout(a) W2 + b2      one score per tag (or one logit in the binary variant)

With `crf=True` the model also holds a linear-chain CRF's learned start, transition and end scores
(Collobert et al.'s sentence-level log-likelihood, `nerwin.crf`), decoded with Viterbi (`nerwin.decode`).
Built only from the stack (`nerwin.autodiff`: engine, layers, optimizers); the fast forward pass used
for tagging is `nerwin.fast.forward`, tested equal to this one.
"""
from __future__ import annotations

import copy

import numpy as np

from .autodiff import functions as F
from .autodiff import nn
from .autodiff.tensor import Tensor

__all__ = ["WindowModel"]


class WindowModel(nn.Module):
    def __init__(self, vocab_sizes: list[int], dims: list[int], width: int, hidden: int, n_out: int,
                 activation: str, dropout: float, rng: np.random.Generator, crf: bool = False,
                 input_dropout: float = 0.0):
        if activation not in nn.ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose one of {', '.join(nn.ACTIVATIONS)}")
        self.embeddings = [nn.Embedding(v, d, rng) for v, d in zip(vocab_sizes, dims)]
        self.hidden = nn.Linear(width * sum(dims), hidden, rng)
        self.activation_name = activation
        self.activation = nn.ACTIVATIONS[activation]()
        self.dropout = nn.Dropout(dropout, rng)
        self.input_dropout = nn.Dropout(input_dropout, rng)
        self.output = nn.Linear(hidden, n_out, rng)
        self.crf = crf
        if crf:
            self.start = nn.Parameter(np.zeros(n_out, dtype=np.float32))
            self.transitions = nn.Parameter(np.zeros((n_out, n_out), dtype=np.float32))
            self.end = nn.Parameter(np.zeros(n_out, dtype=np.float32))

    def hparams(self) -> dict:
        """The network's own settings as JSON (a model folder's "network"); the table sizes come from the
        feature columns and the tag set. `from_hparams` reads them back: the one place for both."""
        return {"hidden": self.hidden.weight.shape[1], "activation": self.activation_name,
                "dropout": self.dropout.p, "crf": self.crf, "input_dropout": self.input_dropout.p}

    @classmethod
    def from_hparams(cls, hp: dict, vocab_sizes: list[int], dims: list[int], width: int, n_out: int,
                     rng: np.random.Generator | None = None) -> WindowModel:
        """A network with the settings `hparams` wrote, weights initialized from `rng`."""
        return cls(vocab_sizes, dims, width, int(hp["hidden"]), n_out, hp["activation"], float(hp["dropout"]),
                   rng if rng is not None else np.random.default_rng(0), crf=bool(hp.get("crf", False)),
                   input_dropout=float(hp.get("input_dropout", 0.0)))

    def forward(self, windows: list[np.ndarray]) -> Tensor:
        """windows: one (n, width) id matrix per feature column -> (n, n_out) scores."""
        return self.head(self.gather(windows))

    def gather(self, windows: list[np.ndarray]) -> Tensor:
        """The input layer x: every column's window embeddings side by side, (n, width * sum(dims))."""
        return F.window_gather([emb.weight for emb in self.embeddings], windows)

    def head(self, x: Tensor) -> Tensor:
        """(Input dropout,) hidden layer, nonlinearity, dropout, output scores."""
        return self.output(self.dropout(self.activation(self.hidden(self.input_dropout(x)))))

    def copy(self) -> WindowModel:
        """A copy in eval mode, with the same weights and no gradients (later training leaves it alone)."""
        twin = copy.deepcopy(self)
        twin.zero_grad()
        return twin.eval()
