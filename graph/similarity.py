"""Which trials are most like this one, and why: the ranking rules, and their reference on the graph.

What an analyst means by "like this trial", in order: the same product; then the same target
set in the same disease; then the same target or the same disease; all within the same disease
domain (immune-mediated, oncology, ...) and modality (autologous CAR-T, CAR-NK, ...). Sponsor,
country, phase, exact intervention strings, MeSH terms, cell and origin only break ties. From
what a candidate ``c`` shares with the query ``q`` in the graph (``graph.build``):

    relevance = (W_p P + W_s S D_max + W_t T + W_d (D_max + D_cov) / 2 + W_x X) / (W_p + W_s + W_t + W_d + W_x)
    score     = relevance x domain factor x modality factor                      (0 .. 1)

- ``P`` the closest product shared: 1 the same, 0.75 a variant of it (KN5601-K ~ KN5601); else 0.
- ``T`` the share of q's targets that c has (IDF-weighted); ``S`` 1 when c has exactly q's targets.
- ``D_max`` the closest disease shared: 1 the same, 0.5 a parent category (lupus nephritis ~ SLE);
  ``D_cov`` the share of q's diseases that c has (IDF- and hierarchy-weighted). The umbrellas
  ("autoimmune", "cancer") name a domain, not a disease: they are tie-breakers.
- ``X`` the share of q's other entities (IDF x kind weight, ``graph.build.KIND_WEIGHTS``) that c has.

Every share is a share of the query's own facts: a candidate is never punished for facts the
query lacks (a named product, another disease). The factors are 1 for the same domain or
modality, or when either trial's is unknown; a candidate of another domain or modality is
multiplied down (:class:`Weights`). The weights make the rules a ladder: a product outranks a
target set in its disease, which outranks a target or a disease alone, which outranks every
tie-breaker together. README "Similar trials" gives the evaluation behind them.

This module is the definition: :func:`similar_trials` computes it on the networkx graph, pair by
pair. ``graph.index.SimilarityIndex`` is the fast scorer derived from the same graph; it shares
:func:`relevance`, :func:`domain_factor`, :func:`modality_factor` and :func:`describe` with this
module, and a test checks it gives exactly these answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from kb.core.ids import canonical_or_as_is

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["UnknownTrial", "Weights", "Shared", "Profile", "similar_trials", "relevance", "domain_factor",
           "modality_factor", "modality_key", "describe", "HUB_LIMIT", "GROUPS", "NOT_CAR", "ORDER_DIGITS"]

HUB_LIMIT = 1000
GROUPS = ("product", "target", "disease", "tie")
NOT_CAR = "not a CAR cell therapy"
CAR_UNSPECIFIED = "CAR (modality unknown)"
ORDER_DIGITS = 9
"""Scores are ordered after rounding to this many digits, then by NCT id: ties are stable."""


@dataclass(frozen=True)
class Weights:
    """The weights of the ranking rules and the factors for another domain or modality."""

    product: float = 10.0
    target_set_in_disease: float = 4.0
    target: float = 2.0
    disease: float = 2.0
    ties: float = 0.5
    other_domain: float = 0.5
    mixed_domain: float = 0.75
    other_modality: float = 0.75
    not_car: float = 0.5

    @property
    def total(self) -> float:
        return self.product + self.target_set_in_disease + self.target + self.disease + self.ties or 1.0


DEFAULT = Weights()


class UnknownTrial(LookupError):
    """The query trial is not in the graph."""


class Shared(NamedTuple):
    """An entity both trials link to: its credit is IDF x the smaller of the two edge weights."""

    entity: str
    kind: str
    label: str
    group: str
    weight: float  # the smaller edge weight (1 direct, less through a hierarchy or a variant)
    credit: float


class Profile(NamedTuple):
    """What the rules and the explanation need to know of one trial."""

    trial_id: str
    domain: str | None
    modality: str | None  # modality_key()
    origin: str | None
    targets: tuple[str, ...]  # sorted labels


def modality_key(modality: str | None, is_car: bool | None) -> str | None:
    """The trial's modality; for a trial without one, "not a CAR cell therapy", a CAR of unknown kind, or None."""
    if modality:
        return modality
    if is_car is False:
        return NOT_CAR
    return CAR_UNSPECIFIED if is_car else None


def domain_factor(query: str | None, candidate: str | None, weights: Weights = DEFAULT) -> float:
    """1 for the same domain (or an unknown one); ``mixed_domain`` when one is mixed; else ``other_domain``."""
    if query is None or candidate is None or query == candidate:
        return 1.0
    return weights.mixed_domain if "mixed" in (query, candidate) else weights.other_domain


def modality_factor(query: str | None, candidate: str | None, weights: Weights = DEFAULT) -> float:
    """1 for the same (or an unknown) modality; ``not_car`` across CAR / not CAR; else ``other_modality``."""
    if query is None or candidate is None or query == candidate:
        return 1.0
    if NOT_CAR in (query, candidate):
        return weights.not_car
    return 1.0 if CAR_UNSPECIFIED in (query, candidate) else weights.other_modality


def relevance(product: Any, same_set: Any, target: Any, disease_max: Any, disease_cov: Any, ties: Any,
              weights: Weights = DEFAULT) -> Any:
    """The rules' sum, 0 .. 1: plain arithmetic, so it takes floats or NumPy arrays alike."""
    return (weights.product * product + weights.target_set_in_disease * same_set * disease_max
            + weights.target * target + weights.disease * (disease_max + disease_cov) / 2
            + weights.ties * ties) / weights.total


def masses(entities: list[tuple[str, float, float]]) -> dict[str, float]:
    """Per group, the query's own IDF x edge weight: the denominators of the shares."""
    out = dict.fromkeys(GROUPS, 0.0)
    for group, idf, weight in entities:
        out[group] += idf * weight
    return out


def score_of(shared: list[Shared], mass: dict[str, float], query: Profile, candidate: Profile,
             weights: Weights = DEFAULT) -> float:
    """The score of one candidate from the entities it shares with the query."""
    by_group: dict[str, list[Shared]] = {g: [] for g in GROUPS}
    for s in shared:
        by_group[s.group].append(s)
    product = max((s.weight for s in by_group["product"]), default=0.0)
    targets = by_group["target"]
    same_set = 1.0 if targets and len(targets) == len(query.targets) == len(candidate.targets) else 0.0
    disease_max = max((s.weight for s in by_group["disease"]), default=0.0)

    def share(group: str) -> float:
        return sum(s.credit for s in by_group[group]) / mass[group] if mass[group] > 0 else 0.0

    return (relevance(product, same_set, share("target"), disease_max, share("disease"), share("tie"), weights)
            * domain_factor(query.domain, candidate.domain, weights)
            * modality_factor(query.modality, candidate.modality, weights))


def describe(shared: list[Shared], query: Profile, candidate: Profile) -> str:
    """What is shared and what differs, most telling first.

    >>> q = Profile("NCT1", "immune-mediated", "autologous CAR-T", "autologous", ("CD19",))
    >>> c = Profile("NCT2", "immune-mediated", "allogeneic CAR-T", "allogeneic", ("CD19",))
    >>> describe([Shared("target:CD19", "target", "CD19", "target", 1.0, 2.0),
    ...           Shared("disease:sle", "disease", "SLE", "disease", 1.0, 3.0)], q, c)
    'same target CD19, same disease SLE; other origin: allogeneic'
    """
    def names(group: str, direct: bool | None = None) -> list[str]:
        return [s.label for s in shared if s.group == group and (direct is None or (s.weight >= 1) == direct)]

    parts = []
    if names("product", True):
        parts.append("same product " + ", ".join(names("product", True)))
    elif names("product"):
        parts.append("product variant of " + ", ".join(names("product")))
    targets = sorted(names("target"))
    if targets:
        same = len(targets) == len(query.targets) == len(candidate.targets)
        parts.append(("same target" if same else "shared target") + ("s " if len(targets) > 1 else " ")
                     + "/".join(targets))
    if names("disease", True):
        parts.append("same disease " + ", ".join(names("disease", True)))
    elif names("disease"):
        parts.append("related disease " + ", ".join(names("disease")))
    ties = [f"{s.kind} {s.label}" for s in shared if s.group == "tie"][:3]
    if not parts and ties:
        parts.append("only " + ", ".join(ties))
    differs = []
    if candidate.targets and candidate.targets != query.targets and query.targets:
        differs.append("other targets: " + "/".join(candidate.targets))
    if modality_factor(query.modality, candidate.modality) < 1:
        if candidate.modality == NOT_CAR:
            differs.append(NOT_CAR)
        elif "CAR-T" in (query.modality or "") and "CAR-T" in candidate.modality and candidate.origin:
            differs.append(f"other origin: {candidate.origin}")
        else:
            differs.append(f"other modality: {candidate.modality}")
    if domain_factor(query.domain, candidate.domain) < 1:
        differs.append(f"other domain: {candidate.domain}")
    return ", ".join(parts) + ("; " + ", ".join(differs) if differs else "")


def result(trial_id: str, score: float, shared: list[Shared], query: Profile, candidate: Profile) -> dict[str, Any]:
    """One answer: id, score, the shared entities (largest credit first) and the explanation."""
    ordered = sorted(shared, key=lambda s: (-s.credit, s.entity))
    return {"trial_id": trial_id, "score": round(score, 4),
            "shared": [{"entity": s.entity, "kind": s.kind, "label": s.label, "weight": round(s.credit, 3)}
                       for s in ordered],
            "why": describe(ordered, query, candidate)}


# ---------------------------------------------------------------- the reference, on the graph


def profile(graph: nx.Graph, node: str) -> Profile:
    """A trial node's profile."""
    data = graph.nodes[node]
    targets = tuple(sorted(graph.nodes[e]["label"] for e in graph[node] if graph.nodes[e]["kind"] == "target"))
    return Profile(data["label"], data.get("domain"), modality_key(data.get("modality"), data.get("is_car")),
                   data.get("origin"), targets)


def similar_trials(graph: nx.Graph, trial_id: str, *, top: int = 10, car_only: bool = False,
                   hub_limit: int = HUB_LIMIT, weights: Weights = DEFAULT) -> list[dict[str, Any]]:
    """The ``top`` trials most like ``trial_id``, best first, with what they share and what differs.

    Candidates are the trials two hops away through the query's products, targets and diseases,
    and through its other entities linked to at most ``hub_limit`` trials; a more popular entity
    (a country, a phase) is not walked but still counts for the candidates that have it.

    Parameters
    ----------
    graph : the finalized trial graph (``graph.build``); not changed.
    trial_id : the query trial.
    top : how many to return.
    car_only : only CAR cell therapies (``is_car`` true on the trial node).
    hub_limit : tie-breaking entities linked to more trials than this do not generate candidates.
    weights : the rules' weights (:class:`Weights`).

    Returns
    -------
    list of ``{"trial_id", "score", "shared": [{"entity", "kind", "label", "weight"}, ...], "why"}``

    Example
    -------
    >>> import networkx as nx
    >>> from graph.build import add_fact, add_trial, finalize
    >>> g = nx.Graph()
    >>> for nct in ("NCT00000001", "NCT00000002", "NCT00000003"):
    ...     _ = add_trial(g, {"trial_id": nct, "is_car_therapy": True})
    >>> for nct, target in [("NCT00000001", "CD19"), ("NCT00000002", "CD19"), ("NCT00000003", "BCMA")]:
    ...     add_fact(g, nct, "target", target, "title")
    >>> finalize(g)
    >>> [(r["trial_id"], r["score"], r["why"]) for r in similar_trials(g, "NCT00000001")]
    [('NCT00000002', 0.1081, 'same target CD19')]
    """
    query = f"trial:{canonical_or_as_is(trial_id)}"
    if query not in graph:
        raise UnknownTrial(f"{trial_id} is not in the graph (import or crawl it first)")
    nodes = graph.nodes
    mine = graph[query]
    mass = masses([(nodes[e]["group"], nodes[e]["idf"], edge["weight"]) for e, edge in mine.items()])
    candidates: set[str] = set()
    for entity in mine:
        if nodes[entity]["group"] != "tie" or len(graph[entity]) <= hub_limit:
            candidates.update(graph[entity])
    candidates.discard(query)
    me = profile(graph, query)
    scored = []
    for candidate in candidates:
        if car_only and nodes[candidate].get("is_car") is not True:
            continue
        shared = [Shared(e, nodes[e]["kind"], nodes[e].get("display", nodes[e]["label"]), nodes[e]["group"],
                         min(edge["weight"], graph[e][candidate]["weight"]),
                         nodes[e]["idf"] * min(edge["weight"], graph[e][candidate]["weight"]))
                  for e, edge in mine.items() if candidate in graph[e]]
        other = profile(graph, candidate)
        score = score_of(shared, mass, me, other, weights)
        if score > 0:
            scored.append((round(score, ORDER_DIGITS), other.trial_id, score, shared, other))
    scored.sort(key=lambda s: (-s[0], s[1]))
    return [result(nct, score, shared, me, other) for _, nct, score, shared, other in scored[:top]]
