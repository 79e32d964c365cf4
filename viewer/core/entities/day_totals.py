"""Running per-entity event counts by day, for ranking long time ranges of long-lived kinds.

Why: every one of the 65k addresses of the 10M case is seen on ~62 of its 70 days, so no
address lies wholly inside a 30-day range (`panel_query`'s inside/straddling split finds none)
and summing the range's ~4M hourly rollup rows took 500-600 ms. Here `entity_day_cum` holds, per
kind, day and entity, the entity's events before that day (UTC midnight): the events over the
whole days [d0, d1) are cum(d1) - cum(d0), two slices of one row per entity each, stored day
by day so a slice is a few row groups (zone maps on `day_us`). The partial days at the range's
ends come from the hourly rollup and the edge events as before, then the page's rows are chosen
by count. Each row also holds the entity's first and last event and sources of the day before
it (not running: a minimum is not a difference of two slices), so the page's first/last seen
and sources over a month read one row per entity and day (30 x 65k) instead of its hourly
rollup (~4M rows at 10M events).

The grid is dense: every entity of the kind has a row for every day from the case's first day
to the day after its last, so a slice always has every entity (no lookups of totals). That is
entities x days rows, so only kinds with many entities and not too many cells get it
(`qualifies`); short-lived ids (2M session keys, each seen within an hour) do not need it
(the split reads them as is) and would not fit.

Kept by `builder.update` in the import's transaction: each import's per-day counts (from the
batch's hourly rows, already grouped) are added to the stored grid in numpy and the kind's rows
rewritten; a kind that newly qualifies is built from the rollup. `entity_day_state.events` equal
to `entity_state.events` says the grid covers the events.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa

from viewer.core.arrow_once import read_once
from viewer.core.entities import panel_snapshot
from viewer.core.time_floor import floor_div_sql

DAY_US = 86_400_000_000
#: Kinds with fewer entities are summed from the hourly rollup fast enough (principals: 1200).
MIN_ENTITIES = 10_000
#: Cells (entities x days) at most: ~80 MB for the numpy grid during the build.
MAX_CELLS = 10_000_000
#: Cells at most per hourly rollup row of the kind. The grid pays off for long-lived entities
#: (IPs at 10M: 4.6M cells for 4M rollup rows); for short-lived ones (a key used once) it would
#: hold a row per entity and day, many times the rollup (12 rows per event measured on a 200k
#: benchmark case, +20 MB for 31 MB of evidence), and the case file must stay small.
MAX_CELLS_PER_ROLLUP_ROW = 2.0
#: Hourly rollup rows a kind needs before a grid pays: a range's panel sums at most the kind's
#: rollup rows, which cost ~50 ms per million (1M CloudTrail events: 955k address rows, a 3-day
#: address panel 50 ms without a grid, 54 ms with one), so below 1.5M they stay well within the
#: 100 ms budget, and the grid would only add build time (~0.2 s) and case size (9 MB, ~3%).
MIN_ROLLUP_ROWS = 1_500_000

DDL: list[str] = [
    """CREATE TABLE IF NOT EXISTS entity_day_cum (
        kind VARCHAR NOT NULL,
        day_us BIGINT NOT NULL,     -- UTC midnight, epoch microseconds
        k UBIGINT NOT NULL,         -- panel_stats key of the entity
        n BIGINT NOT NULL,          -- the entity's events with ts < day_us
        n_fail BIGINT NOT NULL,     -- and of those, failures
        first_us BIGINT,            -- its first event in [day_us - 1 day, day_us); NULL: none
        last_us BIGINT,             -- its last event then
        sources BIGINT NOT NULL     -- and the sources it was seen in then (panel_stats bits)
    )""",
    """CREATE TABLE IF NOT EXISTS entity_day_state (
        kind VARCHAR NOT NULL,
        first_day_us BIGINT NOT NULL,   -- the grid's first day (cum 0 there)
        days INTEGER NOT NULL,          -- slices: first_day_us + i * DAY_US, i < days
        events BIGINT NOT NULL          -- entity_state.events it covers
    )""",
]
TABLES = ("entity_day_cum", "entity_day_state")

Deltas = tuple[np.ndarray, np.ndarray, np.ndarray]  # keys, days (index from epoch), FIELDS of the day
Grid = tuple[np.ndarray, int, np.ndarray]  # sorted keys, first day index, [day, key, FIELDS]
#: A grid cell: running n, n_fail before the day; first, last, sources of the day before it.
FIELDS = ("n", "n_fail", "first_us", "last_us", "sources")
#: A day without events: no first (the largest value) or last (the smallest), no sources.
EMPTY = (0, 0, np.iinfo(np.int64).max, np.iinfo(np.int64).min, 0)


def _day_sql(last_us: str) -> str:
    """Per (key, day) sums of hourly rows whose last time is `last_us` (a column or expression:
    the rollup stores it as first_us + span_us)."""
    return f"""k, {floor_div_sql("hour_us", DAY_US)} AS day, sum(n)::BIGINT AS n, sum(n_fail)::BIGINT AS n_fail,
               min(first_us) AS first_us, max({last_us}) AS last_us, bit_or(sources) AS sources"""


def drop_outdated(cur: duckdb.DuckDBPyConnection) -> None:
    """Drop grids of an older layout (without failures, or without each day's first/last seen
    and sources): the next update builds them again from the rollup."""
    cols = cur.execute(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = 'entity_day_cum'"
    ).fetchall()
    if cols and not {("n_fail",), ("sources",)} <= set(cols):
        for table in TABLES:
            cur.execute(f"DROP TABLE IF EXISTS {table}")


def built_kinds(cur: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in cur.execute("SELECT kind FROM entity_day_state").fetchall()}


def current_kinds(cur: duckdb.DuckDBPyConnection) -> set[str]:
    """Kinds whose grid covers the events the entity tables do (the ones an import adds to)."""
    return {
        r[0]
        for r in cur.execute(
            "SELECT d.kind FROM entity_day_state d, entity_state s WHERE d.events = s.events"
        ).fetchall()
    }


def batch_deltas(cur: duckdb.DuckDBPyConnection) -> Deltas:
    """Per (key, day) events of `_entity_batch` (panel_stats.append_new's hourly rows of one kind)."""
    return _as_deltas(
        cur.execute(f"SELECT {_day_sql('last_us')} FROM _entity_batch GROUP BY ALL").fetchnumpy()
    )


def _as_deltas(got: dict) -> Deltas:
    """Deltas from columns k, day and FIELDS (one row per key and day)."""
    fields = np.stack([np.asarray(got[f], np.int64) for f in FIELDS], axis=1)
    return np.asarray(got["k"], np.uint64), np.asarray(got["day"], np.int64), fields


def _rollup_deltas(cur: duckdb.DuckDBPyConnection, kind: str) -> Deltas:
    got = cur.execute(
        f"SELECT {_day_sql('first_us + span_us')} FROM entity_rollup WHERE kind = ? GROUP BY ALL",
        [kind],
    ).fetchnumpy()
    return _as_deltas(got)


def qualifies(cur: duckdb.DuckDBPyConnection, kind: str) -> bool:
    """Whether the kind gets a grid: many entities, entities x days within MAX_CELLS, an hourly
    rollup too large to sum within the panels' budget (MIN_ROLLUP_ROWS) and not many times
    smaller than the grid (MAX_CELLS_PER_ROLLUP_ROW)."""
    entities, first, last = cur.execute(
        "SELECT count(*), min(first_us), max(last_us) FROM entity_totals WHERE kind = ?", [kind]
    ).fetchall()[0]
    if not entities or entities < MIN_ENTITIES:
        return False
    cells = int(entities) * (int(last) // DAY_US - int(first) // DAY_US + 2)
    if cells > MAX_CELLS:
        return False
    rollup_rows = cur.execute("SELECT count(*) FROM entity_rollup WHERE kind = ?", [kind]).fetchall()[0][0]
    return rollup_rows >= MIN_ROLLUP_ROWS and cells <= MAX_CELLS_PER_ROLLUP_ROW * int(rollup_rows)


def _state(cur: duckdb.DuckDBPyConnection, kind: str) -> tuple[int, int] | None:
    """(first day index, slices) of the kind's stored grid."""
    got = cur.execute("SELECT first_day_us, days FROM entity_day_state WHERE kind = ?", [kind]).fetchall()
    return (int(got[0][0]) // DAY_US, int(got[0][1])) if got else None


def _stored(cur: duckdb.DuckDBPyConnection, kind: str, first_day: int, end_day: int, from_day: int) -> Grid:
    """The stored slices from `from_day` on (the grid spans [first_day, end_day))."""
    keys = np.sort(
        np.asarray(
            cur.execute(
                "SELECT k FROM entity_day_cum WHERE kind = ? AND day_us = ?", [kind, (end_day - 1) * DAY_US]
            ).fetchnumpy()["k"],
            np.uint64,
        )
    )
    got = cur.execute(
        f"""SELECT day_us, k, n, n_fail, coalesce(first_us, {EMPTY[2]}) AS first_us,
                   coalesce(last_us, {EMPTY[3]}) AS last_us, sources
            FROM entity_day_cum WHERE kind = ? AND day_us >= ?""",
        [kind, from_day * DAY_US],
    ).fetchnumpy()
    grid = _empty((end_day - from_day, len(keys)))
    at = (
        np.asarray(got["day_us"], np.int64) // DAY_US - from_day,
        np.searchsorted(keys, np.asarray(got["k"], np.uint64)),
    )
    for i, field in enumerate(FIELDS):
        grid[at + (i,)] = np.asarray(got[field], np.int64)
    return keys, from_day, grid


def _empty(shape: tuple[int, int]) -> np.ndarray:
    grid = np.empty((*shape, len(FIELDS)), np.int64)
    grid[...] = EMPTY
    return grid


def _merged(old: Grid | None, deltas: Deltas, partial: bool = False) -> Grid:
    """The stored grid plus the running sums of new per-day counts, widened to new keys and
    days; the first slice is all zeros (readers clamp earlier days to it). `partial`: `old` is
    the stored slices from some day s on and the deltas are of days >= s - 1 (a day's counts
    change only the slices after it); the result then starts at s too."""
    k, day, fields = deltas
    if old is None:
        old = (np.zeros(0, np.uint64), int(day.min()) if len(day) else 0, _empty((1, 0)))
    old_keys, old_first, old_grid = old
    keys = np.union1d(old_keys, k)
    first = old_first if partial or not len(day) else min(old_first, int(day.min()))
    end = max(old_first + old_grid.shape[0], int(day.max()) + 2 if len(day) else 0)
    grid = _empty((end - first, len(keys)))
    at = np.searchsorted(keys, old_keys)
    rows = old_first - first
    grid[rows : rows + old_grid.shape[0], at] = old_grid
    if old_grid.shape[0]:  # past the old grid's last day an old entity's counts stay its totals
        grid[rows + old_grid.shape[0] :, at, :2] = old_grid[-1, :, :2]
    if len(k):
        cell = (day - first + 1) * len(keys) + np.searchsorted(keys, k)  # the day after: cum is "before"
        cells = grid.shape[0] * grid.shape[1]
        for i in range(2):
            per_day = np.bincount(cell, weights=fields[:, i], minlength=cells)[:cells]
            grid[:, :, i] += np.cumsum(per_day.reshape(grid.shape[:2]).astype(np.int64), axis=0)
        flat = grid.reshape(cells, len(FIELDS))
        for i, combine in ((2, np.minimum), (3, np.maximum), (4, np.bitwise_or)):
            column = flat[:, i].copy()
            combine.at(column, cell, fields[:, i])
            flat[:, i] = column
    return keys, first, grid


def _insert(
    cur: duckdb.DuckDBPyConnection, kind: str, keys: np.ndarray, first: int, grid: np.ndarray
) -> None:
    days = grid.shape[0]
    columns = {
        "day_us": np.repeat((np.arange(days, dtype=np.int64) + first) * DAY_US, len(keys)),
        "k": np.tile(keys, days),
    }
    for i, field in enumerate(FIELDS):
        values = grid[:, :, i].ravel()
        columns[field] = (
            pa.array(values, mask=values == EMPTY[i]) if field in ("first_us", "last_us") else values
        )
    rows = pa.table(columns)
    cur.register("_entity_day_rows", read_once(rows))  # not kept until the import commits
    try:  # day by day: a slice is contiguous
        cur.execute(
            f"INSERT INTO entity_day_cum SELECT '{kind}', day_us, k, {', '.join(FIELDS)} FROM _entity_day_rows"
        )
    finally:
        cur.unregister("_entity_day_rows")


def _write(
    cur: duckdb.DuckDBPyConnection,
    kind: str,
    merged: Grid,
    events: int,
    kept: tuple[int, np.ndarray] | None = None,
) -> None:
    """Replace the slices `merged` holds. `kept`: (first day, keys) of the stored slices before
    them, left as they are; keys new in `merged` get zero rows there (no events before)."""
    keys, first, grid = merged
    cur.execute("DELETE FROM entity_day_cum WHERE kind = ? AND day_us >= ?", [kind, first * DAY_US])
    cur.execute("DELETE FROM entity_day_state WHERE kind = ?", [kind])
    _insert(cur, kind, keys, first, grid)
    grid_first = first
    if kept is not None and kept[0] < first:
        grid_first = kept[0]
        new = np.setdiff1d(keys, kept[1])
        if len(new):
            _insert(cur, kind, new, grid_first, _empty((first - grid_first, len(new))))
    days = first + grid.shape[0] - grid_first
    cur.execute("INSERT INTO entity_day_state VALUES (?, ?, ?, ?)", [kind, grid_first * DAY_US, days, events])


def update(cur: duckdb.DuckDBPyConnection, kinds: list[str], deltas: dict[str, Deltas], events: int) -> None:
    """Bring the grids of `kinds` up to `events`: add `deltas` (this import's counts) to the
    grids already built, build those of kinds that now qualify from the rollup (which already
    holds this import), drop those that no longer do. Adding reads and rewrites only the slices
    after the import's first day (an import of the latest logs touches the last few)."""
    built = built_kinds(cur)
    for kind in kinds:
        if not qualifies(cur, kind):
            if kind in built:
                cur.execute("DELETE FROM entity_day_cum WHERE kind = ?", [kind])
                cur.execute("DELETE FROM entity_day_state WHERE kind = ?", [kind])
            continue
        state = _state(cur, kind) if kind in deltas else None
        if state is None:
            cur.execute("DELETE FROM entity_day_cum WHERE kind = ?", [kind])
            _write(cur, kind, _merged(None, _rollup_deltas(cur, kind)), events)
            continue
        first_day, days = state
        day = deltas[kind][1]
        if len(day) and int(day.min()) >= first_day:
            start = min(int(day.min()) + 1, first_day + days - 1)
            old = _stored(cur, kind, first_day, first_day + days, start)
            _write(cur, kind, _merged(old, deltas[kind], partial=True), events, (first_day, old[0]))
        else:  # counts before the grid's first day (or none): every slice
            old = _stored(cur, kind, first_day, first_day + days, first_day)
            _write(cur, kind, _merged(old, deltas[kind]), events)


def is_current(cur: duckdb.DuckDBPyConnection, kind: str) -> tuple[int, int] | None:
    """(first day, days) of the kind's grid when it covers the events the entity tables do."""
    snap = panel_snapshot.current(cur)
    if snap is not None:
        grid, state = snap.day_grids.get(kind), snap.entity_state
        return (grid[0], grid[1]) if grid and state and grid[2] == state[1] else None
    try:
        rows = cur.execute(
            """SELECT d.first_day_us, d.days FROM entity_day_state d, entity_state s
               WHERE d.kind = ? AND d.events = s.events""",
            [kind],
        ).fetchall()
    except duckdb.CatalogException:
        return None
    return (int(rows[0][0]), int(rows[0][1])) if rows else None


def whole_days_sql(kind: str, grid: tuple[int, int], d0: int, d1: int) -> str:
    """SQL rows (k, n, n_fail) of the entities with events in the whole days [d0, d1) (microseconds,
    multiples of DAY_US, d0 < d1): cum(d1) - cum(d0), days clamped to the grid (before its first
    day cum is 0 as on it; after its last, every entity's total as on it)."""
    first, days = grid
    last = first + (days - 1) * DAY_US

    def clamp(d: int) -> int:
        return min(max(d, first), last)

    return f"""SELECT b.k, b.n - a.n AS n, b.n_fail - a.n_fail AS n_fail
               FROM (SELECT k, n, n_fail FROM entity_day_cum WHERE kind = '{kind}' AND day_us = {clamp(d0)}) a
               JOIN (SELECT k, n, n_fail FROM entity_day_cum WHERE kind = '{kind}' AND day_us = {clamp(d1)}) b USING (k)
               WHERE b.n > a.n"""  # an entity the caller subtracts from is in it (its events are)


def seen_days_sql(kind: str, d0: int, d1: int) -> str:
    """SQL rows (k, first_us, last_us, sources) of the entities' events in the whole days [d0, d1)
    (microseconds, multiples of DAY_US), one per entity and day with events: the day-before
    fields of the rows (d0, d1]. Days outside the grid have no rows (no events)."""
    return f"""SELECT k, first_us, last_us, sources FROM entity_day_cum
               WHERE kind = '{kind}' AND day_us > {d0} AND day_us <= {d1} AND first_us IS NOT NULL"""


def stale_kinds(cur: duckdb.DuckDBPyConnection) -> list[str]:
    """Kinds that qualify for a grid but have none covering the events (a case built before
    the grids, or an update that added none)."""
    from viewer.core.entities.kinds import KINDS

    return [k.name for k in KINDS if is_current(cur, k.name) is None and qualifies(cur, k.name)]
