"""The time order of every event, persisted: position in the (ts, event_id) order -> event id.

Why: `events` is appended in delivery order, and S3 delivery paths sort by account and region
before date, so every row group spans the whole time range (measured on the 10M benchmark case:
each ~110k-row group covers all 70 days). Zone maps on ts prune nothing there, and a keyset page
over a ts window scanned the whole ts column (18.8 ms at 10M). `time_order` holds (ts, event_id)
of all events sorted by (ts, event_id) with their row `pos` in the unfiltered time-sorted view,
stored in that order: a page is a pos range of it (zone maps find the one or two vectors) and a
fetch of those ids from `events`
(`viewer.core.row_fetch`). `page_anchors` keeps the ts of every `ANCHOR_EVERY`-th row, so the
row of a time is a binary search in memory plus a count over one anchor gap. `row_runs` says
where each event is stored (`viewer.core.row_locator`), for windows whose rows come from many files.

A cache, not evidence (`viewer.core.derived`): brought up to date inside each import's
transaction. An import may interleave anywhere in time, but the rows before its earliest event
keep their places: only the rows from there on are rewritten, merged with the new events
(`_merge_tail`; an import of one recent file into a case of 10M events re-sorted all of them,
1.4 s). When that would rewrite most of the table, it is rebuilt by one sort of two narrow
columns. Readers use it only when it covers exactly the events in the
table (`load`): events are append-only, so equal counts and high-water marks mean the same rows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import duckdb
import numpy as np

from viewer.core import row_locator
from viewer.core.jobs import JobContext
from viewer.core.packed_halves import EVENT_ID_SQL, event_id_halves, seconds_bounds_sql, us_halves, us_joined

#: Rows between anchors: row_of(ts) counts at most this many rows of time_order.
ANCHOR_EVERY = 2048

#: The stored columns of a row (`time_order_rows`) from an events row's ts and event_id, each in
#: the halves of `packed_halves` (sorted seconds delta-pack in a few bits): 1M CloudTrail
#: events, 8.5 -> 4.25 MiB. ts_s never decreases as ts grows: readers prune on it.
_STORED = (
    f"{us_halves('epoch_us(ts)', ('ts_s', 'ts_frac'))}, "
    f"{event_id_halves(names=('evidence_id', 'record_index'))}"
)

DDL: list[str] = [
    """CREATE TABLE IF NOT EXISTS time_order_rows (
        pos BIGINT NOT NULL,            -- row of the event in the (ts, event_id) order; stored sorted
        ts_s BIGINT NOT NULL,           -- the event's ts: ts_s seconds and ts_frac microseconds
        ts_frac INTEGER NOT NULL,
        evidence_id INTEGER NOT NULL,   -- its event_id: evidence_id << 32 | record_index
        record_index UINTEGER NOT NULL
    )""",
    # Readers filtering on ts add a condition on ts_s (`ts_bounds_sql`): the view's ts is
    # computed, so only ts_s prunes row groups.
    f"""CREATE OR REPLACE VIEW time_order AS
        SELECT pos, make_timestamptz({us_joined("ts_s", "ts_frac")}) AS ts, ts_s, {EVENT_ID_SQL} AS event_id
        FROM time_order_rows""",
    """CREATE TABLE IF NOT EXISTS page_anchors (
        pos BIGINT NOT NULL,            -- a multiple of ANCHOR_EVERY
        ts TIMESTAMPTZ NOT NULL         -- the ts of that row of time_order
    )""",
    # Where each event is stored (`viewer.core.row_locator`): the ids lo..hi are at rowid id - shift.
    """CREATE TABLE IF NOT EXISTS row_runs (
        lo BIGINT NOT NULL,
        hi BIGINT NOT NULL,
        shift BIGINT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS page_anchors_state (
        events BIGINT NOT NULL,         -- events in time_order; must equal count(*) of events
        event_id_max BIGINT             -- and this their largest id
    )""",
]


@dataclass(frozen=True)
class TimeOrder:
    """A valid persisted order: `anchor_us[i]` is the ts (epoch us) of row i * every."""

    anchor_us: np.ndarray
    total: int
    every: int = ANCHOR_EVERY  # the spacing the anchors were stored with (read back, not assumed)


def _state(cur: duckdb.DuckDBPyConnection) -> tuple[tuple[int, int | None] | None, tuple[int, int | None]]:
    """(stored (events, max id) or None, current (events, max id))."""
    now = cur.execute("SELECT count(*), max(event_id) FROM events").fetchall()[0]
    current = (int(now[0]), None if now[1] is None else int(now[1]))
    try:
        rows = cur.execute("SELECT events, event_id_max FROM page_anchors_state").fetchall()
    except duckdb.CatalogException:
        return None, current
    if not rows:
        return None, current
    return (int(rows[0][0]), None if rows[0][1] is None else int(rows[0][1])), current


def is_current(cur: duckdb.DuckDBPyConnection) -> bool:
    """True when `time_order` holds exactly the events in the table."""
    stored, current = _state(cur)
    return stored is not None and stored == current


def load(cur: duckdb.DuckDBPyConnection) -> TimeOrder | None:
    """The persisted order when it covers exactly the events in the table, else None."""
    stored, current = _state(cur)
    if stored is None or stored != current:
        return None
    got = cur.execute("SELECT pos, epoch_us(ts) AS t FROM page_anchors ORDER BY pos").fetchnumpy()
    pos = np.asarray(got["pos"], np.int64)
    every = int(pos[1] - pos[0]) if len(pos) > 1 else max(1, current[0])
    return TimeOrder(np.asarray(got["t"], np.int64), current[0], every)


def update(cur: duckdb.DuckDBPyConnection, ctx: JobContext | None = None) -> float:
    """Bring the order up to date when events changed; returns seconds taken.

    Runs inside the import's transaction (no commit here). The new events are merged from their
    earliest place on (`_merge_tail`), or the order is rebuilt with CREATE OR REPLACE, not DELETE
    + INSERT, so that no deleted rows linger until a checkpoint. Rows carry their position
    explicitly: rowids of rows written in an open transaction are not 0..n-1.
    """
    started = time.monotonic()
    stored, current = _state(cur)
    if stored == current:
        return time.monotonic() - started
    remove = ctx.token.on_cancel(cur.interrupt) if ctx else None
    try:
        if ctx:
            ctx.check()
        for sql in DDL:  # the view over the rows (a case or test that never ran `derived`)
            cur.execute(sql)
        if _merge_tail(cur, stored) is None:
            cur.execute(
                "CREATE OR REPLACE TABLE time_order_rows AS SELECT row_number() OVER (ORDER BY ts, event_id) - 1 "
                f"AS pos, {_STORED} FROM events ORDER BY pos"
            )
            cur.execute(
                f"CREATE OR REPLACE TABLE page_anchors AS SELECT pos, ts FROM time_order "
                f"WHERE pos % {ANCHOR_EVERY} = 0 ORDER BY pos"
            )
        # Built here so that the first page needs no pass over the events (~125 ms at 10M): rows
        # committed by the import's chunks have their final rowids (a reader checks them anyway).
        cur.execute(f"CREATE OR REPLACE TABLE row_runs AS {row_locator.RUNS_SQL}")
        cur.execute("DELETE FROM page_anchors_state")
        cur.execute("INSERT INTO page_anchors_state VALUES (?, ?)", list(current))
    finally:
        if remove:
            remove()
    return time.monotonic() - started


def _merge_tail(cur: duckdb.DuckDBPyConnection, stored: tuple[int, int | None] | None) -> int | None:
    """Merge the events above the stored mark into the order, rewriting only its rows from the
    earliest new event's place on; returns that place, or None when the order must be rebuilt:
    it does not hold exactly the events up to its mark (an import was taken back), or the merge
    would rewrite more than half of it (deleted rows then linger until a checkpoint; one sort of
    everything costs about the same)."""
    if stored is None or stored[1] is None:
        return None
    total, mark = stored
    held = cur.execute("SELECT count(*) FROM events WHERE event_id <= ?", [mark]).fetchall()[0][0]
    if held != total or cur.execute("SELECT count(*) FROM time_order").fetchall()[0][0] != total:
        return None
    first = cur.execute(
        "SELECT epoch_us(ts), event_id FROM events WHERE event_id > ? ORDER BY ts, event_id LIMIT 1", [mark]
    ).fetchall()
    if not first:
        return None
    t_us, first_id = first[0]
    # Two counts rather than one with OR: each prunes time_order's sorted row groups by ts_s.
    place = cur.execute(
        "SELECT (SELECT count(*) FROM time_order WHERE ts_s <= $t::BIGINT // 1000000 "
        "AND ts < make_timestamptz($t::BIGINT)) + "
        "(SELECT count(*) FROM time_order WHERE ts_s = $t::BIGINT // 1000000 "
        "AND ts = make_timestamptz($t::BIGINT) AND event_id < $id)",
        {"t": t_us, "id": first_id},
    ).fetchall()[0][0]
    if place < total - place:
        return None
    cur.execute(
        "CREATE OR REPLACE TEMP TABLE _order_tail AS SELECT ts, event_id FROM time_order WHERE pos >= $p "
        "UNION ALL SELECT ts, event_id FROM events WHERE event_id > $mark",
        {"p": place, "mark": mark},
    )
    cur.execute("DELETE FROM time_order_rows WHERE pos >= ?", [place])
    # Appended after the rows kept, in pos order: the table stays stored in pos order.
    cur.execute(
        f"INSERT INTO time_order_rows SELECT $p + row_number() OVER (ORDER BY ts, event_id) - 1 AS pos, {_STORED} "
        "FROM _order_tail ORDER BY pos",
        {"p": place},
    )
    cur.execute("DROP TABLE _order_tail")
    cur.execute("DELETE FROM page_anchors WHERE pos >= ?", [place])
    cur.execute(
        f"INSERT INTO page_anchors SELECT pos, ts FROM time_order WHERE pos >= ? AND pos % {ANCHOR_EVERY} = 0 "
        "ORDER BY pos",
        [place],
    )
    return int(place)


def ts_bounds_sql(start_us: int, end_us: int) -> str:
    """SQL condition on `time_order`: ts in [start_us, end_us), with the ts_s condition that
    lets zone maps prune (the view's ts is computed)."""
    a, b = int(start_us), int(end_us)
    return (
        f"{seconds_bounds_sql('ts_s', a, b)} "
        f"AND ts >= make_timestamptz({a}::BIGINT) AND ts < make_timestamptz({b}::BIGINT)"
    )


def rows_before(cur: duckdb.DuckDBPyConnection, order: TimeOrder, t_us: int) -> int:
    """Rows of time_order with ts < t_us: anchors bound it to one gap, counted there."""
    i = int(np.searchsorted(order.anchor_us, t_us, "left"))  # anchors[:i] are earlier than t
    if i == 0:
        return 0
    lo = (i - 1) * order.every  # that anchor row itself is earlier
    hi = min(order.total, i * order.every)
    n = cur.execute(
        "SELECT count(*) FROM time_order WHERE pos >= ? AND pos < ? AND ts < make_timestamptz(?::BIGINT)",
        [lo, hi, t_us],
    ).fetchall()[0][0]
    return lo + int(n)


def ids_at(cur: duckdb.DuckDBPyConnection, start: int, n: int) -> np.ndarray:
    """Event ids of rows [start, start+n) of the time order."""
    got = cur.execute(
        "SELECT event_id FROM time_order WHERE pos >= ? AND pos < ? ORDER BY pos", [start, start + n]
    ).fetchnumpy()
    return np.asarray(got["event_id"], np.int64)
