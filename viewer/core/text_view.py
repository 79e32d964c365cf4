"""The time-ordered matches of a filter with free text, found block by block while the user reads.

Checking every event for a word can take seconds at 10M events (raw records must be read where
the index cannot rule a word out), but the first screen only needs the earliest (or, newest first,
the latest) matches. Blocks (`viewer.core.search_index`) know their time range, so they are
checked in waves, and after each wave every match earlier than the start of the earliest
unchecked block is *final*: no later wave can put a match before it. Rows [0, final) of the view
never move again; the table shows them at once and grows as waves complete (`advance`, on a
background lane, cancellable). The count is exact once every block is checked (`complete`).

Waves (measured at 10M events, benchmarks/read_paths.py):

* the first holds the earliest `FIRST_WAVE_BLOCKS` blocks, so the first rows come in ~0.1 s;
* then every block left that needs only a column check, in one query: each query pays for
  decoding the dictionaries of the column segments it touches (~3 ms per segment of `src_ip`), so
  one pass over the table costs ~0.1-0.9 s where thirty waves cost ten times more;
* then the blocks that need their raw records read, in time order, sized to ~`WAVE_SECONDS`.

Rows of sparse matches are scattered over the table, and fetching them one page at a time costs
~0.7 ms a row (`viewer.core.row_fetch`); so while matches are sparse (< `CAPTURE_DENSITY` of the
events checked) the check reads the view's columns too and keeps the rows (`cache`).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator, Sequence

import duckdb
import numpy as np
import pyarrow as pa

from viewer.core import time_order
from viewer.core.event_query import EventFilter, text_terms, where_sql
from viewer.core.jobs import Cancelled, CancelToken
from viewer.core.row_fetch import RowCache
from viewer.core.search_index import (
    MAX_RANGES,
    BlockTable,
    NeedlePlan,
    SearchHits,
    block_runs,
    id_ranges_sql,
    load_blocks,
    parse_query,
    plan_needle,
    ranges_sql,
)
from viewer.core.search_text import Needle, lower_all, negate

#: The first wave: the earliest blocks (in the view's order), at most this raw-check cost.
FIRST_WAVE_BLOCKS = 32
FIRST_WAVE_COST = 6.0
#: After the first wave, every block left that needs no raw check goes in one query.
COLUMNS_IN_ONE_PASS = True
#: Target seconds per wave of raw checks: bounds how long a cancel or the next rows wait.
WAVE_SECONDS = 0.5
#: Relative cost of checking a block on columns only (raw check = 1).
COLUMN_COST = 0.02
#: A wave holding this share of all events checks the whole table instead of naming ranges.
WHOLE_TABLE_SHARE = 0.5
#: Keep the rows of matches while they are at most this share of the events checked...
CAPTURE_DENSITY = 0.02
#: ...and at most this many rows (~250 bytes each for a dozen columns).
CAPTURE_MAX_ROWS = 200_000


class TextView:
    """Matches of `filt` (which holds free text) in (ts, event_id) order, or the reverse.

    Thread use: `advance` runs on one lane at a time (it holds a lock for its whole run); `ids`,
    `count`, `cache` may be used from another thread meanwhile. Each caller passes its cursor.
    """

    def __init__(
        self,
        cur: duckdb.DuckDBPyConnection,
        filt: EventFilter,
        descending: bool = False,
        use_index: bool = True,
        needles: list[tuple[Needle | None, bool]] | None = None,
        columns: Sequence[str] = (),
    ) -> None:
        """`needles` (word, negated) replace the filter's own free-text terms when given;
        `columns` are the view's columns, kept for sparse matches."""
        self.descending = descending
        self.columns = [c for c in columns if c != "event_id"]
        self.cache = RowCache()
        self._where, self._where_params = where_sql(filt, cur, include_text=False)
        self.blocks = load_blocks(cur, index=use_index)
        terms = text_terms(filt) if needles is None else needles
        self._plans = _plans(cur, self.blocks, [(n, neg) for n, neg in terms if n is not None])
        mask = np.ones(len(self.blocks), bool)
        if any(n is None and not neg for n, neg in terms):
            mask[:] = False  # a word of nothing but separators matches no event
        for plan, negated in self._plans:
            if not negated:
                mask &= plan.cand
        if filt.time_range is not None:
            lo, hi = (_us(t) for t in filt.time_range)
            mask &= (self.blocks.ts_max >= lo) & (self.blocks.ts_min < hi)
        idx = np.flatnonzero(mask)
        key = -self.blocks.ts_max[idx] if descending else self.blocks.ts_min[idx]
        self._order = idx[np.lexsort((idx, key))]  # blocks to check, earliest (latest) first
        self._raw = self._needs_raw()[self._order]
        self._checked = np.zeros(len(self._order), bool)
        self._events_checked = 0
        self._t = np.zeros(0, np.int64)  # matches so far, ascending (ts us, event id)
        self._id = np.zeros(0, np.int64)
        self._final = 0
        self._sec_per_block: float | None = None  # of raw checks, measured
        self._order_current: bool | None = None  # time_order covers the events (asked once)
        self._state = threading.Lock()
        self._advancing = threading.Lock()

    # -- what is known -------------------------------------------------------------------------
    @property
    def complete(self) -> bool:
        return bool(self._checked.all())

    def count(self) -> int:
        """Rows whose place is final: the exact count once complete, a lower bound before."""
        with self._state:
            return self._final

    @property
    def matches_all(self) -> bool:
        """True when the index shows every event holds every word (none negated): the view is
        then all events the rest of the filter lets through, with nothing to check."""
        return self.blocks.indexed == len(self.blocks) and self._every_word_in(np.arange(len(self.blocks)))

    @property
    def reads_raw(self) -> bool:
        """True when some block must have its raw records checked."""
        return bool(self._raw.any())

    @property
    def blocks_done(self) -> tuple[int, int]:
        """(blocks checked, blocks to check): progress for the UI."""
        return int(self._checked.sum()), len(self._order)

    def ids(self, start: int, n: int) -> np.ndarray:
        """Event ids of view rows [start, start+n), clipped to the final rows."""
        with self._state:
            t_ids, final = self._id, self._final
        start, stop = max(0, start), min(final, start + max(0, n))
        if stop <= start:
            return np.zeros(0, np.int64)
        if not self.descending:
            return t_ids[start:stop]
        m = len(t_ids)
        return t_ids[m - stop : m - start][::-1]

    def times(self) -> np.ndarray:
        """Times (epoch us) of the final rows, in view order."""
        with self._state:
            t, final = self._t, self._final
        return t[len(t) - final :][::-1] if self.descending else t[:final]

    # -- finding more ----------------------------------------------------------------------------
    def advance(
        self,
        cur: duckdb.DuckDBPyConnection,
        until_rows: int | None = None,
        seconds: float | None = None,
        token: CancelToken | None = None,
    ) -> bool:
        """Check waves of blocks until `until_rows` rows are final, `seconds` passed (after at least
        one wave), or all are checked (the default). Returns `complete`. Cancelling `token`
        interrupts the running query and raises `Cancelled`; what was found so far stays valid."""
        started = time.monotonic()
        remove = token.interrupts(cur) if token is not None else None  # read-only: see interrupts
        try:
            with self._advancing:
                while not self.complete:
                    if token is not None:
                        token.raise_if_cancelled()
                    if until_rows is not None and self.count() >= until_rows:
                        break
                    self._check(cur, self._next_wave())  # at least one per call: progress
                    if seconds is not None and time.monotonic() - started >= seconds:
                        break
        except duckdb.InterruptException as exc:
            raise Cancelled() from exc
        finally:
            if remove:
                remove()
        return self.complete

    def _next_wave(self) -> np.ndarray:
        """Positions in `_order` of the blocks to check next (see the module docstring)."""
        todo = np.flatnonzero(~self._checked)
        if not self._checked.any():
            cost = np.cumsum(np.where(self._raw[todo], 1.0, COLUMN_COST))
            take = min(FIRST_WAVE_BLOCKS, max(1, int(np.searchsorted(cost, FIRST_WAVE_COST, "right"))))
            return todo[:take]
        columns_only = todo[~self._raw[todo]]
        if len(columns_only) and COLUMNS_IN_ONE_PASS:
            return columns_only
        per_block = self._sec_per_block or 0.04  # a raw check of 2k events before any is measured
        take = int(min(MAX_RANGES, max(1, WAVE_SECONDS / max(per_block, 1e-6))))
        return todo[:take]

    def _check(self, cur: duckdb.DuckDBPyConnection, wave: np.ndarray) -> None:
        """Check these blocks and merge their matches."""
        blocks = self._order[wave]
        mask = np.zeros(len(self.blocks), bool)
        mask[blocks] = True
        capture = self._capturing()
        if not capture and self._whole(cur, blocks):
            t, ids = self._whole_blocks(cur, mask)
        else:
            t, ids = self._query_blocks(cur, wave, mask, capture)
        self._merge(t, ids, wave, int(self.blocks.events[blocks].sum()))

    def _whole_blocks(
        self, cur: duckdb.DuckDBPyConnection, mask: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Every event of the blocks in `mask`, in time order, from the persisted time order.

        A common word held by every event has ~10M matches at 10M events: sorting them took
        seconds. `time_order` comes back sorted (preserve_insertion_order); one plain pass with the
        blocks picked in memory by one binary search per row measured 0.74 s against 0.96 s for
        the same pass with the blocks' id ranges in SQL (10M events, interleaved runs).
        """
        got = cur.sql("SELECT epoch_us(ts) AS _t, event_id FROM time_order").to_arrow_table()
        t, ids = got.column("_t").to_numpy(), got.column("event_id").to_numpy()
        if not mask.all():
            at = np.searchsorted(self.blocks.lo, ids, "right") - 1
            keep = (at >= 0) & mask[np.maximum(at, 0)]
            t, ids = t[keep], ids[keep]
        return t, ids

    def _query_blocks(
        self, cur: duckdb.DuckDBPyConnection, wave: np.ndarray, mask: np.ndarray, capture: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """The matches in these blocks, checked in `events`, sorted by (time, id); `capture`
        keeps their rows too (see `_capturing`)."""
        blocks = self._order[wave]
        params: list[object] = []
        # A wave of most events is one pass over the table without ranges (each range costs a
        # comparison per row); the rows of other blocks that a pass or a merged range takes in
        # are dropped below.
        clauses = [f"({self._where})"]
        exact = bool(mask.all())  # the query returns rows of the wave's blocks only
        if self.blocks.events[blocks].sum() < WHOLE_TABLE_SHARE * self.blocks.events.sum():
            clauses.insert(0, ranges_sql(self.blocks, mask))
        elif not exact:
            # A pass over most of the table: leave out the blocks already checked in SQL when
            # they make few ranges (dropping their rows afterwards costs a search per row).
            skip = block_runs(~mask, max_n=len(mask) + 1)
            if len(skip) <= MAX_RANGES:
                clauses.insert(0, f"NOT {id_ranges_sql(self.blocks, skip)}")
                exact = True
        params += self._where_params
        for plan, negated in self._plans:
            sql = plan.sql(self.blocks, mask, params, narrow=negated)
            clauses.append(negate(sql) if negated else sql)
        cols = "".join(f", {c}" for c in self.columns) if capture else ""
        started = time.perf_counter()
        got = cur.sql(
            f"SELECT epoch_us(ts) AS _t, event_id{cols} FROM events WHERE {' AND '.join(clauses)}",
            params=params,
        ).to_arrow_table()
        if self._raw[wave].any():
            self._sec_per_block = (time.perf_counter() - started) / max(1, int(self._raw[wave].sum()))
        if not exact:
            ids = got.column("event_id").to_numpy()
            at = np.searchsorted(self.blocks.lo, ids, "right") - 1
            got = got.filter(pa.array((at >= 0) & mask[np.maximum(at, 0)]))
        t, ids = got.column("_t").to_numpy(), got.column("event_id").to_numpy()
        if capture:
            self.cache.add(got.drop_columns(["_t"]))
        if not _in_order(t, ids):  # scans often come back in time order: sorting 10M costs seconds
            order = np.lexsort((ids, t))
            t, ids = t[order], ids[order]
        return t, ids

    def _whole(self, cur: duckdb.DuckDBPyConnection, blocks: np.ndarray) -> bool:
        """True when every event of these blocks matches with nothing to check (no filter but
        words, none negated, each held by every event of the blocks) and the time order is current."""
        if self._where != "true" or not self._every_word_in(blocks):
            return False
        if self._order_current is None:
            self._order_current = time_order.is_current(cur)
        return self._order_current

    def _every_word_in(self, blocks: np.ndarray) -> bool:
        """True when the filter has words, none negated, and every event of these blocks holds
        each of them (the index's `every`)."""
        plans = self._plans
        return (
            bool(plans) and not any(neg for _, neg in plans) and all(p.every[blocks].all() for p, _ in plans)
        )

    def _capturing(self) -> bool:
        """Keep rows while matches are sparse: the first wave always (its rows are the first
        screen), later ones while matches stay under CAPTURE_DENSITY of the events checked."""
        if not self.columns or len(self.cache) >= CAPTURE_MAX_ROWS:
            return False
        if self._events_checked == 0:
            return True
        return len(self._id) < CAPTURE_DENSITY * self._events_checked

    def _merge(self, t: np.ndarray, ids: np.ndarray, wave: np.ndarray, events: int) -> None:
        """Add a wave's matches; only the rows not yet final can interleave with them."""
        with self._state:
            old_t, old_id, final = self._t, self._id, self._final
        cut = len(old_t) - final if self.descending else final
        keep = slice(cut, None) if self.descending else slice(None, cut)
        rest = slice(None, cut) if self.descending else slice(cut, None)
        mt, mi = merge_sorted(old_t[rest], old_id[rest], t, ids)
        parts_t, parts_id = [old_t[keep], mt], [old_id[keep], mi]
        if self.descending:
            parts_t, parts_id = parts_t[::-1], parts_id[::-1]
        new_t, new_id = np.concatenate(parts_t), np.concatenate(parts_id)
        checked = self._checked.copy()
        checked[wave] = True
        new_final = self._final_rows(new_t, checked)
        with self._state:
            self._t, self._id, self._checked, self._final = new_t, new_id, checked, new_final
            self._events_checked += events

    def _final_rows(self, t: np.ndarray, checked: np.ndarray) -> int:
        if checked.all():
            return len(t)
        b = self._order[int(np.argmin(checked))]  # the earliest (latest) unchecked block
        if self.descending:  # unchecked blocks end at or before this block's end
            return len(t) - int(np.searchsorted(t, self.blocks.ts_max[b], "right"))
        return int(np.searchsorted(t, self.blocks.ts_min[b], "left"))

    def _needs_raw(self) -> np.ndarray:
        raw = np.zeros(len(self.blocks), bool)
        for plan, _ in self._plans:
            raw |= plan.raw & plan.cand
        return raw


def _in_order(t: np.ndarray, ids: np.ndarray) -> bool:
    """True when (t, ids) is sorted ascending by time, then id."""
    if len(t) < 2:
        return True
    dt_ = np.diff(t)
    return bool(np.all((dt_ > 0) | ((dt_ == 0) & (np.diff(ids) > 0))))


#: Below this many rows on the smaller side, a merge inserts it into the larger one.
MERGE_INSERT_MAX = 200_000


def merge_sorted(
    at: np.ndarray, aid: np.ndarray, bt: np.ndarray, bid: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Merge two runs sorted by (time, id) into one; ids are unique across both.

    A full lexsort of 10M rows costs seconds, and the runs met here are sorted already: usually one
    side is empty, follows the other, or is small (the unfinished tail of the last wave), which
    costs one pass over the larger side.
    """
    if len(at) == 0:
        return bt, bid
    if len(bt) == 0:
        return at, aid
    if (at[-1], aid[-1]) < (bt[0], bid[0]):
        return np.concatenate([at, bt]), np.concatenate([aid, bid])
    if (bt[-1], bid[-1]) < (at[0], aid[0]):
        return np.concatenate([bt, at]), np.concatenate([bid, aid])
    if min(len(at), len(bt)) > MERGE_INSERT_MAX:
        mt, mi = np.concatenate([at, bt]), np.concatenate([aid, bid])
        order = np.lexsort((mi, mt))
        return mt[order], mi[order]
    if len(at) > len(bt):
        at, aid, bt, bid = bt, bid, at, aid
    pos = np.searchsorted(bt, at, "left")
    end = np.searchsorted(bt, at, "right")
    for k in np.flatnonzero(end > pos):  # same time as rows of the larger side: place by id
        pos[k] += int(np.searchsorted(bid[pos[k] : end[k]], aid[k]))
    return np.insert(bt, pos, at), np.insert(bid, pos, aid)


def _plans(
    cur: duckdb.DuckDBPyConnection, blocks: BlockTable, terms: list[tuple[Needle, bool]]
) -> list[tuple[NeedlePlan, bool]]:
    lows = lower_all([n.text for n, _ in terms], cur) if terms else []
    return [(plan_needle(cur, blocks, n, low), neg) for (n, neg), low in zip(terms, lows, strict=True)]


def _us(t: dt.datetime) -> int:
    return (t - _EPOCH) // dt.timedelta(microseconds=1)


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


# -- the streaming search API ------------------------------------------------------------------
def search(
    cur: duckdb.DuckDBPyConnection, text: str, limit: int = 1000, token: CancelToken | None = None
) -> Iterator[SearchHits]:
    """Stream a search of the words in `text`: the earliest `limit` hits in (ts, event_id) order as
    soon as they are final, then the exact total. Cancelling `token` raises `Cancelled`."""
    view = TextView(cur, EventFilter(), needles=[(n, False) for n in parse_query(text)])
    view.advance(cur, until_rows=limit, token=token)
    first = [int(x) for x in view.ids(0, limit)]
    if view.complete:
        yield SearchHits(first, view.count(), True)
        return
    yield SearchHits(first, None, False)
    view.advance(cur, token=token)
    yield SearchHits(first, view.count(), True)
