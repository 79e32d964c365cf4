"""CloudTrail Insights events, as a trail delivers them (formats.md 1.5).

Files under `AWSLogs/<account>/CloudTrail-Insight/<region>/YYYY/MM/DD/` hold `{"Records":[...]}`
like ordinary trail files, but each record has `eventType: "AwsCloudTrailInsight"` and an
`insightDetails` block (state Start|End, the API's eventSource/eventName, insightType,
insightContext statistics and attributions) instead of a caller and a request.

Choices (formats.md 2.3 proposes `event_uid = sharedEventID` and pairing Start with End):
* Records are imported one for one, so each keeps its own `eventID` as `event_uid`; the Start and
  End of one Insight share `sharedEventID`, which goes to `correlation_id` (a correlation key).
  Using sharedEventID as the uid would flag every Start/End pair as a uid conflict, which means
  "two versions of one record" elsewhere.
* `ts` is eventTime: when the unusual activity started (Start) or stopped (End). `event_class`
  says which ("Insight Start" / "Insight End"); `log_name` is the insightType.
"""

from __future__ import annotations

import re

from viewer.formats.base import FormatSpec, Head, Mapping, Reader, ReaderKind, has_key

_ID = "$.insightDetails"

INSIGHTS_MAPPING = Mapping(
    paths={
        "eventID": "$.eventID",
        "eventTime": "$.eventTime",
        "sharedEventID": "$.sharedEventID",
        "state": f"{_ID}.state",
        "lakeState": "$.insightState",  # event data store variant
        "eventSource": f"{_ID}.eventSource",
        "eventName": f"{_ID}.eventName",
        "insightType": f"{_ID}.insightType",
        "errorCode": f"{_ID}.errorCode",
        "recipientAccountId": "$.recipientAccountId",
        "awsRegion": "$.awsRegion",
    },
    columns={
        "event_uid": "{eventID}",
        "ts": "TRY_CAST({eventTime} AS TIMESTAMPTZ)",
        "log_name": "{insightType}",
        "event_class": "'Insight ' || coalesce({state}, {lakeState}, 'unknown state')",
        "service": "{eventSource}",
        "action": "{eventName}",
        "outcome": "'unknown'",  # an Insight reports a rate, not a result
        "error_code": "{errorCode}",  # ApiErrorRateInsight: the error whose rate changed
        "cloud_account": "{recipientAccountId}",
        "region": "{awsRegion}",
        "correlation_id": "{sharedEventID}",
    },
    ts_missing_reason="Insights event has no valid eventTime",
)

_INSIGHT_TYPE = re.compile(r'"eventType"\s*:\s*"AwsCloudTrailInsight"')


def _sniff_insights_document(head: Head) -> bool:
    s = head.stripped
    return (
        s.startswith("{")
        and has_key(s[:400], "Records")
        # The regular expression scans every record's eventType; the literal rules most files out.
        and "AwsCloudTrailInsight" in s
        and _INSIGHT_TYPE.search(s) is not None
        and has_key(s, "insightDetails")
    )


INSIGHTS_S3 = FormatSpec(
    name="aws_cloudtrail_insights",
    title="CloudTrail Insights events (trail delivery to S3)",
    source_type="cloudtrail_insight",
    provider="aws",
    # Above the CloudTrail S3 format (90), whose sniffer also matches these files.
    priority=95,
    sniff=_sniff_insights_document,
    reader=Reader(ReaderKind.DOCUMENT, records_path="$.Records"),
    mapping=INSIGHTS_MAPPING,
    description=(
        "Insights events of a trail: a Start and an End record per unusual-activity period on one "
        "API (ApiCallRateInsight, ApiErrorRateInsight), linked by sharedEventID (the correlation id)."
    ),
    how_to_obtain=(
        "Enable Insights on the trail; then aws s3 sync s3://BUCKET/AWSLogs/ACCOUNT/CloudTrail-Insight/ "
        "./evidence (delivered alongside the trail's CloudTrail/ prefix)."
    ),
)

SPECS = (INSIGHTS_S3,)
