"""The correlation tables as one derived structure, in the shape of `viewer.core.derived`.

Registered in `viewer.core.derived` as the inline structure "entities": it runs inside the
import's transaction, so an import and its correlation tables commit or roll back together, and a
case from before it gets the tables at its next update (the GUI's background indexer, `caseline
reindex`). Every table is derived from `events`; none is the only copy of anything. Updates are
incremental on a high-water mark of `event_id` (events are append-only): the new events are
counted into the rollup and merged into the totals, and their issuing records added to the
credential graph; the actor tables are then recomputed from the whole (small) graph, which is
what makes evidence arriving out of order harmless.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import duckdb

from viewer.core.entities import (
    actors,
    day_totals,
    identity_build,
    import_picks,
    network_build,
    panel_snapshot,
    panel_stats,
    raw_picks,
)
from viewer.core.entities.kinds import KINDS
from viewer.core.jobs import JobContext

# Version 2: entity keys and source bitmasks in the rollup (v1 kept text and source lists).
# Version 3: entity_kinds (entities and longest life per kind), totals in first-seen order.
# Version 4: the IP kind holds addresses only (not the service names of CloudTrail's sourceIPAddress).
# Version 5: the Target kind counts an S3 object as its bucket, an Azure id lower-cased (resources).
# Version 6: the rollup stores each row's last time as a span after its first (span_us).
# Version 7: the Entra object ids' names are kept per import (identity_build.entra_user_name).
# Version 8: the rollup's times as seconds and microseconds (entity_rollup_rows; entity_rollup a view),
# credential_actor a view over credential_actor_rows (a key's own root stored as NULL).
# Version 9: the rollup's rows in (kind, day, key) order with the hour as a number (panel_stats),
# entity_totals and credential_use views over `_rows` tables (times as seconds and microseconds);
# hours and days of times before 1970 rounded down (`time_floor`).
# Version 10: entity_totals gives last_s too (`packed_halves.us_compare_sql`).
VERSION = 10
STATE_DDL = """CREATE TABLE IF NOT EXISTS entity_state (
    event_id_max BIGINT,        -- high-water mark: events above it are not in the tables yet
    events BIGINT NOT NULL,     -- events covered; readers use the tables only when it equals count(*)
    batches INTEGER NOT NULL,   -- appends since the rollups were last re-summed
    exact BOOLEAN NOT NULL,     -- false: two entities share a key (panel_stats); count from events
    key_probe UBIGINT NOT NULL  -- panel_stats.KEY_PROBE_SQL at build; another value: keys outdated
)"""
DDL: list[str] = [*panel_stats.DDL, *day_totals.DDL, *identity_build.DDL, *network_build.DDL, STATE_DDL]
TABLES: tuple[str, ...] = (
    *panel_stats.TABLES,
    *day_totals.TABLES,
    *identity_build.TABLES,
    *network_build.TABLES,
    "entity_state",
)


@dataclass(frozen=True)
class EntityState:
    event_id_max: int | None
    events: int
    batches: int
    exact: bool = True


def create_tables(cur: duckdb.DuckDBPyConnection) -> None:
    """Create the tables; tables of an older layout (a case built on demand by an older
    Caseline, outside `derived`) are dropped first: they are derived, never evidence."""
    have = {
        (r[0], r[1])
        for r in cur.execute(
            """SELECT table_name, column_name FROM duckdb_columns()
               WHERE table_name IN ('entity_state', 'entity_rollup', 'entity_kinds', 'entity_rollup_rows')"""
        ).fetchall()
    }
    # These were tables before version 8 (9: entity_totals, credential_use); views over `_rows` now.
    old_tables = [
        r[0]
        for r in cur.execute(
            """SELECT table_name FROM duckdb_tables()
               WHERE table_name IN ('entity_rollup', 'credential_actor', 'entity_totals', 'credential_use')
                 AND NOT temporary"""
        ).fetchall()
    ]
    if (
        old_tables
        or ("entity_rollup_rows", "hour_us") in have  # version 8
        or (
            have
            and not {("entity_state", "key_probe"), ("entity_rollup", "k"), ("entity_kinds", "kind")} <= have
        )
    ):
        for table in (*TABLES, *old_tables):
            cur.execute(f"DROP TABLE IF EXISTS {table}")
    day_totals.drop_outdated(cur)
    for sql in DDL:
        cur.execute(sql)


def state(cur: duckdb.DuckDBPyConnection) -> EntityState | None:
    """The stored state when the tables cover exactly the events in the case, else None."""
    snap = panel_snapshot.current(cur)
    if snap is not None:
        s = snap.entity_state
        older = snap.built_version is not None and snap.built_version != str(VERSION)
        if s is None or s[1] != snap.events or not s[4] or older:
            return None
        return EntityState(s[0], s[1], s[2], s[3])
    try:
        rows = cur.execute(
            f"""SELECT event_id_max, events, batches, exact, (SELECT count(*) FROM events),
                       key_probe = {panel_stats.KEY_PROBE_SQL} FROM entity_state
                WHERE (SELECT count(*) FROM entity_kinds) >= 0  -- a table new in version 3
            """
        ).fetchall()
    except (duckdb.CatalogException, duckdb.BinderException):  # no tables, or a v1/v2 case
        return None
    if not rows or int(rows[0][1]) != int(rows[0][4]) or not rows[0][5] or _older_build(cur):
        return None
    r = rows[0]
    return EntityState(r[0], int(r[1]), int(r[2]), bool(r[3]))


def _older_build(cur: duckdb.DuckDBPyConnection) -> bool:
    """True when the case records that its tables were built by another version of this code
    (`derived` rebuilds them at the next import; a read-only case keeps them, and panels then
    count from the events, as they would were the tables missing)."""
    try:
        rows = cur.execute("SELECT value FROM case_meta WHERE key = 'derived:entities'").fetchall()
    except duckdb.CatalogException:  # tables built outside a case (tools, tests): no record
        return False
    return bool(rows) and rows[0][0] != str(VERSION)


def is_ready(cur: duckdb.DuckDBPyConnection) -> bool:
    """True when the panels may read the tables: they cover exactly the events, without a key
    shared by two entities."""
    st = state(cur)
    return st is not None and st.exact


def has_actor_tables(cur: duckdb.DuckDBPyConnection) -> bool:
    """True when the actor tables cover the events (actor resolution needs them, not `exact`)."""
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
            old = EntityState(None, 0, 0, True)
        mark = -(2**63) if old.event_id_max is None else old.event_id_max
        if old.event_id_max is not None and _nothing_new(cur, mark):
            import_picks.drop(cur)
            # A case built before the day grids existed gets them here (same version).
            day_totals.update(cur, day_totals.stale_kinds(cur), {}, old.events)
            actors.create_views(cur)
            return time.monotonic() - started
        deltas: dict[str, day_totals.Deltas] = {}
        exact = panel_stats.append_new(cur, mark, ctx, deltas) and old.exact
        captured = (import_picks.PICKS, import_picks.covered_runs(cur))
        plain_flows = import_picks.plain_flow_runs(cur)
        offsets = raw_picks.create(cur, import_picks.picks(mark), captured)
        import_picks.drop(cur)
        identity_build.append_new(cur, mark, offsets[0], ctx)
        network_build.append_new(cur, mark, offsets[1], ctx, plain_flows)
        raw_picks.drop(cur)
        compact = old.batches + 1 >= panel_stats.COMPACT_AFTER
        if compact:
            panel_stats.compact(cur)
        if ctx is not None:
            ctx.check()
        identity_build.rebuild_actors(
            cur, compact_use=compact, first_build=old.event_id_max is None, mark=mark
        )
        actors.create_views(cur)
        events = _save_state(cur, old, mark, compact, exact)
        day_totals.update(cur, [kind.name for kind in KINDS], deltas, events)
    finally:
        if remove:
            remove()
    return time.monotonic() - started


def _nothing_new(cur: duckdb.DuckDBPyConnection, mark: int) -> bool:
    return not cur.execute("SELECT 1 FROM events WHERE event_id > ? LIMIT 1", [mark]).fetchall()


def _checked_state(cur: duckdb.DuckDBPyConnection) -> EntityState | None:
    rows = cur.execute(
        f"SELECT event_id_max, events, batches, exact FROM entity_state WHERE key_probe = {panel_stats.KEY_PROBE_SQL}"
    ).fetchall()
    if not rows or rows[0][0] is None:
        return None
    st = EntityState(int(rows[0][0]), int(rows[0][1]), int(rows[0][2]), bool(rows[0][3]))
    have = cur.execute("SELECT count(*) FROM events WHERE event_id <= ?", [st.event_id_max]).fetchall()[0][0]
    return st if int(have) == st.events else None


def _save_state(
    cur: duckdb.DuckDBPyConnection, old: EntityState, mark: int, compacted: bool, exact: bool
) -> int:
    rows = cur.execute("SELECT max(event_id), count(*) FROM events WHERE event_id > ?", [mark]).fetchall()
    new_max, added = rows[0]
    event_id_max = (
        old.event_id_max if new_max is None else max(int(new_max), old.event_id_max or int(new_max))
    )
    batches = 0 if compacted else old.batches + 1
    cur.execute("DELETE FROM entity_state")
    cur.execute(
        f"INSERT INTO entity_state VALUES (?, ?, ?, ?, {panel_stats.KEY_PROBE_SQL})",
        [event_id_max, old.events + int(added), batches, exact],
    )
    return old.events + int(added)
