"""The persisted time order brought up to date by an import: only the rows from the import's
earliest event on are rewritten when that keeps most of the table, the whole order re-sorted
otherwise, and either way it equals a sort of every event."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.support.import_evidence import records, write_gz
from tests.support.synthetic_case import build_synthetic_case
from viewer.core import time_order
from viewer.core.case_file import CaseFile
from viewer.core.ingest import import_paths


def _matches_a_full_sort(case: CaseFile) -> None:
    cur = case.cursor()
    stored = cur.execute("SELECT pos, ts, event_id FROM time_order").fetchall()  # storage order
    ref = cur.execute(
        "SELECT row_number() OVER (ORDER BY ts, event_id) - 1, ts, event_id FROM events ORDER BY 1"
    ).fetchall()
    assert stored == ref  # also stored in pos order
    anchors = cur.execute("SELECT pos, ts FROM page_anchors").fetchall()
    assert anchors == [(p, t) for p, t, _ in ref if p % time_order.ANCHOR_EVERY == 0]
    assert time_order.load(cur) is not None


def test_imports_later_overlapping_and_earlier_keep_the_order_exact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(time_order, "ANCHOR_EVERY", 37)  # many anchors at test scale
    places: list[int | None] = []
    merge = time_order._merge_tail

    def spy(cur, stored):  # type: ignore[no-untyped-def]
        places.append(merge(cur, stored))
        return places[-1]

    monkeypatch.setattr(time_order, "_merge_tail", spy)
    imports = [
        records(3000),  # the first import: nothing stored yet, a sort
        records(1000, 3000),  # all after it: appended, nothing rewritten
        records(500, 3800, account="444455556666"),  # over the last 200 and after: the tail merged
        records(200, 0, account="777788889999"),  # before everything: re-sorted whole
    ]
    with CaseFile.create(tmp_path / "case.caseline") as case:
        for n, recs in enumerate(imports):
            report = import_paths(case, [write_gz(tmp_path / f"{n}.json.gz", recs)])
            assert report.total("kept") == len(recs)
            _matches_a_full_sort(case)
    # The first import finds no stored order; the tail merge starts at the first new event's row:
    # 3,801 rows of the earlier imports come before the third one's first event (the 3,801st has
    # the same time and the smaller id).
    assert places == [None, 3000, 3801, None]


def test_stored_halves_give_microsecond_times_back_and_bounds_select_exactly(tmp_path: Path) -> None:
    case = CaseFile.open(build_synthetic_case(tmp_path / "s.caseline", 5000))  # times with microseconds
    cur = case.cursor()
    time_order.update(cur)
    _matches_a_full_sort(case)
    assert cur.execute("SELECT count(*) FROM time_order_rows WHERE ts_frac <> 0").fetchall()[0][0] > 0
    lo, hi = cur.execute("SELECT epoch_us(min(ts)), epoch_us(max(ts)) FROM events").fetchall()[0]
    rng = random.Random(7)
    # Bounds on events' own times, a microsecond after them and at the start of their second:
    # an interval then starts or ends inside a second that holds events on both sides.
    times = [r[0] for r in cur.execute("SELECT epoch_us(ts) FROM events").fetchall()]
    picked = rng.sample(times, 8)
    cuts = [lo, hi + 1, *picked, *(t + 1 for t in picked), *(t // 1_000_000 * 1_000_000 for t in picked)]
    rng.shuffle(cuts)
    for a, b in zip(cuts, cuts[1:] + cuts[:1], strict=True):
        a, b = min(a, b), max(a, b)
        got = cur.execute(
            f"SELECT event_id FROM time_order WHERE {time_order.ts_bounds_sql(a, b)} ORDER BY 1"
        ).fetchall()
        want = cur.execute(
            "SELECT event_id FROM events WHERE ts >= make_timestamptz(?::BIGINT) "
            "AND ts < make_timestamptz(?::BIGINT) ORDER BY 1",
            [a, b],
        ).fetchall()
        assert got == want, (a, b)
    # Before 1970 too: the halves add up, and the seconds never decrease as the time grows.
    values = [-1_500_001, -1_000_000, -999_999, -1, 0, 1, 999_999, 1_000_000, 1_500_001]
    rows = cur.execute(
        f"""SELECT us, ts_s, ts_s * 1000000 + ts_frac FROM (
                SELECT us, {time_order._STORED}
                FROM (SELECT unnest(?::BIGINT[]) AS us, make_timestamptz(us) AS ts, 0::BIGINT AS event_id))
            ORDER BY us""",
        [values],
    ).fetchall()
    assert [r[2] for r in rows] == [r[0] for r in rows]
    assert [r[1] for r in rows] == sorted(r[1] for r in rows)
    case.close()
