"""Write a model card for a trained model: the command that made it, dev and test F1 (strict IOB2 and
conlleval-compatible), per-type scores, tagging speed and size. Also writes scores.json, which CI reads.

    python scripts/model_card.py models/default [--data FOLDER]

The test set is scored here once, for the report; every choice is made on dev (see the model's log).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from bench_common import data_folder, describe_machine, load_split, seconds_on_unseen_text

import nerwin
from nerwin.evaluation import evaluate
from nerwin.serialize import write_json_atomic


def card_keys(model: Path, folder: Path, tagger) -> dict:
    """The keys every trained model's scores.json holds (`nerwin.card`): name, version, labels, data files
    with sha256 and sizes, command, dev and test scores per type."""
    from nerwin.card import card_data, source_facts
    from nerwin.data import load_corpus

    card = card_data(tagger, load_corpus(folder), name=model.name, version=nerwin.__version__,
                     data=source_facts(folder), command=tagger.config.get("command"))
    for split in card["data"].values():  # the files as the README names them, beside a checkout
        split["file"] = f"conll2003/{Path(split['file']).name}"
    return card


def _data_table(card: dict) -> str:
    rows = ["| split | file | sentences | tokens | bytes | sha256 |", "|---|---|---:|---:|---:|---|"]
    for split, f in card["data"].items():
        rows.append(f"| {split} | `{f['file']}` | {f['sentences']:,} | {f['tokens']:,} | {f['bytes']:,} | "
                    f"`{f['sha256']}` |")
    return "\n".join(rows)


def _table(report: dict) -> str:
    from nerwin.card import score_table

    return score_table({**report, "entities": report["gold_entities"]})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("--data", help="CoNLL folder (default: $NERWIN_DATA or ../shared/data/conll2003)")
    args = ap.parse_args()
    folder = data_folder(args.data)
    model = Path(args.model)
    tagger = nerwin.load(model)
    from nerwin.data import find_split_files
    files = find_split_files(folder)
    dev = evaluate(files["validation"], tagger)
    test = evaluate(files["test"], tagger)
    two_pass = tagger.first_pass is not None
    alone = evaluate(files["test"], tagger, documents=False) if two_pass else None  # each sentence a document
    casing = None
    if tagger.caseless is not None:  # the test file re-cased (`scripts/casing.py`): where the companion works
        from casing import casing_scores

        from nerwin.data import read_data

        casing = casing_scores(tagger, read_data(files["test"]), file=str(files["test"]))

    # speed as scripts/bench_tag.py measures it: a fresh tagger that has tagged the train text first
    # (tagging memoizes what it has seen), timed once on the dev text
    lines = [" ".join(s.tokens) for s in load_split(folder, "validation")]
    warm = [" ".join(s.tokens) for s in load_split(folder, "train")]
    rate = dev["tokens"] / seconds_on_unseen_text(model, lines, warm)

    weights = model / "weights.safetensors"
    size_mb = sum(f.stat().st_size for f in model.iterdir() if f.is_file()) / 1e6
    params = (tagger.model.num_parameters() + (tagger.first_pass.model.num_parameters() if two_pass else 0)
              + (tagger.caseless.model.num_parameters() if casing else 0))
    config = tagger.config
    training = config.get("training", {})
    scores = {
        "dev": {k: dev[k] for k in ("precision", "recall", "f1")} | {"conlleval_f1": dev["conlleval"]["f1"],
                                                                     "per_type": dev["per_type"]},
        "test": {k: test[k] for k in ("precision", "recall", "f1")} | {"conlleval_f1": test["conlleval"]["f1"],
                                                                       "per_type": test["per_type"]},
        "tagging_tokens_per_second": round(rate),
        **({"test_sentences_alone": {k: alone[k] for k in ("precision", "recall", "f1")}} if two_pass else {}),
        **({"test_casing": casing} if casing else {}),
        "parameters": params,
        "machine": describe_machine(),
    }
    keys = card_keys(model, folder, tagger)
    write_json_atomic(model / "scores.json", {**keys, **scores})
    features = ", ".join(f"{c.name} {c.dim}-d" for c in tagger.featurizer.columns)
    averaged = f" weights averaged over the last {training['average']} epochs;" if training.get("average") else ""
    passes = ""
    if two_pass:
        first = tagger.first_pass.config.get("dev") or {}
        hidden = (tagger.first_pass.model.hidden.weight.shape[1], tagger.model.hidden.weight.shape[1])
        shape = "the same shape" if hidden[0] == hidden[1] else f"{hidden[1]} hidden units (the first: {hidden[0]})"
        passes = f"""
It reads each document twice. The first pass is the one-pass window tagger (token columns only; dev F1
{first.get('f1', float('nan')):.2f} alone, best epoch {first.get('epoch')}); the second pass is a window tagger of
{shape} that also sees, for each word of its window, the first pass's tag and what the first pass made of the
same word, the same name and longer names holding the word elsewhere in the document (`nerwin.documents`).
It was trained on first-pass tags of train from {training.get('folds')} cross-validation folds (no sentence's tags
come from a model that saw its document), with {training.get('lone', 0):.0%} of the training sentences read as
documents of their own. `nerwin evaluate` reads the sentences between two -DOCSTART- lines as one document.
"""
    companion = ""
    if casing:
        rows = "\n".join(f"| {r['text']} | {r['precision']:.2f} | {r['recall']:.2f} | {r['f1']:.2f} |" for r in casing)
        kept = (tagger.caseless.config.get("dev") or {}).get("f1")
        kept = "?" if kept is None else f"{kept:.2f}"
        companion = f"""
A caseless companion (a one-pass tagger without the capitalization and shape columns, dev F1 {kept} in
every casing) tags the documents written without the usual capitals: all lowercase, or of 20 words
or more in capitals or title case (`nerwin.tagger.uncased`). The test file re-cased, gold tags kept
(`python scripts/casing.py`):

| test text | precision | recall | F1 strict |
|---|---:|---:|---:|
{rows}
"""
    second = " (the second pass; see below)" if two_pass else ""
    uncased = "on text without the usual capitals (see above)," if casing else "on lowercased text,"
    alone_line = (f"Test with each sentence read alone, as a one-sentence document (`--sentences`): F1 "
                  f"{alone['f1']:.2f}." if two_pass else "")
    card = f"""# nerwin model: {model.name}

A window tagger for English named entities (PER, LOC, ORG, MISC), trained by `nerwin train` on
CoNLL-2003 train, with dev (`valid.txt`) for early stopping only.

## Data

{_data_table(keys)}

## How it was made

```sh
{config.get('command') or 'nerwin train ...'}
```

Hyper-parameters: window {tagger.featurizer.half} words each side; features {features};
hidden {config['network']['hidden']}{second} {config['network']['activation']}, dropout {config['network']['dropout']},
input dropout {config['network'].get('input_dropout', 0.0)};{averaged}
{'sentence-level CRF (learned transitions), ' if config['network'].get('crf') else ''}Viterbi decoding
constrained to valid IOB2; Adam lr {training.get('lr')}, batch {training.get('batch_size')}, seed
{training.get('seed')}; best dev epoch {config.get('dev', {}).get('epoch')}.
{passes}
## Scores

Entity-level, seqeval, **strict IOB2** (the conlleval-compatible lenient figure beside it).

| split | precision | recall | F1 strict | F1 conlleval |
|---|---:|---:|---:|---:|
| dev (valid.txt) | {dev['precision']:.2f} | {dev['recall']:.2f} | {dev['f1']:.2f} | {dev['conlleval']['f1']:.2f} |
| test (test.txt) | {test['precision']:.2f} | {test['recall']:.2f} | **{test['f1']:.2f}** | \
{test['conlleval']['f1']:.2f} |

{alone_line}

Test, per type:

{_table(test)}
{companion}
Reproduce: `nerwin evaluate path/to/conll2003/test.txt --model {model}`.

## Size and speed

{params:,} parameters, {size_mb:.1f} MB on disk ({weights.name}: float32). End-to-end tagging of raw
text (tokenize, featurize, score, decode, spans) of the dev text, by a tagger that has tagged the train
text first: {rate:,.0f} tokens/s on {describe_machine()} (`python scripts/bench_tag.py` for more).

## Limits

Trained on Reuters news from 1996; no outside data (no pre-trained embeddings, no gazetteers). Expect
lower scores on other genres, {uncased} and on names unseen in training.
"""
    (model / "README.md").write_text(card, encoding="utf-8")
    print(card)


if __name__ == "__main__":
    main()
