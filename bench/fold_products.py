"""Fold a researched product table (CSV) into the product lexicon, kb/domain/lexicon/products.json.

Usage: python bench/fold_products.py /work/research/products.csv [--lexicon kb/domain/lexicon/products.json]

CSV columns: code, aliases (';'), targets (';'), cell, origin, developer, confidence, source,
trial_ids, note. Each row is judged by the evidence it cites, by these rules:
- a note that starts 'NOT a CAR' makes a non-CAR product (a co-medication: is_car false);
- a row without an effector cell says the record does not state what the product is: is_car null;
- any other row is a CAR product (is_car true) with the row's target, cell and origin;
- descriptive names ('not a product code') and platform names ('platform prefix') are left out,
  and an alias the note says not to match on its own ('match only ...') is dropped.
Curated entries keep their facts; a row adds what they lack (aliases, developer, target, cell,
origin) and its source. Entries made from rows are marked "researched" and made anew on every
fold, so folding a newer table again replaces them. A CAR built on BAFF ligand (targets BAFF-R,
BCMA and TACI) is recorded as BAFF-R, the field's convention.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LEXICON = ROOT / "kb" / "lexicon" / "products.json"
TARGET_NAMES = {"CLDN18.2": "Claudin18.2", "MSLN": "Mesothelin", "citrullinated proteins": "citrullinated protein",
                "CLL1": "CLL-1", "B7H3": "B7-H3"}
BAFF_RECEPTORS = {"BAFF-R", "BCMA", "TACI"}
CELLS = {"T": "T", "NK": "NK", "Treg": "Treg", "gdT": "gdT", "iNKT": "iNKT", "NKT": "iNKT", "macrophage": "macrophage"}


def judge(row: dict[str, str]) -> dict | None:
    """A lexicon entry for a researched row, or None when the row names no product."""
    note = row["note"].strip()
    if re.search(r"descriptive name|not a product code|platform prefix", note):
        return None
    aliases = [a.strip() for a in row["aliases"].split(";") if a.strip()]
    if (quoted := re.search(r'match only "([^"]+)"', note)):
        aliases = [a for a in aliases if a.lower() == quoted.group(1).lower()]
    code = row["code"].strip()
    if code.islower() and (upper := next((a for a in aliases if a.upper() == code.upper()), None)):
        code, aliases = upper, [a for a in aliases if a != upper]
    is_car = False if note.startswith("NOT a CAR") else (True if row["cell"].strip() else None)
    targets = [TARGET_NAMES.get(t.strip(), t.strip()) for t in row["targets"].split(";") if t.strip()]
    if BAFF_RECEPTORS <= set(targets):  # a CAR built on BAFF ligand: BAFF-R by the field's convention
        targets = ["BAFF-R"] + [t for t in targets if t not in BAFF_RECEPTORS]
        note = f"{note}; BAFF-ligand CAR recorded as BAFF-R (the field's convention)".lstrip("; ")
    return {"code": code, "is_car": is_car, "targets": targets if is_car is not False else [],
            "cell_type": CELLS.get(row["cell"].strip()) if is_car else None,
            "origin": row["origin"].strip() or None if is_car else None,
            "developer": row["developer"].strip() or None, "aliases": aliases,
            "source": f"{row['source'].strip()}" + (f"; note: {note}" if note else ""),
            "confidence": row["confidence"].strip() or None, "researched": True}


def merge(old: dict, new: dict) -> dict:
    """An existing entry completed by a researched one (the existing facts stand)."""
    out = dict(old)
    for key in ("targets", "cell_type", "origin", "developer", "confidence"):
        if not out.get(key) and new.get(key):
            out[key] = new[key]
    known = {a.lower() for a in out["aliases"]} | {out["code"].lower()}
    out["aliases"] = out["aliases"] + [a for a in new["aliases"] if a.lower() not in known]
    if new["source"] and new["source"] not in out["source"]:
        out["source"] = f"{out['source']}; research: {new['source']}"
    return out


def write(path: Path, about: str, entries: list[dict]) -> None:
    """One entry per line, easy to read and to diff."""
    lines = ",\n".join("  " + json.dumps(e, ensure_ascii=False) for e in entries)
    path.write_text('{"about": ' + json.dumps(about, ensure_ascii=False) + ',\n "products": [\n' + lines + "\n]}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", type=Path)
    parser.add_argument("--lexicon", type=Path, default=LEXICON)
    args = parser.parse_args()
    try:
        rows = list(csv.DictReader(args.csv.open(newline="")))
    except OSError as exc:
        sys.exit(f"cannot read {args.csv}: {exc.strerror}")
    lexicon = json.loads(args.lexicon.read_text())
    lexicon["products"] = [e for e in lexicon["products"] if not e.get("researched")]  # folded again below
    by_code = {e["code"].upper(): e for e in lexicon["products"]}
    by_alias = {a.upper(): e["code"].upper() for e in lexicon["products"] for a in e["aliases"]}
    added = merged = skipped = 0
    for row in rows:
        entry = judge(row)
        if entry is None:
            skipped += 1
            continue
        key = next((k for k in [entry["code"].upper(), *(a.upper() for a in entry["aliases"])]
                    if k in by_code or k in by_alias), None)
        key = by_alias.get(key, key) if key else None
        if key:
            by_code[key] = merge(by_code[key], entry)
            merged += 1
        else:
            by_code[entry["code"].upper()] = entry
            added += 1
    write(args.lexicon, lexicon["about"], list(by_code.values()))
    print(f"{len(rows)} rows: {added} products added, {merged} merged into existing entries, {skipped} left out; "
          f"{len(by_code)} products in {args.lexicon}")


if __name__ == "__main__":
    main()
