"""CloudTrail Event history downloaded from the console as CSV (formats.md 1.2).

The console's CSV carries the columns the user chose to show. When it includes the full record
("CloudTrail event"), that record is the raw event and the regular CloudTrail mapping applies;
otherwise the row itself is the raw record, keyed by LookupEvents' attribute names so both
spellings of a header ("Event time", "EventTime", "event_time") land on one key.
"""

from __future__ import annotations

import re

from viewer.formats.aws_cloudtrail import CLOUDTRAIL_MAPPING
from viewer.formats.base import FormatSpec, Head, Mapping, Reader, ReaderKind, canonical_header

# normalized header spelling -> LookupEvents attribute name
_COLUMNS = {
    "eventid": "EventId",
    "eventtime": "EventTime",
    "username": "Username",
    "eventname": "EventName",
    "resourcetype": "ResourceType",
    "resourcename": "ResourceName",
    "awsaccesskey": "AccessKeyId",
    "accesskeyid": "AccessKeyId",
    "awsregion": "AwsRegion",
    "errorcode": "ErrorCode",
    "sourceipaddress": "SourceIPAddress",
    "eventsource": "EventSource",
    "readonly": "ReadOnly",
    "cloudtrailevent": "CloudTrailEvent",
}
_FULL_RECORD = "CloudTrailEvent"

SUMMARY_MAPPING = Mapping(
    paths={
        "id": "$.EventId",
        "time": "$.EventTime",
        "user": "$.Username",
        "name": "$.EventName",
        "rtype": "$.ResourceType",
        "rname": "$.ResourceName",
        "key": "$.AccessKeyId",
        "region": "$.AwsRegion",
        "error": "$.ErrorCode",
        "ip": "$.SourceIPAddress",
        "source": "$.EventSource",
        "ro": "$.ReadOnly",
    },
    columns={
        "event_uid": "{id}",
        # ISO first; then the spellings spreadsheets and the console locale produce.
        "ts": (
            "coalesce(TRY_CAST({time} AS TIMESTAMPTZ), "
            "try_strptime({time}, ['%Y-%m-%d %H:%M:%S', '%m/%d/%Y %H:%M:%S', '%m/%d/%Y %H:%M', "
            "'%B %d, %Y, %H:%M:%S (UTC%z)', '%b %d, %Y, %H:%M:%S (UTC%z)'])::TIMESTAMPTZ)"
        ),
        "service": "{source}",
        "action": "{name}",
        "outcome": "CASE WHEN nullif({error}, '') IS NOT NULL THEN 'failure' ELSE 'success' END",
        "error_code": "nullif({error}, '')",
        "read_only": "TRY_CAST({ro} AS BOOLEAN)",
        "principal_id": "nullif({user}, '')",
        "principal_name": "nullif({user}, '')",
        "credential_id": "nullif({key}, '')",
        "src_ip": "nullif({ip}, '')",
        "target_type": "nullif({rtype}, '')",
        "target_id": "nullif({rname}, '')",
        "region": "nullif({region}, '')",
    },
    ts_missing_reason="row has no parseable Event time",
)


def _header_keys(head: Head) -> set[str]:
    line = head.first_line
    # A header row is short and is not JSON; a one-line JSON document would otherwise be split.
    if head.first_char in "{[" or len(line) > 4096 or ("," not in line and ";" not in line):
        return set()
    cells = re.split(r"[,;]", line)
    return {_COLUMNS.get(canonical_header(c.strip().strip('"')), "") for c in cells} - {""}


def _sniff_summary(head: Head) -> bool:
    keys = _header_keys(head)
    return {"EventTime", "EventName"} <= keys and _FULL_RECORD not in keys


def _sniff_full(head: Head) -> bool:
    keys = _header_keys(head)
    return {"EventTime", _FULL_RECORD} <= keys


_HOW = "CloudTrail console → Event history → Download events → CSV."

CONSOLE_CSV = FormatSpec(
    name="aws_cloudtrail_console_csv",
    title="CloudTrail Event history CSV (console download)",
    source_type="cloudtrail",
    provider="aws",
    priority=60,
    sniff=_sniff_summary,
    reader=Reader(ReaderKind.CSV, csv_columns=_COLUMNS),
    mapping=SUMMARY_MAPPING,
    how_to_obtain=_HOW,
)
CONSOLE_CSV_FULL = FormatSpec(
    name="aws_cloudtrail_console_csv_full",
    title="CloudTrail Event history CSV with the full record column",
    source_type="cloudtrail",
    provider="aws",
    priority=61,
    sniff=_sniff_full,
    reader=Reader(ReaderKind.CSV, csv_columns=_COLUMNS, csv_embedded_json_column=_FULL_RECORD),
    mapping=CLOUDTRAIL_MAPPING,
    how_to_obtain=_HOW,
)

SPECS = (CONSOLE_CSV, CONSOLE_CSV_FULL)
