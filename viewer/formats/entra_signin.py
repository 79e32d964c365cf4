"""Microsoft Entra ID sign-in logs (formats.md 1.16, mapping 2.3, correlation 3.5).

* Microsoft Graph `auditLogs/signIns` pages `{"@odata.context": ..., "value": [...],
  "@odata.nextLink": ...}` (v1.0 and beta), a bare array of sign-ins (the admin center's JSON
  download, `jq '.value'`), and one sign-in per line;
* the diagnostic-setting schema (Event Hub `{"records": [...]}`, storage JSON lines): `time`,
  `category` (SignInLogs, NonInteractiveUserSignInLogs, ServicePrincipalSignInLogs,
  ManagedIdentitySignInLogs), `tenantId`, `resultType`, and the sign-in itself under
  `properties`, with the Graph (beta) attribute names;
* the admin center's CSV download ("Date (UTC)", "Request ID", ...).

Graph and diagnostic records share one mapping: each value is read under `properties` first,
then at the top level. MFA, Conditional Access and device details stay in the raw record.
"""

from __future__ import annotations

import re

from viewer.formats.base import Head, Mapping, Reader, ReaderKind, canonical_header, has_key
from viewer.formats.microsoft_common import (
    has_keys,
    scalar,
    shape_specs,
    starts_with_records_array,
    starts_with_value_array,
    utc_ts,
)

_SIGNIN_FIELDS = {
    "id": "id",
    "created": "createdDateTime",
    "upn": "userPrincipalName",
    "userName": "userDisplayName",
    "userId": "userId",
    "appId": "appId",
    "errorCode": "status.errorCode",
    "failureReason": "status.failureReason",
    "ip": "ipAddress",
    "userAgent": "userAgent",
    "correlationId": "correlationId",
    "uti": "uniqueTokenIdentifier",
    "sessionId": "sessionId",
    "resourceName": "resourceDisplayName",
    "homeTenantId": "homeTenantId",
    "resourceTenantId": "resourceTenantId",
    "isInteractive": "isInteractive",
    "eventType": "signInEventTypes[0]",
    "spId": "servicePrincipalId",
    "spName": "servicePrincipalName",
    "risk": "riskLevelDuringSignIn",
}


def _both(name: str) -> str:
    return f"coalesce({{p_{name}}}, {{t_{name}}})"


_TYPE_TO_CATEGORY = (
    "CASE {eventType} WHEN 'interactiveUser' THEN 'SignInLogs' "
    "WHEN 'nonInteractiveUser' THEN 'NonInteractiveUserSignInLogs' "
    "WHEN 'servicePrincipal' THEN 'ServicePrincipalSignInLogs' "
    "WHEN 'managedIdentity' THEN 'ManagedIdentitySignInLogs' END"
)
_LOG_NAME = (
    "coalesce({category}, "
    + _TYPE_TO_CATEGORY.replace("{eventType}", _both("eventType"))
    + ", CASE lower("
    + _both("isInteractive")
    + ") WHEN 'true' THEN 'SignInLogs' WHEN 'false' THEN 'NonInteractiveUserSignInLogs' END)"
)
_ERROR_CODE = f"coalesce({_both('errorCode')}, {{resultType}})"

SIGNIN_MAPPING = Mapping(
    paths={
        **{f"p_{k}": f"$.properties.{v}" for k, v in _SIGNIN_FIELDS.items()},
        **{f"t_{k}": f"$.{v}" for k, v in _SIGNIN_FIELDS.items()},
        "time": "$.time",
        "category": "$.category",
        "tenantId": "$.tenantId",
        "resultType": "$.resultType",
        "callerIpAddress": "$.callerIpAddress",
        "p_resourceId": "$.properties.resourceId",
        "t_resourceId": "$.resourceId",
    },
    columns={
        "event_uid": _both("id"),
        "ts": f"coalesce({utc_ts(_both('created'))}, {utc_ts('{time}')})",
        "log_name": _LOG_NAME,
        "event_class": "'sign-in'",
        # The workload name Microsoft 365's audit log gives Entra ID, so both sources chart as one.
        "service": "'AzureActiveDirectory'",
        "action": "'sign-in'",
        "outcome": (
            f"CASE WHEN {_ERROR_CODE} IS NULL THEN 'unknown' "
            f"WHEN {_ERROR_CODE} = '0' THEN 'success' ELSE 'failure' END"
        ),
        "error_code": f"nullif({_ERROR_CODE}, '0')",
        "error_message": f"CASE WHEN {_ERROR_CODE} <> '0' THEN nullif({_both('failureReason')}, '') END",
        "principal_type": (
            "CASE "
            + " ".join(
                f"WHEN ({_LOG_NAME}) = '{cat}' THEN '{kind}'"
                for cat, kind in (
                    ("ServicePrincipalSignInLogs", "ServicePrincipal"),
                    ("ManagedIdentitySignInLogs", "ManagedIdentity"),
                    ("SignInLogs", "User"),
                    ("NonInteractiveUserSignInLogs", "User"),
                )
            )
            + f" WHEN coalesce({_both('upn')}, {_both('userId')}) IS NOT NULL THEN 'User' "
            f"WHEN {_both('spId')} IS NOT NULL THEN 'ServicePrincipal' END"
        ),
        "principal_id": f"coalesce(nullif({_both('upn')}, ''), nullif({_both('userId')}, ''), {_both('spId')})",
        "principal_name": f"coalesce(nullif({_both('userName')}, ''), {_both('spName')})",
        "principal_account": _both("homeTenantId"),
        "session_issuer": _both("appId"),
        "credential_id": _both("uti"),
        "session_id": f"nullif({_both('sessionId')}, '')",
        "src_ip": f"coalesce(nullif({_both('ip')}, ''), nullif({{callerIpAddress}}, ''))",
        "user_agent": f"nullif({_both('userAgent')}, '')",
        "target_name": _both("resourceName"),
        # A diagnostic record's own resourceId names the tenant's aadiam provider, not the target.
        "target_id": (
            "CASE WHEN {category} IS NULL THEN " + scalar("{t_resourceId}") + " ELSE {p_resourceId} END"
        ),
        "cloud_account": f"coalesce({{tenantId}}, {_both('resourceTenantId')})",
        "correlation_id": _both("correlationId"),
        "severity": f"nullif({_both('risk')}, 'hidden')",
        "severity_id": f"CASE lower({_both('risk')}) WHEN 'low' THEN 2 WHEN 'medium' THEN 3 WHEN 'high' THEN 4 END",
    },
    ts_missing_reason="sign-in has no valid createdDateTime",
)

_CATEGORIES = re.compile(
    r'"category"\s*:\s*"(SignInLogs|NonInteractiveUserSignInLogs|ServicePrincipalSignInLogs'
    r'|ManagedIdentitySignInLogs)"'
)


def _looks_like_signin(text: str) -> bool:
    return has_keys(text, "createdDateTime", "errorCode") and (
        has_key(text, "appDisplayName") or has_key(text, "appId")
    )


def _sniff_graph_page(head: Head) -> bool:
    return starts_with_value_array(head) and _looks_like_signin(head.text)


def _sniff_array(head: Head) -> bool:
    return head.first_char == "[" and _looks_like_signin(head.text) and not has_key(head.text, "records")


def _sniff_records(head: Head) -> bool:
    return starts_with_records_array(head) and _CATEGORIES.search(head.text) is not None


def _sniff_lines(head: Head) -> bool:
    obj = head.first_line_object
    if obj is None or "value" in obj or "records" in obj:
        return False
    if {"time", "category", "properties"} <= obj.keys():
        return _CATEGORIES.search(head.first_line) is not None
    status = obj.get("status")
    return "createdDateTime" in obj and isinstance(status, dict) and "errorCode" in status


# The admin center's CSV (one file per tab: interactive, non-interactive, service principal,
# managed identity). Headers are matched loosely: "Application ID " has a trailing space.
_CSV_COLUMNS = {
    "dateutc": "Date",
    "date": "Date",
    "requestid": "RequestId",
    "useragent": "UserAgent",
    "correlationid": "CorrelationId",
    "userid": "UserId",
    "user": "User",
    "username": "Username",
    "uniquetokenidentifier": "UniqueTokenIdentifier",
    "application": "Application",
    "applicationid": "ApplicationId",
    "resource": "Resource",
    "resourceid": "ResourceId",
    "resourcetenantid": "ResourceTenantId",
    "hometenantid": "HomeTenantId",
    "ipaddress": "IpAddress",
    "status": "Status",
    "signinerrorcode": "SignInErrorCode",
    "failurereason": "FailureReason",
    "sessionid": "SessionId",
    "serviceprincipalid": "ServicePrincipalId",
    "serviceprincipalname": "ServicePrincipalName",
    "managedidentitytype": "ManagedIdentityType",
}

_CSV_ERROR = "nullif(trim({code}), '')"

PORTAL_CSV_MAPPING = Mapping(
    paths={k: f"$.{k}" for k in set(_CSV_COLUMNS.values())} | {"code": "$.SignInErrorCode"},
    columns={
        "event_uid": "nullif({RequestId}, '')",
        "ts": utc_ts("{Date}", ("%m/%d/%Y, %I:%M:%S %p", "%m/%d/%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S")),
        "event_class": "'sign-in'",
        "service": "'AzureActiveDirectory'",
        "action": "'sign-in'",
        "outcome": (
            f"CASE WHEN {_CSV_ERROR} IS NULL THEN 'unknown' WHEN {_CSV_ERROR} = '0' THEN 'success' "
            "ELSE 'failure' END"
        ),
        "error_code": f"nullif({_CSV_ERROR}, '0')",
        "error_message": f"CASE WHEN {_CSV_ERROR} <> '0' THEN nullif({{FailureReason}}, '') END",
        "principal_type": (
            "CASE WHEN nullif({ManagedIdentityType}, '') IS NOT NULL THEN 'ManagedIdentity' "
            "WHEN coalesce(nullif({Username}, ''), nullif({UserId}, '')) IS NOT NULL THEN 'User' "
            "WHEN nullif({ServicePrincipalId}, '') IS NOT NULL THEN 'ServicePrincipal' END"
        ),
        "principal_id": "coalesce(nullif({Username}, ''), nullif({UserId}, ''), nullif({ServicePrincipalId}, ''))",
        "principal_name": "coalesce(nullif({User}, ''), nullif({ServicePrincipalName}, ''))",
        "principal_account": "nullif({HomeTenantId}, '')",
        "session_issuer": "nullif({ApplicationId}, '')",
        "credential_id": "nullif({UniqueTokenIdentifier}, '')",
        "session_id": "nullif({SessionId}, '')",
        "src_ip": "nullif({IpAddress}, '')",
        "user_agent": "nullif({UserAgent}, '')",
        "target_name": "nullif({Resource}, '')",
        "target_id": "nullif({ResourceId}, '')",
        "cloud_account": "nullif({ResourceTenantId}, '')",
        "correlation_id": "nullif({CorrelationId}, '')",
    },
    ts_missing_reason="row has no parseable Date (UTC)",
)


def _csv_header_keys(head: Head) -> set[str]:
    line = head.first_line
    if head.first_char in "{[" or len(line) > 8192 or "," not in line:
        return set()
    return {_CSV_COLUMNS.get(canonical_header(c.strip().strip('"')), "") for c in line.split(",")} - {""}


def _sniff_portal_csv(head: Head) -> bool:
    keys = _csv_header_keys(head)
    return {"Date", "RequestId"} <= keys and bool(
        keys & {"SignInErrorCode", "UniqueTokenIdentifier", "ServicePrincipalId"}
    )


_spec = shape_specs("entra_signin", "azure", SIGNIN_MAPPING)


_GRAPH = (
    "GET https://graph.microsoft.com/v1.0/auditLogs/signIns?$filter=createdDateTime ge ... "
    "(beta with $filter=signInEventTypes/any(t: t eq 'nonInteractiveUser') for the other kinds); "
    "requires Entra ID P1/P2."
)

GRAPH_PAGE = _spec(
    "entra_signin",
    'Entra ID sign-ins as a Microsoft Graph page ({"value": [...]})',
    86,
    _sniff_graph_page,
    Reader(ReaderKind.DOCUMENT, records_path="$.value"),
    _GRAPH + " Save each page (follow @odata.nextLink).",
)
SIGNIN_ARRAY = _spec(
    "entra_signin_array",
    "Entra ID sign-ins as a bare JSON array",
    84,
    _sniff_array,
    Reader(ReaderKind.DOCUMENT, records_path="$"),
    "Entra admin center → Monitoring & health → Sign-in logs → Download → JSON (up to 250,000 "
    "records per tab); or Graph pages saved with jq '.value'.",
)
DIAGNOSTIC_RECORDS = _spec(
    "entra_signin_records",
    'Entra ID sign-in logs from a diagnostic setting ({"records": [...]})',
    84,
    _sniff_records,
    Reader(ReaderKind.DOCUMENT, records_path="$.records"),
    "Entra diagnostic setting (SignInLogs, NonInteractiveUserSignInLogs, ServicePrincipalSignInLogs, "
    "ManagedIdentitySignInLogs) streaming to an Event Hub: the captured payloads.",
)
LINES = _spec(
    "entra_signin_jsonl",
    "Entra ID sign-ins, one per line (diagnostic-setting storage blobs, Graph exports)",
    73,
    _sniff_lines,
    Reader(ReaderKind.LINES),
    "Entra diagnostic setting archiving to a storage account: download the insights-logs-signinlogs "
    "(and -noninteractiveusersignInlogs, ...) containers; or jq -c '.value[]' on Graph pages.",
)
PORTAL_CSV = _spec(
    "entra_signin_csv",
    "Entra ID sign-in logs CSV (admin center download)",
    63,
    _sniff_portal_csv,
    Reader(ReaderKind.CSV, csv_columns=_CSV_COLUMNS),
    "Entra admin center → Monitoring & health → Sign-in logs → Download → CSV (one file per tab).",
    PORTAL_CSV_MAPPING,
)

SPECS = (GRAPH_PAGE, SIGNIN_ARRAY, DIAGNOSTIC_RECORDS, LINES, PORTAL_CSV)
