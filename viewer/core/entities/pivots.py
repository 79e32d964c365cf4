"""Pivot panels: entities of one kind with counts, first/last seen, sources, clouds and failures.

Without a time filter a panel reads `entity_totals` (one row per entity). With one it sums the
whole hours inside the range from `entity_rollup` and counts the partial hours at its two edges
from `events`. When the correlation tables do not cover the events yet (an import in progress,
an old case) it counts from `events` directly: slower, same answer.

A click on one or several entities becomes a `PivotFilter`: filter-bar text when the filter
language can say it, and always a parameterised SQL predicate over `events`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb

from viewer.core.entities import builder, panel_query, panel_snapshot, panel_stats
from viewer.core.entities.kinds import EntityKind, entity_kind, normalize_ip
from viewer.core.entities.panel_stats import entity_expr, no_entity_dropped
from viewer.core.entities.resources import target_entity
from viewer.core.event_query import TARGET_TERM

TimeRange = tuple[dt.datetime, dt.datetime]

#: Sort keys a panel offers -> the column of the aggregated rows.
SORT_KEYS: dict[str, str] = {
    "events": "n",
    "failures": "n_fail",
    "first_seen": "first_us",
    "last_seen": "last_us",
    "entity": "entity",
}


@dataclass(frozen=True)
class PanelRow:
    entity: str
    events: int
    failures: int
    first_seen: dt.datetime | None
    last_seen: dt.datetime | None
    sources: tuple[str, ...]
    clouds: tuple[str, ...]


@dataclass(frozen=True)
class PanelPage:
    kind: str
    rows: list[PanelRow]
    total_entities: int  # entities matching the search in the range, for "200 of 65,024"
    exact_from_tables: bool  # False: counted from events (correlation tables not up to date)


@dataclass(frozen=True)
class PivotFilter:
    """What a pivot click filters the timeline and table by."""

    filter_text: str | None  # for `EventFilter(text=...)`; None when the language cannot say it
    where_sql: str  # parameterised predicate over `events`, always exact
    params: list[object]


def _us(t: dt.datetime) -> int:
    return int(t.timestamp() * 1_000_000)


def _aggregate_events_sql(kind: EntityKind, where: str) -> str:
    """Per (entity, source, cloud) counts straight from events, with the same once-per-event rule
    for IPs as the rollup."""
    parts: list[str] = []
    seen: list[str] = []
    for column in kind.columns:
        value = entity_expr(kind, column)
        same = "".join(f" AND {value} IS DISTINCT FROM {entity_expr(kind, c)}" for c in seen)
        parts.append(
            f"""SELECT {value} AS entity, source_type, provider, count(*) AS n,
                       count(*) FILTER (WHERE outcome = 'failure') AS n_fail, min(ts) AS first_ts,
                       max(ts) AS last_ts
                FROM events WHERE ({where}) AND {column} IS NOT NULL{no_entity_dropped(column, value)}{same} GROUP BY ALL"""
        )
        seen.append(column)
    return " UNION ALL ".join(parts)


def _fallback_page(
    cur: duckdb.DuckDBPyConnection,
    kind: EntityKind,
    time_range: TimeRange | None,
    search: str,
    order: str,
    descending: bool,
    limit: int,
    offset: int,
) -> tuple[list[PanelRow], int]:
    """The page counted from events (tables not current): slower, same answer."""
    params: list[object] = []
    where = "true"
    if time_range is not None:
        where = "ts >= ? AND ts < ?"
        params = [time_range[0], time_range[1]] * len(kind.columns)
    parts = _aggregate_events_sql(kind, where)
    body = f"""SELECT entity, sum(n)::BIGINT AS n, sum(n_fail)::BIGINT AS n_fail, min(first_ts) AS first_ts,
                      max(last_ts) AS last_ts,
                      list_sort(list_distinct(list(source_type))) AS sources,
                      list_sort(list_distinct(list(provider))) AS clouds
               FROM ({parts}) GROUP BY entity"""
    match = ""
    if search:
        match = "WHERE contains(lower(entity), ?)"
        params.append(search.lower())
    column = {"n": "n", "n_fail": "n_fail", "first_us": "first_ts", "last_us": "last_ts"}.get(order, "entity")
    rows = cur.execute(
        f"""SELECT entity, n, n_fail, first_ts, last_ts, sources, clouds, count(*) OVER () AS total
            FROM ({body}) {match} ORDER BY {column} {"DESC" if descending else "ASC"} NULLS LAST, entity
            LIMIT ? OFFSET ?""",
        [*params, limit, offset],
    ).fetchall()
    page = [
        PanelRow(r[0], int(r[1]), int(r[2]), r[3], r[4], tuple(r[5] or ()), tuple(r[6] or ())) for r in rows
    ]
    if rows or not offset:
        return page, int(rows[0][7]) if rows else 0
    # A page past the end still reports how many entities there are.
    return page, int(cur.execute(f"SELECT count(*) FROM ({body}) {match}", params).fetchall()[0][0])


def panel_rows(
    cur: duckdb.DuckDBPyConnection,
    kind_name: str,
    time_range: TimeRange | None = None,
    search: str = "",
    sort: str = "events",
    descending: bool = True,
    limit: int = 200,
    offset: int = 0,
) -> PanelPage:
    """One page of a pivot panel. `search` keeps entities containing it (case-insensitive).

    >>> page = panel_rows(cur, "principal", sort="failures", limit=20)  # doctest: +SKIP
    >>> page.rows[0].entity, page.rows[0].failures  # doctest: +SKIP
    ('arn:aws:iam::111111111111:user/ci-deploy', 5)
    """
    kind = entity_kind(kind_name)
    order = SORT_KEYS[sort]
    with panel_snapshot.reading(cur):  # the checks below, read in one statement
        if limit <= 0:
            return PanelPage(kind.name, [], 0, builder.is_ready(cur))
        if not builder.is_ready(cur):
            rows, total = _fallback_page(cur, kind, time_range, search, order, descending, limit, offset)
            return PanelPage(kind.name, rows, total, False)
        raw, total = panel_query.read_page(cur, kind, time_range, search, order, descending, limit, offset)
        bits = panel_stats.source_bits(cur)
        rows = []
        for r in raw:
            sources, clouds = panel_stats.decode_sources(r.sources, bits)
            first, last = panel_query.to_datetime(r.first_us), panel_query.to_datetime(r.last_us)
            rows.append(PanelRow(r.entity, r.n, r.n_fail, first, last, sources, clouds))
        return PanelPage(kind.name, rows, total, True)


def _stored_values(cur: duckdb.DuckDBPyConnection, kind: EntityKind, entities: list[str]) -> list[str]:
    """The entities plus every stored spelling of them (e.g. `::ffff:1.2.3.4` for `1.2.3.4`)."""
    if kind.is_resource:
        return list(dict.fromkeys(target_entity(e) for e in entities))
    if not kind.is_ip:
        return list(entities)
    canonical = [normalize_ip(e) for e in entities]
    try:
        rows = cur.execute(
            "SELECT DISTINCT stored FROM entity_alias WHERE kind = ? AND list_contains(?, entity)",
            [kind.name, canonical],
        ).fetchall()
    except duckdb.CatalogException:
        rows = []
    return sorted({*canonical, *(r[0] for r in rows)})


def _quote(value: str) -> str | None:
    if '"' in value:
        return None  # the language has no escape for a quote inside a quoted value
    return (
        value if value and not any(c.isspace() for c in value) and not value.endswith("*") else f'"{value}"'
    )


def selection_filter(cur: duckdb.DuckDBPyConnection, kind_name: str, entities: list[str]) -> PivotFilter:
    """The filter for a click on one or several entities of a panel.

    >>> selection_filter(cur, "credential", ["AKIAEGMMBOSVCVFYSJGQ"]).filter_text  # doctest: +SKIP
    'credential_id:AKIAEGMMBOSVCVFYSJGQ'

    The filter language ANDs its terms, so it can express one entity in one column; several
    entities, or an IP (source or destination), come as SQL only (`filter_text` None). A
    resource's spellings (a bucket's objects...) are selected by `target:` (`target_entity_sql`).
    """
    kind = entity_kind(kind_name)
    values = _stored_values(cur, kind, entities)
    marks = ", ".join("?" for _ in values)
    clauses: list[str] = []
    params: list[object] = []
    for column in kind.columns:
        expr = column if column != "dst_port" else f"CAST({column} AS VARCHAR)"
        clauses.append(f"{entity_expr(kind, column) if kind.is_resource else expr} IN ({marks})")
        params.extend(values)
    where = clauses[0] if len(clauses) == 1 else "(" + " OR ".join(clauses) + ")"
    text = None
    if len(values) == 1 and len(kind.columns) == 1:
        quoted = _quote(values[0])
        word = TARGET_TERM if kind.is_resource else kind.columns[0]
        text = f"{word}:{quoted}" if quoted is not None else None
    return PivotFilter(text, where, params)


def swimlane_counts(
    cur: duckdb.DuckDBPyConnection,
    kind_name: str,
    entities: list[str],
    time_range: TimeRange,
    buckets: int,
) -> dict[str, list[int]]:
    """Events per bucket for each entity (one timeline lane per entity), `buckets` equal slices
    of the range."""
    kind = entity_kind(kind_name)
    start, end = time_range
    width = max(1, (_us(end) - _us(start)) // max(1, buckets))
    wanted = [normalize_ip(e) for e in entities] if kind.is_ip else _stored_values(cur, kind, entities)
    pf = selection_filter(cur, kind.name, wanted)
    lanes = {e: [0] * buckets for e in wanted}
    cases = " ".join(
        f"WHEN {entity_expr(kind, c)} IN ({', '.join('?' for _ in wanted)}) THEN {entity_expr(kind, c)}"
        for c in kind.columns
    )
    rows = cur.execute(
        f"""SELECT CASE {cases} END AS entity, (epoch_us(ts) - ?) // ? AS b, count(*)
            FROM events WHERE ts >= ? AND ts < ? AND {pf.where_sql} GROUP BY ALL""",
        [*wanted * len(kind.columns), _us(start), width, start, end, *pf.params],
    ).fetchall()
    for entity, b, n in rows:
        if entity in lanes and 0 <= b < buckets:
            lanes[entity][int(b)] += int(n)
    return lanes
