"""Reading the store: one trial as a dict, its history, and read-only SQL.

Light to import (no SQLAlchemy at module level): ``trialkb show`` reads a trial over the plain
DB-API connection of :mod:`kb.store.readonly`; library callers may pass an engine instead.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from kb.core.errors import NotFound, ReadOnlyViolation
from kb.core.ids import parse_trial_id
from kb.store.readonly import DEFAULT_TIMEOUT, ReadOnlyStore, connect_sqlite_readonly, run_sql

if TYPE_CHECKING:
    from sqlalchemy import Engine

SHOW_FIELDS = ("trial_id", "nct_id", "registry_name", "brief_title", "overall_status", "last_known_status", "phases", "study_type",
               "enrollment_count", "enrollment_type", "start_date", "start_date_type",
               "primary_completion_date", "completion_date", "first_posted_date", "last_update_posted_date",
               "disease_categories", "targets", "is_car_therapy", "car_evidence", "cell_type", "origin",
               "modality", "domain", "products", "armoring", "lymphodepletion", "sponsor", "sponsor_class", "countries",
               "site_count", "has_results", "is_relevant", "warnings")
RENAMED = {"brief_title": "title", "overall_status": "status", "registry_name": "registry"}
JSON_FIELDS = frozenset({"phases", "disease_categories", "targets", "products", "armoring", "lymphodepletion",
                         "countries", "warnings"})
BOOL_FIELDS = frozenset({"is_car_therapy", "has_results", "is_relevant"})
"""Columns of ``trial`` among SHOW_FIELDS that SQLite holds as JSON text or 0/1 (a test checks them against kb.store.models)."""


__all__ = ["NotFound", "ReadOnlyViolation", "get_history", "get_trial", "run_readonly_sql"]


def json_value(value: Any) -> Any:
    """A JSON column's value (SQLite hands back text, PostgreSQL the value).

    >>> json_value('{"a": [1]}'), json_value({"a": [1]}), json_value(None)
    ({'a': [1]}, {'a': [1]}, None)
    """
    return json.loads(value) if isinstance(value, (bytes, str)) else value


def json_list(value: Any) -> list[Any]:
    """A JSON list column as a list without empty items (SQLite hands back text, PostgreSQL a list).

    >>> json_list('["CD19", "", null]'), json_list(None), json_list(["BCMA"])
    (['CD19'], [], ['BCMA'])
    """
    return [v for v in json_value(value) or () if v not in (None, "")]


def get_trial(store: Engine | ReadOnlyStore, trial_id: str) -> dict[str, Any]:
    """A trial as ``show --json`` prints it, with the evidence behind each fact.

    ``store`` is a :class:`ReadOnlyStore` (what ``trialkb show`` opens, without SQLAlchemy) or an
    engine, from which a read-only connection is made.
    """
    trial_id = parse_trial_id(trial_id)
    if not isinstance(store, ReadOnlyStore):
        with reader_of(store) as reader:
            return get_trial(reader, trial_id)
    p = store.placeholder
    columns, rows = store.query(f"SELECT {', '.join(SHOW_FIELDS)} FROM trial WHERE trial_id = {p}", (trial_id,))
    if not rows:
        stored = _registration_naming(store, trial_id)
        if stored is None:
            raise NotFound(f"{trial_id} is not in the store (import or crawl it first)")
        out = get_trial(store, stored)  # the same trial, through a stored registration that names this id
        out["asked_id"] = trial_id
        return out
    _, conditions = store.query(f"SELECT name FROM trial_condition WHERE trial_id = {p} ORDER BY position", (trial_id,))
    _, interventions = store.query(f"SELECT type, name FROM intervention WHERE trial_id = {p} ORDER BY position",
                                   (trial_id,))
    _, facts = store.query(f"SELECT kind, value, field FROM trial_fact WHERE trial_id = {p}", (trial_id,))
    out = {RENAMED.get(k, k): _value(store.dialect, k, v) for k, v in zip(columns, rows[0])}
    out["conditions"] = [name for (name,) in conditions]
    out["interventions"] = [{"type": t, "name": n} for t, n in interventions]
    evidence: dict[str, dict[str, list[str]]] = {}
    for kind, value, where in facts:
        evidence.setdefault(kind, {}).setdefault(value, []).append(where)
    out["evidence"] = evidence
    return out


def _registration_naming(store: ReadOnlyStore, trial_id: str) -> str | None:
    """A stored trial whose record names ``trial_id`` as another registration of itself (``trial_link``), if any:
    asked for a registration not stored, ``show`` answers with the trial it belongs to."""
    _, rows = store.query(f"SELECT trial_id FROM trial_link WHERE named_id = {store.placeholder} "
                          "AND trial_id <> named_id ORDER BY trial_id", (trial_id,))
    return rows[0][0] if rows else None


def _value(dialect: str, column: str, value: Any) -> Any:
    """A column's value as SQLAlchemy would give it: JSON decoded, booleans as bool."""
    if value is None or dialect != "sqlite":
        return value
    if column in JSON_FIELDS:
        return json.loads(value)
    return bool(value) if column in BOOL_FIELDS else value


def reader_of(engine: Engine) -> ReadOnlyStore:
    """A read-only DB-API connection to the engine's store."""
    if engine.dialect.name == "sqlite":
        from pathlib import Path

        path = engine.url.database.removeprefix("file:")  # an engine on a URI (file:PATH?mode=ro) too
        return ReadOnlyStore("sqlite", connect_sqlite_readonly(Path(path)), path)
    raw = engine.raw_connection()  # a connection of the engine's own (its search path), closed afterwards
    return ReadOnlyStore("postgresql", raw.driver_connection, "store", _release=raw.invalidate)


def get_history(engine: Engine, trial_id: str) -> dict[str, Any]:
    """When a trial was first stored and every recorded change, oldest first by the registry's dates.

    Each version has ``posted_date`` (the registry's update date of its newer record), ``recorded_at``
    (UTC), ``source`` (where the newer record came from), ``old_source`` and ``late`` (an older
    record that arrived after a newer one: history, never news).
    """
    from sqlalchemy import select

    from kb.store.models import Trial, TrialVersion

    trial_id = parse_trial_id(trial_id)
    v = TrialVersion.__table__.c
    with engine.connect() as conn:
        trial = conn.execute(select(Trial.first_seen_at, Trial.updated_at).where(Trial.trial_id == trial_id)).first()
        if trial is None:
            raise NotFound(f"{trial_id} is not in the store (import or crawl it first)")
        versions = conn.execute(select(v.id, v.recorded_at, v.posted_date, v.old_hash, v.new_hash, v.diff, v.source,
                                       v.old_source, v.late).where(v.trial_id == trial_id).order_by(v.id)).all()
    versions = sorted(versions, key=lambda r: (r.posted_date or utc_text(r.recorded_at)[:10], r.id))
    return {"trial_id": trial_id, "first_seen_at": utc_text(trial.first_seen_at),
            "versions": [{"posted_date": r.posted_date, "recorded_at": utc_text(r.recorded_at), "old_hash": r.old_hash,
                          "new_hash": r.new_hash, "diff": r.diff, "source": r.source, "old_source": r.old_source,
                          "late": bool(r.late)} for r in versions]}


def utc_text(moment: Any) -> str:
    """A stored time (UTC; SQLite hands it back naive) as ISO text with its zone.

    >>> from datetime import datetime
    >>> utc_text(datetime(2026, 12, 4, 5, 12, 10))
    '2026-12-04T05:12:10+00:00'
    """
    from datetime import timezone

    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(timezone.utc).isoformat()


def run_readonly_sql(store: Engine | ReadOnlyStore, statement: str, limit: int | None = None,
                     timeout: float | None = DEFAULT_TIMEOUT) -> tuple[list[str], list[tuple]]:
    """Run one statement with the database itself enforcing read-only; (columns, rows).

    ``store`` is a :class:`ReadOnlyStore` (what ``trialkb sql`` opens) or an engine, from which a
    read-only connection is made: see :func:`kb.store.readonly.run_sql` for what guarantees it.
    """
    if isinstance(store, ReadOnlyStore):
        return run_sql(store, statement, limit, timeout)
    with reader_of(store) as reader:
        return run_sql(reader, statement, limit, timeout)
