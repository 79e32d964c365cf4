"""Inserting ordered rows into a case table without leaving free blocks in the file.

Why: an `INSERT ... SELECT` that must keep its rows' order runs as DuckDB's batch insert. Each
thread writes the row groups of its batches to the file as they fill (before the commit), a
part-filled one at each batch's end; the statement's groups and the next statement's rows
appended to its last one are then rewritten whole when the transaction commits, and the blocks
first written stay in the file as free space until later writes reuse them. The correlation
build of a fresh case (1M CloudTrail events: ~30 INSERTs into `entity_rollup` and
`entity_totals`) left 37 free blocks of 256 KB, 9.25 MiB of a 299 MiB case; the deferred
index build another 26.

On one thread without `preserve_insertion_order`, DuckDB runs a plain insert instead: rows are
appended in the order the SELECT produces them (its ORDER BY included, or a table's scan
order), into one row group after the other, each written once when full. Measured on the
rollup's statements: no free block, the same order, ~1.5x the time of the parallel insert
(sorting and compressing on one core: +0.3 s for 1.6M rows).
"""

from __future__ import annotations

import duckdb

#: Threads to restore per cursor (by id) whose serial insert failed: its transaction is aborted,
#: where a SET fails too, so `CaseFile.transaction` restores them once it has rolled back.
_owed: dict[int, int] = {}


def insert_serially(cur: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Run the INSERT `sql` on one thread, rows in the order its SELECT gives them."""
    threads = int(cur.execute("SELECT current_setting('threads')").fetchall()[0][0])
    cur.execute("SET preserve_insertion_order = false")
    cur.execute("SET threads = 1")
    try:
        cur.execute(sql)
    except BaseException:
        try:
            _restore(cur, threads)
        except duckdb.TransactionException:
            _owed[id(cur)] = threads
        raise
    _restore(cur, threads)


def settle(cur: duckdb.DuckDBPyConnection) -> None:
    """After a rollback: the settings a failed `insert_serially` of this cursor left changed."""
    threads = _owed.pop(id(cur), None)
    if threads is not None:
        _restore(cur, threads)


def _restore(cur: duckdb.DuckDBPyConnection, threads: int) -> None:
    cur.execute(f"SET threads = {threads}")
    # Everything else in a case relies on it: stages numbered by row id, tables stored sorted.
    cur.execute("SET preserve_insertion_order = true")
