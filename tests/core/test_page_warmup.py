"""Loading the table's columns ahead (`page_warmup`) on a real case file: DuckDB then holds their
blocks, pages read the same rows as from a cold connection, and a case over the budget is left
as it is."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from support.synthetic_case import build_synthetic_case

from viewer.core.case_file import CaseFile
from viewer.core.event_query import EventFilter
from viewer.core.page_warmup import warm_pages
from viewer.core.paging import EventPager
from viewer.schema import default_columns

COLUMNS = [f.name for f in default_columns()]


@pytest.fixture(scope="module")
def case_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_synthetic_case(tmp_path_factory.mktemp("warmup") / "warm.caseline", 100_000, seed=7)


def _table_memory(cur: duckdb.DuckDBPyConnection) -> int:
    rows = cur.execute("SELECT memory_usage_bytes FROM duckdb_memory() WHERE tag = 'BASE_TABLE'").fetchall()
    return int(rows[0][0]) if rows else 0


def _blocks_bytes(case_path: Path, columns: list[str]) -> int:
    """The distinct blocks holding `columns` in the file, read by a connection of its own."""
    con = duckdb.connect(str(case_path), read_only=True)
    try:
        names = ", ".join(f"'{c}'" for c in columns)
        blocks = con.execute(
            f"SELECT count(DISTINCT block_id) FROM pragma_storage_info('events') "
            f"WHERE block_id >= 0 AND column_name IN ({names})"
        ).fetchall()[0][0]
        size = con.execute("SELECT block_size FROM pragma_database_size()").fetchall()[0][0]
        return int(blocks) * int(size)
    finally:
        con.close()


def _pages(case: CaseFile, places: list[int]) -> list[list[dict]]:
    out = []
    for at in places:
        pager = EventPager(case.cursor, EventFilter(), COLUMNS)
        pager.prepare()
        out.append(pager.page(at, 200).to_pylist())
    return out


def test_warming_loads_the_blocks_of_the_shown_columns(case_path: Path) -> None:
    expected = _blocks_bytes(case_path, ["event_id", *COLUMNS])
    with CaseFile.open(case_path, read_only=True) as case:
        cur = case.cursor()
        before = _table_memory(cur)
        got = warm_pages(cur, COLUMNS)
        after = _table_memory(cur)
    assert got.loaded
    assert got.columns == ("event_id", *COLUMNS)
    assert got.bytes == expected > 0
    assert after - before >= expected  # every block of those columns now in DuckDB's memory


def test_pages_after_warming_hold_the_rows_of_a_cold_read(case_path: Path) -> None:
    places = [0, 31_337, 64_000, 99_800]
    with CaseFile.open(case_path, read_only=True) as case:
        cold = _pages(case, places)
    with CaseFile.open(case_path, read_only=True) as case:
        assert warm_pages(case.cursor(), COLUMNS).loaded
        warm = _pages(case, places)
    assert warm == cold
    assert [len(p) for p in warm] == [200, 200, 200, 200]


def test_a_case_over_the_budget_is_not_read(case_path: Path) -> None:
    with CaseFile.open(case_path, read_only=True) as case:
        cur = case.cursor()
        before = _table_memory(cur)
        got = warm_pages(cur, COLUMNS, budget=256 * 1024)
        assert not got.loaded and got.bytes > 256 * 1024
        assert _table_memory(cur) - before < got.bytes // 4  # the storage info only, no column data


def test_unknown_columns_are_refused(case_path: Path) -> None:
    with CaseFile.open(case_path, read_only=True) as case, pytest.raises(ValueError, match="unknown"):
        warm_pages(case.cursor(), ["ts; DROP TABLE events"])
