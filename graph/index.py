"""A compact similarity index derived from the trial graph, for lookups at scale.

The networkx graph is the model (build, export, explanation); this index holds the same numbers
as sparse matrices (trials x entities: edge weights; per entity: IDF; per trial: self-score and
modality) and answers :func:`graph.similarity.similar_trials` with the same formula, vectorized.
It saves to one ``.npz`` file that loads in a fraction of the time a pickled graph takes, so a
cold ``trialkb similar`` stays fast on a large store.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
from scipy import sparse

from graph.similarity import HUB_LIMIT, MODALITY_MISMATCH, UnknownTrial, modality

__all__ = ["SimilarityIndex"]

MODALITIES = ("car", "cell", "other")


@dataclass
class SimilarityIndex:
    """Trials x entities weights (CSR for rows, CSC for columns) and per-node numbers."""

    trial_ids: np.ndarray  # str, row order
    entity_ids: np.ndarray  # str ("kind:label"), column order
    rows: sparse.csr_matrix
    columns: sparse.csc_matrix
    idf: np.ndarray
    self_score: np.ndarray
    modality: np.ndarray  # int8 index into MODALITIES
    fingerprint: str = ""

    def __post_init__(self) -> None:
        self._sorted_order = np.argsort(self.trial_ids)  # for id -> row lookups
        self._sorted_ids = self.trial_ids[self._sorted_order]

    @classmethod
    def from_graph(cls, graph: nx.Graph) -> "SimilarityIndex":
        """The index of a finalized trial graph (``graph.build.build_graph``)."""
        trials = [n for n, kind in graph.nodes(data="kind") if kind == "trial"]
        entities = [n for n, kind in graph.nodes(data="kind") if kind != "trial"]
        column = {e: i for i, e in enumerate(entities)}
        indptr, indices, data = [0], [], []
        for node in trials:
            for entity, edge in graph[node].items():
                indices.append(column[entity])
                data.append(edge["weight"])
            indptr.append(len(indices))
        matrix = sparse.csr_matrix((np.array(data, dtype=np.float32), np.array(indices, dtype=np.int32),
                                    np.array(indptr, dtype=np.int64)), shape=(len(trials), len(entities)))
        matrix.sort_indices()
        nodes = graph.nodes
        return cls(np.array([nodes[t]["label"] for t in trials]), np.array(entities), matrix, matrix.tocsc(),
                   np.array([nodes[e]["idf"] for e in entities], dtype=np.float64),
                   np.array([nodes[t]["self_score"] for t in trials], dtype=np.float64),
                   np.array([MODALITIES.index(modality(nodes[t])) for t in trials], dtype=np.int8),
                   graph.graph.get("fingerprint", ""))

    # ---------------------------------------------------------------- persistence

    def save(self, path: str | Path) -> None:
        np.savez(path, trial_ids=self.trial_ids, entity_ids=self.entity_ids,
                 r_indptr=self.rows.indptr, r_indices=self.rows.indices, r_data=self.rows.data,
                 c_indptr=self.columns.indptr, c_indices=self.columns.indices, c_data=self.columns.data,
                 idf=self.idf, self_score=self.self_score, modality=self.modality,
                 fingerprint=np.array(self.fingerprint))

    @classmethod
    def load(cls, path: str | Path) -> "SimilarityIndex":
        with np.load(path, allow_pickle=False) as f:
            shape = (len(f["trial_ids"]), len(f["entity_ids"]))
            return cls(f["trial_ids"], f["entity_ids"],
                       sparse.csr_matrix((f["r_data"], f["r_indices"], f["r_indptr"]), shape=shape),
                       sparse.csc_matrix((f["c_data"], f["c_indices"], f["c_indptr"]), shape=shape),
                       f["idf"], f["self_score"], f["modality"], str(f["fingerprint"]))

    # ---------------------------------------------------------------- lookup

    def row_of(self, nct_id: str) -> int:
        nct_id = nct_id.strip().upper()
        position = int(np.searchsorted(self._sorted_ids, nct_id))
        if position < len(self._sorted_ids) and self._sorted_ids[position] == nct_id:
            return int(self._sorted_order[position])
        raise UnknownTrial(f"{nct_id} is not in the graph (import or crawl it first)")

    def similar(self, nct_id: str, *, top: int = 10, car_only: bool = False,
                hub_limit: int = HUB_LIMIT) -> list[dict[str, Any]]:
        """Same answer as :func:`graph.similarity.similar_trials` on the graph this index came from."""
        q = self.row_of(nct_id)
        start, end = self.rows.indptr[q], self.rows.indptr[q + 1]
        q_entities, q_weights = self.rows.indices[start:end], self.rows.data[start:end]
        cols = self.columns
        walked = [(e, w) for e, w in zip(q_entities, q_weights)
                  if self.idf[e] > 0 and cols.indptr[e + 1] - cols.indptr[e] <= hub_limit]
        hubs = [(e, w) for e, w in zip(q_entities, q_weights)
                if self.idf[e] > 0 and cols.indptr[e + 1] - cols.indptr[e] > hub_limit]
        if not walked:
            return []
        parts_rows, parts_credit, parts_entity = [], [], []
        for entity, weight in walked:
            s, t = cols.indptr[entity], cols.indptr[entity + 1]
            parts_rows.append(cols.indices[s:t])
            parts_credit.append(self.idf[entity] * np.minimum(weight, cols.data[s:t]))
            parts_entity.append(np.full(t - s, entity, dtype=np.int32))
        rows = np.concatenate(parts_rows)
        credit = np.concatenate(parts_credit)
        entity_of = np.concatenate(parts_entity)
        keep = rows != q
        if car_only:
            keep &= self.modality[rows] == 0
        rows, credit, entity_of = rows[keep], credit[keep], entity_of[keep]
        candidates, inverse = np.unique(rows, return_inverse=True)
        if not len(candidates):
            return []
        shared = np.bincount(inverse, weights=credit, minlength=len(candidates)).astype(np.float64)
        for entity, weight in hubs:  # hubs score the candidates, without generating them
            s, t = cols.indptr[entity], cols.indptr[entity + 1]
            members = cols.indices[s:t]
            found = np.searchsorted(members, candidates)
            found = np.minimum(found, len(members) - 1)
            hit = members[found] == candidates
            hub_credit = np.where(hit, self.idf[entity] * np.minimum(weight, cols.data[s:t][found]), 0.0)
            shared += hub_credit
            rows = np.concatenate([rows, candidates[hit]])
            credit = np.concatenate([credit, hub_credit[hit]])
            entity_of = np.concatenate([entity_of, np.full(int(hit.sum()), entity, dtype=np.int32)])
        score = shared / (self.self_score[q] + self.self_score[candidates] - shared)
        score = np.where(self.modality[candidates] == self.modality[q], score, score * MODALITY_MISMATCH)
        order = np.lexsort((self.trial_ids[candidates], -np.round(score, 12)))[:top]
        out = []
        for i in order:
            c = candidates[i]
            mine = rows == c
            reasons = sorted(zip(entity_of[mine], credit[mine]), key=lambda r: -r[1])
            result = {"nct_id": str(self.trial_ids[c]), "score": round(float(score[i]), 4),
                      "shared": [{"entity": str(self.entity_ids[e]), "kind": str(self.entity_ids[e]).split(":", 1)[0],
                                  "label": str(self.entity_ids[e]).split(":", 1)[1], "weight": round(float(w), 3)}
                                 for e, w in reasons]}
            if self.modality[c] != self.modality[q]:
                result["note"] = f"different modality ({MODALITIES[self.modality[c]]})"
            out.append(result)
        return out
