"""Table names and Sentinel column names, mapped onto the case's normalized columns.

Tables are common.SOURCE_TABLES. Columns are the case's normalized names (viewer/schema.py).
Analysts also type Sentinel's own column names, so each table offers a few aliases that
correspond exactly; an alias is used only when no real column has that name, and a projected
alias keeps the name the analyst wrote (`project TimeGenerated` gives a column TimeGenerated).

| alias | table | means | why it is exact |
|---|---|---|---|
| TimeGenerated | every table | ts | the event time the timeline uses |
| EventName | AWSCloudTrail | action | the mapping fills action from eventName |
| EventSource | AWSCloudTrail | service | from eventSource |
| AWSRegion | AWSCloudTrail | region | from awsRegion |
| SourceIpAddress | AWSCloudTrail | src_ip | from sourceIPAddress |
| UserAgent | AWSCloudTrail | user_agent | from userAgent |
| ErrorCode | AWSCloudTrail | error_code | from errorCode |
| ErrorMessage | AWSCloudTrail | error_message | from errorMessage |
| UserIdentityType | AWSCloudTrail | principal_type | from userIdentity.type |
| UserIdentityAccountId | AWSCloudTrail | principal_account | from userIdentity.accountId |
| UserIdentityAccessKeyId | AWSCloudTrail | credential_id | from userIdentity.accessKeyId |
| AwsEventId | AWSCloudTrail | event_uid | from eventID |
| UserIdentityArn | AWSCloudTrail | raw userIdentity.arn | principal_id falls back to other fields, so the raw value is used |
| UserIdentityUserName | AWSCloudTrail | raw userIdentity.userName | principal_name falls back too |
| UserIdentityPrincipalid | AWSCloudTrail | raw userIdentity.principalId | not a normalized column |
| RecipientAccountId | AWSCloudTrail | raw recipientAccountId | cloud_account falls back to the caller's account |
| AwsRequestId | AWSCloudTrail | raw requestID | correlation_id falls back to sharedEventID |
| EventTypeName | AWSCloudTrail | raw eventType | not a normalized column |
"""

from __future__ import annotations

from viewer.core.query.common import SOURCE_TABLES
from viewer.core.query.kql.model import KQL_TYPE_OF_SQL, STRING, Column, Typed, sql_string
from viewer.schema import ALL_EVENT_FIELDS

EVENT_COLUMNS: list[Column] = [Column(f.name, KQL_TYPE_OF_SQL[f.sql_type]) for f in ALL_EVENT_FIELDS]
_EVENT_TYPES = {c.name: c.type for c in EVENT_COLUMNS}

_EVERY_TABLE = {"TimeGenerated": "ts"}
_CLOUDTRAIL_COLUMNS = {
    "EventName": "action",
    "EventSource": "service",
    "AWSRegion": "region",
    "SourceIpAddress": "src_ip",
    "UserAgent": "user_agent",
    "ErrorCode": "error_code",
    "ErrorMessage": "error_message",
    "UserIdentityType": "principal_type",
    "UserIdentityAccountId": "principal_account",
    "UserIdentityAccessKeyId": "credential_id",
    "AwsEventId": "event_uid",
}
_CLOUDTRAIL_RAW = {
    "UserIdentityArn": "$.userIdentity.arn",
    "UserIdentityUserName": "$.userIdentity.userName",
    "UserIdentityPrincipalid": "$.userIdentity.principalId",
    "RecipientAccountId": "$.recipientAccountId",
    "AwsRequestId": "$.requestID",
    "EventTypeName": "$.eventType",
}


def _column_alias(column: str) -> Typed:
    return Typed(column, _EVENT_TYPES[column], source_name=column)


def _raw_alias(path: str) -> Typed:
    return Typed(f"json_extract_string(raw, {sql_string(path)})", STRING)


def table_aliases(table: str) -> dict[str, Typed]:
    aliases = {name: _column_alias(col) for name, col in _EVERY_TABLE.items()}
    if table == "AWSCloudTrail":
        aliases.update({name: _column_alias(col) for name, col in _CLOUDTRAIL_COLUMNS.items()})
        aliases.update({name: _raw_alias(path) for name, path in _CLOUDTRAIL_RAW.items()})
    return aliases


def table_sql(table: str) -> str | None:
    return SOURCE_TABLES.get(table)
