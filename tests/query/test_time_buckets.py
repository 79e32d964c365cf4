"""Bins by epoch arithmetic (common.epoch_floor_sql) equal DuckDB's time_bucket from the epoch."""

from __future__ import annotations

import duckdb
import pytest

from viewer.core.query.common import epoch_floor_sql
from viewer.core.query.kql.literals import interval_micros, interval_sql

TIMES = [
    "1969-12-31 23:58:00+00",  # before the epoch: rounds down, not toward zero
    "1970-01-01 00:00:00+00",
    "2024-05-01 10:59:59.999999+00",
    "2024-05-01 11:00:00+00",  # on a boundary
    "2024-02-29 23:59:59+00",
    None,
]


@pytest.mark.parametrize(
    "micros", [1, 1_000, 300_000_000, 3_600_000_000, 5_400_000_000, 86_400_000_000, 604_800_000_000]
)
def test_epoch_floor_equals_time_bucket(micros: int) -> None:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE TABLE t (ts TIMESTAMPTZ)")
    con.executemany("INSERT INTO t VALUES (?::TIMESTAMPTZ)", [[v] for v in TIMES])
    rows = con.execute(
        f"SELECT ts, {epoch_floor_sql('ts', micros)} AS mine, "
        f"time_bucket({interval_sql(micros)}, ts, TIMESTAMPTZ '1970-01-01 00:00:00+00') AS theirs FROM t"
    ).fetchall()
    assert [r[1] for r in rows] == [r[2] for r in rows]


def test_interval_micros_reads_back_interval_sql() -> None:
    for micros in (1, 999, 1_000, 60_000_000, 3_600_000_000, 90_000_000_000, -3_600_000_000):
        assert interval_micros(interval_sql(micros)) == micros
    assert interval_micros("INTERVAL 1 MONTH") is None
