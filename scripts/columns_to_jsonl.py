"""Write a column file (CoNLL, WNUT-17...) as JSONL of text and character spans, the shape annotation tools
export, to try nerwin's JSONL reader on data you know:

    python scripts/columns_to_jsonl.py ../shared/data/wnut17/train.conll /tmp/wnut-jsonl/train.jsonl

Each sentence becomes {"text": its tokens joined by single spaces, "spans": [{"start", "end", "label"}]}.
nerwin tokenizes that text again when it reads the file, which may split a token differently from the
column file (``@user`` becomes ``@ user``): a span then cuts a token and needs ``--snap``. The script says
how many spans would.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from nerwin.data import DataOptions, read_data
from nerwin.readers.spans import tags_of_spans
from nerwin.serialize import atomic_text
from nerwin.tags import spans
from nerwin.tokenize import tokenize


def record(tokens: list[str], tags: list[str]) -> dict:
    """One sentence as text and character spans."""
    starts = [sum(len(t) + 1 for t in tokens[:i]) for i in range(len(tokens))]
    return {"text": " ".join(tokens), "spans": [
        {"start": starts[a], "end": starts[b - 1] + len(tokens[b - 1]), "label": kind}
        for a, b, kind in spans(tags)]}


def cuts(item: dict) -> int:
    """How many of a record's spans cut one of nerwin's tokens of its text."""
    found = 0
    for span in item["spans"]:
        try:
            tags_of_spans(item["text"], tokenize(item["text"]), [(span["start"], span["end"], span["label"])])
        except Exception:  # noqa: BLE001 - a NerwinError: this span cuts a token
            found += 1
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="a column file nerwin reads")
    parser.add_argument("out", type=Path, help="the JSONL file to write")
    parser.add_argument("--scheme", default="auto", help="the source's tag scheme (default: detected)")
    parser.add_argument("--force", action="store_true", help="replace an existing OUT")
    args = parser.parse_args()
    sentences = read_data(args.source, DataOptions(format="conll", scheme=args.scheme))
    items = [record(s.tokens, s.tags) for s in sentences]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_text(args.out, args.force) as f:
        f.writelines(json.dumps(item, ensure_ascii=False) + "\n" for item in items)
    total, cut = sum(len(i["spans"]) for i in items), sum(cuts(i) for i in items)
    hint = " (read it with --snap)" if cut else ""
    print(f"{args.out}: {len(items)} records, {total} spans, {cut} of them cut a nerwin token{hint}")


if __name__ == "__main__":
    main()
