"""KQL conformance cases: (id, fixture, KQL, hand-written DuckDB SQL, ordered).

The SQL is written by hand from the KQL documentation's meaning of each query, not produced by
the translator. CT is the AWSCloudTrail relation (common.SOURCE_TABLES), written out.
`ordered` cases compare rows in order (their sort keys are unique); others compare multisets.
"""

from __future__ import annotations

from viewer.schema import field_names

CT = "(SELECT * FROM events WHERE source_type = 'cloudtrail')"
_KEPT = ", ".join(n for n in field_names() if n not in ("raw", "ts_end", "ingest_ts", "event_id"))

CASES: list[tuple[str, str, str, str, bool]] = [
    ("where_eq", "sample",
     'AWSCloudTrail | where EventName == "ConsoleLogin" | project ts, principal_name, src_ip',
     f"SELECT ts, principal_name, src_ip FROM {CT} WHERE action = 'ConsoleLogin'", False),
    ("where_eq_tilde", "sample",
     'events | where action =~ "consolelogin" | summarize n = count()',
     "SELECT count(*) FROM events WHERE lower(action) = 'consolelogin'", False),
    ("neq_keeps_empty_strings", "sample",
     'events | where error_code != "ThrottlingException" | summarize n = count()',
     "SELECT count(*) FROM events WHERE error_code IS DISTINCT FROM 'ThrottlingException'", False),
    ("has_whole_ip", "sample",
     'events | where src_ip has "198.51.100.10" | summarize n = count() by src_ip',
     "SELECT src_ip, count(*) FROM events WHERE src_ip = '198.51.100.10' GROUP BY src_ip", False),
    ("has_term_case_insensitive", "sample",
     'events | where user_agent has "AMZN2" | summarize n = count() by user_agent',
     "SELECT user_agent, count(*) FROM events WHERE user_agent LIKE '%.amzn2.%' GROUP BY user_agent", False),
    ("not_has", "sample",
     'events | where user_agent !has "python" | summarize n = count()',
     "SELECT count(*) FROM events WHERE NOT regexp_matches(lower(user_agent), '(^|[^a-z0-9])python([^a-z0-9]|$)')",
     False),
    ("contains_case_insensitive", "sample",
     'events | where user_agent contains "MOZILLA" | summarize n = count() by user_agent',
     "SELECT user_agent, count(*) FROM events WHERE user_agent ILIKE '%mozilla%' GROUP BY 1", False),
    ("contains_cs_negated", "sample",
     'events | where user_agent contains_cs "Mozilla" and user_agent !contains_cs "Windows" | summarize n = count()',
     "SELECT count(*) FROM events WHERE user_agent LIKE '%Mozilla%' AND user_agent NOT LIKE '%Windows%'", False),
    ("startswith_case_insensitive", "sample",
     'events | where principal_name startswith "FRANK" | summarize n = count() by principal_name',
     "SELECT principal_name, count(*) FROM events WHERE lower(principal_name) LIKE 'frank%' GROUP BY 1", False),
    ("endswith_cs", "sample",
     'events | where principal_name endswith_cs "@acme.example" | summarize n = count() by principal_name',
     "SELECT principal_name, count(*) FROM events WHERE principal_name LIKE '%@acme.example' GROUP BY 1", False),
    ("in_list", "sample",
     'events | where action in ("GetObject", "PutObject") | summarize n = count() by action',
     "SELECT action, count(*) FROM events WHERE action IN ('GetObject', 'PutObject') GROUP BY 1", False),
    ("not_in_list", "sample",
     'events | where service !in ("s3.amazonaws.com", "ec2.amazonaws.com") | summarize n = count() by service',
     "SELECT service, count(*) FROM events WHERE service NOT IN ('s3.amazonaws.com', 'ec2.amazonaws.com') GROUP BY 1",
     False),
    ("in_tilde", "sample",
     'events | where action in~ ("getobject", "LISTBUCKETS") | summarize n = count() by action',
     "SELECT action, count(*) FROM events WHERE lower(action) IN ('getobject', 'listbuckets') GROUP BY 1", False),
    ("between_datetimes", "sample",
     "events | where ts between (datetime(2024-03-12) .. datetime(2024-03-12 23:59:59)) | summarize n = count()",
     "SELECT count(*) FROM events WHERE ts >= TIMESTAMPTZ '2024-03-12 00:00:00+00' "
     "AND ts <= TIMESTAMPTZ '2024-03-12 23:59:59+00'", False),
    ("matches_regex", "sample",
     'events | where action matches regex "^Describe(Instances|Vpcs)$" | summarize n = count() by action',
     "SELECT action, count(*) FROM events WHERE action IN ('DescribeInstances', 'DescribeVpcs') GROUP BY 1", False),
    ("project_rename_then_where", "sample",
     'events | project ts, who = principal_name, ip = src_ip | where who == "backup-admin"',
     "SELECT ts, principal_name, src_ip FROM events WHERE principal_name = 'backup-admin'", False),
    ("project_away", "sample",
     'AWSCloudTrail | where action == "ConsoleLogin" | project-away raw, ts_end, ingest_ts | project-away event_id',
     f"SELECT {_KEPT} FROM {CT} WHERE action = 'ConsoleLogin'", False),
    ("extend_bin_hour", "sample",
     "events | extend hour = bin(ts, 1h) | summarize n = count() by hour, outcome",
     "SELECT date_trunc('hour', ts), outcome, count(*) FROM events GROUP BY ALL", False),
    ("extend_replaces_column", "sample",
     'events | extend region = "eu" | summarize n = count() by region',
     "SELECT 'eu', count(*) FROM events", False),
    ("summarize_many_aggregates", "sample",
     "events | summarize n = count(), ips = dcount(src_ip), first = min(ts), last = max(ts) by principal_type",
     "SELECT principal_type, count(*), count(DISTINCT src_ip), min(ts), max(ts) FROM events GROUP BY 1", False),
    # dcount runs as two groupings (by the keys and the value, then by the keys): same answers
    ("summarize_dcount_without_groups", "sample",
     "events | summarize n = count(), ips = dcount(src_ip), bytes_sum = sum(bytes), first = min(ts)",
     "SELECT count(*), count(DISTINCT coalesce(src_ip, '')), sum(bytes), min(ts) FROM events", False),
    ("summarize_dcount_with_make_set", "sample",
     "AWSCloudTrail | summarize who = make_set(principal_id), n = dcount(principal_id), calls = count() by src_ip"
     " | where n > 1",
     "SELECT coalesce(src_ip, ''), list(DISTINCT coalesce(principal_id, '')), count(DISTINCT coalesce(principal_id, '')), "
     f"count(*) FROM {CT} GROUP BY 1 HAVING count(DISTINCT coalesce(principal_id, '')) > 1", False),
    # summarize then `where` on a count or dcount: only groups of that many rows are summarized
    ("summarize_dcount_floor_by_bin", "sample",
     "AWSCloudTrail | summarize calls = count(), actions = dcount(action) by principal_id, w = bin(ts, 1h)"
     " | where actions >= 3 and calls > 4",
     "SELECT coalesce(principal_id, ''), date_trunc('hour', ts), count(*), count(DISTINCT coalesce(action, '')) "
     f"FROM {CT} GROUP BY 1, 2 HAVING count(DISTINCT coalesce(action, '')) >= 3 AND count(*) > 4", False),
    ("summarize_count_floor_default_name_null_keys", "multi",
     "events | summarize count() by dst_port, source_type | where count_ > 2",
     "SELECT dst_port, coalesce(source_type, ''), count(*) FROM events GROUP BY 1, 2 HAVING count(*) > 2", False),
    ("summarize_dcount_with_avg_stays_one_grouping", "sample",
     "events | summarize n = dcount(action), a = avg(severity_id) by source_type",
     "SELECT source_type, count(DISTINCT coalesce(action, '')), avg(severity_id) FROM events GROUP BY 1", False),
    ("summarize_default_names", "sample",
     "events | summarize count(), dcount(action) by region",
     "SELECT region, count(*), count(DISTINCT action) FROM events GROUP BY 1", False),
    ("bin_timegenerated_render", "sample",
     "AWSCloudTrail | summarize n = count() by bin(TimeGenerated, 1h) | render timechart",
     f"SELECT date_trunc('hour', ts), count(*) FROM {CT} GROUP BY 1", False),
    ("bin_day_by_outcome", "sample",
     "events | summarize n = count() by bin(ts, 1d), outcome",
     "SELECT date_trunc('day', ts), outcome, count(*) FROM events GROUP BY ALL", False),
    ("bin_week_from_epoch", "sample",
     "events | summarize n = count() by bin(ts, 7d)",
     "SELECT to_timestamp(floor(epoch(ts) / 604800) * 604800), count(*) FROM events GROUP BY 1", False),
    ("sum_avg", "sample",
     "events | summarize total = sum(record_index), mean = avg(record_index) by evidence_id",
     "SELECT evidence_id, sum(record_index), avg(record_index) FROM events GROUP BY 1", False),
    ("make_set", "sample",
     'events | where principal_type == "IAMUser" | summarize actions = make_set(action) by principal_name',
     "SELECT principal_name, list(DISTINCT action) FROM events WHERE principal_type = 'IAMUser' GROUP BY 1",
     False),
    ("top_default_desc", "sample",
     "events | summarize n = count() by action | top 5 by n",
     "SELECT action, count(*) AS n FROM events GROUP BY 1 ORDER BY n DESC LIMIT 5", True),
    ("sort_default_desc_take", "sample",
     "events | summarize n = count() by service | sort by n | take 3",
     "SELECT service, count(*) AS n FROM events GROUP BY 1 ORDER BY n DESC LIMIT 3", True),
    ("sort_asc_two_keys", "sample",
     "events | summarize n = count() by service | order by n asc, service asc",
     "SELECT service, count(*) AS n FROM events GROUP BY 1 ORDER BY n ASC, service ASC", True),
    ("sort_order_survives_project", "sample",
     'events | where principal_name == "backup-admin" | sort by ts asc, event_id asc | project ts, action | take 20',
     "SELECT ts, action FROM events WHERE principal_name = 'backup-admin' ORDER BY ts, event_id LIMIT 20", True),
    # a second sort replaces the first one's keys, also after a project that dropped its column
    ("sort_project_resort_take", "sample",
     'events | where action == "ConsoleLogin" | sort by src_ip asc | project event_id, principal_name, ts '
     "| sort by principal_name asc, ts desc, event_id asc | take 10",
     "SELECT event_id, principal_name, ts FROM events WHERE action = 'ConsoleLogin' "
     "ORDER BY principal_name ASC NULLS FIRST, ts DESC NULLS LAST, event_id ASC LIMIT 10", True),
    ("take_more_than_there_is", "sample",
     'events | where action == "ConsoleLogin" | take 1000 | project event_id',
     "SELECT event_id FROM events WHERE action = 'ConsoleLogin'", False),
    ("distinct_two_columns", "sample",
     "events | distinct principal_type, outcome",
     "SELECT DISTINCT principal_type, outcome FROM events", False),
    ("distinct_string_with_missing", "sample",
     "events | distinct error_code",
     "SELECT DISTINCT coalesce(error_code, '') FROM events", False),
    ("join_inner_on_key", "sample",
     'let logins = AWSCloudTrail | where action == "ConsoleLogin" | summarize logins = count() by src_ip;\n'
     "AWSCloudTrail | summarize calls = count() by src_ip | join kind=inner (logins) on src_ip",
     f"SELECT a.src_ip, a.calls, b.src_ip, b.logins FROM (SELECT src_ip, count(*) AS calls FROM {CT} GROUP BY 1) a "
     f"JOIN (SELECT src_ip, count(*) AS logins FROM {CT} WHERE action = 'ConsoleLogin' GROUP BY 1) b "
     "ON a.src_ip = b.src_ip", False),
    ("join_leftouter_left_right", "sample",
     "AWSCloudTrail | summarize calls = count() by principal_name\n"
     '| join kind=leftouter (AWSCloudTrail | where outcome == "failure" | summarize failures = count() by who = principal_name)'
     " on $left.principal_name == $right.who",
     # a missing principal_name is KQL's empty string: its own group, and it matches on both sides
     f"SELECT a.p, a.calls, b.who, b.failures FROM (SELECT coalesce(principal_name, '') AS p, count(*) AS calls "
     f"FROM {CT} GROUP BY 1) a LEFT JOIN (SELECT coalesce(principal_name, '') AS who, count(*) AS failures "
     f"FROM {CT} WHERE outcome = 'failure' GROUP BY 1) b ON a.p = b.who", False),
    ("union_outer_columns", "sample",
     'union (AWSCloudTrail | where action == "ConsoleLogin" | project ts, action),'
     ' (AWSCloudTrail | where action == "GetCallerIdentity" | project ts, action, src_ip)',
     f"SELECT ts, action, NULL FROM {CT} WHERE action = 'ConsoleLogin' "
     f"UNION ALL SELECT ts, action, src_ip FROM {CT} WHERE action = 'GetCallerIdentity'", False),
    ("union_piped", "sample",
     'AWSCloudTrail | where action == "ConsoleLogin" | union (events | where action == "CreateAccessKey")'
     " | summarize n = count() by action",
     "SELECT action, count(*) FROM events WHERE action IN ('ConsoleLogin', 'CreateAccessKey') GROUP BY 1", False),
    ("union_inner_multi_source", "multi",
     "union kind=inner (AzureActivity | project ts, src_ip, x = 1), (KubernetesAudit | project ts, src_ip)"
     " | summarize n = count()",
     "SELECT count(*) FROM events WHERE source_type IN ('azure_activity', 'k8s_audit')", False),
    ("let_scalars", "sample",
     'let who = "backup-admin";\nlet since = datetime(2024-03-12);\n'
     "events | where principal_name == who and ts >= since | summarize n = count() by action",
     "SELECT action, count(*) FROM events WHERE principal_name = 'backup-admin' "
     "AND ts >= TIMESTAMPTZ '2024-03-12 00:00:00+00' GROUP BY 1", False),
    ("ago", "sample",
     "events | where ts > ago(36500d) | summarize n = count()",
     "SELECT count(*) FROM events WHERE ts > now() - INTERVAL 36500 DAY", False),
    ("now_minus_ts", "sample",
     "events | extend age = now() - ts | where age > 1d | summarize n = count()",
     "SELECT count(*) FROM events WHERE now() - ts > INTERVAL 24 HOUR", False),
    ("todatetime_raw", "sample",
     "events | extend t = todatetime(raw.eventTime) | where t == ts | summarize n = count()",
     "SELECT count(*) FROM events WHERE CAST(raw->>'$.eventTime' AS TIMESTAMPTZ) = ts", False),
    ("tostring_raw", "sample",
     'events | where tostring(raw.userIdentity.type) == "IAMUser" | summarize n = count() by principal_name',
     "SELECT principal_name, count(*) FROM events WHERE raw->>'$.userIdentity.type' = 'IAMUser' GROUP BY 1", False),
    ("parse_json_raw_member", "sample",
     'events | where parse_json(raw).eventName == "ConsoleLogin" | summarize n = count()',
     "SELECT count(*) FROM events WHERE json_extract_string(raw, '$.eventName') = 'ConsoleLogin'", False),
    ("raw_bracket_access", "sample",
     "events | where raw['requestParameters']['bucketName'] == \"acme-prod-build-artifacts\" | summarize n = count() by action",
     "SELECT action, count(*) FROM events WHERE raw->'requestParameters'->>'bucketName' = 'acme-prod-build-artifacts' "
     "GROUP BY 1", False),
    ("raw_dotted_contains", "sample",
     'events | where raw.userIdentity.arn contains "backup" | project arn = tostring(raw.userIdentity.arn) | distinct arn',
     "SELECT DISTINCT raw->>'$.userIdentity.arn' FROM events WHERE raw->>'$.userIdentity.arn' ILIKE '%backup%'", False),
    ("sentinel_aliases", "sample",
     'AWSCloudTrail | where EventSource == "iam.amazonaws.com" | summarize n = count() by EventName, UserIdentityArn',
     f"SELECT action, coalesce(raw->>'$.userIdentity.arn', ''), count(*) FROM {CT} "
     "WHERE service = 'iam.amazonaws.com' GROUP BY ALL", False),
    ("azure_daily", "multi",
     "AzureActivity | summarize n = count() by bin(TimeGenerated, 1d)",
     "SELECT date_trunc('day', ts), count(*) FROM events WHERE source_type = 'azure_activity' GROUP BY 1", False),
    ("top_sources", "multi",
     "events | summarize n = count() by source_type | top 3 by n",
     "SELECT source_type, count(*) AS n FROM events GROUP BY 1 ORDER BY n DESC LIMIT 3", True),
    ("not_startswith", "sample",
     'events | where not(action startswith "Describe") and outcome == "failure" | summarize n = count() by action',
     "SELECT action, count(*) FROM events WHERE NOT action ILIKE 'describe%' AND outcome = 'failure' GROUP BY 1",
     False),
    ("and_binds_tighter_than_or", "sample",
     'events | where action == "ConsoleLogin" or action == "GetCallerIdentity" and outcome == "failure"'
     " | summarize n = count() by action, outcome",
     "SELECT action, outcome, count(*) FROM events WHERE action = 'ConsoleLogin' "
     "OR (action = 'GetCallerIdentity' AND outcome = 'failure') GROUP BY ALL", False),
    ("number_neq_null_is_true", "sample",
     "events | where bytes != 5 | summarize n = count()",
     "SELECT count(*) FROM events WHERE bytes IS DISTINCT FROM 5", False),
    ("long_division_truncates", "sample",
     "events | extend h = record_index / 100 | where h < 3 | summarize n = count() by h",
     "SELECT CAST(trunc(record_index / 100) AS BIGINT) AS h, count(*) FROM events "
     "WHERE record_index < 300 GROUP BY 1", False),
    ("sort_strings_asc", "sample",
     "events | summarize n = count() by region | sort by region asc",
     "SELECT region, count(*) FROM events GROUP BY 1 ORDER BY region", True),
]  # fmt: skip
