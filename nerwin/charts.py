"""Charts as inline SVG: line charts (training curves) and interval bars (a reliability diagram).

SVG because it is text: no plotting library to install, the same markup embeds in a self-contained
HTML page and stands alone as a `.svg` file, and it scales without blurring. Each function returns one
`<svg>` element without a namespace (what HTML wants inline); `standalone` makes a file of one. Every
piece of text is escaped, so labels read as written.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import NamedTuple

__all__ = ["LINE_COLOURS", "Series", "Bar", "line_chart", "interval_bars", "stack", "standalone"]

# Distinct on white and for most colour-blind readers (Okabe and Ito's palette, black last)
LINE_COLOURS = ["#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#f0e442", "#000000"]
_FONT = 'font-family="system-ui, -apple-system, sans-serif"'
_MARGIN = (48, 16, 28, 40)  # left, right, top, bottom: room for ticks, title and axis labels
_LEGEND = 100  # a line chart's right margin, where its legend goes


class Series(NamedTuple):
    """A line: its name (in the legend), (x, y) points (y None: no value there), and how it is drawn."""

    name: str
    points: Sequence[tuple[float, float | None]]
    colour: str
    width: float = 1.5
    dashed: bool = False


class Bar(NamedTuple):
    """A bar over [low, high) on the x axis, `value` high, with `note` written above it."""

    low: float
    high: float
    value: float
    note: str = ""


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About `count` round tick values (steps of 1, 2 or 5 times a power of ten) covering [low, high]."""
    if not high > low:
        high = low + 1.0
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.floor(low / step + 1e-9) * step
    ticks, at = [], first
    while at <= high + step * 1e-9:
        ticks.append(round(at, 10))
        at += step
    if ticks[-1] < high:
        ticks.append(round(at, 10))
    return ticks


def _number(value: float) -> str:
    return f"{value:g}" if abs(value) >= 1e-4 or value == 0 else f"{value:.1e}"


class _Frame:
    """Maps data coordinates to pixels inside a chart's margins, and draws the axes, grid and labels."""

    def __init__(self, width: int, height: int, xs: list[float], ys: list[float], right: int = _MARGIN[1]):
        self.width, self.height = width, height
        self.left, _, self.top, self.bottom = _MARGIN
        self.right = right
        self.xs, self.ys = xs, ys

    def x(self, value: float) -> float:
        lo, hi = self.xs[0], self.xs[-1]
        return round(self.left + (value - lo) / (hi - lo) * (self.width - self.left - self.right), 1)

    def y(self, value: float) -> float:
        lo, hi = self.ys[0], self.ys[-1]
        return round(self.height - self.bottom - (value - lo) / (hi - lo) * (self.height - self.top - self.bottom), 1)

    def axes(self, title: str, x_label: str, y_label: str) -> list[str]:
        out = [f'<text x="{self.left}" y="16" font-size="13" font-weight="bold">{escape(title)}</text>']
        for v in self.ys:
            out.append(f'<line x1="{self.left}" x2="{self.width - self.right}" y1="{self.y(v)}" y2="{self.y(v)}" '
                       f'stroke="#e5e5e5"/>')
            out.append(f'<text x="{self.left - 4}" y="{self.y(v) + 4}" font-size="10" text-anchor="end">'
                       f'{_number(v)}</text>')
        for v in self.xs:
            out.append(f'<text x="{self.x(v)}" y="{self.height - self.bottom + 13}" font-size="10" '
                       f'text-anchor="middle">{_number(v)}</text>')
        out.append(f'<line x1="{self.left}" x2="{self.width - self.right}" y1="{self.height - self.bottom}" '
                   f'y2="{self.height - self.bottom}" stroke="#888"/>')
        out.append(f'<text x="{(self.left + self.width - self.right) / 2}" y="{self.height - 4}" font-size="11" '
                   f'text-anchor="middle">{escape(x_label)}</text>')
        out.append(f'<text transform="translate(12 {(self.top + self.height - self.bottom) / 2}) rotate(-90)" '
                   f'font-size="11" text-anchor="middle">{escape(y_label)}</text>')
        return out


def _svg(width: int, height: int, title: str, body: list[str], kind: str) -> str:
    return (f'<svg class="chart {kind}" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
            f'role="img" {_FONT}><title>{escape(title)}</title>'
            f'<rect width="{width}" height="{height}" fill="#fff"/>' + "".join(body) + "</svg>")


def line_chart(series: Sequence[Series], *, title: str, x_label: str, y_label: str,
               marks: Sequence[tuple[float, str]] = (), width: int = 640, height: int = 260,
               integer_x: bool = True) -> str:
    """Lines over a shared x axis, a legend of their names, and dashed vertical `marks` (x, label)."""
    points = [(x, y) for s in series for x, y in s.points if y is not None and math.isfinite(y)]
    xs = [x for x, _ in points] or [0.0, 1.0]
    ys = [y for _, y in points] or [0.0, 1.0]
    x_ticks = nice_ticks(min(xs), max(xs), 8)
    if integer_x:
        x_ticks = [t for t in x_ticks if t == int(t)] or x_ticks
        x_ticks = sorted({*x_ticks, min(xs), max(xs)}) if len(x_ticks) < 2 else x_ticks
    frame = _Frame(width, height, x_ticks, nice_ticks(min(ys), max(ys)), right=_LEGEND)
    body = frame.axes(title, x_label, y_label)
    for x, label in marks:
        body.append(f'<line class="mark" x1="{frame.x(x)}" x2="{frame.x(x)}" y1="{frame.top}" '
                    f'y2="{height - frame.bottom}" stroke="#555" stroke-dasharray="4 3"/>')
        body.append(f'<text x="{frame.x(x)}" y="{frame.top - 3}" font-size="10" text-anchor="middle">'
                    f'{escape(label)}</text>')
    legend_x = width - frame.right + 10
    for i, s in enumerate(series):
        runs: list[list[tuple[float, float]]] = [[]]  # a gap (no value) breaks the line
        for x, y in s.points:
            if y is None or not math.isfinite(y):
                runs.append([])
            else:
                runs[-1].append((frame.x(x), frame.y(y)))
        dash = ' stroke-dasharray="6 3"' if s.dashed else ""
        for run in filter(None, runs):
            coords = " ".join(f"{px},{py}" for px, py in run)
            body.append(f'<polyline class="series" data-name="{escape(s.name)}" points="{coords}" fill="none" '
                        f'stroke="{s.colour}" stroke-width="{s.width}"{dash}/>')
            body += [f'<circle cx="{px}" cy="{py}" r="{s.width + 0.5}" fill="{s.colour}"/>' for px, py in run]
        ly = frame.top + 4 + 13 * i
        body.append(f'<line x1="{legend_x}" x2="{legend_x + 16}" y1="{ly + 6}" y2="{ly + 6}" stroke="{s.colour}" '
                    f'stroke-width="{s.width + 0.5}"{dash}/><text x="{legend_x + 20}" y="{ly + 10}" font-size="10">'
                    f'{escape(s.name)}</text>')
    return _svg(width, height, title, body, "lines")


def interval_bars(bars: Sequence[Bar], *, title: str, x_label: str, y_label: str, diagonal: bool = False,
                  width: int = 420, height: int = 300) -> str:
    """Bars over intervals of an x axis from 0 to 1 (y from 0 to 1), each with its note above it; with
    `diagonal`, the line y = x (where a reliability diagram's bars would be if scores were calibrated)."""
    ticks = [round(0.2 * i, 1) for i in range(6)]
    frame = _Frame(width, height, ticks, ticks)
    body = frame.axes(title, x_label, y_label)
    if diagonal:
        body.append(f'<line class="diagonal" x1="{frame.x(0)}" y1="{frame.y(0)}" x2="{frame.x(1)}" y2="{frame.y(1)}" '
                    f'stroke="#999" stroke-dasharray="5 4"/>')
    for bar in bars:
        x0, x1, top = frame.x(bar.low), frame.x(bar.high), frame.y(bar.value)
        body.append(f'<rect class="bar" x="{x0 + 1}" y="{top}" width="{max(x1 - x0 - 2, 1)}" '
                    f'height="{round(frame.y(0) - top, 1)}" fill="#0072b2" fill-opacity="0.75"/>')
        if bar.note:
            body.append(f'<text x="{(x0 + x1) / 2}" y="{top - 3}" font-size="9" text-anchor="middle">'
                        f'{escape(bar.note)}</text>')
    return _svg(width, height, title, body, "bars")


def stack(charts: Sequence[str], width: int, heights: Sequence[int], title: str) -> str:
    """Charts one above the other in one `<svg>` (each nested at its offset)."""
    body, at = [], 0
    for chart, h in zip(charts, heights):
        body.append(f'<g transform="translate(0 {at})">{chart}</g>')
        at += h
    return (f'<svg class="chart stack" width="{width}" height="{at}" viewBox="0 0 {width} {at}" role="img" '
            f'{_FONT}><title>{escape(title)}</title>' + "".join(body) + "</svg>")


def standalone(svg: str) -> str:
    """An inline `<svg>` as the text of a `.svg` file (which needs the SVG namespace)."""
    return '<?xml version="1.0" encoding="utf-8"?>\n' + svg.replace(
        "<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1) + "\n"
