"""Numbered schema migrations of the case file.

Never edit a released migration: add a new one. `SCHEMA_VERSION` is the newest version this code
writes and reads; a case with a higher number was written by a newer Caseline and is refused.
"""

from __future__ import annotations

from viewer.schema import ALL_EVENT_FIELDS

# The events table as schema 1 created it; later schemas add columns with ALTER TABLE, so an
# old case and a new one end up with the same columns. zstd keeps the raw records near the size
# of the gzipped evidence (measured 1.2x); DuckDB's default string compression gets ~2:1 where
# gzip gets ~8:1. ts may be NULL while an import runs: rows without a time move to
# import_warnings before it commits. dedup_key picks candidate duplicates cheaply: a 64-bit hash
# of the record's natural id (eventID...) or, without one, of its raw text; a candidate is only
# dropped after its raw record compared equal (as JSON) to an earlier one.
_EVENTS_V1 = """CREATE TABLE events (
  event_id BIGINT NOT NULL,
  ts TIMESTAMPTZ,
  ts_end TIMESTAMPTZ,
  source_type VARCHAR NOT NULL,
  provider VARCHAR NOT NULL,
  event_uid VARCHAR,
  log_name VARCHAR,
  event_class VARCHAR,
  service VARCHAR,
  action VARCHAR,
  outcome VARCHAR,
  error_code VARCHAR,
  error_message VARCHAR,
  read_only BOOLEAN,
  principal_type VARCHAR,
  principal_id VARCHAR,
  principal_name VARCHAR,
  principal_account VARCHAR,
  credential_id VARCHAR,
  session_issuer VARCHAR,
  session_id VARCHAR,
  source_identity VARCHAR,
  src_ip VARCHAR,
  user_agent VARCHAR,
  target_type VARCHAR,
  target_id VARCHAR,
  target_name VARCHAR,
  cloud_account VARCHAR,
  region VARCHAR,
  correlation_id VARCHAR,
  evidence_id INTEGER NOT NULL,
  record_index BIGINT NOT NULL,
  uid_conflict BOOLEAN,
  raw JSON USING COMPRESSION zstd NOT NULL,
  dedup_key UBIGINT NOT NULL
)"""


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
    _EVENTS_V1,
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

# Schema 2: the columns network, finding and delivery-time sources fill (formats.md 2.2).
_V2 = [
    f"ALTER TABLE events ADD COLUMN {name} {sql_type}"
    for name, sql_type in [
        ("ingest_ts", "TIMESTAMPTZ"),
        ("src_port", "INTEGER"),
        ("dst_ip", "VARCHAR"),
        ("dst_port", "INTEGER"),
        ("protocol", "VARCHAR"),
        ("bytes", "BIGINT"),
        ("packets", "BIGINT"),
        ("severity", "VARCHAR"),
        ("severity_id", "SMALLINT"),
    ]
]

# Schema 3: named queries saved in the case, so a report can cite them and a colleague rerun them.
_V3 = [
    """CREATE TABLE saved_queries (
        name VARCHAR PRIMARY KEY,
        language VARCHAR NOT NULL,      -- sql | kql | insights
        text VARCHAR NOT NULL,
        description VARCHAR,
        created_at TIMESTAMPTZ NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL,
        os_user VARCHAR
    )""",
]

MIGRATIONS: list[tuple[int, list[str]]] = [(1, _V1), (2, _V2), (3, _V3)]


def missing_columns() -> list[str]:
    """Schema fields no migration creates: a test keeps this empty."""
    created = "\n".join(s for _, stmts in MIGRATIONS for s in stmts)
    return [f.name for f in ALL_EVENT_FIELDS if f" {f.name} " not in created]


SCHEMA_VERSION = MIGRATIONS[-1][0]
