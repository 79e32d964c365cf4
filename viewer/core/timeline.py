"""Bucketed event counts for the timeline chart, stacked by a low-cardinality field.

The chart asks for as many buckets as it has pixels (about 2,000) over the visible range; DuckDB
groups by (bucket, category) with integer arithmetic on epoch microseconds and returns at most
buckets x (top_n + 2) rows, which numpy pivots into one dense array per series. The top_n
categories are chosen by count within the visible range, so a zoom re-ranks what it stacks.

The cells come from `viewer.core.timeline_cells`; the persisted rollup that serves unfiltered views
lives in `viewer.core.timeline_rollup` (its names are re-exported here for existing callers).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

import duckdb
import numpy as np

from viewer.core.event_query import EventFilter, where_sql
from viewer.core.timeline_cells import (
    MINUTE_US,
    NONE,
    counts_rollup,
    counts_sql,
    counts_via_minutes,
    minute_rollup,
)
from viewer.core.timeline_rollup import (
    COMPACT_AFTER,
    DDL,
    GRAIN_US,
    RollupState,
    create_tables,
    rollup_state,
    update_rollup,
)
from viewer.schema import chartable_fields

__all__ = [
    "COMPACT_AFTER",
    "DDL",
    "GRAIN_US",
    "NICE_BUCKETS",
    "NONE",
    "OTHER",
    "Buckets",
    "RollupState",
    "bucket_counts",
    "create_tables",
    "nice_bucket",
    "rollup_state",
    "time_extent",
    "update_rollup",
]

#: Bucket widths a human reads without arithmetic, smallest first.
NICE_BUCKETS: tuple[dt.timedelta, ...] = tuple(
    dt.timedelta(seconds=s)
    for s in (
        1,
        5,
        10,
        30,
        60,
        5 * 60,
        10 * 60,
        15 * 60,
        30 * 60,
        3600,
        3 * 3600,
        6 * 3600,
        12 * 3600,
        86400,
        7 * 86400,
        30 * 86400,
        91 * 86400,
        365 * 86400,
    )
)
OTHER = "other"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass
class Buckets:
    """Counts per bucket: edges[i] <= t < edges[i+1] (float epoch seconds, UTC)."""

    edges: np.ndarray
    series: dict[str, np.ndarray]
    bucket: dt.timedelta
    total: int
    stack_by: str = "source_type"

    @property
    def n(self) -> int:
        return len(self.edges) - 1

    def totals(self) -> np.ndarray:
        """Sum over all series per bucket."""
        out = np.zeros(self.n, dtype=np.int64)
        for arr in self.series.values():
            out += arr
        return out

    def to_rows(self) -> list[tuple[dt.datetime, str, int]]:
        """(bucket start, category, count) for non-zero cells, in time then series order."""
        rows = []
        for i in range(self.n):
            start = _EPOCH + dt.timedelta(seconds=float(self.edges[i]))
            for name, arr in self.series.items():
                if arr[i]:
                    rows.append((start, name, int(arr[i])))
        return rows


def nice_bucket(span_seconds: float, max_buckets: int) -> dt.timedelta:
    """The smallest nice width giving at most `max_buckets` buckets over `span_seconds`."""
    if max_buckets < 1:
        raise ValueError("max_buckets must be at least 1")
    need = max(span_seconds, 0.0) / max_buckets
    for width in NICE_BUCKETS:
        if width.total_seconds() >= need:
            return width
    years = int(np.ceil(need / NICE_BUCKETS[-1].total_seconds()))
    return NICE_BUCKETS[-1] * years


def time_extent(
    cur: duckdb.DuckDBPyConnection, filt: EventFilter | None = None
) -> tuple[dt.datetime, dt.datetime] | None:
    """First and last event time of the (filtered) events, or None when nothing matches."""
    if filt is None or filt == EventFilter():
        state = rollup_state(cur)
        if state is not None:  # the rollup keeps the exact extent: no scan of ts
            if state.first_ts is None or state.last_ts is None:
                return None
            return state.first_ts, state.last_ts
    where, params = _where(cur, filt)
    row = cur.execute(f"SELECT min(ts), max(ts) FROM events WHERE {where}", params).fetchall()[0]
    if row is None or row[0] is None:
        return None
    return row[0], row[1]


def _where(cur: duckdb.DuckDBPyConnection, filt: EventFilter | None) -> tuple[str, list[object]]:
    if filt is None:
        return "true", []
    return where_sql(filt, cur)


def _check_stack_by(stack_by: str) -> None:
    names = [f.name for f in chartable_fields()]
    if stack_by not in names:
        raise ValueError(f"cannot stack the timeline by '{stack_by}'; chartable fields: {', '.join(names)}")


def aligned_origin(start: dt.datetime, width: dt.timedelta, align: dt.timedelta = dt.timedelta(0)) -> int:
    """Bucket origin in epoch microseconds, aligned to the width (midnight for days) for stable bars,
    on the wall clock `align` ahead of UTC: a day's bar starts at midnight in the zone the window
    shows. `align` is taken in whole rollup grains (5 minutes; every zone's offset today is a
    multiple of 15), so the rollup still serves the counts."""
    us = int((start - _EPOCH).total_seconds() * 1_000_000)
    w = int(width.total_seconds() * 1_000_000)
    off = (int(align.total_seconds() * 1_000_000) // GRAIN_US) * GRAIN_US
    return ((us + off) // w) * w - off


def bucket_counts(
    cur: duckdb.DuckDBPyConnection,
    start: dt.datetime,
    end: dt.datetime,
    width_px_or_max_buckets: int,
    stack_by: str = "source_type",
    filt: EventFilter | None = None,
    top_n: int = 8,
    align: dt.timedelta = dt.timedelta(0),
) -> Buckets:
    """Counts of events in [start, end) per nice bucket, split into the top_n categories + other.
    Buckets start at whole widths of the wall clock `align` ahead of UTC (the display zone's
    offset: a day's bar from that zone's midnight).

    Served from the persisted rollup when the filter is at most a time range and the bucket width
    is a whole number of rollup grains; otherwise from the events table (see `counts_sql`).
    """
    _check_stack_by(stack_by)
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware (UTC)")
    width = nice_bucket((end - start).total_seconds(), width_px_or_max_buckets)
    w_us = int(width.total_seconds() * 1_000_000)
    origin = aligned_origin(start, width, align)
    lo_us, hi_us = _us(start), _us(end)
    n = max(1, -(-(hi_us - origin) // w_us))
    time_only = filt is None or _time_only(filt)
    if time_only and w_us % GRAIN_US == 0 and rollup_state(cur) is not None:
        if filt is not None and filt.time_range is not None:
            lo_us, hi_us = max(lo_us, _us(filt.time_range[0])), min(hi_us, _us(filt.time_range[1]))
        rows = counts_rollup(cur, stack_by, lo_us, hi_us, origin, w_us)
        return _pivot(rows, n, origin, w_us, width, top_n, stack_by)
    where, params = _where(cur, filt)
    roll = minute_rollup(cur, stack_by, where, params) if w_us % MINUTE_US == 0 else None
    if roll is not None:
        rows = counts_via_minutes(cur, roll, stack_by, where, params, lo_us, hi_us, origin, w_us)
    else:
        rows = counts_sql(cur, stack_by, where, params, lo_us, hi_us, origin, w_us)
    return _pivot(rows, n, origin, w_us, width, top_n, stack_by)


def _us(t: dt.datetime) -> int:
    return (t - _EPOCH) // dt.timedelta(microseconds=1)


def _time_only(filt: EventFilter) -> bool:
    """True when the filter restricts nothing but time (the rollup can answer it)."""
    return where_sql(replace(filt, time_range=None), use_index=False) == ("true", [])


def _pivot(
    rows: dict[str, np.ndarray],
    n: int,
    origin: int,
    w_us: int,
    width: dt.timedelta,
    top_n: int,
    stack_by: str,
) -> Buckets:
    """Dense per-series arrays from sparse (bucket, category code, count) cells.

    Cells may repeat (rollup minutes, edge minutes): one bincount over code * n + bucket sums
    them into a categories x buckets grid.
    """
    names = [str(x) for x in rows["names"]]
    b, code, counts = rows["b"], rows["code"], rows["c"]
    ok = (b >= 0) & (b < n)
    grid = np.bincount(code[ok] * n + b[ok], weights=counts[ok], minlength=len(names) * n)
    grid = grid.astype(np.int64).reshape(len(names), n)
    per_cat = grid.sum(axis=1)
    order = sorted((k for k in range(len(names)) if per_cat[k] > 0), key=lambda k: (-per_cat[k], names[k]))
    series = {names[k]: grid[k] for k in order[:top_n]}
    if len(order) > top_n:
        # A real category called "other" must not be overwritten by the remainder.
        rest = grid[order[top_n:]].sum(axis=0)
        series[OTHER if OTHER not in series else f"{OTHER} (rest)"] = rest
    edges = (origin + w_us * np.arange(n + 1, dtype=np.int64)) / 1e6
    return Buckets(edges, series, width, int(per_cat.sum()), stack_by)
