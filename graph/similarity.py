"""Which trials are most like this one, and why.

The score of two trials is a weighted Jaccard (Ruzicka) index over the entities they link to:
each entity counts ``KIND_WEIGHTS[kind] * log((1 + N) / df)`` (so a shared product or target counts
far more than a shared country or phase, and a rare disease more than the umbrella), times the
smaller of the two edges' weights (a broader MeSH term or parent disease reached through the
hierarchy counts less than a direct one):

    score(q, c) = shared / (self(q) + self(c) - shared) * modality factor

1.0 means the same entity profile. Trials of different modalities (a CAR cell therapy, another
cell therapy, anything else) are different kinds of trial for this question: their score is
multiplied by ``MODALITY_MISMATCH``, and the explanation says so. Candidates are the trials two hops from the query through entities linked to at most
``hub_limit`` trials; a more popular entity (a country, a phase) is not walked but still adds its
(small) credit to the candidates that have it, by an adjacency check. A lookup's cost thus
depends on the query's rare entities, not on the size of the graph.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import networkx as nx

from graph.build import trial_node

__all__ = ["UnknownTrial", "similar_trials", "modality", "HUB_LIMIT", "MODALITY_MISMATCH"]

HUB_LIMIT = 1000
MODALITY_MISMATCH = 0.5


def modality(node: dict[str, Any]) -> str:
    """'car' for a CAR cell therapy, 'cell' for another (or unclear) cell therapy, else 'other'."""
    if node.get("is_car") is True:
        return "car"
    return "cell" if node.get("is_car") is None or node.get("cell") else "other"


class UnknownTrial(LookupError):
    """The query trial is not in the graph."""


def similar_trials(graph: nx.Graph, nct_id: str, *, top: int = 10, car_only: bool = False,
                   hub_limit: int = HUB_LIMIT) -> list[dict[str, Any]]:
    """The ``top`` trials most like ``nct_id``, best first, with the shared entities that explain each.

    Parameters
    ----------
    graph : the trial graph (``graph.build.build_graph``); not changed.
    nct_id : the query trial.
    top : how many to return.
    car_only : only CAR cell therapies (``is_car`` true on the trial node).
    hub_limit : entities linked to more trials than this score candidates but do not generate them.

    Returns
    -------
    list of ``{"nct_id", "score", "shared": [{"entity", "kind", "label", "weight"}, ...]}``

    Example
    -------
    >>> import networkx as nx
    >>> from graph.build import add_trial, finalize
    >>> g = nx.Graph()
    >>> for nct, cell in [("NCT00000001", "NK"), ("NCT00000002", "NK"), ("NCT00000003", "T")]:
    ...     _ = add_trial(g, {"nct_id": nct, "cell_type": cell, "is_car_therapy": True})
    >>> finalize(g)
    >>> [r["nct_id"] for r in similar_trials(g, "NCT00000001")]
    ['NCT00000002']
    """
    query = trial_node(nct_id.strip().upper())
    if query not in graph:
        raise UnknownTrial(f"{nct_id} is not in the graph (import or crawl it first)")
    nodes = graph.nodes
    shared: dict[str, float] = defaultdict(float)
    reasons: dict[str, list[tuple[str, float]]] = defaultdict(list)
    hubs = []
    for entity, edge in graph[query].items():
        idf = nodes[entity]["idf"]
        if idf <= 0:
            continue
        neighbours = graph[entity]
        if len(neighbours) > hub_limit:
            hubs.append((entity, idf, edge["weight"], neighbours))
            continue
        for candidate, other in neighbours.items():
            if candidate == query or (car_only and nodes[candidate].get("is_car") is not True):
                continue
            credit = idf * min(edge["weight"], other["weight"])
            shared[candidate] += credit
            reasons[candidate].append((entity, credit))
    for entity, idf, weight, neighbours in hubs:  # hubs score the candidates, without generating them
        for candidate in shared:
            other = neighbours.get(candidate)
            if other is not None:
                credit = idf * min(weight, other["weight"])
                shared[candidate] += credit
                reasons[candidate].append((entity, credit))
    self_query, kind = nodes[query]["self_score"], modality(nodes[query])
    scored = sorted(((value / (self_query + nodes[c]["self_score"] - value)
                      * (1.0 if modality(nodes[c]) == kind else MODALITY_MISMATCH), c) for c, value in shared.items()),
                    key=lambda pair: (-pair[0], pair[1]))[:top]
    return [{"nct_id": nodes[c]["label"], "score": round(score, 4),
             "shared": [{"entity": e, "kind": nodes[e]["kind"], "label": nodes[e]["label"], "weight": round(w, 3)}
                        for e, w in sorted(reasons[c], key=lambda r: -r[1])],
             **({} if modality(nodes[c]) == kind else {"note": f"different modality ({modality(nodes[c])})"})}
            for score, c in scored]
