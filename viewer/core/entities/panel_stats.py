"""The per-entity counts behind the pivot panels, kept incrementally by `builder.update`.

`entity_rollup` holds, per panel kind, entity, hour, source and cloud: events, failures, first and
last time. `entity_totals` re-sums it to one row per entity (the whole-case panel, read with a
sort and a limit). A time filter sums the whole hours inside it from the rollup and counts the
partial hours at its edges from `events` (zone maps on `ts` keep that to the two edge hours).
Hour rows are appended per import (a key may repeat: readers sum) and re-summed every few imports.
"""

from __future__ import annotations

import duckdb

from viewer.core.entities.kinds import KINDS, EntityKind, normalize_ip_sql
from viewer.core.jobs import JobContext

HOUR_US = 3_600_000_000
COMPACT_AFTER = 8

DDL: list[str] = [
    """CREATE TABLE IF NOT EXISTS entity_rollup (
        kind VARCHAR NOT NULL,          -- panel (entities.kinds): a pivot column, or 'ip'
        entity VARCHAR NOT NULL,        -- canonical value (IPs normalized)
        hour_us BIGINT NOT NULL,        -- hour start, epoch microseconds
        source_type VARCHAR, provider VARCHAR,
        n BIGINT NOT NULL, n_fail BIGINT NOT NULL,
        first_ts TIMESTAMPTZ, last_ts TIMESTAMPTZ
    )""",
    """CREATE TABLE IF NOT EXISTS entity_totals (
        kind VARCHAR NOT NULL, entity VARCHAR NOT NULL,
        n BIGINT NOT NULL, n_fail BIGINT NOT NULL,
        first_ts TIMESTAMPTZ, last_ts TIMESTAMPTZ,
        sources VARCHAR[], clouds VARCHAR[]
    )""",
    """CREATE TABLE IF NOT EXISTS entity_alias (
        kind VARCHAR NOT NULL,          -- only where a stored value differs from its entity
        entity VARCHAR NOT NULL,
        stored VARCHAR NOT NULL
    )""",
]
TABLES = ("entity_rollup", "entity_totals", "entity_alias")


def entity_expr(kind: EntityKind, column: str) -> str:
    """SQL for the canonical entity of `column` in an events row."""
    if kind.is_ip:
        return normalize_ip_sql(column)
    return column if column != "dst_port" else f"CAST({column} AS VARCHAR)"


def _kind_select(kind: EntityKind, mark_param: str) -> list[str]:
    """One SELECT per column of the kind; for IPs, the destination is skipped when it is the
    same address as the source so an event counts once per entity."""
    parts = []
    seen: list[str] = []
    for column in kind.columns:
        value = entity_expr(kind, column)
        same = " AND ".join(f"{value} IS DISTINCT FROM {entity_expr(kind, c)}" for c in seen)
        where = f"event_id > {mark_param} AND {column} IS NOT NULL" + (f" AND {same}" if same else "")
        parts.append(
            f"""SELECT '{kind.name}' AS kind, {value} AS entity,
                       (epoch_us(ts) // {HOUR_US}) * {HOUR_US} AS hour_us, source_type, provider,
                       count(*) AS n, count(*) FILTER (WHERE outcome = 'failure') AS n_fail,
                       min(ts) AS first_ts, max(ts) AS last_ts
                FROM events WHERE {where} GROUP BY ALL"""
        )
        seen.append(column)
    return parts


def append_new(cur: duckdb.DuckDBPyConnection, mark: int, ctx: JobContext | None) -> None:
    """Count events above `mark` into the rollup, one statement per kind (each can be cancelled
    between kinds; one UNION of all kinds was no faster on two cores)."""
    for kind in KINDS:
        if ctx is not None:
            ctx.check()
        sql = " UNION ALL ".join(_kind_select(kind, "$mark"))
        cur.execute(f"INSERT INTO entity_rollup SELECT * FROM ({sql}) ORDER BY hour_us", {"mark": mark})
    for kind in KINDS:
        if not kind.is_ip:
            continue
        for column in kind.columns:
            cur.execute(
                f"""INSERT INTO entity_alias
                    SELECT DISTINCT '{kind.name}', {entity_expr(kind, column)}, {column} FROM events
                    WHERE event_id > $mark AND contains({column}, ':')
                      AND {entity_expr(kind, column)} <> {column}
                    EXCEPT SELECT kind, entity, stored FROM entity_alias""",
                {"mark": mark},
            )


def compact(cur: duckdb.DuckDBPyConnection) -> None:
    """Re-sum repeated keys and restore the (kind, hour) order zone maps prune on."""
    cur.execute(
        """CREATE OR REPLACE TEMP TABLE _entity_rollup_all AS
           SELECT kind, entity, hour_us, source_type, provider, sum(n)::BIGINT AS n,
                  sum(n_fail)::BIGINT AS n_fail, min(first_ts) AS first_ts, max(last_ts) AS last_ts
           FROM entity_rollup GROUP BY ALL"""
    )
    cur.execute("DELETE FROM entity_rollup")
    cur.execute("INSERT INTO entity_rollup SELECT * FROM _entity_rollup_all ORDER BY kind, hour_us")
    cur.execute("DROP TABLE _entity_rollup_all")


def rebuild_totals(cur: duckdb.DuckDBPyConnection) -> None:
    """One row per entity over the whole case, sorted by kind then count (the default order)."""
    cur.execute("DELETE FROM entity_totals")
    cur.execute(
        """INSERT INTO entity_totals
           SELECT kind, entity, sum(n)::BIGINT, sum(n_fail)::BIGINT, min(first_ts), max(last_ts),
                  -- list_distinct(list()) is a plain aggregate; list(DISTINCT) measured 6x slower here
                  list_sort(list_distinct(list(source_type))), list_sort(list_distinct(list(provider)))
           FROM entity_rollup GROUP BY kind, entity ORDER BY kind, 3 DESC"""
    )
