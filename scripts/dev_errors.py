"""What kind of mistakes a model makes on a CoNLL file, entity by entity (for choosing the next feature).

    python scripts/dev_errors.py [--data FOLDER] [--split validation] [--model models/default] [--examples 6]

Each gold entity the model does not get exactly is one of: the right span with the wrong type, a span
that overlaps a predicted one (a boundary error), or missed (no predicted entity overlaps it). Each
predicted entity that overlaps no gold one is spurious. Prints the counts by kind and type, with examples.
Run it on dev: the test set is for the report, not for choices.
"""
from __future__ import annotations

import argparse
from collections import Counter, defaultdict

from bench_common import ROOT, data_folder, load_split

import nerwin
from nerwin.tags import spans


def classify(gold: list[str], pred: list[str]) -> list[tuple[str, tuple[int, int]]]:
    """(kind, token span) of each mistake in one sentence; see the module docstring for the kinds."""
    g = {(a, b): k for a, b, k in spans(gold)}
    p = {(a, b): k for a, b, k in spans(pred)}

    def overlaps(span, others):
        return any(o[0] < span[1] and span[0] < o[1] for o in others)

    out = []
    for span, kind in g.items():
        if span in p:
            if p[span] != kind:
                out.append((f"wrong type {kind} -> {p[span]}", span))
        else:
            out.append((f"{'boundary' if overlaps(span, p) else 'missed'} {kind}", span))
    out += [(f"spurious {kind}", span) for span, kind in p.items() if span not in g and not overlaps(span, g)]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", help="CoNLL folder (default: $NERWIN_DATA or ../shared/data/conll2003)")
    ap.add_argument("--split", default="validation", choices=["validation", "train", "test"])
    ap.add_argument("--model", default=str(ROOT / "models" / "default"))
    ap.add_argument("--examples", type=int, default=6)
    args = ap.parse_args()
    sentences = load_split(data_folder(args.data), args.split)
    predicted = nerwin.load(args.model).tag_tokens([s.tokens for s in sentences])
    counts: Counter[str] = Counter()
    examples: dict[str, list[str]] = defaultdict(list)
    for s, pred in zip(sentences, predicted):
        for kind, (a, b) in classify(s.tags, pred):
            counts[kind] += 1
            examples[kind].append(" ".join(s.tokens[a:b]))
    gold_wrong = sum(n for k, n in counts.items() if not k.startswith("spurious"))
    by_head = Counter()
    for k, n in counts.items():
        by_head[k.split(" ")[0] if not k.startswith("wrong") else "wrong type"] += n
    print(f"{args.split}: {gold_wrong} gold entities not found exactly, {by_head['spurious']} spurious")
    for head in ("wrong type", "boundary", "missed", "spurious"):
        share = f" ({by_head[head] / gold_wrong:.0%} of the gold ones)" if head != "spurious" and gold_wrong else ""
        print(f"  {head:<11} {by_head[head]:>5}{share}")
    print()
    for kind, n in counts.most_common():
        print(f"{n:>5}  {kind:<22} {', '.join(examples[kind][:args.examples])}")


if __name__ == "__main__":
    main()
