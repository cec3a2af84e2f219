"""Tagging a corpus: the Python API (`Tagger.pipe`) against `nerwin tag --file` in every output format and
with `--jobs 2`, in tokens/s and peak memory, each in a fresh process.

    python scripts/bench_corpus.py [--corpus FILE] [--data FOLDER] [--model M] [--copies 10] [--repeat 1]

Without --corpus it writes its own to a temporary folder (deleted afterwards): every sentence of the
CoNLL-2003 folder (train, dev, test; tokens joined by spaces, one a line), `--copies` times, shuffled
(10 copies: 3.0M tokens, 207k lines). Tokens are counted as the tagger splits them. Each measurement is a
new process started by this one: its wall time from start to exit (start-up, model loading and writing
included for the CLI; the API figure times `pipe` alone, after loading) and its peak RSS (from wait4; with
--jobs, the largest of the processes). This machine is shared: figures move from run to run.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_common import ROOT, data_folder, describe_machine, load_split

API = """
import json, sys, time
import nerwin
tagger = nerwin.load(sys.argv[2] or None)
lines = open(sys.argv[1], encoding="utf-8").read().split("\\n")[:-1]
t0 = time.perf_counter()
tokens = 0
for entities in tagger.pipe(lines, batch_size=512):
    pass
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds}))
"""


def run(cmd: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MB, stdout) of a child process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env, cwd=ROOT)
    out = proc.stdout.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(cmd)}")
    return seconds, usage.ru_maxrss / 1024, out


def write_corpus(folder: Path, data: Path, copies: int) -> Path:
    lines = [" ".join(s.tokens) for split in ("train", "validation", "test") for s in load_split(data, split)]
    lines = lines * copies
    random.Random(0).shuffle(lines)
    path = folder / "corpus.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def count_tokens(path: Path) -> int:
    from nerwin.tokenize import tokenize

    with open(path, encoding="utf-8") as f:
        return sum(len(tokenize(line.rstrip("\n"))) for line in f)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", help="a text file, one text a line (default: written from CoNLL-2003)")
    ap.add_argument("--data", help="CoNLL folder (default: $NERWIN_DATA or ../shared/data/conll2003)")
    ap.add_argument("--model", default="", help="model folder (default: the shipped model)")
    ap.add_argument("--copies", type=int, default=10)
    ap.add_argument("--formats", default="text,json,conll,displacy")
    args = ap.parse_args()
    print(f"machine: {describe_machine()}")
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with tempfile.TemporaryDirectory(prefix="nerwin-bench-corpus-") as tmp:
        tmp = Path(tmp)
        corpus = Path(args.corpus) if args.corpus else write_corpus(tmp, data_folder(args.data), args.copies)
        tokens = count_tokens(corpus)
        print(f"corpus: {tokens:,} tokens, {corpus.stat().st_size / 2**20:,.1f} MB")
        rows = []
        seconds, rss, out = run([sys.executable, "-c", API, str(corpus), args.model], env)
        api = tokens / json.loads(out)["seconds"]
        rows.append(("Python API, pipe(batch_size=512)", api, rss, seconds))
        model = ["--model", args.model] if args.model else []
        runs = [(f, []) for f in args.formats.split(",")] + [("text", ["--jobs", "2"])]
        for fmt, extra in runs:
            target = tmp / f"out-{fmt}{'-'.join(extra)}"
            seconds, rss, _ = run([sys.executable, "-m", "nerwin.cli", "tag", "--file", str(corpus), "-F", fmt, "-o",
                                   str(target), "--quiet", *model, *extra], env)
            target.unlink()
            rows.append((f"nerwin tag --file -F {fmt} {' '.join(extra)}".strip(), tokens / seconds, rss, seconds))
        print("\n| run | tokens/s | of the API | peak RSS MB | wall s |\n|---|---:|---:|---:|---:|")
        for name, rate, rss, seconds in rows:
            print(f"| {name} | {rate:,.0f} | {rate / api:.0%} | {rss:,.0f} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
