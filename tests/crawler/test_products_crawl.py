"""A crawl relearns products at its end (issue 18): two real registrations, one says what
ThisCART19A is, the other names it only."""

import json

import pytest
from sqlalchemy import create_engine, select

from kb.store.models import StoredProduct, Trial, TrialFact
from tests.conftest import CTGOV
from tests.crawler.conftest import crawl
from tests.support.ctgov_server import CtgovTestServer

IDS = ["NCT05691153", "NCT05340829"]


@pytest.mark.slow
def test_a_crawl_learns_products_and_fills_the_trials_naming_them(tmp_path):
    db = f"sqlite:///{tmp_path / 'crawl.db'}"
    studies = [json.loads((CTGOV / "realworld" / "oncology" / f"{nct}.json").read_text()) for nct in IDS]
    with CtgovTestServer(studies) as server:
        result = crawl(db, server, "--no-related", *(a for nct in IDS for a in ("--nct", nct)))
    assert result.returncode == 0, result.stderr[-3000:]
    with create_engine(db).connect() as conn:
        origin = conn.execute(select(Trial.origin).where(Trial.trial_id == "NCT05340829")).scalar_one()
        learned = conn.execute(select(TrialFact.field).where(TrialFact.field.like("learned:%"))).scalars().all()
        product = conn.execute(select(StoredProduct.facts).where(StoredProduct.code == "ThisCART19A")).scalar_one()
    assert (origin, learned) == ("allogeneic", ["learned:ThisCART19A"])
    assert product == {"origin": "allogeneic"}  # CAR, CD19 and T: the lexicon says so already, and stays above


@pytest.mark.slow
def test_a_skipped_crawl_still_relearns_stale_products(tmp_path):
    """A relearning that never ran (stopped, killed) is made by the next crawl, even one the registry's
    unchanged data timestamp skips: it stores no page, and only the stale mark says to relearn."""
    from datetime import datetime, timezone

    from kb.store.products import is_stale, mark_stale

    db = f"sqlite:///{tmp_path / 'crawl.db'}"
    studies = [json.loads((CTGOV / "realworld" / "oncology" / f"{nct}.json").read_text()) for nct in IDS]
    engine = create_engine(db)
    with CtgovTestServer(studies) as server:
        first = crawl(db, server)
        assert first.returncode == 0, first.stderr[-3000:]
        with engine.begin() as conn:  # what a stopped relearning leaves: the products as they were, marked
            conn.execute(StoredProduct.__table__.delete())
            mark_stale(conn, datetime.now(timezone.utc))
        again = crawl(db, server)
    assert again.returncode == 0 and "crawl skipped" in again.stdout, again.stdout + again.stderr[-3000:]
    with engine.connect() as conn:
        assert conn.execute(select(StoredProduct.code)).scalars().all() == ["ThisCART19A"]
        assert not is_stale(conn)
