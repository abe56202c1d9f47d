"""SQL views for analysts, defined once for SQLite and PostgreSQL.

``car_trial``: one row per CAR cell-therapy trial (``is_car_therapy`` true) with its domain facts,
lists as comma-separated text; ``is_relevant`` marks those in immune-mediated disease (domain
immune-mediated or mixed).
``target_disease_count``: how many CAR cell-therapy trials study each target x disease.
``relevant_trial``: one row per CAR cell-therapy trial in immune-mediated disease (``is_relevant``),
the facets an analyst filters on as columns, lists as JSON arrays (``trialkb serve`` facets them);
``disease_names`` holds the diseases as people read them (``diseases`` the category keys).
"""

from __future__ import annotations

from sqlalchemy import Connection, text

VIEW_NAMES = ("target_disease_count", "car_trial", "relevant_trial")


def _aggregate(dialect: str, expression: str) -> str:
    """A dialect's ordered, comma-separated distinct aggregate."""
    if dialect == "postgresql":
        return f"string_agg(DISTINCT {expression}, ',' ORDER BY {expression})"
    return f"group_concat(DISTINCT {expression})"


def _names(dialect: str, column: str) -> str:
    """A JSON array of the names people read for a JSON array of disease category keys (in order)."""
    from kb.domain.lexicon import CATEGORY_NAMES

    def quoted(text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    name = ("CASE j.value " + " ".join(f"WHEN {quoted(k)} THEN {quoted(v)}" for k, v in CATEGORY_NAMES.items())
            + " ELSE j.value END")
    if dialect == "postgresql":
        return (f"(SELECT COALESCE(json_agg({name}), '[]'::json) FROM json_array_elements_text("
                f"CASE WHEN json_typeof({column}) = 'array' THEN {column} ELSE '[]'::json END) AS j(value))")
    return f"(SELECT json_group_array({name}) FROM json_each({column}) AS j)"


def view_sql(dialect: str) -> dict[str, str]:
    """CREATE VIEW statements for a dialect ('sqlite' or 'postgresql')."""
    def facts(kind: str) -> str:
        return (f"(SELECT {_aggregate(dialect, 'f.value')} FROM trial_fact f "
                f"WHERE f.trial_id = t.trial_id AND f.kind = '{kind}')")

    true = "true" if dialect == "postgresql" else "1"
    return {
        "car_trial": f"""
CREATE VIEW car_trial AS
SELECT t.trial_id, t.brief_title AS title, t.overall_status AS status, t.study_type,
       t.start_date, t.last_update_posted_date, t.enrollment_count, t.sponsor,
       t.is_car_therapy, t.is_relevant, t.domain, t.modality, t.cell_type, t.origin,
       {facts('target')} AS targets,
       {facts('product')} AS products,
       {facts('disease')} AS diseases,
       {facts('cancer')} AS cancers,
       (SELECT {_aggregate(dialect, 'l.country')} FROM location l WHERE l.trial_id = t.trial_id) AS countries
FROM trial t
WHERE t.is_car_therapy = {true}""",
        "target_disease_count": f"""
CREATE VIEW target_disease_count AS
SELECT tg.value AS target, d.value AS disease, COUNT(DISTINCT t.trial_id) AS trials
FROM trial t
JOIN trial_fact tg ON tg.trial_id = t.trial_id AND tg.kind = 'target'
JOIN trial_fact d ON d.trial_id = t.trial_id AND d.kind = 'disease'
WHERE t.is_car_therapy = {true}
GROUP BY tg.value, d.value""",
        "relevant_trial": f"""
CREATE VIEW relevant_trial AS
SELECT t.trial_id, t.brief_title AS title, t.overall_status AS status, t.phases, t.start_date,
       t.enrollment_count, t.modality, t.cell_type, t.origin, t.targets, t.products,
       t.disease_categories AS diseases, {_names(dialect, 't.disease_categories')} AS disease_names, t.countries, t.sponsor, t.sponsor_class, t.domain,
       t.last_update_posted_date
FROM trial t
WHERE t.is_relevant = {true}""",
    }


def create_views(conn: Connection) -> None:
    """(Re)create the analyst views on this connection."""
    drop_views(conn)
    for statement in view_sql(conn.dialect.name).values():
        conn.execute(text(statement))


def drop_views(conn: Connection) -> None:
    """Drop the analyst views if they exist."""
    for name in VIEW_NAMES:
        conn.execute(text(f"DROP VIEW IF EXISTS {name}"))
