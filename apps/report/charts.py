"""The report's interactive charts: Plotly figures drawn from the tables of :mod:`apps.report.data`.

Each :class:`Chart` carries its figure (as Plotly JSON, drawn in the page by the inlined
plotly.js) and the table behind it (offered as CSV). Figures use Plotly's SVG traces only (no
WebGL), so they draw in any browser, headless ones included.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go
from markupsafe import Markup
from plotly.colors import qualitative

from apps.report.data import Table, disease_label
from apps.report.network import Neighbourhood
from apps.report.static import figure_svg

__all__ = ["Chart", "bar_chart", "stacked_bars", "heatmap", "funnel", "network_chart"]

LAYOUT: dict[str, Any] = {"margin": {"l": 60, "r": 20, "t": 30, "b": 50},
                          "height": 380, "legend": {"font": {"size": 11}}, "font": {"size": 12},
                          "colorway": qualitative.Dark24, "paper_bgcolor": "white", "plot_bgcolor": "white",
                          "xaxis": {"gridcolor": "#e8ecf1", "zeroline": False},
                          "yaxis": {"gridcolor": "#e8ecf1", "zeroline": False}}
"""Shared layout; 24 distinct colours, so the 12 groups and the merged rest of a stacked chart never share one."""
MERGED = "(all smaller groups)"
KIND_COLOURS = {"seed": "#d62728", "trial": "#1f77b4", "product": "#9467bd", "target": "#ff7f0e",
                "disease": "#2ca02c", "cell": "#8c564b", "origin": "#e377c2", "sponsor": "#7f7f7f"}


@dataclass
class Chart:
    """A chart of the page: its anchor, title, explanation, figure and data."""

    key: str
    title: str
    note: str
    figure: go.Figure
    table: Table

    def figure_json(self) -> str:
        """The figure as Plotly JSON for ``Plotly.newPlot``."""
        return self.figure.to_json()

    def static_svg(self) -> Markup:
        """A static picture of the chart (:mod:`apps.report.static`), shown until (or unless) scripts draw it."""
        return Markup(figure_svg(self.figure, self.title))


def _figure(traces: Any) -> go.Figure:
    """A figure without plotly.py's default template (applying one costs ~0.1 s a figure and 6 KB of JSON)."""
    return go.Figure(traces, layout={"template": "none"})


def _layout(figure: go.Figure, **extra: Any) -> go.Figure:
    figure.update_layout(**LAYOUT)
    figure.update_layout(**extra)
    return figure


def stacked_bars(table: Table, x: str, group: str, value: str = "trials", *, top: int = 12) -> go.Figure:
    """Bars of ``value`` per ``x``, stacked by ``group``; groups beyond the ``top`` largest are merged."""
    records = table.records()
    totals: dict[str, int] = {}
    for r in records:
        totals[r[group]] = totals.get(r[group], 0) + r[value]
    ranked = sorted(totals, key=lambda g: (-totals[g], g))
    shown = set(ranked[:top])
    series: dict[str, dict[Any, int]] = {}
    for r in records:
        bucket = series.setdefault(r[group] if r[group] in shown else MERGED, {})
        bucket[r[x]] = bucket.get(r[x], 0) + r[value]
    xs = sorted({r[x] for r in records}, key=lambda v: (isinstance(v, str), v))
    order = [g for g in ranked if g in series] + ([MERGED] if MERGED in series else [])
    figure = _figure([go.Bar(name=str(name), x=[str(v) for v in xs], y=[series[name].get(v, 0) for v in xs])
                      for name in order])
    return _layout(figure, barmode="stack", xaxis={"title": x, "type": "category"}, yaxis={"title": value})


def bar_chart(table: Table, label: str, value: str = "trials", *, top: int = 25) -> go.Figure:
    """One horizontal bar per row (the first ``top`` rows), the first on top."""
    records = table.records()[:top][::-1]
    labels, values = [str(r[label]) for r in records], [r[value] for r in records]
    figure = _figure(go.Bar(x=values, y=labels, orientation="h", marker_color="#1f77b4", text=values,
                            textposition="outside"))
    return _layout(figure, height=max(300, 22 * len(records) + 80), xaxis={"title": value},
                   margin={**LAYOUT["margin"], "l": 190})


def heatmap(table: Table, x: str, y: str, value: str = "trials", *, top: int = 15) -> go.Figure:
    """A count heatmap of ``y`` rows x ``x`` columns, the ``top`` most frequent of each."""
    records = table.records()

    def ranked(key: str) -> list[str]:
        totals: dict[str, int] = {}
        for r in records:
            totals[r[key]] = totals.get(r[key], 0) + r[value]
        return sorted(totals, key=lambda k: (-totals[k], k))[:top]

    xs, ys = ranked(x), ranked(y)
    cells = {(r[x], r[y]): r[value] for r in records}
    z = [[cells.get((a, b), 0) for a in xs] for b in ys]
    figure = _figure(go.Heatmap(z=z, x=xs, y=ys, colorscale="Blues", text=z, texttemplate="%{text}",
                                hovertemplate=f"{y}: %{{y}}<br>{x}: %{{x}}<br>{value}: %{{z}}<extra></extra>"))
    figure.update_traces(colorbar={"outlinewidth": 0, "thickness": 14}, xgap=1, ygap=1)
    return _layout(figure, height=max(320, 24 * len(ys) + 170), xaxis={"side": "top", "showgrid": False},
                   yaxis={"autorange": "reversed", "showgrid": False},
                   margin={**LAYOUT["margin"], "l": 230, "t": 110, "b": 20})


def funnel(stages: list[tuple[str, int]]) -> go.Figure:
    """The selection funnel: how many trials pass each stage."""
    figure = _figure(go.Funnel(y=[s for s, _ in stages], x=[n for _, n in stages], textinfo="value+percent initial",
                               marker={"color": ["#9ecae1", "#6baed6", "#3182bd", "#08519c"]}))
    return _layout(figure, height=300, margin={**LAYOUT["margin"], "l": 140})


def network_chart(hood: Neighbourhood) -> go.Figure:
    """The seed's neighbourhood as a node-link diagram: edges as lines, nodes coloured by kind."""
    where = {n["id"]: (n["x"], n["y"]) for n in hood.nodes}
    xs: list[float | None] = []
    ys: list[float | None] = []
    for a, b in hood.edges:
        xs += [where[a][0], where[b][0], None]
        ys += [where[a][1], where[b][1], None]
    traces: list[go.Scatter] = [go.Scatter(x=xs, y=ys, mode="lines", line={"color": "#c7c7c7", "width": 1},
                                           hoverinfo="skip", showlegend=False)]
    for kind in ("seed", "trial", "product", "target", "disease", "cell", "origin", "sponsor"):
        nodes = [n for n in hood.nodes if n["kind"] == kind]
        if not nodes:
            continue
        labels = [disease_label(n["label"]) if kind == "disease" else n["label"] for n in nodes]
        hover = [f"{n['label']}<br>{n['title'][:80]}" + (f"<br>score {n['score']}" if n["score"] is not None else "")
                 if kind in ("seed", "trial") else f"{kind}: {label}" for n, label in zip(nodes, labels, strict=True)]
        traces.append(go.Scatter(
            x=[n["x"] for n in nodes], y=[n["y"] for n in nodes], mode="markers+text", name=kind,
            text=[label if len(label) <= 24 else label[:23] + "…" for label in labels], textposition="top center",
            textfont={"size": 10},
            hovertext=hover, hoverinfo="text",
            marker={"size": 18 if kind == "seed" else 11 if kind == "trial" else 9, "color": KIND_COLOURS[kind],
                    "symbol": "circle" if kind in ("seed", "trial") else "diamond",
                    "line": {"width": 1, "color": "white"}}))
    axis = {"visible": False, "showgrid": False, "zeroline": False}
    return _layout(_figure(traces), height=600, xaxis=axis, yaxis=axis, hovermode="closest",
                   legend={"orientation": "h", "x": 0, "y": -0.02, "yanchor": "top"},
                   margin={"l": 10, "r": 10, "t": 30, "b": 40})
