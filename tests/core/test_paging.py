"""EventPager windows against a plain ORDER BY ... LIMIT/OFFSET reference at many positions."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest
from support.synthetic_case import build_synthetic_case

from viewer.core import paging
from viewer.core.case_file import CaseFile
from viewer.core.event_query import EventFilter, where_sql
from viewer.core.paging import EventPager

COLUMNS = ["ts", "action", "principal_id"]


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = build_synthetic_case(tmp_path_factory.mktemp("p") / "case.duckdb", 5_000, seed=7, chunk=700)
    c = CaseFile.open(path)
    yield c
    c.close()


@pytest.fixture(scope="module")
def tied_case(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Times truncated to the hour: many equal ts, so the event_id tiebreak carries the order."""
    path = build_synthetic_case(tmp_path_factory.mktemp("t") / "case.duckdb", 3_000, seed=8, chunk=500)
    c = CaseFile.open(path)
    c.cursor().execute("UPDATE events SET ts = date_trunc('hour', ts)")
    yield c
    c.close()


def _reference(case: CaseFile, f: EventFilter, start: int, n: int, desc: bool) -> list[int]:
    sql, params = where_sql(f, use_index=False)
    order = "ts DESC, event_id DESC" if desc else "ts, event_id"
    rows = case.cursor().execute(
        f"SELECT event_id FROM events WHERE {sql} ORDER BY {order} LIMIT ? OFFSET ?", [*params, n, start]
    )
    return [r[0] for r in rows.fetchall()]


FILTERS = [
    EventFilter(),
    EventFilter(text="-outcome:success"),
    EventFilter(text="source:aws_cloudtrail ip:10.1*"),
]


@pytest.mark.parametrize("k", [37, None], ids=["anchors", "auto"])
@pytest.mark.parametrize("desc", [False, True])
@pytest.mark.parametrize("filt", FILTERS, ids=["all", "failures", "aws_ip"])
@pytest.mark.parametrize("fixture", ["case", "tied_case"])
def test_windows_equal_offset_reference(
    fixture: str, filt: EventFilter, desc: bool, k: int | None, request: pytest.FixtureRequest
) -> None:
    """k=37 forces anchors everywhere; auto materializes filtered views (small here)."""
    case = request.getfixturevalue(fixture)
    pager = EventPager(case.cursor, filt, COLUMNS, descending=desc, use_index=False, k=k)
    total = pager.count()
    sql, params = where_sql(filt, use_index=False)
    assert total == case.cursor().execute(f"SELECT count(*) FROM events WHERE {sql}", params).fetchone()[0]
    assert total > 0
    starts = sorted({0, 1, 36, 37, 38, total // 3, total // 2, total - 201, total - 200, total - 5, total})
    for start in (s for s in starts if s >= 0):
        for n in (1, 50, 200):
            got = pager.page(start, n)
            assert got.column_names == ["event_id", *COLUMNS]
            assert got["event_id"].to_pylist() == _reference(case, filt, start, n, desc), (start, n)


def test_page_columns_come_from_the_same_rows(case: CaseFile) -> None:
    pager = EventPager(case.cursor, EventFilter(), COLUMNS, use_index=False, k=50)
    page = pager.page(1234, 20).to_pylist()
    for row in page:
        ref = (
            case.cursor()
            .execute("SELECT ts, action, principal_id FROM events WHERE event_id = ?", [row["event_id"]])
            .fetchone()
        )
        assert (row["ts"], row["action"], row["principal_id"]) == ref


@pytest.mark.parametrize("k", [13, None], ids=["anchors", "auto"])
@pytest.mark.parametrize("desc", [False, True])
@pytest.mark.parametrize("fixture", ["case", "tied_case"])
def test_row_of_matches_counting(
    fixture: str, desc: bool, k: int | None, request: pytest.FixtureRequest
) -> None:
    case = request.getfixturevalue(fixture)
    filt = EventFilter(text="-outcome:success")
    pager = EventPager(case.cursor, filt, ["ts"], descending=desc, use_index=False, k=k)
    cur = case.cursor()
    times = [r[0] for r in cur.execute("SELECT ts FROM events ORDER BY ts").fetchall()]
    probes = [
        times[0] - dt.timedelta(days=1),
        times[0],
        times[len(times) // 2],
        times[-1],
        times[-1] + dt.timedelta(seconds=1),
        times[777] + dt.timedelta(microseconds=1),
    ]
    for t in probes:
        op = ">" if desc else "<"
        expected = cur.execute(
            f"SELECT count(*) FROM events WHERE outcome <> 'success' AND ts {op} ?", [t]
        ).fetchone()[0]
        assert pager.row_of(t) == expected, t
        window = pager.page(pager.row_of(t), 1).to_pylist()
        if window:  # the row found is indeed the first at/after (before, descending) t
            assert (window[0]["ts"] <= t) if desc else (window[0]["ts"] >= t)


def test_empty_result_and_out_of_range(case: CaseFile) -> None:
    pager = EventPager(case.cursor, EventFilter(text="action:NoSuchAction"), COLUMNS, use_index=False)
    assert pager.count() == 0
    assert pager.page(0, 200).num_rows == 0
    assert pager.page(0, 200).column_names == ["event_id", *COLUMNS]
    assert pager.row_of(dt.datetime(2024, 3, 5, tzinfo=dt.UTC)) == 0
    full = EventPager(case.cursor, EventFilter(), COLUMNS, use_index=False)
    assert full.page(full.count() + 10, 5).num_rows == 0


def test_unknown_column_is_refused(case: CaseFile) -> None:
    with pytest.raises(ValueError):
        EventPager(case.cursor, EventFilter(), ["ts; DROP TABLE events"])


def test_adaptive_anchor_spacing(case: CaseFile, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a fixed K the spacing shrinks for selective filters; windows stay exact."""
    import viewer.core.paging as paging

    # Scale the 10M-row anchor spacing to 5k rows, and force anchors for the filtered view.
    monkeypatch.setattr(paging, "ANCHOR_SPAN_ROWS", 500)
    monkeypatch.setattr(paging, "MATERIALIZE_MAX", 10)
    filt = EventFilter(text="-outcome:success")
    pager = EventPager(case.cursor, filt, ["ts"], use_index=False)
    total = pager.count()
    for start in (0, total // 2, total - 200):
        assert pager.page(start, 200)["event_id"].to_pylist() == _reference(case, filt, start, 200, False)
    unfiltered = EventPager(case.cursor, EventFilter(), ["ts"], use_index=False)
    unfiltered.prepare()
    assert pager._k < unfiltered._k  # noqa: SLF001 - the point of the test


# -- persisted anchors of the unfiltered view ------------------------------------------------------
def _two_imports(c: CaseFile, shift: dt.timedelta) -> None:
    """Anchors for a first import, then a second import interleaved in time, merged incrementally."""
    cur = c.cursor()
    for stmt in paging.DDL:
        cur.execute(stmt)
    cur.execute("CREATE TEMP TABLE later AS SELECT * FROM events WHERE record_index >= 2500")
    cur.execute("DELETE FROM events WHERE record_index >= 2500")
    paging.update_anchors(cur)
    cur.execute("UPDATE later SET ts = ts - ?", [shift])
    cur.execute("INSERT INTO events SELECT * FROM later")
    assert paging.load_anchors(cur) is None  # stale until the import's update
    paging.update_anchors(cur)
    # DuckDB 2.0.1 answers ORDER BY ts DESC LIMIT 1 wrongly after DELETE + INSERT until a
    # checkpoint (the reference query, not the pager, went wrong here); see the report.
    cur.execute("CHECKPOINT")


@pytest.fixture(scope="module", params=["spread", "tied"])
def anchored(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Any:
    path = build_synthetic_case(tmp_path_factory.mktemp("a") / "case.duckdb", 6_000, seed=9, chunk=800)
    c = CaseFile.open(path)
    if request.param == "tied":
        c.cursor().execute("UPDATE events SET ts = date_trunc('hour', ts)")
    old = paging.STORED_K, paging.SPLIT_AT
    paging.STORED_K, paging.SPLIT_AT = 37, 74  # many anchors and splits at test scale
    try:
        _two_imports(c, dt.timedelta(days=6, seconds=11))
    finally:
        paging.STORED_K, paging.SPLIT_AT = old
    yield c
    c.close()


def test_stored_anchors_are_exact(anchored: CaseFile) -> None:
    cur = anchored.cursor()
    loaded = paging.load_anchors(cur)
    assert loaded is not None
    us, nb, total = loaded
    assert total == 6_000 and len(us) > 100 and np.all(np.diff(us) > 0)
    ts = np.sort(cur.execute("SELECT epoch_us(ts) AS t FROM events").fetchnumpy()["t"])
    assert np.array_equal(nb, np.searchsorted(ts, us, "left"))  # rows_before is exact
    assert np.diff(np.append(nb, total)).max() <= 74 or len(np.unique(ts)) < 6_000


@pytest.mark.parametrize("desc", [False, True])
@pytest.mark.parametrize(
    "filt",
    [
        EventFilter(),
        EventFilter(
            time_range=(dt.datetime(2024, 3, 4, 5, tzinfo=dt.UTC), dt.datetime(2024, 3, 19, tzinfo=dt.UTC))
        ),
    ],
    ids=["all", "time_range"],
)
def test_stored_windows_equal_offset_reference(anchored: CaseFile, filt: EventFilter, desc: bool) -> None:
    pager = EventPager(anchored.cursor, filt, COLUMNS, descending=desc, use_index=False)
    pager.prepare()
    assert pager._stored is not None  # noqa: SLF001 - the persisted path is the point of the test
    sql, params = where_sql(filt, use_index=False)
    total = pager.count()
    assert (
        total
        == anchored.cursor().execute(f"SELECT count(*) FROM events WHERE {sql}", params).fetchall()[0][0]
    )
    for start in sorted({0, 1, 36, 37, 38, 74, total // 3, total // 2, total - 201, total - 5, total}):
        for n in (1, 50, 200):
            got = pager.page(start, n)["event_id"].to_pylist()
            assert got == _reference(anchored, filt, start, n, desc), (start, n)


@pytest.mark.parametrize("desc", [False, True])
def test_stored_row_of_matches_counting(anchored: CaseFile, desc: bool) -> None:
    cur = anchored.cursor()
    pager = EventPager(anchored.cursor, EventFilter(), ["ts"], descending=desc, use_index=False)
    times = [r[0] for r in cur.execute("SELECT ts FROM events ORDER BY ts").fetchall()]
    for t in (
        times[0] - dt.timedelta(days=1),
        times[0],
        times[1234],
        times[-1],
        times[777] + dt.timedelta(microseconds=1),
    ):
        op = ">" if desc else "<"
        expected = cur.execute(f"SELECT count(*) FROM events WHERE ts {op} ?", [t]).fetchall()[0][0]
        assert pager.row_of(t) == expected, t


def test_incremental_anchors_serve_like_a_rebuild(anchored: CaseFile) -> None:
    cur = anchored.cursor()
    merged = paging.load_anchors(cur)
    cur.execute("BEGIN")
    try:
        cur.execute("DELETE FROM page_anchors_state")
        paging.update_anchors(cur)
        rebuilt = paging.load_anchors(cur)
        assert merged is not None and rebuilt is not None and merged[2] == rebuilt[2]
        ts = np.sort(cur.execute("SELECT epoch_us(ts) AS t FROM events").fetchnumpy()["t"])
        for us, nb, _ in (merged, rebuilt):
            assert np.array_equal(nb, np.searchsorted(ts, us, "left"))
        pager = EventPager(anchored.cursor, EventFilter(), COLUMNS, use_index=False)
        assert pager.page(2999, 300)["event_id"].to_pylist() == _reference(
            anchored, EventFilter(), 2999, 300, False
        )
    finally:
        cur.execute("ROLLBACK")
