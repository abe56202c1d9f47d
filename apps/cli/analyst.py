"""Analyst commands: ``find`` (filters instead of SQL) and ``serve`` (the store in a browser)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from apps.cli.common import DbOption, FormatOption, console, err, fail, print_rows, store_url



def find(ctx: typer.Context,
         target: Annotated[Optional[list[str]], typer.Option(help="Target antigen: CD19, BCMA, ... (repeat for any of several)")] = None,
         disease: Annotated[Optional[list[str]], typer.Option(help="Disease: lupus, SLE, myositis, sjogren, ...")] = None,
         cell: Annotated[Optional[list[str]], typer.Option(help="Effector cell: T, NK, iNKT, Treg, ...")] = None,
         origin: Annotated[Optional[list[str]], typer.Option(help="autologous, allogeneic or in_vivo")] = None,
         modality: Annotated[Optional[list[str]], typer.Option(help="Platform, e.g. 'CAR-NK', 'allogeneic CAR-T' (a part is enough)")] = None,
         status: Annotated[Optional[list[str]], typer.Option(help="Overall status: recruiting, 'not yet recruiting', completed, ...")] = None,
         phase: Annotated[Optional[list[str]], typer.Option(help="Phase: 1, 2, 3, 4, early1, na")] = None,
         country: Annotated[Optional[list[str]], typer.Option(help="Country of a site: China, 'United States', ...")] = None,
         sponsor: Annotated[Optional[list[str]], typer.Option(help="Part of the lead sponsor's name")] = None,
         started_after: Annotated[Optional[str], typer.Option(help="Start date on or after YYYY[-MM[-DD]]")] = None,
         relevant: Annotated[bool, typer.Option("--relevant", help="Only CAR cell therapies in immune-mediated disease")] = False,
         limit: Annotated[Optional[int], typer.Option(help="At most this many trials")] = None,
         fmt: FormatOption = None,
         db: DbOption = None) -> None:
    """Find trials by target, disease, cell, origin, modality, status, phase, country, sponsor, start.

    Repeat an option for any of several values; different options must all match. A table on a
    terminal, CSV when piped (--format table|csv|tsv|json|markdown).

    Example: trialkb find --status recruiting --target CD19 --disease lupus
    """
    from apps.cli.common import engine_from
    from apps.output import pick_format
    from kb.analysis.find import Filters, FindError, find_trials
    from kb.domain.lexicon import category_name
    from kb.store.read import json_list

    filters = Filters(target=target or [], disease=disease or [], cell=cell or [], origin=origin or [],
                      modality=modality or [], status=status or [], phase=phase or [], country=country or [],
                      sponsor=sponsor or [], started_after=started_after, relevant_only=relevant)
    try:
        columns, rows = find_trials(engine_from(ctx, db, readonly=True), filters, limit)
    except FindError as exc:
        fail(str(exc))
        return
    try:
        table = pick_format(fmt, console.is_terminal) == "table"
    except ValueError:  # print_rows says what is wrong
        table = False
    if table:  # people read disease names; files keep the keys
        at = columns.index("diseases")
        rows = [(*row[:at], [category_name(k) for k in json_list(row[at])], *row[at + 1:]) for row in rows]
    print_rows(columns, rows, fmt, ["trial_id", "status", "start_date", "targets", "diseases", "title"])
    if not rows:
        err.print("no trial matches", highlight=False)


def serve(ctx: typer.Context,
          host: Annotated[str, typer.Option(help="Address to listen on (127.0.0.1: this machine only)")] = "127.0.0.1",
          port: Annotated[int, typer.Option(help="Port")] = 8001,
          copy: Annotated[Optional[Path], typer.Option(help="Serve a SQLite copy made in this file first "
                                                            "(automatic for PostgreSQL, in ~/.cache/trialkb)")] = None,
          db: DbOption = None) -> None:
    """Browse the store in a web browser (Datasette, read-only): facets, analyst queries, trial pages.

    A trial page (/trial/NCT...) shows each fact with its evidence, the history and similar trials.
    Datasette reads SQLite: a PostgreSQL store is served through a SQLite copy made at start.

    Example: trialkb serve --port 8001
    """
    from kb.core.location import default_url, normalize_url
    from apps.serve import ServeError, run_server

    try:
        run_server(normalize_url(store_url(ctx, db) or default_url()), host=host, port=port, copy=copy,
                   announce=lambda message: err.print(message, highlight=False))
    except ServeError as exc:
        fail(str(exc))


def register(app: typer.Typer) -> None:
    """Add the analyst commands to the trialkb app."""
    app.command()(find)
    app.command()(serve)
