"""The registrations of one trial: stored trials that share a link key (``trial_link``, filled by
:mod:`kb.domain.links`) or whose link a person confirmed (``link_review``), read over the
read-only DB-API connection (:class:`kb.store.readonly.ReadOnlyStore`) like ``show``.

A trial registered twice is one trial: :func:`groups` says which stored registrations go
together and which one stands for the group (ctrdata's default preference: ClinicalTrials.gov,
then the EU register, ISRCTN, CTIS, then the other registries); :func:`registrations` gives what
``show`` prints about them, and where they differ.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from kb.core.ids import registry_name, registry_of, registry_url
from kb.store.readonly import ReadOnlyStore

__all__ = ["COMPARED", "PREFERENCE", "groups", "all_groups", "registrations"]

PREFERENCE = ("ctgov", "euctr", "isrctn", "ctis")
"""Which registration stands for a linked trial (ctrdata's default ``preferregister``: CTGOV2, EUCTR,
CTGOV, ISRCTN, CTIS); other registries after these, by name."""
COMPARED = ("overall_status", "start_date", "primary_completion_date", "completion_date", "enrollment_count",
            "phases", "sponsor", "brief_title")
"""Fields ``show`` compares across the registrations of one trial."""
_CHUNK = 500


def _rank(trial_id: str) -> tuple:
    registry = registry_of(trial_id)
    order = PREFERENCE.index(registry) if registry in PREFERENCE else len(PREFERENCE)
    resubmission = -int(trial_id[-2:]) if registry == "ctis" else 0  # CTIS: the latest resubmission first
    return (order, registry, resubmission, trial_id)


def _in(store: ReadOnlyStore, sql: str, values: Sequence[str]) -> list[tuple]:
    """Rows of ``sql`` (with ``{in}`` for a list of placeholders) over ``values`` in chunks."""
    rows: list[tuple] = []
    values = list(values)
    for start in range(0, len(values), _CHUNK):
        chunk = values[start:start + _CHUNK]
        marks = ", ".join([store.placeholder] * len(chunk))
        rows += store.query(sql.replace("{in}", marks), chunk)[1]
    return rows


def _confirmed(store: ReadOnlyStore) -> list[tuple[str, str]]:
    """Pairs a person confirmed as one trial."""
    return store.query(f"SELECT trial_id, other_id FROM link_review WHERE status = {store.placeholder}",
                       ("confirmed",))[1]


def _union(edges: Iterable[tuple[str, str]], members: Iterable[str]) -> dict[str, str]:
    """Each member's group representative (union-find), the preferred registration of its group."""
    parent: dict[str, str] = {m: m for m in members}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        if a in parent and b in parent:
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[max(ra, rb, key=_rank)] = min(ra, rb, key=_rank)
    return {m: find(m) for m in parent}


def groups(store: ReadOnlyStore, trial_ids: Iterable[str]) -> dict[str, list[str]]:
    """For each given stored id, every stored registration of its trial (itself included), the
    preferred one first: the closure over shared link keys and confirmed links."""
    members = set(trial_ids)
    if not members:
        return {}
    frontier = set(members)
    pairs: set[tuple[str, str]] = set()
    while frontier:
        keys = {key for _, key in _in(store, "SELECT trial_id, key FROM trial_link WHERE trial_id IN ({in})",
                                      sorted(frontier))}
        rows = _in(store, "SELECT trial_id, key FROM trial_link WHERE key IN ({in})", sorted(keys))
        pairs.update(rows)
        found = {trial_id for trial_id, _ in rows}
        near = found | members
        found |= {x for pair in _confirmed(store) if near.intersection(pair) for x in pair}
        frontier = found - members
        members |= found
    stored = {trial_id for (trial_id,) in _in(store, "SELECT trial_id FROM trial WHERE trial_id IN ({in})",
                                              sorted(members))}
    by_key: dict[str, list[str]] = {}
    for trial_id, key in pairs:
        by_key.setdefault(key, []).append(trial_id)
    edges = [(ids[0], other) for ids in by_key.values() for other in ids[1:]]
    edges += _confirmed(store)
    root = _union(edges, stored)
    out: dict[str, list[str]] = {}
    for member in stored:
        out.setdefault(root[member], []).append(member)
    grouped = {rep: sorted(ids, key=_rank) for rep, ids in out.items()}
    return {trial_id: grouped[root[trial_id]] for trial_id in trial_ids if trial_id in root}


def all_groups(store: ReadOnlyStore) -> dict[str, str]:
    """Every stored trial's representative registration (itself when it is linked to none)."""
    _, rows = store.query("SELECT trial_id, key FROM trial_link")
    _, trials = store.query("SELECT trial_id FROM trial")
    by_key: dict[str, list[str]] = {}
    for trial_id, key in rows:
        by_key.setdefault(key, []).append(trial_id)
    edges = [(ids[0], other) for ids in by_key.values() for other in ids[1:]]
    edges += _confirmed(store)
    return _union(edges, [t for (t,) in trials])


def registrations(store: ReadOnlyStore, trial_id: str) -> dict[str, Any]:
    """Every registration of the trial ``trial_id`` is one of: the stored ones (registry, link,
    status, dates, enrollment), the ids they name that are not stored, and where they differ."""
    ids = groups(store, [trial_id]).get(trial_id, [trial_id])
    columns = ", ".join(("trial_id", *COMPARED, "last_update_posted_date"))
    rows = _in(store, f"SELECT {columns} FROM trial WHERE trial_id IN ({{in}})", ids)
    names = ("trial_id", *COMPARED, "last_update_posted_date")
    stored = sorted((dict(zip(names, row)) for row in rows), key=lambda r: _rank(r["trial_id"]))
    links = _in(store, "SELECT named_id, field, trial_id, key FROM trial_link WHERE trial_id IN ({in})", ids)
    own_keys = {key for _, field, _, key in links if field == "self"}
    elsewhere: dict[str, list[str]] = {}
    for named_id, field, by, key in links:
        if key not in own_keys:  # an id no stored registration of this trial has
            elsewhere.setdefault(named_id, []).append(f"{by} {field}")
    out = [{"trial_id": r["trial_id"], "registry": registry_of(r["trial_id"]),
            "registry_name": registry_name(registry_of(r["trial_id"])), "url": registry_url(r["trial_id"]),
            "stored": True, "status": r["overall_status"], "start_date": r["start_date"],
            "primary_completion_date": r["primary_completion_date"], "completion_date": r["completion_date"],
            "enrollment_count": r["enrollment_count"], "last_update_posted_date": r["last_update_posted_date"]}
           for r in stored]
    out += [{"trial_id": named_id, "registry": registry_of(named_id), "registry_name": registry_name(registry_of(named_id)),
             "url": registry_url(named_id), "stored": False, "named_by": sorted(by)}
            for named_id, by in sorted(elsewhere.items())]
    return {"registrations": out, "linked_ids": [r["trial_id"] for r in out if r["trial_id"] != trial_id],
            "differences": _differences(stored)}


def _differences(stored: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``{field: {trial_id: value}}`` for each compared field whose values differ between registrations."""
    out: dict[str, dict[str, Any]] = {}
    for field in COMPARED:
        values = {r["trial_id"]: json.loads(r[field]) if field == "phases" and isinstance(r[field], str) else r[field]
                  for r in stored}  # phases: JSON text on SQLite
        if len({repr(v) for v in values.values()}) > 1:
            out[field] = values
    return out
