"""A static SVG picture of each report chart, so the page reads without JavaScript.

A mail preview, a printed page or a browser with scripts off shows these pictures; where scripts
run, plotly.js replaces each with its interactive chart. Drawn from the Plotly figure itself
(bars, stacked bars, heatmap, funnel, node-link scatter), with the standard library only.
"""

from __future__ import annotations

from typing import Any, Sequence
from xml.sax.saxutils import escape, quoteattr

import plotly.graph_objects as go
from plotly.colors import qualitative

__all__ = ["figure_svg"]

WIDTH = 640
FONT = 'font-family="sans-serif" font-size="11"'
COLOURS = qualitative.Dark24


def figure_svg(figure: go.Figure, title: str) -> str:
    """The figure as one inline ``<svg>`` (``role="img"``, titled), or "" for a trace it cannot draw."""
    traces = list(figure.data)
    if not traces:
        return ""
    kind = traces[0].type
    if kind == "bar" and traces[0].orientation == "h":
        body, height = _hbars([str(v) for v in traces[0].y], list(traces[0].x), [str(v) for v in traces[0].x])
    elif kind == "funnel":
        first = traces[0].x[0] or 1
        body, height = _hbars([str(v) for v in traces[0].y], list(traces[0].x),
                              [f"{v} ({100 * v / first:.0f}%)" for v in traces[0].x])
    elif kind == "bar":
        body, height = _stacked([str(v) for v in traces[0].x], [(t.name, list(t.y)) for t in traces])
    elif kind == "heatmap":
        body, height = _heatmap([str(v) for v in traces[0].x], [str(v) for v in traces[0].y], traces[0].z)
    elif kind == "scatter":
        body, height = _network(traces)
    else:
        return ""
    return (f'<svg class="static-chart" role="img" viewBox="0 0 {WIDTH} {height}" width="100%" '
            f'xmlns="http://www.w3.org/2000/svg" {FONT}><title>{escape(title)}</title>{body}</svg>')


def _text(x: float, y: float, text: str, anchor: str = "start", extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{extra}>{escape(text)}</text>'


def _short(text: str, length: int) -> str:
    return text if len(text) <= length else text[:length - 1] + "…"


def _hbars(labels: Sequence[str], values: Sequence[float], shown: Sequence[str]) -> tuple[str, int]:
    """Horizontal bars, the last label on top (as Plotly draws them)."""
    rows = list(zip(labels, values, shown))[::-1]
    left, right, step = 200, 90, 20
    top = max(values, default=0) or 1
    parts = []
    for n, (label, value, text) in enumerate(rows):
        y = 10 + n * step
        width = (WIDTH - left - right) * value / top
        parts += [_text(left - 6, y + 12, _short(label, 32), "end"),
                  f'<rect x="{left}" y="{y + 2}" width="{width:.1f}" height="{step - 6}" fill="#1f77b4"/>',
                  _text(left + width + 4, y + 12, text)]
    return "".join(parts), 20 + len(rows) * step


def _stacked(xs: Sequence[str], series: list[tuple[str, list[float]]]) -> tuple[str, int]:
    """Vertical bars per x, stacked by series, with a legend below."""
    left, top, plot = 40, 10, 240
    totals = [sum(values[i] or 0 for _, values in series) for i in range(len(xs))]
    peak = max(totals, default=0) or 1
    slot = (WIDTH - left - 10) / max(len(xs), 1)
    parts = [f'<line x1="{left}" y1="{top + plot}" x2="{WIDTH - 10}" y2="{top + plot}" stroke="#999"/>',
             _text(left - 4, top + 8, f"{peak:g}", "end")]
    for i, x in enumerate(xs):
        base = top + plot
        for n, (_, values) in enumerate(series):
            height = plot * (values[i] or 0) / peak
            base -= height
            parts.append(f'<rect x="{left + i * slot + slot * 0.15:.1f}" y="{base:.1f}" width="{slot * 0.7:.1f}" '
                         f'height="{height:.1f}" fill="{COLOURS[n % len(COLOURS)]}"/>')
        parts.append(_text(left + (i + 0.5) * slot, top + plot + 14, _short(x, 10), "middle"))
    legend_top = top + plot + 30
    for n, (name, _) in enumerate(series):
        x, y = left + (n % 3) * 200, legend_top + (n // 3) * 16
        parts += [f'<rect x="{x}" y="{y}" width="10" height="10" fill="{COLOURS[n % len(COLOURS)]}"/>',
                  _text(x + 14, y + 9, _short(str(name), 30))]
    return "".join(parts), legend_top + 16 * ((len(series) + 2) // 3) + 6


def _heatmap(xs: Sequence[str], ys: Sequence[str], z: Sequence[Sequence[float]]) -> tuple[str, int]:
    """A grid of counts, darker for more, the x labels on top."""
    left, top = 200, 90
    cell_w, cell_h = (WIDTH - left - 10) / max(len(xs), 1), 20
    peak = max((v for row in z for v in row), default=0) or 1
    parts = [f'<text transform="translate({left + (i + 0.5) * cell_w:.1f},{top - 6}) rotate(-50)">{escape(_short(x, 14))}'
             f"</text>" for i, x in enumerate(xs)]
    for j, (y, row) in enumerate(zip(ys, z)):
        parts.append(_text(left - 6, top + j * cell_h + 14, _short(y, 28), "end"))
        for i, value in enumerate(row):
            shade = 0.08 + 0.92 * value / peak if value else 0.0
            parts.append(f'<rect x="{left + i * cell_w:.1f}" y="{top + j * cell_h}" width="{cell_w - 1:.1f}" '
                         f'height="{cell_h - 1}" fill="#08519c" fill-opacity="{shade:.2f}"/>')
            if value:
                colour = "#fff" if shade > 0.5 else "#000"
                parts.append(_text(left + (i + 0.5) * cell_w, top + j * cell_h + 14, f"{value:g}", "middle",
                                   f' fill="{colour}"'))
    return "".join(parts), top + len(ys) * cell_h + 10


def _network(traces: Sequence[Any]) -> tuple[str, int]:
    """Edges as lines and nodes as labelled dots, in the layout's coordinates."""
    points = [(x, y) for t in traces for x, y in zip(t.x, t.y) if x is not None]
    if not points:
        return "", 40
    lo_x, hi_x = min(p[0] for p in points), max(p[0] for p in points)
    lo_y, hi_y = min(p[1] for p in points), max(p[1] for p in points)
    height = 480

    def at(x: float, y: float) -> tuple[float, float]:
        return (20 + (WIDTH - 40) * (x - lo_x) / ((hi_x - lo_x) or 1),
                20 + (height - 40) * (hi_y - y) / ((hi_y - lo_y) or 1))

    parts = []
    edges = traces[0]
    pairs = list(zip(edges.x, edges.y))
    for start in range(0, len(pairs) - 1, 3):
        (x1, y1), (x2, y2) = at(*pairs[start]), at(*pairs[start + 1])
        parts.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="#c7c7c7"/>')
    for trace in traces[1:]:
        colour = trace.marker.color
        for x, y, label in zip(trace.x, trace.y, trace.text or ()):
            cx, cy = at(x, y)
            parts += [f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="5" fill={quoteattr(str(colour))}/>',
                      _text(cx, cy - 7, str(label), "middle", ' font-size="9"')]
    return "".join(parts), height
