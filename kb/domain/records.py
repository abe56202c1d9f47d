"""Which normalizer reads a raw record: one place for the record shapes of every registry.

A ClinicalTrials.gov API v2 study (:mod:`kb.domain.normalize`), an EU CTIS trial (:mod:`kb.domain.ctis`) or
a WHO ICTRP export record (``{"ictrp": {...}}``, :mod:`kb.domain.ictrp`), told apart by their content, so the
crawl, ``trialkb import`` and a rebuild from stored raw records all take any of them. Every normalized trial
also gets its ``trial_link`` rows here (:mod:`kb.domain.links`): the ids under which its registrations meet.
"""

from __future__ import annotations

from typing import Any

from kb.domain import ctis, ictrp
from kb.domain.links import link_rows
from kb.domain.normalize import NormalizedStudy, check_study, content_hash, normalize_study, trial_id_of

__all__ = ["check_record", "content_hash_of", "is_copy", "normalize_record", "record_id"]


def record_id(data: Any) -> str | None:
    """The trial id a raw record names, unchecked (None if it names none)."""
    if ictrp.is_ictrp_record(data):
        return ictrp.ictrp_id_of(data)
    if ctis.is_ctis_record(data):
        number = data.get("ctNumber")
        return number if isinstance(number, str) else None
    return trial_id_of(data)


def check_record(data: Any) -> str:
    """The record's canonical trial id, or RecordError if no normalizer can read it."""
    if ictrp.is_ictrp_record(data):
        return ictrp.check_record(data)
    return ctis.check_trial(data) if ctis.is_ctis_record(data) else check_study(data)


def content_hash_of(data: Any, canonical: bytes) -> str:
    """The content hash that says whether a record changed: an ICTRP record's text (its HTML read), an API
    v2 study's or a CTIS trial's canonical JSON without its volatile parts."""
    return ictrp.text_hash(data) if ictrp.is_ictrp_record(data) else content_hash(data, canonical)


def normalize_record(data: Any) -> NormalizedStudy:
    """Rows for one raw record of any registry, its ``trial_link`` rows included."""
    if ictrp.is_ictrp_record(data):
        study = ictrp.normalize_record(data)
    else:
        study = ctis.normalize_trial(data) if ctis.is_ctis_record(data) else normalize_study(data)
    study.children["trial_link"] = link_rows(study.trial)
    return study


def is_copy(data: Any) -> bool:
    """Whether a raw record is WHO ICTRP's copy of a registration that trialkb reads from its own
    registry (ClinicalTrials.gov): the registry's own record is richer and wins."""
    return ictrp.is_ictrp_record(data) and ictrp.ictrp_id_of(data) is not None and \
        ictrp.ictrp_id_of(data).startswith("NCT")
