"""``trialkb products``: every product learned from the store, with its facts, sources and trials."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

from apps.cli.common import DbOption, FormatOption, err, fail, print_rows, reader_from

STATUSES = ("learned", "candidate")
STALE_NOTE = ("note: trials were stored since these products were learned (a job that stores trials is running, or "
              "its relearning was stopped); the next import or crawl relearns them, as does trialkb rebuild")
TABLE_COLUMNS = ["code", "status", "is_car", "targets", "cell_type", "origin", "trials", "evidence"]


def evidence_text(sources: dict[str, dict[str, str]], reason: str | None) -> str:
    """Where each fact was read ('target: NCT07320000 brief_summary'), or a candidate's reason."""
    if reason:
        return f"candidate: {reason}"
    return "; ".join(f"{kind}: {s['trial_id']} {s['field']}" for kind, s in sorted(sources.items()))


def products(ctx: typer.Context,
             status: Annotated[Optional[str], typer.Option(help="Only 'learned' or only 'candidate' products")] = None,
             as_json: Annotated[bool, typer.Option("--json", help="Print JSON (--format json)")] = False,
             fmt: FormatOption = None,
             db: DbOption = None) -> None:
    """List the products learned from the stored trials' own text: facts, where each was read, trials.

    A learned product's facts fill what another trial naming its code leaves open; a candidate is a
    code with a reason to think it a CAR product (never applied). Table on a terminal, CSV when piped.
    A note on stderr says when trials were stored since the products were learned.

    Example: trialkb products --status learned --format csv
    """
    if status is not None and status not in STATUSES:
        fail(f"unknown status {status!r}: use learned or candidate")
    from kb.store.products import STALE_KEY
    from kb.store.read import json_value

    with reader_from(ctx, db) as store:
        where = f" WHERE status = {store.placeholder}" if status else ""
        _, rows = store.query("SELECT code, status, facts, sources, trials, reason FROM product"
                              f"{where} ORDER BY status DESC, code", (status,) if status else ())
        _, stale = store.query(f"SELECT 1 FROM crawl_state WHERE key = {store.placeholder}", (STALE_KEY,))
    if stale:
        err.print(STALE_NOTE, highlight=False, soft_wrap=True)
    items = [{"code": code, "status": state, "facts": json_value(facts) or {}, "sources": json_value(sources) or {},
              "trials": json_value(trials) or [], "reason": reason} for code, state, facts, sources, trials, reason in rows]
    if as_json or fmt == "json":
        print(json.dumps(items, indent=2, ensure_ascii=False))
        return
    flat = [(p["code"], p["status"], p["facts"].get("is_car"), p["facts"].get("targets", []),
             p["facts"].get("cell_type"), p["facts"].get("origin"), p["trials"],
             evidence_text(p["sources"], p["reason"])) for p in items]
    print_rows(TABLE_COLUMNS, flat, fmt)


def register(app: typer.Typer) -> None:
    """Add ``products`` to the trialkb app."""
    app.command()(products)
