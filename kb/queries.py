"""Reading the store: one trial as a dict, its history, and read-only SQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DBAPIError

from kb.models import Intervention, Trial, TrialCondition, TrialFact, TrialVersion

SHOW_FIELDS = ("nct_id", "brief_title", "overall_status", "last_known_status", "phases", "study_type",
               "enrollment_count", "enrollment_type", "start_date", "start_date_type",
               "primary_completion_date", "completion_date", "first_posted_date", "last_update_posted_date",
               "disease_categories", "targets", "is_car_therapy", "car_evidence", "cell_type", "origin",
               "modality", "domain", "products", "armoring", "lymphodepletion", "sponsor", "sponsor_class", "countries",
               "site_count", "has_results", "is_relevant", "warnings")
RENAMED = {"brief_title": "title", "overall_status": "status"}


class NotFound(LookupError):
    """No trial with that id in the store."""


class ReadOnlyViolation(PermissionError):
    """A statement given to the read-only SQL command tried to write."""


def get_trial(engine: Engine, nct_id: str) -> dict[str, Any]:
    """A trial as ``show --json`` prints it, with the evidence behind each fact."""
    nct_id = nct_id.strip().upper()
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
    nct_id = nct_id.strip().upper()
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


def run_readonly_sql(engine: Engine, statement: str, limit: int | None = None) -> tuple[list[str], list[tuple]]:
    """Run one statement with the database itself enforcing read-only; (columns, rows)."""
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA query_only = ON")
        else:
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        try:
            result = conn.execute(text(statement))
            if not result.returns_rows:
                raise ReadOnlyViolation("the statement returned no rows; only queries are allowed")
            columns = list(result.keys())
            rows = [tuple(r) for r in (result.fetchmany(limit) if limit else result.fetchall())]
        except DBAPIError as exc:
            message = str(exc.orig).strip().splitlines()[0]
            if "readonly" in message.lower() or "read-only" in message.lower() or "query_only" in message:
                raise ReadOnlyViolation(f"refused: trialkb sql is read-only ({message})") from None
            raise
        finally:
            conn.rollback()
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA query_only = OFF")
    return columns, rows
