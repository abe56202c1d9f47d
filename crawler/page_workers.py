"""What the crawl pipeline's worker processes run: parse and prepare slices of a page.

Kept free of Scrapy so a worker process starts quickly (the forkserver preloads this module).
"""

from __future__ import annotations

import orjson

from kb.process import gcpause
from kb.store.write import PreparedStudy, Rejected, Unchanged, keeping, prepare


def prepare_slice(url: str, start: int, records: list[bytes], known: dict[str, str]
                  ) -> list[PreparedStudy | Unchanged | Rejected]:
    """Parse and prepare a slice of a page's studies (runs in a worker process); ``known``
    studies whose stored hash matches are not normalized again."""
    gcpause.collect()  # the last slice's leftovers (the collector is paused in workers)
    return [_prepare(f"{url}#{start + i}", record, known) for i, record in enumerate(records)]


def _prepare(origin: str, record: bytes, known: dict[str, str]) -> PreparedStudy | Unchanged | Rejected:
    try:
        data = orjson.loads(record)
    except orjson.JSONDecodeError as exc:  # the spider checked the page: this would be a bug
        return keeping(Rejected(origin, f"invalid JSON: {exc}"), record)
    prepared = prepare(origin, data, known)
    return keeping(prepared, record) if isinstance(prepared, Rejected) else prepared  # kept, so rebuild can recover it


def slices(count: int, most: int, smallest: int = 100) -> list[tuple[int, int]]:
    """(start, stop) of at most ``most`` near-equal slices of ``count`` studies, none under ``smallest``.

    >>> slices(1000, 2)
    [(0, 500), (500, 1000)]
    >>> slices(150, 4)
    [(0, 150)]
    """
    parts = max(1, min(most, count // smallest))
    bounds = [count * i // parts for i in range(parts + 1)]
    return list(zip(bounds, bounds[1:]))
