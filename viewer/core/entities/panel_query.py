"""A page of a pivot panel read from the correlation tables (`panel_stats`), for any time range.

Whole case: `entity_totals`, one row per entity, sorted with a limit. A time range [start, end):
the rollup rows of the whole hours inside it, plus the events of the partial hours at its two
edges counted directly, summed per entity key. The edge events are found through the persisted
time order (`viewer.core.time_order`): the rows of `time_order` inside the edges give
their ids (it is stored in ts order, so zone maps find them), fetched with `event_id BETWEEN`
runs that zone maps prune (`viewer.core.row_fetch`).
Scanning `events.ts` instead reads the whole column: the table is in delivery order, not time
order. Only the page's keys are joined to their text, after the top rows are chosen.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import numpy as np

from viewer.core.entities.kinds import EntityKind
from viewer.core.entities.panel_stats import HOUR_US, key_sql, kind_rows_sql, source_bit_sql, source_bits
from viewer.core.row_fetch import id_runs

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
#: More id runs than this in the edges: select them by `ts` instead (one scan of the column).
MAX_EDGE_RUNS = 256


@dataclass(frozen=True)
class RawRow:
    entity: str
    n: int
    n_fail: int
    first_us: int
    last_us: int
    sources: int


def to_datetime(us: int) -> dt.datetime:
    return EPOCH + dt.timedelta(microseconds=int(us))


def to_us(t: dt.datetime) -> int:
    return (t - EPOCH) // dt.timedelta(microseconds=1)


def _time_order_current(cur: duckdb.DuckDBPyConnection) -> bool:
    """True when `time_order` holds exactly the events (viewer.core.time_order's own test)."""
    try:
        rows = cur.execute(
            """SELECT s.events = (SELECT count(*) FROM events)
                      AND s.event_id_max IS NOT DISTINCT FROM (SELECT max(event_id) FROM events)
               FROM page_anchors_state s"""
        ).fetchall()
    except duckdb.CatalogException:
        return False
    return bool(rows and rows[0][0])


def edge_where(cur: duckdb.DuckDBPyConnection, intervals: list[tuple[int, int]]) -> str:
    """A predicate over `events` selecting exactly the events with ts in the [a, b) intervals
    (epoch microseconds). Literal integers only, so it can be repeated in a query freely."""
    if not intervals:
        return "false"
    by_ts = " OR ".join(
        f"(ts >= make_timestamptz({a}::BIGINT) AND ts < make_timestamptz({b}::BIGINT))" for a, b in intervals
    )
    if not _time_order_current(cur):
        return f"({by_ts})"
    # time_order is stored in ts order: zone maps find each interval's rows directly (one
    # SELECT per interval: an OR of two ranges is not pushed into the scan).
    each = " UNION ALL ".join(
        f"SELECT event_id FROM time_order WHERE ts >= make_timestamptz({a}::BIGINT) AND ts < make_timestamptz({b}::BIGINT)"
        for a, b in intervals
    )
    got = cur.execute(each).fetchnumpy()
    runs = id_runs(np.asarray(got["event_id"], np.int64))
    if not runs:
        return "false"
    if len(runs) > MAX_EDGE_RUNS:
        return f"({by_ts})"
    ranges = " OR ".join(f"event_id BETWEEN {lo} AND {hi}" for lo, hi in runs)
    return f"({ranges}) AND ({by_ts})"  # ts keeps out the other ids inside a run


def _range_parts(cur: duckdb.DuckDBPyConnection, kind: EntityKind, start_us: int, end_us: int) -> str:
    """Rows (k, n, n_fail, first_us, last_us, sources) to sum per key for [start, end)."""
    lo = -(-start_us // HOUR_US) * HOUR_US  # first whole hour inside the range
    hi = (end_us // HOUR_US) * HOUR_US  # end of the last whole hour inside it
    if lo >= hi:
        edges, rollup = [(start_us, end_us)], ""
    else:
        edges = [(a, b) for a, b in ((start_us, lo), (hi, end_us)) if b > a]
        rollup = f"""SELECT k, n, n_fail, first_us, last_us, sources FROM entity_rollup
                     WHERE kind = '{kind.name}' AND hour_us >= {lo} AND hour_us < {hi}"""
    bit_sql = source_bit_sql(source_bits(cur))
    edge = kind_rows_sql(kind, edge_where(cur, edges), bit_sql, None)
    from_events = f"""SELECT {key_sql("entity")} AS k, n, n_fail, first_us, last_us, sources
                      FROM ({edge})"""
    return f"{rollup} UNION ALL {from_events}" if rollup else from_events


def _candidates_sql(source: str, order: str, descending: bool, reach: int) -> str:
    """The rows of `source` that can be on a page reaching row `reach` when sorted by `order`:
    every row at least as far up as the reach-th one, so ties at the page's end are all there
    for the tie-break on the entity's text."""
    direction, edge, cmp = ("DESC", "min", ">=") if descending else ("ASC", "max", "<=")
    return f"""SELECT * FROM {source} WHERE {order} {cmp} (
                   SELECT {edge}({order}) FROM (SELECT {order} FROM {source} ORDER BY {order} {direction} LIMIT {reach}))"""


def _with_names(
    cur: duckdb.DuckDBPyConnection,
    kind: EntityKind,
    rows: list[tuple],
    order: str,
    descending: bool,
    limit: int,
    offset: int,
) -> list[RawRow]:
    """Rows (k, n, n_fail, first_us, last_us, sources) given their text, sorted, one page.

    A separate lookup of just these keys: joining them to `entity_totals` in SQL decoded the
    text of every entity of the kind (2M session keys at 10M events: ~200 ms)."""
    names = dict(
        cur.execute(
            "SELECT k, entity FROM entity_totals WHERE kind = ? AND k IN (SELECT unnest(?::UBIGINT[]))",
            [kind.name, [r[0] for r in rows]],
        ).fetchall()
    )
    named = [RawRow(names[r[0]], *r[1:6]) for r in rows if r[0] in names]
    named.sort(key=lambda r: r.entity)  # stable sorts: the text breaks ties in either direction
    named.sort(key=lambda r: getattr(r, order), reverse=descending)
    return named[offset : offset + limit]


def read_page(
    cur: duckdb.DuckDBPyConnection,
    kind: EntityKind,
    time_range: tuple[dt.datetime, dt.datetime] | None,
    search: str,
    order: str,
    descending: bool,
    limit: int,
    offset: int,
) -> tuple[list[RawRow], int]:
    """(rows of the page, entities in the range matching the search). `order` is a column of
    the aggregated rows: n, n_fail, first_us, last_us or entity."""
    direction = "DESC" if descending else "ASC"
    params: list[object] = [kind.name]
    match = ""
    if search:
        match = " AND contains(lower(entity), ?)"
        params.append(search.lower())
    if time_range is None and (search or order == "entity"):
        rows = cur.execute(
            f"""SELECT entity, n, n_fail, first_us, last_us, sources FROM entity_totals
                WHERE kind = ?{match} ORDER BY {order} {direction}, entity LIMIT {int(limit)} OFFSET {int(offset)}""",
            params,
        ).fetchall()
        # A separate count: a window count makes DuckDB carry every row through the sort.
        counted = cur.execute(f"SELECT count(*) FROM entity_totals WHERE kind = ?{match}", params).fetchall()
        return [RawRow(*r) for r in rows], int(counted[0][0])
    if time_range is None:
        whole = (
            f"(SELECT k, n, n_fail, first_us, last_us, sources FROM entity_totals WHERE kind = '{kind.name}')"
        )
        rows = cur.execute(_candidates_sql(whole, order, descending, limit + offset)).fetchall()
        counted = cur.execute("SELECT count(*) FROM entity_totals WHERE kind = ?", [kind.name]).fetchall()
        return _with_names(cur, kind, rows, order, descending, limit, offset), int(counted[0][0])
    parts = _range_parts(cur, kind, to_us(time_range[0]), to_us(time_range[1]))
    keep = f"WHERE k IN (SELECT k FROM entity_totals WHERE kind = ?{match})" if search else ""
    agg = f"""SELECT k, sum(n)::BIGINT AS n, sum(n_fail)::BIGINT AS n_fail, min(first_us) AS first_us,
                     max(last_us) AS last_us, bit_or(sources) AS sources
              FROM ({parts}) {keep} GROUP BY k"""
    search_params = params if search else []
    if order != "entity":
        got = cur.execute(
            f"""WITH agg AS MATERIALIZED ({agg})
                SELECT *, (SELECT count(*) FROM agg) FROM ({_candidates_sql("agg", order, descending, limit + offset)})""",
            search_params,
        ).fetchall()
        if got:
            return _with_names(cur, kind, got, order, descending, limit, offset), int(got[0][6])
        counted = cur.execute(f"WITH agg AS ({agg}) SELECT count(*) FROM agg", search_params).fetchall()
        return [], int(counted[0][0])
    sql = f"""WITH agg AS MATERIALIZED ({agg})
              SELECT t.entity, agg.n, agg.n_fail, agg.first_us, agg.last_us, agg.sources,
                     (SELECT count(*) FROM agg) AS total
              FROM agg JOIN entity_totals t ON t.kind = ? AND t.k = agg.k
              ORDER BY t.entity {direction} LIMIT {int(limit)} OFFSET {int(offset)}"""
    page = cur.execute(sql, [*search_params, kind.name]).fetchall()
    if page:
        return [RawRow(*r[:6]) for r in page], int(page[0][6])
    counted = cur.execute(f"WITH agg AS ({agg}) SELECT count(*) FROM agg", search_params).fetchall()
    return [], int(counted[0][0])
