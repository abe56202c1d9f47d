"""The Datasette plugin: a page per trial (/trial/ID, any registry), the compare page (/compare,
:mod:`apps.serve.compare_page`) and links from every trial id to its page.

Configured through Datasette metadata, ``plugins: {"trialkb": {"store": PATH, "database": NAME}}``.
The page shows the trial card (``kb.analysis.card``), each fact with its field and quote, the posted
results (adverse events by arm), the history
(``kb.store.read.get_history``) and the similar trials with their reasons (``graph.cache.load_index``),
reading the store through a read-only SQLAlchemy engine.
"""

from __future__ import annotations

import asyncio
import logging
from functools import lru_cache
from typing import Any
from urllib.parse import quote, urlencode

from datasette import Response, hookimpl
from markupsafe import Markup, escape
from sqlalchemy import Engine, select

log = logging.getLogger("trialkb.serve")
SIMILAR_TOP = 10
FACT_FACETS = {"target": "targets", "disease": "disease_names", "product": "products", "cell_type": "cell_type",
               "origin": "origin", "modality": "modality"}
"""Fact kinds that are facets of the analyst view (kind -> column)."""


@lru_cache(maxsize=4)
def store_engine(path: str) -> Engine:
    """The served store's read-only engine (:func:`kb.store.db.readonly_engine`), one per store."""
    from kb.store.db import readonly_engine

    return readonly_engine(f"sqlite:///{path}")


class _IndexCache:
    """The similarity index of a store, reloaded when the store's fingerprint changes."""

    def __init__(self) -> None:
        self.index: Any = None

    def get(self, engine: Engine) -> Any:
        from graph.build import build_graph, store_fingerprint
        from graph.cache import load_index
        from graph.index import SimilarityIndex

        if self.index is None or self.index.fingerprint != store_fingerprint(engine):
            try:
                self.index, _ = load_index(engine)
            except OSError:  # the cache file cannot be written beside the store: keep it in memory
                self.index = SimilarityIndex.from_graph(build_graph(engine))
        return self.index


_INDEXES: dict[str, _IndexCache] = {}


def trial_page_data(path: str, trial_id: str) -> dict[str, Any]:
    """Everything the trial page shows (raises ``kb.store.read.NotFound``)."""
    from graph.similarity import UnknownTrial
    from kb.analysis.card import group_facts, trial_card
    from kb.store.models import Trial
    from kb.store.read import get_history

    engine = store_engine(path)
    card = trial_card(engine, trial_id)
    history = get_history(engine, trial_id)
    try:
        similar = _INDEXES.setdefault(path, _IndexCache()).get(engine).similar(card["trial_id"], top=SIMILAR_TOP)
    except UnknownTrial:
        similar = []
    with engine.connect() as conn:
        titles = dict(conn.execute(select(Trial.trial_id, Trial.brief_title)
                                   .where(Trial.trial_id.in_([s["trial_id"] for s in similar]))).all())
    for s in similar:
        s["title"] = titles.get(s["trial_id"])
    return {"card": card, "facts": group_facts(card["facts"]), "history": history, "similar": similar}


def facet_url(datasette: Any, database: str, kind: str, value: str) -> str | None:
    """The analyst view filtered to this fact, if the fact is one of its facets."""
    column = FACT_FACETS.get(kind)
    if column is None:
        return None
    from kb.domain.lexicon import category_name

    op = "arraycontains" if column in ("targets", "disease_names", "products") else "exact"
    value = category_name(value) if kind == "disease" else value  # the facet lists diseases by name
    return datasette.urls.table(database, "relevant_trial") + "?" + urlencode({f"{column}__{op}": value})


async def trial_page(request: Any, datasette: Any) -> Response:
    """GET /trial/ID: one trial of any registry (any case), or a 404 page that says why."""
    from kb.analysis.card import FACT_LABELS, card_lines, fact_value
    from kb.core.errors import BadArgument
    from kb.core.ids import parse_trial_id, registry_url
    from kb.store.read import NotFound

    config = datasette.plugin_config("trialkb") or {}
    asked = request.url_vars["trial_id"]
    try:
        trial_id = parse_trial_id(asked)  # any case, any registry
        data = await asyncio.get_running_loop().run_in_executor(None, trial_page_data, config["store"], trial_id)
    except (BadArgument, NotFound) as exc:
        log.warning("trial page %s: %s", asked, exc)  # one line in the server's log, no traceback
        known = isinstance(exc, NotFound)
        return Response.html(await datasette.render_template("trial_missing.html", {
            "trial_id": trial_id if known else asked, "message": str(exc),
            "registry_url": registry_url(trial_id) if known else None,
            "view_url": datasette.urls.table(config["database"], "relevant_trial"),
            "all_url": datasette.urls.table(config["database"], "trial")}, request=request), status=404)
    database = config["database"]
    context = {**data, "summary": card_lines(data["card"]), "fact_labels": FACT_LABELS, "fact_value": fact_value,
               "database": database,
               "facet_url": lambda kind, value: facet_url(datasette, database, kind, value)}
    return Response.html(await datasette.render_template("trial.html", context, request=request))


def warm_index(path: str) -> None:
    """Load (or build) the similarity index, so that the first trial page does not wait for it."""
    _INDEXES.setdefault(path, _IndexCache()).get(store_engine(path))


@hookimpl
def startup(datasette: Any) -> None:
    config = datasette.plugin_config("trialkb") or {}
    if config:
        asyncio.get_running_loop().run_in_executor(None, warm_index, config["store"])


@hookimpl
def register_routes(datasette: Any) -> list[tuple[str, Any]]:
    from apps.serve.compare_page import compare_page

    return [(r"^/trial/(?P<trial_id>.+)$", trial_page),  # any registry's id; CTRI ids hold slashes
            (r"^/compare$", compare_page)]


@hookimpl
def render_cell(value: Any, column: str, table: str | None, database: str, datasette: Any) -> Any:
    """A registry id in a ``trial_id`` or ``nct_id`` column links to its trial page."""
    from kb.core.ids import match_trial_id

    if column in ("trial_id", "nct_id") and isinstance(value, str) and match_trial_id(value):
        return Markup(f'<a href="{escape(datasette.urls.path("/trial/" + quote(value)))}">{escape(value)}</a>')
    return None


@hookimpl
def extra_css_urls() -> list[str]:
    return ["/trialkb-static/trialkb.css"]


@hookimpl
def menu_links(datasette: Any) -> list[dict[str, str]]:
    config = datasette.plugin_config("trialkb") or {}
    if not config:
        return []
    return [{"href": datasette.urls.table(config["database"], "relevant_trial"), "label": "Analyst view"},
            {"href": datasette.urls.path("/compare"), "label": "Compare trials"}]
