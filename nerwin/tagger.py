"""The Python API: load a model, tag text.

    >>> import nerwin
    >>> tagger = nerwin.load()                       # the shipped model; or nerwin.load("path/to/model")
    >>> tagger("Samuel Quinn was arrested in Paris .")
    [Entity(text='Samuel Quinn', label='PER', start=0, end=12, score=0.99), Entity(text='Paris', ...)]

A call takes one raw string (tokenized like CoNLL-2003), a list of strings (many texts), or with
`tag_tokens` pre-split sentences. Entities carry character offsets into the original string:
`text[e.start:e.end] == e.text`.
"""
from __future__ import annotations

import os
import threading
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from functools import partial
from importlib import resources
from itertools import accumulate, repeat
from operator import add, and_, gt, sub
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:  # imported where first used: concurrent.futures costs ~15 ms of start-up
    from concurrent.futures import ThreadPoolExecutor

from . import serialize
from .decode import SMALL, allowed_transitions, crf_marginals, decode, log_softmax_rows
from .errors import NerwinError
from .features import Encoded, Featurizer
from .model import WindowModel
from .tags import check_tags, parse_tag, repair_iob2
from .tokenize import Token, chunk_keys, chunk_tokens

__all__ = ["Entity", "Tagger", "load", "default_model_path", "MODEL_ENV"]

MODEL_ENV = "NERWIN_MODEL"
DEFAULT_MODEL = "default"


class Entity(NamedTuple):
    """A named entity found in a text: its characters `text[start:end]`, its type and a confidence.
    Immutable (a named tuple: built ~5x faster than a frozen dataclass, which tagging notices)."""

    text: str
    label: str
    start: int
    end: int
    score: float

    def to_dict(self) -> dict:
        return {"text": self.text, "label": self.label, "start": self.start, "end": self.end, "score": self.score}


_new_entity = partial(tuple.__new__, Entity)  # Entity from a tuple of its fields, at C level

_helper_pool: ThreadPoolExecutor | None = None


def starts_of(words: list[str]) -> list[int]:
    """Where each word starts when they are joined by single spaces."""
    return list(accumulate(map(add, map(len, words[:-1]), repeat(1)), initial=0)) if words else []


def _single_spaced(texts: list[str]) -> list[str] | None:
    """The chunks of all the texts in turn if every text is words split by single spaces: no other
    whitespace, none at the ends, and none empty. Then a text's chunks sit one past each other, and
    only its first one starts a line. Otherwise None."""
    joined = " ".join(texts)
    chunks = joined.split(" ")
    if "" in chunks:
        return None
    # whitespace other than " " is not printable; other unprintable characters take the exact test
    return chunks if joined.isprintable() or chunks == joined.split() else None


def _joined(texts: list[str | Sequence[str]]) -> list[str]:
    """Each text as a string: token lists joined by single spaces."""
    return [t if isinstance(t, str) else " ".join(t) for t in texts]


def _helper() -> ThreadPoolExecutor:
    """One worker thread for work that overlaps the caller's (both sides release the GIL)."""
    global _helper_pool
    if _helper_pool is None:
        from concurrent.futures import ThreadPoolExecutor

        _helper_pool = ThreadPoolExecutor(1, thread_name_prefix="nerwin-helper")
    return _helper_pool


def default_model_path() -> Path:
    """The model shipped inside the package (or the folder named by NERWIN_MODEL)."""
    if os.environ.get(MODEL_ENV):
        return Path(os.environ[MODEL_ENV])
    try:  # installed: the package `nerwin.models` is the repository's models/ folder
        return Path(str(resources.files("nerwin.models") / DEFAULT_MODEL))
    except ModuleNotFoundError:  # running from a source checkout that is not installed
        return Path(__file__).resolve().parent.parent / "models" / DEFAULT_MODEL


class Tagger:
    """A trained window tagger: feature maps, network, tag set, and IOB2-constrained decoding.

    A tagger from `load` treats its weights as fixed (`fixed_weights`): it keeps first-layer projections
    of frequent words between calls. To change its weights in place, set `fixed_weights = False` first."""

    def __init__(self, featurizer: Featurizer, model: WindowModel, tags: list[str], config: dict):
        self.featurizer = featurizer
        self.model = model.eval()
        self.tags = list(tags)
        self.config = config
        self.binary = config.get("task") == "binary"
        self.start, self.trans = allowed_transitions(self.tags)
        self._local = threading.local()
        # True for a loaded model: its weights never change, so projections kept between calls stay valid
        self.fixed_weights = False
        # chunk -> its feature row if it is one token, else (tokens, rows); see `_chunk_rows_of`
        self._inner_chunks: dict[str, int | tuple[tuple, tuple[int, ...]]] = {}
        self._edge_chunks: dict[tuple[str, bool, bool], int | tuple[tuple, tuple[int, ...]]] = {}
        parsed = [parse_tag(t) for t in self.tags]
        self._prefix = np.array([{"O": 0, "B": 1, "I": 2}[p] for p, _ in parsed], dtype=np.int64)
        self._types = [k for _, k in parsed]

    # ---- scoring -----------------------------------------------------------------------------
    def scores(self, enc: Encoded, batch_size: int = 8192) -> np.ndarray:
        """Raw network outputs (N, n_out) for every token of an encoded corpus. A batch projects each
        of its token types once (see `WindowModel.infer`): 8,192 rows (512 lines of news text) took
        ~10% less time than 4,096, which projected again the types the two halves share."""
        self.model.eval()
        workspace = getattr(self._local, "workspace", None)
        if workspace is None:  # buffers reused between batches and calls (one set per thread)
            workspace = self._local.workspace = {}
        if not self.fixed_weights:  # they may have changed since the last call (training)
            workspace.pop("slot_weights_of", None)
        out = np.empty((len(enc.positions), self.model.output.weight.shape[1]), dtype=np.float32)
        for i in range(0, len(enc.positions), batch_size):
            out[i:i + batch_size] = self.model.infer_types(enc.type_windows(enc.positions[i:i + batch_size]),
                                                           enc.type_ids, workspace, enc.type_keys)
        return out

    def predict(self, enc: Encoded) -> tuple[np.ndarray, np.ndarray]:
        """(tag ids, probability of each chosen tag) for every token, decoded into valid IOB2."""
        raw = self.scores(enc)
        if self.binary:  # one logit: "is this word (part of) a location?"
            p = 1.0 / (1.0 + np.exp(-raw[:, 0].astype(np.float64)))
            ids = (p >= 0.5).astype(np.int64)
            return ids, np.where(ids == 1, p, 1 - p)
        if self.model.crf:  # scores: the CRF's marginal probability of each decoded tag
            m = self.model
            start, trans = self.start + m.start.data, self.trans + m.transitions.data
            if len(raw) < SMALL:
                ids = decode(raw, enc.lengths, start, trans, m.end.data, normalize=False)
            else:  # the two kernels release the GIL: decode on another core meanwhile
                future = _helper().submit(decode, raw, enc.lengths, start, trans, m.end.data, normalize=False)
            marginals = crf_marginals(raw, enc.lengths, start, trans, m.end.data)
            if len(raw) >= SMALL:
                ids = future.result()
            return ids, marginals[np.arange(len(ids)), ids]
        logp = log_softmax_rows(raw.astype(np.float64))  # once: Viterbi adds these, the score reads them
        ids = decode(logp, enc.lengths, self.start, self.trans, normalize=False)
        return ids, np.exp(logp[np.arange(len(ids)), ids])

    def _tag_names(self, ids: np.ndarray, lengths: np.ndarray) -> list[list[str]]:
        names = np.array(self.tags, dtype=object)[ids]
        out, at = [], 0
        for n in lengths:
            seq = names[at:at + n].tolist()
            if self.binary:
                seq = repair_iob2(["I-LOC" if t != "O" else "O" for t in seq])
            out.append(seq)
            at += n
        return out

    def tag_encoded(self, enc: Encoded) -> list[list[str]]:
        """IOB2 tags of sentences already encoded by this tagger's featurizer."""
        ids, _ = self.predict(enc)
        return self._tag_names(ids, enc.lengths)

    # ---- public API --------------------------------------------------------------------------
    def tag_tokens(self, sentences: Sequence[Sequence[str]]) -> list[list[str]]:
        """IOB2 tags for pre-split sentences (lists of tokens)."""
        sentences = [list(s) for s in sentences]
        if not sentences:
            return []
        enc = self.featurizer.encode(sentences)
        ids, _ = self.predict(enc)
        return self._tag_names(ids, enc.lengths)

    def tag_texts(self, texts: Iterable[str | Sequence[str]]) -> list[list[Entity]]:
        """Entities of many texts at once (raw strings, or token lists whose offsets count tokens
        joined by single spaces)."""
        texts = list(texts)
        enc, _, starts, ends = self._prepare(texts)
        return self._entities(enc, starts, ends, _joined(texts))

    def tokens_and_entities(self, texts: Iterable[str | Sequence[str]]
                            ) -> tuple[list[list[tuple[str, int, int]]], list[list[Entity]]]:
        """`tag_texts`, also returning each text's tokens as (text, start, end) tuples."""
        texts = list(texts)
        enc, tokens, starts, ends = self._prepare(texts)
        at = np.concatenate([[0], np.cumsum(enc.lengths)]).tolist()
        spans = [list(zip(tokens[a:b], starts[a:b], ends[a:b])) for a, b in zip(at, at[1:])]
        return spans, self._entities(enc, starts, ends, _joined(texts))

    def _prepare(self, texts: list[str | Sequence[str]]) -> tuple[Encoded, list[str], list[int], list[int]]:
        """Tokenize the texts and encode their tokens, in one pass through a memo of whitespace chunks
        (text repeats a lot); also every token's text, start and end, one flat list each, texts in turn.
        A text's token offsets are into itself; a token list's count its tokens joined by single spaces."""
        out: tuple[list[str], list[int], list[int], list[int]] = ([], [], [], [])  # tokens, starts, ends, rows
        lengths: list[int] = []
        feat = self.featurizer
        with feat.lock:
            feat.begin()
            chunks = _single_spaced(texts) if all(isinstance(t, str) for t in texts) else None
            if chunks is not None:  # the common case
                lengths += self._add_lines(texts, chunks, *out)
            else:
                run: list[str] = []  # single-spaced texts, done together
                for text in texts:
                    if isinstance(text, str) and _single_spaced([text]) is not None:
                        run.append(text)
                        continue
                    lengths += self._add_lines(run, " ".join(run).split(" "), *out)
                    run = []
                    n = len(out[0])
                    if isinstance(text, str):
                        self._add_chunks(text, *out)
                    else:
                        words = list(text)
                        at = starts_of(words)
                        out[0].extend(words)
                        out[1].extend(at)
                        out[2].extend(map(add, at, map(len, words)))
                        out[3].extend(map(feat.row, words))
                    lengths.append(len(out[0]) - n)
                lengths += self._add_lines(run, " ".join(run).split(" "), *out)
            enc = feat.encode_rows(np.array(out[3], dtype=np.int64), np.array(lengths, dtype=np.int64))
        return enc, out[0], out[1], out[2]

    def _add_lines(self, lines: list[str], chunks: list[str], tokens: list[str], starts: list[int],
                   ends: list[int], rows: list[int]) -> list[int]:
        """`_prepare` for texts whose words are split by single spaces and nothing else (`chunks`: their
        words in turn), all at once: one lookup in the memo per chunk, the offsets by running sums.
        Returns each text's token count."""
        if not lines:
            return []
        counts = list(map(add, map(str.count, lines, repeat(" ")), repeat(1)))  # chunks per line
        bounds = list(accumulate(counts, initial=0))  # where each line's chunks begin, and the end
        firsts, lasts = bounds[:-1], list(map(sub, bounds[1:], repeat(1)))
        more = list(map(gt, counts, repeat(1)))
        found = list(map(self._inner_chunks.get, chunks))  # a chunk's row, or (tokens, rows) if several
        edge_get = self._edge_chunks.get  # a line's first and last chunks: their tokens may differ
        for j, f in zip(firsts, map(edge_get, zip(map(chunks.__getitem__, firsts), repeat(True), more))):
            found[j] = f
        for j, f, m in zip(lasts, map(edge_get, zip(map(chunks.__getitem__, lasts), repeat(False), repeat(False))),
                           more):
            if m:
                found[j] = f
        if None in found:  # chunks not met before
            self._add_new_chunks(chunks, found, set(firsts), set(lasts))
        lens = list(map(len, chunks))
        at = np.fromiter(accumulate(map(add, lens, repeat(1)), initial=0), dtype=np.int64, count=len(chunks) + 1)
        at = (at[:-1] - np.repeat(at[firsts], counts)).tolist()  # each chunk's start in its line
        kinds = list(map(type, found))
        j = 0
        for _ in range(kinds.count(tuple)):  # chunks of several tokens
            k = kinds.index(tuple, j)
            rows += found[j:k]  # the one-token chunks before it
            tokens += chunks[j:k]
            starts += at[j:k]
            ends += map(add, at[j:k], lens[j:k])
            toks, more_rows = found[k]
            tokens += [t for t, _, _ in toks]
            starts += [at[k] + s for _, s, _ in toks]
            ends += [at[k] + e for _, _, e in toks]
            rows += more_rows
            counts[bisect_right(bounds, k) - 1] += len(toks) - 1
            j = k + 1
        rows += found[j:]
        tokens += chunks[j:]
        starts += at[j:]
        ends += map(add, at[j:], lens[j:])
        return counts

    def _add_chunks(self, text: str, tokens: list[str], starts: list[int], ends: list[int], rows: list[int]) -> None:
        """`_prepare` for a text the fast path could not take, a chunk at a time."""
        for a, key in chunk_keys(text):
            found = self._chunk_rows_of(key)
            if type(found) is int:
                tokens.append(key[0])
                starts.append(a)
                ends.append(a + len(key[0]))
                rows.append(found)
            else:
                for t, s, e in found[0]:
                    tokens.append(t)
                    starts.append(a + s)
                    ends.append(a + e)
                rows += found[1]

    def _add_new_chunks(self, chunks: list[str], found: list, first: set[int], last: set[int]) -> None:
        """Fill the holes (None) of `found` for `_add_lines`: chunks at these indices were not met
        before (or not at a line's edge); `first` and `last` hold the indices of lines' edge chunks."""
        holes, j = [], -1
        for _ in range(found.count(None)):
            j = found.index(None, j + 1)
            holes.append(j)
        words = list(map(chunks.__getitem__, holes))
        plain = list(map(and_, map(str.isascii, words), map(str.isalnum, words)))
        feat, inner, edge = self.featurizer, self._inner_chunks, self._edge_chunks
        for j, word, alone in zip(holes, words, plain):
            key = (word, j in first, j not in last)
            if not alone:  # the tokenizer's rules may split it
                found[j] = self._chunk_rows_of(key)
                continue
            found[j] = r = feat.row(word)  # letters and digits only: one token, wherever it stands
            if feat.is_kept(r) and len(word) <= 64:
                if key[1:] == (False, True):
                    if len(inner) < 200_000:
                        inner[word] = r
                elif len(edge) < 200_000:
                    edge[key] = r

    def _chunk_rows_of(self, key: tuple[str, bool, bool]) -> int | tuple[tuple, tuple[int, ...]]:
        """A chunk's feature row if it is one token, else its tokens and their rows (see `chunk_keys`
        for the key), remembered while the rows stay valid: chunks inside a line by their text alone,
        the others by their key."""
        memo, name = (self._inner_chunks, key[0]) if key[1:] == (False, True) else (self._edge_chunks, key)
        found = memo.get(name)
        if found is None:
            tokens = chunk_tokens(key)
            rows = tuple(self.featurizer.row(t) for t, _, _ in tokens)
            found = rows[0] if len(tokens) == 1 and tokens[0][1:] == (0, len(key[0])) else (tokens, rows)
            if len(key[0]) <= 64 and len(memo) < 200_000 and all(map(self.featurizer.is_kept, rows)):
                memo[name] = found
        return found

    def entities(self, tokenized: Sequence[Sequence[Token]], texts: Sequence[str]) -> list[list[Entity]]:
        """Entities of texts already split into tokens: (text, start, end) tuples such as Tokens,
        with offsets into the matching text."""
        if not tokenized:
            return []
        enc = self.featurizer.encode([[t[0] for t in toks] for toks in tokenized])
        return self._entities(enc, [t[1] for toks in tokenized for t in toks],
                              [t[2] for toks in tokenized for t in toks], texts)

    def _entities(self, enc: Encoded, starts: Sequence[int], ends: Sequence[int], texts: Sequence[str]
                  ) -> list[list[Entity]]:
        """The entities of encoded texts; `starts` and `ends` give every token's offsets, texts in turn."""
        if not len(enc.lengths):
            return []
        ids, probs = self.predict(enc)
        results: list[list[Entity]] = [[] for _ in enc.lengths]
        if self.binary:
            index = {t: i for i, t in enumerate(self.tags)}  # B-LOC / I-LOC / O, runs of LOC words joined
            ids = np.array([index.get(t, 0) for seq in self._tag_names(ids, enc.lengths) for t in seq],
                           dtype=np.int64)
        # decoding gives valid IOB2: an entity is a B-X and the I-X that follow it. All at once in numpy,
        # and the entities built by C-level maps (a Python loop per entity cost ~10% of tagging)
        prefix = self._prefix[ids]
        first = np.flatnonzero(prefix == 1)
        if not len(first):
            return results
        stops = np.append(np.flatnonzero(prefix != 2), len(prefix))  # where a run of I-X ends
        last = stops[np.searchsorted(stops, first, side="right")] - 1
        total = np.concatenate([[0.0], np.cumsum(probs, dtype=np.float64)])
        score = np.round((total[last + 1] - total[first]) / (last + 1 - first), 4).tolist()
        text_of = (np.searchsorted(np.cumsum(enc.lengths), first, side="right")).tolist()
        a, b = list(map(starts.__getitem__, first.tolist())), list(map(ends.__getitem__, last.tolist()))
        strings = map(str.__getitem__, map(texts.__getitem__, text_of), map(slice, a, b))
        labels = map(self._types.__getitem__, ids[first].tolist())
        for i, entity in zip(text_of, map(_new_entity, zip(strings, labels, a, b, score))):
            results[i].append(entity)
        return results

    def __call__(self, text: str | Sequence[str]) -> list[Entity] | list[list[Entity]]:
        """Entities of one raw string; or, given a list of strings, a list of entity lists."""
        if isinstance(text, str):
            return self.tag_texts([text])[0]
        return self.tag_texts(text)

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
        tagger = cls(featurizer, model, tags, config)
        tagger.fixed_weights = True
        return tagger


def load(path: str | Path | None = None) -> Tagger:
    """Load a model folder; without a path, the model shipped with nerwin."""
    if path is None:
        path = default_model_path()
        if not (Path(path) / serialize.CONFIG).is_file():
            raise NerwinError(f"{path}: the default model is not installed; train one with `nerwin train` "
                              "and pass its folder")
    return Tagger.load(path)
