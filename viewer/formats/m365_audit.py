"""Microsoft 365 Unified Audit Log (formats.md 1.18, mapping 2.3).

* `Search-UnifiedAuditLog ... | Export-Csv` and the Purview portal's export: CSV files whose
  `AuditData` column holds the whole record as JSON. That JSON is the raw record; the other
  columns (`CreationDate` may be rendered in the exporter's local time) are not used.
* The Office 365 Management Activity API content blobs: a JSON array of the same records; and
  those records one per line (SIEM forwarders, jq -c '.[]').

All shapes share the AuditData mapping. `CreationTime` is UTC but written without a zone
("2024-05-01T10:05:00"): it is read as UTC explicitly, whatever the session time zone.
"""

from __future__ import annotations

from viewer.formats.base import Head, Mapping, Reader, ReaderKind, canonical_header, has_key
from viewer.formats.microsoft_common import has_keys, shape_specs, utc_ts

# ClientIP comes as "203.0.113.5", "203.0.113.5:51234", "[2001:db8::5]:443" or "2001:db8::5".


def _address(key: str) -> str:
    # A JSON array or object (a wrong type) is no address; "[2001:db8::5]:443" is not JSON.
    return (
        f"CASE WHEN left(trim({{{key}}}), 1) IN ('[', '{{') AND json_valid(trim({{{key}}})) THEN NULL "
        f"ELSE nullif(trim({{{key}}}), '') END"
    )


_CLIENT_IP = "coalesce(" + ", ".join(_address(k) for k in ("clientIp", "clientIpAddress", "actorIp")) + ")"
_V4_PORT = f"regexp_matches({_CLIENT_IP}, '^\\d+\\.\\d+\\.\\d+\\.\\d+:\\d+$')"

# Management Activity API schema: the UserType enumeration.
_USER_TYPES = (
    "Regular",
    "Reserved",
    "Admin",
    "DcAdmin",
    "System",
    "Application",
    "ServicePrincipal",
    "CustomPolicy",
    "SystemPolicy",
)
_USER_TYPE = (
    "CASE {userType} "
    + " ".join(f"WHEN '{i}' THEN '{name}'" for i, name in enumerate(_USER_TYPES))
    + " ELSE nullif({userType}, '') END"
)
_FAILED = "(lower({resultStatus}) IN ('failed', 'failure', 'false') OR {operation} = 'UserLoginFailed')"

UAL_MAPPING = Mapping(
    paths={
        "id": "$.Id",
        "creationTime": "$.CreationTime",
        "recordType": "$.RecordType",
        "workload": "$.Workload",
        "operation": "$.Operation",
        "resultStatus": "$.ResultStatus",
        "errorNumber": "$.ErrorNumber",
        "logonError": "$.LogonError",
        "userId": "$.UserId",
        "userType": "$.UserType",
        "clientIp": "$.ClientIP",
        "clientIpAddress": "$.ClientIPAddress",
        "actorIp": "$.ActorIpAddress",
        "userAgent": "$.UserAgent",
        "clientInfo": "$.ClientInfoString",
        "objectId": "$.ObjectId",
        "organizationId": "$.OrganizationId",
        "correlationId": "$.CorrelationId",
        "tokenId": "$.AppAccessContext.UniqueTokenId",
        "aadSessionId": "$.AppAccessContext.AADSessionId",
        "clientAppId": "$.AppAccessContext.ClientAppId",
        "appId": "$.AppId",
    },
    columns={
        "event_uid": "{id}",
        "ts": utc_ts("{creationTime}"),
        # The RecordType number (1 ExchangeAdmin, 15 AzureActiveDirectoryStsLogon, ...).
        "log_name": "{recordType}",
        "service": "{workload}",
        "action": "{operation}",
        "outcome": (
            f"CASE WHEN {_FAILED} THEN 'failure' "
            "WHEN lower({resultStatus}) IN ('succeeded', 'success', 'true', 'partiallysucceeded') "
            "THEN 'success' ELSE 'unknown' END"
        ),
        "error_code": f"CASE WHEN {_FAILED} THEN coalesce(nullif({{errorNumber}}, ''), nullif({{logonError}}, '')) END",
        "principal_type": _USER_TYPE,
        "principal_id": "nullif({userId}, '')",
        "session_issuer": "coalesce(nullif({clientAppId}, ''), nullif({appId}, ''))",
        "credential_id": "nullif({tokenId}, '')",
        "session_id": "nullif({aadSessionId}, '')",
        "src_ip": (
            f"CASE WHEN starts_with({_CLIENT_IP}, '[') THEN nullif(regexp_extract({_CLIENT_IP}, '^\\[([0-9A-Fa-f:.]+)\\]', 1), '') "
            f"WHEN {_V4_PORT} THEN split_part({_CLIENT_IP}, ':', 1) ELSE {_CLIENT_IP} END"
        ),
        "src_port": (
            f"CASE WHEN starts_with({_CLIENT_IP}, '[') THEN TRY_CAST(regexp_extract({_CLIENT_IP}, '\\]:(\\d+)$', 1) AS INTEGER) "
            f"WHEN {_V4_PORT} THEN TRY_CAST(split_part({_CLIENT_IP}, ':', 2) AS INTEGER) END"
        ),
        "user_agent": "coalesce(nullif({userAgent}, ''), nullif({clientInfo}, ''))",
        "target_id": "nullif({objectId}, '')",
        "cloud_account": "{organizationId}",
        "correlation_id": "nullif({correlationId}, '')",
    },
    ts_missing_reason="record has no valid CreationTime",
)

_AUDIT_DATA = "AuditData"
# normalized header -> key; PowerShell (RecordType, CreationDate, UserIds, Operations, AuditData,
# ResultIndex, ResultCount, ...) and the Purview export (CreationDate, UserId, Operation, ...).
_CSV_COLUMNS = {
    "auditdata": _AUDIT_DATA,
    "creationdate": "CreationDate",
    "userids": "UserIds",
    "userid": "UserIds",
    "operations": "Operations",
    "operation": "Operations",
    "recordtype": "RecordType",
    "recordid": "RecordId",
}


def _sniff_csv(head: Head) -> bool:
    line = head.first_line
    if head.first_char in "{[" or len(line) > 4096 or "," not in line:
        return False
    keys = {_CSV_COLUMNS.get(canonical_header(c.strip().strip('"')), "") for c in line.split(",")}
    return _AUDIT_DATA in keys and bool(keys & {"CreationDate", "Operations"})


def _looks_like_record(text: str) -> bool:
    return has_keys(text, "CreationTime", "Operation", "Workload", "RecordType") and (
        has_key(text, "OrganizationId") or has_key(text, "UserId")
    )


def _sniff_array(head: Head) -> bool:
    return head.first_char == "[" and _looks_like_record(head.text)


def _sniff_lines(head: Head) -> bool:
    obj = head.first_line_object
    return obj is not None and {"CreationTime", "Operation", "Workload", "RecordType"} <= obj.keys()


_spec = shape_specs("m365_ual", "m365", UAL_MAPPING)


UAL_CSV = _spec(
    "m365_audit_csv",
    "Microsoft 365 unified audit log CSV (Search-UnifiedAuditLog / Purview export, AuditData column)",
    65,
    _sniff_csv,
    Reader(ReaderKind.CSV, csv_columns=_CSV_COLUMNS, csv_embedded_json_column=_AUDIT_DATA),
    "Search-UnifiedAuditLog -StartDate ... -EndDate ... -SessionCommand ReturnLargeSet -ResultSize 5000 "
    "| Export-Csv ual.csv -NoTypeInformation; or Purview portal → Audit → search → Export.",
)
UAL_ARRAY = _spec(
    "m365_audit",
    "Office 365 Management Activity API content (JSON array of audit records)",
    82,
    _sniff_array,
    Reader(ReaderKind.DOCUMENT, records_path="$"),
    "Management Activity API: GET .../activity/feed/subscriptions/content?contentType=Audit.General "
    "(and Audit.Exchange, Audit.SharePoint, Audit.AzureActiveDirectory), then save each contentUri.",
)
UAL_LINES = _spec(
    "m365_audit_jsonl",
    "Microsoft 365 audit records, one per line",
    71,
    _sniff_lines,
    Reader(ReaderKind.LINES),
    "SIEM forwarders and scripts that write one AuditData record per line (jq -c '.[]').",
)

SPECS = (UAL_CSV, UAL_ARRAY, UAL_LINES)
