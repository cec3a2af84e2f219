"""Training the window tagger: minibatch Adam, early stopping on dev F1, the best epoch kept on disk.

    >>> from nerwin.data import load_corpus
    >>> from nerwin.training import TrainConfig, train
    >>> result = train(load_corpus("data/conll2003"), "models/mine", TrainConfig(epochs=10))

In the order a run goes: `prepare` turns the corpus into arrays (feature ids, the tag set, what dev is
scored against); `train_epochs` is the loop, a generator that trains an epoch, scores it on dev and yields
one `Epoch` record, until the epochs run out or dev F1 stops improving; `train` consumes the records: it
saves the best model (atomically, so an interrupted run leaves the best model so far on disk), writes the
log, reports progress and keeps a checkpoint after each epoch, from which `resume=True` goes on to the
same weights as a run never interrupted. Same seed, same data, same model.
"""
from __future__ import annotations

import json
import math
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np

from . import __version__, binary
from .autodiff import functions as F
from .autodiff import optim
from .autodiff.tensor import Tensor, no_grad
from .card import card_data, portable_path, read_card, write_card
from .casing import augment
from .crf import crf_nll, crf_nll_value
from .data import Corpus
from .decode import allowed_transitions
from .errors import NerwinError
from .features import UNK, Encoded, Featurizer
from .metrics import strict_f1, strict_f1_by_type
from .model import WindowModel
from .serialize import CHECKPOINT_FORMAT, atomic_text, check_writable, load_folder, save_folder, write_json_atomic
from .tagger import Tagger
from .tags import parse_tag
from .train_config import TrainConfig

__all__ = ["TrainConfig", "TrainResult", "TrainingData", "LoopState", "Epoch", "train", "prepare",
           "build_model", "continue_config", "start_from", "train_epochs", "DevScores", "score_dev", "tag_set",
           "checkpoint_path"]


@dataclass
class TrainResult:
    best_dev_f1: float
    best_epoch: int
    epochs_run: int
    interrupted: bool
    seconds: float
    tokens_per_second: float
    path: Path | None
    log: list[dict] = field(default_factory=list)


class LossNotFinite(NerwinError):
    def __init__(self, value: float, epoch: int, step: int):
        super().__init__(f"loss became {value} at epoch {epoch}, step {step}")


# ---- the data ------------------------------------------------------------------------------------

def tag_set(sequences: Sequence[Sequence[str]], known: Sequence[str] = ()) -> list[str]:
    """The IOB2 tags of a corpus in a stable order: O, then B-/I- of each type alphabetically. With
    `known` (the tags of a model that training continues from), those come first, in their order, and
    only the new types' tags follow: the model's output rows keep their meaning."""
    types = sorted({parse_tag(t)[1] for seq in sequences for t in seq} - {None})
    tags = ["O"] + [f"{p}-{k}" for k in types for p in "BI"]
    return [*known, *(t for t in tags if t not in known)] if known else tags


@dataclass
class TrainingData:
    """A corpus made ready for training: feature ids of both splits, the tags the model outputs, and
    what its dev predictions are scored against."""

    featurizer: Featurizer
    tags: list[str]              # the model's tags (`binary.TAGS` for the binary variant)
    train: Encoded               # the training words, with their tag ids (unless binary)
    dev: Encoded
    dev_gold: list[list[str]]
    dev_targets: np.ndarray      # what the dev loss is measured against: tag ids (or the binary 0/1 targets)
    word_column: int             # which feature column holds the words
    singleton: np.ndarray        # per word id: seen once in training (trained as UNK at `unk_rate`)
    binary_targets: np.ndarray | None  # the binary variant's 0/1 target for each training word
    start: np.ndarray            # the IOB2 constraints (0 or FORBIDDEN) a CRF's learned scores add to
    trans: np.ndarray
    first_pass: Tagger | None = None  # a two-pass model's first pass (the featurizer has document columns)

    def tagger(self, model: WindowModel, config: dict) -> Tagger:
        """The tagger these data and `model`'s weights make (a two-pass one with its first pass)."""
        return Tagger(self.featurizer, model, self.tags, config, first_pass=self.first_pass)


def prepare(corpus: Corpus, config: TrainConfig, init: Tagger | None = None,
            first_pass: tuple[Tagger, dict[str, list[list[str]]]] | None = None) -> TrainingData:
    """Vocabularies from the training words; both splits as feature ids; the tag set; singleton words.

    With `init` (a model training continues from), its vocabularies and tags come first and the new
    data's keys and tags are appended to them. With `first_pass` (a two-pass model's first pass, and its
    tags of each split's sentences, "train" and "validation"), the document columns
    (`nerwin.documents`) follow the token columns, their ids made from those tags by document."""
    train_tokens, train_tags = [s.tokens for s in corpus["train"]], [s.tags for s in corpus["train"]]
    dev_tokens, dev_tags = [s.tokens for s in corpus["validation"]], [s.tags for s in corpus["validation"]]
    tags = tag_set(train_tags, init.tags if init is not None else ())
    unseen = sorted({t for seq in dev_tags for t in seq} - set(tags))
    if unseen:
        raise NerwinError(f"validation data has tags never seen in training: {', '.join(unseen)}")
    if init is not None:
        featurizer = init.featurizer.extended(train_tokens)
    else:
        featurizer = Featurizer.build(train_tokens, config.feature_dims(), config.window)
    is_binary = config.task == "binary"
    tag_index = {t: i for i, t in enumerate(tags)}
    context: dict[str, np.ndarray | None] = {"train": None, "validation": None}
    docs = {split: np.array([s.doc for s in corpus[split]], dtype=np.int64) for split in context}
    if first_pass is not None and config.lone > 0 and len(docs["train"]):
        # some training sentences read alone, as a one-sentence document (a text or a line) is at tag time
        lone = np.random.default_rng([config.seed, 23]).random(len(docs["train"])) < config.lone
        docs["train"][lone] = docs["train"].max() + 1 + np.arange(int(lone.sum()))
    if first_pass is not None:
        from .documents import DocumentFeatures

        documents = DocumentFeatures(tags)
        featurizer = Featurizer(featurizer.columns + documents.columns(config.doc_dim), featurizer.half)
        for split, found in first_pass[1].items():
            sentences = corpus[split]
            context[split] = documents.ids(
                [t for s in sentences for t in s.tokens], np.array([tag_index[t] for s in found for t in s]),
                np.array([len(s.tokens) for s in sentences]), docs[split])
    words = first_pass is not None
    train = featurizer.encode(train_tokens, None if is_binary else [[tag_index[t] for t in s] for s in train_tags],
                              context["train"], docs["train"], words)
    dev = featurizer.encode(dev_tokens, None, context["validation"], docs["validation"], words)

    word_column = [c.name for c in featurizer.columns].index("word")
    words = featurizer.columns[word_column]
    counts = Counter(words.key(t) for s in train_tokens for t in s)
    singleton = np.zeros(len(words.vocab), dtype=bool)
    for key, idx in words.index.items():
        singleton[idx] = counts.get(key, 0) == 1
    if is_binary:
        tags, dev_gold, targets = binary.TAGS, binary.gold(dev_tags), binary.targets(train_tags)
        dev_targets = binary.targets(dev_tags)
    else:
        dev_gold, targets = dev_tags, None
        dev_targets = np.array([tag_index[t] for s in dev_tags for t in s], dtype=np.int64)
    start, trans = allowed_transitions(tags)
    return TrainingData(featurizer, tags, train, dev, dev_gold, dev_targets, word_column, singleton, targets,
                        start, trans, None if first_pass is None else first_pass[0])


class Rngs(NamedTuple):
    """The run's random generators, one per use, all from the seed."""

    init: np.random.Generator     # initial weights
    dropout: np.random.Generator  # dropout masks
    order: np.random.Generator    # the order of the training words
    unk: np.random.Generator      # words trained as UNK

    @classmethod
    def from_seed(cls, seed: int) -> Rngs:
        return cls(*[np.random.default_rng([seed, i]) for i in range(4)])


def build_model(data: TrainingData, config: TrainConfig, rngs: Rngs) -> WindowModel:
    """The window network for these features and tags, initialized from `rngs.init`."""
    columns = data.featurizer.columns
    n_out = 1 if config.task == "binary" else len(data.tags)
    second = data.first_pass is not None and config.second_hidden > 0  # a two-pass model's second network
    model = WindowModel([len(c.vocab) for c in columns], [c.dim for c in columns], data.featurizer.width,
                        config.second_hidden if second else config.hidden, n_out, config.activation, config.dropout,
                        rngs.init, crf=config.crf, input_dropout=config.input_dropout)
    model.dropout.rng = model.input_dropout.rng = rngs.dropout
    return model


# ---- continuing from a finished model ----------------------------------------------------------------

_SHAPE_FIELDS = {"word": "word_dim", "caps": "caps_dim", "suffix3": "suffix_dim", "prefix3": "prefix_dim",
                 "shape": "shape_dim"}


def continue_config(config: TrainConfig, init: Tagger) -> TrainConfig:
    """`config` with the network's shape taken from the model training continues from (window, feature
    columns and sizes, hidden layer, activation, CRF): only how to train comes from `config`."""
    if init.binary:
        raise NerwinError("--init-model takes a tagger, not the binary (LOC) variant")
    if init.first_pass is not None:
        raise NerwinError("--init-model continues a one-pass model; a two-pass model is trained from scratch "
                          "(nerwin train --two-pass)")
    dims = {c.name: c.dim for c in init.featurizer.columns}
    shape = {name: dims.pop(column, 0) for column, name in _SHAPE_FIELDS.items()}
    net = init.model.hparams()
    return replace(config, window=init.featurizer.half, features=dims, hidden=net["hidden"],
                   activation=net["activation"], crf=net["crf"], task="tags", **shape)


def start_from(model: WindowModel, init: Tagger, tags: Sequence[str]) -> None:
    """Copy a finished model's weights into `model`, a network of the same shape whose tables may have
    more rows (new words, affixes) and whose tag set may have more tags: every old row and tag keeps its
    trained weights, the new ones keep their fresh initial values (the CRF's new scores start at 0)."""
    old = init.model.state_dict()
    new = model.state_dict()
    at = np.array([tags.index(t) for t in init.tags])  # where each old tag sits in the new tag set
    for name, value in old.items():
        if name.startswith("embeddings."):
            new[name][:len(value)] = value
        elif name.startswith("hidden."):
            new[name][...] = value
        elif name == "output.weight":
            new[name][:, at] = value
        elif name == "transitions":
            new[name][np.ix_(at, at)] = value
        else:  # output.bias, start, end: one value per tag
            new[name][at] = value
    model.load_state_dict(new)


# ---- the loop --------------------------------------------------------------------------------------

@dataclass
class LoopState:
    """Where the epoch loop stands; a checkpoint saves it with the weights, the optimizer and the rngs."""

    epoch: int = 0        # epochs finished
    best_f1: float = -1.0
    best_epoch: int = 0
    bad_epochs: int = 0   # epochs since the best one
    snapshots: list[dict[str, np.ndarray]] = field(default_factory=list)  # the last epochs' weights (average)


@dataclass
class Epoch:
    """What `train_epochs` yields after each epoch."""

    epoch: int
    loss: float                     # mean training loss per word
    dev_f1: float                   # strict IOB2 entity F1 on dev of the weights scored
    lr: float                       # the learning rate of this epoch
    seconds: float                  # training time (scoring not included)
    words: int
    improved: bool                  # the best dev F1 so far
    last: bool                      # no epoch follows (the epochs ran out, or the patience)
    weights: dict[str, np.ndarray]  # the weights scored, with `config.average` (else {}: the model's own)
    dev_loss: float = math.nan      # mean loss per dev word of the weights scored, in eval mode (no dropout)
    dev_f1_per_type: dict[str, float] = field(default_factory=dict)  # strict IOB2 F1 on dev of each type

    def log_entry(self) -> dict:
        return {"epoch": self.epoch, "loss": self.loss, "dev_f1": self.dev_f1, "dev_loss": self.dev_loss,
                "dev_f1_per_type": self.dev_f1_per_type, "lr": self.lr, "train_seconds": round(self.seconds, 2),
                "tokens_per_second": round(self.words / self.seconds), "best": self.improved}


def train_epochs(data: TrainingData, model: WindowModel, opt: optim.Adam, rngs: Rngs, config: TrainConfig,
                 state: LoopState, progress: Callable[[dict], None] | None = None) -> Iterator[Epoch]:
    """Train from `state` (which it keeps up to date) an epoch at a time, score each on dev, and yield
    its record; stop after `config.epochs`, or `config.patience` epochs without a better dev F1.

    With `config.average` the mean of the last epochs' weights is scored (and is what to save), while
    training goes on from the model's own: whenever a record is yielded, the model holds its own."""
    while state.epoch < config.epochs and state.bad_epochs < config.patience:
        epoch = state.epoch + 1
        loss, seconds = _train_one_epoch(data, model, opt, rngs, config, epoch, progress)
        if config.average:
            state.snapshots = (state.snapshots + [model.state_dict()])[-config.average:]
        weights = _mean(state.snapshots) if config.average else {}
        with model.use_params(weights):
            dev = score_dev(data, model, config)
        dev_f1 = dev.f1
        improved = dev_f1 > state.best_f1
        if improved:
            state.best_f1, state.best_epoch, state.bad_epochs = dev_f1, epoch, 0
        else:
            state.bad_epochs += 1
        state.epoch = epoch
        lr, stop = opt.lr, state.bad_epochs >= config.patience
        if not stop:
            opt.lr *= config.lr_decay
        yield Epoch(epoch, loss, dev_f1, lr, seconds, len(data.train.positions), improved,
                    stop or epoch == config.epochs, weights, dev.loss, dev.f1_per_type)


def _train_one_epoch(data: TrainingData, model: WindowModel, opt: optim.Adam, rngs: Rngs, config: TrainConfig,
                     epoch: int, progress: Callable[[dict], None] | None) -> tuple[float, float]:
    """One pass over the training words in a new order: (mean loss per word, seconds)."""
    model.train()
    enc, n = data.train, len(data.train.positions)
    total, done, started = 0.0, 0, time.perf_counter()
    for step, (batch, lengths) in enumerate(_batches(enc, rngs.order, config.batch_size, config.crf), start=1):
        windows = enc.windows(enc.positions[batch])
        if config.unk_rate > 0 or config.word_dropout > 0:
            words = windows[data.word_column]
            draw = rngs.unk.random(words.shape)
            words[(data.singleton[words] & (draw < config.unk_rate)) | (draw < config.word_dropout)] = UNK
        targets = data.train.tags[batch] if data.binary_targets is None else data.binary_targets[batch]
        loss = _loss(model, model(windows), targets, lengths, data, config)
        opt.zero_grad()
        loss.backward()
        if config.clip > 0:
            optim.clip_grad_norm(opt.params, config.clip)
        value = loss.item()
        if not math.isfinite(value):
            raise LossNotFinite(value, epoch, step)
        opt.step()
        total += value * len(batch)
        done += len(batch)
        if progress is not None:
            progress({"epoch": epoch, "step": step, "tokens": done, "total": n, "loss": value})
    model.eval()
    return total / n, time.perf_counter() - started


def _loss(model: WindowModel, logits, targets: np.ndarray, lengths: np.ndarray | None, data: TrainingData,
          config: TrainConfig):
    """Mean loss per word of `logits` against `targets` (tag ids, or the binary variant's 0/1); a CRF
    needs the `lengths` of the whole sentences the rows make up."""
    if config.task == "binary":
        return binary.loss(logits, targets)
    if config.crf:  # the learned scores on top of the IOB2 constraints, as decoding uses them
        return crf_nll(logits, F.add(model.start, data.start), F.add(model.transitions, data.trans), model.end,
                       lengths, targets)
    return F.cross_entropy(logits, targets)


def _batches(enc: Encoded, order_rng: np.random.Generator, batch_size: int, by_sentence: bool):
    """(token indices, sentence lengths or None) of each minibatch of an epoch, in a shuffled order.

    Word-level: `batch_size` tokens drawn from anywhere. Sentence-level: whole sentences, in a shuffled
    order, grouped until they hold at least `batch_size` tokens."""
    n = len(enc.positions)
    if not by_sentence:
        order = order_rng.permutation(n)
        for b in range(0, n, batch_size):
            yield order[b:b + batch_size], None
        return
    starts = np.concatenate([[0], np.cumsum(enc.lengths)[:-1]])
    picked: list[int] = []
    tokens = 0
    for s in order_rng.permutation(len(enc.lengths)):
        picked.append(s)
        tokens += int(enc.lengths[s])
        if tokens >= batch_size:
            yield _sentence_tokens(starts, enc.lengths, picked), enc.lengths[picked]
            picked, tokens = [], 0
    if picked:
        yield _sentence_tokens(starts, enc.lengths, picked), enc.lengths[picked]


def _sentence_tokens(starts: np.ndarray, lengths: np.ndarray, picked: list[int]) -> np.ndarray:
    return np.concatenate([np.arange(starts[s], starts[s] + lengths[s]) for s in picked])


def _mean(snapshots: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.mean([s[k] for s in snapshots], axis=0, dtype=np.float64).astype(np.float32)
            for k in snapshots[0]}


class DevScores(NamedTuple):
    f1: float                      # strict IOB2 entity F1, percent
    f1_per_type: dict[str, float]  # the same per entity type
    loss: float                    # mean loss per word, as the training loss but in eval mode


def score_dev(data: TrainingData, model: WindowModel, config: TrainConfig) -> DevScores:
    """Dev scores of the model's weights as they are now (through a Tagger made for them: a Tagger may
    keep copies of the weights it was made with). The network runs over dev once: its outputs give both
    the tags and the loss (the training loss on dev, so the two curves can be compared)."""
    tagger = Tagger(data.featurizer, model, data.tags, {"task": config.task})
    raw = tagger.outputs(data.dev)
    pred = tagger.tag_encoded(data.dev, raw)
    return DevScores(strict_f1(data.dev_gold, pred), strict_f1_by_type(data.dev_gold, pred),
                     _dev_loss(tagger.model, raw, data, config))


def _dev_loss(model: WindowModel, raw: np.ndarray, data: TrainingData, config: TrainConfig) -> float:
    """`_loss` of the network's outputs `raw` on dev, with no graph (a CRF's without its gradients)."""
    if config.crf and config.task != "binary":
        return crf_nll_value(raw, model.start.data + data.start, model.transitions.data + data.trans,
                             model.end.data, data.dev.lengths, data.dev_targets)
    with no_grad():
        return _loss(model, Tensor(raw), data.dev_targets, data.dev.lengths, data, config).item()


def fit(corpus: Corpus, config: TrainConfig, progress: Callable[[dict], None] | None = None,
        epochs: int | None = None) -> Tagger:
    """Train in memory (no files, no O offset): a tagger of the best epoch's weights by dev F1; or, with
    `epochs`, of exactly that many epochs (the mean of the last `config.average`, as scored), dev unused."""
    data = prepare(corpus, config)
    rngs = Rngs.from_seed(config.seed)
    model = build_model(data, config, rngs)
    opt = optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    best, dev = model.state_dict(), {}
    if epochs is not None:
        snapshots: list[dict[str, np.ndarray]] = []
        for epoch in range(1, epochs + 1):
            loss, seconds = _train_one_epoch(data, model, opt, rngs, config, epoch, progress)
            snapshots = (snapshots + [model.state_dict()])[-max(config.average, 1):]
            opt.lr *= config.lr_decay
            if progress is not None:
                progress({"end": True, "epoch": epoch, "loss": loss, "best": False,
                          "tokens_per_second": round(len(data.train.positions) / seconds)})
        best = _mean(snapshots)
    else:
        for record in train_epochs(data, model, opt, rngs, config, LoopState(), progress):
            if record.improved:
                best, dev = (record.weights or model.state_dict()), {"epoch": record.epoch, "f1": record.dev_f1}
            if progress is not None:
                progress({"end": True, **record.log_entry()})
    with model.use_params(best):
        return data.tagger(model, {"task": config.task, "dev": dev})


# ---- the O offset ---------------------------------------------------------------------------------

O_OFFSETS = (-1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0)


def calibrate(out: Path, data: TrainingData) -> float:
    """Lower the O tag's output score of the saved model by the offset (of `O_OFFSETS`) that gives the
    best dev F1, and save it so; returns that F1.

    A model trained on data where entities are rare says O too often: on WNUT-17 it finds one entity in
    six at 52% precision. Decoding with a lower O score trades precision for recall; the offset is
    chosen on dev, ties going to the smallest shift, and becomes part of the output layer's bias, so
    tagging needs nothing new."""
    tagger = Tagger.load(out)
    model, o = tagger.model, data.tags.index("O")
    bias = model.output.bias.data
    raw = tagger.outputs(data.dev)  # the network once: lowering O's bias lowers O's output by as much

    def f1_at(offset: float) -> float:
        moved = raw.copy()
        moved[:, o] -= offset
        return strict_f1(data.dev_gold, tagger.tag_encoded(data.dev, moved))

    def shifted(offset: float) -> dict[str, np.ndarray]:
        moved = bias.copy()
        moved[o] -= offset
        return {"output.bias": moved}

    f1, _, offset = max((f1_at(offset), -abs(offset), offset) for offset in O_OFFSETS)
    dev = dict(tagger.config.get("dev", {}))
    dev.update(f1=f1, o_offset=offset, f1_before_offset=dev.get("f1"))
    dev.pop("conlleval_f1", None)  # of the weights before the offset
    with model.use_params(shifted(offset)):
        Tagger(tagger.featurizer, model, tagger.tags, {**tagger.config, "dev": dev},
               first_pass=tagger.first_pass).save(out)
    return f1


def caseless_config(config: TrainConfig) -> TrainConfig:
    """The settings of a caseless companion: one pass, the same columns but capitalization and shape (every
    other column reads the lowercased word), no O offset."""
    features = {k: v for k, v in config.features.items() if k not in ("caps", "shape")}
    return replace(config, two_pass=False, caseless=False, calibrate=False, caps_dim=0, shape_dim=0,
                   features=features, case_copies=[])


def add_caseless(out: Path, corpus: Corpus, config: TrainConfig,
                 progress: Callable[[dict], None] | None = None) -> None:
    """Train a caseless companion on the same data and add it to the model in `out` (`Tagger.caseless`):
    documents without the usual capitals go to it when tagging."""
    companion = fit(corpus, caseless_config(config),
                    None if progress is None else (lambda event: progress({**event, "stage": "caseless"})))
    tagger = Tagger.load(out)
    Tagger(tagger.featurizer, tagger.model, tagger.tags, tagger.config, first_pass=tagger.first_pass,
           caseless=companion).save(out)


# ---- checkpoints -----------------------------------------------------------------------------------

def checkpoint_path(out: Path) -> Path:
    """Where training keeps its resumable state: a folder beside the model."""
    return out.with_name(out.name + ".checkpoint")


def _save_checkpoint(path: Path, model: WindowModel, opt: optim.Adam, rngs: Rngs, state: LoopState,
                     log: list[dict], fingerprint: dict) -> None:
    arrays = {f"model.{k}": v for k, v in model.state_dict().items()}
    for i, snap in enumerate(state.snapshots):
        arrays.update({f"snapshot{i}.{k}": v for k, v in snap.items()})
    arrays.update({f"optim.{k}": np.asarray(v) for k, v in opt.state_dict().items()})
    loop = {"epoch": state.epoch, "best_f1": state.best_f1, "best_epoch": state.best_epoch,
            "bad": state.bad_epochs, "log": log, "fingerprint": fingerprint,
            "rngs": [r.bit_generator.state for r in rngs], "lr": opt.lr}
    save_folder(path, {"checkpoint": loop}, {}, arrays, format=CHECKPOINT_FORMAT)


def _load_checkpoint(path: Path, model: WindowModel, opt: optim.Adam, rngs: Rngs,
                     fingerprint: dict) -> tuple[LoopState, list[dict]]:
    config, _, arrays = load_folder(path, format=CHECKPOINT_FORMAT)
    loop = config.get("checkpoint", {})
    if loop.get("fingerprint") != json.loads(json.dumps(fingerprint)):
        raise NerwinError(f"{path}: made with other settings or data; resume with the same ones")
    snapshots: dict[int, dict[str, np.ndarray]] = {}
    for key, value in arrays.items():
        if key.startswith("snapshot"):
            head, name = key.split(".", 1)
            snapshots.setdefault(int(head[8:]), {})[name] = value
    try:
        model.load_state_dict({k[6:]: v for k, v in arrays.items() if k.startswith("model.")})
        opt.load_state_dict({k[6:]: v for k, v in arrays.items() if k.startswith("optim.")})
        for r, saved in zip(rngs, loop["rngs"]):
            r.bit_generator.state = saved
        opt.lr = float(loop["lr"])
        state = LoopState(loop["epoch"], loop["best_f1"], loop["best_epoch"], loop["bad"],
                          [snapshots[i] for i in sorted(snapshots)])
    except (KeyError, ValueError, TypeError) as e:
        raise NerwinError(f"{path}: checkpoint does not match this training run ({e})") from None
    return state, loop["log"]


# ---- a run -----------------------------------------------------------------------------------------

def _draw_curves(path: Path, log: dict) -> None:
    """The run's curves so far, written atomically over the last epoch's picture."""
    from .curves import curves_svg

    with atomic_text(path, force=True) as f:
        f.write(curves_svg(log))


def train(corpus: Corpus | Callable[[], Corpus], out: str | Path | None, config: TrainConfig | None = None, *,
          force: bool = False, log_path: str | Path | None = None, progress: Callable[[dict], None] | None = None,
          command: str | None = None, resume: bool = False, curves_path: str | Path | None = None,
          init_model: str | Path | None = None, name: str | None = None, version: str | None = None,
          data_files: dict | None = None, workers: int = 1) -> TrainResult:
    """Train on corpus["train"], pick the epoch by dev F1 on corpus["validation"], save the best to `out`.

    `corpus` may also be a function that loads it: it is called once the options and the output folder
    have been checked, so that a mistake in either is reported before a long download.

    `progress` is called after every batch with {"epoch", "step", "tokens", "loss", ...} and after every
    epoch with {"epoch", "dev_f1", ...} (key "end"). Ctrl-C stops training and keeps the best model.

    After each epoch the full training state (weights, optimizer moments, random generators, log) is
    saved to `OUT.checkpoint`; `resume=True` continues from it and ends with the same weights as a run
    that was never interrupted. The checkpoint is removed when training ends normally.

    `curves_path`: a picture of the log (`nerwin.curves`, SVG) redrawn there after each epoch; an
    existing file is replaced only with `force` or `resume`.

    `init_model` continues from a finished model (see `prepare` and `start_from`): its weights, features
    and tags, the tables grown for the new data's words, affixes and labels; the network's shape is the
    model's (`continue_config`), the rest of `config` says how to train.

    A two-pass model (`config.two_pass`) first trains its first pass and the fold models of its
    cross-validated tags (`nerwin.two_pass`), the fold models on `workers` processes.

    `config.case_copies` adds to the training sentences (never to dev) a copy of each re-cased each of
    those ways (`nerwin.casing.augment`), every copy a document of its own.

    When training ends, the model folder gets its card (`nerwin.card`): README.md and scores.json with
    `name` (default: the folder's name) and `version`, the labels, the data (`data_files`: split ->
    `nerwin.card.file_facts` or a description of the source), `command`, and dev (and test) scores.
    """
    config = config or TrainConfig()
    init = Tagger.load(init_model) if init_model is not None else None
    if init is not None:
        config = continue_config(config, init)
    config.check()
    out = Path(out) if out is not None else None
    ckpt = checkpoint_path(out) if out is not None else None
    if resume:
        if ckpt is None or not (ckpt / "config.json").is_file():
            raise NerwinError(f"{ckpt}: no checkpoint to resume from")
    elif out is not None:
        check_writable(out, force)
    for beside in (log_path, curves_path):  # the log and its picture are never replaced silently either
        if beside is not None and Path(beside).exists() and not (force or resume):
            raise NerwinError(f"{beside}: already exists; pass --force to replace it")
    corpus = corpus() if callable(corpus) else corpus
    trained_on = augment(corpus, config.case_copies)  # the card describes `corpus`, the files as read
    if config.two_pass:
        from .two_pass import first_pass

        if init is not None:
            raise NerwinError("--init-model continues a one-pass model; a two-pass model is trained from scratch")
        data = prepare(trained_on, config, None, first_pass(trained_on, config, progress, workers))
    else:
        data = prepare(trained_on, config, init)
    rngs = Rngs.from_seed(config.seed)
    model = build_model(data, config, rngs)
    if init is not None:
        start_from(model, init, data.tags)
    opt = optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    fingerprint = {"config": asdict(config), "tokens": len(data.train.positions),
                   "vocab": [len(c.vocab) for c in data.featurizer.columns]}
    state, log = LoopState(), []
    if resume:
        state, log = _load_checkpoint(ckpt, model, opt, rngs, fingerprint)
    about = {"task": config.task, "tags": data.tags, "nerwin_version": __version__, "training": asdict(config),
             "command": command}
    if init is not None:
        about["continued_from"] = {"model": portable_path(init_model), "tags": init.tags,
                                   "name": (read_card(init_model) or {}).get("name") or Path(init_model).name}

    started = time.perf_counter()
    here: list[Epoch] = []  # the epochs of this call (a resumed run's log has the earlier ones too)
    interrupted = False
    try:
        for record in train_epochs(data, model, opt, rngs, config, state, progress):
            here.append(record)
            log.append(record.log_entry())
            if record.improved and out is not None:
                with model.use_params(record.weights):
                    dev = {"epoch": record.epoch, "f1": record.dev_f1}
                    data.tagger(model, {**about, "dev": dev}).save(out)
            if log_path is not None:
                write_json_atomic(Path(log_path), {"config": asdict(config), "epochs": log})
            if curves_path is not None:
                _draw_curves(Path(curves_path), {"config": asdict(config), "epochs": log})
            if progress is not None:
                progress({"end": True, **log[-1]})
            if ckpt is not None and not record.last:
                _save_checkpoint(ckpt, model, opt, rngs, state, log, fingerprint)
    except KeyboardInterrupt:
        interrupted = True
    except LossNotFinite as e:
        raise NerwinError(f"{e}; training stopped (the best model so far is kept{f' in {out}' if out else ''}); "
                          "try a smaller --lr") from None
    if not interrupted and ckpt is not None:
        shutil.rmtree(ckpt, ignore_errors=True)
    if out is not None and state.best_epoch > 0 and config.calibrate and config.task == "tags":
        state.best_f1 = calibrate(out, data)
    if out is not None and state.best_epoch > 0 and config.caseless and not interrupted:
        add_caseless(out, trained_on, config, progress)
    if out is not None and state.best_epoch > 0 and config.task == "tags":
        card = card_data(Tagger.load(out), corpus, name=name or out.name, version=version, data=data_files,
                         command=command)
        write_card(out, card, asdict(config))
    seconds = sum(r.seconds for r in here)
    return TrainResult(state.best_f1, state.best_epoch, len(log), interrupted, time.perf_counter() - started,
                       sum(r.words for r in here) / seconds if seconds else 0.0, out, log)
