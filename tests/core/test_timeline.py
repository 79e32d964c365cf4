"""Bucket counts: sums equal plain counts, top-N plus "other", NULLs under "(none)", nice widths."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest
from support.synthetic_case import build_synthetic_case

from viewer.core import timeline
from viewer.core.case_file import CaseFile
from viewer.core.event_query import EventFilter
from viewer.core.timeline import NICE_BUCKETS, NONE, OTHER, bucket_counts, nice_bucket, time_extent

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = build_synthetic_case(tmp_path_factory.mktemp("tl") / "case.duckdb", 8_000, seed=11)
    c = CaseFile.open(path)
    # Some NULLs so the "(none)" series has something to show.
    c.cursor().execute("UPDATE events SET region = NULL WHERE record_index % 17 = 0")
    yield c
    c.close()


def _epoch(t: dt.datetime) -> float:
    return (t - EPOCH).total_seconds()


@pytest.mark.parametrize("span_s", [0.5, 59, 3600, 86_400 * 30, 86_400 * 3650])
@pytest.mark.parametrize("max_buckets", [1, 10, 2000])
def test_nice_bucket_is_the_smallest_nice_width_that_fits(span_s: float, max_buckets: int) -> None:
    w = nice_bucket(span_s, max_buckets)
    assert span_s / w.total_seconds() <= max_buckets
    smaller = [b for b in NICE_BUCKETS if b < w]
    assert not smaller or span_s / smaller[-1].total_seconds() > max_buckets


def test_time_extent(case: CaseFile) -> None:
    cur = case.cursor()
    assert time_extent(cur) == tuple(cur.execute("SELECT min(ts), max(ts) FROM events").fetchone())
    assert time_extent(cur, EventFilter(text="action:NoSuchAction")) is None


@pytest.mark.parametrize("stack_by", ["source_type", "region", "outcome"])
@pytest.mark.parametrize("zoom", [None, dt.timedelta(days=2), dt.timedelta(hours=5)])
def test_bucket_sums_equal_counts(case: CaseFile, stack_by: str, zoom: dt.timedelta | None) -> None:
    """Full range and 2 days use the per-minute rollup plus edge minutes; 5 h (1 min buckets at
    500 max -> 1 min; 2000 -> 10 s) also exercises the direct SQL path below."""
    cur = case.cursor()
    first, last = time_extent(cur)
    start = first if zoom is None else first + dt.timedelta(days=10, minutes=7, seconds=13)
    end = last + dt.timedelta(seconds=1) if zoom is None else start + zoom
    buckets = 2000 if zoom == dt.timedelta(hours=5) else 500
    b = bucket_counts(cur, start, end, buckets, stack_by=stack_by, top_n=3)
    assert b.n <= buckets + 1
    assert b.edges[0] <= _epoch(start) and b.edges[-1] >= _epoch(end)
    assert np.allclose(np.diff(b.edges), b.bucket.total_seconds())
    n_range = cur.execute("SELECT count(*) FROM events WHERE ts >= ? AND ts < ?", [start, end]).fetchone()[0]
    assert b.total == n_range == int(b.totals().sum())
    per_cat = dict(
        cur.execute(
            f"SELECT coalesce({stack_by}::VARCHAR, '{NONE}'), count(*) FROM events "
            "WHERE ts >= ? AND ts < ? GROUP BY 1 ORDER BY 2 DESC, 1",
            [start, end],
        ).fetchall()
    )
    top = list(per_cat)[:3]
    assert [k for k in b.series if k != OTHER] == top
    for name in top:
        assert int(b.series[name].sum()) == per_cat[name]
    rest = sum(v for k, v in per_cat.items() if k not in top)
    assert int(b.series[OTHER].sum()) == rest if rest else OTHER not in b.series


def test_each_bucket_counts_its_own_interval(case: CaseFile) -> None:
    cur = case.cursor()
    first, last = time_extent(cur)
    b = bucket_counts(cur, first, last + dt.timedelta(seconds=1), 40, stack_by="region", top_n=20)
    assert NONE in b.series and OTHER not in b.series
    totals = b.totals()
    for i in (0, 5, len(totals) // 2, len(totals) - 1):
        lo = EPOCH + dt.timedelta(seconds=float(b.edges[i]))
        hi = EPOCH + dt.timedelta(seconds=float(b.edges[i + 1]))
        n = cur.execute(
            "SELECT count(*) FROM events WHERE ts >= greatest(?, ?) AND ts < least(?, ?)",
            [lo, first, hi, last + dt.timedelta(seconds=1)],
        ).fetchone()[0]
        assert totals[i] == n
    rows = b.to_rows()
    assert sum(c for _, _, c in rows) == b.total and all(c > 0 for _, _, c in rows)


def test_filter_applies(case: CaseFile) -> None:
    cur = case.cursor()
    first, last = time_extent(cur)
    b = bucket_counts(cur, first, last, 100, filt=EventFilter(text="-outcome:success"), stack_by="outcome")
    expected = cur.execute(
        "SELECT count(*) FROM events WHERE outcome <> 'success' AND ts < ?", [last]
    ).fetchone()[0]
    assert b.total == expected and "success" not in b.series


def test_stack_by_must_be_chartable(case: CaseFile) -> None:
    first, last = time_extent(case.cursor())
    with pytest.raises(ValueError, match="chartable"):
        bucket_counts(case.cursor(), first, last, 100, stack_by="principal_id")


def test_rollup_path_equals_plain_query(case: CaseFile) -> None:
    """The first request is a plain query, repeats slice the per-minute rollup: same numbers."""
    from viewer.core import timeline_cells

    cur = case.cursor()
    first, last = time_extent(cur)
    start, end = first + dt.timedelta(days=3, seconds=29), last - dt.timedelta(days=2, seconds=7)
    timeline_cells._ROLLUPS.clear()  # noqa: SLF001 - controlling the cache is the point of the test
    timeline_cells._SEEN.clear()  # noqa: SLF001
    plain = bucket_counts(cur, start, end, 300, stack_by="region", top_n=4)
    assert not timeline_cells._ROLLUPS  # noqa: SLF001
    again = [bucket_counts(cur, start, end, 300, stack_by="region", top_n=4) for _ in range(2)]
    assert timeline_cells._ROLLUPS  # noqa: SLF001
    for b in again:
        assert b.bucket == plain.bucket and np.array_equal(b.edges, plain.edges)
        assert list(b.series) == list(plain.series)
        for k in plain.series:
            assert np.array_equal(b.series[k], plain.series[k]), k


# -- the persisted rollup ---------------------------------------------------------------------------
def _split_import(c: CaseFile, shift: dt.timedelta, keep_below: int) -> None:
    """Turn a synthetic case into two imports: records from `keep_below` on are removed, the first
    import's rollup built, then re-appended (shifted in time so both imports interleave)."""
    cur = c.cursor()
    cur.execute(f"CREATE TEMP TABLE later AS SELECT * FROM events WHERE record_index >= {keep_below}")
    cur.execute(f"DELETE FROM events WHERE record_index >= {keep_below}")
    timeline.create_tables(cur)
    timeline.update_rollup(cur)
    cur.execute("UPDATE later SET ts = ts - ?", [shift])
    cur.execute("INSERT INTO events SELECT * FROM later")


@pytest.fixture(scope="module")
def rolled(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A case of two imports overlapping in time, its rollup updated incrementally."""
    path = build_synthetic_case(tmp_path_factory.mktemp("r") / "case.duckdb", 12_000, seed=3, chunk=1_500)
    c = CaseFile.open(path)
    c.cursor().execute("UPDATE events SET region = NULL WHERE record_index % 13 = 0")
    _split_import(c, dt.timedelta(days=9, seconds=17), keep_below=7_000)
    assert timeline.rollup_state(c.cursor()) is None  # stale: the second import is not counted yet
    timeline.update_rollup(c.cursor())
    yield c
    c.close()


def _grid(
    cur: Any, b: Any, stack_by: str, start: dt.datetime, end: dt.datetime
) -> dict[tuple[int, str], int]:
    """The plain GROUP BY the rollup must reproduce, keyed by (bucket index, category)."""
    origin, w = int(round(b.edges[0] * 1e6)), int(b.bucket.total_seconds() * 1e6)
    rows = cur.execute(
        f"""SELECT (epoch_us(ts) - ?) // ?, coalesce({stack_by}::VARCHAR, '{NONE}'), count(*)
            FROM events WHERE ts >= ? AND ts < ? GROUP BY ALL""",
        [origin, w, start, end],
    ).fetchall()
    return {(int(k), str(v)): int(n) for k, v, n in rows}


def _as_grid(b: Any) -> dict[tuple[int, str], int]:
    return {(i, k): int(v[i]) for k, v in b.series.items() for i in range(b.n) if v[i]}


@pytest.mark.parametrize("stack_by", ["source_type", "region", "read_only"])
def test_rollup_equals_plain_group_by_at_many_ranges(rolled: CaseFile, stack_by: str) -> None:
    cur = rolled.cursor()
    assert timeline.rollup_state(cur) is not None
    first, last = time_extent(cur)
    assert (first, last) == tuple(cur.execute("SELECT min(ts), max(ts) FROM events").fetchall()[0])
    rng = np.random.default_rng(5)
    spans = [dt.timedelta(seconds=s) for s in (30, 301, 3_599, 86_400, 5 * 86_400, 40 * 86_400)]
    used = 0
    for span in spans:
        for _ in range(6):
            start = first + dt.timedelta(microseconds=int(rng.integers(-(10**9), 25 * 86_400 * 10**6)))
            end = start + span
            for max_buckets in (7, 300, 2000):
                b = bucket_counts(cur, start, end, max_buckets, stack_by=stack_by, top_n=99)
                used += b.bucket.total_seconds() % 300 == 0
                assert _as_grid(b) == _grid(cur, b, stack_by, start, end), (start, span, max_buckets)
    assert used > 20  # the rollup path was exercised, not only the fallback


def test_rollup_with_time_range_filter_and_fallback(rolled: CaseFile) -> None:
    cur = rolled.cursor()
    first, _ = time_extent(cur)
    tr = (first + dt.timedelta(days=2, seconds=7), first + dt.timedelta(days=11, minutes=3))
    filt = EventFilter().with_time_range(tr)
    b = bucket_counts(cur, first, first + dt.timedelta(days=20), 400, stack_by="outcome", filt=filt, top_n=9)
    assert _as_grid(b) == _grid(cur, b, "outcome", *tr)
    other = bucket_counts(
        cur, first, first + dt.timedelta(days=20), 400, filt=EventFilter(text="-outcome:success")
    )
    n = cur.execute(
        "SELECT count(*) FROM events WHERE outcome <> 'success' AND ts < ?", [first + dt.timedelta(days=20)]
    )
    assert other.total == n.fetchall()[0][0]


def test_incremental_rollup_equals_rebuild(rolled: CaseFile, monkeypatch: pytest.MonkeyPatch) -> None:
    cur = rolled.cursor()
    q = "SELECT field, value, t_us, sum(n) FROM timeline_rollup GROUP BY ALL ORDER BY ALL"
    incremental = cur.execute(q).fetchall()
    state = cur.execute("SELECT * FROM timeline_rollup_state").fetchall()
    cur.execute("BEGIN")
    try:
        cur.execute("DELETE FROM timeline_rollup_state")
        timeline.update_rollup(cur)
        assert cur.execute(q).fetchall() == incremental
        assert cur.execute("SELECT * EXCLUDE (batches) FROM timeline_rollup_state").fetchall() == [
            s[:-1] for s in state
        ]
        monkeypatch.setattr(timeline, "COMPACT_AFTER", 1)
        cur.execute(
            "INSERT INTO timeline_rollup SELECT * FROM timeline_rollup"
        )  # doubled: compaction must not
        cur.execute("DELETE FROM timeline_rollup")  # hide a bad sum, so start clean
        cur.execute("DELETE FROM timeline_rollup_state")
        timeline.update_rollup(cur)
        timeline.update_rollup(cur)  # nothing new: appends nothing, compacts
        assert cur.execute(q).fetchall() == incremental
        assert cur.execute("SELECT count(*) FROM timeline_rollup").fetchall() == [(len(incremental),)]
    finally:
        cur.execute("ROLLBACK")


@pytest.mark.parametrize(
    "align", [dt.timedelta(hours=5, minutes=30), dt.timedelta(hours=-3), dt.timedelta(0)]
)
@pytest.mark.parametrize("text", ["", "-outcome:success"])  # the rollup, then the events
def test_bars_start_on_the_display_zones_midnights_and_count_exactly(
    case: CaseFile, align: dt.timedelta, text: str
) -> None:
    """A day's bar starts at the midnight of the zone the window shows, whichever path counts it,
    and each bar still counts exactly the events of its own interval."""
    cur = case.cursor()
    first, last = time_extent(cur)
    end = last + dt.timedelta(seconds=1)
    filt = EventFilter(text=text) if text else None
    for max_buckets in (40, 400):
        b = bucket_counts(cur, first, end, max_buckets, stack_by="region", filt=filt, top_n=20, align=align)
        width = b.bucket.total_seconds()
        assert round(b.edges[0] + align.total_seconds()) % round(width) == 0
        assert b.edges[0] <= _epoch(first) < b.edges[0] + width
        where = "AND outcome <> 'success'" if text else ""
        assert b.total == cur.execute(f"SELECT count(*) FROM events WHERE true {where}").fetchone()[0]
        totals = b.totals()
        for i in (0, 1, len(totals) // 2, len(totals) - 1):
            lo = EPOCH + dt.timedelta(seconds=float(b.edges[i]))
            hi = EPOCH + dt.timedelta(seconds=float(b.edges[i + 1]))
            n = cur.execute(
                f"SELECT count(*) FROM events WHERE ts >= ? AND ts < ? {where}", [lo, min(hi, end)]
            ).fetchone()[0]
            assert totals[i] == n
