"""Times before 1970 fall in the hour, day and timeline grain that hold them: DuckDB divides
integers towards zero, which put them in the interval after (`core.time_floor`)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import duckdb

from entities import stories
from viewer.core import derived
from viewer.core.case_file import CaseFile
from viewer.core.entities import actors, builder, pivots
from viewer.core.ingest import import_paths
from viewer.core.time_floor import floor_div_sql, floor_multiple_sql
from viewer.core.timeline_rollup import GRAIN_US

UTC = dt.UTC
HOUR = 3_600_000_000
TIMES = ["1969-12-31T22:10:00Z", "1969-12-31T23:59:59.500Z", "1970-01-01T00:00:00Z", "1970-01-01T00:30:00Z"]


def _us(when: str) -> int:
    t = dt.datetime.fromisoformat(when.replace("Z", "+00:00"))
    return (t - dt.datetime(1970, 1, 1, tzinfo=UTC)) // dt.timedelta(microseconds=1)


def test_floor_sql_rounds_down_as_python_does() -> None:
    values = [v + d for v in (-2 * HOUR, -HOUR, 0, HOUR, 5 * HOUR) for d in (-1, 0, 1, HOUR // 2)]
    con = duckdb.connect()
    got = con.execute(
        f"SELECT v, {floor_div_sql('v', HOUR)}, {floor_multiple_sql('v', HOUR)} FROM unnest(?::BIGINT[]) AS t(v)",
        [values],
    ).fetchall()
    assert got == [(v, v // HOUR, v // HOUR * HOUR) for v in values]


def test_events_before_1970_count_in_their_own_hour_and_grain(tmp_path: Path) -> None:
    records = [
        stories.ct(f"ev-{i}", when, stories._user(), "s3.amazonaws.com", "ListBuckets")
        for i, when in enumerate(TIMES)
    ]
    case = CaseFile.create(tmp_path / "old.caseline")
    import_paths(case, [stories.write_cloudtrail(tmp_path / "e" / "ct.json", records)])
    cur = case.cursor()
    builder.update(cur)
    actors.create_view(cur)
    expected_hours = sorted({_us(t) // HOUR * HOUR for t in TIMES})
    hours = cur.execute("SELECT DISTINCT hour_us FROM entity_rollup WHERE kind = 'ip' ORDER BY 1").fetchall()
    assert [h[0] for h in hours] == expected_hours
    # The whole hours 22:00-24:00 of 31 December 1969 hold two of the address's four events;
    # it has events after them, so the panel sums its rollup rows of those hours.
    start = dt.datetime(1969, 12, 31, 22, tzinfo=UTC)
    page = pivots.panel_rows(cur, "ip", (start, start + dt.timedelta(hours=2)))
    assert page.exact_from_tables and [(r.entity, r.events) for r in page.rows] == [(stories.ATTACKER_IP, 2)]
    with case.transaction(cur):
        derived.update_all(cur, only=["timeline_rollup"])
    grains = cur.execute(
        "SELECT t_us, sum(n) FROM timeline_rollup WHERE field = 'source_type' GROUP BY 1 ORDER BY 1"
    )
    expected = Counter(_us(t) // GRAIN_US * GRAIN_US for t in TIMES)
    assert grains.fetchall() == sorted(expected.items())
    case.close()
