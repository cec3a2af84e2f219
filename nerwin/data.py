"""Read NER data: CoNLL files from a folder, or CoNLL-2003 from the Hugging Face hub, always as IOB2.

Every source gives one shape, a `Corpus`: {"train", "validation", maybe "test"} -> list of `Sentence`.
`load_corpus` picks the source: a folder, named files, the folder named by ``NERWIN_DATA``, the hub
(pinned id and revision). Every problem raises NerwinError with one message, ``file:line: problem``
where a line is to blame.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from nerwin.errors import NerwinError
from nerwin.tags import TAGS_CONLL2003, iob1_to_iob2, is_iob1, parse_tag

if TYPE_CHECKING:
    import datasets

__all__ = [
    "DATA_ENV",
    "HUB_DATASET",
    "HUB_DATA_DIR",
    "HUB_REVISION",
    "SPLIT_NAMES",
    "Corpus",
    "Sentence",
    "convert_hub_corpus",
    "find_split_files",
    "load_corpus",
    "load_files",
    "read_conll",
]

DATA_ENV = "NERWIN_DATA"
# CoNLL-2003 without a loading script: the hub's automatic parquet export of eriktks/conll2003
# (``datasets`` 4+ refuses the script in the main branch). Its ``ner_tags`` are ClassLabel ints.
HUB_DATASET = "eriktks/conll2003"
HUB_REVISION = "refs/convert/parquet"
HUB_DATA_DIR = "conll2003"  # the export's config folder: conll2003/{train,validation,test}/*.parquet
PROBE_TIMEOUT = 3.0  # seconds to reach the hub before giving up

# Accepted file names per split, in order of preference; each also with .txt or .conll appended.
SPLIT_NAMES: dict[str, tuple[str, ...]] = {
    "train": ("train", "eng.train"),
    "validation": ("valid", "dev", "validation", "testa", "eng.testa"),
    "test": ("test", "testb", "eng.testb"),
}
_SUFFIXES = ("", ".txt", ".conll")
_LOCAL_HINT = f"use local CoNLL files instead: --data FOLDER or {DATA_ENV}=FOLDER"


@dataclass
class Sentence:
    """One sentence: tokens, their IOB2 tags, its document index and its first line in the file."""

    tokens: list[str]
    tags: list[str]
    doc: int = 0
    line: int = 0


Corpus = dict[str, list[Sentence]]  # "train", "validation" and maybe "test": what every source gives


def _shorten(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield (line number, text) of a UTF-8 file, without line ends or a leading BOM."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise NerwinError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise NerwinError(f"{path}: is a folder, expected a CoNLL file") from None
    except OSError as exc:
        raise NerwinError(f"{path}: cannot read ({exc.strerror or exc})") from None
    with handle:
        for number, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise NerwinError(
                    f"{path}:{number}: not UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); "
                    "save the file as UTF-8"
                ) from None
            if number == 1:
                text = text.removeprefix("\ufeff")
            yield number, text.rstrip("\r\n")


def read_conll(path: str | Path) -> list[Sentence]:
    """Read a CoNLL file: token in the first column, tag in the last, blank lines between sentences.

    Columns may be separated by spaces or tabs; ``-DOCSTART-`` lines separate documents; CRLF and a BOM are
    fine. IOB1 files (as CoNLL-2003 was first published) are detected and converted to IOB2.
    """
    path = Path(path)
    sentences: list[Sentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    doc, first_line = 0, 0

    def close() -> None:
        nonlocal tokens, tags
        if tokens:
            sentences.append(Sentence(tokens, tags, doc, first_line))
            tokens, tags = [], []

    for number, text in _lines(path):
        columns = text.split()
        if not columns:
            close()
            continue
        if columns[0] == "-DOCSTART-":
            close()
            if sentences and sentences[-1].doc == doc:
                doc += 1
            continue
        if len(columns) < 2:
            raise NerwinError(f"{path}:{number}: expected 'token ... tag', got {_shorten(text)}")
        try:
            parse_tag(columns[-1])
        except NerwinError as exc:
            raise NerwinError(f"{path}:{number}: {exc}") from None
        if not tokens:
            first_line = number
        tokens.append(columns[0])
        tags.append(columns[-1])
    close()
    if not sentences:
        raise NerwinError(f"{path}: no sentences")
    if is_iob1(s.tags for s in sentences):
        for sentence in sentences:
            sentence.tags = iob1_to_iob2(sentence.tags)
    return sentences


def find_split_files(folder: str | Path) -> dict[str, Path]:
    """Map 'train', 'validation' and 'test' to the files of a folder that hold them (those found).

    Accepted names: train / eng.train; valid, dev, validation, testa / eng.testa; test, testb / eng.testb;
    each optionally ending in .txt or .conll (case does not matter). A missing train file is an error.
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
            "(optionally ending in .txt or .conll), beside valid.txt/dev.txt/eng.testa and test.txt/eng.testb"
        )
    return found


def _folder_files(folder: Path) -> dict[str, Path]:
    files = find_split_files(folder)
    if "validation" not in files:
        raise NerwinError(
            f"{folder}: no validation file; expected one of {', '.join(SPLIT_NAMES['validation'])} "
            "(optionally ending in .txt or .conll)"
        )
    return files


def _read_splits(files: dict[str, Path]) -> Corpus:
    """Read the CoNLL file of each split. A validation or test tag whose entity type never occurs in the
    training file is an error naming its file and line (the model could never predict it)."""
    splits = {split: read_conll(path) for split, path in files.items()}
    seen = {None} | {parse_tag(t)[1] for s in splits["train"] for t in s.tags}  # None: the type of O
    for split, sentences in splits.items():
        if split == "train":
            continue
        for sentence in sentences:
            for i, tag in enumerate(sentence.tags):
                if parse_tag(tag)[1] not in seen:
                    raise NerwinError(f"{files[split]}:{sentence.line + i}: tag {tag!r} never occurs in the "
                                      f"training file {files['train']}")
    return splits


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _probe_hub(timeout: float = PROBE_TIMEOUT) -> None:
    """Fail fast when the hub endpoint (``HF_ENDPOINT`` or huggingface.co) cannot be reached."""
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    try:
        port = parts.port or (80 if parts.scheme == "http" else 443)
    except ValueError:
        port = 443
    result: list[BaseException | None] = []

    def connect() -> None:  # in a thread, so that a hanging DNS lookup cannot outlast the timeout
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            result.append(None)
        except OSError as exc:
            result.append(exc)

    worker = threading.Thread(target=connect, daemon=True)
    worker.start()
    worker.join(timeout + 0.5)
    problem = result[0] if result else TimeoutError(f"no answer in {timeout:g} s")
    if problem is not None:
        raise NerwinError(f"cannot reach the Hugging Face hub at {endpoint} ({problem}); {_LOCAL_HINT}")


def _tag_names(dataset: datasets.Dataset, column: str) -> list[str] | None:
    """The tag names of a ClassLabel column (None if the column holds strings)."""
    feature = getattr(dataset.features[column], "feature", None)
    names = getattr(feature, "names", None)
    if names:
        return list(names)
    dtype = getattr(feature, "dtype", "")
    if dtype == "string":
        return None
    return list(TAGS_CONLL2003)  # plain integers without names: the hub's CoNLL-2003 order


def convert_hub_corpus(hub: datasets.DatasetDict, name: str = HUB_DATASET) -> Corpus:
    """Turn a hub CoNLL dataset (``tokens`` and ``ner_tags`` ClassLabel ints) into Sentences.

    Tag ints become names through the dataset's own features; tags are checked and IOB1 becomes IOB2.
    Split names ``valid``/``dev`` become ``validation``. A ``-DOCSTART-`` row separates documents, as
    the line does in a CoNLL file; a Sentence's ``line`` is its row in the split.
    """
    renames = {"valid": "validation", "dev": "validation"}
    corpus: Corpus = {}
    for split, dataset in hub.items():
        column = next((c for c in ("ner_tags", "tags", "ner") if c in dataset.column_names), None)
        if "tokens" not in dataset.column_names or column is None:
            raise NerwinError(
                f"{name} [{split}]: expected columns 'tokens' and 'ner_tags', got {dataset.column_names}"
            )
        names = _tag_names(dataset, column)
        sentences: list[Sentence] = []
        doc = 0
        for index, (tokens, values) in enumerate(zip(dataset["tokens"], dataset[column])):
            try:
                tags = [names[v] for v in values] if names is not None else list(values)
                for tag in tags:
                    parse_tag(tag)
            except (IndexError, TypeError) as exc:
                raise NerwinError(f"{name} [{split}] row {index}: bad tag value ({exc})") from None
            except NerwinError as exc:
                raise NerwinError(f"{name} [{split}] row {index}: {exc}") from None
            if len(tags) != len(tokens):
                raise NerwinError(f"{name} [{split}] row {index}: {len(tokens)} tokens but {len(tags)} tags")
            if tokens and tokens[0] == "-DOCSTART-":
                if sentences and sentences[-1].doc == doc:
                    doc += 1
            elif tokens:
                sentences.append(Sentence(list(tokens), tags, doc, index))
        if is_iob1(s.tags for s in sentences):
            for sentence in sentences:
                sentence.tags = iob1_to_iob2(sentence.tags)
        corpus[renames.get(split, split)] = sentences
    if "train" not in corpus or "validation" not in corpus:
        raise NerwinError(f"{name}: expected splits train and validation, got {sorted(corpus)}")
    return corpus


def _load_hub() -> Corpus:
    """CoNLL-2003 from the hub (pinned id and revision), failing within seconds when it is out of reach."""
    offline = _env_true("HF_HUB_OFFLINE") or _env_true("HF_DATASETS_OFFLINE")
    if not offline:
        _probe_hub()
    import datasets  # only here: its import alone costs ~185 MB

    where = f"{HUB_DATASET} (revision {HUB_REVISION})"
    try:
        hub: Any = datasets.load_dataset(HUB_DATASET, revision=HUB_REVISION, data_dir=HUB_DATA_DIR)
    except Exception as exc:  # noqa: BLE001 - the hub's many connection, cache and format errors
        mode = "offline mode (HF_HUB_OFFLINE=1) and it is not in the cache" if offline else "load failed"
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise NerwinError(
            f"cannot load {where}: {mode} ({type(exc).__name__}: {first}); {_LOCAL_HINT}"
        ) from None
    return convert_hub_corpus(hub)


def load_corpus(source: str | Path | None = None, *, train_file: str | Path | None = None,
                dev_file: str | Path | None = None) -> Corpus:
    """Splits ``train``, ``validation`` and (if there is one) ``test``, as lists of IOB2 Sentences.

    From, in order: the folder ``source`` (CoNLL files, see `find_split_files`); the files ``train_file``
    and ``dev_file`` (given together); the folder named by ``NERWIN_DATA``; CoNLL-2003 from the Hugging
    Face hub (pinned ``HUB_DATASET`` at ``HUB_REVISION``).
    """
    if (train_file is None) != (dev_file is None):
        raise NerwinError("a training file and a dev file go together (--train-file and --dev-file)")
    if source is not None:
        return _read_splits(_folder_files(Path(source)))
    if train_file is not None and dev_file is not None:
        return load_files(train_file, dev_file)
    if os.environ.get(DATA_ENV):
        return _read_splits(_folder_files(Path(os.environ[DATA_ENV])))
    return _load_hub()


def load_files(train: str | Path, validation: str | Path, test: str | Path | None = None) -> Corpus:
    """The corpus of CoNLL files named one by one (what `load_corpus` returns)."""
    files = {"train": train, "validation": validation, **({"test": test} if test is not None else {})}
    return _read_splits({split: Path(path) for split, path in files.items()})
