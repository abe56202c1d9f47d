"""The crawl's searches, in one readable place: fetch broadly, decide locally.

The registry's search matches whole words (runs of letters and digits; ``CAR-T`` is the phrase
"car t", and ``CAR`` does not match inside ``LCAR-AIO``), so every spelling the field uses is
listed. Together the searches ask for every CAR cell therapy whatever the disease (about 3,000
studies: three 1,000-study pages), every cell therapy in immune-mediated disease, and every
product and drug name the lexicon knows, and product codes earlier runs found. Whether a trial is relevant (a CAR cell therapy in
immune-mediated disease) is decided by trialkb's extraction (``Trial.is_relevant``), not here.
Each search runs with its own date window in incremental runs (:mod:`crawler.plan`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from kb.domain.lexicon import PRODUCTS

MAX_EXPRESSION = 1200
"""Characters of one OR list in a request: longer lists are split over several requests, so every URL
stays well under the 2,083 characters browsers, proxies and Scrapy's URLLENGTH_LIMIT accept."""

SEED_NCT_ID = "NCT06464679"


def any_of(*terms: str) -> str:
    """An OR of terms; a term with a space or a hyphen is quoted as a phrase.

    >>> any_of("CAR-T", "CART", "chimeric antigen receptor")
    '"CAR-T" OR CART OR "chimeric antigen receptor"'
    """
    return " OR ".join(f'"{t}"' if any(c in t for c in " -./") else t for t in dict.fromkeys(terms))


CAR_WORDS = (
    # the receptor, spelled out and abbreviated, with the effector cell
    "chimeric antigen receptor", "chimeric antigen receptors", "chimeric antigen-receptor", "CAR-T", "CART",
    "CARTs", "CAR-T-cell", "CAR-NK", "CARNK", "CAR-NKT", "CAR-iNKT", "CAR-DNT", "CAR-M", "CAR-macrophage",
    "CAR-engineered", "CAR-modified", "CAR-expressing", "CAR-transduced", "CAR cells", "CAR T-cells",
    "cCAR", "UCAR", "UCART", "U CAR-T", "universal CAR", "allogeneic CAR", "autologous CAR", "bispecific CAR",
    "tandem CAR", "dual CAR", "armored CAR", "mRNA CAR",
    # kin: autoantibody receptors, regulatory T cells, gamma-delta T cells
    "chimeric autoantibody receptor", "CAAR", "CAAR-T", "CAR-Treg", "CAR Tregs", "CAR regulatory",
    "CAR-γδ", "CAR-γδT", "γδ CAR", "CAR-gamma delta", "gamma delta CAR", "CAR-gd", "CAR-gdT",
)
"""CAR cell-therapy wording, any disease (BasicSearch: every field of the record)."""

INN_WORDS = (
    # INN stems: "-cabtagene" (first word) is not a word of its own, so the second words are listed
    "autoleucel", "ciloleucel", "maraleucel", "vicleucel", "tisagenlecleucel", "lisocabtagene",
    "axicabtagene", "idecabtagene", "ciltacabtagene", "brexucabtagene", "obecabtagene", "relmacabtagene",
    "equecabtagene", "zevorcabtagene", "inaticabtagene", "varnimcabtagene", "rapcabtagene", "resecabtagene",
    "zamtocabtagene", "azercabtagene", "satricabtagene", "anbalcabtagene", "prulacabtagene", "zugocabtagene",
    "leucel", "geleucel", "maraleucel",
    # short forms
    "tisa-cel", "axi-cel", "liso-cel", "ide-cel", "cilta-cel", "brexu-cel", "obe-cel", "relma-cel", "eque-cel",
    "zevor-cel", "inati-cel", "rese-cel", "rapca-cel", "azer-cel", "zamto-cel", "satri-cel", "anbal-cel",
    "varnim-cel", "prula-cel", "zugo-cel",
)
"""INN names and short forms of CAR cell products (BasicSearch)."""

CODE_WORDS = (
    "LCAR", "LUCAR", "UCART", "CART19", "CART-19", "CAR19", "CAR-19", "CART20", "CART22", "CART38", "CART123",
    "CAR-20", "CAR-22", "CAR-T19", "CAR-BCMA", "BCMA-CAR", "CD19-CAR", "CD19CAR", "CD7-CAR", "CAR7", "CAR20.19",
    "huCART19", "KYV", "CABA", "CNTY", "NKX", "FT819", "FT522", "YTB323", "MB-CART2019", "DSG3-CAART",
    "MuSK-CAART", "CAART",
)
"""Product codes carry "CAR" inside a word (LCAR-AIO is the tokens lcar, aio): the code words of the field."""

IMMUNE_DISEASES = (
    "autoimmune", "autoimmunity", "immune-mediated", "immune mediated", "autoantibody", "rheumatic",
    "rheumatologic", "rheumatology", "connective tissue disease", "collagen vascular",
    # rheumatology and kidney
    "lupus", "SLE", "lupus nephritis", "systemic sclerosis", "scleroderma", "myositis", "dermatomyositis",
    "polymyositis", "myopathy", "antisynthetase", "anti-synthetase", "rheumatoid arthritis", "Sjogren", "Sjögren",
    "Sjoegren", "ANCA", "vasculitis", "polyangiitis", "IgG4-related", "IgG4", "antiphospholipid", "Still disease",
    "Behcet", "sarcoidosis", "interstitial lung disease", "glomerulonephritis", "IgA nephropathy",
    "membranous nephropathy", "nephrotic syndrome", "minimal change", "focal segmental", "podocytopathy",
    "anti-GBM", "Goodpasture",
    # nervous system
    "myasthenia gravis", "myasthenia", "neuromyelitis optica", "NMOSD", "MOGAD", "MOG antibody",
    "multiple sclerosis", "CIDP", "chronic inflammatory demyelinating", "autoimmune encephalitis",
    "stiff person", "Guillain-Barre",
    # blood
    "immune thrombocytopenia", "ITP", "thrombocytopenic purpura", "autoimmune hemolytic", "hemolytic anemia",
    "AIHA", "aplastic anemia", "aplastic anaemia", "pure red cell aplasia", "Evans syndrome", "acquired hemophilia",
    # skin
    "pemphigus", "pemphigoid", "vitiligo", "psoriasis", "hidradenitis", "alopecia areata", "epidermolysis bullosa acquisita",
    # endocrine and gut
    "type 1 diabetes", "T1D", "diabetes mellitus type 1", "Graves", "thyroid eye disease", "thyroiditis",
    "Crohn", "ulcerative colitis", "inflammatory bowel", "autoimmune hepatitis", "primary biliary", "celiac",
    # transplantation
    "graft-versus-host", "graft versus host", "GVHD", "cGVHD", "transplant rejection", "desensitization",
    "uveitis",
)
"""Immune-mediated disease, broadly (ConditionSearch: conditions, keywords, titles, MeSH terms)."""

CELL_THERAPY_WORDS = (
    "cell therapy", "cell therapies", "cellular therapy", "cell injection", "cells injection", "cell infusion",
    "cell product", "T cells", "T-cell therapy", "NK cells", "NK cell", "Treg", "Tregs", "CAR", "CAAR",
    "engineered", "transduced", "gene-modified", "genetically modified", "adoptive", "in vivo", "lentiviral",
)
"""Cell-therapy wording (BasicSearch), asked together with immune-mediated disease."""

CELL_WORDS = ("cell", "cells", "lymphocytes", "lymphocyte", "T", "NK", "therapy", "injection", "infusion")
"""What follows a bare "CAR" in a cell therapy ("CD30 CAR T lymphocytes", "CAR-CD19 T cells")."""

IN_VIVO_WORDS = ("in vivo", "in-vivo")
VECTOR_WORDS = ("CAR", "CAR-T", "chimeric antigen receptor", "LV", "lentiviral", "lentivirus", "lentiviral vector",
                "viral vector", "LNP", "lipid nanoparticle", "targeted LNP", "mRNA-LNP", "gene therapy", "transduction")


@dataclass(frozen=True)
class Query:
    """A named search: its API parameters (besides paging and the date window)."""

    name: str
    params: dict[str, str]

    @property
    def key(self) -> str:
        """The name and a digest of the parameters: a search whose terms change (the lexicon grew) gets a
        new watermark, so its first run covers every date."""
        digest = hashlib.sha1(json.dumps(self.params, sort_keys=True).encode()).hexdigest()[:10]
        return f"{self.name}@{digest}"


def split_terms(terms: tuple[str, ...] | list[str], most: int = MAX_EXPRESSION) -> list[str]:
    """OR lists of ``terms``, each at most ``most`` characters (in order).

    >>> split_terms(["a b", "c", "d"], most=10)
    ['"a b" OR c', 'd']
    """
    parts: list[list[str]] = [[]]
    for term in dict.fromkeys(terms):
        if parts[-1] and len(any_of(*parts[-1], term)) > most:
            parts.append([])
        parts[-1].append(term)
    return [any_of(*p) for p in parts if p]


def _numbered(name: str, variants: list[dict[str, str]]) -> list[Query]:
    """One query, or several with numbered names when its terms were split."""
    if len(variants) == 1:
        return [Query(name, variants[0])]
    return [Query(f"{name}_{i}", v) for i, v in enumerate(variants, 1)]


def lexicon_product_names() -> list[str]:
    """Product codes and drug names of CAR cell products the lexicon knows (grown by extraction)."""
    return sorted({name for p in PRODUCTS if p.is_car is not False for name in (p.code, *p.aliases)})


def base_queries() -> list[Query]:
    """The fixed searches (long OR lists split over several requests)."""
    diseases = split_terms(IMMUNE_DISEASES, 800)
    return [
        *_numbered("car_therapies", [{"query.term": t} for t in split_terms(CAR_WORDS)]),
        Query("car_with_cells", {"query.term": f"CAR AND ({any_of(*CELL_WORDS)})"}),
        *_numbered("car_drug_names", [{"query.term": t} for t in split_terms(INN_WORDS)]),
        *_numbered("car_product_codes", [{"query.term": t} for t in split_terms(CODE_WORDS)]),
        *_numbered("known_products", [{"query.term": t} for t in split_terms(lexicon_product_names())]),
        Query("in_vivo_car", {"query.term": f"({any_of(*IN_VIVO_WORDS)}) AND ({any_of(*VECTOR_WORDS)})"}),
        *_numbered("cell_therapy_x_immune", [{"query.term": any_of(*CELL_THERAPY_WORDS), "query.cond": d}
                                             for d in diseases]),
        *_numbered("cells_given_x_immune", [{"query.intr": any_of(*CELL_WORDS[:4]), "query.cond": d} for d in diseases]),
    ]


def snowball_queries(products: list[str]) -> list[Query]:
    """Searches for product codes that earlier runs found and the lexicon does not know yet."""
    return _numbered("snowball_products", [{"query.term": t} for t in split_terms(sorted(products))]) if products else []


def query_named(name: str) -> Query:
    """The base query of that name."""
    return next(q for q in base_queries() if q.name == name)
