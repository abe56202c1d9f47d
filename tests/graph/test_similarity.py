"""Similarity on small inline graphs, with scores checked against the formula by hand."""

import math

import networkx as nx
import pytest

from graph.build import add_fact, add_trial, finalize
from graph.similarity import MODALITY_MISMATCH, UnknownTrial, similar_trials


def small_graph(trials: dict[str, dict], facts: list[tuple[str, str, str]] = ()) -> nx.Graph:
    graph = nx.Graph()
    for nct_id, row in trials.items():
        add_trial(graph, {"nct_id": nct_id, "is_car_therapy": True, **row})
    for nct_id, kind, value in facts:
        add_fact(graph, nct_id, kind, value, "title")
    finalize(graph)
    return graph


@pytest.fixture
def three():
    """A and B: CD19 CAR-NK; C: CD19 CAR-T."""
    return small_graph({"NCT00000001": {"cell_type": "NK"}, "NCT00000002": {"cell_type": "NK"},
                        "NCT00000003": {"cell_type": "T"}},
                       [(n, "target", "CD19") for n in ("NCT00000001", "NCT00000002", "NCT00000003")])


def test_idf_weighted_jaccard(three):
    nk, cd19, t = math.log(4 / 2), 2.0 * math.log(4 / 3), math.log(4 / 1)  # kind weight x log((1+N)/df)
    expected_c = cd19 / ((nk + cd19) + (t + cd19) - cd19)
    results = similar_trials(three, "NCT00000001")
    assert [(r["nct_id"], r["score"]) for r in results] == [("NCT00000002", 1.0), ("NCT00000003", round(expected_c, 4))]
    assert round(expected_c, 4) == 0.2167


def test_explanation_lists_shared_entities_most_telling_first(three):
    first = similar_trials(three, "NCT00000001")[0]
    assert [s["entity"] for s in first["shared"]] == ["cell:NK", "target:CD19"]


def test_hubs_score_but_do_not_generate_candidates(three):
    results = similar_trials(three, "NCT00000001", hub_limit=2)  # target:CD19 (3 trials) is a hub
    assert [(r["nct_id"], r["score"]) for r in results] == [("NCT00000002", 1.0)]
    assert [s["entity"] for s in results[0]["shared"]] == ["cell:NK", "target:CD19"]


def test_partial_credit_through_the_disease_hierarchy():
    graph = small_graph({"NCT00000001": {}, "NCT00000002": {}, "NCT00000003": {}},
                        [("NCT00000001", "disease", "lupus_nephritis"), ("NCT00000002", "disease", "sle"),
                         ("NCT00000003", "disease", "systemic_sclerosis")])
    ln, sle, umbrella, ssc = (1.5 * math.log(4 / 1), 1.5 * math.log(4 / 2), 1.5 * math.log(4 / 3), 1.5 * math.log(4 / 1))
    self_x, self_y, self_z = ln + 0.5 * sle + 0.25 * umbrella, sle + 0.25 * umbrella, ssc + 0.25 * umbrella
    shared_xy, shared_xz = 0.5 * sle + 0.25 * umbrella, 0.25 * umbrella
    results = {r["nct_id"]: r["score"] for r in similar_trials(graph, "NCT00000001")}
    assert results == {"NCT00000002": round(shared_xy / (self_x + self_y - shared_xy), 4),
                       "NCT00000003": round(shared_xz / (self_x + self_z - shared_xz), 4)}
    assert results["NCT00000002"] == 0.1945  # lupus nephritis ~ SLE, far more than ~ SSc


def test_modality_mismatch_halves_the_score_and_says_so():
    graph = small_graph({"NCT00000001": {}, "NCT00000002": {}, "NCT00000003": {"is_car_therapy": False}},
                        [(n, "disease", "sle") for n in ("NCT00000001", "NCT00000002", "NCT00000003")])
    results = similar_trials(graph, "NCT00000001")
    assert [(r["nct_id"], r["score"], r.get("note")) for r in results] == [
        ("NCT00000002", 1.0, None), ("NCT00000003", MODALITY_MISMATCH * 1.0, "different modality (other)")]
    assert [r["nct_id"] for r in similar_trials(graph, "NCT00000001", car_only=True)] == ["NCT00000002"]


def test_the_graph_is_not_changed(three):
    before = nx.to_dict_of_dicts(three)
    similar_trials(three, "NCT00000001")
    assert nx.to_dict_of_dicts(three) == before


def test_unknown_trial():
    with pytest.raises(UnknownTrial, match="NCT09999999 is not in the graph"):
        similar_trials(nx.Graph(), "NCT09999999")


def test_a_product_variant_shares_its_base_product():
    graph = small_graph({"NCT00000001": {}, "NCT00000002": {}, "NCT00000003": {}},
                        [("NCT00000001", "product", "KN5601-K"), ("NCT00000002", "product", "KN5601"),
                         ("NCT00000003", "product", "CNTY-101")])
    results = similar_trials(graph, "NCT00000001")
    assert [(r["nct_id"], [s["entity"] for s in r["shared"]]) for r in results] == [("NCT00000002", ["product:KN5601"])]
