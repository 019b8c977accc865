"""Server-rendered SVG charts for the pages — line chart, heatmap, bars, funnel and interval chart — with
labelled axes and no JavaScript. Each returns markup to inline in a template: ``<svg role="img">`` with a
``<title>`` (its accessible name); text inherits the page's font stack (Noto Sans CJK SC for Chinese).

Every label and number arrives already translated and formatted (the page module does that), so the
charts know nothing of languages. ``width`` is the drawing's width in CSS pixels at full size (the page's
half-width panels are about :data:`NARROW`, full-width ones :data:`WIDE`), so text keeps its size.
Colours are the Okabe–Ito palette (distinguishable with the common colour-vision deficiencies); a second
series is also dashed, so a line never relies on colour alone.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

__all__ = [
    "NARROW",
    "PALETTE",
    "WIDE",
    "Bar",
    "Interval",
    "Series",
    "Stage",
    "bars",
    "funnel",
    "heatmap",
    "intervals",
    "line_chart",
    "nice_ticks",
    "text_width",
]

#: Okabe–Ito: blue, orange, bluish green, vermillion, sky blue, reddish purple, black.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#000000")
INK, MUTED, GRID, EMPTY, TRACK = "#1f2933", "#52606d", "#e4e7eb", "#f1f3f5", "#dde3ea"
NARROW, WIDE = 540, 1080


def text_width(text: str, size: float) -> float:
    """Approximate width in pixels of ``text`` at font ``size`` (CJK characters are square)."""
    wide = sum(1 for ch in text if unicodedata.east_asian_width(ch) in ("W", "F"))
    return size * (wide + 0.62 * (len(text) - wide))


def _t(
    x: float,
    y: float,
    text: str,
    *,
    size: int = 12,
    anchor: str = "start",
    fill: str = MUTED,
    weight: str = "normal",
    extra: str = "",
) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="{fill}" '
        f'font-weight="{weight}"{extra}>{escape(text)}</text>'
    )


def _line(x1: float, x2: float, y1: float, y2: float, stroke: str, extra: str = "") -> str:
    return f'<line x1="{x1:.1f}" x2="{x2:.1f}" y1="{y1:.1f}" y2="{y2:.1f}" stroke="{stroke}"{extra}/>'


def _svg(chart_id: str, title: str, width: int, height: float, body: Sequence[str]) -> Markup:
    tid = f"{chart_id}-title"
    return Markup(
        f'<svg id="{escape(chart_id)}" class="chart" role="img" aria-labelledby="{escape(tid)}" '
        f'viewBox="0 0 {width} {height:.0f}" width="{width}" preserveAspectRatio="xMinYMin meet" '
        f'xmlns="http://www.w3.org/2000/svg"><title id="{escape(tid)}">{escape(title)}</title>'
        + "".join(body)
        + "</svg>"
    )


def _empty(chart_id: str, title: str, width: int, text: str) -> Markup:
    return _svg(chart_id, title, width, 36, [_t(width / 2, 22, text, anchor="middle", size=13)])


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (1, 2, 2.5 or 5 × a power of ten apart)."""
    if not math.isfinite(low) or not math.isfinite(high):
        return [0.0, 1.0]
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.floor(low / step + 1e-9)
    last = math.ceil(high / step - 1e-9)
    return [round(k * step, 12) for k in range(first, max(last, first + 1) + 1)]


# ------------------------------------------------------------------------------------------ line chart


@dataclass(frozen=True)
class Series:
    """A line: its legend label, points (x, y or None for a gap), colour and whether it is dashed."""

    label: str
    points: Sequence[tuple[float, float | None]]
    color: str = PALETTE[0]
    dashed: bool = False


def line_chart(
    chart_id: str,
    series: Sequence[Series],
    *,
    title: str,
    x_label: str,
    y_label: str,
    y_format: Callable[[float], str],
    x_ticks: Sequence[tuple[float, str]] = (),
    width: int = NARROW,
    height: int = 280,
    empty: str = "",
    y_min_span: float = 0.0,
) -> Markup:
    """Lines over a shared x axis; y from 0 (or the lowest value) to the highest (at least
    ``y_min_span``), gridlines at round ticks, the legend above (wrapping), the last value of each solid
    line labelled when there are at most three lines."""
    xs = [x for s in series for x, _ in s.points]
    ys = [y for s in series for _, y in s.points if y is not None]
    if not ys:
        return _empty(chart_id, title, width, empty)
    low = min(0.0, min(ys))
    ticks = nice_ticks(low, max(max(ys), low + y_min_span))
    y0, y1 = ticks[0], ticks[-1]
    left = 30 + max(text_width(y_format(v), 12) for v in ticks)
    legend: list[tuple[float, float, Series]] = []
    lx, ly = left, 15.0
    for s in series:  # the legend, wrapped to the width
        item = 48 + text_width(s.label, 13)
        if lx > left and lx + item > width:
            lx, ly = left, ly + 20
        legend.append((lx, ly, s))
        lx += item
    right, top, bottom = 40, ly + 21, 48
    height = int(height + ly - 15)
    plot_w, plot_h = width - left - right, height - top - bottom
    x0, x1 = min(xs), max(xs)
    x1 = x1 if x1 > x0 else x0 + 1

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * plot_w

    def py(y: float) -> float:
        return top + plot_h - (y - y0) / (y1 - y0) * plot_h

    body: list[str] = []
    for v in ticks:
        body.append(_line(left, left + plot_w, py(v), py(v), GRID))
        body.append(_t(left - 6, py(v) + 4, y_format(v), anchor="end"))
    for x, text in x_ticks:
        if x0 <= x <= x1:
            body.append(_line(px(x), px(x), top + plot_h, top + plot_h + 4, MUTED))
            body.append(_t(px(x), top + plot_h + 18, text, anchor="middle"))
    body.append(_line(left, left + plot_w, top + plot_h, top + plot_h, MUTED))
    body.append(_t(left + plot_w / 2, height - 6, x_label, anchor="middle", size=13))
    mid = top + plot_h / 2
    body.append(
        _t(14, mid, y_label, anchor="middle", size=13, extra=f' transform="rotate(-90 14 {mid:.1f})"')
    )
    for lx, ly, s in legend:
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        body.append(_line(lx, lx + 24, ly, ly, s.color, f' stroke-width="3"{dash}'))
        body.append(_t(lx + 30, ly + 4, s.label, fill=INK, size=13))
    for s in series:
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        runs: list[list[tuple[float, float]]] = [[]]
        for x, y in s.points:
            if y is None:
                runs.append([])
            else:
                runs[-1].append((px(x), py(y)))
        for run in runs:
            if len(run) == 1:
                body.append(f'<circle cx="{run[0][0]:.1f}" cy="{run[0][1]:.1f}" r="3" fill="{s.color}"/>')
            elif run:
                pts = " ".join(f"{a:.1f},{b:.1f}" for a, b in run)
                body.append(
                    f'<polyline class="line" points="{pts}" fill="none" stroke="{s.color}" '
                    f'stroke-width="2.5" stroke-linejoin="round"{dash}/>'
                )
        last = next(((x, y) for x, y in reversed(s.points) if y is not None), None)
        if last is not None and not s.dashed and len(series) <= 3:
            lx_, ly_ = px(last[0]), py(last[1])
            body.append(f'<circle cx="{lx_:.1f}" cy="{ly_:.1f}" r="4" fill="{s.color}"/>')
            at_end = lx_ > left + plot_w - 50
            body.append(
                _t(
                    lx_ + (-6 if at_end else 6),
                    ly_ - 9,
                    y_format(last[1]),
                    fill=s.color,
                    weight="bold",
                    anchor="end" if at_end else "start",
                )
            )
    return _svg(chart_id, title, width, height, body)


# -------------------------------------------------------------------------------------------- heatmap


def _blend(value: float) -> tuple[str, str]:
    """Fill and text colour for a share in [0, 1] on a white → dark blue scale (square-root, so small
    rates still show)."""
    t = math.sqrt(max(0.0, min(1.0, value)))
    lo, hi = (247, 251, 255), (8, 48, 107)
    rgb = [round(a + (b - a) * t) for a, b in zip(lo, hi, strict=True)]
    lum = 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]
    return "#{:02x}{:02x}{:02x}".format(*rgb), ("#ffffff" if lum < 140 else INK)


def heatmap(
    chart_id: str,
    rows: Sequence[str],
    cols: Sequence[str],
    values: Sequence[Sequence[float | None]],
    *,
    title: str,
    row_title: str,
    col_title: str,
    cell_format: Callable[[float], str],
    row_notes: Sequence[str] = (),
    width: int = WIDE,
    empty: str = "",
) -> Markup:
    """A matrix of shares as coloured cells with their values (a zero shows as a dot); rows down the left,
    columns across, an optional note column on the right (its first item is the column's heading)."""
    if not rows:
        return _empty(chart_id, title, width, empty)
    left = 16 + max(text_width(r, 13) for r in [*rows, row_title])
    note_w = 16 + max((text_width(n, 12) for n in row_notes), default=-16)
    top, cell_h = 52, 30
    cell_w = (width - left - note_w - 4) / max(len(cols), 1)
    height = top + cell_h * len(rows) + 8
    body = [
        _t(left + cell_w * len(cols) / 2, 14, col_title, anchor="middle", size=13),
        _t(left - 8, top - 10, row_title, anchor="end", size=12),
    ]
    for j, c in enumerate(cols):
        body.append(
            _t(left + cell_w * (j + 0.5), top - 10, c, anchor="middle", size=12, fill=INK, weight="bold")
        )
    if row_notes:
        body.append(_t(width - 4, top - 10, row_notes[0], anchor="end", size=12))
    for i, r in enumerate(rows):
        y = top + cell_h * i
        body.append(_t(left - 8, y + cell_h / 2 + 5, r, anchor="end", size=13, fill=INK, weight="bold"))
        for j, v in enumerate(values[i]):
            x = left + cell_w * j
            fill, ink = _blend(v) if v is not None else (EMPTY, MUTED)
            shown = "—" if v is None else ("·" if v == 0 else cell_format(v))
            body.append(
                f'<rect class="cell" x="{x + 1:.1f}" y="{y + 1:.1f}" width="{cell_w - 2:.1f}" '
                f'height="{cell_h - 2}" fill="{fill}"><title>{escape(r)} → {escape(cols[j])}: '
                f"{escape(shown)}</title></rect>"
            )
            body.append(_t(x + cell_w / 2, y + cell_h / 2 + 5, shown, anchor="middle", size=12, fill=ink))
        if len(row_notes) > i + 1:
            body.append(_t(width - 4, y + cell_h / 2 + 5, row_notes[i + 1], anchor="end", size=12, fill=INK))
    return _svg(chart_id, title, width, height, body)


# ----------------------------------------------------------------------------------------------- bars


@dataclass(frozen=True)
class Bar:
    """A horizontal bar: label, value (its length), the text beside it, an optional target (drawn as a
    light track up to the target with a dark tick, a bullet chart), its colour and an optional group
    (a heading drawn above the first bar of each group)."""

    label: str
    value: float
    text: str
    target: float | None = None
    target_text: str = ""
    color: str = PALETTE[0]
    group: str = ""


def bars(
    chart_id: str,
    items: Sequence[Bar],
    *,
    title: str,
    axis_label: str = "",
    empty: str = "",
    top_value: float | None = None,
    width: int = NARROW,
) -> Markup:
    """Horizontal bars scaled to the largest value or target (or ``top_value``)."""
    if not items:
        return _empty(chart_id, title, width, empty)
    row, size = 28, 13
    left = 12 + max(text_width(b.label, size) for b in items)
    text_w = 12 + max(text_width(b.text, 12) for b in items)
    track = max(width - left - text_w, 120)
    top = top_value or max([abs(b.value) for b in items] + [b.target or 0 for b in items]) or 1.0
    body: list[str] = []
    y, group = 4.0, None
    for b in items:
        if b.group and b.group != group:
            group = b.group
            y += 4 if y > 4 else 0
            body.append(_t(4, y + 15, b.group, fill=INK, weight="bold", size=13))
            body.append(_line(4, width - 4, y + 21, y + 21, GRID))
            y += 24
        w = max(0.0, b.value) / top * track
        end = w
        body.append(_t(left - 8, y + 17, b.label, anchor="end", fill=INK, size=size))
        if b.target is not None:
            tw = max(0.0, b.target) / top * track
            end = max(w, tw)
            body.append(
                f'<rect class="track" x="{left}" y="{y + 6:.1f}" width="{tw:.1f}" height="14" fill="{TRACK}">'
                f"<title>{escape(b.target_text)}</title></rect>"
            )
        body.append(
            f'<rect class="bar" x="{left:.1f}" y="{y + 4:.1f}" width="{w:.1f}" height="18" rx="2" '
            f'fill="{b.color}"/>'
        )
        if b.target is not None:
            tx = left + max(0.0, b.target) / top * track
            body.append(
                f'<line class="target" x1="{tx:.1f}" x2="{tx:.1f}" y1="{y + 1:.1f}" y2="{y + 25:.1f}" '
                f'stroke="{INK}" stroke-width="2.5"><title>{escape(b.target_text)}</title></line>'
            )
        body.append(_t(left + end + 8, y + 17, b.text, fill=INK))
        y += row
    if axis_label:
        body.append(_t(left, y + 14, axis_label, size=12))
        y += 20
    return _svg(chart_id, title, width, y + 4, body)


# --------------------------------------------------------------------------------------------- funnel


@dataclass(frozen=True)
class Stage:
    """A funnel stage: label, count (its width), the text shown (count and amount) and the conversion."""

    label: str
    count: int
    text: str
    rate: str = ""


def funnel(
    chart_id: str,
    stages: Sequence[Stage],
    *,
    title: str,
    empty: str = "",
    color: str = PALETTE[0],
    width: int = NARROW,
) -> Markup:
    """Centred bars narrowing stage by stage, each with its count and its share of the stage before."""
    first = stages[0].count if stages else 0
    if first <= 0:
        return _empty(chart_id, title, width, empty)
    left = 12 + max(text_width(s.label, 13) for s in stages)
    right = 12 + max(max(text_width(s.text, 13), text_width(s.rate, 11)) for s in stages)
    track = max(width - left - right, 120)
    row = 40
    body: list[str] = []
    for i, s in enumerate(stages):
        y = 4 + row * i
        w = max(2.0, s.count / first * track)
        x = left + (track - w) / 2
        body.append(_t(left - 8, y + 21, s.label, anchor="end", fill=INK, size=13))
        body.append(
            f'<rect class="stage" x="{x:.1f}" y="{y + 4}" width="{w:.1f}" height="26" rx="2" fill="{color}" '
            f'fill-opacity="{1 - 0.13 * i:.2f}"/>'
        )
        body.append(_t(left + track + 10, y + 16, s.text, fill=INK, size=13, weight="bold"))
        if s.rate:
            body.append(_t(left + track + 10, y + 31, s.rate, size=11))
    return _svg(chart_id, title, width, 8 + row * len(stages), body)


# ------------------------------------------------------------------------------------------ intervals


@dataclass(frozen=True)
class Interval:
    """An estimate with its confidence interval (None: not estimable)."""

    label: str
    value: float | None
    low: float | None
    high: float | None
    text: str


def intervals(
    chart_id: str,
    items: Sequence[Interval],
    *,
    title: str,
    axis_label: str,
    value_format: Callable[[float], str],
    reference: float | None = None,
    width: int = NARROW,
    empty: str = "",
    min_span: float = 0.0,
) -> Markup:
    """Point estimates with horizontal interval whiskers on a shared axis (a forest plot); ``reference``
    (the champion's estimate) as a dashed vertical line."""
    if not items:
        return _empty(chart_id, title, width, empty)
    left = 16 + max(text_width(it.label, 13) for it in items)
    right = 16 + max(text_width(it.text, 12) for it in items)
    row, top = 34, 8
    plot = max(width - left - right, 160)
    known = [v for it in items for v in (it.low, it.high, it.value) if v is not None and math.isfinite(v)]
    low = min([0.0, *known])
    ticks = nice_ticks(low, max([low + min_span, *known]) or 1.0, 4)
    lo, hi = ticks[0], ticks[-1]

    def px(v: float) -> float:
        return left + (v - lo) / (hi - lo) * plot

    base = top + row * len(items)
    height = base + 44
    body = [_line(left, left + plot, base, base, MUTED)]
    for t in ticks:
        body.append(_line(px(t), px(t), top, base, GRID))
        body.append(_t(px(t), base + 16, value_format(t), anchor="middle"))
    body.append(_t(left + plot / 2, height - 4, axis_label, anchor="middle", size=12))
    if reference is not None and math.isfinite(reference):
        x = px(reference)
        body.append(_line(x, x, top, base, PALETTE[1], ' stroke-dasharray="4 3" stroke-width="2"'))
    for i, it in enumerate(items):
        y = top + row * i + row / 2
        body.append(_t(left - 10, y + 5, it.label, anchor="end", fill=INK, size=13))
        ends = [v for v in (it.low, it.high) if v is not None and math.isfinite(v)]
        if len(ends) == 2:
            body.append(_line(px(ends[0]), px(ends[1]), y, y, PALETTE[0], ' stroke-width="2" class="ci"'))
            body.extend(_line(px(v), px(v), y - 7, y + 7, PALETTE[0], ' stroke-width="2"') for v in ends)
        if it.value is not None and math.isfinite(it.value):
            body.append(f'<circle cx="{px(it.value):.1f}" cy="{y:.1f}" r="5.5" fill="{PALETTE[0]}"/>')
        body.append(_t(left + plot + 10, y + 5, it.text, fill=INK))
    return _svg(chart_id, title, width, height, body)
