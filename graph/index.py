"""The fast scorer: a compact similarity index derived from the trial graph.

The networkx graph is the model (``graph.build``) and :mod:`graph.similarity` defines the ranking
on it. This index holds the same numbers in flat typed arrays (the standard library's
:mod:`array`): a trials x entities matrix of edge weights as compressed rows, and as compressed
columns to walk from an entity to its trials; per entity its IDF and ranking group; per trial its
domain, modality, origin and number of targets. :meth:`SimilarityIndex.similar` walks the columns
once, accumulates the rules' components per candidate, and applies :mod:`graph.similarity`'s own
:func:`~graph.similarity.relevance`, factors and explanation: it gives exactly the definition's
answers (``tests/graph``). It imports nothing beyond the standard library, and saves to one file
that loads in a fraction of a second, so a cold ``trialkb similar`` starts fast.
"""

from __future__ import annotations

import heapq
import json
import struct
from array import array
from bisect import bisect_left
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graph.similarity import (DEFAULT, GROUPS, HUB_LIMIT, ORDER_DIGITS, Profile, Shared, UnknownTrial, Weights,
                              domain_factor, modality_factor, modality_key, relevance, result)
from kb.core.ids import canonical_or_as_is

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["SimilarityIndex", "MAGIC"]

PRODUCT, TARGET, DISEASE, TIE = range(4)
MAGIC = b"trialkb-similarity-index 2\n"
ARRAYS = {"group": "b", "idf": "d", "r_indptr": "q", "r_indices": "i", "r_data": "d", "c_indptr": "q",
          "c_indices": "i", "c_data": "d", "domain": "h", "modality": "h", "origin": "h", "is_car": "b",
          "n_targets": "h"}
SEPARATOR = "\0"  # between the names of a string list (no registry text holds NUL)
STRINGS = ("trial_ids", "entity_ids", "entity_display", "domains", "modalities", "origins")


def _codes(values: list[str | None]) -> tuple[array, list[str]]:
    """(codes, vocabulary): code 0 is None, i >= 1 is vocabulary[i]."""
    vocabulary = [""] + sorted({v for v in values if v is not None})
    position = {v: i for i, v in enumerate(vocabulary)}
    return array("h", (0 if v is None else position[v] for v in values)), vocabulary


@dataclass
class SimilarityIndex:
    """Rows (trials, sorted by id) and columns (entities, sorted) of edge weights, and per-node numbers."""

    trial_ids: list[str]
    entity_ids: list[str]  # "kind:label"
    entity_display: list[str]  # how explanations name an entity
    domains: list[str]  # vocabularies of the codes below; code 0 = unknown
    modalities: list[str]  # graph.similarity.modality_key values
    origins: list[str]
    group: array  # per entity: index into graph.similarity.GROUPS
    idf: array
    r_indptr: array
    r_indices: array  # entity columns of each row, ascending
    r_data: array
    c_indptr: array
    c_indices: array  # trial rows of each column, ascending
    c_data: array
    domain: array  # per trial, codes
    modality: array
    origin: array
    is_car: array  # 1 true, 0 false, -1 unknown
    n_targets: array
    fingerprint: str = ""

    @classmethod
    def from_graph(cls, graph: nx.Graph) -> SimilarityIndex:
        """The index of a finalized trial graph (``graph.build.build_graph``)."""
        nodes = graph.nodes
        trials = sorted(n for n, kind in graph.nodes(data="kind") if kind == "trial")
        entities = sorted(n for n, kind in graph.nodes(data="kind") if kind != "trial")

        def compressed(outer: list[str], inner: dict[str, int]) -> tuple[array, array, array]:
            indptr, indices, data = array("q", [0]), array("i"), array("d")
            for node in outer:
                edges = sorted((inner[other], edge["weight"]) for other, edge in graph[node].items())
                indices.extend(i for i, _ in edges)
                data.extend(w for _, w in edges)
                indptr.append(len(indices))
            return indptr, indices, data

        rows = compressed(trials, {e: i for i, e in enumerate(entities)})
        columns = compressed(entities, {t: i for i, t in enumerate(trials)})
        domain, domains = _codes([nodes[t].get("domain") for t in trials])
        modality, modalities = _codes([modality_key(nodes[t].get("modality"), nodes[t].get("is_car")) for t in trials])
        origin, origins = _codes([nodes[t].get("origin") for t in trials])
        return cls([nodes[t]["label"] for t in trials], entities,
                   [nodes[e].get("display", nodes[e]["label"]) for e in entities], domains, modalities, origins,
                   array("b", (GROUPS.index(nodes[e]["group"]) for e in entities)),
                   array("d", (nodes[e]["idf"] for e in entities)), *rows, *columns, domain, modality, origin,
                   array("b", ({True: 1, False: 0}.get(nodes[t].get("is_car"), -1) for t in trials)),
                   array("h", (nodes[t]["targets"] for t in trials)), graph.graph.get("fingerprint", ""))

    # ---------------------------------------------------------------- persistence

    def save(self, path: str | Path) -> None:
        """One file: a magic line, a JSON header, then the string lists and the arrays as raw bytes."""
        blobs = [SEPARATOR.join(getattr(self, name)).encode() for name in STRINGS]
        blobs += [getattr(self, name).tobytes() for name in ARRAYS]
        header = json.dumps({"fingerprint": self.fingerprint, "strings": [len(getattr(self, n)) for n in STRINGS],
                             "sizes": [len(b) for b in blobs]}).encode()
        with open(path, "wb") as f:
            f.write(MAGIC + struct.pack("<Q", len(header)) + header)
            for blob in blobs:
                f.write(blob)

    @classmethod
    def load(cls, path: str | Path) -> SimilarityIndex:
        """The index saved at ``path``; ValueError when the file is not one."""
        data = memoryview(Path(path).read_bytes())
        if bytes(data[:len(MAGIC)]) != MAGIC:
            raise ValueError(f"{path} is not a trialkb similarity index of this version")
        start = len(MAGIC) + 8
        (size,) = struct.unpack("<Q", data[len(MAGIC):start])
        header = json.loads(bytes(data[start:start + size]))
        offset, values = start + size, {}
        for i, (name, blob_size) in enumerate(zip((*STRINGS, *ARRAYS), header["sizes"])):
            blob = data[offset:offset + blob_size]
            offset += blob_size
            if name in ARRAYS:
                values[name] = array(ARRAYS[name])
                values[name].frombytes(blob)
            else:
                values[name] = str(blob, "utf-8").split(SEPARATOR) if header["strings"][i] else []
                if len(values[name]) != header["strings"][i]:
                    raise ValueError(f"{path}: {name} holds {len(values[name])} names, not {header['strings'][i]}")
        return cls(**values, fingerprint=header["fingerprint"])

    # ---------------------------------------------------------------- lookup

    def row_of(self, trial_id: str) -> int:
        trial_id = canonical_or_as_is(trial_id)
        position = bisect_left(self.trial_ids, trial_id)
        if position < len(self.trial_ids) and self.trial_ids[position] == trial_id:
            return position
        raise UnknownTrial(f"{trial_id} is not in the graph (import or crawl it first)")

    def _row(self, r: int) -> tuple[array, array]:
        s, t = self.r_indptr[r], self.r_indptr[r + 1]
        return self.r_indices[s:t], self.r_data[s:t]

    def profile(self, r: int) -> Profile:
        entities, _ = self._row(r)
        targets = tuple(sorted(self.entity_display[e] for e in entities if self.group[e] == TARGET))
        return Profile(self.trial_ids[r], self.domains[self.domain[r]] or None,
                       self.modalities[self.modality[r]] or None, self.origins[self.origin[r]] or None, targets)

    def shared(self, q: int, c: int) -> list[Shared]:
        """The entities trials ``q`` and ``c`` share, in column order."""
        c_entities, c_weights = self._row(c)
        theirs = dict(zip(c_entities, c_weights))
        out = []
        for e, wq in zip(*self._row(q)):
            wc = theirs.get(e)
            if wc is not None:
                entity, weight = self.entity_ids[e], min(wq, wc)
                out.append(Shared(entity, entity.split(":", 1)[0], self.entity_display[e], GROUPS[self.group[e]],
                                  weight, self.idf[e] * weight))
        return out

    def _factors(self, rule: Any, codes: array, vocabulary: list[str], q: int, weights: Weights) -> list[float]:
        """The rule's factor for each code, against the query's."""
        mine = vocabulary[codes[q]] or None
        return [rule(mine, other or None, weights) for other in vocabulary]

    def similar(self, trial_id: str, *, top: int = 10, car_only: bool = False, hub_limit: int = HUB_LIMIT,
                weights: Weights = DEFAULT) -> list[dict[str, Any]]:
        """Same answer as :func:`graph.similarity.similar_trials` on the graph this index came from."""
        q = self.row_of(trial_id)
        group, idf, c_indptr, c_indices, c_data = self.group, self.idf, self.c_indptr, self.c_indices, self.c_data
        mass = [0.0] * len(GROUPS)
        query = list(zip(*self._row(q)))
        for e, wq in query:
            mass[group[e]] += idf[e] * wq
        walked, hubs = [], []
        for e, wq in query:
            (walked if group[e] != TIE or c_indptr[e + 1] - c_indptr[e] <= hub_limit else hubs).append((e, wq))
        # per candidate: credit of each group, best edge weight of each group, shared targets
        acc: dict[int, list[float]] = {}
        for e, wq in walked:
            g, s, t = group[e], c_indptr[e], c_indptr[e + 1]
            for row, wc in zip(c_indices[s:t], c_data[s:t]):
                a = acc.get(row)
                if a is None:
                    a = acc[row] = [0.0] * 9
                w = wq if wq < wc else wc
                a[g] += idf[e] * w
                if w > a[4 + g]:
                    a[4 + g] = w
                if g == TARGET:
                    a[8] += 1
        acc.pop(q, None)
        if car_only:
            acc = {row: a for row, a in acc.items() if self.is_car[row] == 1}
        domains = self._factors(domain_factor, self.domain, self.domains, q, weights)
        modalities = self._factors(modality_factor, self.modality, self.modalities, q, weights)
        n_q = self.n_targets[q]

        def score(row: int, a: list[float]) -> float:
            same_set = 1.0 if a[8] and a[8] == n_q == self.n_targets[row] else 0.0
            shares = [a[g] / mass[g] if mass[g] > 0 else 0.0 for g in range(len(GROUPS))]
            return (relevance(a[4 + PRODUCT], same_set, shares[TARGET], a[4 + DISEASE], shares[DISEASE], shares[TIE],
                              weights) * domains[self.domain[row]] * modalities[self.modality[row]])

        if hubs and len(acc) > top:
            # Hubs only add tie-breaking credit, at most `bonus` x the factors: a candidate whose score without
            # them plus that bound stays below the top-th score without them cannot reach the top. Skip it.
            partial = {row: score(row, a) for row, a in acc.items()}
            threshold = heapq.nlargest(top, partial.values())[-1] - 10 ** -ORDER_DIGITS
            bonus = (weights.ties / weights.total * sum(idf[e] * wq for e, wq in hubs) / mass[TIE]
                     if mass[TIE] > 0 else 0.0)
            acc = {row: a for row, a in acc.items()
                   if partial[row] + bonus * domains[self.domain[row]] * modalities[self.modality[row]] >= threshold}
        for e, wq in hubs:  # hubs count for the candidates, without generating them
            g, s, t = group[e], c_indptr[e], c_indptr[e + 1]
            if t - s < len(acc):  # fewer members than candidates: look the members up
                found = ((acc[row], wc) for row, wc in zip(c_indices[s:t], c_data[s:t]) if row in acc)
            else:  # look each candidate up among the (sorted) members
                found = ((a, c_data[i]) for row, a in acc.items()
                         for i in (bisect_left(c_indices, row, s, t),) if i < t and c_indices[i] == row)
            for a, wc in found:
                w = wq if wq < wc else wc
                a[g] += idf[e] * w
                if w > a[4 + g]:
                    a[4 + g] = w
        scored = []
        for row, a in acc.items():
            value = score(row, a)
            if value > 0:
                scored.append((-round(value, ORDER_DIGITS), self.trial_ids[row], row, value))
        me = self.profile(q)
        return [result(nct, value, self.shared(q, row), me, self.profile(row))
                for _, nct, row, value in heapq.nsmallest(top, scored)]
