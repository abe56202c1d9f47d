"""Retry with backoff: Scrapy's RetryMiddleware, plus a pause before the retry (answers and network errors).

Scrapy 2.19 retries 429/5xx at once. This subclass first raises the download slot's delay
(the same knob AutoThrottle turns, which later brings it back down): to the server's
``Retry-After`` on a 429, else to ``RETRY_BACKOFF_BASE * 2**attempt`` (capped), so the whole
domain slows down, not just the retried request.
"""

from __future__ import annotations

import logging
from email.utils import parsedate_to_datetime
from datetime import datetime, timezone
from time import monotonic

from scrapy import Request
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.http import Response

log = logging.getLogger(__name__)


def retry_after_seconds(value: bytes | str | None, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


class BackoffRetryMiddleware(RetryMiddleware):
    """RetryMiddleware that waits before retrying (Retry-After or exponential backoff)."""

    def __init__(self, settings) -> None:  # type: ignore[no-untyped-def]
        super().__init__(settings)
        self._raised: set[int] = set()  # ids of the slots this middleware slowed down

    def process_response(self, request: Request, response: Response, spider=None):  # type: ignore[override]
        if request.meta.get("dont_retry", False) or response.status not in self.retry_http_codes:
            self._recover(request)
            return response
        settings = self.crawler.settings
        attempt = request.meta.get("retry_times", 0)
        wait = None
        if response.status == 429:
            wait = retry_after_seconds(response.headers.get("Retry-After"))
            if wait is not None:
                wait = min(wait, settings.getfloat("RETRY_AFTER_MAX"))
                self.crawler.stats.inc_value("trialkb/retry_after_honoured")
        if wait is None:
            wait = self._backoff(attempt)
        self._slow_down(request, wait)
        self.crawler.stats.inc_value(f"trialkb/retry_status/{response.status}")
        log.warning("%s answered %s; retrying in %.1f s (attempt %d)", request.url, response.status, wait, attempt + 1)
        return super().process_response(request, response)

    def process_exception(self, request: Request, exception: Exception, spider=None):  # type: ignore[override]
        """Network errors (DNS, refused, timeout) back off like 5xx answers."""
        if isinstance(exception, self.exceptions_to_retry) and not request.meta.get("dont_retry", False):
            attempt = request.meta.get("retry_times", 0)
            wait = self._backoff(attempt)
            self._slow_down(request, wait)
            log.warning("%s failed (%s); retrying in %.1f s (attempt %d)", request.url,
                        type(exception).__name__, wait, attempt + 1)
        return super().process_exception(request, exception)

    def _backoff(self, attempt: int) -> float:
        """Seconds to wait before retry ``attempt + 1``: doubled per attempt, capped."""
        settings = self.crawler.settings
        return min(settings.getfloat("RETRY_BACKOFF_BASE") * 2 ** attempt, settings.getfloat("RETRY_BACKOFF_MAX"))

    def _slot(self, request: Request):  # type: ignore[no-untyped-def]
        key = request.meta.get("download_slot")
        return self.crawler.engine.downloader.slots.get(key) if key else None

    def _slow_down(self, request: Request, wait: float) -> None:
        """Make the request's download slot wait at least ``wait`` seconds between requests."""
        slot = self._slot(request)
        if slot is not None:
            if slot.delay < wait:
                slot.delay = wait
                self._raised.add(id(slot))
            slot.lastseen = max(slot.lastseen, monotonic())  # the wait counts from this answer, not the last request

    def _recover(self, request: Request) -> None:
        """After a good answer, a slot this middleware slowed goes back to the normal delay."""
        slot = self._slot(request)
        if slot is not None and id(slot) in self._raised:
            self._raised.discard(id(slot))
            slot.delay = self.crawler.settings.getfloat("DOWNLOAD_DELAY")
