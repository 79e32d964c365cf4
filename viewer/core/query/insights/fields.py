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
or a cast, such as `principal_id`) are never substituted. Normalized columns have no Logs Insights
name of their own: Logs Insights only knows the fields of the log event.
"""

from __future__ import annotations

import re

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


#: The relation a query reads: every event, plus the document its discovered fields come from
#: (DuckDB computes `li_doc` only when a query uses it).
EVENTS_SOURCE = f"(SELECT *, {DOC_SQL} AS li_doc FROM events) AS events"


def discovered_field_sql(name: str) -> str:
    """SQL (VARCHAR) for a discovered JSON field of the event."""
    path = sql_string(json_path(name))
    from_doc = f"li_doc->>{path}"
    arms = [
        f"WHEN source_type = {sql_string(source)} THEN {columns[name]}"
        for source, columns in VERBATIM_COLUMNS.items()
        if name in columns
    ]
    if not arms:
        return from_doc
    return f"CASE {' '.join(arms)} ELSE {from_doc} END"


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
