"""The graph built from the real fixtures, the cache, the export and the CLI."""

import json

import networkx as nx
import pytest
from typer.testing import CliRunner

from graph.build import build_graph
from graph.cache import load_index
from graph.export import export_graph
from graph.index import SimilarityIndex
from graph.similarity import similar_trials
from apps.cli import app
from kb.store.db import open_store
from kb.ingest.importer import import_paths
from tests.conftest import CTGOV

SEE_ALSO_NOT_CAR = {"NCT04872257", "NCT04078698", "NCT03239600", "NCT05670301"}
KN5501 = {"NCT06010472", "NCT06318533", "NCT06337474", "NCT06469190", "NCT07358988"}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('graph') / 'kb.db'}"
    engine = open_store(url)
    import_paths(engine, [CTGOV / "domain", CTGOV / "registry_samples"], workers=0)
    return url, engine


@pytest.fixture(scope="module")
def graph(store):
    return build_graph(store[1])


def test_node_ids_carry_their_kind(graph):
    assert graph.nodes["trial:NCT06464679"]["kind"] == "trial"
    assert graph.edges["trial:NCT06464679", "product:KN5501"]["relation"] == "tests_product"
    assert graph.edges["trial:NCT06464679", "product:KN5501"]["source"] == "outcome"
    assert graph.edges["trial:NCT06464679", "disease:sjogren"]["source"] == "eligibility_cohort"
    assert graph.edges["trial:NCT04267848", "mesh:D002283"]["weight"] == 0.5  # a MeSH ancestor


def test_seed_top_ten_are_car_trials_led_by_kn5501(graph):
    top = similar_trials(graph, "NCT06464679", top=10)
    ids = [r["trial_id"] for r in top]
    assert all(graph.nodes[f"trial:{i}"]["is_car"] is True for i in ids)
    assert not SEE_ALSO_NOT_CAR & set(ids)
    assert set(ids[:2]) <= KN5501
    assert KN5501 <= set(ids[:7])


@pytest.mark.slow
def test_index_is_cached_until_the_store_changes(tmp_path):
    engine = open_store(f"sqlite:///{tmp_path / 'kb.db'}")
    import_paths(engine, [CTGOV / "history/NCT06464679.2024-06.json", CTGOV / "registry_samples"], workers=0)
    _, rebuilt = load_index(engine)
    _, again = load_index(engine)
    assert (rebuilt, again) == (True, False)
    import_paths(engine, [CTGOV / "domain/NCT06464679.json"], workers=0)  # a newer record: the store changes
    _, after_change = load_index(engine)
    assert after_change is True
    import_paths(engine, [CTGOV / "history/NCT06464679.2024-06.json"], workers=0)  # an older one: history only
    assert load_index(engine)[1] is False


@pytest.mark.parametrize("car_only", [False, True])
@pytest.mark.parametrize("hub_limit", [1000, 3])
def test_index_answers_exactly_like_the_graph(graph, tmp_path, car_only, hub_limit):
    """Every trial of the store as a query, through a saved and loaded index; hub_limit 3 takes the hub path."""
    path = tmp_path / "index.idx"
    SimilarityIndex.from_graph(graph).save(path)
    index = SimilarityIndex.load(path)
    queries = [data["label"] for _, data in graph.nodes(data=True) if data["kind"] == "trial"]
    assert len(queries) == 54
    for trial_id in queries:
        assert index.similar(trial_id, top=10, car_only=car_only, hub_limit=hub_limit) == similar_trials(
            graph, trial_id, top=10, car_only=car_only, hub_limit=hub_limit)


@pytest.mark.parametrize("fmt", ["graphml", "gexf", "json"])
def test_export_opens_again(graph, tmp_path, fmt):
    path = tmp_path / f"g.{fmt}"
    export_graph(graph, path)
    if fmt == "graphml":
        back = nx.read_graphml(path)
    elif fmt == "gexf":
        back = nx.read_gexf(path)
    else:
        back = nx.node_link_graph(json.loads(path.read_text()), edges="edges")
    assert (back.number_of_nodes(), back.number_of_edges()) == (graph.number_of_nodes(), graph.number_of_edges())


def test_similar_command(store):
    runner = CliRunner()
    result = runner.invoke(app, ["--db", store[0], "similar", "NCT06464679", "--top", "3", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [set(r) for r in rows] == [{"trial_id", "nct_id", "score", "shared", "why", "other_ids"}] * 3
    assert all(r["nct_id"] == r["trial_id"] for r in rows)  # CT.gov registrations: the contract key is the NCT id
    assert rows[0]["trial_id"] in KN5501 and "product:KN5501" in rows[0]["shared"]
    assert rows[0]["why"].startswith("same product KN5501, same target CD19")
    table = runner.invoke(app, ["--db", store[0], "similar", "NCT06464679", "--top", "3"])
    assert "same product KN5501" in table.output
    missing = runner.invoke(app, ["--db", store[0], "similar", "NCT00000000"])
    assert missing.exit_code == 1 and "NCT00000000 is not in the graph" in missing.output
    bad = runner.invoke(app, ["--db", store[0], "similar", "nct123"])
    assert bad.exit_code == 1 and "'nct123' is not a trial id" in bad.output


def test_a_lookup_with_the_index_cached_imports_no_sqlalchemy_networkx_numpy_or_scipy(store):
    """The cache written by the library (through SQLAlchemy) is the one the command finds (through sqlite3)."""
    import subprocess
    import sys

    url, engine = store
    load_index(engine)
    code = ("import sys; from apps.cli import main; sys.argv = ['trialkb', '--db', %r, 'similar', 'NCT06464679', '--json']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('sqlalchemy', 'sqlmodel', 'networkx', 'numpy', 'scipy', 'scrapy') if m in sys.modules),"
            " file=sys.stderr)") % url
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout)[0]["trial_id"] in KN5501
    assert done.stderr.strip().splitlines()[-1] == "[]"


def test_an_index_that_cannot_be_cached_still_answers(store, tmp_path, caplog):
    """Where the cache cannot be written (read-only media; here a path under a file), the index is used uncached."""
    from graph.cache import rebuild_index

    (tmp_path / "a-file").write_text("")
    index = rebuild_index(store[1], tmp_path / "a-file" / "kb.db.similarity.idx")
    assert index.similar("NCT06464679", top=1)[0]["trial_id"] in KN5501
    assert "could not be cached" in caplog.text and list(tmp_path.iterdir()) == [tmp_path / "a-file"]


@pytest.mark.postgres
@pytest.mark.slow
def test_similar_on_postgresql_caches_its_index_and_answers_like_sqlite(pg_url, tmp_path, monkeypatch, store):
    """A team store: the index goes to the user's cache directory; the second lookup loads it."""
    import uuid

    from sqlalchemy import create_engine, text

    schema = f"t_sim_{uuid.uuid4().hex[:12]}"  # unique: two test runs may share the server
    admin = create_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        url = f"{pg_url}?options=-csearch_path%3D{schema}"
        engine = open_store(url)
        import_paths(engine, [CTGOV / "domain", CTGOV / "registry_samples"], workers=0)
        engine.dispose()
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
        runner = CliRunner()
        first = runner.invoke(app, ["--db", url, "similar", "NCT06464679", "--json"])
        assert first.exit_code == 0, first.output
        cached = list((tmp_path / "cache" / "trialkb").glob("similarity-*.idx"))
        assert len(cached) == 1
        stamp = cached[0].stat().st_mtime_ns
        again = runner.invoke(app, ["--db", url, "similar", "NCT06464679", "--json"])
        assert again.output == first.output and cached[0].stat().st_mtime_ns == stamp  # loaded, not rebuilt
        on_sqlite = runner.invoke(app, ["--db", store[0], "similar", "NCT06464679", "--json"])
        assert json.loads(first.output) == json.loads(on_sqlite.output)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
