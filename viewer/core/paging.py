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
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from viewer.core.event_query import EventFilter, where_sql
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
        self._keys, self._anchors = None, None

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
