"""One normalizer from an EU CTIS trial (``GET /ctis-public-api/retrieve/{ctNumber}``) to the knowledge
base's rows, in the shape :func:`kb.domain.normalize.normalize_study` gives a ClinicalTrials.gov study.

Pure functions: no database, no network. The record is the retrieve answer with the fields of the
trial's search row (``lastUpdated``, ``trialPhase``, ``trialCountries`` ...) merged in, as the crawl
stores it and as ctrdata's copies hold it (docs/ctis.md); a bare retrieve answer is read too. Both record
generations are read: Part I under ``authorizedApplication`` (since mid-2024) or at the top level.
CTIS codes become the CT.gov vocabulary (status, phases, sex, age groups) so counts and filters work
across registries; a code trialkb does not know is kept out with a warning. The API is undocumented:
every field is optional; a record without its ``ctNumber`` raises :class:`RecordError`.
"""

from __future__ import annotations

import re
from typing import Any

from kb.core.ids import match_trial_id
from kb.domain.normalize import NORMALIZER_VERSION, NormalizedStudy, RecordError, _text, finish_study

__all__ = ["is_ctis_record", "check_trial", "normalize_trial", "iso_date"]

STATUS = {  # ctPublicStatusCode -> (CT.gov overallStatus, CTIS label); labels as ctrdata's f.statusRecruitment
    1: ("NOT_YET_RECRUITING", "Under evaluation"),
    2: ("NOT_YET_RECRUITING", "Authorised, recruitment pending"),
    3: ("RECRUITING", "Authorised, recruiting"),
    4: ("RECRUITING", "Ongoing, recruiting"),
    5: ("ACTIVE_NOT_RECRUITING", "Ongoing, recruitment ended"),
    6: ("SUSPENDED", "Temporarily halted"),
    7: ("SUSPENDED", "Suspended"),
    8: ("COMPLETED", "Ended"),
    9: ("WITHDRAWN", "Expired"),
    10: ("TERMINATED", "Revoked"),
    11: ("WITHDRAWN", "Not authorised"),
    12: ("WITHDRAWN", "Cancelled"),
}
PHASE_CODES = {  # trialCategory.trialPhase / search trialPhaseCode -> CT.gov phases
    "1": ["PHASE1"], "2": ["PHASE1"], "3": ["PHASE1"], "4": ["PHASE2"], "5": ["PHASE3"], "6": ["PHASE4"],
    "7": ["PHASE1", "PHASE2"], "8": ["PHASE1", "PHASE2"], "9": ["PHASE1", "PHASE2"],
    "10": ["PHASE2", "PHASE3"], "11": ["PHASE3", "PHASE4"],
}
AGE_GROUPS = {"2": "CHILD", "3": "ADULT", "4": "OLDER_ADULT"}  # ageRangeCategoryCode; 1 (in utero) has none
PLACEHOLDERS = frozenset({"na", "n/a", "-", "none", "not applicable"})
"""Values CTIS forms hold where nothing was entered."""
_ROMAN = {"I": "PHASE1", "II": "PHASE2", "III": "PHASE3", "IV": "PHASE4"}
_PHASE_WORD = re.compile(r"\bPhase\s+(IV|III|II|I)\b", re.ASCII)
_DMY = re.compile(r"(\d{2})/(\d{2})/(\d{4})", re.ASCII)
_ISO = re.compile(r"(\d{4}-\d{2}-\d{2})", re.ASCII)


# ---------------------------------------------------------------- reading helpers

def _at(obj: Any, *path: str) -> Any:
    """The value at a key path, or None when a step is missing or not an object."""
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _items(obj: Any, *path: str) -> list[dict]:
    """The objects of a list at a key path (anything else in it skipped)."""
    value = _at(obj, *path)
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _str(value: Any, what: str) -> str | None:
    """A text field (numbers are read as text: CTIS sends counts as strings and ids as numbers)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    return _text(value, what)


def _distinct(values: list[Any], skip: str = "") -> list[str]:
    """Texts without repeats (case ignored), placeholders or ``skip``, in order."""
    out: dict[str, str] = {}
    for value in values:
        text = _str(value, "name")
        if text and text.casefold() not in PLACEHOLDERS and text.casefold() != skip:
            out.setdefault(text.casefold(), text)
    return list(out.values())


def iso_date(value: Any) -> str | None:
    """A CTIS date as ISO ``YYYY-MM-DD``: search rows carry ``DD/MM/YYYY``, retrieve answers ISO dates
    and timestamps.

    >>> iso_date("19/08/2025"), iso_date("2024-04-12T09:35:07.009"), iso_date("soon")
    ('2025-08-19', '2024-04-12', None)
    """
    if not isinstance(value, str):
        return None
    if match := _DMY.fullmatch(value.strip()):
        return f"{match.group(3)}-{match.group(2)}-{match.group(1)}"
    match = _ISO.match(value.strip())
    return match.group(1) if match else None


def _part_one(record: dict) -> dict:
    """Part I of the authorised application (the protocol), in either record generation."""
    part = _at(record, "authorizedApplication", "authorizedPartI")
    if not isinstance(part, dict):
        part = record.get("authorizedPartI")
    return part if isinstance(part, dict) else {}


def _parts_two(record: dict) -> list[dict]:
    """Part II of each member state concerned (sites, subjects)."""
    return _items(record, "authorizedApplication", "authorizedPartsII") or _items(record, "authorizedPartsII")


# ---------------------------------------------------------------- record parts

def _parse_ids(record: dict, part: dict) -> dict[str, Any]:
    """The sponsor's code and the trial's other registrations, in CT.gov's ``secondaryIdInfos`` shape."""
    identifiers = _at(part, "trialDetails", "clinicalTrialIdentifiers") or {}
    numbers = _at(identifiers, "secondaryIdentifyingNumbers") or {}
    secondary: list[dict[str, Any]] = []

    def add(value: Any, kind: str, domain: str | None) -> None:
        text = _str(value, "secondary id")
        if text and not any(s["id"] == text for s in secondary):
            secondary.append({"id": text, "type": kind, "domain": domain})

    for eudract in (_at(record, "authorizedApplication", "eudraCt", "eudraCtCode"), _at(record, "eudraCtInfo", "eudraCtCode")):
        add(eudract, "EUDRACT_NUMBER", "EudraCT")
    add(_at(numbers, "nctNumber", "number"), "REGISTRY", "ClinicalTrials.gov")
    isrctn = _str(_at(numbers, "isrctnNumber", "number"), "isrctnNumber")
    if isrctn:
        add(isrctn if isrctn.upper().startswith("ISRCTN") else f"ISRCTN{isrctn}", "REGISTRY", "ISRCTN")
    add(_at(numbers, "whoUniversalTrialNumber", "number"), "OTHER", "WHO UTN")
    for other in _items(numbers, "additionalRegistries"):
        add(other.get("number"), "REGISTRY" if match_trial_id(str(other.get("number") or "")) else "OTHER",
            _str(other.get("otherRegistryName"), "otherRegistryName"))
    return {"org_study_id": _str(identifiers.get("shortTitle") or record.get("shortTitle"), "shortTitle"),
            "secondary_ids": secondary,
            "brief_title": _str(identifiers.get("publicTitle") or record.get("ctTitle"), "publicTitle"),
            "official_title": _str(identifiers.get("fullTitle"), "fullTitle")}


def _parse_status(record: dict, warnings: list[str]) -> dict[str, Any]:
    """Overall status from ``ctPublicStatusCode`` (``ctStatus``), ended early when an event says so."""
    code = record.get("ctPublicStatusCode", record.get("ctStatus"))
    if isinstance(code, str) and code.isdigit():
        code = int(code)
    status = STATUS.get(code) if isinstance(code, int) and not isinstance(code, bool) else None
    if code is not None and status is None:
        warnings.append(f"unknown CTIS status {code!r}: no overall status stored")
    overall = status[0] if status else None
    events = [e.get("notificationType") for msc in _items(record, "events", "trialEvents") for e in _items(msc, "events")]
    if overall == "COMPLETED" and any(isinstance(e, str) and "EARLY_TERMINATION" in e for e in events):
        overall = "TERMINATED"
    return {"overall_status": overall, "why_stopped": None}


def _parse_dates(record: dict, part: dict) -> dict[str, Any]:
    """Start (the EEA start, else the first start-of-trial event), end, first posting, last update."""
    events = [e for msc in _items(record, "events", "trialEvents") for e in _items(msc, "events")]
    starts = sorted(d for e in events if e.get("notificationType") == "START_OF_TRIAL" and (d := iso_date(e.get("date"))))
    ends = sorted(d for e in events if e.get("notificationType") in ("GLOBAL_END_OF_TRIAL", "END_OF_TRIAL")
                  and (d := iso_date(e.get("date"))))
    duration = _at(part, "trialDetails", "trialInformation", "trialDuration") or {}
    start = iso_date(record.get("startDateEU")) or (starts[0] if starts else None)
    start_type = "ACTUAL" if start else None
    if not start and (start := iso_date(duration.get("estimatedRecruitmentStartDate"))):
        start_type = "ESTIMATED"
    ended = record.get("ctPublicStatusCode", record.get("ctStatus")) in (8, "8")
    end = ends[-1] if ended and ends else iso_date(duration.get("estimatedGlobalEndDate") or duration.get("estimatedEndDate"))
    end_type = ("ACTUAL" if ended and ends else "ESTIMATED") if end else None
    row: dict[str, Any] = {"start_date": start, "start_date_type": start_type,
                           "primary_completion_date": None, "primary_completion_date_type": None,
                           "completion_date": end, "completion_date_type": end_type,
                           "first_posted_date": iso_date(record.get("decisionDateOverall")),
                           "last_update_posted_date": iso_date(record.get("lastUpdated")),
                           "verified_date": None}
    for column in ("start_date", "primary_completion_date", "completion_date"):
        row[f"{column}_precision"] = "day" if row[column] else None
    return row


def _parse_phases(record: dict, part: dict) -> list[str] | None:
    """Phases from the search row's label ('Phase I and Phase II (integrated)'), else Part I's code."""
    label = record.get("trialPhase")
    if isinstance(label, str) and (found := _PHASE_WORD.findall(label)):
        return sorted({_ROMAN[n] for n in found})
    code = _at(part, "trialDetails", "trialInformation", "trialCategory", "trialPhase")
    return PHASE_CODES.get(str(code)) if code is not None else None


def _parse_population(record: dict, part: dict) -> dict[str, Any]:
    """Sex, age groups, eligibility text and planned subjects (member states plus the rest of the world)."""
    info = _at(part, "trialDetails", "trialInformation") or {}
    population = info.get("populationOfTrialSubjects") or {}
    female, male = population.get("isFemaleSubjects"), population.get("isMaleSubjects")
    sex = "ALL" if female and male else "FEMALE" if female else "MALE" if male else None
    ages = sorted({AGE_GROUPS[c] for r in _items(population, "ageRanges")
                   if (c := str(r.get("ageRangeCategoryCode"))) in AGE_GROUPS},
                  key=["CHILD", "ADULT", "OLDER_ADULT"].index)
    criteria = info.get("eligibilityCriteria") or {}
    lines = []
    for title, key in (("Inclusion Criteria", "principalInclusionCriteria"), ("Exclusion Criteria", "principalExclusionCriteria")):
        items = [t for c in _items(criteria, key) if (t := _str(c.get(key), key))]
        if items:
            lines.append(f"{title}:\n\n" + "\n".join(f"* {t}" for t in items))
    counts = [p.get("recruitmentSubjectCount") for p in _parts_two(record)] + [part.get("rowSubjectCount")]
    counts = [c for c in counts if isinstance(c, int) and not isinstance(c, bool)]
    return {"sex": sex, "minimum_age": None, "maximum_age": None, "healthy_volunteers": None,
            "std_ages": ages or None, "eligibility_criteria": "\n\n".join(lines) or None,
            "enrollment_count": sum(counts) if counts else None, "enrollment_type": "ESTIMATED" if counts else None}


def _parse_description(part: dict) -> dict[str, Any]:
    """Main objective as the summary, secondary objectives as the description."""
    objective = _at(part, "trialDetails", "trialInformation", "trialObjective") or {}
    secondary = [t for o in _items(objective, "secondaryObjectives") if (t := _str(o.get("secondaryObjective"), "secondaryObjective"))]
    return {"brief_summary": _str(objective.get("mainObjective"), "mainObjective"),
            "detailed_description": ("Secondary objectives:\n" + "\n".join(f"* {t}" for t in secondary)) if secondary else None}


def _parse_has_results(record: dict) -> bool | None:
    """Results posted: the row's ``resultsFirstReceived`` or a non-empty ``results`` part."""
    if "resultsFirstReceived" not in record and "results" not in record:
        return None
    return record.get("resultsFirstReceived") == "Yes" or bool(record.get("results"))


def _parse_sponsors(part: dict) -> tuple[dict[str, Any], list[dict], dict[str, str | None]]:
    """Lead sponsor (the primary one), co-sponsors as collaborators, and the sponsor entities."""
    sponsors: dict[str, str | None] = {}
    links: list[dict] = []
    rows = sorted(_items(part, "sponsors"), key=lambda s: not s.get("primary"))
    for row in rows:
        organisation = row.get("organisation") or {}
        name = _str(organisation.get("name"), "sponsor name")
        if not name or name in sponsors:
            continue
        commercial = row.get("isCommercial", organisation.get("commercial"))
        sponsors[name] = "INDUSTRY" if commercial is True else "OTHER" if commercial is False else None
        links.append({"sponsor_name": name, "role": "lead" if not links else "collaborator"})
    lead = links[0]["sponsor_name"] if links else None
    return {"sponsor": lead, "sponsor_class": sponsors.get(lead) if lead else None}, links, sponsors


def _parse_conditions(part: dict) -> tuple[list[dict], list[str]]:
    """Medical conditions as registered, and MedDRA terms and therapeutic areas as keywords."""
    info = _at(part, "trialDetails", "trialInformation", "medicalCondition") or {}
    names = [_str(c.get("medicalCondition"), "medicalCondition")
             for c in _items(info, "partIMedicalConditions") or _items(part, "medicalConditions")]
    conditions = [{"position": i, "name": n} for i, n in enumerate(dict.fromkeys(filter(None, names)))]
    keywords = [_str(t.get("termName"), "termName") for t in _items(info, "meddraConditionTerms")]
    keywords += [_str(t.get("name"), "therapeuticArea") for t in _items(part, "therapeuticAreas")]
    return conditions, list(dict.fromkeys(filter(None, keywords)))


def _parse_products(part: dict) -> list[dict]:
    """The medicinal products as interventions: the product, its substances and form."""
    roles = {p.get("id"): g.get("productRoleName") for g in _items(part, "productRoleGroupInfos")
             for p in _items(g, "products")}
    rows = []
    for product in _items(part, "products"):
        info = product.get("productDictionaryInfo") or {}
        name = _str(product.get("productName") or info.get("prodName"), "productName")
        substances = [info.get("activeSubstanceName"), product.get("jsonActiveSubstanceNames"),
                      info.get("activeSubstanceOtherDescriptiveName"),
                      *(s.get("actSubstName") for s in _items(info, "productSubstances"))]
        others = _distinct(substances, skip=(name or "").casefold())
        chemical = product.get("allSubstancesChemicals")
        form = _str(product.get("pharmaceuticalFormDisplay") or info.get("pharmForm"), "pharmaceutical form")
        routes = [r for r in product.get("routes") or [] if isinstance(r, str)]
        role = _str(roles.get(product.get("id")), "productRoleName")
        description = "; ".join(filter(None, [f"{role} product" if role else None, form, ", ".join(routes) or None]))
        rows.append({"position": len(rows), "type": "DRUG" if chemical is True else "BIOLOGICAL" if chemical is False else None,
                     "name": name or (others[0] if others else None), "description": description or None,
                     "other_names": others or None, "arm_labels": None})
    return rows


def _parse_outcomes(part: dict) -> list[dict]:
    """Primary and secondary end points."""
    points = _at(part, "trialDetails", "trialInformation", "endPoint") or {}
    rows = []
    for kind, key in (("primary", "primaryEndPoints"), ("secondary", "secondaryEndPoints")):
        for i, point in enumerate(_items(points, key)):
            rows.append({"kind": kind, "position": i, "measure": _str(point.get("endPoint"), "endPoint"),
                         "description": None, "time_frame": None})
    return rows


def _parse_sites(record: dict) -> list[dict]:
    """Trial sites of every member state concerned."""
    rows = []
    for part in _parts_two(record):
        for site in _items(part, "trialSites"):
            info = site.get("organisationAddressInfo") or {}
            address = info.get("address") or {}
            rows.append({"position": len(rows), "facility": _str(_at(info, "organisation", "name"), "site"),
                         "city": _str(address.get("city"), "city"), "state": None,
                         "country": _str(address.get("countryName"), "countryName"), "status": None})
    return rows


def _parse_countries(record: dict, part: dict, sites: list[dict]) -> list[str]:
    """Member states concerned, countries outside the EEA, and the sites' countries."""
    names = [m.get("mscName") for m in _items(record, "authorizedApplication", "memberStatesConcerned")]
    names += [c.get("name") for c in _items(part, "rowCountriesInfo")]
    names += [c.split(":")[0] for c in record.get("trialCountries") or [] if isinstance(c, str)]
    names += [s["country"] for s in sites]
    return sorted({t for n in names if (t := _str(n, "country"))})


# ---------------------------------------------------------------- entry points

def is_ctis_record(data: Any) -> bool:
    """Whether ``data`` looks like a CTIS trial (a ``ctNumber``, no CT.gov ``protocolSection``)."""
    return isinstance(data, dict) and "ctNumber" in data and "protocolSection" not in data


def check_trial(data: Any) -> str:
    """The trial's CTIS number, or RecordError if ``data`` is not a CTIS trial."""
    if not isinstance(data, dict):
        raise RecordError(f"expected a CTIS trial object, got {type(data).__name__}")
    number = data.get("ctNumber")
    if not isinstance(number, str) or not number:
        raise RecordError("not a CTIS trial: no ctNumber")
    found = match_trial_id(number)
    if found is None or found.registry != "ctis":
        raise RecordError(f"invalid ctNumber {number[:40]!r} (expected a CTIS number such as 2023-505613-24-00)")
    return found.id


def normalize_trial(data: Any) -> NormalizedStudy:
    """Rows for one CTIS trial, keyed by its CTIS number; RecordError if unreadable."""
    trial_id = check_trial(data)
    part = _part_one(data)
    warnings: list[str] = []
    trial: dict[str, Any] = {"trial_id": trial_id, "nct_id": None, "registry_name": "ctis",
                             "normalizer_version": NORMALIZER_VERSION, "acronym": None,
                             "organization": None, "organization_class": None, "last_known_status": None,
                             "study_type": "INTERVENTIONAL", "allocation": None, "intervention_model": None,
                             "primary_purpose": None, "masking": None}
    trial |= _parse_ids(data, part)
    trial |= _parse_status(data, warnings)
    trial |= _parse_dates(data, part)
    trial["phases"] = _parse_phases(data, part)
    trial |= _parse_population(data, part)
    trial |= _parse_description(part)
    trial["has_results"] = _parse_has_results(data)
    sponsor_columns, sponsor_links, sponsors = _parse_sponsors(part)
    trial |= sponsor_columns
    conditions, trial["keywords"] = _parse_conditions(part)
    locations = _parse_sites(data)
    trial["countries"] = _parse_countries(data, part, locations)
    trial["site_count"] = len(locations)
    children: dict[str, list[dict[str, Any]]] = {
        "trial_condition": conditions, "intervention": _parse_products(part), "arm_group": [],
        "outcome": _parse_outcomes(part), "location": locations, "trial_sponsor": sponsor_links, "trial_mesh": [],
    }
    return finish_study(trial, children, {}, sponsors, warnings)

