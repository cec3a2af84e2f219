"""The ablation table: the plain window model, then each addition, trained and scored one by one.

    python scripts/ablation.py [--data FOLDER] [--out runs/ablation] [--rows 1,2,3]

Each row is a `nerwin train` command (printed, so it can be run alone), scored on dev and test with
`nerwin evaluate` (strict IOB2 entity F1), with its end-to-end tagging speed on the dev text (by a tagger
that has tagged the train text first, as in scripts/bench_tag.py). Choices are
made on dev; test is scored once per finished row, for the report. Prints a Markdown table and writes
it, with every figure, to OUT/ablation.json.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from bench_common import data_folder, load_split, seconds_on_unseen_text

AFFIX = ["--suffix-dim", "20", "--prefix-dim", "10", "--shape-dim", "10"]
MORE = ["--feature", "suffix2=10", "--feature", "suffix4=10", "--feature", "prefix2=5", "--feature", "prefix4=10"]
CLASSIC = ["--preset", "classic"]  # rows 1-7 build up from the classic preset
ROWS = [
    ("plain window: words + caps, word-level softmax, IOB2 Viterbi (`--preset classic`)", CLASSIC),
    ("+ 3-letter suffix", [*CLASSIC, "--suffix-dim", "20"]),
    ("+ 3-letter prefix, word shape", [*CLASSIC, *AFFIX]),
    ("+ CRF: sentence-level training, learned transitions", [*CLASSIC, *AFFIX, "--crf"]),
    ("+ 2/4-letter suffixes and prefixes", [*CLASSIC, *AFFIX, "--crf", *MORE]),
    ("+ input dropout 0.4", [*CLASSIC, *AFFIX, "--crf", *MORE, "--input-dropout", "0.4"]),
    ("+ mean of the last 3 epochs' weights (the shipped model)", [*CLASSIC, *AFFIX, "--crf", *MORE,
                                                                  "--input-dropout", "0.4", "--average", "3"]),
    ("+ O offset chosen on dev (the default preset: plain `nerwin train`)", []),
    ("+ a second pass that reads the document (`--two-pass --lone 0`)", ["--two-pass", "--lone", "0"]),
    ("+ 30% of the training sentences read alone (`--two-pass`: the shipped model)", ["--two-pass"]),
]


def nerwin(*args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("nerwin")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, check=True)


def tagging_speed(model: Path, lines: list[str], warm: list[str]) -> float:
    """End-to-end tokens/s on `lines`, best of 3, each run by a fresh tagger that has first tagged `warm`
    (no run sees `lines` twice; as scripts/bench_tag.py does). Each line is a document of its own."""
    best = min(seconds_on_unseen_text(model, lines, warm) for _ in range(3))
    return sum(len(line.split()) for line in lines) / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", help="CoNLL folder (default: $NERWIN_DATA or ../shared/data/conll2003)")
    ap.add_argument("--out", default="runs/ablation", help="where the row models go")
    ap.add_argument("--rows", help="comma-separated row numbers to run (default: all)")
    ap.add_argument("--speed-only", action="store_true",
                    help="keep the trained rows and their scores (OUT/ablation.json); measure tagging speed again")
    args = ap.parse_args()
    folder = data_folder(args.data)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    wanted = {int(r) for r in args.rows.split(",")} if args.rows else set(range(1, len(ROWS) + 1))
    lines = [" ".join(s.tokens) for s in load_split(folder, "validation")]
    warm = [" ".join(s.tokens) for s in load_split(folder, "train")]
    if args.speed_only:
        results = json.loads((out / "ablation.json").read_text())
        for r in results:
            r["tokens_per_second"] = round(tagging_speed(out / f"row{r['row']}", lines, warm))
            print(f"row {r['row']}: {r['tokens_per_second']:,} tok/s", flush=True)
        print_table(out, results)
        return
    results = []
    for number, (name, flags) in enumerate(ROWS, start=1):
        if number not in wanted:
            continue
        model = out / f"row{number}"
        command = ["train", str(model), "--data", str(folder), "--force", "--quiet", *flags]
        print(f"row {number}: nerwin {' '.join(command)}", flush=True)
        t0 = time.perf_counter()
        nerwin(*command)
        minutes = (time.perf_counter() - t0) / 60
        scores = {}
        for split, file in (("dev", "valid.txt"), ("test", "test.txt")):
            report = json.loads(nerwin("evaluate", str(folder / file), "--model", str(model), "--format",
                                       "json").stdout)
            scores[split] = report["f1"]
        speed = tagging_speed(model, lines, warm)
        results.append({"row": number, "name": name, "flags": " ".join(flags), **scores,
                        "tokens_per_second": round(speed), "train_minutes": round(minutes, 1)})
        print(f"  dev {scores['dev']:.2f}  test {scores['test']:.2f}  {speed:,.0f} tok/s  "
              f"{minutes:.1f} min", flush=True)
    print_table(out, results)


def print_table(out: Path, results: list[dict]) -> None:
    (out / "ablation.json").write_text(json.dumps(results, indent=2) + "\n")
    print("\n| # | model | dev F1 | test F1 | tagging tok/s | train min | flags for `nerwin train` |")
    print("|---|---|---:|---:|---:|---:|---|")
    for r in results:
        print(f"| {r['row']} | {r['name']} | {r['dev']:.2f} | {r['test']:.2f} | {r['tokens_per_second']:,} | "
              f"{r['train_minutes']} | `{r['flags'] or '(defaults)'}` |")


if __name__ == "__main__":
    main()
