"""The rollup keeps each hour's first and last times exact to the microsecond, stored split."""

from __future__ import annotations

from pathlib import Path

from tests.support.synthetic_case import build_synthetic_case
from viewer.core.case_file import CaseFile
from viewer.core.entities import builder


def test_rollup_first_and_last_times_equal_the_events_to_the_microsecond(tmp_path: Path) -> None:
    case = CaseFile.open(build_synthetic_case(tmp_path / "c.caseline", 20_000))
    cur = case.cursor()
    builder.update(cur)
    hour = 3_600_000_000
    expected = cur.execute(
        f"""SELECT hash(principal_id), epoch_us(ts) // {hour} * {hour} AS hour_us, count(*),
                   min(epoch_us(ts)), max(epoch_us(ts)) - min(epoch_us(ts))
            FROM events WHERE principal_id IS NOT NULL GROUP BY ALL ORDER BY ALL"""
    ).fetchall()
    got = cur.execute(
        """SELECT k, hour_us, sum(n), min(first_us), max(first_us + span_us) - min(first_us)
           FROM entity_rollup WHERE kind = 'principal_id' GROUP BY ALL ORDER BY ALL"""
    ).fetchall()
    assert got == expected
    # The synthetic times carry microseconds, and hours hold events seconds apart: both parts used.
    fractions, spans = cur.execute(
        "SELECT count(*) FILTER (WHERE first_frac <> 0), count(*) FILTER (WHERE span_s > 0) FROM entity_rollup_rows"
    ).fetchall()[0]
    assert fractions > 0 and spans > 0
    case.close()
