"""Reading WHO ICTRP exports: every format as one record, a dict of WHO's CSV field names.

WHO's search portal exports CSV (one row a trial, the fields of ``ICTRP_export_datafields.txt``)
and XML in two shapes: ``<trials><Triall>`` (one trial's sections: main, contacts, countries,
criteria, outcomes, secondary_ids ...) and ``<Trials_downloaded_from_ICTRP><Trial>`` (flat
elements). All three become ``{"ictrp": {field: text}}`` under WHO's CSV field names, so the same
trial exported either way is the same stored trial. Values stay as exported (HTML included); empty
values, the placeholders ``NULL`` / ``NA`` and fields of the export run (``Export_date``) are left out.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any
from xml.etree import ElementTree

from kb.domain.ictrp import RECORD_KEY

WHO_FIELDS = (
    "TrialID", "Last_updated", "SecondaryIDs", "public_title", "Scientific_title", "Acronym", "url",
    "Public_Contact_Firstname", "Public_Contact_Lastname", "Public_Contact_Address", "Public_Contact_Email",
    "Public_Contact_Tel", "Public_Contact_Affiliation", "Scientific_Contact_Firstname",
    "Scientific_Contact_Lastname", "Scientific_Contact_Address", "Scientific_Contact_Email",
    "Scientific_Contact_Tel", "Scientific_Contact_Affiliation", "study_type", "study_design", "phase",
    "Date_registration", "Date_enrollement", "Target_size", "Recruitment_status", "Primary_sponsor",
    "Secondary_sponsors", "Source_Support", "Countries", "Conditions", "Interventions", "Agemin", "Agemax",
    "Gender", "Inclusion_Criteria", "Exclusion_Criteria", "Primary_Outcome", "Secondary_Outcomes",
    "Bridging_flag", "Bridged_type", "Childs", "type_enrolment", "Retrospective_flag",
    "results_actual_enrollment", "results_url_link", "results_summary", "results_date_posted",
    "results_date_first_publication", "results_baseline_char", "results_participant_flow",
    "results_adverse_events", "results_outcome_measures", "results_url_protocol", "results_IPD_plan",
    "results_IPD_description", "results_date_completed", "results_yes_no", "Ethics_Status",
    "Ethics_Approval_Date", "Ethics_Contact_Name", "Ethics_Contact_Address", "Ethics_Contact_Phone",
    "Ethics_Contact_Email",
)
"""WHO's CSV export fields (ICTRP_export_datafields.txt, updated 22/05/2020), plus Last_updated
(the full export's second column) and Acronym (the XML exports')."""

ALIASES = {
    "date_enrollment": "Date_enrollement", "date_enrolment": "Date_enrollement",
    "last_refreshed_on": "Last_updated", "last_updated": "Last_updated",
    "web_address": "url", "condition": "Conditions", "intervention": "Interventions",
    "primary_outcome": "Primary_Outcome", "secondary_outcome": "Secondary_Outcomes",
    "inclusion_agemin": "Agemin", "inclusion_agemax": "Agemax", "inclusion_gender": "Gender",
    "contact_firstname": "Public_Contact_Firstname", "contact_lastname": "Public_Contact_Lastname",
    "contact_address": "Public_Contact_Address", "contact_email": "Public_Contact_Email",
    "contact_tel": "Public_Contact_Tel", "contact_affiliation": "Public_Contact_Affiliation",
    "secondary_id": "SecondaryIDs", "secondary_ids": "SecondaryIDs", "secondaryid": "SecondaryIDs",
    "secondary_sponsor": "Secondary_sponsors",
    "results_actual_enrolment": "results_actual_enrollment",
}
"""Other spellings of the same fields in the exports (case-insensitive)."""

DROPPED = frozenset({"export_date", "date_registration3", "bridging_flag_truefalse"})
"""Fields of the export run, not of the trial (kept out so that re-exports hash the same)."""

PLACEHOLDERS = frozenset({"", "NULL", "NA"})

_BY_LOWER = {name.lower(): name for name in WHO_FIELDS} | ALIASES


def field_name(name: str) -> str:
    """WHO's name of an export column or element (unknown ones kept as they are)."""
    stripped = name.strip().lstrip("\ufeff")
    return _BY_LOWER.get(stripped.lower(), stripped)


def _put(record: dict[str, str], name: str, value: str | None) -> None:
    """Set a field unless the value is empty or a placeholder; repeated fields are joined with ';'."""
    if value is None or name.lower() in DROPPED:
        return
    value = value.strip()
    if value in PLACEHOLDERS:
        return
    key = field_name(name)
    record[key] = f"{record[key]};{value}" if key in record else value


# ---------------------------------------------------------------- CSV

def csv_records(text: str) -> Iterator[tuple[int, dict[str, str] | None, str | None]]:
    """``(line, record, error)`` for each row of a CSV export (a header row first)."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        yield 1, None, f"unreadable CSV header: {exc}"
        return
    names = [field_name(h) for h in header]
    line = reader.line_num
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield line + 1, None, f"unreadable CSV row: {exc}"
            return
        start, line = line + 1, reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(names):
            yield start, None, f"{len(row)} cells where the header has {len(names)}"
            continue
        record: dict[str, str] = {}
        for name, cell in zip(names, row):
            _put(record, name, cell)
        yield start, {RECORD_KEY: record}, None


# ---------------------------------------------------------------- XML

def _text(element: ElementTree.Element | None) -> str | None:
    return None if element is None else "".join(element.itertext())


def _joined(parent: ElementTree.Element | None, tag: str) -> str | None:
    """The non-empty texts of ``tag`` children, joined with ';'."""
    if parent is None:
        return None
    values = [v.strip() for v in (_text(e) for e in parent.iter(tag)) if v and v.strip()]
    return ";".join(values) or None


TRIALL_MAIN = {
    "trial_id": "TrialID", "date_registration": "Date_registration", "primary_sponsor": "Primary_sponsor",
    "public_title": "public_title", "acronym": "Acronym", "scientific_title": "Scientific_title",
    "date_enrolment": "Date_enrollement", "type_enrolment": "type_enrolment", "target_size": "Target_size",
    "recruitment_status": "Recruitment_status", "url": "url", "study_type": "study_type",
    "study_design": "study_design", "phase": "phase", "hc_freetext": "Conditions", "i_freetext": "Interventions",
    "last_refreshed_on": "Last_updated",
}
"""``<main>`` elements of a Triall and their CSV names (the results_* elements keep theirs)."""
TRIALL_LISTS = {
    ("countries", "country2"): "Countries", ("primary_outcome", "prim_outcome"): "Primary_Outcome",
    ("secondary_outcome", "sec_outcome"): "Secondary_Outcomes", ("secondary_sponsor", "sponsor_name"): "Secondary_sponsors",
    ("secondary_ids", "sec_id"): "SecondaryIDs", ("source_support", "source_name"): "Source_Support",
}
TRIALL_CRITERIA = {"inclusion_criteria": "Inclusion_Criteria", "exclusion_criteria": "Exclusion_Criteria",
                   "agemin": "Agemin", "agemax": "Agemax", "gender": "Gender"}
TRIALL_CONTACT = {"firstname": "Firstname", "lastname": "Lastname", "address": "Address", "email": "Email",
                  "telephone": "Tel", "affiliation": "Affiliation"}
TRIALL_ETHICS = {"status": "Ethics_Status", "approval_date": "Ethics_Approval_Date", "contact_name": "Ethics_Contact_Name",
                 "contact_address": "Ethics_Contact_Address", "contact_phone": "Ethics_Contact_Phone",
                 "contact_email": "Ethics_Contact_Email"}


def triall_record(trial: ElementTree.Element) -> dict[str, Any]:
    """One ``<Triall>`` as a record of CSV fields."""
    record: dict[str, str] = {}
    main = trial.find("main")
    for element in main if main is not None else ():
        tag = element.tag.lower()
        name = TRIALL_MAIN.get(tag, element.tag if tag.startswith("results_") else None)
        if name:
            _put(record, name, _text(element))
    for (section, tag), name in TRIALL_LISTS.items():
        _put(record, name, _joined(trial.find(section), tag))
    criteria = trial.find("criteria")
    for tag, name in TRIALL_CRITERIA.items():
        _put(record, name, _text(criteria.find(tag)) if criteria is not None else None)
    for contact in trial.iterfind("contacts/contact"):
        kind = (_text(contact.find("type")) or "").strip().capitalize()
        if kind in ("Public", "Scientific"):
            for tag, suffix in TRIALL_CONTACT.items():
                _put(record, f"{kind}_Contact_{suffix}", _text(contact.find(tag)))
    for review in trial.iterfind("ethics_reviews/ethics_review"):
        for tag, name in TRIALL_ETHICS.items():
            _put(record, name, _text(review.find(tag)))
    return {RECORD_KEY: record}


def flat_record(trial: ElementTree.Element) -> dict[str, Any]:
    """One ``<Trial>`` of a ``Trials_downloaded_from_ICTRP`` export as a record of CSV fields."""
    record: dict[str, str] = {}
    for element in trial:
        _put(record, element.tag, _text(element))
    return {RECORD_KEY: record}


def xml_records(raw: bytes) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """``(position, record, error)`` for each trial of an XML export."""
    try:
        root = ElementTree.fromstring(raw)
    except ElementTree.ParseError as exc:
        yield 0, None, f"invalid XML: {exc}"
        return
    if root.tag.lower() == "trials":
        children, make = [c for c in root if c.tag.lower() in ("triall", "trial")], triall_record
    elif root.tag.lower() == "trials_downloaded_from_ictrp":
        children, make = [c for c in root if c.tag.lower() == "trial"], flat_record
    else:
        yield 0, None, f"not a WHO ICTRP XML export (root element <{root.tag}>)"
        return
    if not children:
        yield 0, None, "a WHO ICTRP XML export with no trials"
    for position, child in enumerate(children):
        yield position, make(child), None
