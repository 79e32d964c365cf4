"""Azure Activity Log in the shapes it is found (formats.md 1.15, mapping 2.3).

* The REST API / portal / `az monitor activity-log list` schema ("event data"): `eventTimestamp`,
  `operationName {value, localizedValue}`, `status {value}`, `caller`, `claims`, `eventDataId`...
  as a REST page `{"value": [...], "nextLink": ...}`, a bare array, or one event per line.
* The diagnostic-setting ("resource log") schema sent to a storage account or an Event Hub:
  `time`, `operationName` (a string), `resultType`, `callerIpAddress`, `identity {authorization,
  claims}`, `properties {eventCategory, ...}`. Event Hub payloads and blobs written before
  November 2018 are `{"records": [...]}`; storage blobs since then are JSON lines.
* The Log Analytics `AzureActivity` table exported as CSV.

Both JSON schemas share one mapping: each column takes the path of whichever schema the record
has. The resource-log schema carries no per-event id, so its records have no `event_uid`.
"""

from __future__ import annotations

import re

from viewer.formats.base import Head, Mapping, Reader, ReaderKind, canonical_header, has_key
from viewer.formats.microsoft_common import (
    CLAIM_OID,
    CLAIM_TENANT,
    CLAIM_UPN,
    claim_path,
    has_keys,
    scalar,
    severity_id_from_level,
    shape_specs,
    starts_with_records_array,
    starts_with_value_array,
    utc_ts,
)

_CLAIMS_PATHS = {
    "oid": CLAIM_OID,
    "upn": CLAIM_UPN,
    "tid": CLAIM_TENANT,
    "uti": "uti",
    "appid": "appid",
    "ipaddr": "ipaddr",
    "cname": "name",
}


def _claims(prefix: str, base: str) -> dict[str, str]:
    return {prefix + k: claim_path(base, v) for k, v in _CLAIMS_PATHS.items()}


def _claim(name: str) -> str:
    # REST events carry `claims`; resource-log records carry `identity.claims`.
    return f"coalesce({{r_{name}}}, {{s_{name}}})"


_STATUS = "coalesce({statusValue}, {resultType})"
_FAILED = f"lower({_STATUS}) IN ('failed', 'failure')"
_OPERATION = "coalesce({operationValue}, " + scalar("{operationName}") + ")"

ACTIVITY_MAPPING = Mapping(
    paths={
        "eventDataId": "$.eventDataId",
        "eventTimestamp": "$.eventTimestamp",
        "time": "$.time",
        "submissionTimestamp": "$.submissionTimestamp",
        "categoryValue": "$.category.value",
        "category": "$.category",
        "eventCategory": "$.properties.eventCategory",
        "eventNameValue": "$.eventName.value",
        "eventNameProp": "$.properties.eventName",
        "providerValue": "$.resourceProviderName.value",
        "operationValue": "$.operationName.value",
        "operationName": "$.operationName",
        "statusValue": "$.status.value",
        "resultType": "$.resultType",
        "subStatusValue": "$.subStatus.value",
        "resultSignature": "$.resultSignature",
        "statusCode": "$.properties.statusCode",
        "resultDescription": "$.resultDescription",
        "caller": "$.caller",
        "evidenceType": "$.identity.authorization.evidence.principalType",
        "evidenceId": "$.identity.authorization.evidence.principalId",
        **_claims("r_", "$.claims"),
        **_claims("s_", "$.identity.claims"),
        "clientIp": "$.httpRequest.clientIpAddress",
        "callerIpAddress": "$.callerIpAddress",
        "resourceId": "$.resourceId",
        "resourceTypeValue": "$.resourceType.value",
        "subscriptionId": "$.subscriptionId",
        "resourceLocation": "$.properties.resourceLocation",
        "correlationId": "$.correlationId",
        "level": "$.level",
        "levelCapital": "$.Level",
    },
    columns={
        "event_uid": "{eventDataId}",
        # Seven fractional digits and 'Z' or '+00:00' (formats.md 0.1); DuckDB keeps microseconds.
        "ts": "coalesce(" + utc_ts("{eventTimestamp}") + ", " + utc_ts("{time}") + ")",
        "ingest_ts": utc_ts("{submissionTimestamp}"),
        # A resource-log record's own `category` is the operation kind ("Write") or the log
        # category; properties.eventCategory, when present, is the activity log category.
        "log_name": "coalesce({categoryValue}, {eventCategory}, " + scalar("{category}") + ")",
        "event_class": "coalesce(nullif({eventNameValue}, ''), nullif({eventNameProp}, ''))",
        "service": (
            f"coalesce({{providerValue}}, CASE WHEN contains({_OPERATION}, '/') "
            f"THEN split_part({_OPERATION}, '/', 1) END)"
        ),
        "action": _OPERATION,
        # Started / Accepted / Active are the first half of an operation: not yet an outcome.
        "outcome": (
            f"CASE WHEN lower({_STATUS}) IN ('succeeded', 'success') THEN 'success' "
            f"WHEN {_FAILED} THEN 'failure' ELSE 'unknown' END"
        ),
        "error_code": (
            f"CASE WHEN {_FAILED} THEN coalesce(nullif({{subStatusValue}}, ''), "
            "nullif({resultSignature}, ''), nullif({statusCode}, '')) END"
        ),
        "error_message": f"CASE WHEN {_FAILED} THEN nullif({{resultDescription}}, '') END",
        "principal_type": (
            "coalesce({evidenceType}, CASE WHEN "
            + _claim("upn")
            + " IS NOT NULL THEN 'User' WHEN "
            + _claim("appid")
            + " IS NOT NULL THEN 'ServicePrincipal' END)"
        ),
        "principal_id": f"coalesce({_claim('oid')}, {{evidenceId}})",
        "principal_name": f"coalesce(nullif({{caller}}, ''), {_claim('upn')}, {_claim('cname')})",
        "principal_account": _claim("tid"),
        "credential_id": _claim("uti"),
        "session_issuer": _claim("appid"),
        "src_ip": f"coalesce(nullif({{clientIp}}, ''), nullif({{callerIpAddress}}, ''), {_claim('ipaddr')})",
        "target_type": "{resourceTypeValue}",
        "target_id": "{resourceId}",
        # Storage records have no subscriptionId; their resourceId starts with it (upper-cased).
        "cloud_account": (
            "coalesce(nullif({subscriptionId}, ''), "
            "nullif(lower(regexp_extract({resourceId}, '^/(?i:subscriptions)/([^/]+)', 1)), ''))"
        ),
        "region": "{resourceLocation}",
        "correlation_id": "{correlationId}",
        "severity": "coalesce({level}, {levelCapital})",
        "severity_id": severity_id_from_level("coalesce({level}, {levelCapital})"),
    },
    ts_missing_reason="record has no valid eventTimestamp / time",
)

_ACTIVITY_CATEGORIES = re.compile(
    r'"category"\s*:\s*"(Administrative|ServiceHealth|ResourceHealth|Alert|Autoscale|Recommendation'
    r'|Security|Policy|Write|Delete|Action)"'
)


def _looks_like_rest_event(text: str) -> bool:
    return has_keys(text, "eventTimestamp", "operationName") and (
        has_key(text, "eventDataId") or has_key(text, "subscriptionId")
    )


def _looks_like_resource_log(text: str) -> bool:
    """A resource-log record of the activity log, not of another Azure service's log."""
    return has_keys(text, "time", "resourceId", "operationName") and (
        _ACTIVITY_CATEGORIES.search(text) is not None or has_key(text, "eventCategory")
    )


def _sniff_rest_page(head: Head) -> bool:
    return starts_with_value_array(head) and _looks_like_rest_event(head.text)


def _sniff_array(head: Head) -> bool:
    return head.first_char == "[" and _looks_like_rest_event(head.text)


def _sniff_records(head: Head) -> bool:
    return starts_with_records_array(head) and _looks_like_resource_log(head.text)


def _sniff_lines(head: Head) -> bool:
    obj = head.first_line_object
    if obj is None:
        return False
    if {"eventTimestamp", "operationName"} <= obj.keys():
        return "eventDataId" in obj or "subscriptionId" in obj
    props = obj.get("properties")
    return {"time", "resourceId", "operationName"} <= obj.keys() and (
        _ACTIVITY_CATEGORIES.search(head.first_line) is not None
        or (isinstance(props, dict) and "eventCategory" in props)
    )


# normalized CSV header -> AzureActivity column name
_CSV_COLUMNS = {
    canonical_header(c): c
    for c in (
        "TimeGenerated",
        "EventSubmissionTimestamp",
        "OperationNameValue",
        "OperationName",
        "ActivityStatusValue",
        "ActivityStatus",
        "ActivitySubstatusValue",
        "CategoryValue",
        "Caller",
        "CallerIpAddress",
        "CorrelationId",
        "Claims",
        "EventDataId",
        "OperationId",
        "ResourceId",
        "ResourceProviderValue",
        "ResourceGroup",
        "SubscriptionId",
        "Level",
        "Properties",
        "Authorization",
    )
}
# The Log Analytics portal writes a datetime column's header as "TimeGenerated [UTC]".
_CSV_COLUMNS |= {
    "timegeneratedutc": "TimeGenerated",
    "eventsubmissiontimestamputc": "EventSubmissionTimestamp",
    "claimsd": "Claims_d",
    "propertiesd": "Properties",
    "authorizationd": "Authorization",
}

# The portal's CSV renders datetimes in the US locale ("5/1/2024, 10:05:00.123 AM", UTC).
_PORTAL_TIME_FORMATS = ("%m/%d/%Y, %I:%M:%S.%g %p", "%m/%d/%Y, %I:%M:%S %p", "%Y-%m-%d %H:%M:%S")


_CLAIMS_CELL = "coalesce(nullif({claims}, ''), nullif({claimsDynamic}, ''))"


def _claims_cell(claim: str) -> str:
    # `Claims` is a JSON object serialized into one cell; a damaged cell yields NULL, not an error.
    return (
        f"CASE WHEN json_valid({_CLAIMS_CELL}) THEN json_extract_string({_CLAIMS_CELL}, "
        f"'{claim_path('$', claim)}') END"
    )


_CSV_STATUS = "coalesce(nullif({status}, ''), nullif({statusText}, ''))"
_CSV_FAILED = f"lower({_CSV_STATUS}) IN ('failed', 'failure')"

AZURE_ACTIVITY_TABLE_MAPPING = Mapping(
    paths={
        "time": "$.TimeGenerated",
        "submitted": "$.EventSubmissionTimestamp",
        "op": "$.OperationNameValue",
        "opText": "$.OperationName",
        "status": "$.ActivityStatusValue",
        "statusText": "$.ActivityStatus",
        "substatus": "$.ActivitySubstatusValue",
        "category": "$.CategoryValue",
        "caller": "$.Caller",
        "ip": "$.CallerIpAddress",
        "correlationId": "$.CorrelationId",
        "claims": "$.Claims",
        "claimsDynamic": "$.Claims_d",
        "eventDataId": "$.EventDataId",
        "resourceId": "$.ResourceId",
        "provider": "$.ResourceProviderValue",
        "subscriptionId": "$.SubscriptionId",
        "level": "$.Level",
    },
    columns={
        "event_uid": "nullif({eventDataId}, '')",
        "ts": utc_ts("{time}", _PORTAL_TIME_FORMATS),
        "ingest_ts": utc_ts("{submitted}", _PORTAL_TIME_FORMATS),
        "log_name": "nullif({category}, '')",
        "service": "nullif({provider}, '')",
        "action": "coalesce(nullif({op}, ''), nullif({opText}, ''))",
        "outcome": (
            f"CASE WHEN lower({_CSV_STATUS}) IN ('succeeded', 'success') THEN 'success' "
            f"WHEN {_CSV_FAILED} THEN 'failure' ELSE 'unknown' END"
        ),
        "error_code": f"CASE WHEN {_CSV_FAILED} THEN nullif({{substatus}}, '') END",
        "principal_type": (
            f"CASE WHEN {_claims_cell(CLAIM_UPN)} IS NOT NULL THEN 'User' "
            f"WHEN {_claims_cell('appid')} IS NOT NULL THEN 'ServicePrincipal' END"
        ),
        "principal_id": _claims_cell(CLAIM_OID),
        "principal_name": "nullif({caller}, '')",
        "principal_account": _claims_cell(CLAIM_TENANT),
        "credential_id": _claims_cell("uti"),
        "session_issuer": _claims_cell("appid"),
        "src_ip": "nullif({ip}, '')",
        "target_id": "nullif({resourceId}, '')",
        # The table's TenantId is the Log Analytics workspace, not the Entra tenant: not used.
        "cloud_account": "nullif({subscriptionId}, '')",
        "correlation_id": "nullif({correlationId}, '')",
        "severity": "nullif({level}, '')",
        "severity_id": severity_id_from_level("{level}"),
    },
    ts_missing_reason="row has no parseable TimeGenerated",
)


def _csv_header_keys(head: Head) -> set[str]:
    line = head.first_line
    if head.first_char in "{[" or len(line) > 8192 or "," not in line:
        return set()
    return {_CSV_COLUMNS.get(canonical_header(c.strip().strip('"')), "") for c in line.split(",")} - {""}


def _sniff_table_csv(head: Head) -> bool:
    return {"TimeGenerated", "OperationNameValue"} <= _csv_header_keys(head)


_spec = shape_specs("azure_activity", "azure", ACTIVITY_MAPPING)


REST_PAGE = _spec(
    "azure_activity",
    'Azure Activity Log events as a REST API page ({"value": [...]})',
    85,
    _sniff_rest_page,
    Reader(ReaderKind.DOCUMENT, records_path="$.value"),
    "GET https://management.azure.com/subscriptions/SUB/providers/Microsoft.Insights/eventtypes/"
    "management/values?api-version=2015-04-01&$filter=eventTimestamp ge '...' (az rest --url ...); "
    "follow nextLink and save each page.",
)
EVENT_ARRAY = _spec(
    "azure_activity_array",
    "Azure Activity Log events as a bare JSON array",
    84,
    _sniff_array,
    Reader(ReaderKind.DOCUMENT, records_path="$"),
    "az monitor activity-log list --start-time ... --offset 90d > activity.json; "
    "or Get-AzActivityLog ... | ConvertTo-Json -Depth 10.",
)
RESOURCE_LOG_RECORDS = _spec(
    "azure_activity_records",
    'Azure Activity Log resource-log records ({"records": [...]}: Event Hub, blobs before Nov 2018)',
    83,
    _sniff_records,
    Reader(ReaderKind.DOCUMENT, records_path="$.records"),
    "Diagnostic setting on the subscription streaming to an Event Hub (capture files), or "
    "insights-activity-logs/.../PT1H.json blobs written before 1 Nov 2018.",
)
LINES = _spec(
    "azure_activity_jsonl",
    "Azure Activity Log records, one per line (storage account blobs)",
    72,
    _sniff_lines,
    Reader(ReaderKind.LINES),
    "Diagnostic setting on the subscription archiving to a storage account: download the container "
    "insights-activity-logs (az storage blob download-batch -s insights-activity-logs -d ./evidence).",
)
TABLE_CSV = _spec(
    "azure_activity_csv",
    "Log Analytics AzureActivity table exported as CSV",
    62,
    _sniff_table_csv,
    Reader(ReaderKind.CSV, csv_columns=_CSV_COLUMNS),
    "Log Analytics / Sentinel: run `AzureActivity | where TimeGenerated between (...)` and "
    "Export → CSV (all columns); or az monitor log-analytics query ... -o tsv.",
    AZURE_ACTIVITY_TABLE_MAPPING,
)

SPECS = (REST_PAGE, EVENT_ARRAY, RESOURCE_LOG_RECORDS, LINES, TABLE_CSV)
