"""The ``trialkb`` command, assembled in one place from its command groups.

Store commands live in :mod:`apps.cli.store`, analyst commands in :mod:`apps.cli.analyst`,
:mod:`apps.cli.compare`, :mod:`apps.cli.products`, :mod:`apps.cli.links` and :mod:`apps.cli.report`, ``crawl`` in
:mod:`apps.cli.crawl`, ``similar`` and ``graph`` in :mod:`apps.cli.graph`. Each group has a ``register(app)`` and
imports only :mod:`apps.cli.common`; the
groups are imported when the app is built (first use of ``apps.cli.app`` or :func:`main`), not when
this package is, so importing any group first works too: there is no import circle. Domain errors
print a clean message and exit 1.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import typer

__all__ = ["app", "build_app", "main"]


@cache
def build_app() -> typer.Typer:
    """The trialkb app with every command group registered (built once)."""
    import typer

    from apps.cli import crawl as crawler_cli
    from apps.cli import graph as graph_cli
    from apps.cli import products as products_cli
    from apps.cli import links as links_cli
    from apps.cli import analyst as analyst_cli
    from apps.cli import compare as compare_cli
    from apps.cli import report as report_cli
    from apps.cli import store as store_cli
    from apps.cli.common import CleanErrors, main_options

    app = typer.Typer(help="Knowledge base of CAR cell-therapy trials in autoimmune disease.",
                      no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                      cls=CleanErrors, rich_markup_mode=None)  # plain help: rich's layout costs 0.1 s a call
    app.callback()(main_options)
    for group in (store_cli, crawler_cli, graph_cli, analyst_cli, compare_cli, products_cli, links_cli, report_cli):
        group.register(app)
    return app


def __getattr__(name: str) -> Any:
    """``apps.cli.app``: the app, built on first use."""
    if name == "app":
        return build_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """Console-script entry point."""
    from kb.process import gcpause

    try:
        build_app()()
    finally:
        gcpause.skip_last_collection()
