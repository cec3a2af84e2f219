"""Training speed: nerwin vs PyTorch on the same window model, same data order, alternating epochs.

    python scripts/bench_train.py [--data FOLDER] [--epochs 3] [--batch-size 256]

Model: window 5 (2 each side), 50-d words + 5-d caps, 300 tanh hidden, dropout 0.5, 9 tags, Adam
lr 1e-3, gradient clipping at norm 5, singletons trained as UNK half the time. Every framework sees
the same batches in the same order (one shared seed per epoch). After a warm-up (numba compile or
cache load, PyTorch's first steps; all start from the same initial weights), epochs alternate nerwin /
torch Adam (default) / torch Adam (foreach) / torch Adam (fused), so the machine's state is shared fairly.
Prints tokens/s for each, the ratios, nerwin's per-step breakdown, compile time, peak memory, and dev
F1 after the same epochs; then the step's matrix products timed alone (sgemm through numpy on the same
shapes, in the same run) as the bound a step could reach, and nerwin's share of it.
Without PyTorch (the optional `bench` extra), nerwin alone is measured.
"""
from __future__ import annotations

import argparse
import time

from bench_common import (
    data_folder,
    describe_machine,
    load_split,
    np,
    peak_rss_mb,
    torch_or_none,
    torch_window_model,
)

from nerwin import optim
from nerwin.autodiff import functions as F
from nerwin.autodiff.tensor import no_grad
from nerwin.decode import allowed_transitions, decode
from nerwin.features import UNK, Featurizer
from nerwin.metrics import score
from nerwin.model import WindowModel
from nerwin.training import tag_set

HIDDEN, WORD_DIM, CAPS_DIM, HALF, DROPOUT, LR, CLIP, UNK_RATE = 300, 50, 5, 2, 0.5, 1e-3, 5.0, 0.5


class Data:
    def __init__(self, folder):
        train, dev = load_split(folder, "train"), load_split(folder, "validation")
        self.tags = tag_set([s.tags for s in train])
        index = {t: i for i, t in enumerate(self.tags)}
        self.fz = Featurizer.build([s.tokens for s in train], {"word": WORD_DIM, "caps": CAPS_DIM}, HALF)
        self.enc = self.fz.encode([s.tokens for s in train], [[index[t] for t in s.tags] for s in train])
        self.dev = self.fz.encode([s.tokens for s in dev])
        self.dev_gold = [s.tags for s in dev]
        counts = {}
        for s in train:
            for t in s.tokens:
                k = self.fz.columns[0].key(t)
                counts[k] = counts.get(k, 0) + 1
        self.singleton = np.array([counts.get(k, 0) == 1 for k in self.fz.columns[0].vocab])

    def batches(self, epoch: int, batch_size: int):
        """The epoch's batches: (windows per column, targets), identical for every framework."""
        rng = np.random.default_rng([7, epoch])
        order = rng.permutation(len(self.enc.positions))
        for b in range(0, len(order), batch_size):
            batch = order[b:b + batch_size]
            windows = self.enc.windows(self.enc.positions[batch])
            w = windows[0]
            w[self.singleton[w] & (rng.random(w.shape) < UNK_RATE)] = UNK
            yield windows, self.enc.tags[batch]

    def dev_f1(self, scores: np.ndarray) -> float:
        start, trans = allowed_transitions(self.tags)
        ids = decode(scores, self.dev.lengths, start, trans)
        names, out, at = np.array(self.tags, dtype=object)[ids], [], 0
        for n in self.dev.lengths:
            out.append(names[at:at + n].tolist())
            at += n
        return score(self.dev_gold, out)["f1"]


class NerwinRun:
    name = "nerwin"

    def __init__(self, data: Data, seed: int):
        rng = np.random.default_rng(seed)
        self.model = WindowModel([len(c.vocab) for c in data.fz.columns], [WORD_DIM, CAPS_DIM], data.fz.width,
                                 HIDDEN, len(data.tags), "tanh", DROPOUT, rng)
        self.opt = optim.Adam(self.model.parameters(), lr=LR)
        self.parts = {k: 0.0 for k in ("gather", "forward", "loss", "backward", "optimizer")}
        self.steps = 0

    def epoch(self, batches, limit: int | None = None) -> tuple[int, float]:
        self.model.train()
        tokens, t_start = 0, time.perf_counter()
        parts, clock = self.parts, time.perf_counter
        for i, (windows, targets) in enumerate(batches):
            if limit is not None and i >= limit:
                break
            t0 = clock()
            x = self.model.gather(windows)
            t1 = clock()
            logits = self.model.head(x)
            t2 = clock()
            loss = F.cross_entropy(logits, targets)
            t3 = clock()
            self.opt.zero_grad()
            loss.backward()
            t4 = clock()
            optim.clip_grad_norm(self.opt.params, CLIP)
            self.opt.step()
            loss.item()
            t5 = clock()
            parts["gather"] += t1 - t0
            parts["forward"] += t2 - t1
            parts["loss"] += t3 - t2
            parts["backward"] += t4 - t3
            parts["optimizer"] += t5 - t4
            self.steps += 1
            tokens += len(targets)
        return tokens, time.perf_counter() - t_start

    def dev_scores(self, data: Data) -> np.ndarray:
        self.model.eval()
        out = []
        with no_grad():
            for i in range(0, len(data.dev.positions), 4096):
                out.append(self.model(data.dev.windows(data.dev.positions[i:i + 4096])).data)
        return np.concatenate(out)


class TorchRun:
    def __init__(self, torch, data: Data, seed: int, variant: str, init: dict[str, np.ndarray]):
        self.torch = torch
        self.name = f"torch Adam ({variant})"
        self.model = torch_window_model(torch, [len(c.vocab) for c in data.fz.columns], [WORD_DIM, CAPS_DIM],
                                        data.fz.width, HIDDEN, len(data.tags), DROPOUT, seed)
        copy_weights(torch, init, self.model)
        kwargs = {"default": {}, "foreach": {"foreach": True}, "fused": {"fused": True}}[variant]
        self.opt = torch.optim.Adam(self.model.parameters(), lr=LR, **kwargs)
        self.loss_fn = torch.nn.CrossEntropyLoss()

    def epoch(self, batches, limit: int | None = None) -> tuple[int, float]:
        torch = self.torch
        self.model.train()
        tokens, t_start = 0, time.perf_counter()
        for i, (windows, targets) in enumerate(batches):
            if limit is not None and i >= limit:
                break
            logits = self.model([torch.from_numpy(w) for w in windows])
            loss = self.loss_fn(logits, torch.from_numpy(targets))
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), CLIP)
            self.opt.step()
            loss.item()
            tokens += len(targets)
        return tokens, time.perf_counter() - t_start

    def dev_scores(self, data: Data) -> np.ndarray:
        torch = self.torch
        self.model.eval()
        out = []
        with torch.no_grad():
            for i in range(0, len(data.dev.positions), 4096):
                w = data.dev.windows(data.dev.positions[i:i + 4096])
                out.append(self.model([torch.from_numpy(x) for x in w]).numpy())
        return np.concatenate(out)


def copy_weights(torch, state: dict[str, np.ndarray], model) -> None:
    """Start the PyTorch model from nerwin's initial weights (Linear weights are stored transposed)."""
    with torch.no_grad():
        for i, emb in enumerate(model.embeddings):
            emb.weight.copy_(torch.from_numpy(state[f"embeddings.{i}.weight"]))
        for name in ("hidden", "output"):
            layer = getattr(model, name)
            layer.weight.copy_(torch.from_numpy(np.ascontiguousarray(state[f"{name}.weight"].T)))
            layer.bias.copy_(torch.from_numpy(state[f"{name}.bias"]))


def gemm_bound(n: int, d: int, h: int, o: int, reps: int = 300) -> tuple[float, float]:
    """(seconds, FLOPs) of one training step's six matrix products alone, float32, median of `reps`:
    forward X W1 and A W2; backward A^T dS, dS W2^T, X^T dH, dH W1^T (the input's gradient feeds the
    embedding rows)."""
    rng = np.random.default_rng(0)
    x, w1, a, w2, ds, dh = (rng.standard_normal(s, dtype=np.float32)
                            for s in ((n, d), (d, h), (n, h), (h, o), (n, o), (n, h)))
    outs = [np.empty(s, np.float32) for s in ((n, h), (n, o), (h, o), (n, h), (d, h), (n, d))]
    pairs = [(x, w1), (a, w2), (a.T, ds), (ds, w2.T), (x.T, dh), (dh, w1.T)]
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        for (p, q), out in zip(pairs, outs):
            np.matmul(p, q, out=out)
        times.append(time.perf_counter() - t)
    return float(np.median(times)), 2.0 * n * (3 * d * h + 3 * h * o)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", help="CoNLL folder (default: $NERWIN_DATA or ../shared/data/conll2003)")
    ap.add_argument("--epochs", type=int, default=3, help="measured epochs per framework (after warm-up)")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--warmup-steps", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--variants", default="default,foreach,fused", help="PyTorch Adam variants to run")
    args = ap.parse_args()

    print(f"machine: {describe_machine()}")
    t0 = time.perf_counter()
    data = Data(data_folder(args.data))
    print(f"data: {len(data.enc.positions):,} training tokens, {len(data.dev.positions):,} dev tokens "
          f"(prepared in {time.perf_counter() - t0:.1f} s)")

    init = NerwinRun(data, args.seed).model.state_dict()  # every framework starts from these weights
    t0 = time.perf_counter()
    nerwin_run = NerwinRun(data, args.seed)
    nerwin_run.epoch(data.batches(0, args.batch_size), limit=1)
    compile_s = time.perf_counter() - t0
    nerwin_run.epoch(data.batches(0, args.batch_size), limit=args.warmup_steps)
    runs = [nerwin_run]
    torch = torch_or_none()
    if torch is None:
        print("PyTorch: not installed (pip install '.[bench]'), skipped; measuring nerwin alone")
    else:
        print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads")
        for variant in args.variants.split(","):
            run = TorchRun(torch, data, args.seed, variant, init)
            run.epoch(data.batches(0, args.batch_size), limit=args.warmup_steps)
            runs.append(run)
    nerwin_run.parts = {k: 0.0 for k in nerwin_run.parts}
    nerwin_run.steps = 0
    print(f"nerwin first step (numba compile or cache load): {compile_s:.2f} s")

    totals = {r.name: [0, 0.0] for r in runs}
    for epoch in range(1, args.epochs + 1):
        line = [f"epoch {epoch}:"]
        for run in runs:
            tokens, seconds = run.epoch(data.batches(epoch, args.batch_size))
            totals[run.name][0] += tokens
            totals[run.name][1] += seconds
            line.append(f"{run.name} {tokens / seconds:,.0f} tok/s")
        print("  ".join(line), flush=True)

    print(f"\ntraining throughput over {args.epochs} epochs (batch {args.batch_size}):")
    base = totals["nerwin"][0] / totals["nerwin"][1]
    for run in runs:
        tokens, seconds = totals[run.name]
        rate = tokens / seconds
        ratio = "" if run is nerwin_run else f"   nerwin is {base / rate:.2f}x"
        f1 = data.dev_f1(run.dev_scores(data))
        print(f"  {run.name:<24} {rate:>10,.0f} tokens/s   dev F1 {f1:6.2f}{ratio}")
    steps = max(nerwin_run.steps, 1)
    parts = "  ".join(f"{k} {v / steps * 1e3:.3f}" for k, v in nerwin_run.parts.items())
    step = sum(nerwin_run.parts.values()) / steps
    print(f"\nnerwin per step (ms): {parts}  total {step * 1e3:.3f}")
    width = data.fz.width
    bound, flops = gemm_bound(args.batch_size, width * (WORD_DIM + CAPS_DIM), HIDDEN, len(data.tags))
    print(f"the step's six matrix products alone (sgemm via numpy, same shapes, median of 300): {bound * 1e3:.3f} ms "
          f"= {flops / bound / 1e9:.0f} GFLOP/s; nerwin's step {flops / step / 1e9:.0f} GFLOP/s, "
          f"{100 * bound / step:.0f}% of that bound ({flops / args.batch_size / 1e6:.2f} MFLOP a token)")
    print(f"peak memory of this process (both frameworks): {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
