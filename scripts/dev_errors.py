"""What kind of mistakes a model makes on a CoNLL file, entity by entity (for choosing the next feature).

    python scripts/dev_errors.py [--data FOLDER] [--split validation] [--model models/default] [--examples 6]

Each gold entity the model does not get exactly is one of: the right span with the wrong type, a span
that overlaps a predicted one (an overlapping span), or missed (no predicted entity overlaps it). Each
predicted entity that overlaps no gold one is spurious. Prints the counts by kind and type, with examples.
Run it on dev: the test set is for the report, not for choices.
"""
from __future__ import annotations

import argparse
from collections import Counter, defaultdict

from bench_common import ROOT, data_folder, load_split

import nerwin
from nerwin.analysis import classify


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", help="CoNLL folder (default: $NERWIN_DATA or ../shared/data/conll2003)")
    ap.add_argument("--split", default="validation", choices=["validation", "train", "test"])
    ap.add_argument("--model", default=str(ROOT / "models" / "default"))
    ap.add_argument("--examples", type=int, default=6)
    args = ap.parse_args()
    sentences = load_split(data_folder(args.data), args.split)
    predicted = nerwin.load(args.model).tag_tokens([s.tokens for s in sentences])
    by_kind: Counter[str] = Counter()
    counts: Counter[tuple[str, str]] = Counter()
    examples: dict[tuple[str, str], list[str]] = defaultdict(list)
    for s, pred in zip(sentences, predicted):
        for kind, types, (a, b) in classify(s.tags, pred):
            by_kind[kind] += 1
            counts[kind, types] += 1
            examples[kind, types].append(" ".join(s.tokens[a:b]))
    gold_wrong = by_kind.total() - by_kind["spurious"]
    print(f"{args.split}: {gold_wrong} gold entities not found exactly, {by_kind['spurious']} spurious")
    for kind in ("wrong type", "overlapping span", "missed"):
        print(f"  {kind:<11} {by_kind[kind]:>5} ({by_kind[kind] / max(gold_wrong, 1):.0%} of the gold ones)")
    print()
    for (kind, types), n in counts.most_common():
        print(f"{n:>5}  {kind + ' ' + types:<22} {', '.join(examples[kind, types][:args.examples])}")


if __name__ == "__main__":
    main()
