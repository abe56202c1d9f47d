"""Registry text is untrusted: a record whose title, conditions and sponsor carry spreadsheet formulas
and HTML comes out inert in every CSV and TSV (find, sql, the report's CSV links) and escaped in every
page (the report, the served trial page, the Atom feed)."""

from __future__ import annotations

import copy
import csv
import io
import json
import re
import urllib.request
import xml.etree.ElementTree as ET

import pytest
from typer.testing import CliRunner

from apps.cli import app
from apps.output import FORMULA_STARTS
from apps.report import write_report
from kb.ingest.importer import import_paths
from kb.store.db import open_store
from tests.conftest import load
from tests.support.browser import serving

TITLE = '=HYPERLINK("http://evil.example/","click") <script>alert(1)</script><img src=x onerror=alert(2)>'
CONDITIONS = ['=HYPERLINK("http://evil.example/","x")', "@SUM(1+1)", "Autoimmune Diseases"]
SPONSOR = "-2+3 Hospital"
SCRIPT = "<script>alert(1)</script>"

runner = CliRunner()


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> str:
    """A store of the seed trial as a hostile registry would write it."""
    folder = tmp_path_factory.mktemp("hostile")
    record = copy.deepcopy(load("domain/NCT06464679.json"))
    protocol = record["protocolSection"]
    protocol["identificationModule"]["briefTitle"] = TITLE
    protocol["conditionsModule"]["conditions"] = CONDITIONS
    protocol["sponsorCollaboratorsModule"]["leadSponsor"]["name"] = SPONSOR
    (folder / "NCT06464679.json").write_text(json.dumps(record))
    url = f"sqlite:///{folder / 'kb.db'}"
    engine = open_store(url)
    import_paths(engine, [folder / "NCT06464679.json"], workers=0)
    engine.dispose()
    return url


def run(url: str, *args: str) -> str:
    result = runner.invoke(app, ["--db", url, *args])
    assert result.exit_code == 0, result.output
    return result.output


def inert(cell: str) -> bool:
    """Whether a spreadsheet reads the cell as a value, not a formula."""
    return not cell.startswith(FORMULA_STARTS) or re.fullmatch(r"[+-]?[\d.]+([eE][+-]?\d+)?|-", cell) is not None


def test_find_csv_and_tsv(hostile):
    (row,) = csv.DictReader(io.StringIO(run(hostile, "find", "--format", "csv")))
    assert (row["title"], row["sponsor"]) == ("'" + TITLE, "'" + SPONSOR)
    assert all(inert(cell) for cell in row.values())
    header, line = run(hostile, "find", "--format", "tsv").splitlines()
    assert dict(zip(header.split("\t"), line.split("\t")))["title"] == "'" + TITLE


def test_sql_csv_and_numbers(hostile):
    assert list(csv.reader(io.StringIO(run(hostile, "sql", "SELECT brief_title, sponsor FROM trial")))) == [
        ["brief_title", "sponsor"], ["'" + TITLE, "'" + SPONSOR]]
    conditions = run(hostile, "sql", "SELECT name FROM trial_condition ORDER BY position", "--format", "tsv")
    assert conditions.splitlines() == ["name", *("'" + c if c[0] in "=@" else c for c in CONDITIONS)]
    numbers_and_triggers = ("SELECT -5 AS n, '-1.5' AS s, '+3' AS p, '@x' AS a, char(9) || 'x' AS t, "
                            "char(13) || 'x' AS r, '=' AS \"=h\"")
    assert run(hostile, "sql", numbers_and_triggers, "--format", "tsv") == (
        "n\ts\tp\ta\tt\tr\t'=h\n-5\t-1.5\t+3\t'@x\t'\\tx\t'\\rx\t'=\n")
    assert run(hostile, "sql", numbers_and_triggers.replace("char(13) || 'x'", "'-'")) == (
        "n,s,p,a,t,r,'=h\n-5,-1.5,+3,'@x,'\tx,-,'=\n")  # a lone dash is no formula


def test_json_keeps_the_text_and_real_lists(hostile):
    (row,) = json.loads(run(hostile, "sql", "SELECT trial_id, brief_title, sponsor FROM trial", "--json"))
    assert row == {"trial_id": "NCT06464679", "brief_title": TITLE, "sponsor": SPONSOR}
    ledger = json.loads(run(hostile, "sql", "SELECT json_group_array(name) AS conditions FROM trial_condition",
                            "--json"))
    assert json.loads(ledger[0]["conditions"]) == CONDITIONS


@pytest.fixture(scope="module")
def report(hostile, tmp_path_factory) -> str:
    page = tmp_path_factory.mktemp("report") / "report.html"
    write_report(open_store(hostile), page)
    return page.read_text()


def test_report_escapes_html_and_its_csv_links_are_inert(report):
    assert "alert(" not in report.replace("&lt;script&gt;alert(1)", "").replace("onerror=alert(2)&gt;", "").replace(
        "\\u003cscript\\u003ealert(1)", "").replace("onerror=alert(2)\\u003e", "")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in report
    tables = {m.group(1): json.loads(m.group(2)) for m in re.finditer(
        r'<script type="application/json" id="csv-([\w-]+)">(.*?)</script>', report, re.S)}
    assert len(tables) >= 8
    assert "ledger" in tables
    assert [c for t in tables.values() for row in [t["columns"], *t["rows"]] for c in row if not inert(c)] == []
    ledger = tables["ledger"]
    (seed,) = [dict(zip(ledger["columns"], row)) for row in ledger["rows"] if row[0] == "NCT06464679"]
    assert (seed["title"], seed["conditions"]) == ("'" + TITLE, "'" + "; ".join(CONDITIONS))


def test_atom_feed_escapes_the_title(hostile):
    feed = run(hostile, "changes", "--since", "7d", "--format", "atom")
    assert SCRIPT not in feed
    titles = [e.text for e in ET.fromstring(feed).iter("{http://www.w3.org/2005/Atom}title")]
    assert f"New trial NCT06464679: {TITLE}" in titles


def test_served_trial_page_escapes_the_title(hostile):
    path = hostile.removeprefix("sqlite:///")
    with serving(["--db", path, "serve"]) as (_, base):
        with urllib.request.urlopen(f"{base}/trial/NCT06464679") as answer:
            page = answer.read().decode()
    assert SCRIPT not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
