"""SQL that turns record text into normalized event rows, and the de-duplication verdicts.

Every reader ends in `stage_sql`: a relation `(evidence_id, record_index, r)` becomes rows with
the mapped columns, the raw record, its hash and a `problem` (why it cannot be kept). All JSON
paths of a mapping are pulled in one `json_extract_string` call, so each record is parsed once.
"""

from __future__ import annotations

import re

from viewer.formats.base import FormatSpec, Mapping
from viewer.schema import NORMALIZED_FIELDS

MAX_OBJECT_BYTES = 2 * 1024**3  # DuckDB's default (16 MB) is smaller than real CloudTrail files

_STAGE_COLUMNS = [f.name for f in NORMALIZED_FIELDS]


def _quote(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _column_exprs(mapping: Mapping) -> list[str]:
    index = {name: i + 1 for i, name in enumerate(mapping.paths)}
    exprs = []
    for col in _STAGE_COLUMNS:
        expr = mapping.columns.get(col)
        if expr is None:
            exprs.append(f"NULL AS {col}")
            continue
        sql = re.sub(r"\{(\w+)\}", lambda m: f"x[{index[m.group(1)]}]", expr)
        exprs.append(f"({sql}) AS {col}")
    return exprs


def document_source_sql(spec: FormatSpec, files_table: str, paths: list[str], compression: str) -> str:
    """DuckDB's own JSON reader over the chunk's files: the fast path (no Python per record)."""
    path = spec.reader.records_path
    file_list = "[" + ", ".join(_quote(p) for p in paths) + "]"
    recs = "[json]" if path is None else f"json_extract(json, {_quote(path + '[*]')})"
    return f"""
        SELECT m.evidence_id, (s.idx - 1)::BIGINT AS record_index, s.rec AS r
        FROM (
            SELECT filename, generate_subscripts(recs, 1) AS idx, unnest(recs) AS rec
            FROM (
                SELECT filename, {recs} AS recs
                FROM read_json_objects({file_list},
                    format = 'unstructured', compression = '{compression}',
                    filename = true, maximum_object_size = {MAX_OBJECT_BYTES})
            )
        ) s JOIN {files_table} m ON m.real_path = s.filename
    """


def probe_sql(paths: list[str], compression: str) -> str:
    """Reads the documents without keeping anything: finds the files the fast path refuses."""
    file_list = "[" + ", ".join(_quote(p) for p in paths) + "]"
    return (
        f"SELECT count(*) FROM read_json_objects({file_list}, format = 'unstructured', "
        f"compression = '{compression}', maximum_object_size = {MAX_OBJECT_BYTES})"
    )


def stage_sql(spec: FormatSpec, source_sql: str, trusted_json: bool) -> str:
    """Mapped rows for every record of `source_sql`, with `problem` set on the ones to reject.

    `trusted_json`: the records came out of DuckDB's JSON reader, so they are valid, minified
    JSON already; text from Python readers is validated and normalized here instead, so the same
    record yields the same raw text (and hash) whichever path read it.
    """
    assert spec.mapping is not None
    key = spec.reader.embedded_json_key
    if key:
        rec = f"json_extract_string(r, {_quote('$.' + key)})"
        problem = (
            "CASE WHEN NOT json_valid(r) THEN 'invalid JSON' "
            f"WHEN rec IS NULL THEN 'no {key} in the record' "
            f"WHEN NOT json_valid(rec) THEN '{key} is not valid JSON' "
            "WHEN json_type(rec) <> 'OBJECT' THEN 'record is not a JSON object' END"
        )
        inner = f"SELECT evidence_id, record_index, r, CASE WHEN json_valid(r) THEN {rec} END AS rec FROM ({source_sql})"
    elif trusted_json:
        inner = f"SELECT evidence_id, record_index, r, r AS rec FROM ({source_sql})"
        problem = "NULL::VARCHAR"
    else:
        inner = f"SELECT evidence_id, record_index, r, r AS rec FROM ({source_sql})"
        problem = (
            "CASE WHEN NOT json_valid(rec) THEN 'invalid JSON' "
            "WHEN json_type(rec) <> 'OBJECT' THEN 'record is not a JSON object' END"
        )
    raw = "rec::JSON" if trusted_json and not key else "json(rec)"
    paths = "[" + ", ".join(_quote(p) for p in spec.mapping.paths.values()) + "]"
    cols = ",\n            ".join(_column_exprs(spec.mapping))
    return f"""
        SELECT evidence_id, record_index,
            (evidence_id::BIGINT << 32) + record_index AS event_id,
            CASE WHEN problem IS NULL AND ts IS NULL THEN {_quote(spec.mapping.ts_missing_reason)}
                 ELSE problem END AS problem,
            {_quote(spec.source_type)} AS p_source_type, {_quote(spec.provider)} AS p_provider,
            * EXCLUDE (evidence_id, record_index, problem, r, x, source_type, provider),
            CASE WHEN problem IS NULL THEN md5_number(raw::VARCHAR) END AS raw_hash,
            CASE WHEN problem IS NOT NULL OR ts IS NULL THEN left(r, 300) END AS excerpt
        FROM (
            SELECT evidence_id, record_index, problem, r, x,
            CASE WHEN problem IS NULL THEN {raw} END AS raw,
            {cols}
            FROM (
                SELECT *, CASE WHEN problem IS NULL THEN json_extract_string(rec, {paths}) END AS x
                FROM (SELECT evidence_id, record_index, r, rec, {problem} AS problem FROM ({inner}))
            )
        )
    """


def insert_events_sql() -> str:
    """Keep staged rows that are new: not rejected, not identical to a record already kept."""
    cols = ["event_id", *_STAGE_COLUMNS, "evidence_id", "record_index", "uid_conflict", "raw", "raw_hash"]
    select = []
    for c in cols:
        if c == "source_type":
            select.append("p_source_type")
        elif c == "provider":
            select.append("p_provider")
        elif c == "uid_conflict":
            select.append("false")
        else:
            select.append(f"b.{c}")
    return (
        f"INSERT INTO events ({', '.join(cols)}) "
        f"SELECT {', '.join(select)} FROM stage b JOIN verdict v USING (event_id) WHERE v.verdict = 'kept'"
    )


# Identical means same raw text (hash) among rows of the case; only the time window of the batch
# is scanned, since identical records share their event time (zone maps prune the rest).
VERDICT_SQL = """
    CREATE OR REPLACE TEMP TABLE verdict AS
    WITH win AS (SELECT min(ts) AS lo, max(ts) AS hi FROM stage WHERE problem IS NULL),
    known AS (
        SELECT DISTINCT raw_hash FROM events, win WHERE events.ts BETWEEN win.lo AND win.hi
    )
    SELECT s.event_id, s.evidence_id,
        CASE WHEN s.problem IS NOT NULL THEN 'rejected'
             WHEN k.raw_hash IS NOT NULL THEN 'duplicate'
             WHEN row_number() OVER (PARTITION BY s.raw_hash ORDER BY s.event_id) > 1 THEN 'duplicate'
             ELSE 'kept' END AS verdict
    FROM stage s LEFT JOIN known k ON k.raw_hash = s.raw_hash
"""

FILE_COUNTS_SQL = """
    SELECT v.evidence_id, count(*) AS seen,
        count_if(v.verdict = 'kept') AS kept,
        count_if(v.verdict = 'rejected') AS rejected,
        count_if(v.verdict = 'duplicate') AS duplicate,
        min(s.ts) FILTER (WHERE v.verdict = 'kept') AS first_ts,
        max(s.ts) FILTER (WHERE v.verdict = 'kept') AS last_ts
    FROM verdict v JOIN stage s USING (event_id) GROUP BY v.evidence_id
"""

REJECT_WARNINGS_SQL = """
    INSERT INTO import_warnings (import_id, evidence_id, path, position, position_kind, reason)
    SELECT ?, s.evidence_id, f.display_path, s.record_index, f.position_kind,
        s.problem || ': ' || s.excerpt
    FROM stage s JOIN chunk_files f USING (evidence_id) WHERE s.problem IS NOT NULL
"""

# Records that share a natural id (eventID) but differ are all kept, and flagged on both sides.
UID_CONFLICT_SQL = """
    UPDATE events SET uid_conflict = true
    WHERE event_uid IN (
        SELECT event_uid FROM events
        WHERE event_uid IN (SELECT event_uid FROM events WHERE evidence_id BETWEEN ? AND ?)
        GROUP BY event_uid HAVING count(DISTINCT raw_hash) > 1
    ) AND NOT uid_conflict
"""
