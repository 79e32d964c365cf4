"""A page of a pivot panel read from the correlation tables (`panel_stats`), for any time range.

Whole case: `entity_totals`, one row per entity (`panel_whole_query`). A time range [start, end):
the rollup rows of the whole hours inside it, plus the events of the partial hours at its two
edges counted directly, summed per entity key. The edge events are found through the persisted
time order (`viewer.core.time_order`): the rows of `time_order` inside the edges give
their ids (it is stored in ts order, so zone maps find them), fetched with `event_id BETWEEN`
runs that zone maps prune (`viewer.core.row_fetch`), or by rowid ranges when they come from
many files (`viewer.core.row_locator`).
Scanning `events.ts` instead reads the whole column: the table is in delivery order, not time
order. Only the page's keys are joined to their text, after the top rows are chosen. Every
read of `entity_totals` is bounded to the entities first seen in [start - the kind's longest
life, end) (`panel_stats.kind_bounds`): for short-lived ids (2M session keys at 10M events, each
used within an hour) zone maps then skip all but the range's own.
A page by event count over a range of several days, for a kind with day grids (ip at 10M,
`day_totals`), is read by `panel_day_query` instead.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import numpy as np

from viewer.core import row_locator, time_order
from viewer.core.entities import panel_snapshot
from viewer.core.entities.kinds import EntityKind
from viewer.core.entities.panel_stats import (
    HOUR_US,
    entity_expr,
    key_sql,
    kind_bounds,
    no_entity_dropped,
    source_bit_sql,
    source_bits,
)
from viewer.core.packed_halves import us_compare_sql
from viewer.core.row_fetch import LOCATE_FROM_RUNS, ROWID_GAP, id_runs

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
#: More id runs than this in the edges: select them by `ts` instead (one scan of the column).
MAX_EDGE_RUNS = 256
#: Split a range into entities inside it and straddling ones only when its rollup rows are more
#: than the kind's entities / SPLIT_RATIO (summing a rollup row cost ~4x reading a totals row).
SPLIT_RATIO = 4
#: More entities straddling a range's ends than this: sum every entity over the whole range
#: (reading them into Python and passing them back as a list, or excluding the others by a join,
#: cost more: 65k addresses at 1M events).
MAX_LISTED_STRADDLING = 4096


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
    snap = panel_snapshot.current(cur)
    if snap is not None:
        return snap.time_order_current
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
        f"SELECT event_id FROM time_order WHERE {time_order.ts_bounds_sql(a, b)}" for a, b in intervals
    )
    ids = np.asarray(cur.execute(each).fetchnumpy()["event_id"], np.int64)
    runs = id_runs(ids)
    if not runs:
        return "false"
    if len(runs) >= LOCATE_FROM_RUNS:
        located = _by_rowid(cur, ids, by_ts)
        if located is not None:
            return located
    if len(runs) > MAX_EDGE_RUNS:
        return f"({by_ts})"
    ranges = " OR ".join(f"event_id BETWEEN {lo} AND {hi}" for lo, hi in runs)
    return f"({ranges}) AND ({by_ts})"  # ts keeps out the other ids inside a run


def _by_rowid(cur: duckdb.DuckDBPyConnection, ids: np.ndarray, by_ts: str) -> str | None:
    """The edge events `ids` selected by rowid ranges (`row_locator`), checked: the predicate
    must select exactly them (count and xor of their ids), else None (and the locator is
    dropped). Why: the edge hours of a case of small files hold ~150-250 files' runs of ids,
    and an OR of those is evaluated on every row between the first and the last (10M events in
    files of 50: 25-45 ms); their rowid ranges (~12-25) take 4-8 ms, the check as much again."""
    locator = row_locator.locate(cur)
    rowids = locator.rowids(ids) if locator is not None else None
    if locator is None or rowids is None:
        return None
    runs = id_runs(rowids, ROWID_GAP)
    if len(runs) > MAX_EDGE_RUNS:
        return None
    ranges = " OR ".join(f"rowid BETWEEN {lo} AND {hi}" for lo, hi in runs)
    where = f"({ranges}) AND ({by_ts})"  # ts keeps out the other rows inside a range
    n, xor = cur.execute(f"SELECT count(*), bit_xor(event_id) FROM events WHERE {where}").fetchall()[0]
    if n != len(ids) or xor != int(np.bitwise_xor.reduce(ids)):
        row_locator.forget(locator)
        return None
    return where


def range_parts(
    cur: duckdb.DuckDBPyConnection,
    kind: EntityKind,
    windows: list[tuple[int, int]],
    edge_rows: str | None = None,
) -> str:
    """Rows (k, n, n_fail, first_us, last_us, sources) to sum per key for the disjoint [start,
    end) windows: the rollup of their whole hours, and one row per event of their partial
    hours, all edges read in one scan. Not grouped per edge: a hash aggregate costs ~8 ms even
    for the 2k events of an hour's edge, more than the final one spends on them. `edge_rows`:
    a table of `edge_events_sql` rows (k, n_fail, us, sources) holding every event of the
    partial hours, read instead of `events` (a caller summing several sets of windows around the
    same ends reads their events once)."""
    edges: list[tuple[int, int]] = []
    rollups: list[str] = []
    for start_us, end_us in windows:
        lo = -(-start_us // HOUR_US) * HOUR_US  # first whole hour inside the window
        hi = (end_us // HOUR_US) * HOUR_US  # end of the last whole hour inside it
        if lo >= hi:
            edges.append((start_us, end_us))
            continue
        edges += [(a, b) for a, b in ((start_us, lo), (hi, end_us)) if b > a]
        rollups.append(
            f"""SELECT k, n, n_fail, first_us, first_us + span_us AS last_us, sources FROM entity_rollup
                WHERE kind = '{kind.name}' AND hour >= {lo // HOUR_US} AND hour < {hi // HOUR_US}"""
        )
    if edge_rows is not None:
        within = " OR ".join(f"(us >= {int(a)} AND us < {int(b)})" for a, b in edges) or "false"
        rows = f"SELECT * FROM {edge_rows} WHERE {within}"
    else:
        rows = edge_events_sql(cur, kind, edges)
    rollups.append(f"SELECT k, 1 AS n, n_fail, us AS first_us, us AS last_us, sources FROM ({rows})")
    return " UNION ALL ".join(rollups)


def edge_events_sql(
    cur: duckdb.DuckDBPyConnection, kind: EntityKind, intervals: list[tuple[int, int]]
) -> str:
    """Rows (k, n_fail, us, sources), one per event with ts in the [a, b) intervals and entity of
    the kind in it (an address that is both an event's source and destination counts once)."""
    where = edge_where(cur, intervals)
    bit_sql = source_bit_sql(source_bits(cur))
    keys: list[str] = []
    seen: list[str] = []
    for column in kind.columns:
        value = entity_expr(kind, column)
        same = "".join(f" AND {value} IS DISTINCT FROM {entity_expr(kind, c)}" for c in seen)
        keys.append(
            f"CASE WHEN {column} IS NOT NULL{no_entity_dropped(column, value)}{same} THEN {key_sql(value)} END"
        )
        seen.append(column)
    # One scan for all the kind's columns (an address is a source or a destination), not one
    # per column (a small gain: 10M, ip, 30 days, the page's first/last seen 87 -> 78 CPU ms).
    key = keys[0] if len(keys) == 1 else f"unnest([{', '.join(keys)}])"
    return f"""SELECT k, n_fail, us, sources FROM (
                   SELECT {key} AS k, (outcome IS NOT DISTINCT FROM 'failure')::BIGINT AS n_fail,
                          epoch_us(ts) AS us, {bit_sql} AS sources
                   FROM events WHERE ({where}) AND ({" OR ".join(f"{c} IS NOT NULL" for c in kind.columns)}))
               WHERE k IS NOT NULL"""


@dataclass(frozen=True)
class RangeRows:
    """The entities with events in a time range, in two disjoint sets: the `inside` rows of
    `entity_totals` matching `whole` (a condition, or None) read as is, and `summed` (SQL, or
    None: rows k, n, n_fail, first_us, last_us, sources, one per entity); `params` are those of
    either. `threshold`: the value of the sort column a `whole` row needs to reach the page."""

    whole: str | None
    inside: int
    summed: str | None
    params: list[object]
    threshold: object = None
    summed_params: list[object] | None = None  # None: `params`
    names: dict[int, str] | None = None  # the text of the summed entities, when already read
    bound: tuple[int, int] | None = None  # first_us of every entity of the range is in [a, b)


def _range_rows(
    cur: duckdb.DuckDBPyConnection,
    kind: EntityKind,
    span: tuple[int, int],
    search: str,
    top: tuple[str, bool, int] | None = None,
) -> RangeRows:
    """The entities with events in [start, end) whose text contains `search` (lower-cased; ""
    for all). `top` (order, descending, reach): also find `threshold`.

    An entity whose whole life (first to last event) lies inside the range has exactly its
    whole-case totals there: its row is read from `entity_totals` as is. Only the others that
    overlap the range (they straddle one of its ends) are summed from the rollup and the edge
    events, and only over the part of the range where they can have events: up to the last
    event of those that began before the start, from the first event of those that end after
    the end. Short-lived entities (session and temporary-key ids: 2M at 10M events, each seen
    within an hour) are then nearly all read as is, where summing a month of their rollup grouped
    ~900k rows (~400 ms); long-lived ones (addresses seen every day) are all summed as before."""
    start, end = int(span[0]), int(span[1])
    match = " AND contains(lower(entity), ?)" if search else ""
    params: list[object] = [search] if search else []
    inside = f"{us_compare_sql('first', '>=', start)} AND {us_compare_sql('last', '<', end)}"
    # Every entity with events in the range began at most its kind's longest life before it:
    # zone maps on the stored first_s (totals are in first-seen order) skip the rest.
    first_seen = (start - kind_bounds(cur, kind)[1], end)
    bound = bound_sql(first_seen)
    of_kind = f"FROM entity_totals WHERE kind = '{kind.name}' AND {bound}"
    summed = """SELECT k, sum(n)::BIGINT AS n, sum(n_fail)::BIGINT AS n_fail, min(first_us) AS first_us,
                       max(last_us) AS last_us, bit_or(sources) AS sources
                FROM ({parts}) {keep} GROUP BY k"""
    keep = f"WHERE k IN (SELECT k {of_kind}{match})" if search else ""
    candidates = int(cur.execute(f"SELECT count(*) {of_kind}").fetchall()[0][0])
    if _rollup_rows(cur, kind, start, end) * SPLIT_RATIO < candidates:
        # Few rollup rows in the range: summing them all is cheaper than the split's scans
        # of the kind's totals.
        return RangeRows(
            None,
            0,
            summed.format(parts=range_parts(cur, kind, [(start, end)]), keep=keep),
            params,
            bound=first_seen,
        )
    best = "NULL"
    if top is not None and top[2] > 0:
        order, descending, reach = top
        best = f"list_{'min' if descending else 'max'}({'max' if descending else 'min'}({order}, {reach}) FILTER (WHERE {inside}))"
    n_inside, n_straddling, spans_both, before_last, after_first, threshold = cur.execute(
        f"""SELECT count(*) FILTER (WHERE {inside}),
                   count(*) FILTER (WHERE first_us < {end} AND last_us >= {start} AND NOT ({inside})),
                   count(*) FILTER (WHERE first_us < {start} AND last_us >= {end}),
                   max(last_us) FILTER (WHERE first_us < {start} AND last_us >= {start}),
                   min(first_us) FILTER (WHERE first_us < {end} AND last_us >= {end}), {best}
            {of_kind}{match}""",
        params,
    ).fetchall()[0]
    whole = f"kind = '{kind.name}' AND {bound} AND {inside}{match}" if n_inside else None
    if not n_straddling:
        return RangeRows(whole, int(n_inside), None, params, threshold, bound=first_seen)
    windows = [(start, end)]
    if not spans_both:
        windows = [(start, min(end, int(before_last) + 1))] if before_last is not None else []
        if after_first is not None:
            if windows and windows[0][1] >= int(after_first):  # they meet: one window
                windows = [(start, end)]
            else:
                windows.append((max(start, int(after_first)), end))
    if not n_inside:
        return RangeRows(
            None, 0, summed.format(parts=range_parts(cur, kind, windows), keep=keep), params, bound=first_seen
        )
    if n_straddling > MAX_LISTED_STRADDLING:
        # Sum every entity over the whole range: an entity inside it sums to its totals anyway,
        # and excluding those by a join cost more than summing them (65k addresses at 1M events).
        return RangeRows(
            None,
            0,
            summed.format(parts=range_parts(cur, kind, [(start, end)]), keep=keep),
            params,
            bound=first_seen,
        )
    parts = range_parts(cur, kind, windows)
    # The straddling entities with their text, read by two conjunctions DuckDB applies in the
    # scan (text decoded for matches only; an OR or NOT is applied above it, to every row).
    began_before, began_before_end = us_compare_sql("first", "<", start), us_compare_sql("first", "<", end)
    named = cur.execute(
        f"""SELECT k, entity {of_kind} AND {began_before} AND {us_compare_sql("last", ">=", start)}{match} UNION ALL
            SELECT k, entity {of_kind} AND {us_compare_sql("first", ">=", start)} AND {began_before_end}
                   AND {us_compare_sql("last", ">=", end)}{match}""",
        params * 2,
    ).fetchall()
    names = dict(named)
    keep = "WHERE k IN (SELECT unnest(?::UBIGINT[]))"
    return RangeRows(
        whole,
        int(n_inside),
        summed.format(parts=parts, keep=keep),
        params,
        threshold,
        [list(names)],
        names,
        first_seen,
    )


def bound_sql(first_seen: tuple[int, int] | None, table: str = "") -> str:
    """The condition on `entity_totals` (`table`: its alias and a dot) of a first-seen bound."""
    if first_seen is None:
        return "true"
    a, b = int(first_seen[0]), int(first_seen[1])
    return f"{us_compare_sql(table + 'first', '>=', a)} AND {us_compare_sql(table + 'first', '<', b)}"


def _rollup_rows(cur: duckdb.DuckDBPyConnection, kind: EntityKind, start_us: int, end_us: int) -> int:
    """Rollup rows of the kind in the hours [start, end) touches (zone maps: a few ms)."""
    lo, hi = (start_us // HOUR_US) * HOUR_US, -(-end_us // HOUR_US) * HOUR_US
    return int(
        cur.execute(
            f"""SELECT count(*) FROM entity_rollup
                WHERE kind = '{kind.name}' AND hour >= {lo // HOUR_US} AND hour < {hi // HOUR_US}"""
        ).fetchall()[0][0]
    )


def candidates_sql(source: str, order: str, descending: bool, reach: int) -> str:
    """The rows of `source` that can be on a page reaching row `reach` when sorted by `order`:
    every row at least as far up as the reach-th one, so ties at the page's end are all there
    for the tie-break on the entity's text."""
    direction, edge, cmp = ("DESC", "min", ">=") if descending else ("ASC", "max", "<=")
    return f"""SELECT * FROM {source} WHERE {order} {cmp} (
                   SELECT {edge}({order}) FROM (SELECT {order} FROM {source} ORDER BY {order} {direction} LIMIT {reach}))"""


def with_names(
    cur: duckdb.DuckDBPyConnection,
    kind: EntityKind,
    rows: list[tuple],
    order: str,
    descending: bool,
    limit: int,
    offset: int,
    bound: tuple[int, int] | None = None,
) -> list[RawRow]:
    """Rows (k, n, n_fail, first_us, last_us, sources) given their text, sorted, one page.

    A separate lookup of just these keys: joining them to `entity_totals` in SQL decoded the
    text of every entity of the kind (2M session keys at 10M events: ~200 ms). `bound`, a
    first-seen interval every row's entity began in (`kind_bounds`), lets zone maps skip the others."""
    names = dict(
        cur.execute(
            f"""SELECT k, entity FROM entity_totals
                WHERE kind = ? AND {bound_sql(bound)} AND k IN (SELECT unnest(?::UBIGINT[]))""",
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
    if time_range is None:
        from viewer.core.entities import panel_whole_query  # it builds on this module

        return panel_whole_query.read_page(cur, kind, search.lower(), order, descending, limit, offset)
    direction = "DESC" if descending else "ASC"
    span = (to_us(time_range[0]), to_us(time_range[1]))
    if order == "n" and not search:
        from viewer.core.entities import panel_day_query  # it builds on this module

        by_days = panel_day_query.read_page(cur, kind, span, descending, limit, offset)
        if by_days is not None:
            return by_days
    if order != "entity":
        got = _range_rows(cur, kind, span, search.lower(), (order, descending, limit + offset))
        return _range_page(cur, kind, got, order, descending, limit, offset)
    got = _range_rows(cur, kind, span, search.lower())
    whole = f"SELECT k, n, n_fail, first_us, last_us, sources FROM entity_totals WHERE {got.whole}"
    agg = " UNION ALL ".join(sql for sql in (whole if got.whole else None, got.summed) if sql)
    if not agg:
        return [], 0
    both = [*(got.params if got.whole else [])]
    if got.summed:
        both += got.params if got.summed_params is None else got.summed_params
    sql = f"""WITH agg AS MATERIALIZED ({agg})
              SELECT t.entity, agg.n, agg.n_fail, agg.first_us, agg.last_us, agg.sources,
                     (SELECT count(*) FROM agg) AS total
              FROM agg JOIN entity_totals t ON t.kind = ? AND {bound_sql(got.bound, "t.")} AND t.k = agg.k
              ORDER BY t.entity {direction} LIMIT {int(limit)} OFFSET {int(offset)}"""
    page = cur.execute(sql, [*both, kind.name]).fetchall()
    if page:
        return [RawRow(*r[:6]) for r in page], int(page[0][6])
    counted = cur.execute(f"WITH agg AS ({agg}) SELECT count(*) FROM agg", both).fetchall()
    return [], int(counted[0][0])


def _range_page(
    cur: duckdb.DuckDBPyConnection,
    kind: EntityKind,
    got: RangeRows,
    order: str,
    descending: bool,
    limit: int,
    offset: int,
) -> tuple[list[RawRow], int]:
    """A page sorted by a number: the candidates of each set of rows, merged in Python. The rows
    read as is are fetched with their text by a filter on the page's threshold, which DuckDB
    applies in the scan of `entity_totals` (no join, no materialized set)."""
    reach = limit + offset
    named: list[RawRow] = []
    total = got.inside
    if got.summed:
        params = got.params if got.summed_params is None else got.summed_params
        summed = cur.execute(
            f"""WITH agg AS MATERIALIZED ({got.summed})
                SELECT *, (SELECT count(*) FROM agg) FROM ({candidates_sql("agg", order, descending, reach)})""",
            params,
        ).fetchall()
        if summed:
            total += int(summed[0][6])
        elif reach == 0:
            total += int(cur.execute(f"SELECT count(*) FROM ({got.summed})", params).fetchall()[0][0])
        if got.names is not None:
            named += [RawRow(got.names[r[0]], *r[1:6]) for r in summed]
        else:
            named += with_names(cur, kind, [r[:6] for r in summed], order, descending, reach, 0, got.bound)
    if got.whole and got.threshold is not None:
        cmp = ">=" if descending else "<="
        value = int(got.threshold)  # type: ignore[call-overload]
        rows = cur.execute(
            f"""SELECT entity, n, n_fail, first_us, last_us, sources FROM entity_totals
                WHERE {got.whole} AND {order} {cmp} {value}""",
            got.params,
        ).fetchall()
        named += [RawRow(*r) for r in rows]
    named.sort(key=lambda r: r.entity)  # stable sorts: the text breaks ties in either direction
    named.sort(key=lambda r: getattr(r, order), reverse=descending)
    return named[offset : offset + limit], total
