"""What the report shows, read from the store: the selection of trials and the tables behind each chart.

:func:`load_report_data` reads the trials, their facts and conditions in a few queries (on SQLite
and PostgreSQL alike) and decides each trial's place in the selection ledger:
fetched -> CAR cell therapy -> immune-mediated -> included. Every other function here turns the
included trials into a small table (a list of rows) that a chart draws and the page offers as CSV.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select

from kb.domain.extract.origin import modality_for
from kb.domain.lexicon import DISEASES_BY_KEY, PRODUCTS_BY_CODE
from kb.store.models import RunLog, StoredProduct, Trial, TrialCondition, TrialFact
from kb.store.read import json_list, json_value
from kb.store.runlog import DATA_TIMESTAMP_KEY, get_state

__all__ = ["ReportData", "Table", "TrialRow", "load_report_data", "modality_of", "phase_label", "phase_rank",
           "disease_label", "headline", "starts_by", "target_disease", "by_phase_and_sponsor", "by_status",
           "by_country", "pipeline", "ledger", "DATA_TIMESTAMP_KEY"]

UNKNOWN_ENROLLMENT = 99_999_999
IMMUNE_DOMAINS = ("immune-mediated", "mixed")
_SKIP_COLUMNS = {"eligibility_criteria", "brief_summary", "detailed_description", "official_title", "warnings",
                 "secondary_ids", "keywords", "why_stopped"}
PHASE_ORDER = ("EARLY_PHASE1", "PHASE1", "PHASE2", "PHASE3", "PHASE4")


@dataclass
class Table:
    """A chart's data: column names and rows (what the page offers as CSV)."""

    columns: list[str]
    rows: list[list[Any]]

    def records(self) -> list[dict[str, Any]]:
        """The rows as dicts keyed by column."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


@dataclass
class TrialRow:
    """One trial as the report uses it, with its place in the selection ledger."""

    trial_id: str
    title: str
    status: str | None
    phases: list[str]
    start_year: int | None
    enrollment: int | None
    sponsor: str | None
    sponsor_class: str | None
    countries: list[str]
    is_car: bool | None
    car_evidence: str | None
    cell_type: str | None
    origin: str | None
    modality: str
    domain: str | None
    is_relevant: bool
    targets: list[str] = field(default_factory=list)
    products: list[str] = field(default_factory=list)
    diseases: list[str] = field(default_factory=list)
    disease_evidence: list[str] = field(default_factory=list)
    conditions: list[str] = field(default_factory=list)
    last_update: str | None = None
    other_ids: list[str] = field(default_factory=list)  # the trial's registrations in other registries

    @property
    def immune(self) -> bool:
        """Does the trial study an immune-mediated disease (its domain, or a disease category read)?"""
        if self.domain is not None:
            return self.domain in IMMUNE_DOMAINS
        return bool(self.diseases)

    @property
    def ledger(self) -> str:
        """Where the selection put it: included, or why not."""
        if self.is_car is None:
            return "undecided: CAR cell therapy unknown"
        if not self.is_car:
            return "excluded: not a CAR cell therapy"
        if not self.immune:
            return "excluded: no immune-mediated disease"
        return "included" if self.is_relevant else "excluded: not marked relevant"


@dataclass
class ReportData:
    """Every trial of the store (for the ledger) and the run and data date behind them."""

    trials: list[TrialRow]
    last_run: dict[str, Any] | None
    data_timestamp: str | None
    dialect: str
    learned: dict[str, dict[str, Any]] = field(default_factory=dict)  # code -> sources (kb.store.products)

    @property
    def included(self) -> list[TrialRow]:
        return [t for t in self.trials if t.ledger == "included"]


def phase_rank(phases: list[str]) -> int:
    """How far a trial has come: the index of its highest phase in PHASE_ORDER, -1 for none."""
    return max((PHASE_ORDER.index(p) for p in phases if p in PHASE_ORDER), default=-1)


def phase_label(phases: list[str]) -> str:
    """A trial's phases as people write them.

    >>> phase_label(["PHASE1", "PHASE2"]), phase_label(["EARLY_PHASE1"]), phase_label([])
    ('Phase 1/2', 'Early phase 1', 'not given')
    """
    known = sorted((p for p in phases if p in PHASE_ORDER), key=PHASE_ORDER.index)
    if not known:
        return "N/A" if "NA" in phases else "not given"
    if known == ["EARLY_PHASE1"]:
        return "Early phase 1"
    numbers = [p.removeprefix("EARLY_").removeprefix("PHASE") for p in known if p != "EARLY_PHASE1"] or ["1"]
    return "Phase " + "/".join(numbers)


def modality_of(row: dict[str, Any]) -> str:
    """The trial's platform: the store's ``modality`` when it has one, else the extraction's own rule
    (:func:`kb.domain.extract.origin.modality_for`) on its cell type and origin (a store not yet rebuilt).

    >>> modality_of({"cell_type": "T", "origin": "allogeneic"}), modality_of({"cell_type": "NK"})
    ('allogeneic CAR-T', 'CAR-NK')
    """
    if row.get("modality"):
        return str(row["modality"])
    return modality_for(row.get("cell_type"), row.get("origin"))


def disease_label(key: str) -> str:
    """A disease category's readable name."""
    return DISEASES_BY_KEY[key].label if key in DISEASES_BY_KEY else key


def load_report_data(engine: Engine) -> ReportData:
    """Read every trial with its facts, conditions, the newest run and the registry's data date."""
    trial = Trial.__table__
    columns = [c for c in trial.c if c.name not in _SKIP_COLUMNS]
    facts: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    evidence: dict[str, list[str]] = defaultdict(list)
    domain_evidence: dict[str, list[str]] = defaultdict(list)
    conditions: dict[str, list[str]] = defaultdict(list)
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(select(*columns).order_by(trial.c.trial_id)).mappings()]
        f = TrialFact.__table__.c
        for trial_id, kind, value, where, quote in conn.execute(
                select(f.trial_id, f.kind, f.value, f.field, f.evidence)
                .where(f.kind.in_(["target", "product", "disease", "domain"]))
                .order_by(f.trial_id, f.kind, f.value, f.field)):
            if kind == "domain":  # why the trial is in its domain, when the store says (newer extraction)
                domain_evidence[trial_id].append(quote or value)
                continue
            if value not in facts[trial_id][kind]:
                facts[trial_id][kind].append(value)
            if kind == "disease":
                evidence[trial_id].append(f"{disease_label(value)} ({where}: {quote or ''})")
        c = TrialCondition.__table__.c
        for trial_id, name in conn.execute(select(c.trial_id, c.name).order_by(c.trial_id, c.position)):
            conditions[trial_id].append(name)
        run = RunLog.__table__
        last = conn.execute(select(run).where(run.c.status == "ok").order_by(run.c.id.desc()).limit(1)
                            ).mappings().first()
        dialect = conn.dialect.name
    trials = []
    for row in rows:
        nct = row["trial_id"]
        start = row.get("start_date")
        enrollment = row.get("enrollment_count")
        trials.append(TrialRow(
            trial_id=nct, title=row.get("brief_title") or "", status=row.get("overall_status"),
            phases=json_list(row.get("phases")), start_year=int(start[:4]) if start else None,
            enrollment=enrollment if enrollment is not None and enrollment < UNKNOWN_ENROLLMENT else None,
            sponsor=row.get("sponsor"), sponsor_class=row.get("sponsor_class"),
            countries=json_list(row.get("countries")), is_car=row.get("is_car_therapy"),
            car_evidence=row.get("car_evidence"), cell_type=row.get("cell_type"), origin=row.get("origin"),
            modality=modality_of(row), domain=row.get("domain"), is_relevant=bool(row.get("is_relevant")),
            targets=facts[nct]["target"], products=facts[nct]["product"],
            diseases=facts[nct]["disease"], disease_evidence=_disease_evidence(domain_evidence[nct], evidence[nct],
                                                                      facts[nct]["disease"]),
            conditions=conditions[nct], last_update=row.get("last_update_posted_date")))
    with engine.connect() as conn:
        learned = {code: (json_value(sources) or {}) for code, sources in conn.execute(
            select(StoredProduct.code, StoredProduct.sources).where(StoredProduct.status == "learned"))}
    return ReportData(trials=_once_per_trial(engine, trials), last_run=dict(last) if last else None,
                      data_timestamp=get_state(engine, DATA_TIMESTAMP_KEY), dialect=dialect, learned=learned)


def facts_from(product: str, known: Any, learned: dict[str, dict[str, Any]]) -> str:
    """Where a product's facts come from: the curated lexicon, the store's trials (each fact with the
    trial and field it was read in), or only the trials' own text."""
    parts = ["lexicon"] if known is not None and (known.targets or known.cell_type or known.origin) else []
    sources = learned.get(product.upper(), {})
    parts += [f"{kind} learned from {s['trial_id']} ({s['field']})" for kind, s in sorted(sources.items())]
    return "; ".join(parts) or "the trials' own text"


def _once_per_trial(engine: Engine, trials: list[TrialRow]) -> list[TrialRow]:
    """A trial registered in several registries once: its preferred registration, the others' ids in
    ``other_ids`` (kb.store.registrations)."""
    from kb.store.read import reader_of
    from kb.store.registrations import all_groups

    with reader_of(engine) as reader:
        group = all_groups(reader)
    members: dict[str, list[str]] = defaultdict(list)
    for trial in trials:
        members[group.get(trial.trial_id, trial.trial_id)].append(trial.trial_id)
    out = []
    for trial in trials:
        representative = group.get(trial.trial_id, trial.trial_id)
        if representative == trial.trial_id:
            trial.other_ids = sorted(i for i in members[representative] if i != trial.trial_id)
            out.append(trial)
    return out


def _disease_evidence(domain: list[str], quotes: list[str], diseases: list[str]) -> list[str]:
    """Why a trial is (not) in immune-mediated disease: the store's domain reason and the diseases read,
    or (older stores) each disease with its quote."""
    if not domain:
        return quotes
    return domain + ([f"diseases read: {', '.join(disease_label(d) for d in diseases)}"] if diseases else [])


# ------------------------------------------------------------------ tables behind the charts

def headline(data: ReportData) -> dict[str, int]:
    """The figures at the top of the report."""
    inc = data.included
    return {"trials": len(inc),
            "recruiting": sum(t.status == "RECRUITING" for t in inc),
            "planned enrollment": sum(t.enrollment or 0 for t in inc),
            "products": len({p for t in inc for p in t.products}),
            "sponsors": len({t.sponsor for t in inc if t.sponsor}),
            "countries": len({c for t in inc for c in t.countries})}


def starts_by(data: ReportData, key: str) -> Table:
    """Trial starts per year by modality or by disease (a trial in several diseases counts in each)."""
    counts: Counter[tuple[int, str]] = Counter()
    for t in data.included:
        if t.start_year is None:
            continue
        groups = [t.modality] if key == "modality" else [disease_label(d) for d in t.diseases] or ["(none read)"]
        for group in groups:
            counts[(t.start_year, group)] += 1
    return Table(["year", key, "trials"], [[y, g, n] for (y, g), n in sorted(counts.items())])


def target_disease(data: ReportData) -> Table:
    """Included trials per CAR target x disease category."""
    counts: Counter[tuple[str, str]] = Counter()
    for t in data.included:
        for target in t.targets or ["(not read)"]:
            for disease in t.diseases:
                counts[(target, disease_label(disease))] += 1
    return Table(["target", "disease", "trials"], [[a, b, n] for (a, b), n in sorted(counts.items())])


def by_phase_and_sponsor(data: ReportData) -> Table:
    """Included trials per phase and sponsor type."""
    counts = Counter((phase_label(t.phases), t.sponsor_class or "UNKNOWN") for t in data.included)
    order = ["Early phase 1", "Phase 1", "Phase 1/2", "Phase 2", "Phase 2/3", "Phase 3", "Phase 4", "N/A", "not given"]
    return Table(["phase", "sponsor type", "trials"],
                 [[p, s, n] for (p, s), n in sorted(counts.items(),
                                                     key=lambda i: (order.index(i[0][0]) if i[0][0] in order else 99,
                                                                    i[0][1]))])


def by_status(data: ReportData) -> Table:
    """Included trials per overall status, most first."""
    counts = Counter(t.status or "not given" for t in data.included)
    return Table(["status", "trials"], [[s, n] for s, n in counts.most_common()])


def by_country(data: ReportData) -> Table:
    """Included trials per country (a trial with sites in several counts in each), most first."""
    counts = Counter(c for t in data.included for c in t.countries)
    return Table(["country", "trials"], [[c, n] for c, n in sorted(counts.items(), key=lambda i: (-i[1], i[0]))])


def pipeline(data: ReportData) -> Table:
    """One row per product of the included trials: developer, target, cell and origin, diseases, furthest phase."""
    trials_of: dict[str, list[TrialRow]] = defaultdict(list)
    for t in data.included:
        for product in t.products:
            trials_of[product].append(t)
    rows = []
    for product, trials in trials_of.items():
        known = PRODUCTS_BY_CODE.get(product.upper())  # co-medications are facts of their own (kb.domain.extract)
        sponsors = Counter(t.sponsor for t in trials if t.sponsor)
        targets = list(known.targets) if known and known.targets else sorted({x for t in trials for x in t.targets})
        origin = known.origin if known and known.origin else None
        cells = sorted({t.modality if not origin or origin in t.modality else f"{t.modality} ({origin})"
                        for t in trials})
        furthest = max(trials, key=lambda t: phase_rank(t.phases))
        rows.append([product, (known.developer if known and known.developer else None) or
                     (sponsors.most_common(1)[0][0] if sponsors else ""),
                     "/".join(targets), ", ".join(cells),
                     ", ".join(sorted({disease_label(d) for t in trials for d in t.diseases})),
                     phase_label(furthest.phases), len(trials), " ".join(sorted(t.trial_id for t in trials)),
                     facts_from(product, known, data.learned)])
    rows.sort(key=lambda r: (-PHASE_LABEL_RANK.get(r[5], -1), -r[6], r[0]))
    return Table(["product", "developer", "target", "cell and origin", "diseases", "furthest phase", "trials",
                  "trial ids", "facts from"], rows)


PHASE_LABEL_RANK = {"Phase 4": 6, "Phase 3": 5, "Phase 2/3": 4, "Phase 2": 3, "Phase 1/2": 2, "Phase 1": 1,
                    "Early phase 1": 0}


def ledger(data: ReportData) -> tuple[list[tuple[str, int]], Table]:
    """The selection funnel (stage, trials) and every trial's row with the evidence for its place."""
    trials = data.trials
    car = [t for t in trials if t.is_car]
    immune = [t for t in car if t.immune]
    funnel = [("fetched", len(trials)), ("CAR cell therapy", len(car)), ("immune-mediated", len(immune)),
              ("included", len(data.included))]
    rows = [[t.trial_id, t.ledger, t.title, t.car_evidence or "", "; ".join(t.disease_evidence),
             "; ".join(t.conditions)]
            for t in sorted(trials, key=lambda t: (LEDGER_ORDER.get(t.ledger, 9), t.trial_id))]
    return funnel, Table(["trial_id", "decision", "title", "CAR evidence", "disease evidence", "conditions"], rows)


LEDGER_ORDER = {"included": 0, "undecided: CAR cell therapy unknown": 1, "excluded: not marked relevant": 2,
                "excluded: no immune-mediated disease": 3, "excluded: not a CAR cell therapy": 4}
