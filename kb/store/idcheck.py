"""Stored ids that are not ids: a check for stores written before ids were ASCII-only and whole.

Until trialkb 0.2 the NCT pattern matched any Unicode digit and a final newline, so a store may
hold ``NCT٠٦٤٦٤٦٧٩`` (a second copy of NCT06464679) or ``"NCT91000009\\n"``. ``trialkb rebuild``
reports them and leaves them as they are (it does not re-normalize or delete them: which copy to
keep is the user's decision).
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from kb.core.ids import is_nct_id, match_trial_id
from kb.store.models import RawRecord, Trial

__all__ = ["bad_stored_ids", "is_canonical"]


def bad_stored_ids(conn: Connection) -> list[str]:
    """One line per stored trial id (or NCT id) that is not a canonical registry id, with the reason.

    Ids are shown with ``repr``, so a newline or a non-ASCII digit is visible.
    """
    found: list[str] = []
    seen: set[str] = set()
    for table, column in ((Trial.__table__, "trial_id"), (RawRecord.__table__, "trial_id"),
                          (Trial.__table__, "nct_id")):
        for value in sorted(conn.execute(select(table.c[column]).where(table.c[column].is_not(None))).scalars()):
            reason = _why_bad(value, nct=column == "nct_id")
            if reason and (key := f"{table.name}.{column}:{value}") not in seen:
                seen.add(key)
                found.append(f"{table.name}.{column} {value!r}: {reason}")
    return found


def is_canonical(trial_id: str) -> bool:
    """Whether a stored trial id is a registry's id in its canonical form.

    >>> is_canonical("NCT06464679"), is_canonical("NCT06464679\\n")
    (True, False)
    """
    return _why_bad(trial_id, nct=False) is None


def _why_bad(value: str, nct: bool) -> str | None:
    """Why a stored id is not a canonical id (None when it is one)."""
    if nct and is_nct_id(value):
        return None
    match = None if nct else match_trial_id(value)
    if match is not None and match.id == value:
        return None
    if not value.isascii():
        return "not ASCII (look-alike digits or letters): no registry's id"
    if value != value.strip():
        return "blanks or a newline around the id"
    if match is not None:
        return f"not in canonical form (canonical: {match.id})"
    return "not an NCT id" if nct else "no registry's id"
