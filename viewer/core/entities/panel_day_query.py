"""A time-filtered panel page ranked by event count through the day grids (`day_totals`).

The count of every entity over [start, end): cum(d1) - cum(d0) over the whole days inside the
range, plus the hourly rollup and edge events of the partial days at its ends (`panel_query`'s
range parts). Failures come the same way. The page is chosen on the count (ties at its end kept for the
tie-break on the text), and only the page's keys are looked up for their first and
last seen and sources (`_seen`: the grid's per-day fields, plus the partial days).
"""

from __future__ import annotations

import duckdb

from viewer.core.entities import day_totals, panel_query, panel_stats
from viewer.core.entities.kinds import EntityKind
from viewer.core.entities.panel_query import RawRow

#: Use the grids when the range takes at least this many days of them (after rounding each end
#: to the nearer midnight). Measured at 10M, ip, CPU ms grid / rollup (loaded machine, yardstick
#: 75-85 ms): 3 grid days 126 / 109, 4 days 119 / 162, 8 days 125 / 188, 31 days 241 / 560. Below,
#: the partial days' rollup and the page's keyed scan are most of the work either way.
MIN_WHOLE_DAYS = 4
#: The name the events of a range's edge hours are registered under while a page is read.
EDGE_ROWS = "_entity_edge_rows"


def read_page(
    cur: duckdb.DuckDBPyConnection,
    kind: EntityKind,
    span: tuple[int, int],
    descending: bool,
    limit: int,
    offset: int,
) -> tuple[list[RawRow], int] | None:
    """(rows of the page sorted by count, entities with events in the range), or None when the
    kind has no current grid or the range too few whole days (the caller takes another path)."""
    start, end = span
    grid = day_totals.is_current(cur, kind.name)
    if grid is None:
        return None
    day = day_totals.DAY_US
    # Each end of the range: add the partial day inside it, or take the whole day and subtract
    # the part outside it, whichever is shorter (a range starting at 00:07 reads 7 minutes of
    # rollup and events, not 23 h 53).
    d0 = -(-start // day) * day
    minus: list[tuple[int, int]] = []
    if start - (d0 - day) < d0 - start:
        d0 -= day
        minus.append((d0, start))
    d1 = (end // day) * day
    if end > d1 and (d1 + day) - end < end - d1:
        d1 += day
        minus.append((end, d1))
    if d1 - d0 < MIN_WHOLE_DAYS * day:
        return None
    plus = [(a, b) for a, b in ((start, d0), (d1, end)) if b > a]
    # Every partial hour of the counts and of `_seen` lies in the hour holding the range's start
    # or its end: their events are read once, into Python (a few thousand rows), for both.
    hour = panel_stats.HOUR_US
    hours = sorted({((t // hour) * hour, (t // hour + 1) * hour) for t in (start, end) if t % hour})
    edges = cur.sql(panel_query.edge_events_sql(cur, kind, hours)).to_arrow_table()
    cur.register(EDGE_ROWS, edges)
    try:
        parts = [day_totals.whole_days_sql(kind.name, grid, d0, d1)]
        if plus:
            parts.append(f"SELECT k, n, n_fail FROM ({panel_query.range_parts(cur, kind, plus, EDGE_ROWS)})")
        if minus:
            parts.append(
                f"SELECT k, -n, -n_fail FROM ({panel_query.range_parts(cur, kind, minus, EDGE_ROWS)})"
            )
        counts = f"""SELECT k, sum(n)::BIGINT AS n, sum(n_fail)::BIGINT AS n_fail
                     FROM ({" UNION ALL ".join(parts)}) GROUP BY k HAVING sum(n) > 0"""
        reach = limit + offset
        chosen = cur.execute(
            f"""WITH cnt AS MATERIALIZED ({counts})
                SELECT k, n, n_fail, (SELECT count(*) FROM cnt)
                FROM ({panel_query.candidates_sql("cnt", "n", descending, reach)})"""
        ).fetchall()
        if not chosen:
            total = cur.execute(f"SELECT count(*) FROM ({counts})").fetchall()[0][0]
            return [], int(total)
        keys = [r[0] for r in chosen]
        first, last, sources = _seen(cur, kind, keys, start, end)
    finally:
        cur.unregister(EDGE_ROWS)
    rows = [(k, n, n_fail, first[k], last[k], sources[k]) for k, n, n_fail, _ in chosen]
    bound = (start - panel_stats.kind_bounds(cur, kind)[1], end)
    return panel_query.with_names(cur, kind, rows, "n", descending, limit, offset, bound), int(chosen[0][3])


def _seen(
    cur: duckdb.DuckDBPyConnection, kind: EntityKind, keys: list[int], start: int, end: int
) -> tuple[dict[int, int], dict[int, int], dict[int, int]]:
    """First and last event time and sources in [start, end) of the keys: the grid's day fields
    of the whole days inside the range, and the rollup and edge events (`EDGE_ROWS`, registered
    by `read_page`) of its partial days at the ends. The keys are a literal list, which DuckDB
    applies in the scans (an unnested parameter is a semi-join above them). Measured at 10M (ip,
    30 days, CPU ms, interleaved): 101 reading the range's hourly rollup, 89 reading the grid's
    30 x 65k day rows (most of it the partial days' edge events, now shared with the counts)."""
    day = day_totals.DAY_US
    d0, d1 = -(-start // day) * day, (end // day) * day
    if d1 > d0:
        edges = [(a, b) for a, b in ((start, d0), (d1, end)) if b > a]
        parts = [day_totals.seen_days_sql(kind.name, d0, d1)]
        if edges:
            parts.append(
                f"SELECT k, first_us, last_us, sources FROM ({panel_query.range_parts(cur, kind, edges, EDGE_ROWS)})"
            )
        rows = " UNION ALL ".join(parts)
    else:
        rows = panel_query.range_parts(cur, kind, [(start, end)], EDGE_ROWS)
    got = cur.execute(
        f"""SELECT k, min(first_us), max(last_us), bit_or(sources) FROM ({rows})
            WHERE k IN ({", ".join(str(int(k)) for k in keys)}) GROUP BY k"""
    ).fetchall()
    return {r[0]: r[1] for r in got}, {r[0]: r[2] for r in got}, {r[0]: r[3] for r in got}
