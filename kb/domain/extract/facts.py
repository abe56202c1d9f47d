"""Extracted facts: one row per (kind, value, field) with its evidence, and the trial columns."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Fact:
    """One extracted fact and where it was found."""

    kind: str
    value: str
    field: str
    evidence: str
    code: str | None = None


@dataclass
class Facts:
    """The extracted facts of one trial and the trial columns they decide."""

    is_car_therapy: bool | None = None
    car_evidence: str | None = None
    cell_type: str | None = None
    origin: str | None = None
    modality: str | None = None
    domain: str = "other"
    targets: list[str] = field(default_factory=list)
    products: list[str] = field(default_factory=list)
    disease_categories: list[str] = field(default_factory=list)
    cancer_categories: list[str] = field(default_factory=list)
    armoring: list[str] = field(default_factory=list)
    lymphodepletion: list[dict[str, Any]] = field(default_factory=list)
    facts: list[Fact] = field(default_factory=list)

    def add(self, kind: str, value: str, where: str, evidence: str, code: str | None = None) -> None:
        self.facts.append(Fact(kind, value, where, evidence, code))

    def first(self, kind: str) -> Fact | None:
        """The first fact of a kind (facts are added most telling first)."""
        return next((f for f in self.facts if f.kind == kind), None)

    def has(self, kind: str) -> bool:
        return any(f.kind == kind for f in self.facts)

    def values(self, kind: str) -> list[str]:
        """Distinct values of a kind, in the order found."""
        return unique(f.value for f in self.facts if f.kind == kind)

    def drop(self, kind: str, value: str) -> None:
        self.facts = [f for f in self.facts if not (f.kind == kind and f.value == value)]

    @property
    def is_relevant(self) -> bool:
        """A CAR cell therapy (true, not unknown) in immune-mediated disease (alone or with cancer)."""
        return self.is_car_therapy is True and self.domain in ("immune-mediated", "mixed")

    def trial_columns(self) -> dict[str, Any]:
        """The trial table's domain columns."""
        return {"is_car_therapy": self.is_car_therapy, "car_evidence": self.car_evidence,
                "cell_type": self.cell_type, "origin": self.origin, "modality": self.modality,
                "domain": self.domain, "targets": self.targets, "products": self.products,
                "disease_categories": self.disease_categories, "armoring": self.armoring or None,
                "lymphodepletion": self.lymphodepletion or None, "is_relevant": self.is_relevant}

    def rows(self) -> list[dict[str, Any]]:
        """trial_fact rows, one per (kind, value, field)."""
        seen: dict[tuple[str, str, str], dict[str, Any]] = {}
        for f in self.facts:
            seen.setdefault((f.kind, f.value, f.field), {"kind": f.kind, "value": f.value, "field": f.field,
                                                         "code": f.code, "evidence": f.evidence[:500]})
        return list(seen.values())


def unique(values: Iterable[str]) -> list[str]:
    """Distinct values in their first order."""
    return list(dict.fromkeys(values))


def snippet(text: str, start: int, end: int, pad: int = 40) -> str:
    """The matched text with some context."""
    left, right = max(0, start - pad), min(len(text), end + pad)
    return ("…" if left else "") + text[left:right] + ("…" if right < len(text) else "")
