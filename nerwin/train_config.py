"""The settings of a training run, `TrainConfig`, and its presets: plain Python, so the CLI takes its option
defaults from it without importing numpy (`nerwin --help` stays instant). `nerwin.training` runs them.

Two presets: "default", the field defaults, the best general configuration found on the dev sets of
CoNLL-2003 and WNUT-17 (README's ablation and WNUT-17 runs); "classic", the plain window model of
Collobert et al. (row 1 of the ablation). `TrainConfig.preset(name, **overrides)` makes either with some
settings changed; `nerwin train --preset NAME` does the same, explicit flags overriding the preset."""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

from .errors import NerwinError

# The 2- and 4-letter affix columns of the default preset (the 3-letter ones have their own settings).
_AFFIXES = {"suffix2": 10, "suffix4": 10, "prefix2": 5, "prefix4": 10}

# Each preset as the settings that differ from TrainConfig's defaults (which are "default").
PRESETS: dict[str, dict] = {
    "default": {},
    "classic": {"suffix_dim": 0, "prefix_dim": 0, "shape_dim": 0, "features": {}, "input_dropout": 0.0,
                "crf": False, "average": 0, "calibrate": False},
}

__all__ = ["TrainConfig", "PRESETS"]


@dataclass
class TrainConfig:
    """Hyper-parameters of the window tagger and its training. The defaults are the "default" preset
    (`nerwin train` takes its option defaults from here); `TrainConfig.preset("classic")` is the plain
    window model."""

    window: int = 2            # words on each side of the centre word
    word_dim: int = 50
    caps_dim: int = 5
    suffix_dim: int = 20       # 3-letter suffix embedding (0 = off)
    prefix_dim: int = 10       # 3-letter prefix embedding (0 = off)
    shape_dim: int = 10        # word-shape embedding, e.g. "Xx-Xx" (0 = off)
    features: dict[str, int] = field(default_factory=lambda: dict(_AFFIXES))  # more columns by name
    hidden: int = 300
    activation: str = "tanh"
    dropout: float = 0.5
    input_dropout: float = 0.4  # dropout on the concatenated window embeddings
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
    crf: bool = True           # sentence-level training: tag transitions, forward algorithm, Viterbi
    average: int = 3           # score and save the mean of the last N epochs' weights (0 = off)
    calibrate: bool = True     # when training ends, lower the O score by the offset that gives the best dev F1
    two_pass: bool = False     # a second pass that reads the document (`nerwin.documents`) over a first pass
    folds: int = 4             # two-pass: the first pass's tags of train come from this many folds
    doc_dim: int = 10          # two-pass: embedding size of each document column
    second_hidden: int = 0     # two-pass: the second network's hidden layer size (0: the same as `hidden`)
    lone: float = 0.3          # two-pass: share of training sentences read as documents of their own
    case_copies: list[str] = field(default_factory=list)  # add train re-cased these ways (`nerwin.casing`)
    caseless: bool = False     # also train a companion blind to case, for documents without the usual capitals

    @classmethod
    def preset(cls, name: str = "default", **overrides) -> TrainConfig:
        """The named preset (see PRESETS) with `overrides` on top; NerwinError for an unknown name."""
        if name not in PRESETS:
            raise NerwinError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
        return cls(**{**PRESETS[name], **overrides})

    def check(self) -> None:
        """NerwinError naming the first setting that cannot work."""
        from .autodiff.nn import ACTIVATIONS
        from .casing import check_kinds
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
        if not 0.0 <= self.lone <= 1.0:
            raise NerwinError(f"the share of lone sentences must be in [0, 1], got {self.lone}")
        if self.caseless and (self.task != "tags" or self.caps_dim < 1):
            raise NerwinError("a caseless companion needs a tagger with a capitalization column (--caps-dim)")
        if self.second_hidden < 0:
            raise NerwinError(f"the second pass's hidden size must be >= 1 (0: as --hidden), got {self.second_hidden}")
        if self.two_pass and (self.task != "tags" or self.folds < 2 or self.doc_dim < 1):
            raise NerwinError("a two-pass model is a tagger with 2 or more folds and document columns >= 1 wide")
        check_kinds(self.case_copies)
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
