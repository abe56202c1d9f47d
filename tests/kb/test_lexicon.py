"""The lexicons: loaded from kb/domain/lexicon/*.json; a researched product table folded in by its evidence."""

from __future__ import annotations

import csv
import importlib.util
import json

from kb.domain.lexicon import ANTIGENS, CANCERS, DISEASES, PRODUCT_ALIASES, PRODUCTS, PRODUCTS_BY_CODE, short_forms
from tests.conftest import ROOT

_spec = importlib.util.spec_from_file_location("fold_products", ROOT / "bench" / "fold_products.py")
fold = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fold)


def row(**values: str) -> dict[str, str]:
    base = dict.fromkeys(("code", "aliases", "targets", "cell", "origin", "developer", "confidence", "source",
                          "trial_ids", "note"), "")
    return base | values


def test_every_product_target_is_a_known_antigen():
    assert {t for p in PRODUCTS for t in p.targets} <= set(ANTIGENS)


def test_every_category_has_a_mesh_id_and_a_unique_key():
    for entries in (DISEASES, CANCERS):
        assert all(e.mesh_id.startswith("D") for e in entries)
        assert len({e.key for e in entries}) == len(entries)


def test_inn_short_forms_are_derived():
    assert short_forms("relmacabtagene autoleucel") == ["relma-cel"]
    assert PRODUCT_ALIASES["eque-cel"].code == "CT103A"
    assert PRODUCT_ALIASES["azer-cel"].origin == "allogeneic"


def test_a_product_code_without_digits_is_found_as_a_name():
    assert PRODUCT_ALIASES["lcar-aio"] is PRODUCTS_BY_CODE["LCAR-AIO"]


def test_fold_judges_rows_by_their_evidence():
    assert fold.judge(row(code="AP1903", note="NOT a CAR: small-molecule dimerizer"))["is_car"] is False
    assert fold.judge(row(code="GT802", note="not even stated to be a CAR"))["is_car"] is None
    entry = fold.judge(row(code="LMY-920", targets="BAFF-R;BCMA;TACI", cell="T", origin="autologous"))
    assert (entry["is_car"], entry["targets"], entry["cell_type"]) == (True, ["BAFF-R"], "T")
    assert fold.judge(row(code="Universal STAR-T", aliases="STAR-T", cell="T",
                          note='platform name - match only "universal STAR-T"'))["aliases"] == []
    assert fold.judge(row(code="4SCAR", cell="T", note="platform prefix, not one product")) is None
    assert fold.judge(row(code="ct1192", aliases="CT1192", targets="CD19;CD20", cell="T"))["code"] == "CT1192"


def test_fold_makes_researched_entries_anew_and_keeps_curated_ones(tmp_path, monkeypatch):
    lexicon = tmp_path / "products.json"
    fold.write(lexicon, "test", [
        {"code": "KN5501", "is_car": True, "targets": ["CD19"], "cell_type": "NK", "origin": None, "developer": None,
         "aliases": [], "source": "curated"},
        {"code": "OLD-1", "is_car": True, "targets": [], "cell_type": "T", "origin": None, "developer": None,
         "aliases": [], "source": "an older table", "researched": True}])
    table = tmp_path / "products.csv"
    with table.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(row()))
        writer.writeheader()
        writer.writerow(row(code="KN5501", developer="Kangstem", source="registry"))
        writer.writerow(row(code="NEW-2", targets="CD7", cell="T", source="registry"))
    monkeypatch.setattr("sys.argv", ["fold_products.py", str(table), "--lexicon", str(lexicon)])
    fold.main()
    products = {p["code"]: p for p in json.loads(lexicon.read_text())["products"]}
    assert set(products) == {"KN5501", "NEW-2"}
    assert (products["KN5501"]["developer"], products["KN5501"]["source"]) == ("Kangstem", "curated; research: registry")
    assert products["NEW-2"]["targets"] == ["CD7"]
