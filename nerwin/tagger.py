"""The Python API: load a model, tag text.

    >>> import nerwin
    >>> tagger = nerwin.load()                       # the shipped model; or nerwin.load("path/to/model")
    >>> tagger("Samuel Quinn was arrested in Paris .")
    [Entity(text='Samuel Quinn', label='PER', start=0, end=12, score=0.99), Entity(text='Paris', ...)]

A call takes one raw string (tokenized like CoNLL-2003), a list of strings (many texts), or with
`tag_tokens` pre-split sentences. Entities carry character offsets into the original string:
`text[e.start:e.end] == e.text`.

Tagging is: tokenize, encode the tokens' features, run the network over every word's window, decode
its outputs into valid IOB2 tags (Viterbi), and read the entities off the tags. That plain path is what
this module says; a tagger made with `fast=True` (the default) runs the same steps through the speed
wing `nerwin.fast` (memos, the first layer by token types, both cores), which is tested equal to it.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from functools import partial
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import numpy as np

from . import binary, serialize
from .autodiff.tensor import no_grad
from .decode import allowed_transitions, crf_marginals, decode, log_softmax_rows
from .errors import NerwinError
from .features import Encoded, Featurizer
from .model import WindowModel
from .tags import check_tags, parse_tag
from .tokenize import Token, tokenize

__all__ = ["Entity", "Tagger", "load", "default_model_path", "MODEL_ENV"]

MODEL_ENV = "NERWIN_MODEL"
DEFAULT_MODEL = "default"


class Entity(NamedTuple):
    """A named entity found in a text: its characters `text[start:end]`, its type and a confidence
    (the mean probability of its words' tags). Immutable."""

    text: str
    label: str
    start: int
    end: int
    score: float

    def to_dict(self) -> dict:
        return {"text": self.text, "label": self.label, "start": self.start, "end": self.end, "score": self.score}


_new_entity = partial(tuple.__new__, Entity)  # an Entity from a tuple of its fields, with no Python frame


def default_model_path() -> Path:
    """The model shipped inside the package (or the folder named by NERWIN_MODEL)."""
    if os.environ.get(MODEL_ENV):
        return Path(os.environ[MODEL_ENV])
    try:  # installed: the package `nerwin.models` is the repository's models/ folder
        return Path(str(resources.files("nerwin.models") / DEFAULT_MODEL))
    except ModuleNotFoundError:  # running from a source checkout that is not installed
        return Path(__file__).resolve().parent.parent / "models" / DEFAULT_MODEL


def words_as_tokens(words: Sequence[str]) -> list[Token]:
    """Pre-split words as tokens whose offsets count the words joined by single spaces."""
    tokens, at = [], 0
    for word in words:
        tokens.append(Token(word, at, at + len(word)))
        at += len(word) + 1
    return tokens


def _strings(texts: Sequence[str | Sequence[str]]) -> list[str]:
    """Each text as a string: token lists joined by single spaces."""
    return [t if isinstance(t, str) else " ".join(t) for t in texts]


class Tagger:
    """A trained window tagger: feature maps, network, tag set, and IOB2-constrained decoding.

    A tagger works on a copy of the model's weights made when the tagger is made: training the model
    further never changes a tagger made before (make a new one to tag with the new weights)."""

    BATCH = 8192  # windows scored at a time on the plain path

    def __init__(self, featurizer: Featurizer, model: WindowModel, tags: list[str], config: dict,
                 fast: bool = True):
        self.featurizer = featurizer
        self.model = model.copy()
        self.tags = list(tags)
        self.config = config
        self.binary = config.get("task") == "binary"
        self.start, self.trans = allowed_transitions(self.tags)
        names = binary.TAGS if self.binary else self.tags  # what a predicted tag id means
        self._prefix = np.array([{"O": 0, "B": 1, "I": 2}[parse_tag(t)[0]] for t in names], dtype=np.int64)
        self._labels = [parse_tag(t)[1] for t in names]
        self._names = np.array(names, dtype=object)
        if fast:
            from .fast import FastPath

            self._fast = FastPath(featurizer, self.model)
        else:
            self._fast = None

    # ---- the steps ---------------------------------------------------------------------------
    def prepare(self, texts: Sequence[str | Sequence[str]], tokens: bool = False
                ) -> tuple[list[str] | None, np.ndarray, np.ndarray, Encoded]:
        """Every token's text (with `tokens`), start and end, texts in turn, and their encoding (a sentence
        per text). Raw strings are tokenized, token lists taken as they are."""
        if self._fast is not None:
            return self._fast.prepare(texts, tokens)
        tokenized = [tokenize(t) if isinstance(t, str) else words_as_tokens(t) for t in texts]
        flat = [t for toks in tokenized for t in toks]
        enc = self.featurizer.encode([[t.text for t in toks] for toks in tokenized])
        return ([t.text for t in flat] if tokens else None, np.array([t.start for t in flat], dtype=np.int64),
                np.array([t.end for t in flat], dtype=np.int64), enc)

    def outputs(self, enc: Encoded) -> np.ndarray:
        """Raw network outputs (N, n_out) for every token of an encoded corpus, in eval mode."""
        if self._fast is not None:
            return self._fast.outputs(enc)
        with no_grad():
            return np.concatenate([self.model(enc.windows(enc.positions[i:i + self.BATCH])).data
                                   for i in range(0, len(enc.positions), self.BATCH)]
                                  or [np.zeros((0, self.model.output.weight.shape[1]), np.float32)])

    def predict(self, enc: Encoded, raw: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(tag ids, probability of each chosen tag) for every token, decoded into valid IOB2 (from `raw`,
        the network's outputs for `enc`, when the caller already has them)."""
        raw = self.outputs(enc) if raw is None else raw
        if self.binary:  # one logit: "is this word (part of) a location?"
            return binary.decode(raw, enc.lengths)
        if self.model.crf:  # the CRF's marginal probability of each decoded tag
            m = self.model
            start, trans, end = self.start + m.start.data, self.trans + m.transitions.data, m.end.data
            ids, marginals = self._both(lambda: decode(raw, enc.lengths, start, trans, end, normalize=False),
                                        lambda: crf_marginals(raw, enc.lengths, start, trans, end), len(raw))
            return ids, marginals[np.arange(len(ids)), ids]
        logp = log_softmax_rows(raw.astype(np.float64))  # once: Viterbi adds these, the score reads them
        ids = decode(logp, enc.lengths, self.start, self.trans, normalize=False)
        return ids, np.exp(logp[np.arange(len(ids)), ids])

    def _both(self, first, second, rows: int) -> tuple:
        if self._fast is not None:
            return self._fast.both(first, second, rows)
        return first(), second()

    def entities(self, tokenized: Sequence[Sequence[Token]], texts: Sequence[str], min_score: float = 0.0
                 ) -> list[list[Entity]]:
        """Entities of texts already split into tokens: (text, start, end) tuples such as Tokens, with
        offsets into the matching text."""
        enc = self.featurizer.encode([[t[0] for t in toks] for toks in tokenized])
        return self._entities(enc, np.array([t[1] for toks in tokenized for t in toks], dtype=np.int64),
                              np.array([t[2] for toks in tokenized for t in toks], dtype=np.int64), texts, min_score)

    def _entities(self, enc: Encoded, starts: np.ndarray, ends: np.ndarray, texts: Sequence[str],
                  min_score: float = 0.0) -> list[list[Entity]]:
        """The entities of encoded texts, those scored under `min_score` left out; `starts` and `ends` give
        every token's offsets, texts in turn."""
        results: list[list[Entity]] = [[] for _ in texts]
        if not len(enc.positions):
            return results
        ids, probs = self.predict(enc)
        # decoding gives valid IOB2: an entity is a B-X and the I-X that follow it
        prefix = self._prefix[ids]
        firsts = np.flatnonzero(prefix == 1)
        stops = np.append(np.flatnonzero(prefix != 2), len(prefix))  # where a run of I-X ends
        lasts = stops[np.searchsorted(stops, firsts, side="right")] - 1
        total = np.concatenate([[0.0], np.cumsum(probs, dtype=np.float64)])
        scores = np.round((total[lasts + 1] - total[firsts]) / (lasts + 1 - firsts), 4)
        if min_score > 0:
            keep = scores >= min_score
            firsts, lasts, scores = firsts[keep], lasts[keep], scores[keep]
        text_of = np.searchsorted(np.cumsum(enc.lengths), firsts, side="right").tolist()
        a, b = starts[firsts].tolist(), ends[lasts].tolist()
        strings = [texts[i][start:end] for i, start, end in zip(text_of, a, b)]
        labels = [self._labels[label] for label in ids[firsts].tolist()]
        for i, entity in zip(text_of, map(_new_entity, zip(strings, labels, a, b, scores.tolist()))):
            results[i].append(entity)
        return results

    # ---- public API --------------------------------------------------------------------------
    def tag_encoded(self, enc: Encoded, raw: np.ndarray | None = None) -> list[list[str]]:
        """IOB2 tags of sentences already encoded by this tagger's featurizer (`raw`: as in `predict`)."""
        ids, _ = self.predict(enc, raw) if len(enc.positions) else (np.zeros(0, np.int64), None)
        names = self._names[ids]
        at = np.concatenate([[0], np.cumsum(enc.lengths)]).tolist()
        return [names[a:b].tolist() for a, b in zip(at, at[1:])]

    def tag_tokens(self, sentences: Sequence[Sequence[str]]) -> list[list[str]]:
        """IOB2 tags for pre-split sentences (lists of tokens)."""
        sentences = [list(s) for s in sentences]
        return self.tag_encoded(self.featurizer.encode(sentences)) if sentences else []

    def tokens_and_entities(self, texts: Iterable[str | Sequence[str]], min_score: float = 0.0
                            ) -> tuple[list[list[tuple[str, int, int]]], list[list[Entity]]]:
        """Each text's tokens as (text, start, end) tuples, and its entities (raw strings, or token lists
        whose offsets count the tokens joined by single spaces); entities scored under `min_score` are
        left out."""
        texts = list(texts)
        tokens, starts, ends, enc = self.prepare(texts, tokens=True)
        at = np.concatenate([[0], np.cumsum(enc.lengths)]).tolist()
        spans = list(zip(tokens, starts.tolist(), ends.tolist()))
        return [spans[a:b] for a, b in zip(at, at[1:])], self._entities(enc, starts, ends, _strings(texts),
                                                                         min_score)

    def tag_texts(self, texts: Iterable[str | Sequence[str]], min_score: float = 0.0) -> list[list[Entity]]:
        """Entities of many texts at once (those scored under `min_score` left out)."""
        texts = list(texts)
        _, starts, ends, enc = self.prepare(texts)
        return self._entities(enc, starts, ends, _strings(texts), min_score)

    def __call__(self, text: str | Sequence[str], min_score: float = 0.0) -> list[Entity] | list[list[Entity]]:
        """Entities of one raw string; or, given a list of strings, a list of entity lists. Entities whose
        score is under `min_score` are left out."""
        if isinstance(text, str):
            return self.tag_texts([text], min_score)[0]
        return self.tag_texts(text, min_score)

    # ---- files -------------------------------------------------------------------------------
    def save(self, path: str | Path, card: str | None = None) -> Path:
        vocab = {c.name: c.vocab for c in self.featurizer.columns}
        config = dict(self.config)
        config["features"] = {"half_window": self.featurizer.half,
                              "columns": [{"name": c.name, "dim": c.dim} for c in self.featurizer.columns]}
        config["tags"] = self.tags
        config["network"] = self.model.hparams()
        extra = {"README.md": card} if card else None
        return serialize.save_folder(path, config, vocab, self.model.state_dict(), extra)

    @classmethod
    def load(cls, path: str | Path) -> Tagger:
        config, vocab, arrays = serialize.load_folder(path)
        where = Path(path) / serialize.CONFIG
        try:
            feats = config["features"]
            columns = [{"name": c["name"], "dim": c["dim"], "vocab": vocab[c["name"]]} for c in feats["columns"]]
            featurizer = Featurizer.from_json({"half_window": feats["half_window"], "columns": columns})
            net = config["network"]
            tags = list(config["tags"])
            check_tags(tags)
            dims, hidden = [c.dim for c in featurizer.columns], int(net["hidden"])
            n_out = 1 if config.get("task") == "binary" else len(tags)
            crf = bool(net.get("crf", False))
            size = (sum(len(c.vocab) * c.dim for c in featurizer.columns)
                    + (featurizer.width * sum(dims) + 1) * hidden + (hidden + 1) * n_out
                    + (n_out * (n_out + 2) if crf else 0))
        except (KeyError, TypeError, ValueError, NerwinError) as e:
            raise NerwinError(f"{where}: incomplete or inconsistent model config ({e!s})") from None
        # Sizes in the config must match the saved arrays before anything is allocated (a damaged or
        # hostile config could otherwise ask for terabytes).
        saved = sum(int(a.size) for a in arrays.values())
        if size != saved:
            raise NerwinError(f"{Path(path) / serialize.WEIGHTS}: holds {saved:,} numbers but {where} "
                              f"describes a network of {size:,}")
        try:
            model = WindowModel.from_hparams(net, [len(c.vocab) for c in featurizer.columns], dims,
                                             featurizer.width, n_out)
        except (KeyError, TypeError, ValueError) as e:
            raise NerwinError(f"{where}: incomplete or inconsistent model config ({e!s})") from None
        try:
            model.load_state_dict(arrays)
        except ValueError as e:
            raise NerwinError(f"{Path(path) / serialize.WEIGHTS}: does not match {where}: {e}") from None
        return cls(featurizer, model, tags, config)


def load(path: str | Path | None = None) -> Tagger:
    """Load a model folder; without a path, the model shipped with nerwin."""
    if path is None:
        path = default_model_path()
        if not (Path(path) / serialize.CONFIG).is_file():
            raise NerwinError(f"{path}: the default model is not installed; train one with `nerwin train` "
                              "and pass its folder")
    return Tagger.load(path)
