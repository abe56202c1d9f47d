"""Lymphodepletion (drug, mg/m² per day, days) and cell dose levels."""

from __future__ import annotations

import re
from typing import Any

from kb.domain.extract.facts import Facts, snippet
from kb.domain.extract.fields import Texts, reads
from kb.domain.extract.speed import odd_case, only_with, shortcut

LD_DRUGS = ("fludarabine", "cyclophosphamide", "bendamustine", "melphalan", "cytarabine")
LD_DRUG = re.compile(r"(?i:\b(" + "|".join(LD_DRUGS) + r")\b)")
ld_drugs_in = shortcut("lymphodepleting drug", LD_DRUG.finditer, only_with(
    lambda text: odd_case(text) or any(drug in text.lower() for drug in LD_DRUGS), LD_DRUG))
LD_DOSE = re.compile(r"(?i:^[^.;]{0,30}?(\d+(?:\.\d+)?)\s*(mg|g)\s*/\s*m(?:2|²|\^2))")
LD_DAYS = re.compile(r"(?i:\bdays?\s*((?:[-−–]\s?\d+)(?:\s*(?:,|and|to|through|~|/|or|,\s*and)\s*(?:day\s*)?"
                     r"[-−–]?\s?\d+)*))")
SENTENCE = re.compile(r"(?<!\d)\.(?!\d)|;|\n")
DOSE_LEVEL = re.compile(r"(\d+(?:\.\d+)?)\s*[x×*]\s*10\s*\^?\s*(\d{1,2})\s*(?:CAR[\s\-+]*)?(?:\w+\s+)?"
                        r"(cells?)?(\s*/\s*kg)?", re.IGNORECASE)
dose_levels_in = shortcut("dose level", DOSE_LEVEL.finditer, only_with(lambda text: "10" in text, DOSE_LEVEL))


def parse_lymphodepletion(texts: Texts, facts: Facts) -> list[dict[str, Any]]:
    """Lymphodepleting drugs with mg/m² per day and days, where stated."""
    regimen: dict[str, dict[str, Any]] = {}
    for where, text in reads(texts, "lymphodepletion"):
        if not any(True for _ in ld_drugs_in(text)):
            continue
        for sentence in SENTENCE.split(text):
            days_match = LD_DAYS.search(sentence)
            days = parse_days(days_match.group(1)) if days_match else None
            for drug_match in LD_DRUG.finditer(sentence):
                drug = drug_match.group(1).lower()
                dose = LD_DOSE.search(sentence[drug_match.end():])
                entry = {"drug": drug,
                         "dose_mg_m2": _number(dose.group(1)) * (1000 if dose.group(2).lower() == "g" else 1)
                         if dose else None,
                         "days": days}
                current = regimen.get(drug)
                if current is None or (entry["dose_mg_m2"] and not current["dose_mg_m2"]):
                    regimen[drug] = entry
                    facts.add("lymphodepletion", drug, where, snippet(sentence, drug_match.start(), drug_match.end()))
    return list(regimen.values())


def parse_days(text: str) -> list[int]:
    """Day numbers from '-5, -4, and -3' or '-5 to -3'."""
    numbers = [int(n.replace("−", "-").replace("–", "-").replace(" ", ""))
               for n in re.findall(r"[-−–]?\s?\d+", text)]
    if len(numbers) == 2 and re.search(r"to|through|~", text):
        step = 1 if numbers[1] >= numbers[0] else -1
        return list(range(numbers[0], numbers[1] + step, step))
    return numbers


def _number(text: str) -> float | int:
    value = float(text)
    return int(value) if value.is_integer() else value


def parse_dose_levels(texts: Texts, facts: Facts) -> None:
    """Cell dose levels such as '6x10^9 cells' or '1 x 10^6 cells/kg'."""
    for where, text in reads(texts, "dose_level"):
        for match in dose_levels_in(text):
            if not match.group(3) and not match.group(4):
                continue
            value = f"{match.group(1)}x10^{match.group(2)} cells{'/kg' if match.group(4) else ''}"
            facts.add("dose_level", value, where, snippet(text, match.start(), match.end()))
