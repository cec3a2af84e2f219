"""Tagging speed: (a) the network alone on prepared batches, nerwin vs PyTorch; (b) end to end from raw
text lines (tokenize, featurize, score, decode, spans), in tokens/s.

    python scripts/bench_tag.py [--data FOLDER] [--model models/default] [--repeat 5]

Text comes from the dev file (its sentences joined with spaces, one a line). (a) uses the model's own
sizes with the same weights copied into PyTorch, batches of 4096 windows, one thread count for both.
(b) never tags the dev text twice with one tagger (tagging memoizes the chunks and words it meets): each
run loads a fresh tagger and first feeds it the train text (or 50 train lines: cold), then times dev.

A two-pass model (`nerwin train --two-pass`) has no PyTorch twin: (a) times its two networks (the second
on the document columns made from the first's tags, which are made beforehand), and (b) also tags
whole documents (a text per dev document, its sentences joined) beside the lines, and times its first
pass alone (a one-pass tagger) beside the two passes.
"""
from __future__ import annotations

import argparse
import time

from bench_common import (
    ROOT,
    data_folder,
    describe_machine,
    load_split,
    np,
    seconds_on_unseen_text,
    torch_or_none,
    torch_window_model,
)

import nerwin
from nerwin.autodiff.tensor import no_grad
from nerwin.fast import Forward


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        time.sleep(0.5)  # let the other side's BLAS/OpenMP threads stop spinning before the clock starts
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", help="CoNLL folder (default: $NERWIN_DATA or ../shared/data/conll2003)")
    ap.add_argument("--model", default=str(ROOT / "models" / "default"))
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--batch", type=int, default=4096)
    args = ap.parse_args()
    print(f"machine: {describe_machine()}")

    tagger = nerwin.load(args.model)
    dev = load_split(data_folder(args.data), "validation")
    if tagger.first_pass is not None:
        two_pass(tagger, dev, args)
        return
    enc = tagger.featurizer.encode([s.tokens for s in dev])
    batches = [enc.windows(enc.positions[i:i + args.batch]) for i in range(0, len(enc.positions), args.batch)]
    n_tokens = len(enc.positions)
    model = tagger.model.eval()
    forward = Forward(model)

    def run_nerwin():  # the fast wing's forward pass on windows (first layer by token types, buffers reused)
        for w in batches:
            forward.windows(w)

    run_nerwin()
    with no_grad():
        assert np.allclose(forward.windows(batches[0]), model(batches[0]).data, atol=1e-4)
    print(f"\n(a) network only, batches of {args.batch}, {n_tokens:,} tokens, best of {args.repeat} "
          "(the two alternate):")
    torch = torch_or_none()
    if torch is None:
        t_nerwin = best_of(run_nerwin, args.repeat)
        print(f"  nerwin   {n_tokens / t_nerwin:>12,.0f} tokens/s")
        print("  PyTorch  not installed (pip install '.[bench]'): skipped")
    else:
        cols = tagger.featurizer.columns
        tm = torch_window_model(torch, [len(c.vocab) for c in cols], [c.dim for c in cols], tagger.featurizer.width,
                                model.hidden.weight.shape[1], model.output.weight.shape[1], 0.0, 0)
        with torch.no_grad():
            for te, ne in zip(tm.embeddings, model.embeddings):
                te.weight.copy_(torch.from_numpy(ne.weight.data))
            tm.hidden.weight.copy_(torch.from_numpy(model.hidden.weight.data.T.copy()))
            tm.hidden.bias.copy_(torch.from_numpy(model.hidden.bias.data))
            tm.output.weight.copy_(torch.from_numpy(model.output.weight.data.T.copy()))
            tm.output.bias.copy_(torch.from_numpy(model.output.bias.data))
        tm.eval()
        tb = [[torch.from_numpy(x) for x in w] for w in batches]

        def run_torch():
            with torch.inference_mode():
                for w in tb:
                    tm(w)

        run_torch()
        with torch.inference_mode():
            same = np.allclose(tm(tb[0]).numpy(), forward.windows(batches[0]), atol=1e-4)
        t_nerwin = t_torch = float("inf")
        for _ in range(args.repeat):
            t_nerwin = min(t_nerwin, best_of(run_nerwin, 1))
            t_torch = min(t_torch, best_of(run_torch, 1))
        print(f"  nerwin   {n_tokens / t_nerwin:>12,.0f} tokens/s")
        print(f"  PyTorch  {n_tokens / t_torch:>12,.0f} tokens/s ({torch.__version__}, "
              f"{torch.get_num_threads()} threads; same outputs: {same})")
        print(f"  nerwin / PyTorch = {t_torch / t_nerwin:.2f}x")

    end_to_end(args, dev, n_tokens)


def end_to_end(args, dev, n_tokens: int, documents: bool = False) -> None:
    """(b); for a two-pass model (`documents`) also its first pass alone, a one-pass tagger, side by side."""
    lines = [" ".join(s.tokens) for s in dev]
    train_lines = [" ".join(s.tokens) for s in load_split(data_folder(args.data), "train")]
    texts = {"lines": lines}
    if documents:
        texts["documents"] = [" ".join(" ".join(s.tokens) for s in dev if s.doc == d)
                              for d in dict.fromkeys(s.doc for s in dev)]

    # So that no timed run meets the dev text a second time, each run gets a fresh tagger, first given the
    # train text (a tagger that has been running a while: dev's frequent words are known, its rare ones
    # are new), or only 50 lines of it (cold).
    runs = [("after the train text", train_lines, False), ("cold (a new tagger)", train_lines[:50], False)]
    if documents:  # the same two runs of the first pass alone: the one-pass figures beside
        runs += [(f"{name}, first pass alone (one pass)", warm, True) for name, warm, _ in runs]
    for what, items in texts.items():
        timings = {name: [] for name, _, _ in runs}
        for _ in range(args.repeat):
            for name, warm, first in runs:
                timings[name].append(seconds_on_unseen_text(args.model, items, warm, pause=0.5, first_pass=first))
        print(f"\n(b) end to end from {len(items):,} raw dev text {what}, 512 a call (tokenize, featurize, score, "
              f"decode, spans), best of {args.repeat}, a fresh tagger each run:")
        for name, times in timings.items():
            print(f"  nerwin   {n_tokens / min(times):>12,.0f} tokens/s  {name}")


def two_pass(tagger, dev, args) -> None:
    """(a) and (b) for a two-pass model: no PyTorch twin; its two networks timed apart and together."""
    enc = tagger.encode([s.tokens for s in dev], [s.doc for s in dev])
    n_tokens = len(enc.positions)
    first = Forward(tagger.first_pass.model.eval())
    second = Forward(tagger.model.eval())
    with_docs = tagger.documents.extend(enc, tagger.first_pass.best_ids(enc), len(enc.ids))
    batches = [(enc.windows(enc.positions[i:i + args.batch]), with_docs.windows(with_docs.positions[i:i + args.batch]))
               for i in range(0, n_tokens, args.batch)]

    def run(which):
        def go():
            for pair in batches:
                for forward, w in zip((first, second), pair):
                    if forward in which:
                        forward.windows(w)
        return go

    print(f"\n(a) network only (a two-pass model: no PyTorch twin), batches of {args.batch}, {n_tokens:,} tokens, "
          f"best of {args.repeat}:")
    for name, which in (("first pass", (first,)), ("second pass", (second,)), ("both", (first, second))):
        run(which)()
        print(f"  nerwin   {n_tokens / best_of(run(which), args.repeat):>12,.0f} tokens/s  {name}")
    end_to_end(args, dev, n_tokens, documents=True)


if __name__ == "__main__":
    main()
