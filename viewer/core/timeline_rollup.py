"""The persisted timeline rollup: event counts per chartable value per 5-minute grain.

Kept by each import (incrementally, inside its transaction) so the first paint of the timeline at
10M events reads tens of thousands of rollup rows instead of scanning the events table. A cache,
not evidence: `viewer.core.derived` rebuilds it when its version changes, and readers check that it
covers exactly the events in the table before trusting it.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

import duckdb

from viewer.core.jobs import JobContext
from viewer.core.time_floor import floor_multiple_sql
from viewer.schema import chartable_fields

#: Rollup grain, five minutes: a full 30-day range (30-minute buckets) reads ~43k grains x categories
#: instead of every event, and views down to ~1.4 days at 2,000 px stay on the rollup. Updating
#: costs ~1 s per 1M events spread over a month (benchmarks/read_paths.py); 5 minutes cost ~0.5 s
#: but sends the 1-minute buckets of 1-2 day views back to the events table.
GRAIN_US = 300_000_000
#: Imports appended to the rollup before it is compacted (re-summed) in place.
COMPACT_AFTER = 8

DDL: list[str] = [
    """CREATE TABLE IF NOT EXISTS timeline_rollup (
        field VARCHAR NOT NULL,         -- a chartable field (viewer.schema)
        value VARCHAR,                  -- its value as text; NULL: the event has none
        t_us BIGINT NOT NULL,           -- grain start, epoch microseconds (see timeline.GRAIN_US)
        n BIGINT NOT NULL               -- events; a key may repeat (one row per import), sum them
    )""",
    """CREATE TABLE IF NOT EXISTS timeline_rollup_state (
        grain_us BIGINT NOT NULL,
        event_id_max BIGINT,            -- high-water mark: events above it are not counted yet
        events BIGINT NOT NULL,         -- events counted; must equal count(*) of events to be used
        first_ts TIMESTAMPTZ, last_ts TIMESTAMPTZ,
        batches INTEGER NOT NULL        -- appends since the last compaction
    )""",
]


@dataclass(frozen=True)
class RollupState:
    event_id_max: int | None
    events: int
    first_ts: dt.datetime | None
    last_ts: dt.datetime | None
    batches: int


def _read_state(cur: duckdb.DuckDBPyConnection) -> tuple[RollupState | None, int]:
    """(stored state or None, current count of events)."""
    try:
        rows = cur.execute(
            "SELECT event_id_max, events, first_ts, last_ts, batches, (SELECT count(*) FROM events) "
            "FROM timeline_rollup_state WHERE grain_us = ?",
            [GRAIN_US],
        ).fetchall()
    except duckdb.CatalogException:  # a case from before the rollup (schema 1)
        return None, -1
    if not rows:
        return None, -1
    r = rows[0]
    return RollupState(r[0], int(r[1]), r[2], r[3], int(r[4])), int(r[5])


def rollup_state(cur: duckdb.DuckDBPyConnection) -> RollupState | None:
    """The rollup's state when it covers exactly the events in the table, else None.

    Events are append-only and an import updates the rollup in its own transaction, so equal
    counts mean the same rows; an import that skipped `update_rollup` makes it unusable (the
    timeline then counts from events) until the next update catches up.
    """
    state, events = _read_state(cur)
    return state if state is not None and state.events == events else None


def update_rollup(cur: duckdb.DuckDBPyConnection, ctx: JobContext | None = None) -> float:
    """Count events above the high-water mark into the rollup; returns seconds taken.

    Runs inside the import's transaction (no commit here). Builds from scratch when the table is
    empty or inconsistent (e.g. the first call after the migration that created it).
    """
    started = time.monotonic()
    remove = ctx.token.on_cancel(cur.interrupt) if ctx else None
    try:
        state, _ = _read_state(cur)
        if state is not None and state.event_id_max is not None:
            have = cur.execute(
                "SELECT count(*) FROM events WHERE event_id <= ?", [state.event_id_max]
            ).fetchall()[0][0]
            if int(have) != state.events:
                state = None
        if state is None:
            cur.execute("DELETE FROM timeline_rollup")
            state = RollupState(None, 0, None, None, 0)
        mark = -(2**63) if state.event_id_max is None else state.event_id_max
        _append_rollup(cur, mark, ctx)
        _save_state(cur, state, mark)
        if state.batches + 1 >= COMPACT_AFTER:
            _compact(cur)
    finally:
        if remove:
            remove()
    return time.monotonic() - started


def _append_rollup(cur: duckdb.DuckDBPyConnection, mark: int, ctx: JobContext | None) -> None:
    """Count the new events per (field, value, grain), written sorted by field then time so
    `field = ? AND t_us BETWEEN` prunes by zone maps. One UNION ALL statement: DuckDB runs it
    on both cores, and it measured ~3x faster than a temp table plus one insert per field."""
    if ctx:
        ctx.check()
    parts = [
        f"""SELECT '{f.name}' AS field, {f.name}::VARCHAR AS value,
                   {floor_multiple_sql("epoch_us(ts)", GRAIN_US)} AS t_us, count(*) AS n
            FROM events WHERE event_id > $mark GROUP BY ALL"""
        for f in chartable_fields()
    ]
    cur.execute(
        f"INSERT INTO timeline_rollup SELECT * FROM ({' UNION ALL '.join(parts)}) ORDER BY field, t_us",
        {"mark": mark},
    )


def _save_state(cur: duckdb.DuckDBPyConnection, old: RollupState, mark: int) -> None:
    cur.execute(
        """CREATE OR REPLACE TEMP TABLE _rollup_state_new AS
           SELECT ? AS grain_us, greatest(?, max(event_id)) AS event_id_max, ? + count(*) AS events,
                  least(?::TIMESTAMPTZ, min(ts)) AS first_ts, greatest(?::TIMESTAMPTZ, max(ts)) AS last_ts,
                  ? + 1 AS batches
           FROM events WHERE event_id > ?""",
        [GRAIN_US, old.event_id_max, old.events, old.first_ts, old.last_ts, old.batches, mark],
    )
    cur.execute("DELETE FROM timeline_rollup_state")
    cur.execute("INSERT INTO timeline_rollup_state SELECT * FROM _rollup_state_new")
    cur.execute("DROP TABLE _rollup_state_new")


def _compact(cur: duckdb.DuckDBPyConnection) -> None:
    """Re-sum repeated keys (imports overlapping in time) and restore per-field sorted blocks."""
    cur.execute(
        "CREATE OR REPLACE TEMP TABLE _rollup_all AS SELECT field, value, t_us, sum(n)::BIGINT AS n "
        "FROM timeline_rollup GROUP BY ALL"
    )
    cur.execute("DELETE FROM timeline_rollup")
    cur.execute("INSERT INTO timeline_rollup SELECT * FROM _rollup_all ORDER BY field, t_us")
    cur.execute("DROP TABLE _rollup_all")
    cur.execute("UPDATE timeline_rollup_state SET batches = 0")


def create_tables(cur: duckdb.DuckDBPyConnection) -> None:
    """Run DDL (tests and tools; in a case the schema migration does this)."""
    for stmt in DDL:
        cur.execute(stmt)
