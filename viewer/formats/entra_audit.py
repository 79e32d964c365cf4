"""Microsoft Entra ID audit logs, Graph `directoryAudit` (formats.md 1.17, mapping 2.3).

* Microsoft Graph `auditLogs/directoryAudits` pages `{"@odata.context": ..., "value": [...]}`,
  a bare array (the admin center's JSON download, `jq '.value'`), one audit per line;
* the diagnostic-setting schema (category `AuditLogs`; Event Hub `{"records": [...]}`, storage
  JSON lines) with the directoryAudit under `properties`.

Both share one mapping: values are read under `properties` first, then at the top level. Every
target stays in the raw record (`targetResources`); the first one is the normalized target.
"""

from __future__ import annotations

import re

from viewer.formats.base import Head, Mapping, Reader, ReaderKind, has_key
from viewer.formats.microsoft_common import (
    has_keys,
    shape_specs,
    starts_with_records_array,
    starts_with_value_array,
    utc_ts,
)

_AUDIT_FIELDS = {
    "id": "id",
    "activityDateTime": "activityDateTime",
    "category": "category",
    "operationType": "operationType",
    "loggedByService": "loggedByService",
    "activity": "activityDisplayName",
    "result": "result",
    "resultReason": "resultReason",
    "correlationId": "correlationId",
    "userUpn": "initiatedBy.user.userPrincipalName",
    "userId": "initiatedBy.user.id",
    "userName": "initiatedBy.user.displayName",
    "userIp": "initiatedBy.user.ipAddress",
    "appSpId": "initiatedBy.app.servicePrincipalId",
    "appId": "initiatedBy.app.appId",
    "appName": "initiatedBy.app.displayName",
    "appSpName": "initiatedBy.app.servicePrincipalName",
    "targetType": "targetResources[0].type",
    "targetId": "targetResources[0].id",
    "targetName": "targetResources[0].displayName",
    "targetUpn": "targetResources[0].userPrincipalName",
}


def _both(name: str) -> str:
    return f"coalesce({{p_{name}}}, {{t_{name}}})"


_USER = f"coalesce(nullif({_both('userUpn')}, ''), nullif({_both('userId')}, ''))"
_APP = f"coalesce(nullif({_both('appSpId')}, ''), nullif({_both('appId')}, ''))"

AUDIT_MAPPING = Mapping(
    paths={
        **{f"p_{k}": f"$.properties.{v}" for k, v in _AUDIT_FIELDS.items()},
        **{f"t_{k}": f"$.{v}" for k, v in _AUDIT_FIELDS.items()},
        "time": "$.time",
        "tenantId": "$.tenantId",
        "callerIpAddress": "$.callerIpAddress",
    },
    columns={
        "event_uid": _both("id"),
        "ts": f"coalesce({utc_ts(_both('activityDateTime'))}, {utc_ts('{time}')})",
        # A diagnostic record's own category is "AuditLogs"; the directory category is inside.
        "log_name": _both("category"),
        "event_class": _both("operationType"),
        "service": _both("loggedByService"),
        "action": _both("activity"),
        "outcome": (
            f"CASE lower({_both('result')}) WHEN 'success' THEN 'success' WHEN 'failure' THEN 'failure' "
            "WHEN 'timeout' THEN 'failure' ELSE 'unknown' END"
        ),
        "error_message": f"CASE WHEN lower({_both('result')}) <> 'success' THEN nullif({_both('resultReason')}, '') END",
        "principal_type": f"CASE WHEN {_USER} IS NOT NULL THEN 'User' WHEN {_APP} IS NOT NULL THEN 'ServicePrincipal' END",
        "principal_id": f"coalesce({_USER}, {_APP})",
        "principal_name": (
            f"CASE WHEN {_USER} IS NOT NULL THEN nullif({_both('userName')}, '') "
            f"ELSE coalesce(nullif({_both('appName')}, ''), nullif({_both('appSpName')}, '')) END"
        ),
        "session_issuer": f"nullif({_both('appId')}, '')",
        # Diagnostic records write a missing caller address as the text "<null>".
        "src_ip": (
            f"coalesce(nullif({_both('userIp')}, ''), "
            "CASE WHEN {callerIpAddress} NOT IN ('', '<null>') THEN {callerIpAddress} END)"
        ),
        "target_type": _both("targetType"),
        "target_id": f"nullif({_both('targetId')}, '')",
        "target_name": f"coalesce(nullif({_both('targetName')}, ''), nullif({_both('targetUpn')}, ''))",
        "cloud_account": "{tenantId}",
        "correlation_id": _both("correlationId"),
    },
    ts_missing_reason="audit record has no valid activityDateTime",
)

# Intune also writes a diagnostic category "AuditLogs", with PascalCase properties: the
# camelCase activityDateTime + initiatedBy pair is what marks an Entra directory audit.
_AUDIT_CATEGORY = re.compile(r'"category"\s*:\s*"AuditLogs"')


def _looks_like_audit(text: str) -> bool:
    return has_keys(text, "activityDateTime", "initiatedBy", "activityDisplayName")


def _sniff_graph_page(head: Head) -> bool:
    return starts_with_value_array(head) and _looks_like_audit(head.text)


def _sniff_array(head: Head) -> bool:
    return head.first_char == "[" and _looks_like_audit(head.text) and not has_key(head.text, "records")


def _sniff_records(head: Head) -> bool:
    return (
        starts_with_records_array(head)
        and _AUDIT_CATEGORY.search(head.text) is not None
        and _looks_like_audit(head.text)
    )


def _sniff_lines(head: Head) -> bool:
    obj = head.first_line_object
    if obj is None or "value" in obj or "records" in obj:
        return False
    props = obj.get("properties")
    record = props if obj.get("category") == "AuditLogs" and isinstance(props, dict) else obj
    return {"activityDateTime", "initiatedBy", "activityDisplayName"} <= record.keys()


_spec = shape_specs("entra_audit", "azure", AUDIT_MAPPING)


GRAPH_PAGE = _spec(
    "entra_audit",
    'Entra ID audit logs as a Microsoft Graph page ({"value": [...]})',
    86,
    _sniff_graph_page,
    Reader(ReaderKind.DOCUMENT, records_path="$.value"),
    "GET https://graph.microsoft.com/v1.0/auditLogs/directoryAudits?$filter=activityDateTime ge ... "
    "(Get-MgAuditLogDirectoryAudit -All | ConvertTo-Json); save each page, following @odata.nextLink.",
)
AUDIT_ARRAY = _spec(
    "entra_audit_array",
    "Entra ID audit logs as a bare JSON array",
    84,
    _sniff_array,
    Reader(ReaderKind.DOCUMENT, records_path="$"),
    "Entra admin center → Monitoring & health → Audit logs → Download → JSON; or jq '.value' on Graph pages.",
)
DIAGNOSTIC_RECORDS = _spec(
    "entra_audit_records",
    'Entra ID audit logs from a diagnostic setting ({"records": [...]})',
    84,
    _sniff_records,
    Reader(ReaderKind.DOCUMENT, records_path="$.records"),
    "Entra diagnostic setting (AuditLogs) streaming to an Event Hub: the captured payloads.",
)
LINES = _spec(
    "entra_audit_jsonl",
    "Entra ID audit logs, one per line (diagnostic-setting storage blobs, Graph exports)",
    73,
    _sniff_lines,
    Reader(ReaderKind.LINES),
    "Entra diagnostic setting archiving to a storage account: download the insights-logs-auditlogs "
    "container; or jq -c '.value[]' on Graph pages.",
)

SPECS = (GRAPH_PAGE, AUDIT_ARRAY, DIAGNOSTIC_RECORDS, LINES)
