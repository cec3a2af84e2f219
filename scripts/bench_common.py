"""Shared pieces of the benchmarks: data location, the same model in PyTorch, timing helpers."""
from __future__ import annotations

import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nerwin.data import DATA_ENV, find_split_files, read_conll  # noqa: E402


def data_folder(option: str | None) -> Path:
    """--data, else $NERWIN_DATA, else ../shared/data/conll2003 beside the checkout."""
    for candidate in (option, os.environ.get(DATA_ENV), ROOT.parent / "shared" / "data" / "conll2003"):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    sys.exit(f"no CoNLL folder: pass --data FOLDER or set {DATA_ENV}")


def load_split(folder: Path, split: str):
    return read_conll(find_split_files(folder)[split])


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def torch_or_none():
    try:
        import torch
    except ImportError:
        return None
    return torch


def torch_window_model(torch, vocab_sizes, dims, width, hidden, n_out, dropout, seed):
    """The same window network in PyTorch: embeddings per column, concatenated windows, tanh layer."""
    nn = torch.nn
    torch.manual_seed(seed)

    class Window(nn.Module):
        def __init__(self):
            super().__init__()
            self.embeddings = nn.ModuleList(nn.Embedding(v, d) for v, d in zip(vocab_sizes, dims))
            self.hidden = nn.Linear(width * sum(dims), hidden)
            self.dropout = nn.Dropout(dropout)
            self.output = nn.Linear(hidden, n_out)

        def forward(self, windows):
            x = torch.cat([e(w).flatten(1) for e, w in zip(self.embeddings, windows)], dim=1)
            return self.output(self.dropout(torch.tanh(self.hidden(x))))

    return Window()


def describe_machine() -> str:
    import platform
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def fmt_rate(x: float) -> str:
    return f"{x:,.0f}"


__all__ = ["ROOT", "data_folder", "load_split", "peak_rss_mb", "torch_or_none", "torch_window_model",
           "describe_machine", "fmt_rate", "np"]


def seconds_on_unseen_text(model: Path | str, lines: list[str], warm: list[str], pause: float = 0.0,
                           first_pass: bool = False) -> float:
    """Wall time for a fresh tagger, which has first tagged `warm`, to tag `lines`, 512 a call as
    `nerwin tag` does. Tagging memoizes the text and words it has met, so a timing that must not see
    `lines` twice needs a fresh tagger each time. With `first_pass`, a two-pass model's first pass
    alone (a one-pass tagger)."""
    import nerwin

    tagger = nerwin.load(model)
    if first_pass:
        tagger = tagger.first_pass
    for i in range(0, len(warm), 512):
        tagger.tag_texts(warm[i:i + 512])  # the compiled kernels load here too
    time.sleep(pause)
    t0 = time.perf_counter()
    for i in range(0, len(lines), 512):
        tagger.tag_texts(lines[i:i + 512])
    return time.perf_counter() - t0
