"""The small facts a pivot panel read checks, read once per panel in one statement.

A panel page checks that the correlation tables cover the events (`entity_state`, the version
that built them), that the time order does (the edge events are found through it), and reads the
source bits, the kind's bounds and its day grid. Each was its own query, ~1-2 ms of DuckDB
statement overhead apiece: ~12 ms of the 100 ms ip panel over 30 days at 10M events. Inside
`reading(cur)` they are read in one statement, and the functions that would query them
(`builder.state`, `panel_stats.source_bits`, `panel_stats.kind_bounds`, `day_totals.is_current`,
`panel_query` on the time order) answer from it, for that cursor only. Outside a block, or on a
case missing one of the tables, they query as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import duckdb

KEY_PROBE_SQL = "hash('caseline entity key probe')"  # panel_stats re-exports it


@dataclass(frozen=True)
class Snapshot:
    cur: duckdb.DuckDBPyConnection  # the cursor it was read on, and answers for
    events: int
    event_id_max: int | None
    #: (event_id_max, events, batches, exact, key probe matches) of entity_state, if a row
    entity_state: tuple[int | None, int, int, bool, bool] | None
    built_version: str | None  # case_meta 'derived:entities'
    time_order: tuple[int, int | None] | None  # page_anchors_state (events, event_id_max)
    sources: dict[int, list[tuple[str | None, str | None]]]
    kinds: dict[str, tuple[int, int]]  # kind -> (entities, longest life in us)
    day_grids: dict[str, tuple[int, int, int]]  # kind -> (first day us, days, events covered)

    @property
    def time_order_current(self) -> bool:
        return self.time_order == (self.events, self.event_id_max)


# Tagged rows of one UNION ALL: 3.0 ms at 10M events, where a SELECT of eight scalar subqueries
# took 11 ms and the separate queries ~8-12 ms.
_SQL = f"""
    SELECT 'events' AS t, count(*)::BIGINT AS a, max(event_id)::BIGINT AS b, NULL::BIGINT AS c,
           NULL::BIGINT AS d, NULL::VARCHAR AS s, NULL::VARCHAR AS p FROM events
    UNION ALL SELECT 'state', event_id_max, events, batches,
           exact::INT * 2 + (key_probe = {KEY_PROBE_SQL})::INT, NULL, NULL FROM entity_state
    UNION ALL SELECT 'built', NULL, NULL, NULL, NULL, value, NULL FROM case_meta WHERE key = 'derived:entities'
    UNION ALL SELECT 'order', events, event_id_max, NULL, NULL, NULL, NULL FROM page_anchors_state
    UNION ALL SELECT 'source', bit, NULL, NULL, NULL, source_type, provider FROM entity_sources
    UNION ALL SELECT 'kind', entities, max_life_us, NULL, NULL, kind, NULL FROM entity_kinds
    UNION ALL SELECT 'grid', first_day_us, days, events, NULL, kind, NULL FROM entity_day_state"""

_current: ContextVar[Snapshot | None] = ContextVar("panel_snapshot", default=None)


def current(cur: duckdb.DuckDBPyConnection) -> Snapshot | None:
    """The snapshot of the enclosing `reading` block on this cursor, if any."""
    snap = _current.get()
    return snap if snap is not None and snap.cur is cur else None


def read(cur: duckdb.DuckDBPyConnection) -> Snapshot | None:
    """All the facts in one statement; None when a table is missing (a case without them)."""
    try:
        rows = cur.execute(_SQL).fetchall()
    except (duckdb.CatalogException, duckdb.BinderException):
        return None
    events, top = next((a, b) for t, a, b, *_ in rows if t == "events")
    state = next(((a, b, c, d) for t, a, b, c, d, *_ in rows if t == "state"), None)
    order = next(((a, b) for t, a, b, *_ in rows if t == "order"), None)
    sources: dict[int, list[tuple[str | None, str | None]]] = {}
    # In the order of source_bits' ORDER BY bit, source_type (NULLs last).
    for _, bit, *_, source, provider in sorted(
        (r for r in rows if r[0] == "source"), key=lambda r: (r[1], r[5] is None, r[5] or "")
    ):
        sources.setdefault(int(bit), []).append((source, provider))
    return Snapshot(
        cur,
        int(events),
        None if top is None else int(top),
        None if state is None else (state[0], int(state[1]), int(state[2]), state[3] >= 2, state[3] % 2 == 1),
        next((r[5] for r in rows if r[0] == "built"), None),
        None if order is None else (int(order[0]), None if order[1] is None else int(order[1])),
        sources,
        {r[5]: (int(r[1]), int(r[2])) for r in rows if r[0] == "kind"},
        {r[5]: (int(r[1]), int(r[2]), int(r[3])) for r in rows if r[0] == "grid"},
    )


@contextmanager
def reading(cur: duckdb.DuckDBPyConnection) -> Iterator[Snapshot | None]:
    """Answer the panel checks on `cur` from one snapshot while the block runs."""
    snap = read(cur)
    token = _current.set(snap)
    try:
        yield snap
    finally:
        _current.reset(token)
