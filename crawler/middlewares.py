"""Retry with backoff: Scrapy's RetryMiddleware, plus a pause before the retry (answers and network errors).

Scrapy 2.19 retries 429/5xx at once. This subclass first raises the download slot's delay
(the same knob AutoThrottle turns, which later brings it back down): to the server's
``Retry-After`` on a 429, else to ``RETRY_BACKOFF_BASE * 2**attempt`` (capped), so the whole
domain slows down, not just the retried request. The log states the wait the slot really makes.
A 403 (the registry's bot filter) is retried ``TRIALKB_RETRY_403_TIMES`` times; a DNS failure is
not retried at all (an offline machine hears so at once).
"""

from __future__ import annotations

import logging
from email.utils import parsedate_to_datetime
from datetime import datetime, timezone
from time import monotonic

from scrapy import Request
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.http import Response
from scrapy.exceptions import CannotResolveHostError
from twisted.internet.error import DNSLookupError

DNS_FAILURES = (CannotResolveHostError, DNSLookupError)

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
        self._raised: dict[int, float] = {}  # slots this middleware slowed down -> until when the wait holds

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
        if response.status == 403:
            request.meta["max_retry_times"] = settings.getint("TRIALKB_RETRY_403_TIMES")
        most = request.meta.get("max_retry_times", self.max_retry_times)
        if attempt >= most:
            return super().process_response(request, response)  # gives up: the errback says what happened
        wait = self._slow_down(request, wait)
        self.crawler.stats.inc_value(f"trialkb/retry_status/{response.status}")
        log.warning("%s answered HTTP %s; retrying in %.1f s (retry %d of %d)", _short(request.url), response.status,
                    wait, attempt + 1, most)
        return super().process_response(request, response)

    def process_exception(self, request: Request, exception: Exception, spider=None):  # type: ignore[override]
        """Network errors (DNS, refused, timeout) back off like 5xx answers."""
        if isinstance(exception, DNS_FAILURES):
            return None  # not retried: the errback reports it at once
        attempt = request.meta.get("retry_times", 0)
        most = request.meta.get("max_retry_times", self.max_retry_times)
        if isinstance(exception, self.exceptions_to_retry) and not request.meta.get("dont_retry", False) and attempt < most:
            wait = self._slow_down(request, self._backoff(attempt))
            log.warning("%s failed (%s); retrying in %.1f s (retry %d of %d)", _short(request.url),
                        type(exception).__name__, wait, attempt + 1, most)
        return super().process_exception(request, exception)

    def _backoff(self, attempt: int) -> float:
        """Seconds to wait before retry ``attempt + 1``: doubled per attempt, capped."""
        settings = self.crawler.settings
        return min(settings.getfloat("RETRY_BACKOFF_BASE") * 2 ** attempt, settings.getfloat("RETRY_BACKOFF_MAX"))

    def _slot(self, request: Request):  # type: ignore[no-untyped-def]
        key = request.meta.get("download_slot")
        return self.crawler.engine.downloader.slots.get(key) if key else None

    def _slow_down(self, request: Request, wait: float) -> float:
        """Make the request's download slot wait at least ``wait`` seconds; returns the wait it will make."""
        slot = self._slot(request)
        if slot is None:
            return wait
        now = monotonic()
        if slot.delay < wait:
            slot.delay = wait
        self._raised[id(slot)] = max(self._raised.get(id(slot), 0.0), now + slot.delay)
        slot.lastseen = max(slot.lastseen, now)  # the wait counts from this answer, not the last request
        return slot.delay

    def _recover(self, request: Request) -> None:
        """After a good answer, a slot this middleware slowed goes back to the normal delay (once its
        wait is over: an answer to a request sent before the wait must not cut it short)."""
        slot = self._slot(request)
        if slot is not None and id(slot) in self._raised and monotonic() >= self._raised[id(slot)]:
            del self._raised[id(slot)]
            slot.delay = self.crawler.settings.getfloat("DOWNLOAD_DELAY")


def _short(url: str, most: int = 100) -> str:
    """A URL cut for a log line (search URLs carry kilobytes of expression)."""
    return url if len(url) <= most else url[: most - 3] + "..."
