"""Domain lexicons: CAR target antigens, cell products, disease categories with MeSH ids.

Data only; :mod:`kb.extract` holds the rules. Every product entry says where its facts come
from. Add entries freely; the rules are general and never name a trial.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

# Antigen symbol -> regex alternatives (case-insensitive, matched as whole tokens).
ANTIGENS: dict[str, tuple[str, ...]] = {
    "CD19": (r"CD[-\s]?19",),
    "BCMA": (r"BCMA", r"B[-\s]cell maturation antigen", r"TNFRSF17"),
    "CD20": (r"CD[-\s]?20", r"MS4A1"),
    "CD22": (r"CD[-\s]?22",),
    "CD7": (r"CD[-\s]?7",),
    "CD70": (r"CD[-\s]?70",),
    "CD38": (r"CD[-\s]?38",),
    "CD5": (r"CD[-\s]?5",),
    "CD30": (r"CD[-\s]?30",),
    "CD123": (r"CD[-\s]?123",),
    "BAFF-R": (r"BAFF[-\s]?R", r"BAFF receptor", r"TNFRSF13C"),
    "GPRC5D": (r"GPRC5D",),
    "CD6": (r"CD[-\s]?6",),
    "HLA-A2": (r"HLA[-\s]?A\*?0?2",),
    "DSG3": (r"DSG[-\s]?3", r"desmoglein[-\s]?3"),
    "MuSK": (r"MuSK",),
    "PLA2R": (r"PLA2R",),
}

CELL_TYPES = ("T", "NK", "iNKT", "DNT", "gdT", "Treg", "macrophage")


@dataclass(frozen=True)
class Product:
    """What is known of a cell product or drug, and where that knowledge comes from."""

    code: str
    is_car: bool | None
    targets: tuple[str, ...] = ()
    cell_type: str | None = None
    origin: str | None = None
    developer: str | None = None
    aliases: tuple[str, ...] = ()
    source: str = ""


_REC = "stated in its own registry records"
PRODUCTS: tuple[Product, ...] = (
    Product("KN5501", True, ("CD19",), "NK", source=f"{_REC}: 'anti-CD19 CAR NK cells (KN5501)'"),
    Product("KN5601", True, ("CD19", "BCMA"), "NK", source=f"{_REC}: anti-CD19/BCMA CAR-NK"),
    Product("KN5601-K", True, ("CD19", "BCMA"), "NK", source=f"{_REC}: 'anti-CD19/BCMA CAR NK cells (KN5601-K)'"),
    Product("NKX019", True, ("CD19",), "NK", "allogeneic", "Nkarta",
            source=f"{_REC} ('NKX019, a CD19 CAR NK Cell Therapy'); off-the-shelf per developer"),
    Product("CNTY-101", True, ("CD19",), "NK", "allogeneic", "Century Therapeutics",
            source="curated CAR-NK table: 'CD19 CAR iPSC-NK'"),
    Product("TAK-007", True, ("CD19",), "NK", "allogeneic", "Takeda",
            source="developer: cord-blood-derived CD19 CAR-NK"),
    Product("FT819", True, ("CD19",), "T", "allogeneic", "Fate Therapeutics",
            source="developer: iPSC-derived CD19 CAR-T"),
    Product("FT522", True, ("CD19",), "NK", "allogeneic", "Fate Therapeutics",
            source="developer: iPSC-derived CD19 CAR-NK"),
    Product("YTB323", True, ("CD19",), "T", "autologous", "Novartis",
            aliases=("rapcabtagene autoleucel",), source="INN rapcabtagene autoleucel: autologous CD19 CAR-T"),
    Product("CT103A", True, ("BCMA",), "T", "autologous", "IASO Bio",
            aliases=("equecabtagene autoleucel",), source="INN equecabtagene autoleucel: BCMA CAR-T"),
    Product("KYV-101", True, ("CD19",), "T", "autologous", "Kyverna", source="developer: autologous CD19 CAR-T"),
    Product("CABA-201", True, ("CD19",), "T", "autologous", "Cabaletta Bio",
            aliases=("rese-cel", "resecabtagene autoleucel"), source="developer: autologous CD19 CAR-T"),
    Product("MB-CART2019.1", True, ("CD20", "CD19"), "T", "autologous", "Miltenyi",
            aliases=("zamtocabtagene autoleucel",), source="INN zamtocabtagene autoleucel: CD20/CD19 CAR-T"),
    Product("DESCARTES-08", True, ("BCMA",), "T", "autologous", "Cartesian Therapeutics",
            source="developer: mRNA BCMA CAR-T"),
    Product("BMS-986353", True, ("CD19",), "T", "autologous", "Bristol Myers Squibb",
            aliases=("CC-97540",), source="developer: CD19 NEX-T CAR-T"),
    Product("GC012F", True, ("BCMA", "CD19"), "T", "autologous", "Gracell / AstraZeneca",
            aliases=("AZD0120",), source="developer: FasTCAR BCMA/CD19 CAR-T"),
    Product("CB-010", True, ("CD19",), "T", "allogeneic", "Caribou Biosciences",
            source="developer: allogeneic CD19 CAR-T"),
    Product("ICG318", True, ("BCMA", "CD19"), "T", None, "iCell Gene Therapeutics",
            source=f"{_REC}: 'ICG318, BCMA-CD19-IL-15/IL-15 sushi Compound CAR-T'"),
    Product("RD13-02", True, ("CD7",), "T", source=f"{_REC}: 'CD7 CAR T Cells (RD13-02)'"),
    Product("DSG3-CAART", True, ("DSG3",), "T", "autologous", "Cabaletta Bio",
            source="developer: desmoglein-3 CAAR-T for mucosal pemphigus vulgaris"),
    Product("MUSK-CAART", True, ("MuSK",), "T", "autologous", "Cabaletta Bio",
            source="developer: MuSK CAAR-T for MuSK myasthenia gravis"),
    Product("F01", True, (), "NK", source="curated CAR-NK table marks F01 trials as CAR-NK"),
    Product("LUCAR-DKS1", True, (), "NK", source="curated CAR-NK table"),
    Product("NEUK203-215", True, (), "NK", source="curated CAR-NK table"),
    Product("OL-108", True, (), "T", source="curated CAR-T table"),
    Product("GT719", None, ("CD19",), "iNKT", "allogeneic", "Grit Biotechnology",
            source=f"{_REC}: 'CD19-targeted iNKT Cell Injection', 'Universal Cell'; receptor not stated"),
    Product("GSK2618960", False, (), None, None, "GSK", source="developer: anti-IL-7 receptor antibody"),
)
PRODUCTS_BY_CODE: dict[str, Product] = {p.code.upper(): p for p in PRODUCTS}
PRODUCT_ALIASES: dict[str, Product] = {a.lower(): p for p in PRODUCTS for a in p.aliases}


@dataclass(frozen=True)
class Disease:
    """A disease category, its MeSH descriptor, and the phrases that name it."""

    key: str
    label: str
    mesh_id: str
    patterns: tuple[str, ...]  # case-insensitive regexes
    abbreviations: tuple[str, ...] = ()  # case-sensitive whole words
    mesh_ids: tuple[str, ...] = ()  # further MeSH ids that map here
    parent: str | None = None  # a broader category (lupus nephritis -> SLE), for partial credit


DISEASES: tuple[Disease, ...] = (
    Disease("lupus_nephritis", "lupus nephritis", "D008181", (r"lupus\W+nephritis",), ("LN",), parent="sle"),
    Disease("sle", "systemic lupus erythematosus", "D008180",
            (r"lupus\W+er[a-z]*th[a-z]*", r"systemic\W+lupus", r"\blupus\b(?!\W+nephritis)"), ("SLE",)),
    Disease("systemic_sclerosis", "systemic sclerosis", "D012595",
            (r"systemic\W+sclerosis", r"scleroderma"), ("SSc", "dcSSc", "lcSSc"), ("D012594",)),
    Disease("myositis", "idiopathic inflammatory myopathy", "D009220",
            (r"myositis", r"inflammatory\W+myopath", r"dermatomyositis", r"polymyositis", r"antisynthetase",
             r"anti-synthetase"), ("IIM",), ("D003882", "D017285", "D009135")),
    Disease("rheumatoid_arthritis", "rheumatoid arthritis", "D001172", (r"rheumatoid\W+arthritis",), ("RA",)),
    Disease("sjogren", "Sjogren's syndrome", "D012859", (r"sj[oö]e?gren", r"dry\W+syndrome", r"sicca\W+syndrome"),
            ("pSS",)),
    Disease("aav", "ANCA-associated vasculitis", "D056648",
            (r"ANCA\W+associated", r"anti-?neutrophil\W+cytoplasmic", r"granulomatosis\W+with\W+polyangiitis",
             r"microscopic\W+polyangiitis", r"eosinophilic\W+granulomatosis"), ("AAV", "GPA"),
            ("D014890", "D055953")),
    Disease("myasthenia_gravis", "myasthenia gravis", "D009157", (r"myasthenia",), ("gMG", "MG")),
    Disease("nmosd", "neuromyelitis optica spectrum disorder", "D009471", (r"neuromyelitis",), ("NMOSD", "NMO")),
    Disease("multiple_sclerosis", "multiple sclerosis", "D009103", (r"multiple\W+sclerosis",), ("MS", "RRMS", "PPMS", "SPMS")),
    Disease("itp", "immune thrombocytopenia", "D016553",
            (r"immune\W+thrombocytop", r"idiopathic\W+thrombocytop", r"autoimmune\W+thrombocytop"), ("ITP",)),
    Disease("aiha", "autoimmune hemolytic anemia", "D000744", (r"autoimmune\W+ha?emolytic",), ("AIHA", "wAIHA")),
    Disease("aplastic_anemia", "aplastic anemia", "D000741", (r"aplastic\W+ana?emia",), ("SAA",)),
    Disease("igg4_rd", "IgG4-related disease", "D000075683", (r"IgG4\W*related",), ("IgG4-RD",)),
    Disease("iga_nephropathy", "IgA nephropathy", "D005922", (r"IgA\W+nephropath", r"IgA\W+glomerulo"), ("IgAN",),
            parent="glomerulonephritis"),
    Disease("membranous_nephropathy", "membranous nephropathy", "D015433",
            (r"membranous\W+(?:nephropath|glomerulo)",), ("PMN",), parent="glomerulonephritis"),
    Disease("glomerulonephritis", "immune-mediated glomerular disease", "D005921",
            (r"(?<!IgA )(?<!membranous )glomerulonephritis", r"immune\W+nephropath", r"podocytopath",
             r"immune-mediated\W+kidney", r"glomerular\W+disease"), ()),
    Disease("pemphigus", "pemphigus", "D010392", (r"pemphig",), ()),
    Disease("antiphospholipid", "antiphospholipid syndrome", "D016736", (r"antiphospholipid",), ("APS",)),
    Disease("ctd_ild", "connective tissue disease-associated interstitial lung disease", "D017563",
            (r"connective\W+tissue\W+disease\W+associated\W+interstitial",), ("CTD-ILD",)),
    Disease("rheumatic_pediatric", "paediatric rheumatic disease", "D012216",
            (r"pa?ediatric\W+rheumat", r"juvenile\W+(?:idiopathic|dermatomyositis|lupus)"), ("JIA", "jSLE")),
    Disease("neuroimmune", "autoimmune disease of the nervous system", "D020274",
            (r"(?:inflammatory|autoimmune)\W+diseases?\W+of\W+the\W+(?:central\W+)?nervous", r"autoimmune\W+encephalitis",
             r"chronic\W+inflammatory\W+demyelinating"), ("CIDP",)),
    Disease("vitiligo", "vitiligo", "D014820", (r"vitiligo",), ()),
    Disease("autoimmune", "autoimmune disease (unspecified)", "D001327",
            (r"auto-?immun", r"immune[- ]mediated", r"B[- ]cell[- ](?:related|mediated)"), ()),
)
UMBRELLA = "autoimmune"


def disease_ancestors(key: str) -> list[str]:
    """The broader categories of a disease category, nearest first, ending with the umbrella."""
    out: list[str] = []
    parent = DISEASES_BY_KEY[key].parent if key in DISEASES_BY_KEY else None
    while parent:
        out.append(parent)
        parent = DISEASES_BY_KEY[parent].parent
    if key != UMBRELLA:
        out.append(UMBRELLA)
    return out
DISEASES_BY_KEY: dict[str, Disease] = {d.key: d for d in DISEASES}
DISEASE_BY_MESH: dict[str, Disease] = {m: d for d in DISEASES for m in (d.mesh_id, *d.mesh_ids)}


def _load_cancers() -> tuple[Disease, ...]:
    """Cancer categories from ``lexicon/cancers.json``."""
    data = json.loads((Path(__file__).with_name("lexicon") / "cancers.json").read_text())
    return tuple(Disease(c["key"], c["label"], c["mesh_id"], tuple(c["patterns"]), tuple(c["abbreviations"]))
                 for c in data["cancers"])


CANCERS: tuple[Disease, ...] = _load_cancers()
"""Cancer categories: a trial naming one is in the oncology domain (or mixed)."""
CANCER_UMBRELLA = "cancer"
CANCER_BY_MESH: dict[str, Disease] = {c.mesh_id: c for c in CANCERS}
