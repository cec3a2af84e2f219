"""Datasets from the Hugging Face hub: a token column and a tag column per row, tags as ClassLabel ids
(named by the dataset's features) or as strings, in any scheme; read as IOB2 Sentences.

The hub is reached only through ``datasets`` (imported here alone: its import costs ~185 MB), after a
probe that fails within seconds when the hub is out of reach, with a message saying how to use local
files instead.
"""
from __future__ import annotations

import os
import socket
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from nerwin.errors import NerwinError
from nerwin.schemes import to_iob2
from nerwin.sentences import Corpus, Sentence
from nerwin.tags import TAGS_CONLL2003

if TYPE_CHECKING:
    import datasets

__all__ = ["HUB_DATASET", "HUB_DATA_DIR", "HUB_REVISION", "TAG_COLUMNS", "convert_hub_corpus",
           "load_conll2003", "load_hub"]

# CoNLL-2003 without a loading script: the hub's automatic parquet export of eriktks/conll2003
# (``datasets`` 4+ refuses the script in the main branch). Its ``ner_tags`` are ClassLabel ints.
HUB_DATASET = "eriktks/conll2003"
HUB_REVISION = "refs/convert/parquet"
HUB_DATA_DIR = "conll2003"  # the export's config folder: conll2003/{train,validation,test}/*.parquet
PROBE_TIMEOUT = 3.0  # seconds to reach the hub before giving up
TAG_COLUMNS = ("ner_tags", "tags", "ner")  # the tag column when none is named, first found
LOCAL_HINT = "use local CoNLL files instead: --data FOLDER or NERWIN_DATA=FOLDER (or JSONL, or --train-file FILE)"
_SPLIT_RENAMES = {"valid": "validation", "dev": "validation"}


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _offline() -> bool:
    return _env_true("HF_HUB_OFFLINE") or _env_true("HF_DATASETS_OFFLINE")


def probe_hub(timeout: float = PROBE_TIMEOUT) -> None:
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
        raise NerwinError(f"cannot reach the Hugging Face hub at {endpoint} ({problem}); {LOCAL_HINT}")


def _tag_names(dataset: datasets.Dataset, column: str, where: str, fallback: list[str] | None) -> list[str] | None:
    """The tag names of a ClassLabel column, None if the column holds strings; integers without names
    are refused (unless the caller knows the dataset's order: `fallback`), since any guessed order would
    silently swap labels."""
    feature = dataset.features[column]
    inner = getattr(feature, "feature", None)
    names = getattr(inner, "names", None)
    if names:
        return list(names)
    dtype = getattr(inner, "dtype", "")
    if dtype in ("string", "large_string"):
        return None
    if fallback is not None:
        return list(fallback)
    raise NerwinError(
        f"{where}: column {column!r} holds {dtype or feature} tags without label names (not a ClassLabel "
        "feature), so which id is which label is unknown; nerwin will not guess. Cast the column to "
        "ClassLabel(names=[...]) in the order the dataset's card gives, or use string tags"
    )


def convert_hub_corpus(hub: datasets.DatasetDict, name: str = HUB_DATASET, *, tokens_column: str = "tokens",
                       tags_column: str | None = None, scheme: str = "auto",
                       fallback_names: list[str] | None = None) -> Corpus:
    """Turn a hub dataset (a token list and a tag list a row) into Sentences, split by split.

    Tag ids become names through the dataset's own ClassLabel feature (never a fixed order); tags are
    checked and read in `scheme` (detected if "auto") as IOB2. Split names ``valid``/``dev`` become
    ``validation``. A ``-DOCSTART-`` row separates documents, as the line does in a CoNLL file; a
    Sentence's ``line`` is its row in the split."""
    corpus: Corpus = {}
    for split, dataset in hub.items():
        where = f"{name} [{split}]"
        column = tags_column or next((c for c in TAG_COLUMNS if c in dataset.column_names), None)
        if tokens_column not in dataset.column_names or column not in dataset.column_names:
            wanted = f"{tags_column!r}" if tags_column else " or ".join(repr(c) for c in TAG_COLUMNS)
            raise NerwinError(f"{where}: expected a token column {tokens_column!r} and a tag column {wanted}, "
                              f"got {dataset.column_names} (name them with --tokens-column and --tags-column)")
        names = _tag_names(dataset, column, where, fallback_names)
        sentences: list[Sentence] = []
        doc = 0
        for index, (tokens, values) in enumerate(zip(dataset[tokens_column], dataset[column])):
            try:
                tags = [names[v] for v in values] if names is not None else list(values)
            except (IndexError, TypeError) as exc:
                raise NerwinError(f"{where} row {index}: bad tag value ({exc})") from None
            if len(tags) != len(tokens):
                raise NerwinError(f"{where} row {index}: {len(tokens)} tokens but {len(tags)} tags")
            if tokens and tokens[0] == "-DOCSTART-":
                if sentences and sentences[-1].doc == doc:
                    doc += 1
            elif tokens:
                sentences.append(Sentence([str(t) for t in tokens], tags, doc, index, one_line=True))
        iob2, _ = to_iob2([s.tags for s in sentences], scheme, source=where,
                          where=lambda s, t, split=where, rows=sentences: f"{split} row {rows[s].line}")
        for sentence, tags in zip(sentences, iob2):
            sentence.tags = tags
        corpus[_SPLIT_RENAMES.get(split, split)] = sentences
    if "train" not in corpus:
        raise NerwinError(f"{name}: expected a train split, got {sorted(corpus)}")
    return corpus


def _load_dataset(where: str, **arguments: Any) -> Any:
    """``datasets.load_dataset`` after the probe, its many errors turned into one NerwinError."""
    offline = _offline()
    if not offline:
        probe_hub()
    import datasets  # only here: its import alone costs ~185 MB

    try:
        return datasets.load_dataset(**arguments)
    except Exception as exc:  # noqa: BLE001 - the hub's many connection, cache and format errors
        mode = "offline mode (HF_HUB_OFFLINE=1) and it is not in the cache" if offline else "load failed"
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise NerwinError(f"cannot load {where}: {mode} ({type(exc).__name__}: {first}); {LOCAL_HINT}") from None


def load_hub(spec: str, *, tokens_column: str = "tokens", tags_column: str | None = None,
             scheme: str = "auto") -> Corpus:
    """The splits of the hub dataset ``NAME`` or ``NAME:CONFIG`` (see `convert_hub_corpus`)."""
    name, _, config = spec.partition(":")
    if not name or any(c.isspace() for c in spec):
        raise NerwinError(f"--hub {spec!r}: expected a dataset id, NAME or NAME:CONFIG (e.g. tner/wnut2017)")
    hub = _load_dataset(spec, path=name, name=config or None)
    return convert_hub_corpus(hub, spec, tokens_column=tokens_column, tags_column=tags_column, scheme=scheme)


def load_conll2003() -> Corpus:
    """CoNLL-2003 from the hub (pinned id and revision). Its order of tag ids is known, should its
    features ever lack the names."""
    hub = _load_dataset(f"{HUB_DATASET} (revision {HUB_REVISION})", path=HUB_DATASET, revision=HUB_REVISION,
                        data_dir=HUB_DATA_DIR)
    return convert_hub_corpus(hub, fallback_names=list(TAGS_CONLL2003))
