"""Hypothesis strategies for API v2 study records: real records mutated along the OpenAPI schema.

The schema (``ctgov_v2/api_spec/ctg-oas-v2.yaml``) says what each field is; a mutation picks a
node of a real record and gives it a value of the wrong type, null, a huge or odd-unicode string,
deep nesting, CommonMark / HTML escapes, an enum value outside the enum, drops it (missing
modules), or adds a property the record lacks with a value shaped by the schema. At the text level,
:func:`with_duplicate_key` repeats a key of an object with another value.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import orjson
import yaml
from hypothesis import strategies as st

from tests.conftest import CTGOV

SPEC = CTGOV / "api_spec" / "ctg-oas-v2.yaml"
MARKDOWN = ["\\*not bold\\*", "**bold** _it_ `code`", "&#39;Sj&ouml;gren&#39;s&#39;", "<script>alert(1)</script>",
            "[x](javascript:alert(1))", "\\\\\\", "# heading\n\n> quote\n\n- item", "&amp;lt;&gt;", "| a | b |\n|---|---|"]
ODD = st.text(st.characters() | st.integers(0xD800, 0xDFFF).map(chr), max_size=40)  # lone surrogates too


@lru_cache(maxsize=1)
def schemas() -> dict[str, Any]:
    return yaml.safe_load(SPEC.read_text())["components"]["schemas"]


def resolve(node: dict[str, Any] | None) -> dict[str, Any] | None:
    while node and "$ref" in node:
        node = schemas()[node["$ref"].rsplit("/", 1)[1]]
    return node


def schema_at(path: tuple) -> dict[str, Any] | None:
    """The schema of the node at ``path`` in a Study (None where the schema says nothing)."""
    node = resolve(schemas()["Study"])
    for step in path:
        if node is None:
            return None
        if isinstance(step, int):
            node = resolve(node.get("items"))
        else:
            node = resolve((node.get("properties") or {}).get(step))
    return node


@lru_cache(maxsize=1)
def base_records() -> list[dict[str, Any]]:
    """Real records: the domain set, the registry samples, and some of the real-world ones."""
    files = sorted((CTGOV / "domain").glob("*.json")) + sorted((CTGOV / "registry_samples").glob("*.json"))
    files += sorted((CTGOV / "realworld").rglob("*.json"))[::20]
    records = []
    for path in files:
        data = json.loads(path.read_text())
        for study in data if isinstance(data, list) else [data]:
            if isinstance(study, dict) and "protocolSection" in study:
                records.append(study)
    return records


def walk(node: Any, path: tuple = ()) -> list[tuple]:
    """Every path in a JSON tree down to depth 12 (the root excluded; a deep nest is one node)."""
    out: list[tuple] = []
    if len(path) >= 12:
        return out
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        out.append((*path, key))
        out.extend(walk(child, (*path, key)))
    return out


def from_schema(node: dict[str, Any] | None, depth: int = 0) -> st.SearchStrategy:
    """Values shaped as the schema says (objects with some of their properties, short arrays)."""
    node = resolve(node) or {}
    kind = node.get("type")
    if "enum" in node:
        return st.sampled_from(node["enum"])
    if kind == "object" and depth < 4:
        props = node.get("properties") or {}
        if not props:
            return st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=2)
        return st.fixed_dictionaries({}, optional={k: from_schema(v, depth + 1) for k, v in props.items()})
    if kind == "array" and depth < 4:
        return st.lists(from_schema(node.get("items"), depth + 1), max_size=3)
    if kind == "integer":
        return st.integers(-2**63, 2**63)
    if kind == "number":
        return st.floats(allow_nan=False, allow_infinity=False)
    if kind == "boolean":
        return st.booleans()
    if node.get("format") == "date":
        return st.from_regex(r"\A\d{4}(-\d{2}(-\d{2})?)?\Z")
    return st.text(max_size=30)


def wrong_type(node: dict[str, Any] | None) -> st.SearchStrategy:
    """A value of another JSON type than the schema's."""
    kind = (resolve(node) or {}).get("type")
    options = {"string": st.text(max_size=10), "integer": st.integers(), "number": st.floats(allow_nan=False),
               "boolean": st.booleans(), "array": st.lists(st.integers(), max_size=3),
               "object": st.dictionaries(st.text(max_size=5), st.integers(), max_size=3)}
    options.pop(kind, None)
    return st.one_of(*options.values())


def nested(depth: int) -> Any:
    value: Any = "deep"
    for n in range(depth):
        value = [value] if n % 2 else {"x": value}
    return value


class Mutated:
    """A mutated record; its repr stays short (a record may nest 2,000 levels deep)."""

    def __init__(self, data: dict[str, Any], mutations: list[str]) -> None:
        self.data = data
        self.mutations = mutations

    def __repr__(self) -> str:
        return f"Mutated({', '.join(self.mutations)})"


MUTATIONS = ["wrong_type", "null", "huge", "odd_unicode", "nesting", "markdown", "bad_enum", "drop", "add"]


@lru_cache(maxsize=1)
def _bases() -> list[tuple[bytes, st.SearchStrategy, st.SearchStrategy]]:
    """Each base record as JSON bytes (a fresh copy is one parse), with strategies for its paths
    and its deep ones (built once: making a strategy costs more than drawing from it)."""
    out = []
    for record in base_records():
        paths = walk(record)
        deep = [p for p in paths if len(p) >= 4] or paths
        out.append((orjson.dumps(record), st.sampled_from(paths), st.sampled_from(deep)))
    return out


@lru_cache(maxsize=None)
def _wrong_type_at(path: tuple) -> st.SearchStrategy:
    return wrong_type(schema_at(path))


@lru_cache(maxsize=None)
def _added_at(path: tuple) -> st.SearchStrategy:
    """(name, value) of a property the schema allows at ``path``, the value shaped by the schema."""
    spec = schema_at(path) if path else resolve(schemas()["Study"])
    props = (spec or {}).get("properties") or {}
    if not props:
        return st.none()
    return st.sampled_from(sorted(props)).flatmap(lambda name: st.tuples(st.just(name), from_schema(props[name])))


@st.composite
def mutated_record(draw: st.DrawFn) -> Mutated:
    """A real record with one to four mutations."""
    body, paths, deep = draw(st.sampled_from(_bases()))
    record = orjson.loads(body)
    done: list[str] = []
    for _ in range(draw(st.integers(1, 4))):
        # mostly fields, sometimes whole modules
        path = draw(deep if draw(st.integers(0, 9)) else paths)
        parent = record
        try:
            for step in path[:-1]:
                parent = parent[step]
            parent[path[-1]]
        except (KeyError, IndexError, TypeError):  # gone with an earlier mutation
            continue
        if not isinstance(parent, (dict, list)):  # replaced by a string with an earlier mutation
            continue
        key = path[-1]
        kind = draw(st.sampled_from(MUTATIONS))
        done.append(f"{kind} {'.'.join(map(str, path))}")
        if kind == "drop":
            del parent[key]
            continue
        if kind == "add":
            target, where = (parent, path[:-1]) if isinstance(parent, dict) else (record, ())
            added = draw(_added_at(where))
            if added:
                target[added[0]] = added[1]
            continue
        value = {
            "wrong_type": lambda: draw(_wrong_type_at(path)),
            "null": lambda: None,
            "huge": lambda: draw(st.text(min_size=1, max_size=3)) * draw(st.integers(10_000, 100_000)),
            "odd_unicode": lambda: draw(ODD),
            "nesting": lambda: nested(draw(st.sampled_from([10, 100, 300, 2000]))),
            "markdown": lambda: draw(st.sampled_from(MARKDOWN)),
            "bad_enum": lambda: draw(st.sampled_from(["", "recruiting", "PHASE9", "NOT A VALUE", "ÄNDERUNG"])),
        }[kind]()
        parent[key] = value
    return Mutated(record, done)


def with_duplicate_key(text: str, record: dict[str, Any], path: tuple, value: Any) -> str:
    """``text`` (the record as JSON) with the key at ``path`` repeated at the start of its object."""
    key = path[-1]
    marker = json.dumps(key) + ":"
    at = text.find(marker)
    if at < 0 or not isinstance(key, str):
        return text
    duplicate = f"{marker}{json.dumps(value)},"
    return text[:at] + duplicate + text[at:]
