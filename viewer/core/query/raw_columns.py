"""Raw JSON fields the case extracted at import (`raw_fields`), for the KQL and Logs Insights translators.

Why: `raw.requestParameters.bucketName` in KQL or `requestParameters.bucketName` in Logs Insights
reads the raw JSON, which makes DuckDB decompress and parse every record of every vector holding a
matching row (at 10M CloudTrail events, 10-30 s per query). `viewer.core.raw_fields` keeps a few of
those fields in a narrow table keyed by `event_id`; the library's SQL joins it. The translators do
the same, but only where the column is exactly what the raw path gives: for rows of a source type
whose records the column is read from, by that one path (a column coalescing two paths, or cast to
a number, is not the text of either path). Other rows and other paths still read the raw JSON.
A column stored only where it differs from an events column (`raw_fields.EXCEPT_FROM`: the
CloudTrail ARN, which `principal_id` holds whenever the record has one) is read as that column
unless its row flags a difference (`column_sql`).

The join is added only when a query reads such a column, as `LEFT JOIN raw_fields` on `event_id`:
the table has at most one row per event, and no row where every field is NULL, which is what the
path gives for an event without it.
"""

from __future__ import annotations

from functools import cache

from viewer.core import raw_fields

#: Prefix of the join's columns inside generated SQL: no user column or KQL name starts with it.
HIDDEN_PREFIX = "__rf_"


@cache
def text_columns(source_type: str) -> dict[str, str]:
    """JSON path -> raw_fields column whose `column_sql` equals `raw->>path` for every event of this
    source type."""
    columns = {}
    for column in raw_fields.SOURCES.get(source_type, ()):
        paths = raw_fields.FIELDS[column]
        if len(paths) == 1 and column not in raw_fields._DOUBLE:
            columns[paths[0]] = column
    return columns


@cache
def number_columns(source_type: str) -> dict[str, str]:
    """JSON path -> raw_fields column equal to `TRY_CAST(raw->>path AS DOUBLE)` for every event of
    this source type (what a Logs Insights number of that field is: `sum(field)`, `field > 5`)."""
    columns = {}
    for column in raw_fields.SOURCES.get(source_type, ()):
        paths = raw_fields.FIELDS[column]
        if len(paths) == 1 and column in raw_fields._DOUBLE:
            columns[paths[0]] = column
    return columns


def hidden(column: str) -> str:
    """The name a raw_fields column has inside the generated SQL."""
    return HIDDEN_PREFIX + column


def column_sql(column: str, events_alias: str) -> str:
    """SQL of a raw_fields column's value for an event of `events AS events_alias`, with the joins
    of `join_sql`."""
    other = raw_fields.EXCEPT_FROM.get(column)
    if other is None:
        return f"__rf.{column}"
    alias = f"__rfx_{column}"
    return f"CASE WHEN {alias}.event_id IS NOT NULL THEN {alias}.{column} ELSE {events_alias}.{other} END"


def join_sql(columns: set[str], events_alias: str) -> str:
    """The LEFT JOINs that `column_sql` reads for these columns. A column stored only where it
    differs from an events column joins just those rows (flagged, a filter the scan applies): the
    whole table can hold a row for most events (a case whose every CloudTrail record has a
    bucket), and joining all of them cost 3.3 against 1.0 CPU-s at 10M events. Likewise the other
    columns join only the rows holding one of them: a row where all of them are NULL gives what
    the LEFT JOIN gives without it (10M events, every one with a bucket, 1M RunInstances reading
    instance_type: 3.5 against 1.1 CPU-s)."""
    joins = []
    plain = sorted(c for c in columns if c not in raw_fields.EXCEPT_FROM)
    if plain:
        held = " OR ".join(f"{c} IS NOT NULL" for c in plain)
        joins.append(
            f" LEFT JOIN (SELECT event_id, {', '.join(plain)} FROM raw_fields WHERE {held}) AS __rf "
            f"ON __rf.event_id = {events_alias}.event_id"
        )
    for column in sorted(c for c in columns if c in raw_fields.EXCEPT_FROM):
        alias = f"__rfx_{column}"
        joins.append(
            f" LEFT JOIN (SELECT event_id, {column} FROM raw_fields WHERE {column}_differs) AS {alias} "
            f"ON {alias}.event_id = {events_alias}.event_id"
        )
    return "".join(joins)


def with_columns(relation_sql: str, columns: set[str]) -> str:
    """A relation over events (`events`, or a parenthesized SELECT of its rows) with the given
    raw_fields columns added under their hidden names."""
    items = "".join(f", {column_sql(c, '__e')} AS {hidden(c)}" for c in sorted(columns))
    return f"(SELECT __e.*{items} FROM {relation_sql} AS __e{join_sql(columns, '__e')})"
