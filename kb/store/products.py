"""Products learned from the store, recomputed whole (:func:`relearn`) on import, crawl and rebuild.

A transaction that stores trials marks the products stale (:func:`mark_stale`, a ``crawl_state`` row);
relearning clears the mark in its own transaction. A job relearns when the mark is there
(:func:`relearn_if_stale`), so a relearning that never ran (a second Ctrl-C, a killed job) is made
by the next import, crawl or rebuild, even one that stores nothing.

Every trial first gets its own values back (``product_fill`` keeps them), then every CAR trial's
text is read for what it says of the codes it names (:func:`kb.domain.learned.readings`), the
readings are folded into products (``product`` table) and the products fill what the trials naming
them leave open (trial columns, and ``trial_fact`` rows whose field is ``learned:<code>`` and whose
evidence is the chain). The result depends on the trials' own text only, never on import order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, or_, select, update

from kb.domain.extract.fields import trial_texts
from kb.domain.learned import LEARNED_FIELD, LearnedProduct, fill, learn, readings, trial_codes
from kb.store.bulk import chunks, upsert
from kb.store.models import ArmGroup, CrawlState, Intervention, ProductFill, StoredProduct, Trial, TrialFact

__all__ = ["STALE_KEY", "RelearnResult", "is_stale", "mark_stale", "relearn", "relearn_engine", "relearn_if_stale"]

TRIAL, FACT, FILL, PRODUCT = Trial.__table__, TrialFact.__table__, ProductFill.__table__, StoredProduct.__table__
STATE = CrawlState.__table__
STALE_KEY = "products:stale"
"""The state row present while trials stored since the last relearning may teach or name a product."""
TEXT_COLUMNS = ("brief_title", "official_title", "acronym", "brief_summary", "detailed_description", "keywords")
FILL_COLUMNS = ("is_car_therapy", "car_evidence", "targets", "cell_type", "origin", "modality", "is_relevant",
                "domain", "sponsor")
CHUNK = 500


class RelearnResult(dict):
    """Counts of one relearn: learned, candidates, filled (trials)."""


def mark_stale(conn: Connection, now: datetime) -> None:
    """Mark the products stale in the caller's transaction (read first: once the mark is committed,
    a write that finds it writes nothing more). Every job that stores trials, and relearns, holds the
    store's writer lock (:mod:`kb.process.lock`; an import's workers write in turns), so no relearning
    can clear a mark another writer set after it read."""
    if not is_stale(conn):
        upsert(conn, STATE, [{"key": STALE_KEY, "value": "trials stored since the products were relearned",
                              "updated_at": now}], ["key"], ())


def is_stale(conn: Connection) -> bool:
    """Whether trials were stored since the products were last relearned."""
    return conn.execute(select(STATE.c.key).where(STATE.c.key == STALE_KEY)).first() is not None


def _restore(conn: Connection) -> None:
    """Give every filled trial its own values back and drop the learned fact rows."""
    for trial_id, own in conn.execute(select(FILL.c.trial_id, FILL.c.own)).all():
        conn.execute(update(TRIAL).where(TRIAL.c.trial_id == trial_id).values(**own))
    conn.execute(delete(FACT).where(FACT.c.field.like(LEARNED_FIELD + "%")))
    conn.execute(delete(FILL))


def _product_facts(conn: Connection) -> dict[str, list[dict[str, Any]]]:
    """Fact rows (product, target) of trials that may teach or be filled (CAR true or unknown)."""
    query = (select(FACT.c.trial_id, FACT.c.kind, FACT.c.value, FACT.c.field, FACT.c.evidence)
             .join(TRIAL, TRIAL.c.trial_id == FACT.c.trial_id)
             .where(or_(TRIAL.c.is_car_therapy.is_(None), TRIAL.c.is_car_therapy.is_(True)),
                    FACT.c.kind.in_(("product", "target")))
             .order_by(FACT.c.trial_id, FACT.c.kind, FACT.c.value, FACT.c.field))
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for trial_id, kind, value, where, evidence in conn.execute(query):
        out[trial_id].append({"kind": kind, "value": value, "field": where, "evidence": evidence})
    return {t: rows for t, rows in out.items() if any(r["kind"] == "product" for r in rows)}


def _trials(conn: Connection, ids: Sequence[str], columns: Sequence[str]) -> dict[str, dict[str, Any]]:
    out = {}
    for chunk in chunks(ids, CHUNK):
        for row in conn.execute(select(TRIAL.c.trial_id, *(TRIAL.c[c] for c in columns)).where(TRIAL.c.trial_id.in_(chunk))):
            out[row[0]] = {"trial_id": row[0], **dict(zip(columns, row[1:]))}
    return out


def _children(conn: Connection, ids: Sequence[str]) -> dict[str, dict[str, list[dict]]]:
    """Interventions and arms of some trials, as the normalizer's child rows (for trial_texts)."""
    out: dict[str, dict[str, list[dict]]] = defaultdict(lambda: {"intervention": [], "arm_group": [], "outcome": [], "trial_condition": []})
    iv, arm = Intervention.__table__, ArmGroup.__table__
    for chunk in chunks(ids, CHUNK):
        for row in conn.execute(select(iv.c.trial_id, iv.c.name, iv.c.other_names, iv.c.description)
                                .where(iv.c.trial_id.in_(chunk)).order_by(iv.c.trial_id, iv.c.position)):
            out[row[0]]["intervention"].append({"name": row[1], "other_names": row[2], "description": row[3]})
        for row in conn.execute(select(arm.c.trial_id, arm.c.label, arm.c.description)
                                .where(arm.c.trial_id.in_(chunk)).order_by(arm.c.trial_id, arm.c.position)):
            out[row[0]]["arm_group"].append({"label": row[1], "description": row[2]})
    return out


def relearn(conn: Connection) -> RelearnResult:
    """Recompute every learned product and what it fills, in the caller's transaction."""
    _restore(conn)
    facts = _product_facts(conn)
    trials = _trials(conn, sorted(facts), FILL_COLUMNS)
    teachers = sorted(t for t, row in trials.items() if row["is_car_therapy"] is True)
    texts = _trials(conn, teachers, TEXT_COLUMNS)
    children = _children(conn, teachers)
    found = [r for t in teachers for r in readings(t, trial_texts(texts[t], children[t]), facts[t])]
    named_by: dict[str, list[str]] = defaultdict(list)
    spellings: dict[str, list[str]] = defaultdict(list)
    for trial_id in sorted(facts):
        for key, spelled in trial_codes(facts[trial_id]).items():
            named_by[key].append(trial_id)
            spellings[key].append(spelled)
    own_car = {t for t in teachers if not (trials[t]["car_evidence"] or "").startswith("product lexicon")}
    sponsors = {t: row["sponsor"] for t, row in trials.items() if row["sponsor"]}
    products = learn(found, named_by, own_car, sponsors, spellings)
    conn.execute(delete(PRODUCT))
    if products:
        conn.execute(PRODUCT.insert(), [_product_row(p) for p in products.values()])
    filled = 0
    for trial_id in sorted(facts):
        if (given := fill(trials[trial_id], facts[trial_id], products)) is None:
            continue
        filled += 1
        conn.execute(update(TRIAL).where(TRIAL.c.trial_id == trial_id).values(**given.columns))
        conn.execute(FILL.insert(), [{"trial_id": trial_id, "own": given.own, "given": given.columns}])
        rows = list({(r["kind"], r["value"], r["field"]): r for r in given.facts}.values())
        conn.execute(FACT.insert(), [dict(r)
                                     for r in rows])
    conn.execute(delete(STATE).where(STATE.c.key == STALE_KEY))
    learned = sum(p.status == "learned" for p in products.values())
    return RelearnResult(learned=learned, candidates=len(products) - learned, filled=filled)


def relearn_engine(engine: Engine) -> RelearnResult:
    """:func:`relearn` in its own transaction."""
    with engine.begin() as conn:
        return relearn(conn)


def relearn_if_stale(engine: Engine) -> RelearnResult | None:
    """:func:`relearn` in its own transaction if the products are stale; None when they are not."""
    with engine.begin() as conn:
        return relearn(conn) if is_stale(conn) else None


def _product_row(product: LearnedProduct) -> dict[str, Any]:
    data = product.as_dict()
    return {"code": data["code"], "status": data["status"], "facts": data["facts"] or None,
            "sources": data["sources"] or None, "trials": data["trials"], "reason": data["reason"]}
