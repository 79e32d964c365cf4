"""Case files as an older Caseline wrote them, for upgrade tests."""

from __future__ import annotations

from pathlib import Path

import duckdb

from viewer.core.migrations import MIGRATIONS


def schema_1_case(path: Path) -> Path:
    """A case as the first Caseline wrote it: the first migration only, one event."""
    con = duckdb.connect(str(path))
    for sql in MIGRATIONS[0][1]:
        con.execute(sql)
    con.execute("INSERT INTO case_meta VALUES ('schema_version', '1')")
    con.execute(
        "INSERT INTO events (event_id, ts, source_type, provider, action, evidence_id, record_index, raw, dedup_key) "
        "VALUES (7, '2024-05-01 10:00:00+00', 'cloudtrail', 'aws', 'GetObject', 1, 6, '{\"a\": 1}', 42)"
    )
    con.close()
    return path
