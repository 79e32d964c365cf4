"""Synthetic cases for tests and benchmarks, generated entirely inside DuckDB.

Why SQL and not Python: 10M events must build in a few minutes on two cores, which rules out
building rows in Python. Every column is a pure function of the row number `i` and the seed
(through `hash(i, seed, salt)`), so a case is reproducible and tests can recompute expectations
from the table itself rather than from hard-coded numbers.

Shape (loosely CloudTrail-like): several source types with skewed weights, ~200 principals
(Zipf-ish), ~1,000 source IPs, ~40 actions, mostly-successful outcomes, a ~1.5 KB raw JSON record
with unique request/event ids and a few free-text words (other sources than CloudTrail wrap it
under a key of their own), timestamps spread over ~30 days. Rows
are inserted in chunks in roughly time order with jitter and a few swapped chunks, as real
imports of per-hour files are: *roughly* but not physically sorted.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from viewer.core.case_file import CaseFile

BASE_TS = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
SPAN_DAYS = 30
EVENTS_PER_FILE = 250_000

# The source types and providers the format modules write: the query library filters on them
# (`source_type = 'cloudtrail'`), so a made-up name would leave its queries nothing to read.
SOURCES = [  # (source_type, provider, weight in percent)
    ("cloudtrail", "aws", 60),
    ("azure_activity", "azure", 15),
    ("gcp_audit", "gcp", 10),
    ("entra_signin", "azure", 8),
    ("m365_ual", "m365", 5),
    ("k8s_audit", "k8s", 2),
]
# The top-level key under which each other source's records carry the CloudTrail-like record.
WRAPPER_KEYS = {
    "azure_activity": "properties",
    "gcp_audit": "protoPayload",
    "entra_signin": "properties",
    "m365_ual": "AuditData",
    "k8s_audit": "requestObject",
}
ACTIONS = (
    [
        ("s3.amazonaws.com", a)
        for a in ("GetObject", "PutObject", "ListBuckets", "DeleteObject", "GetBucketPolicy")
    ]
    + [
        ("iam.amazonaws.com", a)
        for a in ("CreateUser", "AttachUserPolicy", "CreateAccessKey", "ListRoles", "GetUser")
    ]
    + [
        ("sts.amazonaws.com", a)
        for a in ("AssumeRole", "GetCallerIdentity", "GetSessionToken", "AssumeRoleWithSAML")
    ]
    + [
        ("ec2.amazonaws.com", a)
        for a in (
            "DescribeInstances",
            "RunInstances",
            "TerminateInstances",
            "AuthorizeSecurityGroupIngress",
            "DescribeSecurityGroups",
            "CreateSnapshot",
        )
    ]
    + [("signin.amazonaws.com", a) for a in ("ConsoleLogin", "SwitchRole")]
    + [("kms.amazonaws.com", a) for a in ("Decrypt", "Encrypt", "GenerateDataKey", "ScheduleKeyDeletion")]
    + [("lambda.amazonaws.com", a) for a in ("Invoke", "CreateFunction", "UpdateFunctionCode")]
    + [("cloudtrail.amazonaws.com", a) for a in ("StopLogging", "DeleteTrail", "LookupEvents")]
    + [("logs.amazonaws.com", a) for a in ("PutLogEvents", "FilterLogEvents", "DeleteLogGroup")]
    + [("secretsmanager.amazonaws.com", a) for a in ("GetSecretValue", "ListSecrets", "PutSecretValue")]
)
ERRORS = [
    "AccessDenied",
    "NoSuchBucket",
    "ThrottlingException",
    "UnauthorizedOperation",
    "InvalidClientTokenId",
]
REGIONS = [
    "us-east-1",
    "us-east-2",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-southeast-2",
    "ap-northeast-1",
    "sa-east-1",
]
USER_AGENTS = [
    "aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0 exe/x86_64.ubuntu.22",
    "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#6.5.0 lang/python#3.11.8",
    "console.amazonaws.com",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/123.0 Safari/537.36",
    "terraform-provider-aws/5.42.0 (+https://registry.terraform.io/providers/hashicorp/aws)",
    "aws-sdk-go-v2/1.26.0 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64",
    "S3Console/0.4",
    "cloudformation.amazonaws.com",
    "python-requests/2.31.0",
    "curl/8.5.0",
]
FIRST_NAMES = [
    "alice",
    "bob",
    "carol",
    "dave",
    "erin",
    "frank",
    "grace",
    "heidi",
    "ivan",
    "judy",
    "mallory",
    "niaj",
    "olivia",
    "peggy",
    "rupert",
    "sybil",
    "trent",
    "victor",
    "walter",
    "yolanda",
]
WORDS = [
    "quarterly",
    "invoice",
    "backup",
    "payroll",
    "staging",
    "prod",
    "archive",
    "customer",
    "ledger",
    "pipeline",
    "report",
    "export",
    "snapshot",
    "analytics",
    "secrets",
    "deploy",
    "migration",
    "audit",
    "marketing",
    "research",
    "finance",
    "legal",
    "keystore",
    "tenant",
    "webhook",
    "scheduler",
    "mirror",
    "telemetry",
    "cache",
    "replica",
    "exfil",
    "dropzone",
    "temp",
    "shared",
    "private",
    "public",
]


def _sql_list(values: list[str]) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def _pick(values: list[str], salt: int) -> str:
    """SQL for a uniform pick from `values`, independent per salt (1-based list index)."""
    return f"{_sql_list(values)}[1 + (hash(i, $seed, {salt}) % {len(values)})::INTEGER]"


def _source_case() -> str:
    """source_type index by weight: a CASE over a 0..99 draw."""
    arms, acc = [], 0
    for k, (_, _, w) in enumerate(SOURCES):
        acc += w
        arms.append(f"WHEN hash(i, $seed, 1) % 100 < {acc} THEN {k + 1}")
    return "CASE " + " ".join(arms) + f" ELSE {len(SOURCES)} END"


def _base_select() -> str:
    """Derived per-row values (row number `i` in [$lo, $hi)) that several columns reuse."""
    span_us = SPAN_DAYS * 86_400 * 1_000_000
    return f"""
    SELECT i,
      {_source_case()} AS src_k,
      -- Zipf-ish principal: squares crowd the low numbers, like a few busy automation roles.
      floor(200 * pow((hash(i, $seed, 2) % 1000000) / 1000000.0, 2.5))::INTEGER AS p,
      (hash(i, $seed, 3) % 1000)::INTEGER AS ipn,
      1 + (hash(i, $seed, 4) % {len(ACTIONS)})::INTEGER AS act_k,
      (hash(i, $seed, 5) % 100)::INTEGER AS oc,
      -- time: linear in i plus +-5 min jitter, so the table is roughly but not exactly time-ordered
      $base + to_microseconds((i::HUGEINT * {span_us} // $n)::BIGINT
                              + (hash(i, $seed, 6) % 600000000)::BIGINT - 300000000) AS ts,
      md5(concat(i, '/', $seed)) AS m1,
      md5(concat($seed, '\\', i)) AS m2
    FROM range($lo, $hi) t(i)
    """


def _raw_sql() -> str:
    """The raw record: for CloudTrail events a CloudTrail record of ~1.5 KB with unique ids and a
    few free-text words; other sources carry the same record under the top-level key their own
    records have (`WRAPPER_KEYS`), so their records have other top-level keys, as in a real case
    (viewer/core/doc_keys.py), while every event still holds the same words."""
    wrapper = " ".join(f"WHEN '{s}' THEN '{k}'" for s, k in WRAPPER_KEYS.items())
    return f"""CASE WHEN source_type = 'cloudtrail' THEN {_cloudtrail_sql()}
      ELSE json_object('time', strftime(ts, '%Y-%m-%dT%H:%M:%S.%fZ'), 'category', log_name,
                       CASE source_type {wrapper} ELSE 'record' END, {_cloudtrail_sql()}) END"""


def _cloudtrail_sql() -> str:
    return f"""json_object(
      'eventVersion', '1.08',
      'userIdentity', json_object('type', CASE WHEN p % 3 = 0 THEN 'AssumedRole' ELSE 'IAMUser' END,
          'principalId', principal_id, 'arn', 'arn:aws:iam::' || cloud_account || ':user/' || principal_name,
          'accountId', cloud_account, 'accessKeyId', credential_id, 'userName', principal_name,
          'sessionContext', json_object('sessionIssuer', json_object('type', 'Role',
              'arn', session_issuer, 'accountId', cloud_account),
              'attributes', json_object('creationDate', strftime(ts - INTERVAL 1 HOUR, '%Y-%m-%dT%H:%M:%SZ'),
                  'mfaAuthenticated', CASE WHEN p % 4 = 0 THEN 'true' ELSE 'false' END))),
      'eventTime', strftime(ts, '%Y-%m-%dT%H:%M:%SZ'),
      'eventSource', service, 'eventName', action, 'awsRegion', region,
      'sourceIPAddress', src_ip, 'userAgent', user_agent,
      'errorCode', error_code, 'errorMessage', error_message,
      'requestParameters', json_object('bucketName', target_name,
          'key', {_pick(WORDS, 20)} || '/' || {_pick(WORDS, 21)} || '/' || substr(m2, 1, 12) || '.json',
          'description', {_pick(WORDS, 22)} || ' ' || {_pick(WORDS, 23)} || ' ' || {_pick(WORDS, 24)},
          'maxResults', (hash(i, $seed, 25) % 1000)::INTEGER),
      'responseElements', json_object('x-amz-request-charged', 'requester',
          'credentials', json_object('sessionToken', 'IQoJb3JpZ2luX2VjE' || m1 || m2 || m1,
              'expiration', strftime(ts + INTERVAL 1 HOUR, '%b %d, %Y, %I:%M:%S %p'))),
      'additionalEventData', json_object('SignatureVersion', 'SigV4',
          'CipherSuite', 'ECDHE-RSA-AES128-GCM-SHA256', 'bytesTransferredIn', (hash(i, $seed, 26) % 5000)::INTEGER,
          'AuthenticationMethod', 'AuthHeader', 'x-amz-id-2', m2 || m1),
      'requestID', correlation_id, 'eventID', event_uid, 'readOnly', read_only,
      'resources', json_array(json_object('accountId', cloud_account, 'type', target_type, 'ARN', target_id)),
      'eventType', 'AwsApiCall', 'managementEvent', true, 'recipientAccountId', cloud_account,
      'eventCategory', 'Management',
      'tlsDetails', json_object('tlsVersion', 'TLSv1.3', 'cipherSuite', 'TLS_AES_128_GCM_SHA256',
          'clientProvidedHostHeader', replace(service, '.amazonaws.com', '') || '.' || region || '.amazonaws.com'))"""


def _columns_select() -> str:
    """Normalized columns from the base values; raw is built from these in an outer SELECT."""
    return f"""
    SELECT i, ts, p, m1, m2,
      (1 + i // {EVENTS_PER_FILE})::BIGINT * 4294967296 + i % {EVENTS_PER_FILE} AS event_id,
      ts + to_microseconds((hash(i, $seed, 7) % 2000000)::BIGINT) AS ts_end,
      {_sql_list([s for s, _, _ in SOURCES])}[src_k] AS source_type,
      {_sql_list([p for _, p, _ in SOURCES])}[src_k] AS provider,
      substr(m1, 1, 8) || '-' || substr(m1, 9, 4) || '-' || substr(m1, 13, 4) || '-'
        || substr(m1, 17, 4) || '-' || substr(m1, 21, 12) AS event_uid,
      'management' AS log_name, 'api_activity' AS event_class,
      {_sql_list([s for s, _ in ACTIONS])}[act_k] AS service,
      {_sql_list([a for _, a in ACTIONS])}[act_k] AS action,
      CASE WHEN oc < 88 THEN 'success' WHEN oc < 98 THEN 'failure' ELSE 'unknown' END AS outcome,
      CASE WHEN oc >= 88 AND oc < 98 THEN {_pick(ERRORS, 8)} END AS error_code,
      CASE WHEN oc >= 88 AND oc < 98 THEN 'User is not authorized to perform this operation' END AS error_message,
      act_k % 3 <> 1 AS read_only,
      CASE WHEN p % 3 = 0 THEN 'AssumedRole' ELSE 'IAMUser' END AS principal_type,
      'AIDA' || printf('%016X', hash(p, 77)) AS principal_id,
      {_sql_list(FIRST_NAMES)}[1 + p % {len(FIRST_NAMES)}] || CASE WHEN p >= {len(FIRST_NAMES)}
        THEN (p // {len(FIRST_NAMES)})::VARCHAR ELSE '' END AS principal_name,
      (111111111111 + (p % 10) * 1010101)::VARCHAR AS principal_account,
      -- a handful of credentials per principal; some events carry none
      CASE WHEN oc % 10 = 9 THEN NULL
        ELSE 'ASIA' || printf('%016X', hash(p, hash(i, $seed, 9) % 10)) END AS credential_id,
      'arn:aws:iam::' || (111111111111 + (p % 10) * 1010101) || ':role/' ||
        {_sql_list(["Admin", "ReadOnly", "Deployer", "Breakglass", "Lambda"])}[1 + p % 5] AS session_issuer,
      CASE WHEN p % 3 = 0 THEN 'sess-' || printf('%010x', hash(p, i // 5000) >> 24) END AS session_id,
      CASE WHEN p % 7 = 0 THEN {_sql_list(FIRST_NAMES)}[1 + p % {len(FIRST_NAMES)}] || '@example.com' END
        AS source_identity,
      CASE WHEN ipn < 900 THEN '10.' || (ipn // 100) || '.' || (ipn % 100 // 10) || '.' || (ipn % 10 + 1)
        ELSE '203.0.113.' || (ipn - 899) END AS src_ip,
      {_pick(USER_AGENTS, 10)} AS user_agent,
      {_sql_list(["bucket", "instance", "role", "key", "function"])}[1 + act_k % 5] AS target_type,
      'arn:aws:s3:::' || {_pick(WORDS, 11)} || '-' || (hash(i, $seed, 12) % 500)::VARCHAR AS target_id,
      {_pick(WORDS, 11)} || '-' || (hash(i, $seed, 12) % 500)::VARCHAR AS target_name,
      (111111111111 + (hash(i, $seed, 13) % 10) * 1010101)::VARCHAR AS cloud_account,
      {_pick(REGIONS, 14)} AS region,
      upper(substr(m2, 1, 16)) || '-' || substr(m2, 17, 8) AS correlation_id,
      (1 + i // {EVENTS_PER_FILE})::INTEGER AS evidence_id,
      (i % {EVENTS_PER_FILE})::BIGINT AS record_index,
      false AS uid_conflict
    FROM ({_base_select()})
    """


def _insert_sql() -> str:
    return f"""
    INSERT INTO events BY NAME
    SELECT * EXCLUDE (i, p, m1, m2),
      {_raw_sql()} AS raw,
      hash(i, $seed, 30) AS dedup_key
    FROM ({_columns_select()})
    """


def _chunk_order(n_chunks: int) -> list[int]:
    """Chunks in time order except every third pair swapped: imports arrive roughly in order."""
    order = list(range(n_chunks))
    for k in range(0, n_chunks - 1, 6):
        order[k], order[k + 1] = order[k + 1], order[k]
    return order


def build_synthetic_case(
    path: str | Path, n_events: int, seed: int = 0, chunk: int = 500_000, threads: int | None = None
) -> Path:
    """Create a case at `path` holding `n_events` synthetic events and their evidence rows."""
    p = Path(path)
    case = CaseFile.create(p)
    try:
        cur = case.cursor()
        if threads:
            cur.execute(f"SET threads = {int(threads)}")
        chunk = max(1, min(chunk, n_events))
        n_chunks = (n_events + chunk - 1) // chunk
        sql = _insert_sql()
        for k in _chunk_order(n_chunks):
            lo, hi = k * chunk, min(n_events, (k + 1) * chunk)
            cur.execute(sql, {"seed": seed, "lo": lo, "hi": hi, "n": n_events, "base": BASE_TS})
        _insert_evidence(cur, n_events)
        cur.execute("CHECKPOINT")
    finally:
        case.close()
    return p


def _insert_evidence(cur: object, n_events: int) -> None:
    """One ledger row per synthetic 'file' of EVENTS_PER_FILE records, matching evidence_id."""
    cur.execute(  # type: ignore[attr-defined]
        """
        INSERT INTO imports VALUES (1, now(), now(), 'file', '{"synthetic": true}', 'test', 'synthetic',
                                    ?, ?, 0, 0)
        """,
        [n_events, n_events],
    )
    cur.execute(  # type: ignore[attr-defined]
        """
        INSERT INTO evidence (evidence_id, import_id, path, rel_path, role, format, sha256, size_bytes,
                              records_seen, records_kept, first_ts, last_ts, importer_version, imported_at)
        SELECT evidence_id, 1, '/evidence/synthetic/part-' || lpad(evidence_id::VARCHAR, 5, '0') || '.json.gz',
               'part-' || lpad(evidence_id::VARCHAR, 5, '0') || '.json.gz', 'events', 'aws_cloudtrail',
               sha256('synthetic/' || evidence_id), count(*) * 200, count(*), count(*), min(ts), max(ts),
               'synthetic', now()
        FROM events GROUP BY evidence_id ORDER BY evidence_id
        """
    )
