"""Training the window tagger: minibatch Adam on softmax cross-entropy, early stopping on dev F1.

    >>> from nerwin.data import load_corpus
    >>> from nerwin.training import TrainConfig, train
    >>> result = train(load_corpus("data/conll2003"), "models/mine", TrainConfig(epochs=10))

The best model (by dev F1) is written atomically each time it improves, so an interrupted run
(Ctrl-C, a crash, a kill) leaves the best model so far on disk. Same seed, same data, same model.
"""
from __future__ import annotations

import json
import math
import shutil
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from . import __version__, optim
from .autodiff import functions as F
from .errors import NerwinError
from .features import KEYS, UNK, Featurizer
from .metrics import strict_f1
from .model import WindowModel
from .serialize import check_writable, load_folder, save_folder, write_json_atomic
from .tagger import Tagger
from .tags import parse_tag

__all__ = ["TrainConfig", "TrainResult", "train", "tag_set", "corpus_split"]


@dataclass
class TrainConfig:
    """Hyper-parameters of the window tagger and its training (defaults: the shipped model)."""

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
    task: str = "tags"         # "tags" (IOB2 tagger) or "binary" (is the centre word a LOC?)
    crf: bool = False          # sentence-level training: tag transitions, forward algorithm, Viterbi
    average: int = 0           # score and save the mean of the last N epochs' weights (0 = off)

    def check(self) -> None:
        if self.window < 0 or self.hidden < 1 or self.batch_size < 1 or self.epochs < 1 or self.word_dim < 1:
            raise NerwinError("window >= 0, hidden, batch size, epochs and word dim >= 1 are required")
        rates = (self.dropout, self.input_dropout, self.word_dropout)
        if not (all(0.0 <= r < 1.0 for r in rates) and 0.0 <= self.unk_rate <= 1.0):
            raise NerwinError("dropout, input dropout and word dropout must be in [0, 1), unk rate in [0, 1]")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise NerwinError(f"learning rate must be positive, got {self.lr}")
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


def corpus_split(corpus, name: str) -> tuple[list[list[str]], list[list[str]]]:
    """(tokens, tags) lists of a split of a DatasetDict (or a dict of Sentence lists)."""
    split = corpus[name]
    if hasattr(split, "column_names"):
        return [list(t) for t in split["tokens"]], [list(t) for t in split["tags"]]
    return [s.tokens for s in split], [s.tags for s in split]


def tag_set(sequences: Sequence[Sequence[str]]) -> list[str]:
    """The IOB2 tags of a corpus in a stable order: O, then B-/I- of each type alphabetically."""
    types = sorted({parse_tag(t)[1] for seq in sequences for t in seq} - {None})
    return ["O"] + [f"{p}-{k}" for k in types for p in "BI"]


def _batches(enc, order_rng: np.random.Generator, batch_size: int, by_sentence: bool):
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


def _binary_targets(tags: list[str]) -> np.ndarray:
    return np.array([1.0 if t.endswith("-LOC") else 0.0 for t in tags], dtype=np.float32)


def _only_loc(seqs: list[list[str]]) -> list[list[str]]:
    return [[t if t.endswith("-LOC") else "O" for t in s] for s in seqs]


def checkpoint_path(out: Path) -> Path:
    """Where training keeps its resumable state: a folder beside the model."""
    return out.with_name(out.name + ".checkpoint")


def _mean(snapshots: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.mean([s[k] for s in snapshots], axis=0, dtype=np.float64).astype(np.float32)
            for k in snapshots[0]}


def _save_checkpoint(path: Path, model, opt, rngs, snapshots, state: dict) -> None:
    arrays = {f"model.{k}": v for k, v in model.state_dict().items()}
    for i, snap in enumerate(snapshots):
        arrays.update({f"snapshot{i}.{k}": v for k, v in snap.items()})
    arrays.update({f"optim.{k}": np.asarray(v) for k, v in opt.state_dict().items()})
    state = {**state, "rngs": [r.bit_generator.state for r in rngs], "lr": opt.lr}
    save_folder(path, {"checkpoint": state}, {}, arrays)


def _load_checkpoint(path: Path, model, opt, rngs) -> tuple[dict, list[dict[str, np.ndarray]]]:
    config, _, arrays = load_folder(path)
    snapshots: dict[int, dict[str, np.ndarray]] = {}
    for key, value in arrays.items():
        if key.startswith("snapshot"):
            head, name = key.split(".", 1)
            snapshots.setdefault(int(head[8:]), {})[name] = value
    try:
        state = config["checkpoint"]
        model.load_state_dict({k[6:]: v for k, v in arrays.items() if k.startswith("model.")})
        opt.load_state_dict({k[6:]: v for k, v in arrays.items() if k.startswith("optim.")})
        for r, saved in zip(rngs, state["rngs"]):
            r.bit_generator.state = saved
        opt.lr = float(state["lr"])
    except (KeyError, ValueError, TypeError) as e:
        raise NerwinError(f"{path}: checkpoint does not match this training run ({e})") from None
    return state, [snapshots[i] for i in sorted(snapshots)]


def train(corpus, out: str | Path | None, config: TrainConfig | None = None, *, force: bool = False,
          log_path: str | Path | None = None, progress: Callable[[dict], None] | None = None,
          command: str | None = None, resume: bool = False) -> TrainResult:
    """Train on corpus["train"], pick the epoch by dev F1 on corpus["validation"], save the best to `out`.

    `progress` is called after every batch with {"epoch", "step", "tokens", "loss", ...} and after every
    epoch with {"epoch", "dev_f1", ...} (key "end"). Ctrl-C stops training and keeps the best model.

    After each epoch the full training state (weights, optimizer moments, random generators, log) is
    saved to `OUT.checkpoint`; `resume=True` continues from it and ends with the same weights as a run
    that was never interrupted. The checkpoint is removed when training ends normally.
    """
    config = config or TrainConfig()
    config.check()
    out = Path(out) if out is not None else None
    ckpt = checkpoint_path(out) if out is not None else None
    if resume:
        if ckpt is None or not (ckpt / "config.json").is_file():
            raise NerwinError(f"{ckpt}: no checkpoint to resume from")
    elif out is not None:
        check_writable(out, force)
    train_tokens, train_tags = corpus_split(corpus, "train")
    dev_tokens, dev_tags = corpus_split(corpus, "validation")
    tags = tag_set(train_tags)
    unseen = sorted({t for seq in dev_tags for t in seq} - set(tags))
    if unseen:
        raise NerwinError(f"validation data has tags never seen in training: {', '.join(unseen)}")
    tag_index = {t: i for i, t in enumerate(tags)}

    featurizer = Featurizer.build(train_tokens, config.feature_dims(), config.window)
    enc = featurizer.encode(train_tokens, [[tag_index[t] for t in seq] for seq in train_tags])
    dev_enc = featurizer.encode(dev_tokens)
    word_col = [c.name for c in featurizer.columns].index("word")
    counts = Counter(featurizer.columns[word_col].key(t) for s in train_tokens for t in s)
    singleton = np.zeros(len(featurizer.columns[word_col].vocab), dtype=bool)
    for key, idx in featurizer.columns[word_col].index.items():
        singleton[idx] = counts.get(key, 0) == 1
    binary_y = _binary_targets([t for seq in train_tags for t in seq]) if config.task == "binary" else None

    rngs = rng_init, rng_drop, rng_order, rng_unk = [np.random.default_rng([config.seed, i]) for i in range(4)]
    n_out = 1 if config.task == "binary" else len(tags)
    model = WindowModel([len(c.vocab) for c in featurizer.columns], [c.dim for c in featurizer.columns],
                        featurizer.width, config.hidden, n_out, config.activation, config.dropout, rng_init,
                        crf=config.crf, input_dropout=config.input_dropout)
    model.dropout.rng = model.input_dropout.rng = rng_drop
    opt = optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    saved_config = {"task": config.task, "tags": tags, "nerwin_version": __version__,
                    "network": {"hidden": config.hidden, "activation": config.activation,
                                "dropout": config.dropout, "crf": config.crf,
                                "input_dropout": config.input_dropout},
                    "training": asdict(config), "command": command}
    tagger = Tagger(featurizer, model, tags, saved_config)

    dev_gold = _only_loc(dev_tags) if config.task == "binary" else dev_tags
    log: list[dict] = []
    best_f1, best_epoch, epoch, bad_epochs, interrupted, first = -1.0, 0, 0, 0, False, 1
    snapshots: list[dict[str, np.ndarray]] = []  # the last epochs' weights, for config.average
    n = len(enc.positions)
    fingerprint = {"config": asdict(config), "tokens": n, "vocab": [len(c.vocab) for c in featurizer.columns]}
    if resume:
        state, snapshots = _load_checkpoint(ckpt, model, opt, rngs)
        if state.get("fingerprint") != json.loads(json.dumps(fingerprint)):
            raise NerwinError(f"{ckpt}: made with other settings or data; resume with the same ones")
        log, best_f1, best_epoch, bad_epochs = state["log"], state["best_f1"], state["best_epoch"], state["bad"]
        first = state["epoch"] + 1
        if state.get("dev"):
            tagger.config["dev"] = state["dev"]
    started = time.perf_counter()
    train_seconds, epochs_here = 0.0, 0
    finished = False
    try:
        if resume and bad_epochs >= config.patience:
            first = config.epochs + 1
        for epoch in range(first, config.epochs + 1):
            model.train()
            total_loss, t0, done = 0.0, time.perf_counter(), 0
            for step, (batch, lengths) in enumerate(_batches(enc, rng_order, config.batch_size, config.crf),
                                                    start=1):
                windows = enc.windows(enc.positions[batch])
                if config.unk_rate > 0 or config.word_dropout > 0:
                    w = windows[word_col]
                    draw = rng_unk.random(w.shape)
                    w[(singleton[w] & (draw < config.unk_rate)) | (draw < config.word_dropout)] = UNK
                logits = model(windows)
                if config.crf:
                    loss = F.crf_nll(logits, F.add(model.start, tagger.start), F.add(model.transitions,
                                     tagger.trans), model.end, lengths, enc.tags[batch])
                elif binary_y is None:
                    loss = F.cross_entropy(logits, enc.tags[batch])
                else:
                    loss = F.binary_cross_entropy_with_logits(logits.reshape(-1), binary_y[batch])
                opt.zero_grad()
                loss.backward()
                if config.clip > 0:
                    optim.clip_grad_norm(opt.params, config.clip)
                value = loss.item()
                if not math.isfinite(value):
                    raise NerwinError(f"loss became {value} at epoch {epoch}, step {step}; training stopped "
                                      f"(the best model so far is kept{f' in {out}' if out else ''}); "
                                      "try a smaller --lr")
                opt.step()
                total_loss += value * len(batch)
                done += len(batch)
                if progress is not None:
                    progress({"epoch": epoch, "step": step, "tokens": done, "total": n, "loss": value})
            epoch_seconds = time.perf_counter() - t0
            train_seconds += epoch_seconds
            epochs_here += 1
            model.eval()
            if config.average:
                snapshots = (snapshots + [model.state_dict()])[-config.average:]
                raw = {name: p.data for name, p in model.named_parameters()}
                model.load_state_dict(_mean(snapshots))
            ids, _ = tagger.predict(dev_enc)
            dev_f1 = strict_f1(dev_gold, tagger._tag_names(ids, dev_enc.lengths))
            improved = dev_f1 > best_f1
            entry = {"epoch": epoch, "loss": total_loss / n, "dev_f1": dev_f1, "lr": opt.lr,
                     "train_seconds": round(epoch_seconds, 2), "tokens_per_second": round(n / epoch_seconds),
                     "best": improved}
            log.append(entry)
            if improved:
                best_f1, best_epoch, bad_epochs = dev_f1, epoch, 0
                if out is not None:
                    tagger.config["dev"] = {"epoch": epoch, "f1": dev_f1}
                    tagger.save(out)
            else:
                bad_epochs += 1
            if config.average:  # training goes on from the raw weights
                for name, p in model.named_parameters():
                    p.data = raw[name]
            if log_path is not None:
                write_json_atomic(Path(log_path), {"config": asdict(config), "epochs": log})
            if progress is not None:
                progress({"end": True, **entry})
            stop = bad_epochs >= config.patience
            if not stop:
                opt.lr *= config.lr_decay
            if ckpt is not None and not stop and epoch < config.epochs:
                _save_checkpoint(ckpt, model, opt, rngs, snapshots, {
                    "epoch": epoch, "best_f1": best_f1, "best_epoch": best_epoch, "bad": bad_epochs, "log": log,
                    "dev": tagger.config.get("dev"), "fingerprint": fingerprint})
            if stop:
                break
        finished = True
    except KeyboardInterrupt:
        interrupted = True
    if finished and ckpt is not None:
        shutil.rmtree(ckpt, ignore_errors=True)
    seconds = time.perf_counter() - started
    return TrainResult(best_f1, best_epoch, len(log), interrupted, seconds,
                       (n * epochs_here / train_seconds) if train_seconds else 0.0, out, log)
