"""`trialkb show` reads its trial over a plain DB-API connection: the same dict as through SQLAlchemy."""

import json
import subprocess
import sys

from sqlalchemy import JSON, Boolean, select

from kb.ingest.importer import import_paths
from kb.store.models import Trial
from kb.analysis.card import trial_card
from kb.store.read import BOOL_FIELDS, JSON_FIELDS, RENAMED, SHOW_FIELDS, get_trial
from kb.store.readonly import open_readonly
from tests.conftest import CTGOV


def test_the_decoded_columns_are_the_models_json_and_boolean_columns():
    columns = Trial.__table__.c
    assert JSON_FIELDS == {c for c in SHOW_FIELDS if isinstance(columns[c].type, JSON)}
    assert BOOL_FIELDS == {c for c in SHOW_FIELDS if isinstance(columns[c].type, Boolean)}


def test_get_trial_reads_what_sqlalchemy_reads(engine):
    """On SQLite and PostgreSQL: every shown column typed as the ORM types it, through an engine or a reader."""
    import_paths(engine, [CTGOV / "domain" / "NCT06464679.json", CTGOV / "registry_samples" / "NCT04267848.json"],
                 workers=0)
    for trial_id in ("NCT06464679", "NCT04267848"):
        with engine.connect() as conn:
            row = conn.execute(select(*(Trial.__table__.c[c] for c in SHOW_FIELDS))
                               .where(Trial.__table__.c.trial_id == trial_id)).mappings().one()
        trial = get_trial(engine, trial_id)
        assert {k: trial[RENAMED.get(k, k)] for k in SHOW_FIELDS} == dict(row)
    seed = get_trial(engine, "NCT06464679")
    assert (seed["is_car_therapy"], seed["targets"], seed["phases"]) == (True, ["CD19"], ["PHASE1"])
    assert seed["evidence"]["product"]["KN5501"] == ["outcome"]


def test_show_imports_no_sqlalchemy_networkx_or_numpy(sqlite_engine):
    import_paths(sqlite_engine, [CTGOV / "domain" / "NCT06464679.json"], workers=0)
    url = str(sqlite_engine.url)
    with open_readonly(url) as store:
        expected = trial_card(store, "NCT06464679")  # the trial and its card: arms, facts with quotes, sites
    code = ("import sys, json; from apps.cli import main; sys.argv = ['trialkb', '--db', %r, 'show', 'NCT06464679', '--json']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(json.dumps(sorted(m for m in ('sqlalchemy', 'sqlmodel', 'networkx', 'numpy', 'scrapy', 'scipy')"
            " if m in sys.modules)), file=sys.stderr)") % url
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == json.loads(json.dumps(expected, default=str))
    assert json.loads(done.stderr.strip().splitlines()[-1]) == []
