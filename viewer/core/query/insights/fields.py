"""How Logs Insights field names map onto the case's `events` table.

System fields (CloudWatch Logs adds them to every event):

* `@timestamp` -> `ts` (UTC). In arithmetic and comparisons with numbers it is epoch milliseconds,
  as in Logs Insights (`toMillis`); comparing it with a date string is refused, as AWS refuses it.
* `@message` -> for CloudWatch Logs events (`source_type = 'cwl'`) the event's message,
  `raw->>'$.message'` (the FilterLogEvents / export shape, formats.md 1.9); for every other source
  the raw record as text, `raw::VARCHAR`: what CloudWatch would show had that record been sent there.
  It is DuckDB's compact JSON text of the record, not the original file's bytes.
* `@logStream` -> for CloudWatch Logs events `raw->>'$.logStreamName'`; otherwise (or when absent)
  the evidence file the event came from (its path relative to the import root): a file is one
  stream of events. CloudTrail, EKS audit and Resolver records that came through CloudWatch Logs are
  imported as their own source (viewer/formats/aws_cloudwatch_logs.py), so they fall here too.
* `@log` -> for CloudWatch Logs events `raw->>'$.logGroupName'`; otherwise (or when the export
  named no group, as FilterLogEvents output does not) `source_type`, the kind of log, which is how
  log groups are usually split (`/aws/cloudtrail/...`, `/aws/eks/...`).
* `@ingestionTime` -> `ingest_ts`.
Other system fields (`@ptr`, `@duration`, `@requestId`, ...) are refused.

Discovered fields. Logs Insights flattens the JSON of `@message` into dotted names
(`userIdentity.arn`, `resources.0.ARN`). A name maps to `<doc>->>'$.path'`, where `<doc>` is the raw
record, or the message parsed as JSON for CloudWatch Logs events (NULL when it is not JSON). Numeric
segments become array indexes. When a normalized column is a verbatim copy of that JSON path for a
source (the CloudTrail mapping copies `eventName` into `action`, ...), the column is read instead for
that source's rows: the same value, without parsing the JSON. Columns that are derived (a coalesce
or a cast, such as `principal_id`) are never substituted. Likewise a field the case extracted at
import (`raw_fields`, see viewer/core/query/raw_columns.py) is read from that table for the source
types it is extracted from. Normalized columns have no Logs Insights name of their own: Logs
Insights only knows the fields of the log event.
"""

from __future__ import annotations

import re

from viewer.core import raw_fields
from viewer.core.query import raw_columns

#: Per source_type, the JSON paths that a normalized column copies verbatim
#: (viewer/formats/aws_cloudtrail.py: `"action": "{eventName}"`, ...).
VERBATIM_COLUMNS: dict[str, dict[str, str]] = {
    "cloudtrail": {
        "eventName": "action",
        "eventSource": "service",
        "eventID": "event_uid",
        "eventType": "event_class",
        "eventCategory": "log_name",
        "errorCode": "error_code",
        "errorMessage": "error_message",
        "sourceIPAddress": "src_ip",
        "userAgent": "user_agent",
        "awsRegion": "region",
        "userIdentity.type": "principal_type",
        "userIdentity.accountId": "principal_account",
        "userIdentity.accessKeyId": "credential_id",
        "userIdentity.sessionContext.sessionIssuer.arn": "session_issuer",
    }
}

CWL = "'cwl'"
MESSAGE_SQL = f"CASE WHEN source_type = {CWL} THEN raw->>'$.message' ELSE raw::VARCHAR END"
# The document whose fields Logs Insights discovers: the message of a CloudWatch Logs event when
# it is JSON (TRY_CAST gives NULL otherwise), else the raw record itself.
DOC_SQL = f"CASE WHEN source_type = {CWL} THEN TRY_CAST(raw->>'$.message' AS JSON) ELSE raw END"
# FilterLogEvents output names no group (the CLI was given it), so a CloudWatch event may lack it.
LOG_STREAM_SQL = (
    f"coalesce(CASE WHEN source_type = {CWL} THEN raw->>'$.logStreamName' END, "
    "(SELECT coalesce(ev.rel_path, ev.path) FROM evidence ev WHERE ev.evidence_id = events.evidence_id))"
)
LOG_GROUP_SQL = f"coalesce(CASE WHEN source_type = {CWL} THEN raw->>'$.logGroupName' END, source_type)"

#: System fields and (SQL, kind). Kinds: time, num, text, bool.
SYSTEM_FIELDS: dict[str, tuple[str, str]] = {
    "@timestamp": ("ts", "time"),
    "@message": (MESSAGE_SQL, "text"),
    "@logStream": (LOG_STREAM_SQL, "text"),
    "@log": (LOG_GROUP_SQL, "text"),
    "@ingestionTime": ("ingest_ts", "time"),
}

_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def json_path(name: str) -> str:
    """`userIdentity.arn` -> `$.userIdentity.arn`; `resources.0.ARN` -> `$.resources[0].ARN`."""
    parts = ["$"]
    for segment in name.split("."):
        if segment.isdigit():
            parts.append(f"[{int(segment)}]")
        elif _PLAIN_KEY.match(segment):
            parts.append(f".{segment}")
        else:
            parts.append('."' + segment.replace('"', '\\"') + '"')
    return "".join(parts)


def sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _special_sources() -> tuple[str, ...]:
    """Source types whose rows read some fields from columns rather than their raw JSON."""
    return tuple(sorted({*VERBATIM_COLUMNS, *(s for s in raw_fields.SOURCES if raw_columns.text_columns(s))}))


SPECIAL_SOURCES = _special_sources()


def events_source(fields: dict[str, str]) -> str:
    """The relation a query reads: every event with its discovered fields as columns.

    `fields` maps each field the query reads to its column name. One branch per source type
    whose rows can read some fields from columns (a verbatim copy, or raw_fields), plus one for
    every other event, which reads the document (li_doc): each branch's `source_type` test is a
    filter DuckDB pushes into the scan, so a branch holding no rows of the case costs nothing and
    the raw JSON is read only for rows whose fields have no column. (One expression with
    `CASE WHEN source_type = ... THEN column ELSE raw->>path END` makes DuckDB decompress the raw
    record of every event: 10-20 s at 10M events however few rows the filter keeps.)"""
    if not fields:
        return "events"
    branches = []
    for source in SPECIAL_SOURCES:
        extracted = raw_columns.text_columns(source)
        items, join = [], False
        for name, column in fields.items():
            path = json_path(name)
            if name in VERBATIM_COLUMNS.get(source, {}):
                sql = f"__e.{VERBATIM_COLUMNS[source][name]}"
            elif path in extracted:
                sql, join = f"__rf.{extracted[path]}", True
            else:  # the document of a record that did not come through CloudWatch Logs is the record
                sql = f"__e.raw->>{sql_string(path)}"
            items.append(f"{sql} AS {column}")
        rows = "events AS __e"
        if join:
            rows += " LEFT JOIN raw_fields AS __rf ON __rf.event_id = __e.event_id"
        branches.append(
            f"SELECT __e.*, {', '.join(items)} FROM {rows} WHERE __e.source_type = {sql_string(source)}"
        )
    others = ", ".join(f"li_doc->>{sql_string(json_path(n))} AS {c}" for n, c in fields.items())
    special = ", ".join(sql_string(s) for s in SPECIAL_SOURCES)
    branches.append(
        f"SELECT * EXCLUDE (li_doc), {others} FROM (SELECT *, {DOC_SQL} AS li_doc FROM events "
        f"WHERE source_type NOT IN ({special}))"
    )
    return "(" + " UNION ALL ".join(branches) + ")"


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def natural_sort_key(sql: str) -> str:
    """A key that orders text as Logs Insights' `sort` does (CWL_QuerySyntax-Sort).

    Values made only of a number come after every other value, in numeric order. Other values are
    compared chunk by chunk: runs of digits by their length first and then their value, the rest by
    Unicode code point. Prefixing each digit run with its zero-padded length gives a plain string
    with that order: a digit never sorts between two non-digits that it should not.
    """
    chunks = (
        f"array_to_string(list_transform(regexp_extract_all({sql}, '[0-9]+|[^0-9]+'), "
        "lambda c: CASE WHEN c[1] BETWEEN '0' AND '9' THEN lpad(length(c)::VARCHAR, 5, '0') || c "
        "ELSE c END), '')"
    )
    is_number = f"regexp_full_match({sql}, '-?[0-9]+(\\.[0-9]+)?')"
    return (
        f"{{'is_number': {is_number}, 'number': CASE WHEN {is_number} THEN TRY_CAST({sql} AS DOUBLE) END, "
        f"'text': {chunks}}}"
    )
