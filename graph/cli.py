"""``trialkb similar`` and ``trialkb graph export``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from kb.cli.common import DbOption, at_least, console, engine_from, fail
from kb.errors import BadArgument, check_nct_id

graph_app = typer.Typer(help="The trial graph.", no_args_is_help=True)


def similar(ctx: typer.Context, nct_id: str,
            top: Annotated[int, typer.Option("--top", help="How many trials", callback=at_least(1))] = 10,
            car_only: Annotated[bool, typer.Option("--car-only", help="Only CAR cell therapies")] = False,
            as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
            db: DbOption = None) -> None:
    """Trials most like NCTID, best first, with the shared entities that explain each score.

    The graph and its similarity index are built once per store change and reused (cached
    beside the store).

    Example: trialkb similar NCT06464679 --top 10
    """
    from rich.table import Table
    from sqlalchemy import select

    from graph.cache import load_index
    from graph.similarity import UnknownTrial
    from kb.models import Trial

    nct_id = check_nct_id(nct_id)
    engine = engine_from(ctx, db, readonly=True)
    index, _ = load_index(engine)
    try:
        results = index.similar(nct_id, top=top, car_only=car_only)
    except UnknownTrial as exc:
        fail(str(exc))
        return
    if as_json:
        typer.echo(json.dumps([{"nct_id": r["nct_id"], "score": r["score"],
                                "shared": [s["entity"] for s in r["shared"]], **({"note": r["note"]} if "note" in r else {})}
                               for r in results], indent=2, ensure_ascii=False))
        return
    with engine.connect() as conn:
        titles = dict(conn.execute(select(Trial.nct_id, Trial.brief_title)
                                   .where(Trial.nct_id.in_([r["nct_id"] for r in results]))).all())
    table = Table("#", "trial", "score", "title", "why (shared, most telling first)")
    for rank, r in enumerate(results, 1):
        why = ", ".join(s["entity"] for s in r["shared"][:6]) + (f" ... (+{len(r['shared']) - 6})" if len(r["shared"]) > 6 else "")
        if "note" in r:
            why += f"; {r['note']}"
        table.add_row(str(rank), r["nct_id"], f"{r['score']:.3f}", (titles.get(r["nct_id"]) or "")[:40], why)
    console.print(table)


@graph_app.command("export")
def export(ctx: typer.Context, path: Path,
           fmt: Annotated[Optional[str], typer.Option("--format", help="graphml, gexf or json (default: from PATH)")] = None,
           relevant_only: Annotated[bool, typer.Option("--relevant-only", help="Only CAR trials in immune disease")] = False,
           db: DbOption = None) -> None:
    """Write the trial graph for Gephi or Cytoscape.

    Example: trialkb graph export trials.graphml
    """
    from graph.build import build_graph
    from graph.export import export_graph

    if not path.parent.is_dir():
        raise BadArgument(f"cannot write {path}: no directory {path.parent}")
    graph = build_graph(engine_from(ctx, db, readonly=True), relevant_only=relevant_only)
    try:
        written = export_graph(graph, path, fmt)
    except ValueError as exc:
        fail(str(exc))
        return
    console.print(f"wrote {path} ({written}): {graph.number_of_nodes()} nodes, {graph.number_of_edges()} edges",
                  highlight=False)


def register(app: typer.Typer) -> None:
    """Add the graph's commands to the trialkb app."""
    app.command()(similar)
    app.add_typer(graph_app, name="graph")
