"""Where each event is stored: event id -> rowid, so a page's rows are read by position.

Why: a time window of a case built from a CloudTrail bucket (a file per account, region and
5 minutes) holds the rows of ~30 files. Read by event id ranges, DuckDB evaluates the OR of the
ranges on every row between the first and the last range (event_id's zone maps cover whole row
groups): 21-28 ms for a 200-row page of the table's eleven columns at 1M events in files of 50,
28-32 ms at 10M. A filter on rowid goes straight to the vectors holding the rows: 11-12 ms at 1M
(6-7 ms once `src_ip` was stored with zstd: `case_file.ZSTD_COLUMNS`), 7-8 ms at 10M
(`benchmarks/ingest_cloudtrail.py --per-file 50`).

Each file's rows are contiguous in `events` (a chunk's INSERT writes whole id ranges per thread),
so `event_id - rowid` is constant along a run of them, and the runs are the groups of that
difference: two runs cannot share it, as the ids of two files differ by nearly 2^32 or more and
rowids by less than the table's row count. Each import stores them (`row_runs`, built with the
time order: `viewer.core.time_order`); a case without them, or whose stored runs were found
wrong, gets them from the same GROUP BY (~13 ms at 1M events, ~125 ms at 10M) when a page first
needs them. Shared by the cursors of a case until its events change. Rowids move when DuckDB
rewrites row groups (a checkpoint merging part-filled ones), so a reader checks the event ids it
got (`row_fetch`) and calls `forget` on a mismatch.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import duckdb
import numpy as np

#: Cases whose locators are kept (a locator of 1M events in 20,000 files takes ~0.5 MB).
KEEP = 4

_STATE_SQL = """SELECT (SELECT path FROM duckdb_databases() WHERE database_name = current_database()),
                       count(*), max(event_id)
                FROM events"""
_HAS_STORED_SQL = """SELECT count(*) = 2 FROM duckdb_tables() WHERE database_name = current_database()
                     AND schema_name = 'main' AND table_name IN ('row_runs', 'page_anchors_state')"""
RUNS_SQL = """SELECT min(event_id) AS lo, max(event_id) AS hi, event_id - rowid AS shift
              FROM events GROUP BY shift ORDER BY lo"""
_STORED_SQL = """SELECT lo, hi, shift FROM row_runs
                 WHERE (SELECT events = $n AND event_id_max IS NOT DISTINCT FROM $max FROM page_anchors_state)
                 ORDER BY lo"""


@dataclass(frozen=True)
class RowLocator:
    """Runs of events stored in id order: ids lo[i]..hi[i] are at rowid id - shift[i]."""

    key: tuple[object, ...]
    lo: np.ndarray
    hi: np.ndarray
    shift: np.ndarray

    def rowids(self, ids: np.ndarray) -> np.ndarray | None:
        """The rowid of each id, or None when an id lies in no run."""
        ids = np.asarray(ids, np.int64)
        if len(self.lo) == 0:
            return None if len(ids) else np.zeros(0, np.int64)
        run = np.searchsorted(self.lo, ids, "right") - 1
        inside = (run >= 0) & (ids <= self.hi[np.maximum(run, 0)])
        if not inside.all():
            return None
        return ids - self.shift[run]


_cache: OrderedDict[tuple[object, ...], RowLocator] = OrderedDict()
_rebuilt: set[tuple[object, ...]] = set()  # keys whose locator was found wrong once
_distrusted: set[tuple[object, ...]] = set()  # ... and wrong again once rebuilt
_lock = threading.Lock()


def locate(cur: duckdb.DuckDBPyConnection) -> RowLocator | None:
    """The locator of the events `cur` sees now (built, or shared with earlier readers); None
    when the locators of this state were found wrong twice (readers then fetch by event id)."""
    path, count, max_id = cur.execute(_STATE_SQL).fetchall()[0]
    key = (path, int(count), max_id)
    with _lock:
        if key in _distrusted:
            return None
        found = _cache.get(key)
        if found is not None:
            _cache.move_to_end(key)
            return found
        rebuilt = key in _rebuilt
    stored = not rebuilt and cur.execute(_HAS_STORED_SQL).fetchall()[0][0]
    got = cur.execute(_STORED_SQL, {"n": count, "max": max_id}).fetchnumpy() if stored else None
    if got is None or (count and len(got["lo"]) == 0):  # none stored for these events
        got = cur.execute(RUNS_SQL).fetchnumpy()
    locator = RowLocator(
        key,
        np.asarray(got["lo"], np.int64),
        np.asarray(got["hi"], np.int64),
        np.asarray(got["shift"], np.int64),
    )
    with _lock:
        _cache[key] = locator
        while len(_cache) > KEEP:
            _cache.popitem(last=False)
    return locator


class Handle:
    """A reader's locator, looked up once and kept: the state query costs ~0.5 ms, a page read
    by rowid ~6 ms. Kept while the events change under it (an import committing chunks), it
    places none of the new ids, and those pages are read by event id."""

    def __init__(self) -> None:
        self._locator: RowLocator | None = None
        self._looked = False

    def get(self, cur: duckdb.DuckDBPyConnection) -> RowLocator | None:
        if not self._looked:
            self._locator, self._looked = locate(cur), True
        return self._locator

    def drop(self, locator: RowLocator) -> None:
        """`forget` it; the next `get` looks again."""
        forget(locator)
        self._locator, self._looked = None, False


def forget(locator: RowLocator) -> None:
    """Drop a locator found wrong (rows moved since it was built): the next `locate` rebuilds
    it from the events, once; a rebuilt one found wrong too is not built again for the same
    events."""
    with _lock:
        if _cache.get(locator.key) is locator:
            del _cache[locator.key]
        if locator.key in _rebuilt:
            _distrusted.add(locator.key)
        _rebuilt.add(locator.key)
