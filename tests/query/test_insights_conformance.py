"""Conformance: each Logs Insights query gives what a hand-written DuckDB query gives on the case.

The SQL on the right was written from the Logs Insights documentation, not produced by the
translator; `DOC` and `MSG` spell out the documented field rules (viewer/core/query/insights/fields.py)
once so that the queries stay readable. Results are compared as multisets, or as lists when the
query sorts; every query must return at least one row.
"""

from __future__ import annotations

import re
from collections import Counter

import duckdb
import pytest

from query.insights_fixture import insights_case, known_keys  # noqa: F401 - the session fixture
from viewer.core.query.insights import translate
from viewer.core.query.runner import translate_on

# The document whose JSON fields Logs Insights discovers, and @message.
DOCS = (
    "(SELECT *, CASE WHEN source_type = 'cwl' THEN TRY_CAST(raw->>'$.message' AS JSON) ELSE raw END AS doc "
    "FROM events)"
)
MSG = "CASE WHEN source_type = 'cwl' THEN raw->>'$.message' ELSE raw::VARCHAR END"
NUM = "TRY_CAST(doc->>'$.{}' AS DOUBLE)"

CASES: list[tuple[str, str, str, bool]] = [  # (id, Logs Insights, hand-written SQL, ordered)
    (
        "filter_equals",
        'fields @timestamp, eventName | filter eventName = "ConsoleLogin"',
        f"SELECT ts, doc->>'$.eventName' FROM {DOCS} WHERE doc->>'$.eventName' = 'ConsoleLogin'",
        False,
    ),
    (
        "default_output_is_timestamp_and_message",
        'filter errorCode = "AccessDenied"',
        f"SELECT ts, {MSG} FROM {DOCS} WHERE doc->>'$.errorCode' = 'AccessDenied'",
        False,
    ),
    (
        "not_equal_and_stats_by_field",
        'filter eventSource = "s3.amazonaws.com" and eventName != "GetObject" | stats count(*) by eventName',
        f"SELECT doc->>'$.eventName', count(*) FROM {DOCS} WHERE doc->>'$.eventSource' = 's3.amazonaws.com' "
        "AND doc->>'$.eventName' <> 'GetObject' GROUP BY 1",
        False,
    ),
    (
        "top_n_sorted",
        "stats count(*) as n by eventSource | sort n desc, eventSource asc | limit 5",
        f"SELECT doc->>'$.eventSource' AS s, count(*) AS n FROM {DOCS} GROUP BY 1 ORDER BY n DESC, s ASC LIMIT 5",
        True,
    ),
    (
        "like_substring",
        'filter userIdentity.arn like "erin.kowalski" | fields eventName, userIdentity.arn',
        f"SELECT doc->>'$.eventName', doc->>'$.userIdentity.arn' FROM {DOCS} "
        "WHERE doc->>'$.userIdentity.arn' LIKE '%erin.kowalski%'",
        False,
    ),
    (
        "like_regex",
        r"filter userIdentity.arn like /assumed-role\/AWSReservedSSO_\w+\// | stats count(*) by userIdentity.arn",
        f"SELECT doc->>'$.userIdentity.arn', count(*) FROM {DOCS} "
        r"WHERE regexp_matches(doc->>'$.userIdentity.arn', 'assumed-role/AWSReservedSSO_\w+/') GROUP BY 1",
        False,
    ),
    (
        "regex_operator_case_insensitive",
        "filter eventName =~ /(?i)^consolelogin$/ | fields eventName, sourceIPAddress",
        f"SELECT doc->>'$.eventName', doc->>'$.sourceIPAddress' FROM {DOCS} "
        "WHERE lower(doc->>'$.eventName') = 'consolelogin'",
        False,
    ),
    (
        "not_like",
        'filter eventSource = "sts.amazonaws.com" and eventName not like "AssumeRole" | stats count(*) by eventName',
        f"SELECT doc->>'$.eventName', count(*) FROM {DOCS} WHERE doc->>'$.eventSource' = 'sts.amazonaws.com' "
        "AND doc->>'$.eventName' NOT LIKE '%AssumeRole%' GROUP BY 1",
        False,
    ),
    (
        "in_list",
        'filter errorCode in ["AccessDenied", "AccessDeniedException"] | fields eventName, errorCode',
        f"SELECT doc->>'$.eventName', doc->>'$.errorCode' FROM {DOCS} "
        "WHERE doc->>'$.errorCode' = 'AccessDenied' OR doc->>'$.errorCode' = 'AccessDeniedException'",
        False,
    ),
    (
        "not_in_list",
        'filter ispresent(errorCode) and errorCode not in ["ThrottlingException"] | stats count(*) by errorCode',
        f"SELECT doc->>'$.errorCode', count(*) FROM {DOCS} WHERE doc->>'$.errorCode' <> 'ThrottlingException' "
        "GROUP BY 1",
        False,
    ),
    (
        "numeric_comparison_on_json_number",
        "filter additionalEventData.bytesTransferredOut > 20000 "
        "| fields requestParameters.key, additionalEventData.bytesTransferredOut",
        f"SELECT doc->>'$.requestParameters.key', doc->>'$.additionalEventData.bytesTransferredOut' FROM {DOCS} "
        f"WHERE {NUM.format('additionalEventData.bytesTransferredOut')} > 20000",
        False,
    ),
    (
        "numeric_in_list",
        "filter additionalEventData.bytesTransferredOut in [0] | stats count(*) as zero_out",
        f"SELECT count(*) FROM {DOCS} WHERE {NUM.format('additionalEventData.bytesTransferredOut')} = 0",
        False,
    ),
    (
        "count_distinct",
        "stats count_distinct(sourceIPAddress) as ips by eventSource",
        f"SELECT doc->>'$.eventSource', count(DISTINCT doc->>'$.sourceIPAddress') FROM {DOCS} GROUP BY 1",
        False,
    ),
    (
        "sum_and_avg_of_json_numbers",
        'filter eventSource = "s3.amazonaws.com" | stats sum(additionalEventData.bytesTransferredOut) as out, '
        "avg(additionalEventData.bytesTransferredIn) as inb by eventName",
        f"SELECT doc->>'$.eventName', sum({NUM.format('additionalEventData.bytesTransferredOut')}), "
        f"avg({NUM.format('additionalEventData.bytesTransferredIn')}) FROM {DOCS} "
        "WHERE doc->>'$.eventSource' = 's3.amazonaws.com' GROUP BY 1",
        False,
    ),
    (
        "min_max_of_text",
        "stats min(eventTime) as first, max(eventTime) as last by userIdentity.type",
        f"SELECT doc->>'$.userIdentity.type', min(doc->>'$.eventTime'), max(doc->>'$.eventTime') FROM {DOCS} "
        "GROUP BY 1",
        False,
    ),
    (
        "min_max_of_numbers_stored_as_text",
        "filter ispresent(latency) | stats max(latency) as hi, min(latency) as lo",
        f"SELECT arg_max(doc->>'$.latency', {NUM.format('latency')}), arg_min(doc->>'$.latency', {NUM.format('latency')}) "
        f"FROM {DOCS} WHERE doc->>'$.latency' IS NOT NULL",
        False,
    ),
    (
        "stats_by_bin_5m",
        'filter eventSource = "s3.amazonaws.com" | stats count(*) as n by bin(5m)',
        f"SELECT time_bucket(INTERVAL '5 minutes', ts), count(*) FROM {DOCS} "
        "WHERE doc->>'$.eventSource' = 's3.amazonaws.com' GROUP BY 1",
        False,
    ),
    (
        "filter_after_stats",
        "stats count(*) as n by bin(1h), eventSource | filter n > 10",
        f"SELECT date_trunc('hour', ts) AS h, doc->>'$.eventSource' AS s, count(*) AS n FROM {DOCS} "
        "GROUP BY h, s HAVING count(*) > 10",
        False,
    ),
    (
        "two_stats",
        "stats count(*) as n by bin(1h) | stats max(n) as peak, avg(n) as mean, min(n) as low",
        f"SELECT max(n), avg(n), min(n) FROM (SELECT date_trunc('hour', ts), count(*) AS n FROM {DOCS} GROUP BY 1)",
        False,
    ),
    (
        "two_stats_with_filter_between",
        "stats count_distinct(sourceIPAddress) as ips, count(*) as calls by userIdentity.arn | filter ips > 1 "
        "| stats count(*) as principals, sum(calls) as total",
        "SELECT count(*), sum(calls) FROM (SELECT doc->>'$.userIdentity.arn', "
        f"count(DISTINCT doc->>'$.sourceIPAddress') AS ips, count(*) AS calls FROM {DOCS} GROUP BY 1) WHERE ips > 1",
        False,
    ),
    (
        "datefloor_day",
        "fields datefloor(@timestamp, 1d) as day | stats count(*) by day",
        f"SELECT date_trunc('day', ts), count(*) FROM {DOCS} GROUP BY 1",
        False,
    ),
    (
        "parse_glob",
        'parse @message "[*] user=*, method:*, latency := *" as level, user, method, latency '
        "| filter ispresent(level) | stats count(*) as n, sum(latency) as total by user, level",
        "SELECT m.u, m.lv, count(*), sum(TRY_CAST(m.lat AS DOUBLE)) FROM (SELECT regexp_extract("
        f"{MSG}, '\\[(.*?)\\] user=(.*?), method:(.*?), latency := (.*)', ['lv', 'u', 'me', 'lat']) AS m, "
        f"regexp_matches({MSG}, '\\[.*?\\] user=') AS ok FROM events) WHERE ok GROUP BY 1, 2",
        False,
    ),
    (
        "parse_regex_named_groups",
        r"parse @message /user=(?<u>\w+), method:(?<m>[A-Z]+)/ | filter ispresent(u) | display u, m, @logStream",
        r"SELECT regexp_extract(raw->>'$.message', 'user=(\w+), method:([A-Z]+)', 1), "
        r"regexp_extract(raw->>'$.message', 'user=(\w+), method:([A-Z]+)', 2), raw->>'$.logStreamName' "
        r"FROM events WHERE source_type = 'cwl' AND regexp_matches(raw->>'$.message', 'user=\w+, method:[A-Z]+')",
        False,
    ),
    (
        "parse_keeps_events_that_do_not_match",
        'parse @message "START RequestId: * Version" as rid | filter @log = "/aws/lambda/orders-api" '
        "| fields @message, rid",
        "SELECT raw->>'$.message', CASE WHEN starts_with(raw->>'$.message', 'START RequestId: ') "
        "THEN split_part(substr(raw->>'$.message', 18), ' Version', 1) END "
        "FROM events WHERE source_type = 'cwl' AND raw->>'$.logGroupName' = '/aws/lambda/orders-api'",
        False,
    ),
    (
        "log_stream_of_cloudwatch_events",
        'filter @log = "/aws/lambda/orders-api" | stats count(*) by @logStream',
        "SELECT raw->>'$.logStreamName', count(*) FROM events "
        "WHERE source_type = 'cwl' AND raw->>'$.logGroupName' = '/aws/lambda/orders-api' GROUP BY 1",
        False,
    ),
    (
        "log_stream_of_file_events_is_the_evidence_file",
        'filter eventSource = "cloudtrail.amazonaws.com" | stats count(*) by @logStream, @log',
        "SELECT v.rel_path, e.source_type, count(*) FROM events e JOIN evidence v USING (evidence_id) "
        "WHERE e.raw->>'$.eventSource' = 'cloudtrail.amazonaws.com' GROUP BY 1, 2",
        False,
    ),
    (
        "json_message_fields_of_cloudwatch_events",
        'filter level = "ERROR" or level = "WARN" | fields requestId, latency, user.name',
        "SELECT m->>'$.requestId', m->>'$.latency', m->>'$.user.name' FROM (SELECT "
        "TRY_CAST(raw->>'$.message' AS JSON) AS m FROM events WHERE source_type = 'cwl') "
        "WHERE m->>'$.level' IN ('ERROR', 'WARN')",
        False,
    ),
    (
        "message_regex",
        r"filter @message like /\[ERROR\]/ | fields @timestamp, @message",
        f"SELECT ts, {MSG} FROM events WHERE contains({MSG}, '[ERROR]')",
        False,
    ),
    (
        "tolower_toupper",
        'fields tolower(eventName) as lower_name, toupper(eventSource) as src | filter eventSource = "signin.amazonaws.com"',
        f"SELECT lower(doc->>'$.eventName'), upper(doc->>'$.eventSource') FROM {DOCS} "
        "WHERE doc->>'$.eventSource' = 'signin.amazonaws.com'",
        False,
    ),
    (
        "strlen_concat",
        'fields concat(eventSource, "/", eventName) as call, strlen(eventName) as len | filter eventName like "Delete"',
        f"SELECT doc->>'$.eventSource' || '/' || (doc->>'$.eventName'), length(doc->>'$.eventName') FROM {DOCS} "
        "WHERE contains(doc->>'$.eventName', 'Delete')",
        False,
    ),
    (
        "arithmetic",
        "filter additionalEventData.bytesTransferredIn > 0 | fields additionalEventData.bytesTransferredIn / 1024 "
        "as kib, (additionalEventData.bytesTransferredIn + 1) % 7 as m, 2 ^ 3 as eight",
        f"SELECT {NUM.format('additionalEventData.bytesTransferredIn')} / 1024, "
        f"fmod({NUM.format('additionalEventData.bytesTransferredIn')} + 1, 7), 8 FROM {DOCS} "
        f"WHERE {NUM.format('additionalEventData.bytesTransferredIn')} > 0",
        False,
    ),
    (
        "abs_floor_ceil",
        "filter ispresent(latency) | fields abs(latency - 100) as dist, floor(latency / 7) as f, ceil(latency / 7) as c",
        f"SELECT abs({NUM.format('latency')} - 100), floor({NUM.format('latency')} / 7), "
        f"ceil({NUM.format('latency')} / 7) FROM {DOCS} WHERE doc->>'$.latency' IS NOT NULL",
        False,
    ),
    (
        "ispresent_isempty_show_as_numbers",
        "fields ispresent(errorCode) as has_error, isempty(errorMessage) as no_message "
        '| filter eventSource = "ec2.amazonaws.com" | stats count(*) by has_error, no_message',
        "SELECT (doc->>'$.errorCode' IS NOT NULL)::INTEGER, (coalesce(doc->>'$.errorMessage', '') = '')::INTEGER, count(*) "
        f"FROM {DOCS} WHERE doc->>'$.eventSource' = 'ec2.amazonaws.com' GROUP BY 1, 2",
        False,
    ),
    (
        "not_with_parentheses",
        'filter not (eventSource = "s3.amazonaws.com" or eventSource = "ec2.amazonaws.com") '
        'and userIdentity.type = "IAMUser" | stats count(*) by eventSource',
        f"SELECT doc->>'$.eventSource', count(*) FROM {DOCS} WHERE doc->>'$.eventSource' NOT IN "
        "('s3.amazonaws.com', 'ec2.amazonaws.com') AND doc->>'$.userIdentity.type' = 'IAMUser' GROUP BY 1",
        False,
    ),
    (
        "and_binds_tighter_than_or",
        'filter eventName = "ConsoleLogin" or eventName = "CreateAccessKey" and errorCode = "AccessDenied" '
        "| fields eventName, errorCode",
        f"SELECT doc->>'$.eventName', doc->>'$.errorCode' FROM {DOCS} WHERE doc->>'$.eventName' = 'ConsoleLogin' "
        "OR (doc->>'$.eventName' = 'CreateAccessKey' AND doc->>'$.errorCode' = 'AccessDenied')",
        False,
    ),
    (
        "dedup_keeps_most_recent_and_nulls",
        "filter ispresent(sourceIPAddress) | fields @timestamp, userIdentity.arn, sourceIPAddress "
        "| dedup userIdentity.arn",
        f"SELECT ts, doc->>'$.userIdentity.arn' AS arn, doc->>'$.sourceIPAddress' FROM {DOCS} "
        "WHERE doc->>'$.sourceIPAddress' IS NOT NULL QUALIFY arn IS NULL OR "
        "row_number() OVER (PARTITION BY arn ORDER BY ts DESC, event_id DESC) = 1",
        False,
    ),
    (
        "dedup_after_sort_keeps_first",
        "fields eventName, sourceIPAddress, @timestamp | sort @timestamp asc | dedup sourceIPAddress",
        f"SELECT doc->>'$.eventName', doc->>'$.sourceIPAddress' AS ip, ts FROM {DOCS} "
        "QUALIFY ip IS NULL OR row_number() OVER (PARTITION BY ip ORDER BY ts ASC, event_id DESC) = 1",
        False,
    ),
    (
        "sort_numbers_stored_as_text_numerically",
        "filter ispresent(additionalEventData.bytesTransferredOut) "
        "| stats count(*) as n by additionalEventData.bytesTransferredOut as b | sort b desc | limit 5",
        f"SELECT doc->>'$.additionalEventData.bytesTransferredOut' AS b, count(*) FROM {DOCS} WHERE b IS NOT NULL "
        "GROUP BY 1 ORDER BY TRY_CAST(b AS DOUBLE) DESC LIMIT 5",
        True,
    ),
    (
        "sort_by_timestamp_with_limit",
        "fields @timestamp, eventName | sort @timestamp desc | limit 25",
        f"SELECT ts, doc->>'$.eventName' FROM {DOCS} ORDER BY ts DESC, event_id DESC LIMIT 25",
        True,
    ),
    (
        "stats_without_groups",
        'filter userIdentity.type = "Root" or userIdentity.type = "IAMUser" | stats count(*) as n',
        f"SELECT count(*) FROM {DOCS} WHERE doc->>'$.userIdentity.type' IN ('Root', 'IAMUser')",
        False,
    ),
    (
        "count_of_a_field_counts_events_having_it",
        "stats count(errorCode) as errors, count(*) as total by eventSource",
        f"SELECT doc->>'$.eventSource', count(doc->>'$.errorCode'), count(*) FROM {DOCS} GROUP BY 1",
        False,
    ),
    (  # `level` is only in Lambda JSON messages: every other source reads it as NULL, unparsed once built
        "field_of_one_source_grouped_over_all",
        "stats count(*) as n, sum(latency) as total by level",
        f"SELECT doc->>'$.level', count(*), sum({NUM.format('latency')}) FROM {DOCS} GROUP BY 1",
        False,
    ),
    (  # a field no source has under the mark, and a condition true where it is missing
        "missing_everywhere_and_not_present",
        "filter not ispresent(serviceEventDetails.nothing) | stats count(*) as n by @log",
        "SELECT coalesce(CASE WHEN source_type = 'cwl' THEN raw->>'$.logGroupName' END, source_type), count(*) "
        f"FROM {DOCS} WHERE doc->>'$.serviceEventDetails.nothing' IS NULL GROUP BY 1",
        False,
    ),
    (
        "backticked_field_with_hyphen",
        'fields `additionalEventData.x-amz-id-2` as id2, eventName | filter ispresent(id2) and eventName = "PutObject"',
        f"SELECT doc->>'$.additionalEventData.\"x-amz-id-2\"', doc->>'$.eventName' FROM {DOCS} "
        "WHERE doc->>'$.additionalEventData.\"x-amz-id-2\"' IS NOT NULL AND doc->>'$.eventName' = 'PutObject'",
        False,
    ),
    (
        "array_element_by_index",
        "filter ispresent(resources.1.ARN) | stats count(*) by resources.1.type",
        f"SELECT doc->>'$.resources[1].type', count(*) FROM {DOCS} WHERE doc->>'$.resources[1].ARN' IS NOT NULL "
        "GROUP BY 1",
        False,
    ),
    (
        "upper_case_keywords",
        'FIELDS eventName | FILTER eventSource = "kms.amazonaws.com" | STATS COUNT(*) AS n BY eventName '
        "| SORT n DESC, eventName ASC | LIMIT 3",
        f"SELECT doc->>'$.eventName' AS e, count(*) AS n FROM {DOCS} WHERE doc->>'$.eventSource' = 'kms.amazonaws.com' "
        "GROUP BY 1 ORDER BY n DESC, e ASC LIMIT 3",
        True,
    ),
    (
        "comments_are_ignored",
        '# top talkers\nfilter ispresent(sourceIPAddress)\n# | filter eventName = "none"\n'
        "| stats count(*) as n by sourceIPAddress | sort n desc | limit 3",
        f"SELECT doc->>'$.sourceIPAddress', count(*) AS n FROM {DOCS} WHERE doc->>'$.sourceIPAddress' IS NOT NULL "
        "GROUP BY 1 ORDER BY n DESC LIMIT 3",
        True,
    ),
    (
        "timestamp_compares_as_epoch_milliseconds",
        'filter @timestamp >= 1710460800000 and eventSource = "sts.amazonaws.com" | stats count(*) as n',
        f"SELECT count(*) FROM {DOCS} WHERE ts >= TIMESTAMPTZ '2024-03-15 00:00:00+00' "
        "AND doc->>'$.eventSource' = 'sts.amazonaws.com'",
        False,
    ),
    (
        "last_display_wins",
        'fields eventName, eventSource | display eventSource | display eventName | filter errorCode = "AccessDenied"',
        f"SELECT doc->>'$.eventName' FROM {DOCS} WHERE doc->>'$.errorCode' = 'AccessDenied'",
        False,
    ),
    (
        "fields_commands_add_up",
        'fields eventName | fields eventSource | filter errorCode = "ThrottlingException"',
        f"SELECT doc->>'$.eventName', doc->>'$.eventSource' FROM {DOCS} WHERE doc->>'$.errorCode' = 'ThrottlingException'",
        False,
    ),
    (
        "discovered_fields_inside_a_cloudwatch_json_message",
        'filter sourceIPAddress = "203.0.113.9" | fields eventName, @log, @logStream',
        "SELECT TRY_CAST(raw->>'$.message' AS JSON)->>'$.eventName', raw->>'$.logGroupName', "
        "raw->>'$.logStreamName' FROM events WHERE source_type = 'cwl' AND raw->>'$.message' LIKE '%203.0.113.9%'",
        False,
    ),
    (  # in-list on columns, record fields fetched after the filter, one from raw_fields (roleArn)
        "in_list_then_record_and_extracted_fields",
        'filter eventName in ["ConsoleLogin", "CreateAccessKey", "AssumeRole"] '
        "| fields @timestamp, eventName, userIdentity.arn, requestParameters.roleArn",
        "SELECT ts, doc->>'$.eventName', doc->>'$.userIdentity.arn', doc->>'$.requestParameters.roleArn' "
        f"FROM {DOCS} WHERE doc->>'$.eventName' IN ('ConsoleLogin', 'CreateAccessKey', 'AssumeRole')",
        False,
    ),
    (  # a regex on a column, then stats over a record field and an extracted one (bucketName)
        "regex_filter_then_stats_by_record_and_extracted_fields",
        "filter errorCode like /Denied|NoSuch/ or eventName like /^Get/ "
        "| stats count(*) as n by userIdentity.arn, requestParameters.bucketName",
        "SELECT doc->>'$.userIdentity.arn', doc->>'$.requestParameters.bucketName', count(*) "
        f"FROM {DOCS} WHERE regexp_matches(doc->>'$.errorCode', 'Denied|NoSuch') "
        "OR regexp_matches(doc->>'$.eventName', '^Get') GROUP BY ALL",
        False,
    ),
    (  # the terms of an `and` are conditions of their own; an in-list or an `or` term in the scan
        "and_of_in_list_or_and_message_like",
        'filter eventName in ["CreateAccessKey", "AssumeRole", "GetObject"] and @message like "203.0.113" '
        'and (errorCode = "AccessDenied" or eventSource like "s3") | fields @timestamp, eventName, @log',
        f"SELECT ts, doc->>'$.eventName', coalesce(CASE WHEN source_type = 'cwl' THEN raw->>'$.logGroupName' END, "
        f"source_type) FROM {DOCS} WHERE doc->>'$.eventName' IN ('CreateAccessKey', 'AssumeRole', 'GetObject') "
        f"AND {MSG} LIKE '%203.0.113%' AND (doc->>'$.errorCode' = 'AccessDenied' "
        "OR doc->>'$.eventSource' LIKE '%s3%')",
        False,
    ),
    (  # a negated in-list or `or` keeps three-valued logic: a missing field matches neither
        "not_in_list_and_negated_or",
        'filter eventName not in ["ConsoleLogin", "GetObject"] and not (errorCode = "AccessDenied" '
        'or errorCode = "ThrottlingException") | stats count(*) as n by eventName',
        f"SELECT doc->>'$.eventName', count(*) FROM {DOCS} WHERE doc->>'$.eventName' NOT IN ('ConsoleLogin', "
        "'GetObject') AND NOT (doc->>'$.errorCode' = 'AccessDenied' OR doc->>'$.errorCode' = 'ThrottlingException') "
        "GROUP BY 1",
        False,
    ),
    (  # @log is the log group of a CloudWatch event, the kind of log of any other
        "stats_by_log_group_over_every_source",
        "stats count(*) as events, min(@timestamp) as first_seen, max(@timestamp) as last_seen by @log",
        "SELECT coalesce(CASE WHEN source_type = 'cwl' THEN raw->>'$.logGroupName' END, source_type) AS g, "
        "count(*), min(ts), max(ts) FROM events GROUP BY 1",
        False,
    ),
    (  # @message and @logStream of CloudTrail rows (no raw read for @log) next to CloudWatch ones
        "message_and_stream_by_source",
        'filter @log = "cloudtrail" or @log like "/aws/" | stats count(*) as n, count_distinct(@message) as m '
        "by @logStream",
        "SELECT coalesce(CASE WHEN source_type = 'cwl' THEN raw->>'$.logStreamName' END, "
        "(SELECT coalesce(ev.rel_path, ev.path) FROM evidence ev WHERE ev.evidence_id = e.evidence_id)), "
        f"count(*), count(DISTINCT {MSG}) FROM events e WHERE coalesce(CASE WHEN source_type = 'cwl' THEN "
        "raw->>'$.logGroupName' END, source_type) = 'cloudtrail' OR coalesce(CASE WHEN source_type = 'cwl' "
        "THEN raw->>'$.logGroupName' END, source_type) LIKE '%/aws/%' GROUP BY 1",
        False,
    ),
]


def _normalized(rows: list[tuple]) -> list[tuple]:
    return [tuple(round(v, 6) if isinstance(v, float) else v for v in row) for row in rows]


@pytest.mark.parametrize(
    "knowing",
    ["nothing", "keys", "case"],
    ids=["assuming nothing", "with the case's key sets", "with key sets and free-text index (translate_on)"],
)
@pytest.mark.parametrize(
    ("query", "expected_sql", "ordered"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_query_matches_hand_written_sql(
    insights_case: duckdb.DuckDBPyConnection,  # noqa: F811 - the fixture imported above
    query: str,
    expected_sql: str,
    ordered: bool,
    knowing: str,
) -> None:
    if knowing == "case":
        translation = translate_on(insights_case, "insights", query)
    else:
        translation = translate(query, known_keys(insights_case) if knowing == "keys" else None)
    got = _normalized(insights_case.execute(translation.sql).fetchall())
    expected = _normalized(insights_case.execute(expected_sql).fetchall())
    assert expected, "a conformance case must return rows on the fixture case"
    if ordered:
        assert got == expected
    else:
        assert Counter(got) == Counter(expected)


def test_the_suite_is_large_enough() -> None:
    assert len(CASES) >= 40
    assert len({c[0] for c in CASES}) == len(CASES)


def test_the_case_translation_leaves_sources_lacking_the_fields_unparsed(
    insights_case: duckdb.DuckDBPyConnection,  # noqa: F811 - the fixture imported above
) -> None:
    """What the runner, the CLI and Show SQL run (`translate_on`): the GCP audit and Lambda
    CloudWatch records under the mark have neither `eventSource` nor `eventName`, so they are read
    in a branch without the raw JSON, and the branch that parses records leaves them out (the
    results are compared above). Azure activity records have an `eventName`: parsed."""
    query = 'filter eventSource = "signin.amazonaws.com" | fields eventName'
    mark = known_keys(insights_case).mark
    sql = translate_on(insights_case, "insights", query).sql
    unparsed = re.search(
        r"SELECT events\.\*, ([^()]*) FROM events AS events WHERE events\.source_type IN \(([^)]*)\)", sql
    )
    assert unparsed is not None and f"events.event_id <= {mark}" in sql
    assert set(re.findall(r"'(\w+)'", unparsed.group(2))) == {"cwl", "gcp_audit"}
    assert "raw" not in unparsed.group(1) and "NULL::VARCHAR" in unparsed.group(1)
    parsed_list = re.search(r"source_type NOT IN \(([^)]*)\)", sql)
    assert parsed_list is not None
    assert "gcp_audit" in re.findall(r"'(\w+)'", parsed_list.group(1))
    assert sql != translate(query).sql  # assuming nothing, they are parsed
