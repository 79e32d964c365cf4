"""Which top-level keys each source type's records have: so a query for a field a source never
carries does not parse that source's raw JSON to find it missing.

Why: a Logs Insights query names fields of the log event (`filter eventSource = "iam..."`), and a
case mixes sources. For a source with no column copying the field, the translator must read it
from the raw JSON: at 10M events with 4M Azure, GCP and Entra records, a CloudTrail field cost
10-23 s of parsing records that do not have it. Knowing that no record of a source type has
`eventSource` at the top level, the translator reads NULL for that source instead, which is what
the parse would give (viewer/core/query/insights/fields.py).

Stored in ``raw_doc_keys_rows`` (source_type, key), one row per key seen at the top level of some
record of that source type, up to raw_fields' high-water mark: it is built with the raw fields,
after an import commits (`raw_fields.update`), and events above the mark are not covered, so a
reader treats them as possibly having any key. The document is the one Logs Insights discovers
fields in: the message parsed as JSON for CloudWatch Logs events, else the raw record. Two marker
keys: '' for a record that is not a JSON object (an array or a scalar, whose paths cannot be
reasoned about by key), NULL for one with no document at all (a CloudWatch message that is not
JSON): every source type with events under the mark has at least one row.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

DDL = [
    """CREATE TABLE IF NOT EXISTS raw_doc_keys_rows (
        source_type VARCHAR,
        key VARCHAR                 -- '': a record that is not an object; NULL: a record with no document
    )"""
]
TABLES = ("raw_doc_keys_rows",)
NOT_AN_OBJECT = ""
#: The document whose fields Logs Insights discovers (viewer/core/query/insights/fields.py): the
#: message of a CloudWatch Logs event when it is JSON (TRY_CAST gives NULL otherwise), else the
#: raw record itself.
MESSAGE_SQL = "TRY_CAST(raw->>'$.message' AS JSON)"
DOC_SQL = f"CASE WHEN source_type = 'cwl' THEN {MESSAGE_SQL} ELSE raw END"


@dataclass(frozen=True)
class DocKeys:
    """The top-level keys of each source type's records with event_id <= mark."""

    mark: int
    keys: dict[str, frozenset[str | None]]

    def lacks(self, source_type: str, key: str) -> bool:
        """True when no record of `source_type` under the mark has `key` at its top level (and
        that source has records there; an unknown source may have anything)."""
        have = self.keys.get(source_type)
        return have is not None and NOT_AN_OBJECT not in have and key not in have


def append_new(cur: duckdb.DuckDBPyConnection, mark: int) -> None:
    """Add the keys of the records above `mark`. Key lists are grouped before they are unnested:
    records of one source mostly list the same keys in the same order."""
    cur.execute(
        f"""INSERT INTO raw_doc_keys_rows
            SELECT DISTINCT source_type, unnest(CASE WHEN ks IS NULL THEN [NULL]
                                                     WHEN len(ks) = 0 THEN ['{NOT_AN_OBJECT}'] ELSE ks END)
            FROM (SELECT DISTINCT source_type, json_keys({DOC_SQL}) AS ks FROM events WHERE event_id > $mark)
            EXCEPT SELECT source_type, key FROM raw_doc_keys_rows""",
        {"mark": mark},
    )


def load(cur: duckdb.DuckDBPyConnection, mark: int | None) -> DocKeys | None:
    """The stored key sets under `mark` (raw_fields' high-water mark); None when nothing is built."""
    if mark is None:
        return None
    try:
        rows = cur.execute("SELECT source_type, list(key) FROM raw_doc_keys_rows GROUP BY ALL").fetchall()
    except duckdb.CatalogException:
        return None
    return DocKeys(mark, {source: frozenset(keys) for source, keys in rows})
