"""Arrow data handed to DuckDB inside a long transaction without DuckDB keeping it.

Inside a transaction DuckDB keeps every Python object registered as a view alive until the
transaction ends, even after `unregister` and after the tables built from it are dropped
(measured: 36 MB of Arrow per 600k-line table, all of it held until COMMIT). An import is one
transaction, so every chunk's lines stayed in memory to the end: 1M S3 access-log lines in 13
chunks held 600 MB, and a bigger import would grow without bound. A reader that lets go of each
batch once DuckDB has read it leaves nothing behind to keep.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa


def read_once(table: pa.Table) -> pa.RecordBatchReader:
    """`table` as a stream DuckDB can read one time; each batch is released once read (how a
    statement's rows are cut into batches: `insert_batches`)."""
    batches = table.to_batches()
    schema = table.schema
    del table
    return batches_once(schema, batches)


def batches_once(schema: pa.Schema, batches: list[pa.RecordBatch]) -> pa.RecordBatchReader:
    """`batches` as a stream DuckDB can read one time, in this order; each batch is released
    once read (the list is emptied as it goes: pass a copy to read the same batches twice)."""

    def drain() -> Iterator[pa.RecordBatch]:
        while batches:
            yield batches.pop(0)

    return pa.RecordBatchReader.from_batches(schema, drain())
