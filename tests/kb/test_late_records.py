"""A change is dated by the registry; an older record imported after a newer one is history, never news
(changes in every format, the report's digest) and history names each side's file (migration 0010)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import feedparser
from alembic import command
from sqlalchemy import text

from kb.analysis.changes import collect_changes, render
from kb.ingest.importer import import_paths
from kb.store.db import alembic_config
from kb.store.read import get_history
from tests.conftest import CTGOV

OLD = CTGOV / "history/NCT06464679.2024-06.json"  # NOT_YET_RECRUITING, no last-update date
NEW = CTGOV / "domain/NCT06464679.json"           # RECRUITING, last update posted 2025-08-29


def _import(engine, *paths):  # type: ignore[no-untyped-def]
    since = datetime.now(timezone.utc) - timedelta(minutes=1)
    for path in paths:
        import_paths(engine, [path], workers=0)
    return since


def test_an_older_record_after_a_newer_one_is_history_not_news(engine):
    since = _import(engine, NEW, OLD)
    [version] = get_history(engine, "NCT06464679")["versions"]
    assert (version["posted_date"], version["late"]) == ("2025-08-29", True)
    assert (version["old_source"], version["source"]) == (str(OLD), str(NEW))  # the current value's file is NEW
    assert version["diff"]["overall_status"] == ["NOT_YET_RECRUITING", "RECRUITING"]
    digest = collect_changes(engine, since, relevant_only=False)
    assert digest.changes == []
    assert [e.id for e in feedparser.parse(render(digest, "atom")).entries if ":change:" in e.id] == []


def test_a_newer_record_is_news_dated_by_the_registry(engine):
    since = _import(engine, OLD, NEW)
    [version] = get_history(engine, "NCT06464679")["versions"]
    assert (version["posted_date"], version["late"], version["source"]) == ("2025-08-29", False, str(NEW))
    assert version["recorded_at"].endswith("+00:00")
    [change] = collect_changes(engine, since).changes
    assert (change.posted_date, change.date, change.kinds) == ("2025-08-29", "2025-08-29", ["status", "dates"])
    assert "  NCT06464679  2025-08-29  [status, dates]" in render(collect_changes(engine, since), "text")
    [entry] = [e for e in feedparser.parse(render(collect_changes(engine, since), "atom")).entries if ":change:" in e.id]
    assert entry.updated.startswith("2025-08-29")


def test_0010_dates_existing_versions_from_their_diff(store_url_engine):
    _, engine = store_url_engine
    config = alembic_config(engine)
    command.upgrade(config, "0006")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO trial_version (trial_id, recorded_at, old_hash, new_hash, diff, source) VALUES "
                          "('NCT06464679', '2026-01-01', 'a', 'b', "
                          "'{\"last_update_posted_date\": [null, \"2025-08-29\"]}', 'x.json'), "
                          "('NCT06464679', '2026-01-02', 'b', 'c', '{\"overall_status\": [\"A\", \"B\"]}', 'y.json')"))
    command.upgrade(config, "head")
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT posted_date, old_source, late FROM trial_version ORDER BY id")).all()
    assert [tuple(r) for r in rows] == [("2025-08-29", None, None), (None, None, None)]


def test_times_are_utc_whatever_the_postgresql_session_zone(pg_url):
    from datetime import datetime, timezone

    from kb.store.db import init_db, make_engine
    from tests.conftest import _pg_engine

    engine, admin, schema = _pg_engine(pg_url)
    try:  # a server (or login) in Tokyo: 9 hours ahead of UTC
        tokyo = make_engine(pg_url, connect_args={"options": f"-csearch_path={schema} -ctimezone=Asia/Tokyo"})
        init_db(tokyo)
        import_paths(tokyo, [NEW], workers=0)
        with tokyo.connect() as conn:
            stored = conn.execute(text("SELECT first_seen_at FROM trial")).scalar_one()
        tokyo.dispose()
        assert abs((stored.replace(tzinfo=timezone.utc) - datetime.now(timezone.utc)).total_seconds()) < 600
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
