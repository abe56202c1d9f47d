"""The report as one self-contained HTML page: the Jinja template, inlined plotly.js, CSV downloads.

plotly.js (about 4.8 MB) is inlined gzip-compressed and base64-encoded (about 2 MB) and unpacked in
the page by the browser's own ``DecompressionStream``; nothing is fetched from anywhere, so the
file opens offline and can be mailed. Each table behind a chart is in the page as JSON; its CSV link
builds the file in the browser (a Blob), so the data is not stored twice.
"""

from __future__ import annotations

import base64
import csv
import gzip
import io
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

from kb.analysis.changes import describe
from apps.output import spreadsheet_cell
from apps.report.data import Table

__all__ = ["csv_text", "csv_link", "html_table", "plotly_bundle", "render_page"]


def spreadsheet_rows(table: Table) -> list[list[str]]:
    """The header and rows of a table as spreadsheet cells (:func:`apps.output.spreadsheet_cell`:
    lists as ``CD19; BCMA``, formulas in registry text neutralised)."""
    return [[spreadsheet_cell(v) for v in row] for row in [table.columns, *table.rows]]


def csv_text(table: Table) -> str:
    """A table as CSV text, as its CSV link in the page writes it."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(spreadsheet_rows(table))
    return out.getvalue()


def csv_link(table: Table, name: str, label: str = "CSV") -> Markup:
    """A link that downloads ``table`` as ``name``.csv: the page builds the CSV from the table's JSON into a Blob
    (its cells already spreadsheet-safe)."""
    columns, *rows = spreadsheet_rows(table)
    payload = json.dumps({"columns": columns, "rows": rows}, ensure_ascii=False, separators=(",", ":"))
    return Markup(f'<a class="csv" href="#" download="{escape(name)}.csv" data-table="csv-{escape(name)}">'
                  f'{escape(label)}</a><script type="application/json" id="csv-{escape(name)}">'
                  f'{_safe_json(payload)}</script>')


def trial_link(trial_id: str) -> str:
    """The page of a trial in its own registry (kb.core.ids); '#' for what is no registry's id."""
    from kb.core.ids import match_trial_id, registry_url

    found = match_trial_id(trial_id)
    return registry_url(found.id) if found else "#"


def html_table(table: Table, link_column: str | None = None) -> Markup:
    """A table as HTML; trial ids in ``link_column`` link to their registries' pages."""
    head = "".join(f"<th>{escape(c)}</th>" for c in table.columns)
    body = []
    for row in table.rows:
        cells = []
        for name, value in zip(table.columns, row, strict=True):
            text = "" if value is None else str(value)
            if name == link_column:
                cells.append("<td>" + " ".join(f'<a href="{escape(trial_link(v))}">{escape(v)}</a>'
                                               for v in text.split()) + "</td>")
            else:
                cells.append(f"<td>{escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return Markup(f'<table class="data"><tr>{head}</tr>{"".join(body)}</table>')


@lru_cache(maxsize=1)
def plotly_bundle() -> tuple[str, str]:
    """plotly.js as shipped in the plotly package, gzip-compressed and base64-encoded; and its version."""
    import plotly
    from plotly.offline import get_plotlyjs

    packed = gzip.compress(get_plotlyjs().encode("utf-8"), compresslevel=9, mtime=0)
    return base64.b64encode(packed).decode("ascii"), _plotlyjs_version(plotly)


def _plotlyjs_version(plotly: Any) -> str:
    """The plotly.js version bundled with the plotly package."""
    try:
        from plotly.offline import get_plotlyjs_version

        return str(get_plotlyjs_version())
    except ImportError:  # pragma: no cover - older plotly
        return str(plotly.__version__)


def _safe_json(text: str) -> Markup:
    """JSON to place inside a <script> element: ``<``, ``>`` and ``&`` (only ever inside its strings) as
    ``\\u003c``, ``\\u003e``, ``\\u0026``, so no tag, comment or entity of registry text can appear there."""
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(Path(__file__).parent), autoescape=select_autoescape(["j2", "html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["safe_json"] = _safe_json
    env.globals.update(csv_link=csv_link, html_table=html_table, describe=describe, trial_link=trial_link)
    return env


def render_page(context: dict[str, Any]) -> str:
    """The page from the template and a context (see :func:`apps.report.build_report`)."""
    bundle, version = plotly_bundle()
    return _environment().get_template("template.html.j2").render(plotly_gz=bundle, plotly_version=version, **context)
