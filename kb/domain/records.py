"""A raw record of any crawled registry: which normalizer reads it.

ClinicalTrials.gov API v2 studies (:mod:`kb.domain.normalize`) and EU CTIS trials
(:mod:`kb.domain.ctis`) are told apart by their content, so the crawl, ``trialkb import`` and a
rebuild from stored raw records all take either.
"""

from __future__ import annotations

from typing import Any

from kb.domain import ctis
from kb.domain.normalize import NormalizedStudy, check_study, normalize_study

__all__ = ["check_record", "normalize_record"]


def check_record(data: Any) -> str:
    """The record's trial id, or RecordError saying why it is not a record trialkb reads."""
    return ctis.check_trial(data) if ctis.is_ctis_record(data) else check_study(data)


def normalize_record(data: Any) -> NormalizedStudy:
    """The rows of a CT.gov study or a CTIS trial; RecordError if unreadable."""
    return ctis.normalize_trial(data) if ctis.is_ctis_record(data) else normalize_study(data)
