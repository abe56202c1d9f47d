"""``trialkb compare``: trials side by side (the comparison is :func:`kb.analysis.compare.compare_trials`)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from apps.cli.common import DbOption, FormatOption, at_least, console, engine_from, fail, reader_from

if TYPE_CHECKING:
    from kb.analysis.compare import Comparison

ListOption = Optional[list[str]]


def compare(ctx: typer.Context,
            trial_ids: Annotated[Optional[list[str]], typer.Argument(help="Trial ids of any registry", show_default=False)] = None,
            similar_to: Annotated[Optional[str], typer.Option(help="This trial and its --top most similar trials")] = None,
            top: Annotated[int, typer.Option(help="How many similar (or matching) trials", callback=at_least(1))] = 10,
            target: Annotated[ListOption, typer.Option(help="Compare trials of this target (as trialkb find)")] = None,
            disease: Annotated[ListOption, typer.Option(help="... in this disease")] = None,
            cell: Annotated[ListOption, typer.Option(help="... of this effector cell")] = None,
            origin: Annotated[ListOption, typer.Option(help="... of this origin")] = None,
            modality: Annotated[ListOption, typer.Option(help="... of this modality")] = None,
            status: Annotated[ListOption, typer.Option(help="... with this status")] = None,
            phase: Annotated[ListOption, typer.Option(help="... in this phase")] = None,
            country: Annotated[ListOption, typer.Option(help="... with a site in this country")] = None,
            sponsor: Annotated[ListOption, typer.Option(help="... of this sponsor (part of its name)")] = None,
            relevant: Annotated[bool, typer.Option("--relevant", help="... CAR cell therapies in immune-mediated disease")] = False,
            differences: Annotated[bool, typer.Option("--differences", help="Only the rows where the trials differ")] = False,
            evidence: Annotated[bool, typer.Option("--evidence", help="Each fact's evidence: the field and the words")] = False,
            fmt: FormatOption = None,
            db: DbOption = None) -> None:
    """Trials side by side: one column per trial, one row per attribute, differing rows marked.

    Name the trials, or take a trial and its most similar ones (--similar-to), or the trials a
    find-like filter matches (--target, --disease, ...; at most --top). Rows: targets and construct,
    cell and origin, products, dose levels, lymphodepletion, enrollment, ages, diseases and
    cohorts, endpoint kinds, countries and sites, sponsor, status and dates, posted results.
    A table on a terminal, CSV when piped (--format table|csv|tsv|json|markdown).

    Example: trialkb compare NCT06464679 NCT06613490 NCT06010472 --evidence
    """
    from graph.pick import pick_trials
    from kb.analysis.compare import compare_trials

    lists = dict(target=target, disease=disease, cell=cell, origin=origin, modality=modality, status=status,
                 phase=phase, country=country, sponsor=sponsor)
    filters = None
    if any(lists.values()) or relevant:
        from kb.analysis.find import Filters

        filters = Filters(**{k: v or [] for k, v in lists.items()}, relevant_only=relevant)
    if similar_to is None and filters is None:  # named trials: a plain read-only connection, no SQLAlchemy
        with reader_from(ctx, db) as reader:
            comparison = compare_trials(reader, trial_ids or [], evidence=evidence)
    else:
        engine = engine_from(ctx, db, readonly=True)
        try:
            ids = pick_trials(engine, trial_ids or [], similar_to=similar_to, top=top, filters=filters)
        except (ValueError, LookupError) as exc:  # kb.analysis.find.FindError, graph.similarity.UnknownTrial
            fail(str(exc))
        if filters is not None and not ids:
            fail("no trial matches these filters")
        comparison = compare_trials(engine, ids, evidence=evidence)
    render(comparison, fmt, evidence=evidence, differences=differences)


def render(comparison: Comparison, fmt: str | None, *, evidence: bool, differences: bool) -> None:
    """Print a comparison in ``fmt`` (the writers of :mod:`apps.output`; a rich table on a terminal)."""
    from apps.output import pick_format, to_csv, to_markdown, to_tsv

    try:
        fmt = pick_format(fmt, console.is_terminal)
    except ValueError as exc:
        fail(str(exc))
    if differences:
        comparison.attributes = tuple(a for a in comparison.attributes if comparison.differs[a.key])
    if fmt == "json":
        data = comparison.as_dict()
        if differences:
            keep = {"trial_id", "evidence", *(a.key for a in comparison.attributes)}
            data["trials"] = [{k: v for k, v in t.items() if k in keep} for t in data["trials"]]
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    columns, rows = comparison.rows(evidence=evidence)
    if fmt != "table":
        typer.echo({"csv": to_csv, "tsv": to_tsv, "markdown": to_markdown}[fmt](columns, rows, typed=False), nl=False)
        return
    console.print(_table(columns, rows), highlight=False)


def _table(columns: list[str], rows: list[list]) -> object:
    """A rich table: differing rows bold and marked ``≠``, evidence rows dim."""
    from rich.box import SIMPLE_HEAD
    from rich.table import Table

    table = Table("", "attribute", *columns[2:], box=SIMPLE_HEAD)
    table.columns[0].no_wrap = table.columns[1].no_wrap = True
    for label, differs, *values in rows:
        style = "dim" if differs is None else "bold" if differs else None
        table.add_row("≠" if differs else "", label, *values, style=style)
    return table


def register(app: typer.Typer) -> None:
    """Add ``compare`` to the trialkb app."""
    app.command()(compare)
