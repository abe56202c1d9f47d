"""The one schema source: SQLModel tables of the knowledge base.

Alembic migrations are generated from this module (``kb/store/migrations``); the normalizer
(``kb.domain.normalize``) produces plain dicts whose keys are these column names, and the store
(``kb.store.write``) writes them with SQLAlchemy Core for speed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, LargeBinary, String, Text
from sqlmodel import Field, SQLModel


TRIAL_ID_LENGTH = 40
"""Room for every registry's id (the longest, EUCTR and CTRI ones, are about 22 characters)."""


def _trial_fk() -> Any:
    """A foreign key column to trial.trial_id that deletes with its trial."""
    return Column(String(TRIAL_ID_LENGTH), ForeignKey("trial.trial_id", ondelete="CASCADE"), primary_key=True)


def _json(**kwargs: Any) -> Any:
    """A JSON column where None is SQL NULL (not the JSON text 'null')."""
    return Field(default=None, sa_column=Column(JSON(none_as_null=True), **kwargs))


def _text() -> Any:
    return Field(default=None, sa_column=Column(Text))


class Trial(SQLModel, table=True):
    """One registration of a trial, normalized; the registry's own id (kb.core.ids) is the natural key."""

    __tablename__ = "trial"

    trial_id: str = Field(primary_key=True, max_length=TRIAL_ID_LENGTH)
    nct_id: Optional[str] = Field(default=None, max_length=11, unique=True, index=True)  # the ClinicalTrials.gov id, if this is one
    registry_name: str = Field(default="ctgov", max_length=16)  # kb.core.ids slug: ctgov, ctis, chictr, ...
    org_study_id: Optional[str] = None
    secondary_ids: Optional[list] = _json()
    brief_title: Optional[str] = _text()
    official_title: Optional[str] = _text()
    acronym: Optional[str] = None
    organization: Optional[str] = None
    organization_class: Optional[str] = None

    overall_status: Optional[str] = Field(default=None, index=True)
    last_known_status: Optional[str] = None
    why_stopped: Optional[str] = _text()
    study_type: Optional[str] = None
    phases: Optional[list] = _json()
    allocation: Optional[str] = None
    intervention_model: Optional[str] = None
    primary_purpose: Optional[str] = None
    masking: Optional[str] = None
    enrollment_count: Optional[int] = None
    enrollment_type: Optional[str] = None

    start_date: Optional[str] = Field(default=None, max_length=10)
    start_date_precision: Optional[str] = None
    start_date_type: Optional[str] = None
    primary_completion_date: Optional[str] = Field(default=None, max_length=10)
    primary_completion_date_precision: Optional[str] = None
    primary_completion_date_type: Optional[str] = None
    completion_date: Optional[str] = Field(default=None, max_length=10)
    completion_date_precision: Optional[str] = None
    completion_date_type: Optional[str] = None
    first_posted_date: Optional[str] = Field(default=None, max_length=10)
    last_update_posted_date: Optional[str] = Field(default=None, max_length=10, index=True)
    verified_date: Optional[str] = Field(default=None, max_length=10)

    sponsor: Optional[str] = Field(default=None, index=True)
    sponsor_class: Optional[str] = None
    countries: Optional[list] = _json()
    site_count: int = 0

    sex: Optional[str] = None
    minimum_age: Optional[str] = None
    maximum_age: Optional[str] = None
    healthy_volunteers: Optional[bool] = None
    std_ages: Optional[list] = _json()
    eligibility_criteria: Optional[str] = _text()
    brief_summary: Optional[str] = _text()
    detailed_description: Optional[str] = _text()
    keywords: Optional[list] = _json()
    has_results: Optional[bool] = None

    # Domain facts (kb.domain.extract); the evidence for each is in trial_fact.
    is_car_therapy: Optional[bool] = Field(default=None, index=True)
    car_evidence: Optional[str] = _text()
    cell_type: Optional[str] = None
    origin: Optional[str] = None
    targets: Optional[list] = _json()
    products: Optional[list] = _json()
    disease_categories: Optional[list] = _json()
    armoring: Optional[list] = _json()
    lymphodepletion: Optional[list] = _json()
    modality: Optional[str] = Field(default=None, max_length=24, index=True)
    domain: Optional[str] = Field(default=None, max_length=16, index=True)
    is_relevant: bool = Field(default=False, index=True)

    warnings: Optional[list] = _json()
    content_hash: str = Field(max_length=64)
    source: Optional[str] = _text()
    first_seen_at: datetime
    updated_at: datetime
    normalizer_version: int = 1


class TrialCondition(SQLModel, table=True):
    """A condition string as registered (HTML entities decoded)."""

    __tablename__ = "trial_condition"
    trial_id: str = Field(sa_column=_trial_fk())
    position: int = Field(primary_key=True)
    name: str = Field(sa_column=Column(Text, nullable=False))


class Intervention(SQLModel, table=True):
    """An intervention of a trial, with its arm labels."""

    __tablename__ = "intervention"
    trial_id: str = Field(sa_column=_trial_fk())
    position: int = Field(primary_key=True)
    type: Optional[str] = None
    name: Optional[str] = _text()
    description: Optional[str] = _text()
    other_names: Optional[list] = _json()
    arm_labels: Optional[list] = _json()


class ArmGroup(SQLModel, table=True):
    """An arm (group) of a trial."""

    __tablename__ = "arm_group"
    trial_id: str = Field(sa_column=_trial_fk())
    position: int = Field(primary_key=True)
    label: Optional[str] = _text()
    type: Optional[str] = None
    description: Optional[str] = _text()


class Outcome(SQLModel, table=True):
    """A primary, secondary or other outcome measure."""

    __tablename__ = "outcome"
    trial_id: str = Field(sa_column=_trial_fk())
    kind: str = Field(primary_key=True, max_length=16)
    position: int = Field(primary_key=True)
    measure: Optional[str] = _text()
    description: Optional[str] = _text()
    time_frame: Optional[str] = _text()


class Location(SQLModel, table=True):
    """A trial site."""

    __tablename__ = "location"
    trial_id: str = Field(sa_column=_trial_fk())
    position: int = Field(primary_key=True)
    facility: Optional[str] = _text()
    city: Optional[str] = None
    state: Optional[str] = None
    country: Optional[str] = Field(default=None, index=True)
    status: Optional[str] = None


class Sponsor(SQLModel, table=True):
    """An organisation that sponsors or collaborates on trials."""

    __tablename__ = "sponsor"
    name: str = Field(primary_key=True)
    agency_class: Optional[str] = None


class TrialSponsor(SQLModel, table=True):
    """Link trial -- sponsor, carrying the role (lead or collaborator)."""

    __tablename__ = "trial_sponsor"
    trial_id: str = Field(sa_column=_trial_fk())
    sponsor_name: str = Field(foreign_key="sponsor.name", primary_key=True)
    role: str = Field(primary_key=True, max_length=16)


class MeshTerm(SQLModel, table=True):
    """A MeSH descriptor or supplementary concept (``D008180``, ``C582435``)."""

    __tablename__ = "mesh_term"
    mesh_id: str = Field(primary_key=True, max_length=16)
    term: str


class TrialMesh(SQLModel, table=True):
    """Link trial -- MeSH term: which browse module, and whether it is an ancestor."""

    __tablename__ = "trial_mesh"
    __table_args__ = (Index("ix_trial_mesh_mesh_id", "mesh_id"),)
    trial_id: str = Field(sa_column=_trial_fk())
    domain: str = Field(primary_key=True, max_length=16)  # condition | intervention
    mesh_id: str = Field(foreign_key="mesh_term.mesh_id", primary_key=True, max_length=16)
    is_ancestor: bool = False


class TrialFact(SQLModel, table=True):
    """An extracted domain fact and where it was found (kb.domain.extract).

    ``kind`` is one of target, cell_type, origin, modality, product, disease, cancer, domain,
    armoring, lymphodepletion, dose_level, endpoint (field primary_outcome / secondary_outcome /
    other_outcome), car_evidence; ``code`` holds a MeSH id for diseases
    and cancers.
    """

    __tablename__ = "trial_fact"
    __table_args__ = (Index("ix_trial_fact_kind_value", "kind", "value"),)
    trial_id: str = Field(sa_column=_trial_fk())
    kind: str = Field(primary_key=True, max_length=24)
    value: str = Field(primary_key=True)
    field: str = Field(primary_key=True, max_length=64)
    code: Optional[str] = None
    evidence: Optional[str] = _text()


class ResultGroup(SQLModel, table=True):
    """A group (arm) of a results module as posted (``FG000`` flow, ``BG000`` baseline, ``EG000`` adverse
    events), with the adverse-event totals of an ``EG`` group."""

    __tablename__ = "result_group"
    trial_id: str = Field(sa_column=_trial_fk())
    module: str = Field(primary_key=True, max_length=16)  # flow, baseline, adverse
    group_code: str = Field(primary_key=True, max_length=16)
    title: Optional[str] = _text()
    description: Optional[str] = _text()
    deaths_affected: Optional[int] = None
    deaths_at_risk: Optional[int] = None
    serious_affected: Optional[int] = None
    serious_at_risk: Optional[int] = None
    other_affected: Optional[int] = None
    other_at_risk: Optional[int] = None


class ResultFlow(SQLModel, table=True):
    """Participant flow: a milestone (STARTED, COMPLETED ...) or a withdrawal reason, per period and group."""

    __tablename__ = "result_flow"
    trial_id: str = Field(sa_column=_trial_fk())
    position: int = Field(primary_key=True)
    period: Optional[str] = _text()
    step: str = Field(max_length=16)  # milestone, withdrawal
    label: Optional[str] = _text()
    group_code: Optional[str] = Field(default=None, max_length=16)
    count: Optional[int] = None


class Measurement(SQLModel):
    """What a posted value of a baseline or outcome measure holds: where it sits (class, category,
    group) and the value with its spread or limits, as posted (text)."""

    class_title: Optional[str] = Field(default=None, sa_type=Text)
    category: Optional[str] = Field(default=None, sa_type=Text)
    group_code: Optional[str] = Field(default=None, max_length=16)
    value: Optional[str] = None
    spread: Optional[str] = None
    lower: Optional[str] = None
    upper: Optional[str] = None


class ResultBaseline(Measurement, table=True):
    """A baseline characteristic's value for one class, category and group."""

    __tablename__ = "result_baseline"
    trial_id: str = Field(sa_column=_trial_fk())
    position: int = Field(primary_key=True)
    measure: Optional[str] = _text()
    param_type: Optional[str] = None
    unit: Optional[str] = _text()


class ResultOutcome(SQLModel, table=True):
    """A posted outcome measure and the endpoint kinds it is of (``kb.domain.lexicon.ENDPOINTS``)."""

    __tablename__ = "result_outcome"
    trial_id: str = Field(sa_column=_trial_fk())
    position: int = Field(primary_key=True)
    type: Optional[str] = None  # PRIMARY, SECONDARY, OTHER_PRE_SPECIFIED, POST_HOC
    title: Optional[str] = _text()
    description: Optional[str] = _text()
    time_frame: Optional[str] = _text()
    population: Optional[str] = _text()
    param_type: Optional[str] = None
    dispersion: Optional[str] = None
    unit: Optional[str] = _text()
    reporting_status: Optional[str] = None
    endpoint_kinds: Optional[list] = _json()


class ResultValue(Measurement, table=True):
    """A value of a posted outcome measure for one group (its title as the measure names it), class and category."""

    __tablename__ = "result_value"
    trial_id: str = Field(sa_column=_trial_fk())
    position: int = Field(primary_key=True)
    outcome_position: int
    group_title: Optional[str] = _text()
    participants: Optional[int] = None


class ResultEvent(SQLModel, table=True):
    """An adverse event term (serious or other) in one group: events, participants affected and at risk."""

    __tablename__ = "result_event"
    __table_args__ = (Index("ix_result_event_term", "term"),)
    trial_id: str = Field(sa_column=_trial_fk())
    seriousness: str = Field(primary_key=True, max_length=16)  # serious, other
    position: int = Field(primary_key=True)
    group_code: str = Field(primary_key=True, max_length=16)
    term: Optional[str] = Field(default=None, sa_column=Column(Text))
    organ_system: Optional[str] = _text()
    num_events: Optional[int] = None
    num_affected: Optional[int] = None
    num_at_risk: Optional[int] = None


class RawRecord(SQLModel, table=True):
    """The record exactly as fetched (zstd-compressed canonical JSON; zlib in older stores) with its content hash."""

    __tablename__ = "raw_record"
    trial_id: str = Field(sa_column=_trial_fk())
    content_hash: str = Field(max_length=64)
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    source: Optional[str] = _text()
    fetched_at: datetime
    checked_at: datetime = Field(index=True)


class TrialVersion(SQLModel, table=True):
    """A content change of a trial, with a field-level diff ``{field: [old, new]}``.

    ``posted_date`` is the registry's last-update date of the newer record (the change's date),
    ``source`` where the newer record came from and ``old_source`` the older one; ``late`` marks a
    row written when the newer record was already stored (an older record that arrived later):
    history, never news. Rows from before migration 0010 hold NULL where they did not record it.
    """

    __tablename__ = "trial_version"
    id: Optional[int] = Field(default=None, primary_key=True)
    trial_id: str = Field(index=True, max_length=TRIAL_ID_LENGTH)
    recorded_at: datetime
    old_hash: str = Field(max_length=64)
    new_hash: str = Field(max_length=64)
    diff: dict = Field(sa_column=Column(JSON, nullable=False))
    source: Optional[str] = _text()
    posted_date: Optional[str] = Field(default=None, max_length=10)
    old_source: Optional[str] = _text()
    late: Optional[bool] = None


class RunLog(SQLModel, table=True):
    """One run of a job (import, crawl): when, what, counts and errors."""

    __tablename__ = "run_log"
    id: Optional[int] = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16, index=True)
    started_at: datetime
    finished_at: Optional[datetime] = None
    status: str = Field(default="running", max_length=16)  # running, ok, failed, interrupted, abandoned...
    pid: Optional[int] = None  # the process running it, so that a later run can tell a dead one
    host: Optional[str] = Field(default=None, max_length=255)
    args: Optional[dict] = _json()
    counts: Optional[dict] = _json()
    errors: Optional[list] = _json()


class RejectedRecord(SQLModel, table=True):
    """A fetched record the normalizer refused, kept raw (zstd JSON) with the reason; ``trialkb rebuild``
    stores it once a fixed normalizer accepts it."""

    __tablename__ = "rejected_record"
    id: Optional[int] = Field(default=None, primary_key=True)
    trial_id: Optional[str] = Field(default=None, index=True, max_length=TRIAL_ID_LENGTH)
    origin: str = Field(sa_column=Column(Text, nullable=False))
    reason: str = Field(sa_column=Column(Text, nullable=False))
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    run_id: Optional[int] = None
    rejected_at: datetime


class CrawlState(SQLModel, table=True):
    """Key-value state of the jobs: the crawler's per-query watermarks and the API's data timestamp;
    whether the learned products are stale (``kb.store.products.STALE_KEY``)."""

    __tablename__ = "crawl_state"
    key: str = Field(primary_key=True)
    value: str
    updated_at: datetime


class StoredProduct(SQLModel, table=True):
    """A product learned from the store's trials (kb.domain.learned): its facts, the reading each
    rests on, the trials naming it; recomputed whole on import, crawl and rebuild."""

    __tablename__ = "product"
    code: str = Field(primary_key=True, max_length=64)
    status: str = Field(max_length=16, index=True)  # learned | candidate
    facts: Optional[dict] = _json()
    sources: Optional[dict] = _json()
    trials: Optional[list] = _json()
    reason: Optional[str] = _text()


class ProductFill(SQLModel, table=True):
    """A trial's own column values before learned products filled them (restored before relearning)."""

    __tablename__ = "product_fill"
    trial_id: str = Field(sa_column=_trial_fk())
    own: dict = Field(sa_column=Column(JSON, nullable=False))
    given: dict = Field(sa_column=Column(JSON, nullable=False))


class TrialLink(SQLModel, table=True):
    """A registry id a trial's record names, as its normalised key (kb.domain.links): its own id
    (``field`` 'self') and the ids of its other registrations. Two trials sharing a key are one trial."""

    __tablename__ = "trial_link"
    __table_args__ = (Index("ix_trial_link_key", "key"),)
    trial_id: str = Field(sa_column=_trial_fk())
    key: str = Field(primary_key=True, max_length=64)
    named_id: str = Field(max_length=TRIAL_ID_LENGTH)
    field: str = Field(max_length=128)


class LinkReview(SQLModel, table=True):
    """A person's decision on a proposed link (a likeness of title, sponsor and start date):
    ``confirmed`` makes the two registrations one trial, ``rejected`` stops proposing it.
    ``trial_id`` sorts before ``other_id``."""

    __tablename__ = "link_review"
    trial_id: str = Field(primary_key=True, max_length=TRIAL_ID_LENGTH)
    other_id: str = Field(primary_key=True, max_length=TRIAL_ID_LENGTH)
    status: str = Field(max_length=16)
    score: Optional[float] = None
    reasons: Optional[list] = _json()
    decided_at: datetime


class ImportLedger(SQLModel, table=True):
    """Every study an import has read, stored or not: its record's hash and what was decided, so that the next
    import of an archive re-reads only what changed (``kb.ingest.triage``)."""

    __tablename__ = "import_ledger"
    trial_id: str = Field(primary_key=True, max_length=TRIAL_ID_LENGTH)
    last_update: Optional[str] = Field(default=None, max_length=10)  # lastUpdatePostDate as the record states it
    record_hash: str = Field(max_length=64)  # XXH3-128 of the record's bytes as read, versionHolder cut out (SHA-256 before December 2026)
    member: Optional[str] = Field(default=None, index=True)  # the archive member it was alone in
    member_crc: Optional[int] = Field(default=None, sa_type=BigInteger)  # that member's CRC-32 and size
    member_size: Optional[int] = Field(default=None, sa_type=BigInteger)
    decision: str = Field(max_length=16)  # "stored" or "skipped"
    reason: Optional[str] = _text()  # why it was skipped: no cue, or the rules' evidence
    rules: str = Field(max_length=40)  # which rules and selection decided (kb.domain.extract.select.rules_key)
    run_id: Optional[int] = None
    seen_at: datetime


CHILD_TABLES = ("trial_condition", "intervention", "arm_group", "outcome", "location",
                "trial_sponsor", "trial_mesh", "trial_fact", "trial_link",
                "result_group", "result_flow", "result_baseline", "result_outcome", "result_value", "result_event")
"""Tables that hold a trial's rows besides ``trial``; replaced whole when it changes."""
