"""Reading the store: one trial as a dict, its history, and read-only SQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from kb.errors import NotFound, ReadOnlyViolation, check_nct_id
from kb.models import Intervention, Trial, TrialCondition, TrialFact, TrialVersion
from kb.readonly import ReadOnlyStore, connect_sqlite_readonly, run_sql

SHOW_FIELDS = ("nct_id", "brief_title", "overall_status", "last_known_status", "phases", "study_type",
               "enrollment_count", "enrollment_type", "start_date", "start_date_type",
               "primary_completion_date", "completion_date", "first_posted_date", "last_update_posted_date",
               "disease_categories", "targets", "is_car_therapy", "car_evidence", "cell_type", "origin",
               "modality", "domain", "products", "armoring", "lymphodepletion", "sponsor", "sponsor_class", "countries",
               "site_count", "has_results", "is_relevant", "warnings")
RENAMED = {"brief_title": "title", "overall_status": "status"}


__all__ = ["NotFound", "ReadOnlyViolation", "get_history", "get_trial", "run_readonly_sql"]


def get_trial(engine: Engine, nct_id: str) -> dict[str, Any]:
    """A trial as ``show --json`` prints it, with the evidence behind each fact."""
    nct_id = check_nct_id(nct_id)
    with engine.connect() as conn:
        row = conn.execute(select(Trial.__table__).where(Trial.__table__.c.nct_id == nct_id)).mappings().first()
        if row is None:
            raise NotFound(f"{nct_id} is not in the store (import or crawl it first)")
        conditions = conn.execute(select(TrialCondition.name).where(TrialCondition.nct_id == nct_id)
                                  .order_by(TrialCondition.position)).scalars().all()
        interventions = conn.execute(select(Intervention.type, Intervention.name).where(
            Intervention.nct_id == nct_id).order_by(Intervention.position)).all()
        facts = conn.execute(select(TrialFact.kind, TrialFact.value, TrialFact.field, TrialFact.evidence)
                             .where(TrialFact.nct_id == nct_id)).all()
    out = {RENAMED.get(k, k): row[k] for k in SHOW_FIELDS}
    out["conditions"] = list(conditions)
    out["interventions"] = [{"type": t, "name": n} for t, n in interventions]
    evidence: dict[str, dict[str, list[str]]] = {}
    for kind, value, where, _ in facts:
        evidence.setdefault(kind, {}).setdefault(value, []).append(where)
    out["evidence"] = evidence
    return out


def get_history(engine: Engine, nct_id: str) -> dict[str, Any]:
    """When a trial was first seen and every recorded change, oldest first."""
    nct_id = check_nct_id(nct_id)
    with engine.connect() as conn:
        trial = conn.execute(select(Trial.first_seen_at, Trial.updated_at).where(Trial.nct_id == nct_id)).first()
        if trial is None:
            raise NotFound(f"{nct_id} is not in the store (import or crawl it first)")
        versions = conn.execute(select(TrialVersion.recorded_at, TrialVersion.old_hash, TrialVersion.new_hash,
                                       TrialVersion.diff, TrialVersion.source)
                                .where(TrialVersion.nct_id == nct_id).order_by(TrialVersion.id)).all()
    return {"nct_id": nct_id, "first_seen_at": trial.first_seen_at.isoformat(),
            "versions": [{"recorded_at": v.recorded_at.isoformat(), "old_hash": v.old_hash,
                          "new_hash": v.new_hash, "diff": v.diff, "source": v.source} for v in versions]}


def run_readonly_sql(store: Engine | ReadOnlyStore, statement: str,
                     limit: int | None = None) -> tuple[list[str], list[tuple]]:
    """Run one statement with the database itself enforcing read-only; (columns, rows).

    ``store`` is a :class:`ReadOnlyStore` (what ``trialkb sql`` opens) or an engine, from which a
    read-only connection is made: see :func:`kb.readonly.run_sql` for what guarantees it.
    """
    if isinstance(store, ReadOnlyStore):
        return run_sql(store, statement, limit)
    if store.dialect.name == "sqlite":
        from pathlib import Path

        reader = ReadOnlyStore("sqlite", connect_sqlite_readonly(Path(store.url.database)), store.url.database)
    else:  # a connection of the engine's own (its search path), closed afterwards
        raw = store.raw_connection()
        reader = ReadOnlyStore("postgresql", raw.driver_connection, "store", _release=raw.invalidate)
    with reader:
        return run_sql(reader, statement, limit)
