"""How well a model finds entities in text re-cased: strict IOB2 F1 on a gold file as written, all
lowercase, ALL CAPS and Every Word Capitalized (`nerwin.casing`), the gold tags kept.

    python scripts/casing.py [MODEL] CONLL_FILE [--json] [--sentences] [--first-pass] [--cased-only]

MODEL is a model folder, or "default" (or left out) for the shipped model. The sentences of one document
(the file's -DOCSTART- lines) are tagged as that document, as `nerwin evaluate` does (`--sentences`: each
sentence alone); `--first-pass` scores a two-pass model's first pass alone (the one-pass model inside
it); `--cased-only` a model with a caseless companion without it (every document to the cased model).
Prints a Markdown table; `--json` prints the same as one JSON object.
"""
from __future__ import annotations

import argparse
import json
import sys

import nerwin
from nerwin.casing import CASINGS
from nerwin.data import read_data
from nerwin.errors import NerwinError
from nerwin.evaluation import gold_tags
from nerwin.metrics import strict_scores
from nerwin.tagger import Tagger

# Each row of the table: its label, and the casing transform (None: the text as written)
ROWS = {"as written": None, "all lowercase": "lower", "ALL CAPS": "upper", "Every Word Capitalized": "title"}


def casing_scores(tagger, sentences, documents: bool = True, file: str | None = None) -> list[dict]:
    """One row per casing of ROWS: its label, the transform's name, strict IOB2 precision, recall and F1
    of `tagger` on the sentences (read from `file`, named in errors) re-cased that way, gold tags kept."""
    gold = gold_tags(tagger, sentences, file, "data")
    docs = [s.doc for s in sentences] if documents else None
    rows = []
    for label, kind in ROWS.items():
        tokens = [s.tokens if kind is None else CASINGS[kind](s.tokens) for s in sentences]
        found = strict_scores(gold, tagger.tag_tokens(tokens, docs=docs))
        rows.append({"text": label, "casing": kind or "as written",
                     **{k: round(found[k], 2) for k in ("precision", "recall", "f1")}})
    return rows


def table(rows: list[dict], model: str) -> str:
    lines = [f"| text | precision | recall | F1 ({model}) |", "|---|---:|---:|---:|"]
    lines += [f"| {r['text']} | {r['precision']:.2f} | {r['recall']:.2f} | {r['f1']:.2f} |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", nargs="?", default="default", help='model folder, or "default" (the shipped model)')
    ap.add_argument("data", help="gold data file (CoNLL columns or JSONL spans, as nerwin evaluate reads)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    ap.add_argument("--sentences", action="store_true", help="tag each sentence alone, not by document")
    ap.add_argument("--first-pass", action="store_true", help="score a two-pass model's first pass alone")
    ap.add_argument("--cased-only", action="store_true", help="score a model without its caseless companion")
    args = ap.parse_args(argv)
    try:
        tagger = nerwin.load(None if args.model == "default" else args.model)
        if args.first_pass:
            if tagger.first_pass is None:
                raise NerwinError(f"{args.model}: a one-pass model has no first pass to score alone")
            tagger = tagger.first_pass
        if args.cased_only:
            if tagger.caseless is None:
                raise NerwinError(f"{args.model}: the model has no caseless companion to leave out")
            tagger = Tagger(tagger.featurizer, tagger.model, tagger.tags, tagger.config, first_pass=tagger.first_pass)
        sentences = read_data(args.data)
        rows = casing_scores(tagger, sentences, documents=not args.sentences, file=args.data)
    except NerwinError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    documents = len({s.doc for s in sentences})
    if args.json:
        print(json.dumps({"model": args.model, "first_pass": args.first_pass, "cased_only": args.cased_only,
                          "data": args.data,
                          "sentences": len(sentences), "documents": None if args.sentences else documents,
                          "mode": "strict IOB2", "rows": rows}, indent=2))
    else:
        how = "each sentence alone" if args.sentences else f"{documents:,} documents"
        print(f"{args.data}: {len(sentences):,} sentences ({how}), entity scores strict IOB2, gold tags kept\n")
        print(table(rows, f"{args.model}, first pass" if args.first_pass else
                    f"{args.model}, cased only" if args.cased_only else args.model))
    return 0


if __name__ == "__main__":
    sys.exit(main())
