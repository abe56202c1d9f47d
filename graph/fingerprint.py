"""The store's fingerprint: when it changes, the cached similarity index is rebuilt.

Free of SQLAlchemy, so that a lookup can check it over a plain DB-API connection.
"""

from __future__ import annotations

__all__ = ["GRAPH_VERSION", "FINGERPRINT_SQL", "fingerprint"]

GRAPH_VERSION = 4
"""Bump when the graph's or the index's make-up changes, so cached indexes are rebuilt."""

FINGERPRINT_SQL = "SELECT count(*), max(updated_at) FROM trial"
"""Trial count and newest update: any added or changed trial moves one of them."""


def fingerprint(count: int, newest: object) -> str:
    """``v<graph version>:<trials>:<newest update>`` from the row of :data:`FINGERPRINT_SQL`."""
    return f"v{GRAPH_VERSION}:{count}:{newest}"
