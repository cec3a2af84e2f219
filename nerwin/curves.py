"""Training curves: a picture of a training log (the JSON `nerwin train` writes), as one SVG file.

Two charts one above the other: the mean loss per word on the training data and on dev, then dev F1,
overall and per entity type; the best epoch is marked on both. A log from before dev loss and per-type
F1 were logged draws what it has (training loss and dev F1).
"""
from __future__ import annotations

import json
from pathlib import Path

from .charts import LINE_COLOURS, Series, line_chart, stack, standalone
from .errors import NerwinError

__all__ = ["read_log", "curves_svg", "curves_path"]

WIDTH, HEIGHTS = 640, (250, 290)


def curves_path(model_or_log: str | Path) -> Path:
    """Where the curves of a run go: beside the model, `OUT.curves.svg` (for a log `OUT.log.json`, the
    same file, which is where `nerwin train` put them)."""
    path = Path(model_or_log)
    name = path.name[:-len(".log.json")] if path.name.endswith(".log.json") else path.name
    return path.with_name(name + ".curves.svg")


def read_log(path: str | Path) -> dict:
    """A training log, checked for what the curves need (one clear error otherwise)."""
    path = Path(path)
    try:
        log = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NerwinError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise NerwinError(f"{path}: cannot read it ({e})") from None
    except json.JSONDecodeError as e:
        raise NerwinError(f"{path}: not JSON ({e.msg} at line {e.lineno})") from None
    epochs = log.get("epochs") if isinstance(log, dict) else None
    if not isinstance(epochs, list) or not epochs:
        raise NerwinError(f"{path}: not a training log (no \"epochs\" list, as `nerwin train` writes)")
    for i, e in enumerate(epochs):
        if not isinstance(e, dict) or not all(isinstance(e.get(k), (int, float)) for k in ("epoch", "loss", "dev_f1")):
            raise NerwinError(f"{path}: epoch record {i + 1} lacks a number for epoch, loss or dev_f1")
    return log


def _number(record: dict, key: str) -> float | None:
    value = record.get(key)
    return float(value) if isinstance(value, (int, float)) else None


def curves_svg(log: dict) -> str:
    """The curves of a training log (as `read_log` returns it) as the text of an SVG file."""
    epochs = log["epochs"]
    xs = [e["epoch"] for e in epochs]
    best = [e["epoch"] for e in epochs if e.get("best")]
    marks = [(best[-1], f"best epoch {best[-1]}")] if best else []

    losses = [Series("train loss", [(x, _number(e, "loss")) for x, e in zip(xs, epochs)], LINE_COLOURS[0], 2)]
    if any(_number(e, "dev_loss") is not None for e in epochs):
        losses.append(Series("dev loss", [(x, _number(e, "dev_loss")) for x, e in zip(xs, epochs)],
                             LINE_COLOURS[1], 2))
    types = sorted({k for e in epochs for k in (e.get("dev_f1_per_type") or {})})
    f1 = [Series("dev F1", [(x, _number(e, "dev_f1")) for x, e in zip(xs, epochs)], LINE_COLOURS[-1], 2.5)]
    for i, kind in enumerate(types):
        points = [(x, _number(e.get("dev_f1_per_type") or {}, kind)) for x, e in zip(xs, epochs)]
        f1.append(Series(kind, points, LINE_COLOURS[i % (len(LINE_COLOURS) - 1)], 1.2, dashed=True))
    charts = [line_chart(losses, title="Loss (mean per word)", x_label="epoch", y_label="loss", marks=marks,
                         width=WIDTH, height=HEIGHTS[0]),
              line_chart(f1, title="Dev F1 (strict IOB2), overall and per type", x_label="epoch",
                         y_label="F1", marks=marks, width=WIDTH, height=HEIGHTS[1])]
    return standalone(stack(charts, WIDTH, HEIGHTS, "nerwin training curves"))
