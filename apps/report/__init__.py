"""The landscape report: one self-contained HTML file of the CAR trials in immune-mediated disease.

:func:`build_report` reads any store (SQLite or PostgreSQL) and returns the page: headline figures,
interactive charts (starts per year by modality and by disease, target x disease heatmap, phase by
sponsor type, status, countries), the product pipeline, the trial graph around the seed, what
changed since a date, and the selection ledger with the evidence for every trial. Each chart's data
is downloadable from the page as CSV. Modules: :mod:`apps.report.data` (queries and tables),
:mod:`apps.report.network` (the seed's neighbourhood),
:mod:`apps.report.comparison` (the seed against its most similar trials), :mod:`apps.report.charts` (Plotly figures),
:mod:`apps.report.page` (HTML).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from sqlalchemy import Engine

from kb.analysis.changes import Digest, collect_changes, describe, previous_run_start
from apps.report import charts as ch
from apps.report import data as rd
from apps.report.comparison import SEED_COMPARED, seed_comparison
from apps.report.network import SEED, seed_neighbourhood
from apps.report.page import render_page

__all__ = ["ReportResult", "build_report", "write_report"]

TITLE = "CAR cell therapies in immune-mediated disease: the trial landscape"


@dataclass
class ReportResult:
    """The page and what it holds (for the command's summary)."""

    html: str
    included: int
    fetched: int
    charts: list[str]
    since: str


def _run_text(run: dict | None) -> str:
    if not run:
        return "no finished run in the store's run log"
    counts = run.get("counts") or {}
    shown = ", ".join(f"{k} {v}" for k, v in counts.items() if isinstance(v, int) and k in
                      ("read", "new", "changed", "unchanged", "rejected", "studies", "pages"))
    finished = run.get("finished_at")
    return f"{run['kind']} #{run['id']} finished {finished:%Y-%m-%d %H:%M} UTC" + (f" ({shown})" if shown else "") \
        if finished else f"{run['kind']} #{run['id']}"


def _data_date(data: rd.ReportData) -> str:
    """The registry's data timestamp from the last crawl, else the newest update date among the records."""
    if data.data_timestamp:
        return f"ClinicalTrials.gov data of {data.data_timestamp}"
    newest = max((t.last_update for t in data.trials if t.last_update), default=None)
    return (f"registry records last updated up to {newest}" if newest else "no records") + \
        " (no crawl has recorded the registry's data timestamp)"


def _changes_table(digest: Digest) -> rd.Table:
    rows = [[n.trial_id, None, n.first_seen_at, "new", n.title or "", ""] for n in digest.new]
    rows += [[c.trial_id, c.posted_date, c.recorded_at, " ".join(c.kinds), c.title or "",
              "; ".join(describe(k, *pair) for k, pair in c.fields.items())] for c in digest.changes]
    return rd.Table(["trial_id", "registry_update", "recorded_at", "kind", "title", "what changed"], rows)


def _charts(data: rd.ReportData, funnel: list[tuple[str, int]]) -> list[ch.Chart]:
    """The page's charts, each with the table behind it (the graph is added by the caller)."""
    modality, disease = rd.starts_by(data, "modality"), rd.starts_by(data, "disease")
    target_disease, phase = rd.target_disease(data), rd.by_phase_and_sponsor(data)
    status, country = rd.by_status(data), rd.by_country(data)
    return [
        ch.Chart("starts-modality", "Trial starts per year, by modality",
                 "Start year of each included trial (actual or planned), stacked by platform.",
                 ch.stacked_bars(modality, "year", "modality"), modality),
        ch.Chart("starts-disease", "Trial starts per year, by disease",
                 "A basket trial counts once in each disease it enrols.",
                 ch.stacked_bars(disease, "year", "disease"), disease),
        ch.Chart("target-disease", "CAR target x disease",
                 "Included trials per target antigen of the CAR and disease category (the 15 most frequent of each).",
                 ch.heatmap(target_disease, "target", "disease"), target_disease),
        ch.Chart("phase-sponsor", "Phase, by sponsor type",
                 "Phases as registered (Phase 1/2 is one trial in both); sponsor type is the lead sponsor's class.",
                 ch.stacked_bars(phase, "phase", "sponsor type"), phase),
        ch.Chart("status", "Overall status", "The registry's overall recruitment status of each included trial.",
                 ch.bar_chart(status, "status"), status),
        ch.Chart("countries", "Countries",
                 "Included trials with a site in each country (the first 25; all in the CSV).",
                 ch.bar_chart(country, "country"), country),
        ch.Chart("funnel", "Selection ledger: fetched → CAR cell therapy → immune-mediated → included",
                 "How many stored trials pass each step of the selection.", ch.funnel(funnel),
                 rd.Table(["stage", "trials"], [list(stage) for stage in funnel])),
    ]


def build_report(engine: Engine, since: datetime | None = None, *, seed: str = SEED,
                 now: datetime | None = None) -> ReportResult:
    """The report page of a store; ``since`` defaults to the start of the newest finished run."""
    now = now or datetime.now(timezone.utc)
    data = rd.load_report_data(engine)
    since_note = "Since the date asked for"
    if since is None:
        since = previous_run_start(engine)
        since_note = "Since the previous run (the changes its newest run recorded)"
        if since is None:
            since, since_note = now - timedelta(days=7), "In the last 7 days (the run log is empty)"
    digest = collect_changes(engine, since, until=now)
    funnel, ledger = rd.ledger(data)
    charts = _charts(data, funnel)
    hood = seed_neighbourhood(engine, seed)
    if hood is not None:
        charts.insert(-1, ch.Chart(
            "network", f"The trial graph around the seed {seed}",
            "The seed, its most similar CAR trials and the products, targets, diseases, cells, origins and sponsors "
            "they share with it (force-directed layout; hover for details).", ch.network_chart(hood), hood.similar))
    groups: dict[str, list[list]] = {}
    for row in ledger.rows:
        groups.setdefault(row[1], []).append(row)
    c = digest.counts()
    html = render_page({
        "title": TITLE, "version": _version(), "dialect": data.dialect,
        "scope": "CAR cell therapies (CAR-T, CAR-NK and kin) in autoimmune and immune-mediated disease, "
                 "from the trialkb store; ClinicalTrials.gov records.",
        "data_date": _data_date(data), "run_text": _run_text(data.last_run),
        "built": now.strftime("%Y-%m-%d %H:%M UTC"),
        "headline": list(rd.headline(data).items()), "charts": charts, "pipeline": rd.pipeline(data),
        "similar": hood.similar if hood else None,
        "comparison": seed_comparison(engine, hood) if hood else None, "compared": SEED_COMPARED, "seed": seed,
        "since": since.strftime("%Y-%m-%d %H:%M UTC"),
        "since_note": since_note, "digest": digest, "changes_table": _changes_table(digest),
        "changes_summary": f"{c['new']} new trial(s), {c['status']} status, {c['phase']} phase, "
                           f"{c['enrollment']} enrollment, {c['dates']} date and {c['other']} other change(s)",
        "ledger": ledger, "ledger_groups": list(groups.items()),
    })
    return ReportResult(html=html, included=len(data.included), fetched=len(data.trials),
                        charts=[x.key for x in charts], since=since.isoformat(timespec="seconds"))


def write_report(engine: Engine, out: Path, since: datetime | None = None) -> ReportResult:
    """Build the report and write it to ``out``."""
    result = build_report(engine, since)
    out.write_text(result.html, encoding="utf-8")
    return result


def _version() -> str:
    try:
        return version("trialkb")
    except PackageNotFoundError:  # pragma: no cover - running from a checkout without install
        return "dev"
