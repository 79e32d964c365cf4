"""The correlation tables as one derived structure, in the shape of `viewer.core.derived`.

Register with ``Derived("entities", builder.VERSION, builder.DDL, builder.update)`` (inline: it
runs inside the import's transaction). Every table is rebuilt from `events`; none is the only copy
of anything. Updates are incremental on a high-water mark of `event_id` (events are append-only,
and ids grow with each evidence file): the new events are counted into the rollups and their
issuing records added to the credential graph; the small whole-case tables (totals, actors) are
then recomputed from those, which is what makes evidence arriving out of order harmless.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import duckdb

from viewer.core.entities import identity_build, network_build, panel_stats
from viewer.core.jobs import JobContext

VERSION = 1
STATE_DDL = """CREATE TABLE IF NOT EXISTS entity_state (
    event_id_max BIGINT,        -- high-water mark: events above it are not in the tables yet
    events BIGINT NOT NULL,     -- events covered; readers use the tables only when it equals count(*)
    batches INTEGER NOT NULL    -- appends since the rollups were last re-summed
)"""
DDL: list[str] = [*panel_stats.DDL, *identity_build.DDL, *network_build.DDL, STATE_DDL]
TABLES: tuple[str, ...] = (
    *panel_stats.TABLES,
    *identity_build.TABLES,
    *network_build.TABLES,
    "entity_state",
)


@dataclass(frozen=True)
class EntityState:
    event_id_max: int | None
    events: int
    batches: int


def create_tables(cur: duckdb.DuckDBPyConnection) -> None:
    for sql in DDL:
        cur.execute(sql)


def state(cur: duckdb.DuckDBPyConnection) -> EntityState | None:
    """The stored state when the tables cover exactly the events in the case, else None."""
    try:
        rows = cur.execute(
            "SELECT event_id_max, events, batches, (SELECT count(*) FROM events) FROM entity_state"
        ).fetchall()
    except duckdb.CatalogException:
        return None
    if not rows or int(rows[0][1]) != int(rows[0][3]):
        return None
    r = rows[0]
    return EntityState(r[0], int(r[1]), int(r[2]))


def is_ready(cur: duckdb.DuckDBPyConnection) -> bool:
    return state(cur) is not None


def update(cur: duckdb.DuckDBPyConnection, ctx: JobContext | None = None) -> float:
    """Bring the correlation tables up to date with the events; returns seconds taken.

    Runs in the caller's transaction. Rebuilds from scratch when the stored mark does not match
    the events below it (tables new, or events changed behind the mark)."""
    started = time.monotonic()
    create_tables(cur)
    remove = ctx.token.on_cancel(cur.interrupt) if ctx else None
    try:
        old = _checked_state(cur)
        if old is None:
            for table in TABLES:
                cur.execute(f"DELETE FROM {table}")
            old = EntityState(None, 0, 0)
        mark = -(2**63) if old.event_id_max is None else old.event_id_max
        panel_stats.append_new(cur, mark, ctx)
        identity_build.append_new(cur, mark, ctx)
        network_build.append_new(cur, mark, ctx)
        compact = old.batches + 1 >= panel_stats.COMPACT_AFTER
        if compact:
            panel_stats.compact(cur)
        if ctx is not None:
            ctx.check()
        panel_stats.rebuild_totals(cur)
        identity_build.rebuild_actors(cur, compact_use=compact)
        _save_state(cur, old, mark, compact)
    finally:
        if remove:
            remove()
    return time.monotonic() - started


def _checked_state(cur: duckdb.DuckDBPyConnection) -> EntityState | None:
    rows = cur.execute("SELECT event_id_max, events, batches FROM entity_state").fetchall()
    if not rows or rows[0][0] is None:
        return None
    st = EntityState(int(rows[0][0]), int(rows[0][1]), int(rows[0][2]))
    have = cur.execute("SELECT count(*) FROM events WHERE event_id <= ?", [st.event_id_max]).fetchall()[0][0]
    return st if int(have) == st.events else None


def _save_state(cur: duckdb.DuckDBPyConnection, old: EntityState, mark: int, compacted: bool) -> None:
    rows = cur.execute("SELECT max(event_id), count(*) FROM events WHERE event_id > ?", [mark]).fetchall()
    new_max, added = rows[0]
    event_id_max = (
        old.event_id_max if new_max is None else max(int(new_max), old.event_id_max or int(new_max))
    )
    batches = 0 if compacted else old.batches + 1
    cur.execute("DELETE FROM entity_state")
    cur.execute("INSERT INTO entity_state VALUES (?, ?, ?)", [event_id_max, old.events + int(added), batches])
