"""Parquet evidence (VPC Flow Logs delivered as Parquet): DuckDB reads the rows itself.

Each row becomes one record whose raw JSON holds the file's columns as they are typed there;
record_index is the row number in the file (0-based, like positions in a JSON array). Hive
partition folders (aws-region=...) are not added as columns: the raw record is the file's row.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


def _quote(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def unreadable_parquet(path: Path) -> str | None:
    """Why DuckDB could not read the file (checked before the statement, which a failure would
    abort along with the whole import), or None."""
    try:
        pq.read_metadata(path)
    except (pa.ArrowException, OSError) as exc:
        return f"not a readable Parquet file: {exc}"
    return None


def parquet_source_sql(files_table: str, paths: list[str]) -> str:
    """`(evidence_id, record_index, r)` over the rows of the files, r the row as a JSON object."""
    file_list = "[" + ", ".join(_quote(p) for p in paths) + "]"
    # The row as a struct without the two columns DuckDB adds: LATERAL over the subquery's row.
    return f"""
        SELECT m.evidence_id, s.rn::BIGINT AS record_index, to_json(t)::VARCHAR AS r
        FROM (
            SELECT filename AS fn, file_row_number AS rn, * EXCLUDE (filename, file_row_number)
            FROM read_parquet({file_list}, filename = true, file_row_number = true,
                hive_partitioning = false, union_by_name = true)
        ) s, LATERAL (SELECT s.* EXCLUDE (fn, rn)) t
        JOIN {files_table} m ON m.real_path = s.fn
    """
