"""Raw-record fields the investigation library asks about, extracted once per import.

Why: questions like "S3 reads by bucket" or "AssumeRole into which role" need a field that only
the raw JSON holds (`requestParameters.bucketName`, `requestParameters.roleArn`, ...). Reading it
with `raw->>'$.path'` at query time makes DuckDB decompress and parse ~1.7 KB of JSON for every
row of every vector that holds one matching event, and in CloudTrail those actions are spread over
every vector: at 10M events such a query took 3-30 s. Extracting the handful of paths once, when
the events arrive, turns it into a join with a narrow table.

Two tables, both documented for users (docs/query.md) and queried by `resources/queries`:

* ``raw_fields``: one row per event that has at least one of the fields (sparse: most events have
  none), keyed by `event_id`; join with ``LEFT JOIN raw_fields USING (event_id)``. Each column is
  exactly the value `raw->>'<path>'` gives (text), except `bytes_out` (`TRY_CAST(... AS DOUBLE)`),
  `user_arn` (the ARN only where `principal_id` is not it, flagged by `user_arn_differs`: a
  dense column would repeat principal_id in one row per CloudTrail event); the same for
  `recipient_account` against `cloud_account`. `ip_permissions` and `sg_rule_request` hold the
  rules of a security-group call as JSON text, so "opened to 0.0.0.0/0" tests the rules, not a
  description that mentions the range.
* ``raw_volume``: per (source_type, provider, log_name) the events, bytes of raw JSON text and
  first/last time of each import (several rows per key: sum them), so "what costs most to keep"
  does not re-read every record.

A derived structure (`viewer.core.derived`), deferred: the rows are stored in `raw_fields_rows`
and `raw_volume_rows` up to a high-water mark, built after an import commits (by the GUI in the
background, by the CLI right after `caseline import`), and ``raw_fields`` / ``raw_volume`` are
views that add the events above the mark, extracted when read. So the tables are exact at any
moment, an import does not pay for the extraction (it re-reads and re-parses every raw record:
~4 CPU-s per 1M CloudTrail events, 8% of the import), and once built a query reads only stored
rows: the mark is a literal in the view, so the scan of events above it is pruned by zone maps.
"""

from __future__ import annotations

import time

import duckdb

from viewer.core import doc_keys
from viewer.core.jobs import JobContext
from viewer.core.packed_halves import EVENT_ID_SQL, event_id_halves

# Version 2: stored rows under a mark plus views (was: the tables themselves, updated inline).
# Version 3: user_arn (stored where it differs from principal_id) and user_arn_differs.
# Version 4: raw_doc_keys_rows (viewer.core.doc_keys), built under the same mark.
# Version 5: recipient_account (where it differs from cloud_account), request_name, console_login.
# Version 6: ip_permissions and sg_rule_request (the rules of a security-group call) replace
# world_cidr, a substring test of the whole record that a rule description could satisfy.
# Version 7: raw_fields_rows keyed by evidence_id and record_index (the view gives event_id).
VERSION = 7

#: Column -> (raw JSON path(s), coalesced in order), for the source types that have it.
FIELDS: dict[str, tuple[str, ...]] = {
    "bucket_name": ("$.requestParameters.bucketName",),
    "bytes_out": ("$.additionalEventData.bytesTransferredOut",),
    "group_id": ("$.requestParameters.groupId",),
    "instance_type": ("$.requestParameters.instanceType",),
    "with_decryption": ("$.requestParameters.withDecryption",),
    "mfa_used": ("$.additionalEventData.MFAUsed",),
    "user_name": ("$.requestParameters.userName",),
    "new_access_key_id": ("$.responseElements.accessKey.accessKeyId",),
    "role_arn": ("$.requestParameters.roleArn",),
    "user_arn": ("$.userIdentity.arn",),
    "recipient_account": ("$.recipientAccountId",),
    "request_name": ("$.requestParameters.name",),
    "console_login": ("$.responseElements.ConsoleLogin",),
    "ip_permissions": ("$.requestParameters.ipPermissions",),
    "sg_rule_request": ("$.requestParameters.ModifySecurityGroupRulesRequest",),
    "risk_level": ("$.riskLevelDuringSignIn", "$.properties.riskLevelDuringSignIn"),
    "country": ("$.location.countryOrRegion", "$.properties.location.countryOrRegion"),
    "k8s_verb": ("$.verb",),
    "k8s_resource": ("$.objectRef.resource",),
    "k8s_subresource": ("$.objectRef.subresource",),
    "k8s_namespace": ("$.objectRef.namespace",),
    "k8s_status_code": ("$.responseStatus.code",),
}
#: Which source types each field is read from (others never carry it, and are not parsed).
SOURCES: dict[str, tuple[str, ...]] = {
    "cloudtrail": (
        "bucket_name",
        "bytes_out",
        "group_id",
        "instance_type",
        "with_decryption",
        "mfa_used",
        "user_name",
        "new_access_key_id",
        "role_arn",
        "user_arn",
        "recipient_account",
        "request_name",
        "console_login",
        "ip_permissions",
        "sg_rule_request",
    ),
    "entra_signin": ("risk_level", "country"),
    "k8s_audit": ("k8s_verb", "k8s_resource", "k8s_subresource", "k8s_namespace", "k8s_status_code"),
}
_DOUBLE = {"bytes_out"}
#: Columns stored only where the path's text differs from a column of `events` (NULL included),
#: with a flag `<column>_differs` TRUE there; elsewhere that events column holds it. CloudTrail's
#: `principal_id` is the ARN whenever the record has one, so a dense column of ARNs (one row per
#: CloudTrail event, 10M at 10M events) would repeat it and make every join with the table read
#: ten times more rows; stored this way the table stays sparse and the value stays exact.
EXCEPT_FROM: dict[str, str] = {"user_arn": "principal_id", "recipient_account": "cloud_account"}

# The rows' event ids are stored as evidence id and record index (`packed_halves`): 1M
# CloudTrail events, the table 8.5 -> 5.5 MiB.
_STORED_DDL: list[str] = [
    "CREATE TABLE IF NOT EXISTS raw_fields_rows (\n    evidence_id INTEGER NOT NULL,\n"
    "    record_index UINTEGER NOT NULL,\n"
    + "".join(f"    {c} {'DOUBLE' if c in _DOUBLE else 'VARCHAR'},\n" for c in FIELDS)
    + ",\n".join(f"    {c}_differs BOOLEAN" for c in EXCEPT_FROM)
    + "\n)",
    """CREATE TABLE IF NOT EXISTS raw_volume_rows (
        source_type VARCHAR, provider VARCHAR, log_name VARCHAR,
        events BIGINT NOT NULL,
        raw_bytes BIGINT NOT NULL,       -- sum of strlen(raw::VARCHAR)
        first_ts TIMESTAMPTZ, last_ts TIMESTAMPTZ
    )""",
    """CREATE TABLE IF NOT EXISTS raw_fields_state (
        event_id_max BIGINT,             -- high-water mark: events above it are not extracted yet
        events BIGINT NOT NULL           -- events at or below the mark; must equal count(*) of them
    )""",
]
_COLUMNS = [*FIELDS, *(f"{c}_differs" for c in EXCEPT_FROM)]
_MIN_MARK = -(2**63)


def _paths(source: str) -> list[str]:
    """The JSON paths read from one source type's records, in a fixed order."""
    return [p for c in SOURCES[source] for p in FIELDS[c]]


def _column_sql(column: str, source: str) -> str:
    """SQL of one column over `v` (the list json_extract_string returned) for one source type."""
    paths = _paths(source)
    parts = [f"v[{paths.index(p) + 1}]" for p in FIELDS[column]]
    text = parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"
    return f"TRY_CAST({text} AS DOUBLE)" if column in _DOUBLE else text


def _in(column: str) -> str:
    return ", ".join(f"'{s}'" for s in SOURCES if column in SOURCES[s])


def extraction_sql(mark_param: str = "$mark") -> str:
    """One SELECT over the new events giving every raw_fields column (and raw bytes), one JSON
    parse per record: `json_extract_string` with a list of paths parses the document once, and
    each source type's records are asked only for the paths that source has."""
    parse = " ".join(
        f"WHEN '{s}' THEN json_extract_string(raw, [{', '.join(repr(p) for p in _paths(s))}])"
        for s in SOURCES
    )
    columns = []
    for column in FIELDS:
        cases = " ".join(f"WHEN '{s}' THEN {_column_sql(column, s)}" for s in SOURCES if column in SOURCES[s])
        typ = "DOUBLE" if column in _DOUBLE else "VARCHAR"
        value = f"CAST(CASE source_type {cases} END AS {typ})"
        if column in EXCEPT_FROM:
            differs = f"({value} IS DISTINCT FROM {EXCEPT_FROM[column]} AND source_type IN ({_in(column)}))"
            columns.append(f"CASE WHEN {differs} THEN {value} END AS {column}")
            columns.append(f"CASE WHEN {differs} THEN TRUE END AS {column}_differs")
        else:
            columns.append(f"{value} AS {column}")
    return f"""
        SELECT event_id, source_type, provider, log_name, ts, strlen(raw::VARCHAR) AS raw_bytes,
               {", ".join(columns)}
        FROM (SELECT *, CASE source_type {parse} END AS v FROM events WHERE event_id > {mark_param})"""


def views_sql(mark: int | None) -> list[str]:
    """The two views: stored rows plus the events above `mark` (None: nothing stored yet)."""
    tail = extraction_sql(str(_MIN_MARK if mark is None else mark))
    cols = ", ".join(_COLUMNS)
    any_set = " OR ".join(f"{c} IS NOT NULL" for c in _COLUMNS)
    return [
        f"CREATE OR REPLACE VIEW raw_fields AS SELECT {EVENT_ID_SQL} AS event_id, {cols} FROM raw_fields_rows "
        f"UNION ALL SELECT event_id, {cols} FROM ({tail}) WHERE {any_set}",
        "CREATE OR REPLACE VIEW raw_volume AS SELECT * FROM raw_volume_rows UNION ALL "
        "SELECT source_type, provider, log_name, count(*) AS events, sum(raw_bytes)::BIGINT AS raw_bytes, "
        f"min(ts) AS first_ts, max(ts) AS last_ts FROM ({tail}) GROUP BY ALL",
    ]


DDL: list[str] = [*_STORED_DDL, *doc_keys.DDL, *views_sql(None)]


def _state(cur: duckdb.DuckDBPyConnection) -> tuple[int | None, int] | None:
    rows = cur.execute("SELECT event_id_max, events FROM raw_fields_state").fetchall()
    return (rows[0][0], int(rows[0][1])) if rows else None


def is_current(cur: duckdb.DuckDBPyConnection) -> bool:
    """True when the tables cover exactly the events in the case (readers may trust them)."""
    try:
        state = _state(cur)
    except duckdb.CatalogException:
        return False
    if state is None:
        return False
    now = cur.execute("SELECT count(*), max(event_id) FROM events").fetchall()[0]
    return (int(now[0]), now[1]) == (state[1], state[0])


def update(cur: duckdb.DuckDBPyConnection, ctx: JobContext | None = None) -> float:
    """Extract the fields of the events above the high-water mark; returns seconds taken.

    Runs inside the import's transaction. Starts over when the stored mark does not describe the
    events (a count mismatch below it), as the timeline rollup does."""
    started = time.monotonic()
    remove = ctx.token.on_cancel(cur.interrupt) if ctx else None
    try:
        if ctx:
            ctx.check()
        state = _state(cur)
        if state is not None and state[0] is not None:
            have = cur.execute("SELECT count(*) FROM events WHERE event_id <= ?", [state[0]]).fetchall()
            if int(have[0][0]) != state[1]:
                state = None
        if state is None:
            for table in ("raw_fields_rows", "raw_volume_rows", "raw_fields_state", *doc_keys.TABLES):
                cur.execute(f"DELETE FROM {table}")
            state = (None, 0)
        mark = -(2**63) if state[0] is None else int(state[0])
        new = cur.execute("SELECT max(event_id) FROM events WHERE event_id > ?", [mark]).fetchall()[0][0]
        if new is None:
            if _state(cur) is None:
                cur.execute("INSERT INTO raw_fields_state VALUES (?, ?)", [state[0], state[1]])
                for sql in views_sql(state[0]):
                    cur.execute(sql)
            return time.monotonic() - started
        cur.execute(
            "CREATE OR REPLACE TEMP TABLE raw_fields_new AS " + extraction_sql("$mark"), {"mark": mark}
        )
        any_set = " OR ".join(f"{c} IS NOT NULL" for c in _COLUMNS)
        cur.execute(
            f"INSERT INTO raw_fields_rows SELECT {event_id_halves()}, {', '.join(_COLUMNS)} FROM raw_fields_new "
            f"WHERE {any_set} ORDER BY event_id"
        )
        cur.execute(
            "INSERT INTO raw_volume_rows SELECT source_type, provider, log_name, count(*), sum(raw_bytes), "
            "min(ts), max(ts) FROM raw_fields_new GROUP BY ALL"
        )
        added = cur.execute("SELECT count(*) FROM raw_fields_new").fetchall()[0][0]
        doc_keys.append_new(cur, mark)
        cur.execute("DROP TABLE raw_fields_new")
        cur.execute("DELETE FROM raw_fields_state")
        cur.execute("INSERT INTO raw_fields_state VALUES (?, ?)", [new, state[1] + int(added)])
        for sql in views_sql(new):
            cur.execute(sql)
    finally:
        if remove:
            remove()
    return time.monotonic() - started


def stored_doc_keys(cur: duckdb.DuckDBPyConnection) -> doc_keys.DocKeys | None:
    """The key sets of the records under the mark, for a query translator; None before a build."""
    try:
        state = _state(cur)
    except duckdb.CatalogException:
        return None
    return doc_keys.load(cur, state[0] if state else None)
