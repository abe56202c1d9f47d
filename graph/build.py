"""Build the trial graph from the store.

A bipartite networkx graph: trial nodes (``trial:NCT06464679``) linked to entity nodes whose
ids carry their kind (``target:CD19``, ``product:KN5501``, ``cell:NK``, ``origin:allogeneic``,
``disease:sle``, ``mesh:D008180``, ``intervention:fludarabine``, ``sponsor:Changhai Hospital``,
``country:China``, ``phase:PHASE1``). Edges carry ``relation``, ``source`` (where it was found)
and ``weight`` (1 for a direct link, less for a broader term reached through a hierarchy: a MeSH
ancestor, a parent disease category).
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Iterable
from typing import Any

import networkx as nx
from sqlalchemy import Engine, select, text

from graph.fingerprint import FINGERPRINT_SQL, fingerprint
from kb.domain import lexicon
from kb.domain.lexicon import disease_ancestors
from kb.store.models import Intervention, Trial, TrialFact, TrialMesh, TrialSponsor
from kb.store.read import json_list

__all__ = ["KIND_WEIGHTS", "ANCESTOR_WEIGHT", "UMBRELLAS", "build_graph", "add_trial", "add_fact", "finalize",
           "store_fingerprint", "trial_node", "entity_node", "group_of"]

KIND_WEIGHTS: dict[str, float] = {
    "product": 3.0, "target": 2.0, "disease": 1.5, "cell": 1.0, "intervention": 1.0, "mesh": 0.75,
    "origin": 0.5, "sponsor": 0.75, "country": 0.25, "phase": 0.25,
}
"""How much sharing an entity of each kind says about two trials, before its IDF: weighs entities
within a rule's share (``graph.similarity``), e.g. a shared intervention name against a shared country."""

ANCESTOR_WEIGHT = 0.5
VARIANT_WEIGHT = 0.75
PRODUCT_VARIANT = re.compile(r"^([A-Z]+[\w-]*\d)-[A-Z]{1,2}$")
UMBRELLA_WEIGHT = 0.25
FACT_KINDS = {"target": ("target", "targets"), "product": ("product", "tests_product"),
              "disease": ("disease", "studies_disease"), "cancer": ("disease", "studies_cancer")}
UMBRELLAS = frozenset({"autoimmune", "cancer"})
"""Disease entities that name a domain, not a disease: they only break ties."""
GENERIC_INTERVENTIONS = frozenset({"placebo", "standard of care", "best supportive care", "observation"})


def trial_node(trial_id: str) -> str:
    return f"trial:{trial_id}"


def group_of(kind: str, label: str) -> str:
    """The ranking rule an entity feeds (``graph.similarity``): product, target, disease, or tie."""
    if kind in ("product", "target"):
        return kind
    return "disease" if kind == "disease" and label not in UMBRELLAS else "tie"


def entity_node(kind: str, value: str) -> str:
    return sys.intern(f"{kind}:{value}")


def display_name(kind: str, value: str) -> str:
    """How an explanation names an entity: a disease category by its abbreviation (SLE), else as stored."""
    disease = lexicon.DISEASES_BY_KEY.get(value) if kind == "disease" else None
    if disease is None:
        return value
    return disease.abbreviations[0] if disease.abbreviations else disease.label


def _link(graph: nx.Graph, trial: str, kind: str, value: str, relation: str, source: str,
          weight: float = 1.0) -> None:
    node = entity_node(kind, value)
    if node not in graph:
        graph.add_node(node, kind=sys.intern(kind), label=value, display=display_name(kind, value))
    current = graph.get_edge_data(trial, node)
    if current is None or current["weight"] < weight:
        graph.add_edge(trial, node, relation=sys.intern(relation), source=sys.intern(source), weight=weight)


def add_trial(graph: nx.Graph, row: dict[str, Any]) -> str:
    """Add a trial node with its domain and modality, and link its cell, origin, phases and countries."""
    node = trial_node(row["trial_id"])
    graph.add_node(node, kind="trial", label=row["trial_id"], title=row.get("brief_title") or "",
                   is_car=row.get("is_car_therapy"), cell=row.get("cell_type"), origin=row.get("origin"),
                   modality=row.get("modality"), domain=row.get("domain"), relevant=bool(row.get("is_relevant")),
                   status=row.get("overall_status"))
    if row.get("cell_type"):
        _link(graph, node, "cell", row["cell_type"], "uses_cell", "extraction")
    if row.get("origin"):
        _link(graph, node, "origin", row["origin"], "has_origin", "extraction")
    for phase in json_list(row.get("phases")):
        _link(graph, node, "phase", phase, "in_phase", "designModule")
    for country in json_list(row.get("countries")):
        _link(graph, node, "country", country, "located_in", "locations")
    return node


def add_fact(graph: nx.Graph, trial_id: str, kind: str, value: str, where: str) -> None:
    """Link a trial to an extracted fact (target, product, disease with its broader categories)."""
    node = trial_node(trial_id)
    if node not in graph:
        return
    entity_kind, relation = FACT_KINDS[kind]
    _link(graph, node, entity_kind, value, relation, where)
    variant = PRODUCT_VARIANT.match(value) if kind == "product" else None
    if variant:  # KN5601-K is a variant of KN5601: trials of either share the base product
        _link(graph, node, "product", variant.group(1), relation, f"variant {value}", VARIANT_WEIGHT)
    if kind == "disease":  # cancers have no hierarchy here: they sit under no immune umbrella
        for depth, ancestor in enumerate(disease_ancestors(value)):
            weight = UMBRELLA_WEIGHT if ancestor == "autoimmune" else ANCESTOR_WEIGHT ** (depth + 1)
            _link(graph, node, "disease", ancestor, "studies_disease", f"broader than {value}", weight)


def _rows(engine: Engine, statement, size: int = 50_000) -> Iterable[Any]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        result = conn.execution_options(yield_per=size).execute(statement)
        yield from result


def store_fingerprint(engine: Engine) -> str:
    """Changes whenever a trial is added or changed (count and newest update), or the graph code."""
    with engine.connect() as conn:
        return fingerprint(*conn.execute(text(FINGERPRINT_SQL)).one())


def build_graph(engine: Engine, *, relevant_only: bool = False) -> nx.Graph:
    """The trial graph of the store (all trials, or only CAR cell therapies in immune disease)."""
    graph = nx.Graph(fingerprint=store_fingerprint(engine))
    t = Trial.__table__.c
    trials = select(t.trial_id, t.brief_title, t.is_car_therapy, t.is_relevant, t.overall_status, t.cell_type,
                    t.origin, t.phases, t.countries, t.modality, t.domain)
    if relevant_only:
        trials = trials.where(t.is_relevant)
    for row in _rows(engine, trials):
        add_trial(graph, row._mapping)
    for trial_id, kind, value, where in _rows(engine, select(TrialFact.trial_id, TrialFact.kind, TrialFact.value,
                                                           TrialFact.field)
                                            .where(TrialFact.kind.in_(list(FACT_KINDS)))):
        add_fact(graph, trial_id, kind, value, where)
    for trial_id, mesh_id, is_ancestor in _rows(engine, select(TrialMesh.trial_id, TrialMesh.mesh_id, TrialMesh.is_ancestor)
                                              .where(TrialMesh.domain == "condition")):
        node = trial_node(trial_id)
        if node in graph:
            _link(graph, node, "mesh", mesh_id, "has_condition", "conditionBrowseModule",
                  ANCESTOR_WEIGHT if is_ancestor else 1.0)
    for trial_id, name in _rows(engine, select(Intervention.trial_id, Intervention.name)):
        node, key = trial_node(trial_id), " ".join((name or "").lower().split())
        if node in graph and key and key not in GENERIC_INTERVENTIONS and len(key) <= 120:
            _link(graph, node, "intervention", key, "has_intervention", "armsInterventionsModule")
    for trial_id, sponsor, role in _rows(engine, select(TrialSponsor.trial_id, TrialSponsor.sponsor_name, TrialSponsor.role)):
        node = trial_node(trial_id)
        if node in graph:
            _link(graph, node, "sponsor", sponsor, "sponsored_by" if role == "lead" else "collaborates_with",
                  "sponsorCollaboratorsModule")
    finalize(graph)
    return graph


def finalize(graph: nx.Graph) -> None:
    """Store each entity's IDF weight and ranking group, and each trial's number of targets."""
    trials = sum(1 for _, kind in graph.nodes(data="kind") if kind == "trial")
    graph.graph["trials"] = trials
    for node, data in graph.nodes(data=True):
        if data["kind"] != "trial":
            data["idf"] = KIND_WEIGHTS.get(data["kind"], 0.5) * math.log((1 + trials) / graph.degree(node))
            data["group"] = group_of(data["kind"], data["label"])
    for node, data in graph.nodes(data=True):
        if data["kind"] == "trial":
            data["targets"] = sum(1 for e in graph[node] if graph.nodes[e]["kind"] == "target")
