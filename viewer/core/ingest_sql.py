"""SQL that turns record text into normalized event rows, and the de-duplication verdicts.

Every reader ends in `stage_sql`: a relation `(evidence_id, record_index, r)` becomes rows with
the mapped columns, the raw record, its hash and a `problem` (why it cannot be kept). All JSON
paths of a mapping are pulled in one `json_extract_string` call, so each record is parsed once.
"""

from __future__ import annotations

import re

from viewer.core.packed_halves import EVENT_ID_SQL
from viewer.formats.base import FormatSpec, Mapping
from viewer.schema import NORMALIZED_FIELDS

# Largest JSON document the fast path reads. DuckDB reserves buffers of about twice this per
# thread, so it is bounded; a bigger file is refused by DuckDB and read by the Python path.
MAX_OBJECT_BYTES = 128 * 1024**2

_STAGE_COLUMNS = [f.name for f in NORMALIZED_FIELDS]


# The times Python's datetime holds (years 1 to 9999). DuckDB parses more (year 10000, years BC)
# and hands those to Python as text: one such record failed its import (the ledger's time span)
# or, kept, the window on the whole case (time span, timeline, pages). Such a time is no time.
_TIME_COLUMNS = {f.name for f in NORMALIZED_FIELDS if f.sql_type == "TIMESTAMPTZ"}
_TIME_RANGE = "TIMESTAMPTZ '0001-01-01 00:00:00+00' AND TIMESTAMPTZ '9999-12-31 23:59:59.999999+00'"


def stage_columns_sql() -> str:
    """The mapped columns as the INSERT takes them from its inner SELECT, a time outside the
    range Python holds made NULL (a NULL `ts` rejects the record: `settle`)."""
    return ", ".join(
        f"CASE WHEN {c} BETWEEN {_TIME_RANGE} THEN {c} END AS {c}" if c in _TIME_COLUMNS else c
        for c in _STAGE_COLUMNS
    )


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


def records_sql(spec: FormatSpec, source_sql: str, trusted_json: bool, known_good: bool = False) -> str:
    """`(evidence_id, record_index, r, rec, problem)`: each record's text and why it is unusable.

    `rec` is the record proper (the embedded string for LookupEvents shapes). `trusted_json`: the
    records came out of DuckDB's JSON reader, so they are valid JSON and need no check.
    `known_good`: an earlier pass of this SQL over the same rows found no problem, so none is
    checked again.
    """
    key = spec.reader.embedded_json_key
    if key and known_good:
        rec = f"json_extract_string(r, {_quote('$.' + key)})"
        problem = "NULL::VARCHAR"
    elif key:
        # An envelope from DuckDB's reader is JSON; the embedded record is parsed once to be
        # checked: valid JSON whose first character past JSON's whitespace is '{' is an object
        # (json_type would parse it again).
        envelope_ok = "true" if trusted_json else "json_valid(r)"
        rec = f"CASE WHEN {envelope_ok} THEN json_extract_string(r, {_quote('$.' + key)}) END"
        problem = (
            f"CASE WHEN NOT {envelope_ok} THEN 'invalid JSON' "
            f"WHEN rec IS NULL THEN 'no {key} in the record' "
            f"WHEN NOT json_valid(rec) THEN '{key} is not valid JSON' "
            "WHEN NOT regexp_matches(rec, '^[ \\t\\n\\r]*\\{') THEN 'record is not a JSON object' END"
        )
    else:
        rec = "r"
        problem = (
            "NULL::VARCHAR"
            if trusted_json or known_good
            else (
                "CASE WHEN NOT json_valid(rec) THEN 'invalid JSON' "
                "WHEN json_type(rec) <> 'OBJECT' THEN 'record is not a JSON object' END"
            )
        )
    return f"""
        SELECT *, {problem} AS problem FROM (
            SELECT evidence_id, record_index, r, {rec} AS rec FROM ({source_sql})
        )
    """


# The stored duplicate-candidate key: a hash of the raw text for records without a natural id.
# Records with one (eventID...) store NULL and are keyed by hash(event_uid) when compared, the
# value older cases stored: a random 64-bit hash per event cost 9 MB per 1M CloudTrail events.
DEDUP_KEY_SQL = "CASE WHEN event_uid IS NULL THEN hash(raw::VARCHAR) END"
_KEY = "coalesce(dedup_key, hash(event_uid))"


def insert_events_sql(spec: FormatSpec, records: str) -> str:
    """Insert every usable record; a NULL `ts` marks a rejection that `settle` moves out.

    All JSON paths are pulled in one `json_extract_string` call, so each record is parsed once.
    """
    assert spec.mapping is not None
    # The raw record is stored as it was written. Re-writing every record minified (json())
    # cost 25% of the import; formatting only matters when comparing duplicate candidates.
    raw = "rec::JSON"
    paths = "[" + ", ".join(_quote(p) for p in spec.mapping.paths.values()) + "]"
    exprs = _column_exprs(spec.mapping)
    exprs[_STAGE_COLUMNS.index("source_type")] = f"{_quote(spec.source_type)} AS source_type"
    exprs[_STAGE_COLUMNS.index("provider")] = f"{_quote(spec.provider)} AS provider"
    cols = ["event_id", *_STAGE_COLUMNS, "evidence_id", "record_index", "uid_conflict", "raw", "dedup_key"]
    return f"""
        INSERT INTO events ({", ".join(cols)})
        SELECT {EVENT_ID_SQL}, {stage_columns_sql()},
            evidence_id, record_index, false, raw, {DEDUP_KEY_SQL}
        FROM (
            SELECT evidence_id, record_index, raw, {", ".join(exprs)}
            FROM (
                SELECT evidence_id, record_index, {raw} AS raw, json_extract_string(rec, {paths}) AS x
                FROM ({records}) WHERE problem IS NULL
            )
        )
    """


def problem_warnings_sql(records: str) -> str:
    return f"""
        INSERT INTO import_warnings (import_id, evidence_id, path, position, position_kind, reason)
        SELECT ?, p.evidence_id, f.display_path, p.record_index, f.position_kind,
            p.problem || ': ' || left(p.r, 300)
        FROM ({records}) p JOIN chunk_files f USING (evidence_id) WHERE p.problem IS NOT NULL
    """


def problem_counts_sql(records: str) -> str:
    return f"SELECT evidence_id, count(*) FROM ({records}) WHERE problem IS NOT NULL GROUP BY ALL"


# Verdicts over the rows a batch just inserted (event ids in [$lo, $hi)), on narrow columns.
# A record is a duplicate only when an earlier record has the same event time, the same dedup
# key and the same content as JSON (json() ignores formatting); the key just picks the few
# candidates worth comparing. Earlier rows of the same batch count too: of identical records the
# first is kept. Rejected rows have no time and never match.
VERDICT_SQL = f"""
    CREATE OR REPLACE TEMP TABLE verdict AS
    WITH new AS (
        SELECT event_id, evidence_id, record_index, ts, {_KEY} AS dedup_key FROM events
        WHERE event_id >= $lo AND event_id < $hi
    ),
    win AS (SELECT min(ts) AS lo_ts, max(ts) AS hi_ts FROM new),
    older AS (
        SELECT e.event_id, e.ts, {_KEY} AS dedup_key FROM events e, win
        WHERE e.event_id < $hi AND e.ts BETWEEN win.lo_ts AND win.hi_ts
    ),
    candidates AS (
        SELECT DISTINCT n.event_id, o.event_id AS older_id FROM new n
        JOIN older o ON o.dedup_key = n.dedup_key AND o.ts = n.ts AND o.event_id < n.event_id
    ),
    dup AS (
        SELECT DISTINCT c.event_id FROM candidates c
        JOIN events a ON a.event_id = c.event_id
        JOIN events b ON b.event_id = c.older_id
        WHERE json(a.raw)::VARCHAR = json(b.raw)::VARCHAR
    )
    SELECT n.event_id, n.evidence_id, n.record_index, n.ts,
        CASE WHEN n.ts IS NULL THEN 'rejected'
             WHEN d.event_id IS NOT NULL THEN 'duplicate'
             ELSE 'kept' END AS verdict
    FROM new n LEFT JOIN dup d USING (event_id)
"""

FILE_COUNTS_SQL = """
    SELECT evidence_id, count(*) AS seen,
        count_if(verdict = 'kept') AS kept,
        count_if(verdict = 'rejected') AS rejected,
        count_if(verdict = 'duplicate') AS duplicate,
        min(ts) FILTER (WHERE verdict = 'kept') AS first_ts,
        max(ts) FILTER (WHERE verdict = 'kept') AS last_ts
    FROM verdict GROUP BY evidence_id
"""

REJECT_WARNINGS_SQL = """
    INSERT INTO import_warnings (import_id, evidence_id, path, position, position_kind, reason)
    SELECT ?, e.evidence_id, f.display_path, e.record_index, f.position_kind, ? || ': ' || left(e.raw::VARCHAR, 300)
    FROM verdict v JOIN events e USING (event_id) JOIN chunk_files f ON f.evidence_id = e.evidence_id
    WHERE v.verdict = 'rejected'
"""

DROP_UNKEPT_SQL = (
    "DELETE FROM events WHERE event_id IN (SELECT event_id FROM verdict WHERE verdict <> 'kept')"
)


# Records that share a natural id (eventID) but differ are all kept, and flagged on both sides.
# Only ids seen more than once are compared, and as JSON, so formatting is not a difference.
# The ids seen more than once are found by their 64-bit hashes (grouping 1M strings: 0.21-0.27 s,
# their hashes 0.06-0.07 s); a hash two ids share only adds a candidate, which the comparison
# by id then clears.
_NEW_UID_HASHES = """
    SELECT hash(event_uid) FROM events WHERE evidence_id BETWEEN ? AND ? AND event_uid IS NOT NULL
"""


def uid_conflict_sql(most_of_case: bool) -> str:
    """The UPDATE flagging id conflicts that involve the events of evidence ids `?` to `?`.

    An import of a small part of the case counts only the hashes of its own ids, the case's other
    rows matched against them before any grouping (one file into 10M events: 1.0-1.2 -> 0.18 s,
    a scan of the ids' hashes). An import of most of the case groups every hash, then keeps its
    own (1M events: 0.06-0.08 s against 0.12-0.18 s the other way)."""
    every = "SELECT hash(event_uid) AS h FROM events WHERE event_uid IS NOT NULL"
    if most_of_case:
        repeated = f"SELECT h FROM ({every}) GROUP BY h HAVING count(*) > 1 AND h IN ({_NEW_UID_HASHES})"
    else:
        repeated = f"SELECT h FROM ({every} AND hash(event_uid) IN ({_NEW_UID_HASHES})) GROUP BY h HAVING count(*) > 1"
    return f"""
        UPDATE events SET uid_conflict = true
        WHERE event_uid IN (
            SELECT event_uid FROM events WHERE hash(event_uid) IN ({repeated})
            GROUP BY event_uid HAVING count(DISTINCT json(raw)::VARCHAR) > 1
        ) AND NOT uid_conflict
    """


# Text lines that fit no layout of their format were inserted with raw {"line": ...} only and
# no time (text_import); they become warnings naming the line, count as rejected, and go.
_TEXT_UNMATCHED = """
    FROM events WHERE event_id >= $lo AND event_id < $hi AND ts IS NULL AND json_extract(raw, '$.fields') IS NULL
"""
TEXT_UNMATCHED_WARNINGS_SQL = f"""
    INSERT INTO import_warnings (import_id, evidence_id, path, position, position_kind, reason)
    SELECT $import_id, e.evidence_id, f.display_path, e.record_index, 'line',
        len(string_split(e.line, ' ')) || ' space-separated tokens match no known field order of '
            || $what || ': ' || left(e.line, 300)
    FROM (SELECT evidence_id, record_index, raw->>'$.line' AS line {_TEXT_UNMATCHED}) e
    JOIN chunk_files f USING (evidence_id)
"""
TEXT_UNMATCHED_COUNTS_SQL = f"SELECT evidence_id, count(*) {_TEXT_UNMATCHED} GROUP BY evidence_id"
TEXT_UNMATCHED_SAMPLE_SQL = f"""
    SELECT evidence_id, record_index, len(string_split(raw->>'$.line', ' ')) {_TEXT_UNMATCHED}
    ORDER BY evidence_id, record_index LIMIT 1000
"""
TEXT_UNMATCHED_DELETE_SQL = f"DELETE {_TEXT_UNMATCHED}"
