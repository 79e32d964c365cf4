"""Random access to a filtered, time-sorted view of the events table, a page at a time.

A page is two steps: the event ids of its rows, in view order, from a row source
(`viewer.core.page_views`: the persisted time order, a sorted filtered view, or a free-text view
found block by block), then their columns, from rows the view already holds or from `events` by
id ranges (`viewer.core.row_fetch`). Nothing is read with OFFSET, so a page costs the same
anywhere in the view.

Free-text views are found while the user reads: `count()` is a lower bound until `complete`, and
`advance()` (on a background lane, cancellable) finds the rest; it also reads the rows of
filtered views whole for pages that need no query (`pending` says whether it has work left).

Descending order mirrors rows onto the ascending order (text views walk their blocks backwards
instead, so their first rows come as fast as in ascending order).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import replace

import duckdb
import numpy as np
import pyarrow as pa

from viewer.core import row_locator, time_order
from viewer.core.event_query import EventFilter, text_terms, where_sql
from viewer.core.jobs import Cancelled, CancelToken
from viewer.core.page_views import OrderView, SortedView, TextAdapter
from viewer.core.row_fetch import fetch_rows
from viewer.core.text_view import TextView
from viewer.schema import field_names

CursorFactory = Callable[[], duckdb.DuckDBPyConnection]
_View = OrderView | SortedView | TextAdapter

#: `prepare()` of a text view returns once this many rows are final (the table shows them and
#: grows), or all are found, or FIRST_SECONDS passed (a word in no event is checked everywhere).
FIRST_ROWS = 1
FIRST_SECONDS = 0.4

# The persisted order is the `page_anchors` derived structure (viewer.core.derived).
DDL = time_order.DDL
update_anchors = time_order.update


class EventPager:
    """Pages of `columns` (plus event_id) of the events matching `filt`, sorted by (ts, event_id).

    Not thread-safe for pages: call `page` from one lane at a time. `cur_factory` is called on
    first use, so that cursor belongs to the page lane; `advance` takes its own cursor so it can
    run on another lane while pages are served.
    """

    def __init__(
        self,
        cur_factory: CursorFactory,
        filt: EventFilter,
        columns: list[str],
        descending: bool = False,
        *,
        use_index: bool | None = None,
        use_order: bool = True,
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
        self._use_order = use_order
        self._view: _View | None = None
        self._places = row_locator.Handle()  # where the rows are, looked up on first need

    @property
    def cur(self) -> duckdb.DuckDBPyConnection:
        if self._cur is None:
            self._cur = self._cur_factory()
        return self._cur

    # -- preparing -------------------------------------------------------------------------
    def prepare(self, first_rows: int = FIRST_ROWS, seconds: float = FIRST_SECONDS) -> None:
        """Make the view ready to serve pages; a text view looks for its first `first_rows` rows
        for up to `seconds` (then `count()` may be lower and `advance` continues)."""
        if self._view is not None:
            return
        if text_terms(self.filt):
            text = TextView(
                self.cur,
                self.filt,
                self.descending,
                use_index=self._use_index is not False,
                columns=self.columns,
            )
            if text.matches_all and self._use_order and _time_only(self.filt, include_text=False):
                # A word every event holds ("AwsApiCall"): the rows are the time order's, at once
                # (collecting and merging 10M matches took seconds at 10M events).
                order = time_order.load(self.cur)
                if order is not None:
                    self._view = OrderView(self.cur, order, self.filt)
                    return
            text.advance(self.cur, until_rows=first_rows, seconds=seconds)
            self._view = TextAdapter(text, self.filt)
            return
        order = time_order.load(self.cur) if self._use_order and _time_only(self.filt) else None
        if order is not None:
            self._view = OrderView(self.cur, order, self.filt)
            return
        where, params = where_sql(self.filt, self.cur, use_index=self._use_index)
        self._view = SortedView(self.cur, where, params)

    def _ready(self) -> _View:
        self.prepare()
        assert self._view is not None
        return self._view

    @property
    def complete(self) -> bool:
        """True when `count()` is the exact number of matching rows."""
        return self._ready().complete

    def count(self) -> int:
        """Rows available now: the exact count when `complete`, else those found so far."""
        return self._ready().count()

    @property
    def pending(self) -> bool:
        """True while `advance` has work: the rest of a text view's rows, or reading a filtered
        view's rows whole."""
        view = self._ready()
        return not (view.complete and view.materialized)

    def advance(
        self, cur: duckdb.DuckDBPyConnection, token: CancelToken | None = None, seconds: float | None = None
    ) -> bool:
        """Do background work (for about `seconds`, or all of it); returns `not pending`.

        A text view finds more rows; then a filtered view reads its rows whole. Raises `Cancelled`
        when `token` is cancelled; the rows found so far stay valid."""
        view = self._ready()
        if isinstance(view, TextAdapter) and not view.complete:
            view.text.advance(cur, seconds=seconds, token=token)
            if seconds is not None or not view.complete:
                return not self.pending
        remove = token.interrupts(cur) if token is not None else None  # read-only: see interrupts
        try:
            view.materialize(cur, self.columns)
        except duckdb.InterruptException as exc:
            raise Cancelled() from exc
        finally:
            if remove:
                remove()
        return not self.pending

    @property
    def progress(self) -> tuple[int, int]:
        """(blocks checked, blocks to check) of a text view; (1, 1) for the others."""
        view = self._ready()
        return view.text.blocks_done if isinstance(view, TextAdapter) else (1, 1)

    def close(self) -> None:
        self._view = None

    # -- reading ---------------------------------------------------------------------------
    def page(self, start_row: int, n: int) -> pa.Table:
        """Rows start_row .. start_row+n-1 of the view (clipped to the available rows), as Arrow."""
        view = self._ready()
        total = view.count()
        start_row = max(0, start_row)
        end_row = min(total, start_row + max(0, n))
        if end_row <= start_row:
            ids = np.zeros(0, np.int64)
        elif isinstance(view, TextAdapter) or not self.descending:
            ids = view.ids(start_row, end_row - start_row)
        else:  # descending row r is ascending row total-1-r
            ids = view.ids(total - end_row, end_row - start_row)[::-1]
        return fetch_rows(self.cur, ids, self.columns, view.cache, self._places)

    def row_of(self, ts: dt.datetime) -> int:
        """Row of the first event at or after `ts` (descending: first at or before), among the
        rows available now."""
        if ts.tzinfo is None:
            raise ValueError("row_of needs a timezone-aware datetime (UTC)")
        view = self._ready()
        if isinstance(view, TextAdapter):  # in view order already: rows before, or rows later
            return view.rows_before(_us(ts), inclusive=self.descending)
        if not self.descending:
            return view.rows_before(_us(ts), inclusive=False)
        # In descending order the first row at or before ts comes after all rows later than ts.
        return view.count() - view.rows_before(_us(ts), inclusive=True)


def _time_only(filt: EventFilter, include_text: bool = True) -> bool:
    """True when the filter restricts nothing but time (the persisted order can serve it)."""
    return where_sql(replace(filt, time_range=None), use_index=False, include_text=include_text) == (
        "true",
        [],
    )


def _us(t: dt.datetime) -> int:
    return (t - _EPOCH) // dt.timedelta(microseconds=1)


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def row_at_time(cur: duckdb.DuckDBPyConnection, filt: EventFilter, ts: dt.datetime, descending: bool) -> int:
    """The table row of the first event at or after `ts` under `filt` (descending: the first at
    or before it): how many of the filter's events the table's (ts, event_id) order puts first.
    Equal to `EventPager.row_of` once every row is known; asked of SQL with its own cursor, so a
    jump never waits on (or disturbs) the pager's page reads."""
    if ts.tzinfo is None:
        raise ValueError("row_at_time needs a timezone-aware datetime (UTC)")
    where, params = where_sql(filt, cur)
    before = ">" if descending else "<"
    rows = cur.execute(f"SELECT count(*) FROM events WHERE ({where}) AND ts {before} ?", [*params, ts])
    return int(rows.fetchall()[0][0])
