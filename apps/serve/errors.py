"""Refusals and errors of the served store, in place of Datasette's default handler.

Datasette's own handler prints every error with rich as a traceback with its local variables (pages
per error), and answers 500 for a missing page when it is not called inside an ``except`` block
(a POST to a write endpoint), as for a POST to a table (an assertion). Here the store is read-only
at the door: any method but GET and HEAD is a 405 (:func:`asgi_wrapper`); an expected error (a bad
request, a missing page, a query stopped by ``sql_time_limit_ms``) is its 4xx and one log line;
only a bug is a 500, logged with its plain traceback.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from datasette import Response, hookimpl
from datasette.utils.asgi import Base400
from datasette.views.base import DatasetteError
from markupsafe import Markup

__all__ = ["DEFAULT_HANDLER", "READING_METHODS", "asgi_wrapper", "describe", "handle_exception"]

DEFAULT_HANDLER = "datasette.handle_exception"
"""The name of Datasette's default plugin this one replaces (:func:`apps.serve.build_datasette`)."""

READING_METHODS = frozenset({"GET", "HEAD"})
"""What a browser of a read-only store may ask; anything else is refused before Datasette sees it."""

log = logging.getLogger("trialkb.serve")


@hookimpl
def asgi_wrapper(datasette: Any) -> Any:
    """Refuse every request that is not a read (POST, PUT, DELETE ...) with 405 and one log line."""
    def wrap(app: Any) -> Any:
        async def read_only(scope: dict, receive: Any, send: Any) -> None:
            method = scope.get("method", "GET")
            if scope["type"] != "http" or method in READING_METHODS:
                await app(scope, receive, send)
                return
            log.warning("405 %s %s: the served store is read-only", method, scope.get("path", ""))
            await Response.text("405: the served store is read-only\n", status=405,
                                headers={"Allow": "GET, HEAD"}).asgi_send(send)
        return read_only
    return wrap


def describe(exception: BaseException) -> tuple[int, str, str | None, bool]:
    """(status, message, title, message is HTML) of an error; 500 for anything unexpected."""
    if isinstance(exception, Base400):
        return exception.status, str(exception.args[0] if exception.args else exception), None, False
    if isinstance(exception, DatasetteError):
        return exception.status, exception.message, exception.title, exception.message_is_html
    return 500, str(exception), None, False


def _one_line(message: str, is_html: bool) -> str:
    """The first line of a message, without its markup."""
    text = re.sub(r"<textarea.*?</textarea>|<script.*?</script>|<[^>]+>", " ", message, flags=re.S) if is_html \
        else message
    return " ".join(text.split())[:200]


@hookimpl
def handle_exception(datasette: Any, request: Any, exception: BaseException) -> Any:
    async def respond() -> Response:
        status, message, title, is_html = describe(exception)
        where = f"{request.method} {request.path}"
        if status >= 500:
            log.error("%s %s: %s", status, where, message or type(exception).__name__, exc_info=exception)
        else:
            log.warning("%s %s: %s", status, where, _one_line(f"{title}: {message}" if title else message, is_html))
        info = {"ok": False, "error": message, "status": status, "title": title}
        if request.path.endswith(".json"):
            return Response.json(info, status=status)
        template = datasette.jinja_env.select_template([f"{status}.html", "error.html"])
        return Response.html(await template.render_async(dict(
            info, error=Markup(message) if is_html else message, urls=datasette.urls,
            app_css_hash=datasette.app_css_hash(), menu_links=lambda: [])), status=status)

    return respond
