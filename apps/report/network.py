"""The trial graph around the seed: its most similar trials and what links them, laid out for a chart.

The neighbourhood is taken from the store's similarity graph (:mod:`graph.build`,
:func:`graph.similarity.similar_trials`): the seed, its ``top`` most similar CAR trials and the
entities (product, target, disease, cell, origin, sponsor) each shares with it. A force-directed
layout (``networkx.spring_layout``, fixed seed, so the picture is the same each time) places them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import networkx as nx
from sqlalchemy import Engine

from apps.report.data import Table

__all__ = ["SEED", "SHOWN_KINDS", "Neighbourhood", "seed_neighbourhood"]

SEED = "NCT06464679"
SHOWN_KINDS = ("product", "target", "disease", "cell", "origin", "sponsor")
"""Entity kinds drawn; countries, phases, MeSH terms and interventions would crowd the picture."""


@dataclass
class Neighbourhood:
    """Nodes with positions and labels, edges, and the similar trials with their scores."""

    seed: str
    nodes: list[dict[str, Any]]
    edges: list[tuple[str, str]]
    similar: Table


def seed_neighbourhood(engine: Engine, seed: str = SEED, top: int = 12) -> Neighbourhood | None:
    """The seed's neighbourhood, or None when the seed is not in the store."""
    from graph.build import build_graph, trial_node
    from graph.similarity import similar_trials

    graph = build_graph(engine, relevant_only=True)
    if trial_node(seed) not in graph:
        graph = build_graph(engine)
        if trial_node(seed) not in graph:
            return None
    similar = similar_trials(graph, seed, top=top, car_only=True)
    center = trial_node(seed)
    keep = {center}
    rows = []
    for item in similar:
        node = trial_node(item["trial_id"])
        shared = [s for s in item["shared"] if s["kind"] in SHOWN_KINDS]
        keep.add(node)
        keep.update(s["entity"] for s in shared)
        rows.append([item["trial_id"], graph.nodes[node].get("title") or "", item["score"],
                     "; ".join(f"{s['kind']}: {s['label']}" for s in shared)])
    sub = graph.subgraph(keep)
    edges = sorted(tuple(sorted(edge)) for edge in sub.edges())  # a fixed order: the same layout every run
    layout = nx.spring_layout(nx.Graph(edges), seed=7, k=0.6, iterations=200)
    scores = {trial_node(i["trial_id"]): i["score"] for i in similar}
    nodes = []
    for node in sorted(sub.nodes):
        if node not in layout:
            continue
        data = sub.nodes[node]
        kind = "seed" if node == center else data["kind"]
        x, y = layout[node]
        nodes.append({"id": node, "kind": kind, "label": data.get("label", node), "x": float(x), "y": float(y),
                      "title": data.get("title") or "", "score": scores.get(node)})
    return Neighbourhood(seed=seed, nodes=nodes, edges=edges,
                         similar=Table(["trial_id", "title", "score", "shared with the seed"], rows))
