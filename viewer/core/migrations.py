"""Numbered schema migrations of the case file.

Never edit a released migration: add a new one. `SCHEMA_VERSION` is the newest version this code
writes and reads; a case with a higher number was written by a newer Caseline and is refused.
"""

from __future__ import annotations

from viewer.schema import ALL_EVENT_FIELDS, RAW


def _events_ddl() -> str:
    cols = []
    for f in ALL_EVENT_FIELDS:
        if f is RAW:
            # zstd keeps the raw records near the size of the gzipped evidence (measured 1.2x);
            # DuckDB's default string compression gets ~2:1 where gzip gets ~8:1.
            cols.append("raw JSON USING COMPRESSION zstd NOT NULL")
        elif f.name in ("event_id", "source_type", "provider", "evidence_id", "record_index"):
            # ts is not declared NOT NULL: an import inserts first and moves rows without a time
            # out to import_warnings before it commits, so no committed row has a NULL ts.
            cols.append(f"{f.name} {f.sql_type} NOT NULL")
        else:
            cols.append(f"{f.name} {f.sql_type}")
    # dedup_key picks candidate duplicates cheaply: a 64-bit hash of the record's natural id
    # (eventID...) or, without one, of its raw text. A candidate is only dropped after its raw
    # record compared equal (as JSON, whatever the formatting) to an earlier one.
    cols.append("dedup_key UBIGINT NOT NULL")
    return "CREATE TABLE events (\n  " + ",\n  ".join(cols) + "\n)"


_V1 = [
    "CREATE TABLE case_meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
    """CREATE TABLE imports (
        import_id INTEGER PRIMARY KEY,
        started_at TIMESTAMPTZ NOT NULL,
        finished_at TIMESTAMPTZ,
        kind VARCHAR NOT NULL,          -- 'file' | 'live:<api>'
        params JSON,                    -- what was asked: paths, forced format; never secrets
        os_user VARCHAR,
        tool_version VARCHAR NOT NULL,
        records_seen BIGINT, records_kept BIGINT, records_rejected BIGINT, records_duplicate BIGINT
    )""",
    """CREATE TABLE evidence (
        evidence_id INTEGER PRIMARY KEY,
        import_id INTEGER NOT NULL,
        path VARCHAR NOT NULL,          -- as the user gave it (plus the member name inside an archive)
        rel_path VARCHAR,               -- below the folder or archive that was imported
        container_id INTEGER,           -- the archive it came out of
        role VARCHAR NOT NULL,          -- events | digest | container | unknown | rejected
        format VARCHAR,
        sha256 VARCHAR NOT NULL,
        size_bytes BIGINT NOT NULL,
        records_seen BIGINT NOT NULL DEFAULT 0,
        records_kept BIGINT NOT NULL DEFAULT 0,
        records_rejected BIGINT NOT NULL DEFAULT 0,
        records_duplicate BIGINT NOT NULL DEFAULT 0,
        uid_conflicts BIGINT NOT NULL DEFAULT 0,
        first_ts TIMESTAMPTZ, last_ts TIMESTAMPTZ,
        importer_version VARCHAR NOT NULL,
        imported_at TIMESTAMPTZ NOT NULL,
        note VARCHAR
    )""",
    _events_ddl(),
    """CREATE TABLE import_warnings (
        import_id INTEGER NOT NULL,
        evidence_id INTEGER,
        path VARCHAR NOT NULL,
        position BIGINT,                -- record index, line number or byte offset (see position_kind)
        position_kind VARCHAR,          -- record | line | byte
        reason VARCHAR NOT NULL
    )""",
    """CREATE TABLE activity_log (
        logged_at TIMESTAMPTZ NOT NULL,
        os_user VARCHAR,
        tool_version VARCHAR NOT NULL,
        action VARCHAR NOT NULL,
        detail JSON
    )""",
]

MIGRATIONS: list[tuple[int, list[str]]] = [(1, _V1)]
SCHEMA_VERSION = MIGRATIONS[-1][0]
