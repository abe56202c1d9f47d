"""Which trials an import with ``--relevant-only`` stores, and the key of the rules that decided.

``car``: CAR cell therapies (``is_car_therapy`` true, whatever the disease: relevance to
immune-mediated disease is decided on them, as the crawl does). ``cell``: those plus every trial
that gives cells (an effector cell is named). A study that fails the cheap pre-filter
(:func:`kb.domain.extract.speed.has_cue`) cannot pass these; the others are normalized first.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Any

DOMAIN = Path(__file__).resolve().parents[1]


def skip_reason(trial: dict[str, Any], selection: str) -> str | None:
    """Why a normalized trial is not stored under ``selection``, or None if it is."""
    if trial.get("is_car_therapy") is True or (selection == "cell" and trial.get("cell_type")):
        return None
    what = "a CAR cell therapy" if selection == "car" else "a cell therapy"
    return f"not {what}: {trial.get('car_evidence') or 'no evidence'}"


def cue_reason(selection: str) -> str:
    """The reason given for a study without any cue."""
    return "no CAR cue" if selection == "car" else "no cell-therapy cue"


@cache
def rules_key(selection: str | None) -> str:
    """The selection and a fingerprint of the rules (normalizer, extraction, lexicon): a study skipped under
    other rules is read again."""
    digest = hashlib.sha256()
    for path in sorted([DOMAIN / "normalize.py", *(DOMAIN / "extract").glob("*.py"), *(DOMAIN / "lexicon").glob("*")]):
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return f"{selection or 'all'}:{digest.hexdigest()[:16]}"
