"""The settings of a training run, `TrainConfig`: plain Python, so the CLI takes its option defaults from
it without importing numpy (`nerwin --help` stays instant). `nerwin.training` runs them."""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

from .errors import NerwinError

__all__ = ["TrainConfig"]


@dataclass
class TrainConfig:
    """Hyper-parameters of the window tagger and its training (defaults: the plain window model, row 1 of
    README's ablation; `nerwin train` takes its defaults from here)."""

    window: int = 2            # words on each side of the centre word
    word_dim: int = 50
    caps_dim: int = 5
    suffix_dim: int = 0        # 3-letter suffix embedding (0 = off)
    prefix_dim: int = 0        # 3-letter prefix embedding (0 = off)
    shape_dim: int = 0         # word-shape embedding, e.g. "Xx-Xx" (0 = off)
    features: dict[str, int] = field(default_factory=dict)  # more columns by name, e.g. {"suffix2": 10}
    hidden: int = 300
    activation: str = "tanh"
    dropout: float = 0.5
    input_dropout: float = 0.0  # dropout on the concatenated window embeddings
    lr: float = 1e-3
    lr_decay: float = 1.0      # multiply the learning rate by this after each epoch
    weight_decay: float = 0.0
    clip: float = 5.0          # global gradient-norm clip (0 = off)
    batch_size: int = 256
    epochs: int = 30
    patience: int = 4          # stop after this many epochs without a better dev F1
    unk_rate: float = 0.5      # chance a word seen once in train is replaced by UNK in a batch
    word_dropout: float = 0.0  # chance any word in a window is replaced by UNK in a batch
    seed: int = 1
    task: str = "tags"         # "tags" (IOB2 tagger) or "binary" (is the centre word a LOC? see nerwin.binary)
    crf: bool = False          # sentence-level training: tag transitions, forward algorithm, Viterbi
    average: int = 0           # score and save the mean of the last N epochs' weights (0 = off)

    def check(self) -> None:
        """NerwinError naming the first setting that cannot work."""
        from .autodiff.nn import ACTIVATIONS
        from .features import KEYS

        if self.window < 0 or self.hidden < 1 or self.batch_size < 1 or self.epochs < 1 or self.word_dim < 1:
            raise NerwinError("window >= 0, hidden, batch size, epochs and word dim >= 1 are required")
        rates = (self.dropout, self.input_dropout, self.word_dropout)
        if not (all(0.0 <= r < 1.0 for r in rates) and 0.0 <= self.unk_rate <= 1.0):
            raise NerwinError("dropout, input dropout and word dropout must be in [0, 1), unk rate in [0, 1]")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise NerwinError(f"learning rate must be positive, got {self.lr}")
        if self.activation not in ACTIVATIONS:
            raise NerwinError(f"unknown activation {self.activation!r}; choose one of {', '.join(ACTIVATIONS)}")
        if self.task not in ("tags", "binary"):
            raise NerwinError(f"task must be 'tags' or 'binary', got {self.task!r}")
        unknown = sorted(set(self.features) - set(KEYS))
        if unknown:
            raise NerwinError(f"unknown feature {unknown[0]!r}; known: {', '.join(KEYS)}")
        if self.average < 0:
            raise NerwinError("average must be >= 0 epochs")
        if self.crf and self.task == "binary":
            raise NerwinError("the CRF layer is for the tagger, not the binary variant")

    def feature_dims(self) -> dict[str, int]:
        dims = {"word": self.word_dim, "caps": self.caps_dim, "suffix3": self.suffix_dim,
                "prefix3": self.prefix_dim, "shape": self.shape_dim, **self.features}
        return {k: v for k, v in dims.items() if v > 0}

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
