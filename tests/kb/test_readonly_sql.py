"""trialkb sql is read-only, enforced by the database on SQLite and PostgreSQL, whatever the text.

Every attack runs twice: through ``run_readonly_sql`` (statement filter + database), and straight
at the database layer (``_run_sqlite`` / ``_run_postgres``, the filter bypassed), so each layer
is shown to hold on its own. After each, the store is intact and no file was created.
"""

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from kb.store import readonly
from kb.core.errors import CannotOpen, NoStore, ReadOnlyViolation, SchemaMismatch
from kb.store.read import run_readonly_sql
from kb.store.readonly import QueryFailed, connect_sqlite_readonly, open_readonly, run_sql
from kb.store.write import write_studies
from tests.conftest import ROOT, load

ATTACKS = [
    "WITH x AS (SELECT 1) UPDATE sqlite_master SET name = 'y'",
    "SELECT 1; COMMIT; DELETE FROM trial_fact",
    "COMMIT; DROP TABLE trial_fact CASCADE",
    "COMMIT; ALTER TABLE trial RENAME TO x",
    "SELECT 1; DELETE FROM trial_fact",
    "DELETE FROM trial",
    "UPDATE trial SET sponsor = 'x'",
    "CREATE TABLE evil (x int)",
    "DROP VIEW car_trial",
    "INSERT INTO crawl_state VALUES ('k', 'v', '2026-01-01')",
    "WITH d AS (DELETE FROM trial_fact RETURNING *) SELECT count(*) FROM d",
    "SELECT * INTO evil FROM trial",
    "ATTACH DATABASE '{tmp}/attached.db' AS evil",
    "VACUUM INTO '{tmp}/copy.db'",
    "PRAGMA journal_mode = DELETE",
    "PRAGMA query_only = OFF",
    "SELECT load_extension('{tmp}/evil')",
    "COPY trial TO '{tmp}/copy.csv'",
    "COPY (SELECT 1) TO PROGRAM 'touch {tmp}/pwned'",
    "SELECT pg_read_file('/etc/hostname')",
    "SELECT lo_export(1, '{tmp}/lo.bin')",
    "SET TRANSACTION READ WRITE",
    "SELECT set_config('transaction_read_only', 'off', true)",
    "SELECT nextval('trial_version_id_seq')",
    "BEGIN",
    "COMMIT",
    "REINDEX",
    "ANALYZE",
]


@pytest.fixture
def stored(engine):
    with engine.begin() as conn:
        write_studies(conn, [("seed", load("domain/NCT06464679.json"))], source="test")
    return engine


def _counts(engine):
    with engine.connect() as conn:
        return [conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in ("trial", "trial_fact", "run_log")]


def _files(tmp_path):
    return sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("kb.db"))


@pytest.mark.parametrize("attack", ATTACKS)
def test_attacks_are_refused_and_change_nothing(stored, tmp_path, attack):
    statement = attack.format(tmp=tmp_path)
    before = _counts(stored)
    with pytest.raises((ReadOnlyViolation, QueryFailed)):
        run_readonly_sql(stored, statement)
    assert _counts(stored) == before
    assert _files(tmp_path) == []
    assert run_readonly_sql(stored, "SELECT count(*) FROM trial")[1] == [(1,)]


@pytest.mark.parametrize("attack", ATTACKS)
@pytest.mark.slow
def test_the_database_layer_alone_refuses_every_attack(stored, tmp_path, attack):
    """The statement filter bypassed: the read-only connection, authorizer or READ ONLY transaction holds."""
    statement = attack.format(tmp=tmp_path)
    before = _counts(stored)
    if stored.dialect.name == "sqlite":
        conn = connect_sqlite_readonly(Path(stored.url.database))
        run = readonly._run_sqlite
    else:
        raw = stored.raw_connection()
        conn = raw.driver_connection
    try:
        with pytest.raises((ReadOnlyViolation, QueryFailed)):
            if stored.dialect.name == "sqlite":
                run(conn, statement, None)
            else:
                readonly._run_postgres(conn, statement, None)
    finally:
        if stored.dialect.name == "sqlite":
            conn.close()
        else:
            raw.invalidate()
    assert _counts(stored) == before
    assert _files(tmp_path) == []


@pytest.mark.parametrize("statement", ["SELECT 1; SELECT 2", "SELECT 1;\n-- comment\nSELECT 2;", "DELETE FROM trial"])
def test_refusals_say_why(stored, statement):
    with pytest.raises(ReadOnlyViolation, match="exactly one statement|read-only"):
        run_readonly_sql(stored, statement)


def test_query_returns_columns_and_rows(stored):
    assert run_readonly_sql(stored, "SELECT trial_id, enrollment_count FROM trial") == \
        (["trial_id", "enrollment_count"], [("NCT06464679", 72)])
    assert run_readonly_sql(stored, "SELECT trial_id FROM trial WHERE trial_id LIKE '%464%';") == \
        (["trial_id"], [("NCT06464679",)])


def test_table_valued_json_functions_read_list_columns(sqlite_engine):
    with sqlite_engine.begin() as conn:
        write_studies(conn, [("seed", load("domain/NCT06464679.json"))], source="test")
    assert run_readonly_sql(sqlite_engine, "SELECT j.value FROM trial, json_each(trial.targets) j") == (["value"], [("CD19",)])


def test_sqlite_reads_table_info_but_not_pragmas_that_set(sqlite_engine):
    with open_readonly(str(sqlite_engine.url)) as store:
        columns, rows = run_sql(store, "PRAGMA table_info(crawl_state)")
        assert [r[1] for r in rows] == ["key", "value", "updated_at"]
        with pytest.raises(ReadOnlyViolation, match="not authorized"):
            readonly._run_sqlite(store.connection, "PRAGMA user_version = 7", None)


# ---- the read-only opener ----------------------------------------------------------------------

def test_a_missing_store_is_reported_and_not_created(tmp_path):
    with pytest.raises(NoStore, match=f"no store at {tmp_path / 'typo.db'}"):
        open_readonly(str(tmp_path / "typo.db"))
    with pytest.raises(NoStore, match="no directory"):
        open_readonly(str(tmp_path / "missing" / "kb.db"))
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_is_no_store(tmp_path):
    (tmp_path / "notes.db").write_text("not a database")
    with pytest.raises(CannotOpen, match="cannot open the store"):
        open_readonly(str(tmp_path / "notes.db"))
    import sqlite3
    sqlite3.connect(tmp_path / "empty.db").execute("CREATE TABLE x (y)").connection.close()
    with pytest.raises(NoStore, match="no trialkb tables"):
        open_readonly(str(tmp_path / "empty.db"))


def test_schema_revision_is_checked(sqlite_engine):
    with sqlite_engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    with pytest.raises(SchemaMismatch, match="schema revision 0001, this trialkb reads"):
        open_readonly(str(sqlite_engine.url))


def test_unknown_driver_and_unreachable_server():
    with pytest.raises(CannotOpen, match="'mysql' databases are not supported"):
        open_readonly("mysql://root@localhost/kb")
    with pytest.raises(CannotOpen, match="cannot open the store: .*(refused|connect)"):
        open_readonly("postgresql://postgres@127.0.0.1:1/kb")


def test_postgres_store_by_url(stored):
    if stored.dialect.name != "postgresql":
        pytest.skip("PostgreSQL URL")
    with stored.connect() as conn:
        schema = conn.execute(text("SELECT current_schema()")).scalar()
    server = stored.url.difference_update_query(["options"]).render_as_string(hide_password=False)
    url = server + f"?options=-csearch_path%3D{schema}"
    with open_readonly(url) as store:
        assert run_sql(store, "SELECT trial_id FROM trial") == (["trial_id"], [("NCT06464679",)])
        with pytest.raises(ReadOnlyViolation):
            readonly._run_postgres(store.connection, "DELETE FROM trial_fact", None)
    with pytest.raises(NoStore, match="no trialkb tables"):
        open_readonly(server + "?options=-csearch_path%3Dnowhere")


def test_the_opener_does_not_import_sqlalchemy(sqlite_engine):
    code = ("import sys; from kb.store.readonly import open_readonly, run_sql; "
            f"s = open_readonly({str(sqlite_engine.url)!r}); print(run_sql(s, 'SELECT count(*) FROM trial')[1]); "
            "print('sqlalchemy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.split() == ["[(0,)]", "False"]


def test_a_store_on_read_only_media_can_be_queried(stored, tmp_path):
    """A real read-only bind mount (a private mount namespace); skipped where mounting is not allowed."""
    if stored.dialect.name != "sqlite":
        pytest.skip("SQLite file")
    stored.dispose()
    media = tmp_path
    script = (f"mount -o bind,ro {media} {media} && touch {media}/probe 2>/dev/null && exit 3; "
              f"{sys.executable} -m apps.cli --db {media}/kb.db sql 'SELECT trial_id FROM trial' --json")
    try:
        done = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, cwd=ROOT)
    except FileNotFoundError:
        pytest.skip("no unshare here")
    if "mount" in done.stderr and done.returncode != 0 and "Error" not in done.stderr:
        pytest.skip(f"cannot mount here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    assert '"trial_id": "NCT06464679"' in done.stdout
