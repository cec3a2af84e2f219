"""The `nerwin` command: train, evaluate, tag, info.

Each command is a thin wrapper over a library function. A NerwinError anywhere becomes one red line
and exit code 1 (in `NerwinGroup.invoke`, the one place that does it). Heavy modules (numpy, numba,
datasets) are imported inside the commands, so `nerwin --help` answers at once.
"""
from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path

import click
import typer
from typer.core import TyperGroup

from .errors import NerwinError
from .train_config import TrainConfig

_DEFAULT = TrainConfig()  # the train command's option defaults: the library's, one source of truth


class NerwinGroup(TyperGroup):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except NerwinError as e:
            typer.secho(f"error: {e}", fg=typer.colors.RED, err=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            typer.secho("interrupted", fg=typer.colors.RED, err=True)
            raise typer.Exit(130) from None


app = typer.Typer(name="nerwin", cls=NerwinGroup, no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False,
                  help="Named-entity recognition for English with a window network written from scratch.")


class TagFormat(str, Enum):
    text = "text"
    json = "json"
    conll = "conll"
    html = "html"
    displacy = "displacy"


class ReportFormat(str, Enum):
    text = "text"
    json = "json"


MODEL_HELP = "Model folder (default: the model shipped with nerwin, or $NERWIN_MODEL)."


# ---- train -----------------------------------------------------------------------------------------

@app.command("train")
def train_cli(
    output: Path = typer.Argument(..., help="Folder to write the model to."),
    data: Path | None = typer.Option(None, "--data", "-d", help="Folder of CoNLL files (train, valid/dev, "
                                        "test). Default: $NERWIN_DATA, else CoNLL-2003 from the Hugging Face hub."),
    train_file: Path | None = typer.Option(None, "--train-file", help="Training CoNLL file (with --dev-file)."),
    dev_file: Path | None = typer.Option(None, "--dev-file", help="Dev CoNLL file for early stopping."),
    force: bool = typer.Option(False, "--force", "-f", help="Replace an existing model at OUTPUT."),
    epochs: int = typer.Option(_DEFAULT.epochs, "--epochs", "-e", help="Most epochs to train."),
    patience: int = typer.Option(_DEFAULT.patience, "--patience",
                                 help="Stop after this many epochs without a better dev F1."),
    batch_size: int = typer.Option(_DEFAULT.batch_size, "--batch-size", "-b", help="Words per minibatch."),
    lr: float = typer.Option(_DEFAULT.lr, "--lr", help="Adam learning rate."),
    lr_decay: float = typer.Option(_DEFAULT.lr_decay, "--lr-decay",
                                   help="Learning-rate factor applied after each epoch."),
    window: int = typer.Option(_DEFAULT.window, "--window", "-w", help="Words on each side of the centre word."),
    word_dim: int = typer.Option(_DEFAULT.word_dim, "--word-dim", help="Word embedding size."),
    caps_dim: int = typer.Option(_DEFAULT.caps_dim, "--caps-dim",
                                 help="Capitalization feature embedding size (0 = off)."),
    suffix_dim: int = typer.Option(_DEFAULT.suffix_dim, "--suffix-dim",
                                   help="3-letter suffix embedding size (0 = off)."),
    prefix_dim: int = typer.Option(_DEFAULT.prefix_dim, "--prefix-dim",
                                   help="3-letter prefix embedding size (0 = off)."),
    shape_dim: int = typer.Option(_DEFAULT.shape_dim, "--shape-dim", help="Word-shape embedding size (0 = off)."),
    feature: list[str] = typer.Option([f"{k}={v}" for k, v in _DEFAULT.features.items()], "--feature",
                                      help="More feature columns as NAME=DIM, e.g. suffix2=10 "
                                      "(names: suffix1-5, prefix2-4, shape, caps). Repeatable."),
    hidden: int = typer.Option(_DEFAULT.hidden, "--hidden", help="Hidden layer size."),
    activation: str = typer.Option(_DEFAULT.activation, "--activation", help="tanh, hardtanh, relu or sigmoid."),
    dropout: float = typer.Option(_DEFAULT.dropout, "--dropout", help="Dropout on the hidden layer."),
    input_dropout: float = typer.Option(_DEFAULT.input_dropout, "--input-dropout",
                                        help="Dropout on the window embeddings."),
    unk_rate: float = typer.Option(_DEFAULT.unk_rate, "--unk-rate", help="Chance a word seen once is trained as UNK."),
    word_dropout: float = typer.Option(_DEFAULT.word_dropout, "--word-dropout",
                                       help="Chance any word is trained as UNK."),
    crf: bool = typer.Option(_DEFAULT.crf, "--crf", help="Sentence-level training with learned tag transitions."),
    average: int = typer.Option(_DEFAULT.average, "--average",
                                help="Score and keep the mean of the last N epochs' weights."),
    weight_decay: float = typer.Option(_DEFAULT.weight_decay, "--weight-decay", help="Decoupled weight decay (AdamW)."),
    seed: int = typer.Option(_DEFAULT.seed, "--seed", "-s", help="Random seed (same seed, same model)."),
    binary: bool = typer.Option(_DEFAULT.task == "binary", "--binary-loc",
                                help="Train the binary variant: is the centre word a LOC?"),
    log: Path | None = typer.Option(None, "--log", help="Write per-epoch figures as JSON here "
                                       "(default: OUTPUT.log.json beside the model)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run from OUTPUT.checkpoint "
                                "(same options and data)."),
):
    """Train a window tagger; the best epoch by dev F1 is saved to OUTPUT (atomically, as it improves)."""
    from .data import load_corpus
    from .training import train

    extra = {}
    for item in feature:
        name, _, dim = item.partition("=")
        if not dim.isdigit():
            raise NerwinError(f"--feature {item!r}: expected NAME=DIM, e.g. suffix2=10")
        extra[name] = int(dim)
    config = TrainConfig(features=extra, window=window, word_dim=word_dim, caps_dim=caps_dim, suffix_dim=suffix_dim,
                         prefix_dim=prefix_dim, shape_dim=shape_dim, hidden=hidden, activation=activation,
                         dropout=dropout, input_dropout=input_dropout, lr=lr, lr_decay=lr_decay,
                         weight_decay=weight_decay, batch_size=batch_size, epochs=epochs,
                         patience=patience, unk_rate=unk_rate, seed=seed, task="binary" if binary else "tags",
                         crf=crf, word_dropout=word_dropout, average=average)
    def corpus():  # loaded by `train` once the options and OUTPUT are checked
        return load_corpus(data, train_file=train_file, dev_file=dev_file)

    command = "nerwin " + " ".join(sys.argv[1:]) if sys.argv and "nerwin" in sys.argv[0] else None
    log_path = log or output.with_name(output.name + ".log.json")
    with _TrainProgress(quiet) as progress:
        result = train(corpus, output, config, force=force, log_path=log_path, progress=progress,
                       command=command, resume=resume)
    if result.interrupted:
        typer.secho("interrupted: the best model so far is kept; continue with --resume", fg=typer.colors.YELLOW,
                    err=True)
    if result.best_epoch == 0:
        raise NerwinError("no epoch finished; no model written")
    typer.echo(f"best dev F1 {result.best_dev_f1:.2f} (strict IOB2) at epoch {result.best_epoch} of "
               f"{result.epochs_run}; {result.tokens_per_second:,.0f} tokens/s; model: {output}; log: {log_path}")


class _TrainProgress:
    """A rich progress bar per epoch (tokens/s, loss), and a line with dev F1 after each epoch."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.bar = None

    def __enter__(self):
        if not self.quiet:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
            self.bar = Progress(TextColumn("epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("{task.fields[rate]} tok/s  loss {task.fields[loss]}"),
                                TimeElapsedColumn(), transient=True, console=None)
            self.bar.start()
            self.task = None
        return self

    def __call__(self, event: dict) -> None:
        if self.quiet:
            if event.get("end"):
                typer.echo(_epoch_line(event), err=True)
            return
        if event.get("end"):
            self.bar.console.print(_epoch_line(event))
            self.bar.remove_task(self.task)
            self.task = None
            return
        if self.task is None:
            self.task = self.bar.add_task("train", total=event["total"], epoch=event["epoch"], rate="-",
                                          loss="-")
        if event["step"] % 20 == 0 or event["tokens"] == event["total"]:
            elapsed = self.bar.tasks[-1].elapsed or 1e-9
            self.bar.update(self.task, completed=event["tokens"], loss=f"{event['loss']:.4f}",
                            rate=f"{event['tokens'] / elapsed:,.0f}")

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()
        return False


def _epoch_line(e: dict) -> str:
    star = " *" if e["best"] else ""
    return (f"epoch {e['epoch']:>2}  loss {e['loss']:.4f}  dev F1 {e['dev_f1']:.2f} (strict IOB2)  "
            f"{e['tokens_per_second']:,} tok/s{star}")


# ---- evaluate --------------------------------------------------------------------------------------

@app.command("evaluate")
def evaluate_cli(
    data: Path = typer.Argument(..., help="CoNLL file with gold tags."),
    model: Path | None = typer.Option(None, "--model", "-m", help=MODEL_HELP),
    fmt: ReportFormat = typer.Option(ReportFormat.text, "--format", "-F", help="text or json."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Also write the JSON report here."),
    errors: int = typer.Option(3, "--errors", "-e", help="Examples of each kind of mistake to show (0: none)."),
):
    """Score a model on a CoNLL file: strict IOB2 P/R/F1, conlleval's F1, per type, confusion, mistakes."""
    from .analysis import format_errors
    from .evaluation import evaluate
    from .metrics import format_report

    if errors < 0:
        raise NerwinError(f"--errors must be 0 or more, got {errors}")
    report = evaluate(data, model, errors=errors)
    if output is not None:
        from .serialize import write_json_atomic
        write_json_atomic(output, report)
    if fmt is ReportFormat.json:
        typer.echo(json.dumps(report, indent=2))
    else:
        typer.echo(format_report(report) + "\n\n" + format_errors(report["errors"]))


# ---- tag -------------------------------------------------------------------------------------------

class InputFormat(str, Enum):
    text = "text"
    jsonl = "jsonl"


@app.command("tag")
def tag_cli(
    text: str | None = typer.Argument(None, help="Text to tag; '-' reads one text a line from stdin."),
    file: list[Path] = typer.Option([], "--file", "-f", help="Tag each line of this file, or of the files "
                                    "under this folder that match --glob (recursively). Repeatable."),
    model: Path | None = typer.Option(None, "--model", "-m", help=MODEL_HELP),
    fmt: TagFormat = typer.Option(TagFormat.text, "--format", "-F", help="text, json (one object a line), "
                                  "conll (token and tag a line), html (one self-contained page) or displacy "
                                  "(displaCy's manual-mode JSON, one object a line)."),
    input_format: InputFormat = typer.Option(InputFormat.text, "--input-format", "-I",
                                             help="text (a text a line) or jsonl (a JSON object a line; the "
                                             "text under --text-key, other fields passed through)."),
    text_key: str = typer.Option("text", "--text-key", help="The field holding the text in JSON Lines input."),
    glob: str | None = typer.Option(None, "--glob", "-g", help="Files to take from a --file folder "
                                    "(default: *.txt, or *.jsonl with --input-format jsonl)."),
    tokens: bool = typer.Option(False, "--tokens", "-t", help="Input is pre-tokenized: split on whitespace only."),
    batch_size: int = typer.Option(512, "--batch-size", "-b", min=1, help="Lines tagged together."),
    min_score: float = typer.Option(0.0, "--min-score", help="Leave out entities scored under this (0 to 1)."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to this file (one input) or folder "
                                       "(one output file per input) instead of stdout; a rerun resumes an "
                                       "interrupted run."),
    force: bool = typer.Option(False, "--force", help="Replace existing --output files (and redo them all)."),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Tag on this many processes."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Skip (and count) records that cannot be read "
                                  "instead of stopping."),
    max_line_bytes: int = typer.Option(4_000_000, "--max-line-bytes", min=1,
                                       help="Longest line (one text or record) read, in bytes."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
):
    """Find the named entities in text: `nerwin tag "Samuel Quinn was arrested in Paris ."`; files, folders,
    stdin and JSON Lines too."""
    from .corpus import Options, Settings, Source, find_sources, tag_corpus

    if (text is None) == (not file):
        raise NerwinError("give a TEXT to tag, '-' for stdin, or --file FILE (one of them)")
    if not 0.0 <= min_score <= 1.0:
        raise NerwinError(f"--min-score must be between 0 and 1, got {min_score}")
    if text is not None and text != "-" and not text.strip():
        raise NerwinError("nothing to tag: the text is empty")
    if text is not None and text != "-" and input_format is InputFormat.jsonl:
        raise NerwinError("--input-format jsonl reads files or stdin ('-'), not a TEXT")
    if text is None:
        sources = find_sources(file, glob or ("*.jsonl" if input_format is InputFormat.jsonl else "*.txt"))
    else:
        sources = [Source("<stdin>")] if text == "-" else [Source("<text>", text=text)]
    folder = output is not None and (len(sources) > 1 or any(f.is_dir() for f in file) or output.is_dir())
    from .tagger import load

    tagger = load(model)
    settings = Settings(fmt.value, input_format.value, text_key, tokens, min_score)
    options = Options(batch_size, jobs, force, skip_bad, max_line_bytes,
                      progress=not quiet and text is None and sys.stderr.isatty())
    summary = tag_corpus(tagger, sources, settings, options, output, folder)
    notes = []
    if summary.finished_before:
        notes.append(f"{summary.finished_before} finished output(s) of an earlier run kept")
    if summary.bad:
        notes.append(f"{summary.bad:,} bad record(s) skipped")
    if notes or options.progress:
        rate = summary.tokens / max(summary.seconds, 1e-9)
        typer.echo(f"tagged {summary.records:,} records ({summary.tokens:,} tokens, {rate:,.0f} tokens/s)"
                   + "".join(f"; {n}" for n in notes), err=True)


# ---- info ------------------------------------------------------------------------------------------

@app.command("info")
def info_cli(model: Path | None = typer.Argument(None, help=MODEL_HELP)):
    """Show a model's metadata (read from its JSON; nothing in the folder is run)."""
    from .serialize import load_folder
    from .tagger import default_model_path

    path = model or default_model_path()
    config, vocab, arrays = load_folder(path)
    params = sum(int(a.size) for a in arrays.values())
    feats = config.get("features", {})
    lines = [f"model       {path}",
             f"format      {config.get('format')} v{config.get('format_version')} (nerwin "
             f"{config.get('nerwin_version', '?')})",
             f"task        {config.get('task')}",
             f"tags        {' '.join(config.get('tags', []))}",
             f"window      {feats.get('half_window')} words each side",
             "features    " + ", ".join(f"{c['name']} {c['dim']}d ({len(vocab.get(c['name'], []))} keys)"
                                        for c in feats.get("columns", [])),
             f"network     {json.dumps(config.get('network'))}",
             f"parameters  {params:,}"]
    if "dev" in config:
        lines.append(f"dev F1      {config['dev']['f1']:.2f} strict IOB2 (epoch {config['dev']['epoch']})")
    if config.get("command"):
        lines.append(f"made by     {config['command']}")
    typer.echo("\n".join(lines))


# ---- serve -----------------------------------------------------------------------------------------

@app.command("serve")
def serve_cli(
    model: Path | None = typer.Option(None, "--model", "-m", help=MODEL_HELP),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", "-p", help="Port to listen on."),
    workers: int = typer.Option(1, "--workers", "-w", min=1, help="Server processes, each with its own model."),
    max_wait_ms: float = typer.Option(2.0, "--max-wait-ms", min=0,
                                      help="Under load, how long a batch waits for more requests."),
    max_batch: int = typer.Option(64, "--max-batch", min=1, help="Most requests tagged in one batch."),
    max_body_bytes: int = typer.Option(1_000_000, "--max-body-bytes", min=1, help="Largest request body (413)."),
    max_text_chars: int = typer.Option(100_000, "--max-text-chars", min=1, help="Longest text (413)."),
    max_texts: int = typer.Option(1_000, "--max-texts", min=1, help="Most texts or sentences a request (413)."),
):
    """Serve the tagger over HTTP: POST /tag {"text": ...}, GET /health, GET /info."""
    try:
        import starlette  # noqa: F401
        import uvicorn
    except ImportError:
        raise NerwinError('nerwin serve needs the serve extra: pip install "nerwin[serve]"') from None
    from .tagger import default_model_path, load

    settings = {"max_wait_ms": max_wait_ms, "max_batch": max_batch, "max_body_bytes": max_body_bytes,
                "max_text_chars": max_text_chars, "max_texts": max_texts}
    if workers == 1:
        from .serve import create_app

        target = create_app(load(model), model_path=model or default_model_path(), **settings)
    else:  # each worker process loads the model itself (checked here once, so a bad path fails at once)
        import os

        load(model)
        os.environ["NERWIN_SERVE_MODEL"] = str(model) if model else ""
        os.environ["NERWIN_SERVE_SETTINGS"] = json.dumps(settings)
        target = "nerwin.serve:app_from_env"
    # uvicorn stops on SIGTERM (no new connections, in-flight requests answered), then raises the signal
    # again for the handler that was there before: this one, so a clean drain exits 0.
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    uvicorn.run(target, host=host, port=port, workers=workers, factory=workers > 1, log_level="warning",
                access_log=False, timeout_graceful_shutdown=30)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
