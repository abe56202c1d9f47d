"""The fast scorer: a compact similarity index derived from the trial graph.

The networkx graph is the model (``graph.build``) and :mod:`graph.similarity` defines the ranking
on it. This index holds the same numbers as NumPy arrays: a trials x entities matrix of edge
weights (compressed rows, and compressed columns to walk from an entity to its trials), and per
entity its IDF and ranking group, per trial its domain, modality, origin and number of targets.
:meth:`SimilarityIndex.similar` computes the rules of :mod:`graph.similarity` for every
candidate at once, with that module's own :func:`~graph.similarity.relevance`, factors and
explanation, and gives exactly its answers (``tests/graph``). It needs NumPy only, and saves to
one ``.npz`` file that loads in a fraction of a second, so a cold ``trialkb similar`` is fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from graph.similarity import (DEFAULT, GROUPS, HUB_LIMIT, ORDER_DIGITS, Profile, Shared, UnknownTrial, Weights,
                              domain_factor, modality_factor, modality_key, relevance, result)

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["SimilarityIndex"]

PRODUCT, TARGET, DISEASE, TIE = range(4)
ARRAYS = ("trial_ids", "entity_ids", "entity_display", "group", "idf", "r_indptr", "r_indices", "r_data",
          "c_indptr", "c_indices", "c_data", "domain", "modality", "origin", "is_car", "n_targets",
          "domains", "modalities", "origins")


def _codes(values: list[str | None]) -> tuple[np.ndarray, np.ndarray]:
    """(codes, vocabulary): code 0 is None, i >= 1 is vocabulary[i]."""
    vocabulary = [""] + sorted({v for v in values if v is not None})
    position = {v: i for i, v in enumerate(vocabulary)}
    return np.array([0 if v is None else position[v] for v in values], dtype=np.int16), np.array(vocabulary)


@dataclass
class SimilarityIndex:
    """Rows (trials) and columns (entities) of edge weights, and per-node numbers; see the module."""

    trial_ids: np.ndarray  # str, row order
    entity_ids: np.ndarray  # str "kind:label", column order
    entity_display: np.ndarray  # str, how explanations name an entity
    group: np.ndarray  # int8 index into graph.similarity.GROUPS
    idf: np.ndarray
    r_indptr: np.ndarray
    r_indices: np.ndarray  # entity columns of each row, sorted
    r_data: np.ndarray
    c_indptr: np.ndarray
    c_indices: np.ndarray  # trial rows of each column, sorted
    c_data: np.ndarray
    domain: np.ndarray  # int16 codes into domains (0 = unknown)
    modality: np.ndarray  # int16 codes into modalities: graph.similarity.modality_key (0 = unknown)
    origin: np.ndarray
    is_car: np.ndarray  # int8: 1 true, 0 false, -1 unknown
    n_targets: np.ndarray
    domains: np.ndarray
    modalities: np.ndarray
    origins: np.ndarray
    fingerprint: str = ""
    _order: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._order = np.argsort(self.trial_ids)  # for id -> row lookups

    @classmethod
    def from_graph(cls, graph: nx.Graph) -> SimilarityIndex:
        """The index of a finalized trial graph (``graph.build.build_graph``)."""
        nodes = graph.nodes
        trials = sorted(n for n, kind in graph.nodes(data="kind") if kind == "trial")
        entities = sorted(n for n, kind in graph.nodes(data="kind") if kind != "trial")
        column = {e: i for i, e in enumerate(entities)}
        row = {t: i for i, t in enumerate(trials)}
        indptr, indices, data = [0], [], []
        for node in trials:
            edges = sorted((column[e], edge["weight"]) for e, edge in graph[node].items())
            indices += [c for c, _ in edges]
            data += [w for _, w in edges]
            indptr.append(len(indices))
        c_indptr, c_indices, c_data = [0], [], []
        for entity in entities:
            edges = sorted((row[t], edge["weight"]) for t, edge in graph[entity].items())
            c_indices += [r for r, _ in edges]
            c_data += [w for _, w in edges]
            c_indptr.append(len(c_indices))
        domain, domains = _codes([nodes[t].get("domain") for t in trials])
        modality, modalities = _codes([modality_key(nodes[t].get("modality"), nodes[t].get("is_car")) for t in trials])
        origin, origins = _codes([nodes[t].get("origin") for t in trials])
        return cls(
            np.array([nodes[t]["label"] for t in trials]), np.array(entities),
            np.array([nodes[e].get("display", nodes[e]["label"]) for e in entities]),
            np.array([GROUPS.index(nodes[e]["group"]) for e in entities], dtype=np.int8),
            np.array([nodes[e]["idf"] for e in entities], dtype=np.float64),
            np.array(indptr, dtype=np.int64), np.array(indices, dtype=np.int32), np.array(data, dtype=np.float64),
            np.array(c_indptr, dtype=np.int64), np.array(c_indices, dtype=np.int32), np.array(c_data, dtype=np.float64),
            domain, modality, origin,
            np.array([{True: 1, False: 0}.get(nodes[t].get("is_car"), -1) for t in trials], dtype=np.int8),
            np.array([nodes[t]["targets"] for t in trials], dtype=np.int16),
            domains, modalities, origins, graph.graph.get("fingerprint", ""))

    # ---------------------------------------------------------------- persistence

    def save(self, path: str | Path) -> None:
        np.savez(path, fingerprint=np.array(self.fingerprint), **{name: getattr(self, name) for name in ARRAYS})

    @classmethod
    def load(cls, path: str | Path) -> SimilarityIndex:
        with np.load(path, allow_pickle=False) as f:
            return cls(*(f[name] for name in ARRAYS), fingerprint=str(f["fingerprint"]))

    # ---------------------------------------------------------------- lookup

    def row_of(self, nct_id: str) -> int:
        nct_id = nct_id.strip().upper()
        position = int(np.searchsorted(self.trial_ids, nct_id, sorter=self._order))
        if position < len(self._order) and self.trial_ids[self._order[position]] == nct_id:
            return int(self._order[position])
        raise UnknownTrial(f"{nct_id} is not in the graph (import or crawl it first)")

    def _row(self, r: int) -> tuple[np.ndarray, np.ndarray]:
        s, t = self.r_indptr[r], self.r_indptr[r + 1]
        return self.r_indices[s:t], self.r_data[s:t]

    def _column(self, e: int) -> tuple[np.ndarray, np.ndarray]:
        s, t = self.c_indptr[e], self.c_indptr[e + 1]
        return self.c_indices[s:t], self.c_data[s:t]

    def profile(self, r: int) -> Profile:
        entities, _ = self._row(r)
        targets = tuple(sorted(str(self.entity_display[e]) for e in entities if self.group[e] == TARGET))
        domain, origin = self.domain[r], self.origin[r]
        return Profile(str(self.trial_ids[r]), str(self.domains[domain]) if domain else None,
                       str(self.modalities[self.modality[r]]) if self.modality[r] else None,
                       str(self.origins[origin]) if origin else None, targets)

    def shared(self, q: int, c: int) -> list[Shared]:
        """The entities trials ``q`` and ``c`` share, in the query's order."""
        q_entities, q_weights = self._row(q)
        c_entities, c_weights = self._row(c)
        common, qi, ci = np.intersect1d(q_entities, c_entities, assume_unique=True, return_indices=True)
        out = []
        for e, i, j in zip(common, qi, ci):
            entity = str(self.entity_ids[e])
            weight = min(float(q_weights[i]), float(c_weights[j]))
            out.append(Shared(entity, entity.split(":", 1)[0], str(self.entity_display[e]), GROUPS[self.group[e]],
                              weight, float(self.idf[e]) * weight))
        return out

    def similar(self, nct_id: str, *, top: int = 10, car_only: bool = False, hub_limit: int = HUB_LIMIT,
                weights: Weights = DEFAULT) -> list[dict[str, Any]]:
        """Same answer as :func:`graph.similarity.similar_trials` on the graph this index came from."""
        q = self.row_of(nct_id)
        q_entities, q_weights = self._row(q)
        q_groups = self.group[q_entities]
        mass = np.bincount(q_groups, weights=self.idf[q_entities] * q_weights, minlength=len(GROUPS))
        degree = self.c_indptr[q_entities + 1] - self.c_indptr[q_entities]
        walked = (q_groups != TIE) | (degree <= hub_limit)
        parts = [self._column(e) for e in q_entities[walked]]
        if not parts:
            return []
        members = np.concatenate([m for m, _ in parts])
        candidates = np.unique(members)
        candidates = candidates[candidates != q]
        if car_only:
            candidates = candidates[self.is_car[candidates] == 1]
        if not len(candidates):
            return []
        # per candidate and group: summed credit, best edge weight; shared targets
        credit = np.zeros((len(candidates), len(GROUPS)))
        best = np.zeros((len(candidates), len(GROUPS)))
        n_shared_targets = np.zeros(len(candidates), dtype=np.int32)
        for e, wq in zip(q_entities, q_weights):
            rows, wc = self._column(e)
            found = np.searchsorted(rows, candidates)
            found = np.minimum(found, len(rows) - 1)
            hit = rows[found] == candidates
            weight = np.where(hit, np.minimum(wq, wc[found]), 0.0)
            g = self.group[e]
            credit[:, g] += self.idf[e] * weight
            best[:, g] = np.maximum(best[:, g], weight)
            if g == TARGET:
                n_shared_targets += hit
        n_q_targets = self.n_targets[q]
        same_set = ((n_shared_targets > 0) & (n_shared_targets == n_q_targets)
                    & (self.n_targets[candidates] == n_q_targets)).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(mass > 0, credit / np.where(mass > 0, mass, 1.0), 0.0)
        score = relevance(best[:, PRODUCT], same_set, share[:, TARGET], best[:, DISEASE], share[:, DISEASE],
                          share[:, TIE], weights)
        score = score * self._factors(domain_factor, self.domain, self.domains, q, candidates, weights)
        score = score * self._factors(modality_factor, self.modality, self.modalities, q, candidates, weights)
        keep = score > 0
        candidates, score = candidates[keep], score[keep]
        rounded = np.round(score, ORDER_DIGITS)
        if len(candidates) > top:  # every candidate tied with the top-th, then ordered by id
            cut = -np.partition(-rounded, top - 1)[top - 1]
            keep = rounded >= cut
            candidates, score, rounded = candidates[keep], score[keep], rounded[keep]
        order = np.lexsort((self.trial_ids[candidates], -rounded))[:top]
        me = self.profile(q)
        out = []
        for i in order:
            c = int(candidates[i])
            out.append(result(str(self.trial_ids[c]), float(score[i]), self.shared(q, c), me, self.profile(c)))
        return out

    def _factors(self, rule: Any, codes: np.ndarray, vocabulary: np.ndarray, q: int, candidates: np.ndarray,
                 weights: Weights) -> np.ndarray:
        """The rule's factor for each candidate, from a table over the (few) codes."""
        def name(code: int) -> str | None:
            return str(vocabulary[code]) if code else None

        table = np.array([rule(name(int(codes[q])), name(code), weights) for code in range(len(vocabulary))])
        return table[codes[candidates]]
