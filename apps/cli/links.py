"""``trialkb links``: proposed links between registrations of one trial, and a person's decision on each."""

from __future__ import annotations

from typing import Annotated

import typer

from apps.cli.common import DbOption, FormatOption, console, engine_from, print_rows

links_app = typer.Typer(invoke_without_command=True, rich_markup_mode=None)


@links_app.callback()
def links(ctx: typer.Context, fmt: FormatOption = None, db: DbOption = None) -> None:
    """List proposed links, best first: registrations in different registries that name no id of each
    other but whose titles, sponsors and start dates are alike. Nothing merges until you confirm.

    Registrations that name each other's ids (secondary ids, EudraCT numbers, ICTRP bridging) are
    one trial already; `trialkb show ID` lists them.

    Example: trialkb links; trialkb links confirm ChiCTR2400080001 NCT06010472
    """
    if ctx.invoked_subcommand is not None:
        return
    from kb.analysis.links import propose_links

    proposals = propose_links(engine_from(ctx, db, readonly=True))
    print_rows(["trial_id", "other_id", "score", "why"],
               [(p.trial_id, p.other_id, p.score, "; ".join(p.reasons)) for p in proposals], fmt)


def _decide(ctx: typer.Context, first: str, second: str, status: str, db: str | None) -> None:
    from kb.analysis.links import decide

    decide(engine_from(ctx, db), first, second, status)
    console.print(f"{first} and {second}: {status}", highlight=False)


@links_app.command()
def confirm(ctx: typer.Context, first: Annotated[str, typer.Argument(help="A trial id")],
            second: Annotated[str, typer.Argument(help="Another trial id")], db: DbOption = None) -> None:
    """Confirm that two stored registrations are one trial: counted once from now on.

    Example: trialkb links confirm ChiCTR2400080001 NCT06010472
    """
    _decide(ctx, first, second, "confirmed", db)


@links_app.command()
def reject(ctx: typer.Context, first: Annotated[str, typer.Argument(help="A trial id")],
           second: Annotated[str, typer.Argument(help="Another trial id")], db: DbOption = None) -> None:
    """Reject a proposed link: the two are different trials and are never proposed again.

    Example: trialkb links reject ChiCTR2400080001 NCT06010472
    """
    _decide(ctx, first, second, "rejected", db)


def register(app: typer.Typer) -> None:
    """Add ``links`` to the trialkb app."""
    app.add_typer(links_app, name="links")
