"""One normalizer from a ClinicalTrials.gov API v2 study to the knowledge base's rows.

Pure functions: no database, no network. The crawl pipeline and the bulk import both call
:func:`normalize_study`. A full record or a ``fields=`` subset is accepted; HTML entities are
decoded, partial dates stay partial, unknown enum values are kept with a warning. A record
that cannot be read (not a v2 study, wrong types) raises :class:`RecordError` with the reason.
"""

from __future__ import annotations

import hashlib
import html
import re
import reprlib
from dataclasses import dataclass, field
from typing import Any

import orjson

from kb.core.ids import is_nct_id
from kb.domain import extract
from kb.domain.results import parse_results

NORMALIZER_VERSION = 1

OVERALL_STATUSES = frozenset({
    "ACTIVE_NOT_RECRUITING", "COMPLETED", "ENROLLING_BY_INVITATION", "NOT_YET_RECRUITING",
    "RECRUITING", "SUSPENDED", "TERMINATED", "WITHDRAWN", "AVAILABLE", "NO_LONGER_AVAILABLE",
    "TEMPORARILY_NOT_AVAILABLE", "APPROVED_FOR_MARKETING", "WITHHELD", "UNKNOWN",
})
PHASES = frozenset({"NA", "EARLY_PHASE1", "PHASE1", "PHASE2", "PHASE3", "PHASE4"})
STUDY_TYPES = frozenset({"EXPANDED_ACCESS", "INTERVENTIONAL", "OBSERVATIONAL"})
DATE_TYPES = frozenset({"ACTUAL", "ESTIMATED"})

_DATE = re.compile(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?$")

VOLATILE_KEY = b'"versionHolder":"'
"""``derivedSection.miscInfoModule.versionHolder`` changes every day without the study changing; not hashed."""

TRACKED_FIELDS = (
    "overall_status", "last_known_status", "why_stopped", "phases", "study_type",
    "enrollment_count", "enrollment_type",
    "start_date", "start_date_type", "primary_completion_date", "primary_completion_date_type",
    "completion_date", "completion_date_type", "last_update_posted_date", "verified_date",
    "brief_title", "official_title", "sponsor", "countries", "site_count",
    "minimum_age", "maximum_age", "sex", "eligibility_criteria", "has_results",
    "targets", "cell_type", "origin", "modality", "domain", "products", "disease_categories", "is_car_therapy",
)
"""Trial fields whose changes a version row records (plus conditions and interventions)."""


class RecordError(ValueError):
    """A record that cannot be normalized; the message says why."""


@dataclass
class NormalizedStudy:
    """A study as rows: ``trial`` plus child rows per table, entities, and warnings."""

    trial_id: str
    trial: dict[str, Any]
    children: dict[str, list[dict[str, Any]]]
    mesh_terms: dict[str, str]
    sponsors: dict[str, str | None]
    warnings: list[str] = field(default_factory=list)

    def snapshot(self) -> dict[str, Any]:
        """The tracked fields a version diff compares."""
        snap = {name: self.trial.get(name) for name in TRACKED_FIELDS}
        snap["conditions"] = [row["name"] for row in self.children["trial_condition"]]
        snap["interventions"] = [
            f"{row['type'] or ''}: {row['name'] or ''}" for row in self.children["intervention"]
        ]
        return snap


# ---------------------------------------------------------------- reading helpers

def _get(obj: dict, path: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
    """Value at a dotted path, type-checked; missing gives ``default``.

    Indexed straight through first: of JSON's values only an object takes a string key, so when no
    step raises, every step was an object (a quarter of the time); else the careful walk says why.
    """
    keys = _KEYS.get(path) or _keys(path)
    try:
        value: Any = obj
        for key in keys:
            value = value[key]
    except (KeyError, TypeError, IndexError):
        return _get_careful(obj, path, kind, default)
    if value is None:
        return default
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    return _get_careful(obj, path, kind, default)


def _get_careful(obj: dict, path: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
    """:func:`_get`, one step at a time: a step through anything but an object is a :class:`RecordError`."""
    value: Any = obj
    for key in _KEYS.get(path) or _keys(path):
        if not isinstance(value, dict):
            raise RecordError(f"{path}: expected an object on the way, got {type(value).__name__}")
        value = value.get(key)
        if value is None:
            return default
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
    raise RecordError(f"{path}: expected {names}, got {type(value).__name__} {reprlib.repr(value):.60}")


_KEYS: dict[str, tuple[str, ...]] = {}
"""The keys of each dotted path :func:`_get` was given (a study asks for about a hundred, always the same)."""


def _keys(path: str) -> tuple[str, ...]:
    keys = _KEYS[path] = tuple(path.split("."))
    return keys


_MARKDOWN_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
"""A CommonMark backslash escape (the API's default markup: ``\\>=``, ``\\[``)."""


def _text(value: Any, path: str = "text") -> str | None:
    """A string with CommonMark escapes and HTML entities decoded and whitespace trimmed."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise RecordError(f"{path}: expected str, got {type(value).__name__}")
    if "\\" in value:
        value = _MARKDOWN_ESCAPE.sub(r"\1", value)
    if "&" in value:
        value = html.unescape(value)
    value = value.strip()
    return value or None


def _list(obj: dict, path: str) -> list:
    return _get(obj, path, list, default=[])


def _enum(value: Any, allowed: frozenset[str], what: str, warnings: list[str]) -> str | None:
    """An enum value; an unknown one is kept and warned about."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise RecordError(f"{what}: expected str, got {type(value).__name__}")
    if value not in allowed:
        warnings.append(f"unknown {what} value {value!r} kept as is")
    return value


def _parse_date(struct: Any, what: str, warnings: list[str]) -> tuple[str | None, str | None, str | None]:
    """(date, precision, type) from a date struct; partial dates stay partial."""
    if struct is None:
        return None, None, None
    if isinstance(struct, str):
        struct = {"date": struct}
    if not isinstance(struct, dict):
        raise RecordError(f"{what}: expected a date struct, got {type(struct).__name__}")
    raw = struct.get("date")
    date_type = _enum(struct.get("type"), DATE_TYPES, f"{what}.type", warnings)
    if raw is None:
        return None, None, date_type
    match = _DATE.match(raw) if isinstance(raw, str) else None
    if not match:
        warnings.append(f"{what}: unreadable date {raw!r} not stored")
        return None, None, date_type
    precision = "day" if match.group(3) else "month" if match.group(2) else "year"
    return raw, precision, date_type


# ---------------------------------------------------------------- record parts

def _parse_identification(ident: dict, warnings: list[str]) -> dict[str, Any]:
    """Ids, titles and organisation."""
    return {
        "org_study_id": _text(_get(ident, "orgStudyIdInfo.id", str)),
        "secondary_ids": [
            {"id": _text(s.get("id")), "type": s.get("type"), "domain": _text(s.get("domain"))}
            for s in _get(ident, "secondaryIdInfos", list, []) if isinstance(s, dict)
        ],
        "brief_title": _text(_get(ident, "briefTitle", str)),
        "official_title": _text(_get(ident, "officialTitle", str)),
        "acronym": _text(_get(ident, "acronym", str)),
        "organization": _text(_get(ident, "organization.fullName", str)),
        "organization_class": _get(ident, "organization.class", str),
    }


def _parse_status(status: dict, warnings: list[str]) -> dict[str, Any]:
    """Overall status, last known status and the dates."""
    row: dict[str, Any] = {
        "overall_status": _enum(status.get("overallStatus"), OVERALL_STATUSES, "overallStatus", warnings),
        "last_known_status": _enum(status.get("lastKnownStatus"), OVERALL_STATUSES, "lastKnownStatus", warnings),
        "why_stopped": _text(_get(status, "whyStopped", str)),
    }
    for column, key in (("start_date", "startDateStruct"),
                        ("primary_completion_date", "primaryCompletionDateStruct"),
                        ("completion_date", "completionDateStruct")):
        date, precision, date_type = _parse_date(status.get(key), key, warnings)
        row[column], row[f"{column}_precision"], row[f"{column}_type"] = date, precision, date_type
    row["first_posted_date"] = _parse_date(status.get("studyFirstPostDateStruct"), "studyFirstPostDateStruct", warnings)[0]
    row["last_update_posted_date"] = _parse_date(status.get("lastUpdatePostDateStruct"), "lastUpdatePostDateStruct", warnings)[0]
    row["verified_date"] = _parse_date(status.get("statusVerifiedDate"), "statusVerifiedDate", warnings)[0]
    return row


def _parse_design(design: dict, warnings: list[str]) -> dict[str, Any]:
    """Study type, phases, design info and enrollment."""
    phases = _get(design, "phases", list)
    if phases is not None:
        phases = [_enum(p, PHASES, "phase", warnings) for p in phases]
    return {
        "study_type": _enum(design.get("studyType"), STUDY_TYPES, "studyType", warnings),
        "phases": phases,
        "allocation": _get(design, "designInfo.allocation", str),
        "intervention_model": _get(design, "designInfo.interventionModel", str),
        "primary_purpose": _get(design, "designInfo.primaryPurpose", str),
        "masking": _get(design, "designInfo.maskingInfo.masking", str),
        "enrollment_count": _get(design, "enrollmentInfo.count", int),
        "enrollment_type": _get(design, "enrollmentInfo.type", str),
    }


def _parse_eligibility(elig: dict) -> dict[str, Any]:
    """Ages, sex, healthy volunteers and the criteria text."""
    return {
        "sex": _get(elig, "sex", str),
        "minimum_age": _text(_get(elig, "minimumAge", str)),
        "maximum_age": _text(_get(elig, "maximumAge", str)),
        "healthy_volunteers": _get(elig, "healthyVolunteers", bool),
        "std_ages": _get(elig, "stdAges", list),
        "eligibility_criteria": _text(_get(elig, "eligibilityCriteria", str)),
    }


def _parse_sponsors(module: dict) -> tuple[dict[str, Any], list[dict], dict[str, str | None]]:
    """Lead sponsor columns, trial_sponsor link rows and the sponsor entities."""
    lead = _text(_get(module, "leadSponsor.name", str))
    lead_class = _get(module, "leadSponsor.class", str)
    sponsors: dict[str, str | None] = {}
    links: list[dict] = []
    if lead:
        sponsors[lead] = lead_class
        links.append({"sponsor_name": lead, "role": "lead"})
    for collaborator in _list(module, "collaborators"):
        name = _text(_get(collaborator, "name", str))
        if name and name not in sponsors:
            sponsors[name] = _get(collaborator, "class", str)
            links.append({"sponsor_name": name, "role": "collaborator"})
    return {"sponsor": lead, "sponsor_class": lead_class}, links, sponsors


def _parse_conditions(module: dict) -> tuple[list[dict], list[str]]:
    """Condition rows (entities decoded) and the keywords."""
    conditions = [{"position": i, "name": name}
                  for i, name in enumerate(filter(None, (_text(c, "conditions[]") for c in _list(module, "conditions"))))]
    keywords = [k for k in (_text(k, "keywords[]") for k in _list(module, "keywords")) if k]
    return conditions, keywords


def _parse_arms(module: dict) -> tuple[list[dict], list[dict]]:
    """Arm group rows and intervention rows."""
    arms = [{"position": i, "label": _text(_get(a, "label", str)), "type": _get(a, "type", str),
             "description": _text(_get(a, "description", str))}
            for i, a in enumerate(_list(module, "armGroups"))]
    interventions = [{"position": i, "type": _get(iv, "type", str), "name": _text(_get(iv, "name", str)),
                      "description": _text(_get(iv, "description", str)),
                      "other_names": [_text(n) for n in _get(iv, "otherNames", list, [])] or None,
                      "arm_labels": [_text(n) for n in _get(iv, "armGroupLabels", list, [])] or None}
                     for i, iv in enumerate(_list(module, "interventions"))]
    return arms, interventions


def _parse_outcomes(module: dict) -> list[dict]:
    """Outcome rows of every kind."""
    rows = []
    for kind in ("primary", "secondary", "other"):
        for i, outcome in enumerate(_list(module, f"{kind}Outcomes")):
            rows.append({"kind": kind, "position": i, "measure": _text(_get(outcome, "measure", str)),
                         "description": _text(_get(outcome, "description", str)),
                         "time_frame": _text(_get(outcome, "timeFrame", str))})
    return rows


def _str_or_none(value: Any, path: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise RecordError(f"{path}: expected str, got {type(value).__name__} {value!r:.60}")


def _parse_locations(module: dict) -> list[dict]:
    """Site rows (a hot loop: a record may list over a thousand sites)."""
    rows = []
    for i, loc in enumerate(_list(module, "locations")):
        if not isinstance(loc, dict):
            raise RecordError(f"locations[{i}]: expected an object, got {type(loc).__name__}")
        facility, city, state, country = (loc.get("facility"), loc.get("city"), loc.get("state"), loc.get("country"))
        rows.append({"position": i,
                     "facility": _text(facility, "locations.facility"), "city": _text(city, "locations.city"),
                     "state": _text(state, "locations.state"), "country": _text(country, "locations.country"),
                     "status": _str_or_none(loc.get("status"), "locations.status")})
    return rows


def _parse_mesh(derived: dict) -> tuple[list[dict], dict[str, str]]:
    """trial_mesh link rows and MeSH entities from the browse modules."""
    links: dict[tuple[str, str], dict] = {}
    terms: dict[str, str] = {}
    for domain, module in (("condition", "conditionBrowseModule"), ("intervention", "interventionBrowseModule")):
        for is_ancestor, key in ((False, "meshes"), (True, "ancestors")):
            for mesh in _list(derived, f"{module}.{key}"):
                mesh_id, term = _get(mesh, "id", str), _text(_get(mesh, "term", str))
                if not mesh_id:
                    continue
                terms.setdefault(mesh_id, term or mesh_id)
                links.setdefault((domain, mesh_id), {"domain": domain, "mesh_id": mesh_id, "is_ancestor": is_ancestor})
    return list(links.values()), terms


# ---------------------------------------------------------------- entry points

def trial_id_of(data: Any) -> Any:
    """``protocolSection.identificationModule.nctId`` of a record, unchecked; None if it has none."""
    try:
        return data["protocolSection"]["identificationModule"]["nctId"]
    except (KeyError, TypeError):
        return None


def check_study(data: Any) -> str:
    """The study's NCT id, or RecordError if ``data`` is not an API v2 study."""
    if not isinstance(data, dict):
        raise RecordError(f"expected a study object, got {type(data).__name__}")
    if "protocolSection" not in data:
        if "ProtocolSection" in data or "FullStudiesResponse" in data or "Study" in data or "StudyFieldsResponse" in data:
            raise RecordError("retired pre-v2 API format (classic API, capitalized keys); fetch it from API v2")
        raise RecordError("not an API v2 study: no protocolSection")
    trial_id = _get(data, "protocolSection.identificationModule.nctId", str)
    if not trial_id:
        raise RecordError("no protocolSection.identificationModule.nctId")
    if not is_nct_id(trial_id):
        raise RecordError(f"invalid nctId {trial_id!r} (expected NCT and 8 ASCII digits, nothing around them)")
    return trial_id


def canonical_json(data: dict) -> bytes:
    """The record as compact JSON with sorted keys."""
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)


def content_hash(data: dict, canonical: bytes | None = None) -> str:
    """SHA-256 of the record's canonical JSON (pass it if already made), volatile parts cut out.

    With sorted keys, ``versionHolder`` is the last key of ``miscInfoModule`` and an unescaped
    ``"versionHolder":"`` can only be that key, so cutting it from the bytes equals dropping it
    from the record, without serializing the record a second time.
    """
    canonical = canonical if canonical is not None else canonical_json(data)
    return hashlib.sha256(_cut_volatile(canonical)).hexdigest()


def _cut_volatile(canonical: bytes) -> bytes:
    """``canonical`` without ``,"versionHolder":"..."`` (found with ``bytes.find``: a regex
    starting with an optional comma tries every position and cost more than the hash)."""
    start = canonical.find(VOLATILE_KEY)
    while start >= 0:
        end = canonical.find(b'"', start + len(VOLATILE_KEY)) + 1
        if end == 0:  # unterminated: not a key with a string value
            break
        if canonical[start - 1:start] == b",":
            start -= 1
        canonical = canonical[:start] + canonical[end:]
        start = canonical.find(VOLATILE_KEY, start)
    return canonical


def normalize_study(data: Any) -> NormalizedStudy:
    """Rows for one API v2 study (full or ``fields=`` subset); RecordError if unreadable."""
    trial_id = check_study(data)
    protocol = _get(data, "protocolSection", dict)
    module = lambda name: _get(protocol, name, dict, {})  # noqa: E731
    warnings: list[str] = []

    trial: dict[str, Any] = {"trial_id": trial_id, "nct_id": trial_id, "registry_name": "ctgov",
                             "normalizer_version": NORMALIZER_VERSION}
    trial |= _parse_identification(module("identificationModule"), warnings)
    trial |= _parse_status(module("statusModule"), warnings)
    trial |= _parse_design(module("designModule"), warnings)
    trial |= _parse_eligibility(module("eligibilityModule"))
    description = module("descriptionModule")
    trial["brief_summary"] = _text(_get(description, "briefSummary", str))
    trial["detailed_description"] = _text(_get(description, "detailedDescription", str))
    trial["has_results"] = _get(data, "hasResults", bool)

    sponsor_columns, sponsor_links, sponsors = _parse_sponsors(module("sponsorCollaboratorsModule"))
    trial |= sponsor_columns
    conditions, trial["keywords"] = _parse_conditions(module("conditionsModule"))
    arms, interventions = _parse_arms(module("armsInterventionsModule"))
    outcomes = _parse_outcomes(module("outcomesModule"))
    locations = _parse_locations(module("contactsLocationsModule"))
    trial["countries"] = sorted({loc["country"] for loc in locations if loc["country"]})
    trial["site_count"] = len(locations)
    mesh_links, mesh_terms = _parse_mesh(_get(data, "derivedSection", dict, {}))

    children = {
        "trial_condition": conditions, "intervention": interventions, "arm_group": arms,
        "outcome": outcomes, "location": locations, "trial_sponsor": sponsor_links,
        "trial_mesh": mesh_links,
    }
    return finish_study(trial, children, mesh_terms, sponsors, warnings, record=data)


def finish_study(trial: dict[str, Any], children: dict[str, list[dict]], mesh_terms: dict[str, str],
                 sponsors: dict[str, str | None], warnings: list[str], record: Any = None) -> NormalizedStudy:
    """The study of a registry's parsed rows: the extracted domain facts added, posted results read from
    an API v2 ``record`` (other registries post none here), every child row keyed by the trial id (every
    registry's normalizer ends here)."""
    trial_id = trial["trial_id"]
    facts = extract.extract_facts(trial, children, mesh_terms)
    trial |= facts.trial_columns()
    children["trial_fact"] = facts.rows()
    children |= parse_results(record if isinstance(record, dict) else {}, classify=facts.is_car_therapy is not False or facts.cell_type is not None)
    for rows in children.values():
        for row in rows:
            row["trial_id"] = trial_id
    trial["warnings"] = warnings or None
    return NormalizedStudy(trial_id, trial, children, mesh_terms, sponsors, warnings)


def diff_snapshots(old: dict[str, Any], new: dict[str, Any]) -> dict[str, list[Any]]:
    """Field-level diff ``{field: [old, new]}`` of two snapshots."""
    return {key: [old.get(key), new.get(key)] for key in new if old.get(key) != new.get(key)}
