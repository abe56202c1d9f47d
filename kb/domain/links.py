"""One trial registered in several registries: the keys under which its registrations meet.

The rule is ctrdata's (``dbFindIdsUniqueTrials`` and ``.dbMapIdsTrials`` in rfhb/ctrdata,
R/dbFindIdsUniqueTrials.R): every record contributes its own id and the registry ids it names
(secondary ids, EudraCT numbers, ICTRP's SecondaryIDs and bridged registrations); ids are
normalised (a CTIS number without its resubmission suffix, an EUCTR record's EudraCT number
without the member state, ISRCTN with its prefix, jRCT without ``JPRN-``), and two records that
share a normalised id are one trial, whichever of the two named the other (both directions).
Sponsor codes and placeholders ('Nil known', 'N/A') are never keys: ctrdata matches sponsor codes
by substring and over-merges; here they can only support a proposal (:mod:`kb.domain.likeness`).

Pure functions; :func:`link_rows` makes the ``trial_link`` rows of a normalized trial.
"""

from __future__ import annotations

import re
from typing import Any

from kb.core.errors import BadArgument
from kb.core.ids import parse_trial_id, registry_of

__all__ = ["ids_named", "link_key", "link_rows"]

_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9/\-_.]*[A-Za-z0-9]", re.ASCII)
_BARE_ISRCTN = re.compile(r"\d{8}", re.ASCII)


def link_key(trial_id: str) -> str:
    """The key under which the registrations of one trial meet, from a canonical registry id
    (``kb.core.ids``: an EUCTR record is already its bare EudraCT number, jRCT has no ``JPRN-``):
    a CTIS number without its resubmission suffix (``CTIS:2023-505613-24``, prefixed so that it can
    never equal a EudraCT number of the same shape), else the id itself.

    >>> link_key("2023-505613-24-01"), link_key("2021-004994-30"), link_key("NCT06464679")
    ('CTIS:2023-505613-24', '2021-004994-30', 'NCT06464679')
    """
    return f"CTIS:{trial_id[:-3]}" if registry_of(trial_id) == "ctis" else trial_id


def _parse(candidate: str) -> str | None:
    try:
        return parse_trial_id(candidate)
    except BadArgument:
        return None


def ids_named(text: str | None, domain: str | None = None) -> list[str]:
    """The canonical registry ids a secondary-id text names: the whole text, else its words
    ('EudraCT 2017-002227-13', 'EUCTR2016-005141-23-ES'); a bare 8-digit number is an ISRCTN
    only where the field says ISRCTN. Placeholders and sponsor codes name none."""
    if not text or not text.strip():
        return []
    text = text.strip()
    whole = _parse(text)
    if whole:
        return [whole]
    if domain and "isrctn" in domain.lower() and _BARE_ISRCTN.fullmatch(text):
        return [_parse(f"ISRCTN{text}")] if _parse(f"ISRCTN{text}") else []
    found: list[str] = []
    for token in _TOKEN.findall(text):
        parsed = _parse(token)
        if parsed and parsed not in found:
            found.append(parsed)
    return found


def link_rows(trial: dict[str, Any]) -> list[dict[str, Any]]:
    """``trial_link`` rows of a normalized trial: its own key (field ``self``), then one per
    registry id its secondary ids name (field: where it was named)."""
    trial_id = trial["trial_id"]
    own = link_key(trial_id)
    rows = {own: {"trial_id": trial_id, "key": own, "named_id": trial_id, "field": "self"}}
    for secondary in trial.get("secondary_ids") or []:
        if not isinstance(secondary, dict):
            continue
        where = " ".join(filter(None, ("secondary_ids", secondary.get("type"), secondary.get("domain"))))
        for named in ids_named(secondary.get("id"), secondary.get("domain")):
            key = link_key(named)
            rows.setdefault(key, {"trial_id": trial_id, "key": key, "named_id": named, "field": where[:120]})
    return list(rows.values())
