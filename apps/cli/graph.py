"""``trialkb similar`` and ``trialkb graph export``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from apps.cli.common import DbOption, at_least, console, engine_from, fail, reader_from, store_url
from kb.core.errors import BadArgument

if TYPE_CHECKING:
    from graph.index import SimilarityIndex
    from kb.store.readonly import ReadOnlyStore

graph_app = typer.Typer(help="The trial graph.", no_args_is_help=True)


def similar(ctx: typer.Context, trial_id: str,
            top: Annotated[int, typer.Option("--top", help="How many trials", callback=at_least(1))] = 10,
            car_only: Annotated[bool, typer.Option("--car-only", help="Only CAR cell therapies")] = False,
            as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
            db: DbOption = None) -> None:
    """Trials most like the trial ID (any registry), best first, each with what it shares and what differs.

    Same product first, then the same target set in the same disease, then the same target or
    disease, within the same domain and modality; sponsor, country, phase and intervention names
    only break ties. The similarity index is built once per store change and reused (cached
    beside the store).

    Example: trialkb similar NCT06464679 --top 10
    """
    from graph.similarity import UnknownTrial
    from kb.core.ids import parse_trial_id

    trial_id = parse_trial_id(trial_id)  # a clear message for what is no registry's id
    with reader_from(ctx, db) as store:
        index = _index(ctx, db, store)
        try:
            results = index.similar(trial_id, top=2 * top + 5, car_only=car_only)
        except UnknownTrial as exc:
            fail(str(exc))
        results = once_per_trial(store, trial_id, results)[:top]
        ids = [r["trial_id"] for r in results]
        _, rows = store.query(f"SELECT trial_id, nct_id, brief_title FROM trial WHERE trial_id IN "
                              f"({', '.join([store.placeholder] * len(ids))})", ids) if ids else ([], [])
    nct_ids = {row[0]: row[1] for row in rows}
    if as_json:  # "nct_id" is the contract's key; "trial_id" names a registration of any registry
        typer.echo(json.dumps([{"trial_id": r["trial_id"], "nct_id": nct_ids.get(r["trial_id"]), "score": r["score"],
                                "shared": [s["entity"] for s in r["shared"]], "why": r["why"],
                                "other_ids": r["other_ids"]}
                               for r in results], indent=2, ensure_ascii=False))
        return
    from rich.table import Table

    titles = {row[0]: row[2] for row in rows}
    table = Table()
    for name in ("#", "trial", "score"):
        table.add_column(name, no_wrap=True)
    table.add_column("title", ratio=2, overflow="fold")  # whole titles, wrapped at words on any width
    table.add_column("why", ratio=3, overflow="fold")
    for rank, r in enumerate(results, 1):
        table.add_row(str(rank), r["trial_id"], f"{r['score']:.3f}", titles.get(r["trial_id"]) or "", r["why"])
    console.print(table)


def once_per_trial(store: ReadOnlyStore, trial_id: str, results: list[dict]) -> list[dict]:
    """Similar trials with a trial registered in several registries once (its best-ranked registration,
    with ``other_ids``), and none of the asked trial's own registrations."""
    from kb.store.registrations import groups

    registrations = groups(store, [trial_id, *(r["trial_id"] for r in results)])
    seen = set(registrations.get(trial_id, [trial_id]))
    out = []
    for r in results:
        ids = registrations.get(r["trial_id"], [r["trial_id"]])
        if seen.intersection(ids):
            continue
        seen.update(ids)
        out.append({**r, "other_ids": [i for i in ids if i != r["trial_id"]]})
    return out


def _index(ctx: typer.Context, db: str | None, store: ReadOnlyStore) -> SimilarityIndex:
    """The store's cached similarity index, rebuilt (with SQLAlchemy and networkx) only when stale."""
    from graph.cache import cache_path, load_cached, rebuild_index, store_fingerprint_of
    from kb.core.location import default_url, normalize_url

    path = cache_path(normalize_url(store_url(ctx, db) or default_url()))
    index = load_cached(path, store_fingerprint_of(store))
    return index if index is not None else rebuild_index(engine_from(ctx, db, readonly=True), path)


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
