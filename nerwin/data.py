"""Read NER data from any source nerwin takes, always as IOB2 Sentences: the one entry train and evaluate use.

Every source gives one shape, a `Corpus`: {"train", "validation", maybe "test"} -> list of `Sentence`.
`load_corpus` picks the source: a folder, named files, a hub dataset by id, the folder named by
``NERWIN_DATA``, CoNLL-2003 from the hub (pinned id and revision). Files are column files (CoNLL and
its cousins, tags in any scheme) or JSONL of text and character spans, as `DataOptions` say; the readers
live in `nerwin.readers`. Without a dev file, ``dev_split`` sets a fraction of the training data apart.
Every problem raises NerwinError with one message, ``file:line: problem`` where a line is to blame.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass
from pathlib import Path

from nerwin.errors import NerwinError
from nerwin.readers.columns import read_conll
from nerwin.readers.hub import (  # datasets itself is imported only when a hub dataset is loaded
    HUB_DATA_DIR,
    HUB_DATASET,
    HUB_REVISION,
    convert_hub_corpus,
    load_conll2003,
    load_hub,
)
from nerwin.readers.lines import text_lines
from nerwin.readers.spans import read_jsonl
from nerwin.sentences import Corpus, Sentence
from nerwin.tags import parse_tag

__all__ = [
    "DATA_ENV",
    "FORMATS",
    "HUB_DATASET",
    "HUB_DATA_DIR",
    "HUB_REVISION",
    "SPLIT_NAMES",
    "Corpus",
    "DataOptions",
    "Sentence",
    "convert_hub_corpus",
    "find_split_files",
    "load_corpus",
    "load_files",
    "read_conll",
    "read_data",
    "read_hub_split",
    "split_dev",
]

DATA_ENV = "NERWIN_DATA"
FORMATS = ("auto", "conll", "jsonl")
_JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")

# Accepted file names per split, in order of preference; each also with a suffix of _SUFFIXES appended.
SPLIT_NAMES: dict[str, tuple[str, ...]] = {
    "train": ("train", "eng.train"),
    "validation": ("valid", "dev", "validation", "testa", "eng.testa"),
    "test": ("test", "testb", "eng.testb"),
}
_SUFFIXES = ("", ".txt", ".conll", ".tsv", ".jsonl")


@dataclass(frozen=True)
class DataOptions:
    """How to read data, the same for `nerwin train` and `nerwin evaluate` (each field is a CLI option).

    format: "conll" (column files), "jsonl" (text and character spans) or "auto" (JSONL for .jsonl,
    .ndjson and .json files or a first line that is a JSON object, else columns). scheme: the tag scheme
    of column files and hub datasets ("auto": detected). token_column, tag_column: 1-based column numbers
    (negative: from the end; tag_column None: the last). snap: widen JSONL spans that cut tokens to the
    tokens' boundaries instead of refusing them. tokens_column, tags_column: a hub dataset's column names
    (tags_column None: the first of ner_tags, tags, ner)."""

    format: str = "auto"
    scheme: str = "auto"
    token_column: int = 1
    tag_column: int | None = None
    snap: bool = False
    tokens_column: str = "tokens"
    tags_column: str | None = None


def _format_of(path: Path, options: DataOptions) -> str:
    if options.format not in FORMATS:
        raise NerwinError(f"unknown data format {options.format!r}: expected one of {', '.join(FORMATS)}")
    if options.format != "auto":
        return options.format
    if path.suffix.lower() in _JSONL_SUFFIXES:
        return "jsonl"
    try:
        first = next((text for _, text in text_lines(path) if text.strip()), "")
    except NerwinError:  # missing, unreadable or not UTF-8: the column reader says so
        return "conll"
    try:
        return "jsonl" if isinstance(json.loads(first), dict) else "conll"
    except json.JSONDecodeError:
        return "conll"


def read_data(path: str | Path, options: DataOptions | None = None) -> list[Sentence]:
    """The IOB2 Sentences of one data file, column file or JSONL, as `options` say."""
    path, options = Path(path), options or DataOptions()
    if _format_of(path, options) == "jsonl":
        if options.scheme != "auto" or options.token_column != 1 or options.tag_column is not None:
            raise NerwinError(f"{path}: JSONL spans have no columns or tag scheme; --scheme, --token-column "
                              "and --tag-column are for column files")
        return read_jsonl(path, snap=options.snap)
    return read_conll(path, token_column=options.token_column, tag_column=options.tag_column,
                      scheme=options.scheme)


def find_split_files(folder: str | Path) -> dict[str, Path]:
    """Map 'train', 'validation' and 'test' to the files of a folder that hold them (those found).

    Accepted names: train / eng.train; valid, dev, validation, testa / eng.testa; test, testb / eng.testb;
    each optionally ending in .txt, .conll, .tsv or .jsonl (case does not matter). A missing train file
    is an error.
    """
    folder = Path(folder)
    if not folder.exists():
        raise NerwinError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise NerwinError(
            f"{folder}: not a folder (expected a folder holding train.txt, valid.txt, test.txt)"
        )
    files = {p.name.lower(): p for p in sorted(folder.iterdir()) if p.is_file()}
    found: dict[str, Path] = {}
    for split, names in SPLIT_NAMES.items():
        for name in names:
            match = next((files[name + s] for s in _SUFFIXES if name + s in files), None)
            if match is not None:
                found[split] = match
                break
    if "train" not in found:
        raise NerwinError(
            f"{folder}: no training file; expected one of {', '.join(SPLIT_NAMES['train'])} "
            "(optionally ending in .txt, .conll, .tsv or .jsonl), beside valid.txt/dev.txt/eng.testa and "
            "test.txt/eng.testb"
        )
    return found


def _folder_files(folder: Path, dev_split: float | None) -> dict[str, Path]:
    files = find_split_files(folder)
    if "validation" not in files and dev_split is None:
        raise NerwinError(
            f"{folder}: no validation file; expected one of {', '.join(SPLIT_NAMES['validation'])} "
            "(optionally ending in .txt, .conll, .tsv or .jsonl), or set part of train apart with --dev-split"
        )
    return files


def _read_splits(files: dict[str, Path], options: DataOptions) -> Corpus:
    """Read the file of each split. A validation or test tag whose entity type never occurs in the
    training file is an error naming its file and line (the model could never predict it)."""
    splits = {split: read_data(path, options) for split, path in files.items()}
    seen = {None} | {parse_tag(t)[1] for s in splits["train"] for t in s.tags}  # None: the type of O
    for split, sentences in splits.items():
        if split == "train":
            continue
        for sentence in sentences:
            for i, tag in enumerate(sentence.tags):
                if parse_tag(tag)[1] not in seen:
                    raise NerwinError(f"{files[split]}:{sentence.token_line(i)}: tag {tag!r} never occurs in "
                                      f"the training file {files['train']}")
    return splits


def split_dev(sentences: list[Sentence], fraction: float, seed: int = 0) -> tuple[list[Sentence], list[Sentence]]:
    """(train, dev): a `fraction` of the sentences set apart as dev, the same for the same seed.

    Whole documents go to dev where the data has several (``-DOCSTART-`` lines, JSONL records), so that
    no document is split between train and dev; else sentences. At least one unit goes each way; both
    keep the order of the file."""
    if not 0.0 < fraction < 1.0:
        raise NerwinError(f"--dev-split must be a fraction between 0 and 1, got {fraction}")
    docs = sorted({s.doc for s in sentences})
    by_doc = len(docs) > 1
    units = docs if by_doc else list(range(len(sentences)))
    if len(units) < 2:
        raise NerwinError("cannot set a dev part apart: the training data has a single sentence")
    count = min(max(1, round(fraction * len(units))), len(units) - 1)
    chosen = set(random.Random(seed).sample(units, count))
    dev = [s for i, s in enumerate(sentences) if (s.doc if by_doc else i) in chosen]
    train = [s for i, s in enumerate(sentences) if (s.doc if by_doc else i) not in chosen]
    return train, dev


def read_hub_split(spec: str, split: str, options: DataOptions | None = None) -> list[Sentence]:
    """One split ("train", "validation", "test"...) of a hub dataset by id, as `nerwin evaluate --hub` reads it."""
    options = options or DataOptions()
    corpus = load_hub(spec, tokens_column=options.tokens_column, tags_column=options.tags_column,
                      scheme=options.scheme)
    if split not in corpus:
        raise NerwinError(f"{spec}: no split {split!r} (it has {', '.join(sorted(corpus))})")
    return corpus[split]


def load_corpus(source: str | Path | None = None, *, train_file: str | Path | None = None,
                dev_file: str | Path | None = None, test_file: str | Path | None = None,
                hub: str | None = None, options: DataOptions | None = None, dev_split: float | None = None,
                seed: int = 0) -> Corpus:
    """Splits ``train``, ``validation`` and (if there is one) ``test``, as lists of IOB2 Sentences.

    From, in order: the folder ``source`` (see `find_split_files`); the files ``train_file``,
    ``dev_file`` and ``test_file``; the hub dataset ``hub`` (``NAME`` or ``NAME:CONFIG``); the folder
    named by ``NERWIN_DATA``; CoNLL-2003 from the Hugging Face hub (pinned ``HUB_DATASET`` at
    ``HUB_REVISION``). Files are read as `options` say. Without a dev file or split, ``dev_split`` sets
    that fraction of the training data apart (by document where there are several; the same for the
    same ``seed``); with one, it is an error.
    """
    options = options or DataOptions()
    if dev_file is not None and train_file is None:
        raise NerwinError("a dev file goes with a training file (--train-file with --dev-file)")
    if train_file is not None and dev_file is None and dev_split is None:
        raise NerwinError("a training file goes with a dev file (--train-file and --dev-file), "
                          "or with --dev-split FRACTION to set part of it apart")
    if hub is None and (options.tokens_column != "tokens" or options.tags_column is not None):
        raise NerwinError("--tokens-column and --tags-column name the columns of a hub dataset (--hub); "
                          "for column files, give column numbers with --token-column and --tag-column")
    if source is not None:
        corpus = _read_splits(_folder_files(Path(source), dev_split), options)
    elif train_file is not None:
        files = {"train": train_file, "validation": dev_file, "test": test_file}
        corpus = _read_splits({k: Path(v) for k, v in files.items() if v is not None}, options)
    elif hub is not None:
        corpus = load_hub(hub, tokens_column=options.tokens_column, tags_column=options.tags_column,
                          scheme=options.scheme)
    elif os.environ.get(DATA_ENV):
        corpus = _read_splits(_folder_files(Path(os.environ[DATA_ENV]), dev_split), options)
    else:
        corpus = load_conll2003()
    return _with_dev(corpus, dev_split, seed)


def _with_dev(corpus: Corpus, dev_split: float | None, seed: int) -> Corpus:
    if dev_split is None:
        if "validation" not in corpus:
            raise NerwinError(f"the data has no dev split (it has {', '.join(sorted(corpus))}); "
                              "set part of train apart with --dev-split FRACTION")
        return corpus
    if "validation" in corpus:
        raise NerwinError("--dev-split is for data without a dev file, and this data has one")
    corpus["train"], corpus["validation"] = split_dev(corpus["train"], dev_split, seed)
    return corpus


def load_files(train: str | Path, validation: str | Path, test: str | Path | None = None,
               options: DataOptions | None = None) -> Corpus:
    """The corpus of files named one by one (what `load_corpus` returns)."""
    return load_corpus(train_file=train, dev_file=validation, test_file=test, options=options)
