"""The Python API: load a model, tag text.

    >>> import nerwin
    >>> tagger = nerwin.load()                       # the shipped model; or nerwin.load("path/to/model")
    >>> tagger("Samuel Quinn was arrested in Paris .")
    [Entity(text='Samuel Quinn', label='PER', start=0, end=12, score=0.99), Entity(text='Paris', ...)]

A call takes one raw string (tokenized like CoNLL-2003), a list of strings (many texts), or with
`tag_tokens` pre-split sentences. Entities carry character offsets into the original string:
`text[e.start:e.end] == e.text`. `pipe` tags a stream of any length lazily, in order, in batches (also
on several processes); a tagger pickles by its model files' content, so it travels to worker processes
of any engine (multiprocessing, datasets, Ray) and the copy tags the same.

Tagging is: tokenize, encode the tokens' features, run the network over every word's window, decode
its outputs into valid IOB2 tags (Viterbi), and read the entities off the tags. That plain path is what
this module says; a tagger made with `fast=True` (the default) runs the same steps through the speed
wing `nerwin.fast` (memos, the first layer by token types, both cores), which is tested equal to it.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import nullcontext
from functools import partial
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import numpy as np

from . import binary, serialize
from .autodiff.tensor import no_grad
from .decode import allowed_transitions, crf_marginals, decode, log_softmax_rows, small
from .errors import NerwinError
from .fast.threads import CORES, blas_on_one_thread, threads_wanted
from .fast.token_types import SECOND_PASS_KERNELS
from .features import DOCUMENT_COLUMNS, Encoded, Featurizer, case_codes
from .model import WindowModel
from .tags import check_tags, parse_tag
from .tokenize import Token, tokenize

__all__ = ["Entity", "Tagged", "Tagger", "load", "default_model_path", "MODEL_ENV"]

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


class Tagged(NamedTuple):
    """One batch's results flat, for writers that format many texts at once (`nerwin.writers`): the texts,
    every token's text (when asked for), the tokens of each text, and every entity's text number, first
    and last token (flat indices), character offsets in its text, label and score, in order."""

    texts: list[str]
    tokens: list[str] | None
    lengths: np.ndarray
    text_of: list[int]
    firsts: np.ndarray
    lasts: np.ndarray
    starts: list[int]
    ends: list[int]
    labels: list[str]
    scores: list[float]

    def entities(self) -> list[list[Entity]]:
        """The entities of each text."""
        results: list[list[Entity]] = [[] for _ in self.texts]
        strings = [self.texts[i][a:b] for i, a, b in zip(self.text_of, self.starts, self.ends)]
        for i, entity in zip(self.text_of, map(_new_entity, zip(strings, self.labels, self.starts, self.ends,
                                                                 self.scores))):
            results[i].append(entity)
        return results


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
                 fast: bool = True, threads: int | None = None, first_pass: Tagger | None = None,
                 caseless: Tagger | None = None):
        """`threads`: how many threads tagging uses (default $NERWIN_THREADS, else every core).

        A two-pass model (`first_pass`: a tagger over the token columns of `featurizer`) reads each
        document twice: the first pass tags it, and `model`, the second pass, sees the token columns
        and the document columns made from those tags (`nerwin.documents`).

        A `caseless` companion (a one-pass tagger over the token columns that do not see case, with the
        same vocabularies and tags) tags the documents written without the usual capitals (`uncased`)."""
        self._threads_asked = threads
        self._threads = threads_wanted(threads)
        self.featurizer = featurizer
        self.input = featurizer.base()  # what text is encoded with: the token columns
        self.model = model.copy()
        self.tags = list(tags)
        self.config = config
        self.binary = config.get("task") == "binary"
        self.first_pass = first_pass
        # Without a first pass, a featurizer with document columns makes a tagger of encodings that
        # already hold them (training scores its dev set so); text needs the first pass.
        if first_pass is not None:
            from .documents import DocumentFeatures

            self.documents = DocumentFeatures(self.tags)
        self.start, self.trans = allowed_transitions(self.tags)
        names = binary.TAGS if self.binary else self.tags  # what a predicted tag id means
        self._prefix = np.array([{"O": 0, "B": 1, "I": 2}[parse_tag(t)[0]] for t in names], dtype=np.int64)
        self._labels = [parse_tag(t)[1] for t in names]
        self._names = np.array(names, dtype=object)
        self.caseless = caseless
        if caseless is not None:
            self._caseless_columns = _companion_columns(self.input, caseless, self.tags)
        if fast:
            from .fast import FastPath

            self._fast = FastPath(self.input, self.model, self._threads)
            if first_pass is not None:
                from .fast.second_pass import SecondPass

                self._second = SecondPass(self.model, len(self.input.columns), self._threads)
        else:
            self._fast = None

    @property
    def threads(self) -> int:
        """Threads one call uses: its batch split in row blocks, and BLAS held to one thread whenever this
        is fewer than the cores (so that several tagging processes on one machine do not fight)."""
        return self._threads

    @threads.setter
    def threads(self, threads: int | None) -> None:
        self._threads_asked = threads
        self._threads = threads_wanted(threads)
        if self._fast is not None:
            self._fast.threads = self._fast.forward.threads = self._threads
        if self.first_pass is not None:
            self.first_pass.threads = threads
            if self._fast is not None:
                self._second.threads = self._threads
        if self.caseless is not None:
            self.caseless.threads = threads

    def __reduce__(self):
        """Pickled by its model files' content (JSON and safetensors bytes, no code, no path): the copy is
        rebuilt by the loading code, checked like a folder, and tags identically. Memos are not carried."""
        return _from_contents, (serialize.folder_contents(*self._parts()), self._fast is not None,
                                self._threads_asked)

    # ---- the steps ---------------------------------------------------------------------------
    def prepare(self, texts: Sequence[str | Sequence[str]], tokens: bool = False, docs: Sequence[int] | None = None
                ) -> tuple[list[str] | None, np.ndarray, np.ndarray, Encoded]:
        """Every token's text (with `tokens`), start and end, texts in turn, and their encoding (a sentence
        per text; `docs` numbers each text's document, by default each text is one). Raw strings are
        tokenized, token lists taken as they are."""
        if self._fast is not None:  # its encoding carries word keys (`nerwin.documents.word_keys`)
            found, starts, ends, enc = self._fast.prepare(texts, tokens)
        else:
            tokenized = [tokenize(t) if isinstance(t, str) else words_as_tokens(t) for t in texts]
            flat = [t for toks in tokenized for t in toks]
            enc = self.input.encode([[t.text for t in toks] for toks in tokenized])
            found = [t.text for t in flat] if tokens or self.first_pass is not None else None
            starts = np.array([t.start for t in flat], dtype=np.int64)
            ends = np.array([t.end for t in flat], dtype=np.int64)
            enc.words = found
            if self.caseless is not None:
                enc.cases = case_codes([t.text for t in flat])
        enc.docs = _doc_numbers(docs, len(texts))
        return found if tokens else None, starts, ends, enc

    def encode(self, sentences: Sequence[Sequence[str]], docs: Sequence[int] | None = None) -> Encoded:
        """Pre-split sentences encoded for this tagger (`docs`: each sentence's document, default its own)."""
        enc = self.input.encode(sentences, docs=_doc_numbers(docs, len(sentences)), words=self.first_pass is not None)
        if self.caseless is not None:
            enc.cases = case_codes([t for s in sentences for t in s])
        return enc

    def outputs(self, enc: Encoded) -> np.ndarray:
        """Raw network outputs (N, n_out) for every token of an encoded corpus, in eval mode. A two-pass
        model's are its second pass's, on the document columns made from its first pass's tags."""
        if self.first_pass is not None:
            columns = len(self.input.columns)
            base = enc if len(enc.ids) == columns else enc.with_columns(enc.ids[:columns])
            first = self.first_pass.best_ids(base)
            if (self._fast is not None and hasattr(base, "type_ids") and len(base.positions)  # a TypedEncoded
                    and not small(len(base.positions), *SECOND_PASS_KERNELS)):
                return self._second.outputs(base, self.documents.ids(base.words, first, base.lengths, base.docs))
            enc = self.documents.extend(base, first, columns)
            if self._fast is not None:
                return self._fast.forward.outputs(enc)
            return self._graph_outputs(enc)
        if self._fast is not None:
            return self._fast.outputs(enc)
        return self._graph_outputs(enc)

    def _graph_outputs(self, enc: Encoded) -> np.ndarray:
        with no_grad():
            return np.concatenate([self.model(enc.windows(enc.positions[i:i + self.BATCH])).data
                                   for i in range(0, len(enc.positions), self.BATCH)]
                                  or [np.zeros((0, self.model.output.weight.shape[1]), np.float32)])

    def predict(self, enc: Encoded, raw: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(tag ids, probability of each chosen tag) for every token, decoded into valid IOB2 (from `raw`,
        the network's outputs for `enc`, when the caller already has them). With a caseless companion,
        the documents written without the usual capitals are its to tag (`uncased`)."""
        with blas_on_one_thread() if self._threads < CORES else nullcontext():
            if self.caseless is not None and raw is None and enc.cases is not None and len(enc.lengths):
                routed = uncased(enc.cases, enc.lengths, enc.docs)
                if routed.any():
                    return self._routed(enc, routed)
            return self._predict(enc, raw)

    def _routed(self, enc: Encoded, routed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`_predict` with the sentences of `routed` (a bool per sentence) tagged by the caseless companion."""
        tokens = np.repeat(routed, enc.lengths)
        ids, probs = np.zeros(len(tokens), dtype=np.int64), np.zeros(len(tokens))
        ids[tokens], probs[tokens] = self.caseless._predict(enc.sentences(routed).columns(self._caseless_columns),
                                                            None)
        if not routed.all():
            ids[~tokens], probs[~tokens] = self._predict(enc.sentences(~routed), None)
        return ids, probs

    def best_ids(self, enc: Encoded) -> np.ndarray:
        """The decoded tag ids alone (no scores): what a second pass reads."""
        raw = self.outputs(enc)
        if self.model.crf:
            m = self.model
            return decode(raw, enc.lengths, self.start + m.start.data, self.trans + m.transitions.data,
                          m.end.data, normalize=False)
        return decode(log_softmax_rows(raw.astype(np.float64)), enc.lengths, self.start, self.trans,
                      normalize=False)

    def _predict(self, enc: Encoded, raw: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
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
        return self.tag_flat_tokens(tokenized, texts, min_score).entities()

    def _entities(self, enc: Encoded, starts: np.ndarray, ends: np.ndarray, texts: Sequence[str],
                  min_score: float = 0.0) -> list[list[Entity]]:
        """The entities of encoded texts, those scored under `min_score` left out; `starts` and `ends` give
        every token's offsets, texts in turn."""
        return self._tagged(enc, starts, ends, texts, None, min_score).entities()

    def _tagged(self, enc: Encoded, starts: np.ndarray, ends: np.ndarray, texts: Sequence[str],
                tokens: list[str] | None, min_score: float = 0.0) -> Tagged:
        """The entities of encoded texts, flat (`Tagged`); see `_entities`."""
        none = np.zeros(0, np.int64)
        if not len(enc.positions):
            return Tagged(list(texts), tokens, enc.lengths, [], none, none, [], [], [], [])
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
        labels = [self._labels[label] for label in ids[firsts].tolist()]
        return Tagged(list(texts), tokens, enc.lengths, text_of, firsts, lasts, starts[firsts].tolist(),
                      ends[lasts].tolist(), labels, scores.tolist())

    # ---- public API --------------------------------------------------------------------------
    def tag_encoded(self, enc: Encoded, raw: np.ndarray | None = None) -> list[list[str]]:
        """IOB2 tags of sentences already encoded by this tagger's featurizer (`raw`: as in `predict`)."""
        ids, _ = self.predict(enc, raw) if len(enc.positions) else (np.zeros(0, np.int64), None)
        names = self._names[ids]
        at = np.concatenate([[0], np.cumsum(enc.lengths)]).tolist()
        return [names[a:b].tolist() for a, b in zip(at, at[1:])]

    def tag_tokens(self, sentences: Sequence[Sequence[str]] | Sequence[Sequence[Sequence[str]]],
                   docs: Sequence[int] | None = None) -> list[list[str]] | list[list[list[str]]]:
        """IOB2 tags for pre-split sentences (lists of tokens), each its own document unless `docs` numbers
        their documents; or for documents (lists of such sentences), a list of sentences' tags each."""
        sentences = [list(s) for s in sentences]
        if sentences and any(s and not isinstance(s[0], str) for s in sentences):  # documents
            flat = [list(s) for doc in sentences for s in doc]
            tags = self.tag_tokens(flat, [d for d, doc in enumerate(sentences) for _ in doc])
            at = np.cumsum([0] + [len(doc) for doc in sentences]).tolist()
            return [tags[a:b] for a, b in zip(at, at[1:])]
        return self.tag_encoded(self.encode(sentences, docs)) if sentences else []

    def tokens_and_entities(self, texts: Iterable[str | Sequence[str]], min_score: float = 0.0,
                            docs: Sequence[int] | None = None
                            ) -> tuple[list[list[tuple[str, int, int]]], list[list[Entity]]]:
        """Each text's tokens as (text, start, end) tuples, and its entities (raw strings, or token lists
        whose offsets count the tokens joined by single spaces); entities scored under `min_score` are
        left out. Each text is a document unless `docs` numbers their documents (e.g. the sentences of
        a CoNLL file, numbered by its -DOCSTART- lines)."""
        texts = list(texts)
        tokens, starts, ends, enc = self.prepare(texts, tokens=True, docs=docs)
        at = np.concatenate([[0], np.cumsum(enc.lengths)]).tolist()
        spans = list(zip(tokens, starts.tolist(), ends.tolist()))
        return [spans[a:b] for a, b in zip(at, at[1:])], self._entities(enc, starts, ends, _strings(texts),
                                                                         min_score)

    def tag_texts(self, texts: Iterable[str | Sequence[str]], min_score: float = 0.0,
                  docs: Sequence[int] | None = None) -> list[list[Entity]]:
        """Entities of many texts at once (those scored under `min_score` left out); each text is a
        document, unless `docs` numbers their documents (texts of one document next to each other)."""
        texts = list(texts)
        _, starts, ends, enc = self.prepare(texts, docs=docs)
        return self._entities(enc, starts, ends, _strings(texts), min_score)

    def tag_flat(self, texts: Sequence[str | Sequence[str]], min_score: float = 0.0, tokens: bool = False,
                 docs: Sequence[int] | None = None) -> Tagged:
        """`tag_texts` with the results flat (`Tagged`), and with `tokens` every token's text: what writers
        that format a whole batch at once take."""
        words, starts, ends, enc = self.prepare(texts, tokens=tokens, docs=docs)
        return self._tagged(enc, starts, ends, _strings(texts), words, min_score)

    def tag_flat_tokens(self, tokenized: Sequence[Sequence[tuple[str, int, int]]], texts: Sequence[str],
                        min_score: float = 0.0, docs: Sequence[int] | None = None) -> Tagged:
        """`tag_flat` for texts already split into (text, start, end) tokens with offsets into them."""
        enc = self.encode([[t[0] for t in toks] for toks in tokenized], docs)
        return self._tagged(enc, np.array([t[1] for toks in tokenized for t in toks], dtype=np.int64),
                            np.array([t[2] for toks in tokenized for t in toks], dtype=np.int64), texts,
                            [t[0] for toks in tokenized for t in toks], min_score)

    def pipe(self, texts: Iterable, batch_size: int = 512, n_process: int = 1, as_tuples: bool = False,
             min_score: float = 0.0) -> Iterator:
        """Entities of a stream of texts, lazily and in input order: `batch_size` texts are read, tagged
        together and yielded one entity list each, so memory stays bounded however long the stream. With
        `as_tuples`, items are (text, context) and (entities, context) come out, so ids travel with their
        results. `n_process` > 1 tags on that many worker processes (started with spawn, each given this
        tagger once, on `threads // n_process` threads; -1: one per core), a bounded number of batches in
        flight. If reading the stream fails, the texts read before it are still tagged and yielded first."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be 1 or more, got {batch_size}")
        if n_process == -1:
            n_process = CORES
        if n_process < 1:
            raise ValueError(f"n_process must be 1 or more (or -1: one per core), got {n_process}")
        batches = _batched(texts, batch_size)
        split = _contexts if as_tuples else (lambda batch: (batch, None))
        if n_process == 1:
            results = ((batch, self.tag_texts(split(batch)[0], min_score)) for batch in batches)
        else:
            from .workers import Workers

            workers = Workers(self, n_process, max(1, self._threads // n_process))
            results = workers.map(partial(_tag_texts, min_score=min_score), batches, lambda b: split(b)[0])
        try:
            for batch, found in results:
                contexts = split(batch)[1]
                yield from (found if contexts is None else zip(found, contexts))
        finally:
            if n_process > 1:
                workers.close()

    def __call__(self, text: str | Sequence[str], min_score: float = 0.0) -> list[Entity] | list[list[Entity]]:
        """Entities of one raw string; or, given a list of strings, a list of entity lists. Entities whose
        score is under `min_score` are left out."""
        if isinstance(text, str):
            return self.tag_texts([text], min_score)[0]
        return self.tag_texts(text, min_score)

    # ---- files -------------------------------------------------------------------------------
    def _parts(self) -> tuple[dict, dict, dict[str, np.ndarray]]:
        """(config, vocab, arrays): what a model folder holds."""
        vocab = {c.name: c.vocab for c in self.featurizer.columns}
        config = dict(self.config)
        config["features"] = {"half_window": self.featurizer.half,
                              "columns": [{"name": c.name, "dim": c.dim} for c in self.featurizer.columns]}
        config["tags"] = self.tags
        config["network"] = self.model.hparams()
        arrays = self.model.state_dict()
        if self.first_pass is not None:
            config["first_pass"] = {"network": self.first_pass.model.hparams(),
                                    "dev": self.first_pass.config.get("dev")}
            arrays.update({f"first.{k}": v for k, v in self.first_pass.model.state_dict().items()})
        config.pop("caseless", None)  # a config loaded with a companion, given to a tagger without one
        if self.caseless is not None:
            config["caseless"] = {"network": self.caseless.model.hparams(),
                                  "columns": [c.name for c in self.caseless.featurizer.columns],
                                  "dev": self.caseless.config.get("dev")}
            arrays.update({f"caseless.{k}": v for k, v in self.caseless.model.state_dict().items()})
        return config, vocab, arrays

    def save(self, path: str | Path, card: str | None = None) -> Path:
        extra = {"README.md": card} if card else None
        return serialize.save_folder(path, *self._parts(), extra)

    @classmethod
    def load(cls, path: str | Path, threads: int | None = None) -> Tagger:
        config, vocab, arrays = serialize.load_folder(path)
        return cls.from_parts(config, vocab, arrays, Path(path), threads=threads)

    @classmethod
    def from_parts(cls, config: dict, vocab: dict, arrays: dict[str, np.ndarray], path: Path,
                   fast: bool = True, threads: int | None = None) -> Tagger:
        """A tagger from a model folder's content as `serialize` reads it; errors name `path`."""
        where = path / serialize.CONFIG
        try:
            feats = config["features"]
            columns = [{"name": c["name"], "dim": c["dim"], "vocab": vocab[c["name"]]} for c in feats["columns"]]
            featurizer = Featurizer.from_json({"half_window": feats["half_window"], "columns": columns})
            net = config["network"]
            tags = list(config["tags"])
            check_tags(tags)
            n_out = 1 if config.get("task") == "binary" else len(tags)
            first = config.get("first_pass")
            if first is not None and (config.get("task") == "binary" or not isinstance(first, dict)):
                raise ValueError("only a tagger has a first pass")
            if (first is None) != all(c.name not in DOCUMENT_COLUMNS for c in featurizer.columns):
                raise ValueError("document columns and a first pass come together")
            size = _network_size(featurizer, net, n_out)
            if first is not None:
                size += _network_size(featurizer.base(), first["network"], n_out)
            companion = config.get("caseless")
            if companion is not None:
                if config.get("task") == "binary" or not isinstance(companion, dict):
                    raise ValueError("only a tagger has a caseless companion")
                by_name = {c.name: c for c in featurizer.base().columns}
                caseless_featurizer = Featurizer([by_name[name] for name in companion["columns"]], featurizer.half)
                size += _network_size(caseless_featurizer, companion["network"], n_out)
        except (KeyError, TypeError, ValueError, NerwinError) as e:
            raise NerwinError(f"{where}: incomplete or inconsistent model config ({e!s})") from None
        # Sizes in the config must match the saved arrays before anything is allocated (a damaged or
        # hostile config could otherwise ask for terabytes).
        saved = sum(int(a.size) for a in arrays.values())
        if size != saved:
            raise NerwinError(f"{path / serialize.WEIGHTS}: holds {saved:,} numbers but {where} "
                              f"describes a network of {size:,}")
        model = _network(featurizer, net, n_out,
                         {k: v for k, v in arrays.items() if not k.startswith(("first.", "caseless."))}, path)
        first_pass = None
        if first is not None:
            base = featurizer.base()
            model1 = _network(base, first["network"], n_out,
                              {k[6:]: v for k, v in arrays.items() if k.startswith("first.")}, path)
            first_pass = cls(base, model1, tags, {"task": "tags", "dev": first.get("dev")}, fast=fast,
                             threads=threads)
        caseless = None
        if companion is not None:
            model_c = _network(caseless_featurizer, companion["network"], n_out,
                               {k[9:]: v for k, v in arrays.items() if k.startswith("caseless.")}, path)
            caseless = cls(caseless_featurizer, model_c, tags, {"task": "tags", "dev": companion.get("dev")},
                           fast=fast, threads=threads)
            try:
                _companion_columns(featurizer.base(), caseless, tags)
            except ValueError as e:
                raise NerwinError(f"{where}: incomplete or inconsistent model config ({e!s})") from None
        return cls(featurizer, model, tags, config, fast=fast, threads=threads, first_pass=first_pass,
                   caseless=caseless)


# A document written without the usual capitals: none of its words is mixed case ("McDonald") and either
# none is Title case (lowercase text; ALL CAPS) or at most one in UNCASED_LOWER is lowercase (Title Case,
# where "'s", "2nd" and "10km" still read as lowercase). Text with ordinary capitals has both Title words
# (sentence starts, names) and a majority of lowercase ones. Lowercase documents
# of any size go to a caseless companion (the cased model finds almost nothing in them); capitals and
# title case only from UNCASED_MIN_WORDS words on, since the cased model reads short headlines and
# bylines in capitals and title case well (it was trained on them), and documents are rarely that short.
UNCASED_MIN_WORDS = 20
UNCASED_LOWER = 10


def uncased(cases: np.ndarray, lengths: np.ndarray, docs: np.ndarray | None) -> np.ndarray:
    """A bool per sentence: whether its document is written without the usual capitals, from every token's
    capitalization class (`nerwin.features.case_codes`) and each sentence's document number."""
    sentence_doc = np.arange(len(lengths)) if docs is None else np.unique(docs, return_inverse=True)[1].reshape(-1)
    doc = np.repeat(sentence_doc, lengths)
    n_docs = int(sentence_doc.max(initial=-1)) + 1
    counts = np.bincount(doc * 5 + cases, minlength=n_docs * 5).reshape(n_docs, 5)  # by CASES
    lower, title, upper, mixed = counts[:, 0], counts[:, 1], counts[:, 2], counts[:, 3]
    words = lower + title + upper + mixed
    caseless = (mixed == 0) & (words > 0) & ((title == 0) | (lower * UNCASED_LOWER <= words))
    routed = caseless & ((title + upper == 0) | (words >= UNCASED_MIN_WORDS))
    return routed[sentence_doc]


def _companion_columns(base: Featurizer, caseless: Tagger, tags: list[str]) -> list[int]:
    """Where the companion's columns are among `base`'s; ValueError unless the companion reads a subset of
    the same vocabularies, with the same tags."""
    names = [c.name for c in base.columns]
    if caseless.tags != tags or caseless.first_pass is not None:
        raise ValueError("a caseless companion is a one-pass tagger of the same tags")
    at = []
    for column in caseless.featurizer.columns:
        if column.name in ("caps", "shape") or column.name not in names:
            raise ValueError(f"a caseless companion cannot read the {column.name!r} column")
        at.append(names.index(column.name))
        if base.columns[at[-1]].vocab != column.vocab:
            raise ValueError(f"the caseless companion's {column.name!r} vocabulary differs")
    if caseless.featurizer.half != base.half:
        raise ValueError("the caseless companion's window differs")
    return at


def _network_size(featurizer: Featurizer, net: dict, n_out: int) -> int:
    """How many numbers a network of these settings over these columns holds."""
    dims, hidden = [c.dim for c in featurizer.columns], int(net["hidden"])
    return (sum(len(c.vocab) * c.dim for c in featurizer.columns) + (featurizer.width * sum(dims) + 1) * hidden
            + (hidden + 1) * n_out + (n_out * (n_out + 2) if bool(net.get("crf", False)) else 0))


class _NoDraws:
    """Stands in for the random generator of a network whose saved weights replace its initial ones at
    once: zeros instead of draws (the draws took ~20 ms of a two-pass model's start-up)."""

    @staticmethod
    def uniform(low: float, high: float, size: tuple[int, ...]) -> np.ndarray:
        return np.zeros(size, dtype=np.float32)


def _network(featurizer: Featurizer, net: dict, n_out: int, arrays: dict[str, np.ndarray], path: Path
             ) -> WindowModel:
    """A network with saved settings and weights; a NerwinError naming the files if they do not fit."""
    where = path / serialize.CONFIG
    try:
        model = WindowModel.from_hparams(net, [len(c.vocab) for c in featurizer.columns],
                                         [c.dim for c in featurizer.columns], featurizer.width, n_out,
                                         rng=_NoDraws())
        model.dropout.rng = model.input_dropout.rng = np.random.default_rng()  # should it ever train again
    except (KeyError, TypeError, ValueError) as e:
        raise NerwinError(f"{where}: incomplete or inconsistent model config ({e!s})") from None
    try:
        model.load_state_dict(arrays)
    except ValueError as e:
        raise NerwinError(f"{path / serialize.WEIGHTS}: does not match {where}: {e}") from None
    return model


def load(path: str | Path | None = None, threads: int | None = None) -> Tagger:
    """Load a model folder; without a path, the model shipped with nerwin. `threads`: how many threads it
    tags on (default $NERWIN_THREADS, else every core)."""
    if path is None:
        path = default_model_path()
        if not (Path(path) / serialize.CONFIG).is_file():
            raise NerwinError(f"{path}: the default model is not installed; train one with `nerwin train` "
                              "and pass its folder")
    return Tagger.load(path, threads=threads)


def _from_contents(files: dict[str, bytes], fast: bool, threads: int | None) -> Tagger:
    """A pickled tagger rebuilt (see `Tagger.__reduce__`)."""
    config, vocab, arrays = serialize.load_contents(files, "<pickled tagger>")
    return Tagger.from_parts(config, vocab, arrays, Path("<pickled tagger>"), fast=fast, threads=threads)


def _doc_numbers(docs: Sequence[int] | None, n: int) -> np.ndarray | None:
    """`docs` as an array, checked to number each of the `n` texts."""
    if docs is None:
        return None
    docs = np.asarray(docs, dtype=np.int64)
    if docs.shape != (n,):
        raise ValueError(f"docs must number each of the {n} texts' documents, got {docs.shape[0] if docs.ndim else 0}")
    return docs


def _tag_texts(tagger: Tagger, texts: list, min_score: float) -> list[list[Entity]]:
    return tagger.tag_texts(texts, min_score)


def _contexts(batch: list) -> tuple[list, list]:
    """(texts, contexts) of a batch of (text, context) pairs."""
    for item in batch:
        if not (isinstance(item, tuple) and len(item) == 2):
            raise ValueError(f"with as_tuples, every item must be a (text, context) pair, got {item!r:.80}")
    return [t for t, _ in batch], [c for _, c in batch]


def _batched(items: Iterable, size: int) -> Iterator[list]:
    """Lists of `size` items in turn (the last may be shorter). If the iterable raises, the items read
    before are handed on first, then the error."""
    it = iter(items)
    while True:
        batch = []
        try:
            for _ in range(size):
                batch.append(next(it))
        except StopIteration:
            if batch:
                yield batch
            return
        except BaseException:
            if batch:
                yield batch
            raise
        yield batch
