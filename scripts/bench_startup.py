"""Start-up time: wall time of `nerwin tag "one sentence"` as a new process.

    python scripts/bench_startup.py [--runs 7]

Measured twice: with numba's compile cache warm (the usual case), and with an empty cache (a first
run after installing), by pointing NUMBA_CACHE_DIR at a fresh folder. Prints each run and the median.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SENTENCE = "Samuel Quinn was arrested in the Hilton Hotel in Paris in April 1989 ."


def run_once(env: dict) -> tuple[float, str]:
    exe = Path(sys.executable).with_name("nerwin")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "nerwin.cli"]
    t0 = time.perf_counter()
    done = subprocess.run([*cmd, "tag", SENTENCE], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        sys.exit(f"nerwin tag failed: {done.stderr.strip()}")
    return elapsed, (done.stdout + done.stderr).strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()

    cold_times = []
    for _ in range(min(args.runs, 3)):
        folder = tempfile.mkdtemp(prefix="nerwin-cold-cache-")
        env = {**os.environ, "NUMBA_CACHE_DIR": folder}
        elapsed, output = run_once(env)
        cold_times.append(elapsed)
        shutil.rmtree(folder, ignore_errors=True)
    print(f"empty compile cache: {', '.join(f'{t:.2f}' for t in cold_times)} s; "
          f"median {statistics.median(cold_times):.2f} s")
    print(f"  output: {output}")

    run_once(dict(os.environ))  # fill the usual cache
    warm = [run_once(dict(os.environ))[0] for _ in range(args.runs)]
    print(f"warm compile cache:  {', '.join(f'{t:.2f}' for t in warm)} s; median {statistics.median(warm):.2f} s")


if __name__ == "__main__":
    main()
