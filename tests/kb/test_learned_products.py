"""Products learned from the store (issue 18): what one trial's text says of a code serves every
trial naming it, never over that trial's own text, and the same store gives the same facts in any
import order. Teacher: the real NCT06480565 ('ADI-270 - an Engineered gamma-delta Chimeric Receptor
[CAR] Vδ1 T Cell product Targeting CD70'). Receivers: the real NCT07748637 (a multiple-sclerosis
trial that names only its code, 'GT802 Injection') with its code swapped for ADI-270."""

import json

from sqlalchemy import select

from apps.cli import app
from kb.ingest.importer import import_paths, rebuild_store
from kb.store.models import ProductFill, StoredProduct, Trial, TrialFact
from tests.conftest import CTGOV
from typer.testing import CliRunner

TEACHER = CTGOV / "realworld" / "oncology" / "NCT06480565.json"
RECEIVER = CTGOV / "realworld" / "autoimmune" / "NCT07748637.json"
CHAIN = ("target CD70: from the product ADI-270, as read in NCT06480565's brief summary: This is a Phase 1/2 "
         "multicenter, open-label, dose escalation, and dose expansion study of ADI-270 - an Engineered "
         "gamma-delta Chimeric Receptor [CAR] Vδ1 T Cell product Targeting CD70 - in patients with R/R ccRCC")


def _receiver(tmp_path, trial_id="NCT09000001", extra_title=""):
    text = RECEIVER.read_text().replace("GT802", "ADI-270").replace("NCT07748637", trial_id)
    record = json.loads(text)
    record["protocolSection"]["identificationModule"]["briefTitle"] += extra_title
    path = tmp_path / f"{trial_id}.json"
    path.write_text(json.dumps(record))
    return path


def _trial(engine, trial_id):
    with engine.connect() as conn:
        row = conn.execute(select(Trial).where(Trial.trial_id == trial_id)).mappings().one()
        facts = conn.execute(select(TrialFact.kind, TrialFact.value, TrialFact.field, TrialFact.evidence)
                             .where(TrialFact.trial_id == trial_id, TrialFact.field.like("learned:%"))
                             .order_by(TrialFact.kind, TrialFact.value)).all()
    return row["Trial"] if "Trial" in row else row, [tuple(f) for f in facts]


def _state(engine):
    """Everything learning wrote: products, fills, learned facts and the trial columns it may touch."""
    with engine.connect() as conn:
        products = [tuple(r) for r in conn.execute(select(StoredProduct.code, StoredProduct.status, StoredProduct.facts,
                                                          StoredProduct.sources, StoredProduct.trials)
                                                   .order_by(StoredProduct.code))]
        fills = [tuple(r) for r in conn.execute(select(ProductFill.trial_id, ProductFill.own, ProductFill.given)
                                                .order_by(ProductFill.trial_id))]
        facts = [tuple(r) for r in conn.execute(select(TrialFact.trial_id, TrialFact.kind, TrialFact.value,
                                                       TrialFact.field, TrialFact.evidence)
                                                .where(TrialFact.field.like("learned:%")).order_by(
                                                    TrialFact.trial_id, TrialFact.kind, TrialFact.value))]
        trials = [tuple(r) for r in conn.execute(select(Trial.trial_id, Trial.is_car_therapy, Trial.targets,
                                                        Trial.cell_type, Trial.origin, Trial.modality,
                                                        Trial.is_relevant).order_by(Trial.trial_id))]
    return products, fills, facts, trials


def test_a_product_learned_from_one_trial_fills_another_trials_target(engine, tmp_path):
    import_paths(engine, [TEACHER, _receiver(tmp_path)], workers=0)
    trial, facts = _trial(engine, "NCT09000001")
    assert (trial.is_car_therapy, trial.targets, trial.modality, trial.is_relevant, trial.domain) == (
        True, ["CD70"], "CAR-gamma-delta T", True, "immune-mediated")
    assert trial.car_evidence.startswith("learned product: CAR true: from the product ADI-270, as read in "
                                         "NCT06480565's brief summary")
    assert [f[:3] for f in facts] == [("car_evidence", "ADI-270", "learned:ADI-270"),
                                      ("cell_type", "gdT", "learned:ADI-270"), ("target", "CD70", "learned:ADI-270")]
    assert facts[2][3] == CHAIN


def test_the_receiver_before_the_teacher_is_filled_when_the_teacher_arrives(engine, tmp_path):
    import_paths(engine, [_receiver(tmp_path)], workers=0)
    assert _trial(engine, "NCT09000001")[0].is_car_therapy is None  # GT802's own record: nature not stated
    import_paths(engine, [TEACHER], workers=0)
    assert _trial(engine, "NCT09000001")[0].targets == ["CD70"]


def test_a_learned_fact_never_overrides_the_trials_own_text(engine, tmp_path):
    path = _receiver(tmp_path, "NCT09000002", extra_title=" (anti-CD19 CAR-T cells)")
    import_paths(engine, [TEACHER, path], workers=0)
    trial, facts = _trial(engine, "NCT09000002")
    assert (trial.is_car_therapy, trial.targets) == (True, ["CD19"])
    assert facts == []


def test_two_import_orders_give_the_same_facts(engine, store_url_engine, tmp_path):
    receiver = _receiver(tmp_path)
    import_paths(engine, [TEACHER], workers=0)
    import_paths(engine, [receiver], workers=0)
    first = _state(engine)
    with engine.begin() as conn:
        for table in (ProductFill, StoredProduct, TrialFact, Trial):
            conn.execute(table.__table__.delete())
    import_paths(engine, [receiver], workers=0)
    import_paths(engine, [TEACHER], workers=0)
    assert _state(engine) == first
    rebuild_store(engine)
    assert _state(engine) == first
    assert first[0][0][:2] == ("ADI-270", "learned") and len(first[2]) == 4  # the teacher too gets the cell its CAR sentence names


def test_products_command_lists_facts_sources_and_trials(sqlite_engine, tmp_path):
    import_paths(sqlite_engine, [TEACHER, _receiver(tmp_path)], workers=0)
    url = str(sqlite_engine.url)
    result = CliRunner().invoke(app, ["--db", url, "products", "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "code,status,is_car,targets,cell_type,origin,trials,evidence",
        'ADI-270,learned,true,CD70,gdT,,NCT06480565; NCT09000001,car: NCT06480565 summary; '
        "cell_type: NCT06480565 summary; target: NCT06480565 summary"]
    data = json.loads(CliRunner().invoke(app, ["--db", url, "products", "--json"]).output)
    assert data[0]["sources"]["target"]["trial_id"] == "NCT06480565" and data[0]["trials"] == [
        "NCT06480565", "NCT09000001"]
    bad = CliRunner().invoke(app, ["--db", url, "products", "--status", "maybe"])
    assert bad.exit_code == 1 and "unknown status 'maybe'" in bad.output


def test_products_command_says_when_the_products_are_stale(sqlite_engine, monkeypatch):
    """A relearning that was stopped (here: never run) leaves the products marked stale; the command
    says so on stderr, and says nothing once they are relearned."""
    from apps.cli.products import STALE_NOTE
    from kb.ingest import importer

    monkeypatch.setattr(importer, "relearn_if_stale", lambda engine: None)
    import_paths(sqlite_engine, [TEACHER], workers=0)
    url = str(sqlite_engine.url)
    stale = CliRunner().invoke(app, ["--db", url, "products", "--format", "csv"])
    assert (stale.exit_code, stale.stdout, stale.stderr) == (
        0, "code,status,is_car,targets,cell_type,origin,trials,evidence\n", STALE_NOTE + "\n")
    monkeypatch.undo()
    import_paths(sqlite_engine, [TEACHER], workers=0)
    fresh = CliRunner().invoke(app, ["--db", url, "products", "--format", "csv"])
    assert (fresh.exit_code, fresh.stderr) == (0, "") and fresh.stdout.splitlines()[1].startswith("ADI-270,learned")


def test_show_and_the_trial_card_say_where_a_learned_fact_came_from(sqlite_engine):
    """Two real registrations: NCT05691153 says 'ThisCART19A (allogeneic CAR-T targeting CD19)',
    NCT05340829 names ThisCART19A without its origin."""
    oncology = CTGOV / "realworld" / "oncology"
    import_paths(sqlite_engine, [oncology / "NCT05691153.json", oncology / "NCT05340829.json"], workers=0)
    result = CliRunner().invoke(app, ["--db", str(sqlite_engine.url), "show", "NCT05340829", "--json"])
    card = json.loads(result.output)
    assert (card["origin"], card["modality"]) == ("allogeneic", "allogeneic CAR-T")
    assert [f for f in card["facts"] if f["field"].startswith("learned:")] == [{
        "kind": "origin", "value": "allogeneic", "field": "learned:ThisCART19A",
        "evidence": "origin allogeneic: from the product ThisCART19A, as read in NCT05691153's brief summary: This "
                    "is a phase 1, single-center, dose selection study to evaluate the efficacy, safety, and "
                    "pharmacokinetics of ThisCART19A (allogeneic CAR-T targeting CD19) in patients with Auto-CAR T "
                    "relapsed B-cell non-Hodgkin's lymphoma"}]
