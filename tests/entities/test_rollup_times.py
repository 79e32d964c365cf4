"""The rollup keeps each hour's first and last times exact to the microsecond, stored split."""

from __future__ import annotations

from pathlib import Path

from tests.support.synthetic_case import build_synthetic_case
from viewer.core.case_file import CaseFile
from viewer.core.entities import builder, panel_stats


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


def _out_of_order(cur) -> int:  # noqa: ANN001 - a DuckDB cursor
    """Rows of entity_rollup_rows that come before one of their kind they sort after in
    (day, key, hour) order, reading the table in its stored order."""
    return cur.execute(
        """SELECT count(*) FROM (
               SELECT kind, [hour // 24, hour] AS dh, k,
                      lag([hour // 24, hour]) OVER w AS prev_dh, lag(k) OVER w AS prev_k
               FROM entity_rollup_rows WINDOW w AS (PARTITION BY kind ORDER BY rowid))
            WHERE prev_k IS NOT NULL
              AND (dh[1] < prev_dh[1] OR (dh[1] = prev_dh[1] AND (k < prev_k OR (k = prev_k AND dh[2] <= prev_dh[2]))))"""
    ).fetchall()[0][0]


def test_rollup_rows_are_stored_by_day_then_key_and_compaction_keeps_the_sums(tmp_path: Path) -> None:
    """The layout that makes a key's hours of a day one run (DuckDB stores a run of equal values
    once): it holds after a build and after the rollup is re-summed, which changes no sum."""
    case = CaseFile.open(build_synthetic_case(tmp_path / "c.caseline", 20_000))
    cur = case.cursor()
    builder.update(cur)
    summed = """SELECT kind, k, hour_us, sum(n), min(first_us), max(first_us + span_us)
                FROM entity_rollup GROUP BY ALL ORDER BY ALL"""
    before = cur.execute(summed).fetchall()
    days, repeated = cur.execute(
        "SELECT count(DISTINCT hour // 24), count(*) - count(DISTINCT (kind, k, hour // 24)) FROM entity_rollup_rows"
    ).fetchall()[0]
    assert days >= 2 and repeated > 0  # keys with several hours in a day: the order is tested
    assert _out_of_order(cur) == 0
    panel_stats.compact(cur)
    assert _out_of_order(cur) == 0
    assert cur.execute(summed).fetchall() == before
    case.close()
