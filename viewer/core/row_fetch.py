"""Rows of `events` for a list of event ids, in the order given: the last step of every table page.

A window of the time-sorted view holds events from several evidence files (S3 delivery interleaves
accounts and regions in time), and the ids of one file are consecutive. So the ids are cut into
runs of nearby ids and fetched with `event_id BETWEEN` ranges: zone maps on event_id (it grows
along the table) skip every other row group, and DuckDB reads the other columns only for vectors
holding a match. The few extra rows inside a range are dropped here. Measured at 10M events
(benchmarks/read_paths.py): `event_id IN (list)` planned a join that read ~200k rows per page.
A window whose ids fall in many runs (a case of small files: ~30 a page) is read by rowid ranges
instead (`viewer.core.row_locator`): an OR of event id ranges is evaluated on every row between
the first and the last, and that span grows with the table.

Rows spread thinly over the table (a rare word, a selective filter) cost ~0.7 ms each this way:
every one is in another vector and segment, and DuckDB decodes whole vectors and the dictionary of
each segment of a high-cardinality column. Views of such rows keep them in a `RowCache`, filled by
the one sequential query that found them, which costs ~20 us a row.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import numpy as np
import numpy.ma  # noqa: F401  (see below)
import pyarrow as pa
import pyarrow.compute  # noqa: F401

from viewer.core import row_locator

# The two imports above load with this module what a process's first page loaded on first use,
# inside the page: `Table.take` imports pyarrow.compute (~60 ms) and `np.unique` numpy.ma
# (~15 ms); the first page at the middle of 10M events took 111 ms, 75 of them these imports.

#: Ids further apart than this start a new range (record indexes of one file are consecutive;
#: another file's ids differ in the upper 32 bits).
RUN_GAP = 4096
#: Ranges named in one query; more are fetched in several queries (an OR of hundreds of ranges
#: costs more per row than the rows it saves).
MAX_RANGES = 64
#: From this many id runs a page is read by rowid (`row_locator`): pages of cases of big files
#: have 1-3 runs and need no locator; a window of a bucket of small files has ~30.
LOCATE_FROM_RUNS = 8
#: Rowids closer than this share a range (rows of one vector cost the same read).
ROWID_GAP = 256


def id_runs(ids: np.ndarray, gap: int = RUN_GAP) -> list[tuple[int, int]]:
    """Inclusive (lo, hi) ranges covering the distinct ids, split where neighbours are > gap apart."""
    u = np.unique(np.asarray(ids, np.int64))
    if len(u) == 0:
        return []
    cut = np.flatnonzero(np.diff(u) > gap)
    lo = np.concatenate([[u[0]], u[cut + 1]])
    hi = np.concatenate([u[cut], [u[-1]]])
    return list(zip(lo.tolist(), hi.tolist(), strict=True))


class RowCache:
    """Rows already read (event_id first, then the view's columns), found by event id.

    Filled from one thread, read from another: `add` swaps in new arrays in one assignment.
    """

    def __init__(self) -> None:
        self._state: tuple[pa.Table | None, np.ndarray, np.ndarray] = (
            None,
            np.zeros(0, np.int64),  # ids, sorted
            np.zeros(0, np.int64),  # row of each id in the table
        )

    def __len__(self) -> int:
        return len(self._state[1])

    def add(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        old, ids, where = self._state
        base = 0 if old is None else old.num_rows
        ids = np.concatenate([ids, table.column("event_id").to_numpy()])
        where = np.concatenate([where, np.arange(base, base + table.num_rows)])
        order = np.argsort(ids, kind="stable")
        merged = table if old is None else pa.concat_tables([old, table.cast(old.schema)])
        # One chunk per column: `take` on an array of hundreds of chunks (DuckDB hands results
        # over in batches) first concatenates them, ~10 ms a page for 1M rows.
        self._state = (merged.combine_chunks(), ids[order], where[order])

    def lookup(self, ids: np.ndarray) -> tuple[np.ndarray, pa.Table | None]:
        """(found mask, rows of the found ids in their order)."""
        table, known, where = self._state
        if table is None or len(known) == 0:
            return np.zeros(len(ids), bool), None
        at = np.minimum(np.searchsorted(known, ids), len(known) - 1)
        found = known[at] == ids
        return found, table.take(pa.array(where[at[found]]))


def fetch_rows(
    cur: duckdb.DuckDBPyConnection,
    ids: np.ndarray | Sequence[int],
    columns: Sequence[str],
    cache: RowCache | None = None,
    places: row_locator.Handle | None = None,
) -> pa.Table:
    """`event_id` plus `columns` of the events with these ids, in the order of `ids`.

    Ids that do not exist are left out. `columns` must be trusted names (callers check them
    against the schema). Rows in `cache` are not read again. `places`: the caller's locator
    (a pager keeps one), else one is looked up when the ids need it.
    """
    ids = np.asarray(ids, np.int64)
    if cache is not None and len(cache):
        found, cached = cache.lookup(ids)
        if cached is not None and found.all():
            return cached
        if cached is not None and found.any():
            rest = _fetch(cur, ids[~found], columns, places)
            both = pa.concat_tables([cached, rest.cast(cached.schema)])
            got = np.concatenate([ids[found], rest.column("event_id").to_numpy()])
            return both.take(pa.array(_positions(got, ids)))
    return _fetch(cur, ids, columns, places)


def _positions(got: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Rows of `got` holding each wanted id that is there, in the order of `wanted`."""
    if len(got) == 0:
        return np.zeros(0, np.int64)
    order = np.argsort(got, kind="stable")
    at = np.minimum(np.searchsorted(got[order], wanted), len(got) - 1)
    return order[at[got[order][at] == wanted]]


def _fetch(
    cur: duckdb.DuckDBPyConnection,
    ids: np.ndarray,
    columns: Sequence[str],
    places: row_locator.Handle | None = None,
) -> pa.Table:
    select = ", ".join(["event_id", *[c for c in columns if c != "event_id"]])
    runs = id_runs(ids)
    if len(runs) >= LOCATE_FROM_RUNS:
        located = _fetch_by_rowid(cur, ids, select, places or row_locator.Handle())
        if located is not None:
            return located
    # The runs' overall bounds first: DuckDB applies a single range as it scans, so the OR of
    # the runs is evaluated on fewer rows. A page of a case of small files has ~40 runs (a
    # file each): 200 rows at the middle of 1M events, ~10-12 -> ~8 ms.
    table = _read_ranges(cur, select, "event_id", runs, bounded=True)
    return table.take(pa.array(_positions(table.column("event_id").to_numpy(), ids)))


def _fetch_by_rowid(
    cur: duckdb.DuckDBPyConnection, ids: np.ndarray, select: str, places: row_locator.Handle
) -> pa.Table | None:
    """The rows of `ids` read by rowid ranges (`row_locator`), or None when the locator cannot
    place every id or the rows it pointed at hold other ids (then it is dropped)."""
    locator = places.get(cur)
    rowids = locator.rowids(ids) if locator is not None else None
    if locator is None or rowids is None:
        return None
    table = _read_ranges(cur, select, "rowid", id_runs(rowids, ROWID_GAP), bounded=False)
    got = table.column("event_id").to_numpy()
    at = _positions(got, ids)
    if len(at) != len(ids):
        places.drop(locator)
        return None
    return table.take(pa.array(at))


def _read_ranges(
    cur: duckdb.DuckDBPyConnection, select: str, column: str, runs: list[tuple[int, int]], bounded: bool
) -> pa.Table:
    """`select` of the rows whose `column` lies in one of `runs`, MAX_RANGES runs per query;
    `bounded`: the runs' overall bounds are named first."""
    parts = []
    for k in range(0, max(len(runs), 1), MAX_RANGES):
        chunk = runs[k : k + MAX_RANGES]
        where = " OR ".join([f"{column} BETWEEN ? AND ?"] * len(chunk)) or "false"
        params = [x for r in chunk for x in r]
        if bounded and len(chunk) > 1:
            where = f"{column} BETWEEN {int(chunk[0][0])} AND {int(chunk[-1][1])} AND ({where})"
        # cur.sql(...).to_arrow_table() hands over DuckDB's Arrow result without an extra copy.
        parts.append(cur.sql(f"SELECT {select} FROM events WHERE {where}", params=params).to_arrow_table())
    return pa.concat_tables(parts) if len(parts) > 1 else parts[0]
