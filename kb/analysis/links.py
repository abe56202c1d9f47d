"""Proposed links between registrations that name no id of each other, and a person's decision on each.

:func:`propose_links` scans the store for pairs of registrations in different registries whose
titles, sponsors and start dates are alike (:mod:`kb.domain.likeness`) and that are not one trial
already (no shared link key, no decision). Nothing merges by itself: :func:`decide` records that a
person confirmed a pair (from then on it is one trial) or rejected it (never proposed again).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import Engine, select

from kb.core.errors import BadArgument, NotFound
from kb.core.ids import parse_trial_id
from kb.domain.likeness import likeness, title_tokens
from kb.store.bulk import upsert
from kb.store.models import LinkReview, Trial
from kb.store.read import reader_of
from kb.store.registrations import all_groups

__all__ = ["Proposal", "decide", "propose_links"]

COMMON_WORD = 300
"""A title word on more trials than this is no evidence of a pair (it only costs time)."""
SHARED_WORDS = 3


@dataclass(frozen=True)
class Proposal:
    """Two registrations that may be one trial, how alike they are and why."""

    trial_id: str
    other_id: str
    score: float
    reasons: tuple[str, ...]


def _registrations(engine: Engine) -> list[dict]:
    t = Trial.__table__.c
    with engine.connect() as conn:
        rows = conn.execute(select(t.trial_id, t.registry_name, t.brief_title, t.official_title, t.sponsor,
                                   t.start_date)).all()
    return [{"trial_id": r.trial_id, "registry": r.registry_name, "titles": title_tokens(r.brief_title, r.official_title),
             "sponsor": r.sponsor, "start_date": r.start_date} for r in rows]


def _decided(engine: Engine) -> set[tuple[str, str]]:
    r = LinkReview.__table__.c
    with engine.connect() as conn:
        return {(a, b) for a, b in conn.execute(select(r.trial_id, r.other_id))}


def propose_links(engine: Engine) -> list[Proposal]:
    """Pairs of registrations in different registries that may be one trial, best first; pairs
    already linked (by ids or a confirmation) or rejected are left out."""
    trials = _registrations(engine)
    with reader_of(engine) as reader:
        group = all_groups(reader)
    decided = _decided(engine)
    postings: dict[str, list[int]] = {}
    for n, trial in enumerate(trials):
        for word in trial["titles"]:
            postings.setdefault(word, []).append(n)
    out: list[Proposal] = []
    for n, trial in enumerate(trials):
        shared = Counter(m for word in trial["titles"] if len(postings[word]) <= COMMON_WORD
                         for m in postings[word] if m > n)
        for m, count in shared.items():
            other = trials[m]
            if count < SHARED_WORDS or other["registry"] == trial["registry"]:
                continue
            a, b = sorted((trial["trial_id"], other["trial_id"]))
            if group.get(a, a) == group.get(b, b) or (a, b) in decided:
                continue
            alike = likeness(trial, other)
            if alike.proposed:
                out.append(Proposal(a, b, alike.score, alike.reasons))
    return sorted(out, key=lambda p: (-p.score, p.trial_id, p.other_id))


def decide(engine: Engine, first: str, second: str, status: str) -> None:
    """Record that two stored registrations are one trial (``confirmed``) or not (``rejected``)."""
    if status not in ("confirmed", "rejected"):
        raise BadArgument(f"a decision is 'confirmed' or 'rejected', not {status!r}")
    a, b = sorted((parse_trial_id(first), parse_trial_id(second)))
    if a == b:
        raise BadArgument(f"{a} is one registration; name two")
    t = Trial.__table__.c
    with engine.begin() as conn:
        stored = set(conn.execute(select(t.trial_id).where(t.trial_id.in_([a, b]))).scalars())
        for trial_id in (a, b):
            if trial_id not in stored:
                raise NotFound(f"{trial_id} is not in the store (import or crawl it first)")
        upsert(conn, LinkReview.__table__, [{"trial_id": a, "other_id": b, "status": status, "score": None,
                                             "reasons": None, "decided_at": datetime.now(timezone.utc)}],
               ["trial_id", "other_id"])
