"""Serial inserts: ordered rows, whole row groups, no free blocks left in the file, settings kept."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from viewer.core.case_file import CaseFile
from viewer.core.serial_insert import insert_serially

# Statements of the sizes the correlation build writes (rows per entity kind, 1M events).
SIZES = [1300, 1600, 160, 199_000, 66_800, 500, 199_000, 500, 199_000, 955_000, 660]


def _settings(cur: duckdb.DuckDBPyConnection) -> tuple[str, str]:
    return tuple(  # type: ignore[return-value]
        cur.execute(
            "SELECT current_setting('threads')::VARCHAR, current_setting('preserve_insertion_order')::VARCHAR"
        ).fetchall()[0]
    )


def _fill(cur: duckdb.DuckDBPyConnection) -> None:
    cur.execute("CREATE TABLE t (kind VARCHAR, k UBIGINT, hour_us BIGINT, n BIGINT)")
    cur.execute("BEGIN")
    for i, n in enumerate(SIZES):
        # Source rows in no useful order: the ORDER BY decides the stored order.
        cur.execute(
            f"""CREATE OR REPLACE TEMP TABLE b AS
                SELECT hash(range) AS k, (hash(range) % 167)::BIGINT * 3600000000 AS hour_us, range % 7 AS n
                FROM range({n})"""
        )
        insert_serially(cur, f"INSERT INTO t SELECT 'kind{i:02d}', k, hour_us, n FROM b ORDER BY hour_us")
    cur.execute("COMMIT")
    cur.execute("CHECKPOINT")


def test_rows_are_stored_in_select_order_in_whole_row_groups_and_no_free_block(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "t.duckdb"))
    con.execute("SET memory_limit = '1GB'")
    before = _settings(con)
    _fill(con)
    inversions = con.execute(
        """SELECT count(*) FROM (
               SELECT kind, hour_us, lag(kind) OVER (ORDER BY rowid) AS pk, lag(hour_us) OVER (ORDER BY rowid) AS ph
               FROM t)
           WHERE kind < pk OR (kind = pk AND hour_us < ph)"""
    ).fetchall()[0][0]
    assert inversions == 0
    assert con.execute("SELECT count(*) FROM t").fetchall()[0][0] == sum(SIZES)
    groups = [
        r[0]
        for r in con.execute(
            """SELECT sum(count) FROM pragma_storage_info('t')
               WHERE column_name = 'k' AND segment_type <> 'VALIDITY' GROUP BY row_group_id ORDER BY row_group_id"""
        ).fetchall()
    ]
    assert all(g == 122_880 for g in groups[:-1]), groups
    assert con.execute("SELECT free_blocks FROM pragma_database_size()").fetchall()[0][0] == 0
    assert _settings(con) == before
    con.close()


def test_a_failed_insert_leaves_the_settings_as_they_were_once_rolled_back(tmp_path: Path) -> None:
    case = CaseFile.create(tmp_path / "c.caseline")
    cur = case.cursor()
    before = _settings(cur)
    cur.execute("CREATE TABLE t (x INTEGER NOT NULL)")
    with pytest.raises(duckdb.ConstraintException), case.transaction(cur):
        insert_serially(
            cur, "INSERT INTO t SELECT CASE WHEN range = 5 THEN NULL ELSE range END FROM range(10)"
        )
    assert _settings(cur) == before
    assert cur.execute("SELECT count(*) FROM t").fetchall()[0][0] == 0
    case.close()
