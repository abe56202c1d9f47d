"""A WHO ICTRP export record (``kb.ingest.ictrp_files``: CSV or XML, as WHO's CSV fields) as the
knowledge base's rows: the same :class:`NormalizedStudy` the ClinicalTrials.gov normalizer makes,
so one extraction and one store path serve every registry.

Pure functions, one ``_parse_<field>`` helper per field. Registry text carries HTML (``<br>``,
entities): it is read with BeautifulSoup. Dates follow each registry's format
(``registry_prefixes_date_formats.csv``); statuses, phases and study types are mapped to the
ClinicalTrials.gov values where the meaning is the same, else left empty with a warning (the
text stays in the raw record).
"""

from __future__ import annotations

import hashlib
import html
import re
from datetime import datetime
from typing import Any

import orjson

from kb.core.ids import parse_trial_id, registry_of
from kb.core.errors import BadArgument
from kb.domain.normalize import NORMALIZER_VERSION, NormalizedStudy, RecordError, finish_study

RECORD_KEY = "ictrp"


# ---------------------------------------------------------------- text

def _plain(value: str | None) -> str | None:
    """Text of an HTML fragment: ``<br>`` as a line break, entities decoded, spaces trimmed."""
    if value is None:
        return None
    if "<" in value:  # text between tags on lines of their own: <br> and <p> break lines
        from bs4 import BeautifulSoup  # here: 0.15 s to import, and only WHO ICTRP records need it

        value = BeautifulSoup(value, "html.parser").get_text("\n")
    elif "&" in value:  # entities only (a URL's query, '&amp;')
        value = html.unescape(value)
    lines = [" ".join(line.split()) for line in value.splitlines()]
    text = "\n".join(line for line in lines if line)
    return text or None


def _pieces(value: str | None) -> list[str]:
    """The items of a ';'-separated field (line breaks separate too), empty ones and repeats dropped."""
    text = _plain(value)
    if not text:
        return []
    text = text.replace("；", ";")  # ChiCTR's Chinese text separates with the full-width semicolon too
    return list(dict.fromkeys(p.strip() for line in text.splitlines() for p in line.split(";") if p.strip()))


# ---------------------------------------------------------------- dates

_DMY, _YMD = "%d/%m/%Y", "%Y-%m-%d"
DATE_FORMATS = {
    "anzctr": _DMY, "chictr": _YMD, "ctri": "%d-%m-%Y", "drks": _DMY, "euctr": _DMY, "irct": _YMD,
    "isrctn": _DMY, "jrct": _DMY, "umin": _DMY, "japic": _DMY, "jma": _DMY, "kct": _YMD, "lbctr": _DMY,
    "ctgov": _DMY, "nl": _DMY, "pactr": _DMY, "rebec": _DMY, "slctr": _YMD, "tctr": _DMY,
}
"""Registry slug -> the date format of its ICTRP records (WHO ICTRP's registry_prefixes_date_formats.csv,
by id prefix: ACTRN, ChiCTR, CTRI, DRKS, EUCTR, IRCT, ISRCTN, JPRN, KCT, LBCTR, NCT, NL/NTR, PACTR, RBR, SLCTR, TCTR)."""
FALLBACK_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%B %d, %Y", "%d %B %Y", "%B %Y", "%Y%m%d")
"""Formats seen besides the registry's own (CT.gov's 'December 5, 2019', jRCT's '2019/08/01',
a refresh date '17 February 2020'); tried after it, in this order."""


def _parse_date(value: str | None, trial_id: str, what: str, warnings: list[str]) -> tuple[str | None, str | None]:
    """(ISO date, precision) of a date in the registry's format; month-only dates stay partial."""
    text = _plain(value)
    if not text:
        return None, None
    text = text.split(" 12:00AM")[0].strip()
    own = DATE_FORMATS.get(registry_of(trial_id))
    for fmt in ((own,) if own else ()) + FALLBACK_FORMATS:
        try:
            parsed = datetime.strptime(text, fmt).date()
        except ValueError:
            continue
        if fmt == "%B %Y":
            return f"{parsed.year:04d}-{parsed.month:02d}", "month"
        return parsed.isoformat(), "day"
    warnings.append(f"{what}: unreadable date {text!r} not stored")
    return None, None


# ---------------------------------------------------------------- enums

STATUSES = {
    "recruiting": "RECRUITING", "open to recruitment": "RECRUITING",
    "closed to recruitment of participants": "ACTIVE_NOT_RECRUITING", "recruiting stopped after recruiting started":
        "TERMINATED", "not yet recruiting": "NOT_YET_RECRUITING", "pending": "NOT_YET_RECRUITING",
    "pending (not yet recruiting)": "NOT_YET_RECRUITING", "completed": "COMPLETED", "complete": "COMPLETED",
    "terminated": "TERMINATED", "stopped early": "TERMINATED", "active, not recruiting": "ACTIVE_NOT_RECRUITING",
    "enrolling by invitation": "ENROLLING_BY_INVITATION", "suspended": "SUSPENDED", "withdrawn": "WITHDRAWN",
}
"""ICTRP recruitment statuses with a ClinicalTrials.gov equivalent; 'Not recruiting' (closed or not
yet open) and EUCTR's 'Authorised-recruitment may be ongoing or finished' have none."""

_PHASE_NUMBERS = {"0": "EARLY_PHASE1", "1": "PHASE1", "i": "PHASE1", "2": "PHASE2", "ii": "PHASE2",
                  "3": "PHASE3", "iii": "PHASE3", "4": "PHASE4", "iv": "PHASE4"}
_NO_PHASE = frozenset({"n/a", "na", "not applicable", "not selected", "none"})
_PHASE_WORD = re.compile(r"(?i:phase)\s*([0-4]|iv|i{1,3})\b|(?<![\w/])([0-4]|iv|i{1,3})(?![\w])")
_EUCTR_PHASE = re.compile(r"\(Phase\s+(I{1,3}|IV)\):\s*(yes|no)", re.IGNORECASE)


def _parse_phases(value: str | None, warnings: list[str]) -> list[str] | None:
    """CT.gov phase values of 'Phase 2/Phase 3', '2-3', 'Phase III', EUCTR's yes/no list; NA for none."""
    text = _plain(value)
    if not text:
        return None
    if (euctr := _EUCTR_PHASE.findall(text)):
        return [_PHASE_NUMBERS[n.lower()] for n, answer in euctr if answer.lower() == "yes"] or None
    if text.lower() in _NO_PHASE:
        return ["NA"]
    lowered = text.lower().replace("phase", " phase ")
    numbers = [a or b for a, b in _PHASE_WORD.findall(lowered)]
    if (found := list(dict.fromkeys(_PHASE_NUMBERS[n.lower()] for n in numbers))):
        return found
    warnings.append(f"phase {text[:60]!r} has no ClinicalTrials.gov equivalent; not stored")
    return None


def _parse_status(value: str | None, warnings: list[str]) -> str | None:
    """The CT.gov overall status of an ICTRP recruitment status, when the meaning is the same."""
    text = _plain(value)
    if not text:
        return None
    status = STATUSES.get(text.lower())
    if status is None:
        warnings.append(f"recruitment status {text!r} has no ClinicalTrials.gov equivalent; not stored")
    return status


def _parse_study_type(value: str | None) -> str | None:
    """INTERVENTIONAL or OBSERVATIONAL when the text says so (ChiCTR's 'Health services research' none)."""
    text = (_plain(value) or "").lower()
    if "interventional" in text or text.startswith("intervention"):
        return "INTERVENTIONAL"
    if "observational" in text:
        return "OBSERVATIONAL"
    if "expanded access" in text:
        return "EXPANDED_ACCESS"
    return None


_GROUP_SIZE = re.compile(r"[:：]\s*(\d+)\s*$")


def _parse_enrollment(value: str | None) -> int | None:
    """The target size: a number, or the sum of ChiCTR's per-group sizes ('Case series:100;')."""
    text = _plain(value)
    if not text:
        return None
    if text.strip().isdigit():
        return int(text)
    sizes = [_GROUP_SIZE.search(piece) for piece in text.replace("；", ";").split(";") if piece.strip()]
    if sizes and all(sizes):
        return sum(int(m.group(1)) for m in sizes if m)
    return None


def _parse_enrollment_type(value: str | None) -> str | None:
    text = (_plain(value) or "").lower()
    return {"anticipated": "ESTIMATED", "actual": "ACTUAL"}.get(text)


def _parse_sex(value: str | None) -> str | None:
    """ALL, FEMALE or MALE from 'Both', 'All', '<br>Female: yes<br>Male: yes<br>', 'Males' ..."""
    text = (_plain(value) or "").lower()
    if not text:
        return None
    female = "female: yes" in text or text.startswith(("female", "women"))
    male = "male: yes" in text.replace("female: yes", "") or text.startswith(("male", "men"))
    if text.startswith(("both", "all")) or "male and female" in text or "males and females" in text or (female and male):
        return "ALL"
    return "FEMALE" if female else "MALE" if male else None


# ---------------------------------------------------------------- ids and parts

def _parse_id(record: dict[str, str]) -> str:
    """The registry's canonical id of the trial; RecordError without a readable one."""
    raw = record.get("TrialID")
    if not raw:
        raise RecordError("no TrialID")
    try:
        return parse_trial_id(raw.strip())
    except BadArgument as exc:
        raise RecordError(f"TrialID {raw.strip()[:40]!r}: {exc}") from None


NO_ID = re.compile(r"(?i:nil\s*known|n/?a|none|nil|not\s+appli[a-z]*|not\s+available|unknown|-+)")
"""Secondary-id texts that say there is none ('Nil Known', 'not appliable'); the raw record keeps them."""


def _parse_secondary_ids(record: dict[str, str]) -> list[dict[str, Any]]:
    """SecondaryIDs, the bridged registration and the children, in the CT.gov normalizer's shape
    (``{"id", "type", "domain"}``; type REGISTRY for a registry's id)."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()

    def add(raw: str, domain: str) -> None:
        raw = raw.strip()
        if not raw or raw in seen or NO_ID.fullmatch(raw):
            return
        seen.add(raw)
        try:
            parse_trial_id(raw)
            kind = "REGISTRY"
        except BadArgument:
            kind = None
        out.append({"id": raw, "type": kind, "domain": domain})

    for raw in _pieces(record.get("SecondaryIDs")):
        add(raw, "ICTRP SecondaryIDs")
    bridged = (record.get("Bridged_type") or "").strip().lower() or "bridged"
    for raw in _pieces(record.get("Bridging_flag")):
        add(raw, f"ICTRP bridging ({bridged})")
    for raw in _pieces(record.get("Childs")):
        add(raw, "ICTRP bridging (child)")
    return out


def _parse_sponsors(record: dict[str, str]) -> tuple[dict[str, Any], list[dict], dict[str, str | None]]:
    """The primary sponsor, the secondary sponsors, their link rows and entities."""
    lead = _plain(record.get("Primary_sponsor"))
    sponsors: dict[str, str | None] = {}
    links: list[dict] = []
    if lead:
        sponsors[lead] = None
        links.append({"sponsor_name": lead, "role": "lead"})
    for name in _pieces(record.get("Secondary_sponsors")):
        if name not in sponsors:
            sponsors[name] = None
            links.append({"sponsor_name": name, "role": "collaborator"})
    return {"sponsor": lead, "sponsor_class": None}, links, sponsors


def _parse_conditions(record: dict[str, str]) -> list[dict]:
    """Condition rows: the ';' or line-separated items of Conditions."""
    return [{"position": i, "name": name} for i, name in enumerate(_pieces(record.get("Conditions")))]


LONG_NAME = 160
"""An intervention item longer than this is a description (ANZCTR writes paragraphs), not a name."""


def _parse_interventions(record: dict[str, str]) -> list[dict]:
    """Intervention rows: ChiCTR's 'group:intervention;' items (the group is the arm label), else
    each item; a paragraph becomes the description of an unnamed intervention."""
    rows = []
    registry_chictr = record.get("TrialID", "").upper().startswith("CHICTR")
    for i, item in enumerate(_pieces(record.get("Interventions"))):
        arm = None
        item = item.replace("：", ":") if registry_chictr else item  # the full-width colon of Chinese text
        if registry_chictr and ":" in item:
            arm, item = (part.strip() for part in item.split(":", 1))
        name, description = (item, None) if len(item) <= LONG_NAME else (None, item)
        rows.append({"position": i, "type": None, "name": name or None, "description": description,
                     "other_names": None, "arm_labels": [arm] if arm else None})
    return rows


def _parse_arms(interventions: list[dict]) -> list[dict]:
    """Arm rows: the groups ChiCTR names before its interventions ('Experimental group:...')."""
    labels = list(dict.fromkeys(label for row in interventions for label in row["arm_labels"] or []))
    return [{"position": i, "label": label, "type": None, "description": None} for i, label in enumerate(labels)]


def _parse_outcomes(record: dict[str, str]) -> list[dict]:
    """Primary and secondary outcome rows (items of Primary_Outcome and Secondary_Outcomes)."""
    rows = []
    for kind, key in (("primary", "Primary_Outcome"), ("secondary", "Secondary_Outcomes")):
        for i, measure in enumerate(_pieces(record.get(key))):
            rows.append({"kind": kind, "position": i, "measure": measure, "description": None, "time_frame": None})
    return rows


def _parse_countries(record: dict[str, str]) -> list[str]:
    return sorted(set(_pieces(record.get("Countries"))))


def _parse_eligibility(record: dict[str, str]) -> str | None:
    """Inclusion and exclusion criteria as one text, like CT.gov's eligibility criteria."""
    parts = [text for text in (_plain(record.get("Inclusion_Criteria")), _plain(record.get("Exclusion_Criteria"))) if text]
    return "\n\n".join(parts) or None


def _parse_has_results(record: dict[str, str]) -> bool | None:
    answer = (record.get("results_yes_no") or "").strip().lower()
    return {"yes": True, "no": False}.get(answer, True if record.get("results_url_link") else None)


# ---------------------------------------------------------------- entry points

def text_hash(data: dict) -> str:
    """SHA-256 of the record's fields as text (HTML read): the XML and the CSV export of one trial, which
    write a line break as a newline or as ``<br>``, hash alike, so importing both changes nothing."""
    text = {name: _plain(value) for name, value in data[RECORD_KEY].items()}
    return hashlib.sha256(orjson.dumps(text, option=orjson.OPT_SORT_KEYS)).hexdigest()


def is_ictrp_record(data: Any) -> bool:
    """Whether ``data`` is an ICTRP record as ``kb.ingest.ictrp_files`` makes it."""
    return isinstance(data, dict) and isinstance(data.get(RECORD_KEY), dict)


def ictrp_id_of(data: Any) -> str | None:
    """The canonical trial id of an ICTRP record, or None."""
    try:
        return _parse_id(data[RECORD_KEY])
    except (RecordError, KeyError, TypeError, AttributeError):
        return None


def check_record(data: Any) -> str:
    """The record's trial id, or RecordError if it is not a readable ICTRP record."""
    if not is_ictrp_record(data):
        raise RecordError("not a WHO ICTRP record")
    if not all(isinstance(v, str) for v in data[RECORD_KEY].values()):
        raise RecordError("WHO ICTRP record: every field must be text")
    return _parse_id(data[RECORD_KEY])


def normalize_record(data: Any) -> NormalizedStudy:
    """Rows for one ICTRP record; RecordError if it has no readable trial id."""
    trial_id = check_record(data)
    record: dict[str, str] = data[RECORD_KEY]
    warnings: list[str] = []
    registry = registry_of(trial_id)
    start, start_precision = _parse_date(record.get("Date_enrollement"), trial_id, "Date_enrollement", warnings)
    trial: dict[str, Any] = {
        "trial_id": trial_id, "nct_id": trial_id if registry == "ctgov" else None, "registry_name": registry,
        "normalizer_version": NORMALIZER_VERSION, "org_study_id": None,
        "secondary_ids": _parse_secondary_ids(record),
        "brief_title": _plain(record.get("public_title")) or _plain(record.get("Scientific_title")),
        "official_title": _plain(record.get("Scientific_title")), "acronym": _plain(record.get("Acronym")),
        "organization": None, "organization_class": None,
        "overall_status": _parse_status(record.get("Recruitment_status"), warnings),
        "last_known_status": None, "why_stopped": None,
        "study_type": _parse_study_type(record.get("study_type")),
        "phases": _parse_phases(record.get("phase"), warnings),
        "allocation": None, "intervention_model": None, "primary_purpose": None, "masking": None,
        "enrollment_count": _parse_enrollment(record.get("Target_size")),
        "enrollment_type": _parse_enrollment_type(record.get("type_enrolment")),
        "start_date": start, "start_date_precision": start_precision,
        "start_date_type": _parse_enrollment_type(record.get("type_enrolment")),
        "primary_completion_date": None, "primary_completion_date_precision": None,
        "primary_completion_date_type": None,
        "completion_date": None, "completion_date_precision": None, "completion_date_type": None,
        "first_posted_date": _parse_date(record.get("Date_registration"), trial_id, "Date_registration", warnings)[0],
        "last_update_posted_date": None if registry == "ctgov" else _parse_date(
            record.get("Last_updated"), trial_id, "Last_updated", warnings)[0],  # a copy: the API record is newer
        "verified_date": None,
        "sex": _parse_sex(record.get("Gender")), "minimum_age": _plain(record.get("Agemin")),
        "maximum_age": _plain(record.get("Agemax")), "healthy_volunteers": None, "std_ages": None,
        "eligibility_criteria": _parse_eligibility(record),
        "brief_summary": None, "detailed_description": None, "keywords": [],
        "has_results": _parse_has_results(record),
    }
    sponsor_columns, sponsor_links, sponsors = _parse_sponsors(record)
    trial |= sponsor_columns
    trial["countries"] = _parse_countries(record)
    trial["site_count"] = 0
    interventions = _parse_interventions(record)
    children: dict[str, list[dict]] = {
        "trial_condition": _parse_conditions(record), "intervention": interventions,
        "arm_group": _parse_arms(interventions), "outcome": _parse_outcomes(record), "location": [],
        "trial_sponsor": sponsor_links, "trial_mesh": [],
    }
    return finish_study(trial, children, {}, sponsors, warnings)
