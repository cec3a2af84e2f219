"""A trained model's card: README.md for people and scores.json for programs, written into its folder.

The card says what the model is and where it came from: its name and version, its labels, the data it
was trained on (each file by name, size and sha256, never by the absolute path of the training machine),
the command that made it, and its scores per type on dev (and on test, when a test split was given).
`nerwin train` writes it when training ends; `nerwin info` shows it.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .errors import NerwinError
from .serialize import atomic_text, write_json_atomic

__all__ = ["CARD", "SCORES", "file_facts", "source_facts", "portable_path", "card_data", "card_text", "write_card",
           "read_card", "score_table"]

CARD, SCORES = "README.md", "scores.json"


def portable_path(path: str | Path) -> str:
    """A path as it may appear in a card: relative to the working folder when the two share more than the
    root, else the file's name alone (so no card names the training machine's folders)."""
    path = Path(path)
    if not path.is_absolute():
        return path.as_posix()
    here = Path.cwd()
    if os.path.commonpath([here, path]) == here.anchor:
        return path.name
    return Path(os.path.relpath(path, here)).as_posix()


def file_facts(path: str | Path) -> dict:
    """{"file", "bytes", "sha256"} of a data file, read in blocks (a corpus may be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return {"file": portable_path(path), "bytes": Path(path).stat().st_size, "sha256": digest.hexdigest()}


def _scores(tagger, sentences: Sequence) -> dict:
    """Strict IOB2 P/R/F1 and the per-type table of `tagger` on `sentences` (conlleval's F1 is the same
    figure here: the gold tags are read as valid IOB2 and the decoder gives valid IOB2, and on valid
    IOB2 conlleval's chunks are the strict spans)."""
    from .metrics import strict_scores

    report = strict_scores([s.tags for s in sentences], tagger.tag_tokens([s.tokens for s in sentences],
                                                                           [s.doc for s in sentences]))
    return {"precision": report["precision"], "recall": report["recall"], "f1": report["f1"],
            "conlleval_f1": report["f1"], "per_type": report["per_type"], "entities": report["gold_entities"]}


def card_data(tagger, corpus: dict, *, name: str, version: str | None = None, data: dict | None = None,
              command: str | None = None) -> dict:
    """What scores.json holds: the model's identity, labels, data, command and scores (dev, and test if
    the corpus has a test split). `data` maps a split to its `file_facts` (or to a description of the
    source, e.g. a hub id); the number of sentences and tokens of each split is added here."""
    described = {}
    for split, sentences in corpus.items():
        facts = dict((data or {}).get(split) or {"file": "(given in memory)"})
        facts.update(sentences=len(sentences), tokens=sum(len(s.tokens) for s in sentences))
        described[split] = facts
    card = {"name": name, "version": version, "nerwin_version": __version__,
            "labels": sorted({t[2:] for t in tagger.tags if t != "O"}), "tags": list(tagger.tags),
            "data": described, "command": command, "best_epoch": tagger.config.get("dev", {}).get("epoch"),
            "passes": 1 if getattr(tagger, "first_pass", None) is None else 2,
            "dev": _scores(tagger, corpus["validation"])}
    if corpus.get("test"):
        card["test"] = _scores(tagger, corpus["test"])
    return card


def score_table(scores: dict) -> str:
    """Per-type precision, recall, F1 and support as a Markdown table, with the overall row last."""
    rows = ["| type | precision | recall | F1 | support |", "|---|---:|---:|---:|---:|"]
    for kind, r in scores["per_type"].items():
        rows.append(f"| {kind} | {r['precision']:.2f} | {r['recall']:.2f} | {r['f1']:.2f} | {r['support']} |")
    rows.append(f"| **all (strict IOB2)** | {scores['precision']:.2f} | {scores['recall']:.2f} | "
                f"**{scores['f1']:.2f}** | {scores.get('entities', '')} |")
    return "\n".join(rows)


def card_text(card: dict, training: dict | None = None) -> str:
    """README.md of a model folder, from `card_data` (and the TrainConfig as a dict, for the settings)."""
    title = card["name"] + (f" {card['version']}" if card.get("version") else "")
    files = ["| split | file | sentences | tokens | bytes | sha256 |", "|---|---|---:|---:|---:|---|"]
    for split, f in card["data"].items():
        files.append(f"| {split} | `{f.get('file', '')}` | {f['sentences']:,} | {f['tokens']:,} | "
                     f"{f['bytes']:,} | `{f['sha256']}` |" if "sha256" in f else
                     f"| {split} | {f.get('file', '')} | {f['sentences']:,} | {f['tokens']:,} | | |")
    settings = ", ".join(f"{k} {v}" for k, v in (training or {}).items())
    parts = [f"# nerwin model: {title}", "",
             f"A window tagger (nerwin {card['nerwin_version']}) for the entity types "
             f"{', '.join(card['labels']) or '(none)'}, trained by `nerwin train`; dev was used for early "
             f"stopping only (best epoch {card.get('best_epoch')})."
             + (" It reads each document twice: a first pass tags it, and a second pass sees those tags of "
                "the same words and names elsewhere in the document (`nerwin train --two-pass`)."
                if card.get("passes") == 2 else ""), "",
             "## Data", "", *files, "",
             "## How it was made", "", "```sh", card.get("command") or "(trained from Python: nerwin.train)", "```"]
    if settings:
        parts += ["", f"Settings: {settings}."]
    parts += ["", "## Scores", "", "Entity-level, seqeval, **strict IOB2**.", ""]
    for split in ("dev", "test"):
        if split in card:
            s = card[split]
            parts += [f"{split.capitalize()} ({card['data'][{'dev': 'validation'}.get(split, split)]['file']}): "
                      f"F1 {s['f1']:.2f} strict IOB2, conlleval-compatible {s['conlleval_f1']:.2f}.", "",
                      score_table(s), ""]
    if "test" not in card:
        parts += ["No test split was given; score one with `nerwin evaluate TEST_FILE --model THIS_FOLDER`.", ""]
    return "\n".join(parts)


def write_card(folder: str | Path, card: dict, training: dict | None = None) -> None:
    """README.md and scores.json into a model folder, each atomically (replacing earlier ones)."""
    folder = Path(folder)
    write_json_atomic(folder / SCORES, card)
    with atomic_text(folder / CARD, force=True) as f:
        f.write(card_text(card, training))


def read_card(folder: str | Path) -> dict | None:
    """A model folder's scores.json, or None if it has none; NerwinError if it is not a JSON object."""
    import json

    path = Path(folder) / SCORES
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise NerwinError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise NerwinError(f"{path}: expected a JSON object")
    return data


def source_facts(source: str | Path | None = None, train_file: str | Path | None = None,
                 dev_file: str | Path | None = None, *, hub: str | None = None,
                 dev_split: float | None = None) -> dict:
    """`file_facts` of each split's file, chosen as `nerwin.data.load_corpus` chooses them (a folder, two
    named files, $NERWIN_DATA), or the hub dataset's id (and revision, for the pinned CoNLL-2003) when the
    data came from the hub; with `dev_split`, the dev set is said to be that share of the training data."""
    from .data import DATA_ENV, HUB_DATASET, HUB_REVISION, find_split_files

    if hub is not None:
        facts = {split: {"file": f"{hub} (Hugging Face hub), {split}"} for split in ("train", "validation", "test")}
    else:
        if source is None and train_file is None and os.environ.get(DATA_ENV):
            source = os.environ[DATA_ENV]
        if source is not None:
            files = find_split_files(source)
        elif train_file is not None:
            files = {"train": Path(train_file), **({"validation": Path(dev_file)} if dev_file else {})}
        else:
            files = None
        facts = ({split: {"file": f"{HUB_DATASET} (Hugging Face hub, revision {HUB_REVISION}), {split}"}
                  for split in ("train", "validation", "test")} if files is None
                 else {split: file_facts(path) for split, path in files.items()})
    if dev_split is not None:
        facts["validation"] = {"file": f"{dev_split:g} of the training data, set apart with --dev-split"}
    return facts
