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
Insights only knows the fields of the log event. A field whose first key no record of a source
has (viewer/core/doc_keys.py, the case's key sets given to the translator) is NULL for that
source's records under the key sets' mark, without parsing them.
"""

from __future__ import annotations

import re

from viewer.core import raw_fields
from viewer.core.doc_keys import MESSAGE_SQL, DocKeys
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
_FILE_SQL = (
    "(SELECT coalesce(ev.rel_path, ev.path) FROM evidence ev WHERE ev.evidence_id = events.evidence_id)"
)
#: The system fields read from the raw record of a CloudWatch Logs event and from columns (or the
#: record as a whole) otherwise: (SQL where a row may be a CloudWatch Logs event, SQL where none
#: is). Each is a marker in the query's SQL (`system_marker`) that `events_source` writes per
#: source branch, so the branches of other sources never reference the raw column for them:
#: `stats count(*) by @log` over CloudTrail events reads `source_type` alone (10M events: 40 CPU-s
#: when every row's raw record was decompressed for the CASE). FilterLogEvents output names no
#: group (the CLI was given it), so a CloudWatch event may lack it.
RAW_SYSTEM_FIELDS: dict[str, tuple[str, str]] = {
    "@message": (
        f"CASE WHEN source_type = {CWL} THEN raw->>'$.message' ELSE raw::VARCHAR END",
        "events.raw::VARCHAR",
    ),
    "@logStream": (
        f"coalesce(CASE WHEN source_type = {CWL} THEN raw->>'$.logStreamName' END, {_FILE_SQL})",
        _FILE_SQL,
    ),
    "@log": (
        f"coalesce(CASE WHEN source_type = {CWL} THEN raw->>'$.logGroupName' END, source_type)",
        "events.source_type",
    ),
}
_SYSTEM_NAMES = tuple(RAW_SYSTEM_FIELDS)


def system_marker(name: str) -> str:
    return f"\x00ls{_SYSTEM_NAMES.index(name) + 1}\x00"


#: System fields and (SQL, kind). Kinds: time, num, text, bool.
SYSTEM_FIELDS: dict[str, tuple[str, str]] = {
    "@timestamp": ("ts", "time"),
    **{name: (system_marker(name), "text") for name in RAW_SYSTEM_FIELDS},
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


#: How a discovered field appears in SQL until the relation is written (`field_marker`): a NUL
#: never occurs in a query (the translator refuses it), so markers are found exactly. `li` is the
#: field's text, `ln` its value as a number (`TRY_CAST(text AS DOUBLE)`, `number_marker`), which a
#: source can read from a numeric raw_fields column without the text.
_MARKER = re.compile("\x00(li|ln|ls)([0-9]+)\x00")
_TEXT_MARKER = re.compile("\x00li([0-9]+)\x00")

Use = tuple[str, int]  # (marker kind: 'li' text or 'ln' number, field number; 'ls' system field)


def field_marker(number: int) -> str:
    return f"\x00li{number}\x00"


def number_marker(text_sql: str) -> str | None:
    """The numeric marker of a field given its text marker; None when `text_sql` is not one."""
    match = _TEXT_MARKER.fullmatch(text_sql)
    return f"\x00ln{match.group(1)}\x00" if match else None


def _column(use: Use) -> str:
    return f"__{use[0]}_{use[1]}"


def marker_uses(*sqls: str) -> set[Use]:
    """Which fields the SQL reads, and as text or as a number."""
    return {(m.group(1), int(m.group(2))) for sql in sqls for m in _MARKER.finditer(sql)}


def _numeric(use: Use, text_sql: str) -> str:
    return f"TRY_CAST(({text_sql}) AS DOUBLE)" if use[0] == "ln" else text_sql


def _system_sql(use: Use, cwl_possible: bool) -> str:
    return RAW_SYSTEM_FIELDS[_SYSTEM_NAMES[use[1] - 1]][0 if cwl_possible else 1]


def events_source(
    fields: dict[str, int],
    conditions: list[str],
    uses: set[Use],
    known: DocKeys | None = None,
    record_ranges: str | None = None,
) -> str:
    """The relation a query reads: the events passing `conditions`, with its discovered fields.

    `fields` numbers each field the query reads; the query's SQL names it by `field_marker` (its
    text) or `number_marker` (its number), `uses` says which of those occur, and `resolve_markers`
    turns them into the columns made here. There is one branch per source type
    whose rows read some fields from columns (a verbatim copy, or raw_fields), plus branches for
    every other event, which read the document (`_document_branches`). Each branch applies the
    conditions itself, with its own SQL for each field: DuckDB pushes a branch's `source_type` test and single
    equalities on columns into the scan (a branch holding no rows of the case costs nothing), and
    computes a field from the raw JSON only for the rows that pass. (One relation with
    `CASE WHEN source_type = ... THEN column ELSE raw->>path END` made DuckDB decompress the raw
    record of every event, and a condition written outside the branches stays above their
    projection, so the JSON of every event was parsed: 10-35 s at 10M events.)

    `known` (the case's `doc_keys`) says which top-level keys each source type's records under a
    mark have. The records under the mark of a source that has none of the keys its fields start
    with get those fields as NULL without reading the raw JSON: their own branch.

    `record_ranges`: `event_id` ranges outside which no raw record can pass the query's `@message`
    filters (`message_filter`, from the free-text index). It narrows every branch whose `@message`
    is the raw record; not CloudWatch Logs events, whose message is a JSON string decoded from it
    (an escape such as `\\u0041` in the record is a letter in the message, not the token the index
    holds)."""
    where = " AND ".join(f"({c})" for c in conditions)
    if not uses:
        return f"(SELECT * FROM events AS events{' WHERE ' + where if where else ''})"
    path_of = {number: json_path(name) for name, number in fields.items()}
    name_of = {number: name for name, number in fields.items()}
    ordered = sorted(uses, key=lambda u: (u[1], u[0]))
    branches = []
    for source in SPECIAL_SOURCES:
        extracted = raw_columns.text_columns(source)
        numbers = raw_columns.number_columns(source)
        sql_of: dict[Use, str] = {}
        joined: set[str] = set()
        for use in ordered:
            if use[0] == "ls":
                sql_of[use] = _system_sql(use, cwl_possible=False)
                continue
            name, path = name_of[use[1]], path_of[use[1]]
            if use[0] == "ln" and path in numbers:
                sql_of[use] = raw_columns.column_sql(numbers[path], "events")
                joined.add(numbers[path])
            elif name in VERBATIM_COLUMNS.get(source, {}):
                sql_of[use] = _numeric(use, f"events.{VERBATIM_COLUMNS[source][name]}")
            elif path in extracted:
                sql_of[use] = _numeric(use, raw_columns.column_sql(extracted[path], "events"))
                joined.add(extracted[path])
            else:  # the document of a record that did not come through CloudWatch Logs is the record
                sql_of[use] = _numeric(use, f"events.raw->>{sql_string(path)}")
        rows = "events AS events" + raw_columns.join_sql(joined, "events")
        test = f"events.source_type = {sql_string(source)}"
        if record_ranges:
            test += f" AND {record_ranges}"
        parsed = [u for u, sql in sql_of.items() if u[0] != "ls" and _RAW in sql]
        if known is not None and parsed and all(known.lacks(source, _top_key(name_of[u[1]])) for u in parsed):
            below = {u: _null(u) if u in parsed else sql for u, sql in sql_of.items()}
            branches.append(
                _filtered_branch(below, rows, f"{test} AND events.event_id <= {known.mark}", where)
            )
            test += f" AND events.event_id > {known.mark}"
        branches.append(_filtered_branch(sql_of, rows, test, where))
    branches += _document_branches(ordered, name_of, path_of, where, known, record_ranges)
    return "(" + " UNION ALL ".join(branches) + ")"


def _document_branches(
    ordered: list[Use],
    name_of: dict[int, str],
    path_of: dict[int, str],
    where: str,
    known: DocKeys | None,
    record_ranges: str | None,
) -> list[str]:
    """The events of the other source types, whose fields are read from their document: the raw
    record, or the message as JSON for CloudWatch Logs events (a branch of their own, so that the
    system fields of the others read no raw record: `stats count(*) by @log` over 4M Azure and
    GCP events took 11 CPU-s reading `raw` for a CASE only CloudWatch rows needed).

    Sources whose records under the mark have none of the fields' first keys (`known`) read them
    as NULL there. Every part's rows are chosen by conditions on one column each, so DuckDB
    applies them inside its scans and decompresses no record it skips (a NOT over source type and
    event id was applied after the scan had decompressed them all: 13 CPU-s at 10M)."""
    keys = {_top_key(name_of[u[1]]) for u in ordered if u[0] != "ls"}
    lacking = _sources_lacking(known, keys) if known is not None and keys else []
    mark = known.mark if known is not None else None
    branches = []
    if lacking:
        nulls = {
            u: _system_sql(u, cwl_possible="cwl" in lacking) if u[0] == "ls" else _null(u) for u in ordered
        }
        unparsed = f"events.source_type IN ({_sql_list(lacking)}) AND events.event_id <= {mark}"
        if record_ranges and "cwl" not in lacking:
            unparsed += f" AND {record_ranges}"
        branches.append(_filtered_branch(nulls, "events AS events", unparsed, where))
    lacking_records = [s for s in lacking if s != "cwl"]
    rows = f"SELECT * FROM events WHERE source_type NOT IN ({_sql_list([*SPECIAL_SOURCES, 'cwl', *lacking_records])})"
    if lacking_records:
        rows += f" UNION ALL SELECT * FROM events WHERE event_id > {mark} AND source_type IN ({_sql_list(lacking_records)})"
    record = {
        u: _system_sql(u, cwl_possible=False)
        if u[0] == "ls"
        else _numeric(u, f"events.raw->>{sql_string(path_of[u[1]])}")
        for u in ordered
    }
    branches.append(_filtered_branch(record, f"({rows}) AS events", record_ranges or "TRUE", where))
    message = {
        u: _system_sql(u, cwl_possible=True)
        if u[0] == "ls"
        else _numeric(u, f"li_doc->>{sql_string(path_of[u[1]])}")
        for u in ordered
    }
    items = ", ".join(f"{sql} AS {_column(use)}" for use, sql in message.items())
    test = f" WHERE {_substitute(where, message)}" if where else ""
    above = f" AND event_id > {mark}" if "cwl" in lacking else ""
    branches.append(
        f"SELECT * EXCLUDE (li_doc), {items} FROM (SELECT *, {MESSAGE_SQL} AS li_doc "
        f"FROM events AS events WHERE source_type = {CWL}{above}) AS events{test}"
    )
    return branches


def _sql_list(values: list[str]) -> str:
    return ", ".join(sql_string(v) for v in values)


def _sources_lacking(known: DocKeys, keys: set[str]) -> list[str]:
    """The source types read from their document whose records under the mark have none of `keys`."""
    return sorted(s for s in known.keys if s not in SPECIAL_SOURCES and all(known.lacks(s, k) for k in keys))


def _top_key(name: str) -> str:
    """The key at the top of the document that a field's path starts with."""
    return name.split(".", 1)[0]


def _null(use: Use) -> str:
    return "NULL::DOUBLE" if use[0] == "ln" else "NULL::VARCHAR"


def _filtered_branch(sql_of: dict[Use, str], rows: str, test: str, where: str) -> str:
    if where:
        test += " AND " + _substitute(where, sql_of)
    return _branch(sql_of, rows, test, bool(where))


def _substitute(sql: str, sql_of: dict[Use, str]) -> str:
    """`sql` with each field marker replaced by that field's SQL in one branch."""
    return _MARKER.sub(lambda m: f"({sql_of[(m.group(1), int(m.group(2)))]})", sql)


_RAW = "events.raw"


def _branch(sql_of: dict[Use, str], rows: str, test: str, filtered: bool) -> str:
    """One source type's events passing `test`, with its fields.

    When fields come from the raw JSON but the test needs only columns, the raw records are
    fetched afterwards, by event id, for the rows that passed: DuckDB decompresses the raw column
    of every row that its scan filters keep, and a condition on several columns, or a bare `in`
    list (pipeline._conjuncts), is applied after the scan. At 10M events an `in` filter keeping no
    rows cost 12-15 CPU-s with the raw read in the same scan, 0.3 apart. (Rows spread over the
    whole table still make it decompress nearly every record either way.)"""
    raw_items = {u for u, sql in sql_of.items() if _RAW in sql}
    if not (filtered and raw_items) or re.search(r"\braw\b", test):
        items = "".join(f", {sql} AS {_column(u)}" for u, sql in sql_of.items())
        return f"SELECT events.*{items} FROM {rows} WHERE {test}"
    inner = ", ".join(f"{sql} AS {_column(u)}" for u, sql in sql_of.items() if u not in raw_items)
    rows_passing = f"(SELECT events.*{', ' + inner if inner else ''} FROM {rows} WHERE {test}) AS events"
    items = ", ".join(
        f"{sql.replace(_RAW, '__raw.raw')} AS {_column(u)}" if u in raw_items else f"events.{_column(u)}"
        for u, sql in sql_of.items()
    )
    kept = ", ".join(_column(u) for u in sql_of if u not in raw_items)
    star = f"events.* {'EXCLUDE (' + kept + ') ' if kept else ''}REPLACE (__raw.raw AS raw)"
    return (
        f"SELECT {star}, {items} FROM {rows_passing} "
        "JOIN (SELECT event_id, raw FROM events) AS __raw ON __raw.event_id = events.event_id"
    )


def resolve_markers(sql: str) -> str:
    """The query's SQL with each field marker replaced by the field's column in `events_source`."""
    return _MARKER.sub(lambda m: _column((m.group(1), int(m.group(2)))), sql)


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
