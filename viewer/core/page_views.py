"""The row sources behind `EventPager`: which event ids hold rows [start, start+n) of a view.

* `OrderView`: no filter or a time range only - rows of the persisted time order
  (`viewer.core.time_order`), read in chunks of `CHUNK` ids kept in memory, so consecutive pages
  cost no query for their ids.
* `SortedView`: a filter of fields - one sorted pass over the matching (ts, event_id) at
  creation keeps the ids in memory (16 bytes a row; ~0.2-0.5 s per 1M matching rows at 10M
  events, benchmarks/read_paths.py).
* `TextAdapter`: a filter with free text - `viewer.core.text_view.TextView`, already in view order.

Filtered views of up to `MATERIALIZE_MAX_ROWS` rows also read their rows whole once
(`materialize`, on a background lane): the rows of a filtered view are spread over the table, and
each page read from `events` pays for decoding the dictionary of every column segment it touches
(~4 ms a segment of `src_ip` at 10M events), which keeps such pages above 10 ms. Read in one pass
(~1 us a row) and dictionary-encoded, 1M rows of a dozen columns take ~60 MB.
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from collections.abc import Sequence

import duckdb
import numpy as np
import pyarrow as pa

from viewer.core import time_order
from viewer.core.event_query import EventFilter, where_sql
from viewer.core.row_fetch import RowCache
from viewer.core.text_view import TextView

#: Time-order ids read per query and chunks kept (32 KB each). A jump to a far row reads one:
#: 4,096 ids take ~1 ms, 16,384 ~2 ms (10M events: jump and page 7.5-8.7 ms against 9.9);
#: scrolling reads one every 20 pages.
CHUNK = 4_096
MAX_CHUNKS = 128
#: Filtered views up to this many rows are read whole for fast pages.
MATERIALIZE_MAX_ROWS = 1_500_000


def read_rows(
    cur: duckdb.DuckDBPyConnection, where: str, params: list[object], columns: Sequence[str]
) -> pa.Table:
    """event_id and `columns` of every matching event, strings dictionary-encoded (most columns
    repeat a few values: ~5x less memory)."""
    select = ", ".join(["event_id", *[c for c in columns if c != "event_id"]])
    table = cur.sql(f"SELECT {select} FROM events WHERE {where}", params=params).to_arrow_table()
    cols = [
        c.dictionary_encode() if pa.types.is_string(c.type) or pa.types.is_large_string(c.type) else c
        for c in table.columns
    ]
    return pa.table(cols, names=table.column_names)


class OrderView:
    """Rows of the persisted time order, from `base` (a time range's first row) on."""

    complete = True
    materialized = True  # ids come from time_order; rows from events (too many to keep)
    cache: RowCache | None = None

    def __init__(
        self, cur: duckdb.DuckDBPyConnection, order: time_order.TimeOrder, filt: EventFilter
    ) -> None:
        self._cur, self._order = cur, order
        lo, hi = 0, order.total
        if filt.time_range is not None:
            lo = time_order.rows_before(cur, order, _us(filt.time_range[0]))
            hi = max(lo, time_order.rows_before(cur, order, _us(filt.time_range[1])))
        self._base, self._n = lo, hi - lo
        self._chunks: OrderedDict[int, np.ndarray] = OrderedDict()

    def count(self) -> int:
        return self._n

    def ids(self, start: int, n: int) -> np.ndarray:
        lo, hi = self._base + max(0, start), self._base + min(self._n, start + n)
        if hi <= lo:
            return np.zeros(0, np.int64)
        chunks = range(lo // CHUNK, (hi - 1) // CHUNK + 1)
        parts = [self._chunk(c)[max(lo, c * CHUNK) - c * CHUNK : hi - c * CHUNK] for c in chunks]
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    def _chunk(self, c: int) -> np.ndarray:
        got = self._chunks.get(c)
        if got is None:
            got = time_order.ids_at(self._cur, c * CHUNK, CHUNK)
            self._chunks[c] = got
            while len(self._chunks) > MAX_CHUNKS:
                self._chunks.popitem(last=False)
        self._chunks.move_to_end(c)
        return got

    def rows_before(self, t_us: int, inclusive: bool) -> int:
        global_rows = time_order.rows_before(self._cur, self._order, t_us + (1 if inclusive else 0))
        return min(self._n, max(0, global_rows - self._base))

    def materialize(self, cur: duckdb.DuckDBPyConnection, columns: Sequence[str]) -> None:
        """Nothing to read (see `materialized`)."""


class SortedView:
    """The matching (ts, event_id), sorted once and kept in memory."""

    complete = True

    def __init__(self, cur: duckdb.DuckDBPyConnection, where: str, params: list[object]) -> None:
        got = cur.execute(
            f"SELECT epoch_us(ts) AS t, event_id AS id FROM events WHERE {where} ORDER BY ts, event_id",
            params,
        ).fetchnumpy()
        self._t = np.asarray(got["t"], np.int64)
        self._id = np.asarray(got["id"], np.int64)
        self._where, self._params = where, params
        # Only a true subset is scattered: all events in order (a case whose time order is not
        # built yet) come in runs of whole files, cheap to fetch page by page.
        total = int(cur.execute("SELECT count(*) FROM events").fetchall()[0][0])
        wanted = 0 < len(self._id) <= MATERIALIZE_MAX_ROWS and len(self._id) < total
        self.cache: RowCache | None = RowCache() if wanted else None
        self.materialized = self.cache is None

    def count(self) -> int:
        return len(self._id)

    def ids(self, start: int, n: int) -> np.ndarray:
        return self._id[max(0, start) : start + n]

    def rows_before(self, t_us: int, inclusive: bool) -> int:
        return int(np.searchsorted(self._t, t_us, "right" if inclusive else "left"))

    def materialize(self, cur: duckdb.DuckDBPyConnection, columns: Sequence[str]) -> None:
        """Read every row of the view once, for pages that need no query."""
        if not self.materialized and self.cache is not None:
            self.cache.add(read_rows(cur, self._where, self._params, columns))
            self.materialized = True


class TextAdapter:
    """A `TextView` as a row source; once complete, its rows are read whole like a SortedView's."""

    def __init__(self, text: TextView, filt: EventFilter) -> None:
        self.text = text
        self.cache: RowCache = text.cache
        self._filt = filt
        self._read = False

    @property
    def complete(self) -> bool:
        return self.text.complete

    @property
    def materialized(self) -> bool:
        """Rows read whole, or nothing to read: too many rows, all kept while checking, or a word
        only raw records can confirm somewhere (a second scan of raw text would cost as much as
        the search did; its pages are read from `events`)."""
        if self._read:
            return True
        n = self.count()
        return self.complete and (n > MATERIALIZE_MAX_ROWS or len(self.cache) >= n or self.text.reads_raw)

    def count(self) -> int:
        return self.text.count()

    def ids(self, start: int, n: int) -> np.ndarray:
        return self.text.ids(start, n)

    def rows_before(self, t_us: int, inclusive: bool) -> int:
        """Among the final rows (a text view knows its own direction)."""
        times = self.text.times()
        if self.text.descending:
            return int(len(times) - np.searchsorted(times[::-1], t_us, "right" if inclusive else "left"))
        return int(np.searchsorted(times, t_us, "right" if inclusive else "left"))

    def materialize(self, cur: duckdb.DuckDBPyConnection, columns: Sequence[str]) -> None:
        if self.materialized:
            return
        where, params = where_sql(self._filt, cur)  # the exact predicate, index-aware
        rows = read_rows(cur, where, params, columns)
        found, _ = self.cache.lookup(rows.column("event_id").to_numpy())
        self.cache.add(rows.filter(pa.array(~found)))
        self._read = True


def _us(t: dt.datetime) -> int:
    return (t - _EPOCH) // dt.timedelta(microseconds=1)


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
