"""Trial registration ids of every registry: the one place that says what an id is.

Every pattern is ASCII-only and must match the whole string (``re.ASCII`` + ``fullmatch``): an id
with Arabic-Indic or full-width digits, or with a trailing newline, is not an id. Registry
prefixes are matched without regard to case and written in the registry's own spelling.

The canonical forms follow the registries and the de-duplication rules that ctrdata documents:
a CTIS number keeps its resubmission suffix (``2023-505613-24-00``); a EudraCT number is the
bare number without member state or ICTRP's ``EUCTR`` prefix (``2021-004994-30``); jRCT ids lose
ICTRP's ``JPRN-`` prefix. CTIS is recognised before EudraCT, whose pattern matches its front.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kb.core.errors import BadArgument

__all__ = ["REGISTRIES", "Registry", "TrialId", "canonical_or_as_is", "is_nct_id", "match_trial_id", "parse_trial_id",
           "registry_name", "registry_of", "registry_url"]

ICTRP_TRIAL_PAGE = "https://trialsearch.who.int/Trial2.aspx?TrialID={id}"


@dataclass(frozen=True)
class Registry:
    """A registry: its slug, its name for people, its id pattern and the page of one trial."""

    slug: str
    name: str
    pattern: re.Pattern[str]
    canonical: str  # format of the canonical id from the pattern's named groups
    url: str = ICTRP_TRIAL_PAGE  # the trial's own page; {id} is the canonical id


def _p(regex: str) -> re.Pattern[str]:
    return re.compile(regex, re.ASCII | re.IGNORECASE)


REGISTRIES: tuple[Registry, ...] = (
    Registry("ctgov", "ClinicalTrials.gov", _p(r"NCT(?P<n>\d{8})"), "NCT{n}", "https://clinicaltrials.gov/study/{id}"),
    Registry("ctis", "EU CTIS", _p(r"(?:EUCT[-:\s]?)?(?P<n>\d{4}-5\d{5}-\d{2}-\d{2})"), "{n}",
             "https://euclinicaltrials.eu/ctis-public/view/{id}"),
    Registry("euctr", "EU Clinical Trials Register (EudraCT)",
             _p(r"(?:EUCTR|EudraCT[-:\s]*)?(?P<n>\d{4}-\d{6}-\d{2})(?:-(?:[A-Z]{2}|3RD))?"), "{n}",
             "https://www.clinicaltrialsregister.eu/ctr-search/search?query={id}"),
    Registry("chictr", "Chinese Clinical Trial Registry",
             _p(r"ChiCTR(?P<n>\d{10}|-[A-Z]{2,5}-\d{8})"), "ChiCTR{n_upper}"),
    Registry("isrctn", "ISRCTN", _p(r"ISRCTN(?P<n>\d{8})"), "ISRCTN{n}", "https://www.isrctn.com/{id}"),
    Registry("jrct", "Japan Registry of Clinical Trials", _p(r"(?:JPRN-)?jRCT(?P<n>[a-z]?\d{9,10})"), "jRCT{n_lower}",
             "https://jrct.niph.go.jp/en-latest-detail/{id}"),
    Registry("umin", "UMIN-CTR", _p(r"(?:JPRN-)?UMIN(?P<n>\d{9})"), "UMIN{n}"),
    Registry("japic", "JAPIC Clinical Trials Information", _p(r"(?:JPRN-)?JapicCTI-(?P<n>\d{6})"), "JapicCTI-{n}",
             ICTRP_TRIAL_PAGE.replace("{id}", "JPRN-{id}")),
    Registry("jma", "JMA Clinical Trials Registry", _p(r"(?:JPRN-)?JMA-(?P<n>IIA\d{5})"), "JMA-{n_upper}",
             ICTRP_TRIAL_PAGE.replace("{id}", "JPRN-{id}")),
    Registry("anzctr", "ANZCTR", _p(r"ACTRN(?P<n>\d{14})"), "ACTRN{n}"),
    Registry("ctri", "Clinical Trials Registry - India", _p(r"CTRI/(?P<n>\d{4}/\d{2,3}/\d{6})"), "CTRI/{n}"),
    Registry("drks", "German Clinical Trials Register", _p(r"DRKS(?P<n>\d{8})"), "DRKS{n}",
             "https://drks.de/search/en/trial/{id}"),
    Registry("irct", "Iranian Registry of Clinical Trials", _p(r"IRCT(?P<n>\d{8,14}N\d{1,3})"), "IRCT{n_upper}"),
    Registry("kct", "Clinical Research Information Service (Korea)", _p(r"KCT(?P<n>\d{7})"), "KCT{n}"),
    Registry("tctr", "Thai Clinical Trials Registry", _p(r"TCTR(?P<n>\d{11})"), "TCTR{n}"),
    Registry("pactr", "Pan African Clinical Trials Registry", _p(r"PACTR(?P<n>\d{15})"), "PACTR{n}"),
    Registry("rebec", "Brazilian Clinical Trials Registry", _p(r"RBR-(?P<n>[0-9a-z]{6,8})"), "RBR-{n_lower}"),
    Registry("nl", "Netherlands Trial Register", _p(r"(?P<p>NTR|NL|NL-OMON)(?P<n>\d{1,6})"), "{p_upper}{n}"),
    Registry("slctr", "Sri Lanka Clinical Trials Registry", _p(r"SLCTR/(?P<n>\d{4}/\d{3})"), "SLCTR/{n}"),
    Registry("lbctr", "Lebanese Clinical Trials Registry", _p(r"LBCTR(?P<n>\d{10})"), "LBCTR{n}"),
    Registry("itmctr", "International Traditional Medicine Clinical Trial Registry", _p(r"ITMCTR(?P<n>\d{10})"),
             "ITMCTR{n}"),
)
_BY_SLUG = {r.slug: r for r in REGISTRIES}


@dataclass(frozen=True)
class TrialId:
    """A registration id in its canonical form, with the registry that issued it."""

    registry: str
    id: str


def _canonical(registry: Registry, match: re.Match[str]) -> str:
    groups = {k: v for k, v in match.groupdict().items() if v is not None}
    values = {**groups, **{f"{k}_upper": v.upper() for k, v in groups.items()},
              **{f"{k}_lower": v.lower() for k, v in groups.items()}}
    return registry.canonical.format(**values)


def match_trial_id(text: str) -> TrialId | None:
    """The canonical id that ``text`` is, whole and exactly (no trimming), or None.

    >>> match_trial_id("NCT06464679")
    TrialId(registry='ctgov', id='NCT06464679')
    >>> match_trial_id("EUCTR2021-004994-30-DE")
    TrialId(registry='euctr', id='2021-004994-30')
    >>> match_trial_id("2023-505613-24-00").registry
    'ctis'
    >>> match_trial_id("NCT\u0660\u0666\u0664\u0666\u0664\u0666\u0667\u0669") is None
    True
    >>> match_trial_id("NCT91000009\\n") is None
    True
    """
    if not isinstance(text, str) or not text.isascii():
        return None
    for registry in REGISTRIES:
        match = registry.pattern.fullmatch(text)
        if match:
            return TrialId(registry.slug, _canonical(registry, match))
    return None


def is_nct_id(text: str) -> bool:
    """True when ``text`` is exactly ``NCT`` and 8 ASCII digits (upper case, nothing around it).

    >>> is_nct_id("NCT06464679"), is_nct_id("nct06464679"), is_nct_id("NCT0646467\uff19")
    (True, False, False)
    """
    return isinstance(text, str) and REGISTRIES[0].pattern.fullmatch(text) is not None and text.startswith("NCT")


def parse_trial_id(value: str) -> str:
    """A user's id argument as a canonical id (surrounding blanks trimmed, any case), or BadArgument.

    >>> parse_trial_id(" nct06464679 ")
    'NCT06464679'
    >>> parse_trial_id("chictr2000034346")
    'ChiCTR2000034346'
    """
    found = match_trial_id(value.strip(" \t\r\n")) if isinstance(value, str) else None
    if found is None:
        raise BadArgument(f"{value!r} is not a trial id (e.g. NCT06464679, ChiCTR2000034346, 2023-505613-24-00, "
                          "2021-004994-30, ISRCTN13281214, jRCT2031210001, ACTRN12620000123456, CTRI/2021/05/033581)")
    return found.id


def canonical_or_as_is(text: str) -> str:
    """``text`` as a canonical id when it is one (any case, blanks trimmed), else trimmed as it is.

    >>> canonical_or_as_is(" chictr2000034346"), canonical_or_as_is("trial 7")
    ('ChiCTR2000034346', 'trial 7')
    """
    found = match_trial_id(text.strip(" \t\r\n")) if isinstance(text, str) else None
    return found.id if found else text.strip()


def registry_of(trial_id: str) -> str:
    """The slug of the registry that issued a canonical id ('ctgov', 'chictr', ...).

    >>> registry_of("ChiCTR2000034346")
    'chictr'
    """
    found = match_trial_id(trial_id)
    if found is None:
        raise BadArgument(f"{trial_id!r} is not a trial id")
    return found.registry


def registry_name(slug: str) -> str:
    """The registry's name for people.

    >>> registry_name("ctis")
    'EU CTIS'
    """
    registry = _BY_SLUG.get(slug)
    return registry.name if registry else slug


def registry_url(trial_id: str) -> str:
    """The trial's page in its own registry (WHO ICTRP's page where a registry has no stable link).

    >>> registry_url("NCT06464679")
    'https://clinicaltrials.gov/study/NCT06464679'
    >>> registry_url("ChiCTR2000034346")
    'https://trialsearch.who.int/Trial2.aspx?TrialID=ChiCTR2000034346'
    """
    return _BY_SLUG[registry_of(trial_id)].url.format(id=trial_id)
