"""Arrow tables handed to DuckDB inside a transaction: a read-once stream is not kept to the end."""

from __future__ import annotations

import duckdb
import pyarrow as pa

from viewer.core.arrow_once import read_once


def _lines(n: int) -> pa.Table:
    parts = [
        pa.array([f"line {i} of part {p}, long enough to be stored out of line" for i in range(n)])
        for p in range(2)
    ]
    lines = pa.chunked_array(parts).combine_chunks()  # allocated in Arrow's pool, like lines_table
    return pa.Table.from_batches(pa.table({"line": lines}).to_batches(max_chunksize=10_000))


def _stage_three(cur: duckdb.DuckDBPyConnection, wrap) -> int:  # type: ignore[no-untyped-def]
    """Stage three tables the way an import stages its chunks; Arrow bytes still held at the end."""
    base = pa.total_allocated_bytes()
    for _ in range(3):
        cur.register("x_arrow", wrap(_lines(50_000)))
        cur.execute("CREATE OR REPLACE TEMP TABLE x AS SELECT * FROM x_arrow")
        cur.unregister("x_arrow")
        assert cur.execute("SELECT count(*), count(DISTINCT line) FROM x").fetchall() == [(100_000, 100_000)]
        cur.execute("DROP TABLE x")
    return pa.total_allocated_bytes() - base


def test_a_read_once_stream_is_released_inside_the_transaction() -> None:
    one = _lines(50_000).nbytes
    cur = duckdb.connect().cursor()
    cur.execute("BEGIN")
    assert _stage_three(cur, read_once) < one / 10
    # Why it exists: a registered table is kept by the transaction until it ends.
    assert _stage_three(cur, lambda t: t) > 2 * one
    cur.execute("COMMIT")
    assert pa.total_allocated_bytes() < one / 10


def test_read_once_keeps_every_row_in_order() -> None:
    table = _lines(25_000)
    cur = duckdb.connect().cursor()
    cur.register("s", read_once(table))
    got = [r[0] for r in cur.execute("SELECT line FROM s").fetchall()]
    assert got == table.column("line").to_pylist()
