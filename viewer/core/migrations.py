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

# Schema 4: case work and evidence integrity (issue #6), used by viewer/core/casework.
# Annotations are an append-only change log: every edit, undo and redo is a new row carrying the
# value before and after, so the history is auditable and undo never deletes anything. The
# current state is the newest change per slot (target + attribute + tag name); a NULL value means
# cleared. The views below are what the GUI, reports and SQL users read.
_ANNOTATION_SLOT = "target_kind, event_id, entity_kind, entity_value, bookmark_id, attribute, name"
_V4 = [
    """CREATE TABLE annotation_changes (
        change_id BIGINT PRIMARY KEY,
        action_id BIGINT NOT NULL,      -- one user action (tag 40 events at once); undo reverts whole actions
        action_kind VARCHAR NOT NULL,   -- edit | undo | redo
        reverts_action BIGINT,          -- undo/redo: the edit action it reverts or re-applies
        changed_at TIMESTAMPTZ NOT NULL,
        os_user VARCHAR,
        tool_version VARCHAR NOT NULL,
        target_kind VARCHAR NOT NULL,   -- event | entity | bookmark
        event_id BIGINT,                -- target_kind = event
        entity_kind VARCHAR,            -- target_kind = entity, e.g. ip | user | access_key
        entity_value VARCHAR,
        bookmark_id BIGINT,             -- target_kind = bookmark
        attribute VARCHAR NOT NULL,     -- tag | star | note | bookmark
        name VARCHAR NOT NULL,          -- the tag for attribute = tag, else ''
        value VARCHAR,                  -- new value; NULL = removed (bookmark: JSON name/start/end/note)
        prev_value VARCHAR              -- value before this change
    )""",
    f"""CREATE VIEW annotation_current AS
        SELECT * EXCLUDE (newest) FROM (
            SELECT *, row_number() OVER (PARTITION BY {_ANNOTATION_SLOT} ORDER BY change_id DESC) AS newest
            FROM annotation_changes)
        WHERE newest = 1 AND value IS NOT NULL""",
    """CREATE VIEW event_tags AS SELECT event_id, name AS tag, changed_at AS tagged_at, os_user
        FROM annotation_current WHERE target_kind = 'event' AND attribute = 'tag'""",
    """CREATE VIEW event_stars AS SELECT event_id, changed_at AS starred_at, os_user
        FROM annotation_current WHERE target_kind = 'event' AND attribute = 'star'""",
    """CREATE VIEW event_notes AS SELECT event_id, value AS note, changed_at AS noted_at, os_user
        FROM annotation_current WHERE target_kind = 'event' AND attribute = 'note'""",
    """CREATE VIEW event_annotations AS
        SELECT event_id,
               bool_or(attribute = 'star') AS starred,
               coalesce(list(name ORDER BY name) FILTER (WHERE attribute = 'tag'), []) AS tags,
               max(value) FILTER (WHERE attribute = 'note') AS note,
               max(changed_at) AS changed_at
        FROM annotation_current WHERE target_kind = 'event' GROUP BY event_id""",
    """CREATE VIEW entity_notes AS
        SELECT entity_kind, entity_value, value AS note, changed_at AS noted_at, os_user
        FROM annotation_current WHERE target_kind = 'entity' AND attribute = 'note'""",
    """CREATE VIEW bookmarks AS
        SELECT bookmark_id,
               json_extract_string(value, '$.name') AS name,
               CAST(json_extract_string(value, '$.start') AS TIMESTAMPTZ) AS start_ts,
               CAST(json_extract_string(value, '$.end') AS TIMESTAMPTZ) AS end_ts,
               json_extract_string(value, '$.note') AS note,
               changed_at, os_user
        FROM annotation_current WHERE target_kind = 'bookmark' AND attribute = 'bookmark'""",
    # One row per verification run (custody verify, CloudTrail digest validation) and its findings:
    # a report cites what was checked, when, by whom, and with which evidence folder and keys.
    """CREATE TABLE integrity_runs (
        run_id INTEGER PRIMARY KEY,
        kind VARCHAR NOT NULL,          -- verify | cloudtrail_digests
        started_at TIMESTAMPTZ NOT NULL,
        os_user VARCHAR,
        tool_version VARCHAR NOT NULL,
        params JSON,                    -- evidence folder, key source
        ok BOOLEAN NOT NULL,            -- true only when every item was checked and passed
        summary JSON                    -- counts per status
    )""",
    """CREATE TABLE integrity_findings (
        run_id INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        subject_kind VARCHAR NOT NULL,  -- evidence | case | log_file | digest | chain
        subject VARCHAR NOT NULL,       -- file path or S3 key
        evidence_id INTEGER,
        status VARCHAR NOT NULL,        -- unchanged | modified | missing | valid | invalid | unknown_key | gap ...
        passed BOOLEAN NOT NULL,
        message VARCHAR NOT NULL,
        detail JSON
    )""",
    # CloudTrail public keys (ListPublicKeys): from a key file the user supplies, or live later.
    """CREATE TABLE cloudtrail_public_keys (
        fingerprint VARCHAR PRIMARY KEY,
        value_der_b64 VARCHAR NOT NULL, -- base64 of the DER PKCS #1 RSA public key, as ListPublicKeys returns it
        validity_start TIMESTAMPTZ,
        validity_end TIMESTAMPTZ,
        region VARCHAR,                 -- keys are per region; ListPublicKeys output does not name it
        source VARCHAR NOT NULL,        -- key file path or live:<region>
        added_at TIMESTAMPTZ NOT NULL
    )""",
]

# Records with a natural id store no dedup key (see viewer.core.ingest_sql.DEDUP_KEY_SQL).
_V5 = ["ALTER TABLE events ALTER COLUMN dedup_key DROP NOT NULL"]

MIGRATIONS: list[tuple[int, list[str]]] = [(1, _V1), (2, _V2), (3, _V3), (4, _V4), (5, _V5)]


def missing_columns() -> list[str]:
    """Schema fields no migration creates: a test keeps this empty."""
    created = "\n".join(s for _, stmts in MIGRATIONS for s in stmts)
    return [f.name for f in ALL_EVENT_FIELDS if f" {f.name} " not in created]


SCHEMA_VERSION = MIGRATIONS[-1][0]
