"""GCP Cloud Audit Logs (formats.md 1.13): Admin Activity, Data Access, System Event, Policy Denied.

Every shape holds Cloud Logging `LogEntry` objects whose `protoPayload` is an `AuditLog`:
* `gcloud logging read ... --format=json`: one JSON array of entries (newest first);
* one entry per line: the Cloud Storage sink (`cloudaudit.googleapis.com/activity/YYYY/MM/DD/
  HH:00:00_HH:59:59_S0.json`), `jq -c '.[]'` over gcloud output, Logs Explorer "Download" as JSON;
* the Logs Explorer CSV download, whose columns are the entry's flattened field paths
  (`protoPayload.methodName`). Its exact column set is not documented; the mapping reads the
  documented LogEntry/AuditLog paths under their flattened names and leaves the rest NULL.

GKE's Kubernetes audit entries arrive here too: Cloud Logging stores them as AuditLog entries
(serviceName `k8s.io`, methodName `io.k8s.core.v1.pods.create`, principalEmail, callerIp), so
the GCP audit mapping already names who, from where and what. The raw `audit.k8s.io` Event is
not in them; k8s_audit is for the apiserver's own files.
"""

from __future__ import annotations

import re

from viewer.formats.base import FormatSpec, Head, Mapping, Reader, ReaderKind, canonical_header, has_key

_AUDIT_TYPE = "type.googleapis.com/google.cloud.audit.AuditLog"

# name -> dotted LogEntry path. One list serves the JSON shapes and the flattened CSV columns.
_FIELDS = {
    "insertId": "insertId",
    "logName": "logName",
    "timestamp": "timestamp",
    "receiveTimestamp": "receiveTimestamp",
    "severity": "severity",
    "resourceType": "resource.type",
    "projectId": "resource.labels.project_id",
    "location": "resource.labels.location",
    "zone": "resource.labels.zone",
    "labelRegion": "resource.labels.region",
    "operationId": "operation.id",
    "serviceName": "protoPayload.serviceName",
    "methodName": "protoPayload.methodName",
    "resourceName": "protoPayload.resourceName",
    "statusCode": "protoPayload.status.code",
    "statusMessage": "protoPayload.status.message",
    "principalEmail": "protoPayload.authenticationInfo.principalEmail",
    "principalSubject": "protoPayload.authenticationInfo.principalSubject",
    "keyName": "protoPayload.authenticationInfo.serviceAccountKeyName",
    "delegateEmail": (
        "protoPayload.authenticationInfo.serviceAccountDelegationInfo[0].firstPartyPrincipal.principalEmail"
    ),
    "delegateSubject": "protoPayload.authenticationInfo.serviceAccountDelegationInfo[0].principalSubject",
    "callerIp": "protoPayload.requestMetadata.callerIp",
    "userAgent": "protoPayload.requestMetadata.callerSuppliedUserAgent",
    "currentLocation": "protoPayload.resourceLocation.currentLocations[0]",
}


def json_path(dotted: str) -> str:
    """`a.b[0].c` as a DuckDB JSON path; segments that are not plain names are quoted."""
    parts = []
    for seg in dotted.split("."):
        name, _, index = seg.partition("[")
        quoted = name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) else f'"{name}"'
        parts.append(quoted + (f"[{index}" if index else ""))
    return "$." + ".".join(parts)


def flat_path(dotted: str) -> str:
    """The JSON path of a flattened key (`{"protoPayload.methodName": ...}`): CSV rows, dotted keys."""
    return f'$."{dotted}"'


def logentry_time(col: str) -> str:
    """RFC 3339 with up to 9 fractional digits (DuckDB keeps microseconds); the CSV may differ."""
    return (
        f"coalesce(TRY_CAST({col} AS TIMESTAMPTZ), "
        f"try_strptime({col}, ['%Y-%m-%d %H:%M:%S.%f', '%Y-%m-%d %H:%M:%S'])::TIMESTAMPTZ)"
    )


# The logName expressions below use string functions, not regular expressions: with the four
# regexp_extract calls they replace, the mapped columns of 250k GCP audit records took 0.35 s
# beside the JSON extraction, now 0.19 s (1M records imported: 14.9-16.2 -> 13.0-15.8 s). They
# give what the expressions gave (tests/formats/test_gcp_logname_sql.py), but for line breaks,
# where `.` stopped: a LOG_ID has none (letters, digits, `/_-.`, URL-encoded).


def log_id(col: str) -> str:
    """The LOG_ID of a logName (`projects/p/logs/cloudaudit.googleapis.com%2Factivity`), decoded:
    what follows its first `/logs/`."""
    return f"nullif(replace(substr({col}, nullif(strpos({col}, '/logs/'), 0) + 6), '%2F', '/'), '')"


def logname_parent(col: str) -> str:
    """The project id, or `organizations/N` / `folders/N` / `billingAccounts/N`, of a logName:
    its first two segments, when a third follows."""
    second = f"strpos(substr({col}, strpos({col}, '/') + 1), '/') > 1"  # not empty, a '/' after it
    kinds = " OR ".join(
        f"starts_with({col}, '{k}/')" for k in ("organizations", "folders", "billingAccounts")
    )
    return (
        f"CASE WHEN starts_with({col}, 'projects/') AND {second} THEN split_part({col}, '/', 2) "
        f"WHEN ({kinds}) AND {second} THEN split_part({col}, '/', 1) || '/' || split_part({col}, '/', 2) END"
    )


def logentry_severity_id(col: str) -> str:
    """LogSeverity -> OCSF severity_id (0 unknown, 1 informational ... 6 fatal)."""
    return (
        f"CASE WHEN {col} IS NOT NULL THEN CASE upper({col}) WHEN 'DEFAULT' THEN 0 WHEN 'DEBUG' THEN 1 "
        "WHEN 'INFO' THEN 1 WHEN 'NOTICE' THEN 2 WHEN 'WARNING' THEN 3 WHEN 'ERROR' THEN 4 "
        "WHEN 'CRITICAL' THEN 5 WHEN 'ALERT' THEN 5 WHEN 'EMERGENCY' THEN 6 ELSE 99 END END"
    )


# google.rpc.Code names: the audit status carries only the number.
_RPC_CODES = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
]
_CODE = "TRY_CAST(nullif({statusCode}, '') AS INTEGER)"
_ERROR_CODE = (
    f"CASE WHEN coalesce({_CODE}, 0) <> 0 THEN coalesce(list_extract({_RPC_CODES!r}, {_CODE} + 1), "
    "{statusCode}) END"
)
_TS = logentry_time("{timestamp}")
_EMAIL = "nullif({principalEmail}, '')"

_COLUMNS = {
    # insertId is unique per log and timestamp (LogEntry docs: same timestamp + insertId in one
    # project = duplicate). Duplicate candidates already need the same event time, so insertId
    # alone identifies an entry; it is also the id users copy from the console (for GKE, the
    # auditID).
    "event_uid": "nullif({insertId}, '')",
    "ts": _TS,
    "ingest_ts": logentry_time("{receiveTimestamp}"),
    "log_name": log_id("{logName}"),
    # The audit log a LOG_ID's last segment names (`.../activity`).
    "event_class": "CASE "
    + " ".join(
        f"WHEN ends_with({log_id('{logName}')}, '/{suffix}') THEN '{name}'"
        for suffix, name in (
            ("activity", "Admin Activity"),
            ("data_access", "Data Access"),
            ("system_event", "System Event"),
            ("policy", "Policy Denied"),
        )
    )
    + " END",
    "service": "{serviceName}",
    "action": "{methodName}",
    "outcome": (
        f"CASE WHEN {_CODE} IS NOT NULL AND {_CODE} <> 0 THEN 'failure' "
        "WHEN {methodName} IS NULL THEN 'unknown' ELSE 'success' END"
    ),
    "error_code": _ERROR_CODE,
    # A success can carry an informational status message; only a failure's is an error.
    "error_message": f"CASE WHEN coalesce({_CODE}, 0) <> 0 THEN nullif({{statusMessage}}, '') END",
    "principal_type": (
        f"CASE WHEN {_EMAIL} LIKE '%.gserviceaccount.com' THEN 'serviceAccount' "
        f"WHEN {_EMAIL} LIKE 'system:serviceaccount:%' THEN 'k8sServiceAccount' "
        f"WHEN {_EMAIL} LIKE 'system:%' THEN 'k8sSystem' "
        f"WHEN {_EMAIL} IS NOT NULL THEN 'user' "
        "WHEN nullif({principalSubject}, '') IS NOT NULL THEN 'principal' END"
    ),
    # principalEmail is redacted for denied read-only calls; principalSubject covers federation.
    "principal_id": f"coalesce({_EMAIL}, nullif({{principalSubject}}, ''))",
    "principal_name": (
        f"CASE WHEN {_EMAIL} LIKE 'system:serviceaccount:%' THEN regexp_extract({_EMAIL}, '[^:]+$') "
        f"WHEN {_EMAIL} LIKE '%@%' THEN split_part({_EMAIL}, '@', 1) END"
    ),
    "principal_account": f"nullif(regexp_extract({_EMAIL}, '@([a-z0-9-]+)\\.iam\\.gserviceaccount\\.com$', 1), '')",
    # The first delegation hop is who really stands behind an impersonated service account.
    "session_issuer": "coalesce(nullif({delegateEmail}, ''), nullif({delegateSubject}, ''))",
    "credential_id": "nullif({keyName}, '')",
    "src_ip": "nullif({callerIp}, '')",
    "user_agent": "nullif({userAgent}, '')",
    "target_type": "nullif({resourceType}, '')",
    "target_id": "nullif({resourceName}, '')",
    "cloud_account": f"coalesce(nullif({{projectId}}, ''), {logname_parent('{logName}')})",
    "region": (
        "coalesce(nullif({currentLocation}, ''), nullif({location}, ''), nullif({zone}, ''), "
        "nullif({labelRegion}, ''))"
    ),
    "correlation_id": "nullif({operationId}, '')",
    "severity": "nullif({severity}, '')",
    "severity_id": logentry_severity_id("nullif({severity}, '')"),
}
_MISSING = "entry has no valid timestamp"

GCP_AUDIT_MAPPING = Mapping(
    paths={name: json_path(p) for name, p in _FIELDS.items()},
    columns=_COLUMNS,
    ts_missing_reason=_MISSING,
)
# The CSV download flattens the entry: each column is named by the field's dotted path.
GCP_AUDIT_CSV_MAPPING = Mapping(
    paths={name: flat_path(p) for name, p in _FIELDS.items()},
    columns=_COLUMNS,
    ts_missing_reason="row has no valid timestamp",
)
_CSV_COLUMNS = {canonical_header(p): p for p in _FIELDS.values()}


def looks_like_audit_entry(text: str) -> bool:
    return has_key(text, "protoPayload") and (_AUDIT_TYPE in text or "cloudaudit.googleapis.com" in text)


def _sniff_array(head: Head) -> bool:
    return (
        head.first_char == "[" and has_key(head.text[:4096], "logName") and looks_like_audit_entry(head.text)
    )


def first_line_exceeds_head(head: Head) -> bool:
    """A JSON-lines file whose first record is longer than the head (audit entries reach 512 KiB)."""
    return head.first_char == "{" and "\n" not in head.stripped


def _sniff_lines(head: Head) -> bool:
    obj = head.first_line_object
    if obj is None:
        return (
            first_line_exceeds_head(head)
            and has_key(head.text, "logName")
            and looks_like_audit_entry(head.text)
        )
    if not isinstance(obj.get("protoPayload"), dict):
        return False
    return obj["protoPayload"].get("@type") == _AUDIT_TYPE or "cloudaudit.googleapis.com" in str(
        obj.get("logName", "")
    )


def _sniff_csv(head: Head) -> bool:
    line = head.first_line
    if head.first_char in "{[" or len(line) > 8192 or "," not in line:
        return False
    cells = {canonical_header(c.strip().strip('"')) for c in line.split(",")}
    return {"timestamp", "protopayloadmethodname"} <= cells


def _spec(name: str, title: str, priority: int, sniff, reader: Reader, how: str, desc: str) -> FormatSpec:  # type: ignore[no-untyped-def]
    return FormatSpec(
        name=name,
        title=title,
        source_type="gcp_audit",
        provider="gcp",
        priority=priority,
        sniff=sniff,
        reader=reader,
        mapping=GCP_AUDIT_CSV_MAPPING if reader.kind is ReaderKind.CSV else GCP_AUDIT_MAPPING,
        description=desc,
        how_to_obtain=how,
    )


GCLOUD_ARRAY = _spec(
    "gcp_audit",
    "GCP Cloud Audit Logs (gcloud logging read --format=json)",
    80,
    _sniff_array,
    Reader(ReaderKind.DOCUMENT, records_path="$"),
    "gcloud logging read 'logName:\"cloudaudit.googleapis.com\"' --project=PROJECT --freshness=30d "
    "--format=json > audit.json (add --organization/--folder for those parents).",
    "A JSON array of Cloud Logging entries carrying AuditLog payloads: Admin Activity, Data Access, "
    "System Event and Policy Denied logs, including GKE's Kubernetes audit entries.",
)
ENTRY_LINES = _spec(
    "gcp_audit_jsonl",
    "GCP Cloud Audit Logs, one entry per line (Cloud Storage sink / JSONL)",
    70,
    _sniff_lines,
    Reader(ReaderKind.LINES),
    "Sync a log sink bucket (gcloud storage cp -r gs://BUCKET/cloudaudit.googleapis.com ./evidence), "
    "or gcloud logging read ... --format=json | jq -c '.[]' > audit.jsonl.",
    "Cloud Logging entries with AuditLog payloads, one JSON object per line, as a Cloud Storage "
    "sink writes them in hourly files (cloudaudit.googleapis.com/activity/YYYY/MM/DD/...).",
)
EXPLORER_CSV = _spec(
    "gcp_audit_csv",
    "GCP Cloud Audit Logs, Logs Explorer CSV download",
    60,
    _sniff_csv,
    Reader(ReaderKind.CSV, csv_columns=_CSV_COLUMNS),
    "Logs Explorer → run the audit-log query → Actions → Download → CSV.",
    "Audit entries flattened into columns named by their field paths (protoPayload.methodName, ...); "
    "only the columns the download carries are mapped.",
)

SPECS = (GCLOUD_ARRAY, ENTRY_LINES, EXPLORER_CSV)
