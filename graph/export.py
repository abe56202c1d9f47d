"""Export the trial graph for Gephi / Cytoscape: GraphML, GEXF or node-link JSON."""

from __future__ import annotations

import json
from pathlib import Path

import networkx as nx

__all__ = ["FORMATS", "export_graph"]

FORMATS = ("graphml", "gexf", "json")


def _value(value: object) -> object:
    """One type per attribute: unknown and booleans as text ('', 'true', 'false')."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _plain(graph: nx.Graph) -> nx.Graph:
    """A copy whose attributes GraphML/GEXF can hold (no None, one type per attribute)."""
    copy = nx.Graph(**{k: _value(v) for k, v in graph.graph.items()})
    copy.add_nodes_from((node, {k: _value(v) for k, v in data.items()}) for node, data in graph.nodes(data=True))
    copy.add_edges_from(graph.edges(data=True))
    return copy


def export_graph(graph: nx.Graph, path: str | Path, fmt: str | None = None) -> str:
    """Write ``graph`` to ``path`` (format from ``fmt`` or the suffix); returns the format."""
    path = Path(path)
    fmt = (fmt or path.suffix.lstrip(".") or "graphml").lower()
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "graphml":
        nx.write_graphml(_plain(graph), path)
    elif fmt == "gexf":
        nx.write_gexf(_plain(graph), path)
    else:
        path.write_text(json.dumps(nx.node_link_data(graph, edges="edges"), default=str))
    return fmt
