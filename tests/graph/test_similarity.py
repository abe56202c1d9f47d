"""The ranking rules on small inline graphs, each with its exact score, and the fast scorer against them."""

import math

import networkx as nx
import pytest

from graph.build import add_fact, add_trial, finalize
from graph.index import SimilarityIndex
from graph.similarity import Weights, similar_trials, UnknownTrial

W = Weights()
TOTAL = 10 + 4 + 2 + 2 + 0.5  # the default weights: product, target set in disease, target, disease, ties


def small_graph(trials: dict[str, dict], facts: list[tuple[str, str, str]] = ()) -> nx.Graph:
    graph = nx.Graph()
    for trial_id, row in trials.items():
        add_trial(graph, {"trial_id": trial_id, "is_car_therapy": True, **row})
    for trial_id, kind, value in facts:
        add_fact(graph, trial_id, kind, value, "title")
    finalize(graph)
    return graph


def scores(graph: nx.Graph, query: str, **options) -> dict[str, float]:
    return {r["trial_id"]: r["score"] for r in similar_trials(graph, query, **options)}


def ranked(graph: nx.Graph, query: str, **options) -> list[str]:
    return [r["trial_id"] for r in similar_trials(graph, query, **options)]


def why(graph: nx.Graph, query: str) -> dict[str, str]:
    return {r["trial_id"]: r["why"] for r in similar_trials(graph, query)}


Q, A, B, C, D, E = (f"NCT0000000{i}" for i in range(1, 7))


@pytest.fixture
def ladder():
    """Q: product P-1, CD19, SLE. A: the product only. B: CD19 in SLE. C: CD19 and BCMA in SLE. D: CD19. E: SLE."""
    return small_graph({n: {} for n in (Q, A, B, C, D, E)},
                       [(Q, "product", "P-1"), (Q, "target", "CD19"), (Q, "disease", "sle"), (A, "product", "P-1"),
                        (B, "target", "CD19"), (B, "disease", "sle"), (C, "target", "CD19"), (C, "target", "BCMA"),
                        (C, "disease", "sle"), (D, "target", "CD19"), (E, "disease", "sle")])


def test_the_ladder_product_then_target_set_in_disease_then_target_or_disease(ladder):
    # Q's only tie-breaker is the "autoimmune" umbrella of SLE: every trial in SLE shares all of it (X = 1)
    assert scores(ladder, Q) == {A: round(10 / TOTAL, 4),                      # same product
                                 B: round((4 + 2 + 2 + 0.5) / TOTAL, 4),       # same target set in the same disease
                                 C: round((2 + 2 + 0.5) / TOTAL, 4),           # a target and the disease, not the set
                                 E: round((2 + 0.5) / TOTAL, 4),               # the disease
                                 D: round(2 / TOTAL, 4)}                       # the target
    assert ranked(ladder, Q) == [A, B, C, E, D]
    assert scores(ladder, Q)[A] == 0.5405


def test_explanations_say_what_is_shared_and_what_differs(ladder):
    assert why(ladder, Q) == {A: "same product P-1", B: "same target CD19, same disease SLE",
                              C: "shared target CD19, same disease SLE; other targets: BCMA/CD19",
                              D: "same target CD19", E: "same disease SLE"}


def test_a_candidate_is_not_punished_for_facts_the_query_lacks():
    """B names a product, a second target's worth of facts and another disease that Q does not have: it scores like A."""
    graph = small_graph({Q: {}, A: {}, B: {"countries": ["Germany"], "phases": ["PHASE1"]}},
                        [(n, kind, value) for n in (Q, A, B) for kind, value in (("target", "CD19"), ("disease", "sle"))]
                        + [(B, "product", "KYV-101"), (B, "disease", "myasthenia_gravis")])
    assert scores(graph, Q) == {A: round(8.5 / TOTAL, 4), B: round(8.5 / TOTAL, 4)} == {A: 0.4595, B: 0.4595}


def test_tie_breakers_only_break_ties():
    """A shares the target only; B shares phase and country only; C the target and the phase."""
    graph = small_graph({Q: {"phases": ["PHASE1"], "countries": ["China"]}, A: {}, B: {"phases": ["PHASE1"], "countries": ["China"]},
                         C: {"phases": ["PHASE1"]}, D: {}},
                        [(Q, "target", "CD19"), (A, "target", "CD19"), (C, "target", "CD19"), (D, "target", "BCMA")])
    phase, china = 0.25 * math.log(6 / 3), 0.25 * math.log(6 / 2)  # kind weight x log((1 + N) / df)
    assert scores(graph, Q) == {C: round((2 + 0.5 * phase / (phase + china)) / TOTAL, 4), A: round(2 / TOTAL, 4),
                                B: round(0.5 / TOTAL, 4)}
    assert ranked(graph, Q) == [C, A, B]


def test_partial_credit_through_the_disease_hierarchy():
    """Lupus nephritis is under SLE: an SLE trial shares the parent at half weight."""
    graph = small_graph({Q: {}, A: {}, B: {}},
                        [(Q, "disease", "lupus_nephritis"), (A, "disease", "sle"), (B, "disease", "lupus_nephritis")])
    ln, sle = 1.5 * math.log(4 / 2), 1.5 * math.log(4 / 3)
    coverage = 0.5 * sle / (ln + 0.5 * sle)
    assert scores(graph, Q) == {B: round((2 * (1 + 1) / 2 + 0.5) / TOTAL, 4),
                                A: round((2 * (0.5 + coverage) / 2 + 0.5) / TOTAL, 4)}
    assert scores(graph, Q)[A] == 0.0633
    assert why(graph, Q)[A] == "related disease SLE"


def test_another_domain_is_multiplied_down_and_said():
    graph = small_graph({Q: {"domain": "immune-mediated"}, A: {"domain": "oncology"}, B: {"domain": "mixed"},
                         C: {"domain": None}, D: {"domain": "immune-mediated"}},
                        [(n, "target", "CD19") for n in (Q, A, B, C, D)])
    base = 2 / TOTAL
    assert scores(graph, Q) == {C: round(base, 4), D: round(base, 4), B: round(W.mixed_domain * base, 4),
                                A: round(W.other_domain * base, 4)}
    assert ranked(graph, Q) == [C, D, B, A]
    assert why(graph, Q)[A] == "same target CD19; other domain: oncology"


def test_same_product_in_another_domain_ranks_below_the_target_set_in_the_disease():
    """The lymphoma trial of the query's product falls below the lupus trials of its target."""
    graph = small_graph({Q: {"domain": "immune-mediated"}, A: {"domain": "oncology"}, B: {"domain": "immune-mediated"}},
                        [(Q, "product", "BRL-301"), (Q, "target", "CD19"), (Q, "disease", "sle"),
                         (A, "product", "BRL-301"), (A, "target", "CD19"), (A, "cancer", "lymphoma"),
                         (B, "target", "CD19"), (B, "disease", "sle")])
    assert scores(graph, Q) == {B: round(8.5 / TOTAL, 4), A: round(W.other_domain * 12 / TOTAL, 4)}
    assert ranked(graph, Q) == [B, A]


def test_another_modality_is_multiplied_down_and_said():
    car_t = {"modality": "autologous CAR-T"}  # no origin entity: Q's only tie-breaker is the umbrella
    graph = small_graph({Q: car_t, A: {"modality": "allogeneic CAR-T", "origin": "allogeneic"},
                         B: {"modality": "CAR-NK"}, C: {"is_car_therapy": False}, D: {"is_car_therapy": None},
                         E: car_t},
                        [(n, kind, value) for n in (Q, A, B, C, D, E) for kind, value in (("target", "CD19"), ("disease", "sle"))])
    base = 8.5 / TOTAL
    assert scores(graph, Q) == {D: round(base, 4), E: round(base, 4), A: round(W.other_modality * base, 4),
                                B: round(W.other_modality * base, 4), C: round(W.not_car * base, 4)}
    assert why(graph, Q) == {A: "same target CD19, same disease SLE; other origin: allogeneic",
                             B: "same target CD19, same disease SLE; other modality: CAR-NK",
                             C: "same target CD19, same disease SLE; not a CAR cell therapy",
                             D: "same target CD19, same disease SLE", E: "same target CD19, same disease SLE"}
    assert ranked(graph, Q, car_only=True) == [E, A, B]


def test_a_product_variant_shares_its_base_product():
    graph = small_graph({Q: {}, A: {}, B: {}},
                        [(Q, "product", "KN5601-K"), (A, "product", "KN5601"), (B, "product", "CNTY-101")])
    assert [(r["trial_id"], r["score"], r["why"]) for r in similar_trials(graph, Q)] == [
        (A, round(10 * 0.75 / TOTAL, 4), "product variant of KN5601")]


def test_the_graph_is_not_changed(ladder):
    before = nx.to_dict_of_dicts(ladder)
    similar_trials(ladder, Q)
    assert nx.to_dict_of_dicts(ladder) == before


def test_unknown_trial():
    with pytest.raises(UnknownTrial, match="NCT09999999 is not in the graph"):
        similar_trials(nx.Graph(), "NCT09999999")


@pytest.mark.parametrize("hub_limit", [1000, 1])
def test_the_fast_scorer_answers_like_the_graph(ladder, hub_limit):
    """Hub path too: with a limit of 1 the umbrella and the phases are not walked, only counted."""
    index = SimilarityIndex.from_graph(ladder)
    for query in (Q, A, B, C, D, E):
        for car_only in (False, True):
            assert index.similar(query, hub_limit=hub_limit, car_only=car_only) == similar_trials(
                ladder, query, hub_limit=hub_limit, car_only=car_only)


def test_hubs_count_but_do_not_generate_candidates():
    """China (3 trials) over a limit of 2: A is found through CD19 and gets China's credit; B, China only, is not found."""
    graph = small_graph({Q: {"countries": ["China"]}, A: {"countries": ["China"]}, B: {"countries": ["China"]}},
                        [(Q, "target", "CD19"), (A, "target", "CD19")])
    assert scores(graph, Q, hub_limit=2) == {A: round(2.5 / TOTAL, 4)}
    assert scores(graph, Q) == {A: round(2.5 / TOTAL, 4), B: round(0.5 / TOTAL, 4)}
    index = SimilarityIndex.from_graph(graph)
    assert index.similar(Q, hub_limit=2) == similar_trials(graph, Q, hub_limit=2)


def test_a_hub_that_breaks_the_tie_is_counted_for_the_top():
    """top=1 with China a hub (limit 1): the fast scorer must not skip C, whose only lead is the hub's credit."""
    graph = small_graph({Q: {"countries": ["China"]}, A: {}, B: {}, C: {"countries": ["China"]}},
                        [(n, "target", "CD19") for n in (Q, A, B, C)])
    index = SimilarityIndex.from_graph(graph)
    assert [r["trial_id"] for r in similar_trials(graph, Q, top=1, hub_limit=1)] == [C]
    assert index.similar(Q, top=1, hub_limit=1) == similar_trials(graph, Q, top=1, hub_limit=1)
    assert index.similar(Q, top=2, hub_limit=1) == similar_trials(graph, Q, top=2, hub_limit=1)
