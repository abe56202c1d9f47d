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
