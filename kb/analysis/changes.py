"""What changed in the store since a date: new trials and the changes their version rows record.

:func:`collect_changes` reads ``trial.first_seen_at`` (new trials) and ``trial_version`` rows
(field-level diffs) recorded since a moment, sorts each change into a kind (status, phase,
enrollment, dates, other), and returns a :class:`Digest`; :func:`render` writes it as text, JSON,
Markdown or an Atom feed (the weekly digest a team mails or reads in a feed reader). The HTML
report (:mod:`apps.report`) shows the same digest.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Engine, select

from kb.analysis.card import registry_url
from kb.store.models import RunLog, Trial, TrialVersion

__all__ = ["FORMATS", "KIND_FIELDS", "Change", "Digest", "NewTrial", "change_kinds", "collect_changes", "describe",
           "parse_since", "previous_run_start", "registry_url", "render"]

FORMATS = ("text", "json", "markdown", "atom")
KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "status": ("overall_status", "last_known_status", "why_stopped"),
    "phase": ("phases",),
    "enrollment": ("enrollment_count", "enrollment_type"),
    "dates": ("start_date", "start_date_type", "primary_completion_date", "primary_completion_date_type",
              "completion_date", "completion_date_type"),
}
"""Which diff fields make which kind of change; any other changed field is an ``other`` change."""
KIND_ORDER = ("status", "phase", "enrollment", "dates", "other")
QUIET_FIELDS = frozenset({"last_update_posted_date", "verified_date"})
"""Fields that change with almost every update: shown, but alone they do not make a change."""
_RELATIVE = re.compile(r"^\s*(\d+)\s*([dwh])\s*$", re.I)


@dataclass
class NewTrial:
    """A trial first stored in the window."""

    trial_id: str
    title: str | None
    status: str | None
    first_seen_at: str
    url: str


@dataclass
class Change:
    """One version row of a trial: what kinds of change it holds and the fields, old and new."""

    trial_id: str
    title: str | None
    posted_date: str | None  # the registry's update date of the newer record: the change's date
    recorded_at: str
    kinds: list[str]
    fields: dict[str, list[Any]]
    source: str | None
    url: str
    version_id: int

    @property
    def date(self) -> str:
        """The registry's update date, else the day it was recorded."""
        return self.posted_date or self.recorded_at[:10]


@dataclass
class Digest:
    """New trials and changes recorded in ``[since, until]``."""

    since: str
    until: str
    scope: str
    new: list[NewTrial] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """How many new trials and changes of each kind."""
        out = {"new": len(self.new)}
        for kind in KIND_ORDER:
            out[kind] = sum(kind in c.kinds for c in self.changes)
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"since": self.since, "until": self.until, "scope": self.scope, "counts": self.counts(),
                "new": [asdict(n) for n in self.new], "changes": [asdict(c) for c in self.changes]}


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """A moment from ``YYYY-MM-DD``, an ISO date-time, or a span back from now (``7d``, ``2w``, ``12h``).

    >>> parse_since("7d", datetime(2026, 11, 29, tzinfo=timezone.utc)).isoformat()
    '2026-11-22T00:00:00+00:00'
    >>> parse_since("2025-08-01").isoformat()
    '2025-08-01T00:00:00+00:00'
    >>> parse_since("2030-01-01", datetime(2026, 12, 5, tzinfo=timezone.utc))
    Traceback (most recent call last):
    ValueError: --since '2030-01-01' is in the future (now: 2026-12-05 00:00 UTC): nothing can have changed since
    """
    now = now or datetime.now(timezone.utc)
    match = _RELATIVE.match(text)
    if match:
        amount, unit = int(match.group(1)), match.group(2).lower()
        return now - {"d": timedelta(days=amount), "w": timedelta(weeks=amount), "h": timedelta(hours=amount)}[unit]
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"--since {text!r}: give a date (2025-08-01), a date-time, "
                         "or a span such as 7d, 2w, 12h") from None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    if moment > now:
        raise ValueError(f"--since {text!r} is in the future (now: {now.astimezone(timezone.utc):%Y-%m-%d %H:%M} UTC): "
                         "nothing can have changed since")
    return moment


def previous_run_start(engine: Engine) -> datetime | None:
    """When the newest finished import or crawl started: "since the previous run" means its changes. A crawl
    of both registries is two runs of one process: it started with the first."""
    run = RunLog.__table__.c
    with engine.connect() as conn:
        newest = conn.execute(select(run.id, run.kind, run.pid, run.host, run.started_at).where(run.status == "ok")
                              .order_by(run.id.desc()).limit(1)).first()
        if newest is None:
            return None
        before = conn.execute(select(run.started_at).where(
            run.id == newest.id - 1, run.kind == "crawl", run.pid == newest.pid, run.host == newest.host)
        ).scalar_one_or_none() if newest.kind == "crawl" and newest.pid is not None else None
    return _aware(before or newest.started_at)


def _aware(moment: datetime) -> datetime:
    """A stored timestamp as UTC (SQLite gives naive values back)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _iso(moment: datetime) -> str:
    """A stored or given moment as ISO text in UTC, to the second."""
    return _utc(moment).isoformat(timespec="seconds")


def _utc(moment: datetime) -> datetime:
    """A moment in UTC (naive values are taken as UTC)."""
    return _aware(moment).astimezone(timezone.utc)


def change_kinds(diff: dict[str, list[Any]]) -> list[str]:
    """The kinds of change a version diff holds, in display order.

    >>> change_kinds({"overall_status": ["NOT_YET_RECRUITING", "RECRUITING"], "start_date": ["2024-06", "2024-07"]})
    ['status', 'dates']
    >>> change_kinds({"last_update_posted_date": ["2024-06-01", "2025-08-01"]})
    []
    """
    named = {f for fields in KIND_FIELDS.values() for f in fields}
    kinds = [kind for kind in KIND_ORDER[:-1] if any(f in diff for f in KIND_FIELDS[kind])]
    if any(f not in named and f not in QUIET_FIELDS for f in diff):
        kinds.append("other")
    return kinds


def collect_changes(engine: Engine, since: datetime, *, until: datetime | None = None,
                    relevant_only: bool = True) -> Digest:
    """New trials and version changes recorded in ``[since, until]``, newest first by the registry's date.

    A version row written when its newer record was already stored (``late``: an older record that
    arrived after a newer one) is history, never news. ``relevant_only`` keeps the trials the store counts as CAR cell therapies in immune-mediated
    disease (``is_relevant`` and ``is_car_therapy``); otherwise every trial.
    """
    until = until or datetime.now(timezone.utc)
    t, v = Trial.__table__.c, TrialVersion.__table__.c
    scope = (t.is_relevant.is_(True)) & (t.is_car_therapy.is_(True))
    lo, hi = _utc(since), _utc(until)
    new_q = (select(t.trial_id, t.brief_title, t.overall_status, t.first_seen_at)
             .where(t.first_seen_at >= lo, t.first_seen_at <= hi).order_by(t.first_seen_at.desc(), t.trial_id))
    change_q = (select(v.id, v.trial_id, v.recorded_at, v.posted_date, v.diff, v.source, t.brief_title)
                .join(Trial.__table__, t.trial_id == v.trial_id)
                .where(v.recorded_at >= lo, v.recorded_at <= hi, v.late.is_not(True))
                .order_by(v.posted_date.desc().nulls_last(), v.recorded_at.desc(), v.id.desc()))
    if relevant_only:
        new_q, change_q = new_q.where(scope), change_q.where(scope)
    digest = Digest(since=_iso(since), until=_iso(until),
                    scope="CAR cell therapies in immune-mediated disease" if relevant_only else "all trials")
    with engine.connect() as conn:
        new_rows = conn.execute(new_q).all()
        change_rows = conn.execute(change_q).all()
    digest.new = [NewTrial(r.trial_id, r.brief_title, r.overall_status, _iso(r.first_seen_at), registry_url(r.trial_id))
                  for r in new_rows]
    for row in change_rows:
        diff = row.diff if isinstance(row.diff, dict) else json.loads(row.diff)
        kinds = change_kinds(diff)
        if not kinds:  # only the update date moved
            continue
        digest.changes.append(Change(row.trial_id, row.brief_title, row.posted_date, _iso(row.recorded_at),
                                     kinds, {k: diff[k] for k in sorted(diff, key=_field_order)}, row.source,
                                     registry_url(row.trial_id), row.id))
    return digest


def _field_order(name: str) -> tuple[int, str]:
    """Diff fields in the order of their kinds, then by name."""
    for rank, kind in enumerate(KIND_ORDER[:-1]):
        if name in KIND_FIELDS[kind]:
            return rank, f"{KIND_FIELDS[kind].index(name):02d}"
    return len(KIND_ORDER), name


def _show(value: Any) -> str:
    """A field value, short."""
    if value is None or value == []:
        return "(none)"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def describe(name: str, old: Any, new: Any) -> str:
    """One changed field as a short phrase.

    >>> describe("overall_status", "NOT_YET_RECRUITING", "RECRUITING")
    'overall_status: NOT_YET_RECRUITING -> RECRUITING'
    """
    return f"{name}: {_show(old)} -> {_show(new)}"


def _md_describe(name: str, old: Any, new: Any) -> str:
    """One changed field in Markdown, values as code.

    >>> _md_describe("overall_status", "NOT_YET_RECRUITING", "RECRUITING")
    '`overall_status`: `NOT_YET_RECRUITING` → `RECRUITING`'
    """
    def code(text: str) -> str:
        return "`" + text.replace("`", "'") + "`"
    return f"{code(name)}: {code(_show(old))} → {code(_show(new))}"


def render(digest: Digest, fmt: str) -> str:
    """The digest as ``text``, ``json``, ``markdown`` or ``atom``."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if fmt == "json":
        return json.dumps(digest.as_dict(), indent=2, ensure_ascii=False)
    if fmt == "atom":
        return _atom(digest)
    return _markdown(digest) if fmt == "markdown" else _text(digest)


def _summary_line(digest: Digest) -> str:
    c = digest.counts()
    return (f"{c['new']} new trial(s); {c['status']} status, {c['phase']} phase, {c['enrollment']} enrollment, "
            f"{c['dates']} date and {c['other']} other change(s)")


def _text(digest: Digest) -> str:
    lines = [f"trialkb changes since {digest.since} (until {digest.until}; {digest.scope})", _summary_line(digest), ""]
    if digest.new:
        lines.append("New trials:")
        lines += [f"  {n.trial_id}  {n.status or '-'}  {n.title or ''}" for n in digest.new]
        lines.append("")
    if digest.changes:
        lines.append("Changes:")
        for c in digest.changes:
            lines.append(f"  {c.trial_id}  {c.date}  [{', '.join(c.kinds)}]  {c.title or ''}")
            lines += [f"      {describe(k, *pair)}" for k, pair in c.fields.items()]
    if not digest.new and not digest.changes:
        lines.append("Nothing changed.")
    return "\n".join(lines).rstrip() + "\n"


def _md_escape(text: str | None) -> str:
    return re.sub(r"([\\`*_\[\]<>|])", r"\\\1", text or "")


def _markdown(digest: Digest) -> str:
    lines = [f"# Trial changes since {digest.since[:10]}", "",
             f"{_summary_line(digest)} ({digest.scope}; until {digest.until}).", ""]
    if digest.new:
        lines += ["## New trials", ""]
        lines += [f"- [{n.trial_id}]({n.url}) ({n.status or 'status unknown'}): {_md_escape(n.title)}"
                  for n in digest.new]
        lines.append("")
    if digest.changes:
        lines += ["## Changes", ""]
        for c in digest.changes:
            lines.append(f"- [{c.trial_id}]({c.url}) {_md_escape(c.title)} ({', '.join(c.kinds)}; {c.date})")
            lines += [f"  - {_md_describe(k, *pair)}" for k, pair in c.fields.items()]
        lines.append("")
    if not digest.new and not digest.changes:
        lines += ["Nothing changed.", ""]
    return "\n".join(lines)


def _atom(digest: Digest) -> str:
    """The digest as an Atom 1.0 feed (RFC 4287): one entry per new trial and per change."""
    from feedgen.feed import FeedGenerator

    feed = FeedGenerator()
    feed.id("urn:trialkb:changes")
    feed.title("trialkb: changes in CAR cell-therapy trials")
    feed.subtitle(f"{_summary_line(digest)} since {digest.since} ({digest.scope})")
    feed.author({"name": "trialkb"})
    feed.link(href="https://clinicaltrials.gov/", rel="related")
    feed.generator("trialkb")
    feed.updated(digest.until)
    entries = [(n.first_seen_at, f"urn:trialkb:new:{n.trial_id}", f"New trial {n.trial_id}: {n.title or ''}",
                f"{n.trial_id} ({n.status or 'status unknown'}) was first stored {n.first_seen_at}.", n.url, ["new"])
               for n in digest.new]
    entries += [(f"{c.posted_date}T00:00:00+00:00" if c.posted_date else c.recorded_at, f"urn:trialkb:change:{c.trial_id}:{c.version_id}",
                 f"{c.trial_id} {', '.join(c.kinds)} change: {c.title or ''}",
                 "\n".join(describe(k, *pair) for k, pair in c.fields.items()), c.url, c.kinds)
                for c in digest.changes]
    for when, entry_id, title, summary, url, kinds in sorted(entries, key=lambda e: e[0]):
        entry = feed.add_entry(order="prepend")  # newest first
        entry.id(entry_id)
        entry.title(title.strip())
        entry.link(href=url, rel="alternate")
        entry.updated(when)
        entry.summary(summary)
        for kind in kinds:
            entry.category(term=kind)
    return feed.atom_str(pretty=True).decode("utf-8")
