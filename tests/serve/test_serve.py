"""trialkb serve without a browser: what it refuses, what it opens read-only, and its canned queries."""

from __future__ import annotations

import asyncio
import re
import sqlite3

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from typer.testing import CliRunner

from apps.cli import app
from apps.serve import ServeError, build_datasette, servable_file
from apps.serve.metadata import ANALYST_QUERIES, FACETS
from apps.serve.plugin import store_engine
from kb.analysis.card import trial_card
from kb.store.db import open_store
from kb.ingest.importer import import_paths
from kb.store.read import get_history
from apps.serve.snapshot import copy_to_sqlite
from tests.conftest import CTGOV, ROOT
from tests.support.browser import serving
from tests.support.manual import ANALYST_QUESTIONS, sql_queries

runner = CliRunner()


def test_canned_queries_are_the_manuals_questions():
    readme = [q.strip() for q in sql_queries([ANALYST_QUESTIONS])]
    readme = ["\n".join(line for line in q.splitlines() if not line.startswith("--")) for q in readme]
    assert readme == [q["sql"] for q in ANALYST_QUERIES.values()]


def test_facets_cover_what_an_analyst_filters_on():
    names = [f if isinstance(f, str) else f["array"] for f in FACETS]
    assert names == ["status", "phases", "targets", "disease_names", "cell_type", "origin", "modality", "countries",
                     "sponsor"]


@pytest.mark.parametrize("url, message", [
    ("postgresql+psycopg://postgres@127.0.0.1:5432/test", "Datasette serves SQLite stores only"),
    ("sqlite:///:memory:", "an in-memory store cannot be served"),
    ("sqlite:////nonexistent/kb.db", "no store at /nonexistent/kb.db"),
])
def test_what_cannot_be_served(url, message):
    with pytest.raises(ServeError, match=re.escape(message)):
        servable_file(url)


def test_not_a_store(tmp_path):
    (tmp_path / "notes.db").write_text("not a database" * 100)
    with pytest.raises(ServeError, match="is not a SQLite database"):
        servable_file(f"sqlite:///{tmp_path / 'notes.db'}")
    sqlite3.connect(tmp_path / "other.db").execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(ServeError, match="is not a trialkb store"):
        servable_file(f"sqlite:///{tmp_path / 'other.db'}")
    sqlite3.connect(tmp_path / "old.db").execute("CREATE TABLE trial (trial_id)").connection.close()
    with pytest.raises(ServeError, match="predates the analyst view relevant_trial"):
        servable_file(f"sqlite:///{tmp_path / 'old.db'}")


def test_unreachable_server_store_is_a_clean_cli_error(tmp_path):
    result = runner.invoke(app, ["serve", "--db", "postgresql://postgres@127.0.0.1:9/none", "--copy",
                                 str(tmp_path / "copy.db")])
    assert result.exit_code == 1
    assert "cannot open the store: connection failed" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "copy.db").exists()


def test_a_copy_holds_the_same_store(engine, tmp_path):
    """A PostgreSQL (or SQLite) store and its SQLite copy answer alike."""
    import_paths(engine, [CTGOV / "history/NCT06464679.2024-06.json"], workers=0)
    import_paths(engine, [CTGOV / "domain"], workers=0)
    counts = copy_to_sqlite(engine, tmp_path / "copy.db")
    copy = open_store(f"sqlite:///{tmp_path / 'copy.db'}")
    assert counts["trial"] == 42 and counts["trial_version"] == 1 and counts["trial_fact"] == 385
    with engine.connect() as a, copy.connect() as b:
        for table, rows in counts.items():
            assert b.execute(text(f"SELECT count(*) FROM {table}")).scalar() == rows
            assert a.execute(text(f"SELECT count(*) FROM {table}")).scalar() == rows
    assert trial_card(copy, "NCT06464679") == trial_card(engine, "NCT06464679")
    assert get_history(copy, "NCT06464679")["versions"][0]["diff"] == get_history(engine, "NCT06464679")["versions"][0]["diff"]
    assert servable_file(f"sqlite:///{tmp_path / 'copy.db'}") == tmp_path / "copy.db"  # views there: servable
    copy.dispose()


def test_the_store_is_opened_read_only(served_store):
    datasette = build_datasette(served_store)
    database = datasette.get_database("trialkb")
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        asyncio.run(database.execute("DELETE FROM trial"))
    assert asyncio.run(database.execute("SELECT count(*) FROM trial")).rows[0][0] == 42
    with store_engine(str(served_store)).connect() as conn, pytest.raises(OperationalError, match="readonly"):
        conn.execute(text("DELETE FROM trial"))


@pytest.mark.postgres
def test_serve_a_postgresql_store(pg_schema_url, tmp_path):
    """``trialkb serve --db postgresql://...`` serves a SQLite copy: its trial pages answer."""
    import urllib.request

    store = open_store(pg_schema_url)
    import_paths(store, [CTGOV / "domain"], workers=0)
    store.dispose()
    with serving(["--db", pg_schema_url, "serve", "--copy", str(tmp_path / "copy.db")]) as (_, base):
        with urllib.request.urlopen(f"{base}/trial/NCT06464679") as answer:
            page = answer.read().decode()
    assert "KN5501" in page and "eligibility_cohort" in page


def test_only_the_store_is_served(served_store):
    datasette = build_datasette(served_store)
    assert [name for name in datasette.databases if name != "_internal"] == ["trialkb"]  # _internal: Datasette's own, hidden


@pytest.mark.slow
def test_a_chictr_trial_page_links_every_registration(tmp_path):
    """A ChiCTR registration served: its own registry named and linked, the CT.gov registration it
    names linked to its page, where they differ; no registry's id is a 404 page with the reason."""
    import urllib.error
    import urllib.request

    store = open_store(f"sqlite:///{tmp_path / 'kb.db'}")
    import_paths(store, [ROOT / "tests" / "files" / "ictrp" / "chictr_car_autoimmune.xml",
                         CTGOV / "domain" / "NCT06010472.json"], workers=0)
    store.dispose()
    with serving(["--db", str(tmp_path / "kb.db"), "serve"]) as (_, base):
        with urllib.request.urlopen(f"{base}/trial/ChiCTR2499999901") as answer:
            page = answer.read().decode()
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"{base}/trial/banana")
    assert ">ChiCTR2499999901 on Chinese Clinical Trial Registry</a>" in page
    assert 'href="https://trialsearch.who.int/Trial2.aspx?TrialID=ChiCTR2499999901"' in page
    assert 'class="registration" href="/trial/NCT06010472"' in page
    assert "enrollment_count differs: NCT06010472 36; ChiCTR2499999901 12" in page
    assert missing.value.code == 404 and "&#39;banana&#39; is not a trial id" in missing.value.read().decode()
