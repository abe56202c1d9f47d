"""``trialkb changes``: the seed's status change from its 2024 to its 2025 record, in every format."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import feedparser
import pytest
from lxml import etree
from rnc2rng import dumps, load
from typer.testing import CliRunner

from kb.analysis.changes import FORMATS, collect_changes, parse_since, render
from apps.cli import app
from tests.conftest import FILES

STATUS = "overall_status: NOT_YET_RECRUITING -> RECRUITING"


@pytest.fixture(scope="module")
def atom_schema() -> etree.RelaxNG:
    """RFC 4287's RELAX NG grammar for Atom, converted from its compact syntax."""
    rng = dumps(load(str(FILES / "atom" / "atom.rnc")))
    rng = rng.replace(' xmlns:local=""', "")  # rnc2rng declares the empty namespace, which XML 1.0 forbids
    return etree.RelaxNG(etree.fromstring(rng.encode("utf-8")))


def test_the_seed_change_is_a_status_and_date_change(store):
    digest = collect_changes(store.engine, store.between)
    [change] = digest.changes
    assert change.trial_id == "NCT06464679"
    assert change.kinds == ["status", "dates"]  # last_update_posted_date changes too, but alone it is no change
    assert change.fields["overall_status"] == ["NOT_YET_RECRUITING", "RECRUITING"]
    assert change.fields["start_date"] == ["2024-06-30", "2024-06-27"]
    assert change.fields["start_date_type"] == ["ESTIMATED", "ACTUAL"]
    assert change.url == "https://clinicaltrials.gov/study/NCT06464679"
    assert digest.counts() == {"new": 31, "status": 1, "phase": 0, "enrollment": 0, "dates": 1, "other": 0}
    assert "NCT06464679" not in {n.trial_id for n in digest.new}  # first stored before the window: only changed
    assert len(collect_changes(store.engine, store.between - timedelta(hours=1)).new) == 32
    assert "NCT98000002" not in {n.trial_id for n in digest.new}  # an antibody trial: out of scope
    assert "NCT98000002" in {n.trial_id for n in collect_changes(store.engine, store.between, relevant_only=False).new}


def test_nothing_changed_after_now(store):
    digest = collect_changes(store.engine, datetime.now(timezone.utc) + timedelta(minutes=1))
    assert digest.changes == [] and digest.new == []
    assert "Nothing changed." in render(digest, "text")


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_has_the_status_change(store, fmt, atom_schema):
    out = render(collect_changes(store.engine, store.between), fmt)
    if fmt == "json":
        data = json.loads(out)
        [change] = data["changes"]
        assert change["fields"]["overall_status"] == ["NOT_YET_RECRUITING", "RECRUITING"]
        assert data["counts"]["status"] == 1
    elif fmt == "atom":
        feed = feedparser.parse(out)
        assert feed.bozo == 0, feed.get("bozo_exception")
        assert feed.version == "atom10"
        entry = next(e for e in feed.entries if e.id.startswith("urn:trialkb:change:NCT06464679:"))
        assert STATUS in entry.summary
        assert entry.link == "https://clinicaltrials.gov/study/NCT06464679"
        assert [t.term for t in entry.tags] == ["status", "dates"]
        assert len(feed.entries) == 32
        document = etree.fromstring(out.encode("utf-8"))
        assert atom_schema.validate(document), atom_schema.error_log
    else:
        if fmt == "markdown":
            assert "  - `overall_status`: `NOT_YET_RECRUITING` → `RECRUITING`\n" in out
            assert "- [NCT06464679](https://clinicaltrials.gov/study/NCT06464679) An Exploratory" in out
        else:
            assert f"      {STATUS}\n" in out


def test_the_schema_check_would_catch_a_broken_feed(store, atom_schema):
    out = render(collect_changes(store.engine, store.between), "atom")
    broken = etree.fromstring(out.encode("utf-8"))
    broken.remove(broken.find("{http://www.w3.org/2005/Atom}id"))
    assert not atom_schema.validate(broken)


def test_parse_since():
    now = datetime(2026, 11, 29, 12, tzinfo=timezone.utc)
    assert parse_since("7d", now) == datetime(2026, 11, 22, 12, tzinfo=timezone.utc)
    assert parse_since("2w", now) == datetime(2026, 11, 15, 12, tzinfo=timezone.utc)
    assert parse_since("2025-08-01", now) == datetime(2025, 8, 1, tzinfo=timezone.utc)
    with pytest.raises(ValueError, match="give a date"):
        parse_since("last week", now)


def test_cli_changes(sqlite_store, tmp_path: Path):
    db = sqlite_store.engine.url.render_as_string(hide_password=False)
    runner = CliRunner()
    result = runner.invoke(app, ["changes", "--db", db, "--since", "1d", "--format", "markdown"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("# Trial changes since ")
    # since 1d, the seed is new too
    assert "32 new trial(s); 1 status, 0 phase, 0 enrollment, 1 date and 0 other change(s)" in result.output
    bad = runner.invoke(app, ["changes", "--db", db, "--since", "someday"])
    assert bad.exit_code == 1 and "give a date" in bad.output and "Traceback" not in bad.output
    bad = runner.invoke(app, ["changes", "--db", db, "--format", "rss"])
    assert bad.exit_code == 1 and "unknown format 'rss'" in bad.output
