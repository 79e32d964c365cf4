"""Pages read by rowid (`row_locator`) on a case imported from many small files, as a CloudTrail
bucket delivers them: the same rows as the event-id path and the ORDER BY reference, and a
locator that points at moved rows is noticed and dropped, never trusted."""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.import_evidence import records, write_gz

from viewer.core import row_fetch, row_locator
from viewer.core.case_file import CaseFile
from viewer.core.entities import builder, panel_query, pivots
from viewer.core.event_query import EventFilter
from viewer.core.ingest import import_paths
from viewer.core.paging import EventPager

FILES = 40
PER_FILE = 50
COLUMNS = ["ts", "action", "principal_id", "src_ip"]


def _bucket(folder: Path) -> list[Path]:
    """FILES files of PER_FILE records whose times interleave: record j of file i is at second
    j * FILES + i, so any 200 consecutive events come from every file."""
    base = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
    paths = []
    for i in range(FILES):
        recs = records(PER_FILE, start=i * PER_FILE, account=f"{100000000000 + i}")
        for j, r in enumerate(recs):
            r["eventTime"] = (base + dt.timedelta(seconds=j * FILES + i)).strftime("%Y-%m-%dT%H:%M:%SZ")
        paths.append(write_gz(folder / f"{i:03d}.json.gz", recs))
    return paths


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("bucket")
    paths = _bucket(root / "evidence")
    c = CaseFile.create(root / "case.caseline")
    import_paths(c, paths[: FILES // 2])
    # A second import holding the records of two files already imported, compressed anew (so
    # not the same files: their records are dropped as duplicates, leaving holes among the
    # rows), and the other half of the bucket.
    copies = []
    for i in (3, 7):
        copies.append(root / "again" / f"copy{i}.json.gz")
        copies[-1].parent.mkdir(parents=True, exist_ok=True)
        copies[-1].write_bytes(gzip.compress(gzip.decompress(paths[i].read_bytes()), compresslevel=1))
    report = import_paths(c, copies + paths[FILES // 2 :])
    assert sum(f.counts.duplicate for f in report.files) == 2 * PER_FILE
    yield c
    c.close()


def _reference(c: CaseFile, start: int, n: int) -> list[tuple]:
    rows = c.cursor().execute(
        f"SELECT event_id, {', '.join(COLUMNS)} FROM events ORDER BY ts, event_id LIMIT ? OFFSET ?",
        [n, start],
    )
    return rows.fetchall()


def test_the_runs_place_every_event(case: CaseFile) -> None:
    cur = case.cursor()
    locator = row_locator.locate(cur)
    assert locator is not None
    got = cur.execute("SELECT event_id, rowid AS r FROM events").fetchnumpy()
    assert len(got["event_id"]) == FILES * PER_FILE
    np.testing.assert_array_equal(locator.rowids(got["event_id"]), got["r"])
    # A run per file at least; a file split between two threads' row groups gives two.
    assert len(locator.lo) >= FILES


@pytest.mark.parametrize("start", [0, 137, 900, 1_801])
def test_pages_by_rowid_equal_the_reference(
    case: CaseFile, start: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    pager = EventPager(case.cursor, EventFilter(), COLUMNS)
    ids = np.asarray([r[0] for r in _reference(case, start, 200)], np.int64)
    assert len(row_fetch.id_runs(ids)) >= row_fetch.LOCATE_FROM_RUNS  # the rowid path is taken
    used: list[bool] = []
    real = row_fetch._fetch_by_rowid
    monkeypatch.setattr(
        row_fetch, "_fetch_by_rowid", lambda *a: (t := real(*a)) is not None and used.append(True) or t
    )
    page = pager.page(start, 200)
    assert used == [True]
    rows = list(zip(*[page.column(c).to_pylist() for c in ["event_id", *COLUMNS]], strict=True))
    assert rows == _reference(case, start, 200)


def test_a_locator_pointing_at_moved_rows_is_dropped(case: CaseFile) -> None:
    cur = case.cursor()
    ids = np.asarray([r[0] for r in _reference(case, 500, 200)], np.int64)
    right = row_fetch._fetch(cur, ids, COLUMNS)
    good = row_locator.locate(cur)
    assert good is not None
    # As if a checkpoint had moved every row by one: the rows read hold other ids.
    moved = dataclasses.replace(good, shift=good.shift + 1)
    for attempt in range(2):
        row_locator._cache[good.key] = moved
        assert row_fetch._fetch(cur, ids, COLUMNS).equals(right)  # read again by event id
        assert good.key not in row_locator._cache
        # Rebuilt once; a locator of the same events found wrong twice is not built again.
        assert (row_locator.locate(cur) is None) == (attempt == 1)
    row_locator._distrusted.discard(good.key)
    row_locator._rebuilt.discard(good.key)


def test_ids_outside_every_run_are_left_out(case: CaseFile) -> None:
    cur = case.cursor()
    ids = np.asarray([r[0] for r in _reference(case, 0, 50)], np.int64)
    unknown = np.asarray([int(ids.max()) + (1 << 40) + k for k in range(10)], np.int64)
    locator = row_locator.locate(cur)
    assert locator is not None and locator.rowids(unknown) is None
    got = row_fetch._fetch(cur, np.concatenate([ids, unknown]), COLUMNS)
    assert got.column("event_id").to_pylist() == ids.tolist()


def test_the_import_stores_the_runs_and_wrong_ones_are_not_trusted(case: CaseFile) -> None:
    cur = case.cursor()
    stored = cur.execute("SELECT lo, hi, shift FROM row_runs ORDER BY lo").fetchall()
    built = cur.execute(row_locator.RUNS_SQL).fetchall()
    assert stored == built and len(stored) >= FILES
    ids = np.asarray([r[0] for r in _reference(case, 1_000, 200)], np.int64)
    right = row_fetch._fetch(cur, ids, COLUMNS)
    cur.execute("UPDATE row_runs SET shift = shift + 1")  # as if rows had moved since the import
    try:
        row_locator._cache.clear()
        stale = row_locator.locate(cur)
        assert stale is not None and stale.rowids(ids) is not None
        assert not np.array_equal(stale.shift, np.asarray([r[2] for r in built]))  # read from row_runs
        assert row_fetch._fetch(cur, ids, COLUMNS).equals(right)
        rebuilt = row_locator.locate(cur)  # now from the events themselves
        assert rebuilt is not None and rebuilt.shift.tolist() == [r[2] for r in built]
        assert row_fetch._fetch(cur, ids, COLUMNS).equals(right)
    finally:
        cur.execute("UPDATE row_runs SET shift = shift - 1")
        row_locator._cache.clear()
        row_locator._rebuilt.clear()


@pytest.mark.parametrize("kind", ["cloud_account", "ip", "action"])
def test_panel_edges_read_by_rowid_equal_the_events(
    case: CaseFile, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pivot panel over part of an hour counts the edge events themselves: found through the
    time order, read by rowid (they come from every file), the same rows as counting `events`."""
    cur = case.cursor()
    base = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
    used: list[bool] = []
    real = panel_query._by_rowid
    monkeypatch.setattr(
        panel_query, "_by_rowid", lambda *a: (w := real(*a)) is not None and used.append(True) or w
    )
    for span in [
        (base + dt.timedelta(seconds=95), base + dt.timedelta(seconds=1_530)),
        (base, base + dt.timedelta(hours=2)),
    ]:
        fast = pivots.panel_rows(cur, kind, span, "", "events", True, 50, 0)
        with monkeypatch.context() as m:
            m.setattr(builder, "is_ready", lambda *a, **k: False)  # counted from the events
            slow = pivots.panel_rows(cur, kind, span, "", "events", True, 50, 0)
        assert fast.exact_from_tables and not slow.exact_from_tables
        assert fast.rows == slow.rows and fast.total_entities == slow.total_entities
        assert sum(r.events for r in fast.rows) > 0
    assert used  # the edges were read by rowid
