"""Random access to a filtered, time-sorted view of the events table, a page at a time.

The table is not physically sorted and OFFSET paging costs ~540 ms at 10M events. So
`prepare()` makes one sorted pass over the two narrow key columns (ts, event_id) of the filtered
rows and keeps every K-th key as an *anchor*. A page is then a keyset query starting at the
nearest anchor, bounded above by a later anchor's ts, with an OFFSET below K: the ts bounds let
DuckDB's zone maps skip every row group outside a few minutes of data, so the cost of a page does
not grow with its position.

Descending order is served by mirroring row numbers onto the ascending order, so one anchor list
serves both directions.
"""

from __future__ import annotations

import bisect
import datetime as dt
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace

import duckdb
import numpy as np
import pyarrow as pa

from viewer.core.event_query import EventFilter, where_sql
from viewer.core.jobs import JobContext
from viewer.schema import field_names

#: Rows between anchors. Smaller K = less OFFSET work per page but more anchors held in memory
#: (16 bytes each): 10M rows -> 10k anchors at K=1,000. Measured in benchmarks/read_paths.py.
DEFAULT_K = 1_000
MIN_K = 16
#: With a selective filter, K matching rows can be spread over a long time span, and a page
#: scans every table row in the ts span between two anchors. So K shrinks with selectivity to keep
#: that span near this many table rows (a 0.5% filter at 10M: K ~100 instead of 1,000).
ANCHOR_SPAN_ROWS = 20_000
#: A filtered view of at most this many rows is materialized as (ts, event_id, rowid) in a temp
#: table (24 bytes a row): a page is then a rowid range there plus a rowid lookup in events,
#: which does not depend on how widely the matches are spread in time.
MATERIALIZE_MAX = 1_000_000

CursorFactory = Callable[[], duckdb.DuckDBPyConnection]

# -- persisted anchors of the unfiltered view ---------------------------------------------------
#: Target rows between persisted anchors, and the gap size at which an update splits a gap.
STORED_K = 1_000
SPLIT_AT = 2 * STORED_K
_NO_LOWER = -(2**62)  # "no lower bound" marker for the gap before the first anchor

DDL: list[str] = [
    """CREATE TABLE IF NOT EXISTS page_anchors (
        ts TIMESTAMPTZ NOT NULL,        -- distinct; the ts of some event
        rows_before BIGINT NOT NULL     -- events with an earlier ts (ascending row of the first at ts)
    )""",
    """CREATE TABLE IF NOT EXISTS page_anchors_state (
        event_id_max BIGINT,            -- high-water mark: events above it are not anchored yet
        events BIGINT NOT NULL          -- events anchored; must equal count(*) of events to be used
    )""",
]


def _anchor_state(cur: duckdb.DuckDBPyConnection) -> tuple[int | None, int, int] | None:
    """(high-water mark, events anchored, events now) or None before the tables exist."""
    try:
        rows = cur.execute(
            "SELECT event_id_max, events, (SELECT count(*) FROM events) FROM page_anchors_state"
        ).fetchall()
    except duckdb.CatalogException:
        return None
    return (rows[0][0], int(rows[0][1]), int(rows[0][2])) if rows else None


def load_anchors(cur: duckdb.DuckDBPyConnection) -> tuple[np.ndarray, np.ndarray, int] | None:
    """(anchor epoch-us, rows before each, total) when they cover exactly the events, else None.

    Equal counts mean the same rows because events are append-only and each import updates the
    anchors inside its own transaction; otherwise the pager falls back to a sorted pass.
    """
    state = _anchor_state(cur)
    if state is None or state[1] != state[2]:
        return None
    a = cur.execute("SELECT epoch_us(ts) AS t, rows_before AS nb FROM page_anchors ORDER BY ts").fetchnumpy()
    return np.asarray(a["t"], np.int64), np.asarray(a["nb"], np.int64), state[1]


def update_anchors(cur: duckdb.DuckDBPyConnection, ctx: JobContext | None = None) -> float:
    """Merge events above the high-water mark into the persisted anchors; returns seconds taken.

    Runs inside the import's transaction (no commit here). Existing anchors keep their ts and
    move down by the new rows before them (a sort of the new rows only); a gap that grew past
    SPLIT_AT is re-cut from the rows in its time span, which zone maps keep to a few row groups.
    The first call (or after an inconsistency) cuts the single gap (-inf, inf): a full build.
    """
    started = time.monotonic()
    remove = ctx.token.on_cancel(cur.interrupt) if ctx else None
    try:
        state = _anchor_state(cur)
        mark, old = (state[0], state[1]) if state else (None, 0)
        if mark is not None:
            have = cur.execute("SELECT count(*) FROM events WHERE event_id <= ?", [mark]).fetchall()[0][0]
            mark, old = (mark, old) if int(have) == old else (None, 0)
        a_us, a_nb = np.zeros(0, np.int64), np.zeros(0, np.int64)
        if mark is not None:
            a = cur.execute("SELECT epoch_us(ts) AS t, rows_before AS nb FROM page_anchors ORDER BY ts")
            got = a.fetchnumpy()
            a_us, a_nb = np.asarray(got["t"], np.int64), np.asarray(got["nb"], np.int64)
        low = -(2**63) if mark is None else mark
        new = cur.execute("SELECT epoch_us(ts) AS t FROM events WHERE event_id > ?", [low]).fetchnumpy()
        new_ts = np.sort(np.asarray(new["t"], np.int64))
        if ctx:
            ctx.check()
        a_nb = a_nb + np.searchsorted(new_ts, a_us, "left")  # new rows before each anchor
        a_us, a_nb = _split_gaps(cur, a_us, a_nb, old + len(new_ts))
        _save_anchors(cur, a_us, a_nb, low, old + len(new_ts))
    finally:
        if remove:
            remove()
    return time.monotonic() - started


def _split_gaps(
    cur: duckdb.DuckDBPyConnection, a_us: np.ndarray, a_nb: np.ndarray, total: int
) -> tuple[np.ndarray, np.ndarray]:
    """Add anchors inside every gap holding more than SPLIT_AT rows, every STORED_K rows."""
    lo = np.concatenate([[_NO_LOWER], a_us])
    hi = np.concatenate([a_us, [2**62]])
    base = np.concatenate([[0], a_nb])
    sizes = np.concatenate([a_nb, [total]]) - base
    dense = np.flatnonzero(sizes > SPLIT_AT)
    if total and len(a_us) == 0:
        dense = np.array([0])
    add_us, add_nb = [a_us], [a_nb]
    for start, stop in _runs(dense):
        rows = _ts_between(cur, int(lo[start]), int(hi[stop - 1]))
        for g in range(start, stop):
            part = rows[np.searchsorted(rows, lo[g], "left") : np.searchsorted(rows, hi[g], "left")]
            cut = part[::STORED_K]
            add_us.append(cut)
            add_nb.append(base[g] + np.searchsorted(part, cut, "left"))
    us, nb = np.concatenate(add_us), np.concatenate(add_nb)
    us, first = np.unique(us, return_index=True)  # equal ts -> equal rows_before
    return us, nb[first]


def _runs(idx: np.ndarray) -> list[tuple[int, int]]:
    """Consecutive gap numbers as [start, stop) runs: one range query per run of dense gaps."""
    out: list[tuple[int, int]] = []
    for i in idx.tolist():
        if out and out[-1][1] == i:
            out[-1] = (out[-1][0], i + 1)
        else:
            out.append((i, i + 1))
    return out


def _ts_between(cur: duckdb.DuckDBPyConnection, lo: int, hi: int) -> np.ndarray:
    got = cur.execute(
        "SELECT epoch_us(ts) AS t FROM events "
        "WHERE ts >= make_timestamptz(?::BIGINT) AND ts < make_timestamptz(?::BIGINT)",
        [max(lo, _MIN_US), min(hi, _MAX_US)],
    ).fetchnumpy()
    return np.sort(np.asarray(got["t"], np.int64))


_MIN_US = -(2**53)  # far outside any log time, inside DuckDB's timestamp range
_MAX_US = 2**53


def _save_anchors(
    cur: duckdb.DuckDBPyConnection, us: np.ndarray, nb: np.ndarray, low: int, total: int
) -> None:
    cur.execute("DELETE FROM page_anchors")
    tbl = pa.table({"t": pa.array(us, pa.int64()), "nb": pa.array(nb, pa.int64())})
    cur.register("_page_anchors_new", tbl)
    try:
        cur.execute(
            "INSERT INTO page_anchors SELECT make_timestamptz(t), nb FROM _page_anchors_new ORDER BY t"
        )
    finally:
        cur.unregister("_page_anchors_new")
    cur.execute("DELETE FROM page_anchors_state")
    cur.execute(
        "INSERT INTO page_anchors_state SELECT greatest(?, max(event_id)), ? FROM events WHERE event_id > ?",
        [None if low == -(2**63) else low, total, low],
    )


@dataclass(frozen=True)
class _Anchors:
    ts: list[dt.datetime]
    ids: list[int]
    count: int


class EventPager:
    """Pages of `columns` (plus event_id) of the events matching `filt`, sorted by (ts, event_id).

    Not thread-safe: use one pager per thread, or call it from one background lane. `cur_factory`
    is called once, on first use, so the cursor belongs to the thread that uses the pager.
    """

    def __init__(
        self,
        cur_factory: CursorFactory,
        filt: EventFilter,
        columns: list[str],
        descending: bool = False,
        *,
        use_index: bool | None = None,
        k: int | None = None,
    ) -> None:
        known = set(field_names())
        bad = [c for c in columns if c not in known]
        if bad:
            raise ValueError(f"unknown columns {bad}")
        self._cur_factory = cur_factory
        self._cur: duckdb.DuckDBPyConnection | None = None
        self.filt = filt
        self.columns = [c for c in columns if c != "event_id"]
        self.descending = descending
        self._use_index = use_index
        self._fixed_k = k
        self._k = k or DEFAULT_K
        self._anchors: _Anchors | None = None
        self._stored: tuple[np.ndarray, np.ndarray] | None = None  # persisted anchors in use
        self._base = 0  # with stored anchors: global ascending row of this view's row 0
        self._keys: str | None = None  # temp table name when the view is materialized
        self._where: tuple[str, list[object]] | None = None

    # -- plumbing ---------------------------------------------------------------------------
    @property
    def cur(self) -> duckdb.DuckDBPyConnection:
        if self._cur is None:
            self._cur = self._cur_factory()
        return self._cur

    def _filter_sql(self) -> tuple[str, list[object]]:
        if self._where is None:
            self._where = where_sql(self.filt, self.cur, use_index=self._use_index)
        return self._where

    # -- public API -------------------------------------------------------------------------
    def prepare(self) -> None:
        """Materialize a small filtered view, or build anchors: one sorted pass. Background-friendly."""
        if self._anchors is not None:
            return
        if self._fixed_k is None and self._use_stored():
            return
        where, params = self._filter_sql()
        if where != "true" and self._fixed_k is None and self._materialize(where, params):
            return
        total = int(self.cur.execute("SELECT count(*) FROM events").fetchall()[0][0])
        lo, hi = (self._fixed_k, self._fixed_k) if self._fixed_k else (MIN_K, DEFAULT_K)
        # K is computed in SQL from the filtered count n, so one sorted pass serves both.
        rows = self.cur.execute(
            f"""SELECT ts, event_id, n, k FROM (
                  SELECT ts, event_id, rn, n, greatest(?, least(?, n * ? // greatest(?, 1))) AS k FROM (
                    SELECT ts, event_id, row_number() OVER (ORDER BY ts, event_id) - 1 AS rn,
                           count(*) OVER () AS n
                    FROM events WHERE {where}))
                WHERE rn % k = 0 ORDER BY rn""",
            [lo, hi, ANCHOR_SPAN_ROWS, total, *params],
        ).fetchall()
        count = int(rows[0][2]) if rows else 0
        self._k = int(rows[0][3]) if rows else self._k
        self._anchors = _Anchors([r[0] for r in rows], [int(r[1]) for r in rows], count)

    def _use_stored(self) -> bool:
        """Serve an unfiltered (or time-range-only) view from the persisted anchors: no sort."""
        if where_sql(replace(self.filt, time_range=None), use_index=False) != ("true", []):
            return False
        loaded = load_anchors(self.cur)
        if loaded is None:
            return False
        a_us, a_nb, total = loaded
        self._stored = (a_us, a_nb)
        lo, hi = 0, total
        if self.filt.time_range is not None:
            lo = self._stored_before(_us(self.filt.time_range[0]))
            hi = max(lo, self._stored_before(_us(self.filt.time_range[1])))
        self._base = lo
        self._anchors = _Anchors([], [], hi - lo)
        return True

    def _stored_before(self, t_us: int) -> int:
        """Global count of events with ts < t_us: an anchor plus a count over at most one gap."""
        assert self._stored is not None
        a_us, a_nb = self._stored
        i = int(np.searchsorted(a_us, t_us, "right")) - 1
        if i >= 0 and a_us[i] == t_us:
            return int(a_nb[i])
        lo, nb = (int(a_us[i]), int(a_nb[i])) if i >= 0 else (_MIN_US, 0)
        row = self.cur.execute(
            "SELECT count(*) FROM events "
            "WHERE ts >= make_timestamptz(?::BIGINT) AND ts < make_timestamptz(?::BIGINT)",
            [lo, t_us],
        ).fetchall()
        return nb + int(row[0][0])

    def _stored_window(self, start: int, n: int) -> pa.Table:
        """Global ascending rows [start, start+n): the nearest anchor at or before start, an
        OFFSET below one gap, and the first anchor at or after the end bounding the scan."""
        assert self._stored is not None
        a_us, a_nb = self._stored
        i = int(np.searchsorted(a_nb, start, "right")) - 1
        j = int(np.searchsorted(a_nb, start + n, "left"))
        lo, skip = (int(a_us[i]), start - int(a_nb[i])) if i >= 0 else (_MIN_US, start)
        hi = int(a_us[j]) if j < len(a_us) else _MAX_US
        return self.cur.sql(
            f"""SELECT {self._select_list()} FROM events
                WHERE ts >= make_timestamptz(?::BIGINT) AND ts < make_timestamptz(?::BIGINT)
                ORDER BY ts, event_id LIMIT ? OFFSET ?""",
            params=[lo, hi, n, skip],
        ).to_arrow_table()

    def _materialize(self, where: str, params: list[object]) -> bool:
        name = f"_pager_keys_{uuid.uuid4().hex}"
        self.cur.execute(
            f"""CREATE TEMP TABLE {name} AS SELECT ts, event_id, rowid AS rid FROM events
                WHERE {where} ORDER BY ts, event_id LIMIT ?""",
            [*params, MATERIALIZE_MAX + 1],
        )
        n = int(self.cur.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0])
        if n > MATERIALIZE_MAX:
            self.cur.execute(f"DROP TABLE {name}")
            return False
        self._keys = name
        self._anchors = _Anchors([], [], n)
        return True

    def close(self) -> None:
        """Drop the materialized view early (it also goes with the cursor)."""
        if self._keys and self._cur is not None:
            self.cur.execute(f"DROP TABLE IF EXISTS {self._keys}")
        self._keys, self._anchors, self._stored = None, None, None

    def count(self) -> int:
        """Exact number of matching rows."""
        self.prepare()
        assert self._anchors is not None
        return self._anchors.count

    def page(self, start_row: int, n: int) -> pa.Table:
        """Rows start_row .. start_row+n-1 of the view (clipped to the end), as Arrow."""
        self.prepare()
        total = self.count()
        start_row = max(0, start_row)
        end_row = min(total, start_row + max(0, n))
        if end_row <= start_row:
            return self._empty()
        if not self.descending:
            return self._asc_window(start_row, end_row - start_row)
        # Descending row r is ascending row total-1-r: fetch the mirrored window and reverse it.
        asc = self._asc_window(total - end_row, end_row - start_row)
        return asc.take(pa.array(range(asc.num_rows - 1, -1, -1)))

    def row_of(self, ts: dt.datetime) -> int:
        """Row of the first event at or after `ts` (descending: first at or before)."""
        if ts.tzinfo is None:
            raise ValueError("row_of needs a timezone-aware datetime (UTC)")
        self.prepare()
        a = self._anchors
        assert a is not None
        asc = self._rows_before(ts, inclusive=False)
        if not self.descending:
            return asc
        # In descending order the first row at or before ts comes after all rows later than ts.
        return a.count - self._rows_before(ts, inclusive=True)

    # -- internals --------------------------------------------------------------------------
    def _select_list(self) -> str:
        return ", ".join(["event_id", *self.columns])

    def _empty(self) -> pa.Table:
        where, params = self._filter_sql()
        return self.cur.sql(
            f"SELECT {self._select_list()} FROM events WHERE false AND {where}", params=params
        ).to_arrow_table()

    def _asc_window(self, start: int, n: int) -> pa.Table:
        """Ascending rows [start, start+n) via the materialized keys or the nearest anchor."""
        if self._stored is not None:
            return self._stored_window(self._base + start, n)
        if self._keys:
            # Insertion order of the CTAS ... ORDER BY is the view order, so its rowid is the row.
            cols = ", ".join(f"e.{c}" for c in ["event_id", *self.columns])
            return self.cur.sql(
                f"""SELECT {cols} FROM events e
                    WHERE e.rowid IN (SELECT rid FROM {self._keys} WHERE rowid >= ? AND rowid < ?)
                    ORDER BY e.ts, e.event_id""",
                params=[start, start + n],
            ).to_arrow_table()
        a = self._anchors
        assert a is not None
        i = start // self._k
        offset = start - i * self._k
        # The last anchor at or after the window's end bounds the scan from above.
        j = (start + n - 1) // self._k + 1
        where, params = self._filter_sql()
        upper_sql, upper = ("", [])
        if j < len(a.ts):
            upper_sql, upper = "AND ts <= ?", [a.ts[j]]
        # cur.sql(...).to_arrow_table() hands over DuckDB's Arrow result without an extra copy.
        return self.cur.sql(
            f"""SELECT {self._select_list()} FROM events
                WHERE ts >= ? AND (ts > ? OR event_id >= ?) {upper_sql} AND ({where})
                ORDER BY ts, event_id LIMIT ? OFFSET ?""",
            params=[a.ts[i], a.ts[i], a.ids[i], *upper, *params, n, offset],
        ).to_arrow_table()

    def _rows_before(self, ts: dt.datetime, inclusive: bool) -> int:
        """Ascending count of rows with ts < `ts` (or <= when inclusive)."""
        a = self._anchors
        assert a is not None
        if a.count == 0:
            return 0
        if self._stored is not None:
            t = _us(ts) + (1 if inclusive else 0)
            return min(a.count, max(0, self._stored_before(t) - self._base))
        if self._keys:
            op = "<=" if inclusive else "<"
            return int(
                self.cur.execute(f"SELECT count(*) FROM {self._keys} WHERE ts {op} ?", [ts]).fetchall()[0][0]
            )
        find = bisect.bisect_right if inclusive else bisect.bisect_left
        i = find(a.ts, ts) - 1  # last anchor strictly before (or at, if inclusive) ts
        if i < 0:
            return 0
        where, params = self._filter_sql()
        op = "<=" if inclusive else "<"
        row = self.cur.execute(
            f"""SELECT count(*) FROM events
                WHERE ts >= ? AND (ts > ? OR event_id >= ?) AND ts {op} ? AND ({where})""",
            [a.ts[i], a.ts[i], a.ids[i], ts, *params],
        ).fetchall()[0]
        return i * self._k + (int(row[0]) if row else 0)


def _us(t: dt.datetime) -> int:
    return (t - _EPOCH) // dt.timedelta(microseconds=1)


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
