"""The timeline's background query: data extent and bucket counts for one visible range.

Runs on a pool thread (through `SupersedingRunner`); it owns its cursor and lets a newer request
interrupt it. Kept apart from the widget so the widget module holds only drawing and input.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any

import duckdb

from viewer.core.event_query import EventFilter
from viewer.core.jobs import CancelToken
from viewer.core.timeline import bucket_counts, time_extent
from viewer.gui.time_text import from_epoch, offset_at

CursorFactory = Callable[[], duckdb.DuckDBPyConnection]
END_NUDGE = 0.001  # seconds added past the last event: bucket ranges are half-open [start, end)


@dataclasses.dataclass(frozen=True)
class TimelineRequest:
    cur_factory: CursorFactory
    filt: EventFilter
    stack_by: str
    lo: float | None  # None: fit the data extent
    hi: float | None
    max_buckets: int
    extent: tuple[float, float] | None = None  # known data extent: skip that query


def run_request(req: TimelineRequest, token: CancelToken) -> tuple[Any, ...]:
    """Worker side: extent (when unknown) and bucket counts for one request.

    Returns (extent, buckets, fitted, queried range); bucket_counts counts [start, end), so the
    end is nudged past the last event to keep it in.
    """
    fitted = req.lo is None
    cur = req.cur_factory()
    remove = token.interrupts(cur)
    try:
        if req.extent is not None:
            lo_e, hi_e = req.extent
        else:
            ext = time_extent(cur, req.filt)
            if ext is None or ext[0] is None:
                return None, None, fitted, None
            lo_e, hi_e = _epoch(ext[0]), _epoch(ext[1]) + END_NUDGE
            if hi_e - lo_e < 60:
                lo_e, hi_e = lo_e - 30, hi_e + 30  # one instant: give it a minute of room
        lo, hi = (lo_e, hi_e) if fitted else (max(req.lo or lo_e, lo_e), min(req.hi or hi_e, hi_e))
        if hi <= lo:
            return (lo_e, hi_e), None, fitted, None
        token.raise_if_cancelled()
        start, end = from_epoch(lo), from_epoch(hi)
        buckets = bucket_counts(
            cur,
            start,
            end,
            req.max_buckets,
            stack_by=req.stack_by,
            filt=req.filt,
            top_n=8,
            align=offset_at((lo + hi) / 2),  # bars from the display zone's midnights and hours
        )
        return (lo_e, hi_e), buckets, fitted, (start, end)
    finally:
        remove()
        cur.close()


def _epoch(value: Any) -> float:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.timestamp()
    return float(value)
