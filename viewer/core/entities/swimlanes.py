"""Swimlanes: one timeline lane per chosen entity, bucketed exactly like the main timeline.

The lanes use `timeline.nice_bucket` and the same aligned origin, so bucket edges line up with
the bars above them when both show the same range. Each lane is one GROUP BY over the events of
its entity (a selective predicate: `pivots.selection_filter`, or `actors.actor_filter` for an actor
under all its identities), with failures counted alongside so the lane can show them apart.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import numpy as np

from viewer.core.entities.actors import actor_filter
from viewer.core.entities.kinds import entity_kind, normalize_ip
from viewer.core.entities.pivots import selection_filter
from viewer.core.jobs import CancelToken
from viewer.core.timeline import aligned_origin, nice_bucket

ACTOR_KIND = "actor"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Lane:
    """One entity to draw: `kind` is an entity kind name (`kinds.KINDS`) or "actor"."""

    kind: str
    entity: str

    @property
    def title(self) -> str:
        kind = "Actor" if self.kind == ACTOR_KIND else entity_kind(self.kind).title
        return f"{kind}: {self.entity}"

    def normalized(self) -> Lane:
        if self.kind != ACTOR_KIND and entity_kind(self.kind).is_ip:
            return Lane("ip", normalize_ip(self.entity))
        if self.kind != ACTOR_KIND:
            return Lane(entity_kind(self.kind).name, self.entity)
        return self


@dataclass
class LaneBuckets:
    """Counts per lane: edges[i] <= t < edges[i+1] (float epoch seconds, UTC), like `Buckets`."""

    edges: np.ndarray
    bucket: dt.timedelta
    counts: dict[Lane, np.ndarray]
    failures: dict[Lane, np.ndarray]

    @property
    def n(self) -> int:
        return len(self.edges) - 1

    def total(self, lane: Lane) -> int:
        return int(self.counts[lane].sum())


def _us(t: dt.datetime) -> int:
    return (t - _EPOCH) // dt.timedelta(microseconds=1)


def lane_predicate(cur: duckdb.DuckDBPyConnection, lane: Lane) -> tuple[str, list[object]]:
    """SQL over `events` selecting the lane's events."""
    if lane.kind == ACTOR_KIND:
        return actor_filter(cur, lane.entity)
    pf = selection_filter(cur, lane.kind, [lane.entity])
    return pf.where_sql, list(pf.params)


def lane_counts(
    cur: duckdb.DuckDBPyConnection,
    lanes: list[Lane],
    start: dt.datetime,
    end: dt.datetime,
    max_buckets: int,
    token: CancelToken | None = None,
    align: dt.timedelta = dt.timedelta(0),
) -> LaneBuckets:
    """Events and failures per bucket of [start, end) for each lane, the buckets where the
    timeline's are (`timeline.aligned_origin`: `align` is the display zone's offset).

    >>> b = lane_counts(cur, [Lane("principal_id", arn)], start, end, 400)  # doctest: +SKIP
    >>> b.total(Lane("principal_id", arn))  # doctest: +SKIP
    42
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware (UTC)")
    width = nice_bucket((end - start).total_seconds(), max(1, max_buckets))
    w_us = width // dt.timedelta(microseconds=1)
    lo_us, hi_us = _us(start), _us(end)
    origin = aligned_origin(start, width, align)  # the timeline's bars, lane by lane
    n = max(1, -(-(hi_us - origin) // w_us))
    counts: dict[Lane, np.ndarray] = {}
    failures: dict[Lane, np.ndarray] = {}
    for lane in lanes:
        if token is not None:
            token.raise_if_cancelled()
        where, params = lane_predicate(cur, lane)
        rows = cur.execute(
            f"""SELECT ((epoch_us(ts) - ?) // ?)::BIGINT AS b, count(*) AS c,
                       count(*) FILTER (WHERE outcome = 'failure') AS f
                FROM events WHERE ts >= make_timestamptz(?::BIGINT) AND ts < make_timestamptz(?::BIGINT)
                  AND ({where}) GROUP BY 1""",
            [origin, w_us, lo_us, hi_us, *params],
        ).fetchnumpy()
        b = np.asarray(rows["b"], dtype=np.int64)
        ok = (b >= 0) & (b < n)
        counts[lane] = np.bincount(b[ok], weights=np.asarray(rows["c"])[ok], minlength=n).astype(np.int64)
        failures[lane] = np.bincount(b[ok], weights=np.asarray(rows["f"])[ok], minlength=n).astype(np.int64)
    edges = (origin + w_us * np.arange(n + 1, dtype=np.int64)) / 1e6
    return LaneBuckets(edges, width, counts, failures)


def lanes_extent(cur: duckdb.DuckDBPyConnection, lanes: list[Lane]) -> tuple[dt.datetime, dt.datetime] | None:
    """First and last event time over all lanes (to fit the view to them); None when empty."""
    lo: dt.datetime | None = None
    hi: dt.datetime | None = None
    for lane in lanes:
        where, params = lane_predicate(cur, lane)
        first, last = cur.execute(f"SELECT min(ts), max(ts) FROM events WHERE {where}", params).fetchall()[0]
        if first is not None:
            lo = first if lo is None else min(lo, first)
            hi = last if hi is None else max(hi, last)
    return (lo, hi) if lo is not None and hi is not None else None
