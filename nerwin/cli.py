"""The `nerwin` command: train, evaluate, plot, tag, info, serve.

Each command is a thin wrapper over a library function. A NerwinError anywhere becomes one red line
and exit code 1 (in `NerwinGroup.invoke`, the one place that does it). Heavy modules (numpy, numba,
datasets) are imported inside the commands, so `nerwin --help` answers at once.
"""
from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from enum import Enum
from pathlib import Path

import click
import typer
from typer.core import TyperGroup

from .errors import NerwinError
from .train_config import PRESETS, TrainConfig

_DEFAULT = TrainConfig()  # the train command's option defaults: the library's "default" preset


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
                  pretty_exceptions_enable=False, rich_markup_mode=None,
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


# ---- how data is read: the same options for train and evaluate --------------------------------------

class DataFormat(str, Enum):
    auto = "auto"
    conll = "conll"
    jsonl = "jsonl"


class Scheme(str, Enum):
    auto = "auto"
    iob1 = "iob1"
    iob2 = "iob2"
    ioe1 = "ioe1"
    ioe2 = "ioe2"
    iobes = "iobes"
    bioes = "bioes"
    bilou = "bilou"


# Each a function, so that train and evaluate get options of their own with the same flags and help.
def _data_format_option():
    return typer.Option(DataFormat.auto, "--data-format", help="conll (a token a line, columns), jsonl (text "
                        "and character spans a line) or auto (jsonl for .jsonl/.json files).")


def _scheme_option():
    return typer.Option(Scheme.auto, "--scheme", help="Tag scheme of column files and hub data: iob1, iob2, "
                        "ioe1, ioe2, iobes (= bioes), bilou, or auto (detected). Read as IOB2; a named scheme "
                        "is checked tag by tag.")


def _token_column_option():
    return typer.Option(1, "--token-column", help="Column of the token in column files (1 = first; "
                        "negative counts from the end).")


def _tag_column_option():
    return typer.Option(None, "--tag-column", help="Column of the tag in column files (default: the last).")


def _snap_option():
    return typer.Option(False, "--snap", help="JSONL: widen a span that cuts a token to the token's "
                        "boundaries instead of stopping with an error.")


def _hub_option(what: str):
    return typer.Option(None, "--hub", help=f"{what} a Hugging Face dataset by id, NAME or NAME:CONFIG "
                        "(needs the network).")


def _tokens_column_option():
    return typer.Option("tokens", "--tokens-column", help="--hub: the dataset's column of token lists.")


def _tags_column_option():
    return typer.Option(None, "--tags-column", help="--hub: the dataset's column of tags, ClassLabel ids or "
                        "strings (default: ner_tags, tags or ner).")


def _data_options(data_format: DataFormat, scheme: Scheme, token_column: int, tag_column: int | None,
                  snap: bool, tokens_column: str, tags_column: str | None):
    from .data import DataOptions

    return DataOptions(format=data_format.value, scheme=scheme.value, token_column=token_column,
                       tag_column=tag_column, snap=snap, tokens_column=tokens_column, tags_column=tags_column)


def _version(value: bool) -> None:
    if value:
        from . import __version__

        typer.echo(f"nerwin {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(version: bool = typer.Option(False, "--version", "-V", callback=_version, is_eager=True,
                                              help="Show nerwin's version and exit.")):
    """Named-entity recognition for English with a window network written from scratch."""


# ---- train -----------------------------------------------------------------------------------------

@app.command("train")
def train_cli(
    output: Path = typer.Argument(..., help="Folder to write the model to."),
    preset: str = typer.Option("default", "--preset", "-p", help="Starting settings: default (the best found "
                               "on CoNLL-2003 and WNUT-17 dev) or classic (the plain window model); the "
                               "options below override it; their defaults shown are the default preset's."),
    init_model: Path | None = typer.Option(None, "--init-model", help="Continue from this finished model: its "
                                           "weights, features and tags, extended with the new data's words and "
                                           "labels."),
    name: str | None = typer.Option(None, "--name", help="Model name for its card (default: OUTPUT's name)."),
    version: str | None = typer.Option(None, "--version", help="Model version for its card."),
    data: Path | None = typer.Option(None, "--data", "-d", help="Folder of data files (train, valid/dev, "
                                        "test; CoNLL or JSONL). Default: $NERWIN_DATA, else CoNLL-2003 from the "
                                        "Hugging Face hub."),
    train_file: Path | None = typer.Option(None, "--train-file", help="Training file, CoNLL or JSONL (with "
                                           "--dev-file or --dev-split)."),
    dev_file: Path | None = typer.Option(None, "--dev-file", help="Dev file for early stopping."),
    hub: str | None = _hub_option("Train on"),
    dev_split: float | None = typer.Option(None, "--dev-split", help="Without a dev file: set this fraction "
                                           "of the training data apart as dev (whole documents where there are "
                                           "several; the same for the same --seed)."),
    data_format: DataFormat = _data_format_option(),
    scheme: Scheme = _scheme_option(),
    token_column: int = _token_column_option(),
    tag_column: int | None = _tag_column_option(),
    snap: bool = _snap_option(),
    tokens_column: str = _tokens_column_option(),
    tags_column: str | None = _tags_column_option(),
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
    crf: bool = typer.Option(_DEFAULT.crf, "--crf/--no-crf",
                             help="Sentence-level training with learned tag transitions."),
    average: int = typer.Option(_DEFAULT.average, "--average",
                                help="Score and keep the mean of the last N epochs' weights."),
    calibrate: bool = typer.Option(_DEFAULT.calibrate, "--calibrate/--no-calibrate",
                                   help="When training ends, lower the O score by the offset that gives the "
                                   "best dev F1 (kept in the model)."),
    two_pass: bool = typer.Option(_DEFAULT.two_pass, "--two-pass/--one-pass",
                                  help="Read the whole document: a second pass sees the first pass's tags of "
                                  "the same words and names elsewhere in the document."),
    folds: int = typer.Option(_DEFAULT.folds, "--folds", help="Two-pass: the first pass's tags of the "
                              "training data come from this many cross-validation folds."),
    lone: float = typer.Option(_DEFAULT.lone, "--lone", help="Two-pass: share of training sentences read as "
                               "documents of their own (so that a one-sentence text still tags well)."),
    case_copies: str = typer.Option(",".join(_DEFAULT.case_copies), "--case-copies", help="Add to the training "
                                    "data (never dev) a copy of every training sentence re-cased each of these "
                                    "ways, comma-separated: lower, upper, title (gold tags kept; each copy a "
                                    "document of its own), for text without the usual capitals. Off by default."),
    caseless: bool = typer.Option(_DEFAULT.caseless, "--caseless/--no-caseless", help="Also train a companion "
                                  "blind to case (no capitalization or shape columns) that tags the documents "
                                  "written without the usual capitals: all lowercase, or long ones in capitals or "
                                  "title case."),
    jobs: int = typer.Option(0, "--jobs", "-j", min=0, help="Two-pass: train the fold models on this many "
                             "processes (0: one per core)."),
    doc_dim: int = typer.Option(_DEFAULT.doc_dim, "--doc-dim", help="Two-pass: embedding size of each "
                                "document feature."),
    second_hidden: int = typer.Option(_DEFAULT.second_hidden, "--second-hidden", min=0, help="Two-pass: the "
                                      "second network's hidden layer size (0: the same as --hidden)."),
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
    """Train a window tagger; the best epoch by dev F1 is saved to OUTPUT (atomically, as it improves), with
    its card (README.md, scores.json) when training ends."""
    from .card import source_facts
    from .data import load_corpus
    from .training import train

    ctx = click.get_current_context()
    given = _given_options(ctx)
    config = _train_config(preset, given, init_model is not None)
    options = _data_options(data_format, scheme, token_column, tag_column, snap, tokens_column, tags_column)
    facts: dict = {}

    def corpus():  # loaded by `train` once the options and OUTPUT are checked
        loaded = load_corpus(data, train_file=train_file, dev_file=dev_file, hub=hub, options=options,
                             dev_split=dev_split, seed=config.seed)
        facts.update(source_facts(data, train_file, dev_file, hub=hub, dev_split=dev_split))  # for the card
        return loaded

    from .curves import curves_path

    log_path = log or output.with_name(output.name + ".log.json")
    with _TrainProgress(quiet) as progress:
        result = train(corpus, output, config, force=force, log_path=log_path, progress=progress,
                       command=_command(ctx), resume=resume, curves_path=curves_path(output),
                       init_model=init_model, name=name, version=version, data_files=facts,
                       workers=jobs or _cores())
    if result.interrupted:
        typer.secho("interrupted: the best model so far is kept; continue with --resume", fg=typer.colors.YELLOW,
                    err=True)
    if result.best_epoch == 0:
        raise NerwinError("no epoch finished; no model written")
    typer.echo(f"best dev F1 {result.best_dev_f1:.2f} (strict IOB2) at epoch {result.best_epoch} of "
               f"{result.epochs_run}; {result.tokens_per_second:,.0f} tokens/s; model: {output}; log: {log_path}; "
               f"curves: {curves_path(output)}")


def _cores() -> int:
    from .fast.threads import CORES

    return CORES


# `nerwin train` options that are TrainConfig fields under another name, and those that set the network's
# shape (which a model given with --init-model fixes)
_OPTION_FIELDS = {"feature": "features", "binary": "task"}
_SHAPE_OPTIONS = {"window", "word_dim", "caps_dim", "suffix_dim", "prefix_dim", "shape_dim", "feature", "hidden",
                  "second_hidden", "activation", "crf", "binary"}


def _given_options(ctx: click.Context) -> dict:
    """The options typed on the command line (or set from the environment), by parameter name."""
    from click.core import ParameterSource

    return {p.name: ctx.params[p.name] for p in ctx.command.params
            if ctx.get_parameter_source(p.name) not in (ParameterSource.DEFAULT, None)}


def _train_config(preset: str, given: dict, continuing: bool) -> TrainConfig:
    """The preset's settings with the options given on top (a binary variant has no CRF unless asked)."""
    if continuing:
        fixed = sorted(f"--{n.replace('_', '-')}" for n in given if n in _SHAPE_OPTIONS)
        if fixed:
            raise NerwinError(f"{', '.join(fixed)}: the network's shape comes from --init-model; leave it out")
    fields = {f for f in TrainConfig.__dataclass_fields__}
    overrides = {}
    for option, value in given.items():
        field = _OPTION_FIELDS.get(option, option)
        if field == "features":
            value = _parse_features(value)
        elif field == "task":
            value = "binary" if value else "tags"
        elif field == "case_copies":
            value = [kind.strip() for kind in value.split(",") if kind.strip()]
        if field in fields:
            overrides[field] = value
    if overrides.get("task") == "binary":
        overrides.setdefault("crf", False)
    if preset not in PRESETS:
        raise NerwinError(f"--preset {preset!r}: choose one of {', '.join(PRESETS)}")
    return TrainConfig.preset(preset, **overrides)


def _parse_features(items: list[str]) -> dict[str, int]:
    extra = {}
    for item in items:
        name, _, dim = item.partition("=")
        if not dim.isdigit():
            raise NerwinError(f"--feature {item!r}: expected NAME=DIM, e.g. suffix2=10")
        extra[name] = int(dim)
    return extra


def _command(ctx: click.Context) -> str:
    """The command as typed, from the parsed options (so it is the same from a shell or a test): paths
    as `nerwin.card.portable_path` writes them, so no card holds the training machine's folders."""
    import shlex

    from click.core import ParameterSource

    from .card import portable_path

    def shown(p: click.Parameter, value) -> str:
        return shlex.quote(portable_path(value) if isinstance(p.type, click.Path) else str(value))

    words = ["nerwin", ctx.info_name or "train"]
    for p in ctx.command.params:
        if ctx.get_parameter_source(p.name) in (ParameterSource.DEFAULT, None):
            continue
        value = ctx.params[p.name]
        if isinstance(p, click.Argument):
            words.append(shown(p, value))
        elif p.is_flag:
            flag = p.opts[0] if value else (p.secondary_opts or p.opts)[0]
            words.append(flag)
        else:
            for v in value if p.multiple else [value]:
                words += [p.opts[0], shown(p, v)]
    return " ".join(words)


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
        if "note" in event:  # a stage done out of sight (a fold trained by a worker process)
            line = f"{event['stage']}: {event['note']}"
            typer.echo(line, err=True) if self.quiet else self.bar.console.print(line)
            return
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
    stage = f"{e['stage']}: " if e.get("stage") else ""
    dev = (f"dev loss {e['dev_loss']:.4f}  dev F1 {e['dev_f1']:.2f} (strict IOB2)  " if "dev_f1" in e
           else "")
    return f"{stage}epoch {e['epoch']:>2}  loss {e['loss']:.4f}  {dev}{e['tokens_per_second']:,} tok/s{star}"


# ---- evaluate --------------------------------------------------------------------------------------

@app.command("evaluate")
def evaluate_cli(
    data: Path | None = typer.Argument(None, help="Gold data: a CoNLL (column) or JSONL file, read as "
                                       "`nerwin train` reads it."),
    model: Path | None = typer.Option(None, "--model", "-m", help=MODEL_HELP),
    fmt: ReportFormat = typer.Option(ReportFormat.text, "--format", "-F", help="text or json."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Also write the JSON report here."),
    errors: int = typer.Option(3, "--errors", "-e", help="Examples of each kind of mistake to show (0: none)."),
    hub: str | None = _hub_option("Instead of DATA, score on"),
    split: str = typer.Option("test", "--split", help="--hub: the split to score on."),
    data_format: DataFormat = _data_format_option(),
    scheme: Scheme = _scheme_option(),
    token_column: int = _token_column_option(),
    tag_column: int | None = _tag_column_option(),
    snap: bool = _snap_option(),
    tokens_column: str = _tokens_column_option(),
    tags_column: str | None = _tags_column_option(),
    html: Path | None = typer.Option(None, "--html", help="Also write an HTML report here: scores, confusion, "
                                     "reliability of the scores, every sentence with a mistake."),
    force: bool = typer.Option(False, "--force", help="Replace an existing --output or --html file."),
    documents: bool = typer.Option(True, "--documents/--sentences", help="Tag the sentences of a document "
                                   "(-DOCSTART- lines separate them) together, as a two-pass model reads them, "
                                   "or each sentence alone."),
):
    """Score a model on gold data: strict IOB2 P/R/F1, conlleval's F1, per type, confusion, mistakes."""
    from .analysis import format_errors
    from .calibration import format_calibration
    from .evaluation import predict_file
    from .metrics import format_report

    if errors < 0:
        raise NerwinError(f"--errors must be 0 or more, got {errors}")
    options = _data_options(data_format, scheme, token_column, tag_column, snap, tokens_column, tags_column)
    for path in (output, html):
        _refuse_existing(path, force)  # before the tagging, not after it
    predictions = predict_file(data, model, options=options, hub=hub, split=split, documents=documents)
    report = predictions.report(errors)
    if output is not None:
        with _destination(output, force) as f:
            f.write(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    if html is not None:
        from .report import report_page

        with _destination(html, force) as f:
            f.write(report_page(predictions, report))
    if fmt is ReportFormat.json:
        typer.echo(json.dumps(report, indent=2))
    else:
        typer.echo(format_report(report) + "\n\n" + format_errors(report["errors"]) + "\n\n"
                   + format_calibration(report["calibration"]))


@contextmanager
def _destination(output: Path | None, force: bool):
    """stdout, or a file written atomically."""
    if output is None:
        yield sys.stdout
        return
    from .serialize import atomic_text

    with atomic_text(output, force) as f:
        yield f


def _refuse_existing(path: Path | None, force: bool) -> None:
    """The check `atomic_text` makes, made early: before a long job whose result could not be written."""
    if path is not None and path.exists() and not force:
        raise NerwinError(f"{path}: already exists; pass --force to replace it")


# ---- plot ------------------------------------------------------------------------------------------

@app.command("plot")
def plot_cli(
    log: Path = typer.Argument(..., help="A training log: the JSON `nerwin train` writes (OUTPUT.log.json)."),
    output: Path | None = typer.Option(None, "--output", "-o", help="SVG file to write (default: beside LOG, "
                                       "OUTPUT.curves.svg for OUTPUT.log.json, as `nerwin train` names it)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing output file."),
):
    """Draw a training log's curves (loss, dev loss, dev F1 overall and per type, best epoch) as SVG."""
    from .curves import curves_path, curves_svg, read_log

    target = output or curves_path(log)
    _refuse_existing(target, force)
    picture = curves_svg(read_log(log))
    with _destination(target, force) as f:
        f.write(picture)
    typer.echo(f"curves: {target}")


# ---- tag -------------------------------------------------------------------------------------------

class InputFormat(str, Enum):
    text = "text"
    jsonl = "jsonl"


class Documents(str, Enum):
    lines = "lines"
    blank_lines = "blank-lines"


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
    documents: Documents = typer.Option(Documents.lines, "--documents", help="What a two-pass model reads "
                                        "as one document: lines (each line or record its own) or "
                                        "blank-lines (the lines up to a blank line). One-pass models tag "
                                        "alike either way."),
    doc_key: str | None = typer.Option(None, "--doc-key", help="JSON Lines: consecutive records with the same "
                                       "value of this field are one document."),
    max_document_bytes: int = typer.Option(4_000_000, "--max-document-bytes", min=1,
                                           help="Longest document read whole, in bytes (with --documents "
                                           "blank-lines or --doc-key); a longer one is read in parts, with a "
                                           "warning."),
    batch_size: int = typer.Option(512, "--batch-size", "-b", min=1, help="Lines tagged together (whole "
                                   "documents: more for a longer one)."),
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
    if doc_key is not None and input_format is not InputFormat.jsonl:
        raise NerwinError("--doc-key names a field of JSON Lines records: give --input-format jsonl too")
    if doc_key is not None and documents is not Documents.lines:
        raise NerwinError("--doc-key and --documents blank-lines each say where documents end: give one")
    if text is None:
        sources = find_sources(file, glob or ("*.jsonl" if input_format is InputFormat.jsonl else "*.txt"))
    else:
        sources = [Source("<stdin>")] if text == "-" else [Source("<text>", text=text)]
    folder = output is not None and (len(sources) > 1 or any(f.is_dir() for f in file) or output.is_dir())
    from .tagger import load

    tagger = load(model)
    mode = "key" if doc_key is not None else documents.value
    settings = Settings(fmt.value, input_format.value, text_key, tokens, min_score, mode, doc_key,
                        max_document_bytes if mode != "lines" else Settings.max_document_bytes)
    options = Options(batch_size, jobs, force, skip_bad, max_line_bytes,
                      progress=not quiet and text is None and sys.stderr.isatty())
    summary = tag_corpus(tagger, sources, settings, options, output, folder)
    notes = []
    if summary.finished_before:
        notes.append(f"{summary.finished_before} finished output(s) of an earlier run kept")
    if summary.bad:
        notes.append(f"{summary.bad:,} bad record(s) skipped")
    if summary.split:
        notes.append(f"{summary.split:,} document(s) over --max-document-bytes read in parts")
    if notes or options.progress:
        rate = summary.tokens / max(summary.seconds, 1e-9)
        typer.echo(f"tagged {summary.records:,} records ({summary.tokens:,} tokens, {rate:,.0f} tokens/s)"
                   + "".join(f"; {n}" for n in notes), err=True)


# ---- info ------------------------------------------------------------------------------------------

@app.command("info")
def info_cli(model: Path | None = typer.Argument(None, help=MODEL_HELP),
             fmt: ReportFormat = typer.Option(ReportFormat.text, "--format", "-F", help="text or json.")):
    """Show a model's metadata and card (read from its JSON; nothing in the folder is run)."""
    from .card import read_card
    from .serialize import load_folder
    from .tagger import default_model_path

    path = model or default_model_path()
    config, vocab, arrays = load_folder(path)
    card = read_card(path)
    feats = config.get("features", {})
    about = {"model": str(path), "format": config.get("format"), "format_version": config.get("format_version"),
             "nerwin_version": config.get("nerwin_version"), "task": config.get("task"), "tags": config.get("tags", []),
             "window": feats.get("half_window"),
             "features": [{"name": c["name"], "dim": c["dim"], "keys": len(vocab.get(c["name"], []))}
                          for c in feats.get("columns", [])],
             "network": config.get("network"), "first_pass": config.get("first_pass"),
             "caseless": config.get("caseless"),
             "parameters": sum(int(a.size) for a in arrays.values()),
             "dev": config.get("dev"), "command": config.get("command"),
             "continued_from": config.get("continued_from"), "card": card}
    if fmt is ReportFormat.json:
        typer.echo(json.dumps(about, indent=2, ensure_ascii=False))
        return
    typer.echo(_info_text(about))


def _info_text(about: dict) -> str:
    lines = []
    card = about["card"] or {}
    if card.get("name"):
        lines.append(f"name        {card['name']}" + (f" {card['version']}" if card.get("version") else ""))
    lines += [f"model       {about['model']}",
              f"format      {about['format']} v{about['format_version']} (nerwin {about['nerwin_version'] or '?'})",
              f"task        {about['task']}"]
    if card.get("labels"):
        lines.append(f"labels      {' '.join(card['labels'])}")
    lines += [f"tags        {' '.join(about['tags'])}",
              f"window      {about['window']} words each side",
              "features    " + ", ".join(f"{c['name']} {c['dim']}d ({c['keys']} keys)" for c in about["features"]),
              f"network     {json.dumps(about['network'])}"]
    if about.get("first_pass"):  # a two-pass model: `network` is its second pass
        first = about["first_pass"]
        dev = f"; dev F1 {first['dev']['f1']:.2f} alone" if (first.get("dev") or {}).get("f1") is not None else ""
        lines.append(f"first pass  {json.dumps(first.get('network'))}{dev} (the document columns come from its tags)")
    if about.get("caseless"):
        companion = about["caseless"]
        dev = f"; dev F1 {companion['dev']['f1']:.2f}" if (companion.get("dev") or {}).get("f1") is not None else ""
        lines.append(f"caseless    {' '.join(companion.get('columns') or [])}{dev} (tags the documents without the "
                     "usual capitals)")
    lines += [f"parameters  {about['parameters']:,}"]
    if about["dev"]:
        lines.append(f"dev F1      {about['dev']['f1']:.2f} strict IOB2 (epoch {about['dev']['epoch']})")
    for split in ("dev", "test"):
        if split in card:
            s = card[split]
            types = ", ".join(f"{k} {v['f1']:.2f}" for k, v in s.get("per_type", {}).items())
            lines.append(f"{split + ' scores':<12}F1 {s['f1']:.2f} strict IOB2" + (f"; {types}" if types else ""))
    for split, f in card.get("data", {}).items():
        size = f" {f['bytes']:,} bytes, sha256 {f['sha256'][:16]}..." if "sha256" in f else ""
        lines.append(f"data        {split}: {f.get('file')}{size}")
    if about["continued_from"]:
        lines.append(f"continued   from {about['continued_from'].get('name')} ({about['continued_from'].get('model')})")
    if about["command"]:
        lines.append(f"made by     {about['command']}")
    return "\n".join(lines)


# ---- serve -----------------------------------------------------------------------------------------

@app.command("serve")
def serve_cli(
    model: Path | None = typer.Option(None, "--model", "-m", help=MODEL_HELP),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", "-p", help="Port to listen on."),
    workers: int = typer.Option(1, "--workers", "-w", min=1, help="Server processes, each with its own model."),
    max_wait_ms: float = typer.Option(0.0, "--max-wait-ms", min=0,
                                      help="After a batch of several requests, how long the next waits for more "
                                           "(0: no wait)."),
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
